//! `WebhookStore` written once (see `crate::webhooks` for the model): claims skip rows another
//! instance's dispatcher holds (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite's write
//! transaction holds the whole database).
//! Must not: send anything (the dispatcher does), or fan an edit out inside its write.

use super::SqlStore;
use crate::db::{On, Tx};
use crate::error::{Result, StoreError};
use crate::seam::{Row, q, q_built};
use crate::webhooks::{
    Attempt, AttemptView, DeliveryView, Due, Next, Subscription, Unpublished, WebhookStore,
    events_parse, events_text,
};
use async_trait::async_trait;
use linkleaf_domain::webhook::{SubscriptionSpec, WebhookEvent};
use uuid::Uuid;

/// Writes `events` to the outbox inside the caller's transaction: a row each, fanned out to
/// the subscriptions after the commit (`fan_out`). An id already there (an event that came
/// back, in a loop) is not written again.
pub(crate) async fn write_events(
    tx: &mut Tx<'_>,
    events: &[WebhookEvent],
    now_ms: i64,
) -> Result<()> {
    for e in events {
        q(
            "INSERT INTO webhook_events (id, type, payload, created_at, profile_id)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&e.id)
        .bind(e.kind.as_str())
        .bind(e.to_json())
        .bind(now_ms)
        .bind(e.data.id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

const SUBSCRIPTION: &str = "SELECT id, url, events, secret, previous_secret, previous_until, \
     enabled, disabled_reason, failing_since, created_at, profile_id FROM webhook_subscriptions";

fn subscription(r: &Row) -> Result<Subscription> {
    Ok(Subscription {
        id: r.id("id")?,
        spec: SubscriptionSpec {
            url: r.text("url")?,
            events: events_parse(&r.text("events")?),
            enabled: r.flag("enabled")?,
        },
        secret: r.text("secret")?,
        previous_secret: r.opt_text("previous_secret")?,
        previous_until: r.opt_int("previous_until")?,
        disabled_reason: r.opt_text("disabled_reason")?,
        failing_since: r.opt_int("failing_since")?,
        created_at: r.int("created_at")?,
        profile: r.opt_id("profile_id")?,
    })
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn create_subscription(
        &self,
        spec: &SubscriptionSpec,
        secret: &str,
        now_ms: i64,
        max: u32,
        profile: Option<Uuid>,
    ) -> Result<Subscription> {
        let id = Uuid::now_v7();
        // counted and made in one write transaction: two at once cannot pass the limit
        let mut tx = self.db.begin_write().await?;
        let n = q("SELECT count(*) AS n FROM webhook_subscriptions
             WHERE ($1::uuid IS NULL AND profile_id IS NULL) OR profile_id = $1")
        .bind(profile)
        .fetch_one(&mut tx)
        .await?
        .int("n")?;
        if n >= i64::from(max) {
            return Err(StoreError::LimitReached(max));
        }
        q(
            "INSERT INTO webhook_subscriptions (id, url, events, secret, enabled, created_at,
                                               profile_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(&spec.url)
        .bind(events_text(&spec.events))
        .bind(secret)
        .bind(spec.enabled)
        .bind(now_ms)
        .bind(profile)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        self.subscription(id).await?.ok_or(StoreError::NotFound)
    }

    async fn subscriptions(
        &self,
        after: Option<Uuid>,
        limit: u32,
        among: Option<&[Uuid]>,
    ) -> Result<Vec<Subscription>> {
        q_built(format!(
            "{SUBSCRIPTION} WHERE ($1::uuid IS NULL OR id > $1) AND ($3 OR profile_id = ANY($4))
             ORDER BY id LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .bind(among.is_none())
        .bind(among.unwrap_or_default().to_vec())
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(subscription)
        .collect()
    }

    async fn subscription(&self, id: Uuid) -> Result<Option<Subscription>> {
        q_built(format!("{SUBSCRIPTION} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.db)
            .await?
            .as_ref()
            .map(subscription)
            .transpose()
    }

    async fn update_subscription(
        &self,
        id: Uuid,
        spec: &SubscriptionSpec,
    ) -> Result<Option<Subscription>> {
        let done = q(
            "UPDATE webhook_subscriptions SET url = $1, events = $2, enabled = $3,
               disabled_reason = CASE WHEN $3 THEN NULL ELSE disabled_reason END,
               failing_since = CASE WHEN $3 AND NOT enabled THEN NULL ELSE failing_since END
           WHERE id = $4",
        )
        .bind(&spec.url)
        .bind(events_text(&spec.events))
        .bind(spec.enabled)
        .bind(id)
        .execute(&self.db)
        .await?;
        if done == 0 {
            return Ok(None);
        }
        self.subscription(id).await
    }

    async fn rotate_secret(
        &self,
        id: Uuid,
        secret: &str,
        previous_until_ms: i64,
    ) -> Result<Option<Subscription>> {
        let done = q("UPDATE webhook_subscriptions
           SET previous_secret = secret, previous_until = $1, secret = $2 WHERE id = $3")
        .bind(previous_until_ms)
        .bind(secret)
        .bind(id)
        .execute(&self.db)
        .await?;
        if done == 0 {
            return Ok(None);
        }
        self.subscription(id).await
    }

    async fn delete_subscription(&self, id: Uuid) -> Result<bool> {
        let done = q("DELETE FROM webhook_subscriptions WHERE id = $1")
            .bind(id)
            .execute(&self.db)
            .await?;
        Ok(done > 0)
    }

    async fn claim_due(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
        first_before_ms: i64,
    ) -> Result<Vec<Due>> {
        let mut tx = self.db.begin_write().await?;
        let claimed = q("UPDATE webhook_deliveries SET lease_until = $2
           WHERE (subscription_id, event_id) IN (
               SELECT d.subscription_id, d.event_id
               FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id
               WHERE d.status = 'pending' AND d.next_attempt_at <= $1
                 AND (d.attempts > 0 OR d.updated_at <= $4 OR d.next_attempt_at > d.updated_at)
                 AND (d.lease_until IS NULL OR d.lease_until <= $1) AND s.enabled = TRUE
               ORDER BY d.next_attempt_at LIMIT $3
               FOR UPDATE OF d SKIP LOCKED)
           RETURNING subscription_id, event_id, attempts")
        .bind(now_ms)
        .bind(now_ms + lease_ms)
        .bind(limit)
        .bind(first_before_ms)
        .fetch_all(&mut tx)
        .await?;
        let mut out = Vec::with_capacity(claimed.len());
        for c in &claimed {
            let (sub, event) = (c.id("subscription_id")?, c.text("event_id")?);
            let r = q(
                "SELECT e.type, e.payload, s.url, s.secret, s.previous_secret, s.previous_until
                 FROM webhook_events e, webhook_subscriptions s WHERE e.id = $1 AND s.id = $2",
            )
            .bind(&event)
            .bind(sub)
            .fetch_one(&mut tx)
            .await?;
            let mut secrets = vec![r.text("secret")?];
            if let (Some(p), Some(until)) =
                (r.opt_text("previous_secret")?, r.opt_int("previous_until")?)
                && now_ms < until
            {
                secrets.push(p);
            }
            out.push(Due {
                subscription: sub,
                event_id: event,
                kind: r.text("type")?,
                payload: r.text("payload")?,
                attempts: c.int("attempts")? as u32,
                url: r.text("url")?,
                secrets,
                lease: now_ms + lease_ms,
            });
        }
        tx.commit().await?;
        out.sort_by_key(|d| d.event_id.clone());
        Ok(out)
    }

    async fn fan_out(&self, now_ms: i64, limit: u32) -> Result<(u64, u64)> {
        let mut tx = self.db.begin_write().await?;
        // another instance's dispatcher fans out other events meanwhile
        let events = q("SELECT id FROM webhook_events WHERE fanned_out_at IS NULL
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED")
        .bind(limit)
        .fetch_all(&mut tx)
        .await?;
        let mut made = 0;
        for e in &events {
            let id = e.text("id")?;
            made += q("INSERT INTO webhook_deliveries
                   (subscription_id, event_id, status, attempts, next_attempt_at, updated_at)
               SELECT s.id, e.id, 'pending', 0, $2, $2
               FROM webhook_subscriptions s, webhook_events e
               WHERE e.id = $1 AND s.enabled = TRUE AND s.created_at <= e.created_at
                 AND (s.profile_id IS NULL OR s.profile_id = e.profile_id)
                 AND ' ' || s.events || ' ' LIKE '% ' || e.type || ' %'
               ON CONFLICT DO NOTHING")
            .bind(&id)
            .bind(now_ms)
            .execute(&mut tx)
            .await?;
            q("UPDATE webhook_events SET fanned_out_at = $2 WHERE id = $1")
                .bind(&id)
                .bind(now_ms)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok((events.len() as u64, made))
    }

    async fn postpone(&self, d: &Due, until_ms: i64) -> Result<bool> {
        Ok(q(
            "UPDATE webhook_deliveries SET next_attempt_at = $1, lease_until = NULL
             WHERE subscription_id = $2 AND event_id = $3 AND lease_until = $4
               AND status = 'pending'",
        )
        .bind(until_ms)
        .bind(d.subscription)
        .bind(&d.event_id)
        .bind(d.lease)
        .execute(&self.db)
        .await?
            > 0)
    }

    async fn finish_attempt(&self, a: &Attempt, disable_after_ms: i64) -> Result<bool> {
        let sub = a.subscription;
        let mut tx = self.db.begin_write().await?;
        let (status, next_at) = match a.next {
            Next::Delivered => ("delivered", a.at_ms),
            Next::Retry(at) => ("pending", at),
            Next::Dead => ("dead", a.at_ms),
        };
        let held = q("UPDATE webhook_deliveries SET status = $1, attempts = $2,
               next_attempt_at = $3, lease_until = NULL, last_status = $4, last_error = $5,
               updated_at = $6
           WHERE subscription_id = $7 AND event_id = $8 AND lease_until = $9
             AND status = 'pending'")
        .bind(status)
        .bind(a.attempt)
        .bind(next_at)
        .bind(a.status.map(i64::from))
        .bind(&a.error)
        .bind(a.at_ms)
        .bind(sub)
        .bind(&a.event_id)
        .bind(a.lease)
        .execute(&mut tx)
        .await?
            > 0;
        if !held {
            return Ok(false);
        }
        q("INSERT INTO webhook_attempts
               (subscription_id, event_id, attempt, at, status, latency_ms, error)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING")
        .bind(sub)
        .bind(&a.event_id)
        .bind(a.attempt)
        .bind(a.at_ms)
        .bind(a.status.map(i64::from))
        .bind(a.latency_ms)
        .bind(&a.error)
        .execute(&mut tx)
        .await?;
        if a.next == Next::Delivered {
            q("UPDATE webhook_subscriptions SET failing_since = NULL WHERE id = $1")
                .bind(sub)
                .execute(&mut tx)
                .await?;
        } else {
            q(
                "UPDATE webhook_subscriptions SET failing_since = coalesce(failing_since, $1)
               WHERE id = $2",
            )
            .bind(a.at_ms)
            .bind(sub)
            .execute(&mut tx)
            .await?;
            q("UPDATE webhook_subscriptions SET enabled = FALSE,
                   disabled_reason = 'every delivery failed for ' || (($1 - failing_since) / 1000) || ' s'
               WHERE id = $2 AND enabled = TRUE AND failing_since <= $3")
            .bind(a.at_ms)
            .bind(sub)
            .bind(a.at_ms - disable_after_ms)
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn deliveries(&self, subscription: Uuid, limit: u32) -> Result<Vec<DeliveryView>> {
        let rows = q(
            "SELECT d.event_id, e.type, e.created_at, d.status, d.next_attempt_at
           FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
           WHERE d.subscription_id = $1 ORDER BY d.event_id DESC LIMIT $2",
        )
        .bind(subscription)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let event_id = r.text("event_id")?;
            let status = r.text("status")?;
            let attempts = q(
                "SELECT attempt, at, status, latency_ms, error FROM webhook_attempts
                 WHERE subscription_id = $1 AND event_id = $2 ORDER BY attempt",
            )
            .bind(subscription)
            .bind(&event_id)
            .fetch_all(&self.db)
            .await?
            .iter()
            .map(|a| {
                Ok(AttemptView {
                    attempt: a.int("attempt")? as u32,
                    at_ms: a.int("at")?,
                    status: a.opt_int("status")?.map(|s| s as u16),
                    latency_ms: a.int("latency_ms")?,
                    error: a.opt_text("error")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
            out.push(DeliveryView {
                next_attempt_at: if status == "pending" {
                    Some(r.int("next_attempt_at")?)
                } else {
                    None
                },
                event_id,
                kind: r.text("type")?,
                created_at: r.int("created_at")?,
                status,
                attempts,
            });
        }
        Ok(out)
    }

    async fn incoming_seen(&self, webhook_id: &str, now_ms: i64) -> Result<bool> {
        Ok(
            q("SELECT 1 AS one FROM webhook_inbox WHERE webhook_id = $1 AND expires_at > $2")
                .bind(webhook_id)
                .bind(now_ms)
                .fetch_optional(&self.db)
                .await?
                .is_some(),
        )
    }

    async fn accept_incoming(
        &self,
        webhook_id: &str,
        now_ms: i64,
        expires_ms: i64,
        republish: &[WebhookEvent],
    ) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        let new = q(
            "INSERT INTO webhook_inbox (webhook_id, received_at, expires_at)
           VALUES ($1, $2, $3) ON CONFLICT (webhook_id) DO NOTHING",
        )
        .bind(webhook_id)
        .bind(now_ms)
        .bind(expires_ms)
        .execute(&mut tx)
        .await?
            > 0;
        if !new {
            return Ok(false);
        }
        write_events(&mut tx, republish, now_ms).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn unpublished(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<Unpublished>> {
        let mut out = q("UPDATE webhook_events SET relay_until = $2
           WHERE id IN (SELECT id FROM webhook_events
                        WHERE published_at IS NULL AND (relay_until IS NULL OR relay_until <= $1)
                        ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
           RETURNING id, type, payload")
        .bind(now_ms)
        .bind(now_ms + lease_ms)
        .bind(limit)
        .fetch_all(On::Primary(&self.db))
        .await?
        .iter()
        .map(|r| {
            Ok(Unpublished {
                id: r.text("id")?,
                kind: r.text("type")?,
                payload: r.text("payload")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn mark_published(&self, ids: &[String], now_ms: i64) -> Result<()> {
        q("UPDATE webhook_events SET published_at = $1 WHERE id = ANY($2)")
            .bind(now_ms)
            .bind(ids)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    async fn prune_webhooks(&self, now_ms: i64, keep_ms: i64, queued: bool) -> Result<u64> {
        let inbox = q("DELETE FROM webhook_inbox WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(&self.db)
            .await?;
        let events = q("DELETE FROM webhook_events
           WHERE created_at < $1 AND (NOT $2 OR published_at IS NOT NULL)
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                             WHERE d.event_id = webhook_events.id AND d.status = 'pending')")
        .bind(now_ms - keep_ms)
        .bind(queued)
        .execute(&self.db)
        .await?;
        Ok(inbox + events)
    }
}
