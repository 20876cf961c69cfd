//! The click and view pipeline as the configuration composes it (see `linkleaf_events` for the
//! parts): the spool every serving process writes, the forwarder that sends it to the queue
//! (`queue.url`: in this process, or RabbitMQ), the consumer that rolls it up into the
//! analytics store (inside `serve` unless `analytics.consume = false`, or alone under
//! `linkleaf consume`), and the upkeep around them: the day's visitor salts, pruning of old
//! rollups, and the dead-letter queue's depth.
//!
//! Every task here starts through the process's `Lifecycle`. Stopping: the spool is closed after
//! the HTTP listener has drained (every hit handed over is written), then the forwarder and the
//! consumer stop; the consumer commits the window it holds.
//! Whatever was written and not yet committed stays in the spool (or the queue) and is sent
//! again at the next start, where the store recognises what it counted before.
//! Must not: acknowledge a click before it is spooled, or start a task outside the lifecycle.

use crate::config::Config;
use anyhow::Context;
use async_trait::async_trait;
use linkleaf_events::consumer::{Committed, Consumer};
use linkleaf_events::geo::Geo;
use linkleaf_events::metrics::EventMetrics;
use linkleaf_events::queue::amqp::{AmqpConfig, AmqpSink, AmqpSource, dlq_depth};
use linkleaf_events::queue::inproc;
use linkleaf_events::queue::{Sink, Source};
use linkleaf_events::spool::{self, Fsync, Spool};
use linkleaf_events::visitor::{Salts, keep_salts};
use linkleaf_http::Dependency;
use linkleaf_lifecycle::Lifecycle;
use linkleaf_store::AnalyticsStore;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Messages the in-process queue holds before the forwarder waits.
const INPROC_CAPACITY: usize = 4096;
/// How often old rollups are pruned and the dead-letter queue is measured.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const DLQ_EVERY: Duration = Duration::from_secs(5);

/// What the dead-letter poller last saw, for `/readyz`.
#[derive(Default)]
pub struct QueueState(Mutex<Option<Result<u32, String>>>);

impl QueueState {
    fn set(&self, r: Result<u32, String>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
    }

    fn get(&self) -> Option<Result<u32, String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The queue as `/readyz` reports it: optional (while the queue is away the spool grows and
/// redirects keep answering).
pub struct QueueHealth {
    amqp: bool,
    state: Arc<QueueState>,
}

#[async_trait]
impl Dependency for QueueHealth {
    fn name(&self) -> &'static str {
        "queue"
    }

    async fn check(&self) -> Result<String, String> {
        if !self.amqp {
            return Ok("in process".into());
        }
        match self.state.get() {
            None => Ok("rabbitmq: not measured yet".into()),
            Some(Ok(depth)) => Ok(format!("rabbitmq: dead-letter queue depth {depth}")),
            Some(Err(e)) => Err(format!("rabbitmq: {e}")),
        }
    }

    fn optional(&self) -> bool {
        true
    }
}

/// The spool as `/readyz` reports it: optional, for redirects are answered whatever it does,
/// but while it cannot write (its disk is full or failing) or is full (`clicks.spool_max_bytes`)
/// clicks are not recorded, and the instance is degraded.
pub struct SpoolHealth {
    spool: Spool,
    max_bytes: u64,
}

#[async_trait]
impl Dependency for SpoolHealth {
    fn name(&self) -> &'static str {
        "spool"
    }

    async fn check(&self) -> Result<String, String> {
        let shared = self.spool.shared();
        let bytes = shared.bytes();
        if let Some(why) = shared.write_failure() {
            return Err(format!(
                "the spool cannot write ({why}): clicks and views are not being recorded; {bytes} bytes spooled"
            ));
        }
        if bytes >= self.max_bytes {
            return Err(format!(
                "the spool is full (clicks.spool_max_bytes): events are not being recorded; {bytes} bytes spooled"
            ));
        }
        Ok(format!(
            "{bytes} bytes spooled, last frame {}",
            shared.last_seq()
        ))
    }

    fn optional(&self) -> bool {
        true
    }
}

/// The pipeline of a serving process: its spool, and where the spool goes.
pub struct Pipeline {
    pub spool: Spool,
    salts: Arc<Salts>,
    sink: Arc<dyn Sink>,
    /// The consumer's queue, when this process consumes.
    source: Option<Box<dyn Source>>,
    amqp: Option<AmqpConfig>,
    analytics: Arc<dyn AnalyticsStore>,
    metrics: EventMetrics,
    windows: Windows,
    sync_cursor: bool,
    state: Arc<QueueState>,
    max_bytes: u64,
}

