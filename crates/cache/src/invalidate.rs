//! Invalidation, beside the bus: `Invalidator` is the one place a write announces what it
//! changed and the one place an instance drops what another announced. A write's entries go
//! from this instance's caches at once (`Forget`); then the shared tier forgets them and the bus
//! tells the other instances, in a task of its own, so a request that goes away cannot cut the
//! announcement short; what Redis could not take is retried (`retry`) until it is taken or no
//! entry anywhere could still hold the old version. `RecentKeys` remembers what was written
//! lately, here or anywhere, so reads of it skip a replica that may lag.
//! Must not: know what the values are, or talk to Redis (the tier and the bus are traits).

use crate::tier::{Bus, SecondTier};
use crate::{Invalidation, ReadCache, Weigh};
use metrics::Counter;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Something that holds entries a write can make stale.
pub trait Forget: Send + Sync + 'static {
    /// Drops what `inv` names.
    fn forget(&self, inv: &Invalidation);
    /// Drops everything (what was missed cannot be known).
    fn forget_all(&self);
}

impl<V: Weigh + Send + Sync + 'static> Forget for ReadCache<V> {
    fn forget(&self, inv: &Invalidation) {
        self.invalidate(inv);
    }

    fn forget_all(&self) {
        self.clear();
    }
}

/// A cache whose entries are named by their owner only (a profile's links): a write of the
/// owner drops them all, whatever keys it names.
pub struct ByOwner<C>(pub C);

impl<V: Weigh + Send + Sync + 'static> Forget for ByOwner<ReadCache<V>> {
    fn forget(&self, inv: &Invalidation) {
        if inv.owner.is_some() {
            self.0.invalidate(&Invalidation {
                keys: vec![],
                owner: inv.owner,
            });
        }
    }

    fn forget_all(&self) {
        self.0.clear();
    }
}

/// Keys written lately, here or (through the bus) anywhere: their reads skip a replica that
/// may not have the write yet.
#[derive(Clone)]
pub struct RecentKeys(Option<moka::sync::Cache<String, ()>>);

impl RecentKeys {
    /// Remembers each key for `window` (the longest a replica is expected to lag); a zero
    /// window remembers nothing (no replica is expected to lag), rather than for a moment that
    /// a read may or may not fall into.
    pub fn new(window: Duration) -> Self {
        Self((!window.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(window)
                .build()
        }))
    }

    pub fn record(&self, keys: &[String]) {
        if let Some(c) = &self.0 {
            for k in keys {
                c.insert(k.clone(), ());
            }
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.as_ref().is_some_and(|c| c.contains_key(key))
    }
}

impl Forget for RecentKeys {
    fn forget(&self, inv: &Invalidation) {
        self.record(&inv.keys);
    }

    fn forget_all(&self) {}
}

/// What a key begins with when it signals the instances' own caches and names nothing the
/// shared tier holds (`~counted/{profile}`: a profile's counts moved).
pub const SIGNAL: char = '~';

/// The shared tier and the bus, when there are.
#[derive(Clone)]
pub struct Shared {
    pub tier: Arc<dyn SecondTier>,
    pub bus: Arc<dyn Bus>,
}

impl Shared {
    /// Makes the shared tier forget, then tells the other instances. `Err` when either failed.
    async fn announce(&self, inv: &Invalidation) -> Result<(), String> {
        // a key beginning with `~` signals the instances' own caches (a profile's counts
        // moved): the tier holds nothing under it
        let held: Vec<String> = inv
            .keys
            .iter()
            .filter(|k| !k.starts_with(SIGNAL))
            .cloned()
            .collect();
        let forgot = if held.is_empty() {
            Ok(())
        } else {
            self.tier.forget(&held).await
        };
        let told = self.bus.publish(inv).await;
        match (forgot, told) {
            (Ok(()), Ok(())) => Ok(()),
            (f, t) => Err(format!(
                "tier: {}, bus: {}",
                f.err().map_or("ok".into(), |e| e.to_string()),
                t.err().map_or("ok".into(), |e| e.to_string())
            )),
        }
    }
}

