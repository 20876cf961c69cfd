//! Configuration: the defaults in `defaults.toml`, then a TOML file, then `LINKLEAF_*`
//! environment variables (env wins). Unknown keys and bad values fail at start with a message
//! naming the key. Secrets are wrapped so `Debug` never shows them.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub const DEFAULTS: &str = include_str!("defaults.toml");
const ENV_PREFIX: &str = "LINKLEAF";
/// Environment variables that are flags of the command line, not configuration keys.
const NOT_CONFIG: &[&str] = &["LINKLEAF_CONFIG"];
/// Connections the operations listener (metrics, health) takes at most.
pub const OPS_MAX_CONNECTIONS: usize = 16;

/// A value that must not be printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
    pub log: Log,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhooks {
    pub secret: Secret,
    pub inbox_ttl_secs: u64,
    pub dispatch: bool,
    pub timeout_ms: u64,
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_secs: u64,
    pub disable_after_secs: u64,
    pub rotation_overlap_secs: u64,
    pub poll_ms: u64,
    pub keep_secs: u64,
    pub max_subscriptions: u32,
    pub allow_networks: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    pub upstream_url: String,
    pub upstream_key: Secret,
    pub upstream_per_minute: u32,
    pub cold_misses_per_minute: u32,
    pub cold_negative_ttl_secs: u64,
    pub timeout_ms: u64,
    pub budget_ms: u64,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clicks {
    pub spool_dir: std::path::PathBuf,
    pub fsync: FsyncMode,
    pub fsync_interval_ms: u64,
    pub spool_max_bytes: u64,
    pub segment_bytes: u64,
    pub geo_header: String,
    pub geoip_db: String,
    pub referrer: ReferrerMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncMode {
    Never,
    Interval,
    Always,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferrerMode {
    Host,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    pub url: Secret,
    pub name: String,
    pub prefetch: u16,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Analytics {
    pub window_secs: f64,
    pub max_pending_events: u64,
    pub commit_timeout_ms: u64,
    pub cache_secs: u64,
    pub cache_max_bytes: u64,
    pub consume: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub listen: SocketAddr,
    pub ops_listen: SocketAddr,
    pub workers: usize,
    pub shutdown_grace_secs: u64,
    pub public_url: String,
    pub max_body_bytes: usize,
    pub header_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub request_timeout_secs: u64,
    pub max_connections: usize,
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub url: Secret,
    pub read_url: Secret,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    pub busy_timeout_ms: u64,
    pub statement_timeout_ms: u64,
    pub replica_lag_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redis {
    pub url: Secret,
    pub prefix: String,
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub breaker_failures: u32,
    pub breaker_open_ms: u64,
    pub heartbeat_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    pub max_bytes: u64,
    pub profile_ttl_secs: u64,
    pub links_ttl_secs: u64,
    pub stale_ttl_secs: u64,
    pub negative_ttl_secs: u64,
    pub retry_after_error_secs: u64,
    pub browser_max_age_secs: u64,
    pub browser_stale_while_revalidate_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub per_minute: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    pub filter: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl Config {
    /// Loads defaults, then `file` (or `./linkleaf.toml` when present), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// As `load`, with the environment given (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        use config::{Environment, File, FileFormat};
        let mut b =
            config::Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        match file {
            Some(f) => b = b.add_source(File::from(f).format(FileFormat::Toml).required(true)),
            None => b = b.add_source(File::new("linkleaf.toml", FileFormat::Toml).required(false)),
        }
        let vars: config::Map<String, String> = env
            .filter(|(k, _)| k.starts_with("LINKLEAF_") && !NOT_CONFIG.contains(&k.as_str()))
            .collect();
        b = b.add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("server.trusted_proxies")
                .with_list_parse_key("webhooks.allow_networks")
                .source(Some(vars)),
        );
        let cfg: Config = b.build()?.try_deserialize()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The built-in defaults alone.
    pub fn defaults() -> Self {
        Self::load_from(None, std::iter::empty()).expect("the built-in defaults are valid")
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let c = &self.cache;
        for (key, v) in [
            ("cache.profile_ttl_secs", c.profile_ttl_secs),
            ("cache.links_ttl_secs", c.links_ttl_secs),
            ("cache.negative_ttl_secs", c.negative_ttl_secs),
            ("cache.max_bytes", c.max_bytes),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        let sv = &self.server;
        for (key, v) in [
            ("server.header_timeout_secs", sv.header_timeout_secs),
            ("server.idle_timeout_secs", sv.idle_timeout_secs),
            ("server.request_timeout_secs", sv.request_timeout_secs),
        ] {
            if v == 0 || v > 86_400 {
                return Err(invalid(key, "must be between 1 and 86400 seconds"));
            }
        }
        if self.rate_limit.per_minute == 0 {
            return Err(invalid("rate_limit.per_minute", "must be greater than 0"));
        }
        if self.rate_limit.burst == 0 {
            return Err(invalid("rate_limit.burst", "must be greater than 0"));
        }
        if self.database.max_connections == 0 {
            return Err(invalid(
                "database.max_connections",
                "must be greater than 0",
            ));
        }
        if self.server.workers > 1024 {
            return Err(invalid(
                "server.workers",
                "must be at most 1024 (0 = one per core)",
            ));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(invalid("server.max_body_bytes", "must be at least 1024"));
        }
        match url::Url::parse(&self.server.public_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            _ => {
                return Err(invalid(
                    "server.public_url",
                    "must be an http(s) URL such as https://links.example.com",
                ));
            }
        }
        let db = self.database.url.expose();
        let scheme = db.split(':').next().unwrap_or_default();
        let postgres = matches!(scheme, "postgres" | "postgresql");
        if !(scheme == "sqlite" || postgres) {
            return Err(invalid(
                "database.url",
                format!("unsupported scheme '{scheme}': use sqlite://PATH or postgres://..."),
            ));
        }
        let read = self.database.read_url.expose();
        if !read.is_empty() {
            let rs = read.split(':').next().unwrap_or_default();
            if !postgres || !matches!(rs, "postgres" | "postgresql") {
                return Err(invalid(
                    "database.read_url",
                    "a replica is for PostgreSQL: set database.url and database.read_url to postgres:// URLs",
                ));
            }
        }
        let w = &self.webhooks;
        linkleaf_webhooks::Verifier::new(w.secret.expose())
            .map_err(|e| invalid("webhooks.secret", e))?;
        for (key, v) in [
            ("webhooks.timeout_ms", w.timeout_ms),
            ("webhooks.backoff_base_ms", w.backoff_base_ms),
            ("webhooks.backoff_max_secs", w.backoff_max_secs),
            ("webhooks.poll_ms", w.poll_ms),
            ("webhooks.inbox_ttl_secs", w.inbox_ttl_secs),
            ("webhooks.disable_after_secs", w.disable_after_secs),
            ("origin.timeout_ms", self.origin.timeout_ms),
            ("origin.budget_ms", self.origin.budget_ms),
            ("origin.backoff_base_ms", self.origin.backoff_base_ms),
            ("origin.backoff_max_ms", self.origin.backoff_max_ms),
            (
                "origin.upstream_per_minute",
                u64::from(self.origin.upstream_per_minute),
            ),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        if w.inbox_ttl_secs < 600 {
            return Err(invalid(
                "webhooks.inbox_ttl_secs",
                "must be at least 600: an event may arrive up to 5 minutes early or late, and a \
                 redelivery within that window must still be recognised",
            ));
        }
        if !(1..=100).contains(&w.max_attempts) {
            return Err(invalid(
                "webhooks.max_attempts",
                "must be between 1 and 100",
            ));
        }
        if !self.origin.upstream_url.is_empty() {
            match url::Url::parse(&self.origin.upstream_url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                _ => {
                    return Err(invalid(
                        "origin.upstream_url",
                        "must be an http(s) URL such as https://links.example.com",
                    ));
                }
            }
        }
        if self.database.statement_timeout_ms == 0 {
            return Err(invalid(
                "database.statement_timeout_ms",
                "must be greater than 0",
            ));
        }
        let r = &self.redis;
        for u in self.redis_urls() {
            if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
                let scheme = u.split(':').next().unwrap_or_default();
                return Err(invalid(
                    "redis.url",
                    format!(
                        "'{scheme}' is not a Redis URL: use redis://HOST:PORT, or a comma-separated list of cluster nodes"
                    ),
                ));
            }
        }
        if r.prefix.is_empty()
            || r.prefix
                .chars()
                .any(|c| c.is_whitespace() || c == '{' || c == '}')
        {
            return Err(invalid(
                "redis.prefix",
                "must be a non-empty word without spaces or braces",
            ));
        }
        for (key, v) in [
            ("redis.timeout_ms", r.timeout_ms),
            ("redis.connect_timeout_ms", r.connect_timeout_ms),
            ("redis.breaker_open_ms", r.breaker_open_ms),
            ("redis.heartbeat_ms", r.heartbeat_ms),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        for n in &self.webhooks.allow_networks {
            if let Err(e) = n.parse::<linkleaf_domain::net::Net>() {
                return Err(invalid("webhooks.allow_networks", e));
            }
        }
        if self.webhooks.max_subscriptions == 0 {
            return Err(invalid(
                "webhooks.max_subscriptions",
                "must be greater than 0",
            ));
        }
        if let Err(e) = linkleaf_http::client::TrustedProxies::parse(&self.server.trusted_proxies) {
            return Err(invalid("server.trusted_proxies", e));
        }
        let c = &self.clicks;
        if c.spool_dir.as_os_str().is_empty() {
            return Err(invalid("clicks.spool_dir", "must name a directory"));
        }
        if c.fsync == FsyncMode::Interval && !(1..=60_000).contains(&c.fsync_interval_ms) {
            return Err(invalid(
                "clicks.fsync_interval_ms",
                "must be between 1 and 60000",
            ));
        }
        if c.segment_bytes < 4096 {
            return Err(invalid("clicks.segment_bytes", "must be at least 4096"));
        }
        if c.spool_max_bytes < c.segment_bytes {
            return Err(invalid(
                "clicks.spool_max_bytes",
                "must be at least clicks.segment_bytes",
            ));
        }
        if !c.geo_header.is_empty()
            && axum::http::HeaderName::from_bytes(c.geo_header.as_bytes()).is_err()
        {
            return Err(invalid(
                "clicks.geo_header",
                format!("'{}' is not a header name", c.geo_header),
            ));
        }
        let q = self.queue.url.expose();
        if !(q.is_empty() || q.starts_with("amqp://") || q.starts_with("amqps://")) {
            return Err(invalid(
                "queue.url",
                "empty (in process) or an amqp:// URL of RabbitMQ",
            ));
        }
        if self.queue.name.is_empty()
            || self.queue.name.len() > 200
            || !self
                .queue
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
        {
            return Err(invalid(
                "queue.name",
                "1 to 200 letters, digits and . _ - :",
            ));
        }
        if !(1..=2000).contains(&self.queue.prefetch) {
            return Err(invalid("queue.prefetch", "must be between 1 and 2000"));
        }
        let a = &self.analytics;
        if !(a.window_secs >= 0.01 && a.window_secs <= 3600.0) {
            return Err(invalid(
                "analytics.window_secs",
                "must be between 0.01 and 3600",
            ));
        }
        if a.commit_timeout_ms == 0 {
            return Err(invalid(
                "analytics.commit_timeout_ms",
                "must be greater than 0",
            ));
        }
        if a.max_pending_events == 0 {
            return Err(invalid(
                "analytics.max_pending_events",
                "must be greater than 0",
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.filter).is_err() {
            return Err(invalid(
                "log.filter",
                format!("'{}' is not a valid tracing filter", self.log.filter),
            ));
        }
        Ok(())
    }

    /// RabbitMQ, when `queue.url` names it.
    pub fn amqp(&self) -> Option<linkleaf_events::queue::amqp::AmqpConfig> {
        let url = self.queue.url.expose();
        (!url.is_empty()).then(|| linkleaf_events::queue::amqp::AmqpConfig {
            url: url.to_owned(),
            queue: self.queue.name.clone(),
            prefetch: self.queue.prefetch,
        })
    }

    pub fn spool_config(&self) -> linkleaf_events::spool::SpoolConfig {
        let c = &self.clicks;
        linkleaf_events::spool::SpoolConfig {
            dir: c.spool_dir.clone(),
            fsync: match c.fsync {
                FsyncMode::Never => linkleaf_events::spool::Fsync::Never,
                FsyncMode::Interval => linkleaf_events::spool::Fsync::Interval(
                    Duration::from_millis(c.fsync_interval_ms),
                ),
                FsyncMode::Always => linkleaf_events::spool::Fsync::Always,
            },
            segment_bytes: c.segment_bytes,
            max_bytes: c.spool_max_bytes,
            keep_referrer: c.referrer == ReferrerMode::Host,
        }
    }

    pub fn store_options(&self) -> linkleaf_store::StoreOptions {
        let read = self.database.read_url.expose();
        linkleaf_store::StoreOptions {
            max_connections: self.database.max_connections,
            acquire_timeout: Duration::from_millis(self.database.acquire_timeout_ms),
            busy_timeout: Duration::from_millis(self.database.busy_timeout_ms),
            statement_timeout: Duration::from_millis(self.database.statement_timeout_ms),
            read_url: (!read.is_empty()).then(|| read.to_owned()),
            sqlite_page_limit: None,
        }
    }

    /// The Redis URLs: none (no shared tier), one, or a cluster's seed nodes.
    pub fn redis_urls(&self) -> Vec<String> {
        self.redis
            .url
            .expose()
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Redis settings, when a URL is configured.
    pub fn redis_config(&self) -> Option<linkleaf_redis::RedisConfig> {
        let urls = self.redis_urls();
        let r = &self.redis;
        (!urls.is_empty()).then(|| linkleaf_redis::RedisConfig {
            urls,
            prefix: r.prefix.clone(),
            timeout: Duration::from_millis(r.timeout_ms),
            connect_timeout: Duration::from_millis(r.connect_timeout_ms),
            breaker_failures: r.breaker_failures,
            breaker_open: Duration::from_millis(r.breaker_open_ms),
            heartbeat: Duration::from_millis(r.heartbeat_ms),
        })
    }

    pub fn http_settings(&self) -> linkleaf_http::Settings {
        let c = &self.cache;
        linkleaf_http::Settings {
            public_url: self.server.public_url.clone(),
            max_body_bytes: self.server.max_body_bytes,
            cache: linkleaf_cache::Policy {
                fresh: Duration::from_secs(c.profile_ttl_secs.min(c.links_ttl_secs)),
                stale: Duration::from_secs(c.stale_ttl_secs),
                negative: Duration::from_secs(c.negative_ttl_secs),
                retry_after_error: Duration::from_secs(c.retry_after_error_secs),
                max_weight: c.max_bytes,
            },
            browser_max_age: Duration::from_secs(c.browser_max_age_secs),
            browser_stale_while_revalidate: Duration::from_secs(
                c.browser_stale_while_revalidate_secs,
            ),
            analytics_cache: Duration::from_secs(self.analytics.cache_secs),
            analytics_cache_bytes: self.analytics.cache_max_bytes,
            edge: self.is_edge(),
            webhook_inbox_ttl: Duration::from_secs(self.webhooks.inbox_ttl_secs),
            webhook_rotation_overlap: Duration::from_secs(self.webhooks.rotation_overlap_secs),
            max_subscriptions: self.webhooks.max_subscriptions,
        }
    }

    /// The networks URLs users supply may lead to besides public addresses
    /// (`webhooks.allow_networks`, checked at load).
    pub fn allowed_networks(&self) -> Vec<linkleaf_domain::net::Net> {
        self.webhooks
            .allow_networks
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect()
    }

    /// Edge mode: profiles are read from `origin.upstream_url`.
    pub fn is_edge(&self) -> bool {
        !self.origin.upstream_url.is_empty()
    }

    pub fn dispatch_config(&self) -> linkleaf_webhooks::DispatchConfig {
        let w = &self.webhooks;
        linkleaf_webhooks::DispatchConfig {
            timeout: Duration::from_millis(w.timeout_ms),
            max_attempts: w.max_attempts,
            backoff_base: Duration::from_millis(w.backoff_base_ms),
            backoff_max: Duration::from_secs(w.backoff_max_secs),
            disable_after: Duration::from_secs(w.disable_after_secs),
            batch: 32,
            poll: Duration::from_millis(w.poll_ms),
        }
    }

    pub fn origin_config(&self) -> linkleaf_outbound::OriginConfig {
        let o = &self.origin;
        linkleaf_outbound::OriginConfig {
            url: o.upstream_url.clone(),
            key: o.upstream_key.expose().to_owned(),
            request_timeout: Duration::from_millis(o.timeout_ms),
            budget: Duration::from_millis(o.budget_ms),
            backoff_base: Duration::from_millis(o.backoff_base_ms),
            backoff_max: Duration::from_millis(o.backoff_max_ms),
        }
    }

    /// The connection limits of the main listener, given the open-file limit in force: at most
    /// `server.max_connections` (0 = as many as the limit allows), always leaving
    /// `fd_reserve()` descriptors for the operations listener, the database pool and files.
    pub fn connection_limits(&self, open_files: u64) -> linkleaf_http::server::Limits {
        let room = open_files.saturating_sub(self.fd_reserve()).max(16) as usize;
        let max = match self.server.max_connections {
            0 => room,
            n => n.min(room),
        };
        linkleaf_http::server::Limits {
            header_timeout: Duration::from_secs(self.server.header_timeout_secs),
            idle_timeout: Duration::from_secs(self.server.idle_timeout_secs),
            request_timeout: Duration::from_secs(self.server.request_timeout_secs),
            max_connections: max,
        }
    }

    /// The operations listener's limits: the same deadlines, a few connections.
    pub fn ops_connection_limits(&self) -> linkleaf_http::server::Limits {
        linkleaf_http::server::Limits {
            max_connections: OPS_MAX_CONNECTIONS,
            ..self.connection_limits(u64::MAX)
        }
    }

    /// Descriptors kept out of the main listener's reach.
    pub fn fd_reserve(&self) -> u64 {
        64 + OPS_MAX_CONNECTIONS as u64 + u64::from(self.database.max_connections)
    }

    /// Worker threads to run with: the configured count, or one per core.
    pub fn workers(&self) -> usize {
        match self.server.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn defaults_match_the_seed() {
        let c = Config::defaults();
        assert_eq!(c.cache.profile_ttl_secs, 300);
        assert_eq!(c.cache.links_ttl_secs, 120);
        assert_eq!(c.rate_limit.per_minute, 150);
        assert_eq!(c.server.listen, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(c.http_settings().cache.fresh, Duration::from_secs(120));
        assert_eq!(c.server.header_timeout_secs, 10);
        assert_eq!(c.server.idle_timeout_secs, 60);
        // the seed's analytics: 10-second windows, summaries kept 15 minutes
        assert_eq!(c.analytics.window_secs, 10.0);
        assert_eq!(c.analytics.cache_secs, 900);
        assert_eq!(c.clicks.fsync, FsyncMode::Interval);
        assert!(c.amqp().is_none(), "the in-process queue by default");
    }

    #[test]
    fn the_connection_cap_leaves_descriptors_for_everything_else() {
        let mut c = Config::defaults();
        let reserve = c.fd_reserve();
        assert_eq!(
            c.connection_limits(256).max_connections as u64,
            256 - reserve,
            "0 = what the limit allows"
        );
        c.server.max_connections = 100;
        assert_eq!(c.connection_limits(20_000).max_connections, 100);
        c.server.max_connections = 1000;
        assert_eq!(
            c.connection_limits(256).max_connections as u64,
            256 - reserve,
            "a configured cap above the limit is lowered to it"
        );
        assert_eq!(
            c.connection_limits(10).max_connections,
            16,
            "never below 16"
        );
    }

    #[test]
    fn file_then_env_and_env_wins() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[server]\nlisten = \"127.0.0.1:4000\"\nworkers = 3\n[cache]\nprofile_ttl_secs = 60\n",
        )
        .unwrap();
        let c = Config::load_from(
            Some(&f),
            env(&[
                ("LINKLEAF_SERVER__LISTEN", "127.0.0.1:5000"),
                ("LINKLEAF_CONFIG", "ignored"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.listen.port(), 5000, "env wins over the file");
        assert_eq!(c.server.workers, 3, "the file wins over defaults");
        assert_eq!(c.cache.profile_ttl_secs, 60);
        assert_eq!(
            c.cache.links_ttl_secs, 120,
            "untouched keys keep their default"
        );
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        Config::load_from(None, env(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = err(&[("LINKLEAF_CACHE__PROFILE_TTL_SECS", "soon")]);
        assert!(e.contains("cache.profile_ttl_secs"), "{e}");
        let e = err(&[("LINKLEAF_CACHE__PROFILE_TTL_SECS", "0")]);
        assert!(
            e.contains("cache.profile_ttl_secs") && e.contains("greater than 0"),
            "{e}"
        );
        let e = err(&[("LINKLEAF_SERVER__LISTEN", "nowhere")]);
        assert!(e.contains("server.listen"), "{e}");
        let e = err(&[("LINKLEAF_SERVER__PUBLIC_URL", "javascript:x")]);
        assert!(e.contains("server.public_url"), "{e}");
        let e = err(&[("LINKLEAF_DATABASE__URL", "mysql://root:hunter2@db/x")]);
        assert!(e.contains("database.url") && !e.contains("hunter2"), "{e}");
        let e = err(&[("LINKLEAF_DATABASE__READ_URL", "postgres://r/x")]);
        assert!(
            e.contains("database.read_url"),
            "a replica without a PostgreSQL primary: {e}"
        );
        let e = err(&[("LINKLEAF_REDIS__URL", "http://redis:6379")]);
        assert!(e.contains("redis.url"), "{e}");
        let e = err(&[("LINKLEAF_REDIS__PREFIX", "a{b}")]);
        assert!(e.contains("redis.prefix"), "{e}");
        let c = Config::load_from(
            None,
            env(&[(
                "LINKLEAF_REDIS__URL",
                "redis://:pw@10.0.0.1:7000, redis://10.0.0.2:7000,",
            )]),
        )
        .unwrap();
        assert_eq!(c.redis_urls().len(), 2, "a cluster's seed nodes");
        assert!(
            !format!("{c:?}").contains(":pw@"),
            "the Redis password is not printed"
        );
        assert!(
            Config::defaults().redis_config().is_none(),
            "no Redis by default"
        );
        for (var, value, key) in [
            ("LINKLEAF_QUEUE__URL", "redis://x", "queue.url"),
            ("LINKLEAF_QUEUE__NAME", "a queue", "queue.name"),
            ("LINKLEAF_QUEUE__PREFETCH", "0", "queue.prefetch"),
            ("LINKLEAF_CLICKS__FSYNC", "sometimes", "fsync"),
            ("LINKLEAF_CLICKS__REFERRER", "full", "referrer"),
            (
                "LINKLEAF_CLICKS__GEO_HEADER",
                "bad header",
                "clicks.geo_header",
            ),
            (
                "LINKLEAF_CLICKS__SPOOL_MAX_BYTES",
                "10",
                "clicks.spool_max_bytes",
            ),
            (
                "LINKLEAF_ANALYTICS__WINDOW_SECS",
                "0",
                "analytics.window_secs",
            ),
            (
                "LINKLEAF_SERVER__TRUSTED_PROXIES",
                "10.0.0.0/8,proxy",
                "server.trusted_proxies",
            ),
            ("LINKLEAF_WEBHOOKS__SECRET", "hunter2", "webhooks.secret"),
            (
                "LINKLEAF_WEBHOOKS__MAX_ATTEMPTS",
                "0",
                "webhooks.max_attempts",
            ),
            (
                "LINKLEAF_ORIGIN__UPSTREAM_URL",
                "ftp://origin",
                "origin.upstream_url",
            ),
            ("LINKLEAF_ORIGIN__BUDGET_MS", "0", "origin.budget_ms"),
        ] {
            let e = err(&[(var, value)]);
            assert!(e.contains(key), "{var}={value}: {e}");
        }
        let c = Config::load_from(
            None,
            env(&[
                ("LINKLEAF_SERVER__TRUSTED_PROXIES", "10.0.0.0/8,::1"),
                ("LINKLEAF_QUEUE__URL", "amqp://u:pw4queue@mq:5672/%2f"),
                (
                    "LINKLEAF_WEBHOOKS__SECRET",
                    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                ),
                ("LINKLEAF_ORIGIN__UPSTREAM_KEY", "lk_upstreamkey"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.trusted_proxies, ["10.0.0.0/8", "::1"]);
        let printed = format!("{c:?}");
        for secret in [
            "pw4queue",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "lk_upstreamkey",
        ] {
            assert!(!printed.contains(secret), "{secret} is not printed");
        }
        let e = err(&[("LINKLEAF_CACHE__PROFILE_TLL_SECS", "5")]);
        assert!(
            e.contains("profile_tll_secs"),
            "a misspelt key is named: {e}"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Config::load_from(
            None,
            env(&[("LINKLEAF_DATABASE__URL", "sqlite:///tmp/s3cret.db")]),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
