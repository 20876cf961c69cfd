//! Hostile input at every endpoint: oversized, malformed and mistyped bodies, bad UTF-8, path
//! tricks, markup and script URLs, garbage headers. Every answer is a clear 4xx problem, never a
//! panic or a 5xx, and nothing bad is stored.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::{TestApp, header};
use reqwest::Method;
use serde_json::{Value, json};

async fn raw(
    app: &TestApp,
    m: Method,
    path: &str,
    key: &str,
    ct: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let r = app
        .admin(m, path, key)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert_eq!(
        header(&r, "content-type"),
        "application/problem+json",
        "{path}: {status}"
    );
    (status, r.json().await.unwrap())
}

fn fields(p: &Value) -> Vec<String> {
    p["errors"].as_array().map_or(vec![], |a| {
        a.iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_are_too_big_malformed_or_mistyped() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    app.create_profile(&key, json!({"username": "target"}))
        .await;
    let json = "application/json";
    for (m, path) in [
        (Method::POST, "/api/profiles"),
        (Method::PATCH, "/api/profiles/target"),
        (Method::PATCH, "/api/profiles/target/links"),
    ] {
        let big = format!(
            r#"{{"username":"{}"}}"#,
            "a".repeat(app.config.server.max_body_bytes)
        );
        let (s, p) = raw(&app, m.clone(), path, &key, json, big.into_bytes()).await;
        assert_eq!(
            (s, p["code"].as_str()),
            (413, Some("payload_too_large")),
            "{path}"
        );

        for bad in [
            &b""[..],
            b"{",
            b"{\"a\":}",
            b"\xff\xfe\xfd",
            b"{\"username\":\"\xc3\x28\"}",
            b"null x",
            b"{}{}",
        ] {
            let (s, p) = raw(&app, m.clone(), path, &key, json, bad.to_vec()).await;
            assert_eq!(
                (s, p["code"].as_str()),
                (400, Some("malformed_json")),
                "{path} {bad:?}"
            );
        }
        let (s, p) = raw(&app, m.clone(), path, &key, "text/plain", b"{}".to_vec()).await;
        assert_eq!(
            (s, p["code"].as_str()),
            (415, Some("unsupported_media_type")),
            "{path}"
        );
        let (s, _) = raw(
            &app,
            m.clone(),
            path,
            &key,
            "application/x-www-form-urlencoded",
            b"username=x".to_vec(),
        )
        .await;
        assert_eq!(s, 415);
        let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
        let (s, _) = raw(&app, m.clone(), path, &key, json, deep.into_bytes()).await;
        assert!(s == 400 || s == 413, "{path}: {s}");
    }

    // well-formed JSON with wrong values: 422 naming the field
    let cases: Vec<(Method, &str, Value, Vec<&str>)> = vec![
        (Method::POST, "/api/profiles", json!({}), vec!["username"]),
        (
            Method::POST,
            "/api/profiles",
            json!({"username": 42}),
            vec!["username"],
        ),
        (
            Method::POST,
            "/api/profiles",
            json!({"username": "ok_name", "extra": 1}),
            vec!["extra"],
        ),
        (
            Method::POST,
            "/api/profiles",
            json!({"username": "ok_name", "links": [{"title": "t"}]}),
            vec!["links[0].url"],
        ),
        (
            Method::POST,
            "/api/profiles",
            json!({"username": "ok_name", "theme": {"preset": "neon"}}),
            vec!["theme.preset"],
        ),
        (
            Method::POST,
            "/api/profiles",
            json!({"username": "ok_name", "bio": "x".repeat(281)}),
            vec!["bio"],
        ),
        (
            Method::POST,
            "/api/profiles",
            json!({"username": "x"}),
            vec!["username"],
        ),
        (
            Method::POST,
            "/api/profiles",
            json!({"username": "ok_name", "displayName": "a\u{202e}b"}),
            vec!["displayName"],
        ),
        (
            Method::PATCH,
            "/api/profiles/target",
            json!({"avatarUrl": "data:image/png;base64,AAAA"}),
            vec!["avatarUrl"],
        ),
        (
            Method::PATCH,
            "/api/profiles/target",
            json!({"username": "../../etc"}),
            vec!["username"],
        ),
        (
            Method::PATCH,
            "/api/profiles/target/links",
            json!({"ops": "all"}),
            vec!["ops"],
        ),
        (
            Method::PATCH,
            "/api/profiles/target/links",
            json!({"ops": []}),
            vec!["ops"],
        ),
        (
            Method::PATCH,
            "/api/profiles/target/links",
            json!({"ops": [{"op": "remove", "id": "not-a-uuid"}]}),
            vec!["ops[0]"],
        ),
        (
            Method::PATCH,
            "/api/profiles/target/links",
            json!({"ops": [{"op": "explode"}]}),
            vec!["ops[0].op"],
        ),
    ];
    for (m, path, body, want) in cases {
        let (s, p) = raw(&app, m, path, &key, json, body.to_string().into_bytes()).await;
        assert_eq!(s, 422, "{path} {body}: {p}");
        assert_eq!(fields(&p), want, "{path} {body}");
        assert_eq!(p["code"], "validation_failed");
        assert!(
            p["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:linkleaf:problem:")
        );
    }
    // well formed, but in conflict with the current state: 409, naming the field
    let target: Value = app
        .admin(Method::GET, "/api/profiles?limit=1", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(target["items"][0]["username"], "target");
    let conflicts: Vec<(Method, &str, Value, &str, Vec<&str>)> = vec![
        (
            Method::POST,
            "/api/profiles",
            json!({"username": "admin"}),
            "username_taken",
            vec!["username"],
        ),
        (
            Method::PATCH,
            "/api/profiles/target/links",
            json!({"ops": [{"op": "remove", "id": uuid::Uuid::now_v7()}]}),
            "conflict",
            vec!["ops[0].id"],
        ),
        (
            Method::PATCH,
            "/api/profiles/target/links",
            json!({"ops": [{"op": "add", "title": "t", "url": "https://e.example", "position": 5}]}),
            "conflict",
            vec!["ops[0].position"],
        ),
    ];
    for (m, path, body, code, want) in conflicts {
        let (s, p) = raw(&app, m, path, &key, json, body.to_string().into_bytes()).await;
        assert_eq!(
            (s, p["code"].as_str()),
            (409, Some(code)),
            "{path} {body}: {p}"
        );
        assert_eq!(fields(&p), want, "{path} {body}");
    }
    // nothing got in
    let (s, list) = (
        200,
        app.admin(Method::GET, "/api/profiles", &key)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap(),
    );
    assert_eq!((s, list["items"].as_array().unwrap().len()), (200, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_urls_are_refused_and_markup_is_escaped() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    for url in [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:x",
        "//evil.example",
        "https://u:p@evil.example",
    ] {
        let r = app
            .admin(Method::POST, "/api/profiles", &key)
            .json(&json!({"username": "xss_test", "links": [{"title": "t", "url": url}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{url:?}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(fields(&p), ["links[0].url"], "{url:?}");
    }
    app.create_profile(&key, json!({
        "username": "xss_test",
        "displayName": "<script>alert('name')</script>",
        "bio": "</p><img src=x onerror=alert(1)>",
        "links": [{"title": "<svg onload=alert(1)>", "url": "https://e.example/\"><script>alert(2)</script>"}],
    })).await;
    let html = app.get("/xss_test").await.text().await.unwrap();
    for bad in ["<script>alert", "<img src=x", "<svg onload", "\"><script>"] {
        assert!(!html.contains(bad), "{bad} appears unescaped");
    }
    assert!(html.contains("&#60;script&#62;alert(&#39;name&#39;)&#60;/script&#62;"));
    let j: Value = app
        .get("/api/profiles/xss_test")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        j["displayName"], "<script>alert('name')</script>",
        "JSON keeps the text as written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_and_garbage_headers() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    app.create_profile(&key, json!({"username": "victim"}))
        .await;
    for path in [
        "/api/profiles/%ff",
        "/api/profiles/..%2f..%2fetc%2fpasswd",
        "/api/profiles/victim%00",
        "/api/profiles/%2e%2e",
        "/api/profiles/{}",
        "/api/profiles/' OR 1=1 --",
        &format!("/api/profiles/{}", "a".repeat(5000)),
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(
            header(&r, "content-type"),
            "application/problem+json",
            "{path}"
        );
    }
    for path in [
        "/%ff",
        "/victim%00",
        "/victim%2f..",
        "/%3Cscript%3E",
        &format!("/{}", "a".repeat(5000)),
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(
            !r.text().await.unwrap().contains("<script>"),
            "{path} reflected"
        );
    }
    for (m, path) in [
        (Method::PATCH, "/api/profiles/%ff"),
        (Method::DELETE, "/api/profiles/%ff"),
        (Method::POST, "/api/cache/invalidate/%ff"),
    ] {
        let r = app
            .admin(m, path, &key)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // unauthenticated callers learn nothing about a route's body rules
    let r = app
        .client
        .post(app.url("/api/profiles"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // header garbage: never a 5xx
    let weird = [
        ("authorization", &b"Bearer \xff\xfe"[..]),
        ("authorization", b"Bearer"),
        ("authorization", &[b'x'; 8000][..]),
        ("if-none-match", b"\"unterminated"),
        ("if-none-match", b",,,,W/,*x"),
        ("content-type", b"application/json; charset=\xff"),
    ];
    for (name, value) in weird {
        let v = reqwest::header::HeaderValue::from_bytes(value).unwrap();
        for path in ["/victim", "/api/profiles/victim", "/api/profiles"] {
            let r = app
                .client
                .get(app.url(path))
                .header(name, v.clone())
                .send()
                .await
                .unwrap();
            assert!(
                r.status().is_success() || r.status().is_client_error(),
                "{name} on {path}: {}",
                r.status()
            );
        }
    }
    let r = app.get("/victim").await;
    assert_eq!(r.status(), 200, "the server is still fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_are_not_objects_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    let before = app
        .create_profile(
            &key,
            json!({"username": "target", "bio": "keep me", "links": [{"title": "t", "url": "https://e.example"}]}),
        )
        .await;
    let json = "application/json";
    // the findings of the attack, one by one
    for (m, path, body, field) in [
        (Method::PATCH, "/api/profiles/target", "[]", "body"),
        (
            Method::PATCH,
            "/api/profiles/target",
            "[null, null]",
            "body",
        ),
        (
            Method::PATCH,
            "/api/profiles/target",
            r#"["other"]"#,
            "body",
        ),
        (
            Method::PATCH,
            "/api/profiles/target",
            r#"[null,null,null,null,{"preset":"dark"}]"#,
            "body",
        ),
        (
            Method::PATCH,
            "/api/profiles/target",
            r#"{"theme":["dark"]}"#,
            "theme",
        ),
        (Method::POST, "/api/profiles", r#"["name"]"#, "body"),
        (
            Method::POST,
            "/api/profiles",
            r#"{"username":"x_y_z","links":[["t","https://e.example"]]}"#,
            "links[0]",
        ),
        (
            Method::PATCH,
            "/api/profiles/target/links",
            r#"[[]]"#,
            "body",
        ),
        (
            Method::PATCH,
            "/api/profiles/target/links",
            r#"{"ops":[["add","t","https://e.example"]]}"#,
            "ops[0]",
        ),
    ] {
        let (s, p) = raw(&app, m, path, &key, json, body.as_bytes().to_vec()).await;
        assert_eq!(
            (s, p["code"].as_str()),
            (422, Some("validation_failed")),
            "{body}: {p}"
        );
        assert_eq!(fields(&p), [field], "{body}");
    }
    let after: Value = app
        .admin(
            Method::GET,
            &format!("/api/profiles/{}", before["id"].as_str().unwrap()),
            &key,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after, before, "nothing changed");
    let list: Value = app
        .admin(Method::GET, "/api/profiles", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_text_and_look_alike_names_are_refused() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    for (body, field) in [
        (
            json!({"username": "blank", "links": [{"title": "\u{200B}", "url": "https://e.example"}]}),
            "links[0].title",
        ),
        (
            json!({"username": "blank", "displayName": "\u{3164}"}),
            "displayName",
        ),
        (
            json!({"username": "blank", "displayName": "a\u{2060}b"}),
            "displayName",
        ),
        (
            json!({"username": "blank", "bio": "soft\u{AD}hyphen"}),
            "bio",
        ),
        (
            json!({"username": "blank", "displayName": "Z\u{301}\u{302}\u{303}\u{304}\u{305}"}),
            "displayName",
        ),
        (
            json!({"username": "blank", "displayName": "tag\u{E0041}"}),
            "displayName",
        ),
    ] {
        let (s, p) = raw(
            &app,
            Method::POST,
            "/api/profiles",
            &key,
            "application/json",
            body.to_string().into_bytes(),
        )
        .await;
        assert_eq!(s, 422, "{body}: {p}");
        assert_eq!(fields(&p), [field], "{body}");
    }
    // what scripts need is kept
    app.create_profile(
        &key,
        json!({"username": "family", "displayName": "👨\u{200D}👩\u{200D}👧", "bio": "می\u{200C}خواهم"}),
    )
    .await;
    app.create_profile(&key, json!({"username": "paypal"}))
        .await;
    for name in ["paypaI", "paypa1", "PAYPAL"] {
        let (s, p) = raw(
            &app,
            Method::POST,
            "/api/profiles",
            &key,
            "application/json",
            json!({ "username": name }).to_string().into_bytes(),
        )
        .await;
        assert_eq!(
            (s, p["code"].as_str()),
            (409, Some("username_taken")),
            "{name}: {p}"
        );
        if name != "PAYPAL" {
            assert!(
                p["errors"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("'paypal'"),
                "{p}"
            );
        }
    }
}
