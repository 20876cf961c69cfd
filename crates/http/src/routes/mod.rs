//! Every route of the service, in two routers: the API one (pages, public JSON, the admin API,
//! the API description) and the operations one (metrics, health), which listens on its own
//! address and is not part of the API description.
//!
//! API routes are registered only through utoipa-axum's `routes!`, which takes each handler's
//! `#[utoipa::path]`: a route cannot join the router without joining `openapi.json`. Public reads
//! carry no admin middleware: auth, rate limits and body limits live in the admin handlers'
//! extractors.
//! Must not: hold a handler's logic (each lives in its leaf module, which only this one names).

pub mod accounts;
pub mod admin;
pub mod analytics;
pub mod docs;
pub mod health;
pub mod history;
pub mod keys;
pub mod members;
pub mod passkeys;
pub mod public;
pub mod qr;
pub mod redirect;
pub mod session;
pub mod site;
pub mod transfer;
pub mod webhooks;

use crate::log::RequestLog;
use crate::metrics::{RouteMetrics, track};
use crate::state::{AppState, Pages};
use axum::Router;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

/// The route label of requests no route takes.
pub const UNMATCHED: &str = "(unmatched)";

/// Puts per-route metrics (registered with `recorder`, labelled by the route template and the
/// methods the description gives it) around one registration.
fn timed(
    recorder: &dyn metrics::Recorder,
    log: &Arc<RequestLog>,
    r: UtoipaMethodRouter<AppState>,
) -> UtoipaMethodRouter<AppState> {
    let (schemas, paths, method_router) = r;
    let Some((route, item)) = paths.paths.iter().next() else {
        return (schemas, paths, method_router);
    };
    let methods: Vec<Method> = [
        (Method::GET, item.get.is_some()),
        (Method::POST, item.post.is_some()),
        (Method::PUT, item.put.is_some()),
        (Method::PATCH, item.patch.is_some()),
        (Method::DELETE, item.delete.is_some()),
    ]
    .into_iter()
    .filter_map(|(m, present)| present.then_some(m))
    .collect();
    let m = RouteMetrics::new(recorder, log.clone(), route, &methods);
    (
        schemas,
        paths,
        method_router.layer(from_fn_with_state(m, track)),
    )
}

/// The API routes with their description, not yet given a state.
pub fn api_router(recorder: &dyn metrics::Recorder) -> OpenApiRouter<AppState> {
    let log = Arc::new(RequestLog::new(recorder));
    let timed = |r| timed(recorder, &log, r);
    OpenApiRouter::new()
        .routes(timed(routes!(public::index)))
        .routes(timed(routes!(site::favicon)))
        .routes(timed(routes!(site::touch_icon)))
        .routes(timed(routes!(site::robots)))
        .routes(timed(routes!(site::stylesheet)))
        .routes(timed(routes!(public::page)))
        .routes(timed(routes!(redirect::follow)))
        .routes(timed(routes!(admin::list, admin::create)))
        .routes(timed(routes!(
            public::profile_json,
            admin::update,
            admin::delete
        )))
        .routes(timed(routes!(admin::patch_links)))
        .routes(timed(routes!(members::list, members::add)))
        .routes(timed(routes!(members::remove)))
        .routes(timed(routes!(members::invite)))
        .routes(timed(routes!(history::history)))
        .routes(timed(routes!(history::restore)))
        .routes(timed(routes!(transfer::export)))
        .routes(timed(routes!(transfer::import)))
        .routes(timed(routes!(analytics::report)))
        .routes(timed(routes!(analytics::report_csv)))
        .routes(timed(routes!(qr::qr_svg)))
        .routes(timed(routes!(qr::qr_png)))
        .routes(timed(routes!(admin::invalidate)))
        .routes(timed(routes!(webhooks::receive)))
        .routes(timed(routes!(webhooks::list, webhooks::create)))
        .routes(timed(routes!(
            webhooks::get,
            webhooks::update,
            webhooks::delete
        )))
        .routes(timed(routes!(webhooks::rotate)))
        .routes(timed(routes!(webhooks::deliveries)))
        .routes(timed(routes!(session::sign_in, session::sign_out)))
        .routes(timed(routes!(
            session::me,
            session::delete_me,
            session::update_me
        )))
        .routes(timed(routes!(session::sessions)))
        .routes(timed(routes!(session::end_session)))
        .routes(timed(routes!(session::change_password)))
        .routes(timed(routes!(keys::list, keys::create)))
        .routes(timed(routes!(keys::revoke)))
        .routes(timed(routes!(passkeys::register_start)))
        .routes(timed(routes!(passkeys::register_finish)))
        .routes(timed(routes!(passkeys::authenticate_start)))
        .routes(timed(routes!(passkeys::authenticate_finish)))
        .routes(timed(routes!(passkeys::list)))
        .routes(timed(routes!(passkeys::remove)))
        .routes(timed(routes!(accounts::list, accounts::create)))
        .routes(timed(routes!(accounts::disable)))
        .routes(timed(routes!(accounts::reset)))
        .routes(timed(routes!(accounts::delete)))
        .routes(timed(routes!(session::sign_up)))
        .routes(timed(routes!(docs::spec)))
        .routes(timed(routes!(docs::page)))
        .routes(timed(routes!(docs::asset)))
}

/// The main router. Route metrics are registered with `recorder` here, once: each API route and
/// each of `pages` under its template, and what matches no route (or not its method) under
/// `(unmatched)`, so every answer has its count and its log line.
pub fn router(state: AppState, recorder: &dyn metrics::Recorder, pages: Pages) -> Router {
    use axum::handler::Handler;
    let (mut router, _) = api_router(recorder).split_for_parts();
    let log = Arc::new(RequestLog::new(recorder));
    let both = [Method::GET, Method::POST];
    for (path, handlers) in pages {
        let m = RouteMetrics::new(recorder, log.clone(), path, &both);
        router = router.route(path, handlers.layer(from_fn_with_state(m, track)));
    }
    let every = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ];
    let unmatched = RouteMetrics::new(recorder, log, UNMATCHED, &every);
    router
        .fallback(public::fallback.layer(from_fn_with_state(unmatched.clone(), track)))
        .method_not_allowed_fallback(
            public::method_not_allowed.layer(from_fn_with_state(unmatched, track)),
        )
        .layer(axum::middleware::map_response(html_guard))
        .with_state(state)
}

/// Every HTML answer carries the security headers, whichever route (or a future one that
/// forgot) made it: the routes set their own (the API reference its own policy for its
/// scripts); an HTML answer without a policy gets the profile page's.
async fn html_guard(mut res: axum::response::Response) -> axum::response::Response {
    let h = res.headers_mut();
    let html = h
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html && !h.contains_key(axum::http::header::CONTENT_SECURITY_POLICY) {
        crate::respond::html_security_headers(h, crate::respond::PAGE_CSP);
    }
    res
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
