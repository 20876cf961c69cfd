//! Passkeys over HTTP: the two ceremonies under `/api/passkeys/` (registering one while signed
//! in; signing in with one: an email, then the passkey, no password) and the person's list
//! (`GET /api/me/passkeys`, `DELETE /api/me/passkeys/{id}`). Each ceremony is a `start` (the
//! options for `navigator.credentials.create` or `.get`, and a ceremony id) and a `finish` (the
//! browser's answer, `PublicKeyCredential.toJSON()`). Signing in with a passkey is limited like
//! signing in with a password, and answers alike for an unknown email.
//! Must not: tell whether an email has an account, or keep a ceremony past its deadline.

use crate::error::AppError;
use crate::extract::{ApiJson, ApiPath};
use crate::profiles::{admin_json, no_content};
use crate::responses::{
    BadRequest, Forbidden, NotFound, PayloadTooLarge, RateLimited, Unauthorized,
    UnsupportedMediaType, ValidationFailed,
};
use crate::signin::{cookie_write, signed};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use linkleaf_access::passkeys::PasskeyError;
use linkleaf_domain::ValidationErrors;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A ceremony begun: its id, and the options to hand to the browser.
#[derive(Serialize, ToSchema)]
pub struct Ceremony {
    /// Send it back with the browser's answer.
    ceremony: String,
    /// `{publicKey: ...}`: for `PublicKeyCredential.parseCreationOptionsFromJSON` (or
    /// `parseRequestOptionsFromJSON`).
    #[schema(value_type = Object)]
    options: serde_json::Value,
}

/// The browser's answer to a registration.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishRegistration {
    #[schema(max_length = 64)]
    ceremony: String,
    /// What to call it ("Phone", "Laptop"); "Passkey" when absent.
    #[serde(default)]
    #[schema(max_length = 60)]
    name: Option<String>,
    /// `PublicKeyCredential.toJSON()` of what `navigator.credentials.create` gave.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// Whose passkey to ask for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartAuthentication {
    #[schema(format = Email, max_length = 254)]
    email: String,
}

/// The browser's answer to a sign-in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishAuthentication {
    #[schema(max_length = 64)]
    ceremony: String,
    /// `PublicKeyCredential.toJSON()` of what `navigator.credentials.get` gave.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// One of the person's passkeys.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyView {
    /// The credential id.
    id: String,
    name: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
}

fn refused(e: PasskeyError, what: &'static str) -> AppError {
    match e {
        PasskeyError::Refused => AppError::Unauthorized(what),
        PasskeyError::Invalid(f) => AppError::Validation(ValidationErrors(vec![f])),
        PasskeyError::Store(e) => e.into(),
    }
}

fn view(r: linkleaf_store::accounts::PasskeyRecord) -> PasskeyView {
    PasskeyView {
        id: r.id,
        name: r.name,
        created_at: r.created_at,
        last_used_at: r.last_used_at,
    }
}

/// Begin registering a passkey
///
/// For the signed-in person: the options for `navigator.credentials.create`.
#[utoipa::path(post, path = "/api/passkeys/register/start", operation_id = "startPasskeyRegistration", tag = "accounts",
    responses(
        (status = 200, description = "The ceremony", body = Ceremony),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn register_start(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let s = cookie_write(&st, &headers).await?;
    let (ceremony, options) = st
        .passkeys
        .start_registration(&s.account)
        .await
        .map_err(|e| refused(e, "the passkey could not be registered: start again"))?;
    Ok(admin_json(StatusCode::OK, &Ceremony { ceremony, options }))
}

/// Finish registering a passkey
///
/// Checks the browser's answer and keeps the passkey.
#[utoipa::path(post, path = "/api/passkeys/register/finish", operation_id = "finishPasskeyRegistration", tag = "accounts",
    request_body = FinishRegistration,
    responses(
        (status = 201, description = "Kept", body = PasskeyView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn register_finish(
    State(st): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<FinishRegistration>,
) -> Result<Response, AppError> {
    let s = cookie_write(&st, &headers).await?;
    let rec = st
        .passkeys
        .finish_registration(
            &s.account,
            &body.ceremony,
            body.credential,
            body.name.as_deref().unwrap_or(""),
        )
        .await
        .map_err(|e| refused(e, "the passkey could not be registered: start again"))?;
    Ok(admin_json(StatusCode::CREATED, &view(rec)))
}

/// Begin signing in with a passkey
///
/// The options for `navigator.credentials.get` for the account of `email` (an unknown email
/// gets options too, which cannot succeed). Limited like signing in with a password.
#[utoipa::path(post, path = "/api/passkeys/authenticate/start", operation_id = "startPasskeySignIn", tag = "accounts",
    request_body = StartAuthentication,
    responses(
        (status = 200, description = "The ceremony", body = Ceremony),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
    ))]
pub async fn authenticate_start(
    State(st): State<AppState>,
    peer: Option<axum::Extension<crate::client::Peer>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<StartAuthentication>,
) -> Result<Response, AppError> {
    crate::signin::attempt(&st, &headers, peer.map(|p| p.0), &body.email).await?;
    let (ceremony, options) = st
        .passkeys
        .start_authentication(&body.email)
        .await
        .map_err(|e| refused(e, "the passkey did not sign in"))?;
    Ok(admin_json(StatusCode::OK, &Ceremony { ceremony, options }))
}

/// Sign in with a passkey
///
/// Checks the browser's answer and starts a new session, set in a cookie (as `POST
/// /api/session` does). Any failure is the same 401.
#[utoipa::path(post, path = "/api/passkeys/authenticate/finish", operation_id = "finishPasskeySignIn", tag = "accounts",
    request_body = FinishAuthentication,
    responses(
        (status = 200, description = "Signed in: the session cookie is set", body = crate::signin::Me),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn authenticate_finish(
    State(st): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<FinishAuthentication>,
) -> Result<Response, AppError> {
    let account = st
        .passkeys
        .finish_authentication(&body.ceremony, body.credential)
        .await
        .map_err(|e| refused(e, "the passkey did not sign in"))?;
    let started = st
        .sessions
        .start(account, crate::signin::user_agent(&headers))
        .await?;
    crate::signin::signed_in(&st, StatusCode::OK, started).await
}

/// Your passkeys
#[utoipa::path(get, path = "/api/me/passkeys", operation_id = "myPasskeys", tag = "accounts",
    responses(
        (status = 200, description = "The passkeys, oldest first", body = Vec<PasskeyView>),
        (status = 401, response = Unauthorized),
    ))]
pub async fn list(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let s = signed(&st, &headers).await?;
    let list: Vec<PasskeyView> = st
        .stores
        .accounts
        .passkeys_of(s.account.id)
        .await?
        .into_iter()
        .map(view)
        .collect();
    Ok(admin_json(StatusCode::OK, &list))
}

/// Remove a passkey
#[utoipa::path(delete, path = "/api/me/passkeys/{id}", operation_id = "removePasskey", tag = "accounts",
    params(("id" = String, Path, description = "The passkey's credential id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ))]
pub async fn remove(
    State(st): State<AppState>,
    ApiPath(id): ApiPath,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let s = cookie_write(&st, &headers).await?;
    if st.stores.accounts.delete_passkey(s.account.id, &id).await? {
        Ok(no_content())
    } else {
        Err(AppError::NotFound("no such passkey of yours".into()))
    }
}
