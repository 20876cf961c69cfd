//! Configuration: the defaults in `defaults.toml`, then a TOML file, then `LINKLEAF_*`
//! environment variables (env wins), read once into typed values (durations, non-zero counts,
//! parsed networks and proxies, the webhook verifier, a header name, URLs checked) by `read`,
//! which reports every bad key at once, each named, and refuses keys that are not keys
//! (`cache.profile_ttl_secs` and `cache.links_ttl_secs` name `cache.fresh_secs`, which replaced
//! them). Secrets stay `Secret`s until the crate that uses them. The methods at the end hand
//! each crate its part, typed already. Must not: parse a value anywhere but here.

mod keys;
mod read;
mod sections;
#[cfg(test)]
mod tests;

pub use keys::{parse_redis_urls, redis_urls};
pub use linkleaf_domain::Secret;
pub use linkleaf_http::client::TrustedProxies;
pub use linkleaf_http::site::StaticFile;
pub use read::{ConfigError, Problem};
pub use sections::{
    Analytics, Cache, Clicks, Config, Database, Log, Origin, Queue, RateLimit, Redis, ReferrerMode,
    Server, Webhooks,
};

use read::Reader;
use std::path::Path;

pub const DEFAULTS: &str = include_str!("../defaults.toml");
const ENV_PREFIX: &str = "LINKLEAF";
/// Environment variables that are flags of the command line, not configuration keys.
const NOT_CONFIG: &[&str] = &["LINKLEAF_CONFIG"];
/// Connections the operations listener (metrics, health) takes at most.
pub const OPS_MAX_CONNECTIONS: usize = 16;
/// Keys that are no more, and what replaced them.
const REPLACED: &[(&str, &str)] = &[
    (
        "cache.profile_ttl_secs",
        "cache.fresh_secs (a page embeds its links: one freshness for both)",
    ),
    (
        "cache.links_ttl_secs",
        "cache.fresh_secs (a page embeds its links: one freshness for both)",
    ),
];

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
        let tree: serde_json::Value = b.build()?.try_deserialize()?;
        let mut r = Reader::new(tree);
        let cfg = keys::read_all(&mut r);
        r.finish(REPLACED)?;
        // every getter that returned nothing recorded why, so `finish` failed first
        cfg.ok_or_else(|| ConfigError::Invalid(Vec::new()))
    }

    /// The built-in defaults alone.
    pub fn defaults() -> Self {
        Self::load_from(None, std::iter::empty()).expect("the built-in defaults are valid")
    }

    /// RabbitMQ, when `queue.url` names it.
    pub fn amqp(&self) -> Option<linkleaf_events::queue::amqp::AmqpConfig> {
        self.queue
            .url
            .clone()
            .map(|url| linkleaf_events::queue::amqp::AmqpConfig {
                url,
                queue: self.queue.name.clone(),
                prefetch: self.queue.prefetch,
            })
    }

    pub fn spool_config(&self) -> linkleaf_events::spool::SpoolConfig {
        let c = &self.clicks;
        linkleaf_events::spool::SpoolConfig {
            dir: c.spool_dir.clone(),
            fsync: c.fsync,
            segment_bytes: c.segment_bytes,
            max_bytes: c.spool_max_bytes,
            keep_referrer: c.referrer == ReferrerMode::Host,
        }
    }

    pub fn store_options(&self) -> linkleaf_store::StoreOptions {
        let d = &self.database;
        linkleaf_store::StoreOptions {
            max_connections: d.max_connections.get(),
            acquire_timeout: d.acquire_timeout,
            busy_timeout: d.busy_timeout,
            statement_timeout: d.statement_timeout,
            read_url: d.read_url.clone(),
            keep_versions: self.history.keep_versions,
            sqlite_page_limit: None,
        }
    }

    /// Redis settings, when a URL is configured.
    pub fn redis_config(&self) -> Option<linkleaf_redis::RedisConfig> {
        let r = &self.redis;
        (!r.urls.is_empty()).then(|| linkleaf_redis::RedisConfig {
            urls: r.urls.clone(),
            prefix: r.prefix.clone(),
            timeout: r.timeout,
            connect_timeout: r.connect_timeout,
            breaker_failures: r.breaker_failures,
            breaker_open: r.breaker_open,
            heartbeat: r.heartbeat,
        })
    }

    pub fn http_settings(&self) -> linkleaf_http::Settings {
        let c = &self.cache;
        linkleaf_http::Settings {
            public_url: self.server.public_url.clone(),
            max_body_bytes: self.server.max_body_bytes,
            cache: linkleaf_cache::Policy {
                fresh: c.fresh,
                stale: c.stale,
                negative: c.negative,
                retry_after_error: c.retry_after_error,
                max_weight: c.max_bytes.get(),
            },
            browser_max_age: c.browser_max_age,
            browser_stale_while_revalidate: c.browser_stale_while_revalidate,
            analytics_cache: self.analytics.cache_for,
            analytics_cache_bytes: self.analytics.cache_max_bytes,
            edge: self.is_edge(),
            webhook_inbox_ttl: self.webhooks.inbox_ttl,
            webhook_rotation_overlap: self.webhooks.rotation_overlap,
            max_subscriptions: self.webhooks.max_subscriptions.get(),
            accounts: linkleaf_http::AccountSettings {
                signup: self.accounts.signup,
                max_profiles: self.accounts.max_profiles,
                secure_cookies: self.server.public_url.starts_with("https://"),
                site_origin: linkleaf_access::origin::origin_of(&self.server.public_url),
            },
        }
    }

    /// How long sessions last (`accounts.session_idle_secs`, `accounts.session_max_secs`).
    pub fn session_lifetimes(&self) -> linkleaf_access::sessions::Lifetimes {
        linkleaf_access::sessions::Lifetimes {
            idle: self.accounts.session_idle,
            max: self.accounts.session_max,
        }
    }

    /// Edge mode: profiles are read from `origin.upstream_url`.
    pub fn is_edge(&self) -> bool {
        self.origin.upstream_url.is_some()
    }

    pub fn dispatch_config(&self) -> linkleaf_webhooks::DispatchConfig {
        let w = &self.webhooks;
        linkleaf_webhooks::DispatchConfig {
            timeout: w.timeout,
            max_attempts: w.max_attempts,
            backoff_base: w.backoff_base,
            backoff_max: w.backoff_max,
            disable_after: w.disable_after,
            batch: 32,
            poll: w.poll,
        }
    }

    /// The upstream of an edge, when this is one.
    pub fn origin_config(&self) -> Option<linkleaf_outbound::OriginConfig> {
        let o = &self.origin;
        o.upstream_url
            .clone()
            .map(|url| linkleaf_outbound::OriginConfig {
                url,
                key: o.upstream_key.clone(),
                request_timeout: o.timeout,
                budget: o.budget,
                backoff_base: o.backoff_base,
                backoff_max: o.backoff_max,
            })
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
            header_timeout: self.server.header_timeout,
            idle_timeout: self.server.idle_timeout,
            request_timeout: self.server.request_timeout,
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
        64 + OPS_MAX_CONNECTIONS as u64 + u64::from(self.database.max_connections.get())
    }

    /// Worker threads to run with: the configured count, or one per core.
    pub fn workers(&self) -> usize {
        match self.server.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }
}
