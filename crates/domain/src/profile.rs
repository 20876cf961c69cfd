//! Profiles and links (the seed's data model, camelCase on the wire), and the inputs that create
//! and edit them.
//!
//! A `Profile` holds every link, enabled or not, in position order; `PublicProfile` is what the
//! world may see: enabled links only. Inputs are parsed here, each error naming its field.
//! Must not: touch storage, HTML or the network; a value that passed here may still be escaped only
//! by the renderer.

use crate::error::{FieldError, ValidationErrors};
use crate::schedule;
use crate::theme::Theme;
use crate::username::Username;
use crate::zone::Zone;
use crate::{text, url};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// The most links one profile may hold.
pub const MAX_LINKS: usize = 100;

/// A link on a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub id: Uuid,
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
    /// An `http`, `https`, `mailto` or `tel` URL, in its normalized form (which may be longer
    /// than what was sent: non-ASCII characters are percent-encoded).
    #[schema(min_length = 1)]
    pub url: String,
    /// 0 for the first link; positions are 0..n.
    pub position: u32,
    /// Clicks counted on this link.
    pub click_count: u64,
    /// Disabled links are kept but not shown publicly.
    pub enabled: bool,
    /// Shown from this time on (RFC 3339; absent: from now). The page changes at it by itself,
    /// and nothing that keeps the page (a browser, a cache, an edge) keeps it past it.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime, required = false)]
    pub visible_from: Option<OffsetDateTime>,
    /// Shown until this time, exclusive (RFC 3339; absent: for good).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime, required = false)]
    pub visible_until: Option<OffsetDateTime>,
}

/// A profile. Publicly (`GET /api/profiles/{username}`) `links` holds the enabled links only;
/// with a `profile:read` key (`GET /api/profiles/{id}`) and in write answers it holds all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "01a210f4-1703-70b5-8418-a87c7c63c8c4",
    "username": "jane",
    "displayName": "Jane Doe",
    "bio": "Writer and runner.",
    "avatarUrl": "https://example.com/jane.png",
    "links": [
        {"id": "01a210f4-1703-70b5-8418-a878b07f190b", "title": "My blog", "url": "https://jane.example/",
         "position": 0, "clickCount": 0, "enabled": true},
        {"id": "01a210f4-1703-70b5-8418-a879ecd5d087", "title": "Mail me", "url": "mailto:jane@example.com",
         "position": 1, "clickCount": 0, "enabled": true}
    ],
    "theme": {"preset": "sunset", "buttonStyle": "pill"},
    "lastModified": "2026-11-25T04:26:01.859Z",
    "version": 3,
    "timeZone": "Europe/Paris"
}))]
pub struct Profile {
    pub id: Uuid,
    #[schema(value_type = String, min_length = 3, max_length = 30, pattern = "@username")]
    pub username: Username,
    #[schema(min_length = 1, max_length = 80)]
    pub display_name: String,
    #[schema(max_length = 280)]
    pub bio: String,
    pub avatar_url: Option<String>,
    /// Links in position order (positions are 0..n).
    pub links: Vec<Link>,
    pub theme: Theme,
    /// The last edit; in a public answer, when what it shows last changed (an edit, a click
    /// count, a scheduled link appearing or going), as its `Last-Modified` says.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_modified: OffsetDateTime,
    /// When its links' click counters last moved (they are shown, so the page changes then
    /// too): `None` when they never did, or are not known.
    #[serde(skip)]
    pub counted_at: Option<OffsetDateTime>,
    /// Bumped by every write that changes the profile. Send it back in `If-Match` with an
    /// edit to have the edit refused (412) when someone else changed the profile meanwhile.
    #[schema(minimum = 0)]
    pub version: i64,
    /// The IANA time zone its analytics' days are in (and its schedules shown in, by a client).
    /// Not in public answers.
    #[schema(example = "Europe/Paris", required = false)]
    pub time_zone: String,
    /// Public answers only: when the answer stops being true by itself (a scheduled link
    /// appears or goes then). Nothing may keep it past this time. Absent when no such time is
    /// known. (Read back from an upstream's answer by an edge; links held here add their own
    /// boundaries to it, `public_at`.)
    #[serde(
        rename = "validUntil",
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime, required = false)]
    pub next_change: Option<OffsetDateTime>,
}

