//! Signing in and out, and the signed-in person: `POST /api/session` (an email and a password:
//! a new session and its cookie), `DELETE /api/session`, `GET /api/me`, `GET /api/me/sessions`
//! and `DELETE /api/me/sessions/{id}`. The cookie is `HttpOnly`, `SameSite=Lax`, and `Secure`
//! and `__Host-` prefixed when `server.public_url` is https; a write that carries it must come
//! from the site's own pages (`Origin`, or `Sec-Fetch-Site: same-origin`).
//! Must not: put a session's secret in a body or a log, or accept a cookie write from another site.

use crate::error::AppError;
use crate::extract::{ApiJson, ApiPath};
use crate::profiles::{admin_json, no_content};
use crate::responses::{
    BadRequest, Forbidden, NotFound, PayloadTooLarge, RateLimited, Unauthorized,
    UnsupportedMediaType, ValidationFailed,
};
use crate::signin::{Me, cookie_write, link_error, me_of, signed_in, user_agent};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use linkleaf_access::sessions::{PasswordChangeError, SignInError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// An email and a password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInBody {
    #[schema(example = "ada@example.com")]
    email: String,
    #[schema(format = Password, min_length = 1, max_length = 256)]
    password: String,
}

/// One of the person's sessions.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// The session's public id (not its secret).
    id: String,
    /// The browser it was made in, as its user agent said.
    user_agent: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_seen_at: OffsetDateTime,
    /// The session this request was made with.
    current: bool,
}

/// Sign in
///
/// Checks an email and a password and starts a new session (a new id and secret, whatever
/// cookie came with the request), set in a cookie. An unknown email, a wrong password, an
/// account without a password and a disabled account all get the same 401. Attempts are
/// limited per client address (`accounts.signin_per_minute`) and per account
/// (`accounts.signin_account_per_minute`), for the whole deployment with Redis: past either,
/// 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/session", operation_id = "signIn", tag = "accounts",
    request_body = SignInBody,
    responses(
        (status = 200, description = "Signed in: the session cookie is set", body = Me, headers(
            ("Set-Cookie" = String, description = "`linkleaf_session` (`__Host-linkleaf_session` over https): HttpOnly, SameSite=Lax"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
    ))]
pub async fn sign_in(
    State(st): State<AppState>,
    peer: Option<axum::Extension<crate::client::Peer>>,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<SignInBody>,
) -> Result<Response, AppError> {
    crate::signin::attempt(&st, &headers, peer.map(|p| p.0), &body.email).await?;
    let started = match st
        .sessions
        .sign_in(&body.email, &body.password, user_agent(&headers))
        .await
    {
        Ok(s) => s,
        Err(SignInError::Refused) => {
            return Err(AppError::Unauthorized("unknown email or wrong password"));
        }
        Err(SignInError::Store(e)) => return Err(e.into()),
    };
    signed_in(&st, StatusCode::OK, started).await
}

/// Sign out
///
/// Ends this request's session on the server (on every instance at its next request) and
/// removes the cookie.
#[utoipa::path(delete, path = "/api/session", operation_id = "signOut", tag = "accounts",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ))]
pub async fn sign_out(State(st): State<AppState>, req: Request) -> Result<Response, AppError> {
    let s = cookie_write(&st, req.headers()).await?;
    st.sessions.end(&s.session_id, s.account.id).await?;
    let mut res = no_content();
    res.headers_mut()
        .insert(header::SET_COOKIE, crate::signin::clear_cookie(&st));
    Ok(res)
}

/// Who is signed in
#[utoipa::path(get, path = "/api/me", operation_id = "me", tag = "accounts",
    responses(
        (status = 200, description = "The signed-in person and their profiles", body = Me),
        (status = 401, response = Unauthorized),
    ))]
pub async fn me(State(st): State<AppState>, req: Request) -> Result<Response, AppError> {
    let s = crate::signin::signed(&st, req.headers()).await?;
    Ok(admin_json(StatusCode::OK, &me_of(&st, &s).await?))
}

