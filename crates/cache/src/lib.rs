//! The read cache: cache-aside in front of an origin, holding finished values.
//!
//! Owns the rules of the read path: one origin load per key however many requests miss at once
//! (single-flight), a fresh period and then a stale period during which the entry is served while
//! one background load refreshes it (stale-while-revalidate, and stale-if-error: a failed refresh
//! keeps the old entry), short negative entries for keys the origin does not have, and
//! invalidation by key and by owner id that cannot be undone by a load already in flight.
//!
//! It is generic over the cached value and the `Loader` that fetches it; it knows nothing of
//! profiles, HTML or databases. A shared second tier slots in as `tier::TieredLoader`, a loader
//! that wraps the origin's (the tier itself, Redis, is another crate's, behind `SecondTier`);
//! invalidations from other instances arrive through `invalidate`, or `clear` when an instance
//! cannot know what it missed.
//! Must not: block on the hot path (a hit takes no lock), or serve an entry past its stale limit.

pub mod invalidate;
pub mod tier;

use async_trait::async_trait;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use metrics::{Counter, Histogram};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// How long entries live.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Served as a hit for this long after a load.
    pub fresh: Duration,
    /// Then served as stale, while one background load refreshes it, for this much longer.
    pub stale: Duration,
    /// How long "no such key" is remembered.
    pub negative: Duration,
    /// After a failed refresh, the stale entry is not retried for this long.
    pub retry_after_error: Duration,
    /// Total weight (bytes, as the values report) the cache may hold.
    pub max_weight: u64,
}

impl Policy {
    /// The page cache's and the link cache's policies, out of one memory bound: links take a
    /// sixteenth (they are small and few per profile), pages the rest, so the two together hold
    /// to `max_weight`.
    pub fn pages_and_links(&self) -> (Policy, Policy) {
        let links = (self.max_weight / 16).max(1);
        (
            Policy {
                max_weight: self.max_weight - links,
                ..self.clone()
            },
            Policy {
                max_weight: links,
                ..self.clone()
            },
        )
    }
}

/// The wall clock, since the epoch.
fn wall() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// The wall clock, in ms since the epoch.
pub fn now_ms() -> u64 {
    wall().as_millis() as u64
}

/// How long from now (by the wall clock, to the nanosecond) until `end_ms`, ms since the
/// epoch; zero once it has passed. Not rounded to the millisecond: an entry must not outlive
/// its end by the part of a millisecond the clock had gone into.
pub fn until_wall(end_ms: u64) -> Duration {
    Duration::from_millis(end_ms).saturating_sub(wall())
}

/// What a value costs to keep, in bytes: what it holds on the heap, as allocated (not as used).
/// The cache adds its inline size, what an entry costs around it (`ENTRY_OVERHEAD`,
/// `OWNER_INDEX_OVERHEAD`, the key), so that the sum is what the process really spends and
/// `Policy::max_weight` bounds memory, not a notion of it.
pub trait Weigh {
    fn weight(&self) -> u32;

    /// When the value stops being true by itself (ms since the epoch; a page whose scheduled
    /// link appears or goes then): a hard end no entry outlives, fresh or stale, whatever the
    /// origin does. `None`: only the policy's periods apply.
    fn expires_at_ms(&self) -> Option<u64> {
        None
    }
}

/// What one entry costs beyond its key and its value: the `Entry` and its `Arc`, the key's
/// `Arc<str>` header, and moka's bookkeeping (its node in the concurrent map, the access and
/// write deques, the timer-wheel node of the per-entry expiry, the value entry and its info).
/// Measured by `tests/memory.rs` (allocation growth per negative entry over 100,000 entries,
/// moka 0.12.16, 2026-11-25): 396 bytes for a 14-byte key, so 382 beyond the key; charged 440,
/// which leaves room for mimalloc's size classes (up to 12.5% apart). Before values were boxed a
/// negative entry cost ~650 bytes and was charged 96 plus its key.
pub const ENTRY_OVERHEAD: u32 = 440;

/// What an entry that holds a value adds beyond `ENTRY_OVERHEAD` and its value's weight: its
/// record in the owner index (a map slot, the key list, the key's reference) and the box around
/// the value (charged separately, by its size). Measured with `ENTRY_OVERHEAD`: an entry with a
/// 9,000-byte value allocates 593 bytes beyond the value, 197 more than a negative entry, of
/// which 48 are the box; charged 160.
pub const OWNER_INDEX_OVERHEAD: u32 = 160;

