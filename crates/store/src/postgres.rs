//! The PostgreSQL store: for production and for several instances sharing one database.
//!
//! Behaves as the SQLite store does (the conformance story proves it): read-apply-write runs in
//! one transaction holding the profile's row lock (`SELECT ... FOR UPDATE`), so concurrent
//! edits of one profile queue and none is lost; usernames are unique by their lowercase key and
//! their look-alike skeleton (two unique constraints, whose names tell which was violated).
//! With `read_url`, public reads by username and listings go to a replica pool; writes,
//! read-apply-write and reads asked of the primary (`ReadFrom::Primary`) never do.

use crate::analytics::ReportPart;
use crate::analytics::{self, AnalyticsStore, Counted, RollupRow};
use crate::postgres_webhooks::write_events;
use crate::{
    ApiKeyRecord, Change, Db, KeyStore, Modified, ModifyError, OpenError, ProfileRef, ProfileStore,
    ProfileSummary, ReadFrom, Result, StoreError, StoreOptions, map_sqlx, millis,
};
use async_trait::async_trait;
use linkleaf_domain::analytics::{
    AnalyticsQuery, AnalyticsReport, Bucket, FrameRollup, WindowOutcome,
};
use linkleaf_domain::sketch::Sketch;
use linkleaf_domain::webhook::{EventType, WebhookEvent};
use linkleaf_domain::{Link, Profile, Scopes, Theme, Username, now_millis};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Row, SqlSafeStr};
use std::str::FromStr;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// What a PostgreSQL SQLSTATE means: connection exceptions (08), a transaction rolled back as a
/// serialization failure or deadlock (40), insufficient resources such as a full disk (53),
/// operator intervention such as a terminated backend, a shutdown or a statement timeout (57)
/// and system errors (58) are the server's state; data exceptions (22) and integrity constraint
/// violations (23) are the data's.
pub(crate) fn classify(code: &str) -> crate::ErrorClass {
    match code.get(..2) {
        Some("08" | "40" | "53" | "57" | "58") => crate::ErrorClass::Unavailable,
        Some("22" | "23") => crate::ErrorClass::Refused,
        _ => crate::ErrorClass::Other,
    }
}

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "analytics",
        include_str!("../migrations/postgres/0002_analytics.sql"),
    ),
    (
        3,
        "webhooks",
        include_str!("../migrations/postgres/0003_webhooks.sql"),
    ),
];

pub struct PostgresStore {
    pub(crate) pool: PgPool,
    /// The replica, when one is configured.
    read_pool: Option<PgPool>,
}

async fn pool(url: &str, opts: &StoreOptions) -> std::result::Result<PgPool, OpenError> {
    let connect = PgConnectOptions::from_str(url)
        .map_err(|e| OpenError::Connect(e.to_string()))?
        .options([(
            "statement_timeout",
            opts.statement_timeout.as_millis().to_string(),
        )])
        .application_name("linkleaf");
    PgPoolOptions::new()
        .max_connections(opts.max_connections)
        .acquire_timeout(opts.acquire_timeout)
        .connect_with(connect)
        .await
        .map_err(|e| OpenError::Connect(e.to_string()))
}

impl PostgresStore {
    pub async fn open(url: &str, opts: &StoreOptions) -> std::result::Result<Self, OpenError> {
        let primary = pool(url, opts).await?;
        let read_pool = match &opts.read_url {
            Some(r) if !r.is_empty() => Some(pool(r, opts).await?),
            _ => None,
        };
        Ok(Self {
            pool: primary,
            read_pool,
        })
    }

