//! The running service: stores opened and migrated, state built, both listeners bound.
//!
//! `Application::build` binds before it returns, so callers (and tests, with port 0) learn the
//! real addresses first; `run_until_stopped` serves until the shutdown future resolves, then
//! stops accepting, marks itself not ready, and gives in-flight requests a deadline to finish.

use crate::config::Config;
use anyhow::Context;
use linkleaf_http::AppState;
use linkleaf_store::Stores;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5,
];

pub struct Application {
    state: AppState,
    listener: TcpListener,
    ops_listener: TcpListener,
    service: linkleaf_http::fast::FastPath,
    ops_router: axum::Router,
    prometheus: PrometheusHandle,
    grace: Duration,
}

/// Opens the configured database and brings its schema up to date.
pub async fn open_stores(cfg: &Config) -> anyhow::Result<Stores> {
    let stores = linkleaf_store::open(cfg.database.url.expose(), &cfg.store_options())
        .await
        .context("opening the database (database.url)")?;
    stores
        .profiles
        .migrate()
        .await
        .context("migrating the database")?;
    Ok(stores)
}

impl Application {
    pub async fn build(cfg: &Config) -> anyhow::Result<Self> {
        let stores = open_stores(cfg).await?;
        Self::build_with(cfg, stores).await
    }

    /// Builds on stores the caller opened (and migrated).
    pub async fn build_with(cfg: &Config, stores: Stores) -> anyhow::Result<Self> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .context("metric buckets")?
            .build_recorder();
        let state = AppState::new(stores, cfg.http_settings(), &recorder);
        let service = linkleaf_http::service(state.clone(), &recorder);
        let prometheus = recorder.handle();
        let ops_router = linkleaf_http::ops_router(state.clone(), prometheus.clone());
        let listener = TcpListener::bind(cfg.server.listen)
            .await
            .with_context(|| format!("binding server.listen {}", cfg.server.listen))?;
        let ops_listener = TcpListener::bind(cfg.server.ops_listen)
            .await
            .with_context(|| format!("binding server.ops_listen {}", cfg.server.ops_listen))?;
        // The recorder must outlive every handle registered with it: handles hold their own
        // references to its storage, and rendering goes through `prometheus`.
        drop(recorder);
        Ok(Self {
            state,
            listener,
            ops_listener,
            service,
            ops_router,
            prometheus,
            grace: Duration::from_secs(cfg.server.shutdown_grace_secs),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn ops_addr(&self) -> SocketAddr {
        self.ops_listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains with a deadline.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let upkeep = tokio::spawn({
            let (handle, stop) = (self.prometheus.clone(), stop.clone());
            async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tick.tick() => handle.run_upkeep(),
                    }
                }
            }
        });
        use axum::ServiceExt;
        use axum::serve::ListenerExt;
        let main_svc = self.service.into_make_service();
        let (main_stop, ops_stop) = (stop.clone(), stop.clone());
        // Answers are written whole, in one writev: there is nothing for Nagle to coalesce, only
        // a delayed-ACK stall to risk.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY");
            }
        });
        let mut main = tokio::spawn(async move {
            axum::serve(listener, main_svc)
                .with_graceful_shutdown(main_stop.cancelled_owned())
                .await
        });
        let (ops_listener, ops_router) = (self.ops_listener, self.ops_router);
        let mut ops = tokio::spawn(async move {
            axum::serve(ops_listener, ops_router)
                .with_graceful_shutdown(ops_stop.cancelled_owned())
                .await
        });
        tokio::select! {
            () = shutdown => tracing::info!("shutdown requested: draining"),
            r = &mut main => { stop.cancel(); return r.context("server task")?.context("server"); }
            r = &mut ops => { stop.cancel(); return r.context("ops task")?.context("ops server"); }
        }
        self.state.start_draining();
        stop.cancel();
        let drained = tokio::time::timeout(self.grace, async {
            let (a, b) = tokio::join!(&mut main, &mut ops);
            (a, b)
        })
        .await;
        upkeep.abort();
        match drained {
            Ok((a, b)) => {
                a.context("server task")?.context("server")?;
                b.context("ops task")?.context("ops server")?;
                tracing::info!("drained; stopped");
            }
            Err(_) => {
                tracing::warn!(
                    grace_secs = self.grace.as_secs(),
                    "drain deadline passed; closing remaining connections"
                );
                main.abort();
                ops.abort();
            }
        }
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
