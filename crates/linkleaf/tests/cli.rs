//! The binary as a user runs it: subcommands, key management, configuration errors, and a real
//! `serve` stopped by SIGTERM.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::process::Instance;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn linkleaf(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linkleaf"));
    c.current_dir(dir)
        .env_remove("LINKLEAF_CONFIG")
        .env(
            "LINKLEAF_DATABASE__URL",
            format!("sqlite://{}", dir.join("cli.db").display()),
        )
        .env("LINKLEAF_LOG__FILTER", "info");
    c
}

fn run(c: &mut Command) -> Output {
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_names_every_role() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(linkleaf(dir.path()).arg("--help"));
    assert!(out.status.success());
    let help = text(&out.stdout);
    for cmd in [
        "serve",
        "demo",
        "migrate",
        "keys",
        "default-config",
        "openapi",
    ] {
        assert!(help.contains(cmd), "{cmd} missing from:\n{help}");
    }
    let keys = text(&run(linkleaf(dir.path()).args(["keys", "--help"])).stdout);
    for cmd in ["create", "list", "revoke"] {
        assert!(keys.contains(cmd), "{keys}");
    }
}

#[test]
fn openapi_prints_the_committed_description() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(linkleaf(dir.path()).arg("openapi"));
    assert!(out.status.success());
    let committed =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json")).unwrap();
    assert!(
        out.stdout == committed,
        "run  cargo run -q -- openapi > openapi.json"
    );
    assert!(
        !dir.path().join("cli.db").exists(),
        "printing the description touches no database"
    );
}

