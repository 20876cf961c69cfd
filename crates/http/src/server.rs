//! The accept loop and the life of each connection. linkleaf runs its own serve loop because
//! `axum::serve` has no timers (hyper's header-read timeout never fires and idle keep-alive
//! connections live forever) and no cap on connections, so one client could hold every file
//! descriptor.
//!
//! Each connection is always in one phase, and one deadline applies to it:
//! - reading a request head: `header_timeout`, from the first byte (from the accept, for the
//!   first request), so trickled headers are cut;
//! - serving a request: `request_timeout`, from when the head reached the service, so a trickled
//!   body or a stuck handler cannot hold the connection;
//! - idle between requests, which includes writing the last answer to a client that does not
//!   read it: `idle_timeout`, from the last answer.
//!
//! One timer per connection enforces all three. It is re-armed lazily when it fires (at most one
//! `header_timeout` ahead), never per request: a request costs two atomic stores and two clock
//! reads. At most `max_connections` connections are served; one more client may be accepted and
//! wait for a slot (the rest wait in the kernel's backlog, costing no file descriptor) while idle
//! keep-alive connections are asked to close to make room for it. Running out of descriptors
//! (`EMFILE`) is survived the same way.
//!
//! Must not: know about routes, or close a connection whose request is within its deadlines
//! except when the process stops (graceful: the request finishes first).

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use metrics::{Counter, Gauge};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long each phase of a connection may last, and how many connections may be open.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
}

/// A listener's counters, registered once.
#[derive(Clone)]
pub struct ServerMetrics {
    open: Gauge,
    accepted: Counter,
    timeouts: [Counter; 3],
    shed: Counter,
    at_capacity: Counter,
    accept_errors: Counter,
}

impl ServerMetrics {
    pub fn register(recorder: &dyn metrics::Recorder, listener: &'static str) -> Self {
        metrics::with_local_recorder(recorder, || {
            let timeout = |phase: &'static str| metrics::counter!("linkleaf_connection_timeouts_total", "listener" => listener, "phase" => phase);
            Self {
                open: metrics::gauge!("linkleaf_connections_open", "listener" => listener),
                accepted: metrics::counter!("linkleaf_connections_accepted_total", "listener" => listener),
                timeouts: [timeout("idle"), timeout("header"), timeout("request")],
                shed: metrics::counter!("linkleaf_connections_shed_total", "listener" => listener),
                at_capacity: metrics::counter!("linkleaf_connections_at_capacity_total", "listener" => listener),
                accept_errors: metrics::counter!("linkleaf_accept_errors_total", "listener" => listener),
            }
        })
    }
}

const IDLE: u64 = 0;
const HEAD: u64 = 1;
const BUSY: u64 = 2;

/// A connection's phase and when it began, packed in one word: milliseconds since the server's
/// epoch in the high bits, the phase in the low two.
struct Phase {
    packed: AtomicU64,
    epoch: Instant,
}

impl Phase {
    fn new(phase: u64, epoch: Instant) -> Self {
        let p = Self {
            packed: AtomicU64::new(0),
            epoch,
        };
        p.set(phase);
        p
    }

    fn now_ms(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.epoch)
            .as_millis() as u64
    }

    fn set(&self, phase: u64) {
        self.packed
            .store(self.now_ms() << 2 | phase, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.packed.load(Ordering::Relaxed) & 3
    }

    /// The phase and the instant at which it has lasted too long.
    fn deadline(&self, l: &Limits) -> (u64, Instant) {
        let packed = self.packed.load(Ordering::Relaxed);
        let (since, phase) = (packed >> 2, packed & 3);
        let allowed = match phase {
            HEAD => l.header_timeout,
            BUSY => l.request_timeout,
            _ => l.idle_timeout,
        };
        (phase, self.epoch + Duration::from_millis(since) + allowed)
    }
}

/// The socket, noting when the first byte of a request arrives on an idle connection.
struct Watched {
    io: TcpStream,
    phase: Arc<Phase>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(())))
            && buf.filled().len() > before
            && self.phase.get() == IDLE
        {
            self.phase.set(HEAD);
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The application's service as hyper drives it: busy from the call until the answer is ready
/// (or the call is dropped), idle again after.
struct Tracked<S> {
    inner: S,
    phase: Arc<Phase>,
}

/// Marks the connection idle when the request's future completes or is dropped.
struct Busy(Arc<Phase>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.set(IDLE);
    }
}

pin_project_lite::pin_project! {
    struct TrackedFuture<F> {
        #[pin]
        fut: F,
        busy: Busy,
    }
}

impl<F: Future> Future for TrackedFuture<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().fut.poll(cx)
    }
}

impl<S> hyper::service::Service<hyper::Request<Incoming>> for Tracked<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TrackedFuture<S::Future>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        self.phase.set(BUSY);
        // The services served here are always ready (the fast path and axum's router), so
        // `poll_ready` is not consulted.
        let mut svc = self.inner.clone();
        TrackedFuture {
            fut: svc.call(req.map(Body::new)),
            busy: Busy(self.phase.clone()),
        }
    }
}

/// What the accept loop can tell a connection: stop (the server is draining) or, if idle, make
/// room for a waiting client. Polled by the connection's task without any lock.
struct Control {
    phase: Arc<Phase>,
    flags: AtomicU8,
    waker: futures_util::task::AtomicWaker,
}

