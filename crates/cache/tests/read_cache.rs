//! The read path's rules, driven with a scripted origin and tokio's paused clock (no sleeps).

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use async_trait::async_trait;
use linkleaf_cache::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq)]
struct Val(String);
impl Weigh for Val {
    fn weight(&self) -> u32 {
        self.0.len() as u32
    }
    /// A value written `text@<ms>` ends at that wall-clock time (a scheduled link's boundary).
    fn expires_at_ms(&self) -> Option<u64> {
        self.0.split_once('@').and_then(|(_, end)| end.parse().ok())
    }
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// An origin whose contents, failures and speed the test controls.
#[derive(Default)]
struct Origin {
    data: Mutex<HashMap<String, (Uuid, String)>>,
    failing: std::sync::atomic::AtomicBool,
    loads: AtomicUsize,
    /// When set, each load waits for a permit.
    gate: Mutex<Option<Arc<Semaphore>>>,
}

impl Origin {
    fn put(&self, k: &str, owner: Uuid, v: &str) {
        self.data
            .lock()
            .unwrap()
            .insert(k.into(), (owner, v.into()));
    }
    fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
    fn gate(&self) -> Arc<Semaphore> {
        let s = Arc::new(Semaphore::new(0));
        *self.gate.lock().unwrap() = Some(s.clone());
        s
    }
}

#[async_trait]
impl Loader<Val> for Origin {
    async fn load(&self, key: &str) -> Result<Option<Loaded<Val>>, LoadError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        // Read first, then wait: a slow answer carries what the origin held when it was asked.
        let found = self.data.lock().unwrap().get(key).cloned();
        let failing = self.failing.load(Ordering::SeqCst);
        let gate = self.gate.lock().unwrap().clone();
        if let Some(g) = gate {
            g.acquire().await.unwrap().forget();
        }
        if failing {
            return Err(LoadError::unavailable("origin down"));
        }
        Ok(found.map(|(owner, v)| Loaded::new(owner, Val(v))))
    }
}

const FRESH: Duration = Duration::from_secs(120);
const STALE: Duration = Duration::from_secs(600);
const NEGATIVE: Duration = Duration::from_secs(30);

fn cache(origin: &Arc<Origin>) -> ReadCache<Val> {
    let policy = Policy {
        fresh: FRESH,
        stale: STALE,
        negative: NEGATIVE,
        retry_after_error: Duration::from_secs(5),
        max_weight: 1 << 20,
    };
    ReadCache::new(policy, origin.clone(), CacheMetrics::noop())
}

fn val(r: &Read<Val>) -> Option<&str> {
    r.entry.value().map(|v| v.0.as_str())
}

/// Lets spawned tasks (background refreshes) run to completion.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_miss_loads_once_then_hits() {
    let o = Arc::new(Origin::default());
    o.put("alice", Uuid::now_v7(), "v1");
    let c = cache(&o);
    let r = c.get("alice").await.unwrap();
    assert_eq!((r.status, val(&r)), (Status::Miss, Some("v1")));
    let r = c.get("alice").await.unwrap();
    assert_eq!((r.status, val(&r)), (Status::Hit, Some("v1")));
    assert_eq!(o.loads(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_misses_make_one_origin_load() {
    let o = Arc::new(Origin::default());
    o.put("alice", Uuid::now_v7(), "v1");
    let gate = o.gate();
    let c = cache(&o);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                c.get("alice")
                    .await
                    .map(|r| (r.status, val(&r).map(str::to_owned)))
            })
        })
        .collect();
    // hold the origin until every one of the hundred waits on the one load, then let it finish
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while c.waiting("alice") < 100 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of 100 wait on one load (loads: {})",
            c.waiting("alice"),
            o.loads()
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(o.loads(), 1, "one load started for the hundred");
    gate.add_permits(1000);
    for t in tasks {
        let (status, v) = t.await.unwrap().unwrap();
        assert_eq!(v.as_deref(), Some("v1"));
        assert_ne!(status, Status::Stale);
    }
    assert_eq!(
        o.loads(),
        1,
        "single-flight: one load for one hundred misses"
    );
}

