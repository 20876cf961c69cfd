//! No client controls the log's size: thousands of refused requests from one client (no key, a
//! bad key, bad JSON, a forged webhook) to a real process at its default log level leave a
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
    const EACH: usize = 1_000;
    let requests = |i: usize| {
        let c = &client;
        let base = server.url("");
        async move {
            let r = match i % 4 {
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
    for chunk in (0..4 * EACH).collect::<Vec<_>>().chunks(32) {
        let statuses = futures_util::future::join_all(chunk.iter().map(|&i| requests(i))).await;
        refused += statuses.iter().filter(|s| (400..500).contains(*s)).count();
    }
    assert_eq!(refused, 4 * EACH, "every one refused");
    let ops = server.ops_url("/metrics");
    let counted = metric(&client, &ops, "linkleaf_http_requests_total{").await;
    assert!(counted >= (4 * EACH) as f64, "each counted: {counted}");
    let suppressed = metric(
        &client,
        &ops,
        "linkleaf_log_lines_suppressed_total{level=\"info\"}",
    )
    .await;
    assert!(suppressed > 0.0, "the budget held lines back");
    // one more after the budget refilled: the summary of what was held back comes with it
    let wait = std::time::Instant::now();
    loop {
        requests(0).await;
        lines.extend(server.log());
        if lines.iter().any(|l| l.contains("client errors not logged")) {
            break;
        }
        assert!(
            wait.elapsed() < std::time::Duration::from_secs(5),
            "no summary line"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    lines.extend(server.log());
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    eprintln!(
        "{} requests refused: {} log lines, {bytes} bytes, {suppressed} lines held back",
        4 * EACH,
        lines.len()
    );
    assert!(
        lines.len() < 200,
        "the log is bounded: {} lines for {} refused requests",
        lines.len(),
        4 * EACH
    );
    assert!(
        lines.iter().all(|l| !l.contains("ll_notakey")),
        "no token is logged"
    );
}
