//! Scheduled links, end to end on real processes: two origin instances sharing PostgreSQL and
//! Redis, an edge in front of one of them (its cache fed by the upstream and the origin's
//! webhooks), and a webhook receiver. Every cache is kept fresh for ten minutes, so only the
//! boundary can change what is served. A link scheduled seconds ahead appears at its start and
//! goes at its end on all three, with no request between the reads before and after; a reader
//! polling through each boundary is never served the old page once it has passed; the receiver
//! hears `links.updated` for each boundary, stamped with it, with nothing asked of the instance.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::hooks::{Answer, Stand};
use linkleaf_testkit::process::{Instance, create_key};
use linkleaf_testkit::services::{TempPostgres, free_port, shared_redis};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const BIN: &str = env!("CARGO_BIN_EXE_linkleaf");

fn env(db: &str, redis: &str, prefix: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LINKLEAF_DATABASE__URL", db.to_owned()),
        ("LINKLEAF_REDIS__URL", redis.to_owned()),
        ("LINKLEAF_REDIS__PREFIX", prefix.to_owned()),
        ("LINKLEAF_RATE_LIMIT__PER_MINUTE", "1000000".into()),
        ("LINKLEAF_RATE_LIMIT__BURST", "1000000".into()),
        ("LINKLEAF_SERVER__WORKERS", "1".into()),
        // fresh for ten minutes: only a boundary can change what is served
        ("LINKLEAF_CACHE__FRESH_SECS", "600".into()),
        ("LINKLEAF_WEBHOOKS__POLL_MS", "100".into()),
        ("LINKLEAF_WEBHOOKS__ALLOW_NETWORKS", "127.0.0.1".into()),
    ]
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

/// Sleeps until the wall clock reads `ms` (the boundary under test is this far ahead).
async fn until_wall(ms: i64) {
    let left = ms - wall_ms();
    if left > 0 {
        tokio::time::sleep(Duration::from_millis(left as u64)).await;
    }
    assert!(wall_ms() >= ms);
}

/// What a public read shows: the titles of the links, `X-Cache`, `Cache-Control`, and the
/// answer's `validUntil` (JSON) — or, for a page, whether it holds the title.
struct Read {
    titles: Vec<String>,
    cache: String,
    cache_control: String,
    valid_until: Option<String>,
}

