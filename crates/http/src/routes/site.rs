//! `/favicon.ico`, `/apple-touch-icon.png` and `/robots.txt` (see `site`): answered from bytes
//! held since start, with a strong ETag, `304` to a matching `If-None-Match`, and a day's
//! caching; and the pages' stylesheet (see `style`), under a URL that changes with it, cached
//! for a year. Must not: read a file.

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
        .any(|v| crate::render::etag_matches(v.as_bytes(), f.etag.as_bytes()));
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

const A_YEAR: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");

/// The pages' stylesheet
#[utoipa::path(get, path = "/static/{file}", operation_id = "stylesheet", tag = "site",
    params(("file" = String, Path, description = "`page.{digest}.css`, as the pages name it")),
    responses(
        (status = 200, description = "The stylesheet (brotli or gzip as asked), cached for a year: its URL names its digest", content_type = "text/css", body = String),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 404, description = "No such file (an older stylesheet's URL, say)", content_type = "text/html", body = String),
    ))]
pub async fn stylesheet(State(st): State<AppState>, req: Request) -> Response {
    let sheet = crate::style::stylesheet();
    if req.uri().path() != sheet.path {
        return crate::respond::html_message(
            StatusCode::NOT_FOUND,
            &st.prebuilt.not_found_html,
            None,
        );
    }
    let mut res = crate::respond::static_file(
        req.headers(),
        &sheet.file,
        HeaderValue::from_static("text/css; charset=utf-8"),
        A_YEAR,
    );
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}
