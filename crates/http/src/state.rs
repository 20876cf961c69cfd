//! What every handler shares: stores, the page cache and what is around it (its origin, the
//! shared tier and the bus, when there are), the rate limiter, settings, and the headers and
//! bodies built once at start-up.
//!
//! The binary composes the pieces (`Wiring`): this crate does not know whether the origin is a
//! database or an upstream API, nor whether the shared tier is Redis.
//!
//! `AppState::invalidate` is the single place a write announces what it changed: this
//! instance's L1 entries go at once; the shared tier forgets them and the bus tells the other
//! instances, in a task of its own, so a request that goes away cannot cut the announcement
//! short; what Redis could not take is retried (`retry_invalidations`) until it is taken or no
//! entry could still hold the old version.

use crate::clicks::{Recorder, Redirect};
use crate::error::AppError;
use crate::limit::KeyLimiter;
use crate::render::{RenderedPage, Renderer, message_page};
use async_trait::async_trait;
use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;
use linkleaf_cache::tier::{Bus, SecondTier};
use linkleaf_cache::{CacheMetrics, Invalidation, LoadError, Loaded, Loader, Policy, ReadCache};
use linkleaf_domain::analytics::{AnalyticsReport, Bucket};
use linkleaf_domain::{ApiKeyToken, Profile, Scope, Scopes, Username};
use linkleaf_store::{
    AnalyticsStore, DatabaseHealth, KeyStore, ProfileStore, ReadFrom, StoreError, Stores,
    WebhookStore,
};
use metrics::Counter;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The HTTP layer's settings (the binary maps its configuration onto these).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Public origin of the pages (`https://links.example.com`), for canonical and OpenGraph URLs.
    pub public_url: String,
    /// Largest admin request body accepted.
    pub max_body_bytes: usize,
    pub cache: Policy,
    /// `Cache-Control` sent with public answers: browsers and CDNs may reuse them this long...
    pub browser_max_age: Duration,
    /// ...and serve them stale this much longer while revalidating.
    pub browser_stale_while_revalidate: Duration,
    /// How long an analytics report is reused.
    pub analytics_cache: Duration,
    /// What the reused reports may weigh together (bytes).
    pub analytics_cache_bytes: u64,
    /// Edge mode: profiles come from an upstream (`origin.upstream_url`); this instance owns
    /// none, and the admin routes that would read or change them say so.
    pub edge: bool,
    /// How long an incoming webhook's id is remembered (a duplicate within it changes nothing).
    pub webhook_inbox_ttl: Duration,
    /// After a secret rotation, how long the old secret keeps signing.
    pub webhook_rotation_overlap: Duration,
    /// Subscriptions at most (`webhooks.max_subscriptions`).
    pub max_subscriptions: u32,
}

/// Headers and bodies that never change while the process runs.
pub struct Prebuilt {
    pub cached_headers: crate::respond::CachedHeaders,
    pub not_found_html: Bytes,
    pub unavailable_html: Bytes,
    pub error_html: Bytes,
}

/// The API key behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: Uuid,
    pub name: String,
    pub scopes: Scopes,
}

/// The second tier and the bus, shared by every instance (Redis, when configured).
#[derive(Clone)]
pub struct Shared {
    pub tier: Arc<dyn SecondTier>,
    pub bus: Arc<dyn Bus>,
}

/// A dependency whose state `/readyz` reports.
#[async_trait]
pub trait Dependency: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// `Ok(detail)` when it answers; `Err(why)` when not.
    async fn check(&self) -> Result<String, String>;
    /// Whether the instance can be ready without it (serving in a degraded mode).
    fn optional(&self) -> bool;
}

