//! The pages people use, server-rendered and complete without JavaScript: `/login` (an email and
//! a password; the button is "Sign in"), `/logout`, `/account` (who is signed in, their
//! sessions, each of which they can end), `/invite/{token}` (a one-time link: set a password,
//! or join a profile, signing up when needed), `/signup`, and the creator dashboard
//! (`/dashboard`, its pages in `dashboard/`, its files in `assets`). Imports the HTTP crate's
//! shared pieces (state, the session helpers, the stylesheet, answers), never a route module;
//! the binary hands `router()` to the service, which gives each route its metrics and log
//! line.

mod assets;
mod dashboard;
mod invite;
mod pages;

use axum::routing::{get, post};
use linkleaf_http::state::Pages;

/// The pages' routes (path template, handlers), for the service to time and merge; the
/// dashboard's HTML is sent in the coding the browser asks for (`assets::compressed`).
pub fn router() -> Pages {
    let pages: Pages = vec![
        ("/login", get(pages::login_form).post(pages::login)),
        ("/logout", post(pages::logout)),
        ("/account", get(pages::account)),
        ("/account/password", post(pages::change_password)),
        ("/account/sessions/{id}/end", post(pages::end_session)),
        ("/account/passkeys.js", get(pages::passkeys_js)),
        ("/account/keys", post(pages::make_key)),
        ("/account/keys/{id}/revoke", post(pages::revoke_key)),
        ("/account/passkeys/{id}/remove", post(pages::remove_passkey)),
        ("/invite/{token}", get(invite::show).post(invite::accept)),
        ("/signup", get(invite::signup_form).post(invite::signup)),
        (
            "/dashboard",
            get(dashboard::home::index).post(dashboard::home::create),
        ),
        ("/dashboard/admin", get(dashboard::admin::admin)),
        (
            "/dashboard/admin/accounts/{id}/disable",
            post(dashboard::admin::disable),
        ),
        ("/dashboard/assets/{file}", get(assets::serve)),
        ("/dashboard/{profile}", get(dashboard::editor::show_editor)),
        (
            "/dashboard/{profile}/preview",
            get(dashboard::preview::preview),
        ),
        (
            "/dashboard/{profile}/profile",
            post(dashboard::editor::save_profile),
        ),
        (
            "/dashboard/{profile}/links",
            post(dashboard::links::add_link),
        ),
        (
            "/dashboard/{profile}/links/{id}",
            post(dashboard::links::edit_link),
        ),
        (
            "/dashboard/{profile}/links/{id}/move",
            post(dashboard::links::move_link),
        ),
        (
            "/dashboard/{profile}/links/{id}/toggle",
            post(dashboard::links::toggle_link),
        ),
        (
            "/dashboard/{profile}/links/{id}/remove",
            post(dashboard::links::remove_link),
        ),
        (
            "/dashboard/{profile}/order",
            post(dashboard::links::reorder),
        ),
        (
            "/dashboard/{profile}/analytics",
            get(dashboard::analytics::analytics),
        ),
        (
            "/dashboard/{profile}/history",
            get(dashboard::history::history),
        ),
        ("/dashboard/{profile}/share", get(dashboard::share::share)),
        (
            "/dashboard/{profile}/import",
            post(dashboard::share::import),
        ),
        (
            "/dashboard/{profile}/history/{version}/restore",
            post(dashboard::history::restore),
        ),
    ];
    // the dashboard's pages carry no secret; the account page (a key's token, shown once) and
    // an invitation's page (its token) must never go compressed (BREACH)
    pages
        .into_iter()
        .map(|(path, m)| {
            if path.starts_with("/dashboard") {
                (path, m.layer(axum::middleware::from_fn(assets::compressed)))
            } else {
                (path, m)
            }
        })
        .collect()
}
