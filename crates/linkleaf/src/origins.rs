//! Where pages and links come from, in one place: this instance's database (`StorePages`,
//! `StoreLinks`), or, on an edge (`origin.upstream_url`), the upstream (`UpstreamPages`, with
//! `Indexing` remembering which profile each link belongs to, and `EdgeLinks` serving `/r/{link}`
//! from the page cache, so a link is never fresher or staler than its page); the shared tier in
//! front of either when Redis is configured (`TieredLoader`); and `compose`, which makes the
//! page and link caches over them with the cache's own split of the memory bound. Must not:
//! answer requests (the HTTP crate does, from the caches made here).

use crate::config::Config;
use anyhow::Context;
use async_trait::async_trait;
use axum::http::HeaderValue;
use linkleaf_cache::invalidate::{RecentKeys, Shared};
use linkleaf_cache::tier::{SecondTier, TierMetrics, TieredLoader};
use linkleaf_cache::{CacheMetrics, LoadError, Loaded, Loader, ReadCache};
use linkleaf_domain::schedule;
use linkleaf_http::clicks::Redirect;
use linkleaf_http::cold::ColdMisses;
use linkleaf_http::render::{RenderedPage, Renderer};
use linkleaf_lifecycle::Lifecycle;
use linkleaf_outbound::Origin;
use linkleaf_store::{ProfileStore, ReadFrom, StoreError, Stores};
use metrics::Counter;
use std::sync::Arc;
use uuid::Uuid;

/// A store failure as a load failure.
pub fn load_error(e: StoreError) -> LoadError {
    match e {
        StoreError::Unavailable(_) => LoadError::unavailable(e),
        _ => LoadError::internal(e),
    }
}

/// The origin of the read path when this instance owns the data: the profile store, rendered.
pub struct StorePages {
    profiles: Arc<dyn ProfileStore>,
    renderer: Renderer,
    recent: RecentKeys,
    from_replica: Counter,
    from_primary: Counter,
}

impl StorePages {
    pub fn new(
        profiles: Arc<dyn ProfileStore>,
        renderer: Renderer,
        recent: RecentKeys,
        recorder: &dyn metrics::Recorder,
    ) -> Self {
        let (from_replica, from_primary) = metrics::with_local_recorder(recorder, || {
            (
                metrics::counter!("linkleaf_db_page_reads_total", "from" => "replica"),
                metrics::counter!("linkleaf_db_page_reads_total", "from" => "primary"),
            )
        });
        Self {
            profiles,
            renderer,
            recent,
            from_replica,
            from_primary,
        }
    }
}

#[async_trait]
impl Loader<RenderedPage> for StorePages {
    async fn load(&self, key: &str) -> Result<Option<Loaded<RenderedPage>>, LoadError> {
        let from = if self.recent.contains(key) {
            self.from_primary.increment(1);
            ReadFrom::Primary
        } else {
            self.from_replica.increment(1);
            ReadFrom::Replica
        };
        let Some(p) = self
            .profiles
            .profile_by_username(key, from)
            .await
            .map_err(load_error)?
        else {
            return Ok(None);
        };
        let value = self.renderer.render(&p).map_err(LoadError::internal)?;
        Ok(Some(Loaded::new(p.id, value)))
    }
}

/// The link cache's origin when this instance owns the data: the store.
pub struct StoreLinks(pub Arc<dyn ProfileStore>);

#[async_trait]
impl Loader<Redirect> for StoreLinks {
    async fn load(&self, key: &str) -> Result<Option<Loaded<Redirect>>, LoadError> {
        let Ok(id) = Uuid::try_parse(key) else {
            return Ok(None);
        };
        let Some(t) = self.0.link_target(id).await.map_err(load_error)? else {
            return Ok(None);
        };
        let location = HeaderValue::from_str(&t.url).map_err(|_| {
            LoadError::internal(format!("link {id} has a URL that is not a header"))
        })?;
        // shown now, and until when that holds (the link's own next boundary)
        let now = time::OffsetDateTime::now_utc();
        let (on, from, until) = (t.enabled, t.visible_from, t.visible_until);
        let expires_at_ms = schedule::next_boundary([(on, from, until)], now)
            .map(|b| linkleaf_domain::unix_millis(b).max(0) as u64);
        Ok(Some(Loaded::new(
            t.profile,
            Redirect {
                profile: t.profile,
                location,
                enabled: schedule::shown_at(on, from, until, now),
                expires_at_ms,
            },
        )))
    }
}

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
/// loaded, wherever it came from. A link seen for the first time drops what the link cache
/// held for its id: a `404` kept from before it was shown (a scheduled link, before its
/// start) must not outlive its appearing.
pub struct Indexing {
    pub inner: Arc<dyn Loader<RenderedPage>>,
    pub links: LinkIndex,
    /// The link cache, once it is made (after the page cache it reads; weak, as the link
    /// cache holds the page cache).
    pub redirects: Arc<std::sync::OnceLock<linkleaf_cache::WeakCache<Redirect>>>,
}

