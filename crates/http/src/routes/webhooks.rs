//! Webhooks: `POST /api/webhooks` takes Standard Webhooks events from an origin or any sender
//! (signed with `webhooks.secret`); `/api/webhooks/subscriptions` manages where this instance's
//! own events go (scope `webhooks:write`).
//!
//! An incoming event is verified on its raw bytes before anything parses it (constant time;
//! unsigned, badly signed, or more than 5 minutes old or ahead: 401 saying which), then
//! handled once per `webhook-id`: a duplicate answers 200 and changes nothing. A new event
//! drops the profile's cache entries on every instance, by username (and the old name after a
//! rename) and by id, and only then is its id recorded, in the same transaction as the event's
//! republication in this instance's outbox (to its own subscribers, and the queue's): an event
//! whose effects did not all happen is not recorded, so the sender's retry does them again.
//! Must not: parse an incoming event before its signature is checked, or accept a subscription URL
//! the outbound policy refuses.

use crate::access::{Among, Who};
use crate::error::AppError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::profiles::admin_json;
use crate::responses::{
    BadRequest, Forbidden, NotFound, PayloadTooLarge, RateLimited, Unauthorized, Unavailable,
    UnsupportedMediaType, ValidationFailed,
};
use crate::state::{AppState, Received};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use http_body_util::{BodyExt, Limited};
use linkleaf_access::table::Action;
use linkleaf_domain::webhook::{
    CreateSubscription, EventType, Incoming, SubscriptionPatch, WebhookEvent,
};
use linkleaf_domain::{Scope, Username, unix_millis};
use linkleaf_store::webhooks::{DeliveryView, Subscription};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// What `POST /api/webhooks` did with an event.
#[derive(Serialize, ToSchema)]
#[schema(as = WebhookReceived)]
struct Handled {
    /// `accepted` (handled now), `duplicate` (its `webhook-id` was handled before: nothing
    /// changed), or `ignored` (a type this version does not know).
    status: &'static str,
}

fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Receive an event
///
/// Standard Webhooks: `webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,<base64
/// HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per secret during a rotation) over the raw
/// body, with a secret of `webhooks.secret`. `profile.created`, `profile.updated`,
/// `profile.deleted` and `links.updated` drop the profile's cached pages on every instance (by
/// its username, its previous one, and its id) and are republished to this instance's own
/// subscribers; other types are acknowledged and ignored. Each `webhook-id` is handled once.
#[utoipa::path(post, path = "/api/webhooks", operation_id = "receiveWebhook", tag = "webhooks",
    params(
        ("webhook-id" = String, Header, description = "The event's id: a redelivery carries the same one. Svix's `svix-id` is read when no `webhook-*` header is sent"),
        ("webhook-timestamp" = i64, Header, description = "When it was signed, in seconds since the epoch; at most 5 minutes off (or `svix-timestamp`)"),
        ("webhook-signature" = String, Header, description = "`v1,<base64>`, space-separated when there are several (or `svix-signature`)"),
    ),
    request_body(content = WebhookEvent, content_type = "application/json"),
    responses(
        (status = 200, description = "Handled, or handled before", body = Handled),
        (status = 401, description = "Unsigned, badly signed, or outside the 5-minute window; `code` says which", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = ValidationFailed),
        (status = 503, response = Unavailable),
    ))]
