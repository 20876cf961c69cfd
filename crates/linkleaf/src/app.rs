//! The running service: stores opened and migrated, state built, both listeners bound.
//!
//! `Application::build` binds before it returns, so callers (and tests, with port 0) learn the
//! real addresses first; `run_until_stopped` serves until the shutdown future resolves, then
//! marks itself not ready, stops accepting on the main listener and gives in-flight requests a
//! deadline to finish, keeping the operations listener up (so `/readyz` says "draining") until
//! the main one has drained. Every background task and thread starts through the application's
//! one `Lifecycle` and is drained (threads joined) within the same deadline; what each one may
//! leave when the deadline cuts it short is in ARCHITECTURE.md.
//! Must not: start a task or a thread outside the lifecycle, or be ready before both listeners are
//! bound.

use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::process::{self, Serving};
use crate::wiring::{RedisHealth, SharedLimiter};
use crate::{edge, origins};
use anyhow::Context;
use linkleaf_cache::invalidate::{ByOwner, InvalidationMetrics, Invalidator};
use linkleaf_http::auth::Authenticator;
use linkleaf_http::limit::{KeyLimiter, LocalLimiter};
use linkleaf_http::respond::Prebuilt;
use linkleaf_http::server::{Limits, ServerMetrics};
use linkleaf_http::state::report_cache;
use linkleaf_http::{AppState, Dependency, Handles};
use linkleaf_lifecycle::Lifecycle;
use linkleaf_redis::bus::BusEvent;
use linkleaf_redis::{Redis, SharedBucket};
use linkleaf_store::Stores;
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Parts of the application a test may supply instead of the real ones.
#[derive(Default)]
pub struct Overrides {
    /// How the names of URLs users supply are resolved (the system's resolver by default).
    pub resolver: Option<Arc<dyn linkleaf_outbound::Resolve>>,
    /// The time sessions are judged by (the system's by default; a test's own to drive expiry).
    pub clock: Option<Arc<dyn linkleaf_access::clock::Clock>>,
    /// A listener bound already for `server.listen` (a test that must know its port before
    /// the application is built, to make `server.public_url` name it).
    pub listener: Option<std::net::TcpListener>,
}

pub struct Application {
    state: AppState,
    listener: TcpListener,
    ops_listener: TcpListener,
    service: linkleaf_http::fast::FastPath,
    ops_router: axum::Router,
    prometheus: PrometheusHandle,
    limits: Limits,
    ops_limits: Limits,
    main_metrics: ServerMetrics,
    ops_metrics: ServerMetrics,
    /// What starts and stops every task and thread.
    life: Lifecycle,
    /// Redis, when configured (its bus subscriber runs under `life`).
    redis: Option<Redis>,
    /// This process, on the bus.
    instance: Uuid,
    /// Clicks and views: the spool, the queue and (by default) the consumer.
    pipeline: Pipeline,
    /// Delivers the webhook outbox (`webhooks.dispatch`).
    dispatcher: Option<linkleaf_webhooks::Dispatcher>,
    /// Keeps the webhook tables bounded.
    webhook_keep: Duration,
    /// With RabbitMQ: where the outbox's events are republished for other consumers.
    changes: Option<linkleaf_events::queue::amqp::AmqpChanges>,
}

/// The open-file limit: raised to the hard limit when allowed. Returns (soft before, soft now,
/// hard), for the log.
pub fn raise_open_file_limit() -> std::io::Result<(u64, u64, u64)> {
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    let now = rlimit::increase_nofile_limit(hard)?;
    Ok((soft, now, hard))
}

