//! `serve` on RabbitMQ (`queue.url`), its consumer inside: clicks go through the broker and are
//! counted; a message no consumer can process is dead-lettered at its first delivery, and the
//! dead-letter depth shows in `/metrics` and `/readyz` while the other events still count.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_lifecycle::Lifecycle;
use linkleaf_testkit::TestApp;
use linkleaf_testkit::load::{self, Load};
use linkleaf_testkit::services::TempQueue;
use serde_json::Value;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_is_dead_lettered_and_shown_while_clicks_count() {
    let Some(q) = TempQueue::create().await else {
        return;
    };
    let app = TestApp::spawn_with(|c| {
        c.queue.url = Some(linkleaf::config::Secret::new(q.url.clone()));
        c.queue.name = q.name.clone();
        c.analytics.window = std::time::Duration::from_secs_f64(0.05);
        c.analytics.cache_for = std::time::Duration::from_secs(0);
        c.rate_limit.per_minute = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
        c.rate_limit.burst = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
    })
    .await;
    let key = app.root_key().await;
    let base = app.url("");
    let made = load::profiles_with_links(&app.client, &base, &key, "mq", 2, 10).await;
    let links: Vec<String> = made.iter().flat_map(|(_, l)| l.clone()).collect();
    let profiles: Vec<String> = made.iter().map(|(p, _)| p.clone()).collect();

    // a message as anyone with access to the broker could publish it
    let (conn, ch) = q.channel().await;
    ch.basic_publish(
        "".into(),
        q.name.as_str().into(),
        Default::default(),
        b"not a frame at all, but long enough to look like one",
        Default::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let _ = conn.close(200, "done".into()).await;

    let plan = load::plan(&links, 50);
    let n = plan.len() as u64;
    let clicks = Load::start(Arc::new(RwLock::new(base.clone())), plan, 16)
        .finish()
        .await;
    assert_eq!(clicks.answered_total(), n);
    load::wait_for_total(
        &app.client,
        &base,
        &key,
        &profiles,
        n,
        Duration::from_secs(30),
    )
    .await;

    linkleaf_testkit::eventually(
        "the DLQ depth shows the poison",
        Duration::from_secs(30),
        || async { app.metric("linkleaf_dlq_depth").await == 1.0 },
    )
    .await;
    assert_eq!(q.depth(&format!("{}.dlq", q.name)).await, 1);
    assert_eq!(
        app.metric("linkleaf_frames_rejected_total").await,
        1.0,
        "rejected once, and dead-lettered: a retry would not decode it either"
    );
    let ready: Value = app
        .client
        .get(format!("http://{}/readyz", app.ops_addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let detail = ready["dependencies"]["queue"]["detail"].as_str().unwrap();
    assert!(detail.contains("dead-letter queue depth 1"), "{ready:#}");
    assert_eq!(ready["status"], "ready", "{ready:#}");
}

/// The broker unreachable (a blackholed link): redirects keep answering, the spool grows up to
/// `clicks.spool_max_bytes`, what comes past the bound is counted as dropped (never a failed
/// redirect); the broker back, the spool drains and every click it accepted is counted, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_broker_is_away_the_spool_grows_to_its_bound_and_redirects_answer() {
    use linkleaf_testkit::proxy::{FaultProxy, Mode};
    let Some(q) = TempQueue::create().await else {
        return;
    };
    let proxy = FaultProxy::start(q.broker()).await;
    let via = q.url_via(proxy.addr);
    let app = TestApp::spawn_with(|c| {
        c.queue.url = Some(linkleaf::config::Secret::new(via));
        c.queue.name = q.name.clone();
        c.analytics.window = std::time::Duration::from_secs_f64(0.05);
        c.analytics.cache_for = std::time::Duration::from_secs(0);
        c.clicks.segment_bytes = 4096;
        c.clicks.spool_max_bytes = 16_384;
        c.rate_limit.per_minute = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
        c.rate_limit.burst = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
    })
    .await;
    let key = app.root_key().await;
    let base = app.url("");
    let made = load::profiles_with_links(&app.client, &base, &key, "away", 2, 5).await;
    let links: Vec<String> = made.iter().flat_map(|(_, l)| l.clone()).collect();
    let profiles: Vec<String> = made.iter().map(|(p, _)| p.clone()).collect();
    proxy.set(Mode::Blackhole);
    // enough clicks to fill the spool several times over
    let plan = load::plan(&links, 200);
    let n = plan.len() as u64;
    let clicks = Load::start(Arc::new(RwLock::new(base.clone())), plan, 8)
        .finish()
        .await;
    assert_eq!(clicks.answered_total(), n, "every redirect answered");
    let dropped = app
        .metric(r#"linkleaf_events_dropped_total{reason="spool_full"}"#)
        .await;
    let bytes = app.metric("linkleaf_spool_bytes").await;
    assert!(dropped > 0.0, "the bound was reached");
    assert!(
        (16_384.0..16_384.0 + 8192.0).contains(&bytes),
        "the spool grew to its bound and no further: {bytes}"
    );
    assert!(app.metric("linkleaf_spool_backlog_frames").await > 0.0);
    // back: the spool drains, and what it took is counted
    proxy.set(Mode::Pass);
    let accepted = n - dropped as u64;
    load::wait_for_total(
        &app.client,
        &base,
        &key,
        &profiles,
        accepted,
        Duration::from_secs(60),
    )
    .await;
    linkleaf_testkit::eventually("the spool drains", Duration::from_secs(30), || async {
        app.metric("linkleaf_spool_backlog_frames").await == 0.0
    })
    .await;
}

/// With RabbitMQ, every change (and every incoming event taken) is republished on the topic
/// exchange `{queue.name}.changes` for other consumers, routed by its type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_and_incoming_events_are_republished_for_other_consumers() {
    use lapin::options::{
        BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
    };
    let Some(q) = TempQueue::create().await else {
        return;
    };
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let app = TestApp::spawn_with(|c| {
        c.queue.url = Some(linkleaf::config::Secret::new(q.url.clone()));
        c.queue.name = q.name.clone();
        c.webhooks.verifier = std::sync::Arc::new(
            linkleaf_webhooks::Verifier::new(SECRET).expect("a webhook secret"),
        );
    })
    .await;
    // another consumer, listening before anything happens
    let (conn, ch) = q.channel().await;
    let exchange = format!("{}.changes", q.name);
    ch.exchange_declare(
        exchange.as_str().into(),
        lapin::ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        Default::default(),
    )
    .await
    .unwrap();
    let mine = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    ch.queue_bind(
        mine.name().clone(),
        exchange.as_str().into(),
        "profile.*".into(),
        QueueBindOptions::default(),
        Default::default(),
    )
    .await
    .unwrap();
    let key = app.root_key().await;
    let p = app
        .create_profile(&key, serde_json::json!({"username": "broadcast"}))
        .await;
    app.admin(reqwest::Method::PATCH, "/api/profiles/broadcast", &key)
        .json(&serde_json::json!({"bio": "news"}))
        .send()
        .await
        .unwrap();
    // links.updated is not what this consumer bound
    app.admin(
        reqwest::Method::PATCH,
        "/api/profiles/broadcast/links",
        &key,
    )
    .json(&serde_json::json!({"ops": [{"op": "add", "title": "a", "url": "https://a.example"}]}))
    .send()
    .await
    .unwrap();
    let body = serde_json::json!({"type": "profile.deleted", "timestamp": "2026-12-01T10:00:00Z",
        "data": {"id": uuid::Uuid::now_v7(), "username": "elsewhere"}})
    .to_string();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig =
        linkleaf_webhooks::sign::sign(&[SECRET.into()], "msg_in", ts, body.as_bytes()).unwrap();
    let r = app
        .client
        .post(app.url("/api/webhooks"))
        .header("webhook-id", "msg_in")
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut got: Vec<(String, Value)> = Vec::new();
    // a loop of its own, not `until`: it gathers what each look takes off the queue
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 3 {
        assert!(Instant::now() < deadline, "received {got:#?}");
        match ch
            .basic_get(mine.name().clone(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            Some(m) => got.push((
                m.delivery.routing_key.to_string(),
                serde_json::from_slice(&m.delivery.data).unwrap(),
            )),
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let kinds: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["profile.created", "profile.updated", "profile.deleted"]
    );
    assert_eq!(got[0].1["data"]["id"], p["id"]);
    assert_eq!(
        got[2].1["data"]["username"], "elsewhere",
        "the incoming event, republished"
    );
    let _ = conn.close(200, "done".into()).await;
}

/// A dead link to the broker (a blackhole: the socket open, nothing answering) must not hold the
/// forwarder's publisher forever: the confirm fails within `CONFIRM_TIMEOUT` (or the publish
/// within `CALL_TIMEOUT`), and once the link is back a new connection publishes again. Without
/// these deadlines the confirm waits for lapin's heartbeat, a minute or more, and a future
/// lapin leaves unsettled would wait forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_link_fails_the_publish_in_time_and_a_new_connection_takes_over() {
    use linkleaf_events::queue::amqp::{AmqpSink, CALL_TIMEOUT, CONFIRM_TIMEOUT};
    use linkleaf_events::queue::{FrameData, Message, Sink};
    use linkleaf_testkit::proxy::{FaultProxy, Mode};
    let Some(q) = TempQueue::create().await else {
        return;
    };
    let proxy = FaultProxy::start(q.broker()).await;
    let mut cfg = q.config();
    cfg.url = linkleaf_domain::Secret::new(q.url_via(proxy.addr));
    let sink = AmqpSink::new(cfg, &Lifecycle::new(Duration::from_secs(1)));
    let source = uuid::Uuid::now_v7();
    let message = |seq: u64| Message {
        source,
        frames: vec![FrameData {
            seq,
            count: 1,
            events: bytes::Bytes::from_static(b"an event, as the spool holds it"),
        }],
    };
    let publish = |seq: u64| {
        let sink = &sink;
        async move { sink.publish(message(seq)).await?.await }
    };
    publish(1).await.expect("the link is up");

    proxy.set(Mode::Blackhole);
    let started = Instant::now();
    let r = tokio::time::timeout(
        CALL_TIMEOUT + CONFIRM_TIMEOUT + Duration::from_secs(5),
        publish(2),
    )
    .await
    .expect("the publish on a dead link was still waiting past its deadlines");
    assert!(r.is_err(), "nothing answered, yet: {r:?}");
    eprintln!(
        "the publish on the dead link failed after {:?}: {r:?}",
        started.elapsed()
    );

    proxy.set(Mode::Pass);
    // a loop of its own, not `until`: each try is a new publish with a deadline of its own
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seq = 3;
    loop {
        match tokio::time::timeout(Duration::from_secs(20), publish(seq)).await {
            Ok(Ok(())) => break,
            Ok(Err(e)) => assert!(Instant::now() < deadline, "never published again: {e}"),
            Err(_) => panic!("a publish after the link came back waited 20 s"),
        }
        seq += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // both confirmed messages are in the queue (those that failed may have arrived too: the
    // forwarder sends them again, and the consumer recognises them)
    let depth = q.depth(&q.name).await;
    assert!(depth >= 2, "depth {depth}");
}
