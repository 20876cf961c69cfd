//! The admin API over HTTP: every operation, invalidation after every kind of write, the auth
//! and scope matrix, and the per-key rate limit.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::{TestApp, header};
use reqwest::Method;
use serde_json::{Value, json};

async fn send(
    app: &TestApp,
    m: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.admin(m, path, key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    (
        status,
        if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        },
    )
}

/// Reads `/api/profiles/{name}` publicly and returns (x-cache, body).
async fn public(app: &TestApp, name: &str) -> (u16, String, Value) {
    let r = app.get(&format!("/api/profiles/{name}")).await;
    let status = r.status().as_u16();
    let cache = header(&r, "x-cache").to_owned();
    (status, cache, r.json().await.unwrap())
}

/// Reads twice so the second is a hit: the cache is warm.
async fn warm(app: &TestApp, name: &str) -> Value {
    public(app, name).await;
    let (_, cache, body) = public(app, name).await;
    assert_eq!(cache, "HIT", "warming {name}");
    body
}

fn titles(p: &Value) -> Vec<String> {
    p["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_read_list_update_delete() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    let r = app
        .admin(Method::POST, "/api/profiles", &key)
        .json(&json!({"username": "Jane.Doe", "displayName": "Jane", "bio": "Hi",
                      "avatarUrl": "https://img.example/jane.png",
                      "theme": {"preset": "dark", "accentColor": "#FF8800", "buttonStyle": "pill"},
                      "links": [{"title": "Blog", "url": "https://jane.example/blog"},
                                {"title": "Secret", "url": "https://jane.example/s", "enabled": false}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let location = header(&r, "location").to_owned();
    assert_eq!(header(&r, "cache-control"), "no-store");
    let p: Value = r.json().await.unwrap();
    let id = p["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/profiles/{id}"));
    assert_eq!(p["theme"]["accentColor"], "#ff8800");
    assert_eq!(
        p["links"].as_array().unwrap().len(),
        2,
        "the admin view holds disabled links"
    );
    assert_eq!(p["links"][1]["enabled"], false);

    // admin read by id: everything; public read by name: enabled links only
    let (s, by_id) = send(&app, Method::GET, &location, &key, None).await;
    assert_eq!((s, &by_id), (200, &p));
    let (_, _, pub_view) = public(&app, "jane.doe").await;
    assert_eq!(titles(&pub_view), ["Blog"]);

    // list, paged
    app.create_profile(&key, json!({"username": "zed"})).await;
    app.create_profile(&key, json!({"username": "abe"})).await;
    let (s, page1) = send(&app, Method::GET, "/api/profiles?limit=2", &key, None).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["abe", "Jane.Doe"]);
    assert_eq!(page1["items"][1]["linkCount"], 2);
    let next = page1["next"].as_str().unwrap();
    let (_, page2) = send(
        &app,
        Method::GET,
        &format!("/api/profiles?limit=2&after={next}"),
        &key,
        None,
    )
    .await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    assert!(page2.get("next").is_none());
    let (s, e) = send(&app, Method::GET, "/api/profiles?limit=0", &key, None).await;
    assert_eq!((s, e["errors"][0]["field"].as_str()), (422, Some("limit")));
    let (s, _) = send(&app, Method::GET, "/api/profiles?limit=abc", &key, None).await;
    assert_eq!(s, 422);

    // update by id and by username; null clears
    let (s, u) = send(
        &app,
        Method::PATCH,
        &format!("/api/profiles/{id}"),
        &key,
        Some(json!({"bio": null, "avatarUrl": null})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        (u["bio"].as_str(), u["avatarUrl"].is_null()),
        (Some(""), true)
    );
    let (s, u) = send(
        &app,
        Method::PATCH,
        "/api/profiles/JANE.DOE",
        &key,
        Some(json!({"displayName": "Jane D."})),
    )
    .await;
    assert_eq!((s, u["displayName"].as_str()), (200, Some("Jane D.")));
    let (s, same) = send(
        &app,
        Method::PATCH,
        "/api/profiles/jane.doe",
        &key,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (s, &same["lastModified"]),
        (200, &u["lastModified"]),
        "an empty patch changes nothing"
    );

    // username clash, case-insensitively
    let (s, e) = send(
        &app,
        Method::PATCH,
        "/api/profiles/zed",
        &key,
        Some(json!({"username": "ABE"})),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str(), e["errors"][0]["field"].as_str()),
        (409, Some("username_taken"), Some("username"))
    );
    let (s, _) = send(
        &app,
        Method::POST,
        "/api/profiles",
        &key,
        Some(json!({"username": "zED"})),
    )
    .await;
    assert_eq!(s, 409);

    // delete
    let r = app
        .admin(Method::DELETE, &format!("/api/profiles/{id}"), &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // a missing profile is the same problem everywhere, admin or public
    for (m, path, body) in [
        (Method::DELETE, format!("/api/profiles/{id}"), None),
        (Method::GET, location.clone(), None),
        (
            Method::PATCH,
            "/api/profiles/ghost".into(),
            Some(json!({"bio": "x"})),
        ),
        (
            Method::PATCH,
            "/api/profiles/ghost/links".into(),
            Some(json!({"ops": [{"op": "remove", "id": id}]})),
        ),
        (Method::GET, "/api/profiles/ghost".into(), None),
    ] {
        let (s, e) = send(&app, m.clone(), &path, &key, body).await;
        assert_eq!(
            (s, e["code"].as_str()),
            (404, Some("profile_not_found")),
            "{m} {path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_operations_apply_atomically() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    let p = app
        .create_profile(
            &key,
            json!({"username": "linker", "links": [
            {"title": "a", "url": "https://a.example"}, {"title": "b", "url": "https://b.example"},
            {"title": "c", "url": "https://c.example"}]}),
        )
        .await;
    let ids: Vec<String> = p["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    let path = "/api/profiles/linker/links";

    let (s, after) = send(
        &app,
        Method::PATCH,
        path,
        &key,
        Some(json!({"ops": [
            {"op": "add", "title": "new", "url": "tel:+15551234567", "position": 1},
            {"op": "edit", "id": ids[0], "title": "A", "url": "https://a2.example"},
            {"op": "disable", "id": ids[1]},
            {"op": "move", "id": ids[2], "position": 0},
        ]})),
    )
    .await;
    assert_eq!(s, 200, "{after}");
    assert_eq!(titles(&after), ["c", "A", "new", "b"]);
    let positions: Vec<u64> = after["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, [0, 1, 2, 3]);
    assert_eq!(after["links"][1]["url"], "https://a2.example/");
    assert_eq!(after["links"][3]["enabled"], false);

    // reorder (a full permutation), enable, remove
    let now: Vec<String> = after["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    let reversed: Vec<&String> = now.iter().rev().collect();
    let (s, after) = send(&app, Method::PATCH, path, &key, Some(json!({"ops": [
        {"op": "reorder", "ids": reversed}, {"op": "enable", "id": ids[1]}, {"op": "remove", "id": ids[0]}]}))).await;
    assert_eq!(s, 200, "{after}");
    assert_eq!(titles(&after), ["b", "new", "c"]);

    // one bad operation: nothing applies, every error is named
    let (s, e) = send(
        &app,
        Method::PATCH,
        path,
        &key,
        Some(json!({"ops": [
        {"op": "remove", "id": ids[1]},
        {"op": "add", "title": "x", "url": "javascript:alert(1)"},
        {"op": "edit", "id": "00000000-0000-7000-8000-000000000000", "title": "y"}]})),
    )
    .await;
    assert_eq!(s, 422);
    let fields: Vec<&str> = e["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["ops[1].url", "ops[2].id"]);
    let (_, unchanged) = send(
        &app,
        Method::GET,
        &format!("/api/profiles/{}", p["id"].as_str().unwrap()),
        &key,
        None,
    )
    .await;
    assert_eq!(titles(&unchanged), ["b", "new", "c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_link_edits_are_all_kept() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    app.create_profile(&key, json!({"username": "busy"})).await;
    let adds = (0..20).map(|i| {
        let req = app
            .admin(Method::PATCH, "/api/profiles/busy/links", &key)
            .json(&json!({"ops": [{"op": "add", "title": format!("t{i}"), "url": "https://e.example"}]}));
        async move { req.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(adds).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (_, _, p) = public(&app, "busy").await;
    assert_eq!(
        p["links"].as_array().unwrap().len(),
        20,
        "no concurrent edit was lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_write_invalidates_the_cache() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;

    // create: the negative entry for the name goes
    assert_eq!(public(&app, "fresh").await.0, 404);
    assert_eq!(public(&app, "fresh").await.1, "HIT");
    let p = app
        .create_profile(
            &key,
            json!({"username": "fresh", "links": [{"title": "a", "url": "https://a.example"}]}),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let link = p["links"][0]["id"].as_str().unwrap().to_owned();
    let (s, c, _) = public(&app, "fresh").await;
    assert_eq!((s, c.as_str()), (200, "MISS"));

    // profile update, by id: the username-keyed entry goes
    warm(&app, "fresh").await;
    send(
        &app,
        Method::PATCH,
        &format!("/api/profiles/{id}"),
        &key,
        Some(json!({"displayName": "Changed"})),
    )
    .await;
    let (_, c, b) = public(&app, "fresh").await;
    assert_eq!(
        (c.as_str(), b["displayName"].as_str()),
        ("MISS", Some("Changed"))
    );
    let page = app.get("/fresh").await.text().await.unwrap();
    assert!(page.contains("Changed"), "the HTML page went with the JSON");

    // each link operation
    for ops in [
        json!([{"op": "edit", "id": link, "title": "edited"}]),
        json!([{"op": "add", "title": "second", "url": "https://b.example"}]),
        json!([{"op": "move", "id": link, "position": 1}]),
        json!([{"op": "disable", "id": link}]),
        json!([{"op": "enable", "id": link}]),
        json!([{"op": "remove", "id": link}]),
    ] {
        let before = warm(&app, "fresh").await;
        let (s, _) = send(
            &app,
            Method::PATCH,
            &format!("/api/profiles/{id}/links"),
            &key,
            Some(json!({"ops": ops.clone()})),
        )
        .await;
        assert_eq!(s, 200);
        let (_, c, after) = public(&app, "fresh").await;
        assert_eq!(c, "MISS", "{ops}");
        assert_ne!(before["links"], after["links"], "{ops}");
    }

    // rename: old name 404 at once, new name served
    warm(&app, "fresh").await;
    send(
        &app,
        Method::PATCH,
        &format!("/api/profiles/{id}"),
        &key,
        Some(json!({"username": "renamed"})),
    )
    .await;
    assert_eq!(public(&app, "fresh").await.0, 404);
    assert_eq!(public(&app, "renamed").await.0, 200);

    // manual invalidation
    warm(&app, "renamed").await;
    let (s, b) = send(
        &app,
        Method::POST,
        "/api/cache/invalidate/Renamed",
        &key,
        None,
    )
    .await;
    assert_eq!((s, b["invalidated"][0].as_str()), (200, Some("renamed")));
    assert_eq!(public(&app, "renamed").await.1, "MISS");
    let (s, e) = send(&app, Method::POST, "/api/cache/invalidate/no!", &key, None).await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (422, Some("username"))
    );

    // delete
    warm(&app, "renamed").await;
    send(&app, Method::DELETE, "/api/profiles/renamed", &key, None).await;
    let (s, c, _) = public(&app, "renamed").await;
    assert_eq!((s, c.as_str()), (404, "MISS"));
    assert!(app.metric("linkleaf_cache_invalidations_total").await >= 10.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_scope_matrix() {
    let app = TestApp::spawn().await;
    let root = app.root_key().await;
    let p = app
        .create_profile(
            &root,
            json!({"username": "matrix", "links": [{"title": "a", "url": "https://a.example"}]}),
        )
        .await;
    let id = p["id"].as_str().unwrap();

    // (method, path, body, the scope it needs)
    let routes: Vec<(Method, String, Option<Value>, &str)> = vec![
        (Method::GET, "/api/profiles".into(), None, "profile:read"),
        (
            Method::GET,
            format!("/api/profiles/{id}"),
            None,
            "profile:read",
        ),
        (
            Method::POST,
            "/api/profiles".into(),
            Some(json!({"username": "newone"})),
            "profile:write",
        ),
        (
            Method::PATCH,
            format!("/api/profiles/{id}"),
            Some(json!({"bio": "x"})),
            "profile:write",
        ),
        (
            Method::PATCH,
            format!("/api/profiles/{id}/links"),
            Some(json!({"ops": [{"op": "add", "title": "t", "url": "https://t.example"}]})),
            "links:write",
        ),
        (
            Method::POST,
            "/api/cache/invalidate/matrix".into(),
            None,
            "cache:write",
        ),
        (
            Method::GET,
            format!("/api/profiles/{id}/analytics"),
            None,
            "analytics:read",
        ),
        (
            Method::GET,
            "/api/profiles/matrix/analytics".into(),
            None,
            "analytics:read",
        ),
        (
            Method::DELETE,
            format!("/api/profiles/{id}"),
            None,
            "profile:write",
        ),
    ];
    let scopes = [
        "profile:read",
        "profile:write",
        "links:write",
        "cache:write",
        "analytics:read",
    ];
    let mut keys = Vec::new();
    for s in scopes {
        keys.push((s, app.key(s).await));
    }
    for (m, path, body, needed) in &routes {
        // no key, a malformed key, an unknown well-formed key: 401 with WWW-Authenticate
        for auth in [
            None,
            Some("Bearer nope"),
            Some("Basic YTpi"),
            Some(
                "Bearer lk_0000000000000000_0000000000000000000000000000000000000000000000000000000000000000",
            ),
        ] {
            let mut req = app.client.request(m.clone(), app.url(path));
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 401, "{m} {path} with {auth:?}");
            assert!(header(&r, "www-authenticate").starts_with("Bearer"));
            assert_eq!(header(&r, "content-type"), "application/problem+json");
        }
        // each single-scope key: allowed only with the needed scope
        for (scope, key) in &keys {
            if *needed == "profile:write" && *m == Method::DELETE && scope == needed {
                continue; // run last, below
            }
            let (s, e) = send(&app, m.clone(), path, key, body.clone()).await;
            if scope == needed {
                assert!((200..300).contains(&s), "{m} {path} with {scope}: {s} {e}");
            } else {
                assert_eq!(
                    (s, e["code"].as_str()),
                    (403, Some("insufficient_scope")),
                    "{m} {path} with {scope}"
                );
            }
        }
    }
    let (s, _) = send(
        &app,
        Method::DELETE,
        &format!("/api/profiles/{id}"),
        &keys[1].1,
        None,
    )
    .await;
    assert_eq!(s, 204);

    // a revoked key stops working at once
    let k = app.key("profile:read").await;
    assert_eq!(
        send(&app, Method::GET, "/api/profiles", &k, None).await.0,
        200
    );
    let prefix = &k[..19];
    assert!(
        app.stores
            .keys
            .revoke_key(prefix, linkleaf_domain::now_millis())
            .await
            .unwrap()
    );
    assert_eq!(
        send(&app, Method::GET, "/api/profiles", &k, None).await.0,
        401
    );
    // a key with one character changed is refused (digest compared, not the prefix)
    let mut forged = app.key("profile:read").await.into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        send(
            &app,
            Method::GET,
            "/api/profiles",
            std::str::from_utf8(&forged).unwrap(),
            None
        )
        .await
        .0,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_case_insensitive_and_only_one_header_counts() {
    let app = TestApp::spawn().await;
    let key = app.key("profile:read").await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = app
            .client
            .get(app.url("/api/profiles"))
            .header("authorization", format!("{scheme} {key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{scheme}");
    }
    // two Authorization headers: refused, whichever order and whether or not one is valid
    for (a, b) in [
        (format!("Bearer {key}"), "Bearer nope".to_owned()),
        ("Bearer nope".to_owned(), format!("Bearer {key}")),
        (format!("Bearer {key}"), format!("Bearer {key}")),
    ] {
        let r = app
            .client
            .get(app.url("/api/profiles"))
            .header("authorization", a)
            .header("authorization", b)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let p: Value = r.json().await.unwrap();
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("one Authorization header"),
            "{p}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_per_key_and_says_when_to_retry() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit.per_minute = std::num::NonZeroU32::new(3).expect("non-zero");
        c.rate_limit.burst = std::num::NonZeroU32::new(3).expect("non-zero");
    })
    .await;
    let a = app.key("profile:read").await;
    let b = app.key("profile:read").await;
    for _ in 0..3 {
        assert_eq!(
            send(&app, Method::GET, "/api/profiles", &a, None).await.0,
            200
        );
    }
    let r = app
        .admin(Method::GET, "/api/profiles", &a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = header(&r, "retry-after").parse().unwrap();
    assert!(
        (1..=20).contains(&retry),
        "one token refills in 20 s at 3/min: {retry}"
    );
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "rate_limited");
    assert_eq!(
        send(&app, Method::GET, "/api/profiles", &b, None).await.0,
        200,
        "another key has its own bucket"
    );
    // public reads are never rate limited
    for _ in 0..10 {
        assert_eq!(app.get("/api/profiles/someone").await.status(), 404);
    }
    assert_eq!(app.metric("linkleaf_rate_limited_total").await, 1.0);
}

/// An accent colour that cannot be seen as a border and a focus ring on its preset's background
/// is refused at save, naming the field and the ratio; one stored before the rule renders with
/// the preset's own accent, so the page still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faint_accent_is_refused_and_a_stored_one_renders_with_the_presets() {
    use linkleaf_store::ProfileStore;
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    let faint = json!({"preset": "sunset", "accentColor": "#FFD0B0"});
    let (s, e) = send(
        &app,
        Method::POST,
        "/api/profiles",
        &key,
        Some(json!({"username": "faint", "theme": faint})),
    )
    .await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (422, Some("theme.accentColor"))
    );
    let msg = e["errors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("1.27:1") && msg.contains("3:1"), "{msg}");
    app.create_profile(
        &key,
        json!({"username": "faint", "theme": {"preset": "sunset"}}),
    )
    .await;
    let (s, e) = send(
        &app,
        Method::PATCH,
        "/api/profiles/faint",
        &key,
        Some(json!({"theme": faint})),
    )
    .await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (422, Some("theme.accentColor"))
    );
    let (s, _) = send(
        &app,
        Method::PATCH,
        "/api/profiles/faint",
        &key,
        Some(json!({"theme": {"preset": "sunset", "accentColor": "#7a2e12"}})),
    )
    .await;
    assert_eq!(s, 200, "a dark enough accent is kept");
    let page = app.get("/faint").await.text().await.unwrap();
    assert!(page.contains("--accent:#7a2e12"), "{page}");

    // a theme stored before the rule (written past the API, as an old version did)
    let old: linkleaf_domain::CreateProfile = serde_json::from_value(json!({
        "username": "oldfaint",
        "theme": {"preset": "sunset"}
    }))
    .unwrap();
    let mut p = old.into_profile(time::OffsetDateTime::now_utc()).unwrap();
    p.theme = serde_json::from_value(faint).unwrap();
    app.store.create_profile(&p).await.unwrap();
    let page = app.get("/oldfaint").await.text().await.unwrap();
    // the preset's own accent: no inline style, the preset's class alone
    assert!(
        page.contains(r#"<body class="t-sunset b-rounded">"#),
        "{page}"
    );
    assert!(!page.contains("<style"), "{page}");
    assert!(!page.contains("#ffd0b0"), "the faint accent is not drawn");
}

/// A link's window through the API: set when added, changed and cleared by `edit` (`null`
/// clears an end, absence leaves it), each refusal naming its field; the public answer shows
/// only what is shown now and says until when (`validUntil`), and no `Cache-Control` reaches
/// past that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_links_window_is_set_changed_and_cleared_and_refusals_name_the_field() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    let p = app
        .create_profile(
            &key,
            json!({"username": "windows", "links": [
                {"title": "now", "url": "https://now.example"},
                {"title": "later", "url": "https://later.example",
                 "visibleFrom": "2099-01-01T00:00:00+01:00"}]}),
        )
        .await;
    let later = p["links"][1]["id"].as_str().unwrap().to_owned();
    assert_eq!(p["links"][1]["visibleFrom"], "2098-12-31T23:00:00Z");
    assert!(p["links"][0].get("visibleFrom").is_none());
    let (_, cache, body) = public(&app, "windows").await;
    assert_eq!(
        (cache.as_str(), titles(&body)),
        ("MISS", vec!["now".to_owned()])
    );
    assert_eq!(body["validUntil"], "2098-12-31T23:00:00Z");
    let path = "/api/profiles/windows/links";

    // refusals, each by its field; nothing applies
    for (ops, field) in [
        (
            json!([{"op": "add", "title": "x", "url": "https://x.example", "visibleFrom": "tomorrow"}]),
            "ops[0].visibleFrom",
        ),
        (
            json!([{"op": "add", "title": "x", "url": "https://x.example",
                 "visibleFrom": "2030-01-02T00:00:00Z", "visibleUntil": "2030-01-01T00:00:00Z"}]),
            "ops[0].visibleUntil",
        ),
        (
            json!([{"op": "edit", "id": later, "visibleUntil": "2098-12-31T22:00:00Z"}]),
            "ops[0].visibleUntil",
        ),
        (
            json!([{"op": "edit", "id": later, "visibleFrom": "2026-12-24"}]),
            "ops[0].visibleFrom",
        ),
    ] {
        let (s, e) = send(&app, Method::PATCH, path, &key, Some(json!({"ops": ops}))).await;
        assert_eq!(s, 422, "{e}");
        assert_eq!(e["errors"][0]["field"], field, "{e}");
    }

    // a window that has begun and ends far ahead; then the start cleared, the end kept
    let (s, after) = send(&app, Method::PATCH, path, &key, Some(json!({"ops": [
        {"op": "edit", "id": later, "visibleFrom": "2020-01-01T00:00:00Z", "visibleUntil": "2099-01-01T00:00:00Z"}]}))).await;
    assert_eq!(s, 200, "{after}");
    let (_, _, body) = public(&app, "windows").await;
    assert_eq!(titles(&body), ["now", "later"]);
    assert_eq!(body["validUntil"], "2099-01-01T00:00:00Z");
    let (s, after) = send(
        &app,
        Method::PATCH,
        path,
        &key,
        Some(json!({"ops": [
        {"op": "edit", "id": later, "visibleFrom": null, "title": "Later"}]})),
    )
    .await;
    assert_eq!(s, 200, "{after}");
    assert!(after["links"][1].get("visibleFrom").is_none(), "{after}");
    assert_eq!(after["links"][1]["visibleUntil"], "2099-01-01T00:00:00Z");
    // an end in a few seconds: Cache-Control is cut to it
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(20);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (s, after) = send(
        &app,
        Method::PATCH,
        path,
        &key,
        Some(json!({"ops": [
        {"op": "edit", "id": later, "visibleUntil": soon}]})),
    )
    .await;
    assert_eq!(s, 200, "{after}");
    let r = app.get("/windows").await;
    let cc = header(&r, "cache-control").to_owned();
    let age: u64 = cc
        .split(", ")
        .find_map(|p| p.strip_prefix("max-age="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        age <= 20 && !cc.contains("stale-while-revalidate=6"),
        "{cc}"
    );
    // cleared: shown for good, the usual Cache-Control again
    let (s, _) = send(
        &app,
        Method::PATCH,
        path,
        &key,
        Some(json!({"ops": [
        {"op": "edit", "id": later, "visibleUntil": null}]})),
    )
    .await;
    assert_eq!(s, 200);
    let (_, _, body) = public(&app, "windows").await;
    assert!(body.get("validUntil").is_none(), "{body}");
    let r = app.get("/windows").await;
    assert_ne!(header(&r, "cache-control"), cc);
}

/// A profile's time zone: set when it is made or edited (a name the zone database does not hold
/// is refused by name), in its admin JSON and history, and the zone of its analytics' days
/// unless a query names another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profiles_time_zone_is_kept_and_its_analytics_days_are_in_it() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    let p = app
        .create_profile(
            &key,
            json!({"username": "zoned", "timeZone": "Europe/Paris"}),
        )
        .await;
    assert_eq!(p["timeZone"], "Europe/Paris");
    let (s, e) = send(
        &app,
        Method::PATCH,
        "/api/profiles/zoned",
        &key,
        Some(json!({"timeZone": "Europe/Nowhere"})),
    )
    .await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (422, Some("timeZone")),
        "{e}"
    );
    let (s, e) = send(
        &app,
        Method::POST,
        "/api/profiles",
        &key,
        Some(json!({"username": "unzoned", "timeZone": ""})),
    )
    .await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (422, Some("timeZone")),
        "{e}"
    );
    let (_, r) = send(
        &app,
        Method::GET,
        "/api/profiles/zoned/analytics",
        &key,
        None,
    )
    .await;
    assert_eq!(r["timeZone"], "Europe/Paris", "{r}");
    let from = r["from"].as_str().unwrap();
    assert!(
        from.ends_with("T23:00:00Z") || from.ends_with("T22:00:00Z"),
        "a Paris midnight: {from}"
    );
    let (_, r) = send(
        &app,
        Method::GET,
        "/api/profiles/zoned/analytics?timeZone=UTC",
        &key,
        None,
    )
    .await;
    assert_eq!(r["timeZone"], "UTC");
    assert!(r["from"].as_str().unwrap().ends_with("T00:00:00Z"));
    let (_, r) = send(
        &app,
        Method::GET,
        "/api/profiles/zoned/analytics?bucket=hour",
        &key,
        None,
    )
    .await;
    assert_eq!(r["timeZone"], "UTC", "hours are instants");
    let (s, e) = send(
        &app,
        Method::GET,
        "/api/profiles/zoned/analytics?timeZone=Paris",
        &key,
        None,
    )
    .await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (422, Some("timeZone")),
        "{e}"
    );
    let (s, p) = send(
        &app,
        Method::PATCH,
        "/api/profiles/zoned",
        &key,
        Some(json!({"timeZone": "Asia/Kolkata"})),
    )
    .await;
    assert_eq!((s, p["timeZone"].as_str()), (200, Some("Asia/Kolkata")));
    let (_, h) = send(&app, Method::GET, "/api/profiles/zoned/history", &key, None).await;
    assert_eq!(h[0]["profile"]["timeZone"], "Asia/Kolkata", "{h}");
}
