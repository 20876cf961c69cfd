//! What browsers and crawlers ask every site for: `/favicon.ico` (asked with every page view: a
//! 404 there logs an error in the visitor's console), `/apple-touch-icon.png` and `/robots.txt`,
//! built in or the operator's own files, each with an ETag that a revalidation answers 304.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use bytes::Bytes;
use linkleaf::config::StaticFile;
use linkleaf_testkit::{TestApp, header};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_site_files_are_served_cached_and_revalidated() {
    let app = TestApp::spawn().await;
    for (path, kind, magic) in [
        ("/favicon.ico", "image/x-icon", &[0u8, 0, 1, 0][..]),
        (
            "/apple-touch-icon.png",
            "image/png",
            &b"\x89PNG\r\n\x1a\n"[..],
        ),
        (
            "/robots.txt",
            "text/plain; charset=utf-8",
            &b"User-agent: *"[..],
        ),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(header(&r, "content-type"), kind, "{path}");
        assert_eq!(header(&r, "cache-control"), "public, max-age=86400");
        let etag = header(&r, "etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10, "{path}: {etag}");
        let body = r.bytes().await.unwrap();
        assert!(body.starts_with(magic), "{path}");
        let again = app
            .client
            .get(app.url(path))
            .header("if-none-match", etag.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(header(&again, "etag"), etag);
        assert!(again.bytes().await.unwrap().is_empty());
        let head = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), 200, "{path}");
    }
    let robots = app.get("/robots.txt").await.text().await.unwrap();
    for line in ["Allow: /", "Disallow: /api/", "Disallow: /r/"] {
        assert!(robots.lines().any(|l| l == line), "{line} in {robots}");
    }
    // none of these names can be a profile's
    let key = app.root_key().await;
    for name in ["favicon.ico", "robots.txt", "apple-touch-icon.png"] {
        let r = app
            .admin(reqwest::Method::POST, "/api/profiles", &key)
            .json(&serde_json::json!({"username": name}))
            .send()
            .await
            .unwrap();
        // reserved (409), or not a username at all (422: `-` is not allowed)
        assert!(
            [409, 422].contains(&r.status().as_u16()),
            "{name}: {}",
            r.status()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_own_icon_and_robots_replace_the_defaults() {
    let png = Bytes::from_static(b"\x89PNG\r\n\x1a\n(an icon of the operator's)");
    let robots = Bytes::from_static(b"User-agent: *\nDisallow: /\n");
    let app = TestApp::spawn_with({
        let (png, robots) = (png.clone(), robots.clone());
        move |c| {
            c.server.favicon = Some(StaticFile::new(png, "image/png"));
            c.server.robots = Some(StaticFile::new(robots, "text/plain; charset=utf-8"));
        }
    })
    .await;
    let r = app.get("/favicon.ico").await;
    assert_eq!(header(&r, "content-type"), "image/png");
    assert_eq!(r.bytes().await.unwrap(), png);
    assert_eq!(app.get("/robots.txt").await.bytes().await.unwrap(), robots);
    // the touch icon stays linkleaf's
    let r = app.get("/apple-touch-icon.png").await;
    assert_eq!(r.status(), 200);
}

/// The API description and the reference page's assets: compressed as asked (the assets' forms
/// committed, the description's made once), each form with its ETag and its 304.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_description_and_the_assets_go_compressed_with_etags() {
    use std::io::Read;
    let app = TestApp::spawn().await;
    for path in [
        "/api/openapi.json",
        "/api/docs/swagger-ui-bundle.js",
        "/api/docs/swagger-ui.css",
    ] {
        let plain = app.get(path).await;
        assert_eq!(plain.status(), 200, "{path}");
        assert_eq!(header(&plain, "vary"), "accept-encoding");
        let etag = header(&plain, "etag").to_owned();
        let identity = plain.bytes().await.unwrap();
        for (ae, coding) in [("gzip, deflate, br", "br"), ("gzip", "gzip")] {
            let r = app
                .client
                .get(app.url(path))
                .header("accept-encoding", ae)
                .send()
                .await
                .unwrap();
            assert_eq!(header(&r, "content-encoding"), coding, "{path}");
            let tag = header(&r, "etag").to_owned();
            assert_ne!(tag, etag);
            let body = r.bytes().await.unwrap();
            assert!(
                body.len() * 3 < identity.len(),
                "{path} {coding}: {}",
                body.len()
            );
            let mut out = Vec::new();
            if coding == "br" {
                brotli::Decompressor::new(&body[..], 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            } else {
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut out)
                    .unwrap();
            }
            assert!(out == identity, "{path} {coding} decodes to the file");
            let again = app
                .client
                .get(app.url(path))
                .header("accept-encoding", ae)
                .header("if-none-match", tag)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 304, "{path} {coding}");
        }
    }
}
