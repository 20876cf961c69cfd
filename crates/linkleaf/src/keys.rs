//! `linkleaf keys`: create, list and revoke admin API keys. A key is shown once, at creation;
//! only its digest is stored.

use linkleaf_domain::{ApiKeyToken, Scopes, now_millis};
use linkleaf_store::{ApiKeyRecord, KeyStore};
use uuid::Uuid;

/// Creates a key and returns the token (the only time it exists in clear).
pub async fn create(
    store: &dyn KeyStore,
    name: &str,
    scopes: &str,
) -> anyhow::Result<(ApiKeyRecord, ApiKeyToken)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        anyhow::bail!("--name: give a key a name of 1 to 100 printable characters");
    }
    let scopes = Scopes::parse(scopes).map_err(|e| anyhow::anyhow!("--scopes: {e}"))?;
    let mut random = [0u8; 40];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    let token = ApiKeyToken::generate(random);
    let rec = ApiKeyRecord {
        id: Uuid::now_v7(),
        name: name.to_owned(),
        prefix: token.prefix().to_owned(),
        digest: token.digest().to_vec(),
        scopes,
        created_at: now_millis(),
        revoked_at: None,
    };
    store.insert_key(&rec).await?;
    Ok((rec, token))
}

/// The key table as text, one key per line.
pub fn table(keys: &[ApiKeyRecord]) -> String {
    let fmt = time::format_description::well_known::Rfc3339;
    let mut out = format!(
        "{:<36}  {:<19}  {:<20}  {:<24}  {:<8}  {}\n",
        "ID", "PREFIX", "NAME", "CREATED", "STATUS", "SCOPES"
    );
    for k in keys {
        let status = if k.revoked_at.is_some() {
            "revoked"
        } else {
            "active"
        };
        let created = k.created_at.format(&fmt).unwrap_or_default();
        let name: String = k.name.chars().take(20).collect();
        out.push_str(&format!(
            "{:<36}  {:<19}  {:<20}  {:<24}  {:<8}  {}\n",
            k.id, k.prefix, name, created, status, k.scopes
        ));
    }
    out
}
