//! HTTP stand-ins a test owns: `Stand` is a server on 127.0.0.1 that records every request it
//! gets (method, path, headers, body, when) and answers as the test says, switchable while it
//! runs — as a webhook receiver (answer 200, fail, hang, redirect, ask to slow down) or as an
//! origin's stand-in in front of a real one (forward, or answer 429/503/garbage instead).
//! Also: the reference Python `standardwebhooks` package, for interoperability tests.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the stand answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// This status, empty body.
    Status(u16),
    /// 429 with `Retry-After: secs`.
    TooMany(u64),
    /// The first `n` requests get `status`, the rest 200.
    FailFirst(usize, u16),
    /// Never answers (the connection stays open).
    Hang,
    /// 302 to this URL.
    Redirect(String),
    /// Forwards to this base URL (`http://127.0.0.1:port`) and answers what it answers.
    Forward(String),
    /// 200 with this body as JSON.
    Body(String),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

struct Inner {
    answer: Mutex<Answer>,
    seen: Mutex<Vec<Seen>>,
    client: reqwest::Client,
}

pub struct Stand {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

/// Every answer closes its connection: a client keeps no connection to the stand alive, so
/// once the stand is dropped (its listener closed) the next request is refused, as from a
/// server that went away, instead of reaching a connection task that outlived the listener.
async fn handle(state: State<Arc<Inner>>, req: Request) -> Response {
    let mut r = answer(state, req).await;
    r.headers_mut().insert(
        axum::http::header::CONNECTION,
        HeaderValue::from_static("close"),
    );
    r
}

async fn answer(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 4 << 20)
        .await
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/".into(), |p| p.as_str().to_owned());
    let n = {
        let mut seen = inner.seen.lock().expect("seen");
        seen.push(Seen {
            method: parts.method.clone(),
            path: path.clone(),
            headers: parts.headers.clone(),
            body: body.clone(),
            at: Instant::now(),
        });
        seen.len()
    };
    let answer = inner.answer.lock().expect("answer").clone();
    match answer {
        Answer::Status(s) => StatusCode::from_u16(s)
            .unwrap_or(StatusCode::OK)
            .into_response(),
        Answer::TooMany(secs) => {
            let mut r = StatusCode::TOO_MANY_REQUESTS.into_response();
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
            r
        }
        Answer::FailFirst(k, s) => {
            if n <= k {
                StatusCode::from_u16(s)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                    .into_response()
            } else {
                StatusCode::OK.into_response()
            }
        }
        Answer::Hang => {
            std::future::pending::<()>().await;
            StatusCode::OK.into_response()
        }
        Answer::Redirect(to) => {
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&to) {
                r.headers_mut().insert("location", v);
            }
            r
        }
        Answer::Body(b) => ([("content-type", "application/json")], b).into_response(),
        Answer::Forward(base) => {
            let mut rb = inner
                .client
                .request(parts.method.clone(), format!("{base}{path}"))
                .body(body);
            for (k, v) in &parts.headers {
                if k != "host" {
                    rb = rb.header(k, v);
                }
            }
            match rb.send().await {
                Ok(r) => {
                    let status = r.status();
                    let headers = r.headers().clone();
                    let bytes = r.bytes().await.unwrap_or_default();
                    let mut out = (status, bytes).into_response();
                    for (k, v) in &headers {
                        if k != "content-length" && k != "transfer-encoding" {
                            out.headers_mut().insert(k, v.clone());
                        }
                    }
                    out
                }
                Err(_) => StatusCode::BAD_GATEWAY.into_response(),
            }
        }
    }
}

impl Stand {
    pub async fn start(answer: Answer) -> Self {
        let inner = Arc::new(Inner {
            answer: Mutex::new(answer),
            seen: Mutex::new(Vec::new()),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inner, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn set(&self, answer: Answer) {
        *self.inner.answer.lock().expect("answer") = answer;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.seen.lock().expect("seen").clone()
    }

    pub fn count(&self) -> usize {
        self.inner.seen.lock().expect("seen").len()
    }

    pub fn clear(&self) {
        self.inner.seen.lock().expect("seen").clear();
    }

    /// Waits until at least `n` requests came (within `within`); returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Seen> {
        let deadline = Instant::now() + within;
        loop {
            let seen = self.seen();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} requests reached the stand within {within:?}: {:#?}",
                seen.len(),
                seen.iter()
                    .map(|s| (&s.method, &s.path))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Stand {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A Python interpreter with the reference `standardwebhooks` package (installed by
/// `scripts/venv`, which `scripts/test` runs first): `LINKLEAF_TEST_PYTHON`, else the
/// workspace's `.venv`. `None` (after saying so, or failing under CI) when there is none.
pub fn python_standardwebhooks() -> Option<std::path::PathBuf> {
    let py = std::env::var_os("LINKLEAF_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
        });
    let ok = std::process::Command::new(&py)
        .args(["-c", "import standardwebhooks"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Some(py)
    } else {
        crate::services::missing(
            "the Python standardwebhooks package",
            format!("{} cannot import it; run scripts/venv", py.display()),
        );
        None
    }
}

/// Runs `script` with the reference package; its standard output, or a panic with its errors.
pub fn python(py: &std::path::Path, script: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}
