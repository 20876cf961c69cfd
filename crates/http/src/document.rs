//! The API contract, generated from the code: each handler's `#[utoipa::path]`, each type's
//! `ToSchema`, the reusable error responses (`responses.rs`), the bearer-key security scheme,
//! and the links schemathesis follows (create a profile → read, edit, edit links, delete it).
//! The description is collected from the very `routes!` registrations the router is built
//! from (`routes::api_router`), so a route without a description does not compile into it.
//! Must not: be imported by a route module (the served document reaches them as bytes in the
//! state).

use crate::error::Problem;
use crate::responses::{
    BadRequest, CacheStatus, Conflict, Forbidden, NotFound, PayloadTooLarge, PreconditionFailed,
    RateLimited, Unauthorized, Unavailable, UnsupportedMediaType, ValidationFailed,
};
use linkleaf_domain::{
    ButtonStyle, Color, CreateProfile, FieldError, Link, LinkOp, LinksPatch, NewLink, Profile,
    ProfilePatch, Theme, ThemePreset,
};
use std::sync::OnceLock;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Spec, RefOr};
use utoipa::{Modify, OpenApi};

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
                        "An API key. An operator's, from `linkleaf keys create --scopes ...`, \
                         reaches every profile; one a person makes (`POST /api/me/keys`) is bound \
                         to one profile and to scopes within their role there. Each operation \
                         names the scope it needs: profile:read, profile:write, links:write, \
                         cache:write, analytics:read, webhooks:write.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "linkleaf_session",
                "A session from `POST /api/session` (`__Host-linkleaf_session` over https). \
                 What it may do on a profile is its account's role there (owner, editor, \
                 viewer: see the access table); a write must come from the site's own origin.",
            ))),
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
        (name = "site", description = "What browsers and crawlers ask every site for: its icon and robots.txt"),
        (name = "accounts", description = "Signing in with an email and a password, and the signed-in person's sessions: a session cookie (HttpOnly, SameSite=Lax; Secure and __Host- over https). A write with the cookie must come from the site's own pages (Origin, or Sec-Fetch-Site: same-origin)"),
        (name = "webhooks", description = "Standard Webhooks: events in (signed with webhooks.secret), and subscriptions to this instance's own events (scope webhooks:write). Every delivery is a POST of a WebhookEvent with webhook-id, webhook-timestamp and webhook-signature headers"),
    ),
    components(
        schemas(Problem, FieldError, Profile, Link, Theme, ThemePreset, ButtonStyle, Color,
                CreateProfile, NewLink, ProfilePatch, LinksPatch, LinkOp, CacheStatus,
                crate::responses::DocsAsset,
                linkleaf_domain::webhook::WebhookEvent, linkleaf_domain::webhook::EventData,
                linkleaf_domain::webhook::EventType,
                linkleaf_domain::webhook::CreateSubscription,
                linkleaf_domain::webhook::SubscriptionPatch),
        responses(BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
                  PreconditionFailed, UnsupportedMediaType, ValidationFailed, RateLimited, Unavailable),
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

/// The rules the domain enforces, by the placeholder a field's `pattern` names them with
/// (`#[schema(pattern = "@title")]`): the description publishes the very expressions the
/// server checks.
const PATTERNS: &[(&str, &str)] = &[
    ("@username", linkleaf_domain::username::PATTERN),
    ("@display-name", linkleaf_domain::text::DISPLAY_NAME_PATTERN),
    ("@title", linkleaf_domain::text::TITLE_PATTERN),
    ("@bio", linkleaf_domain::text::BIO_PATTERN),
    ("@link-url", linkleaf_domain::url::LINK_URL_PATTERN),
    ("@avatar-url", linkleaf_domain::url::AVATAR_URL_PATTERN),
];

/// Fills in what utoipa's attributes cannot say: the patterns behind the placeholders, that a
/// link operation has no other fields (`deny_unknown_fields` on a tagged enum does not reach its
/// variants' schemas), and that a reorder names each link once.
fn finish(api: Spec) -> Spec {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::String(p)) = m.get_mut("pattern")
                    && p.starts_with('@')
                {
                    let (_, real) = PATTERNS
                        .iter()
                        .find(|(name, _)| name == p)
                        .unwrap_or_else(|| panic!("unknown pattern placeholder {p}"));
                    *p = (*real).to_owned();
                }
                m.values_mut().for_each(walk);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(&api).expect("the description serializes");
    walk(&mut v);
    if let Some(variants) = v
        .pointer_mut("/components/schemas/LinkOp/oneOf")
        .and_then(|o| o.as_array_mut())
    {
        for variant in variants {
            if let Some(o) = variant.as_object_mut() {
                o.insert("additionalProperties".into(), false.into());
                if let Some(ids) = o.get_mut("properties").and_then(|p| p.get_mut("ids")) {
                    ids["uniqueItems"] = true.into();
                }
            }
        }
    }
    // what this instance sends its subscribers, as OpenAPI 3.1 describes outgoing calls
    v["webhooks"] = serde_json::json!({
        "profileEvent": {
            "post": {
                "tags": ["webhooks"],
                "summary": "An event, as delivered to a subscription",
                "description": "POSTed to each subscription that wants its type, signed per Standard \
                    Webhooks with the subscription's secret (every live secret during a rotation). \
                    A 2xx takes it; anything else (a redirect included: it is not followed), or no \
                    answer within webhooks.timeout_ms, is retried with exponential backoff and full \
                    jitter, honouring Retry-After, up to webhooks.max_attempts. The same event keeps \
                    its webhook-id through retries: dedupe on it.",
                "operationId": "profileEvent",
                "parameters": [
                    {"name": "webhook-id", "in": "header", "required": true,
                     "description": "The event's id (msg_...), the same on every attempt",
                     "schema": {"type": "string"}},
                    {"name": "webhook-timestamp", "in": "header", "required": true,
                     "description": "When this attempt was signed, in seconds since the epoch",
                     "schema": {"type": "integer"}},
                    {"name": "webhook-signature", "in": "header", "required": true,
                     "description": "v1,<base64 HMAC-SHA256 of \"{id}.{timestamp}.{body}\">, space-separated when several secrets sign",
                     "schema": {"type": "string"}}
                ],
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/WebhookEvent"}}}},
                "responses": {"2XX": {"description": "Taken: not sent again"}}
            }
        }
    });
    // an event type named twice is refused: the lists are sets
    for schema in ["CreateSubscription", "SubscriptionPatch"] {
        if let Some(events) =
            v.pointer_mut(&format!("/components/schemas/{schema}/properties/events"))
        {
            events["uniqueItems"] = true.into();
        }
    }
    serde_json::from_value(v).expect("the finished description deserializes")
}

/// The whole description, as served and as committed in `openapi.json`.
pub fn openapi() -> Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let (_, paths) = crate::routes::api_router(&metrics::NoopRecorder).split_for_parts();
        let mut api = ApiDoc::openapi();
        api.merge(paths);
        add_links(&mut api);
        finish(api)
    })
    .clone()
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
