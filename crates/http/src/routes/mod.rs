//! Every route of the service, in two routers: the public one (pages, public JSON, the admin
//! API) and the operations one (metrics, health), which listens on its own address.
//!
//! Public reads carry no admin middleware: auth, rate limits and body limits live in the admin
//! handlers' extractors.

pub mod admin;
pub mod health;
pub mod public;

use crate::metrics::{RouteMetrics, track};
use crate::state::AppState;
use axum::Router;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, get, post};
use metrics_exporter_prometheus::PrometheusHandle;

pub const PAGE_ROUTE: &str = "/{username}";
pub const PROFILE_ROUTE: &str = "/api/profiles/{profile}";

/// The main service: the fast path for cached reads in front of the router.
pub fn service(state: AppState, recorder: &dyn metrics::Recorder) -> crate::fast::FastPath {
    let r = router(state.clone(), recorder);
    crate::fast::FastPath::new(state, r, recorder)
}

/// The main router. Route metrics are registered with `recorder` here, once.
pub fn router(state: AppState, recorder: &dyn metrics::Recorder) -> Router {
    let timed = |route: &'static str, methods: &[Method], mr: MethodRouter<AppState>| {
        let m = RouteMetrics::new(recorder, route, methods);
        (route, mr.layer(from_fn_with_state(m, track)))
    };
    let routes = [
        timed("/", &[Method::GET], get(public::index)),
        timed("/healthz", &[Method::GET], get(health::healthz)),
        timed("/readyz", &[Method::GET], get(health::readyz)),
        timed(PAGE_ROUTE, &[Method::GET], get(public::page)),
        timed(
            "/api/profiles",
            &[Method::GET, Method::POST],
            get(admin::list).post(admin::create),
        ),
        timed(
            PROFILE_ROUTE,
            &[Method::GET, Method::PATCH, Method::DELETE],
            get(public::profile_json)
                .patch(admin::update)
                .delete(admin::delete),
        ),
        timed(
            "/api/profiles/{profile}/links",
            &[Method::PATCH],
            axum::routing::patch(admin::patch_links),
        ),
        timed(
            "/api/cache/invalidate/{username}",
            &[Method::POST],
            post(admin::invalidate),
        ),
    ];
    let mut r = Router::new();
    for (path, mr) in routes {
        r = r.route(path, mr);
    }
    r.fallback(public::fallback)
        .method_not_allowed_fallback(public::method_not_allowed)
        .with_state(state)
}

/// The operations router: `/metrics`, `/healthz`, `/readyz`.
pub fn ops_router(state: AppState, handle: PrometheusHandle) -> Router {
    let health = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state);
    Router::new()
        .route("/metrics", get(health::metrics))
        .with_state(handle)
        .merge(health)
}
