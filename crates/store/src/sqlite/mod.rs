//! The SQLite backend: the embedded default. One file, WAL mode (readers never wait for the
//! writer), writes in `BEGIN IMMEDIATE` transactions so two writers queue instead of failing
//! half-way; ids stored as text and times as unix milliseconds. What it does that PostgreSQL
//! does differently: opening (private files, pragmas), its error codes, the statements' dialect
//! (`translate`), writing many rows (a statement per row: no arrays), and watching that the
//! database file is still the one it opened. Must not: hold a statement of the model's own
//! (they are in `sql/`).

mod translate;

use crate::error::{ErrorClass, OpenError, Result, StoreError};
use crate::health::WriteHealth;
use crate::options::StoreOptions;
use crate::seam::{Got, RollupAdd, Row, Stmt, Val, Want};
use linkleaf_domain::Link;
use sqlx::Connection;
use sqlx::Sqlite as Driver;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteSynchronous,
};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

pub(crate) use translate::translate;

pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "username skeleton",
        include_str!("../../migrations/sqlite/0002_username_skeleton.sql"),
    ),
    (
        3,
        "analytics",
        include_str!("../../migrations/sqlite/0003_analytics.sql"),
    ),
    (
        4,
        "webhooks",
        include_str!("../../migrations/sqlite/0004_webhooks.sql"),
    ),
    (
        5,
        "heartbeat",
        include_str!("../../migrations/sqlite/0005_heartbeat.sql"),
    ),
    (
        6,
        "webhook fan-out",
        include_str!("../../migrations/sqlite/0006_webhook_fanout.sql"),
    ),
    (
        7,
        "link counted_at",
        include_str!("../../migrations/sqlite/0007_link_counted_at.sql"),
    ),
    (
        8,
        "accounts",
        include_str!("../../migrations/sqlite/0008_accounts.sql"),
    ),
    (
        9,
        "access per profile",
        include_str!("../../migrations/sqlite/0009_access.sql"),
    ),
    (
        10,
        "profile history",
        include_str!("../../migrations/sqlite/0010_history.sql"),
    ),
    (
        11,
        "passkeys",
        include_str!("../../migrations/sqlite/0011_passkeys.sql"),
    ),
    (
        12,
        "schedules and time zones",
        include_str!("../../migrations/sqlite/0012_schedules_and_zones.sql"),
    ),
];

pub(crate) struct Sqlite {
    pub(crate) pool: SqlitePool,
    /// The database file and its identity (device, inode) when opened; `None` in memory.
    file: Option<(PathBuf, (u64, u64))>,
    pub(crate) retired: Arc<Retired>,
}

/// While writes fail for the storage's sake (a full disk, an I/O error, a read-only file), no
/// connection is used twice, and once a write works again every connection made before it is
/// closed instead of used again. SQLite opens a file it cannot write (made immutable, say)
/// read-only without a word, and such a connection refuses every write for good, even once
/// the file may be written again; a fresh one sees the file as it is now.
pub(crate) struct Retired {
    base: std::time::Instant,
    /// Milliseconds after `base` before which connections were made that are not used again:
    /// 0 none, `FAILING` every one.
    before_ms: AtomicU64,
}

const FAILING: u64 = u64::MAX;

impl Retired {
    fn new() -> Self {
        Self {
            base: std::time::Instant::now(),
            before_ms: AtomicU64::new(0),
        }
    }

    /// A write failed for the storage's sake: no connection is kept until one works again.
    pub(crate) fn failing(&self) {
        self.before_ms.store(FAILING, Ordering::Relaxed);
    }

