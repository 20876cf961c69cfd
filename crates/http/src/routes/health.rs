//! Liveness, readiness and the Prometheus scrape endpoint.

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

/// `GET /readyz`: the database answers and the instance is not shutting down.
pub async fn readyz(State(st): State<AppState>) -> Response {
    let (status, body) = if st.is_draining() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "draining"}),
        )
    } else {
        match st.profiles().ping().await {
            Ok(()) => (StatusCode::OK, serde_json::json!({"status": "ready"})),
            Err(e) => {
                tracing::warn!(error = %e, "not ready: database ping failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({"status": "database unavailable"}),
                )
            }
        }
    };
    (
        status,
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
