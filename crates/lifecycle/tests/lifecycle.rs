//! The drain stops what listens to the stop signal, waits for short tasks, joins threads, and
//! names what outlived its deadline.

use linkleaf_lifecycle::Lifecycle;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use tokio::time::Instant;

#[tokio::test]
async fn a_drain_stops_tasks_waits_for_request_work_and_joins_threads() {
    let life = Lifecycle::new(Duration::from_secs(5));
    let stopped = Arc::new(AtomicU32::new(0));
    for _ in 0..3 {
        let (stop, stopped) = (life.stopping(), stopped.clone());
        life.spawn("listener of the stop signal", async move {
            stop.cancelled().await;
            stopped.fetch_add(1, Ordering::SeqCst);
        });
    }
    // work spawned per request finishes; it does not listen to the stop signal
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let finished = Arc::new(AtomicBool::new(false));
    life.tasks().spawn({
        let finished = finished.clone();
        async move {
            let _ = rx.await;
            finished.store(true, Ordering::SeqCst);
        }
    });
    let thread_done = Arc::new(AtomicBool::new(false));
    life.spawn_thread("worker", {
        let (stop, done) = (life.stopping(), thread_done.clone());
        move || {
            while !stop.is_cancelled() {
                std::thread::park_timeout(Duration::from_millis(1));
            }
            done.store(true, Ordering::SeqCst);
        }
    })
    .unwrap();
    let drain = tokio::spawn({
        let life = life.clone();
        async move { life.drain(Instant::now() + Duration::from_secs(5)).await }
    });
    // the drain is waiting on the request's work: let it finish
    tx.send(()).unwrap();
    let drained = drain.await.unwrap();
    assert!(drained.complete(), "{drained:?}");
    assert_eq!(stopped.load(Ordering::SeqCst), 3);
    assert!(finished.load(Ordering::SeqCst));
    assert!(thread_done.load(Ordering::SeqCst), "the thread was joined");
    assert!(life.is_stopping());
}

#[tokio::test]
async fn what_outlives_the_deadline_is_named() {
    let life = Lifecycle::new(Duration::from_millis(50));
    life.spawn("deaf", std::future::pending::<()>());
    let release = Arc::new(AtomicBool::new(false));
    life.spawn_thread("stubborn", {
        let release = release.clone();
        move || {
            while !release.load(Ordering::SeqCst) {
                std::thread::park_timeout(Duration::from_millis(1));
            }
        }
    })
    .unwrap();
    let drained = life.drain_within_grace().await;
    release.store(true, Ordering::SeqCst);
    assert_eq!(drained.tasks, vec!["deaf"]);
    assert_eq!(drained.unnamed_tasks, 0);
    assert_eq!(drained.threads, vec!["stubborn".to_owned()]);
}

#[tokio::test]
async fn a_stage_stops_before_the_whole_and_with_it() {
    let life = Lifecycle::new(Duration::from_secs(1));
    let (early, late) = (life.stage(), life.stage());
    early.cancel();
    assert!(!life.is_stopping(), "a stage stops alone");
    assert!(!late.is_cancelled());
    let drained = life.drain_within_grace().await;
    assert!(drained.complete());
    assert!(late.is_cancelled(), "the drain stops every stage");
}
