//! Accounts, for the instance's admins (accounts made with `--admin`, signed in):
//! `GET /api/admin/accounts` lists them and `POST /api/admin/accounts/{id}/disable` disables
//! one — its sessions stop at their next request on every instance (each lookup reads the
//! database); its pages stay public until an admin removes them.
//! Must not: let an admin act on an account without the admin check, or show a password or a
//! session secret.

use crate::error::AppError;
use crate::extract::{ApiPath, ApiQuery};
use crate::profiles::{admin_json, no_content};
use crate::responses::{Forbidden, NotFound, Unauthorized, ValidationFailed};
use crate::signin::{Signed, cookie_write, signed};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use linkleaf_domain::FieldError;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An account as admins see it (never its password).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    id: Uuid,
    email: String,
    display_name: String,
    admin: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    disabled_at: Option<OffsetDateTime>,
}

/// A page of accounts.
#[derive(Serialize, ToSchema)]
pub struct AccountPage {
    items: Vec<AccountView>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

#[derive(Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct ListAccounts {
    /// 1 to 100 (default 50).
    limit: Option<u32>,
    /// The email after which to start (the `next` of the previous page).
    after: Option<String>,
}

fn admin(s: Signed) -> Result<Signed, AppError> {
    if s.account.admin {
        Ok(s)
    } else {
        Err(AppError::InsufficientRole(
            "only an admin account may manage accounts",
        ))
    }
}

async fn signed_admin(st: &AppState, headers: &HeaderMap) -> Result<Signed, AppError> {
    admin(signed(st, headers).await?)
}

/// List accounts
#[utoipa::path(get, path = "/api/admin/accounts", operation_id = "listAccounts", tag = "accounts",
    params(ListAccounts),
    responses(
        (status = 200, description = "Accounts by email", body = AccountPage),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn list(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<ListAccounts>,
    req: Request,
) -> Result<Response, AppError> {
    signed_admin(&st, req.headers()).await?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(AppError::Validation(linkleaf_domain::ValidationErrors(
            vec![FieldError::new("limit", "must be 1 to 100")],
        )));
    }
    let rows = st
        .sessions
        .store()
        .list_accounts(q.after.as_deref(), limit + 1)
        .await?;
    let more = rows.len() > limit as usize;
    let items: Vec<AccountView> = rows
        .into_iter()
        .take(limit as usize)
        .map(|a| AccountView {
            id: a.id,
            email: a.email,
            display_name: a.display_name,
            admin: a.admin,
            created_at: a.created_at,
            disabled_at: a.disabled_at,
        })
        .collect();
    let next = more
        .then(|| items.last().map(|a| a.email.clone()))
        .flatten();
    Ok(admin_json(StatusCode::OK, &AccountPage { items, next }))
}

/// The account `raw` names, when it is not the admin's own (`instead`: what they do for theirs).
fn another(s: &Signed, raw: &str, instead: &str) -> Result<Uuid, AppError> {
    let id = Uuid::parse_str(raw).map_err(|_| AppError::NotFound(format!("no account {raw}")))?;
    if id == s.account.id {
        return Err(AppError::Validation(linkleaf_domain::ValidationErrors(
            vec![FieldError::new(
                "id",
                format!("is your own account: {instead}"),
            )],
        )));
    }
    Ok(id)
}

