//! Profiles, their links and API keys: `ProfileStore` and `KeyStore`, written once for both
//! databases.
//!
//! A change to a profile is read-apply-write in one write transaction: SQLite holds the
//! database's write lock from the start (`BEGIN IMMEDIATE`), PostgreSQL the profile's row lock
//! (`FOR UPDATE`), so concurrent edits of one profile queue and none is lost. Usernames are
//! unique by their lowercase key and their look-alike skeleton (two unique constraints whose
//! names tell which was violated). Each change writes its outbox events in its transaction.
//! Must not: hold a rule about what a valid profile is (`linkleaf-domain` does), or commit a change
//! without its events.

use super::SqlStore;
use crate::db::On;
use crate::error::{Result, StoreError};
use crate::keys::{ApiKeyRecord, KeyStore};
use crate::profiles::{
    Boundaries, Change, LinkTarget, Modified, ModifyError, ProfileRef, ProfileStore,
    ProfileSummary, ReadFrom, Version,
};
use crate::seam::{Row, q, q_built};
use crate::sql::webhooks::write_events;
use async_trait::async_trait;
use linkleaf_domain::account::Actor;
use linkleaf_domain::webhook::{EventType, WebhookEvent};
use linkleaf_domain::{Link, Profile, Scopes, Theme, Username, now_millis};
use time::OffsetDateTime;
use uuid::Uuid;

const PROFILE_BY_ID: &str = "SELECT id, username, display_name, bio, avatar_url, \
     theme::text AS theme, version, updated_at, time_zone FROM profiles WHERE id = $1";
const PROFILE_BY_KEY: &str = "SELECT id, username, display_name, bio, avatar_url, \
     theme::text AS theme, version, updated_at, time_zone FROM profiles WHERE username_key = $1";
const PROFILE_BY_ID_LOCKED: &str = "SELECT id, username, display_name, bio, avatar_url, \
     theme::text AS theme, version, updated_at, time_zone FROM profiles WHERE id = $1 FOR UPDATE";
const PROFILE_BY_KEY_LOCKED: &str = "SELECT id, username, display_name, bio, avatar_url, \
     theme::text AS theme, version, updated_at, time_zone FROM profiles WHERE username_key = $1 FOR UPDATE";

fn link_from_row(row: &Row) -> Result<Link> {
    Ok(Link {
        id: row.id("id")?,
        title: row.text("title")?,
        url: row.text("url")?,
        position: row.int("position")?.max(0) as u32,
        click_count: row.int("click_count")?.max(0) as u64,
        enabled: row.flag("enabled")?,
        visible_from: opt_millis(row, "visible_from")?,
        visible_until: opt_millis(row, "visible_until")?,
    })
}

/// A time kept as ms since the epoch, or none.
fn opt_millis(row: &Row, col: &str) -> Result<Option<OffsetDateTime>> {
    row.opt_int(col)?.map(crate::seam::from_millis).transpose()
}

/// Reads one profile and its links (inside the caller's transaction, so the two reads see one
/// snapshot); with `lock`, holding the profile's row for a change.
async fn read_profile<'e, 'd: 'e>(
    on: impl Into<On<'e, 'd>>,
    which: &ProfileRef<'_>,
    lock: bool,
) -> Result<Option<Profile>> {
    let mut on = on.into();
    let stmt = match (which, lock) {
        (ProfileRef::Id(id), false) => q(PROFILE_BY_ID).bind(*id),
        (ProfileRef::Id(id), true) => q(PROFILE_BY_ID_LOCKED).bind(*id),
        (ProfileRef::Key(key), false) => q(PROFILE_BY_KEY).bind(key.as_ref()),
        (ProfileRef::Key(key), true) => q(PROFILE_BY_KEY_LOCKED).bind(key.as_ref()),
    };
    let Some(row) = stmt.fetch_optional(on.reborrow()).await? else {
        return Ok(None);
    };
    let id = row.id("id")?;
    let theme: Theme = serde_json::from_str(&row.text("theme")?)
        .map_err(|e| StoreError::Corrupt(format!("theme of {id}: {e}")))?;
    let rows = q(
        "SELECT id, title, url, position, enabled, click_count, counted_at, visible_from,
                visible_until FROM links
         WHERE profile_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(on)
    .await?;
    let links = rows.iter().map(link_from_row).collect::<Result<Vec<_>>>()?;
    let mut counted_ms = 0;
    for r in &rows {
        counted_ms = counted_ms.max(r.int("counted_at")?);
    }
    let counted_at = (counted_ms > 0)
        .then(|| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(counted_ms) * 1_000_000)
        })
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("counted_at of {id}: {e}")))?;
    Ok(Some(Profile {
        id,
        username: Username::from_stored(row.text("username")?),
        display_name: row.text("display_name")?,
        bio: row.text("bio")?,
        avatar_url: row.opt_text("avatar_url")?,
        links,
        theme,
        last_modified: row.time("updated_at")?,
        counted_at,
        version: row.int("version")?,
        time_zone: row.text("time_zone")?,
        next_change: None,
    }))
}

