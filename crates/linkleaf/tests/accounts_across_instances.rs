//! Sessions and sign-in limits across instances: two linkleaf processes sharing one PostgreSQL
//! database and one Redis. A session made through one is valid on the other; a sign-out through
//! either ends it on both at the next request; sign-in attempts from one client are limited for
//! the whole deployment, not per instance.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::process::Instance;
use linkleaf_testkit::services::{TempPostgres, shared_redis};
use serde_json::json;
use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_linkleaf");
const PASSWORD: &str = "a long and private phrase";
const SITE: &str = "http://localhost:3000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_sign_in_limits_hold_across_instances() {
    let Some(db) = TempPostgres::create().await else {
        return;
    };
    let Some((redis, prefix)) = shared_redis() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(&str, String)> = vec![
        ("LINKLEAF_DATABASE__URL", db.url.clone()),
        ("LINKLEAF_REDIS__URL", redis.clone()),
        ("LINKLEAF_REDIS__PREFIX", prefix.clone()),
        ("LINKLEAF_SERVER__PUBLIC_URL", SITE.into()),
        ("LINKLEAF_ACCOUNTS__SIGNIN_PER_MINUTE", "4".into()),
        ("LINKLEAF_SERVER__WORKERS", "1".into()),
    ];
    let envs = || env.iter().map(|(k, v)| (*k, v.as_str()));
    assert!(
        Command::new(BIN)
            .arg("migrate")
            .envs(envs())
            .output()
            .unwrap()
            .status
            .success()
    );
    for (email, admin) in [("ada@example.com", false), ("root@example.com", true)] {
        let mut args = vec!["accounts", "create", "--email", email, "--password-stdin"];
        if admin {
            args.push("--admin");
        }
        let mut create = Command::new(BIN)
            .args(args)
            .envs(envs())
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(create.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        let made = create.wait_with_output().unwrap();
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
    }

    let instances: Vec<Instance> = (0..2)
        .map(|i| {
            let mut env = env.clone();
            env.push(("LINKLEAF_CLICKS__SPOOL_DIR", format!("spool-{i}")));
            Instance::start(BIN, dir.path(), &env)
        })
        .collect();
    let (a, b) = (&instances[0], &instances[1]);
    let client = reqwest::Client::new();
    let sign_in = |i: &Instance, password: &str| {
        client
            .post(i.url("/api/session"))
            .json(&json!({"email": "ada@example.com", "password": password}))
            .send()
    };
    let me =
        |i: &Instance, cookie: String| client.get(i.url("/api/me")).header("cookie", cookie).send();

    // made on one, valid on the other; ended through the other, gone on both
    let r = sign_in(a, PASSWORD).await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(me(b, cookie.clone()).await.unwrap().status(), 200);
    assert_eq!(me(a, cookie.clone()).await.unwrap().status(), 200);
    let out = client
        .delete(b.url("/api/session"))
        .header("cookie", &cookie)
        .header("origin", SITE)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(me(a, cookie.clone()).await.unwrap().status(), 401);
    assert_eq!(me(b, cookie).await.unwrap().status(), 401);

    // disabled through one instance: its session on the other stops at its next request
    let cookie_of = |r: reqwest::Response| {
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    };
    let ada = cookie_of(sign_in(a, PASSWORD).await.unwrap());
    let root = cookie_of(
        client
            .post(b.url("/api/session"))
            .json(&json!({"email": "root@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    );
    let me_a: serde_json::Value = me(a, ada.clone()).await.unwrap().json().await.unwrap();
    let id = me_a["id"].as_str().unwrap().to_owned();
    let r = client
        .post(b.url(&format!("/api/admin/accounts/{id}/disable")))
        .header("cookie", &root)
        .header("origin", SITE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        me(a, ada).await.unwrap().status(),
        401,
        "dead on the other instance too"
    );

    // four attempts a minute from this client, across both instances together (three are
    // spent: ada's two sign-ins and root's)
    for i in [b] {
        assert_eq!(sign_in(i, "a wrong guess").await.unwrap().status(), 401);
    }
    for i in [a, b] {
        let r = sign_in(i, PASSWORD).await.unwrap();
        assert_eq!(r.status(), 429, "the deployment's bucket is empty");
        assert!(r.headers().contains_key("retry-after"));
    }
}
