//! The hot read path, in front of the router: a `GET` or `HEAD` of `/{username}` or
//! `/api/profiles/{username}` whose page is fresh in the cache is answered here, from the
//! prebuilt bytes, without routing or middleware. Everything else — misses, stale and negative
//! entries, other routes, writes — goes to the router, whose handlers give the same answers
//! (both build them with `routes::public::cached`).
//!
//! Written by hand because the benchmark showed routing and middleware costing a fifth of the
//! hot read's throughput (BENCHMARKS.md). Must not: load, block, or answer anything the router
//! would answer differently.

use crate::metrics::RouteMetrics;
use crate::routes::public::{API_PROFILES, Kind, cached, segment};
use crate::state::AppState;
use axum::Router;
use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;
use axum::routing::future::RouteFuture;
use futures_util::future::{Either, Ready, ready};
use linkleaf_cache::Status;
use linkleaf_domain::Username;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::Service;

/// Cloned for every request (that is how hyper drives a tower service), so it is one `Arc`.
#[derive(Clone)]
pub struct FastPath(Arc<Inner>);

struct Inner {
    state: AppState,
    router: Router,
    page_metrics: RouteMetrics,
    json_metrics: RouteMetrics,
}

impl FastPath {
    pub fn new(state: AppState, router: Router, recorder: &dyn metrics::Recorder) -> Self {
        Self(Arc::new(Inner {
            state,
            router,
            page_metrics: RouteMetrics::new(recorder, crate::routes::PAGE_ROUTE, &[Method::GET]),
            json_metrics: RouteMetrics::new(recorder, crate::routes::PROFILE_ROUTE, &[Method::GET]),
        }))
    }
}

impl Inner {
    fn try_hit(&self, req: &Request) -> Option<Response> {
        if !(req.method() == Method::GET || req.method() == Method::HEAD) {
            return None;
        }
        let start = Instant::now();
        let path = req.uri().path();
        let (kind, prefix, metrics) = if path.starts_with(API_PROFILES) {
            (Kind::Json, API_PROFILES, &self.json_metrics)
        } else if path.len() > 1 && !path[1..].contains('/') {
            (Kind::Html, "/", &self.page_metrics)
        } else {
            return None;
        };
        let name = segment(path, prefix)?;
        let key = Username::lookup_key(&name)?;
        let entry = self.state.pages().get_fresh(&key, start.into())?;
        let page = entry.value()?;
        let variant = if kind == Kind::Json {
            &page.json
        } else {
            &page.html
        };
        let res = cached(
            &self.state,
            req,
            variant,
            &page.last_modified,
            Status::Hit,
            kind,
        );
        metrics.record(req.method(), res.status().as_u16(), start);
        Some(res)
    }
}

impl Service<Request> for FastPath {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, RouteFuture<Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match self.0.try_hit(&req) {
            Some(res) => Either::Left(ready(Ok(res))),
            None => Either::Right(self.0.router.clone().call(req)),
        }
    }
}
