//! Clicks by the thousand, counted: profiles with many links, concurrent clients following them
//! through `/r/{link}`, a record of every answer (302s per link, failures per link), and the
//! analytics API read back until it says what was answered. What the exactly-once tests compare.

use reqwest::Client;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What the load's clients say they are: a person's browser.
pub const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";

/// Creates `profiles` profiles (`{prefix}0`, `{prefix}1`...) of `links` links each through the
/// admin API at `base`; returns (profile id, its link ids).
pub async fn profiles_with_links(
    client: &Client,
    base: &str,
    key: &str,
    prefix: &str,
    profiles: usize,
    links: usize,
) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for p in 0..profiles {
        let ls: Vec<Value> = (0..links)
            .map(|i| json!({"title": format!("link {i}"), "url": format!("https://{prefix}{p}.example/{i}")}))
            .collect();
        let res = client
            .post(format!("{base}/api/profiles"))
            .bearer_auth(key)
            .json(&json!({"username": format!("{prefix}{p}"), "links": ls}))
            .send()
            .await
            .expect("create a profile");
        assert_eq!(res.status(), 201, "create {prefix}{p}");
        let v: Value = res.json().await.expect("profile json");
        let ids = v["links"]
            .as_array()
            .expect("links")
            .iter()
            .map(|l| l["id"].as_str().expect("link id").to_owned())
            .collect();
        out.push((v["id"].as_str().expect("id").to_owned(), ids));
    }
    out
}

/// What a load got: per link id, the 302s answered and the requests that failed (no answer).
#[derive(Debug, Default)]
pub struct Clicks {
    pub answered: HashMap<String, u64>,
    pub failed: HashMap<String, u64>,
    /// Answers other than 302 (should be none).
    pub other: u64,
}

impl Clicks {
    pub fn answered_total(&self) -> u64 {
        self.answered.values().sum()
    }

    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Adds another load's counts to these.
    pub fn add(&mut self, other: Clicks) {
        for (k, v) in other.answered {
            *self.answered.entry(k).or_default() += v;
        }
        for (k, v) in other.failed {
            *self.failed.entry(k).or_default() += v;
        }
        self.other += other.other;
    }
}

/// Follows every link of `plan` once, from `clients` concurrent keep-alive clients, at `base`
/// (which `base_now` may change as it runs: a restarted server); counts as it goes.
pub struct Load {
    progress: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<Clicks>,
}

impl Load {
    pub fn start(base: Arc<std::sync::RwLock<String>>, plan: Vec<String>, clients: usize) -> Self {
        let progress = Arc::new(AtomicU64::new(0));
        let plan = Arc::new(plan);
        let next = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let progress = progress.clone();
            async move {
                let mut workers = Vec::new();
                for _ in 0..clients {
                    let (plan, next, progress, base) =
                        (plan.clone(), next.clone(), progress.clone(), base.clone());
                    workers.push(tokio::spawn(async move {
                        let client = Client::builder()
                            .redirect(reqwest::redirect::Policy::none())
                            .pool_max_idle_per_host(1)
                            .user_agent(BROWSER)
                            .timeout(Duration::from_secs(10))
                            .build()
                            .expect("client");
                        let mut c = Clicks::default();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(link) = plan.get(i) else { break };
                            let url = {
                                let b = base.read().unwrap_or_else(|p| p.into_inner());
                                format!("{b}/r/{link}")
                            };
                            match client.get(url).send().await {
                                Ok(r) if r.status() == 302 => {
                                    *c.answered.entry(link.clone()).or_default() += 1
                                }
                                Ok(_) => c.other += 1,
                                Err(_) => {
                                    *c.failed.entry(link.clone()).or_default() += 1;
                                    // the server is down: a person would not retry at once
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                }
                            }
                            progress.fetch_add(1, Ordering::Relaxed);
                        }
                        c
                    }));
                }
                let mut all = Clicks::default();
                for w in workers {
                    let c = w.await.expect("a load worker");
                    for (k, v) in c.answered {
                        *all.answered.entry(k).or_default() += v;
                    }
                    for (k, v) in c.failed {
                        *all.failed.entry(k).or_default() += v;
                    }
                    all.other += c.other;
                }
                all
            }
        });
        Self { progress, task }
    }

    /// Requests done so far.
    pub fn done(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    /// Waits until `n` requests are done (or the load ends).
    pub async fn wait_for(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.done() < n && !self.task.is_finished() {
            assert!(
                Instant::now() < deadline,
                "the load stalled at {}",
                self.done()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub async fn finish(self) -> Clicks {
        self.task.await.expect("the load")
    }
}

/// `links` repeated: each `times` times, shuffled so clients interleave links.
pub fn plan(links: &[String], times: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..times).flat_map(|_| links.iter().cloned()).collect();
    // a fixed shuffle (no rand dependency): an LCG
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..v.len()).rev() {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        v.swap(i, (x >> 33) as usize % (i + 1));
    }
    v
}

/// The analytics of `profile` (an id or a username) over the last 7 days, by hour.
pub async fn report(client: &Client, base: &str, key: &str, profile: &str) -> Value {
    let res = client
        .get(format!(
            "{base}/api/profiles/{profile}/analytics?bucket=hour"
        ))
        .bearer_auth(key)
        .send()
        .await
        .expect("analytics");
    assert_eq!(res.status(), 200, "analytics of {profile}");
    res.json().await.expect("analytics json")
}

/// Clicks per link as the analytics of `profiles` say.
pub async fn counted(
    client: &Client,
    base: &str,
    key: &str,
    profiles: &[String],
) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for p in profiles {
        let r = report(client, base, key, p).await;
        for l in r["links"].as_array().expect("links") {
            out.insert(
                l["linkId"].as_str().expect("linkId").to_owned(),
                l["clicks"].as_u64().expect("clicks"),
            );
        }
    }
    out
}

/// Waits until the analytics of `profiles` count `expected` clicks in all (`within` at most);
/// returns the per-link counts. Fails if it counts more: nothing is ever counted twice.
pub async fn wait_for_total(
    client: &Client,
    base: &str,
    key: &str,
    profiles: &[String],
    expected: u64,
    within: Duration,
) -> HashMap<String, u64> {
    let deadline = Instant::now() + within;
    loop {
        let c = counted(client, base, key, profiles).await;
        let total: u64 = c.values().sum();
        assert!(
            total <= expected,
            "counted {total} clicks, more than {expected}"
        );
        if total == expected {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "after {within:?} the analytics count {total} of {expected} clicks"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
