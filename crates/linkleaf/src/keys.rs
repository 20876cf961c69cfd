//! `linkleaf keys`: create, list and revoke admin API keys. A key is shown once, at creation;
//! only its digest is stored.
//! Must not: print a key's token twice, or store it.

use linkleaf_domain::{ApiKeyToken, Scopes};
use linkleaf_store::{ApiKeyRecord, KeyStore};

/// Creates a key and returns the token (the only time it exists in clear).
pub async fn create(
    store: &dyn KeyStore,
    name: &str,
    scopes: &str,
) -> anyhow::Result<(ApiKeyRecord, ApiKeyToken)> {
    let scopes = Scopes::parse(scopes).map_err(|e| anyhow::anyhow!("--scopes: {e}"))?;
    let (rec, token) = linkleaf_access::keys::issue(name, scopes, None, None)
        .map_err(|e| anyhow::anyhow!("--name: {e}"))?;
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
