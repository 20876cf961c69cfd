//! Redis, or a Redis Cluster, as linkleaf uses it: the shared second cache tier
//! (`linkleaf_cache::tier::SecondTier`), the invalidation bus between instances
//! (`linkleaf_cache::tier::Bus` and `bus::subscribe`), and the per-key token bucket shared by
//! every instance (`SharedBucket`).
//!
//! Redis faults cost no read: every call is bounded by a tight timeout, and a breaker stops
//! asking once calls fail, so while Redis is down or slow the service pays nothing for it; the
//! breaker lets a call through again after `breaker_open` and closes on its first success, and
//! the tier rewarms by itself as misses fill it. Keys are exact (no `KEYS`, no `SCAN`) and those
//! of one profile share a hash tag, so they live in one cluster slot and one script can touch
//! them together:
//!
//! | key | holds |
//! |---|---|
//! | `{prefix}:page:{<username key>}` | the encoded page and when the origin produced it |
//! | `{prefix}:gen:{<username key>}` | the key's generation, moved by every invalidation |
//! | `{prefix}:rl:{<api key id>}` | the API key's GCRA state (its theoretical arrival time) |
//! | channel `{prefix}:bus` | invalidations and heartbeats, as JSON |
//!
//! Must not: let a driver type out of this crate, or block a read on Redis for longer than the
//! timeout.

mod bucket;
pub mod bus;
mod client;
mod scripts;
mod tier;

pub use bucket::SharedBucket;
pub use bus::{BusEvent, BusMessage};
pub use client::{ConfigError, Redis, RedisConfig};
