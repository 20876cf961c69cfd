//! Accounts as stored (`AccountStore`): people, their server-side sessions (a digest of the
//! secret, never the secret), their roles on profiles, and one-time links. Must not: hash or
//! check a credential (`linkleaf-access` does), nor decide who may do what.

use crate::error::Result;
use async_trait::async_trait;
use linkleaf_domain::account::Role;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub id: Uuid,
    /// Lowercase (`linkleaf_domain::account::Email`).
    pub email: String,
    pub display_name: String,
    /// Argon2id PHC string; `None`: no password set (yet).
    pub password_hash: Option<String>,
    /// May manage accounts and every profile (`--admin`).
    pub admin: bool,
    pub created_at: OffsetDateTime,
    pub disabled_at: Option<OffsetDateTime>,
    /// An IANA time zone name (`UTC` unless its person chose one): the days they see.
    pub time_zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The public id (not the secret).
    pub id: String,
    pub account_id: Uuid,
    /// SHA-256 of the secret.
    pub digest: Vec<u8>,
    /// The browser it was made in, as its user agent said (shown in the list of sessions).
    pub user_agent: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
}

/// What a one-time link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// Set (first sign-in) or reset the account's password.
    Password,
    /// Join a profile (and sign up if needed).
    Invite,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Invite => "invite",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRecord {
    /// SHA-256 of the link's token.
    pub digest: Vec<u8>,
    pub kind: LinkKind,
    pub account_id: Option<Uuid>,
    pub profile_id: Option<Uuid>,
    pub role: Option<Role>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A passkey as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// The credential id, base64url.
    pub id: String,
    pub account_id: Uuid,
    /// A name the person gave it ("Phone", "Laptop").
    pub name: String,
    /// The public key and its signature counter, serialised by `linkleaf-access`.
    pub credential: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// A WebAuthn ceremony under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CeremonyRecord {
    pub id: String,
    pub account_id: Option<Uuid>,
    /// `register` or `authenticate`.
    pub kind: String,
    /// `None`: a decoy, which cannot succeed.
    pub state: Option<String>,
    pub expires_at: OffsetDateTime,
}

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// `false` when the email is taken.
    async fn insert_account(&self, a: &AccountRecord) -> Result<bool>;
    async fn account_by_email(&self, email: &str) -> Result<Option<AccountRecord>>;
    async fn account_by_id(&self, id: Uuid) -> Result<Option<AccountRecord>>;
    /// Accounts by email, after `after`, at most `limit`.
    async fn list_accounts(&self, after: Option<&str>, limit: u32) -> Result<Vec<AccountRecord>>;
    /// Disables an account at `at` (its sessions stop at their next use); `false` when there
    /// is no such account or it is disabled already.
    async fn disable_account(&self, id: Uuid, at: OffsetDateTime) -> Result<bool>;
    /// Sets the account's time zone (a name checked by `linkleaf_domain::zone`); `false` when
    /// there is no such account.
    async fn set_time_zone(&self, account: Uuid, name: &str) -> Result<bool>;
    /// Sets the password; ends every session of the account but `keep` (a password change
    /// ends the others).
    async fn set_password(
        &self,
        account: Uuid,
        hash: &str,
        keep: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<()>;

    async fn insert_session(&self, s: &SessionRecord) -> Result<()>;
    /// A session that has not ended, with its account.
    async fn live_session(&self, id: &str) -> Result<Option<(SessionRecord, AccountRecord)>>;
    /// Marks a session seen at `at` (its idle timeout counts from the last one).
    async fn touch_session(&self, id: &str, at: OffsetDateTime) -> Result<()>;
    /// Ends a session (of `account` only, when given); `false` when no live one matched.
    async fn end_session(
        &self,
        id: &str,
        account: Option<Uuid>,
        at: OffsetDateTime,
    ) -> Result<bool>;
    /// The sessions of an account that have not ended, newest first.
    async fn sessions_of(&self, account: Uuid) -> Result<Vec<SessionRecord>>;

    async fn insert_link(&self, l: &LinkRecord) -> Result<()>;
    /// Gives a link taken a moment ago back (what it was for could not be done).
    async fn release_link(&self, digest: &[u8]) -> Result<()>;
    /// Marks every unused link of `kind` for `account` used at `at`.
    async fn retire_links(&self, account: Uuid, kind: LinkKind, at: OffsetDateTime) -> Result<()>;
    /// A one-time link that is still usable at `at` (unused, unexpired), without using it: what
    /// its page shows before the form is sent.
    async fn peek_link(&self, digest: &[u8], at: OffsetDateTime) -> Result<Option<LinkRecord>>;
    /// Uses a one-time link: the link if it exists, is of `kind`, has not expired by `at` and
    /// was not used before, now marked used (once, whatever runs at the same time).
    async fn take_link(
        &self,
        digest: &[u8],
        kind: LinkKind,
        at: OffsetDateTime,
    ) -> Result<Option<LinkRecord>>;

    /// Makes `account` a member of `profile` with `role` (or changes its role);
    /// `StoreError::LastOwner` when that would leave the profile without an owner.
    async fn set_member(
        &self,
        profile: Uuid,
        account: Uuid,
        role: Role,
        at: OffsetDateTime,
    ) -> Result<()>;
    async fn role_of(&self, profile: Uuid, account: Uuid) -> Result<Option<Role>>;
    /// The profiles `account` is a member of, with its role on each.
    async fn memberships(&self, account: Uuid) -> Result<Vec<(Uuid, Role)>>;
    /// The members of `profile`, with their roles, by email.
    async fn members(&self, profile: Uuid) -> Result<Vec<(AccountRecord, Role)>>;
    /// Ends `account`'s membership of `profile`; `false` when it was none;
    /// `StoreError::LastOwner` when it is the profile's last owner.
    async fn remove_member(&self, profile: Uuid, account: Uuid) -> Result<bool>;
    /// The profiles `account` is the only owner of (deleting the account deletes them).
    async fn sole_owned(&self, account: Uuid) -> Result<Vec<Uuid>>;
    /// Deletes the account, its sessions, memberships, keys and links; `false` when there was
    /// none. The profiles it alone owned are the caller's to delete first.
    async fn delete_account(&self, id: Uuid) -> Result<bool>;

    /// `false` when a passkey with this credential id exists already.
    async fn insert_passkey(&self, p: &PasskeyRecord) -> Result<bool>;
    /// The account's passkeys, oldest first.
    async fn passkeys_of(&self, account: Uuid) -> Result<Vec<PasskeyRecord>>;
    /// Stores a passkey's new credential (its counter moved) and when it was used.
    async fn passkey_used(&self, id: &str, credential: &str, at: OffsetDateTime) -> Result<()>;
    /// Deletes one of `account`'s passkeys; `false` when it has no such passkey.
    async fn delete_passkey(&self, account: Uuid, id: &str) -> Result<bool>;
    async fn insert_ceremony(&self, c: &CeremonyRecord) -> Result<()>;
    /// Takes a ceremony of `kind` that has not expired by `at`: once (it is deleted).
    async fn take_ceremony(
        &self,
        id: &str,
        kind: &str,
        at: OffsetDateTime,
    ) -> Result<Option<CeremonyRecord>>;
}