/// Your sessions
///
/// Every session of the signed-in account that has not ended, newest first.
#[utoipa::path(get, path = "/api/me/sessions", operation_id = "mySessions", tag = "accounts",
    responses(
        (status = 200, description = "The sessions", body = Vec<SessionView>),
        (status = 401, response = Unauthorized),
    ))]
pub async fn sessions(State(st): State<AppState>, req: Request) -> Result<Response, AppError> {
    let s = crate::signin::signed(&st, req.headers()).await?;
    let list: Vec<SessionView> = st
        .sessions
        .store()
        .sessions_of(s.account.id)
        .await?
        .into_iter()
        .map(|r| SessionView {
            current: r.id == s.session_id,
            id: r.id,
            user_agent: r.user_agent,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
        })
        .collect();
    Ok(admin_json(StatusCode::OK, &list))
}

/// End a session
///
/// Ends one of the signed-in account's sessions (on every instance at its next request).
#[utoipa::path(delete, path = "/api/me/sessions/{id}", operation_id = "endSession", tag = "accounts",
    params(("id" = String, Path, description = "The session's public id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ))]
pub async fn end_session(
    State(st): State<AppState>,
    ApiPath(id): ApiPath,
    req: Request,
) -> Result<Response, AppError> {
    let s = cookie_write(&st, req.headers()).await?;
    if !st.sessions.end(&id, s.account.id).await? {
        return Err(AppError::NotFound(format!("no live session {id}")));
    }
    Ok(no_content())
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PasswordChange {
    /// The account's password now.
    #[schema(format = Password, min_length = 1, max_length = 256)]
    current_password: String,
    /// 8 to 256 characters, any characters; not one of the most common passwords, nor the email.
    #[schema(format = Password, min_length = 8, max_length = 256)]
    new_password: String,
}

/// What `PATCH /api/me` changes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"timeZone": "Europe/Paris"}))]
pub struct MePatch {
    /// An IANA time zone name: the days your dashboard shows ("today", the analytics' days).
    #[serde(default)]
    #[schema(max_length = 64)]
    time_zone: Option<String>,
}

/// Change your settings
///
/// The signed-in account's time zone.
#[utoipa::path(patch, path = "/api/me", operation_id = "updateMe", tag = "accounts",
    request_body = MePatch,
    responses(
        (status = 200, description = "The signed-in person, changed", body = Me),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn update_me(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<MePatch>,
) -> Result<Response, AppError> {
    let mut s = cookie_write(&st, &headers).await?;
    if let Some(name) = &body.time_zone {
        let zone = linkleaf_domain::zone::Zone::parse(name, "timeZone")
            .map_err(|e| AppError::Validation(linkleaf_domain::ValidationErrors(vec![e])))?;
        st.sessions
            .store()
            .set_time_zone(s.account.id, zone.name())
            .await?;
        s.account.time_zone = zone.name().to_owned();
    }
    Ok(admin_json(StatusCode::OK, &me_of(&st, &s).await?))
}

/// Change your password
///
/// Needs the current password. Every other session of the account ends (on every instance at
/// its next request); this one goes on.
#[utoipa::path(put, path = "/api/me/password", operation_id = "changePassword", tag = "accounts",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; the account's other sessions have ended"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn change_password(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Response, AppError> {
    let s = cookie_write(&st, &headers).await?;
    match st
        .sessions
        .change_password(
            &s.account,
            &s.session_id,
            &body.current_password,
            &body.new_password,
        )
        .await
    {
        Ok(()) => Ok(no_content()),
        Err(PasswordChangeError::Invalid(e)) => Err(AppError::Validation(
            linkleaf_domain::ValidationErrors(vec![e]),
        )),
        Err(PasswordChangeError::Store(e)) => Err(e.into()),
    }
}

/// A sign-up.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"email": "grace@example.com", "password": "a long and private phrase", "displayName": "Grace"}))]
pub struct SignUp {
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// 8 to 256 characters, any characters; not one of the most common passwords, nor the email.
    #[schema(format = Password, min_length = 8, max_length = 256)]
    password: String,
    /// The name shown for the account (the email's local part by default).
    #[serde(default)]
    #[schema(max_length = 100)]
    display_name: Option<String>,
    /// An invitation's token (the last part of its `/invite/{token}` link): needed when
    /// `accounts.signup` is `invite`; the account joins its profile.
    #[serde(default)]
    #[schema(max_length = 64)]
    invitation: Option<String>,
}

/// Sign up
///
/// Makes an account and signs it in, as `accounts.signup` allows: `open`, anyone (attempts are
/// limited per client address); `invite` (the default), with an invitation, whose profile the
/// account joins; `closed`, no one (403). An email that has an account already is 409.
#[utoipa::path(post, path = "/api/accounts", operation_id = "signUp", tag = "accounts",
    request_body = SignUp,
    responses(
        (status = 201, description = "Made and signed in: the session cookie is set", body = Me, headers(
            ("Set-Cookie" = String, description = "`linkleaf_session` (`__Host-linkleaf_session` over https): HttpOnly, SameSite=Lax"))),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 409, response = crate::responses::Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
    ))]
pub async fn sign_up(
    State(st): State<AppState>,
    peer: Option<axum::Extension<crate::client::Peer>>,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<SignUp>,
) -> Result<Response, AppError> {
    use linkleaf_domain::account::Signup;
    match (st.settings.accounts.signup, &body.invitation) {
        (Signup::Closed, _) => {
            return Err(AppError::InsufficientRole(
                "sign-up is closed here: an admin makes accounts",
            ));
        }
        (Signup::Invite, None) => {
            return Err(AppError::InsufficientRole(
                "sign-up needs an invitation here: ask a profile's owner for a link",
            ));
        }
        _ => {}
    }
    crate::signin::attempt(&st, &headers, peer.map(|p| p.0), &body.email).await?;
    let now = st.sessions.now();
    let store = st.sessions.store().as_ref();
    let new = linkleaf_access::links::NewAccount {
        email: &body.email,
        display_name: body.display_name.as_deref(),
        password: Some(&body.password),
        admin: false,
    };
    // with an invitation, the one request that uses it makes the account
    let account = match &body.invitation {
        Some(token) => linkleaf_access::links::sign_up_invited(store, token, new, now).await,
        None => linkleaf_access::links::make_account(store, new, now).await,
    }
    .map_err(link_error)?;
    let started = st.sessions.start(account, user_agent(&headers)).await?;
    signed_in(&st, StatusCode::CREATED, started).await
}

/// The confirmation that deleting an account deletes the profiles it alone owns.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteMe {
    /// The usernames of the profiles you alone own, comma-separated: each is deleted with the
    /// account (a 409 names them when one is missing).
    confirm: Option<String>,
}