/// Disable an account
///
/// Its sessions stop at their next request, on every instance; its pages stay public until an
/// admin removes them. An admin cannot disable their own account.
#[utoipa::path(post, path = "/api/admin/accounts/{id}/disable", operation_id = "disableAccount", tag = "accounts",
    params(("id" = Uuid, Path, description = "The account's id")),
    responses(
        (status = 204, description = "Disabled"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn disable(
    State(st): State<AppState>,
    ApiPath(id): ApiPath,
    req: Request,
) -> Result<Response, AppError> {
    let s = admin(cookie_write(&st, req.headers()).await?)?;
    let id = another(&s, &id, "another admin must disable it")?;
    let now = st.sessions.now();
    if !st.sessions.store().disable_account(id, now).await? {
        return Err(AppError::NotFound(format!(
            "no account {id} that is not disabled already"
        )));
    }
    Ok(no_content())
}

/// An account an admin makes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"email": "grace@example.com", "displayName": "Grace"}))]
pub struct NewAccountBody {
    #[schema(format = Email, max_length = 254)]
    email: String,
    #[serde(default)]
    #[schema(max_length = 100)]
    display_name: Option<String>,
    /// May manage accounts and every profile.
    #[serde(default)]
    admin: bool,
}

/// A one-time link that sets an account's password.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordLink {
    /// `{server.public_url}/invite/{token}`: it works once, until `expiresAt`.
    url: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// An account made, and the link that lets its person in.
#[derive(Serialize, ToSchema)]
pub struct MadeAccount {
    account: AccountView,
    #[serde(flatten)]
    link: PasswordLink,
}

fn view(a: linkleaf_store::accounts::AccountRecord) -> AccountView {
    AccountView {
        id: a.id,
        email: a.email,
        display_name: a.display_name,
        admin: a.admin,
        created_at: a.created_at,
        disabled_at: a.disabled_at,
    }
}

async fn link_for(st: &AppState, account: Uuid) -> Result<PasswordLink, AppError> {
    let (token, expires_at) = linkleaf_access::links::password_link(
        st.sessions.store().as_ref(),
        account,
        st.sessions.now(),
    )
    .await?;
    Ok(PasswordLink {
        url: linkleaf_access::links::url(&st.settings.public_url, &token),
        expires_at,
    })
}

/// Make an account
///
/// Without a password: the answer holds a one-time link (linkleaf sends no mail: hand it over)
/// where the person sets one, for 24 hours.
#[utoipa::path(post, path = "/api/admin/accounts", operation_id = "createAccount", tag = "accounts",
    request_body = NewAccountBody,
    responses(
        (status = 201, description = "Made, with its link", body = MadeAccount),
        (status = 400, response = crate::responses::BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = crate::responses::Conflict),
        (status = 413, response = crate::responses::PayloadTooLarge),
        (status = 415, response = crate::responses::UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn create(
    State(st): State<AppState>,
    headers: HeaderMap,
    crate::extract::ApiJson(body): crate::extract::ApiJson<NewAccountBody>,
) -> Result<Response, AppError> {
    admin(cookie_write(&st, &headers).await?)?;
    let a = linkleaf_access::links::make_account(
        st.sessions.store().as_ref(),
        linkleaf_access::links::NewAccount {
            email: &body.email,
            display_name: body.display_name.as_deref(),
            password: None,
            admin: body.admin,
        },
        st.sessions.now(),
    )
    .await
    .map_err(crate::signin::link_error)?;
    let link = link_for(&st, a.id).await?;
    Ok(admin_json(
        StatusCode::CREATED,
        &MadeAccount {
            account: view(a),
            link,
        },
    ))
}

/// A link to reset a password
///
/// A one-time link (24 hours) where the account's person sets a new password; every session
/// of the account ends when they do. Recovery without mail: hand it over.
#[utoipa::path(post, path = "/api/admin/accounts/{id}/reset", operation_id = "resetPassword", tag = "accounts",
    params(("id" = Uuid, Path, description = "The account's id")),
    responses(
        (status = 200, description = "The link", body = PasswordLink),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ))]
pub async fn reset(
    State(st): State<AppState>,
    ApiPath(id): ApiPath,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    admin(cookie_write(&st, &headers).await?)?;
    let missing = || AppError::NotFound(format!("no account {id}"));
    let id = Uuid::parse_str(&id).map_err(|_| missing())?;
    st.sessions
        .store()
        .account_by_id(id)
        .await?
        .ok_or_else(missing)?;
    Ok(admin_json(StatusCode::OK, &link_for(&st, id).await?))
}

/// Delete an account
///
/// With its sessions, keys and memberships; the profiles it alone owned are deleted with it.
/// An admin deletes their own account with `DELETE /api/me`.
#[utoipa::path(delete, path = "/api/admin/accounts/{id}", operation_id = "deleteAccount", tag = "accounts",
    params(("id" = Uuid, Path, description = "The account's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn delete(
    State(st): State<AppState>,
    ApiPath(id): ApiPath,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let s = admin(cookie_write(&st, &headers).await?)?;
    let id = another(&s, &id, "delete it with DELETE /api/me")?;
    let actor = crate::access::Who::Person(s.clone()).actor();
    crate::profiles::delete_account(&st, id, actor).await?;
    Ok(no_content())
}
