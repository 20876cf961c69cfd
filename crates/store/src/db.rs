//! The database handle and its transactions: `Db` (SQLite or PostgreSQL, with an optional
//! replica), `Tx`, where a statement runs (`On`), and running statements there, dispatched to
//! the backend (`sqlite/`, `postgres/`). Statements are written in PostgreSQL's dialect
//! (`$n` placeholders, `::type` casts where PostgreSQL needs them, `= ANY($n)` for a list,
//! `FOR UPDATE [SKIP LOCKED]` where a row lock is wanted); SQLite reads them through
//! `sqlite::translate`. What the two really do differently — opening, error classes, the write
//! lock, bulk statements — is in the backend's folder. Every write passes here, so the outcome
//! of the last writes (`WriteHealth`) is kept in one place. Must not: know what a profile or a
//! webhook is.

use crate::error::{OpenError, Result, StoreError};
use crate::health::WriteHealth;
use crate::options::StoreOptions;
use crate::profiles::ReadFrom;
use crate::seam::{Classified, Got, RollupAdd, Row, Stmt, Want};
use std::sync::Arc;
use uuid::Uuid;

/// One database: SQLite or PostgreSQL (with an optional replica).
pub(crate) struct Db {
    pub(crate) backend: Backend,
    pub(crate) health: Arc<WriteHealth>,
}

pub(crate) enum Backend {
    Sqlite(crate::sqlite::Sqlite),
    Postgres(crate::postgres::Postgres),
}

/// A transaction: a snapshot for a multi-statement read, or a write.
pub(crate) struct Tx<'d> {
    pub(crate) inner: TxInner,
    db: &'d Db,
    write: bool,
}

pub(crate) enum TxInner {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Db {
    /// Opens `sqlite://PATH`, `sqlite::memory:` or `postgres://...` (`postgresql://` too).
    pub(crate) async fn open(url: &str, opts: &StoreOptions) -> Result<Self, OpenError> {
        let scheme = url.split(':').next().unwrap_or_default();
        let backend = match scheme {
            "sqlite" => Backend::Sqlite(crate::sqlite::Sqlite::open(url, opts).await?),
            "postgres" | "postgresql" => {
                Backend::Postgres(crate::postgres::Postgres::open(url, opts).await?)
            }
            other => return Err(OpenError::Scheme(other.to_owned())),
        };
        Ok(Self {
            backend,
            health: Arc::new(WriteHealth::default()),
        })
    }

    /// Brings the schema up to date, or (tests of an upgrade) to `to`.
    pub(crate) async fn migrate(&self, to: Option<i64>) -> Result<()> {
        let failed = |e: sqlx::migrate::MigrateError| StoreError::Other(format!("migrating: {e}"));
        match &self.backend {
            Backend::Sqlite(s) => {
                let m = crate::sqlite::Sqlite::migrator();
                match to {
                    None => m.run(&s.pool).await,
                    Some(v) => m.run_to(v, &s.pool).await,
                }
            }
            Backend::Postgres(p) => {
                let m = crate::postgres::Postgres::migrator();
                match to {
                    None => m.run(&p.pool).await,
                    Some(v) => m.run_to(v, &p.pool).await,
                }
            }
        }
        .map_err(failed)
    }