/// A value the origin has, and the id of what owns it (a profile id for profile pages), so the
/// entry can be dropped by owner as well as by key; and how old the value already is (zero from
/// the origin; a value kept in a shared tier has aged there, and is fresh only for what is left).
pub struct Loaded<V> {
    pub owner: Uuid,
    pub value: V,
    pub age: Duration,
}

impl<V> Loaded<V> {
    /// A value just read from the origin.
    pub fn new(owner: Uuid, value: V) -> Self {
        Self {
            owner,
            value,
            age: Duration::ZERO,
        }
    }
}

/// Why a load failed, by what a caller should do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadErrorKind {
    /// The origin cannot be reached or is overloaded: try again in a moment.
    Unavailable,
    /// The origin is limiting us: try again after this long.
    Throttled { retry_after: Duration },
    /// The origin answered something wrong (corrupt data, a bug): retrying will not help soon.
    Internal,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct LoadError {
    pub kind: LoadErrorKind,
    message: Arc<str>,
}

impl LoadError {
    pub fn unavailable(msg: impl std::fmt::Display) -> Self {
        Self::of(LoadErrorKind::Unavailable, msg)
    }

    pub fn throttled(retry_after: Duration, msg: impl std::fmt::Display) -> Self {
        Self::of(LoadErrorKind::Throttled { retry_after }, msg)
    }

    pub fn internal(msg: impl std::fmt::Display) -> Self {
        Self::of(LoadErrorKind::Internal, msg)
    }

    fn of(kind: LoadErrorKind, msg: impl std::fmt::Display) -> Self {
        Self {
            kind,
            message: msg.to_string().into(),
        }
    }

    /// How long a client should wait before asking again.
    pub fn retry_after(&self) -> Duration {
        match self.kind {
            LoadErrorKind::Throttled { retry_after } => retry_after,
            _ => Duration::from_secs(1),
        }
    }
}

/// Fetches one key from the origin: `Ok(None)` when it does not exist.
#[async_trait]
pub trait Loader<V>: Send + Sync + 'static {
    async fn load(&self, key: &str) -> Result<Option<Loaded<V>>, LoadError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Hit,
    Miss,
    Stale,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "HIT",
            Self::Miss => "MISS",
            Self::Stale => "STALE",
        }
    }
}

/// One cached answer: a value, or the knowledge that there is none. The value is boxed so that
/// a negative entry (the common kind under a flood of unknown names) stays small.
pub struct Entry<V> {
    found: Option<Box<Loaded<V>>>,
    fresh_until: Instant,
    stale_until: Instant,
    lifetime: Duration,
    /// The value's hard end (`Weigh::expires_at_ms`), when it has one.
    ends_at: Option<Instant>,
    refreshing: AtomicBool,
    /// Milliseconds after `Inner::epoch` before which no refresh is attempted.
    retry_at_ms: AtomicU64,
}

impl<V> Entry<V> {
    pub fn value(&self) -> Option<&V> {
        self.found.as_ref().map(|l| &l.value)
    }

    pub fn owner(&self) -> Option<Uuid> {
        self.found.as_ref().map(|l| l.owner)
    }
}

/// What a read returns.
pub struct Read<V> {
    pub entry: Arc<Entry<V>>,
    pub status: Status,
}

/// What a write changed: the keys it touched and, when known, the owner whose entries go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invalidation {
    pub keys: Vec<String>,
    pub owner: Option<Uuid>,
}

/// Counters and timings, registered once so the hot path only touches atomics.
#[derive(Clone)]
pub struct CacheMetrics {
    hits: Counter,
    misses: Counter,
    stale: Counter,
    loads_found: Counter,
    loads_missing: Counter,
    loads_failed: Counter,
    load_seconds: Histogram,
}

impl CacheMetrics {
    /// Registers this cache's metrics with `recorder`, labelled `cache = name`.
    pub fn register(recorder: &dyn metrics::Recorder, name: &'static str) -> Self {
        metrics::with_local_recorder(recorder, || Self {
            hits: metrics::counter!("linkleaf_cache_hits_total", "cache" => name),
            misses: metrics::counter!("linkleaf_cache_misses_total", "cache" => name),
            stale: metrics::counter!("linkleaf_cache_stale_total", "cache" => name),
            loads_found: metrics::counter!("linkleaf_origin_loads_total", "cache" => name, "outcome" => "found"),
            loads_missing: metrics::counter!("linkleaf_origin_loads_total", "cache" => name, "outcome" => "not_found"),
            loads_failed: metrics::counter!("linkleaf_origin_loads_total", "cache" => name, "outcome" => "error"),
            load_seconds: metrics::histogram!("linkleaf_origin_load_seconds", "cache" => name),
        })
    }

