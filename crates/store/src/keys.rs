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
}

#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    async fn insert_key(&self, k: &ApiKeyRecord) -> Result<()>;
    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>>;
    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>>;
    /// Revokes by id or by prefix; `false` when no live key matched.
    async fn revoke_key(&self, id_or_prefix: &str, at: OffsetDateTime) -> Result<bool>;
}
