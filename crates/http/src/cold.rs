//! An edge's misses for names it has never seen. On an edge a miss costs a request to the
//! upstream, whose budget (`origin.upstream_per_minute`) is shared by every reader; a client
//! asking for name after name that does not exist would empty it and leave real, not yet
//! cached profiles unanswered. So names known to exist (served before, or announced by the
//! upstream's webhooks) go to the upstream as they always did, while a miss for a name never
//! seen is limited per client address (`origin.cold_misses_per_minute`), and a name the
//! upstream said does not exist is remembered longer (`origin.cold_negative_ttl_secs`) than
//! the cache's own negative entries. Reads of pages the cache holds are never limited. Must
//! not: ask the upstream (the loader does), or keep more than its bounds.

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use metrics::Counter;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Names remembered at most, known and missing each.
const NAMES_MAX: u64 = 200_000;

/// What a miss may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Ask the upstream.
    Go,
    /// The upstream said lately that there is no such profile: a 404 without asking.
    Missing,
    /// This client asked for too many names never seen: a 503, to retry after this long.
    Limited(Duration),
}

pub struct ColdMisses {
    known: moka::sync::Cache<String, ()>,
    missing: moka::sync::Cache<String, ()>,
    per_client: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
    limited: Counter,
}

impl ColdMisses {
    pub fn new(
        per_client_per_minute: u32,
        negative_ttl: Duration,
        recorder: &dyn metrics::Recorder,
    ) -> Self {
        let n = NonZeroU32::new(per_client_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            known: moka::sync::Cache::builder().max_capacity(NAMES_MAX).build(),
            missing: moka::sync::Cache::builder()
                .max_capacity(NAMES_MAX)
                .time_to_live(negative_ttl.max(Duration::from_millis(1)))
                .build(),
            per_client: RateLimiter::keyed(Quota::per_minute(n)),
            checks: AtomicU64::new(0),
            limited: metrics::with_local_recorder(recorder, || {
                metrics::counter!("linkleaf_cold_misses_limited_total")
            }),
        }
    }

    /// Whether `key` is known to exist.
    pub fn is_known(&self, key: &str) -> bool {
        self.known.contains_key(key)
    }

    /// `key` exists (the upstream served it, or announced it).
    pub fn exists(&self, key: &str) {
        self.missing.invalidate(key);
        self.known.insert(key.to_owned(), ());
    }

    /// The upstream says `key` does not exist (now).
    pub fn missing(&self, key: &str) {
        self.known.invalidate(key);
        self.missing.insert(key.to_owned(), ());
    }

    /// What a miss for `key` by `client` may do.
    pub fn admit(&self, key: &str, client: IpAddr) -> Admit {
        if self.known.contains_key(key) {
            return Admit::Go;
        }
        if self.missing.contains_key(key) {
            return Admit::Missing;
        }
        // the clients' buckets are dropped once full again, now and then
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.per_client.retain_recent();
        }
        match self.per_client.check_key(&client) {
            Ok(()) => Admit::Go,
            Err(not_until) => {
                self.limited.increment(1);
                Admit::Limited(
                    not_until.wait_time_from(governor::clock::DefaultClock::default().now()),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_go_unknown_ones_are_limited_per_client_and_missing_ones_remembered() {
        let c = ColdMisses::new(3, Duration::from_secs(60), &metrics::NoopRecorder);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
        for i in 0..3 {
            assert_eq!(c.admit(&format!("n{i}"), a), Admit::Go);
        }
        assert!(matches!(c.admit("n3", a), Admit::Limited(_)));
        assert_eq!(c.admit("n3", b), Admit::Go, "another client has its own");
        c.exists("real");
        for _ in 0..10 {
            assert_eq!(
                c.admit("real", a),
                Admit::Go,
                "a known name is never limited"
            );
        }
        c.missing("gone");
        assert_eq!(c.admit("gone", b), Admit::Missing);
        c.exists("gone");
        assert_eq!(c.admit("gone", b), Admit::Go);
    }
}
