//! How answers are built: the cached public answers (prebuilt bytes and headers, `304` for a
//! matching `If-None-Match`), the friendly HTML pages, the redirect, and the headers every
//! answer of a kind carries; the public routes' paths. Used by the fast path and by the route
//! modules alike, so both give the same answer. Must not: import a route module or the state
//! (it is handed the pieces it needs).

use crate::clicks::Recorder;
use crate::error::AppError;
use crate::render::{Variant, etag_matches, message_page};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use linkleaf_cache::Status;
use std::borrow::Cow;

/// The public routes, as templates (metrics labels) and as the prefixes the fast path matches.
pub const PAGE_ROUTE: &str = "/{username}";
pub const PROFILE_ROUTE: &str = "/api/profiles/{profile}";
pub const REDIRECT_ROUTE: &str = "/r/{link}";
pub const API_PROFILES: &str = "/api/profiles/";
pub const REDIRECT_PREFIX: &str = "/r/";

/// A link's key in the link cache: its id, hyphenated and lowercase, written into `buf`.
pub fn link_key<'a>(id: &uuid::Uuid, buf: &'a mut [u8; 36]) -> &'a str {
    id.hyphenated().encode_lower(buf)
}

/// Headers and bodies that never change while the process runs.
pub struct Prebuilt {
    pub cached_headers: CachedHeaders,
    pub not_found_html: bytes::Bytes,
    pub unavailable_html: bytes::Bytes,
    pub error_html: bytes::Bytes,
}

impl Prebuilt {
    /// With `Cache-Control: public, max-age=.., stale-while-revalidate=..` on public answers.
    pub fn new(
        browser_max_age: std::time::Duration,
        stale_while_revalidate: std::time::Duration,
    ) -> Self {
        Self {
            cached_headers: CachedHeaders::new(
                HeaderValue::from_str(&format!(
                    "public, max-age={}, stale-while-revalidate={}",
                    browser_max_age.as_secs(),
                    stale_while_revalidate.as_secs()
                ))
                .unwrap_or(HeaderValue::from_static("no-cache")),
            ),
            not_found_html: message_page(
                "Nothing here",
                "No linkleaf page lives at this address. Check the spelling of the name.",
            ),
            unavailable_html: message_page(
                "Back in a moment",
                "This page cannot be loaded right now. Please try again shortly.",
            ),
            error_html: message_page(
                "Something went wrong",
                "This page cannot be shown because of an error on our side. It has been logged.",
            ),
        }
    }
}

pub static X_CACHE: HeaderName = HeaderName::from_static("x-cache");
const HIT: HeaderValue = HeaderValue::from_static("HIT");
const MISS: HeaderValue = HeaderValue::from_static("MISS");
const STALE: HeaderValue = HeaderValue::from_static("STALE");
pub const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'",
);
const REFERRER_POLICY: HeaderValue = HeaderValue::from_static("strict-origin-when-cross-origin");
pub const ANY_ORIGIN: HeaderValue = HeaderValue::from_static("*");
pub const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

pub fn x_cache(s: Status) -> HeaderValue {
    match s {
        Status::Hit => HIT,
        Status::Miss => MISS,
        Status::Stale => STALE,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Html,
    Json,
}

pub fn security_headers(h: &mut axum::http::HeaderMap, kind: Kind) {
    match kind {
        Kind::Html => html_security_headers(h, CSP),
        Kind::Json => {
            h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
        }
    }
}

/// What every HTML answer carries, whatever route made it: `nosniff`, the referrer policy, and
/// a content security policy (the profile page's, unless the page needs its own, as the API
/// reference does for its scripts).
pub fn html_security_headers(h: &mut axum::http::HeaderMap, csp: HeaderValue) {
    h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(header::REFERRER_POLICY, REFERRER_POLICY);
}

/// The profile page's content security policy: no scripts at all.
pub const PAGE_CSP: HeaderValue = CSP;

/// The last path segment after `prefix`, percent-decoded; `None` when it is not UTF-8.
pub fn segment<'a>(path: &'a str, prefix: &str) -> Option<Cow<'a, str>> {
    let raw = path.get(prefix.len()..)?;
    if raw.contains('%') {
        percent_encoding::percent_decode_str(raw).decode_utf8().ok()
    } else {
        Some(Cow::Borrowed(raw))
    }
}

/// The headers of the cached answers, one map per kind and status (`200`, `304`), built once
/// with every header in place. A hit clones one and sets the entry's own three where their
/// placeholders are, by position, hashing no name: 580–940 instructions less per hit than
/// inserting nine headers into an empty map (BENCHMARKS.md, the page read).
pub struct CachedHeaders {
    maps: [HeaderMap; 4],
}

/// The entry's own headers, first in every map, in this order.
const OWN: [&HeaderName; 3] = [&header::ETAG, &header::LAST_MODIFIED, &X_CACHE];

impl CachedHeaders {
    pub fn new(cache_control: HeaderValue) -> Self {
        let map = |kind: Kind, ok: bool| {
            let mut h = HeaderMap::with_capacity(12);
            for name in OWN {
                h.insert(name.clone(), HeaderValue::from_static(""));
            }
            if ok {
                h.insert(
                    header::CONTENT_TYPE,
                    if kind == Kind::Html { HTML } else { JSON },
                );
            }
            h.insert(header::CACHE_CONTROL, cache_control.clone());
            security_headers(&mut h, kind);
            h
        };
        Self {
            maps: [
                map(Kind::Html, true),
                map(Kind::Html, false),
                map(Kind::Json, true),
                map(Kind::Json, false),
            ],
        }
    }