/// The salts for today and tomorrow, if the database answers now (else `keep_salts` keeps
/// trying, and events use this process's own salt meanwhile).
async fn load_salts(store: &dyn AnalyticsStore, salts: &Salts) {
    let today = linkleaf_domain::now_millis()
        .unix_timestamp()
        .div_euclid(86_400);
    for day in [today, today + 1] {
        match tokio::time::timeout(Duration::from_secs(2), store.salt(day)).await {
            Ok(Ok(s)) => salts.set(day, s),
            Ok(Err(e)) => tracing::warn!(error = %e, "the visitor salt is not loaded yet"),
            Err(_) => tracing::warn!("the visitor salt is not loaded yet: the database is slow"),
        }
    }
}

impl Pipeline {
    /// Opens the spool (repairing a torn tail) and the queue.
    pub async fn open(
        cfg: &Config,
        analytics: Arc<dyn AnalyticsStore>,
        metrics: EventMetrics,
        life: &Lifecycle,
    ) -> anyhow::Result<Self> {
        let salts = Arc::new(Salts::default());
        load_salts(analytics.as_ref(), &salts).await;
        let geo = Geo::open(cfg.clicks.geoip_db.as_deref())
            .map_err(|e| anyhow::anyhow!("clicks.geoip_db: {e}"))?;
        let spool_cfg = cfg.spool_config();
        let sync_cursor = spool_cfg.fsync == Fsync::Always;
        let max_bytes = spool_cfg.max_bytes;
        let dir = spool_cfg.dir.clone();
        let spool = spool::open(
            spool_cfg,
            salts.clone(),
            Arc::new(geo),
            metrics.clone(),
            life,
        )
        .with_context(|| format!("opening the spool (clicks.spool_dir {})", dir.display()))?;
        let amqp = cfg.amqp();
        let consume = cfg.analytics.consume;
        let (sink, source): (Arc<dyn Sink>, Option<Box<dyn Source>>) = match &amqp {
            None => {
                if !consume {
                    anyhow::bail!(
                        "analytics.consume = false needs queue.url (RabbitMQ): with the in-process queue, the consumer runs here"
                    );
                }
                let (sink, source) = inproc::queue(INPROC_CAPACITY, dir.join("dead-letter"));
                (Arc::new(sink), Some(Box::new(source)))
            }
            Some(a) => (
                Arc::new(AmqpSink::new(a.clone(), life)),
                consume.then(|| Box::new(AmqpSource::new(a.clone(), life)) as Box<dyn Source>),
            ),
        };
        Ok(Self {
            spool,
            salts,
            sink,
            source,
            amqp,
            analytics,
            metrics,
            windows: Windows::from_config(cfg),
            sync_cursor,
            state: Arc::default(),
            max_bytes,
        })
    }

    /// The queue's and the spool's state, for `/readyz`.
    pub fn health(&self) -> [Arc<dyn Dependency>; 2] {
        [
            Arc::new(QueueHealth {
                amqp: self.amqp.is_some(),
                state: self.state.clone(),
            }),
            Arc::new(SpoolHealth {
                spool: self.spool.clone(),
                max_bytes: self.max_bytes,
            }),
        ]
    }

    /// Starts the forwarder, the consumer (when here) and the upkeep under `life`; `counted`
    /// hears of the profiles each committed window counted for. Returns what closes the spool.
    pub fn start(self, life: &Lifecycle, counted: Option<Committed>) -> Closer {
        life.spawn(
            "spool forwarder",
            linkleaf_events::forward::forward(
                self.spool.shared().clone(),
                self.sink,
                self.sync_cursor,
                life.stopping(),
            ),
        );
        life.spawn(
            "visitor salts",
            keep_salts(
                self.analytics.clone(),
                self.salts,
                Duration::from_secs(60),
                life.stopping(),
            ),
        );
        if let Some(source) = self.source {
            start_consumer(
                life,
                source,
                self.analytics.clone(),
                self.windows,
                self.metrics.clone(),
                self.amqp.clone().map(|a| (a, self.state.clone())),
                counted,
            );
        } else if let Some(a) = self.amqp {
            life.spawn(
                "dead-letter watcher",
                watch_dlq(a, self.metrics.clone(), self.state, life.stopping()),
            );
        }
        Closer { spool: self.spool }
    }
}

/// Closes the spool once nothing more will be recorded.
pub struct Closer {
    spool: Spool,
}

impl Closer {
    /// Has the writer write what it was handed and stop (the lifecycle's drain joins its
    /// thread); gives up asking at `deadline` (a writer stuck on its disk).
    pub async fn close(self, deadline: tokio::time::Instant) {
        if tokio::time::timeout_at(deadline, self.spool.close())
            .await
            .is_err()
        {
            tracing::warn!("the spool writer did not take the close in time");
        }
    }
}

