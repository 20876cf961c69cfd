//! Profiles and their links as the service stores them: `ProfileStore`, how a profile is named
//! (`ProfileRef`), a change as a pure function (`Change`), and what a redirect needs of a link
//! (`LinkTarget`). Must not: hold a rule about what a valid profile is (`linkleaf-domain`
//! does).

use crate::error::{Result, StoreError};
use async_trait::async_trait;
use linkleaf_domain::account::Actor;
use linkleaf_domain::{Profile, Username, ValidationErrors};
use std::borrow::Cow;
use time::OffsetDateTime;
use uuid::Uuid;

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
    /// The profile is no longer at the version the caller read (`If-Match`): someone else
    /// changed it meanwhile. Nothing was written.
    #[error("the profile is at version {current}")]
    Stale { current: i64 },
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
    /// The profiles `member` is a member of, ordered and paged as `list_profiles`.
    async fn list_profiles_of(
        &self,
        member: Uuid,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ProfileSummary>>;
    /// Inserts a new profile and its links. `UsernameTaken` when the name is in use.
    async fn create_profile(&self, p: &Profile) -> Result<Profile>;
    /// Inserts a new profile, made by `actor`, with its first version; with `owner` as its
    /// owner, in the same transaction, and `LimitReached` when the owner owns as many as the
    /// limit given with it already.
    async fn create_profile_with(
        &self,
        p: &Profile,
        owner: Option<(Uuid, Option<u32>)>,
        actor: Option<&Actor>,
    ) -> Result<Profile>;
    /// Reads a profile, applies `change` and writes the result, in one write transaction, so
    /// concurrent changes to one profile apply one after the other and none is lost. Writes the
    /// fields and links (adding, updating and removing links to match), bumps the version and
    /// `lastModified`; link click counters are left as they are. Nothing is written when
    /// `change` returns the profile unchanged. `Ok(None)` when there is no such profile.
    async fn modify_profile(
        &self,
        which: ProfileRef<'_>,
        change: Change<'_>,
    ) -> Result<Option<Modified>, ModifyError> {
        self.modify_profile_as(which, change, None, None).await
    }
    /// `modify_profile`, made by `actor`: the version it writes and its events say so. With
    /// `if_version`, only when the profile is still at that version (`ModifyError::Stale`
    /// otherwise, checked under the write lock).
    async fn modify_profile_as(
        &self,
        which: ProfileRef<'_>,
        change: Change<'_>,
        actor: Option<&Actor>,
        if_version: Option<i64>,
    ) -> Result<Option<Modified>, ModifyError>;
    /// The newest versions of a profile first, at most `limit` (`history.keep_versions` are
    /// kept).
    async fn history(&self, profile: Uuid, limit: u32) -> Result<Vec<Version>>;
    /// One version of a profile, while it is kept.
    async fn version(&self, profile: Uuid, version: i64) -> Result<Option<Version>>;
    /// Where a link points: its profile, its URL and whether it is enabled (for `/r/{link}`).
    async fn link_target(&self, link: Uuid) -> Result<Option<LinkTarget>>;
    /// Announces the boundaries of enabled scheduled links after `after` (a boundary in ms
    /// since the epoch and a profile id: the last one announced) up to `until_ms`, the earliest
    /// first and at most `limit`: one `links.updated` event per profile and boundary, in one
    /// transaction. An event's id is made of its profile and boundary, so instances announcing
    /// the same boundary write it once.
    async fn pass_boundaries(
        &self,
        after: (i64, Uuid),
        until_ms: i64,
        limit: u32,
    ) -> Result<Boundaries>;
    /// Deletes a profile and its links, in one statement; returns the id and username it had,
    /// if it existed.
    async fn delete_profile(&self, which: ProfileRef<'_>) -> Result<Option<(Uuid, Username)>> {
        self.delete_profile_as(which, None).await
    }
    /// `delete_profile`, by `actor` (its `profile.deleted` event says so).
    async fn delete_profile_as(
        &self,
        which: ProfileRef<'_>,
        actor: Option<&Actor>,
    ) -> Result<Option<(Uuid, Username)>>;
}

/// A link as a redirect needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    pub profile: Uuid,
    pub url: String,
    pub enabled: bool,
    pub visible_from: Option<OffsetDateTime>,
    pub visible_until: Option<OffsetDateTime>,
}

/// What `pass_boundaries` did: the boundaries it announced (in time order, at most the limit
/// it was given) and whether more are due.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Boundaries {
    /// (profile, its username, the boundary in ms since the epoch).
    pub passed: Vec<(Uuid, Username, i64)>,
    /// The first boundary after the window, if any.
    pub next_ms: Option<i64>,
}

/// Where a read may be answered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// A replica if there is one (it may lag the primary by a moment).
    Replica,
    /// The primary, which has every committed write.
    Primary,
}

/// One version of a profile: what it became, who made it, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub version: i64,
    pub at: OffsetDateTime,
    pub actor: Option<Actor>,
    /// The profile as it became, as the admin API shows it.
    pub profile: serde_json::Value,
}
