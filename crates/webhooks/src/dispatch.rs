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
//! Before claiming, it fans out the events written since (`WebhookStore::fan_out`: a change's
//! transaction writes its event alone, whatever the number of subscribers).
//!
//! `run` sends each delivery as a task of its own (`batch` at most at once), claiming more as
//! soon as a slot frees, and shares the slots fairly: a receiver (scheme, host and port) has at
//! most `PER_RECEIVER` deliveries in flight and a subscription `PER_SUBSCRIPTION`, and a
//! receiver that failed `BREAKER_FAILURES` times in a row is left alone for a while (its
//! breaker opens for `BREAKER_OPEN`, doubling up to `BREAKER_OPEN_MAX`, then one delivery
//! probes it). A delivery that must wait is given back without an attempt (`postpone`), so
//! receivers that never answer cannot hold the slots a healthy one needs. Limits per receiver
//! do not help when the slow ones are many receivers (a name each), so two more rules hold
//! whatever the receivers: a send still waiting for its answer after `SLOW` gives its slot back
//! and waits parked (at most `PARKED_PER_SLOT` times `batch` of them), and a receiver that
//! failed or was slow shares at most half of the slots with the others like it until it
//! answers well again. It claims whenever a
//! write here wakes it (after the write has announced itself: caches dropped, here and in
//! Redis, so a receiver reading the profile at once reads the new one), when a delivery it gave
//! back is due again (its subscription was busy with the edit before: without this wake it would
//! wait for a poll and its `SETTLE`), and every `poll` for writes elsewhere; a poll takes an
//! event's first attempt only once it is `SETTLE` old, so it does not race the other instance's
//! announcement. `step` (fan out, claim, send, wait) is the
//! deterministic form tests drive.

use bytes::Bytes;
use hyper::Method;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use linkleaf_lifecycle::Lifecycle;
use linkleaf_outbound::backoff::{full_jitter, retry_after, unit};
use linkleaf_outbound::http::Client;
use linkleaf_store::WebhookStore;
use linkleaf_store::webhooks::{Attempt, Due, Next};
use metrics::{Counter, Histogram};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

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
    receivers: Arc<Mutex<Receivers>>,
}

/// Deliveries in flight to one receiver at most.
pub const PER_RECEIVER: u32 = 8;
/// Deliveries in flight for one subscription at most (a burst of edits to one edge goes out
/// together; many subscriptions cannot take every slot).
pub const PER_SUBSCRIPTION: u32 = 4;
/// A send still waiting for its answer after this long is slow: its slot goes to others.
pub const SLOW: Duration = Duration::from_secs(1);
/// Slow sends parked at most, per slot of `batch`.
pub const PARKED_PER_SLOT: u32 = 4;
/// Failures in a row that open a receiver's breaker.
pub const BREAKER_FAILURES: u32 = 5;
/// How long an open breaker leaves its receiver alone, first; it doubles while the probes fail.
pub const BREAKER_OPEN: Duration = Duration::from_secs(30);
pub const BREAKER_OPEN_MAX: Duration = Duration::from_secs(600);
/// How long a delivery given back because its receiver is busy waits.
const BUSY_WAIT: Duration = Duration::from_millis(250);
/// Events fanned out per transaction.
const FAN_OUT_BATCH: u32 = 100;

/// What the dispatcher knows of each receiver and subscription it is sending to.
#[derive(Default)]
struct Receivers {
    by_receiver: HashMap<String, Receiver>,
    by_subscription: HashMap<uuid::Uuid, u32>,
    /// In flight to receivers that failed or were slow, and the most that may be.
    suspect_in_flight: u32,
    suspect_cap: u32,
}

#[derive(Default)]
struct Receiver {
    in_flight: u32,
    /// Of those, admitted while the receiver was suspect.
    suspect_in_flight: u32,
    /// Failures in a row.
    failures: u32,
    /// A send to it was slow, and none has gone well since.
    slow: bool,
    /// While set and in the future, nothing is sent; once past, one probe at a time.
    open_until: Option<Instant>,
}

/// How a delivery took its slot.
#[derive(Debug, Clone, Copy)]
struct Admitted {
    /// As a receiver that failed or was slow (one of those sharing half the slots).
    suspect: bool,
}

/// The receiver of a URL: its scheme, host and port.
fn receiver_of(url: &str) -> String {
    match url.parse::<hyper::Uri>() {
        Ok(u) => format!(
            "{}://{}:{}",
            u.scheme_str().unwrap_or("http"),
            u.host().unwrap_or("").to_ascii_lowercase(),
            u.port_u16().unwrap_or(if u.scheme_str() == Some("https") {
                443
            } else {
                80
            })
        ),
        Err(_) => url.to_owned(),
    }
}

