//! How answers are built: the cached public answers (prebuilt bytes and headers, in the coding
//! `Accept-Encoding` prefers, `304` for a matching `If-None-Match` or, without one, for an
//! `If-Modified-Since` not older than the page), the friendly HTML pages, the redirect, and the headers every
//! answer of a kind carries; the public routes' paths. Used by the fast path and by the route
//! modules alike, so both give the same answer. Must not: import a route module or the state
//! (it is handed the pieces it needs).

use crate::clicks::Recorder;
use crate::error::AppError;
use crate::render::{RenderedPage, etag_matches, message_page};
use crate::variant::{Encoded, Variant};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
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
                browser_max_age.as_secs(),
                stale_while_revalidate.as_secs(),
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
        Kind::Html => html_security_headers(h, PAGE_CSP),
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

/// The pages' content security policy: no scripts at all, styles from the binary's stylesheet
/// only (a page with a chosen accent carries its own, allowing that style by its hash).
pub const PAGE_CSP: HeaderValue = crate::style::PAGE_CSP;

/// The last path segment after `prefix`, percent-decoded; `None` when it is not UTF-8.
pub fn segment<'a>(path: &'a str, prefix: &str) -> Option<Cow<'a, str>> {
    let raw = path.get(prefix.len()..)?;
    if raw.contains('%') {
        percent_encoding::percent_decode_str(raw).decode_utf8().ok()
    } else {
        Some(Cow::Borrowed(raw))
    }
}

/// A content coding a cached answer is sent in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Br,
    Gzip,
}

const CODINGS: [Coding; 3] = [Coding::Identity, Coding::Br, Coding::Gzip];

/// The coding to answer in, from `Accept-Encoding` (RFC 9110 §12.5.3): brotli or gzip,
/// whichever the client weighs more (`q`; brotli on a tie, being smaller), a coding it does not
/// name taking the weight of `*`; identity when it names neither (or sends no header: most
/// clients that do not say do not decode), or when it names identity with a weight above the
/// coding's (`br;q=0.1, identity`). Identity is sent even when refused (`identity;q=0` with
/// nothing else acceptable): a `406` helps no one reading a page.
pub fn coding(accept: Option<&HeaderValue>) -> Coding {
    let Some(accept) = accept else {
        return Coding::Identity;
    };
    let (mut br, mut gzip, mut any, mut identity) = (None, None, None, None);
    for item in accept.as_bytes().split(|b| *b == b',') {
        let mut parts = item.split(|b| *b == b';');
        let name = parts.next().unwrap_or_default().trim_ascii();
        let q = parts
            .find_map(|p| {
                let p = p.trim_ascii();
                (p.len() > 2 && p[..2].eq_ignore_ascii_case(b"q=")).then(|| qvalue(&p[2..]))
            })
            .unwrap_or(Some(1000));
        let Some(q) = q else { continue };
        if name.eq_ignore_ascii_case(b"br") {
            br = Some(q);
        } else if name.eq_ignore_ascii_case(b"gzip") || name.eq_ignore_ascii_case(b"x-gzip") {
            gzip = Some(q);
        } else if name == b"*" {
            any = Some(q);
        } else if name.eq_ignore_ascii_case(b"identity") {
            identity = Some(q);
        }
    }
    let (br, gzip) = (br.or(any).unwrap_or(0), gzip.or(any).unwrap_or(0));
    let (chosen, weight) = if br > 0 && br >= gzip {
        (Coding::Br, br)
    } else if gzip > 0 {
        (Coding::Gzip, gzip)
    } else {
        return Coding::Identity;
    };
    if identity.is_some_and(|q| q > weight) {
        Coding::Identity
    } else {
        chosen
    }
}

