//! `/dashboard/{profile}/history`: the versions the profile keeps, newest first, each with who
//! made it and when and, in words, what it changed from the version before it; "Restore" makes
//! a new version equal to a kept one (as `POST …/history/{version}/restore` does), refused with
//! the page's words when the profile changed since the list was read.
//! Must not: change a profile except through `profiles::modify`.

use super::{Frame, STALE, back, failed, frame, posted, profile_for, readable, reader, show};
use askama::Template;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use linkleaf_access::table::Action;
use linkleaf_domain::snapshot::{Snapshot, SnapshotLink};
use linkleaf_domain::zone::Zone;
use linkleaf_domain::{Scope, unix_millis};
use linkleaf_http::signin::Signed;
use linkleaf_http::{AppError, AppState};
use std::collections::HashMap;
use uuid::Uuid;

/// How many versions the page lists.
const SHOWN: u32 = 50;

fn quoted(s: &str) -> String {
    let short: String = s.chars().take(60).collect();
    if short.len() < s.len() {
        format!("“{short}…”")
    } else {
        format!("“{short}”")
    }
}

/// What `after` changed from `before`, in words (`before` = `None`: the first version).
pub fn difference(before: Option<&Snapshot>, after: &Snapshot) -> Vec<String> {
    let Some(b) = before else {
        return vec![format!(
            "Made the page @{} with {} link{}.",
            after.username,
            after.links.len(),
            if after.links.len() == 1 { "" } else { "s" }
        )];
    };
    let mut out = Vec::new();
    if b.username != after.username {
        out.push(format!("Username @{} → @{}.", b.username, after.username));
    }
    if b.display_name != after.display_name {
        out.push(format!(
            "Display name {} → {}.",
            quoted(&b.display_name),
            quoted(&after.display_name)
        ));
    }
    if b.bio != after.bio {
        out.push(if after.bio.is_empty() {
            "Bio removed.".to_owned()
        } else {
            format!("Bio → {}.", quoted(&after.bio))
        });
    }
    if b.avatar_url != after.avatar_url {
        out.push(match &after.avatar_url {
            Some(a) => format!("Avatar → {a}."),
            None => "Avatar removed.".to_owned(),
        });
    }
    if b.theme != after.theme {
        let name = |t: &linkleaf_domain::Theme| {
            let (preset, button) = (t.preset.as_str(), t.button_style.as_str());
            match &t.accent_color {
                Some(a) => format!("{preset}, {button} buttons, accent {}", a.as_str()),
                None => format!("{preset}, {button} buttons"),
            }
        };
        out.push(format!(
            "Theme {} → {}.",
            name(&b.theme),
            name(&after.theme)
        ));
    }
    if b.time_zone != after.time_zone {
        out.push(format!(
            "Time zone → {}.",
            after.time_zone.as_deref().unwrap_or("UTC")
        ));
    }
    let old: HashMap<Uuid, &SnapshotLink> = b.links.iter().map(|l| (l.id, l)).collect();
    let new: HashMap<Uuid, &SnapshotLink> = after.links.iter().map(|l| (l.id, l)).collect();
    for l in &after.links {
        match old.get(&l.id) {
            None => out.push(format!("Added the link {} ({}).", quoted(&l.title), l.url)),
            Some(o) => {
                if o.title != l.title {
                    out.push(format!(
                        "Renamed the link {} to {}.",
                        quoted(&o.title),
                        quoted(&l.title)
                    ));
                }
                if o.url != l.url {
                    out.push(format!(
                        "The link {} now leads to {}.",
                        quoted(&l.title),
                        l.url
                    ));
                }
                if o.enabled != l.enabled {
                    out.push(format!(
                        "{} the link {}.",
                        if l.enabled { "Showed" } else { "Hid" },
                        quoted(&l.title)
                    ));
                }
                if o.visible_from != l.visible_from || o.visible_until != l.visible_until {
                    out.push(format!(
                        "Changed when the link {} is shown.",
                        quoted(&l.title)
                    ));
                }
            }
        }
    }
    for l in &b.links {
        if !new.contains_key(&l.id) {
            out.push(format!("Removed the link {}.", quoted(&l.title)));
        }
    }
    let kept_order = |links: &[SnapshotLink], other: &HashMap<Uuid, &SnapshotLink>| -> Vec<Uuid> {
        links
            .iter()
            .filter(|l| other.contains_key(&l.id))
            .map(|l| l.id)
            .collect()
    };
    if kept_order(&b.links, &new) != kept_order(&after.links, &old) {
        out.push("Reordered the links.".to_owned());
    }
    if out.is_empty() {
        out.push("No visible change.".to_owned());
    }
    out
}

