//! One-time links and sign-up: `/invite/{token}` (set a password from a link an admin made, or
//! join a profile from an invitation, signing up first when needed) and `/signup` (when
//! `accounts.signup` is `open`). Looking at a link's page does not use it; sending its form
//! does. A refusal shows the form again, saying what to fix.
//! Must not: use a link by showing its page, or let a refused form use it up.

use crate::pages::{form, from_elsewhere, page, retry_after, see_other, stylesheet, wait_words};
use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use linkleaf_access::links::{self, LinkError, NewAccount};
use linkleaf_domain::account::Signup;
use linkleaf_http::signin::{cookie_write, session_cookie, signed, user_agent};
use linkleaf_http::{AppError, AppState};
use linkleaf_store::accounts::LinkKind;
use serde::Deserialize;

pub(crate) enum InviteForm {
    Gone,
    SetPassword {
        email: String,
    },
    Join {
        profile: String,
        role: &'static str,
        signed_in_as: Option<String>,
    },
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage<'a> {
    stylesheet: &'static str,
    title: &'a str,
    action: String,
    form: InviteForm,
    error: Option<String>,
    signup_closed: bool,
    email_value: &'a str,
    name_value: &'a str,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    stylesheet: &'static str,
    open: bool,
    invite_only: bool,
    email: &'a str,
    display_name: &'a str,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct LinkForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
}

/// What a link's page shows now, and its title.
async fn what(st: &AppState, token: &str, headers: &HeaderMap) -> Result<InviteForm, AppError> {
    let store = st.sessions.store().as_ref();
    let Some(link) = links::peek(store, token, st.sessions.now()).await? else {
        return Ok(InviteForm::Gone);
    };
    Ok(match link.kind {
        LinkKind::Password => {
            let account = match link.account_id {
                Some(id) => store.account_by_id(id).await?,
                None => None,
            };
            match account.filter(|a| a.disabled_at.is_none()) {
                Some(a) => InviteForm::SetPassword { email: a.email },
                None => InviteForm::Gone,
            }
        }
        LinkKind::Invite => {
            let profile = match link.profile_id {
                Some(id) => st.stores.profiles.profile_by_id(id).await?,
                None => None,
            };
            let Some(profile) = profile else {
                return Ok(InviteForm::Gone);
            };
            InviteForm::Join {
                profile: profile.username.as_str().to_owned(),
                role: link.role.map_or("viewer", |r| r.as_str()),
                signed_in_as: signed(st, headers).await.ok().map(|s| s.account.email),
            }
        }
    })
}

fn title(f: &InviteForm) -> &'static str {
    match f {
        InviteForm::Gone => "This link no longer works",
        InviteForm::SetPassword { .. } => "Set your password",
        InviteForm::Join { .. } => "Join a page",
    }
}

fn invite_page(
    st: &AppState,
    token: &str,
    status: StatusCode,
    form: InviteForm,
    error: Option<String>,
    f: &LinkForm,
) -> Response {
    let status = if matches!(form, InviteForm::Gone) && status == StatusCode::OK {
        StatusCode::GONE
    } else {
        status
    };
    let html = InvitePage {
        stylesheet: stylesheet(),
        title: title(&form),
        action: format!("/invite/{token}"),
        form,
        error,
        signup_closed: st.settings.accounts.signup == Signup::Closed,
        email_value: &f.email,
        name_value: &f.display_name,
    }
    .render()
    .unwrap_or_default();
    let mut res = page(status, html);
    // the token is in the address: say it to no other site (same-origin, not no-referrer:
    // with no-referrer a browser sends `Origin: null` with the form, which the origin check
    // rightly refuses)
    res.headers_mut()
        .insert("referrer-policy", HeaderValue::from_static("same-origin"));
    res
}

/// `GET /invite/{token}`: what the link does, and its form; the link stays unused.
pub async fn show(
    State(st): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    match what(&st, &token, &headers).await {
        Ok(f) => invite_page(&st, &token, StatusCode::OK, f, None, &LinkForm::default()),
        Err(e) => e.into_response(),
    }
}

fn signed_in(st: &AppState, cookie_value: &str, to: &'static str) -> Response {
    let mut res = see_other(to);
    res.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(st, cookie_value));
    res
}

fn say(e: &LinkError) -> String {
    match e {
        LinkError::Gone => "This link is used or expired: ask for a new one.".into(),
        LinkError::Invalid(f) => {
            let what = match f.field.as_str() {
                "password" => "The password",
                "email" => "The email",
                "displayName" => "The display name",
                _ => "A field",
            };
            format!("{what} {}.", f.message)
        }
        LinkError::Taken => {
            "An account with this email exists already: sign in, then open this link again.".into()
        }
        LinkError::Store(_) => "Something went wrong on our side; try again shortly.".into(),
    }
}

