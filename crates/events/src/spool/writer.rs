//! Writing frames: a batch of clicks (group commit) or the views taken at a flush becomes one
//! frame, appended with one `write`; then each click waiting on it is answered. A write the
//! disk refuses is taken back (the file cut to its last whole frame), its clicks are answered
//! as not recorded, and it is counted as a disk error (`linkleaf_spool_write_errors_total`,
//! `linkleaf_events_dropped_total{reason="disk_error"}`) and shown by readiness until a write
//! succeeds again. Segments rotate past `segment_bytes`; with `clicks.fsync = interval` a
//! thread of its own syncs on time. Must not: answer a click before its frame is written, or
//! leave a torn frame in front of a later one.

use super::enrich::Enrich;
use super::frame::{FRAME_EVENTS_MAX, frame_bytes};
use super::segments::{private_file, segment_name};
use super::shared::{Ack, Fsync, Job, Refused, Shared, SpoolConfig};
use super::views::Views;
use crate::event::{Event, Kind};
use linkleaf_lifecycle::Lifecycle;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub(crate) struct Writer {
    pub(crate) cfg: SpoolConfig,
    pub(crate) shared: Arc<Shared>,
    pub(crate) enrich: Enrich,
    pub(crate) file: File,
    pub(crate) file_len: u64,
    /// The segment being written, for the fsync thread.
    pub(crate) current: Arc<Mutex<PathBuf>>,
    /// With `interval`: segments closed since the fsync thread last ran, for it to sync.
    pub(crate) unsynced: Arc<Mutex<Vec<PathBuf>>>,
    pub(crate) stop_sync: Arc<AtomicBool>,
    /// Closed (`Spool::close`): clicks are refused from now on.
    pub(crate) closed: bool,
    /// When "full" or "cannot write" was last logged (each at most every 10 s).
    pub(crate) last_full_log: Option<Instant>,
    pub(crate) last_error_log: Option<Instant>,
}

/// Whether `last` is long enough ago to log again (and marks now).
fn due(last: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last.is_none_or(|t| now.duration_since(t) > Duration::from_secs(10)) {
        *last = Some(now);
        true
    } else {
        false
    }
}

/// `clicks.fsync = interval`: syncs the segment being written every `every`.
fn sync_every(
    every: Duration,
    current: &Mutex<PathBuf>,
    unsynced: &Mutex<Vec<PathBuf>>,
    stop: &AtomicBool,
    fsyncs: &metrics::Counter,
) {
    let mut last = Instant::now();
    while !stop.load(Ordering::Acquire) {
        // short naps, so a stop is noticed quickly; a sync once `every` has passed
        std::thread::sleep(every.min(Duration::from_millis(100)));
        if last.elapsed() < every {
            continue;
        }
        last = Instant::now();
        // `current` first: a rotation pushes the old segment to `unsynced` before it moves
        // `current` on, so one of the two reads sees every segment written to
        let path = current.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let closed = std::mem::take(&mut *unsynced.lock().unwrap_or_else(|p| p.into_inner()));
        sync_paths(closed.iter().chain([&path]), fsyncs);
    }
}

/// Syncs `paths`; a segment the forwarder has confirmed and deleted meanwhile needs nothing.
fn sync_paths<'a>(paths: impl IntoIterator<Item = &'a PathBuf>, fsyncs: &metrics::Counter) {
    for path in paths {
        match File::open(path).and_then(|f| f.sync_data()) {
            Ok(()) => fsyncs.increment(1),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, "the spool cannot fsync"),
        }
    }
}

/// With `interval`, a thread of its own syncs the current segment on time, so no writer waits
/// for the disk and a quiet spool still reaches it; it stops when the writer does.
pub(crate) fn start_syncer(this: &Mutex<Writer>, life: &Lifecycle) -> std::io::Result<()> {
    let w = this.lock().unwrap_or_else(|p| p.into_inner());
    if let Fsync::Interval(every) = w.cfg.fsync {
        let (current, unsynced, stop) =
            (w.current.clone(), w.unsynced.clone(), w.stop_sync.clone());
        let fsyncs = w.shared.metrics.fsyncs.clone();
        life.spawn_thread("spool-fsync", move || {
            sync_every(every, &current, &unsynced, &stop, &fsyncs);
        })?;
    }
    Ok(())
}