#[tokio::test(start_paused = true)]
async fn stale_entries_are_served_at_once_while_one_refresh_runs() {
    let o = Arc::new(Origin::default());
    o.put("alice", Uuid::now_v7(), "v1");
    let c = cache(&o);
    c.get("alice").await.unwrap();
    o.put("alice", Uuid::now_v7(), "v2");
    tokio::time::advance(FRESH + Duration::from_secs(1)).await;
    let gate = o.gate();
    for _ in 0..20 {
        let r = c.get("alice").await.unwrap();
        assert_eq!((r.status, val(&r)), (Status::Stale, Some("v1")));
    }
    settle().await;
    assert_eq!(
        o.loads(),
        2,
        "one background refresh, however many stale reads"
    );
    gate.add_permits(1);
    settle().await;
    let r = c.get("alice").await.unwrap();
    assert_eq!((r.status, val(&r)), (Status::Hit, Some("v2")));
}

#[tokio::test(start_paused = true)]
async fn a_failing_origin_keeps_the_stale_entry_until_its_limit() {
    let o = Arc::new(Origin::default());
    o.put("alice", Uuid::now_v7(), "v1");
    let c = cache(&o);
    c.get("alice").await.unwrap();
    o.failing.store(true, Ordering::SeqCst);
    tokio::time::advance(FRESH + Duration::from_secs(1)).await;
    let r = c.get("alice").await.unwrap();
    assert_eq!((r.status, val(&r)), (Status::Stale, Some("v1")));
    settle().await;
    assert_eq!(o.loads(), 2);
    // the failed refresh is not retried on every read
    for _ in 0..10 {
        assert_eq!(c.get("alice").await.unwrap().status, Status::Stale);
    }
    settle().await;
    assert_eq!(o.loads(), 2, "no retry before retry_after_error");
    tokio::time::advance(Duration::from_secs(6)).await;
    c.get("alice").await.unwrap();
    settle().await;
    assert_eq!(o.loads(), 3, "retried after retry_after_error");
    // past the stale limit nothing is served
    tokio::time::advance(STALE).await;
    assert!(c.get("alice").await.is_err());
    // a miss with the origin down is an error, not a hang
    assert!(c.get("bob").await.is_err());
}

#[tokio::test(start_paused = true)]
async fn unknown_keys_are_remembered_briefly() {
    let o = Arc::new(Origin::default());
    let c = cache(&o);
    let r = c.get("ghost").await.unwrap();
    assert_eq!((r.status, val(&r)), (Status::Miss, None));
    let r = c.get("ghost").await.unwrap();
    assert_eq!((r.status, val(&r)), (Status::Hit, None));
    assert_eq!(o.loads(), 1);
    o.put("ghost", Uuid::now_v7(), "now here");
    tokio::time::advance(NEGATIVE + Duration::from_secs(1)).await;
    let r = c.get("ghost").await.unwrap();
    assert_eq!(
        (r.status, val(&r)),
        (Status::Miss, Some("now here")),
        "negative entries are never served stale"
    );
}

#[tokio::test(start_paused = true)]
async fn invalidation_by_key_and_by_owner() {
    let o = Arc::new(Origin::default());
    let id = Uuid::now_v7();
    o.put("alice", id, "v1");
    o.put("bob", Uuid::now_v7(), "b1");
    let c = cache(&o);
    c.get("alice").await.unwrap();
    c.get("bob").await.unwrap();
    c.get("ghost").await.unwrap();

    o.put("alice", id, "v2");
    c.invalidate(&Invalidation {
        keys: vec![],
        owner: Some(id),
    });
    let r = c.get("alice").await.unwrap();
    assert_eq!(
        (r.status, val(&r)),
        (Status::Miss, Some("v2")),
        "found by owner id"
    );
    assert_eq!(
        c.get("bob").await.unwrap().status,
        Status::Hit,
        "others untouched"
    );

    o.put("ghost", Uuid::now_v7(), "created");
    c.invalidate(&Invalidation {
        keys: vec!["ghost".into()],
        owner: None,
    });
    assert_eq!(
        val(&c.get("ghost").await.unwrap()),
        Some("created"),
        "negative entries go too"
    );

    c.clear();
    assert_eq!(c.get("bob").await.unwrap().status, Status::Miss);
}

