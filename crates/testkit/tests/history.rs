//! Who did what: every change of a profile is a version with its actor (an account by email, a
//! key by name), the newest `history.keep_versions` kept, readable by members only, and the
//! events a change sends carry the same actor.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "a long and private phrase";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_a_version_with_its_actor_and_the_events_say_who() {
    let app = TestApp::spawn_with(|c| {
        c.history.keep_versions = 3;
    })
    .await;
    let root = app.root_key().await;
    let site = app.config.server.public_url.clone();
    for email in [
        "owner@example.com",
        "viewer@example.com",
        "other@example.com",
    ] {
        linkleaf::accounts::create(app.stores.accounts.as_ref(), email, None, false, PASSWORD)
            .await
            .unwrap();
    }
    let owner = app.sign_in("owner@example.com", PASSWORD).await;
    let viewer = app.sign_in("viewer@example.com", PASSWORD).await;
    let other = app.sign_in("other@example.com", PASSWORD).await;
    // made by a person: version 1, theirs
    let r = app
        .client
        .post(app.url("/api/profiles"))
        .header("cookie", &owner)
        .header("origin", &site)
        .json(&json!({"username": "ada", "displayName": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // the viewer joins with the owner's invitation
    let inv: Value = app
        .as_person(Method::POST, "/api/invitations", &owner)
        .json(&json!({"profile": "ada", "role": "viewer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = inv["url"].as_str().unwrap();
    let link = &link[link.find("/invite/").unwrap()..];
    let r = app
        .as_person(Method::POST, link, &viewer)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "joined");
    // changed by the operator's key, then by the person
    let patch = |bio: &str| json!({ "bio": bio });
    let r = app
        .admin(Method::PATCH, "/api/profiles/ada", &root)
        .json(&patch("by the key"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .patch(app.url("/api/profiles/ada"))
        .header("cookie", &owner)
        .header("origin", &site)
        .json(&patch("by the owner"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let history = |cookie: &str| {
        app.client
            .get(app.url("/api/profiles/ada/history"))
            .header("cookie", cookie)
            .send()
    };
    assert_eq!(history(&other).await.unwrap().status(), 404);
    let h: Value = history(&viewer).await.unwrap().json().await.unwrap();
    let h = h.as_array().unwrap();
    let summary: Vec<(i64, &str, &str)> = h
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().unwrap(),
                v["actor"]["kind"].as_str().unwrap(),
                v["profile"]["bio"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (3, "account", "by the owner"),
            (2, "key", "by the key"),
            (1, "account", "")
        ]
    );
    assert_eq!(h[0]["actor"]["name"], "owner@example.com");
    assert_eq!(h[1]["actor"]["name"], "test", "the key's name");

    // history.keep_versions: the newest 3
    let r = app
        .admin(Method::PATCH, "/api/profiles/ada", &root)
        .json(&patch("fourth"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h: Value = history(&viewer).await.unwrap().json().await.unwrap();
    let versions: Vec<i64> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [4, 3, 2]);

    // the outbox's events carry who, too
    let events = app
        .stores
        .webhooks
        .unpublished(i64::MAX / 4, 1, 100)
        .await
        .unwrap();
    let actors: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.payload).unwrap()["data"]["actor"].clone())
        .collect();
    assert_eq!(actors.len(), 4, "{actors:?}");
    assert_eq!(actors[0]["kind"], "account");
    assert_eq!(actors[1]["kind"], "key");
    assert_eq!(actors[2]["name"], "owner@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_is_restored_as_a_new_one_and_a_taken_name_changes_nothing() {
    let app = TestApp::spawn().await;
    let root = app.root_key().await;
    let made = app
        .create_profile(
            &root,
            json!({"username": "ada", "displayName": "Ada", "bio": "first",
                   "links": [{"title": "Blog", "url": "https://ada.example/"}]}),
        )
        .await;
    assert_eq!(made["version"], 1, "{made}");
    let blog = made["links"][0]["id"].as_str().unwrap().to_owned();
    // version 2: renamed, new bio, the blog link removed and another added
    let r = app
        .admin(Method::PATCH, "/api/profiles/ada", &root)
        .json(&json!({"username": "lovelace", "bio": "second"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(linkleaf_testkit::header(&r, "etag"), "\"2\"");
    let r = app
        .admin(Method::PATCH, "/api/profiles/lovelace/links", &root)
        .json(&json!({"ops": [{"op": "remove", "id": blog},
                              {"op": "add", "title": "Talks", "url": "https://talks.example/"}]}))
        .send()
        .await
        .unwrap();
    let now: Value = r.json().await.unwrap();
    assert_eq!(now["version"], 3);
    // restoring version 1: a new version 4 equal to it, made by the caller
    let r = app
        .admin(
            Method::POST,
            "/api/profiles/lovelace/history/1/restore",
            &root,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let back: Value = r.json().await.unwrap();
    assert_eq!(back["version"], 4);
    assert_eq!(back["username"], "ada");
    assert_eq!(back["bio"], "first");
    let links = back["links"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{back}");
    assert_eq!(
        links[0]["id"],
        blog.as_str(),
        "the link comes back with its id"
    );
    assert_eq!(app.get("/ada").await.status(), 200);
    assert_eq!(app.get("/lovelace").await.status(), 404);
    let history: Value = app
        .admin(Method::GET, "/api/profiles/ada/history?limit=1", &root)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history[0]["version"], 4);
    assert_eq!(history[0]["actor"]["kind"], "key", "{history}");
    // another profile takes "lovelace"; restoring version 2 (named so) is a 409 that changes
    // nothing
    app.create_profile(&root, json!({"username": "lovelace", "displayName": "L"}))
        .await;
    let r = app
        .admin(Method::POST, "/api/profiles/ada/history/2/restore", &root)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["code"], "username_taken", "{problem}");
    let id = made["id"].as_str().unwrap();
    let still: Value = app
        .admin(Method::GET, &format!("/api/profiles/{id}"), &root)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (still["version"].clone(), still["bio"].clone()),
        (json!(4), json!("first"))
    );
    // a version not kept is a 404
    let r = app
        .admin(Method::POST, "/api/profiles/ada/history/99/restore", &root)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_for_a_version_someone_changed_since_is_refused_with_412() {
    let app = TestApp::spawn().await;
    let root = app.root_key().await;
    let made = app
        .create_profile(&root, json!({"username": "ada", "displayName": "Ada"}))
        .await;
    let id = made["id"].as_str().unwrap();
    let edit = |path: &str, if_match: Option<&str>, body: Value| {
        let mut b = app.admin(Method::PATCH, path, &root).json(&body);
        if let Some(v) = if_match {
            b = b.header("if-match", v);
        }
        b.send()
    };
    // two people read version 1; the first saves, the second is told
    let r = edit("/api/profiles/ada", Some("\"1\""), json!({"bio": "one"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = edit("/api/profiles/ada", Some("\"1\""), json!({"bio": "two"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    assert_eq!(
        linkleaf_testkit::header(&r, "content-type"),
        "application/problem+json"
    );
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["currentVersion"], 2, "{problem}");
    assert_eq!(problem["code"], "version_mismatch");
    let r = edit(
        "/api/profiles/ada/links",
        Some("1"),
        json!({"ops": [{"op": "add", "title": "T", "url": "https://t.example/"}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 412, "the links' edit too");
    // nothing of the refused edits was written
    let p: Value = app
        .admin(Method::GET, &format!("/api/profiles/{id}"), &root)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (p["bio"].clone(), p["links"].as_array().unwrap().len()),
        (json!("one"), 0)
    );
    // the current version, `*`, or no If-Match at all: the edit goes through
    for tag in [Some("\"2\""), Some("*"), None] {
        let r = edit("/api/profiles/ada", tag, json!({"bio": format!("{tag:?}")}))
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{tag:?}");
    }
    // a weak tag never matches (the comparison is strong): 412, not a lost edit
    let r = edit("/api/profiles/ada", Some("W/\"5\""), json!({"bio": "weak"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    // a value that is no version is named
    let r = edit("/api/profiles/ada", Some("\"x\""), json!({"bio": "x"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "If-Match");
}
