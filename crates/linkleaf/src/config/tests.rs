//! The configuration as an operator meets it: defaults, file and environment in order, every
//! bad key named at once, the replaced freshness keys refused naming `cache.fresh_secs`, and
//! no secret printed.
//! Must not: read the machine's own environment (each test gives the keys it reads).

use super::*;
use linkleaf_events::spool::Fsync;
use std::time::Duration;

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
    assert_eq!(c.cache.fresh, Duration::from_secs(120));
    assert_eq!(c.rate_limit.per_minute.get(), 150);
    assert_eq!(c.server.listen, "127.0.0.1:3000".parse().unwrap());
    assert_eq!(c.http_settings().cache.fresh, Duration::from_secs(120));
    assert_eq!(c.server.header_timeout, Duration::from_secs(10));
    assert_eq!(c.server.idle_timeout, Duration::from_secs(60));
    // the seed's analytics: 10-second windows, summaries kept 15 minutes
    assert_eq!(c.analytics.window, Duration::from_secs(10));
    assert_eq!(c.analytics.cache_for, Duration::from_secs(900));
    assert_eq!(c.clicks.fsync, Fsync::Interval(Duration::from_secs(1)));
    assert!(c.amqp().is_none(), "the in-process queue by default");
    assert!(c.redis_config().is_none(), "no Redis by default");
    assert!(c.origin_config().is_none(), "an origin by default");
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
        "[server]\nlisten = \"127.0.0.1:4000\"\nworkers = 3\n[cache]\nfresh_secs = 60\n",
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
    assert_eq!(c.cache.fresh, Duration::from_secs(60));
    assert_eq!(
        c.cache.stale,
        Duration::from_secs(3600),
        "untouched keys keep their default"
    );
}

fn err(pairs: &[(&str, &str)]) -> String {
    Config::load_from(None, env(pairs)).unwrap_err().to_string()
}

fn problems(pairs: &[(&str, &str)]) -> Vec<Problem> {
    match Config::load_from(None, env(pairs)) {
        Err(ConfigError::Invalid(p)) => p,
        other => panic!("{pairs:?}: problems expected, got {other:?}"),
    }
}

#[test]
fn bad_values_name_their_key() {
    let e = err(&[("LINKLEAF_CACHE__FRESH_SECS", "soon")]);
    assert!(e.contains("cache.fresh_secs"), "{e}");
    let e = err(&[("LINKLEAF_CACHE__FRESH_SECS", "0")]);
    assert!(
        e.contains("cache.fresh_secs") && e.contains("from 1"),
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
    let e = err(&[("LINKLEAF_REDIS__URL", "http://u:hunter2@redis:6379")]);
    assert!(e.contains("redis.url") && !e.contains("hunter2"), "{e}");
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
    assert_eq!(c.redis.urls.len(), 2, "a cluster's seed nodes");
    assert!(
        !format!("{c:?}").contains(":pw@"),
        "the Redis password is not printed"
    );
    assert!(
        !format!("{:?}", c.redis_config().unwrap()).contains(":pw@"),
        "nor by the Redis crate's own settings"
    );
    for (var, value, key) in [
        ("LINKLEAF_QUEUE__URL", "redis://x", "queue.url"),
        ("LINKLEAF_QUEUE__NAME", "a queue", "queue.name"),
        ("LINKLEAF_QUEUE__PREFETCH", "0", "queue.prefetch"),
        ("LINKLEAF_CLICKS__FSYNC", "sometimes", "clicks.fsync"),
        (
            "LINKLEAF_CLICKS__FSYNC_INTERVAL_MS",
            "0",
            "clicks.fsync_interval_ms",
        ),
        ("LINKLEAF_CLICKS__REFERRER", "full", "clicks.referrer"),
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
            "LINKLEAF_WEBHOOKS__ALLOW_NETWORKS",
            "10.0.0.0/33",
            "webhooks.allow_networks",
        ),
        (
            "LINKLEAF_ORIGIN__UPSTREAM_URL",
            "ftp://origin",
            "origin.upstream_url",
        ),
        ("LINKLEAF_ORIGIN__BUDGET_MS", "0", "origin.budget_ms"),
        ("LINKLEAF_RATE_LIMIT__BURST", "0", "rate_limit.burst"),
        ("LINKLEAF_LOG__FILTER", "info,[", "log.filter"),
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
            ("LINKLEAF_ORIGIN__UPSTREAM_URL", "https://origin.example"),
            ("LINKLEAF_ORIGIN__UPSTREAM_KEY", "lk_upstreamkey"),
        ]),
    )
    .unwrap();
    assert!(
        c.server
            .trusted_proxies
            .contains("10.1.2.3".parse().unwrap())
            && c.server.trusted_proxies.contains("::1".parse().unwrap())
    );
    let printed = format!(
        "{c:?} {:?} {:?}",
        c.amqp().unwrap(),
        c.origin_config().unwrap()
    );
    for secret in [
        "pw4queue",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "lk_upstreamkey",
    ] {
        assert!(!printed.contains(secret), "{secret} is not printed");
    }
}

