//! The hot read path: `GET /{username}` (HTML) and `GET /api/profiles/{username}` (JSON).
//!
//! A hit copies prebuilt bytes and headers out of the cache: no serialization, no database, no
//! new body. Handlers take the whole `Request` (cheaper than extracting a cloned `HeaderMap`)
//! and read the name from the path without allocating when it is already lowercase.

use crate::error::AppError;
use crate::openapi::{CacheStatus, Forbidden, NotFound, RateLimited, Unauthorized, Unavailable};
use crate::render::{Variant, etag_matches};
use crate::routes::admin;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use linkleaf_cache::Status;
use linkleaf_domain::{Profile, Username};
use linkleaf_store::ProfileRef;
use std::borrow::Cow;

pub const API_PROFILES: &str = "/api/profiles/";

static X_CACHE: HeaderName = HeaderName::from_static("x-cache");
const HIT: HeaderValue = HeaderValue::from_static("HIT");
const MISS: HeaderValue = HeaderValue::from_static("MISS");
const STALE: HeaderValue = HeaderValue::from_static("STALE");
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'",
);
const REFERRER_POLICY: HeaderValue = HeaderValue::from_static("strict-origin-when-cross-origin");
const ANY_ORIGIN: HeaderValue = HeaderValue::from_static("*");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

fn x_cache(s: Status) -> HeaderValue {
    match s {
        Status::Hit => HIT,
        Status::Miss => MISS,
        Status::Stale => STALE,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Html,
    Json,
}

fn security_headers(h: &mut axum::http::HeaderMap, kind: Kind) {
    h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    match kind {
        Kind::Html => {
            h.insert(header::CONTENT_SECURITY_POLICY, CSP);
            h.insert(header::REFERRER_POLICY, REFERRER_POLICY);
        }
        Kind::Json => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
        }
    }
}

/// The last path segment after `prefix`, percent-decoded; `None` when it is not UTF-8.
pub(crate) fn segment<'a>(path: &'a str, prefix: &str) -> Option<Cow<'a, str>> {
    let raw = path.get(prefix.len()..)?;
    if raw.contains('%') {
        percent_encoding::percent_decode_str(raw).decode_utf8().ok()
    } else {
        Some(Cow::Borrowed(raw))
    }
}

/// A cached answer: 304 when `If-None-Match` matches, else the prebuilt bytes.
pub(crate) fn cached(
    st: &AppState,
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
    // Sized once: inserting into an empty map would grow it twice on the way to nine headers.
    let mut h = HeaderMap::with_capacity(12);
    let mut res = if fresh {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        h.insert(
            header::CONTENT_TYPE,
            if kind == Kind::Html { HTML } else { JSON },
        );
        Response::new(Body::from(v.body.clone()))
    };
    h.insert(header::ETAG, v.etag.clone());
    h.insert(header::LAST_MODIFIED, last_modified.clone());
    h.insert(
        header::CACHE_CONTROL,
        st.prebuilt().public_cache_control.clone(),
    );
    h.insert(X_CACHE.clone(), x_cache(status));
    security_headers(&mut h, kind);
    *res.headers_mut() = h;
    res
}

fn html_message(status: StatusCode, body: &bytes::Bytes, cache: Option<Status>) -> Response {
    let mut res = Response::new(Body::from(body.clone()));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HTML);
    h.insert(header::CACHE_CONTROL, NO_CACHE);
    if let Some(s) = cache {
        h.insert(X_CACHE.clone(), x_cache(s));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    security_headers(h, Kind::Html);
    res
}

