//! QR codes that count: the SVG and PNG codes of a page read back (as a phone's camera would)
//! to its public address tagged `?src=qr`; a view through that address is counted under the
//! source `qr`, one tagged `utm_source` under its value, and a plain one as `(direct)`, on the
//! fast path and the router alike; bad sizes and strangers are refused.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::{TestApp, header, load};
use serde_json::{Value, json};
use std::time::Duration;

const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
     (KHTML, like Gecko) Mobile/15E148 Instagram 355.0.0.21.103 (iPhone15,3; iOS 18_1; en_US)";

/// The text a PNG's QR code holds.
fn read_png(bytes: &[u8]) -> (u32, String) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one code");
    (info.width, grids[0].decode().unwrap().1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pages_qr_code_reads_back_to_its_tagged_address_and_its_views_count_as_qr() {
    let app = TestApp::spawn_with(|c| {
        c.analytics.window = Duration::from_secs_f64(0.05);
        c.analytics.cache_for = Duration::from_secs(0);
    })
    .await;
    let key = app.root_key().await;
    let p = app
        .create_profile(&key, json!({"username": "Scanned"}))
        .await;
    let id = p["id"].as_str().unwrap();
    let expected = format!("{}/scanned?src=qr", app.config.server.public_url);

    // the PNG at the sizes asked, read back
    for (query, size) in [("", 512), ("?size=128", 128), ("?size=2048", 2048)] {
        let r = app
            .admin(
                reqwest::Method::GET,
                &format!("/api/profiles/{id}/qr.png{query}"),
                &key,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), "image/png");
        let (side, text) = read_png(&r.bytes().await.unwrap());
        assert_eq!((side, text.as_str()), (size, expected.as_str()));
    }
    // the SVG, by name, holds the same code (its modules are the PNG's)
    let r = app
        .admin(reqwest::Method::GET, "/api/profiles/scanned/qr.svg", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "image/svg+xml");
    assert!(header(&r, "content-security-policy").starts_with("default-src 'none'"));
    let svg = r.text().await.unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains("<path"), "{svg}");
    assert!(!svg.contains("<script"));

    // refusals: sizes out of bounds name the parameter; strangers and other keys get nothing
    for bad in ["?size=64", "?size=4096", "?size=big", "?width=300"] {
        let r = app
            .admin(
                reqwest::Method::GET,
                &format!("/api/profiles/{id}/qr.png{bad}"),
                &key,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{bad}");
        let e: Value = r.json().await.unwrap();
        let field = e["errors"][0]["field"].as_str().unwrap().to_owned();
        assert!(
            ["size", "width", "query"].contains(&field.as_str()),
            "{bad}: {e}"
        );
    }
    let r = app.get(&format!("/api/profiles/{id}/qr.svg")).await;
    assert_eq!(r.status(), 401);
    let analyst = app.key("analytics:read").await;
    let r = app
        .admin(
            reqwest::Method::GET,
            &format!("/api/profiles/{id}/qr.png"),
            &analyst,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // views: through the code (twice: once a miss, once from the fast path), tagged, plain
    let path = expected
        .strip_prefix(&app.config.server.public_url)
        .unwrap();
    for p in [
        path,
        path,
        "/scanned?utm_source=Newsletter",
        "/scanned?utm_source=%3Cscript%3E",
        "/scanned",
    ] {
        let r = app
            .client
            .get(app.url(p))
            .header("user-agent", PHONE)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{p}");
    }
    let report = linkleaf_testkit::until("five views counted", Duration::from_secs(10), || async {
        let r = load::report(&app.client, &app.url(""), &key, id).await;
        if r["totals"]["views"] == 5 {
            Ok(r)
        } else {
            Err(format!("{r:#}"))
        }
    })
    .await;
    let sources: Vec<(String, i64, i64)> = report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["value"].as_str().unwrap().to_owned(),
                s["views"].as_i64().unwrap(),
                s["humanViews"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sources,
        [
            ("qr".to_owned(), 2, 2),
            ("(direct)".to_owned(), 1, 1),
            ("(other)".to_owned(), 1, 1),
            ("newsletter".to_owned(), 1, 1),
        ]
    );
    // and in the CSV
    let csv = app
        .admin(
            reqwest::Method::GET,
            &format!("/api/profiles/{id}/analytics.csv"),
            &key,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.lines().any(|l| l.starts_with("source,qr,,,,,2,,")),
        "{csv}"
    );
}
