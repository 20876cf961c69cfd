//! Outbound HTTP, for the two journeys that leave the process: edge mode's origin (`origin`: a
//! token bucket per upstream key, backoff with full jitter honouring `Retry-After`, untrusted
//! answers parsed like any input) and webhook deliveries, which go out with the same client
//! (`http`: deadlines, bounded bodies, no redirects followed).
//! Must not: cache, or serve anything.

pub mod backoff;
pub mod http;
pub mod origin;

pub use http::Client;
pub use origin::{Bucket, LocalBucket, Origin, OriginConfig, OriginMetrics};
