//! `/r/{link}` and the events behind it, on the embedded default (SQLite, in-process queue):
//! what a redirect answers, what it never answers, and that what was answered is what is
//! counted — every click once — with views, visitors, bots and hostile input beside it.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::load::{self, Load};
use linkleaf_testkit::{TestApp, header};
use serde_json::{Value, json};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Short windows and no report cache, so tests see counts at once.
fn quick(c: &mut linkleaf::Config) {
    c.analytics.window = std::time::Duration::from_secs_f64(0.05);
    c.analytics.cache_for = std::time::Duration::from_secs(0);
    // the tests poll the analytics API: not what the per-key limit is for
    c.rate_limit.per_minute = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
    c.rate_limit.burst = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
}

async fn analytics(app: &TestApp, key: &str, profile: &str) -> Value {
    load::report(&app.client, &app.url(""), key, profile).await
}

/// Waits until the analytics of `profile` satisfy `done` (ten seconds at most).
async fn wait_until(
    app: &TestApp,
    key: &str,
    profile: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    linkleaf_testkit::until(what, Duration::from_secs(10), || async {
        let r = analytics(app, key, profile).await;
        if done(&r) {
            Ok(r)
        } else {
            Err(format!("the analytics say {r:#}"))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_a_302_to_a_stored_enabled_link_and_nothing_else() {
    let app = TestApp::spawn_with(quick).await;
    let key = app.root_key().await;
    let p = app
        .create_profile(
            &key,
            json!({"username": "redir", "links": [
                {"title": "on", "url": "https://on.example/path?q=1"},
                {"title": "off", "url": "https://off.example/", "enabled": false}]}),
        )
        .await;
    let on = p["links"][0]["id"].as_str().unwrap().to_owned();
    let off = p["links"][1]["id"].as_str().unwrap().to_owned();

    // a person's browser
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
        .build()
        .unwrap();
    let get = |path: String| browser.get(app.url(&path)).send();
    for _ in 0..2 {
        // a miss, then the fast path's hit: the same answer
        let r = get(format!("/r/{on}")).await.unwrap();
        assert_eq!(r.status(), 302, "never 301: browsers would keep it");
        assert_eq!(header(&r, "location"), "https://on.example/path?q=1");
        assert_eq!(header(&r, "cache-control"), "no-store");
    }
    let upper = on.to_uppercase();
    assert_eq!(get(format!("/r/{upper}")).await.unwrap().status(), 302);
    let head = browser
        .head(app.url(&format!("/r/{on}")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 302, "a HEAD is answered");

    // everything else: the friendly 404 page, never a redirect
    let long = "a".repeat(10_000);
    let unknown = uuid::Uuid::now_v7().to_string();
    for path in [
        format!("/r/{off}"),
        format!("/r/{unknown}"),
        "/r/not-a-uuid".into(),
        "/r/".into(),
        format!("/r/{on}/extra"),
        format!("/r/{on}%0d%0aLocation:%20https://evil.example"),
        "/r/..%2f..%2fetc%2fpasswd".into(),
        "/r/%ff%fe".into(),
        format!("/r/{long}"),
        format!("/r/{on}x"),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.headers().get("location").is_none(), "{path}");
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    }
    let post = app
        .client
        .post(app.url(&format!("/r/{on}")))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);

    // disabling a link stops its redirect at once (the link cache is invalidated)
    let r = app
        .admin(
            reqwest::Method::PATCH,
            &format!("/api/profiles/{}/links", p["id"].as_str().unwrap()),
            &key,
        )
        .json(&json!({"ops": [{"op": "disable", "id": on}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.get(&format!("/r/{on}")).await.status(), 404);

    // the three GETs count as people (on a phone), the HEAD as a monitor
    let r = wait_until(&app, &key, "redir", "four clicks", |r| {
        r["totals"]["clicks"] == 4
    })
    .await;
    assert_eq!(r["totals"]["humanClicks"], 3, "{r:#}");
    assert_eq!(r["totals"]["botClicks"], 1);
    let classes: Vec<(&str, i64)> = r["botClasses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["value"].as_str().unwrap(), s["clicks"].as_i64().unwrap()))
        .collect();
    assert_eq!(classes, [("human", 3), ("monitor", 1)], "{r:#}");
    assert_eq!(r["devices"][0]["value"], "mobile", "{r:#}");
    assert_eq!(r["operatingSystems"][0]["value"], "iOS", "{r:#}");
    assert_eq!(r["browsers"][0]["value"], "Mobile Safari", "{r:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_click_is_counted_exactly_once() {
    let app = TestApp::spawn_with(quick).await;
    let key = app.root_key().await;
    let base = app.url("");
    let made = load::profiles_with_links(&app.client, &base, &key, "many", 4, 50).await;
    let links: Vec<String> = made.iter().flat_map(|(_, l)| l.clone()).collect();
    let profiles: Vec<String> = made.iter().map(|(p, _)| p.clone()).collect();
    // 200 links, 100 clicks each, from 32 clients
    let plan = load::plan(&links, 100);
    let n = plan.len() as u64;
    let clicks = Load::start(Arc::new(RwLock::new(base.clone())), plan, 32)
        .finish()
        .await;
    assert_eq!(
        (clicks.answered_total(), clicks.failed_total(), clicks.other),
        (n, 0, 0)
    );
    let counted = load::wait_for_total(
        &app.client,
        &base,
        &key,
        &profiles,
        n,
        Duration::from_secs(30),
    )
    .await;
    for (link, answered) in &clicks.answered {
        assert_eq!(counted.get(link), Some(answered), "link {link}");
    }
    // and nothing more arrives once the pipeline is idle
    wait_idle(&app).await;
    let again: u64 = load::counted(&app.client, &base, &key, &profiles)
        .await
        .values()
        .sum();
    assert_eq!(again, n);
    assert_eq!(app.metric("linkleaf_events_duplicate_total").await, 0.0);
    // a link's clickCount is its human clicks, from the rollups
    let p: Value = app
        .admin(
            reqwest::Method::GET,
            &format!("/api/profiles/{}", profiles[0]),
            &key,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &p["links"][0];
    assert_eq!(
        first["clickCount"].as_u64(),
        clicks.answered.get(first["id"].as_str().unwrap()).copied()
    );
}

/// Until every frame written is taken for good and the consumer holds nothing.
async fn wait_idle(app: &TestApp) {
    linkleaf_testkit::eventually("the pipeline is idle", Duration::from_secs(10), || async {
        app.metric("linkleaf_spool_backlog_frames").await == 0.0
            && app.metric("linkleaf_consumer_pending_events").await == 0.0
            && app.metric("linkleaf_consumer_held_messages").await == 0.0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_views_are_counted_and_api_reads_and_heads_are_not() {
    let app = TestApp::spawn_with(quick).await;
    let key = app.root_key().await;
    app.create_profile(
        &key,
        json!({"username": "viewed", "links": [{"title": "a", "url": "https://a.example/"}]}),
    )
    .await;
    // the first GET is the router's miss, the rest the fast path's hits; one is a 304
    for _ in 0..5 {
        assert_eq!(app.get("/viewed").await.status(), 200);
    }
    let etag = header(&app.get("/viewed").await, "etag").to_owned();
    let r = app
        .client
        .get(app.url("/viewed"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    for _ in 0..3 {
        app.get("/api/profiles/viewed").await;
        app.client.head(app.url("/viewed")).send().await.unwrap();
    }
    app.get("/nobody-here").await;
    let r = wait_until(&app, &key, "viewed", "seven views", |r| {
        r["totals"]["views"] == 7
    })
    .await;
    assert_eq!(r["totals"]["clicks"], 0);
    assert_eq!(
        r["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["views"].as_i64().unwrap())
            .sum::<i64>(),
        7
    );
    wait_idle(&app).await;
    assert_eq!(analytics(&app, &key, "viewed").await["totals"]["views"], 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_are_kept_and_flagged_and_hostile_headers_are_harmless() {
    let app = TestApp::spawn_with(quick).await;
    let key = app.root_key().await;
    let p = app
        .create_profile(
            &key,
            json!({"username": "hostile", "links": [{"title": "a", "url": "https://a.example/"}]}),
        )
        .await;
    let link = p["links"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/r/{link}");
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    let huge = "x".repeat(60_000);
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![
            ("user-agent", chrome.into()),
            ("referer", "https://news.example.com/item?id=1".into()),
        ],
        vec![(
            "user-agent",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)".into(),
        )],
        vec![("user-agent", "facebookexternalhit/1.1".into())],
        vec![(
            "user-agent",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)".into(),
        )],
        vec![("user-agent", "UptimeRobot/2.0".into())],
        vec![
            ("user-agent", huge.clone()),
            ("referer", format!("https://{huge}.example/")),
        ],
        vec![
            ("user-agent", chrome.into()),
            ("referer", "javascript:alert(1)".into()),
        ],
        vec![],
    ];
    for headers in &cases {
        let mut req = app.client.get(app.url(&path));
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 302, "{headers:?}");
    }
    // bytes that are not UTF-8, and a forged X-Forwarded-For from an untrusted peer
    let r = app
        .client
        .get(app.url(&path))
        .header(
            "user-agent",
            reqwest::header::HeaderValue::from_bytes(b"caf\xe9 \xff\xfe").unwrap(),
        )
        .header(
            "referer",
            reqwest::header::HeaderValue::from_bytes(b"https://\xff.example/").unwrap(),
        )
        .header("x-forwarded-for", "10.0.0.1, 8.8.8.8")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let answered = cases.len() as u64 + 1;
    let r = wait_until(&app, &key, "hostile", "the clicks", |r| {
        r["totals"]["clicks"] == answered
    })
    .await;
    let bots: Vec<&str> = r["botClasses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_str().unwrap())
        .collect();
    for class in ["link_preview", "crawler", "monitor"] {
        assert!(bots.contains(&class), "{class} in {bots:?}");
    }
    let refs: Vec<&str> = r["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_str().unwrap())
        .collect();
    assert!(refs.contains(&"news.example.com"), "host only: {refs:?}");
    assert!(
        refs.iter().all(|r| r.len() <= 253 && !r.contains(':')),
        "{refs:?}"
    );
    let text = r.to_string();
    assert!(
        !text.contains("127.0.0.1"),
        "no address is ever kept: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    // two clients behind a trusted proxy are two visitors; the same forged headers from an
    // untrusted peer are one visitor (the peer)
    for (trusted, visitors) in [(true, 2), (false, 1)] {
        let app = TestApp::spawn_with(|c| {
            quick(c);
            if trusted {
                c.server.trusted_proxies =
                    linkleaf::config::TrustedProxies::parse(&["127.0.0.0/8".to_owned()])
                        .expect("proxies");
            }
        })
        .await;
        let key = app.root_key().await;
        let p = app
            .create_profile(
                &key,
                json!({"username": "proxied", "links": [{"title": "a", "url": "https://a.example/"}]}),
            )
            .await;
        let link = p["links"][0]["id"].as_str().unwrap();
        for xff in ["198.51.100.1", "198.51.100.2", "198.51.100.2"] {
            let r = app
                .client
                .get(app.url(&format!("/r/{link}")))
                .header("x-forwarded-for", xff)
                .header(
                    "user-agent",
                    "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 302);
        }
        let r = wait_until(&app, &key, "proxied", "three clicks", |r| {
            r["totals"]["clicks"] == 3
        })
        .await;
        assert_eq!(
            r["totals"]["uniqueVisitors"], visitors,
            "trusted {trusted}: {r:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analytics_api_checks_its_query_and_caches_its_answer() {
    let app = TestApp::spawn_with(|c| {
        c.analytics.window = std::time::Duration::from_secs_f64(0.05);
        c.analytics.cache_for = std::time::Duration::from_secs(3600);
    })
    .await;
    let key = app.key("analytics:read,profile:write").await;
    let p = app
        .create_profile(
            &key,
            json!({"username": "reported", "links": [{"title": "a", "url": "https://a.example/"}]}),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    let q = |s: &str| {
        app.admin(
            reqwest::Method::GET,
            &format!("/api/profiles/reported/analytics{s}"),
            &key,
        )
    };
    for (query, field) in [
        ("?bucket=week", "bucket"),
        ("?from=yesterday", "from"),
        ("?to=2026-01-01T00:00:00Z&from=2026-02-01T00:00:00Z", "to"),
        ("?unknown=1", "unknown"),
        ("?bucket=day&bucket=hour", "bucket"),
    ] {
        let r = q(query).send().await.unwrap();
        assert_eq!(r.status(), 422, "{query}");
        assert_eq!(header(&r, "content-type"), "application/problem+json");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body:#}");
    }
    // a range longer than the bucket keeps is shortened, and says so
    let r = q("?bucket=minute&from=2020-01-01T00:00:00Z")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let (from, to) = (
        time::OffsetDateTime::parse(
            body["from"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap(),
        time::OffsetDateTime::parse(
            body["to"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap(),
    );
    assert_eq!(to - from, time::Duration::days(2), "{body:#}");
    assert_eq!(body["shortened"], true, "{body:#}");
    // a century by day is shortened from now, never to a range wholly in the future
    let r: Value = q("?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let from = time::OffsetDateTime::parse(
        r["from"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(from < time::OffsetDateTime::now_utc(), "{r:#}");
    assert!(
        from > time::OffsetDateTime::now_utc() - time::Duration::days(3700),
        "{r:#}"
    );
    assert_eq!(
        (r["shortened"].clone(), r["to"].clone()),
        (json!(true), json!("2100-01-01T00:00:00Z"))
    );
    // from == to: an empty range, answered
    let r = q("?from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r: Value = r.json().await.unwrap();
    assert_eq!(
        (r["totals"]["clicks"].clone(), r["shortened"].clone()),
        (json!(0), json!(false))
    );
    for missing in [
        "/api/profiles/nobody/analytics",
        &format!("/api/profiles/{}/analytics", uuid::Uuid::now_v7()),
    ] {
        let r = app
            .admin(reqwest::Method::GET, missing, &key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{missing}");
    }
    let first = q("?bucket=day").send().await.unwrap();
    assert_eq!(header(&first, "x-cache"), "MISS");
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["totals"]["clicks"], 0);
    assert_eq!(first["profileId"], id);
    let again = q("?bucket=day").send().await.unwrap();
    assert_eq!(
        header(&again, "x-cache"),
        "HIT",
        "kept for analytics.cache_secs"
    );
    // another profile's report, kept too
    let other = app.create_profile(&key, json!({"username": "quiet"})).await;
    let quiet = || {
        app.admin(
            reqwest::Method::GET,
            "/api/profiles/quiet/analytics?bucket=day",
            &key,
        )
        .send()
    };
    assert_eq!(header(&quiet().await.unwrap(), "x-cache"), "MISS");
    assert_eq!(other["username"], "quiet");
    // a click: once its window is committed, the profile's kept report goes (an hour of
    // analytics.cache_secs notwithstanding), and the next answer counts the click
    let link = p["links"][0]["id"].as_str().unwrap();
    let clicked = std::time::Instant::now();
    assert_eq!(app.get(&format!("/r/{link}")).await.status(), 302);
    let counted: Value = linkleaf_testkit::until(
        "the click is in the answer",
        Duration::from_secs(5),
        || async {
            let r: Value = q("?bucket=day").send().await.unwrap().json().await.unwrap();
            if r["totals"]["clicks"] == 1 {
                Ok(r)
            } else {
                Err(format!("{r:#}"))
            }
        },
    )
    .await;
    assert!(
        clicked.elapsed() < Duration::from_millis(50) + Duration::from_secs(1),
        "within analytics.window_secs and a second: {:?}",
        clicked.elapsed()
    );
    assert_eq!(counted["profileId"], id);
    // the profile nothing was counted for keeps its report
    assert_eq!(
        header(&quiet().await.unwrap(), "x-cache"),
        "HIT",
        "a commit drops only the reports of the profiles it counted for"
    );
}

/// The real db-ip country file that `scripts/geo` fetches (or `LINKLEAF_TEST_GEOIP`).
fn geo_db() -> Option<std::path::PathBuf> {
    let p = std::env::var_os("LINKLEAF_TEST_GEOIP")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../.cache/geo/dbip-country.mmdb")
        });
    if p.exists() {
        Some(p)
    } else {
        linkleaf_testkit::services::missing(
            "the db-ip country database",
            format!("{} (run scripts/geo)", p.display()),
        );
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn countries_come_from_a_trusted_header_or_a_maxmind_file() {
    let Some(db) = geo_db() else {
        return;
    };
    let app = TestApp::spawn_with(|c| {
        quick(c);
        c.clicks.geoip_db = Some(db.to_path_buf());
        c.clicks.geo_header = Some(axum::http::HeaderName::from_static("cf-ipcountry"));
        c.server.trusted_proxies =
            linkleaf::config::TrustedProxies::parse(&["127.0.0.1".to_owned()]).expect("proxies");
    })
    .await;
    let key = app.root_key().await;
    let p = app
        .create_profile(
            &key,
            json!({"username": "placed", "links": [{"title": "a", "url": "https://a.example/"}]}),
        )
        .await;
    let link = p["links"][0]["id"].as_str().unwrap();
    // (forwarded client, geo header): the header wins, else the file places the address
    for (xff, header) in [
        ("8.8.8.8", None),
        ("8.8.4.4", None),
        ("2001:67c:2e8:22::c100:68b", None),
        ("8.8.8.8", Some("de")),
        ("192.0.2.1", None),
        ("8.8.8.8", Some("XX")),
    ] {
        let mut req = app
            .client
            .get(app.url(&format!("/r/{link}")))
            .header("x-forwarded-for", xff)
            .header("user-agent", load::BROWSER);
        if let Some(h) = header {
            req = req.header("cf-ipcountry", h);
        }
        assert_eq!(req.send().await.unwrap().status(), 302);
    }
    let r = wait_until(&app, &key, "placed", "six clicks", |r| {
        r["totals"]["clicks"] == 6
    })
    .await;
    let countries: Vec<(&str, i64)> = r["countries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["value"].as_str().unwrap(), s["clicks"].as_i64().unwrap()))
        .collect();
    // Google's resolvers are in the US, RIPE's (IPv6) in the Netherlands; a documentation
    // address is nowhere (`--`); an unknown-country header (XX) falls back to the file
    assert_eq!(
        countries,
        [("US", 3), ("--", 1), ("DE", 1), ("NL", 1)],
        "{r:#}"
    );
}

/// What `clicks.fsync` costs, seen in `linkleaf_spool_fsyncs_total`: `always` syncs every batch
/// before its redirects leave, `interval` syncs on a timer whatever the traffic (a handful for
/// hundreds of batches), `never` leaves it to the kernel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fsync_setting_decides_when_the_spool_reaches_the_disk() {
    use linkleaf_events::spool::Fsync;
    for mode in [
        Fsync::Always,
        Fsync::Interval(Duration::from_millis(100)),
        Fsync::Never,
    ] {
        let app = TestApp::spawn_with(|c| {
            quick(c);
            c.clicks.fsync = mode;
        })
        .await;
        let key = app.root_key().await;
        let base = app.url("");
        let made = load::profiles_with_links(&app.client, &base, &key, "disk", 1, 4).await;
        let plan = load::plan(&made[0].1, 50);
        let n = plan.len() as u64;
        let clicks = Load::start(Arc::new(RwLock::new(base.clone())), plan, 4)
            .finish()
            .await;
        assert_eq!(clicks.answered_total(), n);
        let frames = app.metric("linkleaf_spool_frames_total").await;
        let fsyncs = app.metric("linkleaf_spool_fsyncs_total").await;
        match mode {
            Fsync::Always => assert!(
                fsyncs >= frames && frames > 1.0,
                "every batch synced: {fsyncs} fsyncs, {frames} frames"
            ),
            Fsync::Interval(_) => {
                linkleaf_testkit::eventually(
                    "the timer syncs the spool",
                    Duration::from_secs(5),
                    || async { app.metric("linkleaf_spool_fsyncs_total").await >= 1.0 },
                )
                .await;
                assert!(
                    fsyncs < frames / 2.0,
                    "a timer, not per batch: {fsyncs} fsyncs, {frames} frames"
                );
            }
            Fsync::Never => assert_eq!(fsyncs, 0.0),
        }
    }
}

/// The analytics as CSV: the click is in its link's row, and titles a spreadsheet would read
/// as formulas come out as text (CSV injection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_as_csv_counts_the_click_and_runs_no_formula() {
    let app = TestApp::spawn_with(|c| {
        c.analytics.window = std::time::Duration::from_secs_f64(0.05);
    })
    .await;
    let key = app.key("analytics:read,profile:write").await;
    let titles = [
        "=HYPERLINK(\"https://evil.example\",\"x\")",
        "+1",
        "-2+3",
        "@SUM(A1)",
        "Plain, with a comma",
    ];
    let links: Vec<Value> = titles
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"title": t, "url": format!("https://e.example/{i}")}))
        .collect();
    let p = app
        .create_profile(&key, json!({"username": "sheet", "links": links}))
        .await;
    let first = p["links"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .client
        .get(app.url(&format!("/r/{first}")))
        .header("user-agent", linkleaf_testkit::load::BROWSER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let csv = linkleaf_testkit::until(
        "the click is in the CSV",
        Duration::from_secs(5),
        || async {
            let r = app
                .admin(
                    reqwest::Method::GET,
                    "/api/profiles/sheet/analytics.csv?bucket=hour",
                    &key,
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(header(&r, "content-type"), "text/csv; charset=utf-8");
            assert!(header(&r, "content-disposition").contains("sheet-analytics.csv"));
            let text = r.text().await.unwrap();
            if text
                .lines()
                .any(|l| l.starts_with("total,") && l.contains(",1,1,0,"))
            {
                Ok(text)
            } else {
                Err(text)
            }
        },
    )
    .await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "section,key,label,clicks,human_clicks,bot_clicks,views,unique_visitors,range"
    );
    let row = lines
        .iter()
        .find(|l| l.starts_with(&format!("link,{first},")))
        .unwrap_or_else(|| panic!("the clicked link's row: {csv}"));
    assert!(row.contains("'=HYPERLINK"), "{row}");
    assert!(row.contains(",1,1,0,"), "one click, a person's: {row}");
    // no cell of the whole file starts like a formula
    for cell in csv
        .lines()
        .skip(1)
        .flat_map(|l| l.split(','))
        .map(|c| c.trim_start_matches('"'))
    {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "{cell:?} in {csv}"
        );
    }
    assert!(csv.contains("\"Plain, with a comma\""), "quoted: {csv}");
}
