//! Access per profile, as every credential meets it: a matrix generated from the router's own
//! route list (a route without an access rule fails here) × every credential (owner, editor,
//! viewer, another account, a key bound to the profile, a key bound to another, an operator's
//! key, none). Then what the table implies beyond one request: a bound key stops when its
//! maker loses the role or the account is disabled, keys stay within the maker's role, the last
//! owner cannot leave, a person's profile list is theirs, and a subscription made through a
//! profile receives that profile's events only.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_access::table::{Action, allows};
use linkleaf_domain::Scopes;
use linkleaf_domain::account::Role;
use linkleaf_http::access::{RULES, Rule, rule};
use linkleaf_testkit::{TestApp, header};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

const PASSWORD: &str = "a long and private phrase";

struct World {
    app: TestApp,
    root: String,
    site: String,
    /// email -> (account id, session cookie)
    people: Vec<(&'static str, Uuid, String)>,
}

impl World {
    async fn new() -> Self {
        let app = TestApp::spawn_with(|c| {
            c.rate_limit.per_minute = std::num::NonZeroU32::new(1_000_000).unwrap();
            c.rate_limit.burst = std::num::NonZeroU32::new(1_000_000).unwrap();
        })
        .await;
        let root = app.root_key().await;
        let site = app.config.server.public_url.clone();
        let mut people = Vec::new();
        for email in [
            "owner@example.com",
            "editor@example.com",
            "viewer@example.com",
            "other@example.com",
            "member@example.com",
            "admin@example.com",
        ] {
            let a = linkleaf::accounts::create(
                app.stores.accounts.as_ref(),
                email,
                None,
                email.starts_with("admin"),
                PASSWORD,
            )
            .await
            .unwrap();
            let r = app
                .client
                .post(app.url("/api/session"))
                .json(&json!({"email": email, "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let cookie = header(&r, "set-cookie")
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            people.push((email, a.id, cookie));
        }
        Self {
            app,
            root,
            site,
            people,
        }
    }

    fn person(&self, email_start: &str) -> (Uuid, &str) {
        let (_, id, c) = self
            .people
            .iter()
            .find(|(e, _, _)| e.starts_with(email_start))
            .unwrap();
        (*id, c)
    }

    /// A new profile: `owner` owns it, `editor`, `viewer` and `member` (a viewer) are members.
    async fn profile(&self, name: &str) -> Uuid {
        let p = self
            .app
            .create_profile(
                &self.root,
                json!({"username": name, "displayName": name,
                       "links": [{"title": "Site", "url": "https://example.com/"}]}),
            )
            .await;
        let id = Uuid::parse_str(p["id"].as_str().unwrap()).unwrap();
        for (who, role) in [
            ("owner", Role::Owner),
            ("editor", Role::Editor),
            ("viewer", Role::Viewer),
            ("member", Role::Viewer),
        ] {
            self.app
                .stores
                .accounts
                .set_member(
                    id,
                    self.person(who).0,
                    role,
                    time::OffsetDateTime::now_utc(),
                )
                .await
                .unwrap();
        }
        id
    }

    /// A key `maker` makes for `profile` with `scopes`, as `POST /api/me/keys` makes it.
    async fn bound_key(&self, profile: Uuid, maker: Uuid, scopes: &str) -> String {
        let (rec, token) = linkleaf_access::keys::issue(
            "bound",
            Scopes::parse(scopes).unwrap(),
            Some(profile),
            Some(maker),
        )
        .unwrap();
        self.app.stores.keys.insert_key(&rec).await.unwrap();
        token.expose().to_owned()
    }

    fn request(&self, method: &Method, path: &str, cred: &Cred) -> reqwest::RequestBuilder {
        let r = self.app.client.request(method.clone(), self.app.url(path));
        match cred {
            Cred::None => r,
            Cred::Key(k) => r.bearer_auth(k),
            Cred::Session(c) => r.header("cookie", c).header("origin", &self.site),
        }
    }
}

enum Cred {
    None,
    Key(String),
    Session(String),
}

const CREDENTIALS: [&str; 8] = [
    "owner",
    "editor",
    "viewer",
    "other",
    "bound",
    "bound elsewhere",
    "operator",
    "none",
];

/// A body each route accepts when access allows it.
fn body(method: &Method, path: &str, sub_profile: Uuid) -> Option<Value> {
    match (method.as_str(), path) {
        ("PATCH", "/api/profiles/{profile}") => Some(json!({"bio": "changed"})),
        ("PATCH", "/api/profiles/{profile}/links") => Some(json!({"ops": [
            {"op": "add", "title": "New", "url": "https://example.org/"}]})),
        ("POST", "/api/profiles/{profile}/members") => {
            Some(json!({"email": "member@example.com", "role": "editor"}))
        }
        ("POST", "/api/profiles/{profile}/import") => Some(json!({"bio": "imported"})),
        ("PATCH", "/api/webhooks/subscriptions/{id}") => Some(json!({"enabled": false})),
        ("PATCH", "/api/me") => Some(json!({"timeZone": "Europe/Paris"})),
        ("POST", "/api/webhooks/subscriptions") => Some(json!({
            "url": "https://receiver.example/in", "profile": sub_profile.to_string()})),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_has_a_rule_and_every_credential_gets_what_the_table_says() {
    // the router's own list: a route without a rule fails here
    let (_, api) = linkleaf_http::routes::api_router(&metrics::NoopRecorder).split_for_parts();
    let mut routes = Vec::new();
    for (path, item) in &api.paths.paths {
        for (method, op) in [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::PATCH, item.patch.is_some()),
            (Method::DELETE, item.delete.is_some()),
        ] {
            if op {
                let r = rule(method.as_str(), path)
                    .unwrap_or_else(|| panic!("{method} {path} has no access rule"));
                routes.push((method, path.clone(), r));
            }
        }
    }
    assert_eq!(routes.len(), RULES.len(), "a rule for a route that is gone");

    let w = World::new().await;
    let (owner, _) = w.person("owner");
    let (other, _) = w.person("other");
    let elsewhere_profile = w.profile("elsewhere").await;
    let elsewhere = w
        .bound_key(
            elsewhere_profile,
            owner,
            "profile:read,profile:write,links:write,cache:write,analytics:read,webhooks:write",
        )
        .await;
    let mut n = 0;
    let mut checked = 0;
    for (method, path, r) in &routes {
        let action = match r {
            Rule::Profile(a) => *a,
            Rule::Subscription => Action::Scope(linkleaf_domain::Scope::WebhooksWrite),
            _ => continue,
        };
        for cred_name in CREDENTIALS {
            n += 1;
            let name = format!("page{n}");
            let profile = w.profile(&name).await;
            let bound = w
                .bound_key(
                    profile,
                    owner,
                    "profile:read,profile:write,links:write,cache:write,analytics:read,webhooks:write",
                )
                .await;
            let cred = match cred_name {
                "owner" | "editor" | "viewer" | "other" => {
                    Cred::Session(w.person(cred_name).1.to_owned())
                }
                "bound" => Cred::Key(bound),
                "bound elsewhere" => Cred::Key(elsewhere.clone()),
                "operator" => Cred::Key(w.root.clone()),
                _ => Cred::None,
            };
            let mut concrete = path
                .replace("{profile}", &name)
                .replace("{username}", &name)
                .replace("{account}", &w.person("member").0.to_string())
                .replace("{version}", "1")
                .replace("/import", "/import?format=linkleaf");
            if path.contains("{id}") {
                // a subscription of this profile, made by the operator
                let s: Value = w
                    .app
                    .admin(Method::POST, "/api/webhooks/subscriptions", &w.root)
                    .json(&json!({"url": "https://receiver.example/in", "profile": name}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                concrete = concrete.replace("{id}", s["id"].as_str().unwrap());
            }
            let mut req = w.request(method, &concrete, &cred);
            if let Some(b) = body(method, path, profile) {
                req = req.json(&b);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap();
            let expected: &str = match cred_name {
                "none" => "401",
                "operator" | "owner" => "2xx",
                "editor" | "viewer" => {
                    let role = if cred_name == "editor" {
                        Role::Editor
                    } else {
                        Role::Viewer
                    };
                    if allows(role, action) {
                        "2xx"
                    } else {
                        "403 insufficient_role"
                    }
                }
                "other" | "bound elsewhere" => "404",
                "bound" => {
                    if matches!(action, Action::Scope(_)) {
                        "2xx"
                    } else {
                        "403 insufficient_role"
                    }
                }
                _ => unreachable!(),
            };
            let ok = match expected {
                "2xx" => (200..300).contains(&status),
                "403 insufficient_role" => {
                    status == 403 && text.contains("\"code\":\"insufficient_role\"")
                }
                e => e == status.to_string(),
            };
            assert!(
                ok,
                "{method} {path} as {cred_name}: expected {expected}, got {status} {text}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10 * CREDENTIALS.len(), "{checked} checked");

    // the reads of the other rules: a person's own, the admins', the lists
    let (_, admin_cookie) = w.person("admin");
    let (_, other_cookie) = w.person("other");
    for (method, path, r) in routes
        .iter()
        .filter(|(m, p, _)| *m == Method::GET && !p.contains('{'))
    {
        let expect: &[(Cred, u16)] = match r {
            Rule::Own => &[
                (Cred::None, 401),
                (Cred::Key(w.root.clone()), 401),
                (Cred::Session(other_cookie.to_owned()), 200),
            ],
            Rule::Admin => &[
                (Cred::None, 401),
                (Cred::Session(other_cookie.to_owned()), 403),
                (Cred::Session(admin_cookie.to_owned()), 200),
            ],
            Rule::Among(_) => &[
                (Cred::None, 401),
                (Cred::Key(elsewhere.clone()), 200),
                (Cred::Session(other_cookie.to_owned()), 200),
                (Cred::Key(w.root.clone()), 200),
            ],
            _ => continue,
        };
        for (cred, status) in expect {
            let res = w.request(method, path, cred).send().await.unwrap();
            assert_eq!(res.status().as_u16(), *status, "GET {path}");
            checked += 1;
        }
    }
    assert!(checked >= 10 * CREDENTIALS.len() + 15, "{checked} checked");
    let _ = other;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_table_implies_beyond_one_request() {
    let w = World::new().await;
    let app = &w.app;
    let p = w.profile("ada").await;
    let q = w.profile("grace").await;
    let (owner, owner_cookie) = w.person("owner");
    let (editor, editor_cookie) = w.person("editor");
    let (_, other_cookie) = w.person("other");
    let other_profile = {
        // a person makes a page: they own it, and it is theirs alone to list
        let r = w
            .request(
                &Method::POST,
                "/api/profiles",
                &Cred::Session(other_cookie.to_owned()),
            )
            .json(&json!({"username": "otto", "displayName": "Otto"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        Uuid::parse_str(v["id"].as_str().unwrap()).unwrap()
    };
    let list = |cookie: &str| {
        let req = w.request(
            &Method::GET,
            "/api/profiles",
            &Cred::Session(cookie.to_owned()),
        );
        async move {
            let v: Value = req.send().await.unwrap().json().await.unwrap();
            let mut names: Vec<String> = v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["username"].as_str().unwrap().to_owned())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(list(other_cookie).await, ["otto"]);
    assert_eq!(list(owner_cookie).await, ["ada", "grace"]);
    assert_eq!(
        app.stores
            .accounts
            .role_of(other_profile, w.person("other").0)
            .await
            .unwrap(),
        Some(Role::Owner)
    );

    // keys a person makes: within their role, bound to one profile
    let make_key = |cookie: &str, profile: &str, scopes: Value| {
        w.request(
            &Method::POST,
            "/api/me/keys",
            &Cred::Session(cookie.to_owned()),
        )
        .json(&json!({"name": "bot", "profile": profile, "scopes": scopes}))
        .send()
    };
    let r = make_key(editor_cookie, "ada", json!(["webhooks:write"]))
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "beyond an editor's role");
    assert_eq!(
        make_key(editor_cookie, "otto", json!(["profile:read"]))
            .await
            .unwrap()
            .status(),
        404,
        "not a member"
    );
    let r = make_key(editor_cookie, "ada", json!(["links:write", "profile:read"]))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    let token = made["token"].as_str().unwrap().to_owned();
    let edit = |profile: &'static str| {
        app.admin(
            Method::PATCH,
            &format!("/api/profiles/{profile}/links"),
            &token,
        )
        .json(&json!({"ops": [{"op": "add", "title": "x", "url": "https://example.net/"}]}))
        .send()
    };
    assert_eq!(edit("ada").await.unwrap().status(), 200);
    assert_eq!(edit("grace").await.unwrap().status(), 404, "bound to ada");
    let keys: Value = w
        .request(
            &Method::GET,
            "/api/me/keys",
            &Cred::Session(editor_cookie.to_owned()),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert!(keys[0].get("token").is_none(), "{keys}");

    // the maker demoted to viewer: the key's links:write stops; removed: the key stops
    let owner_members = |body: Value| {
        w.request(
            &Method::POST,
            "/api/profiles/ada/members",
            &Cred::Session(owner_cookie.to_owned()),
        )
        .json(&body)
        .send()
    };
    let r = owner_members(json!({"email": "editor@example.com", "role": "viewer"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = edit("ada").await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("insufficient_role"));
    let r = w
        .request(
            &Method::DELETE,
            &format!("/api/profiles/ada/members/{editor}"),
            &Cred::Session(owner_cookie.to_owned()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(edit("ada").await.unwrap().status(), 401);

    // the last owner cannot leave, nor stop being owner; with a second owner, they can
    let leave = || {
        w.request(
            &Method::DELETE,
            &format!("/api/profiles/grace/members/{owner}"),
            &Cred::Session(owner_cookie.to_owned()),
        )
        .send()
    };
    let r = leave().await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("last owner"));
    let r = w
        .request(
            &Method::POST,
            "/api/profiles/grace/members",
            &Cred::Session(owner_cookie.to_owned()),
        )
        .json(&json!({"email": "owner@example.com", "role": "editor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = w
        .request(
            &Method::POST,
            "/api/profiles/grace/members",
            &Cred::Session(owner_cookie.to_owned()),
        )
        .json(&json!({"email": "nobody@example.com", "role": "editor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "no such account");
    // an account that exists but is not a member: the same answer (no one added unasked,
    // nothing said of who has an account)
    let r = w
        .request(
            &Method::POST,
            "/api/profiles/grace/members",
            &Cred::Session(owner_cookie.to_owned()),
        )
        .json(&json!({"email": "other@example.com", "role": "editor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "not a member");
    assert_eq!(
        app.stores
            .accounts
            .role_of(q, w.person("other").0)
            .await
            .unwrap(),
        None
    );
    app.stores
        .accounts
        .set_member(q, editor, Role::Owner, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(leave().await.unwrap().status(), 204);
    assert_eq!(list(owner_cookie).await, ["ada"]);

    // a disabled account's keys stop at once
    let r = make_key(owner_cookie, "ada", json!(["profile:read"]))
        .await
        .unwrap();
    let token: Value = r.json().await.unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let read = || {
        app.admin(Method::GET, &format!("/api/profiles/{p}"), &token)
            .send()
    };
    assert_eq!(read().await.unwrap().status(), 200);
    app.stores
        .accounts
        .disable_account(owner, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(read().await.unwrap().status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_made_through_a_profile_receives_only_its_events() {
    let w = World::new().await;
    let app = &w.app;
    let ada = w.profile("ada").await;
    w.profile("grace").await;
    let (_, owner_cookie) = w.person("owner");
    let (_, editor_cookie) = w.person("editor");
    let subscribe = |cookie: &str, body: Value| {
        w.request(
            &Method::POST,
            "/api/webhooks/subscriptions",
            &Cred::Session(cookie.to_owned()),
        )
        .json(&body)
        .send()
    };
    let r = subscribe(owner_cookie, json!({"url": "https://receiver.example/in"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "a person names the profile");
    assert!(r.text().await.unwrap().contains("profile"));
    let r = subscribe(
        editor_cookie,
        json!({"url": "https://receiver.example/in", "profile": "ada"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403, "webhooks are the owner's");
    let r = subscribe(
        owner_cookie,
        json!({"url": "https://receiver.example/in", "profile": "ada"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let sub: Value = r.json().await.unwrap();
    assert_eq!(sub["profile"], ada.to_string());
    let instance: Value = app
        .admin(Method::POST, "/api/webhooks/subscriptions", &w.root)
        .json(&json!({"url": "https://all.example/in"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(instance.get("profile").is_none(), "{instance}");

    // the owner lists their profile's subscriptions only
    let mine: Value = w
        .request(
            &Method::GET,
            "/api/webhooks/subscriptions",
            &Cred::Session(owner_cookie.to_owned()),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [sub["id"].as_str().unwrap()]);

    // a change to each profile: the profile's subscription gets ada's only, the instance's both
    for name in ["ada", "grace"] {
        let r = app
            .admin(Method::PATCH, &format!("/api/profiles/{name}"), &w.root)
            .json(&json!({"bio": "new"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    app.stores
        .webhooks
        .fan_out(i64::MAX / 2, 1000)
        .await
        .unwrap();
    let deliveries = |id: &str| {
        let id = Uuid::parse_str(id).unwrap();
        async move { app.stores.webhooks.deliveries(id, 100).await.unwrap().len() }
    };
    // created (by the world) and updated, per profile
    assert_eq!(
        deliveries(sub["id"].as_str().unwrap()).await,
        1,
        "ada's update only"
    );
    assert_eq!(deliveries(instance["id"].as_str().unwrap()).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_makes_a_key_within_the_role_shows_it_once_and_revokes_it() {
    let w = World::new().await;
    let app = &w.app;
    w.profile("ada").await;
    let (_, viewer) = w.person("viewer");
    let form = |body: &str| {
        app.client
            .post(app.url("/account/keys"))
            .header("cookie", viewer)
            .header("origin", &w.site)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
    };
    // beyond a viewer's role: the page says so, nothing is made
    let r = form("name=bot&profile=ada&scope=profile%3Aread&scope=links%3Awrite")
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(html.contains("links:write is beyond your role"), "{html}");
    assert!(!html.contains("lk_"));
    // within it: the token, once
    let r = form("name=reader&profile=ada&scope=profile%3Aread&scope=analytics%3Aread")
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let html = r.text().await.unwrap();
    let token = html
        .split("<code class=\"token\">")
        .nth(1)
        .and_then(|t| t.split('<').next())
        .unwrap()
        .to_owned();
    assert!(token.starts_with("lk_"), "{token}");
    let read = || {
        app.admin(Method::GET, "/api/profiles/ada/analytics", &token)
            .send()
    };
    assert_eq!(read().await.unwrap().status(), 200);
    let page = app
        .client
        .get(app.url("/account"))
        .header("cookie", viewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("reader") && !page.contains(&token),
        "shown once"
    );
    let keys: Value = app
        .client
        .get(app.url("/api/me/keys"))
        .header("cookie", viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = keys[0]["id"].as_str().unwrap();
    let r = app
        .client
        .post(app.url(&format!("/account/keys/{id}/revoke")))
        .header("cookie", viewer)
        .header("origin", &w.site)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(read().await.unwrap().status(), 401);
}
