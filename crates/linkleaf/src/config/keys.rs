//! Every configuration key, read into its section's typed field with the checks it needs:
//! names, ranges, schemes, what depends on another key. Must not: hand a value to another crate
//! (the configuration's methods do).

use super::read::Reader;
use super::sections::{
    Accounts, Analytics, Cache, Clicks, Config, Database, History, Log, Origin, Queue, RateLimit,
    Redis, ReferrerMode, Server, Webhooks,
};
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

/// The most any `*_secs` key may say (a year), so no duration overflows.
const SECS_MAX: u64 = 365 * 86_400;
const MS_MAX: u64 = SECS_MAX * 1000;

/// Builds `$ty` from fields read one by one: every getter runs (so every problem is recorded)
/// before any missing value makes the whole `None`.
macro_rules! typed {
    ($ty:ident { $($field:ident $(: $e:expr)?),* $(,)? }) => {{
        $( $( let $field = $e; )? )*
        (|| Some($ty { $($field: $field?),* }))()
    }};
}

/// An http(s) URL with a host, as text.
fn http_url(s: &str) -> Result<String, String> {
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(s.to_owned())
        }
        _ => Err("must be an http(s) URL such as https://links.example.com".into()),
    }
}

/// The scheme of a URL that may hold a password: only the scheme is ever shown.
fn scheme(s: &str) -> &str {
    s.split(':').next().unwrap_or_default()
}

fn nonzero32(n: u32) -> Option<NonZeroU32> {
    NonZeroU32::new(n)
}

fn read_server(r: &mut Reader) -> Option<Server> {
    let addr = |s: &str| {
        s.parse::<SocketAddr>()
            .map_err(|_| format!("'{s}' is not an address such as 127.0.0.1:3000"))
    };
    typed!(Server {
        listen: r.parsed("server.listen", addr),
        ops_listen: r.parsed("server.ops_listen", addr),
        workers: r.number("server.workers", 0..=1024),
        shutdown_grace: r.secs("server.shutdown_grace_secs", 0..=3600),
        public_url: r.parsed("server.public_url", http_url),
        max_body_bytes: r.number("server.max_body_bytes", 1024..=64 << 20),
        header_timeout: r.secs("server.header_timeout_secs", 1..=86_400),
        idle_timeout: r.secs("server.idle_timeout_secs", 1..=86_400),
        request_timeout: r.secs("server.request_timeout_secs", 1..=86_400),
        max_connections: r.number("server.max_connections", 0..=10_000_000),
        trusted_proxies: r
            .list("server.trusted_proxies", |s| Ok(s.to_owned()))
            .and_then(|l: Vec<String>| match TrustedProxies::parse(&l) {
                Ok(t) => Some(t),
                Err(e) => {
                    r.fail("server.trusted_proxies", e);
                    None
                }
            }),
        favicon: r.parsed("server.favicon_file", |s| {
            site_file(s, linkleaf_http::site::icon_type)
        }),
        touch_icon: r.parsed("server.touch_icon_file", |s| {
            site_file(s, |b| {
                if b.starts_with(b"\x89PNG\r\n\x1a\n") {
                    Ok("image/png")
                } else {
                    Err("is not a PNG (iOS asks for /apple-touch-icon.png, 180 × 180)".into())
                }
            })
        }),
        robots: r.parsed("server.robots_file", |s| {
            site_file(s, |b| {
                if b.len() > 500 * 1024 {
                    Err("is longer than 500 KiB, which crawlers read at most".into())
                } else if std::str::from_utf8(b).is_err() {
                    Err("is not UTF-8 text".into())
                } else {
                    Ok("text/plain; charset=utf-8")
                }
            })
        }),
    })
}

