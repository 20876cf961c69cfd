//! The connection to Redis or a Redis Cluster: opened lazily, every call bounded by the timeout
//! and passed through one breaker, the scripts compiled once, and the metrics of it all. Must
//! not: know what the keys hold (the tier, the bus and the bucket do).

use crate::scripts;
use linkleaf_cache::tier::TierError;
use metrics::{Counter, Gauge};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// How to reach Redis and how much to trust it.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// One `redis://` URL, or several seed nodes of a Redis Cluster (secrets: a URL may hold a
    /// password).
    pub urls: Vec<linkleaf_domain::Secret>,
    /// Prepended to every key and to the channel, so deployments (and tests) can share a server.
    pub prefix: String,
    /// The most one call may take.
    pub timeout: Duration,
    /// The most a connection attempt may take.
    pub connect_timeout: Duration,
    /// Consecutive failures that open the breaker...
    pub breaker_failures: u32,
    /// ...and how long it stays open before letting a call through again.
    pub breaker_open: Duration,
    /// How often the bus subscriber checks that it still hears its own messages.
    pub heartbeat: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("redis.url: {0}")]
pub struct ConfigError(String);

/// Counters and gauges, registered once.
#[derive(Clone)]
pub(crate) struct RedisMetrics {
    pub(crate) breaker_open: Gauge,
    pub(crate) calls_ok: Counter,
    pub(crate) calls_failed: Counter,
    pub(crate) calls_timed_out: Counter,
    pub(crate) calls_skipped: Counter,
    pub(crate) bus_sent: Counter,
    pub(crate) bus_received: Counter,
    pub(crate) bus_lag: metrics::Histogram,
    pub(crate) bus_connected: Gauge,
    pub(crate) bus_reconnects: Counter,
}

impl RedisMetrics {
    fn register(recorder: &dyn metrics::Recorder) -> Self {
        metrics::with_local_recorder(recorder, || {
            let call =
                |o: &'static str| metrics::counter!("linkleaf_redis_calls_total", "outcome" => o);
            Self {
                breaker_open: metrics::gauge!("linkleaf_redis_breaker_open"),
                calls_ok: call("ok"),
                calls_failed: call("failed"),
                calls_timed_out: call("timeout"),
                calls_skipped: call("skipped"),
                bus_sent: metrics::counter!("linkleaf_bus_messages_total", "direction" => "sent"),
                bus_received: metrics::counter!("linkleaf_bus_messages_total", "direction" => "received"),
                bus_lag: metrics::histogram!("linkleaf_bus_lag_seconds"),
                bus_connected: metrics::gauge!("linkleaf_bus_connected"),
                bus_reconnects: metrics::counter!("linkleaf_bus_reconnects_total"),
            }
        })
    }
}

/// Closed while calls succeed; open (calls are not made) for `open_for` after `threshold`
/// consecutive failures; then calls go through again, and the first success closes it.
pub(crate) struct Breaker {
    failures: AtomicU32,
    open_until_ms: AtomicU64,
    threshold: u32,
    open_for: Duration,
    epoch: Instant,
}

impl Breaker {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn allows(&self) -> bool {
        self.now_ms() >= self.open_until_ms.load(Ordering::Relaxed)
    }

    fn is_open(&self) -> bool {
        self.failures.load(Ordering::Relaxed) >= self.threshold
    }

    /// Returns whether this closed the breaker.
    fn success(&self) -> bool {
        let was = self.failures.swap(0, Ordering::Relaxed);
        self.open_until_ms.store(0, Ordering::Relaxed);
        was >= self.threshold
    }

    /// Returns whether this opened (or re-opened) the breaker.
    fn failure(&self) -> bool {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= self.threshold {
            self.open_until_ms.store(
                self.now_ms() + self.open_for.as_millis() as u64,
                Ordering::Relaxed,
            );
            true
        } else {
            false
        }
    }
}

/// One connection that routes commands: to the one server, or by key slot across a cluster.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }
    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }
    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

enum Target {
    Single(ConnectionManager),
    /// Connected on first use, and again after a failed attempt.
    Cluster {
        client: Box<redis::cluster::ClusterClient>,
        conn: OnceCell<ClusterConnection>,
    },
}

pub(crate) struct Inner {
    target: Target,
    /// Clients of each node, for the bus subscriber (cluster-wide `PUBLISH` reaches every node).
    pub(crate) nodes: Vec<redis::Client>,
    pub(crate) prefix: String,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) heartbeat: Duration,
    pub(crate) breaker: Breaker,
    pub(crate) bus_connected: AtomicBool,
    pub(crate) metrics: RedisMetrics,
    pub(crate) scripts: Scripts,
}

pub(crate) struct Scripts {
    pub(crate) put: redis::Script,
    pub(crate) forget: redis::Script,
    pub(crate) gcra: redis::Script,
}

