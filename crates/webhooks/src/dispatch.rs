//! The dispatcher: delivers the outbox to the subscribed URLs.
//!
//! Each `step` claims the deliveries that are due (a lease: another instance's dispatcher does
//! not take them meanwhile, and one killed mid-send leaves them to be claimed again when the
//! lease runs out, so an event committed is delivered whatever happens to the process), sends
//! them at once (signed per Standard Webhooks, each with a deadline, to the subscription's URL
//! and nowhere else: redirects are answers, not followed), and records every attempt. A `2xx`
//! is delivered; anything else is retried after exponential backoff with full jitter, or after
//! the receiver's `Retry-After` when it asks for longer, until `max_attempts`, then kept as
//! dead (dead-lettered: listed, never sent again). A subscription whose every delivery has
//! failed for `disable_after` is disabled, as Dub does.
//!
//! `run` sends each delivery as a task of its own (`concurrency` at most), claiming more as
//! soon as a slot frees: a receiver that never answers holds one slot for its deadline, not
//! everyone else's deliveries. It claims whenever a write here wakes it (after the write has
//! announced itself: caches dropped, here and in Redis, so a receiver reading the profile at
//! once reads the new one) and every `poll` for writes elsewhere; a poll takes an event's first
//! attempt only once it is `SETTLE` old, so it does not race the other instance's announcement.
//! `step` (claim, send, wait) is the deterministic form tests drive.

use bytes::Bytes;
use hyper::Method;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use linkleaf_store::WebhookStore;
use linkleaf_store::webhooks::{Attempt, Due, Next};
use linkleaf_upstream::backoff::{full_jitter, retry_after, unit};
use linkleaf_upstream::http::Client;
use metrics::{Counter, Histogram};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// One attempt's deadline (connecting, sending, the answer).
    pub timeout: Duration,
    /// Attempts at most; after the last failure the delivery is dead.
    pub max_attempts: u32,
    /// The first retry's delay at most (full jitter), doubling each time, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A subscription failing this long is disabled.
    pub disable_after: Duration,
    /// Deliveries claimed per step at most, and sent at once at most by `run`.
    pub batch: u32,
    /// How often the outbox is looked at without a wake-up.
    pub poll: Duration,
}

/// `linkleaf_webhook_deliveries_total{outcome = delivered | retry | dead}`,
/// `linkleaf_webhook_delivery_seconds`.
#[derive(Clone)]
pub struct DispatchMetrics {
    delivered: Counter,
    retry: Counter,
    dead: Counter,
    seconds: Histogram,
}

impl DispatchMetrics {
    pub fn register(recorder: &dyn metrics::Recorder) -> Self {
        metrics::with_local_recorder(recorder, || {
            let c = |o: &'static str| metrics::counter!("linkleaf_webhook_deliveries_total", "outcome" => o);
            Self {
                delivered: c("delivered"),
                retry: c("retry"),
                dead: c("dead"),
                seconds: metrics::histogram!("linkleaf_webhook_delivery_seconds"),
            }
        })
    }

    pub fn noop() -> Self {
        Self::register(&metrics::NoopRecorder)
    }
}

#[derive(Clone)]
pub struct Dispatcher {
    store: Arc<dyn WebhookStore>,
    client: Client,
    cfg: DispatchConfig,
    metrics: DispatchMetrics,
    wake: Arc<Notify>,
}

/// How old an event must be before a poll sends it the first time (see the module's header).
pub const SETTLE: Duration = Duration::from_secs(1);

