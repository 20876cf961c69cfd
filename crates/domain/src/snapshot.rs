//! A kept version of a profile read back (`POST /api/profiles/{id}/history/{version}/restore`):
//! what the admin API showed then, applied to the profile as it is now. Every value passes
//! today's rules again, each refusal naming its field as an edit's would. Must not: touch the
//! store, or carry what a version does not own (ids, click counters, times).

use crate::error::{FieldError, ValidationErrors};
use crate::profile::{Link, MAX_LINKS, Profile};
use crate::theme::Theme;
use crate::username::Username;
use crate::{text, url};
use serde::Deserialize;
use uuid::Uuid;

/// A profile as a version keeps it (the admin JSON of its time; unknown fields are ignored, so
/// versions written by older builds read back). Its fields are as the version holds them,
/// unchecked: `restore` checks them (the dashboard's history reads them to say what changed).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub username: String,
    pub display_name: String,
    #[serde(default)]
    pub bio: String,
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub theme: Theme,
    #[serde(default)]
    pub links: Vec<SnapshotLink>,
    /// Absent from versions kept before profiles had one.
    pub time_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotLink {
    pub id: Uuid,
    pub title: String,
    pub url: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub visible_from: Option<time::OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub visible_until: Option<time::OffsetDateTime>,
}

fn yes() -> bool {
    true
}

impl Snapshot {
    /// Reads a kept version; `None` when it is not a profile's JSON.
    pub fn read(json: &serde_json::Value) -> Option<Self> {
        serde_json::from_value(json.clone()).ok()
    }

    /// `current` made equal to this version: its name, text, avatar, theme and links (links
    /// that still exist keep their click counters; links removed since come back with theirs
    /// at zero).
    pub fn restore(&self, current: &Profile) -> Result<Profile, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let mut out = current.clone();
        if let Some(u) = errs.check(Username::parse(&self.username)) {
            out.username = u;
        }
        if let Some(d) = errs.check(text::display_name(&self.display_name)) {
            out.display_name = d;
        }
        if let Some(b) = errs.check(text::bio(&self.bio)) {
            out.bio = b;
        }
        out.avatar_url = match &self.avatar_url {
            None => None,
            Some(a) => errs.check(url::avatar_url(a)),
        };
        if errs.check(self.theme.check()).is_some() {
            out.theme = self.theme.clone();
        }
        if let Some(z) = &self.time_zone
            && let Some(z) = errs.check(crate::zone::Zone::parse(z, "timeZone"))
        {
            out.time_zone = z.name().to_owned();
        }
        if self.links.len() > MAX_LINKS {
            errs.push(FieldError::new(
                "links",
                format!("a profile holds at most {MAX_LINKS} links"),
            ));
        }
        out.links = Vec::with_capacity(self.links.len());
        for (i, l) in self.links.iter().enumerate() {
            let at = format!("links[{i}]");
            let title = errs.check(text::link_title(&l.title).map_err(|e| e.under(&at)));
            let link_url = errs.check(url::link_url(&l.url).map_err(|e| e.under(&at)));
            if let (Some(title), Some(link_url)) = (title, link_url) {
                let kept = current.links.iter().find(|c| c.id == l.id);
                out.links.push(Link {
                    id: l.id,
                    title,
                    url: link_url,
                    position: i as u32,
                    click_count: kept.map_or(0, |c| c.click_count),
                    enabled: l.enabled,
                    visible_from: l.visible_from,
                    visible_until: l.visible_until,
                });
            }
        }
        errs.into_result(out)
    }
}