/// A file served as it is (`server.favicon_file`, `server.touch_icon_file`, `server.robots_file`):
/// empty for the built-in
/// one; else read now, and `kind` says what type it is or why it cannot be served.
fn site_file(
    path: &str,
    kind: impl Fn(&[u8]) -> Result<&'static str, String>,
) -> Result<Option<StaticFile>, String> {
    if path.is_empty() {
        return Ok(None);
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let content_type = kind(&bytes).map_err(|e| format!("{path} {e}"))?;
    Ok(Some(StaticFile::new(bytes.into(), content_type)))
}

fn read_database(r: &mut Reader) -> Option<Database> {
    let url = r.parsed("database.url", |s| match scheme(s) {
        "sqlite" | "postgres" | "postgresql" => Ok(Secret::new(s)),
        other => Err(format!(
            "unsupported scheme '{other}': use sqlite://PATH or postgres://..."
        )),
    });
    let postgres = url
        .as_ref()
        .is_some_and(|u| scheme(u.expose()).starts_with("postgres"));
    let read_url = r.parsed("database.read_url", |s| {
        if s.is_empty() {
            Ok(None)
        } else if postgres && scheme(s).starts_with("postgres") {
            Ok(Some(Secret::new(s)))
        } else {
            Err("a replica is for PostgreSQL: set database.url and database.read_url to postgres:// URLs".into())
        }
    });
    typed!(Database {
        url,
        read_url,
        max_connections: r
            .number("database.max_connections", 1..=10_000)
            .and_then(nonzero32),
        acquire_timeout: r.millis("database.acquire_timeout_ms", 0..=MS_MAX),
        busy_timeout: r.millis("database.busy_timeout_ms", 0..=MS_MAX),
        statement_timeout: r.millis("database.statement_timeout_ms", 1..=MS_MAX),
        replica_lag: r.secs("database.replica_lag_secs", 0..=SECS_MAX),
    })
}

fn read_cache(r: &mut Reader) -> Option<Cache> {
    typed!(Cache {
        max_bytes: r
            .number("cache.max_bytes", 1..=u64::MAX)
            .and_then(NonZeroU64::new),
        fresh: r.secs("cache.fresh_secs", 1..=SECS_MAX),
        stale: r.secs("cache.stale_ttl_secs", 0..=SECS_MAX),
        negative: r.secs("cache.negative_ttl_secs", 1..=SECS_MAX),
        retry_after_error: r.secs("cache.retry_after_error_secs", 0..=SECS_MAX),
        browser_max_age: r.secs("cache.browser_max_age_secs", 0..=SECS_MAX),
        browser_stale_while_revalidate: r
            .secs("cache.browser_stale_while_revalidate_secs", 0..=SECS_MAX),
    })
}

/// `redis.url`: none, one, or a cluster's seed nodes, comma-separated.
pub fn parse_redis_urls(s: &str) -> Result<Vec<Secret>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            if u.starts_with("redis://") || u.starts_with("rediss://") {
                Ok(Secret::new(u))
            } else {
                Err(format!(
                    "'{}' is not a Redis URL: use redis://HOST:PORT, or a comma-separated list of cluster nodes",
                    scheme(u)
                ))
            }
        })
        .collect()
}

/// `redis.url` as a test or a tool gives it (panics on a URL that is not Redis's).
pub fn redis_urls(s: &str) -> Vec<Secret> {
    parse_redis_urls(s).expect("Redis URLs")
}

fn read_redis(r: &mut Reader) -> Option<Redis> {
    typed!(Redis {
        urls: r.parsed("redis.url", parse_redis_urls),
        prefix: r.parsed("redis.prefix", |s| {
            if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c == '{' || c == '}') {
                Err("must be a non-empty word without spaces or braces".into())
            } else {
                Ok(s.to_owned())
            }
        }),
        timeout: r.millis("redis.timeout_ms", 1..=MS_MAX),
        connect_timeout: r.millis("redis.connect_timeout_ms", 1..=MS_MAX),
        breaker_failures: r.number("redis.breaker_failures", 1..=u32::MAX),
        breaker_open: r.millis("redis.breaker_open_ms", 1..=MS_MAX),
        heartbeat: r.millis("redis.heartbeat_ms", 1..=MS_MAX),
    })
}

