//! Webhooks that strangers holding a `webhooks:write` key cannot turn against us: no request
//! to an internal address (by literal, by name, by a name that changes its answer, or from a
//! subscription stored before the rule), no edit that writes a row per subscriber, no more
//! subscriptions than allowed, no receiver that starves the others, no event that loops.
//! Names are resolved by a table the test owns: no public DNS is needed.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use async_trait::async_trait;
use linkleaf_domain::webhook::{EventType, SubscriptionSpec};
use linkleaf_outbound::{AddressPolicy, Destinations, Resolve};
use linkleaf_testkit::hooks::{Answer, Stand};
use linkleaf_testkit::{TestApp, eventually};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Names answered from a table; a name with several answers gives them one call after another.
#[derive(Default)]
struct Table {
    answers: HashMap<String, Vec<Vec<IpAddr>>>,
    calls: Mutex<HashMap<String, usize>>,
}

#[async_trait]
impl Resolve for Table {
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        let n = {
            let mut c = self.calls.lock().unwrap();
            let n = c.entry(host.to_owned()).or_default();
            *n += 1;
            *n - 1
        };
        let a = self
            .answers
            .get(host)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such name"))?;
        Ok(a[n.min(a.len() - 1)].clone())
    }
}

fn quick(c: &mut linkleaf::Config) {
    c.webhooks.verifier =
        std::sync::Arc::new(linkleaf_webhooks::Verifier::new(SECRET).expect("a webhook secret"));
    c.webhooks.timeout = std::time::Duration::from_millis(300);
    c.webhooks.backoff_base = std::time::Duration::from_millis(50);
    c.webhooks.backoff_max = std::time::Duration::from_secs(1);
    c.webhooks.poll = std::time::Duration::from_millis(50);
    c.rate_limit.per_minute = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
    c.rate_limit.burst = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
}

async fn subscribe(app: &TestApp, key: &str, url: &str) -> reqwest::Response {
    app.admin(reqwest::Method::POST, "/api/webhooks/subscriptions", key)
        .json(&json!({"url": url}))
        .send()
        .await
        .unwrap()
}

