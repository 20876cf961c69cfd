//! One lifecycle for a process: a stop signal, every background task and thread started through
//! it, and one drain that stops them all within a grace period and joins every thread.
//!
//! - `spawn` starts a named background task (a forwarder, a consumer, a subscriber); `tasks`
//!   hands out the tracker itself for short work spawned per request (a batch of clicks, a
//!   write that finishes after its client left, a webhook delivery), which the drain waits for
//!   too, unnamed.
//! - `spawn_thread` starts an OS thread (the spool's writer, its fsync and view threads); the
//!   drain joins it. A thread must end on its own once `stopping` is cancelled or what feeds it
//!   is closed: a thread cannot be cut short.
//! - `stage` gives a token cancelled with the whole or earlier by its holder, for the parts
//!   that stop in an order (the main listener before the spool closes, the spool before the
//!   operations listener).
//! - `drain` cancels the stop signal, waits for every task until the deadline, then joins the
//!   threads until the same deadline, and says what was still running when it passed: what a
//!   deadline cuts off must be safe to cut (ARCHITECTURE.md says why, task by task).
//!
//! Must not: know what the tasks do, or decide when the process stops (the binary does, on a
//! signal).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The process's lifecycle; clones share it.
#[derive(Clone)]
pub struct Lifecycle {
    inner: Arc<Inner>,
}

struct Inner {
    stop: CancellationToken,
    tasks: TaskTracker,
    grace: Duration,
    /// Named tasks running now, by name (a name may run more than once).
    running: Mutex<BTreeMap<&'static str, usize>>,
    threads: Mutex<Vec<(String, std::thread::JoinHandle<()>)>>,
}

/// What a drain left behind when its deadline passed (empty when everything stopped).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Named tasks still running, and how many unnamed ones.
    pub tasks: Vec<&'static str>,
    pub unnamed_tasks: usize,
    /// Threads not joined.
    pub threads: Vec<String>,
}

impl Drained {
    /// Whether everything stopped in time.
    pub fn complete(&self) -> bool {
        self.tasks.is_empty() && self.unnamed_tasks == 0 && self.threads.is_empty()
    }
}

/// Takes a named task off the running list when it ends (or is dropped, cut off).
struct Running {
    life: Arc<Inner>,
    name: &'static str,
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut r = self
            .life
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = r.get_mut(self.name) {
            *n -= 1;
            if *n == 0 {
                r.remove(self.name);
            }
        }
    }
}

impl Lifecycle {
    /// A lifecycle whose drain gives its tasks and threads `grace`.
    pub fn new(grace: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                stop: CancellationToken::new(),
                tasks: TaskTracker::new(),
                grace,
                running: Mutex::default(),
                threads: Mutex::default(),
            }),
        }
    }

    /// `server.shutdown_grace_secs`: how long a drain waits, from the stop request.
    pub fn grace(&self) -> Duration {
        self.inner.grace
    }

    /// Cancelled when the process stops: every background task and thread listens to it.
    pub fn stopping(&self) -> CancellationToken {
        self.inner.stop.clone()
    }

    /// A token cancelled when the process stops, or earlier by whoever holds it.
    pub fn stage(&self) -> CancellationToken {
        self.inner.stop.child_token()
    }

    /// Whether the stop was asked for.
    pub fn is_stopping(&self) -> bool {
        self.inner.stop.is_cancelled()
    }

    /// Starts `fut` as a named background task that the drain waits for.
    pub fn spawn<F>(&self, name: &'static str, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        *self
            .inner
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name)
            .or_default() += 1;
        let running = Running {
            life: self.inner.clone(),
            name,
        };
        self.inner.tasks.spawn(async move {
            let _running = running;
            fut.await
        })
    }

    /// The tracker, for short tasks spawned per request: the drain waits for them too.
    pub fn tasks(&self) -> TaskTracker {
        self.inner.tasks.clone()
    }

    /// Starts `f` on an OS thread named `name`, which the drain joins.
    pub fn spawn_thread<F>(&self, name: &str, f: F) -> std::io::Result<()>
    where
        F: FnOnce() + Send + 'static,
    {
        let handle = std::thread::Builder::new().name(name.to_owned()).spawn(f)?;
        self.inner
            .threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((name.to_owned(), handle));
        Ok(())
    }

    /// Stops everything: cancels the stop signal, waits for every task, then joins every
    /// thread, all before `deadline`; returns what was left when it passed.
    pub async fn drain(&self, deadline: Instant) -> Drained {
        self.inner.stop.cancel();
        self.inner.tasks.close();
        let tasks_done = tokio::time::timeout_at(deadline, self.inner.tasks.wait())
            .await
            .is_ok();
        let mut drained = Drained::default();
        if !tasks_done {
            drained.tasks = self
                .inner
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .keys()
                .copied()
                .collect();
            let named: usize = self
                .inner
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .sum();
            drained.unnamed_tasks = self.inner.tasks.len().saturating_sub(named);
        }
        let threads = std::mem::take(
            &mut *self
                .inner
                .threads
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for (name, handle) in threads {
            // polled, not joined on a blocking thread: a thread past the deadline is left to
            // the process's exit, and no blocking task keeps the runtime from shutting down
            while !handle.is_finished() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if !handle.is_finished() {
                drained.threads.push(name);
            } else if handle.join().is_err() {
                tracing::error!(thread = %name, "a thread panicked");
            }
        }
        if drained.complete() {
            tracing::debug!("every task and thread stopped");
        } else {
            tracing::warn!(
                tasks = ?drained.tasks,
                unnamed_tasks = drained.unnamed_tasks,
                threads = ?drained.threads,
                "the drain deadline passed with these still running; what they held is delivered again"
            );
        }
        drained
    }

    /// `drain` within the grace period from now.
    pub async fn drain_within_grace(&self) -> Drained {
        self.drain(Instant::now() + self.inner.grace).await
    }
}
