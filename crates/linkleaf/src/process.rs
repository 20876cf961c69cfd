//! What `serve` and `consume` share as processes: the metrics recorder, the upkeep of its
//! histograms, listeners started under the lifecycle (each with a stage of its own, so they stop
//! in order), waiting for the stop signal (or a listener that ended by itself), and the signal.
//! Must not: know what a listener serves or what the process's tasks do.

use anyhow::Context;
use linkleaf_http::server::{Limits, ServerMetrics};
use linkleaf_lifecycle::Lifecycle;
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5,
];

/// The process's own Prometheus recorder (histograms in seconds, with these buckets).
pub fn recorder() -> anyhow::Result<PrometheusRecorder> {
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .context("metric buckets")?
        .build_recorder())
}

/// Keeps the recorder's histograms rolling, every 5 s, until the process stops.
pub fn spawn_upkeep(life: &Lifecycle, prometheus: PrometheusHandle) {
    let stop = life.stopping();
    life.spawn("metrics upkeep", async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => prometheus.run_upkeep(),
            }
        }
    });
}

/// A listener serving under the lifecycle: `stop` ends its accepting and drains its
/// connections; `task` ends when it has.
pub struct Serving {
    pub stop: CancellationToken,
    pub task: JoinHandle<()>,
}

/// Serves `listener` with `make` (a service per connection) as a task of `life`.
pub fn serve<S>(
    life: &Lifecycle,
    name: &'static str,
    listener: TcpListener,
    make: impl Fn(std::net::SocketAddr) -> S + Send + Sync + 'static,
    limits: Limits,
    metrics: ServerMetrics,
) -> Serving
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let stop = life.stage();
    let task = life.spawn(
        name,
        linkleaf_http::server::serve(listener, make, limits, stop.clone(), metrics),
    );
    Serving { stop, task }
}

/// Waits for `shutdown`; a listener that ends first is an error (it stops everything).
pub async fn until_stopped(
    life: &Lifecycle,
    shutdown: impl Future<Output = ()>,
    listeners: &mut [&mut Serving],
) -> anyhow::Result<()> {
    let ended = async {
        let mut all: Vec<_> = listeners.iter_mut().map(|l| &mut l.task).collect();
        let (r, i, _) = futures_util::future::select_all(all.iter_mut()).await;
        (r, i)
    };
    tokio::select! {
        () = shutdown => Ok(()),
        (r, i) = ended => {
            let _ = life.drain(tokio::time::Instant::now()).await;
            r.with_context(|| format!("listener {i}"))?;
            anyhow::bail!("a listener stopped by itself");
        }
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
