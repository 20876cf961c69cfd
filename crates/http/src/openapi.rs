//! The API contract, generated from the code: each handler's `#[utoipa::path]`, each type's
//! `ToSchema`, the reusable error responses below, the bearer-key security scheme, and the
//! links schemathesis follows (create a profile → read, edit, edit links, delete it).
//!
//! The router is built from the same `routes!` registrations (`routes::api_router`), so a route
//! without a description does not compile into it.

use crate::error::Problem;
use linkleaf_domain::{
    ButtonStyle, Color, CreateProfile, FieldError, Link, LinkOp, LinksPatch, NewLink, Profile,
    ProfilePatch, Theme, ThemePreset,
};
use std::sync::OnceLock;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Spec, RefOr};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

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

/// Another profile has this username (compared without case).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UsernameTaken(#[allow(dead_code)] Problem<'static>);

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

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut Spec) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("lk_<16 hex>_<64 hex>")
                    .description(Some(
                        "An admin API key from `linkleaf keys create --scopes ...`. Each operation \
                         names the scope it needs: profile:read, profile:write, links:write, cache:write.",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "linkleaf",
        description = "A fast, self-hostable link-in-bio service: public profile pages and JSON \
                       served from memory, and an admin API to create and edit them.\n\n\
                       Errors are RFC 9457 problem details (`application/problem+json`) with a \
                       stable `code` and, for bad input, every offending field in `errors`.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    modifiers(&Security),
    tags(
        (name = "public", description = "Pages and profile JSON; no key needed, served from cache"),
        (name = "admin", description = "Create and edit profiles; a Bearer API key with the named scope"),
        (name = "meta", description = "This description and its reference page"),
    ),
    components(
        schemas(Problem, FieldError, Profile, Link, Theme, ThemePreset, ButtonStyle, Color,
                CreateProfile, NewLink, ProfilePatch, LinksPatch, LinkOp, CacheStatus,
                crate::routes::docs::DocsAsset),
        responses(BadRequest, Unauthorized, Forbidden, NotFound, UsernameTaken, PayloadTooLarge,
                  UnsupportedMediaType, ValidationFailed, RateLimited, Unavailable),
    ),
)]
pub struct ApiDoc;

/// Adds the links of a created profile to the operations that take its id or username, so
/// clients and stateful testers can follow them.
fn add_links(api: &mut Spec) {
    let Some(create) = api
        .paths
        .paths
        .get_mut("/api/profiles")
        .and_then(|p| p.post.as_mut())
    else {
        return;
    };
    let Some(RefOr::T(created)) = create.responses.responses.get_mut("201") else {
        return;
    };
    for (name, op, param, from, what) in [
        (
            "GetProfile",
            "getProfile",
            "profile",
            "$response.body#/id",
            "Read the new profile (all links)",
        ),
        (
            "UpdateProfile",
            "updateProfile",
            "profile",
            "$response.body#/id",
            "Edit the new profile",
        ),
        (
            "EditLinks",
            "editLinks",
            "profile",
            "$response.body#/id",
            "Edit its links",
        ),
        (
            "DeleteProfile",
            "deleteProfile",
            "profile",
            "$response.body#/id",
            "Delete it",
        ),
        (
            "GetPage",
            "getPage",
            "username",
            "$response.body#/username",
            "Its public page",
        ),
        (
            "InvalidateCache",
            "invalidateCache",
            "username",
            "$response.body#/username",
            "Drop its cached page",
        ),
    ] {
        let link = LinkBuilder::new()
            .operation_id(op)
            .parameter(param, from)
            .description(what)
            .build();
        created.links.insert(name.to_owned(), RefOr::T(link));
    }
}

/// The whole description, as served and as committed in `openapi.json`.
pub fn openapi() -> Spec {
    let (_, mut api) = crate::routes::api_router(&metrics::NoopRecorder).split_for_parts();
    add_links(&mut api);
    api
}

/// The description as pretty JSON (what `GET /api/openapi.json` serves), built once.
pub fn openapi_json() -> &'static bytes::Bytes {
    static SPEC: OnceLock<bytes::Bytes> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut s = openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        s.push('\n');
        bytes::Bytes::from(s)
    })
}