fn read_clicks(r: &mut Reader) -> Option<Clicks> {
    let mode = r.parsed("clicks.fsync", |s| match s {
        "never" | "interval" | "always" => Ok(s.to_owned()),
        _ => Err(format!("'{s}' is not one of never, interval, always")),
    });
    // read whatever the mode, so the key is known; bounded only when it is used
    let interval = r.millis("clicks.fsync_interval_ms", 0..=MS_MAX);
    let fsync = match (mode.as_deref(), interval) {
        (Some("never"), _) => Some(Fsync::Never),
        (Some("always"), _) => Some(Fsync::Always),
        (Some(_), Some(i)) if (1..=60_000).contains(&i.as_millis()) => Some(Fsync::Interval(i)),
        (Some(_), Some(_)) => {
            r.fail("clicks.fsync_interval_ms", "must be between 1 and 60000");
            None
        }
        _ => None,
    };
    let segment_bytes = r.number("clicks.segment_bytes", 4096..=u64::MAX);
    let spool_max_bytes = r
        .number("clicks.spool_max_bytes", 0..=u64::MAX)
        .and_then(|m| match segment_bytes {
            Some(s) if m < s => {
                r.fail(
                    "clicks.spool_max_bytes",
                    "must be at least clicks.segment_bytes",
                );
                None
            }
            _ => Some(m),
        });
    typed!(Clicks {
        spool_dir: r.parsed("clicks.spool_dir", |s| {
            if s.is_empty() {
                Err("must name a directory".into())
            } else {
                Ok(PathBuf::from(s))
            }
        }),
        fsync,
        spool_max_bytes,
        segment_bytes,
        geo_header: r.parsed("clicks.geo_header", |s| {
            if s.is_empty() {
                return Ok(None);
            }
            axum::http::HeaderName::from_bytes(s.as_bytes())
                .map(Some)
                .map_err(|_| format!("'{s}' is not a header name"))
        }),
        geoip_db: r.parsed("clicks.geoip_db", |s| Ok(
            (!s.is_empty()).then(|| PathBuf::from(s))
        )),
        referrer: r.parsed("clicks.referrer", |s| match s {
            "host" => Ok(ReferrerMode::Host),
            "none" => Ok(ReferrerMode::None),
            _ => Err(format!("'{s}' is not one of host, none")),
        }),
    })
}

fn read_queue(r: &mut Reader) -> Option<Queue> {
    typed!(Queue {
        url: r.parsed("queue.url", |s| {
            if s.is_empty() {
                Ok(None)
            } else if s.starts_with("amqp://") || s.starts_with("amqps://") {
                Ok(Some(Secret::new(s)))
            } else {
                Err("empty (in process) or an amqp:// URL of RabbitMQ".into())
            }
        }),
        name: r.parsed("queue.name", |s| {
            let ok = !s.is_empty()
                && s.len() <= 200
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c));
            if ok {
                Ok(s.to_owned())
            } else {
                Err("1 to 200 letters, digits and . _ - :".into())
            }
        }),
        prefetch: r.number("queue.prefetch", 1..=2000),
    })
}

fn read_analytics(r: &mut Reader) -> Option<Analytics> {
    let window = r
        .value::<f64>("analytics.window_secs", "a number of seconds")
        .and_then(|w| {
            if (0.01..=3600.0).contains(&w) {
                Some(Duration::from_secs_f64(w))
            } else {
                r.fail("analytics.window_secs", "must be between 0.01 and 3600");
                None
            }
        });
    typed!(Analytics {
        window,
        max_pending_events: r
            .number("analytics.max_pending_events", 1..=u64::MAX)
            .and_then(NonZeroU64::new),
        commit_timeout: r.millis("analytics.commit_timeout_ms", 1..=MS_MAX),
        cache_for: r.secs("analytics.cache_secs", 0..=SECS_MAX),
        cache_max_bytes: r.number("analytics.cache_max_bytes", 0..=u64::MAX),
        consume: r.value("analytics.consume", "true or false"),
    })
}

