//! The hot read path, in front of the router: a `GET` or `HEAD` of `/{username}` or
//! `/api/profiles/{username}` whose page is fresh in the cache is answered here, from the
//! prebuilt bytes, without routing or middleware (a page's view is handed to the recorder on
//! the way); so is `/r/{link}` for a fresh, enabled link, once its click is written. Everything
//! else — misses, stale and negative entries, other routes, writes — goes to the router, with
//! the connection's `Peer`, and its handlers give the same answers (both build them with
//! `respond::cached`, `respond::redirect` and `respond::record_view`).
//!
//! Written by hand because the benchmark showed routing and middleware costing a fifth of the
//! hot read's throughput (BENCHMARKS.md). Must not: load, block, or answer anything the router
//! would answer differently.

use crate::client::Peer;
use crate::metrics::RouteMetrics;
use crate::respond::{
    API_PROFILES, Kind, PAGE_ROUTE, PROFILE_ROUTE, REDIRECT_PREFIX as REDIRECT, REDIRECT_ROUTE,
    cached, link_key, record_view, redirect, segment,
};
use crate::state::AppState;
use axum::Router;
use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;
use axum::routing::future::RouteFuture;
use futures_util::future::{BoxFuture, Either, Ready, ready};
use linkleaf_cache::Status;
use linkleaf_domain::Username;
use linkleaf_events::event::Kind as HitKind;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::Service;
use uuid::Uuid;

/// Cloned for every request (that is how hyper drives a tower service), so it is an `Arc` and
/// the connection's peer (`for_peer`).
#[derive(Clone)]
pub struct FastPath(Arc<Inner>, SocketAddr);

struct Inner {
    state: AppState,
    router: Router,
    page_metrics: RouteMetrics,
    json_metrics: RouteMetrics,
    redirect_metrics: RouteMetrics,
}

enum Hit {
    Answered(Response),
    /// A redirect whose click is being written.
    Click(BoxFuture<'static, Result<Response, Infallible>>),
}

impl FastPath {
    pub fn new(state: AppState, router: Router, recorder: &dyn metrics::Recorder) -> Self {
        let log = Arc::new(crate::log::RequestLog::new(recorder));
        Self(
            Arc::new(Inner {
                state,
                router,
                page_metrics: RouteMetrics::new(recorder, log.clone(), PAGE_ROUTE, &[Method::GET]),
                json_metrics: RouteMetrics::new(
                    recorder,
                    log.clone(),
                    PROFILE_ROUTE,
                    &[Method::GET],
                ),
                redirect_metrics: RouteMetrics::new(recorder, log, REDIRECT_ROUTE, &[Method::GET]),
            }),
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        )
    }

    /// The service for one connection, from `peer`.
    pub fn for_peer(&self, peer: SocketAddr) -> Self {
        Self(self.0.clone(), peer)
    }
}

impl Inner {
    fn try_hit(self: &Arc<Self>, req: &Request, peer: SocketAddr) -> Option<Hit> {
        if !(req.method() == Method::GET || req.method() == Method::HEAD) {
            return None;
        }
        let start = Instant::now();
        let path = req.uri().path();
        if let Some(rest) = path.strip_prefix(REDIRECT) {
            return self.try_redirect(req, rest, peer, start);
        }
        let (kind, prefix, metrics) = if path.starts_with(API_PROFILES) {
            (Kind::Json, API_PROFILES, &self.json_metrics)
        } else if path.len() > 1 && !path[1..].contains('/') {
            (Kind::Html, "/", &self.page_metrics)
        } else {
            return None;
        };
        let name = segment(path, prefix)?;
        let key = Username::lookup_key(&name)?;
        let entry = self.state.pages.get_fresh(&key, start.into())?;
        let page = entry.value()?;
        let res = cached(
            &self.state.prebuilt.cached_headers,
            req,
            page,
            Status::Hit,
            kind,
        );
        if kind == Kind::Html
            && let Some(owner) = entry.owner()
        {
            record_view(
                self.state.recorder.as_ref(),
                req,
                peer.ip(),
                owner,
                res.status(),
            );
        }
        metrics.record(req.method(), res.status().as_u16(), start, None);
        Some(Hit::Answered(res))
    }

    /// `/r/{link}` for a fresh, enabled link: the redirect, once the click is written.
    fn try_redirect(
        self: &Arc<Self>,
        req: &Request,
        rest: &str,
        peer: SocketAddr,
        start: Instant,
    ) -> Option<Hit> {
        let id = Uuid::try_parse(rest).ok()?;
        let entry = self
            .state
            .links
            .get_fresh(link_key(&id, &mut [0; 36]), start.into())?;
        let target = entry.value().filter(|t| t.enabled)?;
        let res = redirect(&target.location);
        let Some(rec) = self.state.recorder.as_ref() else {
            self.redirect_metrics.record(req.method(), 302, start, None);
            return Some(Hit::Answered(res));
        };
        let hit = rec.hit(
            HitKind::Click,
            target.profile,
            Some(id),
            peer.ip(),
            req.headers(),
            req.method() == Method::HEAD,
        );
        let inner = self.clone();
        let method = req.method().clone();
        Some(Hit::Click(Box::pin(async move {
            if let Some(rec) = inner.state.recorder.as_ref() {
                rec.click(hit).await;
            }
            inner.redirect_metrics.record(&method, 302, start, None);
            Ok(res)
        })))
    }
}

impl Service<Request> for FastPath {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<
        Ready<Result<Response, Infallible>>,
        Either<BoxFuture<'static, Result<Response, Infallible>>, RouteFuture<Infallible>>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        match self.0.try_hit(&req, self.1) {
            Some(Hit::Answered(res)) => Either::Left(ready(Ok(res))),
            Some(Hit::Click(f)) => Either::Right(Either::Left(f)),
            None => {
                req.extensions_mut().insert(Peer(self.1));
                Either::Right(Either::Right(self.0.router.clone().call(req)))
            }
        }
    }
}
