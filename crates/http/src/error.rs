//! The one error type of the HTTP layer and its RFC 9457 rendering.
//!
//! Clients get `application/problem+json`: `{type, title, status, detail, code, errors?}` where
//! `code` is stable snake_case and `errors` names each offending field. Causes of 5xx answers go
//! to the log, never to the client. Storage errors become HTTP answers here and nowhere else.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use linkleaf_domain::{FieldError, Scope, ValidationErrors};
use linkleaf_store::StoreError;
use serde::Serialize;

pub const PROBLEM_JSON: HeaderValue = HeaderValue::from_static("application/problem+json");

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("validation failed")]
    Validation(ValidationErrors),
    /// Well-formed input that the current state refuses (every error is a conflict).
    #[error("conflict")]
    Conflict(ValidationErrors),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The body must be of this media type.
    #[error("unsupported media type: send {0}")]
    UnsupportedMediaTypeOf(&'static str),
    #[error("payload too large")]
    PayloadTooLarge(usize),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("insufficient scope")]
    Forbidden(Scope),
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    #[error("not found: {0}")]
    NotFound(String),
    /// No profile has this username or id (the name as asked, shortened for the answer).
    #[error("no such profile: {0}")]
    ProfileNotFound(String),
    #[error("no such route")]
    NoRoute,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The name is taken, or looks like one that is (the message says which).
    #[error("username taken: {0}")]
    UsernameTaken(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The origin limits us: ask again after this long.
    #[error("unavailable for {retry_after_secs} s: {cause}")]
    Throttled {
        cause: String,
        retry_after_secs: u64,
    },
    #[error("internal error: {0}")]
    Internal(String),
    /// An incoming webhook that is not signed right (the refusal says how).
    #[error("webhook refused: {0}")]
    WebhookRefused(linkleaf_webhooks::Refusal),
    /// This instance is an edge: it owns no profiles to read or change.
    #[error("edge mode: no profile data here")]
    EdgeMode,
    /// As many as allowed exist already (subscriptions: `webhooks.max_subscriptions`).
    #[error("limit of {0} reached")]
    LimitReached(u32),
    /// A signed-in person whose role does not allow this.
    #[error("insufficient role: {0}")]
    InsufficientRole(&'static str),
    /// A write with a session cookie that does not come from the site's own pages.
    #[error("cross-site write: {0}")]
    CrossSite(String),
    /// `If-Match` named a version the profile is no longer at.
    #[error("the profile is at version {current}")]
    Stale { current: i64 },
}

/// An RFC 9457 problem: what went wrong, for people (`title`, `detail`) and for programs
/// (`code`, stable snake_case), with every offending field for bad input.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Problem, example = json!({
    "type": "urn:linkleaf:problem:validation_failed", "title": "Invalid input", "status": 422,
    "detail": "links[0].url: scheme 'javascript' is not allowed: use http, https, mailto or tel",
    "code": "validation_failed",
    "errors": [{"field": "links[0].url", "message": "scheme 'javascript' is not allowed: use http, https, mailto or tel"}]
}))]
pub struct Problem<'a> {
    /// `urn:linkleaf:problem:<code>`
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    /// The HTTP status code.
    status: u16,
    detail: String,
    /// Stable and machine-readable: `validation_failed`, `unauthorized`, `rate_limited`...
    code: &'a str,
    /// For bad input: each offending field.
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    #[schema(required = false)]
    errors: &'a [FieldError],
    /// For a 412: the version the profile is at now.
    #[serde(rename = "currentVersion", skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    current_version: Option<i64>,
}

impl AppError {
    /// The one answer for a profile that is not there, by name or id, public or admin.
    pub fn not_found_profile(what: &str) -> Self {
        Self::ProfileNotFound(what.chars().take(64).collect())
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str, String) {
        use StatusCode as S;
        match self {
            Self::Validation(e) => (
                S::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Invalid input",
                match e.0.as_slice() {
                    [one] => format!("{one}"),
                    many => format!("{} fields are invalid", many.len()),
                },
            ),
            Self::MalformedJson(d) => (
                S::BAD_REQUEST,
                "malformed_json",
                "Malformed JSON",
                d.clone(),
            ),
            Self::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                "send the body as application/json".into(),
            ),
            Self::UnsupportedMediaTypeOf(wanted) => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                format!("send the body as {wanted}"),
            ),
            Self::PayloadTooLarge(limit) => (
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
                format!("the body may be at most {limit} bytes"),
            ),
            Self::Unauthorized(why) => (
                S::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                (*why).into(),
            ),
            Self::Forbidden(scope) => (
                S::FORBIDDEN,
                "insufficient_scope",
                "Forbidden",
                format!("this API key lacks the scope '{scope}'"),
            ),
            Self::RateLimited { retry_after_secs } => (
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
                format!("this API key's rate limit is exhausted; retry in {retry_after_secs} s"),
            ),
            Self::NotFound(d) => (S::NOT_FOUND, "not_found", "Not found", d.clone()),
            Self::ProfileNotFound(what) => (
                S::NOT_FOUND,
                "profile_not_found",
                "Not found",
                format!("no profile is named '{what}'"),
            ),
            Self::NoRoute => (
                S::NOT_FOUND,
                "not_found",
                "Not found",
                "no such route".into(),
            ),
            Self::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
                "this route does not accept this method".into(),
            ),
            Self::UsernameTaken(why) => (
                S::CONFLICT,
                "username_taken",
                "Username taken",
                format!(
                    "username: {why} (usernames are unique without regard to case or look-alike \
                     characters)"
                ),
            ),
            Self::Conflict(e) => (
                S::CONFLICT,
                if e.0.iter().all(|f| f.field == "username") {
                    "username_taken"
                } else {
                    "conflict"
                },
                "Conflict",
                match e.0.as_slice() {
                    [one] => format!("{one}"),
                    many => format!(
                        "{} parts of the request conflict with the current state",
                        many.len()
                    ),
                },
            ),
            Self::Unavailable(_) | Self::Throttled { .. } => (
                S::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                "the data store cannot be reached; retry shortly".into(),
            ),
            Self::Internal(_) => (
                S::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal server error",
                "something went wrong on our side; it has been logged".into(),
            ),
            Self::WebhookRefused(why) => (
                S::UNAUTHORIZED,
                why.code(),
                "Webhook not accepted",
                why.to_string(),
            ),
            Self::InsufficientRole(why) => (
                S::FORBIDDEN,
                "insufficient_role",
                "Forbidden",
                (*why).into(),
            ),
            Self::CrossSite(why) => (S::FORBIDDEN, "cross_site_write", "Forbidden", why.clone()),
            Self::LimitReached(max) => (
                S::CONFLICT,
                "limit_reached",
                "Limit reached",
                format!(
                    "there are {max} already, as many as this instance allows; delete one first"
                ),
            ),
            Self::Stale { current } => (
                S::PRECONDITION_FAILED,
                "version_mismatch",
                "Changed meanwhile",
                format!(
                    "someone else changed the profile since you read it: it is at version \
                     {current} now; read it again, then repeat the change"
                ),
            ),
            Self::EdgeMode => (
                S::NOT_IMPLEMENTED,
                "edge_mode",
                "Not on an edge",
                "this instance is an edge: it serves profiles it reads from its origin \
                 (origin.upstream_url) and owns none; read, create, edit and delete profiles, and \
                 read their analytics, on the origin"
                    .into(),
            ),
        }
    }
}

