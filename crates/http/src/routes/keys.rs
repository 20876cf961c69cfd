//! Keys a person makes: `GET /api/me/keys`, `POST /api/me/keys` `{name, profile, scopes}` and
//! `DELETE /api/me/keys/{id}`. Each is bound to one profile and to scopes within its maker's
//! role there; it stops when the maker loses that role or is disabled (`access::Who`). The
//! token is shown once. Operator keys, made on the command line, are not listed here.
//! Must not: show a token twice, or give a key scopes beyond its maker's role.

use crate::error::AppError;
use crate::extract::{ApiJson, ApiPath};
use crate::profiles::{admin_json, no_content};
use crate::responses::{
    BadRequest, Forbidden, NotFound, PayloadTooLarge, Unauthorized, UnsupportedMediaType,
    ValidationFailed,
};
use crate::signin::{cookie_write, signed};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use linkleaf_store::keys::ApiKeyRecord;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A key to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "deploy bot", "profile": "ada", "scopes": ["links:write"]}))]
pub struct NewKey {
    /// 1 to 100 printable characters.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// The profile (its id or username) the key is bound to.
    #[schema(min_length = 1, max_length = 64)]
    profile: String,
    /// Within your role on the profile (see the access table).
    #[schema(min_items = 1, max_items = 6)]
    scopes: Vec<String>,
}

/// A key, as listed (never its token).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    id: Uuid,
    name: String,
    /// The public start of the token (`lk_...`), to recognise it by.
    prefix: String,
    profile: Option<Uuid>,
    scopes: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    revoked_at: Option<OffsetDateTime>,
}

impl From<&ApiKeyRecord> for KeyView {
    fn from(k: &ApiKeyRecord) -> Self {
        Self {
            id: k.id,
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            profile: k.profile,
            scopes: k.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A key with its token: the one time it is shown.
#[derive(Serialize, ToSchema)]
pub struct KeyWithToken {
    #[serde(flatten)]
    key: KeyView,
    /// `lk_...`: send as `Authorization: Bearer <token>`. Shown once.
    token: String,
}

/// Your keys
///
/// The keys the signed-in account made, newest first, revoked ones too.
#[utoipa::path(get, path = "/api/me/keys", operation_id = "myKeys", tag = "accounts",
    responses(
        (status = 200, description = "The keys (without tokens)", body = Vec<KeyView>),
        (status = 401, response = Unauthorized),
    ))]
pub async fn list(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let s = signed(&st, &headers).await?;
    let keys = st.stores.keys.keys_of(s.account.id).await?;
    let list: Vec<KeyView> = keys.iter().map(KeyView::from).collect();
    Ok(admin_json(StatusCode::OK, &list))
}

/// Make a key
///
/// Bound to one profile you are a member of, with scopes your role there allows; it stops when
/// you lose that role. The token is in the answer, this once.
#[utoipa::path(post, path = "/api/me/keys", operation_id = "makeKey", tag = "accounts",
    request_body(content = NewKey, content_type = "application/json"),
    responses(
        (status = 201, description = "Made; the token is shown this once", body = KeyWithToken),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`limit_reached`: as many live keys as an account may hold", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn create(
    State(st): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewKey>,
) -> Result<Response, AppError> {
    let s = cookie_write(&st, &headers).await?;
    let (rec, token) =
        crate::access::issue_bound_key(&st, &s, &body.name, &body.profile, &body.scopes).await?;
    let mut res = admin_json(
        StatusCode::CREATED,
        &KeyWithToken {
            key: KeyView::from(&rec),
            token: token.expose().to_owned(),
        },
    );
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/me/keys/{}", rec.id)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

/// Revoke a key
///
/// One of the keys the signed-in account made; it stops at its next use, on every instance.
#[utoipa::path(delete, path = "/api/me/keys/{id}", operation_id = "revokeKey", tag = "accounts",
    params(("id" = Uuid, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ))]
pub async fn revoke(
    State(st): State<AppState>,
    ApiPath(id): ApiPath,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let s = cookie_write(&st, &headers).await?;
    let missing = || AppError::NotFound("no such live key of yours".into());
    let id = Uuid::try_parse(&id).map_err(|_| missing())?;
    if st
        .stores
        .keys
        .revoke_key_of(s.account.id, id, OffsetDateTime::now_utc())
        .await?
    {
        Ok(no_content())
    } else {
        Err(missing())
    }
}
