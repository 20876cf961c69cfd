//! The spool: an append-only log of events on local disk, written before a click's 302 leaves.
//!
//! Clicks are written in small batches (group commit): the clicks that arrive in one turn of a
//! runtime thread's scheduler are turned into events (visitor hash, country, referring host;
//! the client's address goes no further) and appended as one frame with one `write`, and each
//! click's response waits for the write of the frame that holds it. Once it is in the kernel, a
//! SIGKILL of the process loses nothing. What power loss can take depends on `clicks.fsync`:
//! `interval` (the default: at most the last interval's frames; a thread of its own syncs the
//! file, and the runtime's thread that gathered a batch writes it itself, a page-cache copy,
//! so a redirect never waits for the disk or for another thread), `always` (a writer thread
//! writes and `fsync`s each frame before its clicks are answered: a request's thread never
//! waits in an `fsync`), `never` (the kernel's own flush, ~30 s; written like `interval`).
//! A view never makes its page wait: views are added up in memory by page, minute, client and
//! user agent (a hash and a short lock on the request's thread, or an atomic add to the group
//! the connection's `ViewMemo` remembers) and the writer thread writes them every `VIEW_FLUSH`
//! as one event per group with its count, so a page read costs the pipeline next to nothing
//! however hot it is; a crash can take the last `VIEW_FLUSH` of views, never a click.
//!
//! On disk, `dir` holds `spool.id` (this spool's identity, which names its frames to the
//! consumer), `cursor` (the last frame the queue confirmed) and segments
//! `segment-{first seq}.spool` of frames: `"LLSF" | body length (u32 LE) | CRC-32 of the body |
//! body = seq (u64 LE) | event count (u32 LE) | events`. A frame torn by a crash is cut off at
//! the next start (its clicks were never answered). Segments whose frames are all confirmed are
//! deleted. When the segments on disk reach `max_bytes` (the queue is down and the spool grows),
//! new events are refused, counted and loudly logged, and redirects keep answering.
//! Must not: write a client's address, or answer a click before its frame is written.

