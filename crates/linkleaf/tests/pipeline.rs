//! Every click answered is counted, none twice, with faults injected in the middle of the load,
//! on real processes: the embedded default (SQLite, the in-process queue) with its database
//! locked, a graceful restart and a SIGKILL; and the production setup (`serve` and `linkleaf
//! consume` on RabbitMQ and PostgreSQL) with the consumer SIGKILLed and restarted, stopped with
//! SIGTERM (exit 0 within its grace) and started again, every broker
//! connection closed, the consumer's database blackholed then refusing, and the server
//! SIGKILLed and restarted.
//!
//! Each link is followed a known number of times. A request that got its 302 must be counted; a
//! request that failed (the server was killed under it) may or may not have been written before
//! the kill; so per link: answered <= counted <= answered + failed. A frame counted twice would
//! break the upper bound.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::load::{self, Clicks, Load};
use linkleaf_testkit::process::{Instance, create_key};
use linkleaf_testkit::proxy::{FaultProxy, Mode};
use linkleaf_testkit::services::{TempPostgres, TempQueue};
use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, RwLock};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_linkleaf");

fn common() -> Vec<(&'static str, String)> {
    vec![
        ("LINKLEAF_RATE_LIMIT__PER_MINUTE", "1000000".into()),
        ("LINKLEAF_RATE_LIMIT__BURST", "1000000".into()),
        ("LINKLEAF_ANALYTICS__WINDOW_SECS", "0.05".into()),
        ("LINKLEAF_ANALYTICS__CACHE_SECS", "0".into()),
        ("LINKLEAF_SERVER__SHUTDOWN_GRACE_SECS", "5".into()),
        ("LINKLEAF_LOG__FILTER", "warn,linkleaf=info".into()),
    ]
}

fn key(dir: &std::path::Path, env: &[(&str, String)]) -> String {
    create_key(BIN, dir, env, "profile:write,profile:read,analytics:read")
}

