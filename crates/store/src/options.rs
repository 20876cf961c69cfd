//! How a database is opened: pool sizes and deadlines, the replica, and a test's page limit.
//! Must not: open anything (the backends do).

use std::sync::Arc;
use std::time::Duration;

/// Pool settings shared by every backend. Its `Debug` shows no URL (a replica's carries its
/// password): `read_url` stays a `Secret` until the pool is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a locked database before giving up.
    pub busy_timeout: Duration,
    /// PostgreSQL: how long one statement may run before the server cancels it.
    pub statement_timeout: Duration,
    /// PostgreSQL: a replica for public reads and listings (writes and read-apply-write always
    /// go to the primary).
    pub read_url: Option<linkleaf_domain::Secret>,
    /// Versions kept per profile (`history.keep_versions`).
    pub keep_versions: u32,
    /// Tests: SQLite's `max_page_count` from a number the test controls (0: no limit), to fill
    /// the database and give it room again.
    #[doc(hidden)]
    pub sqlite_page_limit: Option<Arc<std::sync::atomic::AtomicU64>>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(3),
            busy_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            read_url: None,
            keep_versions: 100,
            sqlite_page_limit: None,
        }
    }
}
