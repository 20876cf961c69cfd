//! The shared second tier and the invalidation bus, as this crate sees them: traits that another
//! crate implements (Redis, in `linkleaf-redis`), and `TieredLoader`, the loader that puts a tier
//! between the L1 cache and the origin.
//!
//! What a tier holds for a key is the finished value, encoded, with the time the origin produced
//! it, so a value read from the tier is fresh only for what is left of its period: several
//! instances sharing a tier never extend a value's freshness past what the origin gave. A key also
//! has a generation that `forget` moves; a fill presents the generation it read before going to
//! the origin and is dropped if it moved, so a load that raced a write on another instance
//! cannot put the old value back.
//!
//! A tier that fails or is slow costs no read: its errors are misses (the origin answers), and
//! the implementation's own timeout and breaker bound what a call may cost.
//! Must not: know what the values are (they are `Codec`s), or talk to a driver.

use crate::{Invalidation, LoadError, Loaded, Loader, Policy, now_ms};
use async_trait::async_trait;
use metrics::Counter;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Why a call to the tier or the bus did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TierError {
    /// The breaker is open: the tier failed recently and is not being asked.
    #[error("the shared tier is not being asked (breaker open)")]
    Open,
    #[error("the shared tier timed out")]
    Timeout,
    #[error("the shared tier failed: {0}")]
    Failed(String),
}

/// A shared store of encoded values, by key, with a generation per key.
#[async_trait]
pub trait SecondTier: Send + Sync + 'static {
    /// The bytes stored for `key`, if any, and the key's current generation: 0 for a key never
    /// forgotten, else the time of its last `forget` in ms since the epoch (or more: a
    /// generation only grows).
    async fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, u64), TierError>;
    /// Stores `bytes` for `ttl`, unless the key's generation is no longer `generation`.
    async fn put(
        &self,
        key: &str,
        generation: u64,
        bytes: &[u8],
        ttl: Duration,
    ) -> Result<(), TierError>;
    /// Drops the keys' values and moves their generations.
    async fn forget(&self, keys: &[String]) -> Result<(), TierError>;
}

/// Tells the other instances what a write changed.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    async fn publish(&self, inv: &Invalidation) -> Result<(), TierError>;
}

/// A value that can be kept in a shared tier.
pub trait Codec: Sized {
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

/// Bumped when what a value encodes changes (2: a page's `Last-Modified` strength; 3: its
/// hard end), so builds of a rolling deploy read each other's entries as another format, not
/// as corrupt ones.
const FORMAT: u8 = 3;
const ABSENT: u8 = 0;
const FOUND: u8 = 1;

/// `[format][absent|found][produced at, ms since the epoch, BE][owner, 16 bytes][value]`.
fn encode<V: Codec>(found: Option<&Loaded<V>>, produced_ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(FORMAT);
    match found {
        None => {
            out.push(ABSENT);
            out.extend_from_slice(&produced_ms.to_be_bytes());
        }
        Some(l) => {
            out.push(FOUND);
            out.extend_from_slice(&produced_ms.to_be_bytes());
            out.extend_from_slice(l.owner.as_bytes());
            l.value.encode(&mut out);
        }
    }
    out
}

/// What a tier held: the value (or its absence) and when the origin produced it.
enum Held<V> {
    Absent {
        produced_ms: u64,
    },
    Found {
        produced_ms: u64,
        owner: Uuid,
        value: V,
    },
}

fn decode<V: Codec>(b: &[u8]) -> Result<Held<V>, String> {
    let (&format, rest) = b.split_first().ok_or("empty")?;
    if format != FORMAT {
        return Err(format!("format {format}"));
    }
    let (&kind, rest) = rest.split_first().ok_or("no kind")?;
    let produced_ms = u64::from_be_bytes(
        rest.get(..8)
            .ok_or("no time")?
            .try_into()
            .map_err(|_| "time")?,
    );
    let rest = &rest[8..];
    match kind {
        ABSENT if rest.is_empty() => Ok(Held::Absent { produced_ms }),
        FOUND => {
            let owner =
                Uuid::from_slice(rest.get(..16).ok_or("no owner")?).map_err(|e| e.to_string())?;
            Ok(Held::Found {
                produced_ms,
                owner,
                value: V::decode(&rest[16..])?,
            })
        }
        k => Err(format!("kind {k}")),
    }
}

/// The tier's counters: `linkleaf_l2_requests_total{cache, outcome}` with outcome `hit`,
/// `stale` (held, but past its freshness: the origin is asked), `miss`, `error` (the tier failed
/// or is skipped: the origin is asked), `corrupt` (undecodable bytes: treated as a miss), and
/// `linkleaf_l2_fills_total{cache, outcome = stored | failed}`.
#[derive(Clone)]
pub struct TierMetrics {
    hit: Counter,
    stale: Counter,
    miss: Counter,
    error: Counter,
    corrupt: Counter,
    stored: Counter,
    fill_failed: Counter,
}

impl TierMetrics {
    pub fn register(recorder: &dyn metrics::Recorder, cache: &'static str) -> Self {
        metrics::with_local_recorder(recorder, || {
            let req = |o: &'static str| metrics::counter!("linkleaf_l2_requests_total", "cache" => cache, "outcome" => o);
            let fill = |o: &'static str| metrics::counter!("linkleaf_l2_fills_total", "cache" => cache, "outcome" => o);
            Self {
                hit: req("hit"),
                stale: req("stale"),
                miss: req("miss"),
                error: req("error"),
                corrupt: req("corrupt"),
                stored: fill("stored"),
                fill_failed: fill("failed"),
            }
        })
    }
}

/// Told of a key written lately (anywhere), before its origin is asked.
pub type RecentHook = Arc<dyn Fn(&str) + Send + Sync>;

/// A loader that reads a shared tier before the origin, and fills it from the origin.
pub struct TieredLoader<V> {
    tier: Arc<dyn SecondTier>,
    origin: Arc<dyn Loader<V>>,
    policy: Policy,
    metrics: TierMetrics,
    recent: Option<(Duration, RecentHook)>,
}

impl<V> TieredLoader<V> {
    pub fn new(
        tier: Arc<dyn SecondTier>,
        origin: Arc<dyn Loader<V>>,
        policy: Policy,
        metrics: TierMetrics,
    ) -> Self {
        Self {
            tier,
            origin,
            policy,
            metrics,
            recent: None,
        }
    }

