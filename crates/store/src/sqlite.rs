//! The SQLite store: the embedded default. One file, WAL mode (readers never wait for the
//! writer), writes in `BEGIN IMMEDIATE` transactions so two writers queue instead of failing
//! mid-transaction.

use crate::analytics::ReportPart;
use crate::analytics::{self, AnalyticsStore, Counted, RollupRow};
use crate::sqlite_webhooks::write_events;
use crate::{
    ApiKeyRecord, Change, Db, KeyStore, Modified, ModifyError, OpenError, ProfileRef, ProfileStore,
    ProfileSummary, ReadFrom, Result, StoreError, StoreOptions, from_millis, map_sqlx, millis,
};
use async_trait::async_trait;
use linkleaf_domain::analytics::{
    AnalyticsQuery, AnalyticsReport, Bucket, FrameRollup, WindowOutcome,
};
use linkleaf_domain::sketch::Sketch;
use linkleaf_domain::webhook::{EventType, WebhookEvent};
use linkleaf_domain::{Link, Profile, Scopes, Theme, Username, now_millis};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqlSafeStr, SqlitePool};
use std::str::FromStr;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "username skeleton",
        include_str!("../migrations/sqlite/0002_username_skeleton.sql"),
    ),
    (
        3,
        "analytics",
        include_str!("../migrations/sqlite/0003_analytics.sql"),
    ),
    (
        4,
        "webhooks",
        include_str!("../migrations/sqlite/0004_webhooks.sql"),
    ),
];

/// What an SQLite result code means (extended codes carry the primary one in their low byte):
/// busy, locked, out of memory, read-only, I/O error, full or cannot open is the database's
/// state; too big, a constraint, a type mismatch or out of range is the data's.
pub(crate) fn classify(code: &str) -> crate::ErrorClass {
    match code.parse::<u32>().map(|c| c & 0xff) {
        Ok(5 | 6 | 7 | 8 | 10 | 13 | 14) => crate::ErrorClass::Unavailable,
        Ok(18 | 19 | 20 | 25) => crate::ErrorClass::Refused,
        _ => crate::ErrorClass::Other,
    }
}

/// What a failed write of a profile's name means: the name's key is taken, or its skeleton is
/// (then the existing name is looked up, to say which one it resembles), or something else.
async fn name_conflict(pool: &SqlitePool, e: sqlx::Error, name: &Username) -> StoreError {
    let which = match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => d.message().to_owned(),
        _ => return map_sqlx(e),
    };
    if which.contains("username_skeleton") {
        let existing: Option<String> =
            sqlx::query_scalar("SELECT username FROM profiles WHERE username_skeleton = ?")
                .bind(name.skeleton())
                .fetch_optional(pool)
                .await
                .ok()
                .flatten();
        match existing {
            // the same name in another case: simply taken
            Some(x) if x.eq_ignore_ascii_case(name.as_str()) => StoreError::UsernameTaken,
            Some(x) => StoreError::UsernameConfusable(x),
            None => StoreError::UsernameTaken,
        }
    } else if which.contains("username_key") {
        StoreError::UsernameTaken
    } else {
        StoreError::Other(e.to_string())
    }
}

pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(url: &str, opts: &StoreOptions) -> Result<Self, OpenError> {
        let connect_err = |e: sqlx::Error| OpenError::Connect(e.to_string());
        let parsed = SqliteConnectOptions::from_str(url).map_err(connect_err)?;
        if !(url.contains(":memory:") || url.contains("mode=memory")) {
            private_files(parsed.get_filename()).map_err(|e| {
                OpenError::Connect(format!("{}: {e}", parsed.get_filename().display()))
            })?;
        }
        let connect = parsed
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(opts.busy_timeout)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(connect_err)?;
        Ok(Self { pool })
    }

    /// Applies the migrations up to `version` only (tests of an upgrade start from an older
    /// schema; the service always runs `migrate`).
    #[doc(hidden)]
    pub async fn migrate_to(&self, version: i64) -> Result<()> {
        Self::migrator()
            .run_to(version, &self.pool)
            .await
            .map_err(|e| StoreError::Other(format!("migrating: {e}")))
    }

    /// Runs SQL as it is (tests: data an older version could have written).
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
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

