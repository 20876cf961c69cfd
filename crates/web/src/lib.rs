//! The pages people use, server-rendered and complete without JavaScript: `/login` (an email and
//! a password; the button is "Sign in"), `/logout`, `/account` (who is signed in, their
//! sessions, each of which they can end), `/invite/{token}` (a one-time link: set a password,
//! or join a profile, signing up when needed) and `/signup`. The dashboard grows here. Imports the HTTP crate's
//! shared pieces (state, the session helpers, the stylesheet, answers), never a route module;
//! the binary merges `router()` into the service.

mod invite;
mod pages;

use axum::Router;
use axum::routing::{get, post};
use linkleaf_http::AppState;

/// The pages' routes, for the service to merge.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/account", get(pages::account))
        .route("/account/password", post(pages::change_password))
        .route("/account/sessions/{id}/end", post(pages::end_session))
        .route("/account/passkeys.js", get(pages::passkeys_js))
        .route("/account/keys", post(pages::make_key))
        .route("/account/keys/{id}/revoke", post(pages::revoke_key))
        .route("/account/passkeys/{id}/remove", post(pages::remove_passkey))
        .route("/invite/{token}", get(invite::show).post(invite::accept))
        .route("/signup", get(invite::signup_form).post(invite::signup))
}
