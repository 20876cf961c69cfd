//! One lifecycle, proven on real processes: an origin with every component on (PostgreSQL,
//! RabbitMQ with the consumer inside it, Redis, webhook delivery) and an edge in front of it
//! (the origin its upstream, subscribed to the origin's webhooks), each stopped with SIGTERM
//! while clients follow links on both and the origin's profiles are being edited. Each exits 0
//! within `server.shutdown_grace_secs` without the drain deadline cutting anything, and once
//! both are back on their spools no click is lost or counted twice: per link,
//! answered <= counted <= answered + failed, on the origin (its analytics API) and on the edge
//! (its own database: an edge refuses the analytics routes).

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::load::{self, Clicks, Load};
use linkleaf_testkit::process::{Instance, create_key};
use linkleaf_testkit::services::{TempPostgres, TempQueue, free_port, shared_redis};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_linkleaf");
const GRACE: Duration = Duration::from_secs(5);

fn common() -> Vec<(&'static str, String)> {
    vec![
        ("LINKLEAF_RATE_LIMIT__PER_MINUTE", "1000000".into()),
        ("LINKLEAF_RATE_LIMIT__BURST", "1000000".into()),
        ("LINKLEAF_ANALYTICS__WINDOW_SECS", "0.05".into()),
        ("LINKLEAF_ANALYTICS__CACHE_SECS", "0".into()),
        (
            "LINKLEAF_SERVER__SHUTDOWN_GRACE_SECS",
            GRACE.as_secs().to_string(),
        ),
        ("LINKLEAF_LOG__FILTER", "warn,linkleaf=info".into()),
    ]
}

