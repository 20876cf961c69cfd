//! Recording clicks and views from requests, and the redirect targets `/r/{link}` serves (as
//! the link cache holds them; their origins are the binary's).
//!
//! A click is written to the spool before its 302 leaves (`Recorder::click` waits for the
//! frame that holds it); a view is handed over without waiting. A hit carries the client's
//! address (see `client.rs`) only as far as the spool's writer, which turns it into a visitor
//! hash and a country. A click the spool refuses (full) is counted and its redirect answered
//! anyway: a person following a link is never turned away.

use crate::client::TrustedProxies;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use linkleaf_cache::Weigh;
use linkleaf_events::event::{Hit, Kind};
use linkleaf_events::spool::Spool;
use metrics::Counter;
use std::net::IpAddr;
use uuid::Uuid;

/// Where `/r/{link}` sends a visitor, as the link cache holds it.
pub struct Redirect {
    pub profile: Uuid,
    /// The link's URL, ready to be the `Location` header.
    pub location: HeaderValue,
    /// Shown to the public now: enabled and within its window (a link not shown does not
    /// redirect).
    pub enabled: bool,
    /// When that changes by itself (the link's next boundary, or its page's), ms since the
    /// epoch.
    pub expires_at_ms: Option<u64>,
}

impl Weigh for Redirect {
    /// The `Location` text (its own allocation); the cache adds the rest.
    fn weight(&self) -> u32 {
        self.location.len() as u32 + 16
    }
    fn expires_at_ms(&self) -> Option<u64> {
        self.expires_at_ms
    }
}

/// Turns requests into hits for the spool.
pub struct Recorder {
    spool: Spool,
    proxies: TrustedProxies,
    geo_header: Option<HeaderName>,
    refused: Counter,
}

impl Recorder {
    pub fn new(
        spool: Spool,
        proxies: TrustedProxies,
        geo_header: Option<HeaderName>,
        recorder: &dyn metrics::Recorder,
    ) -> Self {
        let refused = metrics::with_local_recorder(recorder, || {
            metrics::counter!("linkleaf_clicks_unrecorded_total")
        });
        Self {
            spool,
            proxies,
            geo_header,
            refused,
        }
    }

    /// Who the client of a request from `peer` with `headers` is (`server.trusted_proxies`).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        self.proxies.client(peer, headers)
    }

    pub fn hit(
        &self,
        kind: Kind,
        profile: Uuid,
        link: Option<Uuid>,
        peer: IpAddr,
        headers: &HeaderMap,
        head: bool,
    ) -> Hit {
        Hit {
            kind,
            profile,
            link,
            at_ms: linkleaf_domain::unix_millis(linkleaf_domain::now_millis()) as u64,
            client: self.proxies.client(peer, headers),
            user_agent: headers.get(header::USER_AGENT).cloned(),
            referer: headers.get(header::REFERER).cloned(),
            geo: self
                .geo_header
                .as_ref()
                .and_then(|h| headers.get(h))
                .cloned(),
            head,
        }
    }

    /// Records a click; returns once it is written (or refused, which is counted).
    pub async fn click(&self, hit: Hit) {
        if let Err(e) = self.spool.click(hit).await {
            self.refused.increment(1);
            tracing::debug!(error = %e, "a click was not recorded");
        }
    }

    /// Records a view of `profile`'s page by the request's client (no `Hit`: a view keeps only
    /// its page, client, user agent, minute and source: `view_source` of `query`).
    pub fn view(&self, profile: Uuid, peer: IpAddr, headers: &HeaderMap, query: Option<&str>) {
        let client = self.proxies.client(peer, headers);
        let ua = headers
            .get(header::USER_AGENT)
            .map_or(&b""[..], HeaderValue::as_bytes);
        let source = query.and_then(linkleaf_domain::analytics::view_source);
        self.spool
            .view(profile, client, ua, source.as_deref().unwrap_or(""));
    }
}