/// A weight, `0` to `1` with at most three decimals, in thousandths; `None` when it is not one.
fn qvalue(v: &[u8]) -> Option<u16> {
    let v = v.trim_ascii();
    let (int, frac) = match v.iter().position(|b| *b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The headers of the cached answers, one map per kind, coding and status (`200`, `304`),
/// built once with every header in place (`Vary: Accept-Encoding` on all, `Content-Encoding`
/// on a compressed one). A hit clones one and sets the entry's own three where their
/// placeholders are, by position, hashing no name: 580–940 instructions less per hit than
/// inserting nine headers into an empty map (BENCHMARKS.md, the page read).
pub struct CachedHeaders {
    maps: [HeaderMap; 12],
    /// `max-age` and `stale-while-revalidate`, in seconds.
    max_age: u64,
    swr: u64,
}

/// The entry's own headers, first in every map, in this order.
const OWN: [&HeaderName; 3] = [&header::ETAG, &header::LAST_MODIFIED, &X_CACHE];

/// `Cache-Control` for a public answer kept `max_age` seconds, then served stale while
/// revalidating for `swr` more (left out when 0).
fn cache_control(max_age: u64, swr: u64) -> HeaderValue {
    let v = if swr == 0 {
        format!("public, max-age={max_age}")
    } else {
        format!("public, max-age={max_age}, stale-while-revalidate={swr}")
    };
    HeaderValue::from_str(&v).unwrap_or(NO_CACHE)
}

impl CachedHeaders {
    pub fn new(max_age: u64, swr: u64) -> Self {
        let cache_control = cache_control(max_age, swr);
        let map = |kind: Kind, coding: Coding, ok: bool| {
            let mut h = HeaderMap::with_capacity(14);
            for name in OWN {
                h.insert(name.clone(), HeaderValue::from_static(""));
            }
            if kind == Kind::Html {
                // the page's own policy, fourth (`security_headers` fills in the default)
                h.insert(header::CONTENT_SECURITY_POLICY, PAGE_CSP);
            }
            if ok {
                h.insert(
                    header::CONTENT_TYPE,
                    if kind == Kind::Html { HTML } else { JSON },
                );
                match coding {
                    Coding::Identity => {}
                    Coding::Br => {
                        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
                    }
                    Coding::Gzip => {
                        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                    }
                }
            }
            h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            h.insert(header::CACHE_CONTROL, cache_control.clone());
            security_headers(&mut h, kind);
            h
        };
        Self {
            maps: std::array::from_fn(|i| {
                let kind = if i / 6 == 0 { Kind::Html } else { Kind::Json };
                map(kind, CODINGS[i / 2 % 3], i % 2 == 0)
            }),
            max_age,
            swr,
        }
    }

    /// `Cache-Control` for an answer that stops being true `end_ms` (ms since the epoch), when
    /// the usual one would let a browser or a shared cache keep it, or serve it stale, past
    /// that: both periods shortened to end at it (whole seconds, rounded down). `None` when
    /// the usual one ends before it.
    pub fn ending_at(&self, end_ms: u64, now_ms: u64) -> Option<HeaderValue> {
        let left = end_ms.saturating_sub(now_ms) / 1000;
        if left >= self.max_age + self.swr {
            return None;
        }
        let max_age = self.max_age.min(left);
        Some(cache_control(max_age, self.swr.min(left - max_age)))
    }

    /// The headers of a `200` (`ok`) or `304` of `kind`, with the entry's `ETag`,
    /// `Last-Modified` and `X-Cache`, and for a page its content security policy. A map yields
    /// its entries in the order they went in (http 1.x; its docs promise only a stable order,
    /// so a test holds it to this one).
    pub fn headers(
        &self,
        kind: Kind,
        coding: Coding,
        ok: bool,
        own: [HeaderValue; 3],
        csp: &HeaderValue,
    ) -> HeaderMap {
        let c = match coding {
            Coding::Identity => 0,
            Coding::Br => 1,
            Coding::Gzip => 2,
        };
        let mut h =
            self.maps[usize::from(kind == Kind::Json) * 6 + c * 2 + usize::from(!ok)].clone();
        let mut slots = h.values_mut();
        // `own` first: a zip asks its left side first, and must not take a fourth slot
        for (value, slot) in own.into_iter().zip(slots.by_ref()) {
            *slot = value;
        }
        if kind == Kind::Html
            && let Some(slot) = slots.next()
        {
            *slot = csp.clone();
        }
        h
    }
}

/// A cached answer in the coding the client prefers: 304 when `If-None-Match` matches that
/// coding's ETag (or, without it, when `If-Modified-Since` is not older than the page), else
/// the prebuilt bytes.
pub fn cached(
    headers: &CachedHeaders,
    req: &Request,
    page: &RenderedPage,
    status: Status,
    kind: Kind,
) -> Response {
    let (v, last_modified) = match kind {
        Kind::Html => (&page.html, &page.last_modified),
        Kind::Json => (&page.json, &page.last_modified),
    };
    let asked = req.headers();
    let (coding, body, etag) = representation(asked, v);
    // If-None-Match decides when it is there (RFC 9110 §13.1.3); else If-Modified-Since
    let fresh = match asked.get(header::IF_NONE_MATCH) {
        Some(inm) => etag_matches(inm.as_bytes(), etag.as_bytes()),
        None => {
            page.last_modified_strong
                && asked
                    .get(header::IF_MODIFIED_SINCE)
                    .is_some_and(|ims| not_modified_since(ims, last_modified))
        }
    };
    let mut h = headers.headers(
        kind,
        coding,
        !fresh,
        [etag.clone(), last_modified.clone(), x_cache(status)],
        &page.csp,
    );
    if let Some(end) = page.expires_at_ms
        && let Some(cc) = headers.ending_at(end, linkleaf_cache::now_ms())
    {
        h.insert(header::CACHE_CONTROL, cc);
    }
    let mut res = if fresh {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(Body::from(body.clone()))
    };
    *res.headers_mut() = h;
    res
}

/// The form of `v` to send, by the request's `Accept-Encoding`: its coding, bytes and ETag.
pub fn representation<'a>(
    asked: &HeaderMap,
    v: &'a Variant,
) -> (Coding, &'a Bytes, &'a HeaderValue) {
    let wanted = coding(asked.get(header::ACCEPT_ENCODING));
    match (wanted, &v.br, &v.gzip) {
        (Coding::Br, Some(Encoded { body, etag }), _)
        | (Coding::Gzip, _, Some(Encoded { body, etag })) => (wanted, body, etag),
        _ => (Coding::Identity, &v.body, &v.etag),
    }
}

/// A file of the binary's (the API description, the reference page's assets) in the coding
/// asked for, with its ETag and `304` for a matching `If-None-Match`.
pub fn static_file(
    asked: &HeaderMap,
    v: &Variant,
    content_type: HeaderValue,
    cache_control: HeaderValue,
) -> Response {
    let (coding, body, etag) = representation(asked, v);
    let fresh = asked
        .get(header::IF_NONE_MATCH)
        .is_some_and(|inm| etag_matches(inm.as_bytes(), etag.as_bytes()));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(Body::from(body.clone()));
        r.headers_mut().insert(header::CONTENT_TYPE, content_type);
        match coding {
            Coding::Identity => {}
            Coding::Br => {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
            }
            Coding::Gzip => {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
        }
        r
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, etag.clone());
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::CACHE_CONTROL, cache_control);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    res
}

