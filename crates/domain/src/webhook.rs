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
                p.time_zone.clone(),
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
    /// Who made the change (a signed-in account or an API key); absent for the operator's
    /// command line, and for an event received from elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub actor: Option<crate::account::Actor>,
}

/// How many times an event may be passed on by instances that receive it (an instance that
/// receives one with this many hops records it and passes it on no further).
pub const MAX_HOPS: u32 = 3;

/// The longest event id taken from outside.
pub const EVENT_ID_MAX: usize = 256;

/// One event, as sent and as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "links.updated",
    "timestamp": "2026-11-25T04:26:01.859Z",
    "id": "msg_019af9b1c2d37e5f8a6b4c3d2e1f0a9b",
    "hops": 0,
    "data": {"id": "01a210f4-1703-70b5-8418-a87c7c63c8c4", "username": "jane"}
}))]
pub struct WebhookEvent {
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When the change was committed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: OffsetDateTime,
    /// The event's id, the same wherever it travels (also its `webhook-id`): an instance that
    /// receives it and passes it on keeps it, and never passes on an id it has seen. It is in
    /// the signed body, so it cannot be stripped.
    #[schema(example = "msg_019af9b1c2d37e5f8a6b4c3d2e1f0a9b")]
    pub id: String,
    /// How many instances passed it on before (0 where it happened); one that receives it with
    /// `MAX_HOPS` passes it on no further.
    pub hops: u32,
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
            id: new_event_id(),
            hops: 0,
            data: EventData {
                id,
                username: username.as_str().to_owned(),
                previous_username: previous.map(|u| u.as_str().to_owned()),
                actor: None,
            },
        }
    }

    /// The same event, saying who made the change.
    pub fn by(mut self, actor: Option<&crate::account::Actor>) -> Self {
        self.data.actor = actor.cloned();
        self
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

/// A new event's id: `msg_` and a UUIDv7, so ids sort by time.
pub fn new_event_id() -> String {
    format!("msg_{}", Uuid::now_v7().simple())
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
    /// naming the field. Usernames come back as their lowercase keys. Its `id` is the body's
    /// (kept wherever it travels), or, from a sender that puts none there, `webhook_id` (the
    /// header); `hops` the body's, or 0.
    pub fn parse(bytes: &[u8], webhook_id: &str) -> Result<Self, ValidationErrors> {
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
        let event_id = match obj.get("id") {
            None | Some(Value::Null) => Some(webhook_id.to_owned()),
            Some(Value::String(s))
                if !s.is_empty()
                    && s.len() <= EVENT_ID_MAX
                    && s.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Some(s.clone())
            }
            Some(_) => {
                errs.push(FieldError::new(
                    "id",
                    format!("must be 1 to {EVENT_ID_MAX} visible characters"),
                ));
                None
            }
        };
        let hops = match obj.get("hops") {
            None | Some(Value::Null) => Some(0),
            Some(v) => errs.check(
                v.as_u64()
                    .and_then(|h| u32::try_from(h).ok())
                    .ok_or_else(|| FieldError::new("hops", "must be a whole number from 0")),
            ),
        };
        match (timestamp, id, username, event_id, hops) {
            (Some(timestamp), Some(id), Some(username), Some(event_id), Some(hops))
                if errs.is_empty() =>
            {
                Ok(Self::Known(WebhookEvent {
                    kind: kind_known,
                    timestamp,
                    id: event_id,
                    hops,
                    data: EventData {
                        id,
                        username,
                        previous_username: previous,
                        actor: None,
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
    /// The profile (its id or username) whose events to receive: required when made by a
    /// person or a profile's key (whose profile it defaults to); without it, an operator's
    /// key or an admin subscribes to every profile's events.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub profile: Option<String>,
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
        match Incoming::parse(ok, "msg_from_the_header").unwrap() {
            Incoming::Known(e) => {
                assert_eq!(e.kind, EventType::ProfileUpdated);
                assert_eq!(
                    (e.id.as_str(), e.hops),
                    ("msg_from_the_header", 0),
                    "no id in the body: the header's"
                );
                assert_eq!(e.data.username, "jane", "as its lowercase key");
                assert_eq!(e.data.previous_username.as_deref(), Some("old.name"));
            }
            Incoming::Unknown(t) => panic!("{t}"),
        }
        assert_eq!(
            Incoming::parse(br#"{"type":"invoice.paid","timestamp":"x","data":[]}"#, "h")
                .unwrap_err()
                .0[0]
                .field,
            "timestamp"
        );
        assert_eq!(
            Incoming::parse(
                br#"{"type":"invoice.paid","timestamp":"2026-11-25T04:26:01Z"}"#,
                "h"
            )
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
            (br#"{"type":"links.updated","timestamp":"2026-11-25T04:26:01Z","id":"","data":{"id":"01a210f4-1703-70b5-8418-a87c7c63c8c4","username":"jane"}}"#, "id"),
            (br#"{"type":"links.updated","timestamp":"2026-11-25T04:26:01Z","hops":-1,"data":{"id":"01a210f4-1703-70b5-8418-a87c7c63c8c4","username":"jane"}}"#, "hops"),
            (b"\xff", ""),
        ] {
            let e = Incoming::parse(bad, "h").expect_err(&String::from_utf8_lossy(bad));
            assert_eq!(e.0[0].field, field, "{}", String::from_utf8_lossy(bad));
        }
    }

    /// The id and the hop count travel inside the signed body: what an instance sends, the next
    /// one reads back as it was.
    #[test]
    fn an_event_keeps_its_id_and_hops_through_a_round_trip() {
        let mut e = WebhookEvent::new(
            EventType::LinksUpdated,
            OffsetDateTime::UNIX_EPOCH,
            Uuid::nil(),
            &Username::from_stored("jane".into()),
            None,
        );
        assert!(e.id.starts_with("msg_"));
        e.hops = 2;
        match Incoming::parse(e.to_json().as_bytes(), "another_header_id").unwrap() {
            Incoming::Known(back) => assert_eq!(back, e),
            Incoming::Unknown(t) => panic!("{t}"),
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
            profile: None,
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
                profile: None,
            }
            .into_spec()
            .expect_err(bad);
            assert_eq!(e.0[0].field, "url", "{bad}");
        }
        let e = CreateSubscription {
            url: "https://hooks.example/".into(),
            events: Some(vec![]),
            enabled: None,
            profile: None,
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
