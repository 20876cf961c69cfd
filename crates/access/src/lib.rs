//! Who may do what. The access table (`table`: each role's actions on its profile, the one
//! place a reader finds them), passwords (`password`: Argon2id, and the same work for an
//! unknown account as for a known one), session tokens (`session`: 256 random bits, stored as a
//! digest, named by a public id that is not the secret) and the origin check of a write made
//! with a session cookie (`origin`). Must not: know HTTP routes or the database (the `http`
//! crate asks, `linkleaf-store` keeps).

pub mod clock;
pub mod keys;
pub mod links;
pub mod origin;
pub mod passkeys;
pub mod password;
pub mod session;
pub mod sessions;
pub mod table;