/// A URL as the log may show it: no query string (receivers put tokens there).
fn loggable(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The most of a receiver's answer kept in the attempt record.
const ERROR_MAX: usize = 300;
/// A `Retry-After` longer than this is taken as this.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(24 * 3600);

fn now_ms() -> i64 {
    linkleaf_domain::unix_millis(time::OffsetDateTime::now_utc())
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        client: Client,
        cfg: DispatchConfig,
        metrics: DispatchMetrics,
    ) -> Self {
        Self {
            store,
            client,
            cfg,
            metrics,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Wakes the dispatcher (a write here committed events).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Claims up to `limit` due deliveries; first attempts of events written after
    /// `first_before_ms` wait.
    async fn claim(
        &self,
        limit: u32,
        first_before_ms: i64,
    ) -> Result<Vec<Due>, linkleaf_store::StoreError> {
        // longer than an attempt can take, so only a dispatcher that died leaves one behind
        let lease = self.cfg.timeout * 2 + Duration::from_secs(1);
        self.store
            .claim_due(now_ms(), lease.as_millis() as i64, limit, first_before_ms)
            .await
    }

    /// Claims what is due and sends it; returns how many attempts were made.
    pub async fn step(&self) -> Result<usize, linkleaf_store::StoreError> {
        let due = self.claim(self.cfg.batch, now_ms()).await?;
        let n = due.len();
        let sends: Vec<_> = due
            .into_iter()
            .map(|d| {
                let me = self.clone();
                tokio::spawn(async move { me.deliver(d).await })
            })
            .collect();
        for s in sends {
            if let Ok(Err(e)) = s.await {
                tracing::warn!(error = %e, "a delivery's outcome could not be recorded: it is sent again when its lease ends");
            }
        }
        Ok(n)
    }

    async fn deliver(&self, d: Due) -> Result<(), linkleaf_store::StoreError> {
        let attempt = d.attempts + 1;
        let at = time::OffsetDateTime::now_utc();
        let started = Instant::now();
        let (status, error, asked) = match self.send(&d, at.unix_timestamp()).await {
            Ok((status, asked)) if (200..300).contains(&status) => (Some(status), None, asked),
            Ok((status, asked)) => (
                Some(status),
                Some(if (300..400).contains(&status) {
                    format!("answered {status}: redirects are not followed")
                } else {
                    format!("answered {status}")
                }),
                asked,
            ),
            Err(e) => (None, Some(e), None),
        };
        let latency = started.elapsed();
        self.metrics.seconds.record(latency.as_secs_f64());
        let next = if error.is_none() {
            self.metrics.delivered.increment(1);
            Next::Delivered
        } else if attempt >= self.cfg.max_attempts {
            self.metrics.dead.increment(1);
            tracing::warn!(event = d.event_id, url = loggable(&d.url), attempts = attempt, error = ?error, "a webhook delivery failed for good: dead-lettered");
            Next::Dead
        } else {
            self.metrics.retry.increment(1);
            let jitter = full_jitter(self.cfg.backoff_base, self.cfg.backoff_max, attempt, unit());
            let wait = asked.map_or(jitter, |r| r.min(RETRY_AFTER_MAX).max(jitter));
            Next::Retry(now_ms() + wait.as_millis() as i64)
        };
        let mut error = error;
        if let Some(e) = &mut error
            && e.len() > ERROR_MAX
        {
            let mut cut = ERROR_MAX;
            while !e.is_char_boundary(cut) {
                cut -= 1;
            }
            e.truncate(cut);
        }
        let recorded = self
            .store
            .finish_attempt(
                &Attempt {
                    subscription: d.subscription,
                    event_id: d.event_id.clone(),
                    attempt,
                    at_ms: linkleaf_domain::unix_millis(at),
                    status,
                    latency_ms: latency.as_millis() as i64,
                    error,
                    next,
                    lease: d.lease,
                },
                self.cfg.disable_after.as_millis() as i64,
            )
            .await?;
        if !recorded {
            tracing::warn!(
                event = d.event_id,
                "an attempt outlived its lease: another claim records it"
            );
        }
        Ok(())
    }

    /// One POST: the receiver's status and the `Retry-After` it asked for.
    async fn send(&self, d: &Due, ts: i64) -> Result<(u16, Option<Duration>), String> {
        let body = Bytes::from(d.payload.clone());
        let signature = crate::sign::sign(&d.secrets, &d.event_id, ts, &body)?;
        let header = |v: &str| HeaderValue::from_str(v).map_err(|e| e.to_string());
        let headers = [
            (HeaderName::from_static("webhook-id"), header(&d.event_id)?),
            (
                HeaderName::from_static("webhook-timestamp"),
                header(&ts.to_string())?,
            ),
            (
                HeaderName::from_static("webhook-signature"),
                header(&signature)?,
            ),
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (
                USER_AGENT,
                HeaderValue::from_static(concat!("linkleaf-webhooks/", env!("CARGO_PKG_VERSION"))),
            ),
        ];
        let a = self
            .client
            .send_head_only(Method::POST, &d.url, &headers, body, self.cfg.timeout)
            .await
            .map_err(|e| e.to_string())?;
        Ok((
            a.status.as_u16(),
            retry_after(&a.headers, time::OffsetDateTime::now_utc()),
        ))
    }

    /// Delivers until `stop`: claims as slots free up, at once when woken, else every `poll`.
    pub async fn run(self, stop: CancellationToken) {
        let slots = Arc::new(tokio::sync::Semaphore::new(self.cfg.batch.max(1) as usize));
        let mut backoff = Duration::from_millis(200);
        let mut woken = true;
        loop {
            let free = slots.available_permits() as u32;
            if free > 0 {
                let first_before = if woken {
                    now_ms()
                } else {
                    now_ms() - SETTLE.as_millis() as i64
                };
                match self.claim(free, first_before).await {
                    Ok(due) => {
                        backoff = Duration::from_millis(200);
                        for d in due {
                            let Ok(slot) = slots.clone().acquire_owned().await else {
                                return;
                            };
                            let me = self.clone();
                            tokio::spawn(async move {
                                if let Err(e) = me.deliver(d).await {
                                    tracing::warn!(error = %e, "a delivery's outcome could not be recorded: it is sent again when its lease ends");
                                }
                                drop(slot);
                                // a slot is free: what else is due can go
                                me.wake.notify_one();
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the webhook outbox cannot be read: retrying");
                        tokio::select! {
                            () = stop.cancelled() => return,
                            () = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                        continue;
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wake.notified() => woken = true,
                () = tokio::time::sleep(self.cfg.poll) => woken = false,
            }
        }
    }
}
