//! Accounts made, and one-time links: linkleaf sends no mail, so a first sign-in, a password
//! reset and an invitation to a profile are links that an admin or an owner hands over
//! (`{public_url}/invite/{token}`). A link's token is 256 random bits; the database keeps its
//! digest; it works once (taken in one statement, whatever runs at the same time) and expires
//! (`PASSWORD_LINK_TTL`, `INVITATION_TTL`). Looking at a link's page does not use it, so a
//! chat app's preview cannot spend it. Must not: know routes.

use crate::password;
use crate::session::{digest, new_link_token};
use linkleaf_domain::FieldError;
use linkleaf_domain::account::{Email, Role, check_password};
use linkleaf_store::StoreError;
use linkleaf_store::accounts::{AccountRecord, AccountStore, LinkKind, LinkRecord};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How long a link to set a password (a first sign-in, a reset) works.
pub const PASSWORD_LINK_TTL: Duration = Duration::hours(24);
/// How long an invitation works.
pub const INVITATION_TTL: Duration = Duration::days(7);

/// Where a link's page is.
pub fn url(public_url: &str, token: &str) -> String {
    format!("{}/invite/{token}", public_url.trim_end_matches('/'))
}

/// What went wrong with a link or an account being made.
#[derive(Debug)]
pub enum LinkError {
    /// Used already, expired, or never made: the same answer for each.
    Gone,
    /// A field to fix (`password`, `email`, `displayName`).
    Invalid(FieldError),
    /// An account with this email exists.
    Taken,
    Store(StoreError),
}

impl From<StoreError> for LinkError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// An account to make.
pub struct NewAccount<'a> {
    pub email: &'a str,
    /// The email's local part when absent.
    pub display_name: Option<&'a str>,
    /// `None`: no password yet (a link sets it).
    pub password: Option<&'a str>,
    pub admin: bool,
}

async fn hash(password: &str) -> Result<String, LinkError> {
    let p = password.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&p))
        .await
        .map_err(|e| LinkError::Store(StoreError::Other(e.to_string())))?
        .map_err(|e| LinkError::Store(StoreError::Other(e)))
}

/// An account's record from what was given: the email checked, the display name checked (or
/// the email's local part), the password checked and hashed. Not stored yet.
async fn prepare(new: NewAccount<'_>, now: OffsetDateTime) -> Result<AccountRecord, LinkError> {
    let email = Email::parse(new.email).map_err(LinkError::Invalid)?;
    let display_name = match new.display_name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => linkleaf_domain::text::display_name(n).map_err(|mut e| {
            e.field = "displayName".into();
            LinkError::Invalid(e)
        })?,
        None => email.as_str().split('@').next().unwrap_or("").to_owned(),
    };
    let password_hash = match new.password {
        Some(p) => {
            check_password(p, Some(&email)).map_err(LinkError::Invalid)?;
            Some(hash(p).await?)
        }
        None => None,
    };
    Ok(AccountRecord {
        id: Uuid::now_v7(),
        email: email.as_str().to_owned(),
        display_name,
        password_hash,
        admin: new.admin,
        created_at: now,
        disabled_at: None,
        time_zone: "UTC".into(),
    })
}

/// Makes an account (see `prepare`); `Taken` when the email has one.
pub async fn make_account(
    store: &dyn AccountStore,
    new: NewAccount<'_>,
    now: OffsetDateTime,
) -> Result<AccountRecord, LinkError> {
    let rec = prepare(new, now).await?;
    if store.insert_account(&rec).await? {
        Ok(rec)
    } else {
        Err(LinkError::Taken)
    }
}

/// Signs up with an invitation: the account is made only by the one request that uses the
/// invitation (checked first, used before the account is stored, given back if the email
/// turns out to be taken), and joins the invitation's profile with its role.
pub async fn sign_up_invited(
    store: &dyn AccountStore,
    token: &str,
    new: NewAccount<'_>,
    now: OffsetDateTime,
) -> Result<AccountRecord, LinkError> {
    let rec = prepare(new, now).await?;
    let d = digest(token);
    let link = store
        .take_link(&d, LinkKind::Invite, now)
        .await?
        .ok_or(LinkError::Gone)?;
    let (Some(profile), Some(role)) = (link.profile_id, link.role) else {
        return Err(LinkError::Gone);
    };
    if !store.insert_account(&rec).await? {
        store.release_link(&d).await?;
        return Err(LinkError::Taken);
    }
    store.set_member(profile, rec.id, role, now).await?;
    Ok(rec)
}

