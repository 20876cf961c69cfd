//! How the pieces fit for a deployment, decided from the configuration:
//! - embedded (no `redis.url`): the store is the page cache's origin, the rate limit is per
//!   instance, there is no bus;
//! - shared (`redis.url` set): Redis is a tier between each instance's cache and the store, the
//!   bus carries every write's invalidation to every instance, and the rate limit is one bucket
//!   per key for the whole deployment, falling back to the in-process one while Redis cannot
//!   answer (so a Redis outage never refuses a request that the limit would allow).

use async_trait::async_trait;
use linkleaf_http::Dependency;
use linkleaf_http::limit::{KeyLimiter, LocalLimiter};
use linkleaf_redis::{Redis, SharedBucket};
use metrics::Counter;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The deployment-wide bucket, with the in-process one when Redis cannot be asked.
pub struct SharedLimiter {
    bucket: SharedBucket,
    local: Arc<LocalLimiter>,
    fallbacks: Counter,
}

impl SharedLimiter {
    pub fn new(
        bucket: SharedBucket,
        local: Arc<LocalLimiter>,
        recorder: &dyn metrics::Recorder,
    ) -> Self {
        let fallbacks = metrics::with_local_recorder(recorder, || {
            metrics::counter!("linkleaf_rate_limit_local_fallbacks_total")
        });
        Self {
            bucket,
            local,
            fallbacks,
        }
    }
}

#[async_trait]
impl KeyLimiter for SharedLimiter {
    async fn take(&self, key: Uuid) -> Result<(), Duration> {
        match self.bucket.take(&key.to_string()).await {
            Ok(None) => Ok(()),
            Ok(Some(wait)) => Err(wait),
            Err(e) => {
                self.fallbacks.increment(1);
                tracing::debug!(error = %e, "shared rate limit unavailable: this instance's bucket decides");
                self.local.take_now(key)
            }
        }
    }
}

/// Redis as `/readyz` reports it: optional (without it the instance serves, degraded).
pub struct RedisHealth(pub Redis);

#[async_trait]
impl Dependency for RedisHealth {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn optional(&self) -> bool {
        true
    }

    async fn check(&self) -> Result<String, String> {
        if self.0.breaker_open() {
            return Err("failing: breaker open, reads go to the database".into());
        }
        self.0.ping().await.map_err(|e| e.to_string())?;
        if self.0.bus_connected() {
            Ok("shared tier and bus up".into())
        } else {
            Err("the bus is not connected: other instances' writes are not heard".into())
        }
    }
}