pub async fn receive(State(st): State<AppState>, req: Request) -> Result<Response, AppError> {
    let limit = st.settings.max_body_bytes;
    let (parts, body) = req.into_parts();
    let body = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|_| AppError::PayloadTooLarge(limit))?
        .to_bytes();
    let headers = linkleaf_webhooks::sign::standard_headers(&parts.headers);
    if let Err(why) = st.verifier.verify(&headers, &body) {
        st.received(Received::Refused);
        return Err(AppError::WebhookRefused(why));
    }
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 256)
        .ok_or_else(|| {
            AppError::Validation(linkleaf_domain::ValidationErrors::single(
                "webhook-id",
                "must be 1 to 256 visible characters",
            ))
        })?
        .to_owned();
    let event = Incoming::parse(&body, &id)?;
    let store = st.stores.webhooks.clone();
    let now = OffsetDateTime::now_utc();
    if store.incoming_seen(&id, unix_millis(now)).await? {
        st.received(Received::Duplicate);
        return Ok(admin_json(
            StatusCode::OK,
            &Handled {
                status: "duplicate",
            },
        ));
    }
    let expires = unix_millis(now) + st.settings.webhook_inbox_ttl.as_millis() as i64;
    let status = match event {
        Incoming::Unknown(kind) => {
            tracing::info!(
                kind,
                "a webhook of a type this version does not know: ignored"
            );
            store
                .accept_incoming(&id, unix_millis(now), expires, &[])
                .await?;
            st.received(Received::Ignored);
            "ignored"
        }
        Incoming::Known(e) => {
            // the effects first (doing them twice is harmless), then the record
            let st2 = st.clone();
            let (owner, names) = (
                e.data.id,
                std::iter::once(&e.data.username)
                    .chain(e.data.previous_username.as_ref())
                    .map(|k| Username::from_stored(k.clone()))
                    .collect::<Vec<_>>(),
            );
            // an edge hears which names exist from its upstream's events
            if let Some(cold) = st.cold.as_deref() {
                if e.kind == linkleaf_domain::webhook::EventType::ProfileDeleted {
                    cold.missing(&e.data.username);
                } else {
                    cold.exists(&e.data.username);
                }
                if let Some(old) = &e.data.previous_username {
                    cold.missing(old);
                }
            }
            crate::profiles::detached(&st, async move {
                let refs: Vec<&Username> = names.iter().collect();
                st2.invalidate(Some(owner), &refs).await;
                Ok(())
            })
            .await?;
            // passed on to this instance's subscribers under its own id, one hop further; an
            // event that has travelled far enough is recorded and goes no further
            let mut e = e;
            e.hops += 1;
            let onward = if e.hops > linkleaf_domain::webhook::MAX_HOPS {
                Vec::new()
            } else {
                vec![e]
            };
            if store
                .accept_incoming(&id, unix_millis(now), expires, &onward)
                .await?
            {
                st.wake_dispatcher();
                st.received(Received::Accepted);
                "accepted"
            } else {
                st.received(Received::Duplicate);
                "duplicate"
            }
        }
    };
    Ok(admin_json(StatusCode::OK, &Handled { status }))
}

/// A subscription, as listed (the secret is shown once, when made or rotated).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WebhookSubscription)]
struct SubscriptionOut {
    id: Uuid,
    /// The profile whose events it receives; absent: every profile's.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    profile: Option<Uuid>,
    url: String,
    events: Vec<EventType>,
    enabled: bool,
    /// Why linkleaf disabled it (every delivery failed for `webhooks.disable_after_secs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    disabled_reason: Option<String>,
    /// Since when every delivery has failed, if the last one did.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schema(value_type = Option<String>, format = DateTime, required = false)]
    failing_since: Option<OffsetDateTime>,
    /// After a rotation: until when the previous secret signs too.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schema(value_type = Option<String>, format = DateTime, required = false)]
    previous_secret_until: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
}

impl From<&Subscription> for SubscriptionOut {
    fn from(s: &Subscription) -> Self {
        Self {
            id: s.id,
            profile: s.profile,
            url: s.spec.url.clone(),
            events: s.spec.events.clone(),
            enabled: s.spec.enabled,
            disabled_reason: s.disabled_reason.clone(),
            failing_since: s.failing_since.map(at),
            previous_secret_until: s
                .previous_until
                .filter(|u| *u > unix_millis(OffsetDateTime::now_utc()))
                .map(at),
            created_at: at(s.created_at),
        }
    }
}

/// A subscription with its secret: the one time it is shown.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WebhookSubscriptionWithSecret)]
struct WithSecret {
    #[serde(flatten)]
    subscription: SubscriptionOut,
    /// `whsec_...`: verify deliveries with it (any Standard Webhooks library does). Shown once.
    secret: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = WebhookSubscriptionList)]
