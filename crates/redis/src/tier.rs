//! The shared cache tier: the page bytes and the generation of each key, side by side in one
//! slot. A fill is a script that stores only if the generation is still the one the loader read
//! before asking the origin; an invalidation is a script that moves the generation and drops
//! the page, so a load that raced a write anywhere cannot put the old page back.
//! Must not: decode or judge what a page holds (the cache does), or fill over a newer generation.

use crate::client::Redis;
use async_trait::async_trait;
use linkleaf_cache::tier::{SecondTier, TierError};
use std::time::Duration;

/// Generations outlive any load by far; they only need to outlive the loads in flight.
const GENERATION_TTL_MS: u64 = 24 * 3600 * 1000;

#[async_trait]
impl SecondTier for Redis {
    async fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, u64), TierError> {
        let (page, generation) = (self.key("page", key), self.key("gen", key));
        let (bytes, g): (Option<Vec<u8>>, Option<u64>) = self
            .call(|mut c| async move {
                redis::cmd("MGET")
                    .arg(&page)
                    .arg(&generation)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok((bytes, g.unwrap_or(0)))
    }

    async fn put(
        &self,
        key: &str,
        generation: u64,
        bytes: &[u8],
        ttl: Duration,
    ) -> Result<(), TierError> {
        let (page, gen_key) = (self.key("page", key), self.key("gen", key));
        let script = &self.0.scripts.put;
        let ttl_ms = ttl.as_millis().max(1) as u64;
        let _stored: i64 = self
            .call(|mut c| async move {
                script
                    .key(page)
                    .key(gen_key)
                    .arg(generation.to_string())
                    .arg(bytes)
                    .arg(ttl_ms)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(())
    }

    async fn forget(&self, keys: &[String]) -> Result<(), TierError> {
        let script = &self.0.scripts.forget;
        for k in keys {
            let (page, gen_key) = (self.key("page", k), self.key("gen", k));
            let _: i64 = self
                .call(|mut c| async move {
                    script
                        .key(page)
                        .key(gen_key)
                        .arg(GENERATION_TTL_MS)
                        .invoke_async(&mut c)
                        .await
                })
                .await?;
        }
        Ok(())
    }
}