/// Whether a page last modified at `last_modified` is not newer than `If-Modified-Since`
/// (any of the three HTTP date forms); an unreadable date is ignored (RFC 9110 §13.1.3).
fn not_modified_since(ims: &HeaderValue, last_modified: &HeaderValue) -> bool {
    let date = |v: &HeaderValue| {
        v.to_str()
            .ok()
            .and_then(|s| httpdate::parse_http_date(s).ok())
    };
    matches!((date(ims), date(last_modified)), (Some(since), Some(lm)) if lm <= since)
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
/// us, 500 when it answered something wrong. The cause rides to the request's log line.
pub fn unavailable_page(prebuilt: &Prebuilt, e: &linkleaf_cache::LoadError) -> Response {
    use linkleaf_cache::LoadErrorKind as K;
    let mut res = unavailable_page_of(prebuilt, e);
    res.extensions_mut().insert(crate::log::Cause {
        code: match e.kind {
            K::Internal => "internal_error",
            K::Unavailable | K::Throttled { .. } => "unavailable",
        },
        detail: e.to_string(),
    });
    res
}

fn unavailable_page_of(prebuilt: &Prebuilt, e: &linkleaf_cache::LoadError) -> Response {
    use linkleaf_cache::LoadErrorKind as K;
    match e.kind {
        K::Internal => html_message(
            StatusCode::INTERNAL_SERVER_ERROR,
            &prebuilt.error_html,
            None,
        ),
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
        rec.view(profile, peer, req.headers(), req.uri().query());
    }
}

#[cfg(test)]
mod tests {
    use super::{CODINGS, CachedHeaders, Coding, Kind, coding, segment};
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
    fn cache_control_never_reaches_past_an_answers_end() {
        let c = CachedHeaders::new(60, 30);
        let now = 1_000_000;
        // far enough: the usual header
        assert_eq!(c.ending_at(now + 90_000, now), None);
        let at = |left_ms| c.ending_at(now + left_ms, now).unwrap();
        // within the stale period: kept the whole max-age, stale only up to the end
        assert_eq!(at(89_999), "public, max-age=60, stale-while-revalidate=29");
        // within max-age: kept to the end (rounded down), never stale
        assert_eq!(at(45_500), "public, max-age=45");
        assert_eq!(at(999), "public, max-age=0");
        assert_eq!(c.ending_at(now - 5, now).unwrap(), "public, max-age=0");
    }

    #[test]
    fn cached_headers_carry_the_entrys_own_values_under_their_names() {
        let c = CachedHeaders::new(60, 0);
        let v = HeaderValue::from_static;
        for (kind, coding, ok) in [Kind::Html, Kind::Json]
            .into_iter()
            .flat_map(|k| CODINGS.into_iter().map(move |c| (k, c)))
            .flat_map(|(k, c)| [true, false].map(|ok| (k, c, ok)))
        {
            {
                let h = c.headers(
                    kind,
                    coding,
                    ok,
                    [v("\"e1\""), v("Tue, 01 Dec 2026 00:00:00 GMT"), v("STALE")],
                    &v("style-src 'self' 'sha256-x'"),
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
                assert_eq!(h.get(header::VARY).unwrap(), "accept-encoding");
                assert_eq!(
                    h.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap()),
                    match (ok, coding) {
                        (true, Coding::Br) => Some("br"),
                        (true, Coding::Gzip) => Some("gzip"),
                        _ => None,
                    },
                    "{coding:?}"
                );
                assert_eq!(
                    h.get(header::CONTENT_SECURITY_POLICY)
                        .map(|v| v.to_str().unwrap()),
                    (kind == Kind::Html).then_some("style-src 'self' 'sha256-x'"),
                    "the page's own policy, in its place"
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

    #[test]
    fn accept_encoding_is_weighed_as_rfc_9110_says() {
        let c = |s: &'static str| coding(Some(&HeaderValue::from_static(s)));
        assert_eq!(coding(None), Coding::Identity, "no header: identity");
        assert_eq!(c(""), Coding::Identity);
        assert_eq!(c("gzip, deflate, br, zstd"), Coding::Br, "a browser");
        assert_eq!(c("gzip"), Coding::Gzip);
        assert_eq!(c("x-gzip"), Coding::Gzip);
        assert_eq!(
            c("GZIP;Q=0.5"),
            Coding::Gzip,
            "names and q are case-insensitive"
        );
        assert_eq!(c("br;q=0.5, gzip"), Coding::Gzip, "the heavier wins");
        assert_eq!(c("br;q=0.8, gzip;q=0.8"), Coding::Br, "brotli on a tie");
        assert_eq!(c("br;q=0, gzip;q=0"), Coding::Identity, "both refused");
        assert_eq!(c("*"), Coding::Br, "anything: the smallest");
        assert_eq!(
            c("*;q=0.5, br;q=0"),
            Coding::Gzip,
            "* weighs what is not named"
        );
        assert_eq!(c("*;q=0"), Coding::Identity);
        assert_eq!(c("identity"), Coding::Identity);
        assert_eq!(
            c("br;q=0.1, identity"),
            Coding::Identity,
            "identity weighed above brotli"
        );
        assert_eq!(
            c("gzip;q=0.4, identity;q=0.5, br;q=0.2"),
            Coding::Identity,
            "identity weighed above either"
        );
        assert_eq!(
            c("identity;q=0.5, gzip"),
            Coding::Gzip,
            "identity weighed below"
        );
        assert_eq!(
            c("gzip, identity"),
            Coding::Gzip,
            "a tie goes to the coding"
        );
        assert_eq!(
            c("identity;q=0, gzip;q=0"),
            Coding::Identity,
            "identity rather than 406"
        );
        assert_eq!(
            c("deflate, compress"),
            Coding::Identity,
            "only codings we make count"
        );
        assert_eq!(
            c("br;q=1.5, gzip"),
            Coding::Gzip,
            "an impossible weight is ignored"
        );
        assert_eq!(
            c("br;q=0.0001, gzip;q=0.5"),
            Coding::Gzip,
            "more than three decimals"
        );
        assert_eq!(c("br;q=0.001"), Coding::Br);
        assert_eq!(c(" br ; q=1.000 , gzip"), Coding::Br, "spaces around parts");
    }
}