fn theme_json(p: &Profile) -> Result<String> {
    serde_json::to_string(&p.theme).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl SqlStore {
    /// What a failed write of a profile's name means: the name's key is taken, or its skeleton
    /// is (then the existing name is looked up, to say which one it resembles), or something
    /// else. The database names the violated constraint (SQLite by its column, PostgreSQL by
    /// the constraint's name; both hold the column's name).
    async fn name_conflict(&self, e: StoreError, name: &Username) -> StoreError {
        let StoreError::Refused(why) = &e else {
            return e;
        };
        if why.contains("username_skeleton") {
            let existing = q("SELECT username FROM profiles WHERE username_skeleton = $1")
                .bind(name.skeleton())
                .fetch_optional(&self.db)
                .await
                .ok()
                .flatten()
                .and_then(|r| r.text("username").ok());
            match existing {
                // the same name in another case: simply taken
                Some(x) if x.eq_ignore_ascii_case(name.as_str()) => StoreError::UsernameTaken,
                Some(x) => StoreError::UsernameConfusable(x),
                None => StoreError::UsernameTaken,
            }
        } else if why.contains("username_key") {
            StoreError::UsernameTaken
        } else {
            e
        }
    }
}

#[async_trait]
impl ProfileStore for SqlStore {
    async fn migrate(&self) -> Result<()> {
        self.db.migrate(None).await
    }

    async fn ping(&self) -> Result<()> {
        self.ping_all().await
    }

    async fn profile_by_username(&self, key: &str, from: ReadFrom) -> Result<Option<Profile>> {
        // one transaction, so the profile and its links are one snapshot
        let mut tx = self.db.begin_read(from).await?;
        let p = read_profile(&mut tx, &ProfileRef::Key(key.into()), false).await?;
        tx.commit().await?;
        Ok(p)
    }

    async fn profile_by_id(&self, id: Uuid) -> Result<Option<Profile>> {
        let mut tx = self.db.begin_read(ReadFrom::Primary).await?;
        let p = read_profile(&mut tx, &ProfileRef::Id(id), false).await?;
        tx.commit().await?;
        Ok(p)
    }

    async fn list_profiles(&self, after: Option<&str>, limit: u32) -> Result<Vec<ProfileSummary>> {
        q_built(format!(
            "{SUMMARY} WHERE ($1::text IS NULL OR p.username_key > $1)
             ORDER BY p.username_key LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(On::Replica(&self.db))
        .await?
        .iter()
        .map(summary)
        .collect()
    }

    async fn list_profiles_of(
        &self,
        member: Uuid,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ProfileSummary>> {
        // from the primary: a profile just made is listed to its maker at once
        q_built(format!(
            "{SUMMARY} JOIN members m ON m.profile_id = p.id AND m.account_id = $3
             WHERE ($1::text IS NULL OR p.username_key > $1)
             ORDER BY p.username_key LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .bind(member)
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(summary)
        .collect()
    }

    async fn create_profile(&self, p: &Profile) -> Result<Profile> {
        self.create(p, None, None).await
    }

    async fn create_profile_with(
        &self,
        p: &Profile,
        owner: Option<(Uuid, Option<u32>)>,
        actor: Option<&Actor>,
    ) -> Result<Profile> {
        self.create(p, owner, actor).await
    }

    async fn history(&self, profile: Uuid, limit: u32) -> Result<Vec<Version>> {
        q(
            "SELECT version, at, actor::text AS actor, profile::text AS profile
           FROM profile_versions WHERE profile_id = $1 ORDER BY version DESC LIMIT $2",
        )
        .bind(profile)
        .bind(limit)
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(version_from_row)
        .collect()
    }

    async fn version(&self, profile: Uuid, version: i64) -> Result<Option<Version>> {
        q(
            "SELECT version, at, actor::text AS actor, profile::text AS profile
           FROM profile_versions WHERE profile_id = $1 AND version = $2",
        )
        .bind(profile)
        .bind(version)
        .fetch_optional(&self.db)
        .await?
        .as_ref()
        .map(version_from_row)
        .transpose()
    }

    async fn modify_profile_as(
        &self,
        which: ProfileRef<'_>,
        change: Change<'_>,
        actor: Option<&Actor>,
        if_version: Option<i64>,
    ) -> Result<Option<Modified>, ModifyError> {
        let mut tx = self.db.begin_write().await?;
        // the lock: concurrent modifications of this profile wait here
        let Some(before) = read_profile(&mut tx, &which, true).await? else {
            return Ok(None);
        };
        if if_version.is_some_and(|v| v != before.version) {
            return Err(ModifyError::Stale {
                current: before.version,
            });
        }
        let next = change(&before).map_err(ModifyError::Invalid)?;
        if next == before {
            return Ok(Some(Modified {
                after: before.clone(),
                before,
            }));
        }
        let updated = q("UPDATE profiles SET username = $1, username_key = $2,
                    username_skeleton = $3, display_name = $4, bio = $5, avatar_url = $6,
                    theme = $7::jsonb, version = version + 1, updated_at = $8, time_zone = $10
             WHERE id = $9")
        .bind(next.username.as_str())
        .bind(next.username.key())
        .bind(next.username.skeleton())
        .bind(&next.display_name)
        .bind(&next.bio)
        .bind(&next.avatar_url)
        .bind(theme_json(&next)?)
        .bind(now_millis())
        .bind(before.id)
        .bind(&next.time_zone)
        .execute(&mut tx)
        .await;
        if let Err(e) = updated {
            drop(tx);
            return Err(self.name_conflict(e, &next.username).await.into());
        }
        tx.write_links(before.id, &next.links).await?;
        let after = read_profile(&mut tx, &ProfileRef::Id(before.id), false)
            .await?
            .ok_or(StoreError::NotFound)?;
        let events: Vec<WebhookEvent> =
            WebhookEvent::of_change(&before, &after, after.last_modified)
                .into_iter()
                .map(|e| e.by(actor))
                .collect();
        write_events(&mut tx, &events, crate::seam::millis(after.last_modified)).await?;
        self.write_version(&mut tx, &after, actor).await?;
        tx.commit().await?;
        Ok(Some(Modified { before, after }))
    }

    async fn link_target(&self, link: Uuid) -> Result<Option<LinkTarget>> {
        q("SELECT profile_id, url, enabled, visible_from, visible_until FROM links WHERE id = $1")
            .bind(link)
            .fetch_optional(On::Replica(&self.db))
            .await?
            .map(|r| {
                Ok(LinkTarget {
                    profile: r.id("profile_id")?,
                    url: r.text("url")?,
                    enabled: r.flag("enabled")?,
                    visible_from: opt_millis(&r, "visible_from")?,
                    visible_until: opt_millis(&r, "visible_until")?,
                })
            })
            .transpose()
    }

    async fn pass_boundaries(
        &self,
        (after_ms, after_profile): (i64, Uuid),
        until_ms: i64,
        limit: u32,
    ) -> Result<Boundaries> {
        const DUE: &str = "SELECT profile_id, visible_from AS b FROM links
               WHERE enabled = TRUE AND visible_from >= $1 AND visible_from <= $2
             UNION
             SELECT profile_id, visible_until AS b FROM links
               WHERE enabled = TRUE AND visible_until >= $1 AND visible_until <= $2";
        // read first (most calls find nothing due, and take no write lock)
        let rows = q_built(format!(
            "SELECT d.profile_id, d.b, p.username FROM ({DUE}) d
             JOIN profiles p ON p.id = d.profile_id
             WHERE d.b > $1 OR d.profile_id > $4
             ORDER BY d.b, d.profile_id LIMIT $3"
        ))
        .bind(after_ms)
        .bind(until_ms)
        .bind(i64::from(limit))
        .bind(after_profile)
        .fetch_all(On::Primary(&self.db))
        .await?;
        let next = q("SELECT min(b) AS b FROM (
                SELECT min(visible_from) AS b FROM links WHERE enabled = TRUE AND visible_from > $1
                UNION ALL
                SELECT min(visible_until) AS b FROM links WHERE enabled = TRUE AND visible_until > $1
             ) n")
        .bind(until_ms)
        .fetch_one(On::Primary(&self.db))
        .await?
        .opt_int("b")?;
        if rows.is_empty() {
            return Ok(Boundaries {
                passed: Vec::new(),
                next_ms: next,
            });
        }
        let mut passed = Vec::with_capacity(rows.len());
        let mut events = Vec::with_capacity(rows.len());
        for r in &rows {
            let (profile, b) = (r.id("profile_id")?, r.int("b")?);
            let username = Username::from_stored(r.text("username")?);
            let mut e = WebhookEvent::new(
                EventType::LinksUpdated,
                crate::seam::from_millis(b)?,
                profile,
                &username,
                None,
            );
            e.id = format!("msg_{}{b:012x}", profile.simple());
            events.push(e);
            passed.push((profile, username, b));
        }
        let mut tx = self.db.begin_write().await?;
        write_events(&mut tx, &events, crate::seam::millis(now_millis())).await?;
        tx.commit().await?;
        Ok(Boundaries {
            passed,
            next_ms: next,
        })
    }

    async fn delete_profile_as(
        &self,
        which: ProfileRef<'_>,
        actor: Option<&Actor>,
    ) -> Result<Option<(Uuid, Username)>> {
        let mut tx = self.db.begin_write().await?;
        let stmt = match which {
            ProfileRef::Id(id) => {
                q("DELETE FROM profiles WHERE id = $1 RETURNING id, username").bind(id)
            }
            ProfileRef::Key(key) => {
                q("DELETE FROM profiles WHERE username_key = $1 RETURNING id, username")
                    .bind(key.into_owned())
            }
        };
        let deleted = stmt
            .fetch_optional(&mut tx)
            .await?
            .map(|r| Ok::<_, StoreError>((r.id("id")?, Username::from_stored(r.text("username")?))))
            .transpose()?;
        // a deleted profile's analytics go with it; its deletion is announced
        if let Some((id, username)) = &deleted {
            let now = now_millis();
            let gone =
                WebhookEvent::new(EventType::ProfileDeleted, now, *id, username, None).by(actor);
            write_events(&mut tx, &[gone], crate::seam::millis(now)).await?;
            q("DELETE FROM analytics_rollups WHERE profile_id = $1")
                .bind(*id)
                .execute(&mut tx)
                .await?;
            q("DELETE FROM analytics_uniques WHERE profile_id = $1")
                .bind(*id)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}

fn version_from_row(r: &Row) -> Result<Version> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("a version: {e}"));
    Ok(Version {
        version: r.int("version")?,
        at: r.time("at")?,
        actor: r
            .opt_text("actor")?
            .map(|a| serde_json::from_str(&a))
            .transpose()
            .map_err(corrupt)?,
        profile: serde_json::from_str(&r.text("profile")?).map_err(corrupt)?,
    })
}

fn key_from_row(r: &Row) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: r.id("id")?,
        name: r.text("name")?,
        prefix: r.text("prefix")?,
        digest: r.bytes("digest")?,
        scopes: Scopes::parse(&r.text("scopes")?).map_err(StoreError::Corrupt)?,
        created_at: r.time("created_at")?,
        revoked_at: r.opt_time("revoked_at")?,
        profile: r.opt_id("profile_id")?,
        account: r.opt_id("account_id")?,
    })
}

const KEY: &str = "SELECT id, name, prefix, digest, scopes, created_at, revoked_at, profile_id, \
     account_id FROM api_keys";

#[async_trait]
impl KeyStore for SqlStore {
    async fn insert_key(&self, k: &ApiKeyRecord) -> Result<()> {
        q(
            "INSERT INTO api_keys (id, name, prefix, digest, scopes, created_at, revoked_at,
                                   profile_id, account_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(k.id)
        .bind(&k.name)
        .bind(&k.prefix)
        .bind(k.digest.clone())
        .bind(k.scopes.to_string())
        .bind(k.created_at)
        .bind(k.revoked_at)
        .bind(k.profile)
        .bind(k.account)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>> {
        q_built(format!("{KEY} WHERE prefix = $1"))
            .bind(prefix)
            .fetch_optional(&self.db)
            .await?
            .as_ref()
            .map(key_from_row)
            .transpose()
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        q_built(format!("{KEY} ORDER BY created_at, id"))
            .fetch_all(&self.db)
            .await?
            .iter()
            .map(key_from_row)
            .collect()
    }

    async fn revoke_key(&self, id_or_prefix: &str, at: OffsetDateTime) -> Result<bool> {
        let done = q("UPDATE api_keys SET revoked_at = $1
             WHERE (id = $2 OR prefix = $3) AND revoked_at IS NULL")
        .bind(at)
        .bind(Uuid::try_parse(id_or_prefix).ok())
        .bind(id_or_prefix)
        .execute(&self.db)
        .await?;
        Ok(done > 0)
    }

    async fn keys_of(&self, account: Uuid) -> Result<Vec<ApiKeyRecord>> {
        q_built(format!(
            "{KEY} WHERE account_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(account)
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(key_from_row)
        .collect()
    }

    async fn revoke_key_of(&self, account: Uuid, id: Uuid, at: OffsetDateTime) -> Result<bool> {
        let done = q("UPDATE api_keys SET revoked_at = $1
             WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL")
        .bind(at)
        .bind(id)
        .bind(account)
        .execute(&self.db)
        .await?;
        Ok(done > 0)
    }
}

impl SqlStore {
    /// Inserts a profile (and its owner, within the owner's limit) in one transaction.
    async fn create(
        &self,
        p: &Profile,
        owner: Option<(Uuid, Option<u32>)>,
        actor: Option<&Actor>,
    ) -> Result<Profile> {
        let mut tx = self.db.begin_write().await?;
        if let Some((owner, Some(max))) = owner {
            // counted and made in one write transaction, the owner's row locked (PostgreSQL's
            // transactions would otherwise count side by side): two at once cannot pass the limit
            q("SELECT id FROM accounts WHERE id = $1 FOR UPDATE")
                .bind(owner)
                .fetch_optional(&mut tx)
                .await?;
            let n = q("SELECT count(*) AS n FROM members WHERE account_id = $1 AND role = 'owner'")
                .bind(owner)
                .fetch_one(&mut tx)
                .await?
                .int("n")?;
            if n >= i64::from(max) {
                return Err(StoreError::LimitReached(max));
            }
        }
        let inserted = q("INSERT INTO profiles (id, username, username_key, username_skeleton,
                                 display_name, bio, avatar_url, theme, version, created_at, updated_at,
                                 time_zone)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, 1, $9, $9, $10)")
        .bind(p.id)
        .bind(p.username.as_str())
        .bind(p.username.key())
        .bind(p.username.skeleton())
        .bind(&p.display_name)
        .bind(&p.bio)
        .bind(&p.avatar_url)
        .bind(theme_json(p)?)
        .bind(p.last_modified)
        .bind(&p.time_zone)
        .execute(&mut tx)
        .await;
        if let Err(e) = inserted {
            drop(tx);
            return Err(self.name_conflict(e, &p.username).await);
        }
        tx.write_links(p.id, &p.links).await?;
        if let Some((owner, _)) = owner {
            q(
                "INSERT INTO members (profile_id, account_id, role, added_at)
               VALUES ($1, $2, 'owner', $3)",
            )
            .bind(p.id)
            .bind(owner)
            .bind(p.last_modified)
            .execute(&mut tx)
            .await?;
        }
        let stored = read_profile(&mut tx, &ProfileRef::Id(p.id), false)
            .await?
            .ok_or(StoreError::NotFound)?;
        let created = WebhookEvent::new(
            EventType::ProfileCreated,
            stored.last_modified,
            stored.id,
            &stored.username,
            None,
        )
        .by(actor);
        write_events(
            &mut tx,
            &[created],
            crate::seam::millis(stored.last_modified),
        )
        .await?;
        self.write_version(&mut tx, &stored, actor).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Keeps `p` as it now is as a version, by `actor`, and lets go of the versions older than
    /// the newest `keep_versions` (inside the change's transaction).
    async fn write_version(
        &self,
        tx: &mut crate::db::Tx<'_>,
        p: &Profile,
        actor: Option<&Actor>,
    ) -> Result<()> {
        let json = |v: Result<String, serde_json::Error>| {
            v.map_err(|e| StoreError::Corrupt(format!("a version: {e}")))
        };
        let profile = json(serde_json::to_string(p))?;
        let actor = actor.map(|a| json(serde_json::to_string(a))).transpose()?;
        q(
            "INSERT INTO profile_versions (profile_id, version, at, actor, profile)
           VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)
           ON CONFLICT (profile_id, version) DO NOTHING",
        )
        .bind(p.id)
        .bind(p.version)
        .bind(p.last_modified)
        .bind(actor)
        .bind(profile)
        .execute(&mut *tx)
        .await?;
        q("DELETE FROM profile_versions WHERE profile_id = $1 AND version <= $2")
            .bind(p.id)
            .bind(p.version - i64::from(self.keep_versions))
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}

const SUMMARY: &str = "SELECT p.id, p.username, p.display_name, p.updated_at,
        (SELECT count(*) FROM links l WHERE l.profile_id = p.id) AS link_count
     FROM profiles p";

fn summary(r: &Row) -> Result<ProfileSummary> {
    Ok(ProfileSummary {
        id: r.id("id")?,
        username: Username::from_stored(r.text("username")?),
        display_name: r.text("display_name")?,
        link_count: r.int("link_count")?.max(0) as u32,
        last_modified: r.time("updated_at")?,
    })
}
