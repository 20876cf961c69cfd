//! The PostgreSQL backend: for production and for several instances sharing one database, with
//! an optional read replica for public reads and listings (writes, read-apply-write and reads
//! asked of the primary never go there). Ids are `uuid`, times `timestamptz` or unix
//! milliseconds as the schema says. What it does that SQLite does differently: opening (a pool
//! per server, a statement timeout), its SQLSTATE classes, and writing many rows in one
//! statement (`UNNEST` of arrays). Must not: hold a statement of the model's own (they are in
//! `sql/`).

use crate::error::{ErrorClass, OpenError};
use crate::options::StoreOptions;
use crate::profiles::ReadFrom;
use crate::seam::{Got, RollupAdd, Row, Stmt, Val, Want};
use linkleaf_domain::Link;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres as Pg};
use std::str::FromStr;
use uuid::Uuid;

pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "analytics",
        include_str!("../../migrations/postgres/0002_analytics.sql"),
    ),
    (
        3,
        "webhooks",
        include_str!("../../migrations/postgres/0003_webhooks.sql"),
    ),
    (
        4,
        "heartbeat",
        include_str!("../../migrations/postgres/0004_heartbeat.sql"),
    ),
    (
        5,
        "webhook fan-out",
        include_str!("../../migrations/postgres/0005_webhook_fanout.sql"),
    ),
    (
        6,
        "link counted_at",
        include_str!("../../migrations/postgres/0006_link_counted_at.sql"),
    ),
    (
        7,
        "accounts",
        include_str!("../../migrations/postgres/0007_accounts.sql"),
    ),
    (
        8,
        "access per profile",
        include_str!("../../migrations/postgres/0008_access.sql"),
    ),
    (
        9,
        "profile history",
        include_str!("../../migrations/postgres/0009_history.sql"),
    ),
    (
        10,
        "passkeys",
        include_str!("../../migrations/postgres/0010_passkeys.sql"),
    ),
    (
        11,
        "schedules and time zones",
        include_str!("../../migrations/postgres/0011_schedules_and_zones.sql"),
    ),
];

pub(crate) struct Postgres {
    pub(crate) pool: PgPool,
    /// The replica, when one is configured.
    pub(crate) read_pool: Option<PgPool>,
}

/// What a PostgreSQL SQLSTATE means: a lock not available (55P03), a serialization failure or
/// deadlock (40001, 40P01) is load; connection exceptions (08), other rollbacks (40),
/// insufficient resources such as a full disk (53), operator intervention such as a terminated
/// backend, a shutdown or a statement timeout (57) and system errors (58) are the server's
/// state; data exceptions (22) and integrity constraint violations (23) are the data's.
pub(crate) fn classify(code: &str) -> ErrorClass {
    match code {
        "55P03" | "40001" | "40P01" => ErrorClass::Busy,
        _ => match code.get(..2) {
            Some("08" | "40" | "53" | "57" | "58") => ErrorClass::Unavailable,
            Some("22" | "23") => ErrorClass::Refused,
            _ => ErrorClass::Other,
        },
    }
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
        // A connection whose COMMIT or ROLLBACK failed half-way is closed, not pooled (one
        // whose server went away fails the pool's own check after this).
        .after_release(|conn, _| {
            Box::pin(async move {
                let clean = !conn.is_in_transaction();
                if !clean {
                    tracing::warn!(
                        "a database connection still inside a failed transaction is closed"
                    );
                }
                Ok(clean)
            })
        })
        .connect_with(connect)
        .await
        .map_err(|e| OpenError::Connect(e.to_string()))
}

impl Postgres {
    pub(crate) async fn open(url: &str, opts: &StoreOptions) -> Result<Self, OpenError> {
        let primary = pool(url, opts).await?;
        let read_pool = match &opts.read_url {
            Some(r) if !r.expose().is_empty() => Some(pool(r.expose(), opts).await?),
            _ => None,
        };
        Ok(Self {
            pool: primary,
            read_pool,
        })
    }

    pub(crate) fn reader(&self, from: ReadFrom) -> &PgPool {
        match (from, &self.read_pool) {
            (ReadFrom::Replica, Some(r)) => r,
            _ => &self.pool,
        }
    }

    pub(crate) fn migrator() -> Migrator {
        crate::seam::migrator(MIGRATIONS)
    }
}

type Query<'q> = sqlx::query::Query<'q, Pg, PgArguments>;