    /// Metrics that go nowhere (for tests of the cache itself).
    pub fn noop() -> Self {
        Self::register(&metrics::NoopRecorder, "noop")
    }
}

type Flight<V> = Shared<BoxFuture<'static, Result<Arc<Entry<V>>, LoadError>>>;
/// Loads in flight by key, each with an id so a finished load removes only itself.
type Flights<V> = HashMap<Arc<str>, (u64, Flight<V>)>;

/// Owner id → the keys its entries are cached under, each with the identity (address) of the
/// entry it was recorded for, so that moka's notice of an entry's removal, however late, can
/// only remove that entry's record: two live entries never share an address.
#[derive(Default)]
struct OwnerIndex(Mutex<HashMap<Uuid, OwnedKeys>>);

/// The keys one owner's entries are cached under, with each entry's address.
type OwnedKeys = Vec<(Arc<str>, usize)>;

impl OwnerIndex {
    fn add(&self, owner: Uuid, key: Arc<str>, entry: usize) {
        lock(&self.0).entry(owner).or_default().push((key, entry));
    }

    fn remove(&self, owner: Uuid, entry: usize) {
        let mut m = lock(&self.0);
        if let Some(keys) = m.get_mut(&owner) {
            keys.retain(|(_, e)| *e != entry);
            if keys.is_empty() {
                m.remove(&owner);
            }
        }
    }

    fn keys(&self, owner: Uuid) -> Vec<Arc<str>> {
        lock(&self.0)
            .get(&owner)
            .map(|v| v.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default()
    }

    fn clear(&self) {
        lock(&self.0).clear();
    }
}

fn address<V>(e: &Arc<Entry<V>>) -> usize {
    Arc::as_ptr(e) as *const () as usize
}

/// Invalidation generations are kept for this many shards of the key space: a load whose
/// shard was invalidated while it ran does not store its (possibly older) result.
const SHARDS: usize = 1024;

struct Inner<V> {
    l1: moka::sync::Cache<Arc<str>, Arc<Entry<V>>>,
    owners: Arc<OwnerIndex>,
    inflight: Mutex<Flights<V>>,
    next_flight: AtomicU64,
    /// Held while storing a loaded entry and while invalidating: the two never interleave.
    generations: Mutex<Box<[u64; SHARDS]>>,
    hasher: std::collections::hash_map::RandomState,
    loader: Arc<dyn Loader<V>>,
    policy: Policy,
    epoch: Instant,
    metrics: CacheMetrics,
    /// Where loads run (the process's lifecycle tracker, with `with_tasks`).
    tasks: TaskTracker,
}

/// The cache. Cloning is cheap and shares it.
pub struct ReadCache<V> {
    inner: Arc<Inner<V>>,
}

/// A `ReadCache` that does not keep it alive (for a loader of one cache that must reach
/// another, which may hold the first).
pub struct WeakCache<V>(std::sync::Weak<Inner<V>>);

impl<V> WeakCache<V> {
    /// The cache, while it lives.
    pub fn upgrade(&self) -> Option<ReadCache<V>> {
        self.0.upgrade().map(|inner| ReadCache { inner })
    }
}

impl<V> ReadCache<V> {
    pub fn downgrade(&self) -> WeakCache<V> {
        WeakCache(Arc::downgrade(&self.inner))
    }
}

impl<V> Clone for ReadCache<V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct LifetimeExpiry;

impl<V> moka::Expiry<Arc<str>, Arc<Entry<V>>> for LifetimeExpiry {
    fn expire_after_create(
        &self,
        _: &Arc<str>,
        v: &Arc<Entry<V>>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(v.lifetime)
    }
    fn expire_after_update(
        &self,
        _: &Arc<str>,
        v: &Arc<Entry<V>>,
        _: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.lifetime)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind, still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<V: Weigh + Send + Sync + 'static> ReadCache<V> {
    pub fn new(policy: Policy, loader: Arc<dyn Loader<V>>, metrics: CacheMetrics) -> Self {
        let owners = Arc::new(OwnerIndex::default());
        let l1 = moka::sync::Cache::builder()
            .max_capacity(policy.max_weight)
            .weigher(|k: &Arc<str>, v: &Arc<Entry<V>>| {
                let found = v.found.as_ref().map_or(0, |l| {
                    l.value
                        .weight()
                        .saturating_add(OWNER_INDEX_OVERHEAD)
                        .saturating_add(std::mem::size_of::<Loaded<V>>() as u32)
                });
                ENTRY_OVERHEAD
                    .saturating_add(k.len() as u32)
                    .saturating_add(found)
            })
            .expire_after(LifetimeExpiry)
            .eviction_listener({
                let owners = owners.clone();
                move |_k, v: Arc<Entry<V>>, _cause| {
                    if let Some(owner) = v.owner() {
                        owners.remove(owner, address(&v));
                    }
                }
            })
            .build();
        Self {
            inner: Arc::new(Inner {
                l1,
                owners,
                inflight: Mutex::new(HashMap::new()),
                next_flight: AtomicU64::new(0),
                generations: Mutex::new(Box::new([0; SHARDS])),
                hasher: Default::default(),
                loader,
                policy,
                epoch: Instant::now(),
                metrics,
                tasks: TaskTracker::new(),
            }),
        }
    }

