//! Request extractors whose every rejection is a problem+json answer naming what was wrong.
//!
//! `ApiJson<T>` reads a JSON body: it insists on a JSON content type, caps the size before
//! reading further, and reports a malformed document (400) apart from a well-formed one whose
//! values are wrong (422, with the path of the offending field, such as `links[1].url`).

use crate::error::AppError;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use linkleaf_domain::{FieldError, ValidationErrors};
use serde::de::DeserializeOwned;

pub struct ApiJson<T>(pub T);

/// The one path parameter of a route, percent-decoded; a segment that is not UTF-8 names no
/// resource, so it is a 404 problem rather than axum's plain-text 400.
pub struct ApiPath(pub String);

impl FromRequestParts<AppState> for ApiPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(s)) => Ok(Self(s)),
            Err(_) => Err(AppError::NotFound("no such resource".into())),
        }
    }
}

fn is_json(ct: &str) -> bool {
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json(ct) {
            return Err(AppError::UnsupportedMediaType);
        }
        let limit = state.settings().max_body_bytes;
        let body = Limited::new(req.into_body(), limit)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<LengthLimitError>().is_some() {
                    AppError::PayloadTooLarge(limit)
                } else {
                    AppError::MalformedJson(format!("the body could not be read: {e}"))
                }
            })?;
        parse(&body.to_bytes()).map(ApiJson)
    }
}

/// Parses a JSON document into `T`, telling syntax errors from wrong values.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    // Syntax first, on its own: a typed parse may stop at a wrong value before it reaches a
    // syntax error later in the document, and a malformed document should say so.
    // JSON is UTF-8 (RFC 8259), all of it, including strings a skipping parser would not look at.
    let text = std::str::from_utf8(bytes)
        .map_err(|e| AppError::MalformedJson(format!("the body is not UTF-8: {e}")))?;
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|e| AppError::MalformedJson(e.to_string()))?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => de
            .end()
            .map(|()| v)
            .map_err(|e| AppError::MalformedJson(e.to_string())),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    let msg = inner.to_string();
                    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
                    Err(AppError::Validation(ValidationErrors(vec![field_error(
                        &path, msg,
                    )])))
                }
                _ => Err(AppError::MalformedJson(inner.to_string())),
            }
        }
    }
}

/// Names the field of a serde data error: its path, or the field a `missing field` /
/// `unknown field` message names under that path.
fn field_error(path: &str, msg: String) -> FieldError {
    let path = if path == "." { "" } else { path };
    // serde's path stops at the object for a missing field, and includes an unknown one.
    if let Some(name) = msg
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        let field = if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        };
        return FieldError::new(field, msg);
    }
    FieldError::new(if path.is_empty() { "body" } else { path }, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use linkleaf_domain::{CreateProfile, LinksPatch};

    fn fields(e: AppError) -> Vec<String> {
        match e {
            AppError::Validation(v) => v.0.into_iter().map(|f| f.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn content_types() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/jsonp",
            "json",
        ] {
            assert!(!is_json(bad), "{bad}");
        }
    }

    #[test]
    fn syntax_errors_are_400_and_value_errors_name_their_field() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"username\":\"abc\"} trailing",
            b"\xff\xfe",
            b"{\"username\":\"\xff\"}",
            b"nul",
            b"{\"bogus\":}",
            b"{\"bogus\":\"\xc3\x28\"}",
        ] {
            assert!(
                matches!(parse::<CreateProfile>(bad), Err(AppError::MalformedJson(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            fields(parse::<CreateProfile>(b"{}").unwrap_err()),
            ["username"]
        );
        assert_eq!(
            fields(parse::<CreateProfile>(br#"{"username":5}"#).unwrap_err()),
            ["username"]
        );
        assert_eq!(
            fields(parse::<CreateProfile>(br#"{"username":"a","bogus":1}"#).unwrap_err()),
            ["bogus"]
        );
        assert_eq!(
            fields(
                parse::<CreateProfile>(
                    br#"{"username":"a","links":[{"title":"t","url":"u"},{"title":1}]}"#
                )
                .unwrap_err()
            ),
            ["links[1].title"]
        );
        assert_eq!(
            fields(
                parse::<CreateProfile>(br#"{"username":"a","theme":{"accentColor":"red"}}"#)
                    .unwrap_err()
            ),
            ["theme.accentColor"]
        );
        assert_eq!(
            fields(parse::<LinksPatch>(br#"{"ops":[{"op":"nope"}]}"#).unwrap_err()),
            ["ops[0].op"]
        );
        assert!(matches!(
            parse::<CreateProfile>(b"[]"),
            Err(AppError::Validation(_))
        ));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse::<serde_json::Value>(deep.as_bytes()).is_err());
    }
}
