//! For tests (this crate's and the test kit's), not for the service: a PostgreSQL database of a
//! test's own, a small filesystem to fill (`Tmpfs`, as root), and the rule for a server that is
//! not there.
//!
//! `TempPostgres::create` makes a fresh database on the server named by `LINKLEAF_TEST_POSTGRES`
//! (default `postgres://postgres@127.0.0.1:5432/test`, which must be allowed to create
//! databases) and drops it when the guard goes. When no server answers, the test says so loudly
//! and skips, except under CI (`CI` set), where a missing server fails the run.
//! Must not: be used by the service, or leave a database behind.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// Where tests find PostgreSQL (an account that may create databases).
pub fn postgres_admin_url() -> String {
    std::env::var("LINKLEAF_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A server a test needs is missing: under CI that fails the test; elsewhere it is said loudly
/// and the test skips (the caller returns).
pub fn missing(service: &str, why: impl std::fmt::Display) {
    if std::env::var_os("CI").is_some() {
        panic!("{service} is required under CI and is not available: {why}");
    }
    // Written to the handle, not with `eprintln!`, which the test harness captures and shows
    // only for failing tests: a skip must be seen.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED: {service} is not available ({why}); this test did not run. \
         Start it (see README) or run under CI=1 to make this a failure. ***\n"
    );
}

/// A database of one test's own; dropped (with its connections) when this is dropped.
pub struct TempPostgres {
    pub url: String,
    name: String,
    admin: String,
}

impl TempPostgres {
    /// A new empty database, or `None` (after `missing`) when PostgreSQL cannot be reached.
    pub async fn create() -> Option<Self> {
        let admin = postgres_admin_url();
        let mut conn = match PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => {
                missing("PostgreSQL", e);
                return None;
            }
        };
        let name = format!("linkleaf_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create a test database");
        let _ = conn.close().await;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Some(Self {
            url: format!("{base}/{name}"),
            name,
            admin,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs SQL on the server as the admin account (fault injection: terminating this
    /// database's connections, for one).
    pub async fn admin_exec(&self, sql: &str) -> Result<u64, String> {
        let mut conn = PgConnection::connect(&self.admin)
            .await
            .map_err(|e| e.to_string())?;
        let done = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let _ = conn.close().await;
        Ok(done.rows_affected())
    }

    /// Closes every connection to this database from the server's side
    /// (`pg_terminate_backend`); returns how many there were.
    pub async fn terminate_connections(&self) -> Result<u64, String> {
        let mut conn = PgConnection::connect(&self.admin)
            .await
            .map_err(|e| e.to_string())?;
        let n: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&self.name)
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
        let _ = conn.close().await;
        Ok(n as u64)
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Dropping runs outside any runtime the test may still be in: a thread of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&admin).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// A tmpfs of `size` mounted on a directory of the test's own (root only), unmounted and
/// removed when dropped.
pub struct Tmpfs {
    dir: std::path::PathBuf,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Option<Self> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("linkleaf-tmpfs-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::fs::remove_dir(&dir);
        }
        ok.then_some(Self { dir })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Whether this process runs as root (mounting a tmpfs, `chattr`).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    })
}
