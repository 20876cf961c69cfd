//! `linkleaf consume`: the consumer alone, reading RabbitMQ (`queue.url`) into the analytics
//! store, for deployments that scale it apart from the serving instances (which then run with
//! `analytics.consume = false`). It serves only the operations listener: `/metrics`,
//! `/healthz`, and `/readyz` (the analytics database and the queue). On SIGINT or SIGTERM it
//! commits the window it holds, then stops; what it had not acknowledged is delivered again to
//! the next consumer and recognised. It is `serve`'s process (`process`: the recorder, the
//! upkeep, the listener, the signal, one `Lifecycle` and its drain) with one task in it.
//! Must not: serve pages, or acknowledge what it has not committed.

use crate::app::open_stores;
use crate::config::Config;
use crate::pipeline::consume_only;
use crate::process;
use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use linkleaf_events::metrics::EventMetrics;
use linkleaf_http::Dependency;
use linkleaf_http::server::ServerMetrics;
use linkleaf_lifecycle::Lifecycle;
use linkleaf_store::AnalyticsStore;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Clone)]
struct Health {
    analytics: Arc<dyn AnalyticsStore>,
    queue: Arc<dyn Dependency>,
}

/// Ready when the analytics database answers; the queue's state (and the dead-letter depth) is
/// reported beside it.
async fn readyz(State(h): State<Health>) -> Response {
    const CHECK: Duration = Duration::from_secs(1);
    let db = match tokio::time::timeout(CHECK, h.analytics.ping_analytics()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 1 s".to_owned()),
    };
    let queue = match tokio::time::timeout(CHECK, h.queue.check()).await {
        Ok(r) => r,
        Err(_) => Err("no answer within 1 s".to_owned()),
    };
    let state = |r: &Result<String, String>| match r {
        Ok(d) => serde_json::json!({"status": "ok", "detail": d}),
        Err(e) => serde_json::json!({"status": "unavailable", "detail": e}),
    };
    let ready = db.is_ok();
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "role": "consumer",
        "dependencies": {
            "database": state(&db.map(|()| String::new())),
            "queue": state(&queue),
        }
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

/// Runs the consumer until `shutdown` resolves.
pub async fn run(cfg: &Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let stores = open_stores(cfg).await?;
    let recorder = process::recorder()?;
    let metrics = EventMetrics::register(&recorder);
    let ops_metrics = ServerMetrics::register(&recorder, "ops");
    let prometheus = recorder.handle();
    let life = Lifecycle::new(cfg.server.shutdown_grace);
    // with Redis, a committed window's profiles drop their reports on every serving instance
    // (through the bus); without it, each instance keeps its reports for analytics.cache_secs
    let counted = match cfg.redis_config() {
        Some(rc) => {
            let redis = linkleaf_redis::Redis::open(&rc, &recorder).context("redis.url")?;
            let settings = cfg.http_settings();
            let invalidator = Arc::new(linkleaf_cache::invalidate::Invalidator::new(
                Vec::new(),
                Some(linkleaf_cache::invalidate::Shared {
                    tier: Arc::new(redis.clone()),
                    bus: Arc::new(linkleaf_redis::bus::RedisBus::new(
                        redis,
                        uuid::Uuid::now_v7(),
                    )),
                }),
                settings.cache.fresh + settings.cache.stale,
                linkleaf_cache::invalidate::InvalidationMetrics::register(&recorder),
                life.tasks(),
            ));
            life.spawn("invalidation retry", {
                let (inv, stop) = (invalidator.clone(), life.stopping());
                async move { inv.retry(Duration::from_millis(250), stop).await }
            });
            Some(crate::pipeline::reports_hook(invalidator, &life))
        }
        None => None,
    };
    let queue = consume_only(cfg, stores.analytics.clone(), metrics, &life, counted)?;
    let health = Health {
        analytics: stores.analytics.clone(),
        queue,
    };
    let router = Router::new()
        .route("/metrics", get(linkleaf_http::routes::health::metrics))
        .with_state(prometheus.clone())
        .merge(
            Router::new()
                .route("/healthz", get(linkleaf_http::routes::health::healthz))
                .route("/readyz", get(readyz))
                .with_state(health),
        );
    let listener = TcpListener::bind(cfg.server.ops_listen)
        .await
        .with_context(|| format!("binding server.ops_listen {}", cfg.server.ops_listen))?;
    tracing::info!(
        "linkleaf consumer reading queue {} (metrics and health on http://{})",
        cfg.queue.name,
        listener.local_addr()?
    );
    drop(recorder);
    process::spawn_upkeep(&life, prometheus);
    let mut ops = process::serve(
        &life,
        "operations listener",
        listener,
        move |_peer| router.clone(),
        cfg.ops_connection_limits(),
        ops_metrics,
    );
    process::until_stopped(&life, shutdown, &mut [&mut ops]).await?;
    tracing::info!("shutdown requested: committing the window held");
    // the consumer commits the window it holds; the listener stops accepting meanwhile
    let left = life.drain_within_grace().await;
    if left.complete() {
        tracing::info!("stopped");
    } else {
        tracing::warn!("the consumer did not stop within the grace period");
    }
    Ok(())
}