#[async_trait]
impl Loader<RenderedPage> for Indexing {
    async fn load(&self, key: &str) -> Result<Option<Loaded<RenderedPage>>, LoadError> {
        let loaded = self.inner.load(key).await?;
        if let Some(l) = &loaded {
            let mut new = Vec::new();
            for (id, _) in targets(&l.value) {
                if self.links.0.get(&id).is_none() {
                    new.push(id.to_string());
                }
                self.links.0.insert(id, key.to_owned());
            }
            if let (false, Some(redirects)) = (
                new.is_empty(),
                self.redirects
                    .get()
                    .and_then(linkleaf_cache::WeakCache::upgrade),
            ) {
                redirects.invalidate(&linkleaf_cache::Invalidation {
                    keys: new,
                    owner: None,
                });
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
    /// The page cache (made before the link cache).
    pub pages: ReadCache<RenderedPage>,
}

#[async_trait]
impl Loader<Redirect> for EdgeLinks {
    async fn load(&self, key: &str) -> Result<Option<Loaded<Redirect>>, LoadError> {
        let Ok(id) = Uuid::try_parse(key) else {
            return Ok(None);
        };
        let Some(name) = self.links.0.get(&id) else {
            return Ok(None);
        };
        let read = self.pages.get(&name).await?;
        let (Some(page), Some(profile)) = (read.entry.value(), read.entry.owner()) else {
            return Ok(None);
        };
        // the public JSON lists the links shown now only: one not in it is not shown (hidden,
        // or outside its window) until the page changes, and its answer ends with the page's
        // (and goes with it, by owner), so a link shown again is not kept a 404
        let shown = targets(page)
            .into_iter()
            .find(|(l, _)| *l == id)
            .and_then(|(_, url)| HeaderValue::from_str(&url).ok());
        Ok(Some(Loaded::new(
            profile,
            Redirect {
                profile,
                enabled: shown.is_some(),
                location: shown.unwrap_or(HeaderValue::from_static("/")),
                expires_at_ms: page.expires_at_ms,
            },
        )))
    }
}

/// The read path, composed: the caches, and what was made for them.
pub struct ReadPath {
    pub pages: ReadCache<RenderedPage>,
    pub links: ReadCache<Redirect>,
    /// Keys written lately (reads skip the replica for them).
    pub recent: RecentKeys,
    /// The shared tier and the bus, with Redis.
    pub shared: Option<Shared>,
    /// An edge's upstream, and its misses for names never seen.
    pub upstream: Option<Arc<Origin>>,
    pub cold: Option<Arc<ColdMisses>>,
}

/// The page and link caches over their origins, as the configuration says: the store or the
/// upstream, with Redis in front of either.
pub fn compose(
    cfg: &Config,
    stores: &Stores,
    redis: Option<&linkleaf_redis::Redis>,
    instance: Uuid,
    recorder: &dyn metrics::Recorder,
    life: &Lifecycle,
) -> anyhow::Result<ReadPath> {
    let settings = cfg.http_settings();
    let recent = RecentKeys::new(cfg.database.replica_lag);
    let renderer = Renderer {
        public_url: settings.public_url.clone(),
    };
    let shared = redis.map(|r| Shared {
        tier: Arc::new(r.clone()) as Arc<dyn SecondTier>,
        bus: Arc::new(linkleaf_redis::bus::RedisBus::new(r.clone(), instance)),
    });
    let upstream_cfg = cfg.origin_config();
    let cold = upstream_cfg.is_some().then(|| {
        Arc::new(ColdMisses::new(
            cfg.origin.cold_misses_per_minute,
            cfg.origin.cold_negative_ttl,
            recorder,
        ))
    });
    let (origin, upstream): (Arc<dyn Loader<RenderedPage>>, _) = match (&cold, upstream_cfg) {
        (Some(cold), Some(o)) => {
            let upstream = Arc::new(
                crate::edge::origin(o, cfg.origin.upstream_per_minute, redis, recorder)
                    .context("the upstream")?,
            );
            (
                Arc::new(UpstreamPages {
                    origin: upstream.clone(),
                    renderer,
                    cold: cold.clone(),
                }),
                Some(upstream),
            )
        }
        _ => (
            Arc::new(StorePages::new(
                stores.profiles.clone(),
                renderer,
                recent.clone(),
                recorder,
            )),
            None,
        ),
    };
    let pages_loader: Arc<dyn Loader<RenderedPage>> = match &shared {
        Some(s) => Arc::new(
            TieredLoader::new(
                s.tier.clone(),
                origin,
                settings.cache.clone(),
                TierMetrics::register(recorder, "profile"),
            )
            .on_recent_write(
                cfg.database.replica_lag,
                Arc::new({
                    let recent = recent.clone();
                    move |key: &str| recent.record(&[key.to_owned()])
                }),
            ),
        ),
        None => origin,
    };
    // an edge learns the links of every page it loads, from the upstream or the shared tier;
    // its index takes a thirty-second of the cache's memory, beside it
    let index = cfg
        .is_edge()
        .then(|| LinkIndex::new(cfg.cache.max_bytes.get() / 32));
    let redirects = Arc::new(std::sync::OnceLock::new());
    let pages_loader: Arc<dyn Loader<RenderedPage>> = match &index {
        Some(links) => Arc::new(Indexing {
            inner: pages_loader,
            links: links.clone(),
            redirects: redirects.clone(),
        }),
        None => pages_loader,
    };
    let (page_policy, link_policy) = settings.cache.pages_and_links();
    let pages = ReadCache::new(
        page_policy,
        pages_loader,
        CacheMetrics::register(recorder, "profile"),
    )
    .with_tasks(life.tasks());
    let links_loader: Arc<dyn Loader<Redirect>> = match index {
        Some(links) => Arc::new(EdgeLinks {
            links,
            pages: pages.clone(),
        }),
        None => Arc::new(StoreLinks(stores.profiles.clone())),
    };
    let links = ReadCache::new(
        link_policy,
        links_loader,
        CacheMetrics::register(recorder, "link"),
    )
    .with_tasks(life.tasks());
    // a second set cannot happen: this is the only one
    let _ = redirects.set(links.downgrade());
    Ok(ReadPath {
        pages,
        links,
        recent,
        shared,
        upstream,
        cold,
    })
}
