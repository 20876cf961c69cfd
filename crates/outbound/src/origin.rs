//! Edge mode's origin: an upstream profile API (another linkleaf, or any service that serves
//! linkleaf's public profile JSON at `GET {upstream}/api/profiles/{username}`), asked with a
//! bearer key.
//!
//! - A token bucket per upstream key (`origin.upstream_per_minute`, the seed's 150) bounds what
//!   is sent; several edges sharing Redis share one bucket (the binary plugs it in).
//! - `429` and `5xx` (and a connection that fails or does not answer) are retried with
//!   exponential backoff and full jitter, honouring `Retry-After`, within one load's budget; a
//!   `429`'s `Retry-After` also holds every later load off the upstream until it has passed
//!   (they fail at once as "throttled", so the cache serves stale and a miss answers `503` with
//!   `Retry-After` quickly: nothing waits on an upstream that asked for quiet).
//! - What comes back is untrusted: parsed by the domain's parser like any request body. A
//!   malformed answer is a load error, never a panic and never an unescaped page.
//!
//! Must not: cache (the read cache in front of it does, single-flight included), or know HTTP
//! routes of its own.

use crate::backoff::{full_jitter, retry_after, unit};
use crate::http::{Client, SendError};
use async_trait::async_trait;
use bytes::Bytes;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use linkleaf_cache::LoadError;
use linkleaf_domain::Profile;
use metrics::Counter;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Takes one request's worth from the upstream key's bucket; `Err(wait)` when it is empty.
#[async_trait]
pub trait Bucket: Send + Sync + 'static {
    async fn take(&self) -> Result<(), Duration>;
}

/// A bucket of this process's own: `per_minute` tokens a minute, as many at once.
pub struct LocalBucket(
    governor::RateLimiter<
        governor::state::NotKeyed,
        governor::state::InMemoryState,
        governor::clock::DefaultClock,
    >,
);

impl LocalBucket {
    pub fn new(per_minute: u32) -> Self {
        let n = std::num::NonZeroU32::new(per_minute.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
        Self(governor::RateLimiter::direct(governor::Quota::per_minute(
            n,
        )))
    }
}

#[async_trait]
impl Bucket for LocalBucket {
    async fn take(&self) -> Result<(), Duration> {
        use governor::clock::Clock;
        self.0.check().map_err(|not_until| {
            not_until.wait_time_from(governor::clock::DefaultClock::default().now())
        })
    }
}

/// How the origin is asked.
#[derive(Clone)]
pub struct OriginConfig {
    /// `https://origin.example` (no trailing slash needed).
    pub url: String,
    /// Sent as `Authorization: Bearer ...` when not empty.
    pub key: linkleaf_domain::Secret,
    /// One request's deadline.
    pub request_timeout: Duration,
    /// What one load may spend in all, retries and waits included: past it, the load fails.
    pub budget: Duration,
    /// The first retry's delay at most; each later one doubles it, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl std::fmt::Debug for OriginConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginConfig")
            .field("url", &self.url)
            .field("key", &"[redacted]")
            .field("request_timeout", &self.request_timeout)
            .field("budget", &self.budget)
            .finish()
    }
}

/// The origin's counters: `linkleaf_upstream_requests_total{outcome}` (`ok`, `not_found`,
/// `throttled` (a 429), `failed` (5xx, no answer), `refused` (another status), `malformed`),
/// and `linkleaf_upstream_held_total` (loads not sent: the bucket was empty or a `Retry-After`
/// was running).
#[derive(Clone)]
pub struct OriginMetrics {
    ok: Counter,
    not_found: Counter,
    throttled: Counter,
    failed: Counter,
    refused: Counter,
    malformed: Counter,
    held: Counter,
}

impl OriginMetrics {
    pub fn register(recorder: &dyn metrics::Recorder) -> Self {
        metrics::with_local_recorder(recorder, || {
            let c = |o: &'static str| metrics::counter!("linkleaf_upstream_requests_total", "outcome" => o);
            Self {
                ok: c("ok"),
                not_found: c("not_found"),
                throttled: c("throttled"),
                failed: c("failed"),
                refused: c("refused"),
                malformed: c("malformed"),
                held: metrics::counter!("linkleaf_upstream_held_total"),
            }
        })
    }
}

