//! Webhooks as linkleaf speaks them (Standard Webhooks payloads): the events a change announces,
//! what an incoming event must look like, and what a subscription may be.
//!
//! An event is `{"type", "timestamp", "data": {"id", "username", "previousUsername"?}}`: thin on
//! purpose. It names the profile (by id and username, and the old name after a rename) and says
//! what kind of change happened; a receiver reads the profile itself if it wants it, so an event
//! that arrives late or twice can never put old data anywhere.
//! Must not: sign, verify or send (the `linkleaf-webhooks` crate does), or do I/O.

use crate::error::{FieldError, ValidationErrors};
use crate::profile::Profile;
use crate::username::Username;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// What happened to a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "profile.created")]
    ProfileCreated,
    /// Its name, display name, bio, avatar or theme changed.
    #[serde(rename = "profile.updated")]
    ProfileUpdated,
    #[serde(rename = "profile.deleted")]
    ProfileDeleted,
    /// Its links changed (added, edited, moved, enabled, disabled or removed).
    #[serde(rename = "links.updated")]
    LinksUpdated,
}

impl EventType {
    pub const ALL: [Self; 4] = [
        Self::ProfileCreated,
        Self::ProfileUpdated,
        Self::ProfileDeleted,
        Self::LinksUpdated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProfileCreated => "profile.created",
            Self::ProfileUpdated => "profile.updated",
            Self::ProfileDeleted => "profile.deleted",
            Self::LinksUpdated => "links.updated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// What a change from `before` to `after` announces (nothing when nothing changed).
    pub fn of_change(before: &Profile, after: &Profile) -> Vec<Self> {
        let mut out = Vec::new();
        let fields = |p: &Profile| {
            (
                p.username.as_str().to_owned(),
                p.display_name.clone(),
                p.bio.clone(),
                p.avatar_url.clone(),
                p.theme.clone(),
            )
        };
        if fields(before) != fields(after) {
            out.push(Self::ProfileUpdated);
        }
        if before.links != after.links {
            out.push(Self::LinksUpdated);
        }
        out
    }
}

/// Which profile an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventData {
    pub id: Uuid,
    /// Its username (for `profile.deleted`, the one it had).
    #[schema(example = "jane")]
    pub username: String,
    /// After a rename: the name it had before, which no longer names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub previous_username: Option<String>,
}

/// One event, as sent and as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "links.updated",
    "timestamp": "2026-11-25T04:26:01.859Z",
    "data": {"id": "01a210f4-1703-70b5-8418-a87c7c63c8c4", "username": "jane"}
}))]
pub struct WebhookEvent {
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When the change was committed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: OffsetDateTime,
    pub data: EventData,
}

impl WebhookEvent {
    pub fn new(
        kind: EventType,
        timestamp: OffsetDateTime,
        id: Uuid,
        username: &Username,
        previous: Option<&Username>,
    ) -> Self {
        Self {
            kind,
            timestamp,
            data: EventData {
                id,
                username: username.as_str().to_owned(),
                previous_username: previous.map(|u| u.as_str().to_owned()),
            },
        }
    }

    /// The events of a change from `before` to `after`, at `at`.
    pub fn of_change(before: &Profile, after: &Profile, at: OffsetDateTime) -> Vec<Self> {
        let renamed = before.username.key() != after.username.key();
        EventType::of_change(before, after)
            .into_iter()
            .map(|t| {
                let previous =
                    (renamed && t == EventType::ProfileUpdated).then_some(&before.username);
                Self::new(t, at, after.id, &after.username, previous)
            })
            .collect()
    }

    /// The body as sent.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// An incoming event, read from bytes whose signature was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Known(WebhookEvent),
    /// A type this version does not know: accepted and ignored (senders add types).
    Unknown(String),
}

/// What an event's `data` must hold, as its usernames are read: their lowercase keys, each a
/// possible username (an event naming something that cannot be a username is refused).
fn username_field(
    data: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<String>, FieldError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Username::lookup_key(s)
            .map(|k| Some(k.into_owned()))
            .ok_or_else(|| FieldError::new(format!("data.{name}"), "is not a username")),
        Some(_) => Err(FieldError::new(format!("data.{name}"), "must be a string")),
    }
}