/// The public page of a profile
///
/// Themed, mobile-first HTML with the enabled links in order, OpenGraph and Twitter tags; a
/// friendly page when no profile has the name. Served from cache (`X-Cache`), with an `ETag`
/// answering `If-None-Match`.
#[utoipa::path(get, path = "/{username}", operation_id = "getPage", tag = "public",
    params(("username" = String, Path, description = "A username, in any case", min_length = 3, max_length = 30, pattern = r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String, headers(
            ("ETag" = String, description = "Strong validator of this page"),
            ("Last-Modified" = String, description = "When the profile last changed"),
            ("Cache-Control" = String, description = "`public, max-age=.., stale-while-revalidate=..`"),
            ("X-Cache" = CacheStatus, description = "Where the answer came from"))),
        (status = 304, description = "Not modified: the `If-None-Match` ETag is current", headers(
            ("ETag" = String), ("X-Cache" = CacheStatus))),
        (status = 404, description = "No profile has this name", content_type = "text/html", body = String),
        (status = 503, description = "The store cannot be reached and the page is not cached",
            content_type = "text/html", body = String,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn page(State(st): State<AppState>, req: Request) -> Response {
    let name = segment(req.uri().path(), "/");
    let Some(key) = name.as_deref().and_then(Username::lookup_key) else {
        return html_message(StatusCode::NOT_FOUND, &st.prebuilt().not_found_html, None);
    };
    match st.pages().get(&key).await {
        Ok(read) => match read.entry.value() {
            Some(p) => cached(
                &st,
                &req,
                &p.html,
                &p.last_modified,
                read.status,
                Kind::Html,
            ),
            None => html_message(
                StatusCode::NOT_FOUND,
                &st.prebuilt().not_found_html,
                Some(read.status),
            ),
        },
        Err(_) => html_message(
            StatusCode::SERVICE_UNAVAILABLE,
            &st.prebuilt().unavailable_html,
            None,
        ),
    }
}

/// A profile that is not there, with the public read's headers.
fn json_not_found(name: &str, cache: Option<Status>) -> Response {
    let mut res = AppError::not_found_profile(name).into_response();
    if let Some(s) = cache {
        res.headers_mut().insert(X_CACHE.clone(), x_cache(s));
    }
    res.headers_mut()
        .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
    res
}

/// Read a profile
///
/// By username, no key needed: the public profile, enabled links only, served from cache
/// (`X-Cache`) with an `ETag` answering `If-None-Match`. By id, with a `profile:read` key: the
/// whole profile, disabled links included, never cached.
#[utoipa::path(get, path = "/api/profiles/{profile}", operation_id = "getProfile", tag = "public",
    params(("profile" = String, Path, description = "A username (any case), or a profile id (UUID, needs a key)", pattern = r"^[A-Za-z0-9_.-]+$")),
    security((), ("api_key" = ["profile:read"])),
    responses(
        (status = 200, description = "The profile", body = Profile, headers(
            ("ETag" = String, description = "Strong validator of this JSON (public reads)"),
            ("Last-Modified" = String, description = "When the profile last changed (public reads)"),
            ("Cache-Control" = String, description = "`public, ...` for public reads, `no-store` by id"),
            ("X-Cache" = CacheStatus, description = "Where the answer came from (public reads)"))),
        (status = 304, description = "Not modified: the `If-None-Match` ETag is current", headers(
            ("ETag" = String), ("X-Cache" = CacheStatus))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ))]
pub async fn profile_json(State(st): State<AppState>, req: Request) -> Response {
    let Some(name) = segment(req.uri().path(), API_PROFILES) else {
        return AppError::not_found_profile("").into_response();
    };
    let key = match ProfileRef::parse(&name) {
        Some(ProfileRef::Id(id)) => {
            return admin::read_by_id(&st, req.headers(), id)
                .await
                .into_response();
        }
        Some(ProfileRef::Key(key)) => key,
        None => return json_not_found(&name, None),
    };
    match st.pages().get(&key).await {
        Ok(read) => match read.entry.value() {
            Some(p) => cached(
                &st,
                &req,
                &p.json,
                &p.last_modified,
                read.status,
                Kind::Json,
            ),
            None => json_not_found(&name, Some(read.status)),
        },
        Err(e) => AppError::Unavailable(e.to_string()).into_response(),
    }
}

/// What this server is
#[utoipa::path(get, path = "/", operation_id = "index", tag = "meta",
    responses((status = 200, description = "A short HTML page", content_type = "text/html", body = String)))]
pub async fn index() -> Response {
    const INDEX: &str = include_str!("../../templates/index.html");
    (
        [
            (header::CONTENT_TYPE, HTML),
            (header::CACHE_CONTROL, NO_CACHE),
        ],
        INDEX,
    )
        .into_response()
}

/// Anything no route matched: a problem under `/api/`, the friendly page elsewhere.
pub async fn fallback(State(st): State<AppState>, req: Request) -> Response {
    if req.uri().path().starts_with("/api/") || req.uri().path() == "/api" {
        AppError::NoRoute.into_response()
    } else {
        html_message(StatusCode::NOT_FOUND, &st.prebuilt().not_found_html, None)
    }
}

pub async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::segment;

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
}