impl Link {
    /// Whether the public sees this link at `now` (`schedule::shown_at`).
    pub fn visible_at(&self, now: OffsetDateTime) -> bool {
        schedule::shown_at(self.enabled, self.visible_from, self.visible_until, now)
    }

    /// Its window, as `schedule` reads it.
    pub fn window(&self) -> schedule::Window {
        (self.enabled, self.visible_from, self.visible_until)
    }
}

/// The public face of a profile: what `GET /api/profiles/{username}` and the page show.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicProfile<'a> {
    pub id: Uuid,
    pub username: &'a Username,
    pub display_name: &'a str,
    pub bio: &'a str,
    pub avatar_url: Option<&'a str>,
    pub links: Vec<&'a Link>,
    pub theme: &'a Theme,
    /// When what this answer shows last changed: an edit, a click count, a scheduled link
    /// appearing or going (`Profile::changed_at`), so a copy made from it (an edge's) dates
    /// itself as the origin does.
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
    /// When this answer stops being true by itself (a scheduled link appears or goes then):
    /// nothing may keep it past this time. Absent when no such time is known.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_until: Option<OffsetDateTime>,
}

impl Profile {
    /// When what its page shows at `now` last changed: its edit, its counters moving, or a
    /// scheduled link appearing or going, whichever came last.
    pub fn changed_at(&self, now: OffsetDateTime) -> OffsetDateTime {
        let mut t = self.last_modified;
        for c in [
            self.counted_at,
            schedule::last_boundary(self.links.iter().map(Link::window), now),
        ]
        .into_iter()
        .flatten()
        {
            t = t.max(c);
        }
        t
    }

    /// The links the public sees at `now` (enabled, within their windows), in position
    /// order, and until when that holds.
    pub fn public_at(&self, now: OffsetDateTime) -> PublicProfile<'_> {
        let mut links: Vec<&Link> = self.links.iter().filter(|l| l.visible_at(now)).collect();
        links.sort_by_key(|l| l.position);
        // an upstream's `validUntil` that has passed already (the answer came late) ends the
        // answer now: it is not dropped, which would let it live a whole cache period
        let valid_until = [
            schedule::next_boundary(self.links.iter().map(Link::window), now),
            self.next_change.map(|t| t.max(now)),
        ]
        .into_iter()
        .flatten()
        .min();
        PublicProfile {
            id: self.id,
            username: &self.username,
            display_name: &self.display_name,
            bio: &self.bio,
            avatar_url: self.avatar_url.as_deref(),
            links,
            theme: &self.theme,
            last_modified: self.changed_at(now),
            valid_until,
        }
    }
}

/// The current time at millisecond precision, as `lastModified` is stored and shown.
pub fn now_millis() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(now)
}

/// Milliseconds since the epoch, as times are stored and compared.
pub fn unix_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// A link as a client creates it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewLink {
    #[schema(min_length = 1, max_length = 100, pattern = "@title")]
    pub title: String,
    /// `http`, `https`, `mailto` or `tel` only (the pattern says exactly which).
    #[schema(min_length = 1, max_length = 2048, pattern = "@link-url")]
    pub url: String,
    /// Defaults to true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Shown from this time on (RFC 3339 with its offset).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub visible_from: Option<String>,
    /// Shown until this time, exclusive; later than `visibleFrom`.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub visible_until: Option<String>,
}

impl NewLink {
    /// A validated link with a fresh id; errors are named relative to the link (`title`, `url`).
    pub fn into_link(self, position: u32) -> Result<Link, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let title = errs.check(text::link_title(&self.title));
        let url = errs.check(url::link_url(&self.url));
        let (visible_from, visible_until) = schedule::window(
            &mut errs,
            self.visible_from.as_deref(),
            self.visible_until.as_deref(),
        );
        match (title, url) {
            (Some(title), Some(url)) if errs.is_empty() => Ok(Link {
                id: Uuid::now_v7(),
                title,
                url,
                position,
                click_count: 0,
                enabled: self.enabled.unwrap_or(true),
                visible_from,
                visible_until,
            }),
            _ => Err(errs),
        }
    }
}

