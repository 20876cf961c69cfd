//! The dashboard's own files, served from the binary: its stylesheet, its script and the
//! vendored SortableJS (1.15.6, MIT, unchanged), each at a URL naming its digest
//! (`/dashboard/assets/{name}.{digest}.{ext}`) so it is cached for a year, and each compressed
//! once (brotli and gzip) when first asked for, never per request. And `compressed`: the
//! dashboard's pages themselves, rendered per request, sent in the coding the browser asks for
//! (an editor with many links is mostly markup that compresses tenfold).
//! Must not: serve a file that is not one of these, or anything from outside the binary; or
//! compress a page that carries a secret (a key's token, an invitation's): BREACH would read it
//! back through the compressed length beside what an attacker makes the page reflect.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use linkleaf_http::variant::Variant;
use std::sync::LazyLock;

pub struct Asset {
    /// `/dashboard/assets/{name}.{digest}.{ext}`
    pub path: String,
    file: Variant,
    content_type: HeaderValue,
}

fn asset(name: &str, ext: &str, body: &'static [u8], content_type: &'static str) -> Asset {
    let file = Variant::new(Bytes::from_static(body));
    let digest: String = file
        .etag
        .to_str()
        .unwrap_or_default()
        .trim_matches('"')
        .chars()
        .take(12)
        .collect();
    Asset {
        path: format!("/dashboard/assets/{name}.{digest}.{ext}"),
        file,
        content_type: HeaderValue::from_static(content_type),
    }
}

pub static CSS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "dashboard",
        "css",
        include_bytes!("../assets/dashboard.css"),
        "text/css; charset=utf-8",
    )
});

pub static JS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "dashboard",
        "js",
        include_bytes!("../assets/dashboard.js"),
        "text/javascript; charset=utf-8",
    )
});

pub static SORTABLE: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "sortable-1.15.6",
        "js",
        include_bytes!("../assets/vendor/sortable-1.15.6.min.js"),
        "text/javascript; charset=utf-8",
    )
});

/// `GET /dashboard/assets/{file}`: one of the files above, in the coding asked for.
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let wanted = format!("/dashboard/assets/{file}");
    for a in [&*CSS, &*JS, &*SORTABLE] {
        if a.path == wanted {
            return linkleaf_http::respond::static_file(
                &headers,
                &a.file,
                a.content_type.clone(),
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
        }
    }
    StatusCode::NOT_FOUND.into_response()
}

/// The largest page `compressed` compresses (larger ones go as they are).
const PAGE_MAX: usize = 4 * 1024 * 1024;

/// Middleware for the dashboard's pages: an HTML answer in brotli or gzip when the request
/// accepts one (`respond::coding`), marked `Vary: accept-encoding`. brotli at level 5 and gzip
/// at 6, as the public pages are made (a 45 KB editor in about a millisecond).
pub async fn compressed(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use axum::http::header;
    use linkleaf_http::respond::{Coding, coding};
    let wanted = coding(req.headers().get(header::ACCEPT_ENCODING));
    let res = next.run(req).await;
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    // a body of unknown or too great a length goes as it is
    let small = axum::body::HttpBody::size_hint(res.body())
        .upper()
        .is_some_and(|n| n <= PAGE_MAX as u64);
    if wanted == Coding::Identity
        || !html
        || !small
        || res.headers().contains_key(header::CONTENT_ENCODING)
    {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, PAGE_MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let (out, name) = match wanted {
        Coding::Br => {
            let mut out = Vec::with_capacity(bytes.len() / 4);
            {
                let mut w = brotli::CompressorWriter::new(
                    &mut out,
                    4096,
                    linkleaf_http::variant::BR_LEVEL,
                    22,
                );
                let _ = std::io::Write::write_all(&mut w, &bytes);
            }
            (out, "br")
        }
        _ => {
            let mut w = flate2::write::GzEncoder::new(
                Vec::with_capacity(bytes.len() / 4),
                flate2::Compression::new(linkleaf_http::variant::GZIP_LEVEL),
            );
            let _ = std::io::Write::write_all(&mut w, &bytes);
            (w.finish().unwrap_or_default(), "gzip")
        }
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    Response::from_parts(parts, axum::body::Body::from(out))
}