/// The database holds key digests and everything users wrote: only its owner may read it,
/// whatever the umask. SQLite gives the `-wal` and `-shm` files it creates the mode of the
/// database file, so the database is created (empty, which SQLite takes as new) with mode 0600
/// before SQLite opens it; files left more open by an older version are closed down.
fn private_files(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let name = path.to_string_lossy();
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    for suffix in ["", "-wal", "-shm"] {
        let f = std::path::PathBuf::from(format!("{name}{suffix}"));
        if let Ok(meta) = std::fs::metadata(&f)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(file = %f.display(), "the database was readable by others: mode set to 0600");
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

fn uuid(row: &SqliteRow, col: &str) -> Result<Uuid> {
    let s: String = row.try_get(col).db()?;
    Uuid::parse_str(&s).map_err(|e| StoreError::Corrupt(format!("{col} {s:?}: {e}")))
}

fn link_from_row(row: &SqliteRow) -> Result<Link> {
    Ok(Link {
        id: uuid(row, "id")?,
        title: row.try_get("title").db()?,
        url: row.try_get("url").db()?,
        position: row.try_get::<i64, _>("position").db()? as u32,
        click_count: row.try_get::<i64, _>("click_count").db()?.max(0) as u64,
        enabled: row.try_get::<i64, _>("enabled").db()? != 0,
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
    .await
    .db()?;
    let Some(row) = row else { return Ok(None) };
    let id = uuid(&row, "id")?;
    let theme: String = row.try_get("theme").db()?;
    let theme: Theme = serde_json::from_str(&theme)
        .map_err(|e| StoreError::Corrupt(format!("theme of {id}: {e}")))?;
    let links = sqlx::query(
        "SELECT id, title, url, position, enabled, click_count FROM links WHERE profile_id = ? ORDER BY position",
    )
    .bind(id.to_string())
    .fetch_all(&mut *conn)
        .await
        .db()?
    .iter()
    .map(link_from_row)
    .collect::<Result<Vec<_>>>()?;
    Ok(Some(Profile {
        id,
        username: Username::from_stored(row.try_get("username").db()?),
        display_name: row.try_get("display_name").db()?,
        bio: row.try_get("bio").db()?,
        avatar_url: row.try_get("avatar_url").db()?,
        links,
        theme,
        last_modified: from_millis(row.try_get("updated_at").db()?)?,
        version: row.try_get("version").db()?,
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
    .await
    .db()?;
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
        .await
        .db()?;
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
            .map_err(|e| StoreError::Other(format!("migrating: {e}")))
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.db()?;
        Ok(())
    }

    /// One file, no replica: `from` changes nothing.
    async fn profile_by_username(&self, key: &str, _from: ReadFrom) -> Result<Option<Profile>> {
        let mut tx = self.pool.begin().await.db()?;
        let p = read_profile(&mut tx, &ProfileRef::Key(key.into())).await?;
        tx.commit().await.db()?;
        Ok(p)
    }

    async fn profile_by_id(&self, id: Uuid) -> Result<Option<Profile>> {
        let mut tx = self.pool.begin().await.db()?;
        let p = read_profile(&mut tx, &ProfileRef::Id(id)).await?;
        tx.commit().await.db()?;
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
        .await
        .db()?;
        rows.iter()
            .map(|r| {
                Ok(ProfileSummary {
                    id: uuid(r, "id")?,
                    username: Username::from_stored(r.try_get("username").db()?),
                    display_name: r.try_get("display_name").db()?,
                    link_count: r.try_get::<i64, _>("link_count").db()? as u32,
                    last_modified: from_millis(r.try_get("updated_at").db()?)?,
                })
            })
            .collect()
    }

    async fn create_profile(&self, p: &Profile) -> Result<Profile> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.db()?;
        let now = millis(p.last_modified);
        let skeleton = p.username.skeleton();
        let inserted = sqlx::query(
            "INSERT INTO profiles (id, username, username_key, username_skeleton, display_name, bio,
                                   avatar_url, theme, version, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
        )
        .bind(p.id.to_string())
        .bind(p.username.as_str())
        .bind(p.username.key())
        .bind(&skeleton)
        .bind(&p.display_name)
        .bind(&p.bio)
        .bind(&p.avatar_url)
        .bind(theme_json(p)?)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            drop(tx);
            return Err(name_conflict(&self.pool, e, &p.username).await);
        }
        write_links(&mut tx, p.id, &p.links).await?;
        let stored = read_profile(&mut tx, &ProfileRef::Id(p.id))
            .await?
            .ok_or(StoreError::NotFound)?;
        let created = WebhookEvent::new(
            EventType::ProfileCreated,
            stored.last_modified,
            stored.id,
            &stored.username,
            None,
        );
        write_events(&mut tx, &[created], now).await?;
        tx.commit().await.db()?;
        Ok(stored)
    }

    async fn modify_profile(
        &self,
        which: ProfileRef<'_>,
        change: Change<'_>,
    ) -> Result<Option<Modified>, ModifyError> {
        // IMMEDIATE takes the write lock before the read: concurrent modifications queue here.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.db()?;
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
        let skeleton = next.username.skeleton();
        let updated = sqlx::query(
            "UPDATE profiles SET username = ?, username_key = ?, username_skeleton = ?,
                    display_name = ?, bio = ?, avatar_url = ?, theme = ?, version = version + 1,
                    updated_at = ?
             WHERE id = ?",
        )
        .bind(next.username.as_str())
        .bind(next.username.key())
        .bind(&skeleton)
        .bind(&next.display_name)
        .bind(&next.bio)
        .bind(&next.avatar_url)
        .bind(theme_json(&next)?)
        .bind(millis(now_millis()))
        .bind(before.id.to_string())
        .execute(&mut *tx)
        .await;
        if let Err(e) = updated {
            drop(tx);
            return Err(name_conflict(&self.pool, e, &next.username).await.into());
        }
        write_links(&mut tx, before.id, &next.links).await?;
        let after = read_profile(&mut tx, &ProfileRef::Id(before.id))
            .await?
            .ok_or(StoreError::NotFound)?;
        let events = WebhookEvent::of_change(&before, &after, after.last_modified);
        write_events(&mut tx, &events, millis(after.last_modified)).await?;
        tx.commit().await.db()?;
        Ok(Some(Modified { before, after }))
    }

    async fn link_target(&self, link: Uuid) -> Result<Option<crate::LinkTarget>> {
        let row = sqlx::query("SELECT profile_id, url, enabled FROM links WHERE id = ?")
            .bind(link.to_string())
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.map(|r| {
            Ok(crate::LinkTarget {
                profile: uuid(&r, "profile_id")?,
                url: r.try_get("url").db()?,
                enabled: r.try_get::<i64, _>("enabled").db()? != 0,
            })
        })
        .transpose()
    }

    async fn delete_profile(&self, which: ProfileRef<'_>) -> Result<Option<(Uuid, Username)>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.db()?;
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
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let deleted = row
            .map(|r| {
                Ok((
                    uuid(&r, "id")?,
                    Username::from_stored(r.try_get("username").db()?),
                ))
            })
            .transpose()?;
        // A deleted profile's analytics go with it; its deletion is announced.
        if let Some((id, username)) = &deleted {
            let now = now_millis();
            let gone = WebhookEvent::new(EventType::ProfileDeleted, now, *id, username, None);
            write_events(&mut tx, &[gone], millis(now)).await?;
            for table in ["analytics_rollups", "analytics_uniques"] {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE profile_id = ?"
                )))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .db()?;
            }
        }
        tx.commit().await.db()?;
        Ok(deleted)
    }
}

/// A query written with `$n` placeholders, as SQLite reads them (`?n`).
fn sqlite_params(sql: &str) -> String {
    sql.replace('$', "?")
}

fn rollup_rows(rows: Vec<SqliteRow>) -> Result<Vec<RollupRow>> {
    rows.iter()
        .map(|r| {
            Ok(RollupRow {
                bucket: r.try_get("bucket").db()?,
                dimension: r.try_get("dimension").db()?,
                value: r.try_get("value").db()?,
                human: r.try_get("human").db()?,
                bot: r.try_get("bot").db()?,
            })
        })
        .collect()
}

#[async_trait]
impl AnalyticsStore for SqliteStore {
    async fn ping_analytics(&self) -> Result<()> {
        sqlx::query("SELECT 1 FROM analytics_frames LIMIT 1")
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }

    async fn commit_window(&self, frames: Arc<Vec<FrameRollup>>) -> Result<WindowOutcome> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.db()?;
        let mut counted = Counted::new();
        for (source, (lo, hi)) in analytics::spans(&frames) {
            let rows = sqlx::query(
                "SELECT first_seq, last_seq FROM analytics_frames
                 WHERE source = ? AND last_seq >= ? AND first_seq <= ?",
            )
            .bind(source.to_string())
            .bind(lo as i64)
            .bind(hi as i64)
            .fetch_all(&mut *tx)
            .await
            .db()?;
            let ranges = rows
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get::<i64, _>("first_seq").db()? as u64,
                        r.try_get::<i64, _>("last_seq").db()? as u64,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            counted.insert(source, ranges);
        }
        let m = analytics::merge_aside(frames, counted).await?;
        for (k, c) in &m.counts {
            sqlx::query(
                "INSERT INTO analytics_rollups (profile_id, granularity, bucket, dimension, value, human, bot)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (profile_id, granularity, dimension, bucket, value)
                 DO UPDATE SET human = human + excluded.human, bot = bot + excluded.bot",
            )
            .bind(k.profile.to_string())
            .bind(k.bucket.code())
            .bind(k.start_ms)
            .bind(k.dimension.as_str())
            .bind(&k.value)
            .bind(c.human)
            .bind(c.bot)
            .execute(&mut *tx)
            .await
            .db()?;
        }
        for (link, n) in &m.link_clicks {
            sqlx::query("UPDATE links SET click_count = click_count + ? WHERE id = ?")
                .bind(n)
                .bind(link.to_string())
                .execute(&mut *tx)
                .await
                .db()?;
        }
        for ((profile, day), fresh) in &m.visitors {
            let old: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT sketch FROM analytics_uniques WHERE profile_id = ? AND day = ?",
            )
            .bind(profile.to_string())
            .bind(day)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
            let mut sketch = old
                .and_then(|b| Sketch::from_bytes(&b).ok())
                .unwrap_or_default();
            sketch.merge(fresh);
            sqlx::query(
                "INSERT INTO analytics_uniques (profile_id, day, sketch) VALUES (?, ?, ?)
                 ON CONFLICT (profile_id, day) DO UPDATE SET sketch = excluded.sketch",
            )
            .bind(profile.to_string())
            .bind(day)
            .bind(sketch.to_bytes())
            .execute(&mut *tx)
            .await
            .db()?;
        }
        let now = millis(now_millis());
        for (source, ranges) in &m.ranges {
            for (a, b) in ranges {
                let extended = sqlx::query(
                    "UPDATE analytics_frames SET last_seq = ?, committed_at = ?
                     WHERE source = ? AND last_seq = ?",
                )
                .bind(*b as i64)
                .bind(now)
                .bind(source.to_string())
                .bind(*a as i64 - 1)
                .execute(&mut *tx)
                .await
                .db()?;
                if extended.rows_affected() == 0 {
                    sqlx::query(
                        "INSERT INTO analytics_frames (source, first_seq, last_seq, committed_at)
                         VALUES (?, ?, ?, ?)",
                    )
                    .bind(source.to_string())
                    .bind(*a as i64)
                    .bind(*b as i64)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .db()?;
                }
            }
        }
        tx.commit().await.db()?;
        Ok(m.outcome)
    }

    async fn report(&self, profile: Uuid, q: &AnalyticsQuery) -> Result<AnalyticsReport> {
        let mut tx = self.pool.begin().await.db()?;
        let mut parts: [Vec<RollupRow>; 3] = Default::default();
        for (k, part) in ReportPart::ALL.into_iter().enumerate() {
            let pieces = part.pieces(q);
            let sql = part.sql(pieces.len());
            let mut query =
                sqlx::query(sqlx::AssertSqlSafe(sqlite_params(&sql))).bind(profile.to_string());
            for (bucket, from, to) in pieces {
                query = query.bind(bucket.code()).bind(from).bind(to);
            }
            parts[k] = rollup_rows(query.fetch_all(&mut *tx).await.db()?)?;
        }
        let [series, links, breakdown] = parts;
        let sketches: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT sketch FROM analytics_uniques WHERE profile_id = ? AND day >= ? AND day < ?",
        )
        .bind(profile.to_string())
        .bind(analytics::day_of(q.from_ms))
        .bind(analytics::day_of(q.to_ms + Bucket::Day.millis() - 1))
        .fetch_all(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(analytics::assemble(
            profile, q, series, links, breakdown, sketches,
        ))
    }

    async fn salt(&self, day: i64) -> Result<[u8; 16]> {
        sqlx::query("INSERT INTO visitor_salts (day, salt) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(day)
            .bind(Uuid::new_v4().as_bytes().to_vec())
            .execute(&self.pool)
            .await
            .db()?;
        let salt: Vec<u8> = sqlx::query_scalar("SELECT salt FROM visitor_salts WHERE day = ?")
            .bind(day)
            .fetch_one(&self.pool)
            .await
            .db()?;
        salt.try_into()
            .map_err(|_| StoreError::Corrupt(format!("the salt of day {day}")))
    }

    async fn forget_salts_before(&self, day: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM visitor_salts WHERE day < ?")
            .bind(day)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(done.rows_affected())
    }

    async fn prune(&self, now_ms: i64) -> Result<u64> {
        let mut n = 0;
        for (granularity, keep) in [
            (Bucket::Minute.code(), analytics::KEEP_MINUTES_MS),
            (Bucket::Hour.code(), analytics::KEEP_HOURS_MS),
        ] {
            n += sqlx::query("DELETE FROM analytics_rollups WHERE granularity = ? AND bucket < ?")
                .bind(granularity)
                .bind(now_ms - keep)
                .execute(&self.pool)
                .await
                .db()?
                .rows_affected();
        }
        n += sqlx::query("DELETE FROM analytics_frames WHERE committed_at < ?")
            .bind(now_ms - analytics::KEEP_FRAMES_MS)
            .execute(&self.pool)
            .await
            .db()?
            .rows_affected();
        Ok(n)
    }
}

