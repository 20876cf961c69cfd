//! Accounts, for the instance's admins (accounts made with `--admin`, signed in):
//! `GET /api/admin/accounts` lists them and `POST /api/admin/accounts/{id}/disable` disables
//! one — its sessions stop at their next request on every instance (each lookup reads the
//! database); its pages stay public until an admin removes them.

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
    let Ok(id) = Uuid::parse_str(&id) else {
        return Err(AppError::NotFound(format!("no account {id}")));
    };
    if id == s.account.id {
        return Err(AppError::Validation(linkleaf_domain::ValidationErrors(
            vec![FieldError::new(
                "id",
                "is your own account: another admin must disable it",
            )],
        )));
    }
    let now = st.sessions.now();
    if !st.sessions.store().disable_account(id, now).await? {
        return Err(AppError::NotFound(format!(
            "no account {id} that is not disabled already"
        )));
    }
    Ok(no_content())
}
