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
    let touch = Bytes::from_static(b"\x89PNG\r\n\x1a\n(a touch icon of the operator's)");
    let robots = Bytes::from_static(b"User-agent: *\nDisallow: /\n");
    let app = TestApp::spawn_with({
        let (png, touch, robots) = (png.clone(), touch.clone(), robots.clone());
        move |c| {
            c.server.favicon = Some(StaticFile::new(png, "image/png"));
            c.server.touch_icon = Some(StaticFile::new(touch, "image/png"));
            c.server.robots = Some(StaticFile::new(robots, "text/plain; charset=utf-8"));
        }
    })
    .await;
    let r = app.get("/favicon.ico").await;
    assert_eq!(header(&r, "content-type"), "image/png");
    assert_eq!(r.bytes().await.unwrap(), png);
    assert_eq!(app.get("/robots.txt").await.bytes().await.unwrap(), robots);
    let r = app.get("/apple-touch-icon.png").await;
    assert_eq!(header(&r, "content-type"), "image/png");
    assert_eq!(r.bytes().await.unwrap(), touch);
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

/// The pages' policy allows no inline style but a chosen accent's, by its hash; everything else
/// comes from the binary's stylesheet, at a URL that names its digest, cached for a year and
/// compressed; an `http:` avatar is asked for as `https:`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_style_from_the_stylesheet_and_allow_only_their_own_inline_style() {
    use base64::Engine;
    use sha2::Digest;
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    app.create_profile(
        &key,
        serde_json::json!({"username": "plain", "avatarUrl": "http://img.example.com/a.png"}),
    )
    .await;
    app.create_profile(
        &key,
        serde_json::json!({"username": "accent", "theme": {"preset": "dark", "accentColor": "#ffaa00"}}),
    )
    .await;

    // no inline style: the policy allows the stylesheet only
    let r = app.get("/plain").await;
    let csp = header(&r, "content-security-policy").to_owned();
    assert!(csp.contains("style-src 'self';"), "{csp}");
    assert!(csp.contains("img-src https:;"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("http:;"),
        "{csp}"
    );
    let page = r.text().await.unwrap();
    assert!(!page.contains("<style"), "{page}");
    assert!(
        page.contains(r#"src="https://img.example.com/a.png""#),
        "the avatar is upgraded: {page}"
    );
    let href = page
        .split(r#"<link rel="stylesheet" href=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    assert!(
        href.starts_with("/static/page.") && href.ends_with(".css"),
        "{href}"
    );

    // a chosen accent: one inline style, its hash in this page's policy (and a cache hit too)
    for _ in 0..2 {
        let r = app.get("/accent").await;
        let csp = header(&r, "content-security-policy").to_owned();
        let page = r.text().await.unwrap();
        let style = page
            .split("<style>")
            .nth(1)
            .and_then(|s| s.split("</style>").next())
            .unwrap();
        assert_eq!(style, "body.a{--accent:#ffaa00}");
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style));
        assert!(
            csp.contains(&format!("style-src 'self' 'sha256-{hash}';")),
            "{csp}"
        );
    }

    // the stylesheet: immutable, compressed as asked, revalidated; another name is a 404
    let r = app
        .client
        .get(app.url(&href))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/css; charset=utf-8");
    assert_eq!(
        header(&r, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&r, "content-encoding"), "br");
    let etag = header(&r, "etag").to_owned();
    let mut css = Vec::new();
    brotli::BrotliDecompress(&mut &r.bytes().await.unwrap()[..], &mut css).unwrap();
    let css = String::from_utf8(css).unwrap();
    for class in [".t-sunset{", ".b-outline .link", ".t-dark{"] {
        assert!(css.contains(class), "{class}");
    }
    let again = app
        .client
        .get(app.url(&href))
        .header("accept-encoding", "br")
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(app.get("/static/page.0000.css").await.status(), 404);
}

/// BREACH: an answer that carries a secret (a key's token, a subscription's signing secret, a
/// session cookie, a form's CSRF token beside what the caller typed) goes out uncompressed,
/// whatever the client accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_carry_secrets_are_never_compressed() {
    const PASSWORD: &str = "a long and private phrase";
    let app = TestApp::spawn().await;
    let root = app.root_key().await;
    let site = app.config.server.public_url.clone();
    linkleaf::accounts::create(
        app.stores.accounts.as_ref(),
        "ada@example.com",
        None,
        false,
        PASSWORD,
    )
    .await
    .unwrap();
    let compressible = "gzip, deflate, br";
    let no_coding = |r: &reqwest::Response, what: &str| {
        assert_eq!(header(r, "content-encoding"), "", "{what} went compressed");
    };
    // signing in: the session cookie
    let r = app
        .client
        .post(app.url("/api/session"))
        .header("accept-encoding", compressible)
        .header("origin", &site)
        .json(&serde_json::json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    no_coding(&r, "the session");
    let cookie = app.sign_in("ada@example.com", PASSWORD).await;
    let r = app
        .as_person(reqwest::Method::POST, "/api/profiles", &cookie)
        .json(&serde_json::json!({"username": "ada", "displayName": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "the person owns the page");
    // a subscription's secret, by the operator's key
    let r = app
        .admin(reqwest::Method::POST, "/api/webhooks/subscriptions", &root)
        .header("accept-encoding", compressible)
        .json(&serde_json::json!({"url": "https://hooks.example.com/in"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    no_coding(&r, "a subscription's secret");
    // the account page (its form's token) and a key a person makes; the dashboard's pages,
    // which carry none, do go compressed
    let r = app
        .as_person(reqwest::Method::GET, "/dashboard", &cookie)
        .header("accept-encoding", compressible)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "content-encoding"), "br", "the dashboard");
    for (method, path, body) in [
        (reqwest::Method::GET, "/account", None),
        (
            reqwest::Method::POST,
            "/api/me/keys",
            Some(serde_json::json!({"name": "k", "profile": "ada", "scopes": ["profile:read"]})),
        ),
    ] {
        let mut b = app
            .as_person(method, path, &cookie)
            .header("accept-encoding", compressible);
        if let Some(body) = body {
            b = b.json(&body);
        }
        let r = b.send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        no_coding(&r, path);
    }
}
