//! The linkleaf service as a library: configuration, the application (listeners, state, graceful
//! shutdown), the demo profile and key management. `main.rs` is a thin clap front over it, and
//! the test kit builds the same `Application` the binary runs.
//! Must not: hold what the binary alone needs (argument parsing stays in `main.rs`).

pub mod accounts;
pub mod app;
pub mod config;
pub mod consume;
pub mod demo;
pub mod edge;
pub mod keys;
pub mod origins;
pub mod pipeline;
pub mod process;
pub mod schedule;
pub mod wiring;

pub use app::{Application, Overrides, open_stores};
pub use config::Config;
pub use process::shutdown_signal;
