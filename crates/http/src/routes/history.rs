//! `GET /api/profiles/{profile}/history`: who did what. Every change of a profile is kept as a
//! version (what it became, its actor, when), newest first; `history.keep_versions` are kept.
//! Any member may read it.

use crate::access::{NotEdge, Who};
use crate::error::AppError;
use crate::extract::{ApiPath, ApiQuery};
use crate::profiles::admin_json;
use crate::responses::{Forbidden, NotFound, Unauthorized, ValidationFailed};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use linkleaf_access::table::Action;
use linkleaf_domain::account::Actor;
use linkleaf_domain::{Scope, ValidationErrors};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// A page of history.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// How many versions (1 to 100, default 20), newest first.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// One version of a profile.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionView {
    version: i64,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    /// Who made it: absent for the operator's command line.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    actor: Option<Actor>,
    /// The profile as it became.
    #[schema(value_type = Object)]
    profile: serde_json::Value,
}

/// A profile's history
///
/// Every change as a version: what the profile became, who made it (an account or a key) and
/// when, newest first.
#[utoipa::path(get, path = "/api/profiles/{profile}/history", operation_id = "profileHistory", tag = "admin",
    params(("profile" = String, Path, description = "The profile's id (UUID) or username", pattern = r"^[A-Za-z0-9_.-]+$"), HistoryParams),
    security(("api_key" = ["profile:read"]), ("session" = [])),
    responses(
        (status = 200, description = "Versions, newest first", body = Vec<VersionView>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn history(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    ApiPath(raw): ApiPath,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<Response, AppError> {
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(AppError::Validation(ValidationErrors::single(
            "limit",
            "must be between 1 and 100",
        )));
    }
    let id = who
        .profile(&st, &raw, Action::Scope(Scope::ProfileRead))
        .await?;
    let list: Vec<VersionView> = st
        .stores
        .profiles
        .history(id, limit)
        .await?
        .into_iter()
        .map(|v| VersionView {
            version: v.version,
            at: v.at,
            actor: v.actor,
            profile: v.profile,
        })
        .collect();
    Ok(admin_json(StatusCode::OK, &list))
}
