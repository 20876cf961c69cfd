//! `/favicon.ico`, `/apple-touch-icon.png` and `/robots.txt` (see `site`): answered from bytes
//! held since start, with a strong ETag, `304` to a matching `If-None-Match`, and a day's
//! caching. Must not: read a file.

use crate::site::StaticFile;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const A_DAY: HeaderValue = HeaderValue::from_static("public, max-age=86400");

fn answer(req: &Request, f: &StaticFile) -> Response {
    let matches = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == f.etag
        });
    let mut res = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = f.bytes.clone().into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, f.content_type.clone());
        r
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, f.etag.clone());
    h.insert(header::CACHE_CONTROL, A_DAY);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// The site's icon
#[utoipa::path(get, path = "/favicon.ico", operation_id = "favicon", tag = "site",
    responses(
        (status = 200, description = "The icon (`server.favicon_file`, or linkleaf's)", content_type = "image/x-icon", body = Vec<u8>),
        (status = 304, description = "Not modified (`If-None-Match`)"),
    ))]
pub async fn favicon(State(st): State<AppState>, req: Request) -> Response {
    answer(&req, &st.site.favicon)
}

/// The icon a phone puts on its home screen
#[utoipa::path(get, path = "/apple-touch-icon.png", operation_id = "touchIcon", tag = "site",
    responses(
        (status = 200, description = "A 180×180 PNG", content_type = "image/png", body = Vec<u8>),
        (status = 304, description = "Not modified (`If-None-Match`)"),
    ))]
pub async fn touch_icon(State(st): State<AppState>, req: Request) -> Response {
    answer(&req, &st.site.touch_icon)
}

/// What crawlers may read
#[utoipa::path(get, path = "/robots.txt", operation_id = "robots", tag = "site",
    responses(
        (status = 200, description = "`server.robots_file`, or: pages allowed, `/api/` and `/r/` disallowed", content_type = "text/plain", body = String),
        (status = 304, description = "Not modified (`If-None-Match`)"),
    ))]
pub async fn robots(State(st): State<AppState>, req: Request) -> Response {
    answer(&req, &st.site.robots)
}