/// The body of `POST /api/profiles`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({
    "username": "jane",
    "displayName": "Jane Doe",
    "bio": "Writer and runner.",
    "avatarUrl": "https://example.com/jane.png",
    "theme": {"preset": "sunset", "buttonStyle": "pill"},
    "links": [
        {"title": "My blog", "url": "https://jane.example"},
        {"title": "Mail me", "url": "mailto:jane@example.com"}
    ]
}))]
pub struct CreateProfile {
    /// Unique without regard to case; some words (api, admin, r, static, metrics...) are reserved.
    #[schema(min_length = 3, max_length = 30, pattern = "@username")]
    pub username: String,
    /// Defaults to the username.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 80, pattern = "@display-name")]
    pub display_name: Option<String>,
    /// Line breaks allowed.
    #[serde(default)]
    #[schema(max_length = 280, pattern = "@bio")]
    pub bio: Option<String>,
    /// `http` or `https`.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 2048, pattern = "@avatar-url")]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub theme: Option<Theme>,
    #[serde(default)]
    #[schema(max_items = 100)]
    pub links: Vec<NewLink>,
    /// An IANA time zone name (default `UTC`): the days of its analytics.
    #[serde(default)]
    #[schema(example = "Europe/Paris", max_length = 64)]
    pub time_zone: Option<String>,
}

impl CreateProfile {
    /// A complete new profile with fresh ids, or every field error at once.
    pub fn into_profile(self, now: OffsetDateTime) -> Result<Profile, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let username = errs.check(Username::parse(&self.username));
        let display_name = match &self.display_name {
            Some(d) => errs.check(text::display_name(d)),
            None => Some(self.username.clone()),
        };
        let bio = match &self.bio {
            Some(b) => errs.check(text::bio(b)),
            None => Some(String::new()),
        };
        let avatar_url = match &self.avatar_url {
            Some(a) => errs.check(url::avatar_url(a)).map(Some),
            None => Some(None),
        };
        if let Some(Err(e)) = self.theme.as_ref().map(Theme::check) {
            errs.push(e);
        }
        let time_zone = match &self.time_zone {
            Some(z) => errs.check(Zone::parse(z, "timeZone")).unwrap_or_default(),
            None => Zone::utc(),
        };
        if self.links.len() > MAX_LINKS {
            errs.push(FieldError::new(
                "links",
                format!("a profile holds at most {MAX_LINKS} links"),
            ));
        }
        let mut links = Vec::with_capacity(self.links.len().min(MAX_LINKS));
        for (i, l) in self.links.into_iter().take(MAX_LINKS).enumerate() {
            match l.into_link(i as u32) {
                Ok(l) => links.push(l),
                Err(e) => errs
                    .0
                    .extend(e.0.into_iter().map(|f| f.under(&format!("links[{i}]")))),
            }
        }
        match (username, display_name, bio, avatar_url) {
            (Some(username), Some(display_name), Some(bio), Some(avatar_url))
                if errs.is_empty() =>
            {
                Ok(Profile {
                    id: Uuid::now_v7(),
                    username,
                    display_name,
                    bio,
                    avatar_url,
                    links,
                    theme: self.theme.unwrap_or_default(),
                    last_modified: now,
                    counted_at: None,
                    version: 1,
                    time_zone: time_zone.name().to_owned(),
                    next_change: None,
                })
            }
            _ => Err(errs),
        }
    }
}

/// `Some(None)` for an explicit `null`, `None` for an absent field (with `#[serde(default)]`).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The body of `PATCH /api/profiles/{profile}`: absent fields stay as they are; `null` clears
/// `bio` and `avatarUrl`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"displayName": "Jane D.", "bio": null, "theme": {"preset": "dark"}}))]
pub struct ProfilePatch {
    #[serde(default)]
    #[schema(min_length = 3, max_length = 30, pattern = "@username")]
    pub username: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 80, pattern = "@display-name")]
    pub display_name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 280, pattern = "@bio")]
    pub bio: Option<Option<String>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 2048, pattern = "@avatar-url")]
    pub avatar_url: Option<Option<String>>,
    #[serde(default)]
    pub theme: Option<Theme>,
    /// An IANA time zone name.
    #[serde(default)]
    #[schema(example = "Europe/Paris", max_length = 64)]
    pub time_zone: Option<String>,
}