/// How the consumer windows: `analytics.window_secs`, `max_pending_events`, `commit_timeout_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    pub length: Duration,
    pub max_pending: u64,
    pub commit_timeout: Duration,
    /// A window closes early once it holds this many messages: RabbitMQ delivers no more than
    /// `queue.prefetch` until some are acknowledged.
    pub max_messages: usize,
}

impl Windows {
    pub fn from_config(cfg: &Config) -> Self {
        Self {
            length: cfg.analytics.window,
            max_pending: cfg.analytics.max_pending_events.get(),
            commit_timeout: cfg.analytics.commit_timeout,
            max_messages: match cfg.amqp() {
                Some(_) => usize::from(cfg.queue.prefetch),
                None => 1000,
            },
        }
    }
}

/// The consumer and its upkeep: pruning, and the dead-letter queue's depth.
pub fn start_consumer(
    life: &Lifecycle,
    source: Box<dyn Source>,
    analytics: Arc<dyn AnalyticsStore>,
    windows: Windows,
    metrics: EventMetrics,
    // RabbitMQ's dead-letter queue to watch, and where to report it
    dlq: Option<(AmqpConfig, Arc<QueueState>)>,
    counted: Option<Committed>,
) {
    let mut consumer = Consumer::new(
        source,
        analytics.clone(),
        windows.length,
        windows.max_pending,
        windows.commit_timeout,
        metrics.clone(),
    )
    .with_max_messages(windows.max_messages);
    if let Some(hook) = counted {
        consumer = consumer.on_commit(hook);
    }
    life.spawn("consumer", consumer.run(life.stopping()));
    life.spawn("rollup pruning", prune(analytics, life.stopping()));
    if let Some((a, state)) = dlq {
        life.spawn(
            "dead-letter watcher",
            watch_dlq(a, metrics, state, life.stopping()),
        );
    }
}

/// Drops rollups and frame records past their keeping, every hour.
async fn prune(store: Arc<dyn AnalyticsStore>, stop: CancellationToken) {
    loop {
        let now = (linkleaf_domain::now_millis().unix_timestamp_nanos() / 1_000_000) as i64;
        match store.prune(now).await {
            Ok(n) if n > 0 => tracing::info!(rows = n, "old rollups pruned"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning rollups failed; trying again later"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}

/// Measures the dead-letter queue every few seconds, for the metric and `/readyz`.
async fn watch_dlq(
    cfg: AmqpConfig,
    metrics: EventMetrics,
    state: Arc<QueueState>,
    stop: CancellationToken,
) {
    loop {
        let r = tokio::select! {
            () = stop.cancelled() => return,
            r = dlq_depth(&cfg) => r,
        };
        match r {
            Ok(depth) => {
                if depth > 0 {
                    tracing::warn!(
                        depth,
                        queue = %format!("{}.dlq", cfg.queue),
                        "messages are waiting in the dead-letter queue"
                    );
                }
                metrics.dlq_depth.set(f64::from(depth));
                state.set(Ok(depth));
            }
            Err(e) => state.set(Err(e.to_string())),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(DLQ_EVERY) => {}
        }
    }
}

/// `linkleaf consume`: the consumer alone, on RabbitMQ; `counted` hears of the profiles each
/// committed window counted for.
pub fn consume_only(
    cfg: &Config,
    analytics: Arc<dyn AnalyticsStore>,
    metrics: EventMetrics,
    life: &Lifecycle,
    counted: Option<Committed>,
) -> anyhow::Result<Arc<dyn Dependency>> {
    let Some(a) = cfg.amqp() else {
        anyhow::bail!(
            "`linkleaf consume` reads RabbitMQ: set queue.url to an amqp:// URL (with the in-process queue the consumer runs inside `serve`)"
        );
    };
    let state = Arc::new(QueueState::default());
    start_consumer(
        life,
        Box::new(AmqpSource::new(a.clone(), life)),
        analytics,
        Windows::from_config(cfg),
        metrics,
        Some((a, state.clone())),
        counted,
    );
    Ok(Arc::new(QueueHealth { amqp: true, state }))
}

/// The hook that tells the report caches a window counted for these profiles: through
/// `invalidator` (this instance's caches at once; the other instances' through the bus when
/// Redis is configured), as a task of `life`.
pub fn reports_hook(
    invalidator: Arc<linkleaf_cache::invalidate::Invalidator>,
    life: &Lifecycle,
) -> Committed {
    let tasks = life.tasks();
    Arc::new(move |ids: Vec<uuid::Uuid>| {
        let inv = invalidator.clone();
        tasks.spawn(async move {
            // a bounded message each, however many profiles a window counted for
            for chunk in ids.chunks(256) {
                inv.announce(linkleaf_cache::Invalidation {
                    keys: chunk
                        .iter()
                        .copied()
                        .map(linkleaf_http::state::counted_key)
                        .collect(),
                    owner: None,
                })
                .await;
            }
        });
    })
}
