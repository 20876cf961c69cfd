//! The SQLite store: the embedded default. One file, WAL mode (readers never wait for the
//! writer), writes in `BEGIN IMMEDIATE` transactions so two writers queue instead of failing
//! mid-transaction.

use crate::{
    ApiKeyRecord, Change, KeyStore, Modified, ModifyError, ProfileRef, ProfileStore,
    ProfileSummary, Result, StoreError, StoreOptions, from_millis, millis,
};
use async_trait::async_trait;
use linkleaf_domain::{Link, Profile, Scopes, Theme, Username, now_millis};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqlSafeStr, SqlitePool};
use std::str::FromStr;
use time::OffsetDateTime;
use uuid::Uuid;

const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "init",
    include_str!("../migrations/sqlite/0001_init.sql"),
)];

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(url: &str, opts: &StoreOptions) -> Result<Self, sqlx::Error> {
        let connect = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(opts.busy_timeout)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect)
            .await?;
        Ok(Self { pool })
    }

    fn migrator() -> Migrator {
        Migrator::with_migrations(
            MIGRATIONS
                .iter()
                .map(|(v, d, sql)| {
                    Migration::new(
                        *v,
                        (*d).into(),
                        MigrationType::Simple,
                        sql.into_sql_str(),
                        false,
                    )
                })
                .collect(),
        )
    }
}

fn uuid(row: &SqliteRow, col: &str) -> Result<Uuid> {
    let s: String = row.try_get(col)?;
    Uuid::parse_str(&s).map_err(|e| StoreError::Corrupt(format!("{col} {s:?}: {e}")))
}

fn link_from_row(row: &SqliteRow) -> Result<Link> {
    Ok(Link {
        id: uuid(row, "id")?,
        title: row.try_get("title")?,
        url: row.try_get("url")?,
        position: row.try_get::<i64, _>("position")? as u32,
        click_count: row.try_get::<i64, _>("click_count")?.max(0) as u64,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
    })
}

const PROFILE_BY_ID: &str = "SELECT id, username, display_name, bio, avatar_url, theme, version, \
     updated_at FROM profiles WHERE id = ?";
const PROFILE_BY_KEY: &str = "SELECT id, username, display_name, bio, avatar_url, theme, version, \
     updated_at FROM profiles WHERE username_key = ?";

/// Reads one profile and its links on one connection (inside the caller's transaction, so the
/// two reads see the same snapshot).
async fn read_profile(
    conn: &mut SqliteConnection,
    which: &ProfileRef<'_>,
) -> Result<Option<Profile>> {
    let row = match which {
        ProfileRef::Id(id) => sqlx::query(PROFILE_BY_ID).bind(id.to_string()),
        ProfileRef::Key(key) => sqlx::query(PROFILE_BY_KEY).bind(key.as_ref()),
    }
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let id = uuid(&row, "id")?;
    let theme: String = row.try_get("theme")?;
    let theme: Theme = serde_json::from_str(&theme)
        .map_err(|e| StoreError::Corrupt(format!("theme of {id}: {e}")))?;
    let links = sqlx::query(
        "SELECT id, title, url, position, enabled, click_count FROM links WHERE profile_id = ? ORDER BY position",
    )
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(link_from_row)
    .collect::<Result<Vec<_>>>()?;
    Ok(Some(Profile {
        id,
        username: Username::from_stored(row.try_get("username")?),
        display_name: row.try_get("display_name")?,
        bio: row.try_get("bio")?,
        avatar_url: row.try_get("avatar_url")?,
        links,
        theme,
        last_modified: from_millis(row.try_get("updated_at")?)?,
        version: row.try_get("version")?,
    }))
}