const STOP: u8 = 1;
const SHED: u8 = 2;

impl Control {
    fn signal(&self, flag: u8) {
        self.flags.fetch_or(flag, Ordering::AcqRel);
        self.waker.wake();
    }

    fn poll_flags(&self, cx: &mut Context<'_>) -> Poll<u8> {
        self.waker.register(cx.waker());
        match self.flags.swap(0, Ordering::AcqRel) {
            0 => Poll::Pending,
            f => Poll::Ready(f),
        }
    }
}

/// The open connections, so the loop can signal them.
#[derive(Default)]
struct Registry {
    conns: Mutex<slab::Slab<Arc<Control>>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, slab::Slab<Arc<Control>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks every idle connection to close; returns how many were asked.
    fn shed_idle(&self) -> usize {
        let conns = self.lock();
        let mut n = 0;
        for (_, c) in conns.iter() {
            if c.phase.get() == IDLE {
                c.signal(SHED);
                n += 1;
            }
        }
        n
    }

    fn stop_all(&self) {
        for (_, c) in self.lock().iter() {
            c.signal(STOP);
        }
    }
}

/// Serves `listener` until `stop` is cancelled, then stops accepting and lets every connection
/// finish its request (a graceful shutdown); returns when all have closed. Dropping the future
/// closes whatever is still open. `make` builds the service for a connection from its peer's
/// address.
pub async fn serve<M, S>(
    listener: TcpListener,
    make: M,
    limits: Limits,
    stop: CancellationToken,
    metrics: ServerMetrics,
) where
    M: Fn(SocketAddr) -> S,
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let registry = Arc::new(Registry::default());
    let epoch = Instant::now();
    let mut conns = JoinSet::new();
    let mut last_error_log: Option<Instant> = None;
    'accept: loop {
        while conns.try_join_next().is_some() {}
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = stop.cancelled() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of descriptors or buffers: make room, and do not spin.
                metrics.accept_errors.increment(1);
                let now = Instant::now();
                if last_error_log.is_none_or(|t| now.duration_since(t) > Duration::from_secs(5)) {
                    tracing::warn!(error = %e, open = limits.max_connections - slots.available_permits(), "cannot accept connections");
                    last_error_log = Some(now);
                }
                metrics.shed.increment(registry.shed_idle() as u64);
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        // Full: this client (the only one accepted beyond the cap) waits for a slot, and idle
        // keep-alive connections are asked to make room, again as others become idle.
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                metrics.at_capacity.increment(1);
                loop {
                    metrics.shed.increment(registry.shed_idle() as u64);
                    tokio::select! {
                        p = slots.clone().acquire_owned() => match p {
                            Ok(p) => break p,
                            Err(_) => break 'accept,
                        },
                        () = tokio::time::sleep(Duration::from_millis(100)) => {}
                        () = stop.cancelled() => break 'accept,
                    }
                }
            }
        };
        metrics.accepted.increment(1);
        let svc = make(peer);
        conns.spawn(connection(
            tcp,
            svc,
            limits.clone(),
            epoch,
            registry.clone(),
            metrics.clone(),
            permit,
        ));
    }
    drop(listener);
    registry.stop_all();
    while conns.join_next().await.is_some() {}
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

async fn connection<S>(
    tcp: TcpStream,
    svc: S,
    limits: Arc<Limits>,
    epoch: Instant,
    registry: Arc<Registry>,
    metrics: ServerMetrics,
    _permit: OwnedSemaphorePermit,
) where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    // Answers are written whole, in one writev: there is nothing for Nagle to coalesce, only
    // a delayed-ACK stall to risk.
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY");
    }
    metrics.open.increment(1.0);
    // The first request's head is due `header_timeout` after the accept.
    let phase = Arc::new(Phase::new(HEAD, epoch));
    let control = Arc::new(Control {
        phase: phase.clone(),
        flags: AtomicU8::new(0),
        waker: Default::default(),
    });
    let slot = registry.lock().insert(control.clone());
    let io = TokioIo::new(Watched {
        io: tcp,
        phase: phase.clone(),
    });
    let svc = Tracked {
        inner: svc,
        phase: phase.clone(),
    };
    let mut conn = pin!(
        hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            // deadlines are enforced below, without hyper's per-request timer
            .header_read_timeout(None)
            .serve_connection(io, svc)
    );
    let mut timer = pin!(tokio::time::sleep(limits.header_timeout));
    let mut closing = false;
    let mut flags = std::future::poll_fn(|cx| control.poll_flags(cx));
    loop {
        tokio::select! {
            biased;
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            () = timer.as_mut() => {
                let now = Instant::now();
                let (which, deadline) = phase.deadline(&limits);
                if now >= deadline {
                    metrics.timeouts[which as usize].increment(1);
                    break;
                }
                timer.as_mut().reset(deadline.min(now + limits.header_timeout));
            }
            f = &mut flags, if !closing => {
                // A stop always closes; a request to make room only while still idle.
                if f & STOP != 0 || phase.get() == IDLE {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
    registry.lock().remove(slot);
    metrics.open.decrement(1.0);
}