pub struct Origin {
    cfg: OriginConfig,
    client: Client,
    bucket: Box<dyn Bucket>,
    /// What loads of names never seen may take of the budget at most, besides `bucket`: the
    /// rest is kept for names known to exist.
    cold_bucket: Option<Box<dyn Bucket>>,
    /// No request before this (a `Retry-After` the upstream sent).
    quiet_until: Mutex<Option<Instant>>,
    /// The last answer that was a profile (or its absence), and the last failure and why.
    last_ok: Mutex<Option<Instant>>,
    last_failure: Mutex<Option<(Instant, String)>>,
    headers: Vec<(HeaderName, HeaderValue)>,
    metrics: OriginMetrics,
}

/// The longest an upstream's `Retry-After` holds this edge off it: an upstream (or a proxy in
/// front of it) asking for hours would otherwise leave every miss failing that long.
pub const QUIET_MAX: Duration = Duration::from_secs(300);

/// The largest profile answer read (a profile of 100 links is ~25 KB).
pub const MAX_ANSWER: usize = 1 << 20;

impl Origin {
    pub fn new(
        cfg: OriginConfig,
        client: Client,
        bucket: Box<dyn Bucket>,
        metrics: OriginMetrics,
    ) -> Result<Self, String> {
        let mut headers = vec![
            (header::ACCEPT, HeaderValue::from_static("application/json")),
            (
                header::USER_AGENT,
                HeaderValue::from_static(concat!("linkleaf-edge/", env!("CARGO_PKG_VERSION"))),
            ),
        ];
        if !cfg.key.is_empty() {
            let mut v = HeaderValue::from_str(&format!("Bearer {}", cfg.key.expose()))
                .map_err(|_| "origin.upstream_key: not a header value".to_owned())?;
            v.set_sensitive(true);
            headers.push((header::AUTHORIZATION, v));
        }
        let url: hyper::Uri = cfg
            .url
            .parse()
            .map_err(|e| format!("origin.upstream_url: {e}"))?;
        if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none() {
            return Err("origin.upstream_url: must be an http or https URL".into());
        }
        Ok(Self {
            cfg,
            client,
            bucket,
            cold_bucket: None,
            quiet_until: Mutex::new(None),
            last_ok: Mutex::new(None),
            last_failure: Mutex::new(None),
            headers,
            metrics,
        })
    }

    /// Loads of names never seen also take from `cold` (a share of the budget), so they cannot
    /// spend what names known to exist need.
    pub fn with_cold_bucket(mut self, cold: Box<dyn Bucket>) -> Self {
        self.cold_bucket = Some(cold);
        self
    }

    fn quiet_for(&self) -> Option<Duration> {
        let q = *self.quiet_until.lock().unwrap_or_else(|p| p.into_inner());
        q.and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }

    fn hold_off(&self, d: Duration) {
        let Some(until) = Instant::now().checked_add(d.min(QUIET_MAX)) else {
            return;
        };
        let mut q = self.quiet_until.lock().unwrap_or_else(|p| p.into_inner());
        if q.is_none_or(|q| q < until) {
            *q = Some(until);
        }
    }

    /// How the upstream is doing, for `/readyz`: `Err` while it asks for quiet, or when its
    /// last answer was a failure.
    pub fn health(&self) -> Result<String, String> {
        if let Some(q) = self.quiet_for() {
            return Err(format!(
                "the upstream asked for quiet: {} s left",
                q.as_secs()
            ));
        }
        let ok = *self.last_ok.lock().unwrap_or_else(|p| p.into_inner());
        let failure = self
            .last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match (ok, failure) {
            (Some(ok), Some((at, _))) if ok >= at => {
                Ok(format!("answered {} s ago", ok.elapsed().as_secs()))
            }
            (_, Some((at, why))) => {
                Err(format!("failing: {why} ({} s ago)", at.elapsed().as_secs()))
            }
            (Some(ok), None) => Ok(format!("answered {} s ago", ok.elapsed().as_secs())),
            (None, None) => Ok("not asked yet".into()),
        }
    }