    fn reader(&self, from: ReadFrom) -> &PgPool {
        match (from, &self.read_pool) {
            (ReadFrom::Replica, Some(r)) => r,
            _ => &self.pool,
        }
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

/// What a failed write of a profile's name means: the key is taken, or the skeleton is (the
/// existing name is then looked up, to say which one it resembles), or something else.
async fn name_conflict(pool: &PgPool, e: sqlx::Error, name: &Username) -> StoreError {
    let constraint = match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            d.constraint().unwrap_or_default().to_owned()
        }
        _ => return map_sqlx(e),
    };
    match constraint.as_str() {
        "profiles_username_key_unique" => StoreError::UsernameTaken,
        "profiles_username_skeleton_unique" => {
            let existing: Option<String> =
                sqlx::query_scalar("SELECT username FROM profiles WHERE username_skeleton = $1")
                    .bind(name.skeleton())
                    .fetch_optional(pool)
                    .await
                    .ok()
                    .flatten();
            match existing {
                Some(x) if x.eq_ignore_ascii_case(name.as_str()) => StoreError::UsernameTaken,
                Some(x) => StoreError::UsernameConfusable(x),
                None => StoreError::UsernameTaken,
            }
        }
        _ => StoreError::Other(e.to_string()),
    }
}

fn link_from_row(row: &PgRow) -> Result<Link> {
    Ok(Link {
        id: row.try_get("id").db()?,
        title: row.try_get("title").db()?,
        url: row.try_get("url").db()?,
        position: row.try_get::<i32, _>("position").db()?.max(0) as u32,
        click_count: row.try_get::<i64, _>("click_count").db()?.max(0) as u64,
        enabled: row.try_get("enabled").db()?,
    })
}

const PROFILE_COLUMNS: &str =
    "id, username, display_name, bio, avatar_url, theme::text AS theme, version, updated_at";

/// Reads one profile and its links on one connection; with `lock`, takes the profile's row
/// lock first (read-apply-write).
async fn read_profile(
    conn: &mut PgConnection,
    which: &ProfileRef<'_>,
    lock: bool,
) -> Result<Option<Profile>> {
    let suffix = if lock { " FOR UPDATE" } else { "" };
    let row = match which {
        ProfileRef::Id(id) => sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PROFILE_COLUMNS} FROM profiles WHERE id = $1{suffix}"
        )))
        .bind(*id),
        ProfileRef::Key(key) => sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PROFILE_COLUMNS} FROM profiles WHERE username_key = $1{suffix}"
        )))
        .bind(key.as_ref()),
    }
    .fetch_optional(&mut *conn)
    .await
    .db()?;
    let Some(row) = row else { return Ok(None) };
    let id: Uuid = row.try_get("id").db()?;
    let theme: String = row.try_get("theme").db()?;
    let theme: Theme = serde_json::from_str(&theme)
        .map_err(|e| StoreError::Corrupt(format!("theme of {id}: {e}")))?;
    let links = sqlx::query(
        "SELECT id, title, url, position, enabled, click_count FROM links
         WHERE profile_id = $1 ORDER BY position",
    )
    .bind(id)
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
        last_modified: row.try_get("updated_at").db()?,
        version: row.try_get("version").db()?,
    }))
}

/// Makes the profile's links the given ones: removes the others, then inserts or updates these
/// in one statement (click counters are left as they are).
async fn write_links(conn: &mut PgConnection, profile: Uuid, links: &[Link]) -> Result<()> {
    let ids: Vec<Uuid> = links.iter().map(|l| l.id).collect();
    sqlx::query("DELETE FROM links WHERE profile_id = $1 AND NOT (id = ANY($2))")
        .bind(profile)
        .bind(&ids)
        .execute(&mut *conn)
        .await
        .db()?;
    if links.is_empty() {
        return Ok(());
    }
    let positions: Vec<i32> = links.iter().map(|l| l.position as i32).collect();
    let titles: Vec<&str> = links.iter().map(|l| l.title.as_str()).collect();
    let urls: Vec<&str> = links.iter().map(|l| l.url.as_str()).collect();
    let enabled: Vec<bool> = links.iter().map(|l| l.enabled).collect();
    sqlx::query(
        "INSERT INTO links (id, profile_id, position, title, url, enabled)
         SELECT l.id, $2, l.position, l.title, l.url, l.enabled
         FROM UNNEST($1::uuid[], $3::int[], $4::text[], $5::text[], $6::bool[])
              AS l(id, position, title, url, enabled)
         ON CONFLICT (id) DO UPDATE SET position = excluded.position, title = excluded.title,
            url = excluded.url, enabled = excluded.enabled
         WHERE links.profile_id = excluded.profile_id",
    )
    .bind(&ids)
    .bind(profile)
    .bind(&positions)
    .bind(&titles)
    .bind(&urls)
    .bind(&enabled)
    .execute(&mut *conn)
    .await
    .db()?;
    Ok(())
}

