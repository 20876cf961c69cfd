//! The creator dashboard (`/dashboard`): its forms without a browser (every action a form post
//! answered with a redirect or a page saying what to fix), the preview route (the renderer's
//! page, framed by this site only, recording nothing), access (a stranger sees nothing), the
//! import's dry run before anything changes, and a refused stale edit that keeps its input;
//! then the whole of it in Debian's Chromium (`browser/scenarios/dashboard.mjs`).

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_store::ReadFrom;
use linkleaf_testkit::{FormBody, TestApp, browser, header, until};
use serde_json::json;
use std::time::Duration;

const PASSWORD: &str = "a long and private phrase";

fn quick(c: &mut linkleaf::Config) {
    c.analytics.window = Duration::from_secs_f64(0.05);
    c.analytics.cache_for = Duration::from_secs(0);
    c.rate_limit.per_minute = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
    c.rate_limit.burst = std::num::NonZeroU32::new(1_000_000).expect("non-zero");
    c.accounts.signup = linkleaf_domain::account::Signup::Open;
}

/// An account and its session cookie.
async fn person(app: &TestApp, email: &str, admin: bool) -> String {
    linkleaf::accounts::create(
        app.stores.accounts.as_ref(),
        email,
        Some("Ada"),
        admin,
        PASSWORD,
    )
    .await
    .unwrap();
    app.sign_in(email, PASSWORD).await
}

/// A form posted from the site's own pages, as `cookie`.
async fn post(app: &TestApp, cookie: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.as_person(reqwest::Method::POST, path, cookie)
        .form_body(form)
        .send()
        .await
        .unwrap()
}

