//! The example profile `linkleaf demo` (or `serve --demo`) loads, so a new user sees a page at
//! once at /demo.
//! Must not: overwrite a profile that exists.

use linkleaf_domain::{CreateProfile, now_millis};
use linkleaf_store::{ProfileStore, StoreError};

pub const USERNAME: &str = "demo";

const PROFILE: &str = r##"{
  "username": "demo",
  "displayName": "Demo Leaf",
  "bio": "This is what a linkleaf page looks like.\nEdit it through the admin API, or make your own.",
  "theme": { "preset": "forest", "accentColor": "#7ddc9f", "buttonStyle": "pill" },
  "links": [
    { "title": "linkleaf on the web", "url": "https://example.com/linkleaf" },
    { "title": "Read the admin API guide", "url": "https://example.com/linkleaf/api" },
    { "title": "Write to us", "url": "mailto:hello@example.com" },
    { "title": "A link that is switched off", "url": "https://example.com/hidden", "enabled": false }
  ]
}"##;

/// Creates the demo profile unless a profile already holds its name. Returns whether it did.
pub async fn ensure(store: &dyn ProfileStore) -> anyhow::Result<bool> {
    if store
        .profile_by_username(USERNAME, linkleaf_store::ReadFrom::Primary)
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let input: CreateProfile = serde_json::from_str(PROFILE)?;
    let profile = input
        .into_profile(now_millis())
        .map_err(|e| anyhow::anyhow!("demo profile: {e}"))?;
    match store.create_profile(&profile).await {
        Ok(_) => Ok(true),
        Err(StoreError::UsernameTaken) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