    /// Runs the loads as tasks of `tasks` (the process's lifecycle), so a stop waits for them.
    pub fn with_tasks(mut self, tasks: TaskTracker) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.tasks = tasks,
            None => {
                tracing::error!("with_tasks on a cache already shared: its loads stay untracked")
            }
        }
        self
    }

    /// The entry for `key`: from memory when fresh (or stale, refreshing it in the background),
    /// else from one shared origin load. Fails only when the origin fails and nothing servable
    /// is held.
    pub async fn get(&self, key: &str) -> Result<Read<V>, LoadError> {
        let inner = &self.inner;
        if let Some(entry) = inner.l1.get(key) {
            let now = Instant::now();
            if now < entry.fresh_until {
                inner.metrics.hits.increment(1);
                return Ok(Read {
                    entry,
                    status: Status::Hit,
                });
            }
            if now < entry.stale_until {
                inner.metrics.stale.increment(1);
                self.refresh(key, &entry, now);
                return Ok(Read {
                    entry,
                    status: Status::Stale,
                });
            }
        }
        inner.metrics.misses.increment(1);
        let mut entry = self.flight(key).await?;
        // A load that began before a value's hard end may finish after it; a read that came
        // after the end does not take what it produced.
        if entry.ends_at.is_some_and(|e| e <= Instant::now()) {
            entry = self.flight(key).await?;
        }
        Ok(Read {
            entry,
            status: Status::Miss,
        })
    }

    /// The entry for `key` when it holds a value and is fresh at `now` (the caller's clock
    /// reading, so a request reads the clock once), counted as a hit; `None` in every
    /// other case (absent, stale, negative), without counting or loading anything: for a fast
    /// path that falls back to `get`.
    pub fn get_fresh(&self, key: &str, now: Instant) -> Option<Arc<Entry<V>>> {
        let entry = self.inner.l1.get(key)?;
        if entry.found.is_some() && now < entry.fresh_until {
            self.inner.metrics.hits.increment(1);
            Some(entry)
        } else {
            None
        }
    }

    /// Whether an entry for `key` is held (fresh, stale or negative): a `get` would not need
    /// the origin for it now. Counts nothing and loads nothing.
    pub fn holds(&self, key: &str) -> bool {
        self.inner
            .l1
            .get(key)
            .is_some_and(|e| Instant::now() < e.stale_until.max(e.fresh_until))
    }

    /// Drops the entries of `inv` (its keys, and whatever key its owner is cached under), and
    /// makes any load in flight for them start over instead of storing what it read.
    pub fn invalidate(&self, inv: &Invalidation) {
        let inner = &self.inner;
        let mut keys: Vec<Arc<str>> = inv.keys.iter().map(|k| Arc::from(k.as_str())).collect();
        if let Some(owner) = inv.owner {
            keys.extend(inner.owners.keys(owner));
        }
        let mut gens = lock(&inner.generations);
        let mut inflight = lock(&inner.inflight);
        for k in &keys {
            gens[inner.shard(k)] += 1;
            inner.l1.invalidate(k);
            inflight.remove(k);
        }
    }

    /// Entries held and the weight they are charged, after pending housekeeping (for tests and
    /// the memory benchmark).
    pub fn usage(&self) -> (u64, u64) {
        self.inner.l1.run_pending_tasks();
        (self.inner.l1.entry_count(), self.inner.l1.weighted_size())
    }

    /// Drops everything (used when this instance cannot tell what it missed).
    pub fn clear(&self) {
        let mut gens = lock(&self.inner.generations);
        let mut inflight = lock(&self.inner.inflight);
        for g in gens.iter_mut() {
            *g += 1;
        }
        self.inner.l1.invalidate_all();
        self.inner.owners.clear();
        inflight.clear();
    }

    fn refresh(&self, key: &str, entry: &Arc<Entry<V>>, now: Instant) {
        let now_ms = now.duration_since(self.inner.epoch).as_millis() as u64;
        if now_ms < entry.retry_at_ms.load(Ordering::Relaxed) {
            return;
        }
        if entry.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        // The flight runs as its own task: dropping its handle does not cancel it.
        drop(self.flight(key));
    }

    /// How many readers wait on the load in flight for `key` (0 when none runs).
    pub fn waiting(&self, key: &str) -> usize {
        lock(&self.inner.inflight)
            .get(key)
            .and_then(|(_, f)| f.strong_count())
            // the map holds one itself
            .map_or(0, |n| n.saturating_sub(1))
    }

    /// Joins the load in flight for `key`, or starts one.
    fn flight(&self, key: &str) -> Flight<V> {
        let mut inflight = lock(&self.inner.inflight);
        if let Some((_, f)) = inflight.get(key) {
            return f.clone();
        }
        let key: Arc<str> = Arc::from(key);
        let id = self.inner.next_flight.fetch_add(1, Ordering::Relaxed);
        let task = self
            .inner
            .tasks
            .spawn(self.inner.clone().load_and_store(key.clone(), id));
        let flight = async move {
            task.await
                .unwrap_or_else(|e| Err(LoadError::internal(format!("loader task failed: {e}"))))
        }
        .boxed()
        .shared();
        inflight.insert(key, (id, flight.clone()));
        flight
    }
}