async fn page(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let r = app
        .as_person(reqwest::Method::GET, path, cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn profile(app: &TestApp, name: &str) -> linkleaf_domain::Profile {
    app.stores
        .profiles
        .profile_by_username(name, ReadFrom::Primary)
        .await
        .unwrap()
        .unwrap()
}

fn titles(p: &linkleaf_domain::Profile) -> Vec<&str> {
    p.links.iter().map(|l| l.title.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_edit_is_a_form_post_answered_with_a_redirect_or_words() {
    let app = TestApp::spawn_with(quick).await;
    let cookie = person(&app, "ada@example.com", false).await;

    // without a session: the way to the sign-in page
    let r = app.get("/dashboard").await;
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), "/login");

    // "Create page": a refusal beside its field, then made
    let r = post(
        &app,
        &cookie,
        "/dashboard",
        &[("username", "a!"), ("display_name", "Ada")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let body = r.text().await.unwrap();
    assert!(body.contains("id=\"new-username-error\""), "{body}");
    assert!(
        body.contains("value=\"Ada\""),
        "the display name is kept: {body}"
    );
    let r = post(
        &app,
        &cookie,
        "/dashboard",
        &[("username", "ada"), ("display_name", "Ada L.")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), "/dashboard/ada?made=1");
    let r = post(
        &app,
        &cookie,
        "/dashboard",
        &[("username", "ada"), ("display_name", "")],
    )
    .await;
    assert_eq!(r.status(), 409, "taken");

    // links: added, refused with the reason beside the field (and the input kept)
    let v = profile(&app, "ada").await.version.to_string();
    for (i, t) in ["One", "Two", "Three"].iter().enumerate() {
        let version = (profile(&app, "ada").await.version).to_string();
        let url = format!("https://example.com/{i}");
        let r = post(
            &app,
            &cookie,
            "/dashboard/ada/links",
            &[("version", &version), ("title", t), ("url", &url)],
        )
        .await;
        assert_eq!(r.status(), 303, "{t}");
        assert_eq!(header(&r, "location"), "/dashboard/ada?saved=added");
    }
    let now = profile(&app, "ada").await;
    assert_eq!(titles(&now), ["One", "Two", "Three"]);
    let version = now.version.to_string();
    let r = post(
        &app,
        &cookie,
        "/dashboard/ada/links",
        &[
            ("version", &version),
            ("title", "Bad"),
            ("url", "javascript:alert(1)"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    let body = r.text().await.unwrap();
    assert!(body.contains("id=\"add-url-error\""), "{body}");
    assert!(body.contains("value=\"Bad\""), "the title is kept");
    let r = post(
        &app,
        &cookie,
        "/dashboard/ada/links",
        &[
            ("version", &version),
            ("title", "Later"),
            ("url", "https://example.com/l"),
            ("visible_from", "soon"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"add-from-error\""));

    // a form made from an older version: 412, the words, the profile as it is, the input kept
    let r = post(
        &app,
        &cookie,
        "/dashboard/ada/links",
        &[
            ("version", &v),
            ("title", "Stale one"),
            ("url", "https://example.com/s"),
        ],
    )
    .await;
    assert_eq!(r.status(), 412);
    let body = r.text().await.unwrap();
    assert!(body.contains("Someone else changed this page"), "{body}");
    assert!(body.contains("value=\"Stale one\""), "the input is kept");
    assert!(
        body.contains(">Three<"),
        "the profile as it is now is shown"
    );
    assert_eq!(
        titles(&profile(&app, "ada").await),
        ["One", "Two", "Three"],
        "nothing changed"
    );

    // move, hide, reorder (as a drag posts it), schedule, remove
    let p = profile(&app, "ada").await;
    let id = |p: &linkleaf_domain::Profile, t: &str| {
        p.links
            .iter()
            .find(|l| l.title == t)
            .unwrap()
            .id
            .to_string()
    };
    let r = post(
        &app,
        &cookie,
        &format!("/dashboard/ada/links/{}/move", id(&p, "One")),
        &[("version", &p.version.to_string()), ("to", "down")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let p = profile(&app, "ada").await;
    assert_eq!(titles(&p), ["Two", "One", "Three"]);
    let r = post(
        &app,
        &cookie,
        &format!("/dashboard/ada/links/{}/toggle", id(&p, "Two")),
        &[("version", &p.version.to_string()), ("enabled", "false")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let p = profile(&app, "ada").await;
    assert!(!p.links[0].enabled);
    let order: Vec<(&str, String)> = [("version", p.version.to_string())]
        .into_iter()
        .chain(["Three", "Two", "One"].iter().map(|t| ("id", id(&p, t))))
        .collect();
    let r = app
        .as_person(reqwest::Method::POST, "/dashboard/ada/order", &cookie)
        .form_body(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let p = profile(&app, "ada").await;
    assert_eq!(titles(&p), ["Three", "Two", "One"]);
    let r = post(
        &app,
        &cookie,
        &format!("/dashboard/ada/links/{}", id(&p, "One")),
        &[
            ("version", &p.version.to_string()),
            ("title", "One, renamed"),
            ("url", "https://example.com/one"),
            ("visible_from", "2030-01-02T09:30"),
            ("visible_until", ""),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let p = profile(&app, "ada").await;
    let one = p.links.iter().find(|l| l.title == "One, renamed").unwrap();
    // the account's zone is UTC
    assert_eq!(one.visible_from.unwrap().unix_timestamp(), 1_893_576_600);
    let (_, html) = page(&app, &cookie, "/dashboard/ada").await;
    assert!(
        html.contains("Scheduled: shown from 2 Jan 2030, 09:30"),
        "{html}"
    );
    let r = post(
        &app,
        &cookie,
        &format!("/dashboard/ada/links/{}/remove", id(&p, "Three")),
        &[("version", &p.version.to_string())],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(titles(&profile(&app, "ada").await), ["Two", "One, renamed"]);

    // the profile form: a refusal beside its field, then saved
    let p = profile(&app, "ada").await;
    let r = post(
        &app,
        &cookie,
        "/dashboard/ada/profile",
        &[
            ("version", &p.version.to_string()),
            ("display_name", "Ada"),
            ("bio", "Engines."),
            ("avatar_url", ""),
            ("preset", "dark"),
            ("button_style", "pill"),
            ("accent_color", "#zzzzzz"),
            ("time_zone", "Mars/Olympus"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    let body = r.text().await.unwrap();
    assert!(body.contains("id=\"accent-error\""), "{body}");
    assert!(body.contains("value=\"Mars/Olympus\""), "kept");
    let r = post(
        &app,
        &cookie,
        "/dashboard/ada/profile",
        &[
            ("version", &p.version.to_string()),
            ("display_name", "Ada"),
            ("bio", "Engines."),
            ("avatar_url", ""),
            ("preset", "dark"),
            ("button_style", "pill"),
            ("accent_color", ""),
            ("time_zone", "Europe/Paris"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let p = profile(&app, "ada").await;
    assert_eq!(
        (
            p.display_name.as_str(),
            p.bio.as_str(),
            p.time_zone.as_str()
        ),
        ("Ada", "Engines.", "Europe/Paris")
    );
    assert_eq!(p.theme.preset, linkleaf_domain::ThemePreset::Dark);

    // history: every change a version, in words; "Restore" of the first with links
    let (status, html) = page(&app, &cookie, "/dashboard/ada/history").await;
    assert_eq!(status, 200);
    assert!(html.contains("Added the link “Three”"), "{html}");
    assert!(html.contains("Hid the link “Two”."), "{html}");
    assert!(html.contains("Reordered the links."), "{html}");
    let three = app
        .stores
        .profiles
        .history(p.id, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|v| v.profile["links"].as_array().is_some_and(|l| l.len() == 3))
        .unwrap()
        .version;
    let r = post(
        &app,
        &cookie,
        &format!("/dashboard/ada/history/{three}/restore"),
        &[("version", &(p.version - 1).to_string())],
    )
    .await;
    assert_eq!(r.status(), 412, "restoring from an older list is refused");
    let r = post(
        &app,
        &cookie,
        &format!("/dashboard/ada/history/{three}/restore"),
        &[("version", &p.version.to_string())],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        header(&r, "location"),
        format!("/dashboard/ada/history?restored={three}")
    );
    assert_eq!(profile(&app, "ada").await.links.len(), 3);

    // analytics in words and tables, and the CSV link of the same range
    let (status, html) = page(&app, &cookie, "/dashboard/ada/analytics?range=30d").await;
    assert_eq!(status, 200);
    assert!(html.contains("<caption>Clicks per link</caption>"));
    assert!(html.contains("role=\"img\""));
    assert!(html.contains("/analytics.csv?from="));
    let (status, html) = page(
        &app,
        &cookie,
        "/dashboard/ada/analytics?range=custom&from=2026-11-30&to=2026-11-01",
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("The last day is before the first"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_is_the_renderers_page_framed_here_and_recording_nothing() {
    let app = TestApp::spawn_with(quick).await;
    let cookie = person(&app, "ada@example.com", false).await;
    let r = post(
        &app,
        &cookie,
        "/dashboard",
        &[("username", "ada"), ("display_name", "Ada")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let v = profile(&app, "ada").await.version.to_string();
    post(
        &app,
        &cookie,
        "/dashboard/ada/links",
        &[
            ("version", &v),
            ("title", "One"),
            ("url", "https://example.com/1"),
        ],
    )
    .await;
    let accepted = || async {
        app.metric("linkleaf_events_accepted_total{kind=\"view\"}")
            .await
    };
    let before = accepted().await;
    let r = app
        .as_person(reqwest::Method::GET, "/dashboard/ada/preview", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = header(&r, "content-security-policy").to_owned();
    assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
    assert_eq!(header(&r, "cache-control"), "no-store");
    let html = r.text().await.unwrap();
    assert!(
        html.contains(">One</a>") && html.contains("href=\"#r-"),
        "{html}"
    );
    assert!(
        !html.contains("href=\"/r/"),
        "a link of the preview leads nowhere"
    );
    for _ in 0..3 {
        let r = app
            .as_person(reqwest::Method::GET, "/dashboard/ada/preview", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // the public page: framed by no one, and its view recorded. Views are accepted in order,
    // so once the public one is, any the previews had made would be too: there are none.
    let r = app.get("/ada").await;
    assert!(header(&r, "content-security-policy").contains("frame-ancestors 'none'"));
    let n = until(
        "the public view accepted",
        Duration::from_secs(10),
        || async {
            let n = accepted().await;
            if n > before {
                Ok(n)
            } else {
                Err(format!("{n}"))
            }
        },
    )
    .await;
    assert_eq!(n, before + 1.0, "the previews recorded no view");
    // the dashboard's own pages frame only this site's preview
    let r = app
        .as_person(reqwest::Method::GET, "/dashboard/ada", &cookie)
        .send()
        .await
        .unwrap();
    let csp = header(&r, "content-security-policy").to_owned();
    assert!(
        csp.contains("frame-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_sees_nothing_of_a_page_and_only_admins_see_the_admin_page() {
    let app = TestApp::spawn_with(quick).await;
    let ada = person(&app, "ada@example.com", false).await;
    post(
        &app,
        &ada,
        "/dashboard",
        &[("username", "ada"), ("display_name", "Ada")],
    )
    .await;
    let eve = person(&app, "eve@example.com", false).await;
    for path in [
        "/dashboard/ada",
        "/dashboard/ada/preview",
        "/dashboard/ada/analytics",
        "/dashboard/ada/history",
        "/dashboard/ada/share",
        "/dashboard/admin",
    ] {
        let (status, html) = page(&app, &eve, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(html.contains("Not found"), "{path}: {html}");
    }
    let v = profile(&app, "ada").await.version.to_string();
    let r = post(
        &app,
        &eve,
        "/dashboard/ada/links",
        &[
            ("version", &v),
            ("title", "Mine"),
            ("url", "https://evil.example"),
        ],
    )
    .await;
    assert_eq!(r.status(), 404);
    assert!(profile(&app, "ada").await.links.is_empty());
    // a form from another site is refused, signed in or not
    let r = app
        .client
        .post(app.url("/dashboard/ada/links"))
        .header("cookie", &ada)
        .header("origin", "https://evil.example")
        .form_body(&[
            ("version", v.as_str()),
            ("title", "x"),
            ("url", "https://x.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let root = person(&app, "root@example.com", true).await;
    let (status, html) = page(&app, &root, "/dashboard/admin").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("ada@example.com") && html.contains("@ada"),
        "{html}"
    );
    assert!(html.contains("Requests answered"), "{html}");
    assert!(!html.contains("argon2"), "no password hash is shown");
    // "Disable": Eve's session stops at its next request; an admin cannot disable themself
    let eve_id = app
        .stores
        .accounts
        .account_by_email("eve@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    let root_id = app
        .stores
        .accounts
        .account_by_email("root@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(html.contains(&format!("/dashboard/admin/accounts/{eve_id}/disable")));
    assert!(!html.contains(&format!("/dashboard/admin/accounts/{root_id}/disable")));
    let r = post(
        &app,
        &ada,
        &format!("/dashboard/admin/accounts/{eve_id}/disable"),
        &[],
    )
    .await;
    assert_eq!(r.status(), 404, "not an admin");
    let r = post(
        &app,
        &root,
        &format!("/dashboard/admin/accounts/{root_id}/disable"),
        &[],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        page(&app, &eve, "/dashboard").await.0,
        200,
        "still signed in"
    );
    let r = post(
        &app,
        &root,
        &format!("/dashboard/admin/accounts/{eve_id}/disable"),
        &[],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), "/dashboard/admin?disabled=1");
    let r = app
        .as_person(reqwest::Method::GET, "/dashboard", &eve)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), header(&r, "location")),
        (303, "/login"),
        "Eve's session stopped"
    );
    let (_, html) = page(&app, &root, "/dashboard/admin?disabled=1").await;
    assert!(html.contains("The account is disabled"));
    assert!(!html.contains(&format!("/dashboard/admin/accounts/{eve_id}/disable")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_is_shown_before_it_is_applied_as_one_version() {
    let app = TestApp::spawn_with(quick).await;
    let cookie = person(&app, "ada@example.com", false).await;
    post(
        &app,
        &cookie,
        "/dashboard",
        &[("username", "ada"), ("display_name", "Ada")],
    )
    .await;
    let p = profile(&app, "ada").await;
    let v = p.version.to_string();
    let csv = "title,url\nBlog,https://blog.example\nShop,https://shop.example\n";
    let r = post(
        &app,
        &cookie,
        "/dashboard/ada/import",
        &[
            ("version", &v),
            ("format", "csv"),
            ("content", csv),
            ("step", "preview"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("What the import would do") && html.contains("Adds 2 links: Blog, Shop"),
        "{html}"
    );
    assert_eq!(
        profile(&app, "ada").await.version,
        p.version,
        "a dry run changes nothing"
    );
    let bad = "title,url\nBlog,javascript:alert(1)\n";
    let r = post(
        &app,
        &cookie,
        "/dashboard/ada/import",
        &[
            ("version", &v),
            ("format", "csv"),
            ("content", bad),
            ("step", "preview"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"import-errors\""));
    let r = post(
        &app,
        &cookie,
        "/dashboard/ada/import",
        &[
            ("version", &v),
            ("format", "csv"),
            ("content", csv),
            ("step", "apply"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let after = profile(&app, "ada").await;
    assert_eq!(titles(&after), ["Blog", "Shop"]);
    assert_eq!(after.version, p.version + 1, "one version");
    // applied again from the version the preview showed: told, nothing changes
    let r = post(
        &app,
        &cookie,
        "/dashboard/ada/import",
        &[
            ("version", &v),
            ("format", "csv"),
            ("content", csv),
            ("step", "apply"),
        ],
    )
    .await;
    assert_eq!(r.status(), 412);
    assert_eq!(profile(&app, "ada").await.version, after.version);
    // the dashboard's files: compressed, named by their digest, cached for good
    let (_, html) = page(&app, &cookie, "/dashboard/ada/share").await;
    let css = html
        .split("href=\"")
        .find_map(|s| {
            s.split('"')
                .next()
                .filter(|h| h.starts_with("/dashboard/assets/"))
        })
        .unwrap()
        .to_owned();
    let r = app
        .client
        .get(app.url(&css))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-encoding"), "br");
    assert!(header(&r, "cache-control").contains("immutable"));
    assert_eq!(app.get("/dashboard/assets/other.css").await.status(), 404);
    // the pages themselves, rendered per request, in the coding asked for
    let r = app
        .as_person(reqwest::Method::GET, "/dashboard/ada/share", &cookie)
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "content-encoding"), "br");
    assert!(header(&r, "vary").contains("accept-encoding"));
    let packed = r.bytes().await.unwrap();
    let mut html = Vec::new();
    std::io::copy(&mut brotli::Decompressor::new(&packed[..], 4096), &mut html).unwrap();
    let html = String::from_utf8(html).unwrap();
    assert!(
        html.contains("<h1>Share") && html.len() > 2 * packed.len(),
        "{} → {}",
        html.len(),
        packed.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_uses_the_dashboard_in_a_browser() {
    if !browser::here() {
        return;
    }
    let app = TestApp::spawn_with(quick).await;
    linkleaf::accounts::create(
        app.stores.accounts.as_ref(),
        "root@example.com",
        Some("Root"),
        true,
        PASSWORD,
    )
    .await
    .unwrap();
    let origin = format!("http://localhost:{}", app.addr.port());
    let report = browser::run(
        "dashboard",
        // links lead to the server by its address (a link's host needs a dot or to be an IP)
        json!({"origin": origin, "linkOrigin": format!("http://{}", app.addr),
               "email": "ada@example.com", "password": PASSWORD,
               "adminEmail": "root@example.com", "adminPassword": PASSWORD,
               "shots": browser::shots("dashboard")}),
    )
    .await
    .unwrap();
    assert_eq!(
        report["steps"],
        json!([
            "passkey",
            "created",
            "added",
            "dragged",
            "moved",
            "counted",
            "csv",
            "restored",
            "share",
            "two browsers",
            "desktop",
            "nojs",
            "admin"
        ])
    );
    // a page with its scripts and styles: at most 100 KB as it crossed the wire
    for page in ["editor", "analytics"] {
        let bytes = report["weights"][page].as_u64().unwrap();
        println!("the {page} page weighs {bytes} bytes as they crossed the wire");
        assert!(bytes > 0 && bytes <= 100_000, "{page} weighs {bytes} bytes");
    }
    // nothing lost: both browsers' changes stand
    let p = profile(&app, "ada").await;
    assert_eq!(p.display_name, "Ada from B");
    assert_eq!(
        titles(&p),
        ["One", "Three (edited)", "Two", "From A", "No script"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_reads_the_dashboard_and_every_write_is_refused() {
    let app = TestApp::spawn_with(quick).await;
    let ada = person(&app, "ada@example.com", false).await;
    post(
        &app,
        &ada,
        "/dashboard",
        &[("username", "ada"), ("display_name", "Ada")],
    )
    .await;
    let v = profile(&app, "ada").await.version.to_string();
    post(
        &app,
        &ada,
        "/dashboard/ada/links",
        &[
            ("version", &v),
            ("title", "One"),
            ("url", "https://example.com/1"),
        ],
    )
    .await;
    let p = profile(&app, "ada").await;
    let grace = person(&app, "grace@example.com", false).await;
    let grace_id = app
        .stores
        .accounts
        .account_by_email("grace@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    app.stores
        .accounts
        .set_member(
            p.id,
            grace_id,
            linkleaf_domain::account::Role::Viewer,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    // reads: the editor without its forms, the analytics, the history, the share page
    let (status, html) = page(&app, &grace, "/dashboard/ada").await;
    assert_eq!(status, 200);
    assert!(html.contains(">One<"), "{html}");
    assert!(
        !html.contains("aria-label=\"Add link\""),
        "a viewer is offered no form"
    );
    for path in [
        "/dashboard/ada/analytics",
        "/dashboard/ada/history",
        "/dashboard/ada/share",
        "/dashboard/ada/preview",
    ] {
        assert_eq!(page(&app, &grace, path).await.0, 200, "{path}");
    }
    // writes: every one refused with words, nothing changed
    let link = p.links[0].id;
    let version = p.version.to_string();
    let v = version.as_str();
    for (path, form) in [
        (
            "/dashboard/ada/profile".to_owned(),
            vec![
                ("version", v),
                ("display_name", "Mine"),
                ("preset", "light"),
                ("button_style", "pill"),
            ],
        ),
        (
            "/dashboard/ada/links".to_owned(),
            vec![
                ("version", v),
                ("title", "Mine"),
                ("url", "https://x.example"),
            ],
        ),
        (
            format!("/dashboard/ada/links/{link}"),
            vec![
                ("version", v),
                ("title", "Mine"),
                ("url", "https://x.example"),
            ],
        ),
        (
            format!("/dashboard/ada/links/{link}/move"),
            vec![("version", v), ("to", "down")],
        ),
        (
            format!("/dashboard/ada/links/{link}/toggle"),
            vec![("version", v), ("enabled", "false")],
        ),
        (
            format!("/dashboard/ada/links/{link}/remove"),
            vec![("version", v)],
        ),
        (
            "/dashboard/ada/order".to_owned(),
            vec![("version", v), ("id", &link.to_string())],
        ),
        (
            "/dashboard/ada/history/1/restore".to_owned(),
            vec![("version", v)],
        ),
        (
            "/dashboard/ada/import".to_owned(),
            vec![
                ("version", v),
                ("format", "csv"),
                ("content", "a,https://a.example"),
                ("step", "apply"),
            ],
        ),
    ] {
        let r = post(&app, &grace, &path, &form).await;
        assert_eq!(r.status(), 403, "{path}");
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Your role on this page does not allow this"),
            "{path}"
        );
    }
    let after = profile(&app, "ada").await;
    assert_eq!((after.version, titles(&after)), (p.version, vec!["One"]));
    // a form without the version it was made from is refused, not applied unchecked
    let r = post(
        &app,
        &ada,
        "/dashboard/ada/links",
        &[("title", "Unchecked"), ("url", "https://u.example")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(titles(&profile(&app, "ada").await), ["One"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_are_in_the_accounts_days_and_its_csv_link_answers() {
    let app = TestApp::spawn_with(quick).await;
    let ada = person(&app, "ada@example.com", false).await;
    let id = app
        .stores
        .accounts
        .account_by_email("ada@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    app.stores
        .accounts
        .set_time_zone(id, "Asia/Kolkata")
        .await
        .unwrap();
    post(
        &app,
        &ada,
        "/dashboard",
        &[("username", "ada"), ("display_name", "Ada")],
    )
    .await;
    let (status, html) = page(&app, &ada, "/dashboard/ada/analytics?range=7d").await;
    assert_eq!(status, 200);
    // seven rows of seven dates, each once, in India's days
    let rows: Vec<&str> = html
        .split("<tbody>")
        .nth(1)
        .unwrap()
        .split("</tbody>")
        .next()
        .unwrap()
        .matches("<th scope=\"row\">")
        .collect();
    assert_eq!(rows.len(), 7, "{html}");
    assert!(html.contains("(Asia/Kolkata)"), "{html}");
    // the CSV link of the page answers the same range
    let href = html
        .split("href=\"")
        .find_map(|s| s.split('"').next().filter(|h| h.contains("analytics.csv")))
        .unwrap()
        .replace("&amp;", "&");
    assert!(href.contains("timeZone=Asia%2FKolkata"), "{href}");
    let r = app
        .as_person(reqwest::Method::GET, &href, &ada)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{href}");
    assert!(r.text().await.unwrap().starts_with("section,"));
    // a zone whose name holds a '+' reaches the API whole
    app.stores
        .accounts
        .set_time_zone(id, "Etc/GMT+5")
        .await
        .unwrap();
    let (_, html) = page(&app, &ada, "/dashboard/ada/analytics?range=30d").await;
    let href = html
        .split("href=\"")
        .find_map(|s| s.split('"').next().filter(|h| h.contains("analytics.csv")))
        .unwrap()
        .replace("&amp;", "&");
    assert!(href.contains("timeZone=Etc%2FGMT%2B5"), "{href}");
    let r = app
        .as_person(reqwest::Method::GET, &href, &ada)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{href}");
    // "today" is by hour, its date the account's
    let (_, html) = page(&app, &ada, "/dashboard/ada/analytics?range=today").await;
    assert!(
        html.contains("by hour") && html.contains("(Etc/GMT+5)"),
        "{html}"
    );
    // more than a year at once is refused in words
    let (_, html) = page(
        &app,
        &ada,
        "/dashboard/ada/analytics?range=custom&from=2024-01-01&to=2026-01-01",
    )
    .await;
    assert!(html.contains("at most a year"), "{html}");
}
