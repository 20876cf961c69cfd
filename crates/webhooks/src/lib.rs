//! Webhooks, Standard Webhooks style, in and out: `sign` (the `webhook-*` headers: verifying
//! incoming events on their raw bytes, signing outgoing ones) and `dispatch` (the dispatcher
//! that delivers the store's transactional outbox: leases, deadlines, retries with full
//! jitter and `Retry-After`, dead-lettering, disabling what fails for long).
//! Must not: decide what an event means for the cache (the HTTP layer invalidates), or write
//! the outbox (the store's profile writes do, in their own transactions).

pub mod dispatch;
pub mod sign;

pub use dispatch::{DispatchConfig, DispatchMetrics, Dispatcher};
pub use sign::{Refusal, Verifier};
