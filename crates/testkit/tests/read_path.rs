//! The public read path over HTTP: pages and JSON, cache status, ETags, negative entries,
//! single-flight and origin failure.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::{TestApp, header};
use serde_json::json;
use std::sync::atomic::Ordering;

async fn app_with_alice() -> (TestApp, String, serde_json::Value) {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    let p = app
        .create_profile(
            &key,
            json!({"username": "Alice", "displayName": "Alice A.", "bio": "hello",
                   "links": [{"title": "Site", "url": "https://alice.example"},
                             {"title": "Draft", "url": "https://draft.example", "enabled": false},
                             {"title": "Mail", "url": "mailto:alice@example.com"}]}),
        )
        .await;
    (app, key, p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_page_are_served_then_cached() {
    let (app, _, created) = app_with_alice().await;
    let r = app.get("/api/profiles/alice").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-cache"), "MISS");
    assert_eq!(header(&r, "content-type"), "application/json");
    assert_eq!(
        header(&r, "cache-control"),
        "public, max-age=30, stale-while-revalidate=300"
    );
    assert!(header(&r, "etag").starts_with('"'));
    assert!(header(&r, "last-modified").ends_with(" GMT"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["id"], created["id"]);
    assert_eq!(body["username"], "Alice");
    let titles: Vec<&str> = body["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["Site", "Mail"],
        "public JSON holds enabled links only, in order"
    );
    for k in [
        "id",
        "username",
        "displayName",
        "bio",
        "avatarUrl",
        "links",
        "theme",
        "lastModified",
    ] {
        assert!(body.get(k).is_some(), "{k}");
    }

    let r = app.get("/api/profiles/alice").await;
    assert_eq!(header(&r, "x-cache"), "HIT");
    // case-insensitive: the same entry answers /ALICE
    let r = app.get("/api/profiles/ALICE").await;
    assert_eq!((r.status().as_u16(), header(&r, "x-cache")), (200, "HIT"));

    let page = app.get("/alice").await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(
        header(&page, "x-cache"),
        "HIT",
        "the page was rendered with the JSON on the first miss"
    );
    assert!(header(&page, "content-security-policy").contains("default-src 'none'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>Alice A.</h1>"));
    // the button goes through the redirect, and the destination stays visible
    let link_id = body["links"][0]["id"].as_str().unwrap();
    assert!(html.contains(&format!(r#"href="/r/{link_id}""#)), "{html}");
    assert!(html.contains(r#"title="https://alice.example/""#));
    assert_eq!(
        html.matches("https://alice.example/").count(),
        1,
        "once per button: {html}"
    );
    assert!(
        !html.contains("draft.example"),
        "disabled links are not shown"
    );
    assert!(html.contains(r#"property="og:title""#));
    assert_eq!(app.origin_reads(), 1, "one origin read served all of it");
    assert_eq!(
        app.metric(r#"linkleaf_cache_hits_total{cache="profile"}"#)
            .await,
        3.0
    );
    assert_eq!(
        app.metric(r#"linkleaf_cache_misses_total{cache="profile"}"#)
            .await,
        1.0
    );
}

fn unbrotli(b: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    brotli::Decompressor::new(b, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn ungzip(b: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Each representation is sent in the coding asked for, made when the page was rendered, with
/// `Vary`, its own ETag and its own 304 — from the fast path (a hit) and the router (a miss).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_go_compressed_as_asked_each_with_its_etag_and_304() {
    let (app, _, _) = app_with_alice().await;
    for path in ["/api/profiles/alice", "/alice"] {
        let get = |ae: Option<&'static str>, inm: Option<String>| {
            let mut r = app.client.get(app.url(path));
            if let Some(ae) = ae {
                r = r.header("accept-encoding", ae);
            }
            if let Some(inm) = inm {
                r = r.header("if-none-match", inm);
            }
            r.send()
        };
        // the first read is the miss (the router), the rest hits (the fast path)
        let plain = get(None, None).await.unwrap();
        assert_eq!(header(&plain, "vary"), "accept-encoding");
        assert!(plain.headers().get("content-encoding").is_none());
        let etag = header(&plain, "etag").to_owned();
        let identity = plain.bytes().await.unwrap();
        for (ae, coding, decode) in [
            (
                "gzip, deflate, br, zstd",
                "br",
                unbrotli as fn(&[u8]) -> Vec<u8>,
            ),
            ("gzip;q=1, br;q=0.5", "gzip", ungzip),
            ("x-gzip", "gzip", ungzip),
        ] {
            let r = get(Some(ae), None).await.unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(header(&r, "content-encoding"), coding, "{path} {ae}");
            assert_eq!(header(&r, "vary"), "accept-encoding");
            let tag = header(&r, "etag").to_owned();
            assert_ne!(tag, etag, "a representation of its own");
            let body = r.bytes().await.unwrap();
            assert!(
                body.len() < identity.len(),
                "{path} {coding}: {}",
                body.len()
            );
            assert_eq!(decode(&body), identity);
            // its own ETag revalidates it; the identity's does not
            let r = get(Some(ae), Some(tag.clone())).await.unwrap();
            assert_eq!(r.status(), 304, "{path} {coding}");
            assert_eq!(header(&r, "etag"), tag);
            assert_eq!(header(&r, "vary"), "accept-encoding");
            assert!(r.bytes().await.unwrap().is_empty());
            let r = get(Some(ae), Some(etag.clone())).await.unwrap();
            assert_eq!(r.status(), 200);
        }
        for ae in ["identity", "br;q=0, gzip;q=0", "*;q=0", "deflate"] {
            let r = get(Some(ae), None).await.unwrap();
            assert!(r.headers().get("content-encoding").is_none(), "{ae}");
            assert_eq!(r.bytes().await.unwrap(), identity);
        }
    }
}

/// `If-Modified-Since` answers 304 when the page is not newer, unless `If-None-Match` is there
/// (which decides); `Last-Modified` moves when the counts the page shows do, not only on edits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_modified_since_and_a_last_modified_that_moves_with_the_counts() {
    let app = TestApp::spawn_with(|c| {
        c.analytics.window = std::time::Duration::from_millis(50);
    })
    .await;
    let key = app.root_key().await;
    let p = app
        .create_profile(
            &key,
            json!({"username": "counted", "links": [{"title": "a", "url": "https://a.example"}]}),
        )
        .await;
    let since = |lm: &str, inm: Option<&str>| {
        let mut r = app
            .client
            .get(app.url("/api/profiles/counted"))
            .header("if-modified-since", lm.to_owned());
        if let Some(inm) = inm {
            r = r.header("if-none-match", inm.to_owned());
        }
        r.send()
    };
    let invalidate = || async {
        let r = app
            .admin(reqwest::Method::POST, "/api/cache/invalidate/counted", &key)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    };
    // two seconds after the whole second a date names, a page rendered now was rendered a
    // second or more after any change the date stands for
    let past = |t: std::time::SystemTime| {
        linkleaf_testkit::eventually(
            "the date is two seconds old",
            std::time::Duration::from_secs(4),
            move || async move { std::time::SystemTime::now() >= t + std::time::Duration::from_secs(2) },
        )
    };
    // rendered within the second of its change: the date cannot tell this page from one
    // changed later in the same second, so it answers the date with the whole body
    let first = app.get("/api/profiles/counted").await;
    let lm = header(&first, "last-modified").to_owned();
    let t = httpdate::parse_http_date(&lm).unwrap();
    assert_eq!(
        since(&lm, None).await.unwrap().status(),
        200,
        "a date within the second of the render"
    );
    // rendered again later: the same date, now telling it apart
    past(t).await;
    invalidate().await;
    assert_eq!(
        header(&app.get("/api/profiles/counted").await, "last-modified"),
        lm
    );
    assert_eq!(since(&lm, None).await.unwrap().status(), 304, "not newer");
    let later = httpdate::fmt_http_date(t + std::time::Duration::from_secs(3600));
    assert_eq!(since(&later, None).await.unwrap().status(), 304);
    let earlier = httpdate::fmt_http_date(t - std::time::Duration::from_secs(1));
    assert_eq!(since(&earlier, None).await.unwrap().status(), 200, "newer");
    assert_eq!(
        since("yesterday", None).await.unwrap().status(),
        200,
        "unreadable: ignored"
    );
    assert_eq!(
        since(&lm, Some("\"other\"")).await.unwrap().status(),
        200,
        "If-None-Match decides"
    );
    // a click, counted in a later second than the edit: the page's bytes change, and so does
    // its Last-Modified, so a client revalidating by date gets the new count
    let link = p["links"][0]["id"].as_str().unwrap();
    // a person's click (a headless client's is a bot's, and not on the counter)
    let r = app
        .client
        .get(app.url(&format!("/r/{link}")))
        .header("user-agent", linkleaf_testkit::load::BROWSER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    linkleaf_testkit::eventually(
        "the click is counted",
        std::time::Duration::from_secs(10),
        || async { app.metric("linkleaf_events_committed_total").await >= 1.0 },
    )
    .await;
    invalidate().await;
    let now = app.get("/api/profiles/counted").await;
    let moved = header(&now, "last-modified").to_owned();
    let body: serde_json::Value = now.json().await.unwrap();
    assert_eq!(body["links"][0]["clickCount"], 1);
    let moved_t = httpdate::parse_http_date(&moved).unwrap();
    assert!(moved_t > t, "{moved} after {lm}");
    // the answer dates itself by what it shows, as its header does (an edge copying it dates
    // its copy alike)
    let dated = time::OffsetDateTime::parse(
        body["lastModified"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_ne!(
        body["lastModified"], p["lastModified"],
        "the count moved it"
    );
    assert_eq!(
        dated.unix_timestamp(),
        moved_t
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    );
    assert_eq!(
        since(&lm, None).await.unwrap().status(),
        200,
        "changed since"
    );
    past(moved_t).await;
    invalidate().await;
    app.get("/api/profiles/counted").await;
    assert_eq!(since(&moved, None).await.unwrap().status(), 304);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etags_answer_if_none_match_with_304() {
    let (app, _, _) = app_with_alice().await;
    for path in ["/api/profiles/alice", "/alice"] {
        let r = app.get(path).await;
        let etag = header(&r, "etag").to_owned();
        let r = app
            .client
            .get(app.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304, "{path}");
        assert_eq!(header(&r, "etag"), etag);
        assert!(header(&r, "cache-control").contains("max-age"));
        assert!(r.bytes().await.unwrap().is_empty());
        let weak_list = format!("\"nope\", W/{etag}");
        let r = app
            .client
            .get(app.url(path))
            .header("if-none-match", weak_list)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304, "weak comparison in a list");
        let r = app
            .client
            .get(app.url(path))
            .header("if-none-match", "\"other\"")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // HEAD answers like GET, without a body
    let r = app.client.head(app.url("/alice")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(!header(&r, "etag").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_names_are_negatively_cached_and_friendly() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/profiles/nobody").await;
    assert_eq!(r.status(), 404);
    assert_eq!(header(&r, "content-type"), "application/problem+json");
    assert_eq!(header(&r, "x-cache"), "MISS");
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (p["status"].as_u64(), p["code"].as_str()),
        (Some(404), Some("profile_not_found"))
    );
    let r = app.get("/nobody").await;
    assert_eq!((r.status().as_u16(), header(&r, "x-cache")), (404, "HIT"));
    let html = r.text().await.unwrap();
    assert!(html.contains("Nothing here") && html.contains("<a href=\"/\">"));
    assert_eq!(
        app.origin_reads(),
        1,
        "the second ask was answered from the negative entry"
    );

    // names that cannot exist never reach the origin (`/favicon.ico` and `/robots.txt` are the
    // site's own files: tests/site.rs)
    for path in [
        "/x",
        "/api",
        "/sitemap.xml",
        "/a%20b",
        "/%ff",
        "/..%2f..%2fetc%2fpasswd",
        "/alice/extra",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
    }
    assert_eq!(app.origin_reads(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_misses_make_one_origin_read() {
    let (app, _, _) = app_with_alice().await;
    app.store.delay_ms.store(200, Ordering::SeqCst);
    app.reset_origin_reads();
    let reqs = (0..100).map(|i| {
        let (client, url) = (
            app.client.clone(),
            app.url(if i % 2 == 0 {
                "/api/profiles/alice"
            } else {
                "/alice"
            }),
        );
        async move {
            let r = client.get(url).send().await.unwrap();
            (
                r.status().as_u16(),
                r.headers()["x-cache"].to_str().unwrap().to_owned(),
            )
        }
    });
    let results = futures_util::future::join_all(reqs).await;
    assert!(results.iter().all(|(s, _)| *s == 200), "{results:?}");
    assert_eq!(
        app.origin_reads(),
        1,
        "single-flight: exactly one origin read for 100 concurrent misses"
    );
    let misses = results.iter().filter(|(_, c)| c == "MISS").count();
    assert!(
        misses > 1,
        "the requests really did overlap the load ({misses} waited on it)"
    );
    assert_eq!(
        app.metric(r#"linkleaf_origin_loads_total{cache="profile",outcome="found"}"#)
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_origin_fails_cached_pages_still_serve_and_misses_say_503() {
    let (app, _, _) = app_with_alice().await;
    assert_eq!(app.get("/alice").await.status(), 200);
    app.store.failing.store(true, Ordering::SeqCst);
    let r = app.get("/alice").await;
    assert_eq!((r.status().as_u16(), header(&r, "x-cache")), (200, "HIT"));
    let r = app.get("/api/profiles/bob").await;
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "retry-after"), "1");
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["code"], "unavailable");
    let r = app.get("/bob").await;
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("Back in a moment"));
    assert_eq!(
        app.metric(r#"linkleaf_origin_loads_total{cache="profile",outcome="error"}"#)
            .await,
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    let ops = format!("http://{}", app.ops_addr);
    for path in ["/healthz", "/readyz"] {
        let r = app.client.get(format!("{ops}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(
            app.get(path).await.status(),
            404,
            "{path} lives on the ops listener only"
        );
    }
    app.get("/nobody").await;
    let text = app.metrics_text().await;
    for name in [
        "linkleaf_cache_hits_total",
        "linkleaf_cache_misses_total",
        "linkleaf_cache_stale_total",
        "linkleaf_origin_load_seconds_bucket",
        "linkleaf_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert!(
        // `/metrics`, `/healthz`, `/readyz` on the main listener and `/nobody` matched `/{username}`
        text.contains(
            r#"linkleaf_http_requests_total{route="/{username}",method="GET",status="4xx"} 4"#
        ),
        "labelled by the matched route, not the raw path:\n{text}"
    );
    assert!(!text.contains("nobody"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_and_unknown_routes() {
    let app = TestApp::spawn().await;
    let r = app.get("/").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("linkleaf is running"));
    let r = app.get("/api/nothing/here").await;
    assert_eq!(r.status(), 404);
    assert_eq!(header(&r, "content-type"), "application/problem+json");
    let r = app
        .client
        .put(app.url("/api/profiles/alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(header(&r, "content-type"), "application/problem+json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let (app, _, _) = app_with_alice().await;
    app.store.delay_ms.store(300, Ordering::SeqCst);
    let slow = tokio::spawn({
        let (client, url) = (app.client.clone(), app.url("/alice"));
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    while app.origin_reads() == 0 {
        tokio::task::yield_now().await;
    }
    let addr = app.addr;
    let state_ready = app
        .client
        .get(format!("http://{}/readyz", app.ops_addr))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(state_ready, 200);
    let mut app = app;
    app.request_stop();
    // while the main listener drains, the operations listener is still up and says so
    let ready = format!("http://{}/readyz", app.ops_addr);
    // a loop of its own, not `until`: the drain is short, so it looks again at once (a yield,
    // not `until`'s 20 ms)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = app
            .client
            .get(&ready)
            .send()
            .await
            .expect("/readyz answers during the drain");
        if r.status() == 503 {
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["status"], "draining");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never said draining");
        tokio::task::yield_now().await;
    }
    assert!(
        !slow.is_finished(),
        "checked while the slow request was in flight"
    );
    app.stop().await.expect("a clean stop");
    assert_eq!(
        slow.await
            .unwrap()
            .expect("the in-flight request was answered"),
        200
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections after the stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_html_answer_carries_the_security_headers() {
    let (app, _, _) = app_with_alice().await;
    app.store.failing.store(false, Ordering::SeqCst);
    for (path, status) in [
        ("/", 200),
        ("/api/docs", 200),
        ("/alice", 200),
        ("/nobody", 404),
        ("/no/such/route", 404),
        ("/r/00000000-0000-0000-0000-000000000000", 404),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), status, "{path}");
        assert!(
            header(&r, "content-type").starts_with("text/html"),
            "{path}"
        );
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(
            header(&r, "referrer-policy"),
            "strict-origin-when-cross-origin",
            "{path}"
        );
        let csp = header(&r, "content-security-policy");
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
    }
    // the unavailable page too
    app.store.failing.store(true, Ordering::SeqCst);
    let r = app.get("/bob").await;
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert!(header(&r, "content-security-policy").contains("default-src 'none'"));
}
