//! The configuration as the service uses it: a struct per section, every value typed already
//! (durations, non-zero counts, parsed networks, the verifier, secrets). Must not: read or check
//! anything (`keys` does).

use linkleaf_domain::Secret;
use linkleaf_domain::net::Net;
use linkleaf_events::spool::Fsync;
use linkleaf_http::client::TrustedProxies;
use linkleaf_http::site::StaticFile;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub server: Server,
    pub database: Database,
    pub cache: Cache,
    pub redis: Redis,
    pub clicks: Clicks,
    pub queue: Queue,
    pub analytics: Analytics,
    pub webhooks: Webhooks,
    pub origin: Origin,
    pub rate_limit: RateLimit,
    pub accounts: Accounts,
    pub history: History,
    pub log: Log,
}

/// Who did what (`[history]`).
#[derive(Debug, Clone)]
pub struct History {
    /// Versions kept per profile.
    pub keep_versions: u32,
}

#[derive(Debug, Clone)]
pub struct Accounts {
    pub signup: linkleaf_domain::account::Signup,
    pub max_profiles: u32,
    pub session_idle: Duration,
    pub session_max: Duration,
    /// Sign-in attempts a minute per client address, and per account.
    pub signin_per_minute: NonZeroU32,
    pub signin_account_per_minute: NonZeroU32,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub listen: SocketAddr,
    pub ops_listen: SocketAddr,
    /// 0 = one per core.
    pub workers: usize,
    pub shutdown_grace: Duration,
    pub public_url: String,
    pub max_body_bytes: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
    /// 0 = what the open-file limit allows.
    pub max_connections: usize,
    pub trusted_proxies: TrustedProxies,
    /// `server.favicon_file`, read at start: `None` for linkleaf's own icon.
    pub favicon: Option<StaticFile>,
    /// `server.touch_icon_file`, read at start: `None` for linkleaf's own.
    pub touch_icon: Option<StaticFile>,
    /// `server.robots_file`, read at start: `None` for the default.
    pub robots: Option<StaticFile>,
}

#[derive(Debug, Clone)]
pub struct Database {
    pub url: Secret,
    pub read_url: Option<Secret>,
    pub max_connections: NonZeroU32,
    pub acquire_timeout: Duration,
    pub busy_timeout: Duration,
    pub statement_timeout: Duration,
    pub replica_lag: Duration,
}

#[derive(Debug, Clone)]
pub struct Cache {
    pub max_bytes: NonZeroU64,
    /// `cache.fresh_secs`: how long a page (and the links it embeds) is served without asking.
    pub fresh: Duration,
    pub stale: Duration,
    pub negative: Duration,
    pub retry_after_error: Duration,
    pub browser_max_age: Duration,
    pub browser_stale_while_revalidate: Duration,
}

#[derive(Debug, Clone)]
pub struct Redis {
    /// None (no shared tier), one, or a cluster's seed nodes.
    pub urls: Vec<Secret>,
    pub prefix: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub breaker_failures: u32,
    pub breaker_open: Duration,
    pub heartbeat: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrerMode {
    Host,
    None,
}

#[derive(Debug, Clone)]
pub struct Clicks {
    pub spool_dir: PathBuf,
    /// `clicks.fsync`, with `clicks.fsync_interval_ms` for `interval`.
    pub fsync: Fsync,
    pub spool_max_bytes: u64,
    pub segment_bytes: u64,
    pub geo_header: Option<axum::http::HeaderName>,
    pub geoip_db: Option<PathBuf>,
    pub referrer: ReferrerMode,
}

#[derive(Debug, Clone)]
pub struct Queue {
    /// RabbitMQ; `None`: the in-process queue.
    pub url: Option<Secret>,
    pub name: String,
    pub prefetch: u16,
}

#[derive(Debug, Clone)]
pub struct Analytics {
    pub window: Duration,
    pub max_pending_events: NonZeroU64,
    pub commit_timeout: Duration,
    /// `analytics.cache_secs`: how long a report is reused.
    pub cache_for: Duration,
    pub cache_max_bytes: u64,
    pub consume: bool,
}

#[derive(Debug, Clone)]
pub struct Webhooks {
    /// `webhooks.secret`, read into the verifier of incoming events.
    pub verifier: Arc<linkleaf_webhooks::Verifier>,
    pub inbox_ttl: Duration,
    pub dispatch: bool,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub disable_after: Duration,
    pub rotation_overlap: Duration,
    pub poll: Duration,
    pub keep: Duration,
    pub max_subscriptions: NonZeroU32,
    pub allow_networks: Vec<Net>,
}

#[derive(Debug, Clone)]
pub struct Origin {
    /// Edge mode when set.
    pub upstream_url: Option<String>,
    pub upstream_key: Secret,
    pub upstream_per_minute: NonZeroU32,
    pub cold_misses_per_minute: u32,
    pub cold_negative_ttl: Duration,
    pub timeout: Duration,
    pub budget: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

#[derive(Debug, Clone)]
pub struct RateLimit {
    pub per_minute: NonZeroU32,
    pub burst: NonZeroU32,
}

#[derive(Debug, Clone)]
pub struct Log {
    /// A tracing filter, read into its directives once.
    pub filter: Vec<tracing_subscriber::filter::Directive>,
}