fn read_webhooks(r: &mut Reader) -> Option<Webhooks> {
    typed!(Webhooks {
        verifier: r.parsed("webhooks.secret", |s| {
            linkleaf_webhooks::Verifier::new(s).map(Arc::new)
        }),
        inbox_ttl: r.number("webhooks.inbox_ttl_secs", 0..=SECS_MAX).and_then(|n| {
            if n < 600 {
                r.fail(
                    "webhooks.inbox_ttl_secs",
                    "must be at least 600: an event may arrive up to 5 minutes early or late, and a \
                     redelivery within that window must still be recognised",
                );
                None
            } else {
                Some(Duration::from_secs(n))
            }
        }),
        dispatch: r.value("webhooks.dispatch", "true or false"),
        timeout: r.millis("webhooks.timeout_ms", 1..=MS_MAX),
        max_attempts: r.number("webhooks.max_attempts", 1..=100),
        backoff_base: r.millis("webhooks.backoff_base_ms", 1..=MS_MAX),
        backoff_max: r.secs("webhooks.backoff_max_secs", 1..=SECS_MAX),
        disable_after: r.secs("webhooks.disable_after_secs", 1..=SECS_MAX),
        rotation_overlap: r.secs("webhooks.rotation_overlap_secs", 0..=SECS_MAX),
        poll: r.millis("webhooks.poll_ms", 1..=MS_MAX),
        keep: r.secs("webhooks.keep_secs", 0..=SECS_MAX),
        max_subscriptions: r
            .number("webhooks.max_subscriptions", 1..=1_000_000)
            .and_then(nonzero32),
        allow_networks: r.list("webhooks.allow_networks", |s| s.parse::<Net>()),
    })
}

fn read_origin(r: &mut Reader) -> Option<Origin> {
    typed!(Origin {
        upstream_url: r.parsed("origin.upstream_url", |s| {
            if s.is_empty() {
                Ok(None)
            } else {
                http_url(s).map(Some)
            }
        }),
        upstream_key: r.text("origin.upstream_key").map(Secret::new),
        upstream_per_minute: r
            .number("origin.upstream_per_minute", 1..=u32::MAX)
            .and_then(nonzero32),
        cold_misses_per_minute: r.number("origin.cold_misses_per_minute", 0..=u32::MAX),
        cold_negative_ttl: r.secs("origin.cold_negative_ttl_secs", 0..=SECS_MAX),
        timeout: r.millis("origin.timeout_ms", 1..=MS_MAX),
        budget: r.millis("origin.budget_ms", 1..=MS_MAX),
        backoff_base: r.millis("origin.backoff_base_ms", 1..=MS_MAX),
        backoff_max: r.millis("origin.backoff_max_ms", 1..=MS_MAX),
    })
}

pub(super) fn read_all(r: &mut Reader) -> Option<Config> {
    typed!(Config {
        server: read_server(r),
        database: read_database(r),
        cache: read_cache(r),
        redis: read_redis(r),
        clicks: read_clicks(r),
        queue: read_queue(r),
        analytics: read_analytics(r),
        webhooks: read_webhooks(r),
        origin: read_origin(r),
        rate_limit: typed!(RateLimit {
            per_minute: r
                .number("rate_limit.per_minute", 1..=u32::MAX)
                .and_then(nonzero32),
            burst: r
                .number("rate_limit.burst", 1..=u32::MAX)
                .and_then(nonzero32),
        }),
        accounts: typed!(Accounts {
            signup: r.parsed("accounts.signup", |s| match s {
                "invite" => Ok(linkleaf_domain::account::Signup::Invite),
                "open" => Ok(linkleaf_domain::account::Signup::Open),
                "closed" => Ok(linkleaf_domain::account::Signup::Closed),
                other => Err(format!("'{other}' is not invite, open or closed")),
            }),
            max_profiles: r.number("accounts.max_profiles", 1..=10_000),
            session_idle: r.secs("accounts.session_idle_secs", 60..=SECS_MAX),
            session_max: r.secs("accounts.session_max_secs", 60..=SECS_MAX),
            signin_per_minute: r
                .number("accounts.signin_per_minute", 1..=u32::MAX)
                .and_then(nonzero32),
            signin_account_per_minute: r
                .number("accounts.signin_account_per_minute", 1..=u32::MAX)
                .and_then(nonzero32),
        }),
        history: typed!(History {
            keep_versions: r.number("history.keep_versions", 1..=100_000),
        }),
        log: typed!(Log {
            filter: r.parsed("log.filter", |s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(|d| {
                        d.parse::<tracing_subscriber::filter::Directive>()
                            .map_err(|e| format!("'{d}' is not a tracing directive: {e}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            }),
        }),
    })
}
