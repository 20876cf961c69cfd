//! Several instances sharing one PostgreSQL database and one Redis (a key prefix of the test's
//! own): the second tier serves what another instance loaded without touching the database, an
//! edit through one instance is served by the others at once (the bus), a value from the tier is
//! fresh only for what is left of its period, and a key's rate limit holds for the deployment.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf::Config;
use linkleaf_testkit::{Deployment, TestApp, header};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn deployment(n: usize, tweak: impl Fn(&mut Config)) -> Option<Deployment> {
    Deployment::start(n, |_| None, |_, c| tweak(c)).await
}

async fn read(app: &TestApp, name: &str) -> (u16, String, Value) {
    let r = app.get(&format!("/api/profiles/{name}")).await;
    let status = r.status().as_u16();
    let cache = header(&r, "x-cache").to_owned();
    (status, cache, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_instance_loaded_another_serves_from_the_shared_tier() {
    let Some(d) = deployment(2, |_| {}).await else {
        return;
    };
    let (a, b) = (&d.apps[0], &d.apps[1]);
    let key = a.root_key().await;
    a.create_profile(&key, json!({"username": "shared", "bio": "v1"}))
        .await;
    a.reset_origin_reads();
    b.reset_origin_reads();
    let (s, cache, body) = read(a, "shared").await;
    assert_eq!(
        (s, cache.as_str(), body["bio"].as_str()),
        (200, "MISS", Some("v1"))
    );
    assert_eq!(
        a.origin_reads(),
        1,
        "the first instance loaded from the database"
    );
    let (s, cache, body) = read(b, "shared").await;
    assert_eq!(
        (s, cache.as_str(), body["bio"].as_str()),
        (200, "MISS", Some("v1"))
    );
    assert_eq!(
        b.origin_reads(),
        0,
        "the second was served by the shared tier"
    );
    assert_eq!(
        b.metric(r#"linkleaf_l2_requests_total{cache="profile",outcome="hit"}"#)
            .await,
        1.0
    );
    // unknown names too: one database read for the deployment
    read(a, "nobody.here").await;
    read(b, "nobody.here").await;
    assert_eq!(a.origin_reads() + b.origin_reads(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_through_one_instance_is_served_by_the_others_at_once() {
    let Some(d) = deployment(3, |_| {}).await else {
        return;
    };
    let key = d.apps[0].root_key().await;
    let p = d.apps[0]
        .create_profile(&key, json!({"username": "editme", "bio": "v0"}))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    for a in &d.apps {
        read(a, "editme").await;
        assert_eq!(
            read(a, "editme").await.1,
            "HIT",
            "every instance has it in L1"
        );
    }
    for v in 1..=20 {
        let r = d.apps[0]
            .admin(reqwest::Method::PATCH, &format!("/api/profiles/{id}"), &key)
            .json(&json!({"bio": format!("v{v}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let written = Instant::now();
        for other in &d.apps[1..] {
            loop {
                let (_, _, body) = read(other, "editme").await;
                if body["bio"] == format!("v{v}") {
                    break;
                }
                assert!(
                    written.elapsed() < Duration::from_millis(500),
                    "v{v} not served by another instance after {:?}: {body}",
                    written.elapsed()
                );
                tokio::task::yield_now().await;
            }
        }
    }
    // a rename drops the old name everywhere too
    let r = d.apps[0]
        .admin(reqwest::Method::PATCH, &format!("/api/profiles/{id}"), &key)
        .json(&json!({"username": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for other in &d.apps[1..] {
        linkleaf_testkit::eventually(
            "the old name is no longer served",
            Duration::from_millis(500),
            || async { read(other, "editme").await.0 == 404 },
        )
        .await;
        assert_eq!(read(other, "renamed").await.0, 200);
    }
    assert!(
        d.apps[1]
            .metric(r#"linkleaf_bus_messages_total{direction="received"}"#)
            .await
            >= 21.0
    );
    // what the metrics say of it: the writer sent every announcement, the others heard each
    // with its lag, and their reloads asked the tier before the database
    assert!(
        d.apps[0]
            .metric(r#"linkleaf_bus_messages_total{direction="sent"}"#)
            .await
            >= 21.0
    );
    for other in &d.apps[1..] {
        assert!(other.metric("linkleaf_bus_lag_seconds_count").await >= 21.0);
        let mut asked = 0.0;
        for outcome in ["hit", "miss"] {
            asked += other
                .metric(&format!(
                    r#"linkleaf_l2_requests_total{{cache="profile",outcome="{outcome}"}}"#
                ))
                .await;
        }
        assert!(asked >= 21.0, "the tier was asked {asked} times");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_from_the_shared_tier_is_fresh_only_for_what_is_left() {
    let Some(d) = deployment(2, |c| {
        c.cache.fresh = std::time::Duration::from_secs(2);
    })
    .await
    else {
        return;
    };
    let (a, b) = (&d.apps[0], &d.apps[1]);
    let key = a.root_key().await;
    a.create_profile(&key, json!({"username": "ageing"})).await;
    let loaded = Instant::now();
    read(a, "ageing").await;
    // B reads it from the tier 1.2 s after A loaded it
    tokio::time::sleep(Duration::from_millis(1200)).await;
    b.reset_origin_reads();
    assert_eq!(read(b, "ageing").await.1, "MISS");
    assert_eq!(b.origin_reads(), 0, "from the tier");
    // so in B's L1 it is fresh until 2 s after A loaded it, not 2 s after B did
    let (_, cache, _) = read(b, "ageing").await;
    assert_eq!(cache, "HIT");
    tokio::time::sleep(Duration::from_millis(2100).saturating_sub(loaded.elapsed())).await;
    let (_, cache, _) = read(b, "ageing").await;
    assert_eq!(
        cache, "STALE",
        "its freshness was not extended past what the origin gave"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_rate_limit_holds_for_the_whole_deployment() {
    let Some(d) = deployment(3, |_| {}).await else {
        return;
    };
    let key = d.apps[0].key("profile:read").await;
    let start = Instant::now();
    let mut ok = 0;
    let mut limited = 0;
    for i in 0..450 {
        let app = &d.apps[i % 3];
        let r = app
            .admin(reqwest::Method::GET, "/api/profiles?limit=1", &key)
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                limited += 1;
                assert!(header(&r, "retry-after").parse::<u64>().unwrap() >= 1);
            }
            s => panic!("unexpected {s}"),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    // 150 at once, then 2.5 a second
    let allowed = 150 + (elapsed * 2.5).ceil() as i32;
    assert!(
        (150..=allowed).contains(&ok),
        "{ok} answered over three instances in {elapsed:.1} s (the bucket allows {allowed})"
    );
    assert_eq!(ok + limited, 450);
    let fallbacks: f64 = {
        let mut n = 0.0;
        for a in &d.apps {
            n += a.metric("linkleaf_rate_limit_local_fallbacks_total").await;
        }
        n
    };
    assert_eq!(fallbacks, 0.0, "Redis decided every time");
}

/// An instance that loads a key between a write's `forget` and the bus message about it (here:
/// one started after the write, which never heard the bus) must not read a replica that lags:
/// the key's generation in Redis says it was written lately, so the read goes to the primary,
/// and what the shared tier then holds is the new version, for every instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_just_after_a_write_anywhere_skips_a_lagging_replica() {
    let Some(d) = deployment(1, |_| {}).await else {
        return;
    };
    let Some(replica) = linkleaf_testkit::services::TempPostgres::create().await else {
        return;
    };
    let a = &d.apps[0];
    let key = a.root_key().await;
    let p = a
        .create_profile(&key, json!({"username": "lagged", "bio": "v1"}))
        .await;
    let id: uuid::Uuid = p["id"].as_str().unwrap().parse().unwrap();
    // the "replica": a database holding the profile as it was, and never catching up
    let stale = linkleaf_store::open(&replica.url, &Default::default())
        .await
        .unwrap();
    stale.profiles.migrate().await.unwrap();
    let v1 = a.stores.profiles.profile_by_id(id).await.unwrap().unwrap();
    stale.profiles.create_profile(&v1).await.unwrap();
    let mut r = a
        .admin(reqwest::Method::PATCH, &format!("/api/profiles/{id}"), &key)
        .json(&json!({"bio": "v2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let late = |replica_url: String, lag_secs: u64| {
        let (db, prefix, redis) = (
            d.db.url.clone(),
            d.prefix.clone(),
            a.config.redis.urls.clone(),
        );
        TestApp::spawn_with(move |c| {
            c.database.url = linkleaf::config::Secret::new(db);
            c.database.read_url = Some(linkleaf::config::Secret::new(replica_url));
            c.redis.urls = redis;
            c.redis.prefix = prefix;
            c.database.replica_lag = std::time::Duration::from_secs(lag_secs);
        })
    };
    let b = late(replica.url.clone(), 10).await;
    let (s, _, body) = read(&b, "lagged").await;
    assert_eq!((s, body["bio"].as_str()), (200, Some("v2")), "{body}");
    assert_eq!(
        b.metric(r#"linkleaf_db_page_reads_total{from="primary"}"#)
            .await,
        1.0
    );
    assert_eq!(
        b.metric(r#"linkleaf_db_page_reads_total{from="replica"}"#)
            .await,
        0.0
    );
    // the tier holds v2: another late instance is served it without any database read
    let c = late(replica.url.clone(), 10).await;
    let (s, _, body) = read(&c, "lagged").await;
    assert_eq!((s, body["bio"].as_str()), (200, Some("v2")));
    assert_eq!(c.origin_reads(), 0);
    // without the window (replica_lag_secs = 0) the same read goes to the replica, and gets
    // what the replica has: the check above is what kept v1 out
    let e = late(replica.url.clone(), 0).await;
    r = a
        .admin(reqwest::Method::POST, "/api/cache/invalidate/lagged", &key)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (s, _, body) = read(&e, "lagged").await;
    assert_eq!((s, body["bio"].as_str()), (200, Some("v1")), "{body}");
    assert_eq!(
        e.metric(r#"linkleaf_db_page_reads_total{from="replica"}"#)
            .await,
        1.0
    );
}

/// A click counted by one instance's consumer drops the profile's kept analytics on every
/// instance (the bus): another instance answers it within a window and a second, however long
/// `analytics.cache_secs` is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_window_drops_the_profiles_reports_on_every_instance() {
    let Some(d) = deployment(2, |c| {
        c.analytics.window = Duration::from_millis(50);
        c.analytics.cache_for = Duration::from_secs(3600);
        c.rate_limit.per_minute = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
        c.rate_limit.burst = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
    })
    .await
    else {
        return;
    };
    let (a, b) = (&d.apps[0], &d.apps[1]);
    let key = a.key("analytics:read,profile:write").await;
    let p = a
        .create_profile(
            &key,
            json!({"username": "watched", "links": [{"title": "a", "url": "https://a.example/"}]}),
        )
        .await;
    let report = |app: &TestApp| {
        app.admin(
            reqwest::Method::GET,
            "/api/profiles/watched/analytics?bucket=day",
            &key,
        )
        .send()
    };
    let link = p["links"][0]["id"].as_str().unwrap().to_owned();
    let click = || {
        a.client
            .get(a.url(&format!("/r/{link}")))
            .header("user-agent", linkleaf_testkit::load::BROWSER)
            .send()
    };
    let counts = |n: i64| {
        let report = &report;
        async move {
            let r: Value = report(b).await.unwrap().json().await.unwrap();
            r["totals"]["clicks"] == n
        }
    };
    // a first click, counted (the pipeline is running)
    assert_eq!(click().await.unwrap().status(), 302);
    linkleaf_testkit::eventually(
        "the first click is counted",
        Duration::from_secs(10),
        || counts(1),
    )
    .await;
    // b keeps its answer
    assert_eq!(header(&report(b).await.unwrap(), "x-cache"), "HIT");
    // a person's click on a, counted by a's consumer: b's kept answer goes
    let clicked = Instant::now();
    assert_eq!(click().await.unwrap().status(), 302);
    linkleaf_testkit::eventually(
        "b's answer counts the click",
        Duration::from_secs(5),
        || counts(2),
    )
    .await;
    let took = clicked.elapsed();
    eprintln!("the click was in the other instance's answer after {took:?}");
    assert!(
        took < Duration::from_millis(50) + Duration::from_secs(1),
        "within analytics.window_secs and a second: {took:?}"
    );
}
