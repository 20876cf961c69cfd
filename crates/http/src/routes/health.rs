//! Liveness, readiness and the Prometheus scrape endpoint.
//! Must not: need a credential, or wait on the database longer than its own deadline.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({"status": "ok"})),
    )
        .into_response()
}

/// `GET /readyz`: whether this instance should get traffic, and why (or why not): each
/// dependency's state and the mode it serves in. Ready when not shutting down and the database
/// answers; an optional dependency (Redis) that does not answer leaves it ready but *degraded*
/// (reads fall through to the database, limits are per instance). Each check is bounded, so
/// readiness answers quickly whatever hangs.
pub async fn readyz(State(st): State<AppState>) -> Response {
    let (ready, body) = crate::readiness::readiness(&st).await;
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

/// `GET /metrics` (on the operations listener only).
pub async fn metrics(State(handle): State<PrometheusHandle>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}