impl From<ValidationErrors> for AppError {
    /// Invalid input is 422; well-formed input that only conflicts with the current state is
    /// 409.
    fn from(e: ValidationErrors) -> Self {
        if e.is_conflict() {
            Self::Conflict(e)
        } else {
            Self::Validation(e)
        }
    }
}

impl From<linkleaf_store::ModifyError> for AppError {
    fn from(e: linkleaf_store::ModifyError) -> Self {
        match e {
            linkleaf_store::ModifyError::Invalid(v) => v.into(),
            linkleaf_store::ModifyError::Stale { current } => Self::Stale { current },
            linkleaf_store::ModifyError::Store(s) => s.into(),
        }
    }
}

impl From<linkleaf_cache::LoadError> for AppError {
    fn from(e: linkleaf_cache::LoadError) -> Self {
        use linkleaf_cache::LoadErrorKind as K;
        match e.kind {
            K::Unavailable => Self::Unavailable(e.to_string()),
            K::Throttled { retry_after } => Self::Throttled {
                cause: e.to_string(),
                retry_after_secs: retry_after.as_secs_f64().ceil().max(1.0) as u64,
            },
            K::Internal => Self::Internal(e.to_string()),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::ProfileNotFound(String::new()),
            StoreError::UsernameTaken => Self::UsernameTaken("is already taken".into()),
            StoreError::UsernameConfusable(existing) => {
                Self::UsernameTaken(format!("looks too much like '{existing}', which is taken"))
            }
            StoreError::Unavailable(_) => Self::Unavailable(e.to_string()),
            StoreError::LimitReached(max) => Self::LimitReached(max),
            StoreError::LastOwner => Self::Conflict(ValidationErrors::single(
                "account",
                "is the profile's last owner: make another member owner first, or delete the \
                 profile",
            )),
            StoreError::Refused(_) | StoreError::Other(_) | StoreError::Corrupt(_) => {
                Self::Internal(e.to_string())
            }
        }
    }
}

/// Builds a problem+json response; shared by `AppError` and the prebuilt negative answers.
pub fn problem(
    status: StatusCode,
    code: &str,
    title: &str,
    detail: String,
    errors: &[FieldError],
) -> Response {
    problem_with(status, code, title, detail, errors, None)
}

fn problem_with(
    status: StatusCode,
    code: &str,
    title: &str,
    detail: String,
    errors: &[FieldError],
    current_version: Option<i64>,
) -> Response {
    let body = Problem {
        kind: format!("urn:linkleaf:problem:{code}"),
        title,
        status: status.as_u16(),
        detail,
        code,
        errors,
        current_version,
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut res = (status, bytes).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, PROBLEM_JSON);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code, title, detail) = self.parts();
        // the cause goes to the request's log line (`crate::log`), never to the client
        let cause = crate::log::Cause {
            code,
            detail: match &self {
                Self::Internal(cause) | Self::Unavailable(cause) => cause.clone(),
                Self::Throttled { cause, .. } => cause.clone(),
                other => other.to_string(),
            },
        };
        let errors: Vec<FieldError> = match &self {
            Self::Validation(e) | Self::Conflict(e) => e.0.clone(),
            Self::UsernameTaken(why) => vec![FieldError::new("username", why.clone())],
            _ => vec![],
        };
        let current = match &self {
            Self::Stale { current } => Some(*current),
            _ => None,
        };
        let mut res = problem_with(status, code, title, detail, &errors, current);
        res.extensions_mut().insert(cause);
        let h = res.headers_mut();
        match &self {
            Self::RateLimited { retry_after_secs } => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Unavailable(_) => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::Throttled {
                retry_after_secs, ..
            } => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Unauthorized(_) => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"linkleaf\", error=\"invalid_token\""),
                );
            }
            Self::Forbidden(scope) => {
                let v = format!(
                    "Bearer realm=\"linkleaf\", error=\"insufficient_scope\", scope=\"{scope}\""
                );
                if let Ok(v) = HeaderValue::from_str(&v) {
                    h.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            _ => {}
        }
        res
    }
}