impl ProfilePatch {
    /// The profile with this patch applied (unchanged when the patch changes nothing).
    pub fn apply(&self, p: &Profile) -> Result<Profile, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let mut out = p.clone();
        if let Some(u) = &self.username
            && let Some(u) = errs.check(Username::parse(u))
        {
            out.username = u;
        }
        if let Some(d) = &self.display_name
            && let Some(d) = errs.check(text::display_name(d))
        {
            out.display_name = d;
        }
        if let Some(b) = &self.bio {
            let b = b.as_deref().unwrap_or("");
            if let Some(b) = errs.check(text::bio(b)) {
                out.bio = b;
            }
        }
        if let Some(a) = &self.avatar_url {
            match a {
                None => out.avatar_url = None,
                Some(a) => {
                    if let Some(a) = errs.check(url::avatar_url(a)) {
                        out.avatar_url = Some(a);
                    }
                }
            }
        }
        if let Some(t) = &self.theme {
            match t.check() {
                Ok(()) => out.theme = t.clone(),
                Err(e) => errs.push(e),
            }
        }
        if let Some(z) = &self.time_zone
            && let Some(z) = errs.check(Zone::parse(z, "timeZone"))
        {
            out.time_zone = z.name().to_owned();
        }
        errs.into_result(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(json: &str) -> Result<Profile, ValidationErrors> {
        serde_json::from_str::<CreateProfile>(json)
            .unwrap()
            .into_profile(now_millis())
    }

    #[test]
    fn creates_a_profile_with_defaults() {
        let p = create(
            r#"{"username":"Jane.Doe","links":[{"title":"Site","url":"https://jane.example"}]}"#,
        )
        .unwrap();
        assert_eq!(p.username.as_str(), "Jane.Doe");
        assert_eq!(p.display_name, "Jane.Doe");
        assert_eq!(p.bio, "");
        assert_eq!(p.links.len(), 1);
        assert!(p.links[0].enabled);
        assert_eq!(p.links[0].url, "https://jane.example/");
        assert_eq!(p.id.get_version_num(), 7);
    }

    #[test]
    fn reports_every_bad_field_by_its_path() {
        let e = create(
            r#"{"username":"ab","displayName":"","avatarUrl":"javascript:x",
                "links":[{"title":"ok","url":"https://ok.example"},{"title":"","url":"data:text/html,x"}]}"#,
        )
        .unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "username",
                "displayName",
                "avatarUrl",
                "links[1].title",
                "links[1].url"
            ]
        );
    }

    #[test]
    fn caps_the_number_of_links() {
        let links: Vec<String> = (0..=MAX_LINKS)
            .map(|i| format!(r#"{{"title":"l{i}","url":"https://e.example/{i}"}}"#))
            .collect();
        let e = create(&format!(
            r#"{{"username":"many","links":[{}]}}"#,
            links.join(",")
        ))
        .unwrap_err();
        assert_eq!(e.0[0].field, "links");
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            serde_json::from_str::<CreateProfile>(r#"{"username":"abc","displayname":"x"}"#)
                .is_err()
        );
    }

    #[test]
    fn patch_distinguishes_absent_from_null() {
        let p = create(r#"{"username":"abc","bio":"hi","avatarUrl":"https://a.example/x.png"}"#)
            .unwrap();
        let keep: ProfilePatch = serde_json::from_str(r#"{"displayName":"New"}"#).unwrap();
        let q = keep.apply(&p).unwrap();
        assert_eq!((q.display_name.as_str(), q.bio.as_str()), ("New", "hi"));
        assert!(q.avatar_url.is_some());
        let clear: ProfilePatch = serde_json::from_str(r#"{"bio":null,"avatarUrl":null}"#).unwrap();
        let q = clear.apply(&p).unwrap();
        assert_eq!(q.bio, "");
        assert_eq!(q.avatar_url, None);
        let empty: ProfilePatch = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.apply(&p).unwrap(), p);
    }

    #[test]
    fn public_view_hides_disabled_links_and_orders_by_position() {
        let mut p = create(
            r#"{"username":"abc","links":[{"title":"a","url":"https://a.example"},
                {"title":"b","url":"https://b.example","enabled":false},{"title":"c","url":"https://c.example"}]}"#,
        )
        .unwrap();
        p.links.reverse();
        let titles: Vec<&str> = p
            .public_at(OffsetDateTime::now_utc())
            .links
            .iter()
            .map(|l| l.title.as_str())
            .collect();
        assert_eq!(titles, ["a", "c"]);
        let json = serde_json::to_value(p.public_at(OffsetDateTime::now_utc())).unwrap();
        for key in [
            "id",
            "username",
            "displayName",
            "bio",
            "avatarUrl",
            "links",
            "theme",
            "lastModified",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert!(json["links"][0].get("clickCount").is_some());
    }
}
