//! What every handler shares: a plain set of handles that the binary fills (`Handles`) — the
//! stores, the page and link caches, the invalidator, authentication, the recorder of clicks
//! and views, the report cache, settings, and the answers built once at start-up. It builds
//! nothing of its own: the binary composes every piece (caches and their origins, the shared
//! tier, the limiter) and this crate does not know whether an origin is a database or an
//! upstream, nor whether the shared tier is Redis. Must not: hold logic beyond passing a call on
//! to the handle that owns it.

use crate::auth::Authenticator;
use crate::clicks::{Recorder, Redirect};
use crate::cold::ColdMisses;
use crate::render::RenderedPage;
use crate::respond::Prebuilt;
use async_trait::async_trait;
use bytes::Bytes;
use linkleaf_cache::invalidate::Invalidator;
use linkleaf_cache::{Invalidation, Policy, ReadCache};
use linkleaf_domain::analytics::{AnalyticsReport, Bucket};
use linkleaf_domain::{Profile, Username};
use linkleaf_store::Stores;
use metrics::Counter;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
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
    pub accounts: AccountSettings,
}

/// Accounts and sessions (`[accounts]`, and what `server.public_url` says of them).
#[derive(Debug, Clone)]
pub struct AccountSettings {
    pub signup: linkleaf_domain::account::Signup,
    pub max_profiles: u32,
    /// `server.public_url` is https: the session cookie is `Secure` and `__Host-` prefixed.
    pub secure_cookies: bool,
    /// `server.public_url`'s origin: where signed-in writes must come from.
    pub site_origin: String,
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

/// A report's identity in the report cache: the profile, the resolved range, and whether it
/// was shortened.
pub type ReportKey = (Uuid, i64, i64, Bucket, bool, Option<String>);

/// Analytics answers kept for reuse (`analytics.cache_secs`, `analytics.cache_max_bytes`).
pub type ReportCache = moka::sync::Cache<ReportKey, Arc<AnalyticsReport>>;

/// The report cache: reports kept for `ttl`, weighing `max_bytes` together at most; a
/// profile's go when a committed window counted for it (`Reports`, through the invalidation
/// announcements).
pub fn report_cache(max_bytes: u64, ttl: Duration) -> ReportCache {
    moka::sync::Cache::builder()
        .max_capacity(max_bytes)
        .weigher(|_, r: &Arc<AnalyticsReport>| report_weight(r))
        .time_to_live(ttl.max(Duration::from_millis(1)))
        .support_invalidation_closures()
        .build()
}

/// The invalidation key that says a profile's counts moved (no username can be written so).
pub fn counted_key(profile: Uuid) -> String {
    format!("{COUNTED}{profile}")
}

const COUNTED: &str = "~counted/";

/// The report cache as the handlers and the invalidation announcements reach it: a
/// `counted_key` drops its profile's reports (here, and on every instance through the bus);
/// whatever else an announcement names leaves them be. Every drop moves an epoch, and a report
/// read from the store is kept only if no drop came while it was read (one that came would
/// otherwise be undone by the older report).
#[derive(Clone)]
pub struct Reports {
    cache: ReportCache,
    epoch: Arc<std::sync::atomic::AtomicU64>,
}

impl Reports {
    pub fn new(cache: ReportCache) -> Self {
        Self {
            cache,
            epoch: Arc::default(),
        }
    }

    pub fn get(&self, key: &ReportKey) -> Option<Arc<AnalyticsReport>> {
        self.cache.get(key)
    }

