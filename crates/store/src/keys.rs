//! API keys as stored: their records (a digest, never the token) and `KeyStore`. Must not:
//! check a token (the HTTP crate's authentication does).

use crate::error::Result;
use async_trait::async_trait;
use linkleaf_domain::Scopes;
use time::OffsetDateTime;
use uuid::Uuid;

/// An API key as stored: never the token, only its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub digest: Vec<u8>,
    pub scopes: Scopes,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    /// The one profile a key an account made is bound to; `None`: an operator's key (made on
    /// the command line), instance-wide.
    pub profile: Option<Uuid>,
    /// The account that made it (it stops when that account loses its role on `profile`).
    pub account: Option<Uuid>,
}

#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    async fn insert_key(&self, k: &ApiKeyRecord) -> Result<()>;
    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>>;
    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>>;
    /// Revokes by id or by prefix; `false` when no live key matched.
    async fn revoke_key(&self, id_or_prefix: &str, at: OffsetDateTime) -> Result<bool>;
    /// The keys `account` made, newest first (revoked ones too).
    async fn keys_of(&self, account: Uuid) -> Result<Vec<ApiKeyRecord>>;
    /// Revokes key `id` if `account` made it and it is live; `false` otherwise.
    async fn revoke_key_of(&self, account: Uuid, id: Uuid, at: OffsetDateTime) -> Result<bool>;
}
