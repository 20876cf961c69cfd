//! Moving in and out: a profile exported and imported elsewhere comes out the same; LinkStack's
//! "export all" (a fixture made from the models its `UserController::exportAll` writes: a
//! heading without a URL, links out of order, an HTML description) and a CSV of `title,url`
//! are read; a dry run changes nothing and says what would; limits and bad rows are refused
//! naming their place; an import is one version.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::{TestApp, header};
use reqwest::Method;
use serde_json::{Value, json};

async fn import(
    app: &TestApp,
    key: &str,
    profile: &str,
    query: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    app.admin(
        Method::POST,
        &format!("/api/profiles/{profile}/import?{query}"),
        key,
    )
    .header("content-type", content_type)
    .body(body)
    .send()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_moves_out_and_back_in_and_from_linkstack_and_a_csv() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    let made = app
        .create_profile(
            &key,
            json!({"username": "ada", "displayName": "Ada", "bio": "mine",
                   "theme": {"preset": "midnight", "buttonStyle": "outline"},
                   "links": [{"title": "Blog", "url": "https://blog.example/"},
                             {"title": "Old", "url": "https://old.example/", "enabled": false}]}),
        )
        .await;
    // out: the admin JSON, as a file
    let r = app
        .admin(Method::GET, "/api/profiles/ada/export", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-disposition").contains("ada.linkleaf.json"));
    let exported = r.bytes().await.unwrap();
    let doc: Value = serde_json::from_slice(&exported).unwrap();
    assert_eq!(
        doc["links"].as_array().unwrap().len(),
        2,
        "disabled links too"
    );
    // in, elsewhere: a dry run says what would change and changes nothing
    app.create_profile(&key, json!({"username": "copy", "displayName": "Copy"}))
        .await;
    let r = import(
        &app,
        &key,
        "copy",
        "format=linkleaf",
        "application/json",
        exported.clone(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let dry: Value = r.json().await.unwrap();
    assert_eq!(dry["dryRun"], true);
    assert_eq!(dry["changes"]["added"], json!(["Blog", "Old"]));
    let fields = dry["changes"]["fields"].as_array().unwrap();
    for f in ["displayName", "bio", "theme"] {
        assert!(fields.contains(&json!(f)), "{f}: {dry:#}");
    }
    let copy = || async {
        app.admin(Method::GET, "/api/profiles/copy/export", &key)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(
        copy().await["links"],
        json!([]),
        "a dry run changes nothing"
    );
    // applied: one version, the same profile but for its name and ids
    let r = import(
        &app,
        &key,
        "copy",
        "format=linkleaf&dryRun=false",
        "application/json",
        exported,
    )
    .await;
    assert_eq!(r.status(), 200);
    let applied: Value = r.json().await.unwrap();
    assert_eq!(applied["dryRun"], false);
    let now = copy().await;
    assert_eq!(now["username"], "copy");
    for f in ["displayName", "bio", "theme"] {
        assert_eq!(now[f], made[f], "{f}");
    }
    let titles = |p: &Value| -> Vec<(Value, Value, Value)> {
        p["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["title"].clone(), l["url"].clone(), l["enabled"].clone()))
            .collect()
    };
    assert_eq!(titles(&now), titles(&made));
    assert_eq!(now["version"], 2, "one version for the whole import");
    // importing the same again keeps every link (ids and clicks)
    let again: Value = import(
        &app,
        &key,
        "copy",
        "format=linkleaf",
        "application/json",
        serde_json::to_vec(&now).unwrap(),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(again["changes"]["kept"], 2, "{again:#}");
    assert_eq!(again["changes"]["added"], json!([]));

    // LinkStack's export: its name and description (HTML) and its links in their order, the
    // heading without a URL skipped; its handle is not taken over
    let linkstack = include_bytes!("fixtures/linkstack-export.json").to_vec();
    let r = import(
        &app,
        &key,
        "copy",
        "format=linkstack&dryRun=false",
        "application/json",
        linkstack,
    )
    .await;
    assert_eq!(r.status(), 200);
    let p = copy().await;
    assert_eq!(p["username"], "copy");
    assert_eq!(p["displayName"], "Ada Lovelace");
    assert_eq!(p["bio"], "Writer of the first program & friend of engines.");
    let got: Vec<&str> = p["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["title"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["Blog", "Talks", "Mail me"]);

    // a CSV of title,url
    let csv = "title,url\nNewsletter,https://news.example/\n\"Talks, all of them\",https://talks.example/\n";
    let r = import(
        &app,
        &key,
        "copy",
        "format=csv&dryRun=false",
        "text/csv",
        csv,
    )
    .await;
    assert_eq!(r.status(), 200);
    let out: Value = r.json().await.unwrap();
    assert_eq!(
        out["changes"]["removed"],
        json!(["Blog", "Talks", "Mail me"])
    );
    assert_eq!(titles(&copy().await).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_too_big_too_long_or_wrong_are_refused_naming_what() {
    let app = TestApp::spawn().await;
    let key = app.root_key().await;
    app.create_profile(&key, json!({"username": "ada"})).await;
    // 101 links
    let many: String = (0..101)
        .map(|i| format!("Link {i},https://e.example/{i}\n"))
        .collect();
    let r = import(&app, &key, "ada", "format=csv", "text/csv", many).await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "links", "{p:#}");
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100")
    );
    // a body over its limit
    let r = import(
        &app,
        &key,
        "ada",
        "format=csv",
        "text/csv",
        vec![b'a'; 600 * 1024],
    )
    .await;
    assert_eq!(r.status(), 413);
    // a bad row, named
    let r = import(
        &app,
        &key,
        "ada",
        "format=csv",
        "text/csv",
        "Fine,https://e.example/\nEvil,javascript:alert(1)\n",
    )
    .await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "links[1].url", "{p:#}");
    // not the format it says
    let r = import(
        &app,
        &key,
        "ada",
        "format=linkstack",
        "application/json",
        "[1, 2]",
    )
    .await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "body", "{p:#}");
    // an unknown format
    let r = import(&app, &key, "ada", "format=xml", "text/csv", "x").await;
    assert_eq!(r.status(), 422);
    // it rewrites the links: a key for the profile's text alone may not, nor restore
    let text_only = app.key("profile:write").await;
    let csv = "Blog,https://a.example/\n";
    let r = import(
        &app,
        &text_only,
        "ada",
        "format=csv&dryRun=false",
        "text/csv",
        csv,
    )
    .await;
    assert_eq!(r.status(), 403, "links:write is needed too");
    let r = app
        .admin(
            Method::POST,
            "/api/profiles/ada/history/1/restore",
            &text_only,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // nothing of it was written
    let p: Value = app
        .admin(Method::GET, "/api/profiles/ada/export", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["links"], json!([]));
    assert_eq!(p["version"], 1);
}