/// What the binary composes the state from.
pub struct Wiring {
    /// Where page-cache misses go: the origin, possibly behind the shared tier.
    pub loader: Arc<dyn Loader<RenderedPage>>,
    /// Where link-cache misses go (`/r/{link}`).
    pub links: Arc<dyn Loader<Redirect>>,
    /// Records clicks and views, when there is a spool.
    pub recorder: Option<Recorder>,
    /// The shared tier and the bus, when there are.
    pub shared: Option<Shared>,
    pub limiter: Arc<dyn KeyLimiter>,
    /// Usernames changed lately, here or (via the bus) anywhere.
    pub recent: RecentWrites,
    /// What `/readyz` reports, besides the database.
    pub dependencies: Vec<Arc<dyn Dependency>>,
    /// Checks incoming webhooks (`webhooks.secret`; empty: every one is refused).
    pub verifier: Arc<linkleaf_webhooks::Verifier>,
    /// Woken after a write commits events to the outbox (the dispatcher, when it runs here).
    pub dispatch: Option<Arc<tokio::sync::Notify>>,
    /// Where URLs users supply may lead (subscriptions).
    pub destinations: linkleaf_outbound::Destinations,
    /// An edge's misses for names never seen (`None` on an origin).
    pub cold: Option<Arc<crate::cold::ColdMisses>>,
}

/// Usernames written lately, so their reads skip a replica that may not have the write yet.
#[derive(Clone)]
pub struct RecentWrites(moka::sync::Cache<String, ()>);