impl Receivers {
    /// Takes a slot for `d` (saying whether it was taken as a suspect receiver's), or says
    /// until when it must wait.
    fn admit(&mut self, d: &Due, now: Instant) -> Result<Admitted, Instant> {
        let r = self.by_receiver.entry(receiver_of(&d.url)).or_default();
        if let Some(until) = r.open_until {
            if until > now {
                return Err(until);
            }
            // half open: one probe at a time
            if r.in_flight > 0 {
                return Err(now + BUSY_WAIT);
            }
        }
        let sub = self.by_subscription.entry(d.subscription).or_default();
        if r.in_flight >= PER_RECEIVER || *sub >= PER_SUBSCRIPTION {
            return Err(now + BUSY_WAIT);
        }
        let suspect = r.failures > 0 || r.slow;
        if suspect && self.suspect_in_flight >= self.suspect_cap.max(1) {
            return Err(now + BUSY_WAIT);
        }
        r.in_flight += 1;
        *sub += 1;
        if suspect {
            r.suspect_in_flight += 1;
            self.suspect_in_flight += 1;
        }
        Ok(Admitted { suspect })
    }

    /// A send to `url`'s receiver is slow.
    fn slow(&mut self, url: &str) {
        if let Some(r) = self.by_receiver.get_mut(&receiver_of(url)) {
            r.slow = true;
        }
    }

