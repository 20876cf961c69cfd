//! The seam's vocabulary, shared by the statements (`sql/`), the database handle (`db`) and
//! the two backends (`sqlite/`, `postgres/`): a statement and the values bound to it (`Stmt`,
//! `Val`), what it is asked for and what came back (`Want`, `Got`), a row read back (`Row`),
//! a driver error with its class (`Classified`), and the rows written in bulk (`RollupAdd`).
//! Values are the model's (`Uuid`, `OffsetDateTime`, `bool`...); each backend stores them its
//! own way. Must not: run anything, or know a backend beyond reading its rows.

use crate::error::{ErrorClass, Result, StoreError};
use std::borrow::Cow;
use time::OffsetDateTime;
use uuid::Uuid;

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

/// Runs a query made and bound by a backend on `ex`, taking what `want` asks for, each row
/// wrapped by `row` (the backend's arm of `Row`), `done` reading a result's count of rows:
/// the one way every statement runs.
pub(crate) async fn fetch<'q, 'c, DB, E>(
    ex: E,
    q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    want: Want,
    row: fn(DB::Row) -> Row,
    done: fn(DB::QueryResult) -> u64,
) -> sqlx::Result<Got>
where
    DB: sqlx::Database,
    E: sqlx::Executor<'c, Database = DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    'q: 'c,
{
    Ok(match want {
        Want::Execute => Got::Done(done(q.execute(ex).await?)),
        Want::All => Got::Rows(q.fetch_all(ex).await?.into_iter().map(row).collect()),
        Want::Optional => Got::Row(q.fetch_optional(ex).await?.map(row)),
    })
}

impl Stmt<'_> {
    pub(crate) fn bind(mut self, v: impl Into<Val>) -> Self {
        self.args.push(v.into());
        self
    }

    /// Whether it writes (`INSERT/UPDATE/DELETE`, `... RETURNING` included, fetches rows and
    /// writes).
    pub(crate) fn writes(&self) -> bool {
        let head = self.sql.trim_start().as_bytes();
        ["INSERT", "UPDATE", "DELETE"]
            .iter()
            .any(|w| head.len() >= w.len() && head[..w.len()].eq_ignore_ascii_case(w.as_bytes()))
    }
}

/// Counts to add to one rollup row.
pub(crate) struct RollupAdd<'a> {
    pub profile: Uuid,
    pub granularity: i16,
    pub bucket: i64,
    pub dimension: &'a str,
    pub value: &'a str,
    pub human: i64,
    pub bot: i64,
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
        .map_err(decode_err)
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
            Row::Postgres(r) => pg_int(r, col).map_err(decode_err),
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

    pub(crate) fn opt_id(&self, col: &str) -> Result<Option<Uuid>> {
        match self {
            Row::Sqlite(r) => {
                use sqlx::Row as _;
                let s: Option<String> = r.try_get(col).map_err(decode_err)?;
                s.map(|s| {
                    Uuid::parse_str(&s)
                        .map_err(|e| StoreError::Corrupt(format!("{col} {s:?}: {e}")))
                })
                .transpose()
            }
            Row::Postgres(r) => {
                use sqlx::Row as _;
                r.try_get(col).map_err(decode_err)
            }
        }
    }

    pub(crate) fn id(&self, col: &str) -> Result<Uuid> {
        match self {
            Row::Sqlite(r) => {
                use sqlx::Row as _;
                // SQLite keeps ids as text
                let s: String = r.try_get(col).map_err(decode_err)?;
                Uuid::parse_str(&s).map_err(|e| StoreError::Corrupt(format!("{col} {s:?}: {e}")))
            }
            Row::Postgres(r) => {
                use sqlx::Row as _;
                r.try_get(col).map_err(decode_err)
            }
        }
    }

    pub(crate) fn time(&self, col: &str) -> Result<OffsetDateTime> {
        self.opt_time(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("{col} is null")))
    }

    pub(crate) fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>> {
        match self {
            Row::Sqlite(_) => self.opt_int(col)?.map(from_millis).transpose(),
            Row::Postgres(r) => {
                use sqlx::Row as _;
                r.try_get(col).map_err(decode_err)
            }
        }
    }
}

/// An integer column of PostgreSQL's, whatever its width (`smallint`, `integer` or `bigint`).
fn pg_int(row: &sqlx::postgres::PgRow, col: &str) -> sqlx::Result<Option<i64>> {
    use sqlx::Row as _;
    match row.try_get::<Option<i64>, _>(col) {
        Ok(v) => Ok(v),
        Err(sqlx::Error::ColumnDecode { .. }) => match row.try_get::<Option<i32>, _>(col) {
            Ok(v) => Ok(v.map(i64::from)),
            Err(sqlx::Error::ColumnDecode { .. }) => {
                Ok(row.try_get::<Option<i16>, _>(col)?.map(i64::from))
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// What a driver error means, read by the backend's own classifier (`sqlite::classify`,
/// `postgres::classify`: the two number their errors differently). Crate-private: callers see
/// `StoreError` only.
pub(crate) fn map_sqlx(e: sqlx::Error, classify: fn(&str) -> ErrorClass) -> Classified {
    let class = match &e {
        sqlx::Error::RowNotFound => None,
        sqlx::Error::PoolTimedOut => Some(ErrorClass::Busy),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Some(ErrorClass::Unavailable),
        sqlx::Error::Database(d) => Some(classify(&d.code().unwrap_or_default())),
        _ => Some(ErrorClass::Other),
    };
    let error = match class {
        None => StoreError::NotFound,
        Some(ErrorClass::Busy | ErrorClass::Unavailable) => StoreError::Unavailable(e.to_string()),
        Some(ErrorClass::Refused) => StoreError::Refused(e.to_string()),
        Some(ErrorClass::Other) => StoreError::Other(e.to_string()),
    };
    Classified { error, class }
}

/// A column that could not be read as the model wants it.
pub(crate) fn decode_err(e: sqlx::Error) -> StoreError {
    StoreError::Other(e.to_string())
}

/// Migrations embedded in the binary.
pub(crate) fn migrator(
    migrations: &'static [(i64, &'static str, &'static str)],
) -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|(v, d, sql)| {
                Migration::new(
                    *v,
                    (*d).to_owned().into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    linkleaf_domain::unix_millis(t)
}

pub(crate) fn from_millis(ms: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {ms}: {e}")))
}