struct SubscriptionList {
    items: Vec<SubscriptionOut>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    next: Option<Uuid>,
}

fn secret() -> Result<String, AppError> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| AppError::Internal(format!("randomness: {e}")))?;
    Ok(linkleaf_domain::webhook::new_secret(random))
}

fn subscription_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::try_parse(raw).map_err(|_| AppError::NotFound("no such subscription".into()))
}

fn not_found() -> AppError {
    AppError::NotFound("no such subscription".into())
}

const HOOKS: Action = Action::Scope(Scope::WebhooksWrite);

/// The subscription `raw` names, if `who` may manage it: one of a profile's, through that
/// profile's access; one of the instance's, an operator's key or an admin. 404 otherwise.
async fn subscription_for(st: &AppState, who: &Who, raw: &str) -> Result<Subscription, AppError> {
    if let Who::Operator(c) = who {
        c.require(Scope::WebhooksWrite)?;
    }
    let s = st
        .stores
        .webhooks
        .subscription(subscription_id(raw)?)
        .await?
        .ok_or_else(not_found)?;
    match s.profile {
        Some(p) => who.on(st, p, HOOKS).await.map_err(|e| match e {
            AppError::ProfileNotFound(_) => not_found(),
            other => other,
        })?,
        None => who.instance(Scope::WebhooksWrite, not_found())?,
    }
    Ok(s)
}

/// Subscribe
///
/// Every change of the event types named (all by default) is POSTed to `url`, signed per
/// Standard Webhooks with the secret in the answer (shown this once). Deliveries are retried
/// with exponential backoff and full jitter (honouring `Retry-After`), never follow redirects,
/// and are kept as dead after `webhooks.max_attempts`; a subscription failing for
/// `webhooks.disable_after_secs` is disabled. The URL must lead to public addresses (or a
/// network the operator allowed, `webhooks.allow_networks`): an internal one is refused (422
/// naming the rule), when the subscription is made and at each delivery.
#[utoipa::path(post, path = "/api/webhooks/subscriptions", operation_id = "createSubscription", tag = "webhooks",
    security(("api_key" = ["webhooks:write"]), ("session" = [])),
    request_body(content = CreateSubscription, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = WithSecret),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`limit_reached`: the profile (or the instance) has `webhooks.max_subscriptions` already", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ))]
pub async fn create(
    State(st): State<AppState>,
    who: Who,
    ApiJson(body): ApiJson<CreateSubscription>,
) -> Result<Response, AppError> {
    let profile = match (&body.profile, &who) {
        (Some(raw), _) => Some(who.profile(&st, raw, HOOKS).await?),
        (None, Who::Bound { profile, .. }) => {
            who.on(&st, *profile, HOOKS).await?;
            Some(*profile)
        }
        (None, _) => {
            let required = AppError::Validation(linkleaf_domain::ValidationErrors::single(
                "profile",
                "is required: name the profile (its id or username) whose events to receive",
            ));
            who.instance(Scope::WebhooksWrite, required)?;
            None
        }
    };
    let spec = body.into_spec()?;
    check_destination(&st, &spec.url).await?;
    let secret = secret()?;
    let s = st
        .stores
        .webhooks
        .create_subscription(
            &spec,
            &secret,
            unix_millis(OffsetDateTime::now_utc()),
            st.settings.max_subscriptions,
            profile,
        )
        .await?;
    let mut res = admin_json(
        StatusCode::CREATED,
        &WithSecret {
            subscription: (&s).into(),
            secret,
        },
    );
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/webhooks/subscriptions/{}", s.id)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

/// A page of a list.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionListParams {
    /// How many subscriptions to return (1 to 100, default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Start after this subscription id (the `next` of the previous page).
    pub after: Option<Uuid>,
}

/// List subscriptions
///
/// By id (their order of making), a page at a time: pass the answer's `next` as `after` for
/// the next page.
#[utoipa::path(get, path = "/api/webhooks/subscriptions", operation_id = "listSubscriptions", tag = "webhooks",
    security(("api_key" = ["webhooks:write"]), ("session" = [])),
    params(SubscriptionListParams),
    responses(
        (status = 200, description = "A page of subscriptions (without secrets)", body = SubscriptionList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ))]