    /// Gives the slot back, with how the attempt went and how long it took: only an answer
    /// within `SLOW` clears a receiver's slowness (a tarpit that answers 2xx just before the
    /// deadline stays suspect).
    fn done(&mut self, d: &Due, admitted: Admitted, ok: bool, took: Duration, now: Instant) {
        if let Some(n) = self.by_subscription.get_mut(&d.subscription) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.by_subscription.remove(&d.subscription);
            }
        }
        let key = receiver_of(&d.url);
        let Some(r) = self.by_receiver.get_mut(&key) else {
            return;
        };
        r.in_flight = r.in_flight.saturating_sub(1);
        if admitted.suspect {
            r.suspect_in_flight = r.suspect_in_flight.saturating_sub(1);
            self.suspect_in_flight = self.suspect_in_flight.saturating_sub(1);
        }
        if took >= SLOW {
            r.slow = true;
        }
        if ok {
            r.failures = 0;
            if took < SLOW {
                r.slow = false;
            }
            r.open_until = None;
        } else {
            r.failures += 1;
            if r.failures >= BREAKER_FAILURES {
                let times = 1u32 << (r.failures - BREAKER_FAILURES).min(8);
                let open = (BREAKER_OPEN * times).min(BREAKER_OPEN_MAX);
                r.open_until = Some(now + open);
                if r.failures == BREAKER_FAILURES {
                    tracing::warn!(
                        receiver = key,
                        failures = r.failures,
                        open_secs = open.as_secs(),
                        "a webhook receiver keeps failing: its deliveries wait while its breaker is open"
                    );
                }
            }
        }
        if r.in_flight == 0 && r.failures == 0 && !r.slow {
            self.by_receiver.remove(&key);
        }
    }
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
            metrics,
            wake: Arc::new(Notify::new()),
            receivers: Arc::new(Mutex::new(Receivers {
                suspect_cap: cfg.batch / 2,
                ..Receivers::default()
            })),
            cfg,
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

    /// Fans out the events not fanned out yet (all of them, a batch per transaction).
    pub async fn fan_out(&self) -> Result<u64, linkleaf_store::StoreError> {
        let mut made = 0;
        loop {
            let (events, deliveries) = self.store.fan_out(now_ms(), FAN_OUT_BATCH).await?;
            made += deliveries;
            if events < u64::from(FAN_OUT_BATCH) {
                return Ok(made);
            }
        }
    }

    /// Takes a slot for each due delivery, or gives it back without an attempt until its
    /// receiver can take it; returns those to send.
    async fn admit(&self, due: Vec<Due>) -> Vec<(Due, Admitted)> {
        self.admit_until(due).await.0
    }

    /// `admit`, with the earliest time a delivery given back is due again.
    async fn admit_until(&self, due: Vec<Due>) -> (Vec<(Due, Admitted)>, Option<Instant>) {
        let now = Instant::now();
        let (mut go, mut wait) = (Vec::new(), Vec::new());
        {
            let mut r = self.receivers.lock().unwrap_or_else(|p| p.into_inner());
            for d in due {
                match r.admit(&d, now) {
                    Ok(a) => go.push((d, a)),
                    Err(until) => wait.push((d, until)),
                }
            }
        }
        let earliest = wait.iter().map(|(_, until)| *until).min();
        // one reading of the wall clock for all of them, so none is stored later than the
        // wake `earliest` stands for
        let wall = now_ms();
        for (d, until) in wait {
            let at = wall + until.saturating_duration_since(now).as_millis() as i64;
            if let Err(e) = self.store.postpone(&d, at).await {
                tracing::warn!(error = %e, "a delivery could not be given back: it is claimed again when its lease ends");
            }
        }
        (go, earliest)
    }

    /// Fans out, claims what is due and sends what its receivers can take; returns how many
    /// attempts were made.
    pub async fn step(&self) -> Result<usize, linkleaf_store::StoreError> {
        self.fan_out().await?;
        let due = self.claim(self.cfg.batch, now_ms()).await?;
        let due = self.admit(due).await;
        let n = due.len();
        // a set, not detached tasks: dropping the step aborts its sends
        let mut sends = tokio::task::JoinSet::new();
        for (d, a) in due {
            let me = self.clone();
            sends.spawn(async move { me.deliver(d, a).await });
        }
        while let Some(s) = sends.join_next().await {
            if let Ok(Err(e)) = s {
                tracing::warn!(error = %e, "a delivery's outcome could not be recorded: it is sent again when its lease ends");
            }
        }
        Ok(n)
    }

    /// One attempt of an admitted delivery; its slot is given back with how it went.
    async fn deliver(&self, d: Due, a: Admitted) -> Result<(), linkleaf_store::StoreError> {
        let started = Instant::now();
        let (d, ok, recorded) = self.attempt(d).await;
        self.receivers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .done(&d, a, ok, started.elapsed(), Instant::now());
        recorded
    }

    async fn attempt(&self, d: Due) -> (Due, bool, Result<(), linkleaf_store::StoreError>) {
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
        let ok = next == Next::Delivered;
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
            .await;
        if let Ok(false) = recorded {
            tracing::warn!(
                event = d.event_id,
                "an attempt outlived its lease: another claim records it"
            );
        }
        (d, ok, recorded.map(drop))
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

    /// Delivers until `life` stops: fans out and claims as slots free up, at once when woken,
    /// else every `poll`. Each send is a task of `life`, which the drain waits for (within the
    /// client's deadline); one cut off by the drain's deadline is claimed again when its lease
    /// ends.
    pub async fn run(self, life: Lifecycle) {
        let stop = life.stopping();
        let tasks = life.tasks();
        let slots = Arc::new(tokio::sync::Semaphore::new(self.cfg.batch.max(1) as usize));
        let parked = Arc::new(tokio::sync::Semaphore::new(
            (self.cfg.batch.max(1) * PARKED_PER_SLOT) as usize,
        ));
        let mut backoff = Duration::from_millis(200);
        let mut woken = true;
        // when a delivery given back (its receiver or subscription busy) is due again: it was
        // claimed once, so it has settled, and the loop wakes for it then rather than at the
        // next poll (which would hold it until it is `SETTLE` old)
        let mut retry_at: Option<Instant> = None;
        loop {
            let mut again = false;
            let free = slots.available_permits() as u32;
            if free > 0 {
                let first_before = if woken {
                    now_ms()
                } else {
                    now_ms() - SETTLE.as_millis() as i64
                };
                let claimed = match self.fan_out().await {
                    Ok(_) => self.claim(free, first_before).await,
                    Err(e) => Err(e),
                };
                match claimed {
                    Ok(due) => {
                        backoff = Duration::from_millis(200);
                        let claimed = due.len();
                        let (due, earliest) = self.admit_until(due).await;
                        retry_at = match (retry_at, earliest) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                        // some were given back for their receivers: others may be due
                        again = due.len() < claimed;
                        for (d, admitted) in due {
                            // stopping: what was claimed and not sent is claimed again when
                            // its lease ends
                            let slot = tokio::select! {
                                () = stop.cancelled() => return,
                                s = slots.clone().acquire_owned() => s,
                            };
                            let Ok(slot) = slot else { return };
                            let me = self.clone();
                            let parked = parked.clone();
                            tasks.spawn(async move {
                                let url = d.url.clone();
                                let send = me.deliver(d, admitted);
                                tokio::pin!(send);
                                let sent = tokio::select! {
                                    r = &mut send => {
                                        drop(slot);
                                        r
                                    }
                                    () = tokio::time::sleep(SLOW) => {
                                        me.receivers
                                            .lock()
                                            .unwrap_or_else(|p| p.into_inner())
                                            .slow(&url);
                                        // parked: its slot serves others while it waits
                                        match parked.try_acquire_owned() {
                                            Ok(p) => {
                                                drop(slot);
                                                me.wake.notify_one();
                                                let r = send.await;
                                                drop(p);
                                                r
                                            }
                                            Err(_) => {
                                                let r = send.await;
                                                drop(slot);
                                                r
                                            }
                                        }
                                    }
                                };
                                if let Err(e) = sent {
                                    tracing::warn!(error = %e, "a delivery's outcome could not be recorded: it is sent again when its lease ends");
                                }
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
            if again && slots.available_permits() > 0 {
                continue;
            }
            let retry = async {
                match retry_at {
                    // a moment after: the claim compares the wall clock, read later
                    Some(at) => {
                        tokio::time::sleep_until((at + Duration::from_millis(5)).into()).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wake.notified() => woken = true,
                () = retry => {
                    woken = true;
                    retry_at = None;
                }
                () = tokio::time::sleep(self.cfg.poll) => woken = false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(sub: u128, url: &str) -> Due {
        Due {
            subscription: uuid::Uuid::from_u128(sub),
            event_id: "msg_1".into(),
            kind: "links.updated".into(),
            payload: "{}".into(),
            attempts: 0,
            url: url.into(),
            secrets: vec![],
            lease: 0,
        }
    }

    #[test]
    fn receivers_that_failed_or_were_slow_share_half_the_slots() {
        let mut r = Receivers {
            suspect_cap: 2,
            ..Receivers::default()
        };
        let t0 = Instant::now();
        let fast = Duration::from_millis(5);
        // three receivers of their own failed once, one was slow
        for i in 0..3 {
            let d = due(i, &format!("https://h{i}.example/"));
            let a = r.admit(&d, t0).unwrap();
            r.done(&d, a, false, fast, t0);
        }
        let slow = due(3, "https://h3.example/");
        let slow_a = r.admit(&slow, t0).unwrap();
        r.slow(&slow.url);
        // together they have two slots, whatever their number
        let (h0, h1) = (
            due(10, "https://h0.example/"),
            due(11, "https://h1.example/"),
        );
        let h0_a = r.admit(&h0, t0).unwrap();
        assert!(h0_a.suspect);
        assert!(r.admit(&h1, t0).is_ok());
        assert!(r.admit(&due(12, "https://h2.example/"), t0).is_err());
        assert!(r.admit(&due(13, "https://h3.example/"), t0).is_err());
        // a receiver that has done nothing wrong is not held up
        assert!(
            !r.admit(&due(14, "https://fine.example/"), t0)
                .unwrap()
                .suspect
        );
        // a 2xx that took longer than SLOW leaves it slow; one within SLOW clears it
        r.done(&slow, slow_a, true, SLOW + fast, t0);
        r.done(&h0, h0_a, false, fast, t0);
        assert!(
            r.admit(&due(15, "https://h3.example/"), t0)
                .unwrap()
                .suspect
        );
        let again = due(16, "https://h3.example/");
        r.done(&again, Admitted { suspect: true }, true, fast, t0);
        assert!(
            !r.admit(&due(17, "https://h3.example/"), t0)
                .unwrap()
                .suspect
        );
    }

    #[test]
    fn slots_are_shared_per_receiver_and_subscription_and_a_failing_receiver_is_left_alone() {
        let mut r = Receivers::default();
        let t0 = Instant::now();
        // one subscription: 4 at once
        for _ in 0..PER_SUBSCRIPTION {
            assert!(r.admit(&due(1, "https://a.example/x"), t0).is_ok());
        }
        assert!(r.admit(&due(1, "https://a.example/x"), t0).is_err());
        // one receiver: 8 at once, whatever the subscriptions
        for s in 2..=(PER_RECEIVER - PER_SUBSCRIPTION + 1) {
            assert!(
                r.admit(&due(u128::from(s), "https://A.example:443/y"), t0)
                    .is_ok()
            );
        }
        assert!(r.admit(&due(99, "https://a.example/z"), t0).is_err());
        // another receiver is not held up
        assert!(r.admit(&due(100, "https://b.example/"), t0).is_ok());
        // failures in a row open the receiver's breaker; a success closes it
        let failing = due(200, "http://c.example/");
        for _ in 0..BREAKER_FAILURES {
            let a = r.admit(&failing, t0).unwrap();
            r.done(&failing, a, false, Duration::ZERO, t0);
        }
        let until = r.admit(&failing, t0).unwrap_err();
        assert_eq!(until, t0 + BREAKER_OPEN);
        // once past: one probe at a time
        let later = t0 + BREAKER_OPEN;
        let probe = r.admit(&failing, later).unwrap();
        assert!(r.admit(&failing, later).is_err(), "one probe");
        r.done(&failing, probe, false, Duration::ZERO, later);
        assert_eq!(
            r.admit(&failing, later).unwrap_err(),
            later + BREAKER_OPEN * 2,
            "doubled"
        );
        let later = later + BREAKER_OPEN * 2;
        let a = r.admit(&failing, later).unwrap();
        r.done(&failing, a, true, Duration::ZERO, later);
        assert!(r.admit(&failing, later).is_ok(), "closed by a success");
    }
}