    /// Runs SQL as it is, on the primary (tests).
    pub(crate) async fn execute_raw(&self, sql: &str) -> Result<()> {
        let raw = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()));
        match &self.backend {
            Backend::Sqlite(s) => raw
                .execute(&s.pool)
                .await
                .map(drop)
                .map_err(|e| sqlite_err(e).error),
            Backend::Postgres(p) => raw
                .execute(&p.pool)
                .await
                .map(drop)
                .map_err(|e| postgres_err(e).error),
        }
    }

    /// Whether reads may go to a replica.
    pub(crate) fn has_replica(&self) -> bool {
        matches!(&self.backend, Backend::Postgres(p) if p.read_pool.is_some())
    }

    /// A read transaction (one snapshot), on a replica when `from` allows and there is one.
    pub(crate) async fn begin_read(&self, from: ReadFrom) -> Result<Tx<'_>> {
        let inner = match &self.backend {
            Backend::Sqlite(s) => TxInner::Sqlite(s.pool.begin().await.map_err(sqlite_err)?),
            Backend::Postgres(p) => {
                TxInner::Postgres(p.reader(from).begin().await.map_err(postgres_err)?)
            }
        };
        Ok(Tx {
            inner,
            db: self,
            write: false,
        })
    }

    /// A write transaction. SQLite takes the database's write lock at once (`BEGIN IMMEDIATE`:
    /// two writers queue rather than fail half-way); PostgreSQL locks rows as statements ask
    /// (`FOR UPDATE`). A database file replaced under the running process refuses it.
    pub(crate) async fn begin_write(&self) -> Result<Tx<'_>> {
        self.begin_writing(true).await
    }

    /// Commits `stmt` as a write of its own, whose outcome is not one of the service's writes
    /// (the heartbeat records its own), with its error's class: a busy database says nothing.
    pub(crate) async fn unrecorded_write(&self, stmt: Stmt<'_>) -> Result<(), Classified> {
        match &self.backend {
            Backend::Sqlite(s) => {
                s.check_file(&self.health)
                    .map_err(|error| Classified { error, class: None })?;
                let mut t = s
                    .pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(sqlite_err)?;
                crate::sqlite::run(&mut *t, stmt, Want::Execute)
                    .await
                    .map_err(sqlite_err)?;
                t.commit().await.map_err(sqlite_err)?;
                // a write worked: connections made while writes failed go
                s.retired.recovered();
                Ok(())
            }
            Backend::Postgres(p) => {
                let mut t = p.pool.begin().await.map_err(postgres_err)?;
                crate::postgres::run(&mut *t, stmt, Want::Execute)
                    .await
                    .map_err(postgres_err)?;
                t.commit().await.map_err(postgres_err)
            }
        }
    }

    async fn begin_writing(&self, record: bool) -> Result<Tx<'_>> {
        let fail = |e: Classified| {
            if record {
                self.failed_write(e)
            } else {
                e.error
            }
        };
        let inner = match &self.backend {
            Backend::Sqlite(s) => {
                s.check_file(&self.health)?;
                TxInner::Sqlite(
                    s.pool
                        .begin_with("BEGIN IMMEDIATE")
                        .await
                        .map_err(|e| fail(sqlite_err(e)))?,
                )
            }
            Backend::Postgres(p) => {
                TxInner::Postgres(p.pool.begin().await.map_err(|e| fail(postgres_err(e)))?)
            }
        };
        Ok(Tx {
            inner,
            db: self,
            write: true,
        })
    }

    /// Records a write that worked (see `WriteHealth`, and SQLite's `Retired`).
    pub(crate) fn succeeded_write(&self) {
        self.health.succeeded();
        if let Backend::Sqlite(s) = &self.backend {
            s.retired.recovered();
        }
    }

    /// Records a write's failure (see `WriteHealth`) and hands the error on.
    pub(crate) fn failed_write(&self, e: Classified) -> StoreError {
        self.health.failed(&e);
        if let (Backend::Sqlite(s), Some(crate::error::ErrorClass::Unavailable)) =
            (&self.backend, e.class)
        {
            s.retired.failing();
        }
        e.error
    }
}

impl Tx<'_> {
    /// Commits; a write's outcome is recorded either way.
    pub(crate) async fn commit(self) -> Result<()> {
        let done = match self.inner {
            TxInner::Sqlite(t) => t.commit().await.map_err(sqlite_err),
            TxInner::Postgres(t) => t.commit().await.map_err(postgres_err),
        };
        match done {
            Ok(()) => {
                if self.write {
                    self.db.succeeded_write();
                }
                Ok(())
            }
            Err(e) if self.write => Err(self.db.failed_write(e)),
            Err(e) => Err(e.error),
        }
    }
}

pub(crate) fn sqlite_err(e: sqlx::Error) -> Classified {
    crate::seam::map_sqlx(e, crate::sqlite::classify)
}

pub(crate) fn postgres_err(e: sqlx::Error) -> Classified {
    crate::seam::map_sqlx(e, crate::postgres::classify)
}

