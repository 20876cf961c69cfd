//! Standard Webhooks in and out, against receivers the test owns (`hooks::Stand`): incoming
//! events verified on their bytes (every way of being wrong refused, saying which), handled
//! once per `webhook-id`, invalidating by username and by id, republished; outgoing ones
//! delivered signed, retried with backoff (honouring `Retry-After`), never redirected,
//! dead-lettered, disabled when failing for long, signed by both secrets during a rotation;
//! and the reference Python package signs what linkleaf accepts and verifies what it sends.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::hooks::{Answer, Stand, python, python_standardwebhooks};
use linkleaf_testkit::{TestApp, eventually, header};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Quick deliveries: short deadlines and waits, so tests see retries in milliseconds.
fn quick(c: &mut linkleaf::Config) {
    c.webhooks.verifier =
        std::sync::Arc::new(linkleaf_webhooks::Verifier::new(SECRET).expect("a webhook secret"));
    c.webhooks.timeout = std::time::Duration::from_millis(300);
    c.webhooks.backoff_base = std::time::Duration::from_millis(50);
    c.webhooks.backoff_max = std::time::Duration::from_secs(1);
    c.webhooks.max_attempts = 3;
    c.webhooks.poll = std::time::Duration::from_millis(50);
    c.rate_limit.per_minute = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
    c.rate_limit.burst = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
    // the receivers are the test's own, on loopback
    c.webhooks.allow_networks = vec!["127.0.0.0/8".parse().expect("a network")];
}

/// POSTs `body` to `/api/webhooks` signed with `secret` as `id` at `ts`.
async fn deliver(app: &TestApp, secret: &str, id: &str, ts: i64, body: &str) -> reqwest::Response {
    let sig = linkleaf_webhooks::sign::sign(&[secret.to_owned()], id, ts, body.as_bytes()).unwrap();
    app.client
        .post(app.url("/api/webhooks"))
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// The same, under Svix's header names (what its service sends unless they are renamed).
async fn deliver_as_svix(app: &TestApp, id: &str, body: &str) -> reqwest::Response {
    let ts = now();
    let sig = linkleaf_webhooks::sign::sign(&[SECRET.to_owned()], id, ts, body.as_bytes()).unwrap();
    app.client
        .post(app.url("/api/webhooks"))
        .header("svix-id", id)
        .header("svix-timestamp", ts.to_string())
        .header("svix-signature", sig)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svix_header_names_are_taken_and_deduplicated_like_the_standards() {
    let app = TestApp::spawn_with(quick).await;
    let body = event(
        "profile.updated",
        &uuid::Uuid::now_v7().to_string(),
        "svixed",
    );
    let r = deliver_as_svix(&app, "msg_svix_1", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "accepted");
    // the same id under the standard's names is the same event
    let r = deliver(&app, SECRET, "msg_svix_1", now(), &body).await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "duplicate");
    // a wrong signature under Svix's names is refused like any other
    let r = app
        .client
        .post(app.url("/api/webhooks"))
        .header("svix-id", "msg_svix_2")
        .header("svix-timestamp", now().to_string())
        .header("svix-signature", "v1,AAAA")
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "webhook_bad_signature"
    );
}

fn event(kind: &str, id: &str, username: &str) -> String {
    json!({"type": kind, "timestamp": "2026-12-01T10:00:00Z", "data": {"id": id, "username": username}})
        .to_string()
}