async fn edit(app: &TestApp, key: &str, name: &str, bio: &str) {
    let r = app
        .admin(
            reqwest::Method::PATCH,
            &format!("/api/profiles/{name}"),
            key,
        )
        .json(&json!({"bio": bio}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn attempts(app: &TestApp, key: &str, sub: &str) -> Vec<Value> {
    let r: Value = app
        .admin(
            reqwest::Method::GET,
            &format!("/api/webhooks/subscriptions/{sub}/deliveries"),
            key,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["attempts"].as_array().unwrap().clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_cannot_reach_internal_addresses_by_literal_name_or_rebinding() {
    let stand = Stand::start(Answer::Status(200)).await;
    let port = stand.addr.port();
    let table = Table {
        answers: [
            ("metadata.google.internal", vec![vec!["169.254.169.254"]]),
            ("loopback.test", vec![vec!["127.0.0.1"]]),
            ("mixed.test", vec![vec!["93.184.216.34", "10.0.0.7"]]),
            // public when the subscription is made, the stand's loopback afterwards
            (
                "rebind.test",
                vec![vec!["93.184.216.34"], vec!["127.0.0.1"]],
            ),
        ]
        .into_iter()
        .map(|(n, a)| {
            (
                n.to_owned(),
                a.into_iter()
                    .map(|x| x.into_iter().map(|ip| ip.parse().unwrap()).collect())
                    .collect(),
            )
        })
        .collect(),
        ..Table::default()
    };
    let app = TestApp::spawn_overridden(
        quick,
        |_| {},
        linkleaf::Overrides {
            resolver: Some(Arc::new(table)),
            ..Default::default()
        },
    )
    .await;
    let key = app.root_key().await;
    app.create_profile(&key, json!({"username": "target"}))
        .await;
    let (main, ops) = (app.addr.port(), app.ops_addr.port());
    for (url, rule) in [
        (format!("http://127.0.0.1:{ops}/metrics"), "loopback"),
        (format!("http://127.0.0.1:{main}/api/profiles"), "loopback"),
        (format!("http://0.0.0.0:{main}/"), "this network"),
        ("http://10.0.0.1/".into(), "RFC 1918"),
        ("http://192.168.1.1/admin".into(), "RFC 1918"),
        ("http://100.100.100.200/latest/meta-data".into(), "RFC 6598"),
        (
            "http://169.254.169.254/latest/meta-data/".into(),
            "link-local",
        ),
        (
            "http://metadata.google.internal/computeMetadata/v1/".into(),
            "link-local",
        ),
        (format!("http://loopback.test:{port}/in"), "loopback"),
        ("http://mixed.test/in".into(), "RFC 1918"),
    ] {
        let r = subscribe(&app, &key, &url).await;
        assert_eq!(r.status(), 422, "{url}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], "url", "{url}: {body:#}");
        let msg = body["errors"][0]["message"].as_str().unwrap();
        assert!(msg.contains(rule), "{url}: {msg}");
    }
    // a name that does not resolve (yet) is accepted, and checked at each delivery
    assert_eq!(
        subscribe(&app, &key, "https://not-yet.example/in")
            .await
            .status(),
        201
    );
    // a name that answers public now and loopback later: accepted, then refused at the send
    let r = subscribe(&app, &key, &format!("http://rebind.test:{port}/in")).await;
    assert_eq!(r.status(), 201);
    let rebind = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // a subscription's URL changed to one inside: refused like a new one, and left as it was
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/",
    ] {
        let r = app
            .admin(
                reqwest::Method::PATCH,
                &format!("/api/webhooks/subscriptions/{rebind}"),
                &key,
            )
            .json(&json!({ "url": url }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{url}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], "url", "{url}: {body:#}");
    }
    let kept: Value = app
        .admin(
            reqwest::Method::GET,
            &format!("/api/webhooks/subscriptions/{rebind}"),
            &key,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        kept["url"],
        format!("http://rebind.test:{port}/in"),
        "{kept:#}"
    );
    // a subscription stored before the rule existed, pointing inside
    let old = app
        .stores
        .webhooks
        .create_subscription(
            &SubscriptionSpec {
                url: stand.url("/old"),
                events: EventType::ALL.to_vec(),
                enabled: true,
            },
            SECRET,
            0,
            100,
            None,
        )
        .await
        .unwrap();
    edit(&app, &key, "target", "changed").await;
    for sub in [rebind, old.id.to_string()] {
        eventually(
            "the attempt is recorded",
            Duration::from_secs(10),
            || async { !attempts(&app, &key, &sub).await.is_empty() },
        )
        .await;
        let a = attempts(&app, &key, &sub).await;
        let error = a[0]["error"].as_str().unwrap();
        assert!(
            error.contains("refused") && error.contains("127.0.0.1 is loopback"),
            "{error}"
        );
        assert!(a[0]["status"].is_null());
    }
    assert_eq!(stand.count(), 0, "no request reached the stand");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_network_reaches_its_receiver() {
    let stand = Stand::start(Answer::Status(204)).await;
    let app = TestApp::spawn_with(|c| {
        quick(c);
        c.webhooks.allow_networks = vec!["127.0.0.1/32".parse().expect("a network")];
    })
    .await;
    let key = app.root_key().await;
    app.create_profile(&key, json!({"username": "allowed"}))
        .await;
    assert_eq!(subscribe(&app, &key, &stand.url("/in")).await.status(), 201);
    assert_eq!(
        subscribe(&app, &key, "http://127.0.0.2/in").await.status(),
        422,
        "only the network allowed"
    );
    edit(&app, &key, "allowed", "v2").await;
    stand.wait_for(1, Duration::from_secs(10)).await;
}

/// An edit writes its event and nothing per subscriber; the deliveries are made after the
/// commit. Subscriptions are bounded (409 limit_reached) and listed a page at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_writes_one_row_whatever_the_subscribers_and_subscriptions_are_bounded() {
    let app = TestApp::spawn_with(|c| {
        quick(c);
        c.webhooks.dispatch = false;
        c.webhooks.max_subscriptions = std::num::NonZeroU32::new(200).expect("non-zero");
    })
    .await;
    let key = app.root_key().await;
    app.create_profile(&key, json!({"username": "popular"}))
        .await;
    let w = &app.stores.webhooks;
    // what the creation wrote, fanned out before any subscriber
    w.fan_out(i64::MAX, 1000).await.unwrap();
    for i in 0..199 {
        w.create_subscription(
            &SubscriptionSpec {
                url: format!("https://receiver{i}.example/in"),
                events: EventType::ALL.to_vec(),
                enabled: true,
            },
            SECRET,
            0,
            200,
            None,
        )
        .await
        .unwrap();
    }
    // the 200th through the API, the 201st refused
    assert_eq!(
        subscribe(&app, &key, "https://last.example/in")
            .await
            .status(),
        201
    );
    let r = subscribe(&app, &key, "https://one-too-many.example/in").await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "limit_reached");
    for i in 0..20 {
        edit(&app, &key, "popular", &format!("v{i}")).await;
    }
    // the edits wrote their events alone: not one delivery yet
    let first = w.subscriptions(None, 1, None).await.unwrap();
    assert!(w.deliveries(first[0].id, 10).await.unwrap().is_empty());
    // fanned out after the commits: 20 events to 200 subscribers
    assert_eq!(w.fan_out(i64::MAX, 1000).await.unwrap(), (20, 4000));
    // the list, a page at a time
    let mut seen = 0;
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/api/webhooks/subscriptions?limit=64&after={a}"),
            None => "/api/webhooks/subscriptions?limit=64".into(),
        };
        let page: Value = app
            .admin(reqwest::Method::GET, &path, &key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen += page["items"].as_array().unwrap().len();
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, 200);
}

/// Receivers that never answer (64 subscriptions of them) cannot delay a healthy one: each of
/// its events arrives within a couple of seconds of its edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_that_never_answer_do_not_starve_a_healthy_one() {
    let hang = Stand::start(Answer::Hang).await;
    let healthy = Stand::start(Answer::Status(200)).await;
    let app = TestApp::spawn_with(|c| {
        quick(c);
        c.webhooks.timeout = std::time::Duration::from_millis(10_000);
        c.webhooks.max_attempts = 12;
        c.webhooks.allow_networks = vec!["127.0.0.1/32".parse().expect("a network")];
    })
    .await;
    let key = app.root_key().await;
    app.create_profile(&key, json!({"username": "busy"})).await;
    for i in 0..64 {
        assert_eq!(
            subscribe(&app, &key, &hang.url(&format!("/h{i}")))
                .await
                .status(),
            201
        );
    }
    assert_eq!(
        subscribe(&app, &key, &healthy.url("/ok")).await.status(),
        201
    );
    for v in 1..=3 {
        let at = Instant::now();
        edit(&app, &key, "busy", &format!("v{v}")).await;
        healthy.wait_for(v, Duration::from_secs(2)).await;
        eprintln!(
            "event {v} reached the healthy receiver in {:?}",
            at.elapsed()
        );
    }
}

/// The same with every hanging subscription on a receiver of its own (64 names, each resolving
/// to the hanging stand): limits per receiver do not help, so the slots a failing or slow send
/// holds must not be all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_that_never_answer_on_many_hosts_do_not_starve_a_healthy_one() {
    let hang = Stand::start(Answer::Hang).await;
    let healthy = Stand::start(Answer::Status(200)).await;
    let port = hang
        .url("/")
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let table = Table {
        answers: (0..64)
            .map(|i| {
                (
                    format!("h{i}.test"),
                    vec![vec!["127.0.0.1".parse().unwrap()]],
                )
            })
            .collect(),
        ..Table::default()
    };
    let app = TestApp::spawn_overridden(
        |c| {
            quick(c);
            c.webhooks.timeout = std::time::Duration::from_millis(10_000);
            c.webhooks.max_attempts = 12;
            c.webhooks.allow_networks = vec!["127.0.0.1/32".parse().expect("a network")];
        },
        |_| {},
        linkleaf::Overrides {
            resolver: Some(Arc::new(table)),
            ..Default::default()
        },
    )
    .await;
    let key = app.root_key().await;
    app.create_profile(&key, json!({"username": "busy"})).await;
    for i in 0..64 {
        let url = format!("http://h{i}.test:{port}/hang");
        assert_eq!(subscribe(&app, &key, &url).await.status(), 201, "{url}");
    }
    assert_eq!(
        subscribe(&app, &key, &healthy.url("/ok")).await.status(),
        201
    );
    for v in 1..=3 {
        let at = Instant::now();
        edit(&app, &key, "busy", &format!("v{v}")).await;
        healthy.wait_for(v, Duration::from_secs(3)).await;
        eprintln!(
            "event {v} reached the healthy receiver in {:?}",
            at.elapsed()
        );
    }
}

/// An event keeps its id wherever it goes: two instances subscribed to each other, and one to
/// itself, pass an edit on once and stop; an event that has travelled `MAX_HOPS` goes no further.
/// Dispatchers are driven a step at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_never_loops_between_instances_or_back_to_itself() {
    let no_dispatch = |c: &mut linkleaf::Config| {
        quick(c);
        c.webhooks.dispatch = false;
    };
    let (a, b) = (
        TestApp::spawn_with(no_dispatch).await,
        TestApp::spawn_with(no_dispatch).await,
    );
    let dispatcher = |app: &TestApp| {
        linkleaf_webhooks::Dispatcher::new(
            app.stores.webhooks.clone(),
            linkleaf_outbound::Client::to(
                Destinations::checked(
                    AddressPolicy::new(vec!["127.0.0.1/32".parse().unwrap()]),
                    Arc::new(linkleaf_outbound::SystemResolver),
                ),
                Duration::from_secs(1),
                1024,
            )
            .unwrap(),
            app.config.dispatch_config(),
            linkleaf_webhooks::DispatchMetrics::noop(),
        )
    };
    let (da, db) = (dispatcher(&a), dispatcher(&b));
    let sub = |app: &TestApp, to: &TestApp| {
        let w = app.stores.webhooks.clone();
        let url = to.url("/api/webhooks");
        async move {
            w.create_subscription(
                &SubscriptionSpec {
                    url,
                    events: EventType::ALL.to_vec(),
                    enabled: true,
                },
                SECRET,
                0,
                100,
                None,
            )
            .await
            .unwrap()
        }
    };
    sub(&a, &b).await;
    sub(&b, &a).await;
    sub(&a, &a).await;
    let key = a.root_key().await;
    a.create_profile(&key, json!({"username": "looped"})).await;
    // a sends its event to b and to itself; b passes it on to a; a has seen it: nothing more
    let mut sent = 0;
    for _ in 0..10 {
        let n = da.step().await.unwrap() + db.step().await.unwrap();
        if n == 0 {
            break;
        }
        sent += n;
    }
    assert_eq!(sent, 3, "a to b, a to a, b to a: then it stops");
    // a took its own event once; the second arrival (from b, or from itself) was a duplicate
    assert_eq!(
        a.metric(r#"linkleaf_webhooks_received_total{outcome="accepted"}"#)
            .await,
        1.0
    );
    assert_eq!(
        a.metric(r#"linkleaf_webhooks_received_total{outcome="duplicate"}"#)
            .await,
        1.0
    );
    assert_eq!(
        b.metric(r#"linkleaf_webhooks_received_total{outcome="accepted"}"#)
            .await,
        1.0
    );
    // an event that has travelled as far as it may: recorded by b, passed on to nobody
    let body = json!({"type": "profile.updated", "timestamp": "2026-12-01T10:00:00Z",
        "id": "msg_far_travelled", "hops": linkleaf_domain::webhook::MAX_HOPS,
        "data": {"id": uuid::Uuid::now_v7(), "username": "elsewhere"}})
    .to_string();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig = linkleaf_webhooks::sign::sign(
        &[SECRET.to_owned()],
        "msg_far_travelled",
        ts,
        body.as_bytes(),
    )
    .unwrap();
    let r = b
        .client
        .post(b.url("/api/webhooks"))
        .header("webhook-id", "msg_far_travelled")
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(db.step().await.unwrap(), 0, "not passed on");
}