/// Where a statement runs.
pub(crate) enum On<'e, 'd> {
    /// The primary, outside a transaction (a single statement is its own).
    Primary(&'d Db),
    /// A replica when there is one, for reads that may lag a moment.
    Replica(&'d Db),
    Tx(&'e mut Tx<'d>),
}

impl<'d> From<&'d Db> for On<'_, 'd> {
    fn from(db: &'d Db) -> Self {
        On::Primary(db)
    }
}

impl<'e, 'd> From<&'e mut Tx<'d>> for On<'e, 'd> {
    fn from(tx: &'e mut Tx<'d>) -> Self {
        On::Tx(tx)
    }
}

impl<'d> On<'_, 'd> {
    /// The same place, for one more statement.
    pub(crate) fn reborrow(&mut self) -> On<'_, 'd> {
        match self {
            On::Primary(db) => On::Primary(db),
            On::Replica(db) => On::Replica(db),
            On::Tx(tx) => On::Tx(tx),
        }
    }

    /// Whether what runs here is a write (recorded in `WriteHealth` when it fails).
    fn writes(&self, statement_writes: bool) -> bool {
        match self {
            On::Primary(_) => statement_writes,
            On::Replica(_) => false,
            On::Tx(tx) => tx.write,
        }
    }
}

impl Stmt<'_> {
    async fn run<'e, 'd: 'e>(self, on: On<'e, 'd>, want: Want) -> Result<Got> {
        let writes = on.writes(matches!(want, Want::Execute) || self.writes());
        let db: &'d Db = match &on {
            On::Primary(d) | On::Replica(d) => d,
            On::Tx(tx) => tx.db,
        };
        let single = matches!(on, On::Primary(_));
        let got = match on {
            On::Primary(_) | On::Replica(_) => match &db.backend {
                Backend::Sqlite(s) => {
                    // a database file replaced under the process takes no more writes
                    if writes {
                        s.check_file(&db.health)?;
                    }
                    crate::sqlite::run(&s.pool, self, want)
                        .await
                        .map_err(sqlite_err)
                }
                Backend::Postgres(p) => {
                    let pool = if single {
                        &p.pool
                    } else {
                        p.reader(ReadFrom::Replica)
                    };
                    crate::postgres::run(pool, self, want)
                        .await
                        .map_err(postgres_err)
                }
            },
            On::Tx(tx) => match &mut tx.inner {
                TxInner::Sqlite(t) => crate::sqlite::run(&mut **t, self, want)
                    .await
                    .map_err(sqlite_err),
                TxInner::Postgres(t) => crate::postgres::run(&mut **t, self, want)
                    .await
                    .map_err(postgres_err),
            },
        };
        match got {
            // a transaction's writes count when it commits
            Ok(g) => {
                if writes && single {
                    db.succeeded_write();
                }
                Ok(g)
            }
            Err(e) if writes => Err(db.failed_write(e)),
            Err(e) => Err(e.error),
        }
    }

    /// Runs it; the number of rows it changed.
    pub(crate) async fn execute<'e, 'd: 'e>(self, on: impl Into<On<'e, 'd>>) -> Result<u64> {
        match self.run(on.into(), Want::Execute).await? {
            Got::Done(n) => Ok(n),
            _ => Err(StoreError::Other(
                "a statement answered in the wrong shape".into(),
            )),
        }
    }

    pub(crate) async fn fetch_all<'e, 'd: 'e>(self, on: impl Into<On<'e, 'd>>) -> Result<Vec<Row>> {
        match self.run(on.into(), Want::All).await? {
            Got::Rows(r) => Ok(r),
            _ => Err(StoreError::Other(
                "a statement answered in the wrong shape".into(),
            )),
        }
    }

    pub(crate) async fn fetch_optional<'e, 'd: 'e>(
        self,
        on: impl Into<On<'e, 'd>>,
    ) -> Result<Option<Row>> {
        match self.run(on.into(), Want::Optional).await? {
            Got::Row(r) => Ok(r),
            _ => Err(StoreError::Other(
                "a statement answered in the wrong shape".into(),
            )),
        }
    }

    pub(crate) async fn fetch_one<'e, 'd: 'e>(self, on: impl Into<On<'e, 'd>>) -> Result<Row> {
        self.fetch_optional(on).await?.ok_or(StoreError::NotFound)
    }
}

/// What the two backends write differently: many rows at once (PostgreSQL in one statement of
/// arrays, SQLite a statement a row).
impl Tx<'_> {
    fn bulk(&self, e: Classified) -> StoreError {
        if self.write {
            self.db.failed_write(e)
        } else {
            e.error
        }
    }

    /// Makes a profile's links the given ones (click counters are left as they are).
    pub(crate) async fn write_links(
        &mut self,
        profile: Uuid,
        links: &[linkleaf_domain::Link],
    ) -> Result<()> {
        let done = match &mut self.inner {
            TxInner::Sqlite(t) => crate::sqlite::write_links(t, profile, links)
                .await
                .map_err(sqlite_err),
            TxInner::Postgres(t) => crate::postgres::write_links(t, profile, links)
                .await
                .map_err(postgres_err),
        };
        done.map_err(|e| self.bulk(e))
    }

    /// Adds counts to rollup rows.
    pub(crate) async fn add_rollups(&mut self, rows: &[RollupAdd<'_>]) -> Result<()> {
        let done = match &mut self.inner {
            TxInner::Sqlite(t) => crate::sqlite::add_rollups(t, rows)
                .await
                .map_err(sqlite_err),
            TxInner::Postgres(t) => crate::postgres::add_rollups(t, rows)
                .await
                .map_err(postgres_err),
        };
        done.map_err(|e| self.bulk(e))
    }

    /// Adds people's clicks to links' counters.
    pub(crate) async fn add_link_clicks(&mut self, clicks: &[(Uuid, i64)]) -> Result<()> {
        let done = match &mut self.inner {
            TxInner::Sqlite(t) => crate::sqlite::add_link_clicks(t, clicks)
                .await
                .map_err(sqlite_err),
            TxInner::Postgres(t) => crate::postgres::add_link_clicks(t, clicks)
                .await
                .map_err(postgres_err),
        };
        done.map_err(|e| self.bulk(e))
    }
}
