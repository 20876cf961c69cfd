//! The dashboard's own files, served from the binary: its stylesheet, its script and the
//! vendored SortableJS (1.15.6, MIT, unchanged), each at a URL naming its digest
//! (`/dashboard/assets/{name}.{digest}.{ext}`) so it is cached for a year, and each compressed
//! once (brotli and gzip) when first asked for, never per request.
//! Must not: serve a file that is not one of these, or anything from outside the binary.

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
