//! The one outbound connector: a name is resolved once (by an injectable `Resolve`, so tests
//! never need public DNS), every address it gives is checked against the `AddressPolicy`, and
//! the connection is made to a checked address, never after a second resolution, so a name
//! that answers one way for the check and another for the connection (DNS rebinding) cannot
//! slip past. A literal address in the URL is checked the same way. Trusted destinations (the
//! operator's `origin.upstream_url`) go without a policy. Must not: send anything (the client
//! does, over what this connects).

use crate::policy::{AddressPolicy, Refusal};
use async_trait::async_trait;
use hyper::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;

/// Turns a host name into addresses.
#[async_trait]
pub trait Resolve: Send + Sync + 'static {
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The system's resolver (`getaddrinfo`, on a blocking thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

#[async_trait]
impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, 0))
            .await?
            .map(|a| a.ip())
            .collect())
    }
}

/// Why a destination could not be connected to.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the destination is refused: {0}")]
    Refused(Refusal),
    #[error("cannot resolve {host}: {why}")]
    Resolve { host: String, why: String },
    #[error("{0}")]
    Other(String),
}

/// Where a URL may lead: the policy (none for trusted destinations) and the resolver names go
/// through.
#[derive(Clone)]
pub struct Destinations {
    policy: Option<Arc<AddressPolicy>>,
    resolver: Arc<dyn Resolve>,
}

impl std::fmt::Debug for Destinations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destinations")
            .field("policy", &self.policy)
            .finish()
    }
}

/// How long resolving a name may take when a URL is checked as it is given.
pub const CHECK_RESOLVE_TIMEOUT: Duration = Duration::from_secs(1);

/// The host of a URI without IPv6 brackets, and its port (the scheme's default if none).
fn host_port(uri: &Uri) -> Option<(&str, u16)> {
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    Some((host, port))
}

impl Destinations {
    /// Destinations that users supply: checked against `policy`.
    pub fn checked(policy: AddressPolicy, resolver: Arc<dyn Resolve>) -> Self {
        Self {
            policy: Some(Arc::new(policy)),
            resolver,
        }
    }

    /// Destinations the operator configured: not checked.
    pub fn trusted() -> Self {
        Self {
            policy: None,
            resolver: Arc::new(SystemResolver),
        }
    }

    /// The checked addresses of `host`: every address it resolves to must pass the policy.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, ConnectError> {
        let addrs = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => self
                .resolver
                .resolve(host)
                .await
                .map_err(|e| ConnectError::Resolve {
                    host: host.to_owned(),
                    why: e.to_string(),
                })?,
        };
        if addrs.is_empty() {
            return Err(ConnectError::Resolve {
                host: host.to_owned(),
                why: "no address".into(),
            });
        }
        if let Some(p) = &self.policy {
            for a in &addrs {
                p.check(*a).map_err(ConnectError::Refused)?;
            }
        }
        Ok(addrs)
    }

    /// A URL as it is given (a subscription): a literal address, or a name that resolves within
    /// `CHECK_RESOLVE_TIMEOUT`, must lead to allowed addresses; a name that does not resolve
    /// (yet) passes, and is checked again at each connection.
    pub async fn check_url(&self, url: &str) -> Result<(), Refusal> {
        let Ok(uri) = url.parse::<Uri>() else {
            return Ok(());
        };
        let Some((host, _)) = host_port(&uri) else {
            return Ok(());
        };
        match tokio::time::timeout(CHECK_RESOLVE_TIMEOUT, self.addresses(host)).await {
            Ok(Err(ConnectError::Refused(r))) => Err(r),
            _ => Ok(()),
        }
    }

    /// The connector for a client over these destinations.
    pub(crate) fn connector(&self, connect_timeout: Duration) -> GuardedConnector {
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.set_nodelay(true);
        GuardedConnector {
            destinations: self.clone(),
            tcp,
        }
    }
}

/// A TCP connector that connects only to checked addresses (see the module's header).
#[derive(Clone)]
pub struct GuardedConnector {
    destinations: Destinations,
    tcp: HttpConnector,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for GuardedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let me = self.clone();
        Box::pin(async move {
            let (host, port) =
                host_port(&uri).ok_or_else(|| ConnectError::Other(format!("no host in {uri}")))?;
            let addrs = me.destinations.addresses(host).await?;
            let mut last: Option<BoxError> = None;
            for a in addrs {
                // an address, not a name: the connector resolves nothing again
                let to: Uri = format!("http://{}", SocketAddr::new(a, port))
                    .parse()
                    .map_err(|e| ConnectError::Other(format!("{e}")))?;
                let mut tcp = me.tcp.clone();
                match tower_service::Service::call(&mut tcp, to).await {
                    Ok(s) => return Ok(s),
                    Err(e) => last = Some(Box::new(e)),
                }
            }
            Err(last.unwrap_or_else(|| Box::new(ConnectError::Other("no address".into()))))
        })
    }
}
