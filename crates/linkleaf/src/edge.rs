//! Edge mode's own parts (`origin.upstream_url`): the upstream client with its bucket (shared
//! by every edge through Redis when there is one, a third of it for names never seen), and the
//! upstream as `/readyz` reports it. The edge's loaders are with every other origin, in
//! `origins`.

use async_trait::async_trait;
use linkleaf_http::Dependency;
use linkleaf_outbound::{Bucket, LocalBucket, Origin};
use std::sync::Arc;
use std::time::Duration;

/// The upstream as `/readyz` reports it: optional (an edge serves its cache, stale if need be,
/// while the upstream fails).
pub struct UpstreamHealth(pub Arc<Origin>);

#[async_trait]
impl Dependency for UpstreamHealth {
    fn name(&self) -> &'static str {
        "upstream"
    }

    fn optional(&self) -> bool {
        true
    }

    async fn check(&self) -> Result<String, String> {
        self.0.health()
    }
}

/// The upstream key's bucket shared by every edge on one Redis (a GCRA script there), with this
/// process's own bucket when Redis cannot answer.
pub struct SharedUpstreamBucket {
    pub bucket: linkleaf_redis::SharedBucket,
    /// The bucket's name in Redis: a digest of the key, never the key.
    pub name: String,
    pub local: LocalBucket,
}

#[async_trait]
impl Bucket for SharedUpstreamBucket {
    async fn take(&self) -> Result<(), Duration> {
        match self.bucket.take(&self.name).await {
            Ok(None) => Ok(()),
            Ok(Some(wait)) => Err(wait),
            Err(e) => {
                tracing::debug!(error = %e, "shared upstream bucket unavailable: this process's decides");
                self.local.take().await
            }
        }
    }
}

/// The upstream client of an edge, with its bucket: shared through Redis when there is one.
pub fn origin(
    o: linkleaf_outbound::OriginConfig,
    per_minute: std::num::NonZeroU32,
    redis: Option<&linkleaf_redis::Redis>,
    recorder: &dyn metrics::Recorder,
) -> anyhow::Result<Origin> {
    let per_minute = per_minute.get();
    let bucket: Box<dyn Bucket> = match redis {
        Some(r) => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(format!("{}\n{}", o.url, o.key.expose()).as_bytes());
            Box::new(SharedUpstreamBucket {
                bucket: linkleaf_redis::SharedBucket::new(r.clone(), per_minute, per_minute),
                name: format!("upstream:{}", hex::encode(&digest[..12])),
                local: LocalBucket::new(per_minute),
            })
        }
        None => Box::new(LocalBucket::new(per_minute)),
    };
    let client =
        linkleaf_outbound::Client::new(o.request_timeout, linkleaf_outbound::origin::MAX_ANSWER)
            .map_err(|e| anyhow::anyhow!("the upstream client: {e}"))?;
    Ok(Origin::new(
        o,
        client,
        bucket,
        linkleaf_outbound::OriginMetrics::register(recorder),
    )
    .map_err(|e| anyhow::anyhow!(e))?
    // names never seen may spend a third of the budget (this instance's share), no more
    .with_cold_bucket(Box::new(LocalBucket::new((per_minute / 3).max(1)))))
}