impl Incoming {
    /// Reads an event. An object with a string `type`, an RFC 3339 `timestamp` and an object
    /// `data` naming the profile by `id` (a UUID) and `username`; anything else is refused,
    /// naming the field. Usernames come back as their lowercase keys.
    pub fn parse(bytes: &[u8]) -> Result<Self, ValidationErrors> {
        let doc: Value = serde_json::from_slice(bytes)
            .map_err(|e| ValidationErrors::single("", format!("is not JSON: {e}")))?;
        let Value::Object(obj) = doc else {
            return Err(ValidationErrors::single("", "must be a JSON object"));
        };
        let kind = match obj.get("type") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(ValidationErrors::single("type", "must be a string")),
        };
        let mut errs = ValidationErrors::default();
        let timestamp = match obj.get("timestamp") {
            Some(Value::String(s)) => errs.check(
                OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| FieldError::new("timestamp", format!("is not RFC 3339: {e}"))),
            ),
            _ => {
                errs.push(FieldError::new("timestamp", "must be an RFC 3339 string"));
                None
            }
        };
        let Some(kind_known) = EventType::parse(&kind) else {
            return errs.into_result(Self::Unknown(kind));
        };
        let Some(Value::Object(data)) = obj.get("data") else {
            errs.push(FieldError::new("data", "must be an object"));
            return Err(errs);
        };
        let id = match data.get("id") {
            Some(Value::String(s)) => errs.check(
                Uuid::try_parse(s).map_err(|_| FieldError::new("data.id", "must be a UUID")),
            ),
            _ => {
                errs.push(FieldError::new("data.id", "must be a UUID"));
                None
            }
        };
        let username = match errs.check(username_field(data, "username")) {
            Some(Some(u)) => Some(u),
            Some(None) => {
                errs.push(FieldError::new("data.username", "is required"));
                None
            }
            None => None,
        };
        let previous = errs
            .check(username_field(data, "previousUsername"))
            .flatten();
        match (timestamp, id, username) {
            (Some(timestamp), Some(id), Some(username)) if errs.is_empty() => {
                Ok(Self::Known(WebhookEvent {
                    kind: kind_known,
                    timestamp,
                    data: EventData {
                        id,
                        username,
                        previous_username: previous,
                    },
                }))
            }
            _ => Err(errs),
        }
    }
}

/// A subscription's secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret(random: [u8; 32]) -> String {
    format!("whsec_{}", base64_standard(&random))
}

fn base64_standard(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The body of `POST /api/webhooks/subscriptions`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example/linkleaf", "events": ["profile.updated", "links.updated"]}))]
pub struct CreateSubscription {
    /// Where events are POSTed: `http` or `https`, no credentials in it. Redirects are not
    /// followed.
    #[schema(min_length = 1, max_length = 2048, pattern = "@avatar-url")]
    pub url: String,
    /// The event types to send (default: all of them).
    #[serde(default)]
    #[schema(min_items = 1, max_items = 4)]
    pub events: Option<Vec<EventType>>,
    /// Defaults to true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// The body of `PATCH /api/webhooks/subscriptions/{id}`: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"enabled": true}))]
pub struct SubscriptionPatch {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 2048, pattern = "@avatar-url")]
    pub url: Option<String>,
    #[serde(default)]
    #[schema(min_items = 1, max_items = 4)]
    pub events: Option<Vec<EventType>>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// What a subscription is, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSpec {
    pub url: String,
    pub events: Vec<EventType>,
    pub enabled: bool,
}

fn events(list: &[EventType]) -> Result<Vec<EventType>, FieldError> {
    if list.is_empty() {
        return Err(FieldError::new("events", "name at least one event type"));
    }
    let mut out: Vec<EventType> = Vec::new();
    for (i, t) in list.iter().enumerate() {
        if out.contains(t) {
            return Err(FieldError::new(
                format!("events[{i}]"),
                format!("names {} a second time", t.as_str()),
            ));
        }
        out.push(*t);
    }
    Ok(out)
}

impl CreateSubscription {
    pub fn into_spec(self) -> Result<SubscriptionSpec, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let url = errs.check(crate::url::webhook_url(&self.url));
        let events = match &self.events {
            Some(list) => errs.check(events(list)),
            None => Some(EventType::ALL.to_vec()),
        };
        match (url, events) {
            (Some(url), Some(events)) if errs.is_empty() => Ok(SubscriptionSpec {
                url,
                events,
                enabled: self.enabled.unwrap_or(true),
            }),
            _ => Err(errs),
        }
    }
}