pub async fn list(
    State(st): State<AppState>,
    who: Who,
    ApiQuery(params): ApiQuery<SubscriptionListParams>,
) -> Result<Response, AppError> {
    let among = who.among(&st, HOOKS).await?;
    let limit = params.limit.unwrap_or(50);
    let max = crate::profiles::LIST_MAX;
    if !(1..=max).contains(&limit) {
        return Err(AppError::Validation(
            linkleaf_domain::ValidationErrors::single(
                "limit",
                format!("must be between 1 and {max}"),
            ),
        ));
    }
    let rows = st
        .stores
        .webhooks
        .subscriptions(
            params.after,
            limit,
            match &among {
                Among::All => None,
                Among::Only(ids) => Some(ids),
            },
        )
        .await?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|s| s.id))
        .flatten();
    let items = rows.iter().map(SubscriptionOut::from).collect();
    Ok(admin_json(
        StatusCode::OK,
        &SubscriptionList { items, next },
    ))
}

/// Where a subscription's URL leads must be allowed (public addresses, or the operator's
/// `webhooks.allow_networks`): a literal address, or a name that resolves within a second, is
/// checked now (422 naming the rule); any name is checked again at each delivery.
async fn check_destination(st: &AppState, url: &str) -> Result<(), AppError> {
    st.destinations.check_url(url).await.map_err(|r| {
        AppError::Validation(linkleaf_domain::ValidationErrors::single(
            "url",
            format!(
                "leads to an address that is refused: {r} (an operator can allow a network with \
                 webhooks.allow_networks)"
            ),
        ))
    })
}

/// Read a subscription
#[utoipa::path(get, path = "/api/webhooks/subscriptions/{id}", operation_id = "getSubscription", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id")),
    security(("api_key" = ["webhooks:write"]), ("session" = [])),
    responses(
        (status = 200, description = "The subscription (without its secret)", body = SubscriptionOut),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ))]
pub async fn get(
    State(st): State<AppState>,
    who: Who,
    ApiPath(raw): ApiPath,
) -> Result<Response, AppError> {
    let s = subscription_for(&st, &who, &raw).await?;
    Ok(admin_json(StatusCode::OK, &SubscriptionOut::from(&s)))
}

/// Edit a subscription
///
/// Absent fields stay as they are. Enabling a subscription linkleaf disabled resumes its
/// pending deliveries.
#[utoipa::path(patch, path = "/api/webhooks/subscriptions/{id}", operation_id = "updateSubscription", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id")),
    security(("api_key" = ["webhooks:write"]), ("session" = [])),
    request_body(content = SubscriptionPatch, content_type = "application/json"),
    responses(
        (status = 200, description = "The subscription as it now is", body = SubscriptionOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ))]
pub async fn update(
    State(st): State<AppState>,
    who: Who,
    ApiPath(raw): ApiPath,
    ApiJson(patch): ApiJson<SubscriptionPatch>,
) -> Result<Response, AppError> {
    let current = subscription_for(&st, &who, &raw).await?;
    let id = current.id;
    let spec = patch.apply(&current.spec)?;
    if spec.url != current.spec.url {
        check_destination(&st, &spec.url).await?;
    }
    let s = st
        .stores
        .webhooks
        .update_subscription(id, &spec)
        .await?
        .ok_or_else(not_found)?;
    st.wake_dispatcher();
    Ok(admin_json(StatusCode::OK, &SubscriptionOut::from(&s)))
}

/// Delete a subscription
///
/// With its deliveries, sent or not.
#[utoipa::path(delete, path = "/api/webhooks/subscriptions/{id}", operation_id = "deleteSubscription", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id")),
    security(("api_key" = ["webhooks:write"]), ("session" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ))]
pub async fn delete(
    State(st): State<AppState>,
    who: Who,
    ApiPath(raw): ApiPath,
) -> Result<Response, AppError> {
    let s = subscription_for(&st, &who, &raw).await?;
    if st.stores.webhooks.delete_subscription(s.id).await? {
        Ok(crate::profiles::no_content())
    } else {
        Err(not_found())
    }
}