pub struct VersionRow {
    pub version: i64,
    pub when: String,
    pub when_iso: String,
    pub who: String,
    pub changes: Vec<String>,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "dashboard/history.html")]
struct History {
    f: Frame,
    name: String,
    version: i64,
    can_write: bool,
    rows: Vec<VersionRow>,
    error: Option<String>,
    zone: String,
}

async fn history_page(
    st: &AppState,
    s: &Signed,
    raw: &str,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let p = match readable(st, s, raw).await {
        Ok(p) => p,
        Err(e) => return failed(st, s, e).await,
    };
    let can_write = super::may_write(st, s, &p).await;
    // one more than shown, so the last shown has the version before it
    let versions = match st.stores.profiles.history(p.id, SHOWN + 1).await {
        Ok(v) => v,
        Err(e) => return failed(st, s, AppError::from(e)).await,
    };
    let zone = Zone::from_stored(&s.account.time_zone);
    let read: Vec<Option<Snapshot>> = versions
        .iter()
        .map(|v| Snapshot::read(&v.profile))
        .collect();
    let rows = versions
        .iter()
        .enumerate()
        .take(SHOWN as usize)
        .map(|(i, v)| {
            // the oldest kept version of a profile with more behind it has no "before" here
            let before = read.get(i + 1).and_then(Option::as_ref);
            let first = i + 1 >= read.len() && v.version == 1;
            VersionRow {
                version: v.version,
                when: zone.local_words(unix_millis(v.at)),
                when_iso: v
                    .at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                who: match &v.actor {
                    Some(a) if a.id == s.account.id => format!("you ({})", a.name),
                    Some(a) => a.name.clone(),
                    None => "the operator's command line".to_owned(),
                },
                changes: match &read[i] {
                    None => vec!["This version cannot be read.".to_owned()],
                    Some(_) if before.is_none() && !first => vec![
                        "The oldest version kept: what it changed is no longer known.".to_owned(),
                    ],
                    Some(after) => difference(before, after),
                },
                current: v.version == p.version,
            }
        })
        .collect();
    let mut f = match frame(
        st,
        s,
        Some(&p),
        "history",
        format!("History of @{}", p.username.as_str()),
    )
    .await
    {
        Ok(f) => f,
        Err(e) => return failed(st, s, e).await,
    };
    f.notice = notice;
    show(
        status,
        &History {
            f,
            name: p.username.as_str().to_owned(),
            version: p.version,
            can_write,
            rows,
            error,
            zone: zone.name().to_owned(),
        },
    )
}

/// `GET /dashboard/{profile}/history`
pub async fn history(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let s = match reader(&st, &headers).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let notice = q
        .get("restored")
        .and_then(|v| v.parse::<i64>().ok())
        .map(|v| format!("Version {v} is restored, as a new version."));
    history_page(&st, &s, &raw, StatusCode::OK, notice, None).await
}