async fn subscribe(app: &TestApp, key: &str, url: &str, events: Option<Vec<&str>>) -> Value {
    let mut body = json!({"url": url});
    if let Some(e) = events {
        body["events"] = json!(e);
    }
    let r = app
        .admin(reqwest::Method::POST, "/api/webhooks/subscriptions", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn deliveries(app: &TestApp, key: &str, sub: &str) -> Vec<Value> {
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
    r["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_events_are_verified_on_their_bytes_and_handled_once() {
    let app = TestApp::spawn_with(quick).await;
    let key = app.root_key().await;
    let p = app
        .create_profile(&key, json!({"username": "watched", "bio": "v1"}))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    app.get("/api/profiles/watched").await;
    assert_eq!(
        header(&app.get("/api/profiles/watched").await, "x-cache"),
        "HIT"
    );
    let body = event("profile.updated", &id, "watched");

    // every way of being wrong, each refused with its own code, and nothing changes
    let refused = |r: reqwest::Response, code: &'static str| async move {
        assert_eq!(r.status(), 401, "{code}");
        assert_eq!(header(&r, "content-type"), "application/problem+json");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["code"], code, "{p}");
    };
    refused(
        deliver(
            &app,
            "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldA==",
            "msg_a",
            now(),
            &body,
        )
        .await,
        "webhook_bad_signature",
    )
    .await;
    let sig =
        linkleaf_webhooks::sign::sign(&[SECRET.into()], "msg_a", now(), body.as_bytes()).unwrap();
    let tampered = body.replace("watched", "watcheD");
    let r = app
        .client
        .post(app.url("/api/webhooks"))
        .header("webhook-id", "msg_a")
        .header("webhook-timestamp", now().to_string())
        .header("webhook-signature", &sig)
        .body(tampered)
        .send()
        .await
        .unwrap();
    refused(r, "webhook_bad_signature").await;
    refused(
        deliver(&app, SECRET, "msg_a", now() - 301, &body).await,
        "webhook_too_old",
    )
    .await;
    refused(
        deliver(&app, SECRET, "msg_a", now() + 301, &body).await,
        "webhook_too_new",
    )
    .await;
    for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut rb = app.client.post(app.url("/api/webhooks")).body(body.clone());
        for (h, v) in [
            ("webhook-id", "msg_a".to_owned()),
            ("webhook-timestamp", now().to_string()),
            ("webhook-signature", sig.clone()),
        ] {
            if h != missing {
                rb = rb.header(h, v);
            }
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 401, "without {missing}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["code"], "webhook_unsigned");
        assert!(p["detail"].as_str().unwrap().contains(missing), "{p}");
    }
    let huge = format!("{{\"type\":\"x\",\"pad\":\"{}\"}}", "a".repeat(70_000));
    assert_eq!(
        deliver(&app, SECRET, "msg_big", now(), &huge)
            .await
            .status(),
        413
    );
    assert_eq!(
        header(&app.get("/api/profiles/watched").await, "x-cache"),
        "HIT",
        "no refused event dropped anything"
    );
    // signed, but not an event: 422 naming the field
    let r = deliver(&app, SECRET, "msg_bad", now(), "[\"profile.updated\"]").await;
    assert_eq!(r.status(), 422);
    let r = deliver(&app, SECRET, "msg_bad2", now(), &json!({"type": "links.updated", "timestamp": "2026-12-01T10:00:00Z", "data": {"username": "watched"}}).to_string()).await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["field"],
        "data.id"
    );

    // a good one: the cache entry goes, by username
    let r = deliver(&app, SECRET, "msg_1", now(), &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "accepted");
    assert_eq!(
        header(&app.get("/api/profiles/watched").await, "x-cache"),
        "MISS"
    );
    assert_eq!(
        header(&app.get("/api/profiles/watched").await, "x-cache"),
        "HIT"
    );
    // the same id again: 200, and nothing changes
    let r = deliver(&app, SECRET, "msg_1", now(), &body).await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "duplicate");
    assert_eq!(
        header(&app.get("/api/profiles/watched").await, "x-cache"),
        "HIT"
    );
    // by id: an event naming the profile by id under a name this instance has not cached (the
    // origin renamed it) still drops what is cached under the old name
    let r = deliver(
        &app,
        SECRET,
        "msg_2",
        now(),
        &event("profile.updated", &id, "renamed.there"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&app.get("/api/profiles/watched").await, "x-cache"),
        "MISS"
    );
    // a type this version does not know: acknowledged, ignored
    let r = deliver(
        &app,
        SECRET,
        "msg_3",
        now(),
        &json!({"type": "invoice.paid", "timestamp": "2026-12-01T10:00:00Z", "data": {}})
            .to_string(),
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ignored");
    assert!(
        app.metric(r#"linkleaf_webhooks_received_total{outcome="accepted"}"#)
            .await
            >= 2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_delivered_signed_and_retried_until_taken_once() {
    let app = TestApp::spawn_with(|c| {
        quick(c);
        c.webhooks.dispatch = false;
    })
    .await;
    let dispatcher = app.dispatcher();
    let key = app.root_key().await;
    let hook = Stand::start(Answer::FailFirst(2, 500)).await;
    let sub = subscribe(&app, &key, &hook.url("/in"), Some(vec!["profile.created"])).await;
    let secret = sub["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let p = app
        .create_profile(&key, json!({"username": "newcomer"}))
        .await;
    // a links change is not a type this subscription wants
    app.admin(reqwest::Method::PATCH, "/api/profiles/newcomer/links", &key)
        .json(&json!({"ops": [{"op": "add", "title": "a", "url": "https://a.example"}]}))
        .send()
        .await
        .unwrap();
    // stepped until the third attempt (each retry is due after its backoff, 50 ms at most)
    linkleaf_testkit::eventually("three attempts", Duration::from_secs(10), || async {
        dispatcher.step().await.unwrap();
        hook.count() >= 3
    })
    .await;
    let seen = hook.wait_for(3, Duration::from_secs(1)).await;
    let ids: Vec<&str> = seen
        .iter()
        .map(|s| s.headers["webhook-id"].to_str().unwrap())
        .collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one event, one id: {ids:?}"
    );
    let body: Value = serde_json::from_slice(&seen[2].body).unwrap();
    assert_eq!(body["type"], "profile.created");
    assert_eq!(body["data"]["id"], p["id"]);
    assert_eq!(seen[2].headers["content-type"], "application/json");
    // signed with the subscription's secret, as any Standard Webhooks receiver checks it
    let v = linkleaf_webhooks::Verifier::new(&secret).unwrap();
    assert_eq!(v.verify(&seen[2].headers, &seen[2].body), Ok(()));
    eventually("recorded as delivered", Duration::from_secs(5), || async {
        deliveries(&app, &key, sub["id"].as_str().unwrap())
            .await
            .first()
            .is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    let d = deliveries(&app, &key, sub["id"].as_str().unwrap()).await;
    assert_eq!(d.len(), 1, "only the type it wants");
    let statuses: Vec<i64> = d[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(d[0]["eventId"], ids[0]);
    // delivered once: a step finds nothing more to send
    assert_eq!(dispatcher.step().await.unwrap(), 0);
    assert_eq!(hook.count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_is_given_up_on_and_redirects_are_not_followed() {
    let app = TestApp::spawn_with(quick).await;
    let key = app.root_key().await;
    let silent = Stand::start(Answer::Hang).await;
    let elsewhere = Stand::start(Answer::Status(200)).await;
    let moving = Stand::start(Answer::Redirect(elsewhere.url("/stolen"))).await;
    let s1 = subscribe(&app, &key, &silent.url("/in"), None).await;
    let s2 = subscribe(&app, &key, &moving.url("/in"), None).await;
    app.create_profile(&key, json!({"username": "unheard"}))
        .await;
    for (sub, what) in [(&s1, "timed out"), (&s2, "redirected")] {
        eventually(
            &format!("the {what} delivery is dead after 3 attempts"),
            Duration::from_secs(10),
            || async {
                deliveries(&app, &key, sub["id"].as_str().unwrap())
                    .await
                    .first()
                    .is_some_and(|d| d["status"] == "dead")
            },
        )
        .await;
        let d = deliveries(&app, &key, sub["id"].as_str().unwrap()).await;
        let attempts = d[0]["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 3, "{d:#?}");
        for a in attempts {
            let e = a["error"].as_str().unwrap();
            match what {
                "timed out" => {
                    assert!(e.contains("no answer within"), "{e}");
                    assert!(a["latencyMs"].as_i64().unwrap() >= 290);
                }
                _ => {
                    assert_eq!(a["status"], 302);
                    assert!(e.contains("redirects are not followed"), "{e}");
                }
            }
        }
    }
    assert_eq!(silent.count(), 3);
    assert_eq!(moving.count(), 3);
    assert_eq!(elsewhere.count(), 0, "the redirect was never followed");
    assert_eq!(
        app.metric(r#"linkleaf_webhook_deliveries_total{outcome="dead"}"#)
            .await,
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_a_subscription_failing_for_long_is_disabled() {
    let app = TestApp::spawn_with(|c| {
        quick(c);
        c.webhooks.max_attempts = 50;
        c.webhooks.disable_after = std::time::Duration::from_secs(1);
    })
    .await;
    let key = app.root_key().await;
    let slow = Stand::start(Answer::TooMany(1)).await;
    let sub = subscribe(&app, &key, &slow.url("/in"), None).await;
    app.create_profile(&key, json!({"username": "patient"}))
        .await;
    let seen = slow.wait_for(2, Duration::from_secs(10)).await;
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After: 1 waited only {gap:?}"
    );
    // failing on and on, for longer than disable_after_secs: disabled, and no more attempts
    let id = sub["id"].as_str().unwrap().to_owned();
    eventually("disabled", Duration::from_secs(10), || async {
        let s: Value = app
            .admin(
                reqwest::Method::GET,
                &format!("/api/webhooks/subscriptions/{id}"),
                &key,
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        s["enabled"] == false
            && s["disabledReason"]
                .as_str()
                .is_some_and(|r| r.contains("failed"))
    })
    .await;
    let n = slow.count();
    // its delivery still pending comes due (past its Retry-After)...
    linkleaf_testkit::until(
        "the pending delivery comes due",
        Duration::from_secs(5),
        || async {
            let d = deliveries(&app, &key, &id).await;
            let next = d
                .iter()
                .find(|d| d["status"] == "pending")
                .and_then(|d| d["nextAttemptAt"].as_str())
                .map(|t| {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .unwrap()
                });
            match next {
                Some(t) if t <= time::OffsetDateTime::now_utc() => Ok(()),
                _ => Err(format!("{d:?}")),
            }
        },
    )
    .await;
    // ...and a step, with it due, sends nothing to a disabled subscription
    assert_eq!(app.dispatcher().step().await.unwrap(), 0);
    assert_eq!(slow.count(), n, "a disabled subscription gets nothing");
    // enabled again by its owner: the pending delivery goes out
    slow.set(Answer::Status(204));
    let r = app
        .admin(
            reqwest::Method::PATCH,
            &format!("/api/webhooks/subscriptions/{id}"),
            &key,
        )
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s: Value = r.json().await.unwrap();
    assert!(
        s.get("disabledReason").is_none() && s.get("failingSince").is_none(),
        "{s}"
    );
    eventually("delivered once enabled", Duration::from_secs(5), || async {
        deliveries(&app, &key, &id)
            .await
            .first()
            .is_some_and(|d| d["status"] == "delivered")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_old_one_and_subscriptions_refuse_bad_input() {
    let app = TestApp::spawn_with(quick).await;
    let key = app.root_key().await;
    let hook = Stand::start(Answer::Status(200)).await;
    let sub = subscribe(&app, &key, &hook.url("/in"), None).await;
    let id = sub["id"].as_str().unwrap();
    let old = sub["secret"].as_str().unwrap().to_owned();
    let r = app
        .admin(
            reqwest::Method::POST,
            &format!("/api/webhooks/subscriptions/{id}/rotate"),
            &key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated["previousSecretUntil"].is_string());
    app.create_profile(&key, json!({"username": "rotating"}))
        .await;
    let seen = hook.wait_for(1, Duration::from_secs(5)).await;
    let sig = seen[0].headers["webhook-signature"].to_str().unwrap();
    assert_eq!(sig.split(' ').count(), 2, "{sig}");
    for s in [&old, &new] {
        assert_eq!(
            linkleaf_webhooks::Verifier::new(s)
                .unwrap()
                .verify(&seen[0].headers, &seen[0].body),
            Ok(()),
            "either secret verifies during the overlap"
        );
    }
    // secrets are shown once: never listed
    let list: Value = app
        .admin(reqwest::Method::GET, "/api/webhooks/subscriptions", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains("whsec_"));
    // hostile and careless input
    for (body, field) in [
        (json!({"url": "javascript:alert(1)"}), "url"),
        (json!({"url": "https://user:pw@hooks.example/"}), "url"),
        (
            json!({"url": "https://hooks.example/", "events": []}),
            "events",
        ),
        (
            json!({"url": "https://hooks.example/", "events": ["profile.exploded"]}),
            "events[0]",
        ),
        (json!(["https://hooks.example/"]), ""),
        (json!({"url": "https://hooks.example/", "extra": 1}), ""),
    ] {
        let r = app
            .admin(reqwest::Method::POST, "/api/webhooks/subscriptions", &key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{body}");
        let p: Value = r.json().await.unwrap();
        if !field.is_empty() {
            assert_eq!(p["errors"][0]["field"], field, "{p}");
        }
    }
    for path in [
        "/api/webhooks/subscriptions/not-a-uuid",
        "/api/webhooks/subscriptions/00000000-0000-0000-0000-000000000000",
        "/api/webhooks/subscriptions/00000000-0000-0000-0000-000000000000/deliveries",
    ] {
        let r = app
            .admin(reqwest::Method::GET, path, &key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // the scope is required
    let weak = app.key("profile:read").await;
    let r = app
        .admin(reqwest::Method::GET, "/api/webhooks/subscriptions", &weak)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/api/webhooks/subscriptions/{id}"),
            &key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incoming_event_is_republished_to_this_instances_subscribers() {
    let app = TestApp::spawn_with(|c| {
        quick(c);
        c.webhooks.dispatch = false;
    })
    .await;
    let dispatcher = app.dispatcher();
    let key = app.root_key().await;
    let hook = Stand::start(Answer::Status(200)).await;
    subscribe(&app, &key, &hook.url("/in"), Some(vec!["links.updated"])).await;
    let id = uuid::Uuid::now_v7().to_string();
    let r = deliver(
        &app,
        SECRET,
        "msg_from_origin",
        now(),
        &event("links.updated", &id, "far.away"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(dispatcher.step().await.unwrap(), 1, "republished at once");
    let seen = hook.wait_for(1, Duration::from_secs(5)).await;
    let body: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(
        (body["type"].as_str(), body["data"]["id"].as_str()),
        (Some("links.updated"), Some(id.as_str()))
    );
    assert_eq!(body["data"]["username"], "far.away");
    // a redelivery of the same event is not republished again
    deliver(
        &app,
        SECRET,
        "msg_from_origin",
        now(),
        &event("links.updated", &id, "far.away"),
    )
    .await;
    // the redelivery was answered (so recorded) before this step: it left nothing to send
    assert_eq!(dispatcher.step().await.unwrap(), 0);
    assert_eq!(hook.count(), 1);
}

/// The reference implementation no one here wrote: Python's `standardwebhooks` signs an event
/// linkleaf accepts, and verifies a delivery linkleaf sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_python_package_signs_what_we_accept_and_verifies_what_we_send() {
    let Some(py) = python_standardwebhooks() else {
        return;
    };
    let app = TestApp::spawn_with(quick).await;
    let key = app.root_key().await;
    let p = app
        .create_profile(&key, json!({"username": "interop"}))
        .await;
    app.get("/api/profiles/interop").await;
    let body = event("profile.updated", p["id"].as_str().unwrap(), "interop");
    let signed = python(
        &py,
        "import sys, datetime\n\
         from standardwebhooks.webhooks import Webhook\n\
         ts = datetime.datetime.now(tz=datetime.timezone.utc)\n\
         print(int(ts.timestamp()))\n\
         print(Webhook(sys.argv[1]).sign('msg_py_1', ts, sys.argv[2]))",
        &[SECRET, &body],
    );
    let (ts, sig) = signed.split_once('\n').unwrap();
    let r = app
        .client
        .post(app.url("/api/webhooks"))
        .header("webhook-id", "msg_py_1")
        .header("webhook-timestamp", ts)
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        header(&app.get("/api/profiles/interop").await, "x-cache"),
        "MISS"
    );

    let hook = Stand::start(Answer::Status(200)).await;
    let sub = subscribe(&app, &key, &hook.url("/in"), None).await;
    app.admin(reqwest::Method::PATCH, "/api/profiles/interop", &key)
        .json(&json!({"bio": "checked in Python"}))
        .send()
        .await
        .unwrap();
    let seen = hook.wait_for(1, Duration::from_secs(5)).await;
    let h = |n: &str| seen[0].headers[n].to_str().unwrap().to_owned();
    let verified = python(
        &py,
        "import sys, json\n\
         from standardwebhooks.webhooks import Webhook\n\
         payload = Webhook(sys.argv[1]).verify(sys.argv[2], {'webhook-id': sys.argv[3], 'webhook-timestamp': sys.argv[4], 'webhook-signature': sys.argv[5]})\n\
         print(payload['type'])",
        &[
            sub["secret"].as_str().unwrap(),
            std::str::from_utf8(&seen[0].body).unwrap(),
            &h("webhook-id"),
            &h("webhook-timestamp"),
            &h("webhook-signature"),
        ],
    );
    assert_eq!(verified, "profile.updated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_owns_no_profiles_and_says_so() {
    let origin = TestApp::spawn().await;
    let edge = TestApp::spawn_with(|c| {
        c.origin.upstream_url = Some(origin.url(""));
    })
    .await;
    let key = edge.root_key().await;
    let id = uuid::Uuid::now_v7();
    for (m, path) in [
        (reqwest::Method::GET, "/api/profiles".to_owned()),
        (reqwest::Method::POST, "/api/profiles".to_owned()),
        (reqwest::Method::PATCH, "/api/profiles/someone".to_owned()),
        (reqwest::Method::DELETE, "/api/profiles/someone".to_owned()),
        (
            reqwest::Method::PATCH,
            "/api/profiles/someone/links".to_owned(),
        ),
        (reqwest::Method::GET, format!("/api/profiles/{id}")),
        (
            reqwest::Method::GET,
            "/api/profiles/someone/analytics".to_owned(),
        ),
    ] {
        let r = edge
            .admin(m.clone(), &path, &key)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 501, "{m} {path}");
        assert_eq!(header(&r, "content-type"), "application/problem+json");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["code"], "edge_mode", "{p}");
    }
    // what it does own answers as anywhere
    let r = edge
        .admin(reqwest::Method::POST, "/api/cache/invalidate/someone", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = edge
        .admin(reqwest::Method::GET, "/api/webhooks/subscriptions", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let started = Instant::now();
    assert_eq!(edge.get("/api/profiles/nobody.there").await.status(), 404);
    assert!(started.elapsed() < Duration::from_secs(1));
}
