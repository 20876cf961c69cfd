//! The analytics query over many recorded clicks: loads `CLICKS` clicks (default 10 million) for
//! one profile of 20 links, spread over the last 30 days, through the consumer's own code (each
//! frame of 1,000 events rolled up by `linkleaf_events::rollup::rollup`, windows of 100 frames
//! committed by `AnalyticsStore::commit_window`, then the hourly prune), then times the store's
//! report query (what `GET /api/profiles/{id}/analytics` runs on a report-cache miss) for the
//! ranges a dashboard asks for. Used by `bench/analytics.sh`.
//!
//!   cargo run --release -p linkleaf --example analytics_query -- postgres://postgres@127.0.0.1/db
//!   CLICKS=1000000 cargo run --release -p linkleaf --example analytics_query -- sqlite:///tmp/a.db

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // a benchmark tool

use linkleaf_domain::analytics::{AnalyticsQuery, Bucket};
use linkleaf_events::classify::Classifier;
use linkleaf_events::event::{Event, Kind};
use linkleaf_events::rollup::rollup;
use linkleaf_store::StoreOptions;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

const FRAME: usize = 1_000;
const WINDOW: usize = 100;
const DAY_MS: u64 = 86_400_000;

const AGENTS: &[(&str, u32)] = &[
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        30,
    ),
    (
        "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        25,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        20,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        10,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        5,
    ),
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        4,
    ),
    (
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        4,
    ),
    ("curl/8.11.0", 2),
];
const COUNTRIES: &[&str] = &[
    "US", "GB", "DE", "FR", "BR", "IN", "JP", "CA", "AU", "ES", "IT", "NL", "SE", "MX", "KR", "PL",
    "TR", "AR", "ZA", "NG", "",
];
const REFERRERS: &[&str] = &[
    "",
    "instagram.com",
    "l.instagram.com",
    "t.co",
    "www.tiktok.com",
    "www.youtube.com",
    "www.google.com",
    "m.facebook.com",
    "www.reddit.com",
    "news.ycombinator.com",
    "linkedin.com",
    "duckduckgo.com",
];

/// xorshift64*: reproducible and cheap.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Skewed towards small indexes, as real traffic is.
    fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }
}

fn agent(r: &mut Rng) -> &'static str {
    let total: u32 = AGENTS.iter().map(|(_, w)| w).sum();
    let mut pick = (r.next() % u64::from(total)) as u32;
    for (ua, w) in AGENTS {
        if pick < *w {
            return ua;
        }
        pick -= w;
    }
    AGENTS[0].0
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let url = std::env::args()
        .nth(1)
        .expect("usage: analytics_query DATABASE_URL");
    let clicks: usize = std::env::var("CLICKS")
        .ok()
        .map_or(10_000_000, |v| v.parse().unwrap());
    let stores = linkleaf_store::open(&url, &StoreOptions::default())
        .await
        .unwrap();
    stores.profiles.migrate().await.unwrap();
    let store = stores.analytics;

    let profile = Uuid::now_v7();
    let links: Vec<Uuid> = (0..20).map(|_| Uuid::now_v7()).collect();
    let source = Uuid::now_v7();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let start = now - 30 * DAY_MS;
    let step = (30 * DAY_MS) as f64 / clicks as f64;
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let mut classifier = Classifier::default();

    let load = Instant::now();
    let mut window = Vec::with_capacity(WINDOW);
    let mut seq = 0u64;
    let mut made = 0usize;
    let mut committed = 0u64;
    while made < clicks {
        let n = FRAME.min(clicks - made);
        let events: Vec<Event> = (made..made + n)
            .map(|i| Event {
                id: Uuid::from_u64_pair(r.next(), r.next()),
                kind: Kind::Click,
                profile,
                link: Some(links[r.skewed(links.len())]),
                at_ms: start + (i as f64 * step) as u64,
                // two million people, a few of them often
                visitor: r.next() % 2_000_000,
                country: COUNTRIES[r.skewed(COUNTRIES.len())].to_owned(),
                region: String::new(),
                referrer: REFERRERS[r.skewed(REFERRERS.len())].to_owned(),
                user_agent: agent(&mut r).to_owned(),
                head: false,
                count: 1,
            })
            .collect();
        made += n;
        seq += 1;
        window.push(rollup(source, seq, &events, &mut classifier));
        if window.len() == WINDOW || made == clicks {
            let out = store
                .commit_window(std::sync::Arc::new(std::mem::take(&mut window)))
                .await
                .unwrap();
            committed += out.committed_events;
            if seq.is_multiple_of(WINDOW as u64 * 10) {
                eprintln!(
                    "{committed} clicks committed ({:.0} s)",
                    load.elapsed().as_secs_f64()
                );
            }
        }
    }
    let pruned = store.prune(now as i64).await.unwrap();
    let loaded = load.elapsed();
    // the statistics autovacuum (PostgreSQL) or `PRAGMA optimize` (SQLite) would have gathered
    // by the time anyone reads a month of analytics: without them, a table filled a moment ago
    // looks empty to the planner, which then filters the dimensions instead of seeking them
    {
        use sqlx::Connection;
        if url.starts_with("sqlite") {
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("ANALYZE").execute(&mut c).await.unwrap();
        } else {
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query("ANALYZE").execute(&mut c).await.unwrap();
        }
    }
    assert_eq!(committed, clicks as u64, "every click committed once");

    let q = |days: u64, bucket: Bucket| AnalyticsQuery {
        from_ms: bucket.floor((now - days * DAY_MS) as i64),
        to_ms: bucket.floor(now as i64) + bucket.millis(),
        bucket,
        shortened: false,
        zone: None,
    };
    let queries = [
        ("30 days by day", q(30, Bucket::Day)),
        ("7 days by day (the default)", q(7, Bucket::Day)),
        ("7 days by hour", q(7, Bucket::Hour)),
        ("30 days by hour", q(30, Bucket::Hour)),
        ("24 hours by minute", q(1, Bucket::Minute)),
    ];
    println!(
        "{clicks} clicks over 30 days on one profile of {} links ({url_kind}): loaded and committed in {:.1} s ({:.0} clicks/s), {pruned} expired minute rows pruned",
        links.len(),
        loaded.as_secs_f64(),
        clicks as f64 / loaded.as_secs_f64(),
        url_kind = url.split(':').next().unwrap_or_default(),
    );
    println!(
        "{:<30} {:>9} {:>9} {:>9} {:>14}",
        "query (store, uncached)", "p50_ms", "p99_ms", "max_ms", "clicks_in_range"
    );
    for (name, query) in queries {
        let _ = store.report(profile, &query).await.unwrap(); // warm the plan and the pages
        let mut times = Vec::new();
        let mut total = 0;
        for _ in 0..50 {
            let t = Instant::now();
            let report = store.report(profile, &query).await.unwrap();
            times.push(t.elapsed());
            total = report.totals.clicks;
        }
        times.sort();
        println!(
            "{name:<30} {:>9.2} {:>9.2} {:>9.2} {:>14}",
            millis(times[times.len() / 2]),
            millis(times[times.len() * 99 / 100]),
            millis(times[times.len() - 1]),
            total
        );
    }
}