async fn issue(
    store: &dyn AccountStore,
    kind: LinkKind,
    account: Option<Uuid>,
    profile: Option<(Uuid, Role)>,
    now: OffsetDateTime,
    ttl: Duration,
) -> Result<(String, OffsetDateTime), StoreError> {
    let (token, d) = new_link_token();
    let expires_at = now + ttl;
    store
        .insert_link(&LinkRecord {
            digest: d,
            kind,
            account_id: account,
            profile_id: profile.map(|(p, _)| p),
            role: profile.map(|(_, r)| r),
            created_at: now,
            expires_at,
        })
        .await?;
    Ok((token, expires_at))
}

/// A link that sets `account`'s password (a first sign-in, or a reset): its token and when it
/// expires.
pub async fn password_link(
    store: &dyn AccountStore,
    account: Uuid,
    now: OffsetDateTime,
) -> Result<(String, OffsetDateTime), StoreError> {
    issue(
        store,
        LinkKind::Password,
        Some(account),
        None,
        now,
        PASSWORD_LINK_TTL,
    )
    .await
}

/// An invitation to join `profile` with `role` (signing up when needed).
pub async fn invitation(
    store: &dyn AccountStore,
    profile: Uuid,
    role: Role,
    now: OffsetDateTime,
) -> Result<(String, OffsetDateTime), StoreError> {
    issue(
        store,
        LinkKind::Invite,
        None,
        Some((profile, role)),
        now,
        INVITATION_TTL,
    )
    .await
}

/// The link a token names while it still works, without using it.
pub async fn peek(
    store: &dyn AccountStore,
    token: &str,
    now: OffsetDateTime,
) -> Result<Option<LinkRecord>, StoreError> {
    store.peek_link(&digest(token), now).await
}

/// Sets the password of the account a password link names, and uses the link: the password
/// is checked first (a refused one leaves the link working); every session of the account ends.
pub async fn set_password(
    store: &dyn AccountStore,
    token: &str,
    new_password: &str,
    now: OffsetDateTime,
) -> Result<AccountRecord, LinkError> {
    let link = store
        .peek_link(&digest(token), now)
        .await?
        .filter(|l| l.kind == LinkKind::Password)
        .ok_or(LinkError::Gone)?;
    let account = match link.account_id {
        Some(id) => store.account_by_id(id).await?,
        None => None,
    }
    .filter(|a| a.disabled_at.is_none())
    .ok_or(LinkError::Gone)?;
    let email = Email::parse(&account.email).ok();
    check_password(new_password, email.as_ref()).map_err(LinkError::Invalid)?;
    let hash = hash(new_password).await?;
    store
        .take_link(&digest(token), LinkKind::Password, now)
        .await?
        .ok_or(LinkError::Gone)?;
    store.set_password(account.id, &hash, None, now).await?;
    // the account's other password links (an older reset) stop with this one
    store
        .retire_links(account.id, LinkKind::Password, now)
        .await?;
    Ok(AccountRecord {
        password_hash: Some(hash),
        ..account
    })
}

/// Uses an invitation for `account`: it becomes a member of the invitation's profile with the
/// invitation's role (a member already keeps a higher role). The profile and the role it has.
pub async fn accept(
    store: &dyn AccountStore,
    token: &str,
    account: Uuid,
    now: OffsetDateTime,
) -> Result<(Uuid, Role), LinkError> {
    let link = store
        .take_link(&digest(token), LinkKind::Invite, now)
        .await?
        .ok_or(LinkError::Gone)?;
    let (Some(profile), Some(role)) = (link.profile_id, link.role) else {
        return Err(LinkError::Gone);
    };
    let role = match store.role_of(profile, account).await? {
        Some(had) if had > role => had,
        _ => role,
    };
    store.set_member(profile, account, role, now).await?;
    Ok((profile, role))
}
