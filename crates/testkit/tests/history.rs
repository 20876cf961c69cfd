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
