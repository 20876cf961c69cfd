//! The API description as a reviewed artefact: what the server serves is what `openapi.json`
//! holds, every operation in it is answered by the router, and the reference page works from
//! the binary alone. (schemathesis, run by scripts/contract, proves the behaviour against it.)

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::TestApp;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_description_is_the_committed_one() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/openapi.json").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let served = r.text().await.unwrap();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json"))
            .unwrap();
    assert!(
        served == committed,
        "the API changed: review it, then run  cargo run -q -- openapi > openapi.json  and  \
         cargo run -q -p linkleaf-http --example compress_assets  and commit the files"
    );
    let spec: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_described_operation_is_routed() {
    let app = TestApp::spawn().await;
    let spec: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let mut count = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(m) = method.to_uppercase().parse::<reqwest::Method>() else {
                continue;
            };
            count += 1;
            let concrete = path
                .replace("{username}", "nobody")
                .replace("{profile}", "nobody")
                .replace("{asset}", "init.js")
                .replace("{link}", "00000000-0000-0000-0000-000000000000")
                .replace("{id}", "00000000-0000-0000-0000-000000000000");
            let r = app
                .client
                .request(m.clone(), app.url(&concrete))
                .send()
                .await
                .unwrap();
            // the router's catch-all answers unknown routes with `no such route`, and 405 with
            // `method_not_allowed`: a described operation must reach its handler instead.
            assert_ne!(r.status(), 405, "{method} {path}");
            let body = r.text().await.unwrap();
            assert!(
                !body.contains("no such route"),
                "{method} {path} is described but not routed"
            );
            let documented = op["responses"].as_object().unwrap();
            assert!(
                !documented.is_empty(),
                "{method} {path} documents no response"
            );
        }
    }
    assert_eq!(count, 60, "operations described");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_page_is_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/docs").await;
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = r.text().await.unwrap();
    let mut loaded = 0;
    for part in html.split('"') {
        if let Some(asset) = part.strip_prefix("/api/docs/") {
            let r = app.get(&format!("/api/docs/{asset}")).await;
            assert_eq!(r.status(), 200, "{asset}");
            assert!(r.bytes().await.unwrap().len() > 100, "{asset}");
            loaded += 1;
        }
        assert!(
            !part.starts_with("http"),
            "the page loads nothing remote: {part}"
        );
    }
    assert_eq!(loaded, 3, "bundle, stylesheet and init script");
    let r = app.get("/api/docs/nothing.js").await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}
