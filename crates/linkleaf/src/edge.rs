//! Edge mode (`origin.upstream_url`): this instance serves profiles it reads from an upstream
//! profile API instead of its own database, through the same cache (L1, and L2 when Redis is
//! configured), so single-flight, stale-while-revalidate and stale-if-error hold as they do on
//! an origin. The upstream's answers are parsed by the domain's rules (`linkleaf_upstream`),
//! rendered like any profile, and remembered link by link, so `/r/{link}` works for the links of
//! the profiles this edge has loaded.

use async_trait::async_trait;
use axum::http::HeaderValue;
use linkleaf_cache::{LoadError, Loaded, Loader, ReadCache};
use linkleaf_http::Dependency;
use linkleaf_http::clicks::Redirect;
use linkleaf_http::render::{RenderedPage, Renderer};
use linkleaf_upstream::{Bucket, LocalBucket, Origin};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use uuid::Uuid;

/// What the edge knows of a loaded profile's links: where each points.
#[derive(Clone)]
struct Links {
    profile: Uuid,
    targets: Arc<[(Uuid, HeaderValue)]>,
}

/// The link tables the page loader fills and the link loader reads.
#[derive(Clone)]
pub struct LinkIndex {
    /// link id → the username key of its profile
    by_link: moka::sync::Cache<Uuid, String>,
    /// username key → its links
    by_name: moka::sync::Cache<String, Links>,
}

impl LinkIndex {
    pub fn new(capacity: u64) -> Self {
        Self {
            by_link: moka::sync::Cache::new(capacity * 16),
            by_name: moka::sync::Cache::new(capacity),
        }
    }
}

/// The page cache's origin on an edge: the upstream, rendered.
pub struct UpstreamPages {
    pub origin: Arc<Origin>,
    pub renderer: Renderer,
    pub links: LinkIndex,
}

#[async_trait]
impl Loader<RenderedPage> for UpstreamPages {
    async fn load(&self, key: &str) -> Result<Option<Loaded<RenderedPage>>, LoadError> {
        let Some(p) = self.origin.profile(key).await? else {
            self.links.by_name.invalidate(key);
            return Ok(None);
        };
        let page = self.renderer.render(&p).map_err(LoadError::internal)?;
        let targets: Vec<(Uuid, HeaderValue)> = p
            .links
            .iter()
            .filter(|l| l.enabled)
            .filter_map(|l| HeaderValue::from_str(&l.url).ok().map(|v| (l.id, v)))
            .collect();
        for (id, _) in &targets {
            self.links.by_link.insert(*id, key.to_owned());
        }
        self.links.by_name.insert(
            key.to_owned(),
            Links {
                profile: p.id,
                targets: targets.into(),
            },
        );
        Ok(Some(Loaded::new(p.id, page)))
    }
}

/// The link cache's origin on an edge: a link of a profile this edge has loaded, as fresh as
/// that profile's page (which is read, through the page cache, first).
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
        let Some(name) = self.links.by_link.get(&id) else {
            return Ok(None);
        };
        // the page first: a link is no fresher than its profile
        if let Some(pages) = self.pages.get() {
            pages.get(&name).await?;
        }
        let Some(links) = self.links.by_name.get(&name) else {
            return Ok(None);
        };
        Ok(links
            .targets
            .iter()
            .find(|(l, _)| *l == id)
            .map(|(_, location)| {
                Loaded::new(
                    links.profile,
                    Redirect {
                        profile: links.profile,
                        location: location.clone(),
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
        linkleaf_upstream::Client::new(o.request_timeout, linkleaf_upstream::origin::MAX_ANSWER)
            .map_err(|e| anyhow::anyhow!("the upstream client: {e}"))?;
    Origin::new(
        o,
        client,
        bucket,
        linkleaf_upstream::OriginMetrics::register(recorder),
    )
    .map_err(|e| anyhow::anyhow!(e))
}
