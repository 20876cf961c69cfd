//! A click's and a page view's whole journey, from the request to the rollups.
//!
//! ```text
//! /r/{link}, /{username}        the request: a Hit (raw, in memory only)
//!   -> spool::Spool              one writer task: a Hit becomes an Event (visitor hash, country,
//!                                referring host: no address), events go to an append-only file
//!                                in frames, one write per batch; a click's 302 waits for the write
//!                                of its frame (group commit), a view does not wait
//!   -> forward::Forwarder        sends frames after the cursor to the queue, moves the cursor
//!                                only over what the queue confirmed, deletes forwarded segments
//!   -> queue::{inproc, amqp}     in-process (the embedded default) or RabbitMQ (a durable quorum
//!                                queue, publisher confirms, a DLQ for what cannot be processed)
//!   -> consumer::Consumer        windows of analytics.window_secs: frames are classified and
//!                                rolled up (rollup.rs), then committed in one transaction with
//!                                the frames' identities (AnalyticsStore), then acknowledged
//! ```
//!
//! A frame is named by its spool's id and its sequence number there (a queue message carries up
//! to `queue::MESSAGE_FRAMES` consecutive frames), so a frame sent or delivered again is
//! recognised by the store and counted once. No step drops an
//! event it has accepted: a full queue or a down database stops the step before it (the spool
//! grows, up to `clicks.spool_max_bytes`).
//! Must not: keep a client's address anywhere but in memory between request and writer.

pub mod classify;
pub mod consumer;
pub mod event;
pub mod forward;
pub mod geo;
pub mod metrics;
pub mod queue;
pub mod rollup;
pub mod spool;
pub mod visitor;
