//! Edge mode in process, in front of a real origin (through a stand the test controls): the
//! upstream key's bucket bounds what an edge asks; a malformed answer is an error page and is
//! counted, never a crash; an upstream that refuses connections costs a miss a quick 503; and
//! with a shared Redis, every edge redirects the links of the pages it serves, wherever they
//! were loaded.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::hooks::{Answer, Stand};
use linkleaf_testkit::{TestApp, header};
use serde_json::json;
use std::time::{Duration, Instant};

async fn origin_with(names: &[&str]) -> (TestApp, String) {
    let origin = TestApp::spawn_with(|c| {
        c.rate_limit.per_minute = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
        c.rate_limit.burst = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
    })
    .await;
    let key = origin.root_key().await;
    for n in names {
        origin
            .create_profile(
                &key,
                json!({"username": n, "links": [{"title": "home", "url": format!("https://{n}.example/")}]}),
            )
            .await;
    }
    (origin, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_keys_bucket_bounds_what_an_edge_asks() {
    let names: Vec<String> = (0..20).map(|i| format!("crowd{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (origin, _) = origin_with(&refs).await;
    let front = Stand::start(Answer::Forward(origin.url(""))).await;
    let edge = TestApp::spawn_with(|c| {
        c.origin.upstream_url = Some(front.url(""));
        // names never seen (all of these) may take a third of it: 5
        c.origin.upstream_per_minute = std::num::NonZeroU32::new(15).expect("non-zero");
        c.origin.cold_misses_per_minute = 100;
    })
    .await;
    let mut answered = Vec::new();
    for n in &names {
        let t = Instant::now();
        let r = edge.get(&format!("/api/profiles/{n}")).await;
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        if r.status() == 503 {
            assert!(!header(&r, "retry-after").is_empty());
        }
        answered.push(r.status().as_u16());
    }
    let ok = answered.iter().filter(|s| **s == 200).count();
    assert_eq!(
        front.count(),
        ok,
        "every request sent was a profile answered"
    );
    assert_eq!(ok, 5, "a third of a bucket of 15 a minute: {answered:?}");
    assert!(answered.iter().all(|s| *s == 200 || *s == 503));
    assert_eq!(edge.metric("linkleaf_upstream_held_total").await, 15.0);
}

/// A client asking an edge for names that do not exist cannot drain the upstream budget: its
/// misses for names never seen are limited per client address, such misses together take a
/// third of the budget at most, and names known to exist (served before) keep the rest.
/// Clients are told apart by their own loopback addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_do_not_exist_cannot_drain_the_upstream_budget_for_real_ones() {
    let names: Vec<String> = (0..10).map(|i| format!("real{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (origin, _) = origin_with(&refs).await;
    let front = Stand::start(Answer::Forward(origin.url(""))).await;
    let edge = TestApp::spawn_with(|c| {
        c.origin.upstream_url = Some(front.url(""));
        c.origin.upstream_per_minute = std::num::NonZeroU32::new(60).expect("non-zero");
        c.origin.cold_misses_per_minute = 5;
        c.rate_limit.per_minute = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
        c.rate_limit.burst = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
    })
    .await;
    let from = |last: u8| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, last]))
            .build()
            .unwrap()
    };
    let reader = from(20);
    // the real profiles were served before (to readers of their own), then dropped from the
    // edge's cache
    let key = edge.key("cache:write").await;
    for (i, n) in names.iter().enumerate() {
        let r = from(100 + i as u8)
            .get(edge.url(&format!("/{n}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = edge
            .admin(
                reqwest::Method::POST,
                &format!("/api/cache/invalidate/{n}"),
                &key,
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    let before = front.count();
    // ten clients ask for a thousand names that do not exist
    let mut refused = 0;
    for c in 2..12u8 {
        let client = from(c);
        for i in 0..100 {
            let r = client
                .get(edge.url(&format!("/api/profiles/nobody{c}x{i}")))
                .send()
                .await
                .unwrap();
            match r.status().as_u16() {
                404 => {}
                503 => {
                    assert!(!header(&r, "retry-after").is_empty());
                    refused += 1;
                }
                s => panic!("{s}"),
            }
        }
    }
    let asked = front.count() - before;
    assert!(
        asked <= 20,
        "a third of a budget of 60: {asked} upstream requests"
    );
    assert!(refused >= 980, "{refused}");
    // while the real profiles, not cached, are every one answered
    for n in &names {
        let r = reader
            .get(edge.url(&format!("/api/profiles/{n}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{n}");
    }
    // an unknown name asked again is remembered as missing: no upstream request
    let asked = front.count();
    let r = from(2)
        .get(edge.url("/api/profiles/nobody2x0"))
        .send()
        .await
        .unwrap();
    assert!(r.status() == 404 || r.status() == 503);
    assert_eq!(front.count(), asked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_or_missing_upstream_costs_an_error_page_never_a_crash() {
    let (origin, _) = origin_with(&["fine"]).await;
    let front = Stand::start(Answer::Body(
        r#"{"id":"<script>alert(1)</script>","username":"fine"}"#.into(),
    ))
    .await;
    let edge = TestApp::spawn_with(|c| {
        c.origin.upstream_url = Some(front.url(""));
    })
    .await;
    let r = edge.get("/fine").await;
    assert_eq!(r.status(), 500);
    assert!(header(&r, "content-type").starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert_eq!(front.count(), 1, "the answer was asked for, and read");
    assert_eq!(
        edge.metric(r#"linkleaf_upstream_requests_total{outcome="malformed"}"#)
            .await,
        1.0
    );
    // an answer for another name than the one asked is refused too
    front.set(Answer::Forward(origin.url("")));
    let r = edge.get("/api/profiles/fine").await;
    assert_eq!(r.status(), 200, "the edge lives on");
    // an upstream that refuses connections: a miss is a quick 503
    drop(front);
    let t = Instant::now();
    let r = edge.get("/api/profiles/never.seen").await;
    assert_eq!(r.status(), 503);
    assert!(!header(&r, "retry-after").is_empty());
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let (status, ready) = edge.readyz().await;
    assert_eq!(status, 200);
    assert_eq!(
        ready["dependencies"]["upstream"]["status"], "unavailable",
        "{ready}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_edge_on_a_shared_redis_redirects_the_links_it_serves() {
    let Some((redis, prefix)) = linkleaf_testkit::services::shared_redis() else {
        return;
    };
    let (origin, key) = origin_with(&["linked"]).await;
    let p: serde_json::Value = origin
        .admin(reqwest::Method::GET, "/api/profiles/linked", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = p["links"][0]["id"].as_str().unwrap().to_owned();
    let front = Stand::start(Answer::Forward(origin.url(""))).await;
    let edge = |url: String, redis: String, prefix: String| {
        TestApp::spawn_with(move |c| {
            c.origin.upstream_url = Some(url);
            c.redis.urls = linkleaf::config::redis_urls(&redis);
            c.redis.prefix = prefix;
        })
    };
    let a = edge(front.url(""), redis.clone(), prefix.clone()).await;
    let b = edge(front.url(""), redis, prefix).await;
    assert_eq!(a.get("/linked").await.status(), 200);
    assert_eq!(front.count(), 1);
    // b serves the page from the shared tier, without asking the upstream...
    assert_eq!(b.get("/linked").await.status(), 200);
    assert_eq!(front.count(), 1, "b read the page from Redis");
    // ...and redirects its links all the same
    let r = b.get(&format!("/r/{link}")).await;
    assert_eq!(r.status(), 302);
    assert_eq!(header(&r, "location"), "https://linked.example/");
    assert_eq!(header(&r, "cache-control"), "no-store");
    // a link of a profile this edge never loaded is not one it knows
    let r = b.get(&format!("/r/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(r.status(), 404);
}

/// A name the upstream's webhooks announce is known to exist: a client that has spent its
/// allowance of misses for names never seen still gets it, the first time it is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_the_upstreams_webhooks_announce_keeps_the_budget() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (origin, _) = origin_with(&["announced"]).await;
    let edge = TestApp::spawn_with(|c| {
        c.origin.upstream_url = Some(origin.url(""));
        c.origin.cold_misses_per_minute = 2;
        c.webhooks.verifier = std::sync::Arc::new(
            linkleaf_webhooks::Verifier::new(SECRET).expect("a webhook secret"),
        );
        c.rate_limit.per_minute = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
        c.rate_limit.burst = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
    })
    .await;
    // the upstream announces the profile (as its subscription to this edge would)
    let p: serde_json::Value = origin
        .get("/api/profiles/announced")
        .await
        .json()
        .await
        .unwrap();
    let body = json!({"type": "profile.created", "timestamp": "2026-12-01T10:00:00Z",
                      "data": {"id": p["id"], "username": "announced"}})
    .to_string();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig =
        linkleaf_webhooks::sign::sign(&[SECRET.to_owned()], "msg_announce", ts, body.as_bytes())
            .unwrap();
    let r = edge
        .client
        .post(edge.url("/api/webhooks"))
        .header("webhook-id", "msg_announce")
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // one client spends its misses on names never seen
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 7]))
        .build()
        .unwrap();
    let mut limited = 0;
    for i in 0..10 {
        let r = client
            .get(edge.url(&format!("/api/profiles/nobody{i}")))
            .send()
            .await
            .unwrap();
        if r.status() == 503 {
            limited += 1;
        }
    }
    assert!(limited >= 8, "the client's misses are limited: {limited}");
    // and still gets the announced profile, never asked of this edge before
    let r = client
        .get(edge.url("/api/profiles/announced"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "an announced name is not a cold miss");
}
