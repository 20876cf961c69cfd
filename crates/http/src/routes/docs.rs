//! The API description (`/api/openapi.json`) and its reference page (`/api/docs`), whose Swagger
//! UI assets are compiled into the binary: no CDN, the page works offline. Each is answered in
//! the coding asked for with its ETag: the brotli and gzip forms of the large assets and of the
//! description are committed beside them (`examples/compress_assets.rs`, with the description's
//! ETag, so forms of another description are never served: a build whose description differs
//! makes its own on the first request and says so); nothing is compressed at start or per
//! request.

use crate::error::AppError;
use crate::responses::{DocsAsset, NotFound};
use crate::state::AppState;
use crate::variant::Variant;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::sync::OnceLock;

const DOCS_CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
);

/// The OpenAPI 3.1 description of this API
#[utoipa::path(get, path = "/api/openapi.json", operation_id = "openapi", tag = "meta",
    responses((status = 200, description = "This document", body = Object, content_type = "application/json")))]
pub async fn spec(State(st): State<AppState>, req: axum::extract::Request) -> Response {
    static DOCUMENT: OnceLock<Variant> = OnceLock::new();
    let v = DOCUMENT.get_or_init(|| document(st.api_document.clone()));
    let mut res = crate::respond::static_file(
        req.headers(),
        v,
        HeaderValue::from_static("application/json"),
        HeaderValue::from_static("no-cache"),
    );
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

/// The description's committed forms, and the ETag of the description they were made from.
const DOCUMENT_PACKED: (&str, &[u8], &[u8]) = (
    include_str!("../../assets/openapi.json.etag"),
    include_bytes!("../../assets/openapi.json.br"),
    include_bytes!("../../assets/openapi.json.gz"),
);

/// The description as answered: with its committed forms when they were made from it.
fn document(body: Bytes) -> Variant {
    let (etag, br, gz) = DOCUMENT_PACKED;
    if crate::variant::etag(&body).to_str().ok() == Some(etag.trim()) {
        Variant::precompressed(body, Bytes::from_static(br), Bytes::from_static(gz))
    } else {
        tracing::warn!(
            "the committed compressed forms of the API description are of another one; \
             compressing it now (run the compress_assets example to commit them)"
        );
        Variant::new(body)
    }
}

/// The API reference page
#[utoipa::path(get, path = "/api/docs", operation_id = "docs", tag = "meta",
    responses((status = 200, description = "Swagger UI over /api/openapi.json", content_type = "text/html", body = String)))]
pub async fn page() -> Response {
    let mut res = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        include_str!("../../assets/docs.html"),
    )
        .into_response();
    crate::respond::html_security_headers(res.headers_mut(), DOCS_CSP);
    res
}

/// (name, content type, bytes, its brotli and gzip forms when committed) of every asset the
/// reference page loads.
type Asset = (
    &'static str,
    &'static str,
    &'static [u8],
    Option<(&'static [u8], &'static [u8])>,
);

const ASSETS: &[Asset] = &[
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
        Some((
            include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js.br"),
            include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js.gz"),
        )),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
        Some((
            include_bytes!("../../assets/swagger-ui/swagger-ui.css.br"),
            include_bytes!("../../assets/swagger-ui/swagger-ui.css.gz"),
        )),
    ),
    (
        "init.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/docs-init.js"),
        None,
    ),
    (
        "LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/LICENSE"),
        None,
    ),
];

/// The assets as they are answered, made on the first request (their ETags hash them).
fn asset_variants() -> &'static [Variant] {
    static VARIANTS: OnceLock<Vec<Variant>> = OnceLock::new();
    VARIANTS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(_, _, body, packed)| match packed {
                Some((br, gz)) => Variant::precompressed(
                    Bytes::from_static(body),
                    Bytes::from_static(br),
                    Bytes::from_static(gz),
                ),
                None => Variant {
                    body: Bytes::from_static(body),
                    etag: crate::variant::etag(body),
                    br: None,
                    gzip: None,
                },
            })
            .collect()
    })
}

/// A file of the reference page
#[utoipa::path(get, path = "/api/docs/{asset}", operation_id = "docsAsset", tag = "meta",
    params(("asset" = DocsAsset, Path, description = "One of the page's files")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/javascript"), (String = "text/css"), (String = "text/plain"))),
        (status = 404, response = NotFound),
    ))]
pub async fn asset(
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    req: axum::extract::Request,
) -> Response {
    let name = path.map(|Path(n)| n).unwrap_or_default();
    match ASSETS.iter().position(|(n, ..)| *n == name) {
        Some(i) => crate::respond::static_file(
            req.headers(),
            &asset_variants()[i],
            HeaderValue::from_static(ASSETS[i].1),
            HeaderValue::from_static("public, max-age=3600"),
        ),
        None => AppError::NotFound("no such file".into()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    /// The committed compressed forms are the assets' own: replacing an asset without running
    /// `examples/compress_assets.rs` fails here.
    #[test]
    fn the_committed_compressed_assets_decode_to_the_assets() {
        use std::io::Read;
        for (name, _, body, packed) in super::ASSETS {
            let Some((br, gz)) = packed else { continue };
            let mut out = Vec::new();
            brotli::Decompressor::new(*br, 4096)
                .read_to_end(&mut out)
                .unwrap();
            assert!(out == *body, "{name}.br is stale");
            out.clear();
            flate2::read::GzDecoder::new(*gz)
                .read_to_end(&mut out)
                .unwrap();
            assert!(out == *body, "{name}.gz is stale");
        }
    }

    /// The description's committed forms are of this build's description: changing the API
    /// without running `examples/compress_assets.rs` fails here.
    #[test]
    fn the_committed_forms_of_the_description_are_its_own() {
        use std::io::Read;
        let doc = crate::openapi_json();
        let (etag, br, gz) = super::DOCUMENT_PACKED;
        assert_eq!(
            crate::variant::etag(doc).to_str().unwrap(),
            etag.trim(),
            "openapi.json.etag is stale: run the compress_assets example"
        );
        let mut out = Vec::new();
        brotli::Decompressor::new(br, 4096)
            .read_to_end(&mut out)
            .unwrap();
        assert!(out == doc.as_ref(), "openapi.json.br is stale");
        out.clear();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut out)
            .unwrap();
        assert!(out == doc.as_ref(), "openapi.json.gz is stale");
        let v = super::document(doc.clone());
        assert!(v.br.as_ref().is_some_and(|e| e.body.as_ref() == br));
    }

    #[test]
    fn the_page_loads_only_files_this_module_serves() {
        let html = include_str!("../../assets/docs.html");
        for r in html
            .split(['"', '\''])
            .filter(|s| s.starts_with('/') || s.starts_with("http"))
        {
            let name = r
                .strip_prefix("/api/docs/")
                .unwrap_or_else(|| panic!("{r} is not served here"));
            assert!(
                super::ASSETS.iter().any(|(n, ..)| *n == name),
                "{name} is not served"
            );
        }
        for a in [
            super::DocsAsset::Bundle,
            super::DocsAsset::Css,
            super::DocsAsset::Init,
            super::DocsAsset::License,
        ] {
            let name = serde_json::to_value(a).unwrap();
            assert!(
                super::ASSETS.iter().any(|(n, ..)| name == *n),
                "{name} is described but not served"
            );
        }
        let init = include_str!("../../assets/docs-init.js");
        assert!(init.contains("url: \"/api/openapi.json\""));
        assert!(!init.contains("http"), "no remote URLs");
    }
}