impl Writer {
    /// The writer thread: writes the views every `VIEW_FLUSH`, the clicks of `fsync = always`
    /// (and `fsync`s them), and closes.
    pub(crate) fn run(this: &Mutex<Self>, views: &Views, mut rx: mpsc::Receiver<Job>) {
        let lock = || this.lock().unwrap_or_else(|p| p.into_inner());
        let mut jobs = Vec::with_capacity(FRAME_EVENTS_MAX);
        // the views' events are made here, outside the writer's lock (which clicks written on
        // request threads wait for)
        let mut view_enrich = lock().enrich.for_views();
        loop {
            let Some(first) = rx.blocking_recv() else {
                break;
            };
            jobs.push(first);
            while jobs.len() < FRAME_EVENTS_MAX {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            let closing = jobs.iter().any(|j| matches!(j, Job::Close));
            let flush = closing || jobs.iter().any(|j| matches!(j, Job::FlushViews));
            jobs.retain(|j| matches!(j, Job::Clicks(..)));
            let viewed = if flush {
                view_enrich.views(views.take())
            } else {
                Vec::new()
            };
            let mut w = lock();
            if !jobs.is_empty() {
                w.write_batch(&mut jobs);
            }
            w.write_events(&viewed);
            if closing {
                // clicks from now on are refused (`Closed`), those still queued included
                rx.close();
                w.closed = true;
            }
        }
        // every handle is gone, or closed: the views left, then everything to the disk
        let viewed = view_enrich.views(views.take());
        let mut w = lock();
        w.closed = true;
        w.write_events(&viewed);
        if w.cfg.fsync != Fsync::Never {
            let rotated =
                std::mem::take(&mut *w.unsynced.lock().unwrap_or_else(|p| p.into_inner()));
            sync_paths(&rotated, &w.shared.metrics.fsyncs);
            match w.file.sync_data() {
                Ok(()) => w.shared.metrics.fsyncs.increment(1),
                // the frames are in the kernel: a SIGKILL loses none, power loss may
                Err(e) => tracing::warn!(error = %e, "the spool cannot fsync at shutdown"),
            }
        }
        // the fsync thread (`interval`) ends at its next nap
        w.stop_sync.store(true, Ordering::Release);
        drop(w);
        tracing::debug!("spool writer stopped");
    }

    /// Writes events made elsewhere (the views), in frames of at most `FRAME_EVENTS_MAX`.
    fn write_events(&mut self, events: &[Event]) {
        let mut none = Vec::new();
        for chunk in events.chunks(FRAME_EVENTS_MAX) {
            self.write_frame(chunk, &mut none);
        }
    }

    /// Answers the clicks of a frame that was not written, and counts what was lost.
    fn refuse(&mut self, events: &[Event], acks: &mut Vec<Ack>, why: Refused) {
        let m = &self.shared.metrics;
        let lost = events.iter().map(|e| u64::from(e.count)).sum();
        match why {
            Refused::Failed => m.dropped_disk.increment(lost),
            Refused::Full | Refused::Closed => m.dropped_full.increment(lost),
        }
        for tx in acks.drain(..) {
            let _ = tx.send(Err(why));
        }
    }

    /// Writes the clicks of `jobs` as one frame, then answers each.
    pub(crate) fn write_batch(&mut self, jobs: &mut Vec<Job>) {
        if self.closed {
            // their answers are dropped: each click reads `Closed`
            jobs.clear();
            return;
        }
        let n = jobs
            .iter()
            .map(|j| match j {
                Job::Clicks(c) => c.len(),
                _ => 0,
            })
            .sum();
        let mut acks = Vec::with_capacity(n);
        let mut events = Vec::with_capacity(n);
        for j in jobs.drain(..) {
            if let Job::Clicks(clicks) = j {
                for (h, tx) in clicks {
                    events.push(self.enrich.hit(&h));
                    acks.push(tx);
                }
            }
        }
        self.write_frame(&events, &mut acks);
    }

    /// Appends `events` as one frame (one `write`), then answers the clicks waiting on it.
    fn write_frame(&mut self, events: &[Event], acks: &mut Vec<Ack>) {
        let m = self.shared.metrics.clone();
        if self.shared.bytes() >= self.cfg.max_bytes {
            if due(&mut self.last_full_log) {
                tracing::error!(
                    bytes = self.shared.bytes(),
                    max = self.cfg.max_bytes,
                    "THE SPOOL IS FULL: clicks and views are not being recorded (the queue has not \
                     taken them); redirects are still answered. Check the queue (RabbitMQ) and the consumer."
                );
            }
            self.refuse(events, acks, Refused::Full);
            return;
        }
        let seq = self.shared.next_seq.load(Ordering::Acquire);
        let frame = frame_bytes(seq, events);
        let written = self
            .shared
            .faults
            .write(&mut self.file, &frame)
            .and_then(|()| {
                if self.cfg.fsync == Fsync::Always {
                    self.file.sync_data()?;
                    m.fsyncs.increment(1);
                }
                Ok(())
            });
        if let Err(e) = written {
            m.write_errors.increment(1);
            if due(&mut self.last_error_log) {
                tracing::error!(error = %e, segment = %self.current.lock().unwrap_or_else(|p| p.into_inner()).display(),
                    "THE SPOOL CANNOT WRITE (is its disk full?): clicks and views are not being recorded; redirects are still answered");
            }
            self.shared.set_write_failure(Some(e.to_string()));
            self.take_back();
            self.refuse(events, acks, Refused::Failed);
            return;
        }
        self.shared.set_write_failure(None);
        self.file_len += frame.len() as u64;
        self.shared.next_seq.store(seq + 1, Ordering::Release);
        self.shared
            .bytes
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
        m.spool_bytes.set(self.shared.bytes() as f64);
        m.frames_written.increment(1);
        m.accepted_clicks.increment(acks.len() as u64);
        for tx in acks.drain(..) {
            let _ = tx.send(Ok(()));
        }
        let views: u64 = events
            .iter()
            .filter(|e| e.kind == Kind::View)
            .map(|e| u64::from(e.count))
            .sum();
        m.accepted_views.increment(views);
        m.spooled
            .increment(events.iter().map(|e| u64::from(e.count)).sum());
        self.shared.written.notify_one();
        if self.file_len >= self.cfg.segment_bytes {
            self.rotate(seq + 1);
        }
    }

    /// After a failed write: the refused frame, or what part of it reached the file, must not
    /// stay there. A later frame written after a torn one would sit behind the tear, where the
    /// reader stops and where the next start cuts the segment: answered clicks would be lost.
    /// (A frame whose fsync failed keeps its sequence number too, and the next frame would take
    /// it again.) So the file is cut back to its last whole frame; if even that fails, the next
    /// frame goes to a new segment, and the reader, which skips a torn tail before a later
    /// segment, still reaches it.
    fn take_back(&mut self) {
        let cut = self.shared.faults.cut(&self.file, self.file_len);
        if let Err(e) = cut {
            tracing::error!(error = %e, "the spool cannot cut back a failed write: starting a new segment");
            let next = self.shared.next_seq.load(Ordering::Acquire);
            self.rotate(next);
        }
    }

    fn rotate(&mut self, next_first: u64) {
        match self.cfg.fsync {
            // on the writer thread, before any later click is answered
            Fsync::Always => {
                if self.file.sync_data().is_ok() {
                    self.shared.metrics.fsyncs.increment(1);
                }
            }
            // maybe on a request's thread: the fsync thread syncs it on its next turn
            Fsync::Interval(_) => {
                let old = self
                    .current
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                self.unsynced
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(old);
            }
            Fsync::Never => {}
        }
        let path = self.cfg.dir.join(segment_name(next_first));
        match private_file(&path, true) {
            Ok(f) => {
                self.file = f;
                self.file_len = 0;
                *self.current.lock().unwrap_or_else(|p| p.into_inner()) = path;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start a new spool segment: the current one grows")
            }
        }
    }
}
