//! What every handler shares: stores, the page cache, the rate limiter, settings, and the
//! headers and bodies built once at start-up.
//!
//! `AppState::invalidate` is the single place a write announces what it changed: today it drops
//! this instance's cache entries; a bus to other instances joins it there.

use crate::error::AppError;
use crate::render::{RenderedPage, Renderer, message_page};
use async_trait::async_trait;
use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use linkleaf_cache::{CacheMetrics, Invalidation, LoadError, Loaded, Loader, Policy, ReadCache};
use linkleaf_domain::{ApiKeyToken, Profile, Scope, Scopes, Username};
use linkleaf_store::{KeyStore, ProfileStore, Stores};
use metrics::Counter;
use std::num::NonZeroU32;
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
    /// Per API key: sustained requests per minute, and the bucket size.
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
}

/// Headers and bodies that never change while the process runs.
pub struct Prebuilt {
    pub public_cache_control: HeaderValue,
    pub not_found_html: Bytes,
    pub unavailable_html: Bytes,
}

/// The API key behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: Uuid,
    pub name: String,
    pub scopes: Scopes,
}

struct Inner {
    profiles: Arc<dyn ProfileStore>,
    keys: Arc<dyn KeyStore>,
    pages: ReadCache<RenderedPage>,
    limiter: DefaultKeyedRateLimiter<Uuid>,
    settings: Settings,
    prebuilt: Prebuilt,
    draining: AtomicBool,
    invalidations: Counter,
    rate_limited: Counter,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// Fills the page cache from the profile store: the origin of the read path.
struct PageLoader {
    profiles: Arc<dyn ProfileStore>,
    renderer: Renderer,
}

#[async_trait]
impl Loader<RenderedPage> for PageLoader {
    async fn load(&self, key: &str) -> Result<Option<Loaded<RenderedPage>>, LoadError> {
        let Some(p) = self
            .profiles
            .profile_by_username(key)
            .await
            .map_err(LoadError::new)?
        else {
            return Ok(None);
        };
        let value = self.renderer.render(&p).map_err(LoadError::new)?;
        Ok(Some(Loaded { owner: p.id, value }))
    }
}

impl AppState {
    /// Builds the state; metrics handles are registered with `recorder` once, here.
    pub fn new(stores: Stores, settings: Settings, recorder: &dyn metrics::Recorder) -> Self {
        let loader = PageLoader {
            profiles: stores.profiles.clone(),
            renderer: Renderer {
                public_url: settings.public_url.clone(),
            },
        };
        let pages = ReadCache::new(
            settings.cache.clone(),
            Arc::new(loader),
            CacheMetrics::register(recorder, "profile"),
        );
        let per_minute =
            NonZeroU32::new(settings.rate_limit_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.rate_limit_burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let limiter = RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst));
        let prebuilt = Prebuilt {
            public_cache_control: HeaderValue::from_str(&format!(
                "public, max-age={}, stale-while-revalidate={}",
                settings.browser_max_age.as_secs(),
                settings.browser_stale_while_revalidate.as_secs()
            ))
            .unwrap_or(HeaderValue::from_static("no-cache")),
            not_found_html: message_page(
                "Nothing here",
                "No linkleaf page lives at this address. Check the spelling of the name.",
            ),
            unavailable_html: message_page(
                "Back in a moment",
                "This page cannot be loaded right now. Please try again shortly.",
            ),
        };
        let (invalidations, rate_limited) = metrics::with_local_recorder(recorder, || {
            (
                metrics::counter!("linkleaf_cache_invalidations_total"),
                metrics::counter!("linkleaf_rate_limited_total"),
            )
        });
        Self(Arc::new(Inner {
            profiles: stores.profiles,
            keys: stores.keys,
            pages,
            limiter,
            settings,
            prebuilt,
            draining: AtomicBool::new(false),
            invalidations,
            rate_limited,
        }))
    }

    pub fn profiles(&self) -> &Arc<dyn ProfileStore> {
        &self.0.profiles
    }

    pub fn pages(&self) -> &ReadCache<RenderedPage> {
        &self.0.pages
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    pub fn prebuilt(&self) -> &Prebuilt {
        &self.0.prebuilt
    }

    /// Marks the instance as shutting down: `/readyz` answers 503 from now on.
    pub fn start_draining(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::SeqCst)
    }

    /// Announces a write: every cache entry of this profile, under each of its usernames (old
    /// and new, for a rename) and under its id, goes.
    pub fn invalidate(&self, owner: Option<Uuid>, usernames: &[&Username]) {
        let inv = Invalidation {
            keys: usernames.iter().map(|u| u.key()).collect(),
            owner,
        };
        self.0.pages.invalidate(&inv);
        self.0.invalidations.increment(1);
    }

    /// Invalidates after a write that produced `after` from `before`.
    pub fn invalidate_profile(&self, before: Option<&Profile>, after: &Profile) {
        let mut names = vec![&after.username];
        if let Some(b) = before
            && b.username.key() != after.username.key()
        {
            names.push(&b.username);
        }
        self.invalidate(Some(after.id), &names);
    }

    /// Finds the API key of a request (`Authorization: Bearer lk_...`), then spends one token of
    /// its rate-limit bucket.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AppError> {
        let raw = headers
            .get(header::AUTHORIZATION)
            .ok_or(AppError::Unauthorized(
                "an API key is required: Authorization: Bearer <key>",
            ))?;
        let raw = raw
            .to_str()
            .map_err(|_| AppError::Unauthorized("malformed Authorization header"))?;
        let token = raw
            .strip_prefix("Bearer ")
            .or_else(|| raw.strip_prefix("bearer "))
            .map(str::trim)
            .and_then(ApiKeyToken::parse)
            .ok_or(AppError::Unauthorized(
                "malformed API key: expected Authorization: Bearer lk_...",
            ))?;
        let rec = self.0.keys.key_by_prefix(token.prefix()).await?;
        let rec = match rec {
            Some(r) if token.matches(&r.digest) && r.revoked_at.is_none() => r,
            _ => return Err(AppError::Unauthorized("unknown or revoked API key")),
        };
        if let Err(not_until) = self.0.limiter.check_key(&rec.id) {
            self.0.rate_limited.increment(1);
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
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
