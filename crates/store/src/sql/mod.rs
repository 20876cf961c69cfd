//! The store, written once: `SqlStore` implements every store trait over either database
//! (`crate::db` is the seam). Each file holds one trait's statements. Must not: name a
//! backend's driver type (that is the seam's and the backends' business).

mod accounts;
pub(crate) mod analytics;
mod profiles;
pub(crate) mod webhooks;

use crate::db::Db;
use crate::error::{OpenError, Result, StoreError};
use crate::health::DatabaseHealth;
use crate::health::{DbHealth, HEARTBEAT_DEADLINE, HEARTBEAT_EVERY};
use crate::options::StoreOptions;
use crate::seam::q;
use async_trait::async_trait;
use std::time::Instant;
use uuid::Uuid;

/// Every store, over one database.
pub struct SqlStore {
    pub(crate) db: Db,
    /// This process, as the heartbeat names it.
    instance: Uuid,
    /// Versions kept per profile.
    pub(crate) keep_versions: u32,
}

impl SqlStore {
    /// Opens `sqlite://PATH`, `sqlite::memory:` or `postgres://...` (`postgresql://` too).
    pub async fn open(url: &str, opts: &StoreOptions) -> Result<Self, OpenError> {
        Ok(Self {
            db: Db::open(url, opts).await?,
            instance: Uuid::now_v7(),
            keep_versions: opts.keep_versions.max(1),
        })
    }

    /// Applies the migrations up to `version` only (tests of an upgrade start from an older
    /// schema; the service always migrates to the last).
    #[doc(hidden)]
    pub async fn migrate_to(&self, version: i64) -> Result<()> {
        self.db.migrate(Some(version)).await
    }

    /// Runs SQL as it is (tests: data an older version could have written).
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> Result<()> {
        self.db.execute_raw(sql).await
    }

    /// Every server answers a trivial query (the primary, and the replica if there is one).
    pub(crate) async fn ping_all(&self) -> Result<()> {
        q("SELECT 1 AS one").fetch_all(&self.db).await?;
        if self.db.has_replica() {
            q("SELECT 1 AS one")
                .fetch_all(crate::db::On::Replica(&self.db))
                .await
                .map_err(|e| StoreError::Unavailable(format!("replica: {e}")))?;
        }
        Ok(())
    }

    /// Commits the heartbeat row, at most every `HEARTBEAT_EVERY` (in between, the last
    /// outcome): when it last committed, or why it failed.
    async fn heartbeat(&self) -> std::result::Result<i64, String> {
        let mut last = self.db.health.heartbeat.lock().await;
        // a failure is tried again early once a real write has committed since: the cause may
        // be gone, and readiness should say so
        if let Some((at, outcome)) = &*last
            && at.elapsed() < HEARTBEAT_EVERY
            && (outcome.is_ok() || !self.db.health.wrote_since_heartbeat_failed())
        {
            return outcome.clone();
        }
        let now = linkleaf_domain::unix_millis(linkleaf_domain::now_millis());
        let beat = self
            .db
            .unrecorded_write(
                q("INSERT INTO heartbeat (id, at, instance) VALUES (1, $1, $2)
                   ON CONFLICT (id) DO UPDATE SET at = excluded.at, instance = excluded.instance")
                .bind(now)
                .bind(self.instance.to_string()),
            )
            .await;
        let outcome = match beat {
            Ok(()) => Ok(now),
            // other writers hold the database: nothing learned, the last outcome stands
            Err(e) if e.class == Some(crate::error::ErrorClass::Busy) => {
                return last.as_ref().map_or(Ok(now), |(_, o)| o.clone());
            }
            Err(e) => Err(e.error.to_string()),
        };
        self.db.health.beat(now, &outcome);
        *last = Some((Instant::now(), outcome.clone()));
        outcome
    }
}

#[async_trait]
impl DatabaseHealth for SqlStore {
    async fn health(&self) -> DbHealth {
        let ping = self.ping_all().await.map_err(|e| e.to_string());
        // a database that does not answer, or whose file is gone, is not written to
        if ping.is_ok() && self.db.health.replaced_why().is_none() {
            // its outcome is recorded as any write's; one that waits on other writers past
            // its deadline says nothing (a busy database is not a failing one)
            let _ = tokio::time::timeout(HEARTBEAT_DEADLINE, self.heartbeat()).await;
        }
        self.db.health.state(ping)
    }
}
