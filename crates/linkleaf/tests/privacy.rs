//! No raw IP is ever stored or logged: a real process (the embedded default, debug logging)
//! takes clicks and views from a client at a distinctive address, behind a trusted proxy that
//! names it in `X-Forwarded-For`, counts them, and stops; then every file it wrote (the
//! database, its WAL, the spool's segments and dead letters) and every line it logged is
//! searched for the address, as text and as bytes.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::load;
use linkleaf_testkit::process::{Instance, create_key};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_linkleaf");
const CLIENT: &str = "198.51.100.237";
const CLIENT_V6: &str = "2001:db8:5eed::beef";

fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_client_address_is_stored_or_logged() {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(&str, String)> = vec![
        ("LINKLEAF_SERVER__TRUSTED_PROXIES", "127.0.0.1".into()),
        ("LINKLEAF_ANALYTICS__WINDOW_SECS", "0.05".into()),
        ("LINKLEAF_ANALYTICS__CACHE_SECS", "0".into()),
        ("LINKLEAF_LOG__FILTER", "debug,sqlx=debug".into()),
        ("LINKLEAF_CLICKS__FSYNC", "always".into()),
    ];
    let key = create_key(
        BIN,
        dir.path(),
        &env,
        "profile:write,profile:read,analytics:read",
    );
    let mut server = Instance::start(BIN, dir.path(), &env);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let made = load::profiles_with_links(&client, &server.url(""), &key, "private", 1, 3).await;
    let (profile, links) = &made[0];
    let mut sent = 0;
    for (i, addr) in [CLIENT, CLIENT_V6].iter().enumerate() {
        for link in links {
            let r = client
                .get(server.url(&format!("/r/{link}")))
                .header("x-forwarded-for", format!("{addr}, 127.0.0.1"))
                .header("user-agent", load::BROWSER)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 302);
            sent += 1;
        }
        let r = client
            .get(server.url(&format!("/private0?via={i}")))
            .header("x-forwarded-for", *addr)
            .header("user-agent", load::BROWSER)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // counted: the addresses went all the way through
    let r = linkleaf_testkit::until("counted", Duration::from_secs(20), || async {
        let r = load::report(&client, &server.url(""), &key, profile).await;
        if r["totals"]["clicks"] == sent && r["totals"]["views"] == 2 {
            Ok(r)
        } else {
            Err(r.to_string())
        }
    })
    .await;
    assert_eq!(r["totals"]["uniqueVisitors"], 2, "two visitors: {r}");
    assert!(server.terminate(Duration::from_secs(10)));
    let mut log = server.startup.clone();
    log.extend(server.log());
    assert!(log.len() > 5, "debug logging was on");
    let needles: Vec<Vec<u8>> = vec![
        CLIENT.as_bytes().to_vec(),
        CLIENT_V6.as_bytes().to_vec(),
        CLIENT
            .parse::<std::net::Ipv4Addr>()
            .unwrap()
            .octets()
            .to_vec(),
        CLIENT_V6
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets()
            .to_vec(),
    ];
    for line in &log {
        for n in &needles {
            assert!(!contains(line.as_bytes(), n), "logged: {line}");
        }
    }
    let mut all = Vec::new();
    files(dir.path(), &mut all);
    assert!(
        all.iter().any(|p| p.to_string_lossy().contains("segment")),
        "the spool's segments are searched too: {all:?}"
    );
    for p in &all {
        let bytes = std::fs::read(p).unwrap();
        for n in &needles {
            assert!(
                !contains(&bytes, n),
                "{} holds a client address",
                p.display()
            );
        }
    }
}
