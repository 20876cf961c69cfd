//! Connections from clients that do not play fair: trickled headers, trickled bodies, silent and
//! idle sockets, more connections than the cap. Each deadline is shown to close the connection
//! within a window around it (never before it, never much after), and the server to keep
//! answering everyone else.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_testkit::TestApp;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER: u64 = 1;
const IDLE: u64 = 3;
const REQUEST: u64 = 2;

async fn app(max_connections: usize) -> TestApp {
    TestApp::spawn_with(|c| {
        c.server.header_timeout = std::time::Duration::from_secs(HEADER);
        c.server.idle_timeout = std::time::Duration::from_secs(IDLE);
        c.server.request_timeout = std::time::Duration::from_secs(REQUEST);
        c.server.max_connections = max_connections;
    })
    .await
}

/// Reads until the peer closes (EOF or reset); returns everything read.
async fn until_closed(s: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .expect("the server closed the connection before the test's limit");
    all
}

/// Reads one whole answer without a body length we care about: up to the end of its head and
/// `content-length` bytes after.
async fn read_answer(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let len = text[..head_end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= head_end + 4 + len {
                return text;
            }
        }
    }
}

async fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .await
        .unwrap();
    read_answer(&mut s).await
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_headers_are_cut_at_the_header_timeout() {
    let app = app(0).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let start = Instant::now();
    s.write_all(b"GET /api/profiles/nobody HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let (mut rd, mut wr) = s.into_split();
    // one header line every 150 ms, for longer than any deadline here
    let trickle = tokio::spawn(async move {
        for i in 0..100 {
            if wr
                .write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    });
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(HEADER + 3), rd.read(&mut buf))
        .await
        .expect("cut within the header timeout");
    let took = start.elapsed();
    assert!(matches!(n, Ok(0) | Err(_)), "closed, not answered");
    assert!(
        secs(took) >= HEADER as f64 - 0.1 && secs(took) < HEADER as f64 + 1.5,
        "cut after {took:?}, header timeout {HEADER} s"
    );
    trickle.abort();
    assert_eq!(
        app.metric(r#"linkleaf_connection_timeouts_total{listener="main",phase="header"}"#)
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_cut_at_the_header_timeout() {
    let app = app(0).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let start = Instant::now();
    until_closed(&mut s, Duration::from_secs(HEADER + 3)).await;
    let took = start.elapsed();
    assert!(
        secs(took) >= HEADER as f64 - 0.1 && secs(took) < HEADER as f64 + 1.5,
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_close_at_the_idle_timeout_not_before() {
    let app = app(0).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    for _ in 0..3 {
        s.write_all(b"GET /api/profiles/nobody HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let answer = read_answer(&mut s).await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    }
    let idle_since = Instant::now();
    let rest = until_closed(&mut s, Duration::from_secs(IDLE + 3)).await;
    let took = idle_since.elapsed();
    assert!(rest.is_empty());
    assert!(
        secs(took) >= IDLE as f64 - 0.1 && secs(took) < IDLE as f64 + 1.5,
        "an idle keep-alive connection lasted {took:?}; idle timeout {IDLE} s, header timeout {HEADER} s"
    );
    assert_eq!(
        app.metric(r#"linkleaf_connection_timeouts_total{listener="main",phase="idle"}"#)
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_at_the_request_timeout() {
    let app = app(0).await;
    let key = app.root_key().await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let start = Instant::now();
    s.write_all(
        format!(
            "POST /api/profiles HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let (mut rd, mut wr) = s.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if wr.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    });
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(REQUEST + 3), rd.read(&mut buf))
        .await
        .expect("cut within the request timeout");
    let took = start.elapsed();
    assert!(matches!(n, Ok(0) | Err(_)));
    assert!(
        secs(took) >= REQUEST as f64 - 0.1 && secs(took) < REQUEST as f64 + 1.5,
        "{took:?}"
    );
    trickle.abort();
    assert_eq!(
        app.metric(r#"linkleaf_connection_timeouts_total{listener="main",phase="request"}"#)
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_new_clients_wait_for_slow_ones_to_be_cut_and_ops_keeps_answering() {
    const CAP: usize = 4;
    let app = app(CAP).await;
    // fill every slot with silent sockets
    let mut silent = Vec::new();
    for _ in 0..CAP + 6 {
        silent.push(TcpStream::connect(app.addr).await.unwrap());
    }
    let attack = Instant::now();
    // the operations listener is not affected
    let r = tokio::time::timeout(
        Duration::from_millis(500),
        app.client
            .get(format!("http://{}/readyz", app.ops_addr))
            .send(),
    )
    .await
    .expect("/readyz answers at once while the main listener is full")
    .unwrap();
    assert_eq!(r.status(), 200);
    // a new client is answered once the silent ones are cut at the header timeout
    let answer = get(app.addr, "/api/profiles/nobody").await;
    let took = attack.elapsed();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(
        secs(took) < HEADER as f64 * 2.0 + 2.0,
        "answered after {took:?}"
    );
    assert!(
        app.metric(r#"linkleaf_connections_at_capacity_total{listener="main"}"#)
            .await
            >= 1.0
    );
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_idle_keep_alive_connections_make_room() {
    const CAP: usize = 4;
    let app = TestApp::spawn_with(|c| {
        c.server.max_connections = CAP;
        // long enough that only shedding can explain a prompt answer
        c.server.idle_timeout = std::time::Duration::from_secs(60);
        c.server.header_timeout = std::time::Duration::from_secs(30);
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..CAP {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        s.write_all(b"GET /api/profiles/nobody HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        read_answer(&mut s).await;
        idle.push(s);
    }
    let start = Instant::now();
    let answer = get(app.addr, "/api/profiles/nobody").await;
    assert!(answer.starts_with("HTTP/1.1 404"));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(
        app.metric(r#"linkleaf_connections_shed_total{listener="main"}"#)
            .await
            >= 1.0
    );
    // the shed connections were closed cleanly, between requests
    let mut closed = 0;
    for mut s in idle {
        let mut b = [0u8; 16];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(500), s.read(&mut b)).await {
            closed += 1;
        }
    }
    assert!(closed >= 1, "at least one idle connection made room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_progress_is_not_shed_and_the_waiting_client_follows_it() {
    let app = TestApp::spawn_with(|c| {
        c.server.max_connections = 1;
        c.server.idle_timeout = std::time::Duration::from_secs(60);
    })
    .await;
    let key = app.root_key().await;
    app.create_profile(&key, serde_json::json!({"username": "slowpoke"}))
        .await;
    app.store
        .delay_ms
        .store(800, std::sync::atomic::Ordering::SeqCst);
    let addr = app.addr;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /slowpoke HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    while app.origin_reads() == 0 {
        tokio::task::yield_now().await;
    }
    // the one slot is busy: this client waits, and the busy request is not disturbed
    let start = Instant::now();
    let waiting = tokio::spawn(async move { get(addr, "/api/profiles/nobody").await });
    let answer = read_answer(&mut busy).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // once it is idle, the busy connection makes room for the waiting client
    let second = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting client is served once the slot is idle")
        .unwrap();
    assert!(second.starts_with("HTTP/1.1 404"), "{second}");
    assert!(start.elapsed() < Duration::from_secs(5));
    let rest = until_closed(&mut busy, Duration::from_secs(2)).await;
    assert!(rest.is_empty(), "closed between requests, after its answer");
}