/// A handle to Redis; cloning shares it.
#[derive(Clone)]
pub struct Redis(pub(crate) Arc<Inner>);

impl Redis {
    /// Sets up the connection (lazily: Redis need not be up yet) and registers its metrics.
    pub fn open(cfg: &RedisConfig, recorder: &dyn metrics::Recorder) -> Result<Self, ConfigError> {
        if cfg.urls.is_empty() {
            return Err(ConfigError("no URL".into()));
        }
        let nodes = cfg
            .urls
            .iter()
            .map(|u| redis::Client::open(u.expose()).map_err(|e| ConfigError(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let target = if cfg.urls.len() == 1 {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(cfg.connect_timeout))
                .set_response_timeout(Some(cfg.timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(500));
            Target::Single(
                ConnectionManager::new_lazy_with_config(nodes[0].clone(), config)
                    .map_err(|e| ConfigError(e.to_string()))?,
            )
        } else {
            let client = redis::cluster::ClusterClient::builder(
                cfg.urls.iter().map(|u| u.expose().to_owned()),
            )
            .connection_timeout(cfg.connect_timeout)
            .response_timeout(cfg.timeout)
            .build()
            .map_err(|e| ConfigError(e.to_string()))?;
            Target::Cluster {
                client: Box::new(client),
                conn: OnceCell::new(),
            }
        };
        let metrics = RedisMetrics::register(recorder);
        metrics.breaker_open.set(0.0);
        metrics.bus_connected.set(0.0);
        Ok(Self(Arc::new(Inner {
            target,
            nodes,
            prefix: cfg.prefix.clone(),
            timeout: cfg.timeout,
            connect_timeout: cfg.connect_timeout,
            heartbeat: cfg.heartbeat,
            breaker: Breaker {
                failures: AtomicU32::new(0),
                open_until_ms: AtomicU64::new(0),
                threshold: cfg.breaker_failures.max(1),
                open_for: cfg.breaker_open,
                epoch: Instant::now(),
            },
            bus_connected: AtomicBool::new(false),
            metrics,
            scripts: Scripts {
                put: redis::Script::new(scripts::PUT_IF_GENERATION),
                forget: redis::Script::new(scripts::FORGET),
                gcra: redis::Script::new(scripts::GCRA),
            },
        })))
    }

    pub(crate) fn key(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:{{{id}}}", self.0.prefix)
    }

    pub(crate) fn channel(&self) -> String {
        format!("{}:bus", self.0.prefix)
    }

    /// Whether the breaker is open (Redis is not being asked).
    pub fn breaker_open(&self) -> bool {
        self.0.breaker.is_open()
    }

    /// Whether the bus subscriber is connected and hearing its own heartbeats.
    pub fn bus_connected(&self) -> bool {
        self.0.bus_connected.load(Ordering::Relaxed)
    }

    async fn conn(&self) -> redis::RedisResult<Conn> {
        match &self.0.target {
            Target::Single(m) => Ok(Conn::Single(m.clone())),
            Target::Cluster { client, conn } => conn
                .get_or_try_init(|| client.get_async_connection())
                .await
                .map(|c| Conn::Cluster(c.clone())),
        }
    }

    /// Runs one call through the breaker and the timeout.
    pub(crate) async fn call<T, F, Fut>(&self, f: F) -> Result<T, TierError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let inner = &self.0;
        let m = &inner.metrics;
        if !inner.breaker.allows() {
            m.calls_skipped.increment(1);
            return Err(TierError::Open);
        }
        let result = tokio::time::timeout(inner.timeout, async {
            let conn = self.conn().await?;
            f(conn).await
        })
        .await;
        match result {
            Ok(Ok(v)) => {
                m.calls_ok.increment(1);
                if inner.breaker.success() {
                    m.breaker_open.set(0.0);
                    tracing::info!("Redis answers again: breaker closed");
                }
                Ok(v)
            }
            Ok(Err(e)) => {
                m.calls_failed.increment(1);
                self.failed();
                Err(TierError::Failed(e.to_string()))
            }
            Err(_) => {
                m.calls_timed_out.increment(1);
                self.failed();
                Err(TierError::Timeout)
            }
        }
    }

    fn failed(&self) {
        let was_open = self.0.breaker.is_open();
        if self.0.breaker.failure() {
            self.0.metrics.breaker_open.set(1.0);
            if !was_open {
                tracing::warn!(
                    open_ms = self.0.breaker.open_for.as_millis() as u64,
                    "Redis failing: breaker open, reading from the origin"
                );
            }
        }
    }

    /// `PING`, through the breaker (for readiness).
    pub async fn ping(&self) -> Result<(), TierError> {
        self.call(|mut c| async move { redis::cmd("PING").query_async::<()>(&mut c).await })
            .await
    }
}