    /// A write worked: after a failure, the connections made until now go.
    pub(crate) fn recovered(&self) {
        let now = (self.base.elapsed().as_millis() as u64).max(1);
        let _ = self
            .before_ms
            .compare_exchange(FAILING, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Whether a connection `age` old may be used again.
    fn keeps(&self, age: std::time::Duration) -> bool {
        let before = self.before_ms.load(Ordering::Relaxed);
        let made = self.base.elapsed().saturating_sub(age).as_millis() as u64;
        before == 0 || (before != FAILING && made > before)
    }
}

/// What an SQLite result code means (extended codes carry the primary one in their low byte):
/// busy or locked is load; out of memory, read-only, an I/O error, a full disk or a file that
/// cannot be opened is the database's state; too big, a constraint, a type mismatch or out of
/// range is the data's.
pub(crate) fn classify(code: &str) -> ErrorClass {
    match code.parse::<u32>().map(|c| c & 0xff) {
        Ok(5 | 6) => ErrorClass::Busy,
        Ok(7 | 8 | 10 | 13 | 14) => ErrorClass::Unavailable,
        Ok(18 | 19 | 20 | 25) => ErrorClass::Refused,
        _ => ErrorClass::Other,
    }
}

fn identity(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

impl Sqlite {
    pub(crate) async fn open(url: &str, opts: &StoreOptions) -> Result<Self, OpenError> {
        let connect_err = |e: sqlx::Error| OpenError::Connect(e.to_string());
        let parsed = SqliteConnectOptions::from_str(url).map_err(connect_err)?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            private_files(parsed.get_filename()).map_err(|e| {
                OpenError::Connect(format!("{}: {e}", parsed.get_filename().display()))
            })?;
        }
        let path = parsed.get_filename().to_path_buf();
        let connect = parsed
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(opts.busy_timeout)
            .foreign_keys(true);
        let page_limit = opts.sqlite_page_limit.clone();
        let retired = Arc::new(Retired::new());
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .before_acquire({
                let retired = retired.clone();
                move |conn, meta| {
                    let limit = page_limit.clone();
                    let keep = retired.keeps(meta.age);
                    Box::pin(async move {
                        if !keep {
                            return Ok(false);
                        }
                        if let Some(l) = limit {
                            set_page_limit(conn, &l).await?;
                        }
                        Ok(true)
                    })
                }
            })
            .after_connect({
                let page_limit = opts.sqlite_page_limit.clone();
                move |conn, _| {
                    let limit = page_limit.clone();
                    Box::pin(async move {
                        if let Some(l) = limit {
                            set_page_limit(conn, &l).await?;
                        }
                        Ok(())
                    })
                }
            })
            // A connection whose COMMIT or ROLLBACK failed (a full disk, a read-only file) is
            // still inside a transaction as far as the driver knows, and every BEGIN on it would
            // fail ("non-zero transaction depth") until a restart: it is closed, not pooled. The
            // ping first lets a rollback the driver queued on drop run.
            .after_release({
                let retired = retired.clone();
                move |conn, meta| {
                    let keep = retired.keeps(meta.age);
                    Box::pin(async move {
                        if !keep {
                            return Ok(false);
                        }
                        conn.ping().await?;
                        let clean = !conn.is_in_transaction();
                        if !clean {
                            tracing::warn!(
                                "a database connection still inside a failed transaction is closed"
                            );
                        }
                        Ok(clean)
                    })
                }
            })
            .connect_with(connect)
            .await
            .map_err(connect_err)?;
        let file = if in_memory {
            None
        } else {
            let id = identity(&path).map_err(|e| OpenError::Connect(e.to_string()))?;
            Some((path, id))
        };
        Ok(Self {
            pool,
            file,
            retired,
        })
    }

    /// The database file must be the one opened: one deleted, or replaced by another (a restore
    /// copied over it, a volume remounted), would take writes that vanish at the next restart.
    pub(crate) fn check_file(&self, health: &WriteHealth) -> Result<()> {
        if let Some(why) = health.replaced_why() {
            return Err(StoreError::Unavailable(why));
        }
        let Some((path, opened)) = &self.file else {
            return Ok(());
        };
        let why = match identity(path) {
            Ok(now) if now == *opened => return Ok(()),
            Ok(_) => format!(
                "the database file {} was replaced by another",
                path.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                format!("the database file {} was deleted", path.display())
            }
            // cannot tell (permissions...): the write itself will say
            Err(_) => return Ok(()),
        };
        health.replaced(why.clone());
        Err(StoreError::Unavailable(why))
    }

    pub(crate) fn migrator() -> Migrator {
        crate::seam::migrator(MIGRATIONS)
    }
}

/// Tests: `PRAGMA max_page_count` from a number they control (0: no limit), set on every
/// connection as it is made and as it is taken from the pool, so a test can fill the
/// database and then give it room again.
async fn set_page_limit(
    conn: &mut SqliteConnection,
    limit: &std::sync::atomic::AtomicU64,
) -> sqlx::Result<()> {
    let n = match limit.load(std::sync::atomic::Ordering::Relaxed) {
        0 => 1_073_741_823,
        n => n,
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PRAGMA max_page_count = {n}")))
        .execute(conn)
        .await?;
    Ok(())
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

type Query<'q> = sqlx::query::Query<'q, Driver, SqliteArguments>;

/// A value as SQLite stores it: ids as text, times as unix milliseconds, lists as JSON arrays
/// (read by `json_each`).
fn bind(q: Query<'_>, v: Val) -> Query<'_> {
    match v {
        Val::Int(n) => q.bind(n),
        Val::OptInt(n) => q.bind(n),
        Val::Text(s) => q.bind(s),
        Val::OptText(s) => q.bind(s),
        Val::Bytes(b) => q.bind(b),
        Val::Id(id) => q.bind(id.to_string()),
        Val::OptId(id) => q.bind(id.map(|i| i.to_string())),
        Val::Bool(b) => q.bind(b),
        Val::Time(t) => q.bind(crate::seam::millis(t)),
        Val::OptTime(t) => q.bind(t.map(crate::seam::millis)),
        Val::Ids(ids) => q.bind(json_list(ids.iter().map(Uuid::to_string))),
        Val::Texts(s) => q.bind(json_list(s.into_iter())),
    }
}

fn json_list(items: impl Iterator<Item = String>) -> String {
    serde_json::to_string(&items.collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

/// Runs a statement on a pool or a transaction's connection.
pub(crate) async fn run<'c, E>(ex: E, stmt: Stmt<'_>, want: Want) -> sqlx::Result<Got>
where
    E: sqlx::Executor<'c, Database = Driver>,
{
    let mut q = sqlx::query(sqlx::AssertSqlSafe(translate(&stmt.sql)));
    for v in stmt.args {
        q = bind(q, v);
    }
    crate::seam::fetch(ex, q, want, Row::Sqlite, |r| r.rows_affected()).await
}

/// Makes the profile's links the given ones: removes the others, then inserts or updates each
/// (click counters are left as they are).
pub(crate) async fn write_links(
    conn: &mut SqliteConnection,
    profile: Uuid,
    links: &[Link],
) -> sqlx::Result<()> {
    let keep = json_list(links.iter().map(|l| l.id.to_string()));
    sqlx::query(
        "DELETE FROM links WHERE profile_id = ? AND id NOT IN (SELECT value FROM json_each(?))",
    )
    .bind(profile.to_string())
    .bind(keep)
    .execute(&mut *conn)
    .await?;
    for l in links {
        sqlx::query(
            "INSERT INTO links (id, profile_id, position, title, url, enabled, visible_from,
                                visible_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET position = excluded.position, title = excluded.title,
                url = excluded.url, enabled = excluded.enabled,
                visible_from = excluded.visible_from, visible_until = excluded.visible_until
             WHERE links.profile_id = excluded.profile_id",
        )
        .bind(l.id.to_string())
        .bind(profile.to_string())
        .bind(i64::from(l.position))
        .bind(&l.title)
        .bind(&l.url)
        .bind(l.enabled)
        .bind(l.visible_from.map(linkleaf_domain::unix_millis))
        .bind(l.visible_until.map(linkleaf_domain::unix_millis))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Adds counts to rollup rows, a statement a row.
pub(crate) async fn add_rollups(
    conn: &mut SqliteConnection,
    rows: &[RollupAdd<'_>],
) -> sqlx::Result<()> {
    for r in rows {
        sqlx::query(
            "INSERT INTO analytics_rollups (profile_id, granularity, bucket, dimension, value, human, bot)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (profile_id, granularity, dimension, bucket, value)
             DO UPDATE SET human = human + excluded.human, bot = bot + excluded.bot",
        )
        .bind(r.profile.to_string())
        .bind(r.granularity)
        .bind(r.bucket)
        .bind(r.dimension)
        .bind(r.value)
        .bind(r.human)
        .bind(r.bot)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Adds people's clicks to links' counters, a statement a link.
pub(crate) async fn add_link_clicks(
    conn: &mut SqliteConnection,
    clicks: &[(Uuid, i64)],
) -> sqlx::Result<()> {
    let now = linkleaf_domain::unix_millis(linkleaf_domain::now_millis());
    for (link, n) in clicks {
        sqlx::query("UPDATE links SET click_count = click_count + ?, counted_at = ? WHERE id = ?")
            .bind(n)
            .bind(now)
            .bind(link.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
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
            let s = crate::sql::SqlStore::open(
                &format!("sqlite://{}", path.display()),
                &StoreOptions::default(),
            )
            .await
            .unwrap();
            crate::profiles::ProfileStore::migrate(&s).await.unwrap();
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
        let s = Sqlite::open("sqlite::memory:", &StoreOptions::default())
            .await
            .unwrap();
        let expr = include_str!("../../migrations/sqlite/0002_username_skeleton.sql")
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
                .fetch_one(&s.pool)
                .await
                .unwrap();
            assert_eq!(sql, linkleaf_domain::username::skeleton(name), "{name}");
        }
    }
}
