//! What the spool's parts share: its settings (`SpoolConfig`, `Fsync`), why a click is refused,
//! the jobs the writer takes, and `Shared`, the state the writer, the reader and every handle
//! hold (identity, next sequence number, bytes on disk, the last write failure). Must not:
//! write or read a frame.

use crate::event::Hit;
use crate::metrics::EventMetrics;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use uuid::Uuid;

/// How hard a written frame is pushed to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    Never,
    Interval(Duration),
    Always,
}

#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub fsync: Fsync,
    /// A segment is closed and a new one begun past this size.
    pub segment_bytes: u64,
    /// Segments on disk at most; past it new events are refused.
    pub max_bytes: u64,
    /// Keep the referring host (`clicks.referrer = "host"`), or nothing (`"none"`).
    pub keep_referrer: bool,
}

/// Why a click was not recorded (its redirect is answered anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the spool is full (clicks.spool_max_bytes)")]
    Full,
    #[error("the spool is closed")]
    Closed,
    #[error("the spool cannot write")]
    Failed,
}

pub(crate) type Ack = oneshot::Sender<Result<(), Refused>>;

pub(crate) enum Job {
    /// The clicks gathered in one turn of the scheduler (see `Spool::click`).
    Clicks(Vec<(Hit, Ack)>),
    /// Write the views added up so far (the ticker sends it every `VIEW_FLUSH`).
    FlushViews,
    /// Write what was sent before this, then stop taking more.
    Close,
}

/// What the writer and the forwarder share.
pub struct Shared {
    /// The spool's identity.
    pub id: Uuid,
    pub dir: PathBuf,
    /// The sequence number the next frame gets.
    pub(crate) next_seq: AtomicU64,
    /// Bytes of segments on disk.
    pub(crate) bytes: AtomicU64,
    /// Why the last write failed, while writes fail.
    pub(crate) write_failure: Mutex<Option<String>>,
    /// Woken when a frame is written.
    pub written: Notify,
    pub metrics: EventMetrics,
    /// `dir/lock`, locked while the spool is open: one process per spool.
    pub(crate) _lock: File,
    /// Disk failures the unit tests inject.
    pub(crate) faults: Faults,
}

/// Disk failures injected by this crate's tests; in the service, the disk's own.
#[derive(Default)]
pub(crate) struct Faults {
    /// The next frame's write reaches the file half-way, then fails (a full disk).
    #[cfg(test)]
    pub(crate) tear_next_write: std::sync::atomic::AtomicBool,
    /// Every write fails, as on a full disk.
    #[cfg(test)]
    pub(crate) disk_full: std::sync::atomic::AtomicBool,
    /// Cutting the file back fails too.
    #[cfg(test)]
    pub(crate) fail_cut: std::sync::atomic::AtomicBool,
}

impl Faults {
    pub(crate) fn write(&self, file: &mut File, frame: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        {
            if self.disk_full.load(Ordering::SeqCst) {
                return Err(std::io::Error::from_raw_os_error(28));
            }
            if self.tear_next_write.swap(false, Ordering::SeqCst) {
                let _ = file.write_all(&frame[..frame.len() / 2]);
                return Err(std::io::Error::other("injected: a write torn half-way"));
            }
        }
        file.write_all(frame)
    }

    pub(crate) fn cut(&self, file: &File, len: u64) -> std::io::Result<()> {
        #[cfg(test)]
        if self.fail_cut.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("injected"));
        }
        file.set_len(len)
    }
}

impl Shared {
    /// The last frame written (0: none yet).
    pub fn last_seq(&self) -> u64 {
        self.next_seq.load(Ordering::Acquire).saturating_sub(1)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Why writes fail, while they do (`/readyz`).
    pub fn write_failure(&self) -> Option<String> {
        self.write_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_write_failure(&self, why: Option<String>) {
        let mut f = self.write_failure.lock().unwrap_or_else(|p| p.into_inner());
        // the common case (no failure before, none now) costs a lock and a compare
        if f.is_some() || why.is_some() {
            *f = why;
        }
    }

    pub(crate) fn freed(&self, n: u64) {
        self.bytes.fetch_sub(n.min(self.bytes()), Ordering::Relaxed);
        self.metrics.spool_bytes.set(self.bytes() as f64);
    }
}
