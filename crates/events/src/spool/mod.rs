//! The spool: an append-only log of events on local disk, written before a click's 302 leaves.
//!
//! Clicks are written in small batches (group commit): the clicks that arrive in one turn of a
//! runtime thread's scheduler become events (`enrich`: the privacy boundary) and are appended
//! as one frame (`frame`) with one `write` (`writer`), and each click's response waits for the
//! write of the frame that holds it. Once it is in the kernel, a SIGKILL of the process loses
//! nothing. What power loss can take depends on `clicks.fsync`: `interval` (the default: at
//! most the last interval's frames; a thread of its own syncs the file, and the runtime's
//! thread that gathered a batch writes it itself, a page-cache copy, so a redirect never waits
//! for the disk or for another thread), `always` (a writer thread writes and `fsync`s each
//! frame before its clicks are answered: a request's thread never waits in an `fsync`), `never`
//! (the kernel's own flush, ~30 s; written like `interval`). A view never makes its page wait:
//! views are added up in memory (`views`) and the writer thread writes them every `VIEW_FLUSH`
//! as one event per group with its count; a crash can take the last `VIEW_FLUSH` of views,
//! never a click.
//!
//! On disk (`segments`): `spool.id` (this spool's identity, which names its frames to the
//! consumer), `cursor` (the last frame the queue confirmed) and segments of frames; recovery at
//! start keeps every frame that checks out, cuts a torn tail and sets damaged segments aside.
//! The forwarder reads frames after the cursor (`reader`); segments whose frames are all
//! confirmed are deleted. When the segments reach `max_bytes` (the queue is down and the spool
//! grows), new events are refused, counted and loudly logged, and redirects keep answering.
//! Its threads (the writer, the views' ticker, the `interval` fsync) and the tasks that hand a
//! batch of clicks over are the process's lifecycle's: the drain joins them, after `close`.
//! Must not: write a client's address, or answer a click before its frame is written.

mod enrich;
mod frame;
mod ids;
mod reader;
mod segments;
mod shared;
mod views;
mod writer;

pub use frame::{FRAME_EVENTS_MAX, StoredFrame};
pub use reader::SpoolReader;
pub use shared::{Fsync, Refused, Shared, SpoolConfig};

use crate::event::{Hit, USER_AGENT_MAX};
use crate::geo::Geo;
use crate::metrics::EventMetrics;
use crate::visitor::Salts;
use linkleaf_lifecycle::Lifecycle;
use shared::{Ack, Faults, Job};
use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::task::TaskTracker;
use uuid::Uuid;
use writer::Writer;

/// Views are added up in memory for this long before they are written (a page never waits
/// for its view; a crash can take at most this much of them).
pub const VIEW_FLUSH: Duration = Duration::from_millis(100);

/// The handle requests record through. Cloning shares it; when every clone is gone the writer
/// writes what is left and stops.
#[derive(Clone)]
pub struct Spool {
    tx: mpsc::Sender<Job>,
    /// The writer's state; the request's thread writes clicks itself unless `fsync = always`.
    writer: Arc<Mutex<Writer>>,
    inline: bool,
    shared: Arc<Shared>,
    views: Arc<views::Views>,
    /// The wall clock in milliseconds, as of the views ticker's last turn (at most
    /// `VIEW_FLUSH` behind): what a view is timed by, without a clock read per page.
    now_ms: Arc<AtomicU64>,
    gather: Arc<Mutex<Gather>>,
    /// Where the batches' tasks run: the lifecycle's tracker.
    tasks: TaskTracker,
}

/// Clicks waiting to be handed to the writer together.
#[derive(Default)]
struct Gather {
    clicks: Vec<(Hit, Ack)>,
    /// A task is about to hand them over.
    flushing: bool,
}

/// Batches of clicks waiting for the writer at most (then the next batch waits for room).
const QUEUE: usize = 4096;

impl Spool {
    /// Records a click; resolves once the frame holding it is written.
    ///
    /// Group commit without a wake-up per click: the first click of a scheduler turn starts a
    /// small task that yields once (so every other request the runtime has ready can add its
    /// click) and then writes all of them as one frame with one `write`. The task is spawned,
    /// not awaited in place, so a request that goes away cannot strand the others' clicks.
    ///
    /// With `fsync = never` or `interval` the task writes the frame itself, on the runtime's
    /// thread: a `write` of a few kilobytes into the page cache, against two thread wake-ups
    /// (there and back) per batch when another thread wrote it, which kept the redirect at
    /// 0.75× nginx against 0.78–0.81× without it (BENCHMARKS.md). With `always` the batch
    /// goes to the writer thread, whose `fsync` a request's thread must never wait in.
    pub async fn click(&self, hit: Hit) -> Result<(), Refused> {
        let (tx, rx) = oneshot::channel();
        let first = {
            let mut g = self.gather.lock().unwrap_or_else(|p| p.into_inner());
            g.clicks.push((hit, tx));
            !std::mem::replace(&mut g.flushing, true)
        };
        if first {
            let (gather, jobs, writer) =
                (self.gather.clone(), self.tx.clone(), self.writer.clone());
            let inline = self.inline;
            self.tasks.spawn(async move {
                tokio::task::yield_now().await;
                let clicks = {
                    let mut g = gather.lock().unwrap_or_else(|p| p.into_inner());
                    g.flushing = false;
                    std::mem::take(&mut g.clicks)
                };
                if inline {
                    let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
                    w.write_batch(&mut vec![Job::Clicks(clicks)]);
                } else {
                    // a closed writer drops them: each click then reads `Closed`
                    let _ = jobs.send(Job::Clicks(clicks)).await;
                }
            });
        }
        rx.await.map_err(|_| Refused::Closed)?
    }

