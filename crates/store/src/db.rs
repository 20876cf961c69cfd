//! The seam between the statements, written once (`sql/`), and the two databases (`sqlite/`,
//! `postgres/`): a database handle (`Db`), its transactions (`Tx`), a statement with its values
//! (`Stmt`, `Val`) and a row read back (`Row`).
//!
//! Statements are written in PostgreSQL's dialect (`$n` placeholders, `::type` casts where
//! PostgreSQL needs them, `= ANY($n)` for a list, `FOR UPDATE [SKIP LOCKED]` where a row lock
//! is wanted); SQLite reads them through `sqlite::translate`. Values are the model's (`Uuid`,
//! `OffsetDateTime`, `bool`...), and each backend stores them in its own types (SQLite: ids as
//! text, times as unix milliseconds; PostgreSQL: `uuid`, `timestamptz`). What the two really do
//! differently — opening, error classes, the write lock, bulk statements — is in the backend's
//! folder. Every write passes here, so the outcome of the last writes (`WriteHealth`) is kept
//! in one place. Must not: know what a profile or a webhook is.

use crate::health::WriteHealth;
use crate::{ErrorClass, ReadFrom, Result, StoreError};
use std::borrow::Cow;
use std::sync::Arc;
use time::OffsetDateTime;
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
                t.commit().await.map_err(sqlite_err)
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

    /// Records a write's failure (see `WriteHealth`) and hands the error on.
    pub(crate) fn failed_write(&self, e: Classified) -> StoreError {
        self.health.failed(&e);
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
                    self.db.health.succeeded();
                }
                Ok(())
            }
            Err(e) if self.write => Err(self.db.failed_write(e)),
            Err(e) => Err(e.error),
        }
    }
}

/// A driver error, mapped, with the class it was mapped from (a busy database is not a
/// failing one).
pub(crate) struct Classified {
    pub(crate) error: StoreError,
    pub(crate) class: Option<ErrorClass>,
}

impl From<Classified> for StoreError {
    fn from(c: Classified) -> Self {
        c.error
    }
}

pub(crate) fn sqlite_err(e: sqlx::Error) -> Classified {
    crate::map_sqlx(e, crate::sqlite::classify)
}

pub(crate) fn postgres_err(e: sqlx::Error) -> Classified {
    crate::map_sqlx(e, crate::postgres::classify)
}

/// A value bound to a statement, in the model's types.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
    Bytes(Vec<u8>),
    Id(Uuid),
    OptId(Option<Uuid>),
    Bool(bool),
    Time(OffsetDateTime),
    OptTime(Option<OffsetDateTime>),
    /// For `= ANY($n)`.
    Ids(Vec<Uuid>),
    /// For `= ANY($n)`.
    Texts(Vec<String>),
}

macro_rules! val_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl From<$t> for Val {
            fn from($v: $t) -> Self {
                $e
            }
        })*
    };
}

val_from! {
    i64 => |v| Val::Int(v),
    i32 => |v| Val::Int(i64::from(v)),
    u32 => |v| Val::Int(i64::from(v)),
    i16 => |v| Val::Int(i64::from(v)),
    Option<i64> => |v| Val::OptInt(v),
    String => |v| Val::Text(v),
    &str => |v| Val::Text(v.to_owned()),
    &String => |v| Val::Text(v.clone()),
    Option<String> => |v| Val::OptText(v),
    &Option<String> => |v| Val::OptText(v.clone()),
    Option<&str> => |v| Val::OptText(v.map(str::to_owned)),
    Vec<u8> => |v| Val::Bytes(v),
    &[u8] => |v| Val::Bytes(v.to_vec()),
    Uuid => |v| Val::Id(v),
    &Uuid => |v| Val::Id(*v),
    Option<Uuid> => |v| Val::OptId(v),
    bool => |v| Val::Bool(v),
    OffsetDateTime => |v| Val::Time(v),
    Option<OffsetDateTime> => |v| Val::OptTime(v),
    Vec<Uuid> => |v| Val::Ids(v),
    Vec<String> => |v| Val::Texts(v),
    &[String] => |v| Val::Texts(v.to_vec()),
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

/// A statement and its values.
pub(crate) struct Stmt<'s> {
    pub(crate) sql: Cow<'s, str>,
    pub(crate) args: Vec<Val>,
}

