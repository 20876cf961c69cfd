//! The one outbound HTTP client: HTTP/1.1 over TCP or TLS (rustls with the system's roots),
//! every request bounded by a deadline, every body by a size, and redirects never followed
//! (hyper's client does not follow them: a `3xx` is an answer like any other), connecting only
//! where its `Destinations` allow (`connect`: URLs users supply reach public addresses only).
//! Used by the edge's origin client and by the webhook dispatcher, so a receiver or an upstream
//! can neither hold a connection open for ever nor send linkleaf somewhere else.

use crate::connect::{Destinations, GuardedConnector};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client as Hyper;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// What an exchange came to.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot connect or send: {0}")]
    Connect(String),
    #[error("the answer's body: {0}")]
    Body(String),
    #[error("bad request: {0}")]
    Request(String),
}

#[derive(Clone)]
pub struct Client {
    inner: Hyper<hyper_rustls::HttpsConnector<GuardedConnector>, Full<Bytes>>,
    max_body: usize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("max_body", &self.max_body)
            .finish()
    }
}

impl Client {
    /// A client to the operator's own destinations (not checked), whose connections are made
    /// within `connect_timeout` and whose answers' bodies are read up to `max_body` bytes.
    pub fn new(connect_timeout: Duration, max_body: usize) -> Result<Self, SendError> {
        Self::to(Destinations::trusted(), connect_timeout, max_body)
    }

    /// A client that connects only where `destinations` allow.
    pub fn to(
        destinations: Destinations,
        connect_timeout: Duration,
        max_body: usize,
    ) -> Result<Self, SendError> {
        let tcp = destinations.connector(connect_timeout);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .map_err(|e| SendError::Connect(format!("TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let inner = Hyper::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(8)
            .build(https);
        Ok(Self { inner, max_body })
    }

    /// Sends one request and reads its answer, all within `timeout`.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<Answer, SendError> {
        self.exchange(method, url, headers, body, timeout, true)
            .await
    }

    /// As `send`, for a caller that needs the status and headers only: the answer's body is
    /// not read (a receiver's long or slow `2xx` body cannot turn it into a failure).
    pub async fn send_head_only(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<Answer, SendError> {
        self.exchange(method, url, headers, body, timeout, false)
            .await
    }

    async fn exchange(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
        timeout: Duration,
        read_body: bool,
    ) -> Result<Answer, SendError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| SendError::Request(format!("{url}: {e}")))?;
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| SendError::Request(e.to_string()))?;
        let exchange = async {
            let res = self
                .inner
                .request(req)
                .await
                .map_err(|e| SendError::Connect(error_chain(&e)))?;
            let (parts, body) = res.into_parts();
            let body = if read_body {
                Limited::new(body, self.max_body)
                    .collect()
                    .await
                    .map_err(|e| SendError::Body(e.to_string()))?
                    .to_bytes()
            } else {
                Bytes::new()
            };
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| SendError::Timeout(timeout))?
    }
}

/// An error with its causes, for the log and the attempt record (hyper's top-level message is
/// just "client error").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
