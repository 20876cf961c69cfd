//! Outbound HTTP, for the two journeys that leave the process: edge mode's origin (`origin`: a
//! token bucket per upstream key, backoff with full jitter honouring `Retry-After`, untrusted
//! answers parsed like any input) and webhook deliveries, which go out with the same client
//! (`http`: deadlines, bounded bodies, no redirects followed), connected by the one connector
//! (`connect`) that lets URLs users supply reach only public addresses (`policy`).
//! Must not: cache, or serve anything.

pub mod backoff;
pub mod connect;
pub mod http;
pub mod origin;
pub mod policy;

pub use connect::{Destinations, Resolve, SystemResolver};
pub use http::Client;
pub use origin::{Bucket, LocalBucket, Origin, OriginConfig, OriginMetrics};
pub use policy::{AddressPolicy, Net, Refusal};