/// `linkleaf_cache_invalidations_total`, `linkleaf_invalidations_deferred_total`.
#[derive(Clone)]
pub struct InvalidationMetrics {
    announced: Counter,
    deferred: Counter,
}

impl InvalidationMetrics {
    pub fn register(recorder: &dyn metrics::Recorder) -> Self {
        metrics::with_local_recorder(recorder, || Self {
            announced: metrics::counter!("linkleaf_cache_invalidations_total"),
            deferred: metrics::counter!("linkleaf_invalidations_deferred_total"),
        })
    }
}

pub struct Invalidator {
    local: Vec<Arc<dyn Forget>>,
    shared: Option<Shared>,
    /// Announcements the shared tier or the bus did not take, with when they were made.
    pending: Mutex<VecDeque<(Invalidation, tokio::time::Instant)>>,
    /// Past this age an announcement is dropped: no entry anywhere can still hold what it names.
    max_age: Duration,
    metrics: InvalidationMetrics,
    /// Where announcements run: the process's lifecycle tracker, so a stop waits for them.
    tasks: TaskTracker,
}

impl Invalidator {
    /// Drops entries from `local`; announces through `shared` when there is one. `max_age`: an
    /// entry's whole life (fresh and stale). Announcements run as tasks of `tasks`.
    pub fn new(
        local: Vec<Arc<dyn Forget>>,
        shared: Option<Shared>,
        max_age: Duration,
        metrics: InvalidationMetrics,
        tasks: TaskTracker,
    ) -> Self {
        Self {
            local,
            shared,
            pending: Mutex::default(),
            max_age,
            metrics,
            tasks,
        }
    }

    /// A write's announcement: this instance's entries go at once; the shared tier and the
    /// other instances hear of it before this returns (or, when Redis does not answer, as soon
    /// as it does). Runs to its end even if the caller is dropped.
    pub async fn announce(self: &Arc<Self>, inv: Invalidation) {
        self.apply(&inv);
        self.metrics.announced.increment(1);
        if let Some(shared) = self.shared.clone() {
            let me = self.clone();
            let announced = self.tasks.spawn(async move {
                if let Err(e) = shared.announce(&inv).await {
                    tracing::warn!(error = %e, keys = ?inv.keys, "invalidation not shared yet: will retry");
                    me.metrics.deferred.increment(1);
                    me.lock().push_back((inv, tokio::time::Instant::now()));
                }
            });
            let _ = announced.await;
        }
    }

    /// Drops this instance's entries named by `inv` (a write here, or one another instance
    /// announced).
    pub fn apply(&self, inv: &Invalidation) {
        for l in &self.local {
            l.forget(inv);
        }
    }

    /// Drops everything this instance holds (it cannot know what it missed).
    pub fn apply_all(&self) {
        for l in &self.local {
            l.forget_all();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Invalidation, tokio::time::Instant)>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Announcements waiting for Redis.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    /// Retries what the shared tier and the bus did not take, every `every`, until `stop`.
    pub async fn retry(&self, every: Duration, stop: CancellationToken) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let waiting: Vec<_> = self.lock().drain(..).collect();
            for (inv, at) in waiting {
                if at.elapsed() > self.max_age {
                    continue;
                }
                if shared.announce(&inv).await.is_err() {
                    self.lock().push_back((inv, at));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With `database.replica_lag_secs = 0` a key announced on the bus was remembered for a
    /// millisecond, and a read falling into it went to the primary: the shared-tier test that
    /// expects the replica's answer then failed one run in two.
    #[test]
    fn a_zero_window_remembers_nothing_and_another_remembers_its_keys() {
        let none = RecentKeys::new(Duration::ZERO);
        none.record(&["lagged".to_owned()]);
        assert!(!none.contains("lagged"));
        let some = RecentKeys::new(Duration::from_secs(10));
        some.record(&["lagged".to_owned()]);
        assert!(some.contains("lagged"));
        assert!(!some.contains("other"));
    }
}
