//! Moving in: a file read into what it would make of a profile (`Imported`), and the change it
//! amounts to (`Imported::apply`, `Changes`). Three formats: linkleaf's own export (the admin
//! API's profile JSON), LinkStack's "export all" (its user with `name`, `littlelink_description`
//! and `links`, as its `UserController::exportAll` writes them) and a CSV of `title,url`.
//! An import replaces the profile's links with the file's (a link whose title and URL are
//! unchanged keeps its id and its clicks) and sets what the file says of the profile (never its
//! username). Every value passes the rules an edit's would, each refusal naming its place in
//! the file. Must not: touch storage, or follow a URL the file holds.

use crate::error::{FieldError, ValidationErrors};
use crate::profile::{Link, MAX_LINKS, Profile};
use crate::theme::Theme;
use crate::{text, url};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// The largest file an import reads (a hundred links with long URLs fit many times over).
pub const MAX_BYTES: usize = 512 * 1024;

/// The formats an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// linkleaf's own export (`GET /api/profiles/{profile}/export`).
    Linkleaf,
    /// LinkStack's "export all" JSON.
    Linkstack,
    /// A CSV of `title,url` (a header row is optional).
    Csv,
}

/// What a file makes of a profile: the fields it sets, and its links in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub avatar_url: Option<Option<String>>,
    pub theme: Option<Theme>,
    /// Checked.
    pub links: Vec<ImportedLink>,
}

/// A link as a file gives it, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedLink {
    pub title: String,
    pub url: String,
    pub enabled: bool,
    pub visible_from: Option<OffsetDateTime>,
    pub visible_until: Option<OffsetDateTime>,
}

/// A link as a file gives it, before it is checked: title, URL, enabled, and its window.
type RawLink = (String, String, bool, Option<String>, Option<String>);

/// What an import changes, as its answer says it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    /// The profile's fields the import sets to something new.
    pub fields: Vec<String>,
    /// Links the import adds (titles).
    pub added: Vec<String>,
    /// Links the import removes (titles).
    pub removed: Vec<String>,
    /// Links kept as they are (their ids and click counts too).
    pub kept: usize,
}

