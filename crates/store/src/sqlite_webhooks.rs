//! `WebhookStore` on SQLite (see `webhooks.rs` for the model).

use crate::sqlite::SqliteStore;
use crate::webhooks::{
    Attempt, AttemptView, DeliveryView, Due, Next, Subscription, Unpublished, WebhookStore,
    event_id, events_parse, events_text,
};
use crate::{Db, Result, StoreError};
use async_trait::async_trait;
use linkleaf_domain::webhook::{SubscriptionSpec, WebhookEvent};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use uuid::Uuid;

/// Writes `events` to the outbox and fans each out to the subscriptions that want it, on the
/// caller's connection (inside its transaction).
pub(crate) async fn write_events(
    conn: &mut SqliteConnection,
    events: &[WebhookEvent],
    now_ms: i64,
) -> Result<()> {
    for e in events {
        let id = event_id();
        sqlx::query(
            "INSERT INTO webhook_events (id, type, payload, created_at) VALUES (?, ?, ?, ?)",
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
             SELECT id, ?1, 'pending', 0, ?2, ?2 FROM webhook_subscriptions
             WHERE enabled = 1 AND instr(' ' || events || ' ', ' ' || ?3 || ' ') > 0",
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

fn uuid(row: &SqliteRow, col: &str) -> Result<Uuid> {
    let s: String = row.try_get(col).db()?;
    Uuid::parse_str(&s).map_err(|e| StoreError::Corrupt(format!("{col} {s:?}: {e}")))
}

fn subscription(r: &SqliteRow) -> Result<Subscription> {
    Ok(Subscription {
        id: uuid(r, "id")?,
        spec: SubscriptionSpec {
            url: r.try_get("url").db()?,
            events: events_parse(&r.try_get::<String, _>("events").db()?),
            enabled: r.try_get::<i64, _>("enabled").db()? != 0,
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
impl WebhookStore for SqliteStore {
    async fn create_subscription(
        &self,
        spec: &SubscriptionSpec,
        secret: &str,
        now_ms: i64,
    ) -> Result<Subscription> {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO webhook_subscriptions (id, url, events, secret, enabled, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(&spec.url)
        .bind(events_text(&spec.events))
        .bind(secret)
        .bind(i64::from(spec.enabled))
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
        sqlx::query(sqlx::AssertSqlSafe(format!("{SUBSCRIPTION} WHERE id = ?")))
            .bind(id.to_string())
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
            "UPDATE webhook_subscriptions SET url = ?1, events = ?2, enabled = ?3,
                 disabled_reason = CASE WHEN ?3 = 1 THEN NULL ELSE disabled_reason END,
                 failing_since = CASE WHEN ?3 = 1 AND enabled = 0 THEN NULL ELSE failing_since END
             WHERE id = ?4",
        )
        .bind(&spec.url)
        .bind(events_text(&spec.events))
        .bind(i64::from(spec.enabled))
        .bind(id.to_string())
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
             SET previous_secret = secret, previous_until = ?, secret = ? WHERE id = ?",
        )
        .bind(previous_until_ms)
        .bind(secret)
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.subscription(id).await
    }

    async fn delete_subscription(&self, id: Uuid) -> Result<bool> {
        let done = sqlx::query("DELETE FROM webhook_subscriptions WHERE id = ?")
            .bind(id.to_string())
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.db()?;
        let claimed = sqlx::query(
            "UPDATE webhook_deliveries SET lease_until = ?2
             WHERE (subscription_id, event_id) IN (
                 SELECT d.subscription_id, d.event_id
                 FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id
                 WHERE d.status = 'pending' AND d.next_attempt_at <= ?1
                   AND (d.attempts > 0 OR d.next_attempt_at <= ?4)
                   AND (d.lease_until IS NULL OR d.lease_until <= ?1) AND s.enabled = 1
                 ORDER BY d.next_attempt_at LIMIT ?3)
             RETURNING subscription_id, event_id, attempts",
        )
        .bind(now_ms)
        .bind(now_ms + lease_ms)
        .bind(i64::from(limit))
        .bind(first_before_ms)
        .fetch_all(&mut *tx)
        .await
        .db()?;
        let mut out = Vec::with_capacity(claimed.len());
        for c in &claimed {
            let (sub, event): (String, String) = (
                c.try_get("subscription_id").db()?,
                c.try_get("event_id").db()?,
            );
            let r = sqlx::query(
                "SELECT e.type, e.payload, s.url, s.secret, s.previous_secret, s.previous_until
                 FROM webhook_events e, webhook_subscriptions s WHERE e.id = ? AND s.id = ?",
            )
            .bind(&event)
            .bind(&sub)
            .fetch_one(&mut *tx)
            .await
            .db()?;
            let mut secrets = vec![r.try_get::<String, _>("secret").db()?];
            if let (Some(p), Some(until)) = (
                r.try_get::<Option<String>, _>("previous_secret").db()?,
                r.try_get::<Option<i64>, _>("previous_until").db()?,
            ) && now_ms < until
            {
                secrets.push(p);
            }
            out.push(Due {
                subscription: Uuid::parse_str(&sub)
                    .map_err(|e| StoreError::Corrupt(format!("subscription {sub}: {e}")))?,
                event_id: event,
                kind: r.try_get("type").db()?,
                payload: r.try_get("payload").db()?,
                attempts: c.try_get::<i64, _>("attempts").db()? as u32,
                url: r.try_get("url").db()?,
                secrets,
                lease: now_ms + lease_ms,
            });
        }
        tx.commit().await.db()?;
        Ok(out)
    }

    async fn finish_attempt(&self, a: &Attempt, disable_after_ms: i64) -> Result<bool> {
        let sub = a.subscription.to_string();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.db()?;
        let (status, next_at) = match a.next {
            Next::Delivered => ("delivered", a.at_ms),
            Next::Retry(at) => ("pending", at),
            Next::Dead => ("dead", a.at_ms),
        };
        let held = sqlx::query(
            "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?,
                 lease_until = NULL, last_status = ?, last_error = ?, updated_at = ?
             WHERE subscription_id = ? AND event_id = ? AND lease_until = ? AND status = 'pending'",
        )
        .bind(status)
        .bind(i64::from(a.attempt))
        .bind(next_at)
        .bind(a.status.map(i64::from))
        .bind(&a.error)
        .bind(a.at_ms)
        .bind(&sub)
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
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&sub)
        .bind(&a.event_id)
        .bind(i64::from(a.attempt))
        .bind(a.at_ms)
        .bind(a.status.map(i64::from))
        .bind(a.latency_ms)
        .bind(&a.error)
        .execute(&mut *tx)
        .await
        .db()?;
        if a.next == Next::Delivered {
            sqlx::query("UPDATE webhook_subscriptions SET failing_since = NULL WHERE id = ?")
                .bind(&sub)
                .execute(&mut *tx)
                .await
                .db()?;
        } else {
            sqlx::query(
                "UPDATE webhook_subscriptions SET failing_since = coalesce(failing_since, ?)
                 WHERE id = ?",
            )
            .bind(a.at_ms)
            .bind(&sub)
            .execute(&mut *tx)
            .await
            .db()?;
            sqlx::query(
                "UPDATE webhook_subscriptions SET enabled = 0,
                     disabled_reason = 'every delivery failed for ' || ((? - failing_since) / 1000) || ' s'
                 WHERE id = ? AND enabled = 1 AND failing_since <= ?",
            )
            .bind(a.at_ms)
            .bind(&sub)
            .bind(a.at_ms - disable_after_ms)
            .execute(&mut *tx)
            .await
            .db()?;
        }
        tx.commit().await.db()?;
        Ok(true)
    }

    async fn deliveries(&self, subscription: Uuid, limit: u32) -> Result<Vec<DeliveryView>> {
        let sub = subscription.to_string();
        let rows = sqlx::query(
            "SELECT d.event_id, e.type, e.created_at, d.status, d.next_attempt_at
             FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
             WHERE d.subscription_id = ? ORDER BY d.event_id DESC LIMIT ?",
        )
        .bind(&sub)
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
                 WHERE subscription_id = ? AND event_id = ? ORDER BY attempt",
            )
            .bind(&sub)
            .bind(&event_id)
            .fetch_all(&self.pool)
            .await
            .db()?
            .iter()
            .map(|a| {
                Ok(AttemptView {
                    attempt: a.try_get::<i64, _>("attempt").db()? as u32,
                    at_ms: a.try_get("at").db()?,
                    status: a
                        .try_get::<Option<i64>, _>("status")
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
            sqlx::query("SELECT 1 FROM webhook_inbox WHERE webhook_id = ? AND expires_at > ?")
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.db()?;
        let new = sqlx::query(
            "INSERT INTO webhook_inbox (webhook_id, received_at, expires_at) VALUES (?, ?, ?)
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
            "UPDATE webhook_events SET relay_until = ?2
             WHERE id IN (SELECT id FROM webhook_events
                          WHERE published_at IS NULL AND (relay_until IS NULL OR relay_until <= ?1)
                          ORDER BY id LIMIT ?3)
             RETURNING id, type, payload",
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
        let list = serde_json::to_string(ids).map_err(|e| StoreError::Other(e.to_string()))?;
        sqlx::query(
            "UPDATE webhook_events SET published_at = ?
             WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(now_ms)
        .bind(list)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(())
    }

    async fn prune_webhooks(&self, now_ms: i64, keep_ms: i64, queued: bool) -> Result<u64> {
        let inbox = sqlx::query("DELETE FROM webhook_inbox WHERE expires_at <= ?")
            .bind(now_ms)
            .execute(&self.pool)
            .await
            .db()?
            .rows_affected();
        let events = sqlx::query(
            "DELETE FROM webhook_events
             WHERE created_at < ?1 AND (?2 = 0 OR published_at IS NOT NULL)
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                               WHERE d.event_id = webhook_events.id AND d.status = 'pending')",
        )
        .bind(now_ms - keep_ms)
        .bind(i64::from(queued))
        .execute(&self.pool)
        .await
        .db()?
        .rows_affected();
        Ok(inbox + events)
    }
}