    /// The profile `key` (a lowercase username) as the upstream has it: `Ok(None)` when it has
    /// none. `cold`: a name never seen, which takes from the cold share of the budget first.
    pub async fn profile(&self, key: &str, cold: bool) -> Result<Option<Profile>, LoadError> {
        if cold
            && let Some(b) = &self.cold_bucket
            && let Err(wait) = b.take().await
        {
            self.metrics.held.increment(1);
            return Err(LoadError::throttled(
                wait,
                "the upstream budget's share for names never seen is spent",
            ));
        }
        let r = self.ask(key).await;
        match &r {
            Ok(_) => *self.last_ok.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now()),
            Err(e) => {
                *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), e.to_string()))
            }
        }
        r
    }

    async fn ask(&self, key: &str) -> Result<Option<Profile>, LoadError> {
        let started = Instant::now();
        let deadline = started + self.cfg.budget;
        let url = format!("{}/api/profiles/{key}", self.cfg.url.trim_end_matches('/'));
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if let Some(q) = self.quiet_for() {
                self.metrics.held.increment(1);
                return Err(LoadError::throttled(
                    q,
                    format!("the upstream asked for quiet ({q:?} left)"),
                ));
            }
            if let Err(wait) = self.bucket.take().await {
                if Instant::now() + wait > deadline {
                    self.metrics.held.increment(1);
                    return Err(LoadError::throttled(
                        wait,
                        "the upstream key's bucket (origin.upstream_per_minute) is empty",
                    ));
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let sent = self
                .client
                .send(
                    Method::GET,
                    &url,
                    &self.headers,
                    Bytes::new(),
                    self.cfg
                        .request_timeout
                        .min(left.max(Duration::from_millis(1))),
                )
                .await;
            // what to wait before trying again, and the error if this was the last try
            let (wait, err) = match sent {
                Ok(a) if a.status == StatusCode::OK => {
                    let mut p = Profile::from_public_json(&a.body).map_err(|e| {
                        self.metrics.malformed.increment(1);
                        LoadError::internal(format!("the upstream's answer for {key}: {e}"))
                    })?;
                    // the upstream's Last-Modified (what its JSON's lastModified says too, to
                    // the second: the edit, the counts, a scheduled link): this edge's page
                    // says the same
                    p.counted_at = a
                        .headers
                        .get(hyper::header::LAST_MODIFIED)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| httpdate::parse_http_date(v).ok())
                        .map(time::OffsetDateTime::from);
                    if p.username.key() != key {
                        self.metrics.malformed.increment(1);
                        return Err(LoadError::internal(format!(
                            "asked for {key}, the upstream answered for {}",
                            p.username.key()
                        )));
                    }
                    self.metrics.ok.increment(1);
                    return Ok(Some(p));
                }
                Ok(a) if a.status == StatusCode::NOT_FOUND => {
                    self.metrics.not_found.increment(1);
                    return Ok(None);
                }
                Ok(a) if a.status == StatusCode::TOO_MANY_REQUESTS => {
                    self.metrics.throttled.increment(1);
                    let asked = retry_after(&a.headers, time::OffsetDateTime::now_utc());
                    let jitter =
                        full_jitter(self.cfg.backoff_base, self.cfg.backoff_max, attempt, unit());
                    let wait = asked.map_or(jitter, |r| r.min(QUIET_MAX).max(jitter));
                    // everyone holds off, not just this load
                    self.hold_off(wait);
                    (
                        wait,
                        LoadError::throttled(wait, "the upstream answered 429 Too Many Requests"),
                    )
                }
                Ok(a) if a.status.is_server_error() => {
                    self.metrics.failed.increment(1);
                    let asked = retry_after(&a.headers, time::OffsetDateTime::now_utc());
                    let jitter =
                        full_jitter(self.cfg.backoff_base, self.cfg.backoff_max, attempt, unit());
                    let wait = asked.map_or(jitter, |r| r.min(QUIET_MAX).max(jitter));
                    (
                        wait,
                        LoadError::unavailable(format!("the upstream answered {}", a.status)),
                    )
                }
                Ok(a) => {
                    self.metrics.refused.increment(1);
                    return Err(LoadError::internal(format!(
                        "the upstream answered {} (is origin.upstream_key right?)",
                        a.status
                    )));
                }
                Err(e) => {
                    self.metrics.failed.increment(1);
                    let wait =
                        full_jitter(self.cfg.backoff_base, self.cfg.backoff_max, attempt, unit());
                    let err = match e {
                        SendError::Request(m) => return Err(LoadError::internal(m)),
                        e => LoadError::unavailable(format!("the upstream: {e}")),
                    };
                    (wait, err)
                }
            };
            if Instant::now() + wait >= deadline {
                return Err(err);
            }
            tokio::time::sleep(wait).await;
        }
    }
}
