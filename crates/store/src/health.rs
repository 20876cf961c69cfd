//! Whether the database takes writes: the outcome of the last real writes, a small heartbeat
//! write committed at most every `HEARTBEAT_EVERY` when readiness asks, and (SQLite) whether
//! the database file is still the one the process opened.
//!
//! A read proves little about writes: a full disk, a read-only file or a broken transaction
//! state lets `SELECT 1` pass while every write fails; and a rolled-back write never reaches a
//! WAL database's disk. So readiness commits a real write, and every write the service makes
//! reports its outcome here. A busy database (SQLite's `SQLITE_BUSY`, PostgreSQL's lock and
//! serialization failures, a pool with no free connection) is load, not failure: it is not
//! recorded. Must not: retry, or decide what a caller does about a failure.

use crate::error::ErrorClass;
use crate::seam::Classified;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// The heartbeat is written at most this often; readiness in between reports the last one.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(3);

/// A failed write keeps the instance degraded until a write commits, or for this long (while
/// the heartbeat commits): a service may not write again soon after its disk is cleared.
const FAILURE_MEMORY_MS: i64 = 60_000;

/// A heartbeat still waiting for the write lock after this long is left (the database is busy
/// with other writers, which is load, not failure).
pub const HEARTBEAT_DEADLINE: Duration = Duration::from_millis(500);

/// The database's state, as `/readyz` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbHealth {
    /// Why the instance must not get traffic: the database does not answer, or (SQLite) its
    /// file was deleted or replaced under the running process.
    pub unavailable: Option<String>,
    /// Why writes are failing (the last write, real or heartbeat, failed); the instance is
    /// degraded and keeps serving what it has cached.
    pub failing_writes: Option<String>,
    /// When the heartbeat last committed (ms since the epoch).
    pub heartbeat_ok_ms: Option<i64>,
    /// When a write last committed, and the last failure (ms, cause).
    pub last_write_ok_ms: Option<i64>,
    pub last_write_failure: Option<(i64, String)>,
}

#[derive(Default)]
pub(crate) struct WriteHealth {
    /// When a write last committed (0: none yet).
    last_ok_ms: AtomicI64,
    /// When the heartbeat last committed (0: not yet), and why the last one failed if it did.
    heartbeat_ok_ms: AtomicI64,
    heartbeat_failure: Mutex<Option<(i64, String)>>,
    last_failure: Mutex<Option<(i64, String)>>,
    /// SQLite: why the database file is not the one opened (sticky: only a restart helps).
    replaced: Mutex<Option<String>>,
    /// The last heartbeat: when it ran and how it went.
    pub(crate) heartbeat: tokio::sync::Mutex<Option<(Instant, Result<i64, String>)>>,
}

fn now_ms() -> i64 {
    linkleaf_domain::unix_millis(linkleaf_domain::now_millis())
}

impl WriteHealth {
    pub(crate) fn succeeded(&self) {
        self.last_ok_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// A write failed: recorded unless the database was merely busy.
    pub(crate) fn failed(&self, e: &Classified) {
        if e.class == Some(ErrorClass::Busy) {
            return;
        }
        let mut last = self.last_failure.lock().unwrap_or_else(|p| p.into_inner());
        *last = Some((now_ms(), e.error.to_string()));
    }

    /// The database file is not the one opened: said once, loudly; then every write is refused.
    pub(crate) fn replaced(&self, why: String) {
        let mut r = self.replaced.lock().unwrap_or_else(|p| p.into_inner());
        if r.is_none() {
            tracing::error!(
                error = %why,
                "the database file was deleted or replaced under the running process: writes are \
                 refused and the instance is not ready (what was written since would vanish at \
                 the next restart); restore the file or restart"
            );
            *r = Some(why);
        }
    }

    pub(crate) fn replaced_why(&self) -> Option<String> {
        self.replaced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn beat(&self, at_ms: i64, outcome: &Result<i64, String>) {
        let mut failure = self
            .heartbeat_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(_) => {
                self.heartbeat_ok_ms.store(at_ms, Ordering::Relaxed);
                *failure = None;
            }
            Err(why) => *failure = Some((at_ms, why.clone())),
        }
    }

    /// A real write committed after the last heartbeat failed: the failure is news no more.
    pub(crate) fn wrote_since_heartbeat_failed(&self) -> bool {
        let ok = self.last_ok_ms.load(Ordering::Relaxed);
        self.heartbeat_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|(at, _)| ok > *at)
    }

    /// The state, given whether the database answered a read.
    pub(crate) fn state(&self, ping: Result<(), String>) -> DbHealth {
        let beat = self.heartbeat_ok_ms.load(Ordering::Relaxed);
        let heartbeat_ok_ms = (beat > 0).then_some(beat);
        let ok = self.last_ok_ms.load(Ordering::Relaxed);
        let last_ok = (ok > 0).then_some(ok);
        let failure = self
            .last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let heartbeat_failure = self
            .heartbeat_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // the last real write failed (lately, with none committed since), or the heartbeat did
        // (with no real write committed since: one that was proves the database takes writes)
        let failing_writes = match (&failure, last_ok) {
            (Some((at, why)), ok)
                if ok.is_none_or(|ok| *at >= ok) && now_ms() - at < FAILURE_MEMORY_MS =>
            {
                Some(why.clone())
            }
            _ => heartbeat_failure
                .filter(|(at, _)| last_ok.is_none_or(|ok| ok <= *at))
                .map(|(_, why)| format!("the heartbeat write failed: {why}")),
        };
        let unavailable = self.replaced_why().or_else(|| {
            ping.err()
                .map(|e| format!("the database does not answer: {e}"))
        });
        DbHealth {
            unavailable,
            failing_writes,
            heartbeat_ok_ms,
            last_write_ok_ms: last_ok,
            last_write_failure: failure,
        }
    }
}

/// Whether the database answers and takes writes (see `health`).
#[async_trait::async_trait]
pub trait DatabaseHealth: Send + Sync + 'static {
    /// Pings the database, commits the heartbeat when it is due, and tells the state.
    async fn health(&self) -> DbHealth;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_committed_after_a_failed_heartbeat_clears_it() {
        let h = WriteHealth::default();
        h.beat(now_ms() - 1_000, &Err("disk full".into()));
        assert!(h.state(Ok(())).failing_writes.is_some(), "nothing since");
        h.succeeded();
        assert_eq!(
            h.state(Ok(())).failing_writes,
            None,
            "a real write went in since the heartbeat failed"
        );
        h.beat(now_ms() + 1_000, &Err("disk full again".into()));
        assert!(
            h.state(Ok(())).failing_writes.is_some(),
            "a later failure counts"
        );
    }
}