/// Delete your account
///
/// Ends every session, revokes the keys you made, leaves every profile; a profile you alone own
/// is deleted with it, once `confirm` names it (409 names those that need it).
#[utoipa::path(delete, path = "/api/me", operation_id = "deleteMe", tag = "accounts",
    params(DeleteMe),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = crate::responses::Conflict),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn delete_me(
    State(st): State<AppState>,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<DeleteMe>,
    headers: axum::http::HeaderMap,
) -> Result<Response, AppError> {
    let s = cookie_write(&st, &headers).await?;
    let owned = crate::profiles::sole_owned_names(&st, s.account.id).await?;
    let confirmed: Vec<String> = q
        .confirm
        .unwrap_or_default()
        .split(',')
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let missing: Vec<&str> = owned
        .iter()
        .filter(|n| !confirmed.contains(&n.to_ascii_lowercase()))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(AppError::Conflict(
            linkleaf_domain::ValidationErrors::single(
                "confirm",
                format!(
                    "deleting your account deletes the profiles you alone own: name them to confirm \
                 ({})",
                    missing.join(", ")
                ),
            ),
        ));
    }
    let actor = crate::access::Who::Person(s.clone()).actor();
    crate::profiles::delete_account(&st, s.account.id, actor).await?;
    let mut res = no_content();
    res.headers_mut()
        .insert(header::SET_COOKIE, crate::signin::clear_cookie(&st));
    Ok(res)
}