fn theme_json(p: &Profile) -> Result<String> {
    serde_json::to_string(&p.theme).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl ProfileStore for PostgresStore {
    async fn migrate(&self) -> Result<()> {
        Self::migrator()
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Other(format!("migrating: {e}")))
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.db()?;
        if let Some(r) = &self.read_pool {
            sqlx::query("SELECT 1")
                .execute(r)
                .await
                .map_err(|e| StoreError::Unavailable(format!("replica: {e}")))?;
        }
        Ok(())
    }

    async fn profile_by_username(&self, key: &str, from: ReadFrom) -> Result<Option<Profile>> {
        // One transaction so the profile and its links are one snapshot.
        let mut tx = self.reader(from).begin().await.db()?;
        let p = read_profile(&mut tx, &ProfileRef::Key(key.into()), false).await?;
        tx.commit().await.db()?;
        Ok(p)
    }

    async fn profile_by_id(&self, id: Uuid) -> Result<Option<Profile>> {
        let mut tx = self.pool.begin().await.db()?;
        let p = read_profile(&mut tx, &ProfileRef::Id(id), false).await?;
        tx.commit().await.db()?;
        Ok(p)
    }

    async fn list_profiles(&self, after: Option<&str>, limit: u32) -> Result<Vec<ProfileSummary>> {
        let rows = sqlx::query(
            "SELECT p.id, p.username, p.display_name, p.updated_at,
                    (SELECT count(*) FROM links l WHERE l.profile_id = p.id) AS link_count
             FROM profiles p WHERE ($1::text IS NULL OR p.username_key > $1)
             ORDER BY p.username_key LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.reader(ReadFrom::Replica))
        .await
        .db()?;
        rows.iter()
            .map(|r| {
                Ok(ProfileSummary {
                    id: r.try_get("id").db()?,
                    username: Username::from_stored(r.try_get("username").db()?),
                    display_name: r.try_get("display_name").db()?,
                    link_count: r.try_get::<i64, _>("link_count").db()?.max(0) as u32,
                    last_modified: r.try_get("updated_at").db()?,
                })
            })
            .collect()
    }

    async fn create_profile(&self, p: &Profile) -> Result<Profile> {
        let mut tx = self.pool.begin().await.db()?;
        let inserted = sqlx::query(
            "INSERT INTO profiles (id, username, username_key, username_skeleton, display_name,
                                   bio, avatar_url, theme, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, 1, $9, $9)",
        )
        .bind(p.id)
        .bind(p.username.as_str())
        .bind(p.username.key())
        .bind(p.username.skeleton())
        .bind(&p.display_name)
        .bind(&p.bio)
        .bind(&p.avatar_url)
        .bind(theme_json(p)?)
        .bind(p.last_modified)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            drop(tx);
            return Err(name_conflict(&self.pool, e, &p.username).await);
        }
        write_links(&mut tx, p.id, &p.links).await?;
        let stored = read_profile(&mut tx, &ProfileRef::Id(p.id), false)
            .await?
            .ok_or(StoreError::NotFound)?;
        let created = WebhookEvent::new(
            EventType::ProfileCreated,
            stored.last_modified,
            stored.id,
            &stored.username,
            None,
        );
        write_events(&mut tx, &[created], millis(stored.last_modified)).await?;
        tx.commit().await.db()?;
        Ok(stored)
    }

    async fn modify_profile(
        &self,
        which: ProfileRef<'_>,
        change: Change<'_>,
    ) -> Result<Option<Modified>, ModifyError> {
        let mut tx = self.pool.begin().await.db()?;
        // The row lock: concurrent modifications of this profile wait here.
        let Some(before) = read_profile(&mut tx, &which, true).await? else {
            return Ok(None);
        };
        let next = change(&before).map_err(ModifyError::Invalid)?;
        if next == before {
            return Ok(Some(Modified {
                after: before.clone(),
                before,
            }));
        }
        let updated = sqlx::query(
            "UPDATE profiles SET username = $1, username_key = $2, username_skeleton = $3,
                    display_name = $4, bio = $5, avatar_url = $6, theme = $7::jsonb,
                    version = version + 1, updated_at = $8
             WHERE id = $9",
        )
        .bind(next.username.as_str())
        .bind(next.username.key())
        .bind(next.username.skeleton())
        .bind(&next.display_name)
        .bind(&next.bio)
        .bind(&next.avatar_url)
        .bind(theme_json(&next)?)
        .bind(now_millis())
        .bind(before.id)
        .execute(&mut *tx)
        .await;
        if let Err(e) = updated {
            drop(tx);
            return Err(name_conflict(&self.pool, e, &next.username).await.into());
        }
        write_links(&mut tx, before.id, &next.links).await?;
        let after = read_profile(&mut tx, &ProfileRef::Id(before.id), false)
            .await?
            .ok_or(StoreError::NotFound)?;
        let events = WebhookEvent::of_change(&before, &after, after.last_modified);
        write_events(&mut tx, &events, millis(after.last_modified)).await?;
        tx.commit().await.db()?;
        Ok(Some(Modified { before, after }))
    }

    async fn link_target(&self, link: Uuid) -> Result<Option<crate::LinkTarget>> {
        let row = sqlx::query("SELECT profile_id, url, enabled FROM links WHERE id = $1")
            .bind(link)
            .fetch_optional(self.reader(ReadFrom::Replica))
            .await
            .db()?;
        row.map(|r| {
            Ok(crate::LinkTarget {
                profile: r.try_get("profile_id").db()?,
                url: r.try_get("url").db()?,
                enabled: r.try_get("enabled").db()?,
            })
        })
        .transpose()
    }

    async fn delete_profile(&self, which: ProfileRef<'_>) -> Result<Option<(Uuid, Username)>> {
        let mut tx = self.pool.begin().await.db()?;
        let row = match which {
            ProfileRef::Id(id) => {
                sqlx::query("DELETE FROM profiles WHERE id = $1 RETURNING id, username").bind(id)
            }
            ProfileRef::Key(key) => {
                sqlx::query("DELETE FROM profiles WHERE username_key = $1 RETURNING id, username")
                    .bind(key.into_owned())
            }
        }
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let deleted: Option<(Uuid, Username)> = row
            .map(|r| {
                Ok((
                    r.try_get("id").db()?,
                    Username::from_stored(r.try_get("username").db()?),
                ))
            })
            .transpose()?;
        // A deleted profile's analytics go with it; its deletion is announced.
        if let Some((id, username)) = &deleted {
            let now = now_millis();
            let gone = WebhookEvent::new(EventType::ProfileDeleted, now, *id, username, None);
            write_events(&mut tx, &[gone], millis(now)).await?;
            sqlx::query("DELETE FROM analytics_rollups WHERE profile_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .db()?;
            sqlx::query("DELETE FROM analytics_uniques WHERE profile_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .db()?;
        }
        tx.commit().await.db()?;
        Ok(deleted)
    }
}

fn rollup_rows(rows: Vec<PgRow>) -> Result<Vec<RollupRow>> {
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
impl AnalyticsStore for PostgresStore {
    async fn ping_analytics(&self) -> Result<()> {
        sqlx::query("SELECT 1 FROM analytics_frames LIMIT 1")
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }

    async fn commit_window(&self, frames: Arc<Vec<FrameRollup>>) -> Result<WindowOutcome> {
        let mut tx = self.pool.begin().await.db()?;
        let mut counted = Counted::new();
        for (source, (lo, hi)) in analytics::spans(&frames) {
            // the source's ranges are locked, so two consumers cannot both count a frame
            let rows = sqlx::query(
                "SELECT first_seq, last_seq FROM analytics_frames
                 WHERE source = $1 AND last_seq >= $2 AND first_seq <= $3 FOR UPDATE",
            )
            .bind(source)
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
        if !m.counts.is_empty() {
            let mut profiles = Vec::with_capacity(m.counts.len());
            let (mut granularity, mut bucket, mut dimension, mut value, mut human, mut bot) =
                (vec![], vec![], vec![], vec![], vec![], vec![]);
            for (k, c) in &m.counts {
                profiles.push(k.profile);
                granularity.push(k.bucket.code());
                bucket.push(k.start_ms);
                dimension.push(k.dimension.as_str());
                value.push(k.value.as_str());
                human.push(c.human);
                bot.push(c.bot);
            }
            sqlx::query(
                "INSERT INTO analytics_rollups (profile_id, granularity, bucket, dimension, value, human, bot)
                 SELECT * FROM UNNEST($1::uuid[], $2::smallint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
                 ON CONFLICT (profile_id, granularity, dimension, bucket, value)
                 DO UPDATE SET human = analytics_rollups.human + excluded.human,
                               bot = analytics_rollups.bot + excluded.bot",
            )
            .bind(&profiles)
            .bind(&granularity)
            .bind(&bucket)
            .bind(&dimension)
            .bind(&value)
            .bind(&human)
            .bind(&bot)
            .execute(&mut *tx)
            .await
            .db()?;
        }
        if !m.link_clicks.is_empty() {
            let (ids, counts): (Vec<Uuid>, Vec<i64>) =
                m.link_clicks.iter().map(|(l, n)| (*l, *n)).unzip();
            sqlx::query(
                "UPDATE links SET click_count = links.click_count + c.n
                 FROM UNNEST($1::uuid[], $2::bigint[]) AS c(id, n) WHERE links.id = c.id",
            )
            .bind(&ids)
            .bind(&counts)
            .execute(&mut *tx)
            .await
            .db()?;
        }
        for ((profile, day), fresh) in &m.visitors {
            let old: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT sketch FROM analytics_uniques WHERE profile_id = $1 AND day = $2 FOR UPDATE",
            )
            .bind(profile)
            .bind(day)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
            let mut sketch = old
                .and_then(|b| Sketch::from_bytes(&b).ok())
                .unwrap_or_default();
            sketch.merge(fresh);
            sqlx::query(
                "INSERT INTO analytics_uniques (profile_id, day, sketch) VALUES ($1, $2, $3)
                 ON CONFLICT (profile_id, day) DO UPDATE SET sketch = excluded.sketch",
            )
            .bind(profile)
            .bind(day)
            .bind(sketch.to_bytes())
            .execute(&mut *tx)
            .await
            .db()?;
        }
        let now = crate::millis(now_millis());
        for (source, ranges) in &m.ranges {
            for (a, b) in ranges {
                let extended = sqlx::query(
                    "UPDATE analytics_frames SET last_seq = $1, committed_at = $2
                     WHERE source = $3 AND last_seq = $4",
                )
                .bind(*b as i64)
                .bind(now)
                .bind(source)
                .bind(*a as i64 - 1)
                .execute(&mut *tx)
                .await
                .db()?;
                if extended.rows_affected() == 0 {
                    sqlx::query(
                        "INSERT INTO analytics_frames (source, first_seq, last_seq, committed_at)
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(source)
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
        let pool = self.reader(ReadFrom::Replica);
        let mut parts: [Vec<RollupRow>; 3] = Default::default();
        for (k, part) in ReportPart::ALL.into_iter().enumerate() {
            let pieces = part.pieces(q);
            let sql = part.sql(pieces.len());
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(profile);
            for (bucket, from, to) in pieces {
                query = query.bind(bucket.code()).bind(from).bind(to);
            }
            parts[k] = rollup_rows(query.fetch_all(pool).await.db()?)?;
        }
        let [series, links, breakdown] = parts;
        let sketches: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT sketch FROM analytics_uniques WHERE profile_id = $1 AND day >= $2 AND day < $3",
        )
        .bind(profile)
        .bind(analytics::day_of(q.from_ms))
        .bind(analytics::day_of(q.to_ms + Bucket::Day.millis() - 1))
        .fetch_all(pool)
        .await
        .db()?;
        Ok(analytics::assemble(
            profile, q, series, links, breakdown, sketches,
        ))
    }

    async fn salt(&self, day: i64) -> Result<[u8; 16]> {
        sqlx::query("INSERT INTO visitor_salts (day, salt) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(day)
            .bind(Uuid::new_v4().as_bytes().to_vec())
            .execute(&self.pool)
            .await
            .db()?;
        let salt: Vec<u8> = sqlx::query_scalar("SELECT salt FROM visitor_salts WHERE day = $1")
            .bind(day)
            .fetch_one(&self.pool)
            .await
            .db()?;
        salt.try_into()
            .map_err(|_| StoreError::Corrupt(format!("the salt of day {day}")))
    }

    async fn forget_salts_before(&self, day: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM visitor_salts WHERE day < $1")
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
            n +=
                sqlx::query("DELETE FROM analytics_rollups WHERE granularity = $1 AND bucket < $2")
                    .bind(granularity)
                    .bind(now_ms - keep)
                    .execute(&self.pool)
                    .await
                    .db()?
                    .rows_affected();
        }
        n += sqlx::query("DELETE FROM analytics_frames WHERE committed_at < $1")
            .bind(now_ms - analytics::KEEP_FRAMES_MS)
            .execute(&self.pool)
            .await
            .db()?
            .rows_affected();
        Ok(n)
    }
}

fn key_from_row(r: &PgRow) -> Result<ApiKeyRecord> {
    let scopes: String = r.try_get("scopes").db()?;
    Ok(ApiKeyRecord {
        id: r.try_get("id").db()?,
        name: r.try_get("name").db()?,
        prefix: r.try_get("prefix").db()?,
        digest: r.try_get("digest").db()?,
        scopes: Scopes::parse(&scopes).map_err(StoreError::Corrupt)?,
        created_at: r.try_get("created_at").db()?,
        revoked_at: r.try_get::<Option<OffsetDateTime>, _>("revoked_at").db()?,
    })
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn insert_key(&self, k: &ApiKeyRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, prefix, digest, scopes, created_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(k.id)
        .bind(&k.name)
        .bind(&k.prefix)
        .bind(&k.digest)
        .bind(k.scopes.to_string())
        .bind(k.created_at)
        .bind(k.revoked_at)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(())
    }

    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>> {
        let row = sqlx::query(
            "SELECT id, name, prefix, digest, scopes, created_at, revoked_at FROM api_keys
             WHERE prefix = $1",
        )
        .bind(prefix)
        .fetch_optional(&self.pool)
        .await
        .db()?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, prefix, digest, scopes, created_at, revoked_at FROM api_keys
             ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_key(&self, id_or_prefix: &str, at: OffsetDateTime) -> Result<bool> {
        let id = Uuid::try_parse(id_or_prefix).ok();
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1
             WHERE (id = $2 OR prefix = $3) AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(id)
        .bind(id_or_prefix)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(done.rows_affected() > 0)
    }
}
