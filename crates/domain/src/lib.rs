//! linkleaf's data model and the rules for everything that comes in.
//!
//! Owns: usernames, link and avatar URLs, text limits, themes, profiles and links, the link
//! operations of a `PATCH .../links`, API key tokens and scopes. Every value from outside is
//! created through a `parse` that names the offending field (camelCase, as on the wire).
//! Must not: do I/O, know about HTTP status codes, or depend on a storage engine.

pub mod account;
pub mod analytics;
pub mod apikey;
pub mod error;
pub mod import;
pub mod link_ops;
pub mod net;
pub mod profile;
pub mod public_json;
pub mod schedule;
pub mod scope;
pub mod secret;
pub mod sketch;
pub mod snapshot;
pub mod text;
pub mod theme;
pub mod url;
pub mod username;
pub mod webhook;
pub mod zone;

pub use apikey::{ApiKeyToken, KEY_PREFIX};
pub use error::{FieldError, ValidationErrors};
pub use link_ops::{LinkOp, LinksPatch};
pub use profile::{
    CreateProfile, Link, MAX_LINKS, NewLink, Profile, ProfilePatch, PublicProfile, now_millis,
    unix_millis,
};
pub use scope::{Scope, Scopes};
pub use secret::Secret;
pub use theme::{ButtonStyle, Color, Theme, ThemePreset};
pub use username::Username;
