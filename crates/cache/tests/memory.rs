//! What entries cost, measured with a counting allocator: the weight the cache charges for an
//! entry is at least what the entry really allocates, and a cache flooded far past its bound
//! holds no more than its bound (plus a fixed overhead). The constants in `lib.rs`
//! (`ENTRY_OVERHEAD`, `OWNER_INDEX_OVERHEAD`) come from the figures these tests print.
//!
//! One test per process state: each test owns the allocator's count while it runs, so they run
//! one after the other (`--test-threads` is not needed: they share a lock).

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use async_trait::async_trait;
use bytes::Bytes;
use linkleaf_cache::*;
use std::alloc::System;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

#[global_allocator]
static ALLOC: cap::Cap<System> = cap::Cap::new(System, usize::MAX);

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A value holding `len` bytes on the heap, allocated at exactly that size.
struct Blob(Bytes);
impl Weigh for Blob {
    fn weight(&self) -> u32 {
        self.0.len() as u32
    }
}

/// Names starting with `p` exist (with a value of `VALUE` bytes); others do not.
struct Origin;
const VALUE: usize = 9000;

#[async_trait]
impl Loader<Blob> for Origin {
    async fn load(&self, key: &str) -> Result<Option<Loaded<Blob>>, LoadError> {
        Ok(key.starts_with('p').then(|| {
            Loaded::new(
                Uuid::now_v7(),
                Blob(Bytes::from(vec![7u8; VALUE].into_boxed_slice())),
            )
        }))
    }
}

fn cache(max_weight: u64) -> ReadCache<Blob> {
    ReadCache::new(
        Policy {
            fresh: Duration::from_secs(3600),
            stale: Duration::from_secs(3600),
            negative: Duration::from_secs(3600),
            retry_after_error: Duration::from_secs(5),
            max_weight,
        },
        Arc::new(Origin),
        CacheMetrics::noop(),
    )
}

async fn fill(c: &ReadCache<Blob>, prefix: &str, range: std::ops::Range<usize>) {
    for i in range {
        c.get(&format!("{prefix}{i:08}")).await.unwrap();
    }
}

/// Allocation growth per entry and charged weight per entry, over `n` entries after a warm-up.
async fn per_entry(prefix: &str, n: usize) -> (f64, f64) {
    let c = cache(u64::MAX / 2);
    fill(&c, prefix, 0..1000).await;
    let (e0, w0) = c.usage();
    let before = ALLOC.allocated();
    fill(&c, prefix, 1000..1000 + n).await;
    let (e1, w1) = c.usage();
    let after = ALLOC.allocated();
    assert_eq!(e1 - e0, n as u64, "every entry was kept");
    let real = (after - before) as f64 / n as f64;
    let charged = (w1 - w0) as f64 / n as f64;
    (real, charged)
}

#[tokio::test(flavor = "current_thread")]
async fn a_negative_entry_is_charged_at_least_what_it_costs() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (real, charged) = per_entry("nobody", 100_000).await;
    println!("negative entry: allocates {real:.0} bytes, charged {charged:.0}");
    assert!(
        real <= charged,
        "a negative entry allocates {real:.0} bytes but is charged {charged:.0}"
    );
    assert!(
        charged <= real * 1.5,
        "charged {charged:.0} for {real:.0}: the bound would waste memory"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_entry_with_a_value_is_charged_at_least_what_it_costs() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (real, charged) = per_entry("p", 20_000).await;
    println!(
        "entry with a {VALUE}-byte value and an owner: allocates {real:.0} bytes, charged {charged:.0} (overhead beyond the value: {:.0})",
        real - VALUE as f64
    );
    assert!(real <= charged, "allocates {real:.0}, charged {charged:.0}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_flood_of_unknown_names_stays_inside_the_bound() {
    let _one = ONE_AT_A_TIME.lock().await;
    const BOUND: u64 = 4 << 20;
    let c = cache(BOUND);
    fill(&c, "nobody", 0..1000).await;
    c.usage();
    let before = ALLOC.allocated();
    // 200,000 negative entries would take ~120 MB unbounded
    fill(&c, "nobody", 1000..201_000).await;
    let (entries, weight) = c.usage();
    let grown = ALLOC.allocated().saturating_sub(before) as u64;
    println!("flood: {entries} entries kept, charged {weight}, allocation grew {grown}");
    assert!(weight <= BOUND);
    // what is not an entry: moka's frequency sketch and tables sized for the entries it holds
    let fixed = 1 << 20;
    assert!(
        grown <= BOUND + fixed,
        "allocation grew {grown} bytes with a {BOUND}-byte bound"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_flood_of_real_entries_stays_inside_the_bound() {
    let _one = ONE_AT_A_TIME.lock().await;
    const BOUND: u64 = 16 << 20;
    let c = cache(BOUND);
    let before = ALLOC.allocated();
    // 20,000 values of 9 KB would take ~190 MB unbounded
    fill(&c, "p", 0..20_000).await;
    let (entries, weight) = c.usage();
    let grown = ALLOC.allocated().saturating_sub(before) as u64;
    println!("values: {entries} entries kept, charged {weight}, allocation grew {grown}");
    assert!(weight <= BOUND);
    assert!(
        grown <= BOUND + (1 << 20),
        "allocation grew {grown} bytes with a {BOUND}-byte bound"
    );
}
