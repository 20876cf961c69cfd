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

/// A value that must not be printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
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
    pub rate_limit: RateLimit,
    pub log: Log,
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub url: Secret,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    pub busy_timeout_ms: u64,
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
        if !db.starts_with("sqlite:") {
            let scheme = db.split(':').next().unwrap_or_default();
            return Err(invalid(
                "database.url",
                format!("unsupported scheme '{scheme}': use sqlite://PATH"),
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

    pub fn store_options(&self) -> linkleaf_store::StoreOptions {
        linkleaf_store::StoreOptions {
            max_connections: self.database.max_connections,
            acquire_timeout: Duration::from_millis(self.database.acquire_timeout_ms),
            busy_timeout: Duration::from_millis(self.database.busy_timeout_ms),
        }
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
            rate_limit_per_minute: self.rate_limit.per_minute,
            rate_limit_burst: self.rate_limit.burst,
        }
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