/// The open-file soft limit in force now (`u64::MAX` when unlimited or unknown).
pub fn open_file_limit() -> u64 {
    rlimit::Resource::NOFILE
        .get()
        .map_or(u64::MAX, |(soft, _)| soft)
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
        Self::build_overridden(cfg, stores, Overrides::default()).await
    }

    /// As `build_with`, with parts a test supplies (a resolver of its own).
    pub async fn build_overridden(
        cfg: &Config,
        stores: Stores,
        overrides: Overrides,
    ) -> anyhow::Result<Self> {
        let recorder = process::recorder()?;
        let life = Lifecycle::new(cfg.server.shutdown_grace);
        let instance = Uuid::now_v7();
        let settings = cfg.http_settings();
        let redis = match cfg.redis_config() {
            Some(rc) => Some(Redis::open(&rc, &recorder).context("redis.url")?),
            None => None,
        };
        // where pages and links come from: this instance's database, or the upstream
        let read = origins::compose(cfg, &stores, redis.as_ref(), instance, &recorder, &life)?;
        // where URLs users supply may lead: public addresses, and the operator's networks
        let destinations = linkleaf_outbound::Destinations::checked(
            linkleaf_outbound::AddressPolicy::new(cfg.webhooks.allow_networks.clone()),
            overrides
                .resolver
                .unwrap_or_else(|| Arc::new(linkleaf_outbound::SystemResolver)),
        );
        let dispatcher = if cfg.webhooks.dispatch {
            Some(linkleaf_webhooks::Dispatcher::new(
                stores.webhooks.clone(),
                linkleaf_outbound::Client::to(
                    destinations.clone(),
                    Duration::from_secs(5),
                    64 * 1024,
                )
                .map_err(|e| anyhow::anyhow!("the webhook client: {e}"))?,
                cfg.dispatch_config(),
                linkleaf_webhooks::DispatchMetrics::register(&recorder),
            ))
        } else {
            None
        };
        let pipeline = Pipeline::open(
            cfg,
            stores.analytics.clone(),
            linkleaf_events::metrics::EventMetrics::register(&recorder),
            &life,
        )
        .await?;
        let clicks = linkleaf_http::clicks::Recorder::new(
            pipeline.spool.clone(),
            cfg.server.trusted_proxies.clone(),
            cfg.clicks.geo_header.clone(),
            &recorder,
        );
        let mut dependencies: Vec<Arc<dyn Dependency>> = pipeline.health().into();
        if let Some(u) = &read.upstream {
            dependencies.push(Arc::new(edge::UpstreamHealth(u.clone())));
        }
        // the rate limits: one bucket per key for the whole deployment with Redis, falling back
        // to this instance's while Redis cannot answer
        if let Some(r) = &redis {
            dependencies.insert(0, Arc::new(RedisHealth(r.clone())));
        }
        let limiter_of = |per_minute: u32, burst: u32| -> Arc<dyn KeyLimiter> {
            let local = Arc::new(LocalLimiter::new(per_minute, burst));
            match &redis {
                Some(r) => Arc::new(SharedLimiter::new(
                    SharedBucket::new(r.clone(), per_minute, burst),
                    local,
                    &recorder,
                )),
                None => local,
            }
        };
        let limiter = limiter_of(cfg.rate_limit.per_minute.get(), cfg.rate_limit.burst.get());
        let signin_limits = linkleaf_http::limit::SignInLimits {
            client: limiter_of(
                cfg.accounts.signin_per_minute.get(),
                cfg.accounts.signin_per_minute.get(),
            ),
            account: limiter_of(
                cfg.accounts.signin_account_per_minute.get(),
                cfg.accounts.signin_account_per_minute.get(),
            ),
        };
        let reports = linkleaf_http::state::Reports::new(report_cache(
            settings.analytics_cache_bytes,
            settings.analytics_cache,
        ));
        let invalidator = Arc::new(Invalidator::new(
            vec![
                Arc::new(read.pages.clone()),
                Arc::new(ByOwner(read.links.clone())),
                Arc::new(read.recent.clone()),
                Arc::new(reports.clone()),
            ],
            read.shared.clone(),
            settings.cache.fresh + settings.cache.stale,
            InvalidationMetrics::register(&recorder),
            life.tasks(),
        ));
        let clock: Arc<dyn linkleaf_access::clock::Clock> = overrides
            .clock
            .clone()
            .unwrap_or_else(|| Arc::new(linkleaf_access::clock::SystemClock));
        let state = AppState::new(Handles {
            pages: read.pages,
            links: read.links,
            invalidator,
            auth: Authenticator::new(stores.keys.clone(), limiter, &recorder),
            sessions: Arc::new(linkleaf_access::sessions::Sessions::new(
                stores.accounts.clone(),
                clock.clone(),
                cfg.session_lifetimes(),
            )),
            passkeys: Arc::new(
                linkleaf_access::passkeys::Passkeys::new(
                    &cfg.server.public_url,
                    stores.accounts.clone(),
                    clock,
                )
                .map_err(|e| anyhow::anyhow!(e))?,
            ),
            signin_limits,
            recorder: Some(clicks),
            reports,
            cold: read.cold,
            verifier: cfg.webhooks.verifier.clone(),
            dispatch: dispatcher.as_ref().map(|d| d.waker()),
            boundaries: Arc::new(tokio::sync::Notify::new()),
            destinations,
            dependencies,
            prebuilt: Prebuilt::new(
                settings.browser_max_age,
                settings.browser_stale_while_revalidate,
            ),
            api_document: linkleaf_http::openapi_json().clone(),
            received: AppState::received_counters(&recorder),
            draining: AtomicBool::new(false),
            tasks: life.tasks(),
            metrics: Some(recorder.handle()),
            site: {
                let default = linkleaf_http::site::SiteFiles::default();
                linkleaf_http::site::SiteFiles {
                    favicon: cfg.server.favicon.clone().unwrap_or(default.favicon),
                    touch_icon: cfg.server.touch_icon.clone().unwrap_or(default.touch_icon),
                    robots: cfg.server.robots.clone().unwrap_or(default.robots),
                }
            },
            settings,
            stores,
        });
        let service = linkleaf_http::service(state.clone(), &recorder, linkleaf_web::router());
        let prometheus = recorder.handle();
        let ops_router = linkleaf_http::ops_router(state.clone(), prometheus.clone());
        let listener = match overrides.listener {
            Some(l) => {
                l.set_nonblocking(true)?;
                TcpListener::from_std(l)?
            }
            None => TcpListener::bind(cfg.server.listen)
                .await
                .with_context(|| format!("binding server.listen {}", cfg.server.listen))?,
        };
        let ops_listener = TcpListener::bind(cfg.server.ops_listen)
            .await
            .with_context(|| format!("binding server.ops_listen {}", cfg.server.ops_listen))?;
        let limits = cfg.connection_limits(open_file_limit());
        tracing::debug!(
            max_connections = limits.max_connections,
            "connection limits"
        );
        let main_metrics = ServerMetrics::register(&recorder, "main");
        let ops_metrics = ServerMetrics::register(&recorder, "ops");
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
            limits,
            ops_limits: cfg.ops_connection_limits(),
            main_metrics,
            ops_metrics,
            redis,
            instance,
            pipeline,
            dispatcher,
            webhook_keep: cfg.webhooks.keep,
            changes: cfg
                .amqp()
                .map(|a| linkleaf_events::queue::amqp::AmqpChanges::new(a, &life)),
            life,
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

    /// The main listener's connection limits (after the open-file limit).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Serves until `shutdown` resolves, then drains with a deadline.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            state,
            listener,
            ops_listener,
            service,
            ops_router,
            prometheus,
            limits,
            ops_limits,
            main_metrics,
            ops_metrics,
            life,
            redis,
            instance,
            pipeline,
            dispatcher,
            webhook_keep,
            changes,
        } = self;
        let counted = crate::pipeline::reports_hook(state.invalidator.clone(), &life);
        let spool = pipeline.start(&life, Some(counted));
        if let Some(d) = dispatcher {
            life.spawn("webhook dispatcher", d.run(life.clone()));
        }
        life.spawn(
            "webhook pruning",
            prune_webhooks(
                state.stores.webhooks.clone(),
                webhook_keep,
                changes.is_some(),
                life.stopping(),
            ),
        );
        if state.cold.is_none() {
            // an origin: its links' boundaries are announced as they pass (an edge has none)
            life.spawn(
                "link boundaries",
                crate::schedule::announce_boundaries(
                    state.stores.profiles.clone(),
                    state.boundaries.clone(),
                    state.dispatch.clone(),
                    life.stopping(),
                ),
            );
        }
        if let Some(c) = changes {
            life.spawn(
                "changes relay",
                relay_changes(state.stores.webhooks.clone(), c, life.stopping()),
            );
        }
        if let Some(r) = redis {
            let on_event: Arc<dyn Fn(BusEvent) + Send + Sync> = Arc::new({
                let state = state.clone();
                move |e| match e {
                    // Whatever was missed while unsubscribed is unknown: nothing cached before
                    // now can be proven fresh.
                    BusEvent::Connected => state.invalidator.apply_all(),
                    BusEvent::Invalidate(inv) => state.invalidator.apply(&inv),
                    BusEvent::Disconnected => {}
                }
            });
            life.spawn(
                "bus subscriber",
                linkleaf_redis::bus::subscribe(r, instance, on_event, life.stopping()),
            );
            life.spawn("invalidation retry", {
                let (invalidator, stop) = (state.invalidator.clone(), life.stopping());
                async move { invalidator.retry(Duration::from_millis(250), stop).await }
            });
        }
        process::spawn_upkeep(&life, prometheus);
        let mut main = process::serve(
            &life,
            "main listener",
            listener,
            move |peer| service.for_peer(peer),
            limits,
            main_metrics,
        );
        let mut ops = process::serve(
            &life,
            "operations listener",
            ops_listener,
            move |_peer| ops_router.clone(),
            ops_limits,
            ops_metrics,
        );
        process::until_stopped(&life, shutdown, &mut [&mut main, &mut ops]).await?;
        tracing::info!("shutdown requested: draining");
        let deadline = tokio::time::Instant::now() + life.grace();
        // Not ready from now on; the operations listener stays up to say so while the main one
        // drains.
        state.start_draining();
        let drained = stop_listener(&mut main, deadline).await;
        // nothing more is recorded: what was handed over is written before the writer stops
        spool.close(deadline).await;
        ops.stop.cancel();
        let left = life.drain(deadline).await;
        if drained && left.complete() {
            tracing::info!("drained; stopped");
        } else {
            tracing::warn!(
                grace_secs = life.grace().as_secs(),
                "drain deadline passed; closing remaining connections"
            );
        }
        Ok(())
    }
}

