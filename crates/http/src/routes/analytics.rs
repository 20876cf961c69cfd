//! `GET /api/profiles/{profile}/analytics`: clicks, views and visitors from the rollups.
//!
//! Reads rollups only (never events), and keeps each answer for `analytics.cache_secs` (the
//! reference architecture's 15 minutes by default) keyed by the profile and the resolved range,
//! so a dashboard polling it costs the database one query set per range and period. How fresh
//! an answer is: events are committed once their window closes (`analytics.window_secs`), and
//! each commit drops the kept answers of the profiles it counted for, here and (with Redis) on
//! every instance, so a click is in the answer within a window and a moment; profiles nothing
//! was counted for keep theirs. A consumer running apart without Redis cannot reach the
//! instances' caches: then `analytics.cache_secs` bounds how old an answer is.
//! Must not: read events, or keep a report past a commit that counted for its profile.

use crate::access::{NotEdge, Who};
use crate::error::AppError;
use crate::extract::{ApiPath, ApiQuery};
use crate::profiles::admin_json;
use crate::respond::{X_CACHE, x_cache};
use crate::responses::{
    Forbidden, NotFound, RateLimited, Unauthorized, Unavailable, ValidationFailed,
};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use linkleaf_domain::analytics::{AnalyticsParams, AnalyticsReport};

/// A profile's analytics
///
/// Totals (clicks, human and bot clicks, page views, daily unique visitors), clicks per link,
/// a time series, and the top referring hosts, countries, device classes and bot classes over
/// `[from, to)`, rounded out to whole buckets. Counted from rollups: an event is in them once
/// the consumer's window holding it closes (`analytics.window_secs`, 10 s by default); an
/// answer is reused for `analytics.cache_secs` (15 minutes by default) until a window counts
/// for the profile.
#[utoipa::path(get, path = "/api/profiles/{profile}/analytics", operation_id = "getAnalytics", tag = "admin",
    params(("profile" = String, Path, description = "The profile's id (UUID) or username", pattern = r"^[A-Za-z0-9_.-]+$"),
        AnalyticsParams),
    security(("api_key" = ["analytics:read"]), ("session" = [])),
    responses(
        (status = 200, description = "The report", body = AnalyticsReport, headers(
            ("X-Cache" = crate::responses::CacheStatus, description = "`HIT`: a report kept for `analytics.cache_secs` (dropped as soon as a window counts for the profile); `MISS`: read from the rollups now"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ))]
pub async fn report(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    ApiPath(raw): ApiPath,
    ApiQuery(params): ApiQuery<AnalyticsParams>,
) -> Result<Response, AppError> {
    let (q, profile) = crate::reports::query_of(&st, &who, &raw, &params).await?;
    let (report, status) = crate::reports::report_of(&st, profile.id, &q).await?;
    let mut res = admin_json(StatusCode::OK, &*report);
    res.headers_mut().insert(X_CACHE.clone(), x_cache(status));
    Ok(res)
}

/// A profile's analytics as CSV
///
/// The report of `getAnalytics` (same parameters) as one table: a row per total, bucket of the
/// series, link (with its title) and breakdown value, under `section`. A cell that would start
/// with `=`, `+`, `-`, `@`, a tab or a carriage return starts with `'` instead, so no
/// spreadsheet reads a title or a referrer as a formula (CSV injection).
#[utoipa::path(get, path = "/api/profiles/{profile}/analytics.csv", operation_id = "getAnalyticsCsv", tag = "admin",
    params(("profile" = String, Path, description = "The profile's id (UUID) or username", pattern = r"^[A-Za-z0-9_.-]+$"),
        AnalyticsParams),
    security(("api_key" = ["analytics:read"]), ("session" = [])),
    responses(
        (status = 200, description = "The report as CSV (RFC 4180, with a header row)", content_type = "text/csv", body = String),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ))]
pub async fn report_csv(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    ApiPath(raw): ApiPath,
    ApiQuery(params): ApiQuery<AnalyticsParams>,
) -> Result<Response, AppError> {
    let (q, profile) = crate::reports::query_of(&st, &who, &raw, &params).await?;
    let (report, _) = crate::reports::report_of(&st, profile.id, &q).await?;
    let body = crate::export::analytics_csv(&report, &profile)
        .map_err(|e| AppError::Internal(format!("writing the CSV: {e}")))?;
    let disposition = format!(
        "attachment; filename=\"{}-analytics.csv\"",
        profile.username.key()
    );
    let mut res = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response();
    res.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    Ok(res)
}
