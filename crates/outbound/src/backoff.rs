//! When to try again: exponential backoff with full jitter (a delay drawn uniformly between 0
//! and `min(cap, base × 2^(attempt−1))`, so retries from many clients spread out instead of
//! arriving together), and a server's `Retry-After` (seconds, or an HTTP date), which wins
//! when it asks for longer.
//! Must not: sleep (callers wait), or let a server's `Retry-After` ask for less than the backoff.

use hyper::header::{HeaderMap, RETRY_AFTER};
use std::time::Duration;
use time::OffsetDateTime;

/// The full-jitter delay before retry number `attempt` (1 for the first retry), drawn with
/// `unit`, a number in [0, 1).
pub fn full_jitter(base: Duration, cap: Duration, attempt: u32, unit: f64) -> Duration {
    let exp = base.saturating_mul(
        1u32.checked_shl(attempt.saturating_sub(1).min(30))
            .unwrap_or(u32::MAX),
    );
    exp.min(cap).mul_f64(unit.clamp(0.0, 1.0))
}

/// A number in [0, 1) (not for secrets: for spreading retries).
pub fn unit() -> f64 {
    let r = uuid::Uuid::new_v4().as_u128() >> 75; // 53 random bits
    r as f64 / (1u64 << 53) as f64
}

/// What `Retry-After` asks for, at `now`: delta-seconds or an HTTP date (RFC 9110 §10.2.3);
/// `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap, now: OffsetDateTime) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let asked = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => (httpdate(v)? - now).try_into().unwrap_or(Duration::ZERO),
    };
    // whatever a server writes there, a wait longer than a day is a day: no caller adds an
    // absurd duration to a clock
    Some(asked.min(Duration::from_secs(86_400)))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form HTTP dates are sent in.
fn httpdate(s: &str) -> Option<OffsetDateTime> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(s, &fmt)
        .ok()
        .map(|p| p.assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn full_jitter_stays_under_the_exponential_and_the_cap() {
        let (base, cap) = (Duration::from_millis(100), Duration::from_secs(5));
        assert_eq!(
            full_jitter(base, cap, 1, 0.999_999),
            Duration::from_millis(100).mul_f64(0.999_999)
        );
        assert_eq!(full_jitter(base, cap, 3, 0.5), Duration::from_millis(200));
        assert_eq!(
            full_jitter(base, cap, 40, 0.5),
            Duration::from_millis(2500),
            "capped"
        );
        assert_eq!(full_jitter(base, cap, 2, 0.0), Duration::ZERO);
        for _ in 0..1000 {
            let u = unit();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = OffsetDateTime::from_unix_timestamp(784_111_777).unwrap(); // 06 Nov 1994 08:49:37
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(120)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:50:07 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:00:00 GMT"),
        );
        assert_eq!(
            retry_after(&h, now),
            Some(Duration::ZERO),
            "in the past: now"
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("18446744073709551615"),
        );
        assert_eq!(
            retry_after(&h, now),
            Some(Duration::from_secs(86_400)),
            "bounded"
        );
    }
}
