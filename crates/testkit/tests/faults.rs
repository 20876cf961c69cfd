//! Faults in the shared dependencies, injected while a load runs, and counted: a killed Redis
//! costs no read and the tier rewarms; a frozen Redis costs no more than its timeout (the
//! breaker); a database cut off leaves cached profiles served and writes refused clearly, and
//! loses nothing written before; an instance cut off the bus serves nothing older than the
//! fresh period, and on reconnecting drops what it cannot prove fresh.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::proxy::{FaultProxy, Mode};
use linkleaf_testkit::services::RedisServer;
use linkleaf_testkit::{Deployment, TestApp, eventually, header};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const PROFILES: usize = 40;

/// Creates `PROFILES` profiles through the first instance; returns their ids.
async fn profiles(d: &Deployment, key: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..PROFILES {
        let p = d.apps[0]
            .create_profile(key, json!({"username": format!("user{i}"), "bio": "v0"}))
            .await;
        ids.push(p["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// What a load saw: each answer's status and how long it took.
#[derive(Default)]
struct Seen {
    statuses: Vec<u16>,
    latencies: Vec<Duration>,
}

impl Seen {
    fn non_2xx(&self) -> usize {
        self.statuses
            .iter()
            .filter(|s| !(200..300).contains(*s))
            .count()
    }
    fn p99(&mut self) -> Duration {
        self.latencies.sort();
        self.latencies[self.latencies.len() * 99 / 100]
    }
    fn max(&self) -> Duration {
        self.latencies.iter().max().copied().unwrap_or_default()
    }
}

/// Four readers over every instance and every profile until `stop`.
fn load(
    apps: Vec<(reqwest::Client, String)>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Seen> {
    let names = (0..PROFILES).map(|i| format!("user{i}")).collect();
    load_names(apps, names, stop)
}

/// Four readers over every instance and the given profiles until `stop`.
fn load_names(
    apps: Vec<(reqwest::Client, String)>,
    names: Vec<String>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Seen> {
    let names = Arc::new(names);
    tokio::spawn(async move {
        let tasks: Vec<_> = (0..4)
            .map(|t| {
                let (apps, stop, names) = (apps.clone(), stop.clone(), names.clone());
                tokio::spawn(async move {
                    let mut seen = Seen::default();
                    let mut i = t;
                    while !stop.load(Ordering::Relaxed) {
                        let (client, base) = &apps[i % apps.len()];
                        let started = Instant::now();
                        let r = client
                            .get(format!("{base}/api/profiles/{}", names[i % names.len()]))
                            .send()
                            .await
                            .unwrap();
                        seen.latencies.push(started.elapsed());
                        seen.statuses.push(r.status().as_u16());
                        i += 7;
                    }
                    seen
                })
            })
            .collect();
        let mut all = Seen::default();
        for t in tasks {
            let s = t.await.unwrap();
            all.statuses.extend(s.statuses);
            all.latencies.extend(s.latencies);
        }
        all
    })
}

fn targets(apps: &[TestApp]) -> Vec<(reqwest::Client, String)> {
    apps.iter().map(|a| (a.client.clone(), a.url(""))).collect()
}

async fn metric_sum(apps: &[TestApp], series: &str) -> f64 {
    let mut n = 0.0;
    for a in apps {
        n += a.metric(series).await;
    }
    n
}

/// The L1 holds a couple of pages, so reads keep going to the shared tier.
fn small_l1(c: &mut linkleaf::Config) {
    c.cache.max_bytes = std::num::NonZeroU64::new(24_000).expect("non-zero");
    c.redis.breaker_open = std::time::Duration::from_millis(300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_redis_mid_load_costs_no_read_and_the_tier_rewarms() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let Some(d) = Deployment::start(2, |_| Some(url.clone()), |_, c| small_l1(c)).await else {
        return;
    };
    let key = d.apps[0].root_key().await;
    profiles(&d, &key).await;
    let stop = Arc::new(AtomicBool::new(false));
    let running = load(targets(&d.apps), stop.clone());
    const HITS: &str = r#"linkleaf_l2_requests_total{cache="profile",outcome="hit"}"#;
    const ERRORS: &str = r#"linkleaf_l2_requests_total{cache="profile",outcome="error"}"#;
    eventually("the tier is in use", Duration::from_secs(10), || async {
        metric_sum(&d.apps, HITS).await > 0.0
    })
    .await;
    assert_eq!(d.apps[0].readyz().await.1["mode"], "normal");
    redis.kill();
    // the instances notice, say so in /readyz (ready, degraded), and keep reading while down
    eventually("/readyz says degraded", Duration::from_secs(10), || async {
        let (status, body) = d.apps[0].readyz().await;
        status == 200
            && body["mode"] == "degraded"
            && body["dependencies"]["redis"]["status"] == "unavailable"
            && body["dependencies"]["database"]["status"] == "ok"
    })
    .await;
    let (hits_down, errors_down) = (
        metric_sum(&d.apps, HITS).await,
        metric_sum(&d.apps, ERRORS).await,
    );
    eventually(
        "a hundred reads go past the dead tier",
        Duration::from_secs(10),
        || async { metric_sum(&d.apps, ERRORS).await >= errors_down + 100.0 },
    )
    .await;
    assert!(
        metric_sum(&d.apps, HITS).await - hits_down < 5.0,
        "Redis really was gone"
    );
    redis.restart();
    // the tier rewarms: hits come back once Redis answers again
    // a loop of its own, not `until`: each turn measures hits over a window
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = metric_sum(
        &d.apps,
        r#"linkleaf_l2_requests_total{cache="profile",outcome="hit"}"#,
    )
    .await;
    let recovered = loop {
        tokio::time::sleep(Duration::from_millis(500)).await; // a window to count hits in
        let now = metric_sum(
            &d.apps,
            r#"linkleaf_l2_requests_total{cache="profile",outcome="hit"}"#,
        )
        .await;
        let misses = metric_sum(
            &d.apps,
            r#"linkleaf_l2_requests_total{cache="profile",outcome="miss"}"#,
        )
        .await;
        if now - last > 50.0 {
            break (now - last, misses);
        }
        last = now;
        assert!(Instant::now() < deadline, "the tier did not rewarm");
    };
    stop.store(true, Ordering::Relaxed);
    let seen = running.await.unwrap();
    assert!(
        seen.statuses.len() > 200,
        "a real load: {}",
        seen.statuses.len()
    );
    assert_eq!(seen.non_2xx(), 0, "no read failed while Redis was dead");
    eventually(
        "/readyz back to normal",
        Duration::from_secs(10),
        || async { d.apps[0].readyz().await.1["mode"] == "normal" },
    )
    .await;
    eprintln!(
        "redis kill: {} reads, all 2xx; {} tier hits in the half second after it was back ({} misses so far)",
        seen.statuses.len(),
        recovered.0,
        recovered.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_costs_a_read_no_more_than_its_timeout() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let Some(d) = Deployment::start(2, |_| Some(url.clone()), |_, c| small_l1(c)).await else {
        return;
    };
    let key = d.apps[0].root_key().await;
    profiles(&d, &key).await;
    let stop = Arc::new(AtomicBool::new(false));
    let running = load(targets(&d.apps), stop.clone());
    const SKIPPED: &str = r#"linkleaf_redis_calls_total{outcome="skipped"}"#;
    eventually("the tier is in use", Duration::from_secs(10), || async {
        metric_sum(
            &d.apps,
            r#"linkleaf_l2_requests_total{cache="profile",outcome="hit"}"#,
        )
        .await
            > 0.0
    })
    .await;
    redis.freeze();
    eventually("the breaker opened", Duration::from_secs(10), || async {
        d.apps[0].metric("linkleaf_redis_breaker_open").await == 1.0
    })
    .await;
    // reads go on while it is frozen: the breaker spares them the timeout
    let skipped = metric_sum(&d.apps, SKIPPED).await;
    eventually(
        "reads go past the frozen Redis",
        Duration::from_secs(10),
        || async { metric_sum(&d.apps, SKIPPED).await >= skipped + 100.0 },
    )
    .await;
    redis.thaw();
    eventually(
        "the breaker closed again",
        Duration::from_secs(10),
        || async {
            d.apps[0].metric("linkleaf_redis_breaker_open").await == 0.0
                && d.apps[1].metric("linkleaf_redis_breaker_open").await == 0.0
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut seen = running.await.unwrap();
    assert_eq!(seen.non_2xx(), 0);
    let (p99, max) = (seen.p99(), seen.max());
    eprintln!(
        "redis frozen: {} reads, p99 {p99:?}, max {max:?} (timeout 50 ms)",
        seen.statuses.len()
    );
    // a read may wait out the tier's get and its fill (50 ms each), no more
    assert!(max < Duration::from_millis(400), "max {max:?}");
    assert!(p99 < Duration::from_millis(150), "p99 {p99:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_cut_off_leaves_cached_pages_served_and_writes_refused_clearly() {
    let Some(db) = linkleaf_testkit::services::TempPostgres::create().await else {
        return;
    };
    let Some((redis, prefix)) = linkleaf_testkit::services::shared_redis() else {
        return;
    };
    // the instance reaches PostgreSQL through a proxy the test controls
    let pg: std::net::SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = FaultProxy::start(pg).await;
    let proxied = db.url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    let app = TestApp::spawn_with(|c| {
        c.database.url = linkleaf::config::Secret::new(proxied);
        c.database.acquire_timeout = std::time::Duration::from_millis(500);
        c.redis.urls = linkleaf::config::redis_urls(&redis);
        c.redis.prefix = prefix;
        c.cache.fresh = std::time::Duration::from_secs(1);
    })
    .await;
    let key = app.root_key().await;
    let mut written = Vec::new();
    for i in 0..10 {
        let p = app
            .create_profile(
                &key,
                json!({"username": format!("kept{i}"), "bio": "first"}),
            )
            .await;
        let id = p["id"].as_str().unwrap().to_owned();
        let r = app
            .admin(reqwest::Method::PATCH, &format!("/api/profiles/{id}"), &key)
            .json(&json!({"bio": format!("acknowledged {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        written.push((id, format!("acknowledged {i}")));
        assert_eq!(app.get(&format!("/kept{i}")).await.status(), 200);
    }
    // readers keep going through the cut
    let stop = Arc::new(AtomicBool::new(false));
    let running = load_names(
        vec![(app.client.clone(), app.url(""))],
        (0..10).map(|i| format!("kept{i}")).collect(),
        stop.clone(),
    );
    // cut: every pooled connection terminated by the server, and no new one gets through
    let terminated = db.terminate_connections().await.unwrap();
    proxy.set(Mode::Reset);
    assert!(
        terminated >= 1,
        "the instance's connections were terminated"
    );
    // past the fresh period the pages are served stale: the database cannot refresh them
    eventually(
        "every cached profile is served stale",
        Duration::from_secs(10),
        || async {
            let mut all = true;
            for i in 0..10 {
                let r = app.get(&format!("/api/profiles/kept{i}")).await;
                assert_eq!(r.status(), 200, "cached profiles are still served");
                all &= header(&r, "x-cache") == "STALE";
            }
            all
        },
    )
    .await;
    assert_eq!(app.readyz().await.0, 503, "not ready without its database");
    let r = app
        .admin(
            reqwest::Method::PATCH,
            &format!("/api/profiles/{}", written[0].0),
            &key,
        )
        .json(&json!({"bio": "not now"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        503,
        "writes are refused while the database is gone"
    );
    assert_eq!(header(&r, "content-type"), "application/problem+json");
    assert!(!header(&r, "retry-after").is_empty());
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "unavailable");
    let r = app.get("/api/profiles/never.cached").await;
    assert_eq!(r.status(), 503, "a miss cannot be answered");
    stop.store(true, Ordering::Relaxed);
    let seen = running.await.unwrap();
    assert_eq!(seen.non_2xx(), 0, "no cached read failed through the cut");
    assert!(
        seen.statuses.len() > 100,
        "a real load: {}",
        seen.statuses.len()
    );
    // restored: nothing written before was lost, and writes work again
    proxy.set(Mode::Pass);
    linkleaf_testkit::until("writes come back", Duration::from_secs(10), || async {
        let r = app
            .admin(
                reqwest::Method::PATCH,
                &format!("/api/profiles/{}", written[0].0),
                &key,
            )
            .json(&json!({"bio": "after"}))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            Ok(())
        } else {
            Err(r.status().to_string())
        }
    })
    .await;
    for (id, bio) in &written[1..] {
        let p: Value = app
            .admin(reqwest::Method::GET, &format!("/api/profiles/{id}"), &key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(&p["bio"], bio, "an acknowledged write survived");
    }
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_cut_off_the_bus_serves_nothing_older_than_the_fresh_period() {
    let Some((redis, _)) = linkleaf_testkit::services::shared_redis() else {
        return;
    };
    let target: std::net::SocketAddr = redis
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let proxy = FaultProxy::start(target).await;
    let via_proxy = proxy.redis_url();
    const FRESH: u64 = 2;
    let Some(d) = Deployment::start(
        2,
        |i| (i == 1).then(|| via_proxy.clone()),
        |_, c| {
            c.cache.fresh = std::time::Duration::from_secs(FRESH);
            c.redis.heartbeat = std::time::Duration::from_millis(200);
            c.redis.breaker_open = std::time::Duration::from_millis(300);
        },
    )
    .await
    else {
        return;
    };
    let (a, c) = (&d.apps[0], &d.apps[1]);
    let key = a.root_key().await;
    let p = a
        .create_profile(&key, json!({"username": "watched", "bio": "0"}))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    assert_eq!(c.get("/api/profiles/watched").await.status(), 200);
    // cut C off Redis: its bus and its tier hang
    proxy.set(Mode::Blackhole);
    let cut = Instant::now();
    // edits through A, each acknowledged at a known time, while C is read continuously
    let mut acked: Vec<(u32, Instant)> = vec![(0, Instant::now())];
    let mut served: Vec<(u32, Instant)> = Vec::new();
    let mut v = 0;
    while cut.elapsed() < Duration::from_secs(FRESH * 2 + 1) {
        if served.len().is_multiple_of(5) {
            v += 1;
            let r = a
                .admin(reqwest::Method::PATCH, &format!("/api/profiles/{id}"), &key)
                .json(&json!({"bio": v.to_string()}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            acked.push((v, Instant::now()));
        }
        let body: Value = c.get("/api/profiles/watched").await.json().await.unwrap();
        served.push((
            body["bio"].as_str().unwrap().parse().unwrap(),
            Instant::now(),
        ));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // staleness of each answer: how long a newer version had been acknowledged when it was given
    let mut worst = Duration::ZERO;
    for (version, at) in &served {
        if let Some((_, newer_at)) = acked.iter().find(|(n, _)| *n == version + 1)
            && newer_at < at
        {
            worst = worst.max(*at - *newer_at);
        }
    }
    eprintln!(
        "cut off the bus: {} reads, worst staleness {worst:?} (fresh period {FRESH} s)",
        served.len()
    );
    assert!(
        worst <= Duration::from_millis(FRESH * 1000 + 500),
        "served a version {worst:?} after a newer one was written"
    );
    assert!(
        worst > Duration::from_millis(100),
        "the cut was real: C did not hear the edits"
    );
    // reconnected: C drops what it cannot prove fresh and serves the latest at once
    proxy.set(Mode::Pass);
    let back = Instant::now();
    c.wait_for_bus().await;
    let latest = v.to_string();
    let body: Value = c.get("/api/profiles/watched").await.json().await.unwrap();
    assert_eq!(
        body["bio"],
        latest.as_str(),
        "the latest version right after reconnecting"
    );
    assert!(c.metric("linkleaf_bus_reconnects_total").await >= 1.0);
    eprintln!("resubscribed {:?} after the cut ended", back.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_cut_off_from_redis_tells_the_others_when_it_can() {
    let Some((redis, _)) = linkleaf_testkit::services::shared_redis() else {
        return;
    };
    let target: std::net::SocketAddr = redis
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let proxy = FaultProxy::start(target).await;
    let via_proxy = proxy.redis_url();
    // the writer (0) reaches Redis through the proxy; the reader (1) directly
    let Some(d) = Deployment::start(
        2,
        |i| (i == 0).then(|| via_proxy.clone()),
        |_, c| c.redis.breaker_open = std::time::Duration::from_millis(200),
    )
    .await
    else {
        return;
    };
    let (writer, reader) = (&d.apps[0], &d.apps[1]);
    let key = writer.root_key().await;
    let p = writer
        .create_profile(&key, json!({"username": "partitioned", "bio": "before"}))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    reader.get("/api/profiles/partitioned").await;
    assert_eq!(
        header(&reader.get("/api/profiles/partitioned").await, "x-cache"),
        "HIT",
        "the reader holds it"
    );
    proxy.set(Mode::Reset);
    let r = writer
        .admin(reqwest::Method::PATCH, &format!("/api/profiles/{id}"), &key)
        .json(&json!({"bio": "after"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the write succeeds without Redis");
    assert_eq!(
        writer.metric("linkleaf_invalidations_deferred_total").await,
        1.0
    );
    let body: Value = reader
        .get("/api/profiles/partitioned")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["bio"], "before",
        "the reader has not heard yet (its fresh period is long)"
    );
    proxy.set(Mode::Pass);
    let back = Instant::now();
    eventually(
        "the deferred invalidation arrives",
        Duration::from_secs(5),
        || async {
            let body: Value = reader
                .get("/api/profiles/partitioned")
                .await
                .json()
                .await
                .unwrap();
            body["bio"] == "after"
        },
    )
    .await;
    eprintln!(
        "a deferred invalidation arrived {:?} after the writer's link came back",
        back.elapsed()
    );
}