    /// Calls `hook` before asking the origin for a key whose generation says it was written
    /// less than `window` ago, on any instance. The bus tells every instance of a write, but
    /// a load may start between the writer's `forget` and the bus message; this lets the
    /// origin read such a key from where every write is (a database primary, not a replica
    /// that may lag), so the old version is not put back in the tier under the new generation.
    pub fn on_recent_write(mut self, window: Duration, hook: RecentHook) -> Self {
        self.recent = Some((window, hook));
        self
    }
}

#[async_trait]
impl<V: Codec + crate::Weigh + Send + Sync + 'static> Loader<V> for TieredLoader<V> {
    async fn load(&self, key: &str) -> Result<Option<Loaded<V>>, LoadError> {
        let m = &self.metrics;
        let now = now_ms();
        // What the tier holds, if it answers; a value past its freshness is kept to fall back on
        // should the origin fail (stale-if-error, for every instance).
        let mut fallback = None;
        let mut generation = None;
        match self.tier.get(key).await {
            Err(e) => {
                m.error.increment(1);
                tracing::debug!(key, error = %e, "shared tier skipped");
            }
            Ok((bytes, g)) => {
                generation = Some(g);
                match bytes.as_deref().map(decode::<V>) {
                    None => m.miss.increment(1),
                    Some(Err(e)) => {
                        m.corrupt.increment(1);
                        tracing::warn!(key, error = %e, "undecodable entry in the shared tier");
                    }
                    Some(Ok(Held::Absent { produced_ms })) => {
                        let age = Duration::from_millis(now.saturating_sub(produced_ms));
                        if age < self.policy.negative {
                            m.hit.increment(1);
                            return Ok(None);
                        }
                        m.stale.increment(1);
                    }
                    Some(Ok(Held::Found {
                        produced_ms,
                        owner,
                        value,
                    })) => {
                        let age = Duration::from_millis(now.saturating_sub(produced_ms));
                        let loaded = Loaded { owner, value, age };
                        if loaded.value.expires_at_ms().is_some_and(|end| end <= now) {
                            // past its hard end: not servable, not even if the origin fails
                            m.miss.increment(1);
                        } else if age < self.policy.fresh {
                            m.hit.increment(1);
                            return Ok(Some(loaded));
                        } else {
                            m.stale.increment(1);
                            if age < self.policy.fresh + self.policy.stale {
                                fallback = Some(loaded);
                            }
                        }
                    }
                }
            }
        }
        if let (Some(g), Some((window, hook))) = (generation, &self.recent)
            && g > 0
            && now.saturating_sub(g) < window.as_millis() as u64
        {
            hook(key);
        }
        let found = match self.origin.load(key).await {
            Ok(found) => found,
            Err(e) => {
                return match fallback {
                    Some(stale) => {
                        tracing::warn!(key, error = %e, "origin failed: serving the shared tier's stale entry");
                        Ok(Some(stale))
                    }
                    None => Err(e),
                };
            }
        };
        // Fill the tier, unless it did not answer (then it is not asked twice in one load).
        if let Some(g) = generation {
            let ttl = match &found {
                // the entry ends at the value's hard end, if that comes first
                Some(l) => (self.policy.fresh + self.policy.stale).min(
                    l.value
                        .expires_at_ms()
                        .map_or(Duration::MAX, crate::until_wall),
                ),
                None => self.policy.negative,
            };
            let bytes = encode(found.as_ref(), now);
            if ttl.is_zero() {
                // already past its end: nothing to keep
            } else {
                match self.tier.put(key, g, &bytes, ttl).await {
                    Ok(()) => m.stored.increment(1),
                    Err(e) => {
                        m.fill_failed.increment(1);
                        tracing::debug!(key, error = %e, "shared tier not filled");
                    }
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct V(Vec<u8>);
    impl Codec for V {
        fn encode(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.0);
        }
        fn decode(b: &[u8]) -> Result<Self, String> {
            Ok(V(b.to_vec()))
        }
    }

    impl crate::Weigh for V {
        fn weight(&self) -> u32 {
            self.0.len() as u32
        }
    }

    /// A value that ends at the time it holds.
    struct Ending(u64);
    impl Codec for Ending {
        fn encode(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.0.to_be_bytes());
        }
        fn decode(b: &[u8]) -> Result<Self, String> {
            Ok(Ending(u64::from_be_bytes(b.try_into().map_err(|_| "len")?)))
        }
    }
    impl crate::Weigh for Ending {
        fn weight(&self) -> u32 {
            8
        }
        fn expires_at_ms(&self) -> Option<u64> {
            Some(self.0)
        }
    }

    /// A tier holding one entry for every key, recording the time each fill is kept for.
    struct Holding {
        bytes: Vec<u8>,
        ttls: std::sync::Mutex<Vec<Duration>>,
    }
    #[async_trait]
    impl SecondTier for Holding {
        async fn get(&self, _: &str) -> Result<(Option<Vec<u8>>, u64), TierError> {
            Ok((Some(self.bytes.clone()), 0))
        }
        async fn put(&self, _: &str, _: u64, _: &[u8], ttl: Duration) -> Result<(), TierError> {
            self.ttls.lock().unwrap().push(ttl);
            Ok(())
        }
        async fn forget(&self, _: &[String]) -> Result<(), TierError> {
            Ok(())
        }
    }
    /// An origin that fails, or answers a value ending at a time.
    struct EndingOrigin(Option<u64>);
    #[async_trait]
    impl Loader<Ending> for EndingOrigin {
        async fn load(&self, _: &str) -> Result<Option<Loaded<Ending>>, LoadError> {
            match self.0 {
                Some(end) => Ok(Some(Loaded::new(Uuid::nil(), Ending(end)))),
                None => Err(LoadError::unavailable("down")),
            }
        }
    }

    #[tokio::test]
    async fn a_value_past_its_hard_end_is_never_served_and_a_fill_ends_with_it() {
        let policy = Policy {
            fresh: Duration::from_secs(60),
            stale: Duration::from_secs(3600),
            negative: Duration::from_secs(1),
            retry_after_error: Duration::from_secs(1),
            max_weight: 1 << 20,
        };
        let recorder = metrics::NoopRecorder;
        let tiered = |held: Vec<u8>, origin: Option<u64>| {
            let tier = Arc::new(Holding {
                bytes: held,
                ttls: Default::default(),
            });
            let loader = TieredLoader::new(
                tier.clone(),
                Arc::new(EndingOrigin(origin)),
                policy.clone(),
                TierMetrics::register(&recorder, "t"),
            );
            (tier, loader)
        };
        let now = now_ms();
        // stale in the tier and the origin down: served stale, while before its end...
        let before_end = encode(
            Some(&Loaded::new(Uuid::nil(), Ending(now + 60_000))),
            now - 120_000,
        );
        let (_, l) = tiered(before_end, None);
        assert_eq!(l.load("k").await.unwrap().unwrap().value.0, now + 60_000);
        // ...but not once its end has passed, fresh or stale
        for produced in [now - 1_000, now - 120_000] {
            let past_end = encode(Some(&Loaded::new(Uuid::nil(), Ending(now - 1))), produced);
            let (_, l) = tiered(past_end, None);
            assert!(l.load("k").await.is_err(), "produced {produced}");
        }
        // a fill is kept no longer than to the value's end
        let past_end = encode(Some(&Loaded::new(Uuid::nil(), Ending(now - 1))), now);
        let (tier, l) = tiered(past_end, Some(now + 5_000));
        assert_eq!(l.load("k").await.unwrap().unwrap().value.0, now + 5_000);
        let ttls = tier.ttls.lock().unwrap().clone();
        assert!(
            ttls.len() == 1
                && ttls[0] <= Duration::from_secs(5)
                && ttls[0] > Duration::from_secs(4),
            "{ttls:?}"
        );
    }

    /// A tier holding nothing, whose keys were all last written at `generation`.
    struct Empty {
        generation: u64,
    }
    #[async_trait]
    impl SecondTier for Empty {
        async fn get(&self, _: &str) -> Result<(Option<Vec<u8>>, u64), TierError> {
            Ok((None, self.generation))
        }
        async fn put(&self, _: &str, _: u64, _: &[u8], _: Duration) -> Result<(), TierError> {
            Ok(())
        }
        async fn forget(&self, _: &[String]) -> Result<(), TierError> {
            Ok(())
        }
    }
    /// An origin that says whether it was told of a recent write before being asked.
    struct Origin(Arc<std::sync::Mutex<Vec<String>>>);
    #[async_trait]
    impl Loader<V> for Origin {
        async fn load(&self, key: &str) -> Result<Option<Loaded<V>>, LoadError> {
            let told = self.0.lock().unwrap().contains(&key.to_owned());
            Ok(Some(Loaded::new(Uuid::nil(), V(vec![u8::from(told)]))))
        }
    }

    #[tokio::test]
    async fn a_key_written_lately_anywhere_is_announced_before_the_origin_is_asked() {
        let policy = Policy {
            fresh: Duration::from_secs(60),
            stale: Duration::from_secs(60),
            negative: Duration::from_secs(1),
            retry_after_error: Duration::from_secs(1),
            max_weight: 1 << 20,
        };
        let recorder = metrics::NoopRecorder;
        for (written_ago_ms, expect_told) in [(2_000, true), (20_000, false)] {
            let told = Arc::new(std::sync::Mutex::new(Vec::new()));
            let loader = TieredLoader::new(
                Arc::new(Empty {
                    generation: now_ms() - written_ago_ms,
                }),
                Arc::new(Origin(told.clone())),
                policy.clone(),
                TierMetrics::register(&recorder, "t"),
            )
            .on_recent_write(
                Duration::from_secs(10),
                Arc::new(move |k: &str| told.lock().unwrap().push(k.to_owned())),
            );
            let got = loader.load("k").await.unwrap().unwrap();
            assert_eq!(
                got.value.0,
                vec![u8::from(expect_told)],
                "{written_ago_ms} ms ago"
            );
        }
    }

    #[test]
    fn entries_round_trip_and_garbage_is_refused() {
        let owner = Uuid::now_v7();
        let b = encode(Some(&Loaded::new(owner, V(b"page".to_vec()))), 1234);
        match decode::<V>(&b).unwrap() {
            Held::Found {
                produced_ms,
                owner: o,
                value,
            } => {
                assert_eq!(
                    (produced_ms, o, value.0.as_slice()),
                    (1234, owner, &b"page"[..])
                );
            }
            Held::Absent { .. } => panic!("found"),
        }
        let b = encode::<V>(None, 99);
        assert!(matches!(
            decode::<V>(&b).unwrap(),
            Held::Absent { produced_ms: 99 }
        ));
        for bad in [
            &b""[..],
            b"\x02",
            b"\x01",
            b"\x01\x01\x00",
            b"\x01\x07\x00\x00\x00\x00\x00\x00\x00\x00",
        ] {
            assert!(decode::<V>(bad).is_err(), "{bad:?}");
        }
    }
}
