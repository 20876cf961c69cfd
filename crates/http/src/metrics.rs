//! Per-route request metrics with handles resolved when the router is built, so a request
//! touches only atomics: `linkleaf_http_requests_total{route,method,status}` (status as a class,
//! `2xx`...) and `linkleaf_http_request_duration_seconds{route,method}`. Labels come from the
//! route templates, never from raw paths. Each request also gets its line in the request log
//! (`crate::log`).

use crate::log::{Cause, RequestLog};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram};
use std::sync::Arc;
use std::time::Instant;

struct MethodHandles {
    method: Method,
    duration: Histogram,
    /// 2xx..5xx (a handler never answers 1xx)
    by_class: [Counter; 4],
}

#[derive(Clone)]
pub struct RouteMetrics {
    route: Arc<str>,
    handles: Arc<[MethodHandles]>,
    log: Arc<RequestLog>,
}

impl RouteMetrics {
    pub fn new(
        recorder: &dyn metrics::Recorder,
        log: Arc<RequestLog>,
        route: &str,
        methods: &[Method],
    ) -> Self {
        let route: Arc<str> = Arc::from(route);
        let handles = metrics::with_local_recorder(recorder, || {
            methods
                .iter()
                .map(|m| {
                    let method = m.as_str().to_owned();
                    let class = |c: &'static str| {
                        metrics::counter!("linkleaf_http_requests_total",
                            "route" => route.to_string(), "method" => method.clone(), "status" => c)
                    };
                    MethodHandles {
                        method: m.clone(),
                        duration: metrics::histogram!("linkleaf_http_request_duration_seconds",
                            "route" => route.to_string(), "method" => method.clone()),
                        by_class: [class("2xx"), class("3xx"), class("4xx"), class("5xx")],
                    }
                })
                .collect()
        });
        Self {
            route,
            handles,
            log,
        }
    }
}

impl RouteMetrics {
    /// Counts one answered request that began at `start`, and gives it its log line.
    pub fn record(&self, method: &Method, status: u16, start: Instant, cause: Option<&Cause>) {
        let elapsed = start.elapsed();
        let counted = if *method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        if let Some(h) = self.handles.iter().find(|h| h.method == *counted) {
            h.duration.record(elapsed.as_secs_f64());
            h.by_class[(status / 100).clamp(2, 5) as usize - 2].increment(1);
        }
        self.log.line(&self.route, method, status, elapsed, cause);
    }
}

pub async fn track(State(m): State<RouteMetrics>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let res = next.run(req).await;
    m.record(
        &method,
        res.status().as_u16(),
        start,
        res.extensions().get::<Cause>(),
    );
    res
}
