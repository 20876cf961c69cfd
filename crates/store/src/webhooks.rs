//! Webhooks in storage: subscriptions, the transactional outbox, delivery attempts, and the ids
//! of incoming events already handled.
//!
//! The outbox is written by the profile writes themselves (`create_profile`, `modify_profile`,
//! `delete_profile`): each change's events go in with the change, in its transaction, one row
//! per event whatever the number of subscriptions, so no change can commit without its events
//! and none holds the write lock for its subscribers. After the commit a dispatcher fans each
//! event out (`fan_out`: one pending delivery per enabled subscription, made before the event,
//! that wants its type) in a transaction of its own, so a process killed between a commit and
//! its fan-out leaves the event to the next dispatcher. Dispatchers (one per instance) claim due
//! deliveries with a lease (PostgreSQL: `FOR UPDATE SKIP LOCKED`), so several instances share
//! the work and a dispatcher killed mid-send leaves its claims to be taken again when the lease
//! runs out. An event keeps its id wherever it travels: an incoming event's id is recorded in
//! the same transaction as the event passed on under that same id, and an id already in the
//! outbox is not written again, so a duplicate or a loop changes nothing.
//! Must not: send anything, or let a change commit without its events.

use crate::error::Result;
use async_trait::async_trait;
use linkleaf_domain::webhook::{EventType, SubscriptionSpec, WebhookEvent};
use uuid::Uuid;

/// A subscription as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: Uuid,
    pub spec: SubscriptionSpec,
    /// `whsec_...`: signs every delivery.
    pub secret: String,
    /// After a rotation, the old secret signs too, until `previous_until` (ms since the epoch).
    pub previous_secret: Option<String>,
    pub previous_until: Option<i64>,
    /// Why it was disabled by linkleaf (failing for too long); `None` when enabled or disabled
    /// by its owner.
    pub disabled_reason: Option<String>,
    /// Since when every delivery failed (ms), if the last one did.
    pub failing_since: Option<i64>,
    pub created_at: i64,
    /// The one profile whose events it receives (made through that profile's access); `None`:
    /// every profile's (made with an operator's key).
    pub profile: Option<Uuid>,
}

impl Subscription {
    /// The secrets that sign a delivery at `now_ms`: the current one, and the previous one while
    /// a rotation's overlap lasts.
    pub fn signing_secrets(&self, now_ms: i64) -> Vec<String> {
        let mut out = vec![self.secret.clone()];
        if let (Some(p), Some(until)) = (&self.previous_secret, self.previous_until)
            && now_ms < until
        {
            out.push(p.clone());
        }
        out
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("spec", &self.spec)
            .field("secret", &"[redacted]")
            .field("disabled_reason", &self.disabled_reason)
            .finish()
    }
}

/// A delivery claimed for sending.
#[derive(Clone, PartialEq, Eq)]
pub struct Due {
    pub subscription: Uuid,
    /// The event's id: the `webhook-id` of every attempt.
    pub event_id: String,
    pub kind: String,
    /// The body to send, as recorded.
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
    pub url: String,
    /// What signs it (see `Subscription::signing_secrets`).
    pub secrets: Vec<String>,
    /// The claim's lease (ms since the epoch): what the attempt's record presents, so a
    /// dispatcher whose lease ran out (and was taken over) cannot overwrite the new claim.
    pub lease: i64,
}

impl std::fmt::Debug for Due {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Due")
            .field("subscription", &self.subscription)
            .field("event_id", &self.event_id)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .field("secrets", &"[redacted]")
            .finish()
    }
}

/// What comes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Tried again at (ms since the epoch).
    Retry(i64),
    /// Given up on (dead-lettered): kept, readable, not sent again.
    Dead,
}

/// One attempt's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub subscription: Uuid,
    pub event_id: String,
    /// 1 for the first.
    pub attempt: u32,
    pub at_ms: i64,
    /// The receiver's HTTP status, when one came back.
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub next: Next,
    /// The claim it was made under (`Due::lease`).
    pub lease: i64,
}

/// One attempt, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptView {
    pub attempt: u32,
    pub at_ms: i64,
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// A delivery and its attempts, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryView {
    pub event_id: String,
    pub kind: String,
    pub created_at: i64,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<i64>,
    pub attempts: Vec<AttemptView>,
}

/// An outbox event not yet taken by the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpublished {
    pub id: String,
    pub kind: String,
    pub payload: String,
}

