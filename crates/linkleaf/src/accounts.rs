//! `linkleaf accounts` and `linkleaf profiles assign`: accounts made by the operator, and
//! profiles made before accounts given an owner.
//! Must not: print a password, or run against a database other than the configured one.

use linkleaf_domain::account::{Email, Role};
use linkleaf_domain::{Username, now_millis};
use linkleaf_store::accounts::{AccountRecord, AccountStore};
use linkleaf_store::{ProfileStore, ReadFrom};
use uuid::Uuid;

fn field(e: linkleaf_access::links::LinkError) -> anyhow::Error {
    use linkleaf_access::links::LinkError;
    match e {
        LinkError::Invalid(f) if f.field == "password" => {
            anyhow::anyhow!("the password {}", f.message)
        }
        LinkError::Invalid(f) if f.field == "displayName" => {
            anyhow::anyhow!("--name {}", f.message)
        }
        LinkError::Invalid(f) => anyhow::anyhow!("--{} {}", f.field, f.message),
        LinkError::Taken => anyhow::anyhow!("--email: an account with this email exists already"),
        LinkError::Gone => anyhow::anyhow!("the link is used or expired"),
        LinkError::Store(e) => e.into(),
    }
}

/// Makes an account with a password (read from standard input by the caller), or without one
/// (`None`: a one-time link sets it).
pub async fn create(
    store: &dyn AccountStore,
    email: &str,
    name: Option<&str>,
    admin: bool,
    password: impl Into<Option<&str>>,
) -> anyhow::Result<AccountRecord> {
    linkleaf_access::links::make_account(
        store,
        linkleaf_access::links::NewAccount {
            email,
            display_name: name,
            password: password.into(),
            admin,
        },
        now_millis(),
    )
    .await
    .map_err(field)
}

/// A one-time link that sets the password of the account of `email` (a first sign-in or a
/// reset), at `public_url`.
pub async fn password_link(
    store: &dyn AccountStore,
    email: &str,
    public_url: &str,
) -> anyhow::Result<(String, time::OffsetDateTime)> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email {}", e.message))?;
    let account = store
        .account_by_email(email.as_str())
        .await?
        .ok_or_else(|| anyhow::anyhow!("--email: no account has the email {email}"))?;
    let (token, expires) =
        linkleaf_access::links::password_link(store, account.id, now_millis()).await?;
    Ok((linkleaf_access::links::url(public_url, &token), expires))
}

/// Makes the account of `email` an owner of the profile `name`.
pub async fn assign(
    accounts: &dyn AccountStore,
    profiles: &dyn ProfileStore,
    name: &str,
    email: &str,
) -> anyhow::Result<(Uuid, Uuid)> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email {}", e.message))?;
    let account = accounts
        .account_by_email(email.as_str())
        .await?
        .ok_or_else(|| anyhow::anyhow!("--email: no account has the email {email}"))?;
    let key =
        Username::lookup_key(name).ok_or_else(|| anyhow::anyhow!("'{name}' is not a username"))?;
    let profile = profiles
        .profile_by_username(&key, ReadFrom::Primary)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no profile is named '{name}'"))?;
    accounts
        .set_member(profile.id, account.id, Role::Owner, now_millis())
        .await?;
    Ok((profile.id, account.id))
}

/// The profiles whose usernames are now reserved (pages of the service took them: `login`,
/// `invite`...), for the operator to rename.
pub async fn reserved_in_use(profiles: &dyn ProfileStore) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    for word in linkleaf_domain::username::RESERVED {
        // a reserved word a username cannot be anyway (`favicon.ico`) holds no profile
        if linkleaf_domain::username::Username::check_syntax(word).is_err() {
            continue;
        }
        if let Some(p) = profiles
            .profile_by_username(word, ReadFrom::Primary)
            .await?
        {
            found.push(p.username.as_str().to_owned());
        }
    }
    Ok(found)
}
