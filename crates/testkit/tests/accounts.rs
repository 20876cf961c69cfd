//! Accounts over HTTP: signing in with an email and a password (one answer for an unknown email
//! and a wrong password), the session cookie's flags, a new session id at every sign-in,
//! sign-out ending the session on the server, a person's list of sessions, writes with the
//! cookie refused unless they come from the site's own pages, and the idle and absolute
//! lifetimes driven by a clock the test moves.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_access::clock::ManualClock;
use linkleaf_testkit::{TestApp, header};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const PASSWORD: &str = "a long and private phrase";

async fn account(app: &TestApp, email: &str) {
    linkleaf::accounts::create(app.stores.accounts.as_ref(), email, None, false, PASSWORD)
        .await
        .unwrap();
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/session"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

/// The cookie a sign-in set, as `name=value`.
fn cookie(r: &reqwest::Response) -> String {
    header(r, "set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn me(app: &TestApp, cookie: &str) -> (u16, Value) {
    let r = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_and_out_with_a_password() {
    let app = TestApp::spawn().await;
    account(&app, "ada@example.com").await;

    // an unknown email and a wrong password answer alike
    let wrong = sign_in(&app, "ada@example.com", "not the password at all").await;
    let unknown = sign_in(&app, "bob@example.com", PASSWORD).await;
    assert_eq!(
        (wrong.status().as_u16(), unknown.status().as_u16()),
        (401, 401)
    );
    assert!(wrong.headers().get("set-cookie").is_none());
    let (wrong, unknown): (Value, Value) =
        (wrong.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["code"], "unauthorized");

    // the right one: a session cookie with its flags, and who is signed in
    let r = sign_in(&app, "  Ada@Example.com ", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let set = header(&r, "set-cookie").to_owned();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "plain http here: {set}");
    assert!(set.starts_with("linkleaf_session="), "{set}");
    let first = cookie(&r);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["email"], "ada@example.com");

    // every sign-in makes a new session: another id and secret
    let second = cookie(&sign_in(&app, "ada@example.com", PASSWORD).await);
    assert_ne!(first, second);
    let id = |c: &str| {
        c.split('=')
            .nth(1)
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_ne!(id(&first), id(&second));
    assert_eq!(me(&app, &first).await.0, 200);
    assert_eq!(me(&app, &second).await.0, 200);
    assert_eq!(me(&app, "linkleaf_session=nonsense").await.0, 401);
    assert_eq!(app.get("/api/me").await.status(), 401);

    // the list of sessions: both, the current one marked
    let list: Value = app
        .client
        .get(app.url("/api/me/sessions"))
        .header("cookie", &second)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let current: Vec<bool> = list
        .iter()
        .map(|s| s["current"].as_bool().unwrap())
        .collect();
    assert_eq!(current.iter().filter(|c| **c).count(), 1);
    assert!(list.iter().all(|s| s["id"].as_str().unwrap().len() == 32));

    // ending the first from the second: only from the site's own pages
    let end = |origin: Option<&str>, fetch_site: Option<&str>| {
        let mut r = app
            .client
            .delete(app.url(&format!("/api/me/sessions/{}", id(&first))))
            .header("cookie", &second);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(f) = fetch_site {
            r = r.header("sec-fetch-site", f);
        }
        r.send()
    };
    for (origin, site) in [
        (None, None),
        (Some("https://evil.example"), None),
        (Some("http://localhost:1"), None),
        (None, Some("cross-site")),
        (Some("https://evil.example"), Some("same-origin")),
    ] {
        let r = end(origin, site).await.unwrap();
        assert_eq!(r.status(), 403, "{origin:?} {site:?}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["code"], "cross_site_write");
    }
    assert_eq!(
        me(&app, &first).await.0,
        200,
        "refused writes changed nothing"
    );
    assert_eq!(end(None, Some("same-origin")).await.unwrap().status(), 204);
    assert_eq!(me(&app, &first).await.0, 401);
    let site = app.config.server.public_url.clone();
    assert!(site.starts_with("http://localhost:"), "{site}");
    assert_eq!(
        end(Some(&site), None).await.unwrap().status(),
        404,
        "ended once"
    );

    // sign-out ends the session on the server, not only in the browser
    let r = app
        .client
        .delete(app.url("/api/session"))
        .header("cookie", &second)
        .header("origin", site.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(header(&r, "set-cookie").contains("Max-Age=0"));
    assert_eq!(me(&app, &second).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_when_idle_and_at_their_absolute_lifetime() {
    let clock = Arc::new(ManualClock::new(linkleaf_domain::now_millis()));
    let app = TestApp::spawn_overridden(
        |c| {
            c.accounts.session_idle = Duration::from_secs(3600);
            c.accounts.session_max = Duration::from_secs(4 * 3600);
        },
        |_| {},
        linkleaf::Overrides {
            clock: Some(clock.clone()),
            ..Default::default()
        },
    )
    .await;
    account(&app, "ada@example.com").await;

    // idle: an hour without a request ends it
    let c = cookie(&sign_in(&app, "ada@example.com", PASSWORD).await);
    clock.advance(Duration::from_secs(3599));
    assert_eq!(me(&app, &c).await.0, 200, "used within the hour");
    clock.advance(Duration::from_secs(3599));
    assert_eq!(
        me(&app, &c).await.0,
        200,
        "an hour since its last use, less a second"
    );
    clock.advance(Duration::from_secs(3601));
    assert_eq!(me(&app, &c).await.0, 401, "idle for more than an hour");

    // absolute: used every 50 minutes, it still ends 4 hours after sign-in
    let c = cookie(&sign_in(&app, "ada@example.com", PASSWORD).await);
    let mut alive = Duration::ZERO;
    loop {
        clock.advance(Duration::from_secs(50 * 60));
        alive += Duration::from_secs(50 * 60);
        let (s, _) = me(&app, &c).await;
        if alive <= Duration::from_secs(4 * 3600) {
            assert_eq!(s, 200, "{alive:?} after sign-in");
        } else {
            assert_eq!(s, 401, "{alive:?} after sign-in");
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_cookie_is_secure_and_host_prefixed() {
    let app = TestApp::spawn_with(|c| c.server.public_url = "https://links.example".into()).await;
    account(&app, "ada@example.com").await;
    let r = sign_in(&app, "ada@example.com", PASSWORD).await;
    let set = header(&r, "set-cookie").to_owned();
    assert!(set.starts_with("__Host-linkleaf_session="), "{set}");
    assert!(set.contains("; Secure") && set.contains("Path=/") && !set.contains("Domain"));
    let c = cookie(&r);
    assert_eq!(me(&app, &c).await.0, 200);
    // over https the unprefixed name is not the session's
    let plain = c.replacen("__Host-", "", 1);
    assert_eq!(me(&app, &plain).await.0, 401);
    let r = app
        .client
        .delete(app.url("/api/session"))
        .header("cookie", &c)
        .header("origin", "https://links.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

/// Sign-in attempts are limited per client address and per account, unknown emails alike;
/// past either limit 429 with `Retry-After`, and the right password does not get through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_limited_per_client_and_per_account() {
    let app = TestApp::spawn_with(|c| {
        c.accounts.signin_per_minute = std::num::NonZeroU32::new(3).unwrap();
        c.accounts.signin_account_per_minute = std::num::NonZeroU32::new(5).unwrap();
        // the clients are told apart by X-Forwarded-For from this trusted proxy
        c.server.trusted_proxies =
            linkleaf::config::TrustedProxies::parse(&["127.0.0.0/8".to_owned()]).unwrap();
    })
    .await;
    account(&app, "ada@example.com").await;
    let from = |client: &'static str, email: &'static str, password: &'static str| {
        app.client
            .post(app.url("/api/session"))
            .header("x-forwarded-for", client)
            .json(&json!({"email": email, "password": password}))
            .send()
    };

    // one client: three attempts a minute, whatever the email
    for email in ["ada@example.com", "nobody@example.com", "ada@example.com"] {
        assert_eq!(
            from("203.0.113.1", email, "wrong guess!")
                .await
                .unwrap()
                .status(),
            401
        );
    }
    let r = from("203.0.113.1", "ada@example.com", PASSWORD)
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "the client's bucket is empty");
    let wait: u64 = header(&r, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "rate_limited");

    // one account from many clients: five a minute (two are spent above)
    for client in ["203.0.113.2", "203.0.113.3", "203.0.113.4"] {
        assert_eq!(
            from(client, "ada@example.com", "wrong guess!")
                .await
                .unwrap()
                .status(),
            401
        );
    }
    let r = from("203.0.113.5", "ada@example.com", PASSWORD)
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "the account's bucket is empty");
    // an unknown email has a bucket of its own, and is limited the same way
    for client in [
        "203.0.113.6",
        "203.0.113.7",
        "203.0.113.8",
        "203.0.113.9",
        "203.0.113.12",
    ] {
        assert_eq!(
            from(client, "bob@example.com", "wrong guess!")
                .await
                .unwrap()
                .status(),
            401
        );
    }
    assert_eq!(
        from("203.0.113.10", "bob@example.com", "x")
            .await
            .unwrap()
            .status(),
        429
    );
    // another account from a fresh client is not held up by either
    account(&app, "cy@example.com").await;
    assert_eq!(
        from("203.0.113.11", "cy@example.com", PASSWORD)
            .await
            .unwrap()
            .status(),
        200
    );
}

/// A password change needs the current password and a new one the policy takes; it ends every
/// other session of the account, keeps the one that asked, and the old password no longer
/// signs in. The account page does the same with a form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_the_other_sessions() {
    let app = TestApp::spawn().await;
    account(&app, "ada@example.com").await;
    let site = app.config.server.public_url.clone();
    let here = cookie(&sign_in(&app, "ada@example.com", PASSWORD).await);
    let there = cookie(&sign_in(&app, "ada@example.com", PASSWORD).await);
    let change = |current: &str, new: &str| {
        app.client
            .put(app.url("/api/me/password"))
            .header("cookie", &here)
            .header("origin", site.as_str())
            .json(&json!({"currentPassword": current, "newPassword": new}))
            .send()
    };
    for (current, new, field) in [
        (
            "not it at all",
            "a brand new phrase here",
            "currentPassword",
        ),
        (PASSWORD, "password1", "newPassword"),
        (PASSWORD, "short", "newPassword"),
    ] {
        let r = change(current, new).await.unwrap();
        assert_eq!(r.status(), 422, "{current} -> {new}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    assert_eq!(
        me(&app, &there).await.0,
        200,
        "a refused change ends nothing"
    );
    assert_eq!(
        change(PASSWORD, "a brand new phrase here")
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        me(&app, &here).await.0,
        200,
        "the session that asked goes on"
    );
    assert_eq!(me(&app, &there).await.0, 401, "the others end");
    assert_eq!(
        sign_in(&app, "ada@example.com", PASSWORD).await.status(),
        401
    );
    let r = sign_in(&app, "ada@example.com", "a brand new phrase here").await;
    assert_eq!(r.status(), 200);

    // the same through the account page's form
    let form = |current: &str, new: &str| {
        app.client
            .post(app.url("/account/password"))
            .header("cookie", &here)
            .header("origin", site.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            // these passwords hold letters and spaces only
            .body(format!(
                "current_password={}&new_password={}",
                current.replace(' ', "+"),
                new.replace(' ', "+")
            ))
            .send()
    };
    let r = form("wrong", "yet another new phrase").await.unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("The current password is not this account"),
        "{page}"
    );
    let r = form("a brand new phrase here", "yet another new phrase")
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), "/account?password=changed");
    let page = app
        .client
        .get(app.url("/account?password=changed"))
        .header("cookie", &here)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Your password is changed"), "{page}");
}

/// Admins list accounts and disable one: its sessions stop at their next request and it can no
/// longer sign in. Only an admin may; an admin cannot disable their own account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_lists_accounts_and_disables_one() {
    let app = TestApp::spawn().await;
    let site = app.config.server.public_url.clone();
    linkleaf::accounts::create(
        app.stores.accounts.as_ref(),
        "root@example.com",
        None,
        true,
        PASSWORD,
    )
    .await
    .unwrap();
    account(&app, "ada@example.com").await;
    let root = cookie(&sign_in(&app, "root@example.com", PASSWORD).await);
    let ada = cookie(&sign_in(&app, "ada@example.com", PASSWORD).await);
    let list = |c: &str| {
        app.client
            .get(app.url("/api/admin/accounts"))
            .header("cookie", c)
            .send()
    };
    assert_eq!(app.get("/api/admin/accounts").await.status(), 401);
    let r = list(&ada).await.unwrap();
    assert_eq!(r.status(), 403);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "insufficient_role");
    let page: Value = list(&root).await.unwrap().json().await.unwrap();
    let emails: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ada@example.com", "root@example.com"]);
    let ada_id = page["items"][0]["id"].as_str().unwrap().to_owned();
    let root_id = page["items"][1]["id"].as_str().unwrap().to_owned();
    assert!(page["items"][0].get("passwordHash").is_none());

    let disable = |who: &str, id: &str| {
        app.client
            .post(app.url(&format!("/api/admin/accounts/{id}/disable")))
            .header("cookie", who)
            .header("origin", site.as_str())
            .send()
    };
    assert_eq!(disable(&ada, &root_id).await.unwrap().status(), 403);
    assert_eq!(disable(&root, &root_id).await.unwrap().status(), 422);
    assert_eq!(
        disable(&root, &uuid::Uuid::now_v7().to_string())
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(me(&app, &ada).await.0, 200);
    assert_eq!(disable(&root, &ada_id).await.unwrap().status(), 204);
    assert_eq!(me(&app, &ada).await.0, 401, "its session stops at once");
    assert_eq!(
        sign_in(&app, "ada@example.com", PASSWORD).await.status(),
        401
    );
    let page: Value = list(&root).await.unwrap().json().await.unwrap();
    assert!(page["items"][0]["disabledAt"].is_string(), "{page}");
}

/// An account's time zone: UTC until its person sets another through `PATCH /api/me`; a name
/// the zone database does not hold is refused by name; a request from another site changes
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_time_zone_is_set_by_its_person() {
    let app = TestApp::spawn().await;
    account(&app, "ada@example.com").await;
    let me = cookie(&sign_in(&app, "ada@example.com", PASSWORD).await);
    let read = || async {
        let r = app
            .as_person(reqwest::Method::GET, "/api/me", &me)
            .send()
            .await
            .unwrap();
        r.json::<serde_json::Value>().await.unwrap()
    };
    assert_eq!(read().await["timeZone"], "UTC");
    let set = |tz: &str| {
        app.as_person(reqwest::Method::PATCH, "/api/me", &me)
            .json(&json!({"timeZone": tz}))
            .send()
    };
    let r = set("Asia/Tokyo").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["timeZone"],
        "Asia/Tokyo"
    );
    let r = set("Tokyo").await.unwrap();
    assert_eq!(r.status(), 422);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["errors"][0]["field"], "timeZone");
    let r = app
        .client
        .patch(app.url("/api/me"))
        .header("cookie", &me)
        .header("origin", "https://elsewhere.example")
        .json(&json!({"timeZone": "Europe/Paris"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(read().await["timeZone"], "Asia/Tokyo");
}
