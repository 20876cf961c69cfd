//! `GET /api/profiles/{profile}/qr.svg` and `…/qr.png?size=`: the page's QR code, holding its
//! public URL tagged `?src=qr`, so views through it are counted under the `qr` source.
//! Must not: put anything but the public origin and the profile's name into the code.

use crate::access::{NotEdge, Who};
use crate::error::AppError;
use crate::extract::{ApiPath, ApiQuery};
use crate::qr::{PNG_DEFAULT, PNG_MAX, PNG_MIN, png, svg, tagged_url};
use crate::responses::{Forbidden, NotFound, Unauthorized, ValidationFailed};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use linkleaf_access::table::Action;
use linkleaf_domain::{Scope, ValidationErrors};
use serde::Deserialize;
use utoipa::IntoParams;

/// The query of `qr.png`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PngParams {
    /// The image's side in pixels (128 to 2048; default 512).
    #[param(minimum = 128, maximum = 2048)]
    pub size: Option<u32>,
}

/// The tagged URL of the profile the request names, once its access is checked.
async fn url_of(st: &AppState, who: &Who, raw: &str) -> Result<(String, String), AppError> {
    let p = who
        .read_profile(st, raw, Action::Scope(Scope::ProfileRead))
        .await?;
    Ok((
        tagged_url(&st.settings.public_url, &p.username),
        p.username.key(),
    ))
}

/// An image answer: its type, a file name to save it as, and no caching past a rename.
fn image(body: Vec<u8>, content_type: &'static str, file: String) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // the code holds the name: a rename changes it
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // an SVG opened on its own runs nothing
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// The page's QR code (SVG)
///
/// The profile's public page URL with `?src=qr`, as an SVG image: views of the page through it
/// are counted under the source `qr` in the analytics (`sources`).
#[utoipa::path(get, path = "/api/profiles/{profile}/qr.svg", operation_id = "getQrSvg", tag = "admin",
    params(("profile" = String, Path, description = "The profile's id (UUID) or username", pattern = r"^[A-Za-z0-9_.-]+$")),
    security(("api_key" = ["profile:read"]), ("session" = [])),
    responses(
        (status = 200, description = "The QR code", content_type = "image/svg+xml", body = String),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ))]
pub async fn qr_svg(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    ApiPath(raw): ApiPath,
) -> Result<Response, AppError> {
    let (url, name) = url_of(&st, &who, &raw).await?;
    let body = svg(&url).map_err(AppError::Internal)?;
    Ok(image(
        body.into_bytes(),
        "image/svg+xml",
        format!("{name}-qr.svg"),
    ))
}

/// The page's QR code (PNG)
///
/// The same code as `getQrSvg`, as a PNG `size` pixels square.
#[utoipa::path(get, path = "/api/profiles/{profile}/qr.png", operation_id = "getQrPng", tag = "admin",
    params(("profile" = String, Path, description = "The profile's id (UUID) or username", pattern = r"^[A-Za-z0-9_.-]+$"),
        PngParams),
    security(("api_key" = ["profile:read"]), ("session" = [])),
    responses(
        (status = 200, description = "The QR code", content_type = "image/png", body = Vec<u8>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn qr_png(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    ApiPath(raw): ApiPath,
    ApiQuery(params): ApiQuery<PngParams>,
) -> Result<Response, AppError> {
    let size = params.size.unwrap_or(PNG_DEFAULT);
    if !(PNG_MIN..=PNG_MAX).contains(&size) {
        return Err(AppError::Validation(ValidationErrors::single(
            "size",
            format!("must be between {PNG_MIN} and {PNG_MAX} pixels"),
        )));
    }
    let (url, name) = url_of(&st, &who, &raw).await?;
    // drawing and compressing a large image is CPU work: off the runtime's threads
    let body = tokio::task::spawn_blocking(move || png(&url, size))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(AppError::Internal)?;
    Ok(image(body, "image/png", format!("{name}-qr.png")))
}
