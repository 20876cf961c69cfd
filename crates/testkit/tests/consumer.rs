//! The consumer's one deterministic step (`take`, then `process_batch`), driven without timers
//! against real stores and queues: a window is committed once and acknowledged only after its
//! commit; a frame delivered again adds nothing; while the database cannot commit the window is
//! kept and nothing is acknowledged; a frame that cannot be processed is set aside (in process)
//! or dead-lettered at once (RabbitMQ) while the rest of its window counts.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use futures_util::FutureExt;
use linkleaf_domain::analytics::{AnalyticsQuery, Bucket};
use linkleaf_events::consumer::Consumer;
use linkleaf_events::event::{Event, Kind, encode_all};
use linkleaf_events::metrics::EventMetrics;
use linkleaf_events::queue::amqp::{AmqpSink, AmqpSource};
use linkleaf_events::queue::{FrameData, Message, Sink, inproc};
use linkleaf_lifecycle::Lifecycle;
use linkleaf_store::{AnalyticsStore, StoreOptions};
use linkleaf_testkit::services::{TempPostgres, TempQueue};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A frame of `n` human clicks on `link` of `profile`.
fn frame(source: Uuid, seq: u64, n: usize, profile: Uuid, link: Uuid) -> Message {
    let events: Vec<Event> = (0..n)
        .map(|i| Event {
            id: Uuid::now_v7(),
            kind: Kind::Click,
            profile,
            link: Some(link),
            at_ms: now_ms(),
            visitor: i as u64,
            country: "NL".into(),
            region: String::new(),
            referrer: String::new(),
            user_agent: linkleaf_testkit::load::BROWSER.into(),
            head: false,
            count: 1,
        })
        .collect();
    Message {
        source,
        frames: vec![FrameData {
            seq,
            count: n as u32,
            events: encode_all(&events).into(),
        }],
    }
}

async fn clicks(store: &dyn AnalyticsStore, profile: Uuid) -> i64 {
    let q = AnalyticsQuery::resolve(
        &linkleaf_domain::analytics::AnalyticsParams {
            from: None,
            to: None,
            bucket: Some(Bucket::Hour),
            time_zone: None,
        },
        linkleaf_domain::now_millis(),
        &linkleaf_domain::zone::Zone::utc(),
    )
    .unwrap();
    store.report(profile, &q).await.unwrap().totals.clicks
}