    /// Where the drops are: take it before reading a report from the store.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Keeps `report`, read since `epoch`, unless a drop came meanwhile.
    pub fn keep(&self, key: ReportKey, report: Arc<AnalyticsReport>, epoch: u64) {
        if self.epoch() == epoch {
            self.cache.insert(key, report);
        }
    }
}

impl linkleaf_cache::invalidate::Forget for Reports {
    fn forget(&self, inv: &Invalidation) {
        let ids: std::collections::HashSet<Uuid> = inv
            .keys
            .iter()
            .filter_map(|k| k.strip_prefix(COUNTED))
            .filter_map(|k| Uuid::try_parse(k).ok())
            .collect();
        if ids.is_empty() {
            return;
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
        // one predicate for the announcement, which moka runs over the entries lazily
        if let Err(e) = self
            .cache
            .invalidate_entries_if(move |k, _| ids.contains(&k.0))
        {
            tracing::warn!(error = %e, "reports could not be dropped");
        }
    }

    fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate_all();
    }
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
    .sum::<usize>()
        + r.sources
            .iter()
            .map(|s| size_of::<linkleaf_domain::analytics::SourceShare>() + s.value.len())
            .sum::<usize>();
    let bytes = size_of::<AnalyticsReport>()
        + r.links.len() * size_of::<linkleaf_domain::analytics::LinkClicks>()
        + r.series.len() * size_of::<linkleaf_domain::analytics::SeriesPoint>()
        + shares
        + 96; // the key and the cache's own bookkeeping
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// Every handle a handler may need, as the binary made them.
pub struct Handles {
    pub stores: Stores,
    /// Finished pages by username key (the public reads).
    pub pages: ReadCache<RenderedPage>,
    /// Redirect targets by link id (`/r/{link}`).
    pub links: ReadCache<Redirect>,
    /// Where a write announces what it changed, and other instances' announcements land.
    pub invalidator: Arc<Invalidator>,
    pub auth: Authenticator,
    /// Sign-in and the sessions it makes (`linkleaf_access::sessions`).
    pub sessions: Arc<linkleaf_access::sessions::Sessions>,
    /// Passkeys: the relying party and its ceremonies (`linkleaf_access::passkeys`).
    pub passkeys: Arc<linkleaf_access::passkeys::Passkeys>,
    /// Sign-in attempts per client address and per account.
    pub signin_limits: crate::limit::SignInLimits,
    /// Records clicks and views, when there is a spool.
    pub recorder: Option<Recorder>,
    pub reports: Reports,
    /// An edge's misses for names never seen (`None` on an origin).
    pub cold: Option<Arc<ColdMisses>>,
    /// Checks incoming webhooks (`webhooks.secret`; empty: every one is refused).
    pub verifier: Arc<linkleaf_webhooks::Verifier>,
    /// Woken after a write commits events to the outbox (the dispatcher, when it runs here).
    pub dispatch: Option<Arc<tokio::sync::Notify>>,
    /// Woken after a write, so the announcer of links' boundaries looks for the next one
    /// (a link may have been scheduled sooner).
    pub boundaries: Arc<tokio::sync::Notify>,
    /// Where URLs users supply may lead (subscriptions).
    pub destinations: linkleaf_outbound::Destinations,
    /// What `/readyz` reports, besides the database.
    pub dependencies: Vec<Arc<dyn Dependency>>,
    pub settings: Settings,
    pub prebuilt: Prebuilt,
    /// The API description, as served (`GET /api/openapi.json`).
    pub api_document: Bytes,
    /// `linkleaf_webhooks_received_total{outcome}`: accepted, duplicate, ignored, refused.
    pub received: [Counter; 4],
    /// Set when the instance is shutting down: `/readyz` answers 503.
    pub draining: AtomicBool,
    /// `/favicon.ico`, `/apple-touch-icon.png`, `/robots.txt`.
    pub site: crate::site::SiteFiles,
    /// The process's lifecycle tracker: writes that outlive their request run in it.
    pub tasks: tokio_util::task::TaskTracker,
    /// The process's metrics, as `/metrics` renders them (the admin's health page reads its
    /// key figures).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

/// What became of an incoming webhook.
#[derive(Debug, Clone, Copy)]
pub enum Received {
    Accepted,
    Duplicate,
    Ignored,
    Refused,
}

/// The handles, shared by every handler.
#[derive(Clone)]
pub struct AppState(Arc<Handles>);

impl std::ops::Deref for AppState {
    type Target = Handles;

    fn deref(&self) -> &Handles {
        &self.0
    }
}

impl AppState {
    /// Who the client of a request from `peer` is: the peer, or the address a trusted proxy
    /// names (`server.trusted_proxies`, which the recorder holds).
    pub fn client(
        &self,
        peer: std::net::IpAddr,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        self.recorder
            .as_ref()
            .map_or(peer, |r| r.client(peer, headers))
    }

    pub fn new(handles: Handles) -> Self {
        Self(Arc::new(handles))
    }

    /// The counters of what became of incoming webhooks.
    pub fn received_counters(recorder: &dyn metrics::Recorder) -> [Counter; 4] {
        metrics::with_local_recorder(recorder, || {
            let r = |o: &'static str| metrics::counter!("linkleaf_webhooks_received_total", "outcome" => o);
            [r("accepted"), r("duplicate"), r("ignored"), r("refused")]
        })
    }

    /// Counts what became of an incoming webhook.
    pub fn received(&self, what: Received) {
        self.received[what as usize].increment(1);
    }

    /// Tells the dispatcher that the outbox has something new.
    pub fn wake_dispatcher(&self) {
        if let Some(d) = &self.dispatch {
            d.notify_one();
        }
    }

    /// Marks the instance as shutting down: `/readyz` answers 503 from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Announces a write: every cache entry of this profile, under each of its usernames (old
    /// and new, for a rename) and under its id, goes, here at once and everywhere else through
    /// the shared tier and the bus (`Invalidator::announce`); then the dispatcher is woken, so a
    /// receiver that reads the profile at once reads the new one.
    pub async fn invalidate(&self, owner: Option<Uuid>, usernames: &[&Username]) {
        self.invalidator
            .announce(Invalidation {
                keys: usernames.iter().map(|u| u.key()).collect(),
                owner,
            })
            .await;
        self.wake_dispatcher();
        self.boundaries.notify_one();
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
}

/// The people's pages (`linkleaf-web`), as (path template, handlers): the binary hands them to
/// the service, which times and merges them.
pub type Pages = Vec<(&'static str, axum::routing::MethodRouter<AppState>)>;

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
            sources: Vec::new(),
            time_zone: "UTC".into(),
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
            cache.insert(
                (Uuid::now_v7(), i, i, Bucket::Minute, false, None),
                big.clone(),
            );
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