impl SubscriptionPatch {
    /// `current` changed as the patch says.
    pub fn apply(&self, current: &SubscriptionSpec) -> Result<SubscriptionSpec, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let mut next = current.clone();
        if let Some(u) = &self.url
            && let Some(u) = errs.check(crate::url::webhook_url(u))
        {
            next.url = u;
        }
        if let Some(list) = &self.events
            && let Some(e) = errs.check(events(list))
        {
            next.events = e;
        }
        if let Some(e) = self.enabled {
            next.enabled = e;
        }
        errs.into_result(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_events_are_read_strictly_and_unknown_types_pass() {
        let ok = br#"{"type":"profile.updated","timestamp":"2026-11-25T04:26:01.859Z",
            "data":{"id":"01a210f4-1703-70b5-8418-a87c7c63c8c4","username":"Jane","previousUsername":"old.name"}}"#;
        match Incoming::parse(ok).unwrap() {
            Incoming::Known(e) => {
                assert_eq!(e.kind, EventType::ProfileUpdated);
                assert_eq!(e.data.username, "jane", "as its lowercase key");
                assert_eq!(e.data.previous_username.as_deref(), Some("old.name"));
            }
            Incoming::Unknown(t) => panic!("{t}"),
        }
        assert_eq!(
            Incoming::parse(br#"{"type":"invoice.paid","timestamp":"x","data":[]}"#)
                .unwrap_err()
                .0[0]
                .field,
            "timestamp"
        );
        assert_eq!(
            Incoming::parse(br#"{"type":"invoice.paid","timestamp":"2026-11-25T04:26:01Z"}"#)
                .unwrap(),
            Incoming::Unknown("invoice.paid".into())
        );
        for (bad, field) in [
            (&br#"[]"#[..], ""),
            (br#"["profile.updated"]"#, ""),
            (br#"{"timestamp":"2026-11-25T04:26:01Z"}"#, "type"),
            (br#"{"type":"links.updated","timestamp":"2026-11-25T04:26:01Z","data":[1]}"#, "data"),
            (br#"{"type":"links.updated","timestamp":"2026-11-25T04:26:01Z","data":{"id":"x","username":"jane"}}"#, "data.id"),
            (br#"{"type":"links.updated","timestamp":"2026-11-25T04:26:01Z","data":{"id":"01a210f4-1703-70b5-8418-a87c7c63c8c4"}}"#, "data.username"),
            (br#"{"type":"links.updated","timestamp":"2026-11-25T04:26:01Z","data":{"id":"01a210f4-1703-70b5-8418-a87c7c63c8c4","username":"<script>"}}"#, "data.username"),
            (br#"{"type":"links.updated","timestamp":"2026-11-25T04:26:01Z","data":{"id":"01a210f4-1703-70b5-8418-a87c7c63c8c4","username":7}}"#, "data.username"),
            (b"\xff", ""),
        ] {
            let e = Incoming::parse(bad).expect_err(&String::from_utf8_lossy(bad));
            assert_eq!(e.0[0].field, field, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn secrets_are_whsec_and_base64() {
        assert_eq!(base64_standard(b"Man"), "TWFu");
        assert_eq!(base64_standard(b"Ma"), "TWE=");
        assert_eq!(base64_standard(b"M"), "TQ==");
        let s = new_secret([7; 32]);
        assert!(s.starts_with("whsec_") && s.len() == 6 + 44, "{s}");
    }

    #[test]
    fn subscriptions_take_http_urls_and_known_events() {
        let spec = CreateSubscription {
            url: "https://hooks.example/in".into(),
            events: None,
            enabled: None,
        }
        .into_spec()
        .unwrap();
        assert_eq!(spec.events, EventType::ALL.to_vec());
        assert!(spec.enabled);
        for bad in [
            "javascript:alert(1)",
            "ftp://x.example/",
            "https://user:pw@hooks.example/",
            "/relative",
        ] {
            let e = CreateSubscription {
                url: bad.into(),
                events: None,
                enabled: None,
            }
            .into_spec()
            .expect_err(bad);
            assert_eq!(e.0[0].field, "url", "{bad}");
        }
        let e = CreateSubscription {
            url: "https://hooks.example/".into(),
            events: Some(vec![]),
            enabled: None,
        }
        .into_spec()
        .unwrap_err();
        assert_eq!(e.0[0].field, "events");
        let twice = SubscriptionPatch {
            events: Some(vec![EventType::LinksUpdated, EventType::LinksUpdated]),
            ..Default::default()
        }
        .apply(&spec)
        .unwrap_err();
        assert_eq!(twice.0[0].field, "events[1]");
        let patched = SubscriptionPatch {
            enabled: Some(false),
            events: Some(vec![EventType::LinksUpdated]),
            url: None,
        }
        .apply(&spec)
        .unwrap();
        assert_eq!(
            (patched.enabled, patched.events),
            (false, vec![EventType::LinksUpdated])
        );
    }
}