async fn sqlite(dir: &std::path::Path, busy_ms: u64) -> (String, Arc<dyn AnalyticsStore>) {
    let url = format!("sqlite://{}", dir.join("a.db").display());
    let stores = linkleaf_store::open(
        &url,
        &StoreOptions {
            busy_timeout: Duration::from_millis(busy_ms),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    stores.profiles.migrate().await.unwrap();
    (url, stores.analytics)
}

fn consumer(
    source: Box<dyn linkleaf_events::queue::Source>,
    store: Arc<dyn AnalyticsStore>,
) -> Consumer {
    Consumer::new(
        source,
        store,
        Duration::from_secs(10),
        1_000_000,
        Duration::from_secs(5),
        EventMetrics::noop(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_counts_once_is_acknowledged_after_its_commit_and_poison_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let (_, store) = sqlite(dir.path(), 5000).await;
    let (sink, source) = inproc::queue(100, dir.path().join("dead-letter"));
    let mut c = consumer(Box::new(source), store.clone());
    let (spool, profile, link) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());

    let mut confirms = Vec::new();
    for seq in 1..=3 {
        confirms.push(
            sink.publish(frame(spool, seq, 10, profile, link))
                .await
                .unwrap(),
        );
    }
    // and one that cannot be processed: it says 5 events, holds 2
    let mut poison = frame(spool, 4, 2, profile, link);
    poison.frames[0].count = 5;
    let poison_confirm = sink.publish(poison).await.unwrap();
    assert_eq!(c.take(100, Duration::from_secs(1)).await.unwrap(), 4);
    assert!(
        confirms.iter_mut().all(|f| f.now_or_never().is_none()),
        "nothing is acknowledged before its commit"
    );
    poison_confirm.await.unwrap();
    let set_aside = std::fs::read_dir(dir.path().join("dead-letter"))
        .unwrap()
        .count();
    assert_eq!(set_aside, 1, "the poison frame is kept aside, not lost");

    let out = c.process_batch().await.unwrap();
    assert_eq!((out.committed_frames, out.committed_events), (3, 30));
    for f in confirms {
        f.await.unwrap();
    }
    assert_eq!(clicks(store.as_ref(), profile).await, 30);

    // frame 2 again (a redelivery) beside a new frame 5
    let again = sink
        .publish(frame(spool, 2, 10, profile, link))
        .await
        .unwrap();
    let new = sink
        .publish(frame(spool, 5, 7, profile, link))
        .await
        .unwrap();
    assert_eq!(c.take(100, Duration::from_secs(1)).await.unwrap(), 2);
    let out = c.process_batch().await.unwrap();
    assert_eq!((out.committed_frames, out.committed_events), (1, 7));
    assert_eq!((out.duplicate_frames, out.duplicate_events), (1, 10));
    again.await.unwrap();
    new.await.unwrap();
    assert_eq!(clicks(store.as_ref(), profile).await, 37);

    // frames 4 to 7 sent again in one message (a forwarder that restarted batches anew):
    // 5 was counted, 4 was poison (set aside, never counted), 6 and 7 are new
    let mut batch = frame(spool, 4, 1, profile, link);
    for seq in 5..=7 {
        batch
            .frames
            .extend(frame(spool, seq, 2, profile, link).frames);
    }
    let confirm = sink.publish(batch).await.unwrap();
    c.take(100, Duration::from_secs(1)).await.unwrap();
    let out = c.process_batch().await.unwrap();
    assert_eq!(
        (out.committed_frames, out.duplicate_frames),
        (3, 1),
        "{out:?}"
    );
    confirm.await.unwrap();
    assert_eq!(clicks(store.as_ref(), profile).await, 37 + 1 + 2 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_cannot_commit_the_window_is_kept_and_nothing_is_acknowledged() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = sqlite(dir.path(), 50).await;
    let (sink, source) = inproc::queue(100, dir.path().join("dead-letter"));
    let mut c = consumer(Box::new(source), store.clone());
    let (spool, profile, link) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut confirm = sink
        .publish(frame(spool, 1, 25, profile, link))
        .await
        .unwrap();
    c.take(100, Duration::from_secs(1)).await.unwrap();

    // another process holds the write lock
    let mut locker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .unwrap();
    for _ in 0..3 {
        assert!(c.process_batch().await.is_err(), "the database is locked");
        assert!((&mut confirm).now_or_never().is_none(), "not acknowledged");
    }
    sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    let out = c.process_batch().await.unwrap();
    assert_eq!(out.committed_events, 25, "the kept window, committed once");
    confirm.await.unwrap();
    assert_eq!(clicks(store.as_ref(), profile).await, 25);
}

/// `analytics.max_pending_events`: a window the database cannot take is kept, and once it
/// holds that many events the consumer takes no more (the queue keeps them); after the
/// database is back every event counts once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_window_takes_no_more_than_max_pending_events() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = sqlite(dir.path(), 50).await;
    let (sink, source) = inproc::queue(100, dir.path().join("dead-letter"));
    let mut c = Consumer::new(
        Box::new(source),
        store.clone(),
        Duration::from_secs(10),
        30,
        Duration::from_secs(5),
        EventMetrics::noop(),
    );
    let (spool, profile, link) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut locker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .unwrap();
    let mut seq = 0;
    let mut publish = || {
        seq += 1;
        sink.publish(frame(spool, seq, 10, profile, link))
    };
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(publish().await.unwrap());
        c.take(100, Duration::from_secs(1)).await.unwrap();
        assert!(c.has_room(), "below the bound");
        assert!(c.process_batch().await.is_err(), "the database is locked");
    }
    held.push(publish().await.unwrap());
    c.take(100, Duration::from_secs(1)).await.unwrap();
    assert!(!c.has_room(), "30 events held: the bound is reached");
    assert!(c.process_batch().await.is_err(), "still locked");
    assert!(
        !c.has_room(),
        "a failed commit keeps the window, and the bound"
    );
    assert!(
        held.iter_mut().all(|f| f.now_or_never().is_none()),
        "nothing held is acknowledged"
    );
    // published meanwhile: stays in the queue while the consumer takes nothing
    let waiting = publish().await.unwrap();

    sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    let out = c.process_batch().await.unwrap();
    assert_eq!(out.committed_events, 30, "the kept window, once");
    for f in held {
        f.await.unwrap();
    }
    assert!(c.has_room());
    assert_eq!(c.take(100, Duration::from_secs(1)).await.unwrap(), 1);
    assert_eq!(c.process_batch().await.unwrap().committed_events, 10);
    waiting.await.unwrap();
    assert_eq!(clicks(store.as_ref(), profile).await, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_dead_letters_poison_at_once_and_the_other_frames_still_count() {
    let Some(q) = TempQueue::create().await else {
        return;
    };
    let Some(db) = TempPostgres::create().await else {
        return;
    };
    let stores = linkleaf_store::open(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    stores.profiles.migrate().await.unwrap();
    let store = stores.analytics.clone();
    let sink = AmqpSink::new(q.config(), &Lifecycle::new(Duration::from_secs(1)));
    let (spool, profile, link) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let good = sink
        .publish(frame(spool, 1, 12, profile, link))
        .await
        .unwrap();
    good.await.unwrap();
    // a message no frame decoder can read, published as any client could
    let bad = sink
        .publish(Message {
            source: spool,
            frames: vec![FrameData {
                seq: 2,
                count: 3,
                events: bytes::Bytes::from_static(b"\xff\xff not events"),
            }],
        })
        .await
        .unwrap();
    bad.await.unwrap();
    let good2 = sink
        .publish(frame(spool, 3, 8, profile, link))
        .await
        .unwrap();
    good2.await.unwrap();

    let mut c = consumer(
        Box::new(AmqpSource::new(
            q.config(),
            &Lifecycle::new(Duration::from_secs(1)),
        )),
        store.clone(),
    );
    // the poison is dead-lettered as soon as it is taken (a retry would fail alike); the good
    // frames count, in the window that took the poison or the next one: a take returns with
    // what has arrived, and the frame after the poison may not have yet (a loop of its own,
    // not `until`: each turn drives the consumer a step)
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut committed = 0;
    while committed < 20 || q.depth(&format!("{}.dlq", q.name)).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "after 20 s: {committed} events committed, the poison dead-lettered: {}",
            q.depth(&format!("{}.dlq", q.name)).await
        );
        c.take(100, Duration::from_millis(200)).await.unwrap();
        committed += c.process_batch().await.unwrap().committed_events;
    }
    assert_eq!(committed, 20, "the other frames count, once");
    assert_eq!(clicks(store.as_ref(), profile).await, 20);
    assert_eq!(q.depth(&format!("{}.dlq", q.name)).await, 1);
    // acknowledged: a new consumer gets nothing more
    drop(c);
    let mut c = consumer(
        Box::new(AmqpSource::new(
            q.config(),
            &Lifecycle::new(Duration::from_secs(1)),
        )),
        store.clone(),
    );
    assert_eq!(c.take(100, Duration::from_millis(500)).await.unwrap(), 0);
    assert_eq!(q.depth(&q.name).await, 0);
}

/// A message that decodes but whose events the database refuses (PostgreSQL cannot hold a NUL
/// in text) must not stall the window, nor the windows after it: the messages are committed one
/// by one, the refused one is set aside, the others count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_database_refuses_is_set_aside_and_the_window_counts() {
    let Some(db) = TempPostgres::create().await else {
        return;
    };
    let stores = linkleaf_store::open(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    stores.profiles.migrate().await.unwrap();
    let store = stores.analytics.clone();
    let dir = tempfile::tempdir().unwrap();
    let (sink, source) = inproc::queue(100, dir.path().join("dead-letter"));
    let mut c = consumer(Box::new(source), store.clone());
    let (spool, profile, link) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut confirms = Vec::new();
    for seq in 1..=2 {
        confirms.push(
            sink.publish(frame(spool, seq, 10, profile, link))
                .await
                .unwrap(),
        );
    }
    let mut refused = frame(spool, 3, 1, profile, link);
    let mut events = linkleaf_events::event::decode_all(&refused.frames[0].events).unwrap();
    events[0].referrer = "nul\0host".into();
    refused.frames[0].events = encode_all(&events).into();
    confirms.push(sink.publish(refused).await.unwrap());
    confirms.push(
        sink.publish(frame(spool, 4, 5, profile, link))
            .await
            .unwrap(),
    );
    assert_eq!(c.take(100, Duration::from_secs(1)).await.unwrap(), 4);
    let out = c.process_batch().await.unwrap();
    assert_eq!(out.committed_events, 25, "{out:?}");
    for f in confirms {
        f.await.unwrap();
    }
    assert_eq!(clicks(store.as_ref(), profile).await, 25);
    let set_aside = std::fs::read_dir(dir.path().join("dead-letter"))
        .unwrap()
        .count();
    assert_eq!(set_aside, 1, "the refused message is kept aside, not lost");
    // and the consumer goes on with the next window
    let next = sink
        .publish(frame(spool, 5, 3, profile, link))
        .await
        .unwrap();
    c.take(100, Duration::from_secs(1)).await.unwrap();
    assert_eq!(c.process_batch().await.unwrap().committed_events, 3);
    next.await.unwrap();
}

/// A database slow rather than gone: each commit that runs out of time doubles the next one's
/// deadline (to 16 times at most), so the window, which grows while it is retried, is still
/// taken; a success brings the deadline back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_runs_out_of_time_gets_more_time_next() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    // writers wait for the lock far longer than a commit's deadline
    let (url, store) = sqlite(dir.path(), 10_000).await;
    let (sink, source) = inproc::queue(100, dir.path().join("dead-letter"));
    let base = Duration::from_millis(20);
    let mut c = Consumer::new(
        Box::new(source),
        store.clone(),
        Duration::from_secs(10),
        1_000_000,
        base,
        EventMetrics::noop(),
    );
    let (spool, profile, link) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let confirm = sink
        .publish(frame(spool, 1, 5, profile, link))
        .await
        .unwrap();
    c.take(100, Duration::from_secs(1)).await.unwrap();
    let mut locker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .unwrap();
    for doubled in [2, 4, 8, 16, 16] {
        assert!(c.process_batch().await.is_err(), "locked: out of time");
        assert_eq!(c.deadline(), base * doubled);
    }
    sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    assert_eq!(c.process_batch().await.unwrap().committed_events, 5);
    assert_eq!(c.deadline(), base, "back after a success");
    confirm.await.unwrap();
    assert_eq!(clicks(store.as_ref(), profile).await, 5);
}