/// `POST /invite/{token}`: sets the password, or joins the profile (as the signed-in person,
/// or as a new account), then signs in and goes to the account.
pub async fn accept(
    State(st): State<AppState>,
    Path(token): Path<String>,
    req: Request,
) -> Response {
    let peer = req
        .extensions()
        .get::<linkleaf_http::client::Peer>()
        .copied();
    let headers = req.headers().clone();
    if let Some(refused) = from_elsewhere(&st, &headers) {
        return refused;
    }
    let f: LinkForm = match form(req).await {
        Ok(f) => f,
        Err(res) => return res,
    };
    let shown = match what(&st, &token, &headers).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let now = st.sessions.now();
    let store = st.sessions.store().as_ref();
    let refused = |e: LinkError, shown: InviteForm| {
        if let LinkError::Store(e) = e {
            return AppError::from(e).into_response();
        }
        let status = match e {
            LinkError::Gone => StatusCode::GONE,
            LinkError::Taken => StatusCode::CONFLICT,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        invite_page(&st, &token, status, shown, Some(say(&e)), &f)
    };
    match shown {
        InviteForm::Gone => invite_page(&st, &token, StatusCode::GONE, shown, None, &f),
        InviteForm::SetPassword { .. } => {
            match links::set_password(store, &token, &f.password, now).await {
                Ok(account) => match st.sessions.start(account, user_agent(&headers)).await {
                    Ok(s) => signed_in(&st, &s.cookie_value, "/account"),
                    Err(e) => AppError::from(e).into_response(),
                },
                Err(e) => refused(e, shown),
            }
        }
        InviteForm::Join {
            signed_in_as: Some(_),
            ..
        } => {
            // joining as the signed-in person: a write, from this site only
            let s = match cookie_write(&st, &headers).await {
                Ok(s) => s,
                Err(e) => return e.into_response(),
            };
            match links::accept(store, &token, s.account.id, now).await {
                Ok(_) => see_other("/account"),
                Err(e) => refused(e, shown),
            }
        }
        InviteForm::Join { .. } => {
            if st.settings.accounts.signup == Signup::Closed {
                return invite_page(
                    &st,
                    &token,
                    StatusCode::FORBIDDEN,
                    shown,
                    Some("New accounts are made by an admin here.".into()),
                    &f,
                );
            }
            if let Err(AppError::RateLimited { retry_after_secs }) =
                linkleaf_http::signin::attempt(&st, &headers, peer, &f.email).await
            {
                let page = invite_page(
                    &st,
                    &token,
                    StatusCode::TOO_MANY_REQUESTS,
                    shown,
                    Some(wait_words(retry_after_secs)),
                    &f,
                );
                return retry_after(page, retry_after_secs);
            }
            let made = links::sign_up_invited(
                store,
                &token,
                NewAccount {
                    email: &f.email,
                    display_name: Some(&f.display_name),
                    password: Some(&f.password),
                    admin: false,
                },
                now,
            )
            .await;
            let account = match made {
                Ok(a) => a,
                Err(e) => return refused(e, shown),
            };
            match st.sessions.start(account, user_agent(&headers)).await {
                Ok(s) => signed_in(&st, &s.cookie_value, "/account"),
                Err(e) => AppError::from(e).into_response(),
            }
        }
    }
}

fn signup_page(st: &AppState, status: StatusCode, f: &LinkForm, error: Option<String>) -> Response {
    let policy = st.settings.accounts.signup;
    let html = SignupPage {
        stylesheet: stylesheet(),
        open: policy == Signup::Open,
        invite_only: policy == Signup::Invite,
        email: &f.email,
        display_name: &f.display_name,
        error,
    }
    .render()
    .unwrap_or_default();
    page(status, html)
}

/// `GET /signup`: the form when sign-up is open; otherwise what to do instead.
pub async fn signup_form(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if signed(&st, &headers).await.is_ok() {
        return see_other("/account");
    }
    signup_page(&st, StatusCode::OK, &LinkForm::default(), None)
}

/// `POST /signup`: makes the account and signs it in (sign-up `open` only).
pub async fn signup(State(st): State<AppState>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<linkleaf_http::client::Peer>()
        .copied();
    let headers = req.headers().clone();
    if let Some(refused) = from_elsewhere(&st, &headers) {
        return refused;
    }
    let f: LinkForm = match form(req).await {
        Ok(f) => f,
        Err(res) => return res,
    };
    if st.settings.accounts.signup != Signup::Open {
        return signup_page(&st, StatusCode::FORBIDDEN, &f, None);
    }
    if let Err(AppError::RateLimited { retry_after_secs }) =
        linkleaf_http::signin::attempt(&st, &headers, peer, &f.email).await
    {
        let page = signup_page(
            &st,
            StatusCode::TOO_MANY_REQUESTS,
            &f,
            Some(wait_words(retry_after_secs)),
        );
        return retry_after(page, retry_after_secs);
    }
    let made = links::make_account(
        st.sessions.store().as_ref(),
        NewAccount {
            email: &f.email,
            display_name: Some(&f.display_name),
            password: Some(&f.password),
            admin: false,
        },
        st.sessions.now(),
    )
    .await;
    match made {
        Ok(account) => match st.sessions.start(account, user_agent(&headers)).await {
            Ok(s) => signed_in(&st, &s.cookie_value, "/dashboard"),
            Err(e) => AppError::from(e).into_response(),
        },
        Err(LinkError::Store(e)) => AppError::from(e).into_response(),
        Err(e) => {
            let status = if matches!(e, LinkError::Taken) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            signup_page(&st, status, &f, Some(say(&e)))
        }
    }
}