#[tokio::test(start_paused = true)]
async fn a_load_racing_a_write_does_not_store_what_it_read_before_the_write() {
    let o = Arc::new(Origin::default());
    let id = Uuid::now_v7();
    o.put("alice", id, "old");
    let c = cache(&o);
    let gate = o.gate();
    let reader = tokio::spawn({
        let c = c.clone();
        async move { c.get("alice").await.map(|r| val(&r).map(str::to_owned)) }
    });
    while o.loads() == 0 {
        tokio::task::yield_now().await;
    }
    // The load has read "old" and is slow to answer. Meanwhile a write commits, then invalidates.
    *o.gate.lock().unwrap() = None;
    o.put("alice", id, "new");
    c.invalidate(&Invalidation {
        keys: vec!["alice".into()],
        owner: Some(id),
    });
    // A request arriving after the write must not join the old flight.
    let after = tokio::time::timeout(Duration::from_secs(1), c.get("alice"))
        .await
        .expect("a read after the write must not wait on the flight that began before it")
        .unwrap();
    assert_eq!(val(&after), Some("new"));
    gate.add_permits(1);
    assert_eq!(
        reader.await.unwrap().unwrap().as_deref(),
        Some("new"),
        "the racing load read again"
    );
    settle().await;
    let r = c.get("alice").await.unwrap();
    assert_eq!(
        (r.status, val(&r)),
        (Status::Hit, Some("new")),
        "the old flight stored nothing stale"
    );
}

/// A value with a hard end is fresh, then stale, only up to it; past it, a read loads again,
/// and while the origin fails it answers the failure rather than the value it has (nothing is
/// served stale across the end, not even on error).
#[tokio::test(start_paused = true)]
async fn nothing_is_served_past_a_value_s_hard_end() {
    let o = Arc::new(Origin::default());
    let owner = Uuid::now_v7();
    // ends in 5 s of this (paused) clock: the entry reads the wall clock's distance once
    let before = format!("before@{}", wall_ms() + 5_000);
    o.put("jane", owner, &before);
    let c = cache(&o);
    let r = c.get("jane").await.unwrap();
    assert_eq!((r.status, val(&r)), (Status::Miss, Some(before.as_str())));
    tokio::time::advance(Duration::from_millis(4_900)).await;
    let r = c.get("jane").await.unwrap();
    assert_eq!(r.status, Status::Hit, "fresh up to its end");
    assert!(c.get_fresh("jane", tokio::time::Instant::now()).is_some());
    tokio::time::advance(Duration::from_millis(200)).await;
    assert!(c.get_fresh("jane", tokio::time::Instant::now()).is_none());
    assert!(!c.holds("jane"), "not even stale");
    o.failing.store(true, Ordering::SeqCst);
    assert!(
        c.get("jane").await.is_err(),
        "no stale-if-error across the end"
    );
    o.failing.store(false, Ordering::SeqCst);
    o.put("jane", owner, "after");
    let r = c.get("jane").await.unwrap();
    assert_eq!((r.status, val(&r)), (Status::Miss, Some("after")));
    tokio::time::advance(FRESH - Duration::from_secs(1)).await;
    assert_eq!(c.get("jane").await.unwrap().status, Status::Hit);
}

/// A load that began before a value's end and finished after it answers the reads that were
/// waiting before the end, but a read that came after the end loads again.
#[tokio::test(start_paused = true)]
async fn a_read_after_the_end_does_not_take_a_load_made_before_it() {
    let o = Arc::new(Origin::default());
    let owner = Uuid::now_v7();
    // already past its end by the time it is stored
    o.put(
        "jane",
        owner,
        &format!("before@{}", wall_ms().saturating_sub(1)),
    );
    let c = cache(&o);
    let loads = o.loads();
    let r = c.get("jane").await.unwrap();
    assert_eq!(o.loads(), loads + 2, "loaded again once");
    assert_eq!(r.status, Status::Miss);
}