fn key_from_row(r: &SqliteRow) -> Result<ApiKeyRecord> {
    let scopes: String = r.try_get("scopes").db()?;
    Ok(ApiKeyRecord {
        id: uuid(r, "id")?,
        name: r.try_get("name").db()?,
        prefix: r.try_get("prefix").db()?,
        digest: r.try_get("digest").db()?,
        scopes: Scopes::parse(&scopes).map_err(StoreError::Corrupt)?,
        created_at: from_millis(r.try_get("created_at").db()?)?,
        revoked_at: r
            .try_get::<Option<i64>, _>("revoked_at")
            .db()?
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
        .await
        .db()?;
        Ok(())
    }

    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>> {
        let row = sqlx::query(
            "SELECT id, name, prefix, digest, scopes, created_at, revoked_at FROM api_keys WHERE prefix = ?",
        )
            .bind(prefix)
            .fetch_optional(&self.pool)
        .await
        .db()?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, prefix, digest, scopes, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
        )
            .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_key(&self, id_or_prefix: &str, at: OffsetDateTime) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = ?1 WHERE (id = ?2 OR prefix = ?2) AND revoked_at IS NULL",
        )
        .bind(millis(at))
        .bind(id_or_prefix)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_database_and_its_wal_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("p.db");
        // an older version's world-readable file is closed down too
        let old = dir.path().join("old.db");
        std::fs::write(&old, b"").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        for path in [&db, &old] {
            let s = SqliteStore::open(
                &format!("sqlite://{}", path.display()),
                &StoreOptions::default(),
            )
            .await
            .unwrap();
            ProfileStore::migrate(&s).await.unwrap();
            for suffix in ["", "-wal", "-shm"] {
                let f = format!("{}{suffix}", path.display());
                let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{f}: {mode:o}");
            }
        }
    }

    /// The migration computes skeletons in SQL for names stored before it; they must be the
    /// ones the code computes for new names.
    #[tokio::test]
    async fn the_migration_computes_skeletons_as_the_code_does() {
        let store = SqliteStore::open("sqlite::memory:", &StoreOptions::default())
            .await
            .unwrap();
        let expr = include_str!("../migrations/sqlite/0002_username_skeleton.sql")
            .split("UPDATE profiles SET username_skeleton =")
            .nth(1)
            .and_then(|r| r.split(';').next())
            .unwrap()
            .trim()
            .replace("username", "?1");
        for name in [
            "paypal",
            "paypaI",
            "PayPa1",
            "rnicrosoft",
            "RNicrosoft",
            "vvikipedia",
            "VViki",
            "Ian",
            "ian",
            "l0l0_I1.rn",
            "a_b.c",
            "rrnn",
            "vvv",
            "ZzZ09",
        ] {
            // the expression is our own migration text, not input
            let sql: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {expr}")))
                .bind(name)
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(sql, linkleaf_domain::username::skeleton(name), "{name}");
        }
    }
}