    /// The headers of a `200` (`ok`) or `304` of `kind`, with the entry's `ETag`,
    /// `Last-Modified` and `X-Cache`. A map yields its entries in the order they went in
    /// (http 1.x; its docs promise only a stable order, so a test holds it to this one).
    pub fn headers(&self, kind: Kind, ok: bool, own: [HeaderValue; 3]) -> HeaderMap {
        let mut h = self.maps[usize::from(kind == Kind::Json) * 2 + usize::from(!ok)].clone();
        for (slot, value) in h.values_mut().zip(own) {
            *slot = value;
        }
        h
    }
}

/// A cached answer: 304 when `If-None-Match` matches, else the prebuilt bytes.
pub fn cached(
    headers: &CachedHeaders,
    req: &Request,
    v: &Variant,
    last_modified: &HeaderValue,
    status: Status,
    kind: Kind,
) -> Response {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|inm| etag_matches(inm.as_bytes(), v.etag.as_bytes()));
    let h = headers.headers(
        kind,
        !fresh,
        [v.etag.clone(), last_modified.clone(), x_cache(status)],
    );
    let mut res = if fresh {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(Body::from(v.body.clone()))
    };
    *res.headers_mut() = h;
    res
}

pub fn html_message(status: StatusCode, body: &bytes::Bytes, cache: Option<Status>) -> Response {
    let mut res = Response::new(Body::from(body.clone()));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HTML);
    h.insert(header::CACHE_CONTROL, NO_CACHE);
    if let Some(s) = cache {
        h.insert(X_CACHE.clone(), x_cache(s));
    }
    security_headers(h, Kind::Html);
    res
}

const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// `302` to a link's URL. Never `301`: browsers would keep it and skip us, and repeat clicks
/// would go uncounted; `no-store` for the same reason.
pub fn redirect(location: &HeaderValue) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::FOUND;
    let h = res.headers_mut();
    h.insert(header::LOCATION, location.clone());
    h.insert(header::CACHE_CONTROL, NO_STORE);
    h.insert(header::REFERRER_POLICY, REFERRER_POLICY);
    res
}

/// A profile that is not there, with the public read's headers.
pub fn json_not_found(name: &str, cache: Option<Status>) -> Response {
    let mut res = AppError::not_found_profile(name).into_response();
    if let Some(s) = cache {
        res.headers_mut().insert(X_CACHE.clone(), x_cache(s));
    }
    res.headers_mut()
        .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
    res
}

/// The page for a failed load: 503 with `Retry-After` when the origin is unreachable or limits
/// us, 500 when it answered something wrong.
pub fn unavailable_page(prebuilt: &Prebuilt, e: &linkleaf_cache::LoadError) -> Response {
    use linkleaf_cache::LoadErrorKind as K;
    match e.kind {
        K::Internal => {
            tracing::error!(cause = %e, "page load failed");
            html_message(
                StatusCode::INTERNAL_SERVER_ERROR,
                &prebuilt.error_html,
                None,
            )
        }
        K::Unavailable | K::Throttled { .. } => {
            let mut res = html_message(
                StatusCode::SERVICE_UNAVAILABLE,
                &prebuilt.unavailable_html,
                None,
            );
            let secs = e.retry_after().as_secs_f64().ceil().max(1.0) as u64;
            res.headers_mut()
                .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
            res
        }
    }
}

/// Records a view of a profile's page when this answer is one: a `GET` of the HTML page
/// answered `200` or `304` (a browser revalidating is a person looking again). A `HEAD` is a
/// monitor's check, not a view. Never makes the answer wait.
pub fn record_view(
    recorder: Option<&Recorder>,
    req: &Request,
    peer: std::net::IpAddr,
    profile: uuid::Uuid,
    status: StatusCode,
) {
    let Some(rec) = recorder else {
        return;
    };
    if req.method() == axum::http::Method::GET
        && (status == StatusCode::OK || status == StatusCode::NOT_MODIFIED)
    {
        rec.view(profile, peer, req.headers());
    }
}

#[cfg(test)]
mod tests {
    use super::{CachedHeaders, Kind, segment};
    use axum::http::{HeaderValue, header};

    #[test]
    fn segments_decode_percent_escapes_and_refuse_bad_utf8() {
        assert_eq!(segment("/alice", "/").as_deref(), Some("alice"));
        assert_eq!(segment("/al%69ce", "/").as_deref(), Some("alice"));
        assert_eq!(segment("/%2e%2e%2fetc", "/").as_deref(), Some("../etc"));
        assert_eq!(segment("/%ff", "/"), None);
        assert_eq!(
            segment("/api/profiles/bob", "/api/profiles/").as_deref(),
            Some("bob")
        );
    }

    #[test]
    fn cached_headers_carry_the_entrys_own_values_under_their_names() {
        let c = CachedHeaders::new(HeaderValue::from_static("public, max-age=60"));
        let v = HeaderValue::from_static;
        for kind in [Kind::Html, Kind::Json] {
            for ok in [true, false] {
                let h = c.headers(
                    kind,
                    ok,
                    [v("\"e1\""), v("Tue, 01 Dec 2026 00:00:00 GMT"), v("STALE")],
                );
                assert_eq!(h.get(header::ETAG).unwrap(), "\"e1\"");
                assert_eq!(
                    h.get(header::LAST_MODIFIED).unwrap(),
                    "Tue, 01 Dec 2026 00:00:00 GMT"
                );
                assert_eq!(h.get("x-cache").unwrap(), "STALE");
                assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "public, max-age=60");
                assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
                assert_eq!(h.contains_key(header::CONTENT_TYPE), ok);
                assert_eq!(
                    h.contains_key(header::CONTENT_SECURITY_POLICY),
                    kind == Kind::Html
                );
                assert_eq!(
                    h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
                    kind == Kind::Json
                );
                // each header once
                assert_eq!(h.len(), h.keys_len());
            }
        }
    }
}
