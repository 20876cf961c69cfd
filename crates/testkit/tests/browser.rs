//! linkleaf as a visitor's browser sees it (Debian's Chromium through playwright-core, with
//! axe-core: `browser/`): every preset × button style at phone size, the page with a chosen
//! accent, the not-found page and the index, each with no console error, no policy violation,
//! no request leaving the server and no axe violation, usable with the keyboard only and with
//! JavaScript off; and a visitor's tap counted as a person's (with a real browser's user agent)
//! or as a robot's (headless Chromium's own).

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_domain::{ButtonStyle, ThemePreset};
use linkleaf_testkit::{TestApp, browser, load, until};
use serde_json::{Value, json};
use std::time::Duration;

/// Analytics at once, and no per-key limit in the way of a test's polling and setup.
fn quick(c: &mut linkleaf::Config) {
    c.analytics.window = Duration::from_secs_f64(0.05);
    c.analytics.cache_for = Duration::from_secs(0);
    c.rate_limit.per_minute = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
    c.rate_limit.burst = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
}

fn style_name(s: ButtonStyle) -> &'static str {
    match s {
        ButtonStyle::Rounded => "rounded",
        ButtonStyle::Pill => "pill",
        ButtonStyle::Square => "square",
        ButtonStyle::Outline => "outline",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_preset_and_button_style_at_phone_size() {
    if !browser::here() {
        return;
    }
    let app = TestApp::spawn_with(quick).await;
    let key = app.root_key().await;
    let origin = format!("http://{}", app.addr);
    let mut pages = Vec::new();
    for preset in ThemePreset::ALL {
        for style in ButtonStyle::ALL {
            let name = format!("{}_{}", preset.as_str(), style_name(style));
            app.create_profile(
                &key,
                json!({
                    "username": name,
                    "displayName": format!("Ada {} {}", preset.as_str(), style_name(style)),
                    "bio": "Writes about engines.\nLinks below.",
                    "theme": {"preset": preset.as_str(), "buttonStyle": style_name(style)},
                    "links": [
                        {"title": "My writing", "url": "https://example.com/writing"},
                        {"title": "Say hello", "url": "mailto:ada@example.com"},
                        {"title": "Hidden", "url": "https://example.com/x", "enabled": false},
                    ],
                }),
            )
            .await;
            pages.push(json!({"path": format!("/{name}"), "name": name, "links": 2}));
        }
    }
    app.create_profile(
        &key,
        json!({"username": "accented", "theme": {"preset": "dark", "accentColor": "#ffaa00"},
               "links": [{"title": "One", "url": "https://example.com/1"}]}),
    )
    .await;
    app.create_profile(&key, json!({"username": "nolinks"}))
        .await;
    pages.push(json!({"path": "/accented", "name": "accented", "links": 1}));
    pages.push(json!({"path": "/nolinks", "name": "no_links", "links": 0}));
    pages.push(json!({"path": "/nobody-here", "name": "not_found", "links": 0}));
    pages.push(json!({"path": "/", "name": "index", "links": 0}));

    let report = browser::run(
        "pages",
        json!({"origin": origin, "pages": pages, "shots": browser::shots("pages")}),
    )
    .await
    .unwrap();
    let seen = report["seen"].as_array().unwrap();
    assert_eq!(seen.len(), pages.len());
    let status = |name: &str| {
        seen.iter()
            .find(|s| s["name"] == name)
            .map(|s| s["status"].as_u64().unwrap())
    };
    assert_eq!(status("sunset_outline"), Some(200));
    assert_eq!(status("not_found"), Some(404));
}

async fn clicks_by_class(app: &TestApp, key: &str, profile: &str) -> Vec<(String, u64)> {
    let r: Value = load::report(&app.client, &app.url(""), key, profile).await;
    r["botClasses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["value"].as_str().unwrap().to_owned(),
                s["clicks"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitors_tap_counts_as_a_person_and_headless_chromium_as_a_robot() {
    if !browser::here() {
        return;
    }
    let app = TestApp::spawn_with(quick).await;
    let key = app.root_key().await;
    let origin = format!("http://{}", app.addr);
    // the link leads back to this server, so the tap leaves nothing
    app.create_profile(
        &key,
        json!({"username": "tapme", "links": [{"title": "Home", "url": format!("{origin}/")}]}),
    )
    .await;
    let person = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
                  (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
    let r = browser::run(
        "click",
        json!({"origin": origin, "path": "/tapme", "ua": person}),
    )
    .await
    .unwrap();
    assert_eq!(r["landed"], format!("{origin}/"));
    until(
        "the tap counted as a person's",
        Duration::from_secs(10),
        || async {
            let c = clicks_by_class(&app, &key, "tapme").await;
            if c == [("human".to_owned(), 1)] {
                Ok(())
            } else {
                Err(format!("{c:?}"))
            }
        },
    )
    .await;
    browser::run(
        "click",
        json!({"origin": origin, "path": "/tapme", "ua": null}),
    )
    .await
    .unwrap();
    until(
        "headless Chromium's tap counted as a robot's",
        Duration::from_secs(10),
        || async {
            let mut c = clicks_by_class(&app, &key, "tapme").await;
            c.sort();
            if c == [("crawler".to_owned(), 1), ("human".to_owned(), 1)] {
                Ok(())
            } else {
                Err(format!("{c:?}"))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_and_out_with_the_keyboard_with_and_without_javascript() {
    if !browser::here() {
        return;
    }
    let app = TestApp::spawn_with(quick).await;
    let password = "a long and private phrase";
    linkleaf::accounts::create(
        app.stores.accounts.as_ref(),
        "ada@example.com",
        Some("Ada"),
        false,
        password,
    )
    .await
    .unwrap();
    // the site's own origin: the forms' writes must come from it
    let origin = format!("http://localhost:{}", app.addr.port());
    let report = browser::run(
        "login",
        json!({"origin": origin, "email": "ada@example.com", "password": password,
               "shots": browser::shots("login")}),
    )
    .await
    .unwrap();
    assert_eq!(report["steps"], json!(["js", "nojs"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_with_an_invitation_signs_up_with_the_keyboard_with_and_without_javascript() {
    if !browser::here() {
        return;
    }
    let app = TestApp::spawn_with(quick).await;
    let key = app.root_key().await;
    app.create_profile(&key, json!({"username": "ada", "displayName": "Ada"}))
        .await;
    let profile = app
        .stores
        .profiles
        .profile_by_username("ada", linkleaf_store::ReadFrom::Primary)
        .await
        .unwrap()
        .unwrap();
    let mut links = Vec::new();
    for _ in 0..2 {
        let (token, _) = linkleaf_access::links::invitation(
            app.stores.accounts.as_ref(),
            profile.id,
            linkleaf_domain::account::Role::Editor,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
        links.push(format!("/invite/{token}"));
    }
    let origin = format!("http://localhost:{}", app.addr.port());
    let report = browser::run(
        "invite",
        json!({"origin": origin, "links": links, "shots": browser::shots("invite")}),
    )
    .await
    .unwrap();
    assert_eq!(report["steps"], json!(["js", "nojs", "signup"]));
    for email in ["guest0@example.com", "guest1@example.com"] {
        let a = app
            .stores
            .accounts
            .account_by_email(email)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            app.stores.accounts.role_of(profile.id, a.id).await.unwrap(),
            Some(linkleaf_domain::account::Role::Editor),
            "{email} joined"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_adds_a_passkey_then_signs_in_with_it_alone() {
    if !browser::here() {
        return;
    }
    let app = TestApp::spawn_with(quick).await;
    let password = "a long and private phrase";
    let account = linkleaf::accounts::create(
        app.stores.accounts.as_ref(),
        "ada@example.com",
        Some("Ada"),
        false,
        password,
    )
    .await
    .unwrap();
    // a profile of hers: /account shows the form that makes keys for it (axe reads it too)
    let key = app.root_key().await;
    app.create_profile(&key, json!({"username": "ada", "displayName": "Ada"}))
        .await;
    linkleaf::accounts::assign(
        app.stores.accounts.as_ref(),
        app.stores.profiles.as_ref(),
        "ada",
        "ada@example.com",
    )
    .await
    .unwrap();
    let origin = format!("http://localhost:{}", app.addr.port());
    let report = browser::run(
        "passkeys",
        json!({"origin": origin, "email": "ada@example.com", "password": password,
               "shots": browser::shots("passkeys")}),
    )
    .await
    .unwrap();
    assert_eq!(
        report["steps"],
        json!(["registered", "signed in with the passkey", "nojs"])
    );
    let keys = app.stores.accounts.passkeys_of(account.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].name, "Laptop");
    assert!(keys[0].last_used_at.is_some(), "the sign-in used it");
}