/// `POST /dashboard/{profile}/history/{version}/restore`: "Restore".
pub async fn restore(
    State(st): State<AppState>,
    Path((raw, number)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (s, form) = match posted(&st, req).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let p = match profile_for(&st, &s, &raw, Action::Scope(Scope::ProfileWrite)).await {
        Ok(p) => p,
        Err(e) => return failed(&st, &s, e).await,
    };
    if let Err(e) = super::allowed(&st, &s, &p, Action::Scope(Scope::LinksWrite)).await {
        return failed(&st, &s, e).await;
    }
    let missing = || AppError::NotFound(format!("no version {number}"));
    let Ok(n) = number.parse::<i64>() else {
        return failed(&st, &s, missing()).await;
    };
    let kept = match st.stores.profiles.version(p.id, n).await {
        Ok(Some(v)) => v,
        Ok(None) => return failed(&st, &s, missing()).await,
        Err(e) => return failed(&st, &s, AppError::from(e)).await,
    };
    let Some(snapshot) = Snapshot::read(&kept.profile) else {
        return failed(&st, &s, missing()).await;
    };
    let version = match form.version() {
        Ok(v) => v,
        Err(e) => return failed(&st, &s, e).await,
    };
    let actor = linkleaf_http::access::Who::Person(s.clone()).actor();
    match linkleaf_http::profiles::modify(&st, p.id, actor, Some(version), move |current| {
        snapshot.restore(current)
    })
    .await
    {
        Ok(after) => back(after.username.as_str(), &format!("/history?restored={n}")),
        Err(AppError::Stale { .. }) => {
            history_page(
                &st,
                &s,
                &p.id.to_string(),
                StatusCode::PRECONDITION_FAILED,
                None,
                Some(STALE.replace(
                    "what you sent is kept in its form: check it and save again",
                    "nothing was restored: check the versions and restore again",
                )),
            )
            .await
        }
        Err(AppError::Validation(v)) | Err(AppError::Conflict(v)) => {
            let why =
                v.0.iter()
                    .map(|f| super::sentence(&format!("{}: {}", f.field, f.message)))
                    .collect::<Vec<_>>()
                    .join(" ");
            history_page(
                &st,
                &s,
                &p.id.to_string(),
                StatusCode::CONFLICT,
                None,
                Some(format!("Version {n} cannot be restored as it is: {why}")),
            )
            .await
        }
        Err(AppError::UsernameTaken(_)) => history_page(
            &st,
            &s,
            &p.id.to_string(),
            StatusCode::CONFLICT,
            None,
            Some(format!(
                "Version {n} has a username another page has taken since: it cannot be restored."
            )),
        )
        .await,
        Err(e) => failed(&st, &s, e).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(n: u128, title: &str, enabled: bool) -> serde_json::Value {
        serde_json::json!({"id": Uuid::from_u128(n), "title": title,
            "url": format!("https://{n}.example"), "enabled": enabled})
    }

    fn version(display_name: &str, links: Vec<serde_json::Value>) -> Snapshot {
        Snapshot::read(
            &serde_json::json!({"username": "ada", "displayName": display_name, "links": links}),
        )
        .unwrap()
    }

    #[test]
    fn a_difference_says_what_changed_in_words() {
        let before = version(
            "Ada",
            vec![
                link(1, "Blog", true),
                link(2, "Shop", true),
                link(3, "Talks", true),
            ],
        );
        let after = version(
            "Ada L.",
            vec![
                link(3, "Talks", false),
                link(1, "Writing", true),
                link(4, "News", true),
            ],
        );
        let d = difference(Some(&before), &after);
        assert!(
            d.contains(&"Display name “Ada” → “Ada L.”.".to_owned()),
            "{d:?}"
        );
        assert!(
            d.contains(&"Renamed the link “Blog” to “Writing”.".to_owned()),
            "{d:?}"
        );
        assert!(d.contains(&"Hid the link “Talks”.".to_owned()), "{d:?}");
        assert!(d.contains(&"Removed the link “Shop”.".to_owned()), "{d:?}");
        assert!(
            d.iter().any(|l| l.starts_with("Added the link “News”")),
            "{d:?}"
        );
        assert!(d.contains(&"Reordered the links.".to_owned()), "{d:?}");
        assert_eq!(difference(Some(&after), &after), vec!["No visible change."]);
        assert_eq!(
            difference(None, &before),
            vec!["Made the page @ada with 3 links."]
        );
    }
}
