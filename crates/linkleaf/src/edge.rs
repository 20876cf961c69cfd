//! Edge mode (`origin.upstream_url`): this instance serves profiles it reads from an upstream
//! profile API instead of its own database, through the same cache (L1, and L2 when Redis is
//! configured), so single-flight, stale-while-revalidate and stale-if-error hold as they do on
//! an origin. The upstream's answers are parsed by the domain's rules (`linkleaf_outbound`),
//! rendered like any profile, and remembered link by link, so `/r/{link}` works for the links of
//! the profiles this edge has loaded.

use async_trait::async_trait;
use axum::http::HeaderValue;
use linkleaf_cache::{LoadError, Loaded, Loader, ReadCache};
use linkleaf_http::Dependency;
use linkleaf_http::clicks::Redirect;
use linkleaf_http::cold::ColdMisses;
use linkleaf_http::render::{RenderedPage, Renderer};
use linkleaf_outbound::{Bucket, LocalBucket, Origin};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use uuid::Uuid;

/// Which profile each link of a loaded profile belongs to: link id → username key. Filled by
/// `Indexing` whenever a page is loaded, from the upstream or from the shared tier (so a second
/// edge, or this one restarted, knows the links of what it serves).
#[derive(Clone)]
pub struct LinkIndex(moka::sync::Cache<Uuid, String>);

impl LinkIndex {
    /// An index holding at most `max_bytes`, entries charged what they cost: the id, the name
    /// and moka's bookkeeping (the figure `linkleaf_cache` measured for its own entries).
    pub fn new(max_bytes: u64) -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(max_bytes.max(1 << 20))
                .weigher(|_: &Uuid, name: &String| {
                    (16 + name.capacity() + linkleaf_cache::ENTRY_OVERHEAD as usize) as u32
                })
                .build(),
        )
    }
}

/// A page's links as its public JSON lists them (what `Renderer` wrote): (id, url).
fn targets(page: &RenderedPage) -> Vec<(Uuid, String)> {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&page.json.body) else {
        return Vec::new();
    };
    doc["links"]
        .as_array()
        .map(|links| {
            links
                .iter()
                .filter_map(|l| {
                    Some((
                        Uuid::try_parse(l["id"].as_str()?).ok()?,
                        l["url"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The page cache's origin on an edge: the upstream, rendered. What it learns of which names
/// exist goes to `cold` (`linkleaf_http::cold`).
pub struct UpstreamPages {
    pub origin: Arc<Origin>,
    pub renderer: Renderer,
    pub cold: Arc<ColdMisses>,
}

#[async_trait]
impl Loader<RenderedPage> for UpstreamPages {
    async fn load(&self, key: &str) -> Result<Option<Loaded<RenderedPage>>, LoadError> {
        let found = self.origin.profile(key, !self.cold.is_known(key)).await?;
        let Some(p) = found else {
            self.cold.missing(key);
            return Ok(None);
        };
        self.cold.exists(key);
        let page = self.renderer.render(&p).map_err(LoadError::internal)?;
        Ok(Some(Loaded::new(p.id, page)))
    }
}

/// Around an edge's whole page loader (shared tier included): records the links of every page
/// loaded, wherever it came from.
pub struct Indexing {
    pub inner: Arc<dyn Loader<RenderedPage>>,
    pub links: LinkIndex,
}

#[async_trait]
impl Loader<RenderedPage> for Indexing {
    async fn load(&self, key: &str) -> Result<Option<Loaded<RenderedPage>>, LoadError> {
        let loaded = self.inner.load(key).await?;
        if let Some(l) = &loaded {
            for (id, _) in targets(&l.value) {
                self.links.0.insert(id, key.to_owned());
            }
        }
        Ok(loaded)
    }
}

/// The link cache's origin on an edge: a link of a profile this edge has loaded, read from that
/// profile's page as the page cache holds it now (loading it if due), so a link is never
/// fresher or staler than its page.
pub struct EdgeLinks {
    pub links: LinkIndex,
    /// The page cache, once the state holding it is built.
    pub pages: Arc<OnceLock<ReadCache<RenderedPage>>>,
}

#[async_trait]
impl Loader<Redirect> for EdgeLinks {
    async fn load(&self, key: &str) -> Result<Option<Loaded<Redirect>>, LoadError> {
        let Ok(id) = Uuid::try_parse(key) else {
            return Ok(None);
        };
        let (Some(name), Some(pages)) = (self.links.0.get(&id), self.pages.get()) else {
            return Ok(None);
        };
        let read = pages.get(&name).await?;
        let (Some(page), Some(profile)) = (read.entry.value(), read.entry.owner()) else {
            return Ok(None);
        };
        Ok(targets(page)
            .into_iter()
            .find(|(l, _)| *l == id)
            .and_then(|(_, url)| HeaderValue::from_str(&url).ok())
            .map(|location| {
                Loaded::new(
                    profile,
                    Redirect {
                        profile,
                        location,
                        // the public JSON lists enabled links only
                        enabled: true,
                    },
                )
            }))
    }
}

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
    cfg: &crate::Config,
    redis: Option<&linkleaf_redis::Redis>,
    recorder: &dyn metrics::Recorder,
) -> anyhow::Result<Origin> {
    let o = cfg.origin_config();
    let per_minute = cfg.origin.upstream_per_minute;
    let bucket: Box<dyn Bucket> = match redis {
        Some(r) => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(format!("{}\n{}", o.url, o.key).as_bytes());
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
