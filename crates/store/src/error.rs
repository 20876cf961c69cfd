//! What can go wrong in storage, in the crate's own words: `StoreError` (sorted by what a
//! caller should do about it), `OpenError`, and `ErrorClass`, what a backend reads from its
//! driver's error codes. Must not: name a driver type.

/// What can go wrong in storage, sorted by what a caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// Another profile already holds this username (compared without case).
    #[error("username is taken")]
    UsernameTaken,
    /// Another profile holds a name that looks like this one (the existing name).
    #[error("username looks like '{0}', which is taken")]
    UsernameConfusable(String),
    /// The database cannot be reached or is overloaded: worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// There are as many as allowed already (subscriptions: `webhooks.max_subscriptions`).
    #[error("the limit of {0} is reached")]
    LimitReached(u32),
    /// The change would leave a profile without an owner.
    #[error("the profile's last owner cannot leave or become less than an owner")]
    LastOwner,
    /// The database refused this data (a value it cannot hold, a constraint): the same
    /// write will fail again, while others may succeed.
    #[error("the database refused the data: {0}")]
    Refused(String),
    /// Any other failure of the database (the cause, for the log).
    #[error("database error: {0}")]
    Other(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("unsupported database URL scheme '{0}': use sqlite://PATH or postgres://...")]
    Scheme(String),
    #[error("cannot open the database: {0}")]
    Connect(String),
}

/// What a database's own error code says, as each backend reads its codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// Busy with other work (a lock held, a serialization conflict, no free connection):
    /// worth retrying, and not a failure of the database.
    Busy,
    /// Cannot be reached, out of space, read-only, shutting down: worth retrying later.
    Unavailable,
    /// The data was refused (see `StoreError::Refused`).
    Refused,
    Other,
}
