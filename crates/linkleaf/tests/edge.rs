//! Webhooks and edge mode on real processes: a sender SIGKILLed between committing a change and
//! delivering its event still delivers it once restarted; and an origin and an edge as two
//! linkleaf processes on loopback, the edge subscribed to the origin's webhooks: an edit on the
//! origin is served by the edge within a second; a miss is one upstream request however many
//! ask; the origin answering 429 keeps the edge off it while its clients see no error; the
//! origin gone, cached profiles are served stale and a miss answers 503 within a second.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::hooks::{Answer, Stand};
use linkleaf_testkit::process::{Instance, create_key};
use linkleaf_testkit::services::free_port;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_linkleaf");

fn key(dir: &std::path::Path, scopes: &str) -> String {
    create_key(BIN, dir, &[], scopes)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn post(c: &reqwest::Client, url: String, key: &str, body: Value) -> Value {
    let r = c
        .post(url)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

async fn bio(c: &reqwest::Client, url: String) -> (u16, String, Value) {
    let r = c.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("x-cache")
        .map_or("", |v| v.to_str().unwrap())
        .to_owned();
    (status, cache, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_before_a_sigkill_is_delivered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(&str, String)> = vec![
        // the receivers are the test's own, on loopback
        ("LINKLEAF_WEBHOOKS__ALLOW_NETWORKS", "127.0.0.0/8".into()),
        ("LINKLEAF_WEBHOOKS__TIMEOUT_MS", "500".into()),
        ("LINKLEAF_WEBHOOKS__POLL_MS", "50".into()),
        ("LINKLEAF_WEBHOOKS__BACKOFF_BASE_MS", "50".into()),
    ];
    let key = key(dir.path(), "profile:write,webhooks:write");
    let c = client();
    let hook = Stand::start(Answer::Hang).await;
    // between the commit and the fan-out: a sender that does not dispatch commits a change (its
    // event alone), and is killed before anything could fan it out or send it
    let mut quiet = env.clone();
    quiet.push(("LINKLEAF_WEBHOOKS__DISPATCH", "false".into()));
    let mut sender = Instance::start(BIN, dir.path(), &quiet);
    let sub = post(
        &c,
        sender.url("/api/webhooks/subscriptions"),
        &key,
        json!({"url": hook.url("/in"), "events": ["profile.created"]}),
    )
    .await;
    let p = post(
        &c,
        sender.url("/api/profiles"),
        &key,
        json!({"username": "committed"}),
    )
    .await;
    sender.kill();
    assert_eq!(hook.count(), 0, "nothing was sent before the kill");
    // during the send: restarted, it sends the event; the receiver takes the request and never
    // answers, and the sender is killed again
    let mut sender = Instance::start(BIN, dir.path(), &env);
    let first = hook.wait_for(1, Duration::from_secs(10)).await;
    let body: Value = serde_json::from_slice(&first[0].body).unwrap();
    assert_eq!(
        body["data"]["id"], p["id"],
        "the event committed before the kill"
    );
    let id = first[0].headers["webhook-id"].to_str().unwrap().to_owned();
    sender.kill();
    let before = hook.count();
    // back, and the receiver answers now: the same event arrives, once, with the same id
    hook.set(Answer::Status(200));
    let sender = Instance::start(BIN, dir.path(), &env);
    let seen = hook.wait_for(before + 1, Duration::from_secs(15)).await;
    let last = &seen[before];
    assert_eq!(last.headers["webhook-id"], id.as_str());
    let body: Value = serde_json::from_slice(&last.body).unwrap();
    assert_eq!(body["data"]["id"], p["id"]);
    let v = linkleaf_webhooks::Verifier::new(sub["secret"].as_str().unwrap()).unwrap();
    assert_eq!(v.verify(&last.headers, &last.body), Ok(()));
    let d = linkleaf_testkit::until("recorded as delivered", Duration::from_secs(5), || async {
        let d: Value = c
            .get(sender.url(&format!(
                "/api/webhooks/subscriptions/{}/deliveries",
                sub["id"].as_str().unwrap()
            )))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if d["items"][0]["status"] == "delivered" {
            Ok(d)
        } else {
            Err(d.to_string())
        }
    })
    .await;
    // one delivery, in its last state: nothing is left to send; and once the sender has
    // stopped, nothing more can come
    assert_eq!(d["items"].as_array().unwrap().len(), 1, "{d}");
    let mut sender = sender;
    assert!(sender.terminate(Duration::from_secs(10)), "a clean stop");
    assert_eq!(hook.count(), before + 1, "delivered once after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_in_front_of_an_origin_serves_edits_within_a_second_and_survives_its_faults() {
    let (odir, edir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let okey = key(
        odir.path(),
        "profile:write,profile:read,links:write,webhooks:write",
    );
    let c = client();
    let mut origin = Instance::start(
        BIN,
        odir.path(),
        &[
            ("LINKLEAF_WEBHOOKS__POLL_MS", "100".into()),
            // the edge is the operator's own, on loopback
            ("LINKLEAF_WEBHOOKS__ALLOW_NETWORKS", "127.0.0.1".into()),
        ],
    );
    // the edge reaches the origin through a stand the test controls (it forwards by default)
    let front = Stand::start(Answer::Forward(origin.url(""))).await;
    let edge_port = free_port();
    let sub = post(
        &c,
        origin.url("/api/webhooks/subscriptions"),
        &okey,
        json!({"url": format!("http://127.0.0.1:{edge_port}/api/webhooks")}),
    )
    .await;
    let p = post(
        &c,
        origin.url("/api/profiles"),
        &okey,
        json!({"username": "famous", "bio": "v0", "links": [{"title": "home", "url": "https://famous.example/"}]}),
    )
    .await;
    let edge = Instance::start(
        BIN,
        edir.path(),
        &[
            ("LINKLEAF_SERVER__LISTEN", format!("127.0.0.1:{edge_port}")),
            ("LINKLEAF_ORIGIN__UPSTREAM_URL", front.url("")),
            ("LINKLEAF_ORIGIN__UPSTREAM_KEY", okey.clone()),
            ("LINKLEAF_ORIGIN__UPSTREAM_PER_MINUTE", "60".into()),
            (
                "LINKLEAF_WEBHOOKS__SECRET",
                sub["secret"].as_str().unwrap().to_owned(),
            ),
            // a long freshness: only the webhook can make the edge see an edit in time
            ("LINKLEAF_CACHE__FRESH_SECS", "600".into()),
        ],
    );
    let (s, cache, body) = bio(&c, edge.url("/api/profiles/famous")).await;
    assert_eq!(
        (s, cache.as_str(), body["bio"].as_str()),
        (200, "MISS", Some("v0"))
    );
    assert_eq!(bio(&c, edge.url("/api/profiles/famous")).await.1, "HIT");
    let page = c.get(edge.url("/famous")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("famous.example"));
    // /r/ works on the edge for the links it has loaded
    let link = p["links"][0]["id"].as_str().unwrap();
    let r = c.get(edge.url(&format!("/r/{link}"))).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "https://famous.example/");

    // an edit on the origin is served by the edge within a second (the webhook, not the TTL)
    let mut lags = Vec::new();
    for v in 1..=5 {
        let written = Instant::now();
        let r = c
            .patch(origin.url("/api/profiles/famous"))
            .bearer_auth(&okey)
            .json(&json!({"bio": format!("v{v}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        loop {
            let (_, _, body) = bio(&c, edge.url("/api/profiles/famous")).await;
            if body["bio"] == format!("v{v}") {
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(1),
                "v{v} not on the edge after {:?}\norigin: {:#?}\nedge: {:#?}",
                written.elapsed(),
                origin.log(),
                edge.log()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        lags.push(written.elapsed());
    }
    eprintln!("origin edit to edge: {lags:?}");

    // a miss is one upstream request, however many ask at once (once the edge has heard of
    // the profile's creation: an event arriving mid-load rightly starts the load again)
    let accepted = || async {
        let text = c
            .get(edge.ops_url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(r#"linkleaf_webhooks_received_total{outcome="accepted"} "#)
            })
            .map_or(0.0, |v| v.parse::<f64>().unwrap())
    };
    let heard = accepted().await;
    post(
        &c,
        origin.url("/api/profiles"),
        &okey,
        json!({"username": "crowded"}),
    )
    .await;
    linkleaf_testkit::eventually(
        "the edge hears of the creation",
        Duration::from_secs(5),
        || async { accepted().await >= heard + 1.0 },
    )
    .await;
    front.clear();
    let asks: Vec<_> = (0..40)
        .map(|_| {
            let (c, url) = (c.clone(), edge.url("/api/profiles/crowded"));
            tokio::spawn(async move { c.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    for a in asks {
        assert_eq!(a.await.unwrap(), 200);
    }
    let upstream: Vec<_> = front
        .seen()
        .into_iter()
        .filter(|s| s.path == "/api/profiles/crowded")
        .collect();
    assert_eq!(upstream.len(), 1, "single-flight through the edge");
    assert_eq!(
        upstream[0].headers["authorization"],
        format!("Bearer {okey}").as_str(),
        "the upstream key is sent"
    );

    // a second edge, whose pages go stale after a second, for the origin's faults
    let edir2 = tempfile::tempdir().unwrap();
    let edge2 = Instance::start(
        BIN,
        edir2.path(),
        &[
            ("LINKLEAF_ORIGIN__UPSTREAM_URL", front.url("")),
            ("LINKLEAF_ORIGIN__UPSTREAM_PER_MINUTE", "60".into()),
            ("LINKLEAF_CACHE__FRESH_SECS", "1".into()),
            ("LINKLEAF_CACHE__RETRY_AFTER_ERROR_SECS", "1".into()),
        ],
    );
    assert_eq!(bio(&c, edge2.url("/api/profiles/famous")).await.0, 200);

    // the origin limits the edge: its clients see no error, and it stays inside the bucket
    front.set(Answer::TooMany(2));
    front.clear();
    let started = Instant::now();
    let (mut statuses, mut caches) = (Vec::new(), Vec::new());
    let mut limited_misses = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let (s, cache, _) = bio(&c, edge2.url("/api/profiles/famous")).await;
        statuses.push(s);
        caches.push(cache);
        // a miss while limited answers 503 quickly, with Retry-After
        let t = Instant::now();
        let r = c
            .get(edge2.url("/api/profiles/unknown.while.limited"))
            .send()
            .await
            .unwrap();
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        assert_eq!(r.status(), 503);
        assert!(r.headers().contains_key("retry-after"));
        limited_misses += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        statuses.iter().all(|s| *s == 200),
        "cached profiles answered throughout"
    );
    assert!(
        caches.iter().any(|c| c == "STALE"),
        "served stale while limited: {caches:?}"
    );
    let sent = front.count();
    eprintln!(
        "while limited: {} cached reads and {limited_misses} misses on the edge, {sent} upstream requests in 3 s",
        statuses.len()
    );
    assert!(
        sent <= 4,
        "the edge held off the upstream while it asked (Retry-After 2 s): {sent}"
    );

    // the origin gone (its port closed: connections refused): cached profiles are served
    // stale, a miss is a quick 503
    front.set(Answer::Forward(origin.url("")));
    assert!(origin.terminate(Duration::from_secs(10)));
    drop(front);
    let until = Instant::now() + Duration::from_millis(1500);
    let mut stale = 0;
    while Instant::now() < until {
        let (s, cache, body) = bio(&c, edge2.url("/api/profiles/famous")).await;
        assert_eq!((s, body["bio"].as_str()), (200, Some("v5")));
        stale += usize::from(cache == "STALE");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stale > 0, "past its freshness, the page is served stale");
    let t = Instant::now();
    let r = c
        .get(edge2.url("/api/profiles/never.seen"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let ready: Value = c
        .get(edge2.ops_url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["dependencies"]["upstream"]["status"], "unavailable",
        "{ready}"
    );
    assert_eq!(ready["mode"], "degraded");
    assert_eq!(
        ready["status"], "ready",
        "an edge with a cache is still worth sending reads to"
    );
    drop(edge);
}
