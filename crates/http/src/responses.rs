//! The reusable answers of the API description: the problem+json responses every operation
//! names (`BadRequest`, `Unauthorized`...) and the `X-Cache` values. Route modules name them in
//! their `#[utoipa::path]`; the document (`document.rs`) lists them. Must not: import a route
//! module or the document.

use crate::error::Problem;
use utoipa::{ToResponse, ToSchema};

/// The JSON is malformed (or not UTF-8).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(#[allow(dead_code)] Problem<'static>);

/// No valid API key: send `Authorization: Bearer lk_...`.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"linkleaf\", error=\"invalid_token\"`"))
)]
pub struct Unauthorized(#[allow(dead_code)] Problem<'static>);

/// The API key lacks the scope this operation needs.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "Names the missing scope"))
)]
pub struct Forbidden(#[allow(dead_code)] Problem<'static>);

/// No such profile (or route).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(#[allow(dead_code)] Problem<'static>);

/// Well formed, but in conflict with the current state: the username is taken, reserved or looks
/// like a taken one (`code` = `username_taken`), or a link operation does not fit the profile's
/// links, such as an id it does not have or a position past the end (`code` = `conflict`);
/// `errors` names each field.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Conflict(#[allow(dead_code)] Problem<'static>);

/// `If-Match` named a version the profile is no longer at: someone else changed it since it
/// was read. Nothing was changed; `currentVersion` is the version it is at now.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PreconditionFailed(#[allow(dead_code)] Problem<'static>);

/// The body is larger than the server accepts (64 KiB by default).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(#[allow(dead_code)] Problem<'static>);

/// The body must be `application/json`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UnsupportedMediaType(#[allow(dead_code)] Problem<'static>);

/// The JSON is well formed but some values are not acceptable; `errors` names each field.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct ValidationFailed(#[allow(dead_code)] Problem<'static>);

/// This API key's token bucket is empty.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds until a request will be accepted"))
)]
pub struct RateLimited(#[allow(dead_code)] Problem<'static>);

/// The data store cannot be reached and nothing servable is cached.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))
)]
pub struct Unavailable(#[allow(dead_code)] Problem<'static>);

/// Where an answer came from: the cache while fresh (`HIT`), the origin (`MISS`), or the cache
/// past its freshness while a refresh runs (`STALE`).
#[derive(ToSchema)]
#[allow(dead_code, clippy::upper_case_acronyms)]
pub enum CacheStatus {
    HIT,
    MISS,
    STALE,
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
