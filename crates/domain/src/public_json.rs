//! Profiles read from another linkleaf's public JSON (edge mode's upstream), a source that is
//! not trusted: every field checked by the same rules as a request body, each error naming its
//! field.
//! Must not: trust a value because it came from a linkleaf, or refuse fields it does not know
//! (a newer origin may send more).

use crate::error::{FieldError, ValidationErrors};
use crate::profile::{Link, MAX_LINKS, Profile};
use crate::schedule;
use crate::theme::Theme;
use crate::username::Username;
use crate::{text, url};
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// Reads a profile as linkleaf's public JSON gives it (`GET /api/profiles/{username}`), from a
/// source that is not trusted (edge mode's upstream): every field checked by the same rules as
/// a request body, each error naming its field; unknown fields are ignored (a newer origin may
/// send more). A link the answer marks disabled is kept disabled.
pub fn from_public_json(bytes: &[u8]) -> Result<Profile, ValidationErrors> {
    Profile::from_public_json(bytes)
}

impl Profile {
    /// See the free function `from_public_json`.
    pub fn from_public_json(bytes: &[u8]) -> Result<Profile, ValidationErrors> {
        read_public(bytes)
    }
}

fn read_public(bytes: &[u8]) -> Result<Profile, ValidationErrors> {
    use serde_json::Value;
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| ValidationErrors::single("", format!("is not JSON: {e}")))?;
    let Value::Object(o) = doc else {
        return Err(ValidationErrors::single("", "must be a JSON object"));
    };
    let mut errs = ValidationErrors::default();
    let text = |errs: &mut ValidationErrors, v: Option<&Value>, field: &str| -> Option<String> {
        match v {
            Some(Value::String(s)) => Some(s.clone()),
            _ => {
                errs.push(FieldError::new(field, "must be a string"));
                None
            }
        }
    };
    let uuid = |errs: &mut ValidationErrors, v: Option<&Value>, field: &str| -> Option<Uuid> {
        let parsed = match v {
            Some(Value::String(s)) => Uuid::try_parse(s).ok(),
            _ => None,
        };
        if parsed.is_none() {
            errs.push(FieldError::new(field, "must be a UUID"));
        }
        parsed
    };
    let id = uuid(&mut errs, o.get("id"), "id");
    let username = text(&mut errs, o.get("username"), "username")
        .and_then(|u| errs.check(Username::parse(&u)));
    let display_name = text(&mut errs, o.get("displayName"), "displayName")
        .and_then(|d| errs.check(text::display_name(&d)));
    let bio = match o.get("bio") {
        None | Some(Value::Null) => Some(String::new()),
        v => text(&mut errs, v, "bio").and_then(|b| errs.check(text::bio(&b))),
    };
    let avatar_url = match o.get("avatarUrl") {
        None | Some(Value::Null) => Some(None),
        v => text(&mut errs, v, "avatarUrl")
            .and_then(|a| errs.check(url::avatar_url(&a)))
            .map(Some),
    };
    let theme = match o.get("theme") {
        None | Some(Value::Null) => Some(Theme::default()),
        Some(v @ Value::Object(_)) => match Theme::deserialize(v) {
            Ok(t) => Some(t),
            Err(e) => {
                errs.push(FieldError::new("theme", e.to_string()));
                None
            }
        },
        Some(_) => {
            errs.push(FieldError::new("theme", "must be an object"));
            None
        }
    };
    let last_modified = text(&mut errs, o.get("lastModified"), "lastModified").and_then(|t| {
        errs.check(
            OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
                .map_err(|e| FieldError::new("lastModified", format!("is not RFC 3339: {e}"))),
        )
    });
    // an optional time: absent or null is none
    let when = |errs: &mut ValidationErrors, v: Option<&Value>, field: &str| match v {
        None | Some(Value::Null) => Some(None),
        v => text(errs, v, field)
            .and_then(|t| errs.check(schedule::parse_time(&t, field)))
            .map(Some),
    };
    let next_change = when(&mut errs, o.get("validUntil"), "validUntil").flatten();
    let mut links = Vec::new();
    match o.get("links") {
        Some(Value::Array(items)) if items.len() <= MAX_LINKS => {
            for (i, item) in items.iter().enumerate() {
                let at = |f: &str| format!("links[{i}].{f}");
                let Value::Object(l) = item else {
                    errs.push(FieldError::new(format!("links[{i}]"), "must be an object"));
                    continue;
                };
                let id = uuid(&mut errs, l.get("id"), &at("id"));
                let title = text(&mut errs, l.get("title"), &at("title")).and_then(|t| {
                    errs.check(text::link_title(&t).map_err(|e| e.under(&format!("links[{i}]"))))
                });
                let url = text(&mut errs, l.get("url"), &at("url")).and_then(|u| {
                    errs.check(url::link_url(&u).map_err(|e| e.under(&format!("links[{i}]"))))
                });
                let click_count = match l.get("clickCount") {
                    None => Some(0),
                    Some(v) => v.as_u64().or_else(|| {
                        errs.push(FieldError::new(at("clickCount"), "must be a count"));
                        None
                    }),
                };
                let enabled = match l.get("enabled") {
                    None => Some(true),
                    Some(Value::Bool(b)) => Some(*b),
                    Some(_) => {
                        errs.push(FieldError::new(at("enabled"), "must be true or false"));
                        None
                    }
                };
                let visible_from = when(&mut errs, l.get("visibleFrom"), &at("visibleFrom"));
                let visible_until = when(&mut errs, l.get("visibleUntil"), &at("visibleUntil"));
                if let (
                    Some(id),
                    Some(title),
                    Some(url),
                    Some(click_count),
                    Some(enabled),
                    Some(visible_from),
                    Some(visible_until),
                ) = (
                    id,
                    title,
                    url,
                    click_count,
                    enabled,
                    visible_from,
                    visible_until,
                ) {
                    if links.iter().any(|x: &Link| x.id == id) {
                        errs.push(FieldError::new(at("id"), "appears twice"));
                    }
                    links.push(Link {
                        id,
                        title,
                        url,
                        // the answer's order is the order shown
                        position: i as u32,
                        click_count,
                        enabled,
                        visible_from,
                        visible_until,
                    });
                }
            }
        }
        Some(Value::Array(_)) => errs.push(FieldError::new(
            "links",
            format!("a profile holds at most {MAX_LINKS} links"),
        )),
        _ => errs.push(FieldError::new("links", "must be an array")),
    }
    match (
        id,
        username,
        display_name,
        bio,
        avatar_url,
        theme,
        last_modified,
    ) {
        (
            Some(id),
            Some(username),
            Some(display_name),
            Some(bio),
            Some(avatar_url),
            Some(theme),
            Some(last_modified),
        ) if errs.is_empty() => Ok(Profile {
            id,
            username,
            display_name,
            bio,
            avatar_url,
            links,
            theme,
            last_modified,
            counted_at: None,
            version: 0,
            time_zone: "UTC".to_owned(),
            next_change,
        }),
        _ => Err(errs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{CreateProfile, now_millis};

    fn create(json: &str) -> Result<Profile, ValidationErrors> {
        serde_json::from_str::<CreateProfile>(json)
            .unwrap()
            .into_profile(now_millis())
    }

    #[test]
    fn a_public_profile_from_elsewhere_is_read_by_the_same_rules() {
        let p = create(
            r#"{"username":"Jane","displayName":"Jane","bio":"hi","links":[{"title":"a","url":"https://a.example"},{"title":"b","url":"mailto:b@example.com"}]}"#,
        )
        .unwrap();
        let json = serde_json::to_vec(&p.public_at(OffsetDateTime::now_utc())).unwrap();
        let back = from_public_json(&json).unwrap();
        assert_eq!(
            (
                back.id,
                back.username.as_str(),
                back.links.len(),
                back.links[1].url.as_str()
            ),
            (p.id, "Jane", 2, "mailto:b@example.com")
        );
        assert_eq!(back.links, p.links);
        let mut doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
        doc["someday"] = serde_json::json!("a newer origin's field");
        assert!(
            from_public_json(doc.to_string().as_bytes()).is_ok(),
            "unknown fields are ignored"
        );
        for (change, field) in [
            (
                serde_json::json!({"links": [{"id": "x", "title": "a", "url": "https://a.example"}]}),
                "links[0].id",
            ),
            (
                serde_json::json!({"links": [{"id": p.links[0].id, "title": "a", "url": "javascript:alert(1)"}]}),
                "links[0].url",
            ),
            (
                serde_json::json!({"links": [{"id": p.links[0].id, "title": "\u{200b}", "url": "https://a.example"}]}),
                "links[0].title",
            ),
            (serde_json::json!({"links": [1]}), "links[0]"),
            (serde_json::json!({"links": {"0": 1}}), "links"),
            (serde_json::json!({"username": "<script>"}), "username"),
            (
                serde_json::json!({"avatarUrl": "data:image/png;base64,xx"}),
                "avatarUrl",
            ),
            (serde_json::json!({"theme": {"preset": "neon"}}), "theme"),
            (serde_json::json!({"theme": ["dark"]}), "theme"),
            (serde_json::json!({"id": 7}), "id"),
            (
                serde_json::json!({"lastModified": "yesterday"}),
                "lastModified",
            ),
        ] {
            let mut d = doc.clone();
            for (k, v) in change.as_object().unwrap() {
                d[k] = v.clone();
            }
            let e = from_public_json(d.to_string().as_bytes()).expect_err(&d.to_string());
            assert_eq!(e.0[0].field, field, "{d}");
        }
        for junk in [&b"[]"[..], b"null", b"{", b"\xff"] {
            assert!(from_public_json(junk).is_err());
        }
    }
}
