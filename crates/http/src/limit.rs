//! The per-API-key rate limit, behind a trait so the binary can put a shared bucket (Redis) in
//! front of the in-process one: with several instances, a per-instance bucket would let a key
//! make N times its limit.
//!
//! `LocalLimiter` is the in-process GCRA bucket (governor): the embedded default, and the
//! fallback of a shared limiter whose store cannot be reached.
//! Must not: fail a request because the shared bucket cannot be reached (the local one answers
//! then).

use async_trait::async_trait;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;
use uuid::Uuid;

/// Takes one token of a key's bucket.
#[async_trait]
pub trait KeyLimiter: Send + Sync + 'static {
    /// `Ok(())` when a token was taken; `Err(wait)` when the bucket is empty for this long.
    async fn take(&self, key: Uuid) -> Result<(), Duration>;
}

/// A bucket per key in this process: `per_minute` tokens a minute, at most `burst` at once.
pub struct LocalLimiter(DefaultKeyedRateLimiter<Uuid>);

impl LocalLimiter {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Self(RateLimiter::keyed(
            Quota::per_minute(per_minute).allow_burst(burst),
        ))
    }

    pub fn take_now(&self, key: Uuid) -> Result<(), Duration> {
        self.0.check_key(&key).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::DefaultClock::default().now())
        })
    }
}

#[async_trait]
impl KeyLimiter for LocalLimiter {
    async fn take(&self, key: Uuid) -> Result<(), Duration> {
        self.take_now(key)
    }
}

/// Sign-in attempts, limited per client address and per account (the email asked for, known or
/// not, so an unknown email is limited alike): guessing passwords is slow from one address, and
/// slow against one account from many. Both buckets refill within a minute, so an attack holds
/// the real owner off for no longer than it lasts.
pub struct SignInLimits {
    pub client: std::sync::Arc<dyn KeyLimiter>,
    pub account: std::sync::Arc<dyn KeyLimiter>,
}

impl SignInLimits {
    /// Takes a token of the client's bucket, then of the account's: an attempt the client's
    /// limit refuses spends nothing of the account's, so one address cannot hold an account
    /// off by asking more often than it may.
    pub async fn take(&self, email: &str, client: std::net::IpAddr) -> Result<(), Duration> {
        let key = |what: &str, v: &str| {
            use sha2::Digest;
            let d = sha2::Sha256::digest(format!("signin:{what}:{v}").as_bytes());
            let mut b = [0u8; 16];
            b.copy_from_slice(&d[..16]);
            Uuid::from_bytes(b)
        };
        let email = email.trim().to_lowercase();
        self.client.take(key("client", &client.to_string())).await?;
        self.account.take(key("account", &email)).await
    }
}