/// A statement written in the crate (PostgreSQL's dialect; see the module's header).
pub(crate) fn q(sql: &str) -> Stmt<'_> {
    Stmt {
        sql: Cow::Borrowed(sql),
        args: Vec::new(),
    }
}

/// A statement built at run time from the crate's own constants (never from input).
pub(crate) fn q_built(sql: String) -> Stmt<'static> {
    Stmt {
        sql: Cow::Owned(sql),
        args: Vec::new(),
    }
}

/// What a statement is asked for.
#[derive(Clone, Copy)]
pub(crate) enum Want {
    Execute,
    All,
    Optional,
}

/// What came back.
pub(crate) enum Got {
    Done(u64),
    Rows(Vec<Row>),
    Row(Option<Row>),
}

impl Stmt<'_> {
    pub(crate) fn bind(mut self, v: impl Into<Val>) -> Self {
        self.args.push(v.into());
        self
    }

    async fn run<'e, 'd: 'e>(self, on: On<'e, 'd>, want: Want) -> Result<Got> {
        let writes = on.writes(matches!(want, Want::Execute) || self.returns_after_writing());
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
                    db.health.succeeded();
                }
                Ok(g)
            }
            Err(e) if writes => Err(db.failed_write(e)),
            Err(e) => Err(e.error),
        }
    }

    /// `INSERT/UPDATE/DELETE ... RETURNING` fetches rows, and writes.
    fn returns_after_writing(&self) -> bool {
        let head = self.sql.trim_start().as_bytes();
        ["INSERT", "UPDATE", "DELETE"]
            .iter()
            .any(|w| head.len() >= w.len() && head[..w.len()].eq_ignore_ascii_case(w.as_bytes()))
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
    pub(crate) async fn add_rollups(
        &mut self,
        rows: &[crate::sql::analytics::RollupAdd<'_>],
    ) -> Result<()> {
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

/// A row read back.
pub(crate) enum Row {
    Sqlite(sqlx::sqlite::SqliteRow),
    Postgres(sqlx::postgres::PgRow),
}

impl Row {
    /// A column both backends decode the same way.
    fn get<T>(&self, col: &str) -> Result<T>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'r> sqlx::Decode<'r, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>,
    {
        use sqlx::Row as _;
        match self {
            Row::Sqlite(r) => r.try_get(col),
            Row::Postgres(r) => r.try_get(col),
        }
        .map_err(crate::decode_err)
    }

    pub(crate) fn text(&self, col: &str) -> Result<String> {
        self.get(col)
    }

    pub(crate) fn opt_text(&self, col: &str) -> Result<Option<String>> {
        self.get(col)
    }

    pub(crate) fn bytes(&self, col: &str) -> Result<Vec<u8>> {
        self.get(col)
    }

    pub(crate) fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        match self {
            Row::Sqlite(_) => self.get(col),
            Row::Postgres(r) => crate::postgres::row_int(r, col).map_err(crate::decode_err),
        }
    }

    pub(crate) fn int(&self, col: &str) -> Result<i64> {
        self.opt_int(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("{col} is null")))
    }

    pub(crate) fn flag(&self, col: &str) -> Result<bool> {
        match self {
            Row::Sqlite(_) => Ok(self.int(col)? != 0),
            Row::Postgres(_) => self.get(col),
        }
    }

    pub(crate) fn id(&self, col: &str) -> Result<Uuid> {
        match self {
            Row::Sqlite(r) => crate::sqlite::row_id(r, col),
            Row::Postgres(r) => {
                use sqlx::Row as _;
                r.try_get(col).map_err(crate::decode_err)
            }
        }
    }

    pub(crate) fn time(&self, col: &str) -> Result<OffsetDateTime> {
        self.opt_time(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("{col} is null")))
    }

    pub(crate) fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>> {
        match self {
            Row::Sqlite(_) => self.opt_int(col)?.map(crate::from_millis).transpose(),
            Row::Postgres(r) => {
                use sqlx::Row as _;
                r.try_get(col).map_err(crate::decode_err)
            }
        }
    }
}
