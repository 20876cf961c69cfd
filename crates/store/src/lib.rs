//! Storage behind traits: `ProfileStore` (profiles and links) and `KeyStore` (API keys).
//!
//! The backend is chosen at run time from the database URL's scheme (`sqlite:` today), so the
//! rest of the service holds an `Arc<dyn ProfileStore>` and never a concrete type. Migrations are
//! embedded in the binary. Must not: cache, render, or know about HTTP; every rule about what a
//! valid profile is lives in `linkleaf-domain`.

mod sqlite;

use async_trait::async_trait;
use linkleaf_domain::{Profile, Scopes, Username, ValidationErrors};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

pub use sqlite::SqliteStore;
/// The driver error type, for callers that build `StoreError`s themselves (test doubles).
pub use sqlx::Error as SqlxError;

/// What can go wrong in storage, sorted by what a caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// Another profile already holds this username (compared without case).
    #[error("username is taken")]
    UsernameTaken,
    /// The database cannot be reached or is overloaded: worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => Self::UsernameTaken,
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Unavailable(e),
            // SQLITE_BUSY / SQLITE_LOCKED after busy_timeout: the database is overloaded.
            sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("5" | "6")) => {
                Self::Unavailable(e)
            }
            _ => Self::Other(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Names a profile: by id, or by lowercase username key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileRef<'a> {
    Id(Uuid),
    Key(Cow<'a, str>),
}

impl<'a> ProfileRef<'a> {
    /// What a path segment names: a profile id (a UUID) or a username (its lowercase key,
    /// borrowed when already lowercase); `None` when it can name no profile.
    pub fn parse(raw: &'a str) -> Option<Self> {
        match Uuid::try_parse(raw) {
            Ok(id) => Some(Self::Id(id)),
            Err(_) => Username::lookup_key(raw).map(Self::Key),
        }
    }
}

/// A change to a profile, computed from its current state (pure: it may run while a write
/// lock is held).
pub type Change<'a> =
    &'a (dyn Fn(&Profile) -> std::result::Result<Profile, ValidationErrors> + Send + Sync);

/// A profile before and after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modified {
    pub before: Profile,
    pub after: Profile,
}

#[derive(Debug, thiserror::Error)]
pub enum ModifyError {
    /// The change refused the current profile.
    #[error(transparent)]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ModifyError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// One line of `GET /api/profiles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSummary {
    pub id: Uuid,
    pub username: Username,
    pub display_name: String,
    pub link_count: u32,
    pub last_modified: OffsetDateTime,
}

#[async_trait]
pub trait ProfileStore: Send + Sync + 'static {
    /// Brings the schema up to date (idempotent).
    async fn migrate(&self) -> Result<()>;
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> Result<()>;
    /// A profile with all its links in position order, by lowercase username key.
    async fn profile_by_username(&self, key: &str) -> Result<Option<Profile>>;
    async fn profile_by_id(&self, id: Uuid) -> Result<Option<Profile>>;
    /// Profiles ordered by username key, after the given key, at most `limit`.
    async fn list_profiles(&self, after: Option<&str>, limit: u32) -> Result<Vec<ProfileSummary>>;
    /// Inserts a new profile and its links. `UsernameTaken` when the name is in use.
    async fn create_profile(&self, p: &Profile) -> Result<Profile>;
    /// Reads a profile, applies `change` and writes the result, in one write transaction, so
    /// concurrent changes to one profile apply one after the other and none is lost. Writes the
    /// fields and links (adding, updating and removing links to match), bumps the version and
    /// `lastModified`; link click counters are left as they are. Nothing is written when
    /// `change` returns the profile unchanged. `Ok(None)` when there is no such profile.
    async fn modify_profile(
        &self,
        which: ProfileRef<'_>,
        change: Change<'_>,
    ) -> Result<Option<Modified>, ModifyError>;
    /// Deletes a profile and its links, in one statement; returns the id and username it had,
    /// if it existed.
    async fn delete_profile(&self, which: ProfileRef<'_>) -> Result<Option<(Uuid, Username)>>;
}

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

/// Pool settings shared by every backend.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a locked database before giving up.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(3),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Both stores, backed by one database.
#[derive(Clone)]
pub struct Stores {
    pub profiles: Arc<dyn ProfileStore>,
    pub keys: Arc<dyn KeyStore>,
}

/// Opens the database named by `url` (`sqlite://path` or `sqlite::memory:`).
pub async fn open(url: &str, opts: &StoreOptions) -> Result<Stores, OpenError> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" => {
            let s = Arc::new(
                SqliteStore::open(url, opts)
                    .await
                    .map_err(OpenError::Connect)?,
            );
            Ok(Stores {
                profiles: s.clone(),
                keys: s,
            })
        }
        other => Err(OpenError::Scheme(other.to_owned())),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("unsupported database URL scheme '{0}': use sqlite://PATH")]
    Scheme(String),
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
}

pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn from_millis(ms: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {ms}: {e}")))
}