/// Rotate a subscription's secret
///
/// A new secret, shown this once; the old one keeps signing beside it (two signatures per
/// delivery) for `webhooks.rotation_overlap_secs`, so the receiver can switch at its pace.
#[utoipa::path(post, path = "/api/webhooks/subscriptions/{id}/rotate", operation_id = "rotateSubscriptionSecret", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id")),
    security(("api_key" = ["webhooks:write"]), ("session" = [])),
    responses(
        (status = 200, description = "The new secret, shown this once", body = WithSecret),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ))]
pub async fn rotate(
    State(st): State<AppState>,
    who: Who,
    ApiPath(raw): ApiPath,
) -> Result<Response, AppError> {
    let current = subscription_for(&st, &who, &raw).await?;
    let secret = secret()?;
    let until = unix_millis(OffsetDateTime::now_utc())
        + st.settings.webhook_rotation_overlap.as_millis() as i64;
    let s = st
        .stores
        .webhooks
        .rotate_secret(current.id, &secret, until)
        .await?
        .ok_or_else(not_found)?;
    Ok(admin_json(
        StatusCode::OK,
        &WithSecret {
            subscription: (&s).into(),
            secret,
        },
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// How many deliveries, newest first (1 to 100, default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// One attempt to deliver an event.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WebhookAttempt)]
struct AttemptOut {
    attempt: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    at: OffsetDateTime,
    /// The receiver's HTTP status, when it answered.
    #[schema(required = false)]
    status: Option<u16>,
    latency_ms: i64,
    /// Why it failed (no answer, a timeout, a status that is not 2xx, a redirect).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    error: Option<String>,
}

/// An event's delivery to the subscription.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WebhookDelivery)]
struct DeliveryOut {
    /// The `webhook-id` it is sent with.
    event_id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    /// `pending`, `delivered`, or `dead` (given up after `webhooks.max_attempts`).
    status: String,
    /// While pending: when it is tried next.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schema(value_type = Option<String>, format = DateTime, required = false)]
    next_attempt_at: Option<OffsetDateTime>,
    attempts: Vec<AttemptOut>,
}

impl From<DeliveryView> for DeliveryOut {
    fn from(d: DeliveryView) -> Self {
        Self {
            event_id: d.event_id,
            kind: d.kind,
            created_at: at(d.created_at),
            status: d.status,
            next_attempt_at: d.next_attempt_at.map(at),
            attempts: d
                .attempts
                .into_iter()
                .map(|a| AttemptOut {
                    attempt: a.attempt,
                    at: at(a.at_ms),
                    status: a.status,
                    latency_ms: a.latency_ms,
                    error: a.error,
                })
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = WebhookDeliveryList)]
struct DeliveryList {
    items: Vec<DeliveryOut>,
}

/// A subscription's deliveries
///
/// The latest first, each with every attempt: when, the status the receiver answered, how
/// long it took, what went wrong.
#[utoipa::path(get, path = "/api/webhooks/subscriptions/{id}/deliveries", operation_id = "listDeliveries", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id"), DeliveryParams),
    security(("api_key" = ["webhooks:write"]), ("session" = [])),
    responses(
        (status = 200, description = "Deliveries, newest first", body = DeliveryList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ))]
pub async fn deliveries(
    State(st): State<AppState>,
    who: Who,
    ApiPath(raw): ApiPath,
    ApiQuery(params): ApiQuery<DeliveryParams>,
) -> Result<Response, AppError> {
    let current = subscription_for(&st, &who, &raw).await?;
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(AppError::Validation(
            linkleaf_domain::ValidationErrors::single("limit", "must be between 1 and 100"),
        ));
    }
    let id = current.id;
    let items = st
        .stores
        .webhooks
        .deliveries(id, limit)
        .await?
        .into_iter()
        .map(DeliveryOut::from)
        .collect();
    Ok(admin_json(StatusCode::OK, &DeliveryList { items }))
}