fn bind(q: Query<'_>, v: Val) -> Query<'_> {
    match v {
        Val::Int(n) => q.bind(n),
        Val::OptInt(n) => q.bind(n),
        Val::Text(s) => q.bind(s),
        Val::OptText(s) => q.bind(s),
        Val::Bytes(b) => q.bind(b),
        Val::Id(id) => q.bind(id),
        Val::OptId(id) => q.bind(id),
        Val::Bool(b) => q.bind(b),
        Val::Time(t) => q.bind(t),
        Val::OptTime(t) => q.bind(t),
        Val::Ids(ids) => q.bind(ids),
        Val::Texts(s) => q.bind(s),
    }
}

/// Runs a statement on a pool or a transaction's connection.
pub(crate) async fn run<'c, E>(ex: E, stmt: Stmt<'_>, want: Want) -> sqlx::Result<Got>
where
    E: sqlx::Executor<'c, Database = Pg>,
{
    let mut q = sqlx::query(sqlx::AssertSqlSafe(stmt.sql.into_owned()));
    for v in stmt.args {
        q = bind(q, v);
    }
    crate::seam::fetch(ex, q, want, Row::Postgres, |r| r.rows_affected()).await
}

/// Makes the profile's links the given ones: removes the others, then inserts or updates these
/// in one statement (click counters are left as they are).
pub(crate) async fn write_links(
    conn: &mut PgConnection,
    profile: Uuid,
    links: &[Link],
) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = links.iter().map(|l| l.id).collect();
    sqlx::query("DELETE FROM links WHERE profile_id = $1 AND NOT (id = ANY($2))")
        .bind(profile)
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    if links.is_empty() {
        return Ok(());
    }
    let positions: Vec<i32> = links.iter().map(|l| l.position as i32).collect();
    let titles: Vec<&str> = links.iter().map(|l| l.title.as_str()).collect();
    let urls: Vec<&str> = links.iter().map(|l| l.url.as_str()).collect();
    let enabled: Vec<bool> = links.iter().map(|l| l.enabled).collect();
    let ms = |t: Option<time::OffsetDateTime>| t.map(linkleaf_domain::unix_millis);
    let from: Vec<Option<i64>> = links.iter().map(|l| ms(l.visible_from)).collect();
    let until: Vec<Option<i64>> = links.iter().map(|l| ms(l.visible_until)).collect();
    sqlx::query(
        "INSERT INTO links (id, profile_id, position, title, url, enabled, visible_from,
                            visible_until)
         SELECT l.id, $2, l.position, l.title, l.url, l.enabled, l.visible_from, l.visible_until
         FROM UNNEST($1::uuid[], $3::int[], $4::text[], $5::text[], $6::bool[], $7::bigint[],
                     $8::bigint[])
              AS l(id, position, title, url, enabled, visible_from, visible_until)
         ON CONFLICT (id) DO UPDATE SET position = excluded.position, title = excluded.title,
            url = excluded.url, enabled = excluded.enabled,
            visible_from = excluded.visible_from, visible_until = excluded.visible_until
         WHERE links.profile_id = excluded.profile_id",
    )
    .bind(&ids)
    .bind(profile)
    .bind(&positions)
    .bind(&titles)
    .bind(&urls)
    .bind(&enabled)
    .bind(&from)
    .bind(&until)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Adds counts to rollup rows, in one statement.
pub(crate) async fn add_rollups(
    conn: &mut PgConnection,
    rows: &[RollupAdd<'_>],
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut profiles = Vec::with_capacity(rows.len());
    let (mut granularity, mut bucket, mut dimension, mut value, mut human, mut bot) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for r in rows {
        profiles.push(r.profile);
        granularity.push(r.granularity);
        bucket.push(r.bucket);
        dimension.push(r.dimension);
        value.push(r.value);
        human.push(r.human);
        bot.push(r.bot);
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
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Adds people's clicks to links' counters, in one statement.
pub(crate) async fn add_link_clicks(
    conn: &mut PgConnection,
    clicks: &[(Uuid, i64)],
) -> sqlx::Result<()> {
    if clicks.is_empty() {
        return Ok(());
    }
    let (ids, counts): (Vec<Uuid>, Vec<i64>) = clicks.iter().copied().unzip();
    sqlx::query(
        "UPDATE links SET click_count = links.click_count + c.n, counted_at = $3
         FROM UNNEST($1::uuid[], $2::bigint[]) AS c(id, n) WHERE links.id = c.id",
    )
    .bind(&ids)
    .bind(&counts)
    .bind(linkleaf_domain::unix_millis(linkleaf_domain::now_millis()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
