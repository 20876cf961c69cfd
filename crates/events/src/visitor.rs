//! Daily unique visitors without keeping anyone's address: a visitor is a keyed hash
//! (SipHash-1-3) of the client's address and user agent under the day's salt. Every instance
//! uses the same salt for a day (it lives in the database, made by whoever needs it first), so
//! a visitor counts once whichever instance served them; the salt is deleted when its day ends,
//! after which no hash can be linked to an address again, not even by us.
//!
//! The hot path never waits for a salt: `keep_salts` loads today's and tomorrow's ahead of time.
//! Should the database not have answered by the time a day starts, that day's events use a salt
//! of this process's own (uniques may then count a visitor once per instance; it is logged).

use linkleaf_store::AnalyticsStore;
use siphasher::sip::SipHasher13;
use std::collections::HashMap;
use std::hash::Hasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const DAY_MS: u64 = 86_400_000;

pub struct Salts {
    known: Mutex<HashMap<i64, [u8; 16]>>,
    own: [u8; 16],
}

impl Default for Salts {
    fn default() -> Self {
        Self {
            known: Mutex::new(HashMap::new()),
            own: *uuid::Uuid::new_v4().as_bytes(),
        }
    }
}

impl Salts {
    pub fn set(&self, day: i64, salt: [u8; 16]) {
        self.lock().insert(day, salt);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, [u8; 16]>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets the salts of days before `day`.
    pub fn forget_before(&self, day: i64) {
        self.lock().retain(|d, _| *d >= day);
    }

    /// The visitor hash of `client` with `user_agent` on the day of `at_ms`.
    pub fn visitor(&self, at_ms: u64, client: IpAddr, user_agent: &[u8]) -> u64 {
        let day = (at_ms / DAY_MS) as i64;
        let salt = self.lock().get(&day).copied().unwrap_or(self.own);
        let mut h = SipHasher13::new_with_key(&salt);
        match client {
            IpAddr::V4(a) => h.write(&a.octets()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => h.write(&v4.octets()),
                None => h.write(&a.octets()),
            },
        }
        h.write_u8(0xff);
        h.write(user_agent);
        h.finish()
    }

    pub fn has(&self, day: i64) -> bool {
        self.lock().contains_key(&day)
    }
}

/// Keeps today's and tomorrow's salts loaded and yesterday's gone, every `every`, until `stop`.
pub async fn keep_salts(
    store: Arc<dyn AnalyticsStore>,
    salts: Arc<Salts>,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        let today = (linkleaf_domain::now_millis().unix_timestamp() * 1000) as u64 / DAY_MS;
        let today = today as i64;
        for day in [today, today + 1] {
            if salts.has(day) {
                continue;
            }
            match store.salt(day).await {
                Ok(s) => salts.set(day, s),
                Err(e) => tracing::warn!(day, error = %e, "cannot load the visitor salt"),
            }
        }
        salts.forget_before(today);
        if let Err(e) = store.forget_salts_before(today).await {
            tracing::debug!(error = %e, "old visitor salts not dropped yet");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visitor_is_the_same_within_a_day_and_not_across_days() {
        let s = Salts::default();
        s.set(0, [1; 16]);
        s.set(1, [2; 16]);
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let ua = b"Mozilla/5.0";
        let a = s.visitor(1_000, ip, ua);
        assert_eq!(a, s.visitor(DAY_MS - 1, ip, ua), "same day");
        assert_ne!(a, s.visitor(DAY_MS + 1, ip, ua), "the next day's salt");
        assert_ne!(a, s.visitor(1_000, "203.0.113.8".parse().unwrap(), ua));
        assert_ne!(a, s.visitor(1_000, ip, b"curl/8"));
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(
            a,
            s.visitor(1_000, mapped, ua),
            "IPv4-mapped IPv6 is the same client"
        );
        s.forget_before(1);
        assert!(!s.has(0) && s.has(1));
        let other = Salts::default();
        other.set(0, [1; 16]);
        assert_eq!(
            other.visitor(1_000, ip, ua),
            a,
            "instances with the day's salt agree"
        );
    }
}
