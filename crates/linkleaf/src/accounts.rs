//! `linkleaf accounts` and `linkleaf profiles assign`: accounts made by the operator, and
//! profiles made before accounts given an owner.

use linkleaf_domain::account::{Email, Role, check_password};
use linkleaf_domain::{Username, now_millis};
use linkleaf_store::accounts::{AccountRecord, AccountStore};
use linkleaf_store::{ProfileStore, ReadFrom};
use uuid::Uuid;

/// Makes an account with a password (read from standard input by the caller).
pub async fn create(
    store: &dyn AccountStore,
    email: &str,
    name: Option<&str>,
    admin: bool,
    password: &str,
) -> anyhow::Result<AccountRecord> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email {}", e.message))?;
    let display_name = match name {
        Some(n) => linkleaf_domain::text::display_name(n)
            .map_err(|e| anyhow::anyhow!("--name {}", e.message))?,
        None => email.as_str().split('@').next().unwrap_or("").to_owned(),
    };
    check_password(password, Some(&email))
        .map_err(|e| anyhow::anyhow!("the password {}", e.message))?;
    let hash = linkleaf_access::password::hash(password).map_err(|e| anyhow::anyhow!(e))?;
    let rec = AccountRecord {
        id: Uuid::now_v7(),
        email: email.as_str().to_owned(),
        display_name,
        password_hash: Some(hash),
        admin,
        created_at: now_millis(),
        disabled_at: None,
    };
    if !store.insert_account(&rec).await? {
        anyhow::bail!("--email: an account with {email} exists already");
    }
    Ok(rec)
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
