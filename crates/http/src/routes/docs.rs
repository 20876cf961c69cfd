//! The API description (`/api/openapi.json`) and its reference page (`/api/docs`), whose Swagger
//! UI assets are compiled into the binary: no CDN, the page works offline.

use crate::error::AppError;
use crate::responses::NotFound;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const DOCS_CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
);

/// The OpenAPI 3.1 description of this API
#[utoipa::path(get, path = "/api/openapi.json", operation_id = "openapi", tag = "meta",
    responses((status = 200, description = "This document", body = Object, content_type = "application/json")))]
pub async fn spec(State(st): State<AppState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        st.api_document.clone(),
    )
        .into_response()
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

/// The files of the reference page, by name (for the description).
#[derive(utoipa::ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub enum DocsAsset {
    #[serde(rename = "swagger-ui-bundle.js")]
    Bundle,
    #[serde(rename = "swagger-ui.css")]
    Css,
    #[serde(rename = "init.js")]
    Init,
    #[serde(rename = "LICENSE")]
    License,
}

/// (name, content type, bytes) of every asset the reference page loads.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
    ),
    (
        "init.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/docs-init.js"),
    ),
    (
        "LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/LICENSE"),
    ),
];

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
) -> Response {
    let name = path.map(|Path(n)| n).unwrap_or_default();
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ct, bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(ct)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            *bytes,
        )
            .into_response(),
        None => AppError::NotFound("no such file".into()).into_response(),
    }
}

#[cfg(test)]
mod tests {
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
                super::ASSETS.iter().any(|(n, _, _)| *n == name),
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
                super::ASSETS.iter().any(|(n, _, _)| name == *n),
                "{name} is described but not served"
            );
        }
        let init = include_str!("../../assets/docs-init.js");
        assert!(init.contains("url: \"/api/openapi.json\""));
        assert!(!init.contains("http"), "no remote URLs");
    }
}
