//! The request log: one structured line per request answered by a route (its template,
//! method, status, latency and, for a refusal or a failure, its code and cause, which the
//! answer carries to this line as an extension: `Cause`). Successful requests go out at
//! `debug` (the hot path stays quiet); client errors at `info` and server errors at `error`,
//! each within a budget (`LogBudget`): no client controls the log's size. What a budget
//! suppresses is counted (`linkleaf_log_lines_suppressed_total{level}`) and summed up in one
//! line when lines flow again. Must not: log a secret, a body, or a raw path (the route's
//! template names it).

use axum::http::Method;
use metrics::Counter;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why a request was refused or failed, as its answer carries it to the log line.
#[derive(Debug, Clone)]
pub struct Cause {
    /// The problem's stable code (`unauthorized`, `internal_error`...).
    pub code: &'static str,
    /// What happened, for the operator (never sent to the client for a server error).
    pub detail: String,
}

/// A token bucket of log lines: `burst` at once, `per_sec` after.
pub struct LogBudget {
    inner: Mutex<Bucket>,
    per_sec: f64,
    burst: f64,
    suppressed_total: Counter,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    /// Lines suppressed since one was last let through, and since when.
    suppressed: u64,
    since: Option<Instant>,
}

impl LogBudget {
    pub fn new(per_sec: u32, burst: u32, suppressed_total: Counter) -> Self {
        Self {
            inner: Mutex::new(Bucket {
                tokens: f64::from(burst),
                at: Instant::now(),
                suppressed: 0,
                since: None,
            }),
            per_sec: f64::from(per_sec),
            burst: f64::from(burst),
            suppressed_total,
        }
    }

    /// Takes a line's token. `Some(n)`: log it, after saying that `n` lines were suppressed
    /// since the last one (over how long); `None`: suppressed (and counted).
    pub fn admit(&self) -> Option<(u64, Duration)> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<(u64, Duration)> {
        let mut b = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * self.per_sec;
        b.tokens = (b.tokens + refill).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            let since = b
                .since
                .take()
                .map_or(Duration::ZERO, |s| now.duration_since(s));
            Some((std::mem::take(&mut b.suppressed), since))
        } else {
            b.suppressed += 1;
            b.since.get_or_insert(now);
            drop(b);
            self.suppressed_total.increment(1);
            None
        }
    }
}

/// The budgets of the request log: client errors (4xx) and server errors (5xx).
pub struct RequestLog {
    client_errors: LogBudget,
    server_errors: LogBudget,
}

/// Client errors logged at most: 5 a second after a burst of 20.
const CLIENT_PER_SEC: u32 = 5;
const CLIENT_BURST: u32 = 20;
/// Server errors logged at most: 20 a second after a burst of 100.
const SERVER_PER_SEC: u32 = 20;
const SERVER_BURST: u32 = 100;

impl RequestLog {
    pub fn new(recorder: &dyn metrics::Recorder) -> Self {
        let (client, server) = metrics::with_local_recorder(recorder, || {
            (
                metrics::counter!("linkleaf_log_lines_suppressed_total", "level" => "info"),
                metrics::counter!("linkleaf_log_lines_suppressed_total", "level" => "error"),
            )
        });
        Self {
            client_errors: LogBudget::new(CLIENT_PER_SEC, CLIENT_BURST, client),
            server_errors: LogBudget::new(SERVER_PER_SEC, SERVER_BURST, server),
        }
    }

    /// The line of one answered request.
    pub fn line(
        &self,
        route: &str,
        method: &Method,
        status: u16,
        latency: Duration,
        cause: Option<&Cause>,
    ) {
        let micros = latency.as_micros() as u64;
        let (code, detail) = cause.map_or(("", ""), |c| (c.code, c.detail.as_str()));
        if status >= 500 {
            if let Some((suppressed, over)) = self.server_errors.admit() {
                if suppressed > 0 {
                    tracing::error!(
                        suppressed,
                        over_ms = over.as_millis() as u64,
                        "server errors not logged (over the log's budget; counted in linkleaf_http_requests_total)"
                    );
                }
                tracing::error!(route, %method, status, micros, code, cause = detail, "request");
            }
        } else if status >= 400 {
            if let Some((suppressed, over)) = self.client_errors.admit() {
                if suppressed > 0 {
                    tracing::info!(
                        suppressed,
                        over_ms = over.as_millis() as u64,
                        "client errors not logged (over the log's budget; counted in linkleaf_http_requests_total)"
                    );
                }
                tracing::info!(route, %method, status, micros, code, cause = detail, "request");
            }
        } else {
            tracing::debug!(route, %method, status, micros, "request");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_lets_a_burst_through_then_its_rate_and_says_what_it_held_back() {
        let b = LogBudget::new(5, 3, Counter::noop());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.admit_at(t0).map(|x| x.0), Some(0));
        }
        for i in 0..100 {
            assert!(b.admit_at(t0 + Duration::from_millis(i)).is_none());
        }
        // a fifth of a second later a token has come back (5 a second)
        let (suppressed, over) = b
            .admit_at(t0 + Duration::from_millis(300))
            .expect("a token came back");
        assert_eq!(suppressed, 100);
        assert_eq!(over, Duration::from_millis(300));
        assert!(b.admit_at(t0 + Duration::from_millis(310)).is_none());
    }
}
