//! The per-key token bucket every instance shares (`SharedBucket`): one GCRA step in Redis on
//! Redis's clock. Must not: decide what happens when Redis cannot answer (the caller falls back
//! to its own bucket).

use crate::client::Redis;
use linkleaf_cache::tier::TierError;
use std::time::Duration;

/// A per-key token bucket that every instance shares, so a key's limit holds for the whole
/// deployment.
#[derive(Clone)]
pub struct SharedBucket {
    redis: Redis,
    interval_ms: u64,
    tolerance_ms: u64,
}

impl SharedBucket {
    /// `per_minute` tokens a minute, at most `burst` at once.
    pub fn new(redis: Redis, per_minute: u32, burst: u32) -> Self {
        let interval_ms = 60_000 / u64::from(per_minute.max(1));
        Self {
            redis,
            interval_ms: interval_ms.max(1),
            tolerance_ms: interval_ms.max(1) * u64::from(burst.max(1) - 1),
        }
    }

    /// Takes a token for `key`: `Ok(None)` when taken, `Ok(Some(wait))` when the bucket is
    /// empty, `Err` when Redis could not be asked (the caller decides what then).
    pub async fn take(&self, key: &str) -> Result<Option<Duration>, TierError> {
        let k = self.redis.key("rl", key);
        let (interval, tolerance) = (self.interval_ms, self.tolerance_ms);
        let script = &self.redis.0.scripts.gcra;
        let wait: u64 = self
            .redis
            .call(|mut c| async move {
                script
                    .key(k)
                    .arg(interval)
                    .arg(tolerance)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok((wait > 0).then(|| Duration::from_millis(wait)))
    }
}
