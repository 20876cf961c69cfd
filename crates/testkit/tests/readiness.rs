//! What `/readyz` says about writes, and what the service does while they fail: a database that
//! refuses writes (full) makes the instance degraded while it keeps serving what it has cached,
//! and works again as soon as there is room, without a restart (every click answered meanwhile
//! counted once); a database file replaced under the running process makes it unready and
//! refuses writes loudly; a spool on a full disk makes it degraded until there is room.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::{TestApp, eventually, load};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn quick(c: &mut linkleaf::Config) {
    c.analytics.window = std::time::Duration::from_secs_f64(0.05);
    c.analytics.cache_for = std::time::Duration::from_secs(0);
    c.rate_limit.per_minute = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
    c.rate_limit.burst = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
    // the webhook dispatcher's small writes (an event fanned out) can still find room in a
    // database a profile no longer fits in, and would say writes work again: these tests
    // decide when there is room
    c.webhooks.dispatch = false;
}

async fn create(app: &TestApp, key: &str, name: &str) -> u16 {
    app.admin(reqwest::Method::POST, "/api/profiles", key)
        .json(&json!({"username": name, "bio": "x".repeat(200),
                      "links": [{"title": "a link", "url": format!("https://{name}.example/")}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_writes_degrade_the_instance_and_everything_works_again_once_there_is_room() {
    let limit = Arc::new(AtomicU64::new(0));
    let app = TestApp::spawn_with_store(quick, {
        let limit = limit.clone();
        |o| o.sqlite_page_limit = Some(limit)
    })
    .await;
    let key = app.root_key().await;
    let p = app
        .create_profile(
            &key,
            json!({"username": "cached", "links": [
            {"title": "one", "url": "https://one.example/"}]}),
        )
        .await;
    let link = p["links"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/cached").await.status(), 200);
    let (status, ready) = app.readyz().await;
    assert_eq!(
        (status, &ready["mode"]),
        (200, &json!("normal")),
        "{ready:#}"
    );
    assert_eq!(ready["dependencies"]["database"]["status"], "ok");
    assert!(
        ready["dependencies"]["database"]["heartbeat"].is_string(),
        "{ready:#}"
    );

    // the database fills up
    limit.store(60, Ordering::SeqCst);
    let mut n = 0;
    loop {
        match create(&app, &key, &format!("fill{n}")).await {
            201 => n += 1,
            503 => break,
            other => panic!("a write to a full database answered {other}"),
        }
        assert!(n < 5_000, "the database never filled");
    }
    let (status, ready) = app.readyz().await;
    assert_eq!(
        status, 200,
        "a full database leaves reads: ready, {ready:#}"
    );
    assert_eq!(ready["mode"], "degraded", "{ready:#}");
    assert_eq!(
        ready["dependencies"]["database"]["status"], "failing writes",
        "{ready:#}"
    );
    assert!(
        ready["degraded"][0]
            .as_str()
            .unwrap()
            .contains("writes are failing"),
        "{ready:#}"
    );
    // cached pages are served meanwhile, and clicks are answered (spooled)
    assert_eq!(app.get("/cached").await.status(), 200);
    let clicks = 40;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36")
        .build()
        .unwrap();
    let mut answered = 0;
    for _ in 0..clicks {
        if browser
            .get(app.url(&format!("/r/{link}")))
            .send()
            .await
            .unwrap()
            .status()
            == 302
        {
            answered += 1;
        }
    }
    assert_eq!(answered, clicks);

    // room again: writes work at once, no restart
    limit.store(0, Ordering::SeqCst);
    for i in 0..10 {
        assert_eq!(
            create(&app, &key, &format!("after{i}")).await,
            201,
            "write {i}"
        );
    }
    eventually(
        "the instance is back to normal",
        Duration::from_secs(10),
        || async { app.readyz().await.1["mode"] == "normal" },
    )
    .await;
    // and every click answered while the disk was full is counted, once
    let report = linkleaf_testkit::until(
        "every answered click is counted",
        Duration::from_secs(20),
        || async {
            let r = load::report(&app.client, &app.url(""), &key, "cached").await;
            if r["totals"]["clicks"].as_i64() >= Some(clicks) {
                Ok(r)
            } else {
                Err(format!("{r:#}"))
            }
        },
    )
    .await;
    assert_eq!(
        report["totals"]["clicks"], clicks,
        "lost 0, duplicated 0: {report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_file_replaced_under_the_process_makes_it_unready_and_refuses_writes() {
    for how in ["replaced", "deleted"] {
        let app = TestApp::spawn().await;
        let key = app.root_key().await;
        assert_eq!(create(&app, &key, "before").await, 201);
        let path = app
            .database_url
            .strip_prefix("sqlite://")
            .unwrap()
            .to_owned();
        if how == "replaced" {
            // a copy put in its place: another inode
            let copy = format!("{path}.copy");
            std::fs::copy(&path, &copy).unwrap();
            std::fs::rename(&copy, &path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
        let r = app
            .admin(reqwest::Method::POST, "/api/profiles", &key)
            .json(&json!({"username": "after"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503, "{how}: the write is refused");
        let (status, ready) = app.readyz().await;
        assert_eq!(status, 503, "{how}: {ready:#}");
        assert_eq!(ready["dependencies"]["database"]["status"], "unavailable");
        let detail = ready["dependencies"]["database"]["detail"]
            .as_str()
            .unwrap();
        assert!(detail.contains(how), "{how}: {detail}");
    }
}

/// The spool on a real full disk (a small tmpfs, as root): `/readyz` says the spool cannot
/// write and the instance is degraded; once there is room, clicks are written and it is back
/// to normal, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_that_cannot_write_degrades_the_instance_until_it_can() {
    use linkleaf_store::testing::{Tmpfs, is_root};
    if !is_root() {
        eprintln!("\n*** SKIPPED: mounting a tmpfs needs root (CI runs as root) ***\n");
        return;
    }
    let fs = Tmpfs::mount("4m").expect("mount a tmpfs (as root)");
    let spool = fs.path().join("spool");
    let app = TestApp::spawn_with({
        let spool = spool.clone();
        move |c| {
            quick(c);
            c.clicks.spool_dir = spool;
        }
    })
    .await;
    let key = app.root_key().await;
    assert_eq!(create(&app, &key, "ada").await, 201);
    let p: serde_json::Value = app.get("/api/profiles/ada").await.json().await.unwrap();
    let link = format!("/r/{}", p["links"][0]["id"].as_str().unwrap());
    assert_eq!(app.get(&link).await.status(), 302);
    let (status, ready) = app.readyz().await;
    assert_eq!(
        (status, ready["mode"].as_str()),
        (200, Some("normal")),
        "{ready:#}"
    );
    // the disk fills up
    let filler = fs.path().join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![7u8; 64 * 1024];
    while std::io::Write::write_all(&mut f, &block).is_ok() {}
    drop(f);
    // a visitor still reaches the link; the clicks that cannot be written (once the segment's
    // last page is full) are counted as dropped for the disk's sake
    linkleaf_testkit::until(
        "clicks dropped for the disk",
        Duration::from_secs(20),
        || async {
            for _ in 0..50 {
                assert_eq!(app.get(&link).await.status(), 302);
            }
            let dropped = app
                .metric("linkleaf_events_dropped_total{reason=\"disk_error\"}")
                .await;
            if dropped > 0.0 {
                Ok(())
            } else {
                Err("none dropped yet".to_owned())
            }
        },
    )
    .await;
    let ready = linkleaf_testkit::until(
        "the spool is said to fail",
        Duration::from_secs(10),
        || async {
            let (status, r) = app.readyz().await;
            let spool = r["dependencies"]["spool"]["detail"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            if status == 200 && r["mode"] == "degraded" && spool.contains("cannot write") {
                Ok(r)
            } else {
                Err(format!("{status} {r:#}"))
            }
        },
    )
    .await;
    assert_eq!(ready["status"], "ready", "it keeps serving: {ready:#}");
    // room again: clicks are written, and the instance is back to normal
    std::fs::remove_file(&filler).unwrap();
    eventually(
        "a click is written again",
        Duration::from_secs(10),
        || async { app.get(&link).await.status() == 302 },
    )
    .await;
    eventually("back to normal", Duration::from_secs(10), || async {
        app.readyz().await.1["mode"] == "normal"
    })
    .await;
}