async fn read(c: &reqwest::Client, base: &Instance, name: &str) -> Read {
    let r = c
        .get(base.url(&format!("/api/profiles/{name}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = |n: &str| linkleaf_testkit::header(&r, n).to_owned();
    let (cache, cache_control) = (h("x-cache"), h("cache-control"));
    let body: Value = r.json().await.unwrap();
    Read {
        titles: body["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["title"].as_str().unwrap().to_owned())
            .collect(),
        cache,
        cache_control,
        valid_until: body["validUntil"].as_str().map(str::to_owned),
    }
}

async fn page_shows(c: &reqwest::Client, base: &Instance, name: &str, text: &str) -> bool {
    let r = c.get(base.url(&format!("/{name}"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap().contains(text)
}

fn max_age(cache_control: &str) -> u64 {
    cache_control
        .split(',')
        .find_map(|p| p.trim().strip_prefix("max-age="))
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_link_appears_and_goes_at_its_boundaries_everywhere_without_a_request() {
    let Some(db) = TempPostgres::create().await else {
        return;
    };
    let Some((redis, prefix)) = shared_redis() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = env(&db.url, &redis, &prefix);
    let migrated = Command::new(BIN)
        .arg("migrate")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(migrated.status.success());
    let key = create_key(
        BIN,
        dir.path(),
        &env,
        "profile:write,profile:read,links:write,webhooks:write",
    );
    let origins: Vec<Instance> = (0..2)
        .map(|i| {
            let mut env = env.clone();
            env.push(("LINKLEAF_CLICKS__SPOOL_DIR", format!("spool-{i}")));
            Instance::start(BIN, dir.path(), &env)
        })
        .collect();
    let c = reqwest::Client::new();
    let post = |url: String, body: Value| {
        let (c, key) = (c.clone(), key.clone());
        async move {
            let r = c
                .post(url)
                .bearer_auth(&key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body = r.json::<Value>().await.unwrap();
            assert_eq!(status, 201, "{body}");
            body
        }
    };
    let receiver = Stand::start(Answer::Status(200)).await;
    post(
        origins[0].url("/api/webhooks/subscriptions"),
        json!({"url": receiver.url("/hook"), "events": ["links.updated"]}),
    )
    .await;
    let edge_port = free_port();
    let sub = post(
        origins[0].url("/api/webhooks/subscriptions"),
        json!({"url": format!("http://127.0.0.1:{edge_port}/api/webhooks")}),
    )
    .await;
    let edir = tempfile::tempdir().unwrap();
    let edge = Instance::start(
        BIN,
        edir.path(),
        &[
            ("LINKLEAF_SERVER__LISTEN", format!("127.0.0.1:{edge_port}")),
            ("LINKLEAF_ORIGIN__UPSTREAM_URL", origins[0].url("")),
            ("LINKLEAF_ORIGIN__UPSTREAM_KEY", key.clone()),
            (
                "LINKLEAF_WEBHOOKS__SECRET",
                sub["secret"].as_str().unwrap().to_owned(),
            ),
            ("LINKLEAF_CACHE__FRESH_SECS", "600".into()),
        ],
    );
    let all = [&origins[0], &origins[1], &edge];

    // a link shown from `start` to `end`, a few seconds ahead
    let start = (wall_ms() / 1000 + 5) * 1000;
    let end = start + 3000;
    let created = post(
        origins[1].url("/api/profiles"),
        json!({"username": "launch", "links": [
            {"title": "Always", "url": "https://always.example/"},
            {"title": "Launch", "url": "https://launch.example/",
             "visibleFrom": rfc3339(start), "visibleUntil": rfc3339(end)},
        ]}),
    )
    .await;
    let launch = created["links"][1]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["links"][1]["visibleFrom"], rfc3339(start));

    // before: not shown, and everything is cached (a second read is a hit)
    for i in all {
        for _ in 0..2 {
            assert!(!page_shows(&c, i, "launch", "launch.example").await);
        }
        read(&c, i, "launch").await;
        let r = read(&c, i, "launch").await;
        assert_eq!(r.titles, ["Always"]);
        assert_eq!(r.cache, "HIT");
        assert_eq!(r.valid_until.as_deref(), Some(rfc3339(start).as_str()));
        let left_s = ((start - wall_ms()) / 1000) as u64;
        assert!(
            max_age(&r.cache_control) <= left_s,
            "{} reaches past the start, {left_s} s away",
            r.cache_control
        );
    }
    let redirect = |i: &Instance| {
        let (c, url) = (
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            i.url(&format!("/r/{launch}")),
        );
        async move { c.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(redirect(&origins[0]).await, 404);
    // the edge knows no such link yet (it is not in the public answer): a 404 it keeps
    assert_eq!(redirect(&edge).await, 404);
    let heard_before = receiver.count();

    // a reader polling through the start: never the old page once the start has passed
    let poller = {
        let (c, url) = (c.clone(), origins[1].url("/api/profiles/launch"));
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while wall_ms() < start + 1000 {
                let sent = wall_ms();
                let body: Value = c.get(&url).send().await.unwrap().json().await.unwrap();
                let shown = body["links"].as_array().unwrap().len() == 2;
                seen.push((sent, wall_ms(), shown));
            }
            seen
        })
    };
    until_wall(start).await;
    // after: shown on every instance and the edge, with no request between
    for i in all {
        let r = read(&c, i, "launch").await;
        assert_eq!(r.titles, ["Always", "Launch"], "{}", i.addr);
        assert_eq!(r.valid_until.as_deref(), Some(rfc3339(end).as_str()));
        assert!(page_shows(&c, i, "launch", "launch.example").await);
    }
    assert_eq!(redirect(&origins[0]).await, 302);
    assert_eq!(redirect(&origins[1]).await, 302);
    // the edge's kept 404 went when the page it read showed the link
    assert_eq!(redirect(&edge).await, 302);
    let last_modified = |i: &Instance| {
        let (c, url) = (c.clone(), i.url("/launch"));
        async move {
            let r = c.get(url).send().await.unwrap();
            httpdate::parse_http_date(linkleaf_testkit::header(&r, "last-modified")).unwrap()
        }
    };
    let started = last_modified(&edge).await;
    assert_eq!(
        started,
        last_modified(&origins[0]).await,
        "the edge dates as the origin"
    );
    let seen = poller.await.unwrap();
    assert!(seen.len() > 10, "{} reads", seen.len());
    for (sent, answered, shown) in &seen {
        if *sent >= start {
            assert!(shown, "a read sent {} ms after the start", sent - start);
        }
        if *answered < start {
            assert!(!shown, "shown {} ms before the start", start - answered);
        }
    }

    // the receiver heard of the start, stamped with it, from the instance alone
    let events = receiver
        .wait_for(heard_before + 1, Duration::from_secs(5))
        .await;
    let stamped = |at: i64| {
        events.iter().any(|s| {
            let e: Value = serde_json::from_slice(&s.body).unwrap();
            e["type"] == "links.updated"
                && e["data"]["username"] == "launch"
                && e["timestamp"]
                    .as_str()
                    .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                    .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                    == Some(at)
        })
    };
    assert!(stamped(start), "{events:?}");

    until_wall(end).await;
    for i in all {
        let r = read(&c, i, "launch").await;
        assert_eq!(r.titles, ["Always"], "{}", i.addr);
        assert_eq!(r.valid_until, None);
        assert!(!page_shows(&c, i, "launch", "launch.example").await);
    }
    assert_eq!(redirect(&origins[1]).await, 404);
    let ended = last_modified(&edge).await;
    assert!(
        ended > started,
        "Last-Modified moves on at the end, never back"
    );
    assert_eq!(ended, last_modified(&origins[1]).await);
    let events = receiver
        .wait_for(heard_before + 2, Duration::from_secs(5))
        .await;
    let ends = events
        .iter()
        .filter(|s| {
            let e: Value = serde_json::from_slice(&s.body).unwrap();
            e["timestamp"].as_str().is_some_and(|t| {
                OffsetDateTime::parse(t, &Rfc3339)
                    .is_ok_and(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64 == end)
            })
        })
        .count();
    assert_eq!(ends, 1, "two instances announced the end once: {events:?}");
}
