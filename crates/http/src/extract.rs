//! Request extractors whose every rejection is a problem+json answer naming what was wrong.
//!
//! `ApiJson<T>` reads a JSON body: it insists on a JSON content type, caps the size before
//! reading further, and reports a malformed document (400) apart from a well-formed one whose
//! values are wrong (422, with the path of the offending field, such as `links[1].url`).
//!
//! Every JSON body means one thing. serde's derived `Deserialize` also reads a struct from an
//! array, by field position (`["other"]` would rename a profile, `[null,null,null,null,{...}]`
//! would set a theme and clear a bio), so before the typed parse the document is walked beside
//! the body type's own schema (its `ToSchema`, with the schemas it refers to), and wherever the
//! schema says object (the top level, a theme, each link, each operation) anything else is
//! refused with 422 naming the field. The typed parse then reads the bytes themselves, so a key
//! given twice is refused too. Must not: build the router or the API description to learn a
//! schema.

use crate::error::AppError;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use linkleaf_domain::{FieldError, ValidationErrors};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use utoipa::ToSchema;

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

/// A query string read into `T`; a value that does not parse, a parameter given twice or one
/// `T` does not know is a 422 naming the parameter (`query` when none can be named).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, AppError> {
        parse_query(parts.uri.query().unwrap_or("")).map(Self)
    }
}

pub fn parse_query<T: DeserializeOwned>(q: &str) -> Result<T, AppError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde names an unknown or repeated parameter only in its message
        let named = |prefix: &str| {
            inner
                .strip_prefix(prefix)
                .and_then(|r| r.split('`').next())
                .map(str::to_string)
        };
        let field = if path != "." && !path.is_empty() {
            path
        } else {
            named("unknown field `")
                .or_else(|| named("duplicate field `"))
                .unwrap_or_else(|| "query".into())
        };
        AppError::Validation(ValidationErrors::single(field, inner))
    })
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

impl<T: DeserializeOwned + ToSchema + 'static> FromRequest<AppState> for ApiJson<T> {
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
        let limit = state.settings.max_body_bytes;
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

/// Parses a JSON document into `T`, telling syntax errors from wrong values, and refusing a
/// non-object wherever `T`'s schema says object.
pub fn parse<T: DeserializeOwned + ToSchema + 'static>(bytes: &[u8]) -> Result<T, AppError> {
    // Syntax first, on its own: a typed parse may stop at a wrong value before it reaches a
    // syntax error later in the document, and a malformed document should say so.
    // JSON is UTF-8 (RFC 8259), all of it, including strings a skipping parser would not look at.
    let text = std::str::from_utf8(bytes)
        .map_err(|e| AppError::MalformedJson(format!("the body is not UTF-8: {e}")))?;
    let doc: Value =
        serde_json::from_str(text).map_err(|e| AppError::MalformedJson(e.to_string()))?;
    let (schema, schemas) = &*schemas_of::<T>();
    shape(&doc, schema, schemas, &mut String::new()).map_err(|e| AppError::Validation(e.into()))?;
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

/// A body type's schema and the schemas it refers to, as JSON, worked out once per type.
fn schemas_of<T: ToSchema + 'static>() -> Arc<(Value, serde_json::Map<String, Value>)> {
    type Known = HashMap<std::any::TypeId, Arc<(Value, serde_json::Map<String, Value>)>>;
    static KNOWN: OnceLock<Mutex<Known>> = OnceLock::new();
    let id = std::any::TypeId::of::<T>();
    let mut known = KNOWN
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    known
        .entry(id)
        .or_insert_with(|| {
            let mut refs = Vec::new();
            T::schemas(&mut refs);
            let mut map = serde_json::Map::new();
            for (name, s) in refs {
                map.insert(name, serde_json::to_value(s).unwrap_or_default());
            }
            let own = serde_json::to_value(T::schema()).unwrap_or_default();
            Arc::new((own, map))
        })
        .clone()
}

fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// Checks that `v` is an object wherever `schema` says object, recursively; other mismatches
/// are left to the typed parse, which names them.
fn shape(
    v: &Value,
    schema: &Value,
    schemas: &serde_json::Map<String, Value>,
    path: &mut String,
) -> Result<(), FieldError> {
    if let Some(name) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        return match schemas.get(name) {
            Some(s) => shape(v, s, schemas, path),
            None => Ok(()),
        };
    }
    if let Some(branches) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        if v.is_null() && branches.iter().any(|b| types(b).contains(&"null")) {
            return Ok(());
        }
        let mut first = None;
        for b in branches.iter().filter(|b| types(b) != ["null"]) {
            match shape(v, b, schemas, &mut path.clone()) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        return first.map_or(Ok(()), Err);
    }
    let ts = types(schema);
    if ts.contains(&"object") || schema.get("properties").is_some() {
        return match v {
            Value::Object(fields) => {
                let props = schema.get("properties").and_then(Value::as_object);
                for (k, sub) in fields {
                    if let Some(p) = props.and_then(|p| p.get(k)) {
                        let len = path.len();
                        if !path.is_empty() {
                            path.push('.');
                        }
                        path.push_str(k);
                        shape(sub, p, schemas, path)?;
                        path.truncate(len);
                    }
                }
                Ok(())
            }
            Value::Null if ts.contains(&"null") => Ok(()),
            other => Err(FieldError::new(
                if path.is_empty() {
                    "body"
                } else {
                    path.as_str()
                },
                format!("must be a JSON object, not {}", kind(other)),
            )),
        };
    }
    if let (Value::Array(items), Some(item)) = (v, schema.get("items")) {
        for (i, it) in items.iter().enumerate() {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            shape(it, item, schemas, path)?;
            path.truncate(len);
        }
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
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
    fn a_body_means_one_thing_arrays_are_not_objects() {
        for (body, field) in [
            (&b"[]"[..], "body"),
            (b"[null, null]", "body"),
            (br#"["other"]"#, "body"),
            (br#"[null,null,null,null,{"preset":"dark"}]"#, "body"),
            (b"\"name\"", "body"),
            (b"42", "body"),
            (b"null", "body"),
        ] {
            assert_eq!(
                fields(parse::<linkleaf_domain::ProfilePatch>(body).unwrap_err()),
                [field],
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            fields(parse::<CreateProfile>(br#"["name"]"#).unwrap_err()),
            ["body"]
        );
        assert_eq!(
            fields(parse::<CreateProfile>(br#"{"username":"abc","theme":["dark"]}"#).unwrap_err()),
            ["theme"]
        );
        assert_eq!(
            fields(
                parse::<CreateProfile>(
                    br#"{"username":"abc","links":[["t","https://e.example"]]}"#
                )
                .unwrap_err()
            ),
            ["links[0]"]
        );
        assert_eq!(
            fields(
                parse::<LinksPatch>(br#"{"ops":[["add","t","https://e.example"]]}"#).unwrap_err()
            ),
            ["ops[0]"]
        );
        assert_eq!(
            fields(parse::<LinksPatch>(br#"[[]]"#).unwrap_err()),
            ["body"]
        );
        // null where the schema allows it is fine, and so is an object
        assert!(parse::<CreateProfile>(br#"{"username":"abc","theme":null}"#).is_ok());
        assert!(parse::<linkleaf_domain::ProfilePatch>(br#"{"theme":{"preset":"dark"}}"#).is_ok());
        // a key given twice has two meanings
        assert!(parse::<linkleaf_domain::ProfilePatch>(br#"{"bio":"a","bio":"b"}"#).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse::<serde_json::Value>(deep.as_bytes()).is_err());
    }
}