#[test]
fn keys_are_shown_once_listed_without_secrets_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(linkleaf(dir.path()).arg("migrate")).status.success());
    let out = run(linkleaf(dir.path()).args([
        "keys",
        "create",
        "--name",
        "ci",
        "--scopes",
        "profile:read,links:write",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    assert_eq!(token.lines().count(), 1, "stdout holds the key alone");
    assert!(token.starts_with("lk_") && token.len() == 84, "{token}");
    assert!(text(&out.stderr).contains("only time"));

    let list = text(&run(linkleaf(dir.path()).args(["keys", "list"])).stdout);
    assert!(
        list.contains("ci") && list.contains("profile:read links:write") && list.contains("active"),
        "{list}"
    );
    assert!(list.contains(&token[..19]), "the prefix is listed");
    assert!(!list.contains(&token[20..]), "the secret is not");

    assert!(
        run(linkleaf(dir.path()).args(["keys", "revoke", &token[..19]]))
            .status
            .success()
    );
    assert!(text(&run(linkleaf(dir.path()).args(["keys", "list"])).stdout).contains("revoked"));
    let again = run(linkleaf(dir.path()).args(["keys", "revoke", &token[..19]]));
    assert!(!again.status.success());

    let bad = run(linkleaf(dir.path()).args(["keys", "create", "--name", "x", "--scopes", "root"]));
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("--scopes: unknown scope 'root'"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn bad_configuration_fails_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(linkleaf(dir.path())
        .arg("migrate")
        .env("LINKLEAF_CACHE__FRESH_SECS", "forever")
        .env("LINKLEAF_SERVER__LISTEN", "nowhere"));
    assert_eq!(out.status.code(), Some(2));
    let said = text(&out.stderr);
    assert!(
        said.contains("cache.fresh_secs") && said.contains("server.listen"),
        "every bad key at once: {said}"
    );
    // the two freshness keys are no more, and say what replaced them
    let out = run(linkleaf(dir.path())
        .arg("migrate")
        .env("LINKLEAF_CACHE__PROFILE_TTL_SECS", "300"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cache.profile_ttl_secs: is no more: use cache.fresh_secs"),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(
        dir.path().join("linkleaf.toml"),
        "[server]\nlisten = \"127.0.0.1:4000\"\nlsten = 1\n",
    )
    .unwrap();
    let out = run(linkleaf(dir.path()).arg("migrate"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("lsten"), "{}", text(&out.stderr));

    let out = run(linkleaf(dir.path()).args(["--config", "/nonexistent/linkleaf.toml", "migrate"]));
    assert_eq!(out.status.code(), Some(2));

    let defaults = run(linkleaf(dir.path()).arg("default-config"));
    assert!(text(&defaults.stdout).contains("fresh_secs = 120"));
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serve_with_the_demo_then_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = linkleaf(dir.path())
        .args(["serve", "--demo"])
        .env("LINKLEAF_SERVER__LISTEN", "127.0.0.1:0")
        .env("LINKLEAF_SERVER__OPS_LISTEN", "127.0.0.1:0")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let line = rx
            .recv_timeout(deadline - Instant::now())
            .expect("the server announces its address");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let page = http_get(&addr, "/demo");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("Demo Leaf"));
    let json = http_get(&addr, "/api/profiles/demo");
    assert!(json.contains("\"username\":\"demo\""));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // a blocking wait on a child process (this test is not async: `until` does not apply)
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(rest.iter().any(|l| l.contains("drained")), "{rest:?}");
}

#[test]
fn under_a_low_open_file_limit_silent_sockets_lock_no_one_out() {
    const HEADER_TIMEOUT: u64 = 2;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("bash");
    cmd.env("LINKLEAF_SERVER__LISTEN", "127.0.0.1:0")
        .env("LINKLEAF_SERVER__OPS_LISTEN", "127.0.0.1:0")
        .arg("-c")
        .arg(r#"ulimit -Sn 128 && ulimit -Hn 256 && exec "$0" serve --demo"#)
        .arg(env!("CARGO_BIN_EXE_linkleaf"))
        .current_dir(dir.path())
        .env_remove("LINKLEAF_CONFIG")
        .env(
            "LINKLEAF_DATABASE__URL",
            format!("sqlite://{}", dir.path().join("fd.db").display()),
        )
        .env("LINKLEAF_LOG__FILTER", "info")
        .env(
            "LINKLEAF_SERVER__HEADER_TIMEOUT_SECS",
            HEADER_TIMEOUT.to_string(),
        );
    let served = Instance::from_command(cmd);
    let raised = served
        .startup
        .iter()
        .find(|l| l.contains("open-file limit raised"))
        .expect("the raise is logged");
    assert!(
        raised.contains("soft_before=128")
            && raised.contains("soft=256")
            && raised.contains("hard=256"),
        "{raised}"
    );
    let announced = served.startup.last().unwrap();
    let cap: u64 = announced
        .split("at most ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(cap < 256, "the cap leaves descriptors free: {announced}");

    // more silent sockets than the process has descriptors
    let silent: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(&served.addr).unwrap())
        .collect();
    let attack = Instant::now();
    let ready = http_get(&served.ops, "/readyz");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(
        attack.elapsed() < Duration::from_secs(1),
        "/readyz answered at once: {:?}",
        attack.elapsed()
    );
    let page = http_get(&served.addr, "/demo");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let took = attack.elapsed();
    assert!(
        took < Duration::from_secs(2 * HEADER_TIMEOUT + 3),
        "a new client waited {took:?} (header timeout {HEADER_TIMEOUT} s)"
    );
    drop(silent);
    let later: Vec<String> = served.log();
    assert!(!later.iter().any(|l| l.contains("panicked")), "{later:?}");
}

#[test]
fn accounts_made_without_a_password_and_reset_get_a_one_time_link() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        run(linkleaf(dir.path()).args(["accounts", "create", "--email", "grace@example.com"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let link = text(&out.stdout);
    let link = link.trim();
    assert!(
        link.starts_with("http://localhost:3000/invite/") && link.len() > 60,
        "{link}"
    );
    assert!(
        text(&out.stderr).contains("works once"),
        "{}",
        text(&out.stderr)
    );
    // a second account with the email is refused
    let again =
        run(linkleaf(dir.path()).args(["accounts", "create", "--email", "Grace@example.com"]));
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("exists already"),
        "{}",
        text(&again.stderr)
    );

    let reset =
        run(linkleaf(dir.path()).args(["accounts", "reset", "--email", "grace@example.com"]));
    assert!(reset.status.success(), "{}", text(&reset.stderr));
    let other = text(&reset.stdout);
    assert!(other.trim().starts_with("http://localhost:3000/invite/"));
    assert_ne!(other.trim(), link, "a new link each time");
    let unknown =
        run(linkleaf(dir.path()).args(["accounts", "reset", "--email", "nobody@example.com"]));
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("no account"),
        "{}",
        text(&unknown.stderr)
    );
}