#[test]
fn every_bad_key_is_reported_at_once() {
    let p = problems(&[
        ("LINKLEAF_SERVER__LISTEN", "nowhere"),
        ("LINKLEAF_CACHE__FRESH_SECS", "0"),
        ("LINKLEAF_QUEUE__PREFETCH", "5000"),
        ("LINKLEAF_WEBHOOKS__SECRET", "hunter2"),
        ("LINKLEAF_CACHE__PROFILE_TLL_SECS", "5"),
    ]);
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    for k in [
        "server.listen",
        "cache.fresh_secs",
        "queue.prefetch",
        "webhooks.secret",
        "cache.profile_tll_secs",
    ] {
        assert!(keys.contains(&k), "{k} in {keys:?}");
    }
    assert_eq!(p.len(), 5, "{p:#?}");
    let typo = p
        .iter()
        .find(|p| p.key == "cache.profile_tll_secs")
        .unwrap();
    assert!(
        typo.message.contains("not a configuration key")
            && typo.message.contains("cache.fresh_secs"),
        "a misspelt key is named, with the section's keys: {}",
        typo.message
    );
    let e = err(&[
        ("LINKLEAF_SERVER__LISTEN", "nowhere"),
        ("LINKLEAF_CACHE__FRESH_SECS", "0"),
    ]);
    assert!(
        e.contains("2 keys are wrong")
            && e.contains("\n  server.listen")
            && e.contains("\n  cache.fresh_secs"),
        "{e}"
    );
}

#[test]
fn the_two_freshness_keys_are_refused_naming_the_one_that_replaced_them() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("old.toml");
    std::fs::write(
        &f,
        "[cache]\nprofile_ttl_secs = 300\nlinks_ttl_secs = 120\n",
    )
    .unwrap();
    let Err(ConfigError::Invalid(p)) = Config::load_from(Some(&f), std::iter::empty()) else {
        panic!("the old keys are refused");
    };
    assert_eq!(p.len(), 2, "{p:#?}");
    for (problem, key) in p
        .iter()
        .zip(["cache.links_ttl_secs", "cache.profile_ttl_secs"])
    {
        assert_eq!(problem.key, key);
        assert!(
            problem.message.contains("use cache.fresh_secs"),
            "{problem:?}"
        );
    }
    let p = problems(&[("LINKLEAF_CACHE__PROFILE_TTL_SECS", "60")]);
    assert_eq!(p[0].key, "cache.profile_ttl_secs");
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

#[test]
fn the_site_files_are_read_at_start_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let icon = dir.path().join("icon.png");
    std::fs::write(&icon, b"\x89PNG\r\n\x1a\nrest").unwrap();
    let robots = dir.path().join("robots.txt");
    std::fs::write(&robots, "User-agent: *\nDisallow: /\n").unwrap();
    let (i, r) = (icon.display().to_string(), robots.display().to_string());
    let c = Config::load_from(
        None,
        env(&[
            ("LINKLEAF_SERVER__FAVICON_FILE", &i),
            ("LINKLEAF_SERVER__ROBOTS_FILE", &r),
        ]),
    )
    .unwrap();
    assert_eq!(c.server.favicon.unwrap().content_type, "image/png");
    assert!(c.server.robots.unwrap().bytes.starts_with(b"User-agent"));
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not an icon").unwrap();
    let t = text.display().to_string();
    let p = problems(&[
        ("LINKLEAF_SERVER__FAVICON_FILE", &t),
        ("LINKLEAF_SERVER__TOUCH_ICON_FILE", &t),
        ("LINKLEAF_SERVER__ROBOTS_FILE", "/nonexistent/robots.txt"),
    ]);
    assert_eq!(p.len(), 3, "{p:#?}");
    assert!(
        p[0].key == "server.favicon_file" && p[0].message.contains("not an .ico, .png or .svg")
    );
    assert!(p[1].key == "server.touch_icon_file" && p[1].message.contains("not a PNG"));
    assert!(p[2].key == "server.robots_file" && p[2].message.contains("cannot read"));
}