async fn metric(client: &reqwest::Client, ops: &str, series: &str) -> f64 {
    let Ok(r) = client.get(format!("{ops}/metrics")).send().await else {
        return f64::NAN;
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Waits until `done` holds twice in a row, 200 ms apart (thirty seconds at most).
async fn settle<F, Fut>(what: &str, done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    linkleaf_testkit::settled(what, Duration::from_secs(30), done).await;
}

/// answered <= counted <= answered + failed, link by link; returns the total counted.
fn check(clicks: &Clicks, counted: &HashMap<String, u64>, links: &[String]) -> u64 {
    let mut total = 0;
    for l in links {
        let answered = clicks.answered.get(l).copied().unwrap_or(0);
        let failed = clicks.failed.get(l).copied().unwrap_or(0);
        let c = counted.get(l).copied().unwrap_or(0);
        assert!(
            answered <= c && c <= answered + failed,
            "link {l}: answered {answered}, failed {failed}, counted {c}"
        );
        total += c;
    }
    total
}

struct Setup {
    links: Vec<String>,
    profiles: Vec<String>,
}

async fn make_profiles(client: &reqwest::Client, base: &str, key: &str, n: usize) -> Setup {
    let made = load::profiles_with_links(client, base, key, "load", n, 100).await;
    Setup {
        links: made.iter().flat_map(|(_, l)| l.clone()).collect(),
        profiles: made.iter().map(|(p, _)| p.clone()).collect(),
    }
}

/// Waits until `i` logs a line containing `what` (twenty seconds at most).
async fn reconnected(i: &mut Instance, what: &str) {
    let mut seen = Vec::new();
    linkleaf_testkit::until(what, Duration::from_secs(20), || {
        seen.extend(i.log());
        let found = seen.iter().any(|l| l.contains(what));
        let tail = seen[seen.len().saturating_sub(20)..].join("\n");
        async move { if found { Ok(()) } else { Err(tail) } }
    })
    .await;
}

fn point(base: &Arc<RwLock<String>>, i: &Instance) {
    *base.write().unwrap() = i.url("");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_no_click_is_lost_or_counted_twice_through_a_locked_database_restarts_and_sigkill()
{
    let dir = tempfile::tempdir().unwrap();
    let mut env = common();
    // a locked database fails a commit quickly
    env.push(("LINKLEAF_DATABASE__BUSY_TIMEOUT_MS", "100".into()));
    let db_path = dir.path().join("linkleaf.db");
    Command::new(BIN)
        .arg("migrate")
        .current_dir(dir.path())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .status()
        .unwrap();
    let key = key(dir.path(), &env);
    let client = reqwest::Client::new();
    let mut server = Instance::start(BIN, dir.path(), &env);
    let setup = make_profiles(&client, &server.url(""), &key, 20).await;
    // three loads, one fault in the middle of each: no fault waits on another's timing
    let part = load::plan(&setup.links, 2);
    let n = part.len() as u64 * 3;
    let base = Arc::new(RwLock::new(server.url("")));

    // 1. the database locked by another process until a commit has failed on it
    let run = Load::start(base.clone(), part.clone(), 32);
    run.wait_for(part.len() as u64 / 5).await;
    let mut log = Vec::new();
    {
        use sqlx::Connection;
        let mut locker =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", db_path.display()))
                .await
                .unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut locker)
            .await
            .unwrap();
        linkleaf_testkit::until(
            "the lock made a commit fail",
            Duration::from_secs(20),
            || {
                log.extend(server.log());
                let failed = log.iter().any(|l| l.contains("could not be committed"));
                let tail = log[log.len().saturating_sub(20)..].join("\n");
                async move { if failed { Ok(()) } else { Err(tail) } }
            },
        )
        .await;
        sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    }
    let mut clicks = run.finish().await;
    log.extend(server.log());
    assert!(
        log.iter().all(|l| !l.contains("panicked")),
        "no panic through the lock"
    );

    // 2. a graceful restart in the middle of a load (the consumer stops and starts with it)
    let run = Load::start(base.clone(), part.clone(), 32);
    run.wait_for(part.len() as u64 / 3).await;
    assert!(server.terminate(Duration::from_secs(10)), "a clean stop");
    server = Instance::start(BIN, dir.path(), &env);
    point(&base, &server);
    clicks.add(run.finish().await);

    // 3. SIGKILL in the middle of a load
    let run = Load::start(base.clone(), part.clone(), 32);
    run.wait_for(part.len() as u64 / 3).await;
    server.kill();
    server = Instance::start(BIN, dir.path(), &env);
    point(&base, &server);
    clicks.add(run.finish().await);
    assert_eq!(clicks.other, 0);
    assert!(
        clicks.answered_total() > n / 2,
        "most were answered: {} of {n}",
        clicks.answered_total()
    );

    let ops = format!("http://{}", server.ops);
    settle("the spool drained", || async {
        metric(&client, &ops, "linkleaf_spool_backlog_frames").await == 0.0
            && metric(&client, &ops, "linkleaf_consumer_pending_events").await == 0.0
            && metric(&client, &ops, "linkleaf_consumer_held_messages").await == 0.0
    })
    .await;
    let counted = load::counted(&client, &server.url(""), &key, &setup.profiles).await;
    let total = check(&clicks, &counted, &setup.links);
    eprintln!(
        "embedded: {n} clicks sent, {} answered, {} failed at the faults, {total} counted",
        clicks.answered_total(),
        clicks.failed_total()
    );
    assert!(
        server
            .log()
            .iter()
            .all(|l| !l.contains("panicked") && !l.contains("ERROR")),
        "a clean run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_and_postgres_lose_nothing_and_count_nothing_twice_through_faults() {
    let Some(q) = TempQueue::create().await else {
        return;
    };
    let Some(db) = TempPostgres::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pg: std::net::SocketAddr = {
        let u = url::Url::parse(&db.url).unwrap();
        format!(
            "{}:{}",
            u.host_str().unwrap().replace("localhost", "127.0.0.1"),
            u.port().unwrap_or(5432)
        )
        .parse()
        .unwrap()
    };
    let proxy = FaultProxy::start(pg).await;
    let via_proxy = {
        let mut u = url::Url::parse(&db.url).unwrap();
        u.set_host(Some("127.0.0.1")).unwrap();
        u.set_port(Some(proxy.addr.port())).unwrap();
        u.to_string()
    };
    let mut env = common();
    env.extend([
        ("LINKLEAF_QUEUE__URL", q.url.clone()),
        ("LINKLEAF_QUEUE__NAME", q.name.clone()),
    ]);
    let mut serve_env = env.clone();
    serve_env.extend([
        ("LINKLEAF_DATABASE__URL", db.url.clone()),
        ("LINKLEAF_ANALYTICS__CONSUME", "false".into()),
    ]);
    let mut consume_env = env.clone();
    consume_env.extend([
        ("LINKLEAF_DATABASE__URL", via_proxy),
        ("LINKLEAF_ANALYTICS__COMMIT_TIMEOUT_MS", "500".into()),
        ("LINKLEAF_DATABASE__ACQUIRE_TIMEOUT_MS", "500".into()),
    ]);
    let start_consumer = || Instance::start_command(BIN, &["consume"], dir.path(), &consume_env);
    let mut server = Instance::start(BIN, dir.path(), &serve_env);
    let key = key(dir.path(), &serve_env);
    let mut consumer = start_consumer();
    let client = reqwest::Client::new();
    let setup = make_profiles(&client, &server.url(""), &key, 20).await;
    // one load per fault, each fault in the middle of its load: no fault waits on another's
    // timing (a slow reconnect cannot let the load end before the next fault)
    let part = load::plan(&setup.links, 4);
    let n = part.len() as u64 * 5;
    let third = part.len() as u64 / 3;
    let base = Arc::new(RwLock::new(server.url("")));
    let mut clicks = load::Clicks::default();

    // the consumer killed, and back a little later
    let run = Load::start(base.clone(), part.clone(), 32);
    run.wait_for(third).await;
    consumer.kill();
    run.wait_for(third * 2).await;
    consumer = start_consumer();
    clicks.add(run.finish().await);

    // the consumer stopped with SIGTERM under load: it commits the window it holds and exits 0
    // within its grace (server.shutdown_grace_secs = 5), saying so; then it starts again
    let run = Load::start(base.clone(), part.clone(), 32);
    run.wait_for(third).await;
    consumer.log();
    assert!(
        consumer.terminate(Duration::from_secs(10)),
        "the consumer exits 0 on SIGTERM, within its grace"
    );
    let said = consumer.log();
    assert!(said.iter().any(|l| l.ends_with("stopped")), "{said:#?}");
    assert!(
        !said
            .iter()
            .any(|l| l.contains("did not stop") || l.contains("deadline passed")),
        "stopped within the grace: {said:#?}"
    );
    consumer = start_consumer();
    clicks.add(run.finish().await);

    // every broker connection closed: unacknowledged messages come again, unconfirmed
    // publishes are sent again
    let run = Load::start(base.clone(), part.clone(), 32);
    run.wait_for(third).await;
    server.log();
    consumer.log();
    TempQueue::close_all_connections();
    // the server connects again only to publish, and the first load may have ended while
    // rabbitmqctl started: clicks that come after the close
    let after = Load::start(base.clone(), part.clone(), 32);
    // both sides lost their connection and made a new one
    reconnected(&mut server, "publishing to RabbitMQ").await;
    reconnected(&mut consumer, "consuming from RabbitMQ").await;
    clicks.add(run.finish().await);
    clicks.add(after.finish().await);

    // the server killed and restarted on its spool
    let run = Load::start(base.clone(), part.clone(), 32);
    run.wait_for(third).await;
    server.kill();
    server = Instance::start(BIN, dir.path(), &serve_env);
    point(&base, &server);
    clicks.add(run.finish().await);

    // the analytics database gone quiet, then refusing, then back, while clicks keep coming
    let run = Load::start(base.clone(), part.clone(), 32);
    run.wait_for(part.len() as u64 / 10).await;
    proxy.set(Mode::Blackhole);
    tokio::time::sleep(Duration::from_millis(1000)).await; // how long the fault lasts
    proxy.set(Mode::Reset);
    tokio::time::sleep(Duration::from_millis(500)).await; // how long the fault lasts
    proxy.set(Mode::Pass);
    clicks.add(run.finish().await);
    assert_eq!(clicks.other, 0);

    let log = consumer.log();
    for l in log
        .iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
    {
        eprintln!("CONSUMER {l}");
    }
    for l in server
        .log()
        .iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
    {
        eprintln!("SERVER {l}");
    }
    assert!(
        log.iter().any(|l| l.contains("could not be committed")),
        "the consumer saw its database go: {log:#?}"
    );
    let (ops, cops) = (
        format!("http://{}", server.ops),
        format!("http://{}", consumer.ops),
    );
    settle("the pipeline drained", || async {
        metric(&client, &ops, "linkleaf_spool_backlog_frames").await == 0.0
            && q.depth(&q.name).await == 0
            && metric(&client, &cops, "linkleaf_consumer_pending_events").await == 0.0
            // a message delivered to the consumer is no longer ready in the queue: until it
            // is acknowledged, only this says it is still on its way
            && metric(&client, &cops, "linkleaf_consumer_held_messages").await == 0.0
    })
    .await;
    let counted = load::counted(&client, &server.url(""), &key, &setup.profiles).await;
    let total = check(&clicks, &counted, &setup.links);
    let dup = metric(&client, &cops, "linkleaf_events_duplicate_total").await;
    eprintln!(
        "rabbitmq: {n} clicks sent, {} answered, {} failed at the faults, {total} counted, \
         {dup} duplicate events recognised by the restarted consumer",
        clicks.answered_total(),
        clicks.failed_total()
    );
    assert_eq!(
        q.depth(&format!("{}.dlq", q.name)).await,
        0,
        "nothing poisoned"
    );
    let ready: serde_json::Value = client
        .get(consumer.ops_url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready", "{ready:#}");
    assert!(
        ready["dependencies"]["queue"]["detail"]
            .as_str()
            .unwrap()
            .contains("dead-letter queue depth 0"),
        "{ready:#}"
    );
}
