//! Passkeys over the API, where no browser is needed: an unknown email gets a challenge of the
//! same shape as a real one (and the same decoy credential at each ask), every failed answer is
//! the same 401, a ceremony is used once, registering needs a session from the site's own
//! pages. (A real authenticator signs in the browser test, `browser.rs`.)

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::TestApp;
use serde_json::{Value, json};

const PASSWORD: &str = "a long and private phrase";

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_email_looks_like_a_known_one_and_every_failure_is_the_same() {
    let app = TestApp::spawn().await;
    linkleaf::accounts::create(
        app.stores.accounts.as_ref(),
        "ada@example.com",
        None,
        false,
        PASSWORD,
    )
    .await
    .unwrap();

    // ada has no passkey yet, nobody has no account: both get a challenge
    let (s1, a) = post(
        &app,
        "/api/passkeys/authenticate/start",
        json!({"email": "ada@example.com"}),
    )
    .await;
    let (s2, b) = post(
        &app,
        "/api/passkeys/authenticate/start",
        json!({"email": "nobody@example.com"}),
    )
    .await;
    assert_eq!((s1, s2), (200, 200));
    let shape = |v: &Value| {
        let pk = &v["options"]["publicKey"];
        (
            pk["rpId"].clone(),
            pk["userVerification"].clone(),
            pk["allowCredentials"].as_array().map(Vec::len),
            pk["challenge"].as_str().map(str::len),
        )
    };
    assert_eq!(shape(&a), shape(&b));
    assert_eq!(a["options"]["publicKey"]["rpId"], "localhost");
    let (_, again) = post(
        &app,
        "/api/passkeys/authenticate/start",
        json!({"email": "nobody@example.com"}),
    )
    .await;
    assert_eq!(
        again["options"]["publicKey"]["allowCredentials"],
        b["options"]["publicKey"]["allowCredentials"],
        "the same decoy at each ask"
    );
    assert_ne!(
        again["options"]["publicKey"]["challenge"],
        b["options"]["publicKey"]["challenge"]
    );

    // any answer to a decoy, a made-up answer, a ceremony used twice: the same 401
    let fake = json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA"}});
    let mut answers = Vec::new();
    for ceremony in [
        &b["ceremony"],
        &a["ceremony"],
        &a["ceremony"],
        &json!("made-up"),
    ] {
        let (s, body) = post(
            &app,
            "/api/passkeys/authenticate/finish",
            json!({"ceremony": ceremony, "credential": fake}),
        )
        .await;
        answers.push((s, body["detail"].clone()));
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, 401);

    // registering needs a session, and a write from the site's own pages
    let (s, _) = post(&app, "/api/passkeys/register/start", json!({})).await;
    assert_eq!(s, 401);
    let cookie = app.sign_in("ada@example.com", PASSWORD).await;
    let start = |origin: Option<String>| {
        let mut r = app
            .client
            .post(app.url("/api/passkeys/register/start"))
            .header("cookie", &cookie);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    assert_eq!(start(None).await.unwrap().status(), 403);
    let r = start(Some(app.config.server.public_url.clone()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.unwrap();
    let pk = &c["options"]["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost");
    assert_eq!(pk["user"]["name"], "ada@example.com");
    let r = app
        .client
        .post(app.url("/api/passkeys/register/finish"))
        .header("cookie", &cookie)
        .header("origin", &app.config.server.public_url)
        .json(&json!({"ceremony": c["ceremony"], "credential": fake}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a made-up answer keeps nothing");
    let list: Value = app
        .client
        .get(app.url("/api/me/passkeys"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
}
