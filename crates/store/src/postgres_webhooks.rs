//! `WebhookStore` on PostgreSQL (see `webhooks.rs` for the model); claims skip rows another
//! instance's dispatcher has locked.

use crate::postgres::PostgresStore;
use crate::webhooks::{
    Attempt, AttemptView, DeliveryView, Due, Next, Subscription, Unpublished, WebhookStore,
    event_id, events_parse, events_text,
};
use crate::{Db, Result, StoreError};
use async_trait::async_trait;
use linkleaf_domain::webhook::{SubscriptionSpec, WebhookEvent};
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgRow};
use uuid::Uuid;

/// Writes `events` to the outbox and fans each out to the subscriptions that want it, on the
/// caller's connection (inside its transaction).
pub(crate) async fn write_events(
    conn: &mut PgConnection,
    events: &[WebhookEvent],
    now_ms: i64,
) -> Result<()> {
    for e in events {
        let id = event_id();
        sqlx::query(
            "INSERT INTO webhook_events (id, type, payload, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(e.kind.as_str())
        .bind(e.to_json())
        .bind(now_ms)
        .execute(&mut *conn)
        .await
        .db()?;
        sqlx::query(
            "INSERT INTO webhook_deliveries
                 (subscription_id, event_id, status, attempts, next_attempt_at, updated_at)
             SELECT id, $1, 'pending', 0, $2, $2 FROM webhook_subscriptions
             WHERE enabled AND position(' ' || $3 || ' ' in ' ' || events || ' ') > 0",
        )
        .bind(&id)
        .bind(now_ms)
        .bind(e.kind.as_str())
        .execute(&mut *conn)
        .await
        .db()?;
    }
    Ok(())
}

const SUBSCRIPTION: &str = "SELECT id, url, events, secret, previous_secret, previous_until, \
     enabled, disabled_reason, failing_since, created_at FROM webhook_subscriptions";

fn subscription(r: &PgRow) -> Result<Subscription> {
    Ok(Subscription {
        id: r.try_get("id").db()?,
        spec: SubscriptionSpec {
            url: r.try_get("url").db()?,
            events: events_parse(&r.try_get::<String, _>("events").db()?),
            enabled: r.try_get("enabled").db()?,
        },
        secret: r.try_get("secret").db()?,
        previous_secret: r.try_get("previous_secret").db()?,
        previous_until: r.try_get("previous_until").db()?,
        disabled_reason: r.try_get("disabled_reason").db()?,
        failing_since: r.try_get("failing_since").db()?,
        created_at: r.try_get("created_at").db()?,
    })
}

#[async_trait]
impl WebhookStore for PostgresStore {
    async fn create_subscription(
        &self,
        spec: &SubscriptionSpec,
        secret: &str,
        now_ms: i64,
    ) -> Result<Subscription> {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO webhook_subscriptions (id, url, events, secret, enabled, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(&spec.url)
        .bind(events_text(&spec.events))
        .bind(secret)
        .bind(spec.enabled)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .db()?;
        self.subscription(id).await?.ok_or(StoreError::NotFound)
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>> {
        sqlx::query(sqlx::AssertSqlSafe(format!("{SUBSCRIPTION} ORDER BY id")))
            .fetch_all(&self.pool)
            .await
            .db()?
            .iter()
            .map(subscription)
            .collect()
    }

    async fn subscription(&self, id: Uuid) -> Result<Option<Subscription>> {
        sqlx::query(sqlx::AssertSqlSafe(format!("{SUBSCRIPTION} WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .db()?
            .as_ref()
            .map(subscription)
            .transpose()
    }

    async fn update_subscription(
        &self,
        id: Uuid,
        spec: &SubscriptionSpec,
    ) -> Result<Option<Subscription>> {
        let done = sqlx::query(
            "UPDATE webhook_subscriptions SET url = $1, events = $2, enabled = $3,
                 disabled_reason = CASE WHEN $3 THEN NULL ELSE disabled_reason END,
                 failing_since = CASE WHEN $3 AND NOT enabled THEN NULL ELSE failing_since END
             WHERE id = $4",
        )
        .bind(&spec.url)
        .bind(events_text(&spec.events))
        .bind(spec.enabled)
        .bind(id)
        .execute(&self.pool)
        .await
        .db()?;
        if done.rows_affected() == 0 {
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
        let done = sqlx::query(
            "UPDATE webhook_subscriptions
             SET previous_secret = secret, previous_until = $1, secret = $2 WHERE id = $3",
        )
        .bind(previous_until_ms)
        .bind(secret)
        .bind(id)
        .execute(&self.pool)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.subscription(id).await
    }

    async fn delete_subscription(&self, id: Uuid) -> Result<bool> {
        let done = sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(done.rows_affected() > 0)
    }

    async fn claim_due(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
        first_before_ms: i64,
    ) -> Result<Vec<Due>> {
        let rows = sqlx::query(
            "UPDATE webhook_deliveries d SET lease_until = $2
             FROM (SELECT dd.subscription_id, dd.event_id, e.type, e.payload, s.url, s.secret,
                          s.previous_secret, s.previous_until
                   FROM webhook_deliveries dd
                   JOIN webhook_subscriptions s ON s.id = dd.subscription_id
                   JOIN webhook_events e ON e.id = dd.event_id
                   WHERE dd.status = 'pending' AND dd.next_attempt_at <= $1
                     AND (dd.attempts > 0 OR dd.next_attempt_at <= $4)
                     AND (dd.lease_until IS NULL OR dd.lease_until <= $1) AND s.enabled
                   ORDER BY dd.next_attempt_at LIMIT $3
                   FOR UPDATE OF dd SKIP LOCKED) due
             WHERE d.subscription_id = due.subscription_id AND d.event_id = due.event_id
             RETURNING d.subscription_id, d.event_id, d.attempts, due.type, due.payload, due.url,
                       due.secret, due.previous_secret, due.previous_until",
        )
        .bind(now_ms)
        .bind(now_ms + lease_ms)
        .bind(i64::from(limit))
        .bind(first_before_ms)
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter()
            .map(|r| {
                let mut secrets = vec![r.try_get::<String, _>("secret").db()?];
                if let (Some(p), Some(until)) = (
                    r.try_get::<Option<String>, _>("previous_secret").db()?,
                    r.try_get::<Option<i64>, _>("previous_until").db()?,
                ) && now_ms < until
                {
                    secrets.push(p);
                }
                Ok(Due {
                    subscription: r.try_get("subscription_id").db()?,
                    event_id: r.try_get("event_id").db()?,
                    kind: r.try_get("type").db()?,
                    payload: r.try_get("payload").db()?,
                    attempts: r.try_get::<i32, _>("attempts").db()? as u32,
                    url: r.try_get("url").db()?,
                    secrets,
                    lease: now_ms + lease_ms,
                })
            })
            .collect()
    }

    async fn finish_attempt(&self, a: &Attempt, disable_after_ms: i64) -> Result<bool> {
        let sub = a.subscription;
        let mut tx = self.pool.begin().await.db()?;
        let (status, next_at) = match a.next {
            Next::Delivered => ("delivered", a.at_ms),
            Next::Retry(at) => ("pending", at),
            Next::Dead => ("dead", a.at_ms),
        };
        let held = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3,
                 lease_until = NULL, last_status = $4, last_error = $5, updated_at = $6
             WHERE subscription_id = $7 AND event_id = $8 AND lease_until = $9
               AND status = 'pending'",
        )
        .bind(status)
        .bind(a.attempt as i32)
        .bind(next_at)
        .bind(a.status.map(i32::from))
        .bind(&a.error)
        .bind(a.at_ms)
        .bind(sub)
        .bind(&a.event_id)
        .bind(a.lease)
        .execute(&mut *tx)
        .await
        .db()?
        .rows_affected()
            > 0;
        if !held {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO webhook_attempts
                 (subscription_id, event_id, attempt, at, status, latency_ms, error)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(sub)
        .bind(&a.event_id)
        .bind(a.attempt as i32)
        .bind(a.at_ms)
        .bind(a.status.map(i32::from))
        .bind(a.latency_ms)
        .bind(&a.error)
        .execute(&mut *tx)
        .await
        .db()?;
        if a.next == Next::Delivered {
            sqlx::query("UPDATE webhook_subscriptions SET failing_since = NULL WHERE id = $1")
                .bind(sub)
                .execute(&mut *tx)
                .await
                .db()?;
        } else {
            sqlx::query(
                "UPDATE webhook_subscriptions SET failing_since = coalesce(failing_since, $1)
                 WHERE id = $2",
            )
            .bind(a.at_ms)
            .bind(sub)
            .execute(&mut *tx)
            .await
            .db()?;
            sqlx::query(
                "UPDATE webhook_subscriptions SET enabled = FALSE,
                     disabled_reason = 'every delivery failed for ' || (($1 - failing_since) / 1000) || ' s'
                 WHERE id = $2 AND enabled AND failing_since <= $3",
            )
            .bind(a.at_ms)
            .bind(sub)
            .bind(a.at_ms - disable_after_ms)
            .execute(&mut *tx)
            .await
            .db()?;
        }
        tx.commit().await.db()?;
        Ok(true)
    }

    async fn deliveries(&self, subscription: Uuid, limit: u32) -> Result<Vec<DeliveryView>> {
        let sub = subscription;
        let rows = sqlx::query(
            "SELECT d.event_id, e.type, e.created_at, d.status, d.next_attempt_at
             FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
             WHERE d.subscription_id = $1 ORDER BY d.event_id DESC LIMIT $2",
        )
        .bind(sub)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db()?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let event_id: String = r.try_get("event_id").db()?;
            let status: String = r.try_get("status").db()?;
            let attempts = sqlx::query(
                "SELECT attempt, at, status, latency_ms, error FROM webhook_attempts
                 WHERE subscription_id = $1 AND event_id = $2 ORDER BY attempt",
            )
            .bind(sub)
            .bind(&event_id)
            .fetch_all(&self.pool)
            .await
            .db()?
            .iter()
            .map(|a| {
                Ok(AttemptView {
                    attempt: a.try_get::<i32, _>("attempt").db()? as u32,
                    at_ms: a.try_get("at").db()?,
                    status: a
                        .try_get::<Option<i32>, _>("status")
                        .db()?
                        .map(|s| s as u16),
                    latency_ms: a.try_get("latency_ms").db()?,
                    error: a.try_get("error").db()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
            out.push(DeliveryView {
                next_attempt_at: (status == "pending")
                    .then(|| r.try_get("next_attempt_at"))
                    .transpose()
                    .db()?,
                event_id,
                kind: r.try_get("type").db()?,
                created_at: r.try_get("created_at").db()?,
                status,
                attempts,
            });
        }
        Ok(out)
    }

    async fn incoming_seen(&self, webhook_id: &str, now_ms: i64) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM webhook_inbox WHERE webhook_id = $1 AND expires_at > $2")
                .bind(webhook_id)
                .bind(now_ms)
                .fetch_optional(&self.pool)
                .await
                .db()?
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
        let mut tx = self.pool.begin().await.db()?;
        let new = sqlx::query(
            "INSERT INTO webhook_inbox (webhook_id, received_at, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (webhook_id) DO NOTHING",
        )
        .bind(webhook_id)
        .bind(now_ms)
        .bind(expires_ms)
        .execute(&mut *tx)
        .await
        .db()?
        .rows_affected()
            > 0;
        if !new {
            return Ok(false);
        }
        write_events(&mut tx, republish, now_ms).await?;
        tx.commit().await.db()?;
        Ok(true)
    }

    async fn unpublished(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<Unpublished>> {
        let mut out = sqlx::query(
            "UPDATE webhook_events e SET relay_until = $2
             FROM (SELECT id FROM webhook_events
                   WHERE published_at IS NULL AND (relay_until IS NULL OR relay_until <= $1)
                   ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) due
             WHERE e.id = due.id
             RETURNING e.id, e.type, e.payload",
        )
        .bind(now_ms)
        .bind(now_ms + lease_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db()?
        .iter()
        .map(|r| {
            Ok(Unpublished {
                id: r.try_get("id").db()?,
                kind: r.try_get("type").db()?,
                payload: r.try_get("payload").db()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn mark_published(&self, ids: &[String], now_ms: i64) -> Result<()> {
        sqlx::query("UPDATE webhook_events SET published_at = $1 WHERE id = ANY($2)")
            .bind(now_ms)
            .bind(ids)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }

    async fn prune_webhooks(&self, now_ms: i64, keep_ms: i64, queued: bool) -> Result<u64> {
        let inbox = sqlx::query("DELETE FROM webhook_inbox WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await
            .db()?
            .rows_affected();
        let events = sqlx::query(
            "DELETE FROM webhook_events
             WHERE created_at < $1 AND (NOT $2 OR published_at IS NOT NULL)
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                               WHERE d.event_id = webhook_events.id AND d.status = 'pending')",
        )
        .bind(now_ms - keep_ms)
        .bind(queued)
        .execute(&self.pool)
        .await
        .db()?
        .rows_affected();
        Ok(inbox + events)
    }
}
