//! linkleaf's HTTP surface: the axum routers, their shared state, the one error type and the
//! extractors that turn bad input into clear problem+json answers.
//!
//! Owns: routing, auth and rate limits, rendering profiles into cached bytes, HTTP caching
//! headers. Must not: hold business rules (linkleaf-domain), talk SQL (linkleaf-store), or
//! decide cache freshness (linkleaf-cache).

pub mod access;
pub mod auth;
pub mod clicks;
pub mod client;
pub mod cold;
pub mod document;
pub mod error;
pub mod export;
pub mod extract;
pub mod fast;
pub mod limit;
pub mod log;
pub mod metrics;
pub mod profiles;
pub mod qr;
pub mod readiness;
pub mod render;
pub mod reports;
pub mod respond;
pub mod responses;
pub mod routes;
pub mod server;
pub mod service;
pub mod signin;
pub mod site;
pub mod state;
pub mod style;
pub mod variant;

pub use document::{openapi, openapi_json};
pub use error::AppError;
pub use routes::{ops_router, router};
pub use service::service;
pub use state::{AccountSettings, AppState, Dependency, Handles, Settings};
