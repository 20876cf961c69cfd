//! People brought in without mail: an admin's account with a one-time link to set its password
//! (and a reset for a forgotten one), an owner's invitation that signs a stranger up and joins
//! them to the profile, sign-up as `accounts.signup` allows, `accounts.max_profiles`, and
//! deleting an account (with the confirmation that names the profiles going with it).
//! Each link works once: looking at its page does not use it, a refused form leaves it working.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_domain::account::Signup;
use linkleaf_testkit::{FormBody, TestApp, header};
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "a long and private phrase";

async fn session(app: &TestApp, email: &str, password: &str) -> String {
    app.sign_in(email, password).await
}

fn as_person(app: &TestApp, method: Method, path: &str, cookie: &str) -> reqwest::RequestBuilder {
    app.as_person(method, path, cookie)
}

/// The path of a link (`http://localhost:port/invite/...` → `/invite/...`).
fn path_of(url: &str) -> String {
    let i = url.find("/invite/").unwrap();
    url[i..].to_owned()
}

async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("origin", &app.config.server.public_url)
        .form_body(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admins_link_sets_a_password_once_and_a_reset_ends_every_session() {
    let app = TestApp::spawn().await;
    linkleaf::accounts::create(
        app.stores.accounts.as_ref(),
        "root@example.com",
        None,
        true,
        PASSWORD,
    )
    .await
    .unwrap();
    let admin = session(&app, "root@example.com", PASSWORD).await;

    let r = as_person(&app, Method::POST, "/api/admin/accounts", &admin)
        .json(&json!({"email": "Grace@Example.com", "displayName": "Grace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["account"]["email"], "grace@example.com");
    let url = made["url"].as_str().unwrap();
    assert!(url.starts_with(&app.config.server.public_url), "{url}");
    let link = path_of(url);

    // the page, looked at twice, uses nothing
    for _ in 0..2 {
        let r = app.get(&link).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "referrer-policy"), "same-origin");
        let html = r.text().await.unwrap();
        assert!(html.contains("grace@example.com") && html.contains("Set password"));
    }
    // no password yet: signing in fails
    let r = app
        .client
        .post(app.url("/api/session"))
        .json(&json!({"email": "grace@example.com", "password": "password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // a refused password says why and leaves the link working
    let r = post_form(&app, &link, &[("password", "password123")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("The password"));
    let r = post_form(&app, &link, &[("password", PASSWORD)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), "/account");
    let cookie = header(&r, "set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let me = as_person(&app, Method::GET, "/api/me", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    // once only
    let r = post_form(&app, &link, &[("password", "another long phrase")]).await;
    assert_eq!(r.status(), 410);
    assert_eq!(app.get(&link).await.status(), 410);

    // a reset from the command line's function: every session of the account ends
    let (url, _) = linkleaf::accounts::password_link(
        app.stores.accounts.as_ref(),
        "grace@example.com",
        &app.config.server.public_url,
    )
    .await
    .unwrap();
    let r = post_form(&app, &path_of(&url), &[("password", "a brand new phrase")]).await;
    assert_eq!(r.status(), 303);
    let me = as_person(&app, Method::GET, "/api/me", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401, "the old session ended");
    session(&app, "grace@example.com", "a brand new phrase").await;

    // the admin's reset from the API, for an account that exists; none for one that does not
    let id = made["account"]["id"].as_str().unwrap();
    let r = as_person(
        &app,
        Method::POST,
        &format!("/api/admin/accounts/{id}/reset"),
        &admin,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = as_person(
        &app,
        Method::POST,
        &format!("/api/admin/accounts/{}/reset", uuid::Uuid::now_v7()),
        &admin,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_signs_a_stranger_up_into_the_profile_and_works_once() {
    let app = TestApp::spawn().await;
    let root = app.root_key().await;
    app.create_profile(&root, json!({"username": "ada", "displayName": "Ada"}))
        .await;
    linkleaf::accounts::create(
        app.stores.accounts.as_ref(),
        "ada@example.com",
        None,
        false,
        PASSWORD,
    )
    .await
    .unwrap();
    linkleaf::accounts::assign(
        app.stores.accounts.as_ref(),
        app.stores.profiles.as_ref(),
        "ada",
        "ada@example.com",
    )
    .await
    .unwrap();
    let owner = session(&app, "ada@example.com", PASSWORD).await;
    linkleaf::accounts::create(
        app.stores.accounts.as_ref(),
        "viewer@example.com",
        None,
        false,
        PASSWORD,
    )
    .await
    .unwrap();
    let viewer = session(&app, "viewer@example.com", PASSWORD).await;
    app.stores
        .accounts
        .set_member(
            app.stores
                .profiles
                .profile_by_username("ada", linkleaf_store::ReadFrom::Primary)
                .await
                .unwrap()
                .unwrap()
                .id,
            app.stores
                .accounts
                .account_by_email("viewer@example.com")
                .await
                .unwrap()
                .unwrap()
                .id,
            linkleaf_domain::account::Role::Viewer,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();

    let invite = |cookie: &str| {
        as_person(&app, Method::POST, "/api/invitations", cookie)
            .json(&json!({"profile": "ada", "role": "editor"}))
            .send()
    };
    let r = invite(&viewer).await.unwrap();
    assert_eq!(r.status(), 403, "inviting is the owner's");
    let r = invite(&owner).await.unwrap();
    assert_eq!(r.status(), 201);
    let inv: Value = r.json().await.unwrap();
    assert_eq!(inv["role"], "editor");
    let link = path_of(inv["url"].as_str().unwrap());

    let page = app.get(&link).await.text().await.unwrap();
    assert!(
        page.contains("ada") && page.contains("Create account"),
        "{page}"
    );
    // a taken email says so and keeps the link
    let r = post_form(
        &app,
        &link,
        &[
            ("email", "ada@example.com"),
            ("display_name", "Again"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 409);
    let r = post_form(
        &app,
        &link,
        &[
            ("email", "grace@example.com"),
            ("display_name", "Grace"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let cookie = header(&r, "set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let me: Value = as_person(&app, Method::GET, "/api/me", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["displayName"], "Grace");
    assert_eq!(me["profiles"][0]["role"], "editor");
    let r = post_form(
        &app,
        &link,
        &[("email", "third@example.com"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(r.status(), 410, "used");

    // a signed-in person joins with one button; a member keeps a higher role
    let inv: Value = invite(&owner).await.unwrap().json().await.unwrap();
    let link = path_of(inv["url"].as_str().unwrap());
    let page = app
        .client
        .get(app.url(&link))
        .header("cookie", &viewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Join") && page.contains("viewer@example.com"),
        "{page}"
    );
    let r = app
        .client
        .post(app.url(&link))
        .header("cookie", &viewer)
        .form_body(&[("x", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a signed-in write from elsewhere");
    let r = app
        .client
        .post(app.url(&link))
        .header("cookie", &viewer)
        .header("origin", &app.config.server.public_url)
        .form_body(&[("x", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let me: Value = as_person(&app, Method::GET, "/api/me", &viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["profiles"][0]["role"], "editor");

    // sign-up through the API needs the invitation by default
    let r = app
        .client
        .post(app.url("/api/accounts"))
        .json(&json!({"email": "eve@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let inv: Value = invite(&owner).await.unwrap().json().await.unwrap();
    let token = inv["url"].as_str().unwrap().rsplit('/').next().unwrap();
    let signup = |email: &'static str| {
        app.client
            .post(app.url("/api/accounts"))
            .json(&json!({"email": email, "password": PASSWORD, "invitation": token}))
            .send()
    };
    let r = signup("eve@example.com").await.unwrap();
    assert_eq!(r.status(), 201);
    assert!(header(&r, "set-cookie").contains("linkleaf_session="));
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["profiles"][0]["role"], "editor");
    let r = signup("mallory@example.com").await.unwrap();
    assert_eq!(r.status(), 422, "the invitation is used");
    assert!(
        app.stores
            .accounts
            .account_by_email("mallory@example.com")
            .await
            .unwrap()
            .is_none(),
        "and no account was made"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_sign_up_is_bounded_and_an_account_goes_with_the_profiles_it_alone_owns() {
    let app = TestApp::spawn_with(|c| {
        c.accounts.signup = Signup::Open;
        c.accounts.max_profiles = 2;
    })
    .await;
    // the page, and the form
    let html = app.get("/signup").await.text().await.unwrap();
    assert!(html.contains("Create account"), "{html}");
    let r = post_form(
        &app,
        "/signup",
        &[
            ("email", "zoe@example.com"),
            ("display_name", "Zoë"),
            ("password", "12345678"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("The password"));
    let r = post_form(
        &app,
        "/signup",
        &[
            ("email", "zoe@example.com"),
            ("display_name", "Zoë"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let zoe = header(&r, "set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    // a form posted from another site signs no one in and makes nothing (login CSRF)
    for (path, body) in [
        (
            "/signup",
            "email=eve%40example.com&password=a+long+and+private+phrase",
        ),
        (
            "/login",
            "email=zoe%40example.com&password=a+long+and+private+phrase",
        ),
    ] {
        let r = app
            .client
            .post(app.url(path))
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        assert!(r.headers().get("set-cookie").is_none(), "{path}");
    }
    assert!(
        app.stores
            .accounts
            .account_by_email("eve@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let r = app
        .client
        .post(app.url("/api/accounts"))
        .json(&json!({"email": "zoe@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "taken");

    // accounts.max_profiles owned at most
    for (name, status) in [("zoe", 201), ("zoe2", 201), ("zoe3", 409)] {
        let r = as_person(&app, Method::POST, "/api/profiles", &zoe)
            .json(&json!({"username": name, "displayName": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{name}");
    }
    assert_eq!(app.get("/zoe").await.status(), 200);

    // deleting the account names the profiles going with it, then takes them
    let r = as_person(&app, Method::DELETE, "/api/me", &zoe)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let text = r.text().await.unwrap();
    assert!(text.contains("zoe") && text.contains("zoe2"), "{text}");
    let r = as_person(&app, Method::DELETE, "/api/me?confirm=zoe", &zoe)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "zoe2 not named");
    let r = as_person(&app, Method::DELETE, "/api/me?confirm=zoe,ZOE2", &zoe)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.get("/zoe").await.status(), 404);
    assert_eq!(app.get("/zoe2").await.status(), 404);
    assert!(
        app.stores
            .accounts
            .account_by_email("zoe@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let me = as_person(&app, Method::GET, "/api/me", &zoe)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_invitation_makes_one_account_however_many_race_for_it_and_a_reset_retires_older_links()
{
    let app = TestApp::spawn().await;
    let root = app.root_key().await;
    let p = app
        .create_profile(&root, json!({"username": "ada", "displayName": "Ada"}))
        .await;
    let profile = uuid::Uuid::parse_str(p["id"].as_str().unwrap()).unwrap();
    let (token, _) = linkleaf_access::links::invitation(
        app.stores.accounts.as_ref(),
        profile,
        linkleaf_domain::account::Role::Editor,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let tries = (0..8).map(|i| {
        app.client
            .post(app.url("/api/accounts"))
            .json(
                &json!({"email": format!("racer{i}@example.com"), "password": PASSWORD,
                          "invitation": token}),
            )
            .send()
    });
    let answers: Vec<u16> = futures_util::future::join_all(tries)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(
        answers.iter().filter(|s| **s == 201).count(),
        1,
        "{answers:?}"
    );
    assert!(
        answers.iter().all(|s| *s == 201 || *s == 422),
        "{answers:?}"
    );
    let mut made = Vec::new();
    for i in 0..8 {
        let email = format!("racer{i}@example.com");
        if app
            .stores
            .accounts
            .account_by_email(&email)
            .await
            .unwrap()
            .is_some()
        {
            made.push(email);
        }
    }
    assert_eq!(made.len(), 1, "one account for one invitation: {made:?}");

    // two reset links; the newer one used: the older stops too
    let link = || {
        linkleaf::accounts::password_link(
            app.stores.accounts.as_ref(),
            &made[0],
            &app.config.server.public_url,
        )
    };
    let (older, _) = link().await.unwrap();
    let (newer, _) = link().await.unwrap();
    let r = post_form(
        &app,
        &path_of(&newer),
        &[("password", "a brand new phrase")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let r = post_form(
        &app,
        &path_of(&older),
        &[("password", "yet another phrase")],
    )
    .await;
    assert_eq!(r.status(), 410, "the older link stopped with the newer");
}
