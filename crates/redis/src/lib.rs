//! Redis, or a Redis Cluster, as linkleaf uses it: the shared second cache tier
//! (`linkleaf_cache::tier::SecondTier`), the invalidation bus between instances
//! (`linkleaf_cache::tier::Bus` and `bus::subscribe`), and the per-key token bucket shared by
//! every instance (`SharedBucket`).
//!
//! Redis faults cost no read: every call is bounded by a tight timeout, and a breaker stops
//! asking once calls fail, so while Redis is down or slow the service pays nothing for it; the
//! breaker lets a call through again after `breaker_open` and closes on its first success, and
//! the tier rewarms by itself as misses fill it. Keys are exact (no `KEYS`, no `SCAN`) and those
//! of one profile share a hash tag, so they live in one cluster slot and one script can touch
//! them together:
//!
//! | key | holds |
//! |---|---|
//! | `{prefix}:page:{<username key>}` | the encoded page and when the origin produced it |
//! | `{prefix}:gen:{<username key>}` | the key's generation, moved by every invalidation |
//! | `{prefix}:rl:{<api key id>}` | the API key's GCRA state (its theoretical arrival time) |
//! | channel `{prefix}:bus` | invalidations and heartbeats, as JSON |
//!
//! Must not: let a driver type out of this crate, or block a read on Redis for longer than the
//! timeout.

pub mod bus;
mod tier;

pub use bus::{BusEvent, BusMessage};

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
    /// One `redis://` URL, or several seed nodes of a Redis Cluster.
    pub urls: Vec<String>,
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
struct RedisMetrics {
    breaker_open: Gauge,
    calls_ok: Counter,
    calls_failed: Counter,
    calls_timed_out: Counter,
    calls_skipped: Counter,
    bus_sent: Counter,
    bus_received: Counter,
    bus_lag: metrics::Histogram,
    bus_connected: Gauge,
    bus_reconnects: Counter,
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
struct Breaker {
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
enum Conn {
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

struct Inner {
    target: Target,
    /// Clients of each node, for the bus subscriber (cluster-wide `PUBLISH` reaches every node).
    nodes: Vec<redis::Client>,
    prefix: String,
    timeout: Duration,
    connect_timeout: Duration,
    heartbeat: Duration,
    breaker: Breaker,
    bus_connected: AtomicBool,
    metrics: RedisMetrics,
    scripts: Scripts,
}

struct Scripts {
    put: redis::Script,
    forget: redis::Script,
    gcra: redis::Script,
}

/// A handle to Redis; cloning shares it.
#[derive(Clone)]
pub struct Redis(Arc<Inner>);

impl Redis {
    /// Sets up the connection (lazily: Redis need not be up yet) and registers its metrics.
    pub fn open(cfg: &RedisConfig, recorder: &dyn metrics::Recorder) -> Result<Self, ConfigError> {
        if cfg.urls.is_empty() {
            return Err(ConfigError("no URL".into()));
        }
        let nodes = cfg
            .urls
            .iter()
            .map(|u| redis::Client::open(u.as_str()).map_err(|e| ConfigError(e.to_string())))
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
            let client = redis::cluster::ClusterClient::builder(cfg.urls.clone())
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
                put: redis::Script::new(tier::PUT_IF_GENERATION),
                forget: redis::Script::new(tier::FORGET),
                gcra: redis::Script::new(GCRA),
            },
        })))
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:{{{id}}}", self.0.prefix)
    }

    fn channel(&self) -> String {
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
    async fn call<T, F, Fut>(&self, f: F) -> Result<T, TierError>
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

/// The generic cell rate algorithm: a token bucket of `burst` tokens refilled one per
/// `interval`, as one atomic step on the server's clock. Returns 0 when a token was taken, else
/// the milliseconds until one will be.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - now > tolerance then
  return tat - tolerance - now
end
redis.call('SET', KEYS[1], tat + interval, 'PX', tat + interval - now)
return 0
";

/// A per-key token bucket that every instance shares, so a key's limit holds for the whole
/// deployment.
#[derive(Clone)]
pub struct SharedBucket {
    redis: Redis,
    interval_ms: u64,
    tolerance_ms: u64,
}

impl SharedBucket {
    /// `per_minute` tokens a minute, at most `burst` at once.
    pub fn new(redis: Redis, per_minute: u32, burst: u32) -> Self {
        let interval_ms = 60_000 / u64::from(per_minute.max(1));
        Self {
            redis,
            interval_ms: interval_ms.max(1),
            tolerance_ms: interval_ms.max(1) * u64::from(burst.max(1) - 1),
        }
    }

    /// Takes a token for `key`: `Ok(None)` when taken, `Ok(Some(wait))` when the bucket is
    /// empty, `Err` when Redis could not be asked (the caller decides what then).
    pub async fn take(&self, key: &str) -> Result<Option<Duration>, TierError> {
        let k = self.redis.key("rl", key);
        let (interval, tolerance) = (self.interval_ms, self.tolerance_ms);
        let script = &self.redis.0.scripts.gcra;
        let wait: u64 = self
            .redis
            .call(|mut c| async move {
                script
                    .key(k)
                    .arg(interval)
                    .arg(tolerance)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok((wait > 0).then(|| Duration::from_millis(wait)))
    }
}