/// Stops `l` accepting and waits (until `deadline`) for its connections to finish; cuts them
/// off then. Returns whether they finished.
async fn stop_listener(l: &mut Serving, deadline: tokio::time::Instant) -> bool {
    l.stop.cancel();
    let drained = tokio::time::timeout_at(deadline, &mut l.task).await.is_ok();
    if !drained {
        l.task.abort();
    }
    drained
}

/// Forgets expired incoming webhook ids, and delivered or dead events older than `keep`, every
/// hour.
async fn prune_webhooks(
    store: Arc<dyn linkleaf_store::WebhookStore>,
    keep: Duration,
    queued: bool,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = linkleaf_domain::unix_millis(time::OffsetDateTime::now_utc());
        match store
            .prune_webhooks(now, keep.as_millis() as i64, queued)
            .await
        {
            Ok(n) if n > 0 => tracing::info!(rows = n, "old webhook events pruned"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "webhook events not pruned"),
        }
    }
}

/// Republishes the outbox's events on RabbitMQ (`{queue.name}.changes`), oldest first, each
/// marked once the broker confirmed it: other consumers get every change (and every incoming
/// event this instance took), at least once, in order per instance.
async fn relay_changes(
    store: Arc<dyn linkleaf_store::WebhookStore>,
    changes: linkleaf_events::queue::amqp::AmqpChanges,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let mut done = Vec::new();
        let now = linkleaf_domain::unix_millis(time::OffsetDateTime::now_utc());
        // a lease longer than a hundred confirms take: another instance skips these meanwhile
        let failed = match store.unpublished(now, 60_000, 100).await {
            Ok(events) => {
                let mut failed = None;
                for e in events {
                    match changes.publish(&e.id, &e.kind, e.payload.as_bytes()).await {
                        Ok(()) => done.push(e.id),
                        Err(err) => {
                            failed = Some(err.to_string());
                            break;
                        }
                    }
                }
                failed
            }
            Err(e) => Some(e.to_string()),
        };
        if !done.is_empty() {
            let now = linkleaf_domain::unix_millis(time::OffsetDateTime::now_utc());
            if let Err(e) = store.mark_published(&done, now).await {
                tracing::warn!(error = %e, "published changes not marked: they will be published again");
            }
        }
        let wait = match &failed {
            Some(e) => {
                tracing::warn!(error = %e, "changes not republished on RabbitMQ yet: retrying");
                backoff = (backoff * 2).min(Duration::from_secs(10));
                backoff
            }
            None if done.len() == 100 => Duration::ZERO,
            None => {
                backoff = Duration::from_millis(250);
                backoff
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
