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

pub mod analytics;
mod db;
pub mod health;
mod postgres;
mod seam;
mod sql;
mod sqlite;
pub mod testing;
pub mod webhooks;

pub use analytics::AnalyticsStore;
pub use health::DbHealth;
pub use sql::SqlStore;
pub use webhooks::WebhookStore;

use async_trait::async_trait;
use linkleaf_domain::{Profile, Scopes, Username, ValidationErrors};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// What can go wrong in storage, sorted by what a caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// Another profile already holds this username (compared without case).
    #[error("username is taken")]
    UsernameTaken,
    /// Another profile holds a name that looks like this one (the existing name).
    #[error("username looks like '{0}', which is taken")]
    UsernameConfusable(String),
    /// The database cannot be reached or is overloaded: worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// There are as many as allowed already (subscriptions: `webhooks.max_subscriptions`).
    #[error("the limit of {0} is reached")]
    LimitReached(u32),
    /// The database refused this data (a value it cannot hold, a constraint): the same
    /// write will fail again, while others may succeed.
    #[error("the database refused the data: {0}")]
    Refused(String),
    /// Any other failure of the database (the cause, for the log).
    #[error("database error: {0}")]
    Other(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
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
    /// A profile with all its links in position order, by lowercase username key. `from` lets
    /// the public read path use a replica, unless the profile changed too recently for one.
    async fn profile_by_username(&self, key: &str, from: ReadFrom) -> Result<Option<Profile>>;
    async fn profile_by_id(&self, id: Uuid) -> Result<Option<Profile>>;
    /// Profiles ordered by username key, after the given key, at most `limit` (from a replica
    /// when there is one).
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
    /// Where a link points: its profile, its URL and whether it is enabled (for `/r/{link}`).
    async fn link_target(&self, link: Uuid) -> Result<Option<LinkTarget>>;
    /// Deletes a profile and its links, in one statement; returns the id and username it had,
    /// if it existed.
    async fn delete_profile(&self, which: ProfileRef<'_>) -> Result<Option<(Uuid, Username)>>;
}

/// A link as a redirect needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    pub profile: Uuid,
    pub url: String,
    pub enabled: bool,
}

/// Where a read may be answered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// A replica if there is one (it may lag the primary by a moment).
    Replica,
    /// The primary, which has every committed write.
    Primary,
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
    /// PostgreSQL: how long one statement may run before the server cancels it.
    pub statement_timeout: Duration,
    /// PostgreSQL: a replica for public reads and listings (writes and read-apply-write always
    /// go to the primary).
    pub read_url: Option<String>,
    /// Tests: SQLite's `max_page_count` from a number the test controls (0: no limit), to fill
    /// the database and give it room again.
    #[doc(hidden)]
    pub sqlite_page_limit: Option<Arc<std::sync::atomic::AtomicU64>>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(3),
            busy_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            read_url: None,
            sqlite_page_limit: None,
        }
    }
}

/// The stores, backed by one database.
#[derive(Clone)]
pub struct Stores {
    pub profiles: Arc<dyn ProfileStore>,
    pub keys: Arc<dyn KeyStore>,
    pub analytics: Arc<dyn AnalyticsStore>,
    pub webhooks: Arc<dyn WebhookStore>,
    /// Whether the database takes writes (`/readyz`).
    pub health: Arc<dyn DatabaseHealth>,
}

/// Whether the database answers and takes writes (see `health`).
#[async_trait]
pub trait DatabaseHealth: Send + Sync + 'static {
    /// Pings the database, commits the heartbeat when it is due, and tells the state.
    async fn health(&self) -> DbHealth;
}

/// Opens the database named by `url`: `sqlite://PATH`, `sqlite::memory:`, or
/// `postgres://user@host/db` (`postgresql://` too).
pub async fn open(url: &str, opts: &StoreOptions) -> Result<Stores, OpenError> {
    let s = Arc::new(SqlStore::open(url, opts).await?);
    Ok(Stores {
        profiles: s.clone(),
        keys: s.clone(),
        analytics: s.clone(),
        webhooks: s.clone(),
        health: s,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("unsupported database URL scheme '{0}': use sqlite://PATH or postgres://...")]
    Scheme(String),
    #[error("cannot open the database: {0}")]
    Connect(String),
}

/// What a database's own error code says, as each backend reads its codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// Busy with other work (a lock held, a serialization conflict, no free connection):
    /// worth retrying, and not a failure of the database.
    Busy,
    /// Cannot be reached, out of space, read-only, shutting down: worth retrying later.
    Unavailable,
    /// The data was refused (see `StoreError::Refused`).
    Refused,
    Other,
}