use crate::event::{Event, Hit, Kind, USER_AGENT_MAX, referrer_host};
use crate::geo::Geo;
use crate::metrics::EventMetrics;
use crate::visitor::Salts;
use linkleaf_domain::analytics::Map;
use std::fs::{File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

const MAGIC: &[u8; 4] = b"LLSF";
const HEADER: usize = 12;
/// Events in one frame at most.
pub const FRAME_EVENTS_MAX: usize = 4096;
/// A frame body larger than this is corrupt.
const FRAME_BODY_MAX: usize = FRAME_EVENTS_MAX * 700 + 12;

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

type Ack = oneshot::Sender<Result<(), Refused>>;

enum Job {
    /// The clicks gathered in one turn of the scheduler (see `Spool::click`).
    Clicks(Vec<(Hit, Ack)>),
    /// Write the views added up so far (the ticker sends it every `VIEW_FLUSH`).
    FlushViews,
    /// Write what was sent before this, then stop taking more.
    Close,
}

/// Views are added up in memory for this long before they are written (a page never waits
/// for its view; a crash can take at most this much of them).
pub const VIEW_FLUSH: Duration = Duration::from_millis(100);
/// Distinct (page, visitor, user agent, minute) groups held between flushes at most; views of a
/// new group beyond that are dropped and counted (`linkleaf_events_dropped_total{reason="writer_busy"}`).
const VIEW_GROUPS_MAX: usize = 65_536;

/// Views waiting to be written, added up by page, minute, client and user agent.
#[derive(Default)]
struct PendingViews {
    /// By a hash of the group; the few groups that share a hash are told apart by their keys.
    groups: Map<u64, Vec<ViewGroup>>,
    len: usize,
}

struct ViewGroup {
    profile: Uuid,
    minute_ms: u64,
    /// The first view's time.
    at_ms: u64,
    client: IpAddr,
    user_agent: Box<[u8]>,
    /// Shared with the connections that remember this group (`ViewMemo`).
    count: Arc<ViewCount>,
}

impl ViewGroup {
    fn is(&self, profile: Uuid, minute_ms: u64, client: IpAddr, ua: &[u8]) -> bool {
        self.profile == profile
            && self.minute_ms == minute_ms
            && self.client == client
            && *self.user_agent == *ua
    }
}

/// A group's count of views. Connections that remember the group add to it without the map's
/// lock; the writer seals it when it takes the group, and a view that finds it sealed goes
/// through the map again: none is counted twice or lost between the two.
struct ViewCount(AtomicU32);

const SEALED: u32 = u32::MAX;

impl ViewCount {
    fn one() -> Arc<Self> {
        Arc::new(Self(AtomicU32::new(1)))
    }

    /// Adds a view; `false` when the writer has taken the group. Saturates below `SEALED`.
    fn add(&self) -> bool {
        let mut n = self.0.load(Ordering::Relaxed);
        loop {
            if n == SEALED {
                return false;
            }
            let next = (n + 1).min(SEALED - 1);
            match self
                .0
                .compare_exchange_weak(n, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
    }

    /// The views counted, after which no more are.
    fn seal(&self) -> u32 {
        self.0.swap(SEALED, Ordering::Relaxed)
    }
}

/// What one connection remembers of its last view: its group, so that the next view of the
/// same page by the same client and user agent in the same minute (a reload, a monitor, a
/// benchmark) is added to that group's count without the hash, the map or its lock.
#[derive(Default)]
pub struct ViewMemo {
    profile: Uuid,
    minute_ms: u64,
    client: Option<IpAddr>,
    user_agent: Vec<u8>,
    count: Option<Arc<ViewCount>>,
}

impl ViewMemo {
    /// Adds the view to the remembered group if it is the view's own and still open.
    fn add(&self, profile: Uuid, minute_ms: u64, client: IpAddr, ua: &[u8]) -> bool {
        match &self.count {
            Some(count) => {
                self.profile == profile
                    && self.minute_ms == minute_ms
                    && self.client == Some(client)
                    && *self.user_agent == *ua
                    && count.add()
            }
            None => false,
        }
    }

    fn remember(
        &mut self,
        profile: Uuid,
        minute_ms: u64,
        client: IpAddr,
        ua: &[u8],
        count: Arc<ViewCount>,
    ) {
        self.profile = profile;
        self.minute_ms = minute_ms;
        self.client = Some(client);
        self.user_agent.clear();
        self.user_agent.extend_from_slice(ua);
        self.count = Some(count);
    }
}

/// What the writer and the forwarder share.
pub struct Shared {
    /// The spool's identity.
    pub id: Uuid,
    pub dir: PathBuf,
    /// The sequence number the next frame gets.
    next_seq: AtomicU64,
    /// Bytes of segments on disk.
    bytes: AtomicU64,
    /// Woken when a frame is written.
    pub written: Notify,
    pub metrics: EventMetrics,
    /// `dir/lock`, locked while the spool is open: one process per spool.
    _lock: File,
    /// Disk failures the unit tests inject.
    #[cfg(test)]
    faults: Faults,
}

#[cfg(test)]
#[derive(Default)]
struct Faults {
    /// The next frame's write reaches the file half-way, then fails (a full disk).
    tear_next_write: std::sync::atomic::AtomicBool,
    /// Cutting the file back fails too.
    fail_cut: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// The last frame written (0: none yet).
    pub fn last_seq(&self) -> u64 {
        self.next_seq.load(Ordering::Acquire).saturating_sub(1)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn freed(&self, n: u64) {
        self.bytes.fetch_sub(n.min(self.bytes()), Ordering::Relaxed);
        self.metrics.spool_bytes.set(self.bytes() as f64);
    }
}

/// The handle requests record through. Cloning shares it; when every clone is gone the writer
/// writes what is left and stops.
#[derive(Clone)]
pub struct Spool {
    tx: mpsc::Sender<Job>,
    /// The writer's state; the request's thread writes clicks itself unless `fsync = always`.
    writer: Arc<Mutex<Writer>>,
    inline: bool,
    shared: Arc<Shared>,
    views: Arc<Mutex<PendingViews>>,
    /// The wall clock in milliseconds, as of the views ticker's last turn (at most
    /// `VIEW_FLUSH` behind): what a view is timed by, without a clock read per page.
    now_ms: Arc<AtomicU64>,
    hasher: foldhash::fast::RandomState,
    gather: Arc<Mutex<Gather>>,
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
            tokio::spawn(async move {
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
    /// `VIEW_FLUSH`. Costs a hash and a short lock, or neither when `memo` (the connection's)
    /// holds the group; it is timed by the spool's clock (within `VIEW_FLUSH`), so a page read
    /// builds no `Hit` and reads no clock.
    pub fn view(&self, memo: Option<&mut ViewMemo>, profile: Uuid, client: IpAddr, ua: &[u8]) {
        let at_ms = self.now_ms.load(Ordering::Relaxed);
        let ua = &ua[..ua.len().min(USER_AGENT_MAX)];
        let minute_ms = at_ms - at_ms % 60_000;
        if memo
            .as_deref()
            .is_some_and(|m| m.add(profile, minute_ms, client, ua))
        {
            return;
        }
        let h = self.hasher.hash_one((profile, minute_ms, client, ua));
        let mut v = self.views.lock().unwrap_or_else(|p| p.into_inner());
        let len = v.len;
        let groups = v.groups.entry(h).or_default();
        let count = if let Some(g) = groups
            .iter_mut()
            .find(|g| g.is(profile, minute_ms, client, ua))
        {
            // the writer seals a group only once it has taken it out of the map
            g.count.add();
            g.count.clone()
        } else if len >= VIEW_GROUPS_MAX {
            drop(v);
            self.shared.metrics.dropped_busy.increment(1);
            return;
        } else {
            let count = ViewCount::one();
            groups.push(ViewGroup {
                profile,
                minute_ms,
                at_ms,
                client,
                user_agent: ua.into(),
                count: count.clone(),
            });
            v.len += 1;
            count
        };
        drop(v);
        if let Some(m) = memo {
            m.remember(profile, minute_ms, client, ua, count);
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

fn segment_name(first_seq: u64) -> String {
    format!("segment-{first_seq:020}.spool")
}

/// The segments in `dir`, by first sequence number.
pub(crate) fn segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_prefix("segment-"))
            .and_then(|n| n.strip_suffix(".spool"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((seq, e.path()));
    }
    out.sort();
    Ok(out)
}

fn private_file(path: &Path, append: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .read(true)
        .write(!append)
        .append(append)
        .mode(0o600)
        .open(path)
}

/// The last confirmed frame (0: none).
pub(crate) fn read_cursor(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("cursor"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Moves the cursor, atomically (a temporary file renamed over it).
pub(crate) fn write_cursor(dir: &Path, seq: u64, sync: bool) -> std::io::Result<()> {
    let tmp = dir.join("cursor.tmp");
    let mut f = private_file(&tmp, false)?;
    f.set_len(0)?;
    f.write_all(seq.to_string().as_bytes())?;
    if sync {
        f.sync_data()?;
    }
    std::fs::rename(&tmp, dir.join("cursor"))
}

/// One frame read back.
#[derive(Debug, Clone)]
pub struct StoredFrame {
    pub seq: u64,
    pub count: u32,
    /// The events, encoded back to back.
    pub events: bytes::Bytes,
    /// Its size on disk.
    pub len: u64,
}

/// Reads the frame at the reader's position: `Ok(None)` at a clean end, `Err` when what is
/// there is not a whole, valid frame.
pub(crate) fn read_frame(r: &mut impl Read) -> Result<Option<StoredFrame>, String> {
    let mut header = [0u8; HEADER];
    let mut got = 0;
    while got < HEADER {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err("a torn frame header".into()),
            Ok(n) => got += n,
            Err(e) => return Err(e.to_string()),
        }
    }
    if &header[..4] != MAGIC {
        return Err("no frame here".into());
    }
    let len = u32::from_le_bytes(header[4..8].try_into().unwrap_or_default()) as usize;
    let crc = u32::from_le_bytes(header[8..12].try_into().unwrap_or_default());
    if !(12..=FRAME_BODY_MAX).contains(&len) {
        return Err(format!("a frame of {len} bytes"));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)
        .map_err(|_| "a torn frame".to_string())?;
    if crc32fast::hash(&body) != crc {
        return Err("a frame whose checksum does not match".into());
    }
    let seq = u64::from_le_bytes(body[..8].try_into().unwrap_or_default());
    let count = u32::from_le_bytes(body[8..12].try_into().unwrap_or_default());
    Ok(Some(StoredFrame {
        seq,
        count,
        events: bytes::Bytes::from(body).slice(12..),
        len: (HEADER + len) as u64,
    }))
}

fn frame_bytes(seq: u64, events: &[Event]) -> Vec<u8> {
    let mut body = Vec::with_capacity(12 + events.len() * 120);
    body.extend_from_slice(&seq.to_le_bytes());
    body.extend_from_slice(&(events.len() as u32).to_le_bytes());
    events.iter().for_each(|e| e.encode(&mut body));
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Opens (or creates) the spool in `cfg.dir`: repairs a torn tail, learns where it stands, and
/// starts the writer. Returns the handle and the writer thread (which ends when every handle is
/// dropped, after writing what it holds).
pub fn open(
    cfg: SpoolConfig,
    salts: Arc<Salts>,
    geo: Arc<Geo>,
    metrics: EventMetrics,
) -> std::io::Result<(Spool, std::thread::JoinHandle<()>)> {
    std::fs::create_dir_all(&cfg.dir)?;
    let lock = private_file(&cfg.dir.join("lock"), false)?;
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
            let mut f = private_file(&id_path, false)?;
            f.set_len(0)?;
            f.write_all(id.to_string().as_bytes())?;
            f.sync_all()?;
            id
        }
    };
    let cursor = read_cursor(&cfg.dir);
    let segs = segments(&cfg.dir)?;
    let mut next_seq = cursor + 1;
    let mut bytes = 0u64;
    for (i, (_, path)) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let mut f = private_file(path, false)?;
        let mut good = 0u64;
        let mut reader = std::io::BufReader::new(&mut f);
        loop {
            match read_frame(&mut reader) {
                Ok(Some(fr)) => {
                    good += fr.len;
                    next_seq = next_seq.max(fr.seq + 1);
                }
                Ok(None) => break,
                Err(e) => {
                    if last {
                        tracing::warn!(segment = %path.display(), at = good, error = %e,
                            "a frame torn by a crash is cut off (its clicks were never answered)");
                        f.set_len(good)?;
                    } else {
                        tracing::error!(segment = %path.display(), at = good, error = %e,
                            "a damaged frame inside the spool: the rest of this segment is skipped");
                    }
                    break;
                }
            }
        }
        bytes += std::fs::metadata(path)?.len();
    }
    let (current_first, current) = match segs.last() {
        Some((first, path)) => (*first, path.clone()),
        None => (next_seq, cfg.dir.join(segment_name(next_seq))),
    };
    let file = private_file(&current, true)?;
    let shared = Arc::new(Shared {
        id,
        dir: cfg.dir.clone(),
        next_seq: AtomicU64::new(next_seq),
        bytes: AtomicU64::new(bytes),
        written: Notify::new(),
        metrics,
        _lock: lock,
        #[cfg(test)]
        faults: Faults::default(),
    });
    shared.metrics.spool_bytes.set(bytes as f64);
    let (tx, rx) = mpsc::channel(QUEUE);
    let views: Arc<Mutex<PendingViews>> = Arc::default();
    // the ticker asks for the views to be written every VIEW_FLUSH while a handle is alive
    let weak = tx.downgrade();
    let pending = views.clone();
    let now_ms = Arc::new(AtomicU64::new(wall_ms()));
    let clock = now_ms.clone();
    std::thread::Builder::new()
        .name("spool-views".into())
        .spawn(move || {
            loop {
                std::thread::sleep(VIEW_FLUSH);
                clock.store(wall_ms(), Ordering::Relaxed);
                let Some(tx) = weak.upgrade() else { break };
                let any = pending.lock().unwrap_or_else(|p| p.into_inner()).len > 0;
                if any && tx.try_send(Job::FlushViews).is_err() && tx.is_closed() {
                    break;
                }
            }
        })?;
    let writer = Writer {
        cfg,
        shared: shared.clone(),
        salts,
        geo,
        file,
        file_len: std::fs::metadata(&current)?.len(),
        first_in_file: current_first,
        current: Arc::new(std::sync::Mutex::new(current.clone())),
        unsynced: Arc::default(),
        stop_sync: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        closed: false,
        last_full_log: None,
        rng: u64::from_le_bytes(
            Uuid::new_v4().as_bytes()[..8]
                .try_into()
                .unwrap_or_default(),
        ),
    };
    let inline = writer.cfg.fsync != Fsync::Always;
    let writer = Arc::new(Mutex::new(writer));
    let thread = std::thread::Builder::new()
        .name("spool-writer".into())
        .spawn({
            let (writer, views) = (writer.clone(), views.clone());
            move || Writer::run(&writer, &views, rx)
        })?;
    Ok((
        Spool {
            tx,
            writer,
            inline,
            shared,
            views,
            now_ms,
            hasher: foldhash::fast::RandomState::default(),
            gather: Arc::default(),
        },
        thread,
    ))
}

struct Writer {
    cfg: SpoolConfig,
    shared: Arc<Shared>,
    salts: Arc<Salts>,
    geo: Arc<Geo>,
    file: File,
    file_len: u64,
    first_in_file: u64,
    /// The segment being written, for the fsync thread.
    current: Arc<std::sync::Mutex<PathBuf>>,
    /// With `interval`: segments closed since the fsync thread last ran, for it to sync.
    unsynced: Arc<std::sync::Mutex<Vec<PathBuf>>>,
    stop_sync: Arc<std::sync::atomic::AtomicBool>,
    /// Closed (`Spool::close`): clicks are refused from now on.
    closed: bool,
    last_full_log: Option<Instant>,
    /// For event ids (splitmix64): a UUIDv7 per event without a system call each.
    rng: u64,
}

/// `clicks.fsync = interval`: syncs the segment being written every `every`.
fn sync_every(
    every: Duration,
    current: &std::sync::Mutex<PathBuf>,
    unsynced: &std::sync::Mutex<Vec<PathBuf>>,
    stop: &std::sync::atomic::AtomicBool,
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

/// A UUIDv7 for an event at `at_ms`, its random part from `rng` (splitmix64: no system call).
fn event_id(rng: &mut u64, at_ms: u64) -> Uuid {
    let mut next = || {
        *rng = rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (a, b) = (next().to_le_bytes(), next().to_le_bytes());
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&a);
    random[8..].copy_from_slice(&b[..2]);
    uuid::Builder::from_unix_timestamp_millis(at_ms, &random).into_uuid()
}

/// The views added up since the last flush, as one event per group. Built by the writer
/// thread without the writer's lock, which clicks written on request threads wait for.
fn view_events(views: &Mutex<PendingViews>, salts: &Salts, rng: &mut u64) -> Vec<Event> {
    let taken = std::mem::take(&mut *views.lock().unwrap_or_else(|p| p.into_inner()));
    let mut events = Vec::with_capacity(taken.len);
    for g in taken.groups.into_values().flatten() {
        events.push(Event {
            id: event_id(rng, g.at_ms),
            kind: Kind::View,
            profile: g.profile,
            link: None,
            at_ms: g.at_ms,
            visitor: salts.visitor(g.at_ms, g.client, &g.user_agent),
            country: String::new(),
            region: String::new(),
            referrer: String::new(),
            user_agent: String::from_utf8_lossy(&g.user_agent).into_owned(),
            head: false,
            count: g.count.seal(),
        });
    }
    events
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

impl Writer {
    /// The writer thread: writes the views every `VIEW_FLUSH`, the clicks of `fsync = always`
    /// (and `fsync`s them), and closes.
    fn run(this: &Mutex<Self>, views: &Mutex<PendingViews>, mut rx: mpsc::Receiver<Job>) {
        let lock = || this.lock().unwrap_or_else(|p| p.into_inner());
        let mut jobs = Vec::with_capacity(FRAME_EVENTS_MAX);
        let (salts, mut rng) = {
            let w = lock();
            (w.salts.clone(), w.rng ^ 0x5DEE_CE66_D1CE_4E5B)
        };
        // With `interval`, a thread of its own syncs the current segment on time, so no writer
        // waits for the disk and a quiet spool still reaches it.
        let syncer = {
            let w = lock();
            match w.cfg.fsync {
                Fsync::Interval(every) => {
                    let (current, unsynced, stop) =
                        (w.current.clone(), w.unsynced.clone(), w.stop_sync.clone());
                    let fsyncs = w.shared.metrics.fsyncs.clone();
                    std::thread::Builder::new()
                        .name("spool-fsync".into())
                        .spawn(move || sync_every(every, &current, &unsynced, &stop, &fsyncs))
                        .ok()
                }
                _ => None,
            }
        };
        loop {
            let Some(first) = rx.blocking_recv() else {
                break;
            };
            jobs.push(first);
            let drain = |rx: &mut mpsc::Receiver<Job>, jobs: &mut Vec<Job>| {
                while jobs.len() < FRAME_EVENTS_MAX {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
            };
            drain(&mut rx, &mut jobs);
            let closing = jobs.iter().any(|j| matches!(j, Job::Close));
            let flush = closing || jobs.iter().any(|j| matches!(j, Job::FlushViews));
            jobs.retain(|j| matches!(j, Job::Clicks(..)));
            let viewed = if flush {
                view_events(views, &salts, &mut rng)
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
        let viewed = view_events(views, &salts, &mut rng);
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
        w.stop_sync.store(true, Ordering::Release);
        drop(w);
        if let Some(t) = syncer {
            let _ = t.join();
        }
        tracing::debug!("spool writer stopped");
    }

    fn next_id(&mut self, at_ms: u64) -> Uuid {
        event_id(&mut self.rng, at_ms)
    }

    /// Writes events made elsewhere (the views), in frames of at most `FRAME_EVENTS_MAX`.
    fn write_events(&mut self, events: &[Event]) {
        let mut none = Vec::new();
        for chunk in events.chunks(FRAME_EVENTS_MAX) {
            self.write_frame(chunk, &mut none);
        }
    }

    fn event(&mut self, h: &Hit) -> Event {
        let ua = h.user_agent.as_ref().map_or(&b""[..], |v| v.as_bytes());
        let (country, region) = self.geo.locate(h.client, h.geo.as_ref());
        Event {
            id: self.next_id(h.at_ms),
            kind: h.kind,
            profile: h.profile,
            link: h.link,
            at_ms: h.at_ms,
            visitor: self.salts.visitor(h.at_ms, h.client, ua),
            country,
            region,
            referrer: if self.cfg.keep_referrer {
                h.referer
                    .as_ref()
                    .map(|r| referrer_host(r.as_bytes()))
                    .unwrap_or_default()
            } else {
                String::new()
            },
            user_agent: String::from_utf8_lossy(&ua[..ua.len().min(USER_AGENT_MAX)]).into_owned(),
            head: h.head,
            count: 1,
        }
    }

    /// Answers the clicks of a frame that was not written, and counts what was lost.
    fn refuse(&mut self, events: &[Event], acks: &mut Vec<Ack>, why: Refused) {
        let m = &self.shared.metrics;
        m.dropped_full
            .increment(events.iter().map(|e| u64::from(e.count)).sum());
        for tx in acks.drain(..) {
            let _ = tx.send(Err(why));
        }
    }

    /// Writes the clicks of `jobs` as one frame, then answers each.
    fn write_batch(&mut self, jobs: &mut Vec<Job>) {
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
                    events.push(self.event(&h));
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
            let now = Instant::now();
            if self
                .last_full_log
                .is_none_or(|t| now.duration_since(t) > Duration::from_secs(10))
            {
                tracing::error!(
                    bytes = self.shared.bytes(),
                    max = self.cfg.max_bytes,
                    "THE SPOOL IS FULL: clicks and views are not being recorded (the queue has not \
                     taken them); redirects are still answered. Check the queue (RabbitMQ) and the consumer."
                );
                self.last_full_log = Some(now);
            }
            self.refuse(events, acks, Refused::Full);
            return;
        }
        let seq = self.shared.next_seq.load(Ordering::Acquire);
        let frame = frame_bytes(seq, events);
        #[cfg(test)]
        if self
            .shared
            .faults
            .tear_next_write
            .swap(false, Ordering::SeqCst)
        {
            let _ = self.file.write_all(&frame[..frame.len() / 2]);
            self.take_back();
            self.refuse(events, acks, Refused::Failed);
            return;
        }
        let written = self.file.write_all(&frame).and_then(|()| {
            if self.cfg.fsync == Fsync::Always {
                self.file.sync_data()?;
                m.fsyncs.increment(1);
            }
            Ok(())
        });
        if let Err(e) = written {
            tracing::error!(error = %e, "the spool cannot write: events refused");
            self.take_back();
            self.refuse(events, acks, Refused::Failed);
            return;
        }
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
        let cut = self.file.set_len(self.file_len);
        #[cfg(test)]
        let cut = if self.shared.faults.fail_cut.load(Ordering::SeqCst) {
            Err(std::io::Error::other("injected"))
        } else {
            cut
        };
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
                self.first_in_file = next_first;
                *self.current.lock().unwrap_or_else(|p| p.into_inner()) = path;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start a new spool segment: the current one grows")
            }
        }
    }
}

/// Reads frames after a position, for the forwarder.
pub struct SpoolReader {
    shared: Arc<Shared>,
    /// The last frame handed out.
    sent: u64,
    /// The segment being read and the offset in it.
    at: Option<(u64, PathBuf, u64)>,
}

impl SpoolReader {
    /// A reader of the frames after the cursor.
    pub fn new(shared: Arc<Shared>) -> Self {
        let sent = read_cursor(&shared.dir);
        Self {
            shared,
            sent,
            at: None,
        }
    }

    /// The last frame the queue confirmed.
    pub fn cursor(&self) -> u64 {
        read_cursor(&self.shared.dir)
    }

    /// Starts over after the cursor (what was sent but not confirmed is sent again).
    pub fn rewind(&mut self) {
        self.sent = self.cursor();
        self.at = None;
    }

    /// Frames after the last one handed out, up to `max` frames or `max_bytes`.
    pub fn next(&mut self, max: usize, max_bytes: u64) -> Vec<StoredFrame> {
        let mut out = Vec::new();
        let mut size = 0u64;
        let written = self.shared.last_seq();
        while out.len() < max && size < max_bytes && self.sent < written {
            let segs = match segments(&self.shared.dir) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot list the spool");
                    break;
                }
            };
            // the segment holding `sent + 1`
            let want = self.sent + 1;
            let Some(idx) = segs.iter().rposition(|(first, _)| *first <= want) else {
                // the frame's segment is gone (it was confirmed): skip to the oldest left
                match segs.first() {
                    Some((first, _)) if *first > want => {
                        self.sent = first - 1;
                        self.at = None;
                        continue;
                    }
                    _ => break,
                }
            };
            let (first, path) = segs[idx].clone();
            let offset = match &self.at {
                Some((f, _, off)) if *f == first => *off,
                _ => 0,
            };
            let Ok(mut f) = File::open(&path) else { break };
            if f.seek(SeekFrom::Start(offset)).is_err() {
                break;
            }
            let mut r = std::io::BufReader::new(f);
            let mut off = offset;
            let mut progressed = false;
            let mut ended = false;
            loop {
                if out.len() >= max || size >= max_bytes {
                    break;
                }
                match read_frame(&mut r) {
                    // written after `written` was read: left for the next call, unread
                    Ok(Some(fr)) if fr.seq > written => break,
                    Ok(Some(fr)) => {
                        off += fr.len;
                        if fr.seq > self.sent {
                            self.sent = fr.seq;
                            size += fr.len;
                            out.push(fr);
                            progressed = true;
                        }
                    }
                    Ok(None) | Err(_) => {
                        ended = true;
                        break;
                    }
                }
            }
            self.at = Some((first, path, off));
            if !progressed && !ended {
                break;
            }
            if !progressed {
                // the end of this segment: go on with the next, if there is one
                match segs.get(idx + 1) {
                    Some((next_first, _)) => {
                        if *next_first > self.sent + 1 {
                            self.shared
                                .metrics
                                .corrupt
                                .increment(next_first - self.sent - 1);
                        }
                        self.sent = next_first - 1;
                        self.at = None;
                    }
                    None => break,
                }
            }
        }
        out
    }

    /// Records that every frame up to `seq` is confirmed: moves the cursor and deletes the
    /// segments that hold nothing after it.
    pub fn confirm(&mut self, seq: u64, sync: bool) -> std::io::Result<()> {
        write_cursor(&self.shared.dir, seq, sync)?;
        let segs = segments(&self.shared.dir)?;
        for w in segs.windows(2) {
            let ((_, path), (next_first, _)) = (&w[0], &w[1]);
            if *next_first <= seq + 1 {
                let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                std::fs::remove_file(path)?;
                self.shared.freed(len);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Kind;
    use std::net::IpAddr;

    fn hit(kind: Kind) -> Hit {
        Hit {
            kind,
            profile: Uuid::nil(),
            link: (kind == Kind::Click).then(Uuid::nil),
            at_ms: 1_795_600_000_000,
            client: "203.0.113.9".parse::<IpAddr>().unwrap(),
            user_agent: Some(http::HeaderValue::from_static("Mozilla/5.0")),
            referer: Some(http::HeaderValue::from_static("https://news.example/a")),
            geo: None,
            head: false,
        }
    }

    fn cfg(dir: &Path) -> SpoolConfig {
        SpoolConfig {
            dir: dir.to_owned(),
            fsync: Fsync::Never,
            segment_bytes: 4096,
            max_bytes: 1 << 30,
            keep_referrer: true,
        }
    }

    fn start(c: SpoolConfig) -> (Spool, std::thread::JoinHandle<()>) {
        open(
            c,
            Arc::new(Salts::default()),
            Arc::new(Geo::default()),
            EventMetrics::noop(),
        )
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn clicks_are_written_before_they_are_answered_and_read_back_once() {
        // the runtime's thread writes (never, interval), or the writer thread (always)
        for fsync in [
            Fsync::Never,
            Fsync::Interval(Duration::from_millis(1)),
            Fsync::Always,
        ] {
            written_and_read_back(fsync).await;
        }
    }

    async fn written_and_read_back(fsync: Fsync) {
        let dir = tempfile::tempdir().unwrap();
        let (spool, writer) = start(SpoolConfig {
            fsync,
            ..cfg(dir.path())
        });
        let shared = spool.shared().clone();
        let tasks: Vec<_> = (0..500)
            .map(|_| {
                let s = spool.clone();
                tokio::spawn(async move { s.click(hit(Kind::Click)).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        spool.view(
            None,
            Uuid::nil(),
            "203.0.113.9".parse().unwrap(),
            b"Mozilla/5.0",
        );
        drop(spool);
        writer.join().unwrap();
        let mut r = SpoolReader::new(shared.clone());
        let mut events = 0;
        loop {
            let frames = r.next(7, u64::MAX);
            if frames.is_empty() {
                break;
            }
            for f in &frames {
                let es = crate::event::decode_all(&f.events).unwrap();
                assert_eq!(es.len(), f.count as usize);
                assert!(
                    es.iter()
                        .filter(|e| e.kind == Kind::Click)
                        .all(|e| e.referrer == "news.example"),
                    "host only"
                );
                events += es.len();
            }
        }
        assert_eq!(events, 501, "every event once, across segments ({fsync:?})");
        assert!(segments(dir.path()).unwrap().len() > 1, "segments rotated");
        // confirming deletes what is behind the cursor, and a new reader starts after it
        let last = shared.last_seq();
        let before = shared.bytes();
        r.confirm(last, false).unwrap();
        assert!(shared.bytes() < before);
        assert_eq!(
            segments(dir.path()).unwrap().len(),
            1,
            "the current segment stays"
        );
        assert!(SpoolReader::new(shared).next(100, u64::MAX).is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn views_through_connection_memos_are_each_counted_once_across_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, writer) = start(cfg(dir.path()));
        let shared = spool.shared().clone();
        let pages = [Uuid::from_u128(1), Uuid::from_u128(2)];
        // four connections, each viewing until the writer has taken their groups (sealed
        // them) several times; one switches page and user agent often, missing its memo
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let (spool, shared) = (spool.clone(), shared.clone());
                std::thread::spawn(move || {
                    let mut memo = ViewMemo::default();
                    let mut sent = std::collections::HashMap::<(Uuid, Vec<u8>), u32>::new();
                    let client: IpAddr = [203, 0, 113, t].into();
                    let deadline = Instant::now() + Duration::from_secs(20);
                    let mut i = 0u32;
                    while shared.last_seq() < 4 {
                        assert!(Instant::now() < deadline, "the views were never written");
                        let (page, ua) = if t == 3 {
                            (pages[(i / 7 % 2) as usize], format!("ua-{t}-{}", i / 3 % 2))
                        } else {
                            (pages[t as usize % 2], format!("Mozilla/5.0 ({t})"))
                        };
                        spool.view(Some(&mut memo), page, client, ua.as_bytes());
                        *sent.entry((page, ua.into_bytes())).or_default() += 1;
                        i += 1;
                    }
                    (client, sent)
                })
            })
            .collect();
        let sent: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        spool.close().await;
        tokio::task::spawn_blocking(move || writer.join().unwrap())
            .await
            .unwrap();
        let events: Vec<Event> = SpoolReader::new(shared)
            .next(10_000, u64::MAX)
            .iter()
            .flat_map(|f| crate::event::decode_all(&f.events).unwrap())
            .collect();
        // each connection's user agents are its own
        for (client, groups) in sent {
            for ((page, ua), n) in groups {
                let written: u64 = events
                    .iter()
                    .filter(|e| e.profile == page && e.user_agent.as_bytes() == ua)
                    .map(|e| u64::from(e.count))
                    .sum();
                assert_eq!(
                    written,
                    u64::from(n),
                    "{client} {page} {}",
                    String::from_utf8_lossy(&ua)
                );
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closing_writes_what_was_sent_and_refuses_the_rest_and_one_process_owns_a_spool() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, writer) = start(cfg(dir.path()));
        let err = open(
            cfg(dir.path()),
            Arc::new(Salts::default()),
            Arc::new(Geo::default()),
            EventMetrics::noop(),
        )
        .err()
        .expect("a second open of a spool in use fails");
        assert!(err.to_string().contains("in use"), "{err}");
        for _ in 0..100 {
            spool.view(
                None,
                Uuid::nil(),
                "203.0.113.9".parse().unwrap(),
                b"Mozilla/5.0",
            );
        }
        spool.close().await;
        let shared = spool.shared().clone();
        // the writer stops with every handle still alive: close does not wait for drops
        tokio::task::spawn_blocking(move || writer.join().unwrap())
            .await
            .unwrap();
        assert_eq!(spool.click(hit(Kind::Click)).await, Err(Refused::Closed));
        let mut r = SpoolReader::new(shared);
        let frames = r.next(1000, u64::MAX);
        let events: Vec<Event> = frames
            .iter()
            .flat_map(|f| crate::event::decode_all(&f.events).unwrap())
            .collect();
        assert_eq!(events.len(), 1, "alike views are one event");
        assert_eq!(
            events[0].count, 100,
            "views sent before the close are written"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_racing_the_writer_gets_every_frame_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, writer) = start(cfg(dir.path()));
        let shared = spool.shared().clone();
        let writers: Vec<_> = (0..8)
            .map(|_| {
                let s = spool.clone();
                tokio::spawn(async move {
                    for _ in 0..500 {
                        s.click(hit(Kind::Click)).await.unwrap();
                    }
                })
            })
            .collect();
        // read while they write: small reads, often at the tail and across rotations
        let reader = std::thread::spawn({
            let shared = shared.clone();
            move || {
                let mut r = SpoolReader::new(shared.clone());
                let (mut last, mut events) = (0u64, 0u32);
                let deadline = Instant::now() + Duration::from_secs(30);
                while events < 4000 {
                    assert!(Instant::now() < deadline, "read {events} of 4000 events");
                    for f in r.next(3, u64::MAX) {
                        assert_eq!(f.seq, last + 1, "frames in order, none skipped");
                        last = f.seq;
                        events += f.count;
                    }
                }
                events
            }
        });
        for w in writers {
            w.await.unwrap();
        }
        assert_eq!(reader.join().unwrap(), 4000);
        drop(spool);
        writer.join().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_torn_tail_is_cut_off_and_numbering_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, writer) = start(cfg(dir.path()));
        for _ in 0..3 {
            spool.click(hit(Kind::Click)).await.unwrap();
        }
        let last = spool.shared().last_seq();
        drop(spool);
        writer.join().unwrap();
        // a crash in the middle of a write leaves half a frame
        let (_, seg) = segments(dir.path()).unwrap().pop().unwrap();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&frame_bytes(last + 1, &[])[..9]).unwrap();
        drop(f);
        let (spool, writer) = start(cfg(dir.path()));
        spool.click(hit(Kind::Click)).await.unwrap();
        assert_eq!(spool.shared().last_seq(), last + 1);
        let shared = spool.shared().clone();
        drop(spool);
        writer.join().unwrap();
        let frames = SpoolReader::new(shared).next(100, u64::MAX);
        let seqs: Vec<u64> = frames.iter().map(|f| f.seq).collect();
        assert_eq!(seqs, (1..=last + 1).collect::<Vec<_>>());
    }

    /// A write that fails half-way (a full disk) leaves nothing behind that could hide the
    /// frames written after it: every click answered before and after is read back in order,
    /// and kept by the next start, whether the torn bytes could be cut off or not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_is_taken_back_and_hides_no_later_click() {
        for cut_fails in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (spool, writer) = start(cfg(dir.path()));
            spool.click(hit(Kind::Click)).await.unwrap();
            spool
                .shared()
                .faults
                .fail_cut
                .store(cut_fails, Ordering::SeqCst);
            spool
                .shared()
                .faults
                .tear_next_write
                .store(true, Ordering::SeqCst);
            assert_eq!(
                spool.click(hit(Kind::Click)).await,
                Err(Refused::Failed),
                "the click of the torn write is refused"
            );
            for _ in 0..3 {
                spool.click(hit(Kind::Click)).await.unwrap();
            }
            let shared = spool.shared().clone();
            assert_eq!(shared.last_seq(), 4, "the refused frame took no number");
            let read = |shared: Arc<Shared>| {
                SpoolReader::new(shared)
                    .next(100, u64::MAX)
                    .iter()
                    .map(|f| f.seq)
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                read(shared.clone()),
                vec![1, 2, 3, 4],
                "cut fails: {cut_fails}"
            );
            drop((spool, shared));
            writer.join().unwrap();
            // a restart keeps every answered click
            let (spool, writer) = start(cfg(dir.path()));
            assert_eq!(read(spool.shared().clone()), vec![1, 2, 3, 4]);
            drop(spool);
            writer.join().unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_spool_refuses_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path());
        c.max_bytes = 300;
        let (spool, _writer) = start(c);
        let mut refused = 0;
        for _ in 0..10 {
            if spool.click(hit(Kind::Click)).await == Err(Refused::Full) {
                refused += 1;
            }
        }
        assert!(refused >= 7, "{refused}");
    }

    #[test]
    fn garbage_frames_are_errors_not_panics() {
        for junk in [
            &b"LLSF\xff\xff\xff\xff\0\0\0\0"[..],
            b"XXXX",
            b"LLSF\x0c\0\0\0\0\0\0\0abc",
        ] {
            let r = read_frame(&mut &junk[..]);
            assert!(r.is_err(), "{junk:?}");
        }
        assert!(read_frame(&mut &b""[..]).unwrap().is_none());
    }
}