impl Changes {
    pub fn of(before: &Profile, after: &Profile) -> Self {
        let mut fields = Vec::new();
        if before.display_name != after.display_name {
            fields.push("displayName".into());
        }
        if before.bio != after.bio {
            fields.push("bio".into());
        }
        if before.avatar_url != after.avatar_url {
            fields.push("avatarUrl".into());
        }
        if before.theme != after.theme {
            fields.push("theme".into());
        }
        let has = |p: &Profile, id: Uuid| p.links.iter().any(|l| l.id == id);
        Self {
            fields,
            added: after
                .links
                .iter()
                .filter(|l| !has(before, l.id))
                .map(|l| l.title.clone())
                .collect(),
            removed: before
                .links
                .iter()
                .filter(|l| !has(after, l.id))
                .map(|l| l.title.clone())
                .collect(),
            kept: after.links.iter().filter(|l| has(before, l.id)).count(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkleafFile {
    display_name: Option<String>,
    bio: Option<String>,
    #[serde(default, deserialize_with = "some")]
    avatar_url: Option<Option<String>>,
    theme: Option<Theme>,
    #[serde(default)]
    links: Vec<LinkleafLink>,
}

fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkleafLink {
    title: String,
    url: String,
    #[serde(default = "yes")]
    enabled: bool,
    visible_from: Option<String>,
    visible_until: Option<String>,
}

fn yes() -> bool {
    true
}

/// LinkStack's export: its user's fields (those it imports itself) and its links.
#[derive(Deserialize)]
struct LinkstackFile {
    name: Option<String>,
    littlelink_description: Option<String>,
    #[serde(default)]
    links: Vec<LinkstackLink>,
}

#[derive(Deserialize)]
struct LinkstackLink {
    /// Null for its headings and spacers, which have no URL (skipped).
    link: Option<String>,
    title: Option<String>,
    order: Option<i64>,
}

impl Imported {
    /// Reads `body` as `format`; every problem at once, each naming where it is.
    pub fn read(format: Format, body: &[u8]) -> Result<Self, ValidationErrors> {
        let raw = match format {
            Format::Linkleaf => {
                let f: LinkleafFile = json(body)?;
                Raw {
                    display_name: f.display_name,
                    bio: f.bio,
                    avatar_url: f.avatar_url,
                    theme: f.theme,
                    links: f
                        .links
                        .into_iter()
                        .map(|l| (l.title, l.url, l.enabled, l.visible_from, l.visible_until))
                        .collect(),
                }
            }
            Format::Linkstack => {
                let f: LinkstackFile = json(body)?;
                let mut links: Vec<(i64, String, String)> = f
                    .links
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, l)| {
                        let u = l.link.filter(|u| !u.trim().is_empty())?;
                        let title = l.title.map(|t| strip_tags(&t)).unwrap_or_default();
                        let title = if title.trim().is_empty() {
                            u.clone()
                        } else {
                            title
                        };
                        Some((l.order.unwrap_or(i as i64), title, u))
                    })
                    .collect();
                links.sort_by_key(|(order, ..)| *order);
                Raw {
                    display_name: f.name,
                    bio: f.littlelink_description.map(|d| strip_tags(&d)),
                    avatar_url: None,
                    theme: None,
                    links: links
                        .into_iter()
                        .map(|(_, t, u)| (t, u, true, None, None))
                        .collect(),
                }
            }
            Format::Csv => Raw {
                links: csv_rows(body)?,
                ..Raw::default()
            },
        };
        raw.check()
    }

    /// `current` as the import leaves it: its fields set as the file says, its links the
    /// file's (a link of the same title and URL as one it has keeps that one's id and clicks).
    pub fn apply(&self, current: &Profile) -> Profile {
        let mut out = current.clone();
        if let Some(d) = &self.display_name {
            out.display_name.clone_from(d);
        }
        if let Some(b) = &self.bio {
            out.bio.clone_from(b);
        }
        if let Some(a) = &self.avatar_url {
            out.avatar_url.clone_from(a);
        }
        if let Some(t) = &self.theme {
            out.theme = t.clone();
        }
        let mut unused: Vec<&Link> = current.links.iter().collect();
        out.links = self
            .links
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let same = unused
                    .iter()
                    .position(|c| c.title == l.title && c.url == l.url)
                    .map(|at| unused.remove(at));
                Link {
                    id: same.map_or_else(Uuid::now_v7, |c| c.id),
                    title: l.title.clone(),
                    url: l.url.clone(),
                    position: i as u32,
                    click_count: same.map_or(0, |c| c.click_count),
                    enabled: l.enabled,
                    visible_from: l.visible_from,
                    visible_until: l.visible_until,
                }
            })
            .collect();
        out
    }
}

/// A file's values before they are checked.
#[derive(Default)]
struct Raw {
    display_name: Option<String>,
    bio: Option<String>,
    avatar_url: Option<Option<String>>,
    theme: Option<Theme>,
    links: Vec<RawLink>,
}

impl Raw {
    fn check(self) -> Result<Imported, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let display_name = self
            .display_name
            .and_then(|d| errs.check(text::display_name(&d)));
        let bio = self.bio.and_then(|b| errs.check(text::bio(&b)));
        let avatar_url = self.avatar_url.map(|a| match a {
            None => None,
            Some(a) => errs.check(url::avatar_url(&a)),
        });
        let theme = self.theme.and_then(|t| errs.check(t.check()).map(|()| t));
        if self.links.len() > MAX_LINKS {
            errs.push(FieldError::new(
                "links",
                format!(
                    "a profile holds at most {MAX_LINKS} links, and this file has {}",
                    self.links.len()
                ),
            ));
        }
        let mut links = Vec::with_capacity(self.links.len().min(MAX_LINKS));
        for (i, (title, link_url, enabled, from, until)) in
            self.links.into_iter().take(MAX_LINKS).enumerate()
        {
            let at = format!("links[{i}]");
            let t = errs.check(text::link_title(&title).map_err(|e| e.under(&at)));
            let u = errs.check(url::link_url(&link_url).map_err(|e| e.under(&at)));
            let mut window_errs = ValidationErrors::default();
            let (visible_from, visible_until) =
                crate::schedule::window(&mut window_errs, from.as_deref(), until.as_deref());
            for e in window_errs.0 {
                errs.push(e.under(&at));
            }
            if let (Some(title), Some(url)) = (t, u) {
                links.push(ImportedLink {
                    title,
                    url,
                    enabled,
                    visible_from,
                    visible_until,
                });
            }
        }
        errs.into_result(Imported {
            display_name,
            bio,
            avatar_url,
            theme,
            links,
        })
    }
}

fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ValidationErrors> {
    serde_json::from_slice(body)
        .map_err(|e| ValidationErrors::single("body", format!("is not the format's JSON: {e}")))
}

/// `title,url` rows; a first row of `title,url` is a header.
fn csv_rows(body: &[u8]) -> Result<Vec<RawLink>, ValidationErrors> {
    // a spreadsheet's "UTF-8 CSV" starts with a byte order mark
    let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
    let mut rows = Vec::new();
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| {
            ValidationErrors::single(format!("rows[{i}]"), format!("is not CSV: {e}"))
        })?;
        let title = rec.get(0).unwrap_or("").trim();
        let link = rec.get(1).unwrap_or("").trim();
        if i == 0 && title.eq_ignore_ascii_case("title") && link.eq_ignore_ascii_case("url") {
            continue;
        }
        if title.is_empty() && link.is_empty() {
            continue;
        }
        if rec.len() > 2 {
            return Err(ValidationErrors::single(
                format!("rows[{i}]"),
                "has more than two cells: write title,url (quote a title that holds a comma)",
            ));
        }
        rows.push((title.to_owned(), link.to_owned(), true, None, None));
    }
    Ok(rows)
}

/// Text without its HTML tags (LinkStack's bios and headings are HTML), entities of the five
/// XML ones decoded, whitespace collapsed.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    // `&amp;` last, so `&amp;lt;` stays the text `&lt;`
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#039;", "'")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_brings_its_links_windows_back() {
        let f =
            br#"{"displayName": "Jane", "links": [{"title": "Launch", "url": "https://l.example/",
            "visibleFrom": "2030-01-01T00:00:00Z", "visibleUntil": "2030-01-02T00:00:00+01:00"}]}"#;
        let i = Imported::read(Format::Linkleaf, f).unwrap();
        let l = &i.links[0];
        assert_eq!(
            (l.visible_from, l.visible_until),
            (
                Some(time::macros::datetime!(2030-01-01 0:00 UTC)),
                Some(time::macros::datetime!(2030-01-01 23:00 UTC))
            )
        );
        let bad = br#"{"links": [{"title": "x", "url": "https://x.example/",
            "visibleFrom": "2030-01-02T00:00:00Z", "visibleUntil": "2030-01-01T00:00:00Z"}]}"#;
        assert_eq!(
            Imported::read(Format::Linkleaf, bad).unwrap_err().0[0].field,
            "links[0].visibleUntil"
        );
    }

    #[test]
    fn a_csv_of_titles_and_urls_with_or_without_a_header() {
        let with = Imported::read(
            Format::Csv,
            b"title,url\nBlog,https://a.example/\n\"Talks, all\",https://b.example/\n",
        )
        .unwrap();
        let without = Imported::read(
            Format::Csv,
            b"Blog,https://a.example/\n\"Talks, all\",https://b.example/",
        )
        .unwrap();
        assert_eq!(with, without);
        assert_eq!(with.links[1].title, "Talks, all");
        let bom = Imported::read(
            Format::Csv,
            "\u{feff}title,url\nBlog,https://a.example/\n\"Talks, all\",https://b.example/\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(bom, with, "a spreadsheet's byte order mark");
        let e = Imported::read(Format::Csv, b"Blog,javascript:alert(1)\n").unwrap_err();
        assert_eq!(e.0[0].field, "links[0].url");
    }

    #[test]
    fn html_becomes_text() {
        assert_eq!(
            strip_tags("<p>Hello <strong>you</strong> &amp; me</p>"),
            "Hello you & me"
        );
        assert_eq!(strip_tags("a &amp;lt; b"), "a &lt; b", "decoded once");
    }
}