async fn metric(client: &reqwest::Client, ops: &str, series: &str) -> f64 {
    let Ok(r) = client.get(format!("http://{ops}/metrics")).send().await else {
        return f64::NAN;
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Waits (thirty seconds at most) until `done` holds twice in a row, 200 ms apart.
async fn settle<F, Fut>(what: &str, done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    linkleaf_testkit::settled(what, Duration::from_secs(30), done).await;
}

/// SIGTERM; it must exit 0 within the grace (and a little for the process to end), having
/// logged no drain cut short.
fn stop_within_grace(i: &mut Instance, what: &str) -> Duration {
    let asked = Instant::now();
    assert!(
        i.terminate(GRACE + Duration::from_secs(2)),
        "{what} did not exit 0 within the grace: {:#?}",
        i.log()
    );
    let took = asked.elapsed();
    let log = i.log();
    assert!(
        !log.iter().any(|l| l.contains("deadline passed")),
        "{what}'s drain was cut short: {log:#?}"
    );
    assert!(
        log.iter().any(|l| l.contains("drained; stopped")),
        "{what} did not say it drained: {log:#?}"
    );
    took
}

/// answered <= counted <= answered + failed, link by link; returns the total counted.
fn check(what: &str, clicks: &Clicks, counted: &HashMap<String, u64>, links: &[String]) -> u64 {
    let mut total = 0;
    for l in links {
        let answered = clicks.answered.get(l).copied().unwrap_or(0);
        let failed = clicks.failed.get(l).copied().unwrap_or(0);
        let c = counted.get(l).copied().unwrap_or(0);
        assert!(
            answered <= c && c <= answered + failed,
            "{what}, link {l}: answered {answered}, failed {failed}, counted {c}"
        );
        total += c;
    }
    total
}

/// Clicks per link in an instance's own SQLite database, by its minute rollups.
async fn counted_in(db: &std::path::Path) -> HashMap<String, u64> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT value, SUM(human + bot) FROM analytics_rollups \
         WHERE dimension = 'link' AND granularity = 1 GROUP BY value",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.into_iter().map(|(l, n)| (l, n as u64)).collect()
}

/// Edits the origin's profiles until `stop` (each edit a webhook delivery to the edge).
fn keep_editing(
    origin: String,
    key: String,
    names: Vec<String>,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let c = reqwest::Client::new();
        let mut edits = 0;
        for v in 0.. {
            if stop.is_cancelled() {
                break;
            }
            let name = &names[v % names.len()];
            let r = c
                .patch(format!("{origin}/api/profiles/{name}"))
                .bearer_auth(&key)
                .json(&json!({"bio": format!("edit {v}")}))
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            match r {
                Ok(r) if r.status() == 200 => edits += 1,
                // the origin is stopping or gone: a person would wait a little
                _ => {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(50)) => {}
                    }
                }
            }
        }
        edits
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_with_everything_on_and_its_edge_stop_on_sigterm_within_the_grace_losing_nothing()
{
    let Some(q) = TempQueue::create().await else {
        return;
    };
    let Some(db) = TempPostgres::create().await else {
        return;
    };
    let Some((redis_url, prefix)) = shared_redis() else {
        return;
    };
    let (odir, edir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut origin_env = common();
    origin_env.extend([
        ("LINKLEAF_DATABASE__URL", db.url.clone()),
        ("LINKLEAF_QUEUE__URL", q.url.clone()),
        ("LINKLEAF_QUEUE__NAME", q.name.clone()),
        ("LINKLEAF_REDIS__URL", redis_url),
        ("LINKLEAF_REDIS__PREFIX", prefix),
        ("LINKLEAF_WEBHOOKS__POLL_MS", "100".into()),
        // the edge is the operator's own, on loopback
        ("LINKLEAF_WEBHOOKS__ALLOW_NETWORKS", "127.0.0.1".into()),
    ]);
    let key = create_key(
        BIN,
        odir.path(),
        &origin_env,
        "profile:write,profile:read,links:write,webhooks:write,analytics:read",
    );
    let mut origin = Instance::start(BIN, odir.path(), &origin_env);
    let c = reqwest::Client::new();
    let edge_port = free_port();
    let sub: Value = c
        .post(origin.url("/api/webhooks/subscriptions"))
        .bearer_auth(&key)
        .json(&json!({"url": format!("http://127.0.0.1:{edge_port}/api/webhooks")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let made = load::profiles_with_links(&c, &origin.url(""), &key, "calm", 8, 25).await;
    let links: Vec<String> = made.iter().flat_map(|(_, l)| l.clone()).collect();
    let profiles: Vec<String> = made.iter().map(|(p, _)| p.clone()).collect();
    let names: Vec<String> = (0..made.len()).map(|i| format!("calm{i}")).collect();
    let mut edge_env = common();
    edge_env.extend([
        ("LINKLEAF_SERVER__LISTEN", format!("127.0.0.1:{edge_port}")),
        ("LINKLEAF_ORIGIN__UPSTREAM_URL", origin.url("")),
        ("LINKLEAF_ORIGIN__UPSTREAM_KEY", key.clone()),
        ("LINKLEAF_ORIGIN__UPSTREAM_PER_MINUTE", "100000".into()),
        (
            "LINKLEAF_WEBHOOKS__SECRET",
            sub["secret"].as_str().unwrap().to_owned(),
        ),
    ]);
    let mut edge = Instance::start(BIN, edir.path(), &edge_env);
    // an edge redirects the links of the profiles it has loaded
    for n in &names {
        let r = c.get(edge.url(&format!("/{n}"))).send().await.unwrap();
        assert_eq!(r.status(), 200, "{n} on the edge");
    }

    let plan = load::plan(&links, 6);
    let third = plan.len() as u64 / 3;
    let stop_editing = tokio_util::sync::CancellationToken::new();
    let editing = keep_editing(
        origin.url(""),
        key.clone(),
        names.clone(),
        stop_editing.clone(),
    );
    // the edge stopped a third of the way through its load, then the origin a third of the way
    // through its own: the rest of each load finds nobody
    let on_edge = Load::start(Arc::new(RwLock::new(edge.url(""))), plan.clone(), 16);
    on_edge.wait_for(third).await;
    let edge_took = stop_within_grace(&mut edge, "the edge");
    let on_origin = Load::start(Arc::new(RwLock::new(origin.url(""))), plan.clone(), 16);
    on_origin.wait_for(third).await;
    let origin_took = stop_within_grace(&mut origin, "the origin");
    stop_editing.cancel();
    let edits = editing.await.unwrap();
    let (at_origin, at_edge) = (on_origin.finish().await, on_edge.finish().await);
    assert_eq!(
        (at_origin.other, at_edge.other),
        (0, 0),
        "only 302s or no answer"
    );
    for (what, at) in [("origin", &at_origin), ("edge", &at_edge)] {
        assert!(
            at.answered_total() >= third && at.failed_total() > 0,
            "the {what} was stopped under load: {} answered, {} failed",
            at.answered_total(),
            at.failed_total()
        );
    }
    assert!(edits > 0, "the origin was edited under load");

    // both back, on their spools: what was written before the stop is sent and counted once
    let origin = Instance::start(BIN, odir.path(), &origin_env);
    let mut edge = Instance::start(BIN, edir.path(), &edge_env);
    let (oops, eops) = (origin.ops.clone(), edge.ops.clone());
    settle("the origin's pipeline drained", || async {
        metric(&c, &oops, "linkleaf_spool_backlog_frames").await == 0.0
            && q.depth(&q.name).await == 0
            && metric(&c, &oops, "linkleaf_consumer_pending_events").await == 0.0
            && metric(&c, &oops, "linkleaf_consumer_held_messages").await == 0.0
    })
    .await;
    settle("the edge's pipeline drained", || async {
        metric(&c, &eops, "linkleaf_spool_backlog_frames").await == 0.0
            && metric(&c, &eops, "linkleaf_consumer_pending_events").await == 0.0
            && metric(&c, &eops, "linkleaf_consumer_held_messages").await == 0.0
    })
    .await;
    let counted = load::counted(&c, &origin.url(""), &key, &profiles).await;
    let origin_total = check("origin", &at_origin, &counted, &links);
    // the edge's clicks are in its own database, read once it has stopped again
    stop_within_grace(&mut edge, "the restarted edge");
    let edge_total = check(
        "edge",
        &at_edge,
        &counted_in(&edir.path().join("linkleaf.db")).await,
        &links,
    );
    eprintln!(
        "origin: {} answered, {} failed, {origin_total} counted, stopped in {origin_took:?}; \
         edge: {} answered, {} failed, {edge_total} counted, stopped in {edge_took:?}; \
         {edits} edits under load",
        at_origin.answered_total(),
        at_origin.failed_total(),
        at_edge.answered_total(),
        at_edge.failed_total(),
    );
    assert_eq!(
        q.depth(&format!("{}.dlq", q.name)).await,
        0,
        "nothing poisoned"
    );
}