#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Makes a subscription to `profile`'s events (every profile's when `None`), unless there
    /// are `max` already for that profile (for the instance when `None`):
    /// `StoreError::LimitReached`.
    async fn create_subscription(
        &self,
        spec: &SubscriptionSpec,
        secret: &str,
        now_ms: i64,
        max: u32,
        profile: Option<Uuid>,
    ) -> Result<Subscription>;
    /// Subscriptions by id, after `after`, at most `limit`; only those of `among`'s profiles
    /// when given.
    async fn subscriptions(
        &self,
        after: Option<Uuid>,
        limit: u32,
        among: Option<&[Uuid]>,
    ) -> Result<Vec<Subscription>>;
    async fn subscription(&self, id: Uuid) -> Result<Option<Subscription>>;
    /// Replaces what the subscription is. Enabling it clears why linkleaf disabled it, and its
    /// failure streak.
    async fn update_subscription(
        &self,
        id: Uuid,
        spec: &SubscriptionSpec,
    ) -> Result<Option<Subscription>>;
    /// A new secret; the current one keeps signing until `previous_until_ms`.
    async fn rotate_secret(
        &self,
        id: Uuid,
        secret: &str,
        previous_until_ms: i64,
    ) -> Result<Option<Subscription>>;
    /// Deletes it with its deliveries; `false` when there was none.
    async fn delete_subscription(&self, id: Uuid) -> Result<bool>;
    /// Claims up to `limit` pending deliveries due at `now_ms` of enabled subscriptions, for
    /// `lease_ms`: no other dispatcher takes them meanwhile. A first attempt is claimed only for
    /// an event written at or before `first_before_ms` (see the dispatcher), or one claimed and
    /// given back before (`postpone`: it has settled).
    async fn claim_due(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
        first_before_ms: i64,
    ) -> Result<Vec<Due>>;
    /// Fans out up to `limit` events not fanned out yet, oldest first: one pending delivery due
    /// at `now_ms` per enabled subscription made before the event that wants its type. One
    /// transaction; returns (events, deliveries made).
    async fn fan_out(&self, now_ms: i64, limit: u32) -> Result<(u64, u64)>;
    /// Gives a claimed delivery back without an attempt (its receiver is busy or failing): due
    /// again at `until_ms`, if the claim still holds.
    async fn postpone(&self, d: &Due, until_ms: i64) -> Result<bool>;
    /// Records an attempt and what comes next, if its claim still holds (`false`, recording
    /// nothing, when the lease ran out and another claim took the delivery); keeps the
    /// subscription's failure streak, and disables it when it has failed for longer than
    /// `disable_after_ms`.
    async fn finish_attempt(&self, a: &Attempt, disable_after_ms: i64) -> Result<bool>;
    /// The subscription's latest deliveries (newest first), with their attempts.
    async fn deliveries(&self, subscription: Uuid, limit: u32) -> Result<Vec<DeliveryView>>;
    /// Whether an incoming event's id was recorded and has not expired at `now_ms`.
    async fn incoming_seen(&self, webhook_id: &str, now_ms: i64) -> Result<bool>;
    /// Records an incoming event's id (kept until `expires_ms`) and `republish` in one
    /// transaction; `false`, changing nothing, when the id was recorded before.
    async fn accept_incoming(
        &self,
        webhook_id: &str,
        now_ms: i64,
        expires_ms: i64,
        republish: &[WebhookEvent],
    ) -> Result<bool>;
    /// Claims up to `limit` outbox events the queue has not taken yet, oldest first, for
    /// `lease_ms` (several instances relaying one outbox take different events).
    async fn unpublished(&self, now_ms: i64, lease_ms: i64, limit: u32)
    -> Result<Vec<Unpublished>>;
    async fn mark_published(&self, ids: &[String], now_ms: i64) -> Result<()>;
    /// Forgets incoming ids past their expiry, and events older than `keep_ms` with nothing
    /// left to deliver (and, when `queued`, taken by the queue). Returns the rows removed.
    async fn prune_webhooks(&self, now_ms: i64, keep_ms: i64, queued: bool) -> Result<u64>;
}

/// The event types a subscription wants, as stored (space-separated).
pub(crate) fn events_text(events: &[EventType]) -> String {
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn events_parse(text: &str) -> Vec<EventType> {
    text.split_whitespace()
        .filter_map(EventType::parse)
        .collect()
}
