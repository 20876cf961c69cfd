//! The hot read path: `GET /{username}` (HTML) and `GET /api/profiles/{username}` (JSON).
//!
//! A hit copies prebuilt bytes and headers out of the cache: no serialization, no database, no
//! new body. Handlers take the whole `Request` (cheaper than extracting a cloned `HeaderMap`)
//! and read the name from the path without allocating when it is already lowercase.
//! Must not: touch the database on a hit, or allocate a body per request.

use crate::client::Peer;
use crate::cold::Admit;
use crate::error::AppError;
use crate::profiles;
use crate::respond::{
    API_PROFILES, HTML, Kind, NO_CACHE, PAGE_CSP, cached, html_message, html_security_headers,
    json_not_found, record_view, segment, unavailable_page,
};
use crate::responses::{CacheStatus, Forbidden, NotFound, RateLimited, Unauthorized, Unavailable};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use linkleaf_domain::{Profile, Username};
use linkleaf_store::ProfileRef;

/// The public page of a profile
///
/// Themed, mobile-first HTML with the enabled links in order, OpenGraph and Twitter tags; a
/// friendly page when no profile has the name. Served from cache (`X-Cache`), with an `ETag`
/// answering `If-None-Match`.
#[utoipa::path(get, path = "/{username}", operation_id = "getPage", tag = "public",
    params(("username" = String, Path, description = "A username, in any case", min_length = 3, max_length = 30, pattern = "@username")),
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
        return html_message(StatusCode::NOT_FOUND, &st.prebuilt.not_found_html, None);
    };
    match cold_miss(&st, &req, &key) {
        Admit::Go => {}
        Admit::Missing => {
            return html_message(StatusCode::NOT_FOUND, &st.prebuilt.not_found_html, None);
        }
        Admit::Limited(wait) => {
            return unavailable_page(
                &st.prebuilt,
                &linkleaf_cache::LoadError::throttled(wait, "too many names never seen"),
            );
        }
    }
    match st.pages.get(&key).await {
        Ok(read) => match read.entry.value() {
            Some(p) => {
                let res = cached(
                    &st.prebuilt.cached_headers,
                    &req,
                    p,
                    read.status,
                    Kind::Html,
                );
                if let (Some(owner), Some(Peer(peer))) =
                    (read.entry.owner(), req.extensions().get::<Peer>())
                {
                    record_view(st.recorder.as_ref(), &req, peer.ip(), owner, res.status());
                }
                res
            }
            None => html_message(
                StatusCode::NOT_FOUND,
                &st.prebuilt.not_found_html,
                Some(read.status),
            ),
        },
        Err(e) => unavailable_page(&st.prebuilt, &e),
    }
}

/// Read a profile
///
/// By username, no key needed: the public profile, enabled links only, served from cache
/// (`X-Cache`) with an `ETag` answering `If-None-Match`. By id, with a `profile:read` key: the
/// whole profile, disabled links included, never cached.
#[utoipa::path(get, path = "/api/profiles/{profile}", operation_id = "getProfile", tag = "public",
    params(("profile" = String, Path, description = "A username (any case), or a profile id (UUID, needs a key)", pattern = r"^[A-Za-z0-9_.-]+$")),
    security((), ("api_key" = ["profile:read"]), ("session" = [])),
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
            return read_by_id(&st, req.headers(), id).await.into_response();
        }
        Some(ProfileRef::Key(key)) => key,
        None => return json_not_found(&name, None),
    };
    match cold_miss(&st, &req, &key) {
        Admit::Go => {}
        Admit::Missing => return json_not_found(&name, None),
        Admit::Limited(wait) => {
            return AppError::from(linkleaf_cache::LoadError::throttled(
                wait,
                "too many names never seen",
            ))
            .into_response();
        }
    }
    match st.pages.get(&key).await {
        Ok(read) => match read.entry.value() {
            Some(p) => cached(
                &st.prebuilt.cached_headers,
                &req,
                p,
                read.status,
                Kind::Json,
            ),
            None => json_not_found(&name, Some(read.status)),
        },
        Err(e) => AppError::from(e).into_response(),
    }
}

/// On an edge, what a read of `key` that the cache does not hold may do (`crate::cold`); reads
/// of what it holds, and every read on an origin, go.
fn cold_miss(st: &AppState, req: &Request, key: &str) -> Admit {
    let Some(cold) = st.cold.as_deref() else {
        return Admit::Go;
    };
    if st.pages.holds(key) {
        return Admit::Go;
    }
    let Some(Peer(peer)) = req.extensions().get::<Peer>() else {
        return Admit::Go;
    };
    cold.admit(key, st.client(peer.ip(), req.headers()))
}

/// What this server is
#[utoipa::path(get, path = "/", operation_id = "index", tag = "meta",
    responses((status = 200, description = "A short HTML page", content_type = "text/html", body = String)))]
pub async fn index() -> Response {
    #[derive(askama::Template)]
    #[template(path = "index.html")]
    struct Index {
        stylesheet: &'static str,
    }
    static INDEX: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        askama::Template::render(&Index {
            stylesheet: &crate::style::stylesheet().path,
        })
        .unwrap_or_default()
    });
    let mut res = (
        [
            (header::CONTENT_TYPE, HTML),
            (header::CACHE_CONTROL, NO_CACHE),
        ],
        INDEX.as_str(),
    )
        .into_response();
    html_security_headers(res.headers_mut(), PAGE_CSP);
    res
}

/// Anything no route matched: a problem under `/api/`, the friendly page elsewhere.
pub async fn fallback(State(st): State<AppState>, req: Request) -> Response {
    if req.uri().path().starts_with("/api/") || req.uri().path() == "/api" {
        AppError::NoRoute.into_response()
    } else {
        html_message(StatusCode::NOT_FOUND, &st.prebuilt.not_found_html, None)
    }
}

pub async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

/// `GET /api/profiles/{id}` with a key: the whole profile, disabled links included.
async fn read_by_id(
    st: &AppState,
    headers: &axum::http::HeaderMap,
    id: uuid::Uuid,
) -> Result<Response, AppError> {
    if st.settings.edge {
        return Err(AppError::EdgeMode);
    }
    crate::access::Who::find(st, &axum::http::Method::GET, headers)
        .await?
        .on(
            st,
            id,
            linkleaf_access::table::Action::Scope(linkleaf_domain::Scope::ProfileRead),
        )
        .await?;
    let p = st
        .stores
        .profiles
        .profile_by_id(id)
        .await?
        .ok_or_else(|| AppError::not_found_profile(&id.to_string()))?;
    Ok(profiles::profile_json(StatusCode::OK, &p))
}