    /// Records a view of `profile` by `client` with user agent `ua`, without waiting: it is
    /// added to its group (page, minute, client, user agent), which the writer takes every
    /// `VIEW_FLUSH`. Costs a hash and a short lock; it is timed by the spool's clock (within
    /// `VIEW_FLUSH`), so a page read builds no `Hit` and reads no clock.
    /// Counts a view of `profile`'s page, from `source` (`qr`, a `utm_source`: short, checked
    /// by `linkleaf_domain::analytics::view_source`; empty: none).
    pub fn view(&self, profile: Uuid, client: IpAddr, ua: &[u8], source: &str) {
        let at_ms = self.now_ms.load(Ordering::Relaxed);
        let ua = &ua[..ua.len().min(USER_AGENT_MAX)];
        let source = &source[..source.floor_char_boundary(linkleaf_domain::analytics::SOURCE_MAX)];
        if let views::Added::Dropped = self.views.add(profile, at_ms, client, ua, source) {
            self.shared.metrics.dropped_busy.increment(1);
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Has the writer write everything sent before this call, then stop: later hits are
    /// refused (`Closed`). Join the writer's thread to know it is done.
    pub async fn close(&self) {
        let _ = self.tx.send(Job::Close).await;
    }
}

/// The wall clock, in milliseconds since the epoch.
fn wall_ms() -> u64 {
    linkleaf_domain::unix_millis(linkleaf_domain::now_millis()) as u64
}

/// Opens (or creates) the spool in `cfg.dir`: recovers what is on disk (see `segments`),
/// learns where it stands, and starts the writer under `life`. The writer's thread ends after
/// `close`, or when every handle is dropped, having written what it holds; the ticker and the
/// fsync thread end with it.
pub fn open(
    cfg: SpoolConfig,
    salts: Arc<Salts>,
    geo: Arc<Geo>,
    metrics: EventMetrics,
    life: &Lifecycle,
) -> std::io::Result<Spool> {
    std::fs::create_dir_all(&cfg.dir)?;
    let lock = segments::private_file(&cfg.dir.join("lock"), false)?;
    if lock.try_lock().is_err() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            format!(
                "the spool directory {} is in use by another process (each process needs its own clicks.spool_dir)",
                cfg.dir.display()
            ),
        ));
    }
    let id_path = cfg.dir.join("spool.id");
    let id = match std::fs::read_to_string(&id_path)
        .ok()
        .and_then(|s| Uuid::try_parse(s.trim()).ok())
    {
        Some(id) => id,
        None => {
            let id = Uuid::now_v7();
            let mut f = segments::private_file(&id_path, false)?;
            f.set_len(0)?;
            f.write_all(id.to_string().as_bytes())?;
            f.sync_all()?;
            id
        }
    };
    let cursor = segments::read_cursor(&cfg.dir);
    let found = segments::recover(&cfg.dir, cursor, &metrics)?;
    let current = match segments::list(&cfg.dir)?.last() {
        Some((_, path)) => path.clone(),
        None => cfg.dir.join(segments::segment_name(found.next_seq)),
    };
    let file = segments::private_file(&current, true)?;
    let shared = Arc::new(Shared {
        id,
        dir: cfg.dir.clone(),
        next_seq: AtomicU64::new(found.next_seq),
        bytes: AtomicU64::new(found.bytes),
        write_failure: Mutex::new(None),
        written: Notify::new(),
        metrics,
        _lock: lock,
        faults: Faults::default(),
    });
    shared.metrics.spool_bytes.set(found.bytes as f64);
    let (tx, rx) = mpsc::channel(QUEUE);
    let views: Arc<views::Views> = Arc::default();
    // the ticker asks for the views to be written every VIEW_FLUSH while a handle is alive
    let weak = tx.downgrade();
    let pending = views.clone();
    let now_ms = Arc::new(AtomicU64::new(wall_ms()));
    let clock = now_ms.clone();
    life.spawn_thread("spool-views", move || {
        loop {
            std::thread::sleep(VIEW_FLUSH);
            clock.store(wall_ms(), Ordering::Relaxed);
            // every handle dropped, or the writer gone (closed): nothing to tick for
            let Some(tx) = weak.upgrade() else { break };
            if tx.is_closed() {
                break;
            }
            if pending.any() {
                let _ = tx.try_send(Job::FlushViews);
            }
        }
    })?;
    let inline = cfg.fsync != Fsync::Always;
    let writer = Writer {
        enrich: enrich::Enrich::new(salts, geo, cfg.keep_referrer),
        cfg,
        shared: shared.clone(),
        file,
        file_len: std::fs::metadata(&current)?.len(),
        current: Arc::new(Mutex::new(current.clone())),
        unsynced: Arc::default(),
        stop_sync: Arc::default(),
        closed: false,
        last_full_log: None,
        last_error_log: None,
    };
    let writer = Arc::new(Mutex::new(writer));
    writer::start_syncer(&writer, life)?;
    life.spawn_thread("spool-writer", {
        let (writer, views) = (writer.clone(), views.clone());
        move || Writer::run(&writer, &views, rx)
    })?;
    Ok(Spool {
        tx,
        writer,
        inline,
        shared,
        views,
        now_ms,
        gather: Arc::default(),
        tasks: life.tasks(),
    })
}

#[cfg(test)]
mod tests;
