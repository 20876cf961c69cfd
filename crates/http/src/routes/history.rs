//! `GET /api/profiles/{profile}/history`: who did what. Every change of a profile is kept as a
//! version (what it became, its actor, when), newest first; `history.keep_versions` are kept.
//! Any member may read it; `POST …/history/{version}/restore` makes a new version equal to a
//! kept one (editors and owners).
//! Must not: change a profile except through `profiles::modify` (one transaction, its events, its
//! invalidation).

use crate::access::{NotEdge, Who};
use crate::error::AppError;
use crate::extract::{ApiPath, ApiQuery};
use crate::profiles::{admin_json, if_match, modify, profile_json};
use crate::responses::{
    Conflict, Forbidden, NotFound, PreconditionFailed, Unauthorized, ValidationFailed,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use linkleaf_access::table::Action;
use linkleaf_domain::account::Actor;
use linkleaf_domain::snapshot::Snapshot;
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

/// Restore a version
///
/// Makes a new version equal to a kept one: its username, display name, bio, avatar, theme and
/// links (links still there keep their click counts). Made by the caller, as any edit is; its
/// events are those of the edit it amounts to. A username another profile took since answers
/// 409 and changes nothing. `If-Match` works as on an edit.
#[utoipa::path(post, path = "/api/profiles/{profile}/history/{version}/restore", operation_id = "restoreVersion", tag = "admin",
    params(("profile" = String, Path, description = "The profile's id (UUID) or username", pattern = r"^[A-Za-z0-9_.-]+$"),
           ("version" = i64, Path, description = "The version to restore, as the history lists it", minimum = 1),
           ("If-Match" = Option<String>, Header, description = "The profile's current `version` as read: refused with 412 if it changed since", pattern = r#"^(\*|"[0-9]{1,15}"|[0-9]{1,15})$"#)),
    security(("api_key" = ["profile:write", "links:write"]), ("session" = [])),
    responses(
        (status = 200, description = "The profile as it now is", body = linkleaf_domain::Profile),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 412, response = PreconditionFailed),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn restore(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    Path((raw, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let expect = if_match(&headers)?;
    let id = who
        .profile(&st, &raw, Action::Scope(Scope::ProfileWrite))
        .await?;
    // it rewrites the links too: a key for the profile's text alone may not
    who.on(&st, id, Action::Scope(Scope::LinksWrite)).await?;
    let missing = || {
        AppError::NotFound(format!(
            "this profile keeps no version '{}' (history.keep_versions are kept)",
            version.chars().take(20).collect::<String>()
        ))
    };
    let number: i64 = version.parse().map_err(|_| missing())?;
    let kept = st
        .stores
        .profiles
        .version(id, number)
        .await?
        .ok_or_else(missing)?;
    let snapshot = Snapshot::read(&kept.profile)
        .ok_or_else(|| AppError::Internal(format!("version {number} of {id} is not a profile")))?;
    let p = modify(&st, id, who.actor(), expect, move |current| {
        snapshot.restore(current)
    })
    .await?;
    Ok(profile_json(StatusCode::OK, &p))
}
