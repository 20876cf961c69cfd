//! Storage behind traits: `ProfileStore` (profiles and links, and the webhook outbox their
//! changes write), `KeyStore` (API keys), `AnalyticsStore` (rollups) and `WebhookStore`
//! (subscriptions, deliveries, incoming ids).
//!
//! The backend is chosen at run time from the database URL's scheme (`sqlite://` for the
//! embedded default, `postgres://` for production, optionally with a read replica), so the rest
//! of the service holds an `Arc<dyn ProfileStore>` and never a concrete type. Each backend maps
//! its driver's errors into the neutral `StoreError` itself: no driver type crosses this crate's
//! public API. Migrations are embedded in the binary. Must not: cache, render, or know about
//! HTTP; every rule about what a valid profile is lives in `linkleaf-domain`.

pub mod accounts;
pub mod analytics;
mod db;
pub mod error;
pub mod health;
pub mod keys;
pub mod options;
mod postgres;
pub mod profiles;
mod seam;
mod sql;
mod sqlite;
pub mod testing;
pub mod webhooks;

pub use accounts::AccountStore;
pub use analytics::AnalyticsStore;
pub use error::{OpenError, Result, StoreError};
pub use health::{DatabaseHealth, DbHealth};
pub use keys::{ApiKeyRecord, KeyStore};
pub use options::StoreOptions;
pub use profiles::{
    Boundaries, Change, LinkTarget, Modified, ModifyError, ProfileRef, ProfileStore,
    ProfileSummary, ReadFrom, Version,
};
pub use sql::SqlStore;
pub use webhooks::WebhookStore;

use std::sync::Arc;

/// The stores, backed by one database.
#[derive(Clone)]
pub struct Stores {
    pub profiles: Arc<dyn ProfileStore>,
    pub keys: Arc<dyn KeyStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub analytics: Arc<dyn AnalyticsStore>,
    pub webhooks: Arc<dyn WebhookStore>,
    /// Whether the database takes writes (`/readyz`).
    pub health: Arc<dyn DatabaseHealth>,
}

/// Opens the database named by `url`: `sqlite://PATH`, `sqlite::memory:`, or
/// `postgres://user@host/db` (`postgresql://` too).
pub async fn open(url: &str, opts: &StoreOptions) -> Result<Stores, OpenError> {
    let s = Arc::new(SqlStore::open(url, opts).await?);
    Ok(Stores {
        profiles: s.clone(),
        keys: s.clone(),
        accounts: s.clone(),
        analytics: s.clone(),
        webhooks: s.clone(),
        health: s,
    })
}
