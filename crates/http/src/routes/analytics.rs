//! `GET /api/profiles/{profile}/analytics`: clicks, views and visitors from the rollups.
//!
//! Reads rollups only (never events), and keeps each answer for `analytics.cache_secs` (the
//! reference architecture's 15 minutes by default) keyed by the profile and the resolved range,
//! so a dashboard polling it costs the database one query set per range and period. How fresh
//! an answer is: events are committed once their window closes (`analytics.window_secs`), and
//! a cached answer is at most `analytics.cache_secs` older than that.

use crate::access::{NotEdge, Who};
use crate::error::AppError;
use crate::extract::{ApiPath, ApiQuery};
use crate::profiles::admin_json;
use crate::responses::{
    Forbidden, NotFound, RateLimited, Unauthorized, Unavailable, ValidationFailed,
};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use linkleaf_access::table::Action;
use linkleaf_domain::Scope;
use linkleaf_domain::analytics::{AnalyticsParams, AnalyticsQuery, AnalyticsReport};
use linkleaf_domain::now_millis;
use std::sync::Arc;

/// A profile's analytics
///
/// Totals (clicks, human and bot clicks, page views, daily unique visitors), clicks per link,
/// a time series, and the top referring hosts, countries, device classes and bot classes over
/// `[from, to)`, rounded out to whole buckets. Counted from rollups: an event is in them once
/// the consumer's window holding it closes (`analytics.window_secs`, 10 s by default), and an
/// answer is reused for `analytics.cache_secs` (15 minutes by default).
#[utoipa::path(get, path = "/api/profiles/{profile}/analytics", operation_id = "getAnalytics", tag = "admin",
    params(("profile" = String, Path, description = "The profile's id (UUID) or username", pattern = r"^[A-Za-z0-9_.-]+$"),
        AnalyticsParams),
    security(("api_key" = ["analytics:read"]), ("session" = [])),
    responses(
        (status = 200, description = "The report", body = AnalyticsReport),
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
    let q = AnalyticsQuery::resolve(&params, now_millis())?;
    let id = who
        .profile(&st, &raw, Action::Scope(Scope::AnalyticsRead))
        .await?;
    let key = (id, q.from_ms, q.to_ms, q.bucket, q.shortened);
    let report = match st.reports.get(&key) {
        Some(r) => r,
        None => {
            let r = Arc::new(st.stores.analytics.report(id, &q).await?);
            st.reports.insert(key, r.clone());
            r
        }
    };
    Ok(admin_json(StatusCode::OK, &*report))
}