async fn write_links(conn: &mut SqliteConnection, profile: Uuid, links: &[Link]) -> Result<()> {
    let keep: Vec<String> = links.iter().map(|l| l.id.to_string()).collect();
    let keep = serde_json::to_string(&keep).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "DELETE FROM links WHERE profile_id = ? AND id NOT IN (SELECT value FROM json_each(?))",
    )
    .bind(profile.to_string())
    .bind(keep)
    .execute(&mut *conn)
    .await?;
    for l in links {
        sqlx::query(
            "INSERT INTO links (id, profile_id, position, title, url, enabled) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET position = excluded.position, title = excluded.title,
                url = excluded.url, enabled = excluded.enabled
             WHERE links.profile_id = excluded.profile_id",
        )
        .bind(l.id.to_string())
        .bind(profile.to_string())
        .bind(i64::from(l.position))
        .bind(&l.title)
        .bind(&l.url)
        .bind(i64::from(l.enabled))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn theme_json(p: &Profile) -> Result<String> {
    serde_json::to_string(&p.theme).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl ProfileStore for SqliteStore {
    async fn migrate(&self) -> Result<()> {
        Self::migrator()
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Other(sqlx::Error::Migrate(Box::new(e))))
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn profile_by_username(&self, key: &str) -> Result<Option<Profile>> {
        let mut tx = self.pool.begin().await?;
        let p = read_profile(&mut tx, &ProfileRef::Key(key.into())).await?;
        tx.commit().await?;
        Ok(p)
    }

    async fn profile_by_id(&self, id: Uuid) -> Result<Option<Profile>> {
        let mut tx = self.pool.begin().await?;
        let p = read_profile(&mut tx, &ProfileRef::Id(id)).await?;
        tx.commit().await?;
        Ok(p)
    }

    async fn list_profiles(&self, after: Option<&str>, limit: u32) -> Result<Vec<ProfileSummary>> {
        let rows = sqlx::query(
            "SELECT p.id, p.username, p.display_name, p.updated_at,
                    (SELECT count(*) FROM links l WHERE l.profile_id = p.id) AS link_count
             FROM profiles p WHERE (?1 IS NULL OR p.username_key > ?1)
             ORDER BY p.username_key LIMIT ?2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ProfileSummary {
                    id: uuid(r, "id")?,
                    username: Username::from_stored(r.try_get("username")?),
                    display_name: r.try_get("display_name")?,
                    link_count: r.try_get::<i64, _>("link_count")? as u32,
                    last_modified: from_millis(r.try_get("updated_at")?)?,
                })
            })
            .collect()
    }

    async fn create_profile(&self, p: &Profile) -> Result<Profile> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let now = millis(p.last_modified);
        sqlx::query(
            "INSERT INTO profiles (id, username, username_key, display_name, bio, avatar_url, theme,
                                   version, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
        )
        .bind(p.id.to_string())
        .bind(p.username.as_str())
        .bind(p.username.key())
        .bind(&p.display_name)
        .bind(&p.bio)
        .bind(&p.avatar_url)
        .bind(theme_json(p)?)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        write_links(&mut tx, p.id, &p.links).await?;
        let stored = read_profile(&mut tx, &ProfileRef::Id(p.id))
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn modify_profile(
        &self,
        which: ProfileRef<'_>,
        change: Change<'_>,
    ) -> Result<Option<Modified>, ModifyError> {
        // IMMEDIATE takes the write lock before the read: concurrent modifications queue here.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(before) = read_profile(&mut tx, &which).await? else {
            return Ok(None);
        };
        let next = change(&before).map_err(ModifyError::Invalid)?;
        if next == before {
            return Ok(Some(Modified {
                after: before.clone(),
                before,
            }));
        }
        sqlx::query(
            "UPDATE profiles SET username = ?, username_key = ?, display_name = ?, bio = ?,
                    avatar_url = ?, theme = ?, version = version + 1, updated_at = ?
             WHERE id = ?",
        )
        .bind(next.username.as_str())
        .bind(next.username.key())
        .bind(&next.display_name)
        .bind(&next.bio)
        .bind(&next.avatar_url)
        .bind(theme_json(&next)?)
        .bind(millis(now_millis()))
        .bind(before.id.to_string())
        .execute(&mut *tx)
        .await?;
        write_links(&mut tx, before.id, &next.links).await?;
        let after = read_profile(&mut tx, &ProfileRef::Id(before.id))
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(Some(Modified { before, after }))
    }

    async fn delete_profile(&self, which: ProfileRef<'_>) -> Result<Option<(Uuid, Username)>> {
        let row = match which {
            ProfileRef::Id(id) => {
                sqlx::query("DELETE FROM profiles WHERE id = ? RETURNING id, username")
                    .bind(id.to_string())
            }
            ProfileRef::Key(key) => {
                sqlx::query("DELETE FROM profiles WHERE username_key = ? RETURNING id, username")
                    .bind(key.into_owned())
            }
        }
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok((
                uuid(&r, "id")?,
                Username::from_stored(r.try_get("username")?),
            ))
        })
        .transpose()
    }
}

fn key_from_row(r: &SqliteRow) -> Result<ApiKeyRecord> {
    let scopes: String = r.try_get("scopes")?;
    Ok(ApiKeyRecord {
        id: uuid(r, "id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        digest: r.try_get("digest")?,
        scopes: Scopes::parse(&scopes).map_err(StoreError::Corrupt)?,
        created_at: from_millis(r.try_get("created_at")?)?,
        revoked_at: r
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(from_millis)
            .transpose()?,
    })
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, k: &ApiKeyRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, prefix, digest, scopes, created_at, revoked_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(k.id.to_string())
        .bind(&k.name)
        .bind(&k.prefix)
        .bind(&k.digest)
        .bind(k.scopes.to_string())
        .bind(millis(k.created_at))
        .bind(k.revoked_at.map(millis))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>> {
        let row = sqlx::query(
            "SELECT id, name, prefix, digest, scopes, created_at, revoked_at FROM api_keys WHERE prefix = ?",
        )
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, prefix, digest, scopes, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
        )
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_key(&self, id_or_prefix: &str, at: OffsetDateTime) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = ?1 WHERE (id = ?2 OR prefix = ?2) AND revoked_at IS NULL",
        )
        .bind(millis(at))
        .bind(id_or_prefix)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