impl RecentWrites {
    /// Remembers each key for `window` (the longest a replica is expected to lag).
    pub fn new(window: Duration) -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(window.max(Duration::from_millis(1)))
                .build(),
        )
    }

    pub fn record(&self, keys: &[String]) {
        for k in keys {
            self.0.insert(k.clone(), ());
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
}

/// The origin of the read path when this instance owns the data: the profile store, rendered.
pub struct StorePages {
    profiles: Arc<dyn ProfileStore>,
    renderer: Renderer,
    recent: RecentWrites,
    from_replica: Counter,
    from_primary: Counter,
}

impl StorePages {
    pub fn new(
        profiles: Arc<dyn ProfileStore>,
        renderer: Renderer,
        recent: RecentWrites,
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

/// A store failure as a load failure.
pub fn load_error(e: StoreError) -> LoadError {
    match e {
        StoreError::Unavailable(_) => LoadError::unavailable(e),
        _ => LoadError::internal(e),
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

/// Invalidations the shared tier or the bus did not take, with when they were made.
#[derive(Default)]
struct Pending(Mutex<VecDeque<(Invalidation, tokio::time::Instant)>>);

impl Pending {
    fn push(&self, inv: Invalidation) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((inv, tokio::time::Instant::now()));
    }

    fn take(&self) -> Vec<(Invalidation, tokio::time::Instant)> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect()
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Shared {
    /// Makes the shared tier forget, then tells the other instances. `Err` when either failed.
    async fn announce(&self, inv: &Invalidation) -> Result<(), String> {
        let forgot = self.tier.forget(&inv.keys).await;
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

/// A report's identity in the report cache: the profile, the resolved range, and whether it
/// was shortened.
pub type ReportKey = (Uuid, i64, i64, Bucket, bool);

/// The report cache: reports kept for `ttl`, weighing `max_bytes` together at most.
fn report_cache(
    max_bytes: u64,
    ttl: Duration,
) -> moka::sync::Cache<ReportKey, Arc<AnalyticsReport>> {
    moka::sync::Cache::builder()
        .max_capacity(max_bytes)
        .weigher(|_, r: &Arc<AnalyticsReport>| report_weight(r))
        .time_to_live(ttl.max(Duration::from_millis(1)))
        .build()
}

/// What a report weighs in memory, roughly: the bound of the report cache.
fn report_weight(r: &AnalyticsReport) -> u32 {
    use std::mem::size_of;
    let shares = [
        &r.referrers,
        &r.countries,
        &r.devices,
        &r.browsers,
        &r.operating_systems,
        &r.bot_classes,
    ]
    .iter()
    .flat_map(|s| s.iter())
    .map(|s| size_of::<linkleaf_domain::analytics::Share>() + s.value.len())
    .sum::<usize>();
    let bytes = size_of::<AnalyticsReport>()
        + r.links.len() * size_of::<linkleaf_domain::analytics::LinkClicks>()
        + r.series.len() * size_of::<linkleaf_domain::analytics::SeriesPoint>()
        + shares
        + 96; // the key and the cache's own bookkeeping
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

struct Inner {
    profiles: Arc<dyn ProfileStore>,
    keys: Arc<dyn KeyStore>,
    analytics: Arc<dyn AnalyticsStore>,
    webhooks: Arc<dyn WebhookStore>,
    database: Arc<dyn DatabaseHealth>,
    verifier: Arc<linkleaf_webhooks::Verifier>,
    dispatch: Option<Arc<tokio::sync::Notify>>,
    destinations: linkleaf_outbound::Destinations,
    cold: Option<Arc<crate::cold::ColdMisses>>,
    pages: ReadCache<RenderedPage>,
    links: ReadCache<Redirect>,
    recorder: Option<Recorder>,
    reports: moka::sync::Cache<ReportKey, Arc<AnalyticsReport>>,
    limiter: Arc<dyn KeyLimiter>,
    shared: Option<Shared>,
    recent: RecentWrites,
    pending: Pending,
    dependencies: Vec<Arc<dyn Dependency>>,
    settings: Settings,
    prebuilt: Prebuilt,
    draining: AtomicBool,
    invalidations: Counter,
    invalidations_deferred: Counter,
    rate_limited: Counter,
    /// `linkleaf_webhooks_received_total{outcome}`: accepted, duplicate, ignored, refused.
    received: [Counter; 4],
}

/// What became of an incoming webhook.
#[derive(Debug, Clone, Copy)]
pub enum Received {
    Accepted,
    Duplicate,
    Ignored,
    Refused,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    /// Builds the state; metrics handles are registered with `recorder` once, here.
    pub fn new(
        stores: Stores,
        settings: Settings,
        recorder: &dyn metrics::Recorder,
        wiring: Wiring,
    ) -> Self {
        // Links take a sixteenth of the cache's memory (they are small and few per profile) and
        // pages the rest, so the two together hold to `cache.max_bytes`.
        let links_weight = (settings.cache.max_weight / 16).max(1);
        let pages = ReadCache::new(
            Policy {
                max_weight: settings.cache.max_weight - links_weight,
                ..settings.cache.clone()
            },
            wiring.loader,
            CacheMetrics::register(recorder, "profile"),
        );
        let links = ReadCache::new(
            Policy {
                max_weight: links_weight,
                ..settings.cache.clone()
            },
            wiring.links,
            CacheMetrics::register(recorder, "link"),
        );
        let reports = report_cache(settings.analytics_cache_bytes, settings.analytics_cache);
        let prebuilt = Prebuilt {
            cached_headers: crate::respond::CachedHeaders::new(
                HeaderValue::from_str(&format!(
                    "public, max-age={}, stale-while-revalidate={}",
                    settings.browser_max_age.as_secs(),
                    settings.browser_stale_while_revalidate.as_secs()
                ))
                .unwrap_or(HeaderValue::from_static("no-cache")),
            ),
            not_found_html: message_page(
                "Nothing here",
                "No linkleaf page lives at this address. Check the spelling of the name.",
            ),
            unavailable_html: message_page(
                "Back in a moment",
                "This page cannot be loaded right now. Please try again shortly.",
            ),
            error_html: message_page(
                "Something went wrong",
                "This page cannot be shown because of an error on our side. It has been logged.",
            ),
        };
        let (invalidations, invalidations_deferred, rate_limited, received) =
            metrics::with_local_recorder(recorder, || {
                let r = |o: &'static str| metrics::counter!("linkleaf_webhooks_received_total", "outcome" => o);
                (
                    metrics::counter!("linkleaf_cache_invalidations_total"),
                    metrics::counter!("linkleaf_invalidations_deferred_total"),
                    metrics::counter!("linkleaf_rate_limited_total"),
                    [r("accepted"), r("duplicate"), r("ignored"), r("refused")],
                )
            });
        Self(Arc::new(Inner {
            profiles: stores.profiles,
            keys: stores.keys,
            analytics: stores.analytics,
            webhooks: stores.webhooks,
            database: stores.health,
            verifier: wiring.verifier,
            dispatch: wiring.dispatch,
            destinations: wiring.destinations,
            cold: wiring.cold,
            pages,
            links,
            recorder: wiring.recorder,
            reports,
            limiter: wiring.limiter,
            shared: wiring.shared,
            recent: wiring.recent,
            pending: Pending::default(),
            dependencies: wiring.dependencies,
            settings,
            prebuilt,
            draining: AtomicBool::new(false),
            invalidations,
            invalidations_deferred,
            rate_limited,
            received,
        }))
    }

    pub fn profiles(&self) -> &Arc<dyn ProfileStore> {
        &self.0.profiles
    }

    /// Whether the database answers and takes writes.
    pub fn database(&self) -> &Arc<dyn DatabaseHealth> {
        &self.0.database
    }

    pub fn pages(&self) -> &ReadCache<RenderedPage> {
        &self.0.pages
    }

    pub fn links(&self) -> &ReadCache<Redirect> {
        &self.0.links
    }

    pub fn recorder(&self) -> Option<&Recorder> {
        self.0.recorder.as_ref()
    }

    pub fn analytics(&self) -> &Arc<dyn AnalyticsStore> {
        &self.0.analytics
    }

    pub fn webhooks(&self) -> &Arc<dyn WebhookStore> {
        &self.0.webhooks
    }

    /// An edge's misses for names never seen.
    pub fn cold_misses(&self) -> Option<&crate::cold::ColdMisses> {
        self.0.cold.as_deref()
    }

    /// Where URLs users supply may lead.
    pub fn destinations(&self) -> &linkleaf_outbound::Destinations {
        &self.0.destinations
    }

    pub fn verifier(&self) -> &linkleaf_webhooks::Verifier {
        &self.0.verifier
    }

    /// Counts what became of an incoming webhook.
    pub fn received(&self, what: Received) {
        self.0.received[what as usize].increment(1);
    }

    /// Tells the dispatcher that the outbox has something new.
    pub fn wake_dispatcher(&self) {
        if let Some(d) = &self.0.dispatch {
            d.notify_one();
        }
    }

    pub fn reports(&self) -> &moka::sync::Cache<ReportKey, Arc<AnalyticsReport>> {
        &self.0.reports
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    pub fn prebuilt(&self) -> &Prebuilt {
        &self.0.prebuilt
    }

    pub fn dependencies(&self) -> &[Arc<dyn Dependency>] {
        &self.0.dependencies
    }

    /// Marks the instance as shutting down: `/readyz` answers 503 from now on.
    pub fn start_draining(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::SeqCst)
    }

    /// Announces a write: every cache entry of this profile, under each of its usernames (old
    /// and new, for a rename) and under its id, goes, here at once and everywhere else through
    /// the shared tier and the bus, before this returns (or, when Redis does not answer, as soon
    /// as it does). Runs to its end even if the caller is dropped.
    pub async fn invalidate(&self, owner: Option<Uuid>, usernames: &[&Username]) {
        let inv = Invalidation {
            keys: usernames.iter().map(|u| u.key()).collect(),
            owner,
        };
        self.apply_invalidation(&inv);
        self.0.invalidations.increment(1);
        if let Some(shared) = self.0.shared.clone() {
            let state = self.clone();
            let announced = tokio::spawn(async move {
                if let Err(e) = shared.announce(&inv).await {
                    tracing::warn!(error = %e, keys = ?inv.keys, "invalidation not shared yet: will retry");
                    state.0.invalidations_deferred.increment(1);
                    state.0.pending.push(inv);
                }
            });
            let _ = announced.await;
        }
        // the write committed its events with it: the dispatcher sends them now, not at its
        // next poll, and only now, once no cache here or in Redis holds the old version, so a
        // receiver that reads the profile at once reads the new one
        self.wake_dispatcher();
    }

    /// Drops this instance's entries named by `inv` (a write here, or one another instance
    /// announced) and remembers the keys as recently written.
    pub fn apply_invalidation(&self, inv: &Invalidation) {
        self.0.pages.invalidate(inv);
        // a profile's links are owned by it: any change of the profile drops them
        if inv.owner.is_some() {
            self.0.links.invalidate(&Invalidation {
                keys: vec![],
                owner: inv.owner,
            });
        }
        self.0.recent.record(&inv.keys);
    }

    /// Invalidates after a write that produced `after` from `before`.
    pub async fn invalidate_profile(&self, before: Option<&Profile>, after: &Profile) {
        let mut names = vec![&after.username];
        if let Some(b) = before
            && b.username.key() != after.username.key()
        {
            names.push(&b.username);
        }
        self.invalidate(Some(after.id), &names).await;
    }

    /// Invalidations waiting for Redis.
    pub fn pending_invalidations(&self) -> usize {
        self.0.pending.len()
    }

    /// Retries what the shared tier and the bus did not take, every `every`, until `stop`.
    /// An invalidation older than an entry's whole life (fresh and stale) is dropped: no entry
    /// anywhere can still hold what it names.
    pub async fn retry_invalidations(&self, every: Duration, stop: CancellationToken) {
        let Some(shared) = self.0.shared.clone() else {
            return;
        };
        let max_age = self.0.settings.cache.fresh + self.0.settings.cache.stale;
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            for (inv, at) in self.0.pending.take() {
                if at.elapsed() > max_age {
                    continue;
                }
                if shared.announce(&inv).await.is_err() {
                    self.0
                        .pending
                        .0
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push_back((inv, at));
                }
            }
        }
    }

    /// Finds the API key of a request (`Authorization: Bearer lk_...`), then spends one token of
    /// its rate-limit bucket.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AppError> {
        let mut all = headers.get_all(header::AUTHORIZATION).iter();
        let raw = all.next().ok_or(AppError::Unauthorized(
            "an API key is required: Authorization: Bearer <key>",
        ))?;
        if all.next().is_some() {
            // Which one would count is a matter of whoever reads first: none does.
            return Err(AppError::Unauthorized(
                "send one Authorization header, not several",
            ));
        }
        let raw = raw
            .to_str()
            .map_err(|_| AppError::Unauthorized("malformed Authorization header"))?;
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let token = raw
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .and_then(ApiKeyToken::parse)
            .ok_or(AppError::Unauthorized(
                "malformed API key: expected Authorization: Bearer lk_...",
            ))?;
        let rec = self.0.keys.key_by_prefix(token.prefix()).await?;
        let rec = match rec {
            Some(r) if token.matches(&r.digest) && r.revoked_at.is_none() => r,
            _ => return Err(AppError::Unauthorized("unknown or revoked API key")),
        };
        if let Err(wait) = self.0.limiter.take(rec.id).await {
            self.0.rate_limited.increment(1);
            return Err(AppError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            });
        }
        Ok(Caller {
            key_id: rec.id,
            name: rec.name,
            scopes: rec.scopes,
        })
    }
}

impl Caller {
    pub fn require(&self, scope: Scope) -> Result<(), AppError> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(AppError::Forbidden(scope))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linkleaf_domain::analytics::{SeriesPoint, Share, Totals};

    fn report(points: usize) -> Arc<AnalyticsReport> {
        let share = |v: &str| Share {
            value: v.repeat(20),
            clicks: 1,
            human_clicks: 1,
        };
        Arc::new(AnalyticsReport {
            profile_id: Uuid::now_v7(),
            from: time::OffsetDateTime::UNIX_EPOCH,
            to: time::OffsetDateTime::UNIX_EPOCH,
            bucket: Bucket::Minute,
            shortened: false,
            totals: Totals::default(),
            links: Vec::new(),
            series: (0..points)
                .map(|_| SeriesPoint {
                    start: time::OffsetDateTime::UNIX_EPOCH,
                    clicks: 1,
                    human_clicks: 1,
                    views: 1,
                })
                .collect(),
            referrers: (0..10).map(|_| share("ref.example")).collect(),
            countries: Vec::new(),
            devices: Vec::new(),
            browsers: Vec::new(),
            operating_systems: Vec::new(),
            bot_classes: Vec::new(),
        })
    }

    /// The report cache is bounded by what its reports weigh, not by how many there are: a
    /// two-day series by the minute is thousands of points.
    #[test]
    fn the_report_cache_holds_to_its_bytes() {
        let max = 4 << 20;
        let cache = report_cache(max, Duration::from_secs(60));
        let big = report(2 * 24 * 60);
        let weight = u64::from(report_weight(&big));
        assert!(
            weight > 100_000,
            "a two-day series by the minute: {weight} bytes"
        );
        for i in 0..200 {
            cache.insert((Uuid::now_v7(), i, i, Bucket::Minute, false), big.clone());
        }
        cache.run_pending_tasks();
        assert!(
            cache.weighted_size() <= max,
            "{} > {max}",
            cache.weighted_size()
        );
        assert!(cache.entry_count() < 200);
    }
}
