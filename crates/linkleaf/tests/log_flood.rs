//! No client controls the log's size: thousands of refused requests from one client (no key, a
//! bad key, bad JSON, a forged webhook, a route that does not exist) to a real process at its default log level leave a
//! bounded number of lines, every refusal counted in the metrics and what the log's budget held
//! back summed up in a line of its own.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::process::Instance;

const BIN: &str = env!("CARGO_BIN_EXE_linkleaf");

async fn metric(client: &reqwest::Client, url: &str, series: &str) -> f64 {
    let text = client.get(url).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix(series))
        .filter_map(|r| r.rsplit(' ').next())
        .map(|v| v.trim().parse::<f64>().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_refused_requests_leave_a_bounded_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = Instance::start(BIN, dir.path(), &[]);
    let client = reqwest::Client::new();
    // the log from here on (`log()` hands over the lines since its last call)
    let mut lines: Vec<String> = server.log();
    lines.clear();
    const EACH: usize = 800;
    const KINDS: usize = 5;
    let requests = |i: usize| {
        let c = &client;
        let base = server.url("");
        async move {
            let r = match i % KINDS {
                0 => c
                    .post(format!("{base}/api/profiles"))
                    .json(&serde_json::json!({})),
                1 => c
                    .post(format!("{base}/api/profiles"))
                    .bearer_auth("ll_notakey_000000000000000000000000"),
                2 => c
                    .patch(format!("{base}/api/profiles/nobody"))
                    .header("content-type", "application/json")
                    .body("{not json"),
                3 => c.post(format!("{base}/api/nope/{i}")).body("{}"),
                _ => c
                    .post(format!("{base}/api/webhooks"))
                    .header("webhook-id", format!("msg_{i}"))
                    .header("webhook-timestamp", "1")
                    .header("webhook-signature", "v1,Zm9yZ2Vk")
                    .body("{}"),
            };
            r.send().await.unwrap().status().as_u16()
        }
    };
    let mut refused = 0;
    for chunk in (0..KINDS * EACH).collect::<Vec<_>>().chunks(32) {
        let statuses = futures_util::future::join_all(chunk.iter().map(|&i| requests(i))).await;
        refused += statuses.iter().filter(|s| (400..500).contains(*s)).count();
    }
    assert_eq!(refused, KINDS * EACH, "every one refused");
    let ops = server.ops_url("/metrics");
    let counted = metric(&client, &ops, "linkleaf_http_requests_total{").await;
    assert!(counted >= (KINDS * EACH) as f64, "each counted: {counted}");
    let unmatched = metric(
        &client,
        &ops,
        "linkleaf_http_requests_total{route=\"(unmatched)\",method=\"POST\",status=\"4xx\"}",
    )
    .await;
    assert_eq!(
        unmatched, EACH as f64,
        "the requests no route takes are counted too"
    );
    let suppressed = metric(
        &client,
        &ops,
        "linkleaf_log_lines_suppressed_total{level=\"info\"}",
    )
    .await;
    assert!(suppressed > 0.0, "the budget held lines back");
    // one more after the budget refilled: the summary of what was held back comes with it
    linkleaf_testkit::until(
        "the summary line",
        std::time::Duration::from_secs(5),
        || {
            let (requests, got) = (&requests, server.log());
            lines.extend(got);
            let seen = lines.iter().any(|l| l.contains("client errors not logged"));
            async move {
                if seen {
                    return Ok(());
                }
                requests(0).await;
                Err("no summary line yet".to_owned())
            }
        },
    )
    .await;
    lines.extend(server.log());
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    eprintln!(
        "{} requests refused: {} log lines, {bytes} bytes, {suppressed} lines held back",
        KINDS * EACH,
        lines.len()
    );
    assert!(
        lines.len() < 200,
        "the log is bounded: {} lines for {} refused requests",
        lines.len(),
        KINDS * EACH
    );
    assert!(
        lines.iter().all(|l| !l.contains("ll_notakey")),
        "no token is logged"
    );
}

/// A server error is one line: the route's template, the method, the status and its cause
/// together (the cause carried to the request's line by the answer), at `error`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_is_one_line_with_its_route_status_and_cause() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let key = linkleaf_testkit::process::create_key(BIN, dir.path(), &[], "profile:write");
    let server = Instance::start(BIN, dir.path(), &[]);
    let client = reqwest::Client::new();
    let r = client
        .post(server.url("/api/profiles"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"username": "ada", "displayName": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // the stored theme made unreadable behind the server's back (it has not read it yet)
    let db = format!("sqlite://{}/linkleaf.db", dir.path().display());
    let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
    sqlx::query("UPDATE profiles SET theme = '{\"preset\": 7}'")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    server.log();
    for (path, route) in [
        ("/ada", "/{username}"),
        ("/api/profiles/ada", "/api/profiles/{profile}"),
    ] {
        let r = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 500, "{path}");
        let body = r.text().await.unwrap();
        assert!(
            !body.contains("corrupt"),
            "no cause reaches the client: {body}"
        );
        let lines: Vec<String> = linkleaf_testkit::until(
            "the request's line",
            std::time::Duration::from_secs(5),
            || {
                let lines = server.log();
                async move {
                    if lines.iter().any(|l| l.contains("status=500")) {
                        Ok(lines)
                    } else {
                        Err(format!("{lines:?}"))
                    }
                }
            },
        )
        .await;
        let errors: Vec<&String> = lines.iter().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(errors.len(), 1, "one line for one failure: {lines:#?}");
        let line = errors[0];
        for part in [
            format!("route=\"{route}\""),
            "method=GET".to_owned(),
            "status=500".to_owned(),
            "code=\"internal_error\"".to_owned(),
            "stored data is corrupt: theme of".to_owned(),
        ] {
            assert!(line.contains(&part), "{part} in {line}");
        }
    }
}
