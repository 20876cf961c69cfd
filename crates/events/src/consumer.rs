//! The consumer: takes frames from the queue for a window (`analytics.window_secs`), rolls them
//! up, commits the window in one transaction with the frames' identities (a frame counted before
//! adds nothing), and only then acknowledges them.
//!
//! A frame that does not decode is rejected (RabbitMQ dead-letters it at once: a retry would
//! not decode it either); the window's other frames still count. So is a message whose
//! events the database refuses (see `process_batch`). While the analytics store
//! cannot take a commit the window is kept in memory and retried with backoff and jitter; up to
//! `max_pending_events` more are received meanwhile, then none (the queue keeps them, and in
//! process the spool does): back-pressure, never a drop. `process_batch` is the one
//! deterministic step, which tests drive without timers.

use crate::classify::Classifier;
use crate::event::decode_all;
use crate::metrics::EventMetrics;
use crate::queue::{Delivery, Message, Source};
use crate::rollup::rollup;
use linkleaf_domain::analytics::{FrameRollup, WindowOutcome};
use linkleaf_store::{AnalyticsStore, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct Consumer {
    source: Box<dyn Source>,
    store: Arc<dyn AnalyticsStore>,
    classifier: Classifier,
    window: Duration,
    max_pending_events: u64,
    /// A commit that has not answered by then counts as failed (and is tried again: a commit
    /// that did land meanwhile is recognised).
    commit_timeout: Duration,
    /// Commits that ran out of time in a row: each doubles the next one's deadline (up to
    /// `DEADLINE_GROWTH_MAX` times), so a database that is slow rather than gone still takes a
    /// window that grew while it was retried.
    timeouts: u32,
    metrics: EventMetrics,
    /// A window taken and not committed yet: its messages, and their frames' rollups
    /// (`rollups[spans[i]]` are the frames of `pending[i]`).
    pending: Vec<Delivery>,
    rollups: Vec<FrameRollup>,
    spans: Vec<std::ops::Range<usize>>,
    /// A window closes early once it holds this many messages (RabbitMQ delivers no more
    /// than the prefetch until some are acknowledged).
    max_messages: usize,
    /// Told the profiles a committed window counted for (their cached reports go).
    committed: Option<Committed>,
}

/// What hears of the profiles each committed window counted for.
pub type Committed = Arc<dyn Fn(Vec<uuid::Uuid>) + Send + Sync>;

/// A commit's deadline grows to this many times `commit_timeout` at most.
const DEADLINE_GROWTH_MAX: u32 = 16;

/// Frames taken from the queue per receive at most.
const RECEIVE: usize = 1000;

impl Consumer {
    pub fn new(
        source: Box<dyn Source>,
        store: Arc<dyn AnalyticsStore>,
        window: Duration,
        max_pending_events: u64,
        commit_timeout: Duration,
        metrics: EventMetrics,
    ) -> Self {
        Self {
            source,
            store,
            classifier: Classifier::default(),
            window,
            max_pending_events,
            commit_timeout,
            timeouts: 0,
            metrics,
            pending: Vec::new(),
            rollups: Vec::new(),
            spans: Vec::new(),
            max_messages: 1000,
            committed: None,
        }
    }

    /// `hook` hears, after each commit, which profiles it counted for.
    pub fn on_commit(mut self, hook: Committed) -> Self {
        self.committed = Some(hook);
        self
    }

    /// The profiles the pending window counts for (when someone listens).
    fn touched(&self) -> Vec<uuid::Uuid> {
        if self.committed.is_none() {
            return Vec::new();
        }
        let mut ids: Vec<uuid::Uuid> = self
            .rollups
            .iter()
            .flat_map(|f| f.counts.keys().map(|k| k.profile))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn tell(&self, ids: Vec<uuid::Uuid>) {
        if let Some(hook) = &self.committed
            && !ids.is_empty()
        {
            hook(ids);
        }
    }

    fn pending_events(&self) -> u64 {
        self.rollups.iter().map(|f| f.events).sum()
    }

    /// Whether the window takes more from the queue: not once it holds `max_pending_events`
    /// (a window the store could not commit is kept, and what comes after it waits in the
    /// queue: back-pressure), nor `max_messages`. One receive can take it past the bound by at
    /// most `RECEIVE` frames.
    pub fn has_room(&self) -> bool {
        self.pending_events() < self.max_pending_events && self.pending.len() < self.max_messages
    }

    /// Sets the gauges from what the window holds.
    fn show(&self) {
        self.metrics.pending.set(self.pending_events() as f64);
        self.metrics.held.set(self.pending.len() as f64);
    }

    /// Closes windows once they hold `n` messages (default: 1,000).
    pub fn with_max_messages(mut self, n: usize) -> Self {
        self.max_messages = n.max(1);
        self
    }

    /// Takes what the queue has (up to `max` frames, waiting at most `wait`) into the pending
    /// window; frames that do not decode are rejected. Returns how many frames were taken.
    pub async fn take(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<usize, crate::queue::QueueError> {
        let deliveries = self.source.receive(max, wait).await?;
        let n = deliveries.len();
        // held from now on, while they are rolled up too (no longer ready in the queue)
        self.metrics.held.set((self.pending.len() + n) as f64);
        // Decoding and rolling up is the consumer's CPU work (a window can hold a million
        // events): it runs on a blocking thread, so the runtime it shares with `serve` keeps
        // answering requests meanwhile (a window rolled up inline held a redirect for 190 ms).
        let mut classifier = std::mem::take(&mut self.classifier);
        let (classifier, results) = tokio::task::spawn_blocking(move || {
            let results: Vec<(Delivery, Result<Vec<FrameRollup>, String>)> = deliveries
                .into_iter()
                .map(|d| {
                    let rolled = decode(&d.body).map(|(source, frames)| {
                        frames
                            .into_iter()
                            .map(|(seq, events)| rollup(source, seq, &events, &mut classifier))
                            .collect()
                    });
                    (d, rolled)
                })
                .collect();
            (classifier, results)
        })
        .await
        .map_err(|e| crate::queue::QueueError::Unavailable(format!("the rollup task: {e}")))?;
        self.classifier = classifier;
        for (d, rolled) in results {
            match rolled {
                Ok(frames) => {
                    let first = self.rollups.len();
                    for r in frames {
                        self.metrics.consumed.increment(r.events);
                        self.rollups.push(r);
                    }
                    self.spans.push(first..self.rollups.len());
                    self.pending.push(d);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a message that cannot be processed was rejected");
                    self.metrics.rejected.increment(1);
                    if let Err(e) = self.source.reject(d).await {
                        tracing::warn!(error = %e, "could not reject a message");
                    }
                }
            }
        }
        self.show();
        Ok(n)
    }

    /// Commits the pending window (one transaction), then acknowledges it. On a store failure
    /// the window stays pending and the error is returned. When the database refuses the
    /// window's data (`StoreError::Refused`: a message that decoded but holds what the
    /// database cannot take), each message is committed alone: those that commit are
    /// acknowledged, those refused again are rejected (dead-lettered at once),
    /// so one bad message cannot stall every event behind it.
    pub async fn process_batch(&mut self) -> Result<WindowOutcome, StoreError> {
        if self.pending.is_empty() {
            return Ok(WindowOutcome::default());
        }
        let started = Instant::now();
        let touched = self.touched();
        let frames = Arc::new(std::mem::take(&mut self.rollups));
        let result = commit(&self.store, self.deadline(), &self.metrics, frames.clone()).await;
        self.timed(&result);
        if result.is_err() {
            // kept for the retry; a commit that timed out may still be adding them up, and then
            // they are copied (on a blocking thread too)
            self.rollups = match Arc::try_unwrap(frames) {
                Ok(f) => f,
                Err(f) => tokio::task::spawn_blocking(move || f.as_ref().clone())
                    .await
                    .map_err(|e| StoreError::Other(format!("keeping the window: {e}")))?,
            };
        } else if frames.len() > 64 {
            // A window's rollups are a great many small maps: freeing them took the thread
            // tens of milliseconds, so a blocking thread does it.
            tokio::task::spawn_blocking(move || drop(frames));
        }
        let outcome = match result {
            Err(StoreError::Refused(e)) => {
                let done = self.isolate(e).await;
                self.tell(touched);
                return done;
            }
            r => r?,
        };
        self.tell(touched);
        self.metrics
            .commit_seconds
            .record(started.elapsed().as_secs_f64());
        self.spans.clear();
        let deliveries: Vec<Delivery> = std::mem::take(&mut self.pending);
        if let Err(e) = self.source.ack(deliveries).await {
            // committed: what comes again is recognised
            tracing::warn!(error = %e, "committed, but not acknowledged: it will come again and be skipped");
        }
        self.show();
        Ok(outcome)
    }

    /// The deadline of the next commit.
    pub fn deadline(&self) -> Duration {
        self.commit_timeout * (1u32 << self.timeouts.min(DEADLINE_GROWTH_MAX.ilog2()))
    }

    /// Notes whether a commit ran out of time.
    fn timed(&mut self, result: &Result<WindowOutcome, StoreError>) {
        match result {
            Err(StoreError::Unavailable(why)) if why.starts_with(TIMED_OUT) => self.timeouts += 1,
            Err(_) => {}
            Ok(_) => self.timeouts = 0,
        }
    }

    /// The window was refused: each message alone. Stops at a failure that is not the data's
    /// (the rest stays pending and the error is returned).
    async fn isolate(&mut self, why: String) -> Result<WindowOutcome, StoreError> {
        tracing::warn!(error = %why, messages = self.pending.len(), "the database refused a window: committing its messages one by one");
        let mut total = WindowOutcome::default();
        let pending = std::mem::take(&mut self.pending);
        let spans = std::mem::take(&mut self.spans);
        let rollups = std::mem::take(&mut self.rollups);
        let mut left = pending.into_iter().zip(spans);
        while let Some((d, span)) = left.next() {
            let result = commit(
                &self.store,
                self.deadline(),
                &self.metrics,
                Arc::new(rollups[span.clone()].to_vec()),
            )
            .await;
            self.timed(&result);
            match result {
                Ok(o) => {
                    total.committed_events += o.committed_events;
                    total.duplicate_events += o.duplicate_events;
                    if let Err(e) = self.source.ack(vec![d]).await {
                        tracing::warn!(error = %e, "committed, but not acknowledged: it will come again and be skipped");
                    }
                }
                Err(StoreError::Refused(e)) => {
                    tracing::error!(error = %e, "the database refuses a message's events: rejected (dead-lettered)");
                    self.metrics.rejected.increment(1);
                    if let Err(e) = self.source.reject(d).await {
                        tracing::warn!(error = %e, "could not reject a message");
                    }
                }
                Err(e) => {
                    // the database, not the data: keep this one and the rest for a retry
                    for (d, span) in std::iter::once((d, span)).chain(left) {
                        let first = self.rollups.len();
                        self.rollups.extend_from_slice(&rollups[span]);
                        self.spans.push(first..self.rollups.len());
                        self.pending.push(d);
                    }
                    self.show();
                    return Err(e);
                }
            }
        }
        self.show();
        Ok(total)
    }

    /// Runs windows until `stop`, committing the last one before returning.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let window_end = tokio::time::Instant::now() + self.window;
            // take frames for one window (or, after a failed commit, while there is room)
            while tokio::time::Instant::now() < window_end && self.has_room() {
                let wait = window_end.saturating_duration_since(tokio::time::Instant::now());
                tokio::select! {
                    () = stop.cancelled() => {
                        let _ = self.process_batch().await;
                        return;
                    }
                    taken = self.take(RECEIVE, wait.max(Duration::from_millis(1))) => {
                        if let Err(e) = taken {
                            tracing::warn!(error = %e, "the queue is unavailable to the consumer");
                            tokio::select! {
                                () = stop.cancelled() => { let _ = self.process_batch().await; return; }
                                () = tokio::time::sleep(jitter(backoff)) => {}
                            }
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            }
            match self.process_batch().await {
                Ok(_) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, pending = self.pending_events(), "the window could not be committed: kept, retrying");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(jitter(backoff)) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}

const TIMED_OUT: &str = "the commit did not answer within";

/// One commit of `rollups`, bounded by `timeout` (a commit that has not answered counts as
/// failed; one that landed meanwhile is recognised when tried again).
async fn commit(
    store: &Arc<dyn AnalyticsStore>,
    timeout: Duration,
    metrics: &EventMetrics,
    rollups: Arc<Vec<FrameRollup>>,
) -> Result<WindowOutcome, StoreError> {
    let outcome = tokio::time::timeout(timeout, store.commit_window(rollups))
        .await
        .map_err(|_| StoreError::Unavailable(format!("{TIMED_OUT} {timeout:?}")))??;
    metrics.committed.increment(outcome.committed_events);
    metrics.duplicates.increment(outcome.duplicate_events);
    Ok(outcome)
}

/// A message's frames and their events, or why it cannot be processed.
type Decoded = (uuid::Uuid, Vec<(u64, Vec<crate::event::Event>)>);

fn decode(body: &bytes::Bytes) -> Result<Decoded, String> {
    let m = Message::decode(body.clone())?;
    let mut frames = Vec::with_capacity(m.frames.len());
    for f in &m.frames {
        let events = decode_all(&f.events)?;
        if events.len() != f.count as usize {
            return Err(format!(
                "frame {}: {} events where it says {}",
                f.seq,
                events.len(),
                f.count
            ));
        }
        frames.push((f.seq, events));
    }
    Ok((m.source, frames))
}

fn jitter(d: Duration) -> Duration {
    let r = u64::from(uuid::Uuid::new_v4().as_bytes()[0]);
    d / 2 + d * r as u32 / 512
}