impl<V: Weigh + Send + Sync + 'static> Inner<V> {
    fn shard(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    async fn load_and_store(
        self: Arc<Self>,
        key: Arc<str>,
        flight: u64,
    ) -> Result<Arc<Entry<V>>, LoadError> {
        let shard = self.shard(&key);
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let generation = lock(&self.generations)[shard];
            let started = Instant::now();
            let loaded = self.loader.load(&key).await;
            self.metrics
                .load_seconds
                .record(started.elapsed().as_secs_f64());
            let found = match loaded {
                Ok(found) => found,
                Err(e) => {
                    self.metrics.loads_failed.increment(1);
                    // counted; the request that waited on it logs the cause in its own line
                    // (within the log's budget), so a client asking for name after name while
                    // the origin is down cannot fill the log through this one
                    tracing::debug!(key = %key, error = %e, "origin load failed");
                    break Err(e);
                }
            };
            if found.is_some() {
                self.metrics.loads_found.increment(1);
            } else {
                self.metrics.loads_missing.increment(1);
            }
            let entry = Arc::new(self.entry(found));
            let gens = lock(&self.generations);
            if gens[shard] == generation {
                // Recorded before the insert, so the removal notice of an entry evicted as soon
                // as it is inserted always finds its record.
                if let Some(owner) = entry.owner() {
                    self.owners.add(owner, key.clone(), address(&entry));
                }
                self.l1.insert(key.clone(), entry.clone());
                break Ok(entry);
            }
            drop(gens);
            // Invalidated while loading: what was read may predate the write. Read again; after
            // a few tries under constant writes, answer the waiters without storing.
            if attempt == 3 {
                break Ok(entry);
            }
        };
        let mut inflight = lock(&self.inflight);
        if inflight.get(&key).is_some_and(|(id, _)| *id == flight) {
            inflight.remove(&key);
        }
        drop(inflight);
        if result.is_err()
            && let Some(old) = self.l1.get(&key)
        {
            let retry = Instant::now() + self.policy.retry_after_error;
            old.retry_at_ms.store(
                retry.duration_since(self.epoch).as_millis() as u64,
                Ordering::Relaxed,
            );
            old.refreshing.store(false, Ordering::Release);
        }
        result
    }

    fn entry(&self, found: Option<Loaded<V>>) -> Entry<V> {
        let now = Instant::now();
        let (fresh_for, stale_for, age) = match &found {
            Some(l) => (self.policy.fresh, self.policy.stale, l.age),
            None => (self.policy.negative, Duration::ZERO, Duration::ZERO),
        };
        // A value that aged in a shared tier is fresh, then stale, only for what is left.
        let mut fresh = fresh_for.saturating_sub(age);
        let mut lifetime = (fresh_for + stale_for).saturating_sub(age);
        // ...and neither past its hard end (the wall clock's distance to it, on this clock)
        let ends_at = found
            .as_ref()
            .and_then(|l| l.value.expires_at_ms())
            .map(until_wall);
        if let Some(left) = ends_at {
            fresh = fresh.min(left);
            lifetime = lifetime.min(left);
        }
        Entry {
            found: found.map(Box::new),
            fresh_until: now + fresh,
            stale_until: now + lifetime,
            lifetime,
            ends_at: ends_at.map(|left| now + left),
            refreshing: AtomicBool::new(false),
            retry_at_ms: AtomicU64::new(0),
        }
    }
}
