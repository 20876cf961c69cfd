//! `/dashboard/{profile}`: the editor. The profile (display name, bio, avatar, theme, time
//! zone) and its links (add, edit, show or hide, schedule, remove, "Move up" / "Move down",
//! and dragging, which posts the whole order: their forms' handlers are in `links`), beside the
//! preview of the page as the renderer makes it; the profile form's handler and `apply`, which
//! every form of the editor goes through, are here. Every form carries the version it was made from, so an edit made while someone
//! else changed the profile is refused (the API's 412) and the page says so, shows the profile
//! as it now is, and keeps what was sent in its form. Each link shows its people-clicks over
//! the range chosen.
//! Must not: change a profile except through `profiles::modify`, or lose a refused edit's input.

use super::{
    Form, Frame, STALE, back, failed, field_errors, frame, posted, profile_for, readable, reader,
    show,
};
use askama::Template;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use linkleaf_access::table::Action;
use linkleaf_domain::analytics::AnalyticsParams;
use linkleaf_domain::zone::Zone;
use linkleaf_domain::{
    ButtonStyle, Profile, ProfilePatch, Scope, Theme, ThemePreset, ValidationErrors, unix_millis,
};
use linkleaf_http::signin::Signed;
use linkleaf_http::{AppError, AppState};
use std::collections::HashMap;
use uuid::Uuid;

/// The ranges a link's clicks can be shown over.
pub const RANGES: [(&str, &str); 4] = [
    ("today", "today"),
    ("7d", "the last 7 days"),
    ("30d", "the last 30 days"),
    ("90d", "the last 90 days"),
];

/// The analytics parameters of a named range in `zone`: from the start of the local day
/// `days - 1` days ago (today: today's start) to now.
pub fn range_params(range: &str, zone: &Zone) -> AnalyticsParams {
    let days = match range {
        "today" => 1,
        "30d" => 30,
        "90d" => 90,
        _ => 7,
    };
    let now = unix_millis(linkleaf_domain::now_millis());
    // today as the clock reads it there, and calendar days back from it (a day the clocks
    // change is a day, whatever its hours), to the end of today
    let today = zone.local_date_start_ms(now);
    let mut from = today;
    for _ in 1..days {
        from = zone.day_start_ms(from - 1);
    }
    let to = zone.next_day_start_ms(today);
    AnalyticsParams {
        from: time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(from) * 1_000_000).ok(),
        to: time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(to) * 1_000_000).ok(),
        bucket: Some(if days == 1 {
            linkleaf_domain::analytics::Bucket::Hour
        } else {
            linkleaf_domain::analytics::Bucket::Day
        }),
        time_zone: Some(zone.name().to_owned()),
    }
}

pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// The profile form's values: the profile's, or what a refused form sent.
pub struct ProfileView {
    pub display_name: String,
    pub bio: String,
    pub avatar_url: String,
    pub accent: String,
    pub time_zone: String,
    pub presets: Vec<Choice>,
    pub buttons: Vec<Choice>,
    pub errors: HashMap<String, String>,
}

impl ProfileView {
    pub fn err(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }
}

/// One link of the editor.
pub struct LinkRow {
    pub id: String,
    pub title: String,
    pub url: String,
    pub enabled: bool,
    /// Shown now (enabled and inside its window).
    pub live: bool,
    pub state: String,
    pub from: String,
    pub until: String,
    /// The window as stored, in the fields' form: a field sent back unchanged leaves the
    /// stored time as it is (to its second), whatever the minutes-only field can say.
    pub from_was: String,
    pub until_was: String,
    pub clicks: i64,
    pub first: bool,
    pub last: bool,
    /// Its edit form is open (it was refused).
    pub open: bool,
    pub errors: HashMap<String, String>,
}

impl LinkRow {
    pub fn err(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }
}

/// The "Add link" form's values.
#[derive(Default)]
pub struct AddView {
    pub title: String,
    pub url: String,
    pub from: String,
    pub until: String,
    pub errors: HashMap<String, String>,
}

impl AddView {
    pub fn err(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }
}

#[derive(Template)]
#[template(path = "dashboard/editor.html")]
struct Editor {
    f: Frame,
    name: String,
    display_name: String,
    version: i64,
    can_write: bool,
    error: Option<String>,
    profile: ProfileView,
    links: Vec<LinkRow>,
    add: AddView,
    ranges: Vec<Choice>,
    range_words: &'static str,
    zone: String,
}

/// What a refused form left to show again.
#[derive(Default)]
pub struct Said {
    pub notice: Option<String>,
    pub error: Option<String>,
    /// The profile form as sent, and its errors.
    pub profile: Option<(Form, HashMap<String, String>)>,
    pub add: Option<(Form, HashMap<String, String>)>,
    /// A link's edit form as sent, and its errors.
    pub link: Option<(Uuid, Form, HashMap<String, String>)>,
}

fn when_words(zone: &Zone, t: time::OffsetDateTime) -> String {
    zone.local_words(unix_millis(t))
}

/// The editor of `p`, as `s` sees it, with what `said` says.
pub async fn editor(
    st: &AppState,
    s: &Signed,
    p: &Profile,
    range: &str,
    status: StatusCode,
    said: Said,
) -> Response {
    let zone = Zone::from_stored(&s.account.time_zone);
    let can_write = super::may_write(st, s, p).await;
    // each link's people-clicks over the range (the exactly-once rollups)
    let mut clicks: HashMap<Uuid, i64> = HashMap::new();
    if let Ok(q) = linkleaf_domain::analytics::AnalyticsQuery::resolve(
        &range_params(range, &zone),
        linkleaf_domain::now_millis(),
        &zone,
    ) && let Ok((report, _)) = linkleaf_http::reports::report_of(st, p.id, &q).await
    {
        for l in &report.links {
            clicks.insert(l.link_id, l.human_clicks);
        }
    }
    let now = time::OffsetDateTime::now_utc();
    let n = p.links.len();
    let links = p
        .links
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let live = l.visible_at(now);
            let state = if !l.enabled {
                "Hidden".to_owned()
            } else {
                match (l.visible_from, l.visible_until) {
                    (Some(a), _) if a > now => {
                        format!("Scheduled: shown from {}", when_words(&zone, a))
                    }
                    (_, Some(b)) if b <= now => format!("Ended {}", when_words(&zone, b)),
                    (_, Some(b)) => format!("Shown until {}", when_words(&zone, b)),
                    _ => "Shown".to_owned(),
                }
            };
            let mut row = LinkRow {
                id: l.id.to_string(),
                title: l.title.clone(),
                url: l.url.clone(),
                enabled: l.enabled,
                live,
                state,
                from: l
                    .visible_from
                    .map(|t| zone.local_input(unix_millis(t)))
                    .unwrap_or_default(),
                until: l
                    .visible_until
                    .map(|t| zone.local_input(unix_millis(t)))
                    .unwrap_or_default(),
                from_was: String::new(),
                until_was: String::new(),
                clicks: clicks.get(&l.id).copied().unwrap_or(0),
                first: i == 0,
                last: i + 1 == n,
                open: false,
                errors: HashMap::new(),
            };
            row.from_was = row.from.clone();
            row.until_was = row.until.clone();
            if let Some((id, form, errors)) = &said.link
                && *id == l.id
            {
                row.title = form.get("title").to_owned();
                row.url = form.get("url").to_owned();
                // a schedule field the person left as it was shows the time as it is now
                // (someone else may have changed it): sent again, it leaves it alone
                let kept = |name: &str, now: &str| {
                    let sent = form.get(name);
                    if sent == form.get(&format!("{name}_was")) {
                        now.to_owned()
                    } else {
                        sent.to_owned()
                    }
                };
                row.from = kept("visible_from", &row.from);
                row.until = kept("visible_until", &row.until);
                row.open = true;
                row.errors = errors.clone();
            }
            row
        })
        .collect();
    let profile = match &said.profile {
        Some((form, errors)) => profile_view(
            form.get("display_name"),
            form.get("bio"),
            form.get("avatar_url"),
            form.get("preset"),
            form.get("button_style"),
            form.get("accent_color"),
            form.get("time_zone"),
            errors.clone(),
        ),
        None => profile_view(
            &p.display_name,
            &p.bio,
            p.avatar_url.as_deref().unwrap_or(""),
            p.theme.preset.as_str(),
            p.theme.button_style.as_str(),
            p.theme.accent_color.as_ref().map_or("", |c| c.as_str()),
            &p.time_zone,
            HashMap::new(),
        ),
    };
    // a refused edit of a link that is gone since: its input goes to "Add link", said so
    let mut said = said;
    if let Some((id, form, _)) = &said.link
        && !p.links.iter().any(|l| l.id == *id)
    {
        said.error = Some(format!(
            "{} The link you edited is no longer on the page: what you typed is in \"Add link\" below, to add it again.",
            said.error.as_deref().unwrap_or_default()
        ).trim().to_owned());
        said.add = Some((Form(form.0.clone()), HashMap::new()));
    }
    let add = match &said.add {
        Some((form, errors)) => AddView {
            title: form.get("title").to_owned(),
            url: form.get("url").to_owned(),
            from: form.get("visible_from").to_owned(),
            until: form.get("visible_until").to_owned(),
            errors: errors.clone(),
        },
        None => AddView::default(),
    };
    let range_words = RANGES
        .iter()
        .find(|(v, _)| *v == range)
        .map_or("the last 7 days", |(_, w)| w);
    let mut f = match frame(
        st,
        s,
        Some(p),
        "editor",
        format!("Edit @{}", p.username.as_str()),
    )
    .await
    {
        Ok(f) => f,
        Err(e) => return failed(st, s, e).await,
    };
    f.notice = said.notice;
    if can_write {
        f.sortable = Some(&crate::assets::SORTABLE.path);
    }
    let t = Editor {
        f,
        name: p.username.as_str().to_owned(),
        display_name: p.display_name.clone(),
        version: p.version,
        can_write,
        error: said.error,
        profile,
        links,
        add,
        ranges: RANGES
            .iter()
            .map(|(v, l)| Choice {
                value: v,
                label: l,
                selected: *v == range,
            })
            .collect(),
        range_words,
        zone: zone.name().to_owned(),
    };
    show(status, &t)
}

#[allow(clippy::too_many_arguments)]
fn profile_view(
    display_name: &str,
    bio: &str,
    avatar_url: &str,
    preset: &str,
    button: &str,
    accent: &str,
    time_zone: &str,
    errors: HashMap<String, String>,
) -> ProfileView {
    ProfileView {
        display_name: display_name.to_owned(),
        bio: bio.to_owned(),
        avatar_url: avatar_url.to_owned(),
        accent: accent.to_owned(),
        time_zone: time_zone.to_owned(),
        presets: ThemePreset::ALL
            .iter()
            .map(|t| Choice {
                value: t.as_str(),
                label: t.as_str(),
                selected: t.as_str() == preset,
            })
            .collect(),
        buttons: ButtonStyle::ALL
            .iter()
            .map(|b| Choice {
                value: b.as_str(),
                label: b.as_str(),
                selected: b.as_str() == button,
            })
            .collect(),
        errors,
    }
}

/// `GET /dashboard/{profile}?range=`
pub async fn show_editor(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let s = match reader(&st, &headers).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let p = match readable(&st, &s, &raw).await {
        Ok(p) => p,
        Err(e) => return failed(&st, &s, e).await,
    };
    let notice = q.get("saved").map(|what| {
        match what.as_str() {
            "profile" => "Saved: your page shows it now.",
            "added" => "Link added.",
            "link" => "Link saved.",
            "moved" => "Link moved.",
            "order" => "New order saved.",
            "shown" => "The link is shown.",
            "hidden" => "The link is hidden.",
            "removed" => "Link removed.",
            _ => "Saved.",
        }
        .to_owned()
    });
    let notice = notice.or_else(|| {
        q.contains_key("made")
            .then(|| "Your page is made and public. Add your first links below.".to_owned())
    });
    let range = q.get("range").map_or("7d", String::as_str);
    let range = RANGES
        .iter()
        .find(|(v, _)| *v == range)
        .map_or("7d", |(v, _)| v);
    let said = Said {
        notice,
        ..Said::default()
    };
    editor(&st, &s, &p, range, StatusCode::OK, said).await
}

/// Applies `change` to the profile `raw` names, as of the form's version, and answers: the
/// editor again with `saved`, or, refused, the editor saying why and keeping the input.
pub(super) async fn apply(
    st: &AppState,
    s: &Signed,
    raw: &str,
    edit: Edit,
    change: impl Fn(&Profile) -> Result<Profile, ValidationErrors> + Send + Sync + 'static,
) -> Response {
    let Edit {
        form,
        scope,
        saved,
        keep,
    } = edit;
    let p = match profile_for(st, s, raw, Action::Scope(scope)).await {
        Ok(p) => p,
        Err(e) => return failed(st, s, e).await,
    };
    let version = match form.version() {
        Ok(v) => v,
        Err(e) => return failed(st, s, e).await,
    };
    let actor = linkleaf_http::access::Who::Person(s.clone()).actor();
    match linkleaf_http::profiles::modify(st, p.id, actor, Some(version), change).await {
        Ok(after) => back(after.username.as_str(), &format!("?saved={saved}")),
        Err(e) => {
            let (status, mut said, errors) = match e {
                AppError::Stale { .. } => (
                    StatusCode::PRECONDITION_FAILED,
                    Said {
                        error: Some(STALE.to_owned()),
                        ..Said::default()
                    },
                    HashMap::new(),
                ),
                AppError::Validation(v) | AppError::Conflict(v) => {
                    let errors = field_errors(&v);
                    let words = if errors.contains_key("id") || errors.contains_key("ids") {
                        "That link is no longer on the page: it was changed elsewhere. The page as it is now is below."
                    } else {
                        "Not saved: fix what is marked below."
                    };
                    (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Said {
                            error: Some(words.to_owned()),
                            ..Said::default()
                        },
                        errors,
                    )
                }
                other => return failed(st, s, other).await,
            };
            match keep {
                Keep::Profile => said.profile = Some((form, errors)),
                Keep::Add => said.add = Some((form, errors)),
                Keep::Link(id) => said.link = Some((id, form, errors)),
                Keep::Nothing => {}
            }
            // the profile as it is now
            let now = match readable(st, s, &p.id.to_string()).await {
                Ok(now) => now,
                Err(e) => return failed(st, s, e).await,
            };
            editor(st, s, &now, "7d", status, said).await
        }
    }
}

/// An edit a form asks for: the form (its version, its input), the permission it needs, the
/// word its success is reported with, and which form a refusal keeps.
pub(super) struct Edit {
    pub form: Form,
    pub scope: Scope,
    pub saved: &'static str,
    pub keep: Keep,
}

/// Which form a refusal keeps.
pub(super) enum Keep {
    Profile,
    Add,
    Link(Uuid),
    Nothing,
}

fn text_or_none(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// `POST /dashboard/{profile}/profile`: "Save" of the profile form.
pub async fn save_profile(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    req: Request,
) -> Response {
    let (s, form) = match posted(&st, req).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let mut pre = ValidationErrors::default();
    let theme = serde_json::from_value::<Theme>(serde_json::json!({
        "preset": form.get("preset"),
        "buttonStyle": form.get("button_style"),
    }));
    let mut theme = match theme {
        Ok(t) => Some(t),
        Err(_) => {
            pre.0.push(linkleaf_domain::FieldError::new(
                "preset",
                "choose one of the themes listed",
            ));
            None
        }
    };
    let accent = form.get("accent_color").trim().to_owned();
    if let Some(t) = theme.as_mut()
        && !accent.is_empty()
    {
        match linkleaf_domain::theme::Color::try_from(accent) {
            Ok(c) => t.accent_color = Some(c),
            Err(_) => pre.0.push(linkleaf_domain::FieldError::new(
                "accentColor",
                "write a colour as # and six hexadecimal digits, such as #d9480f, or leave it empty",
            )),
        }
    }
    let patch = ProfilePatch {
        username: None,
        display_name: Some(form.get("display_name").trim().to_owned()),
        bio: Some(text_or_none(form.get("bio"))),
        avatar_url: Some(text_or_none(form.get("avatar_url"))),
        theme,
        time_zone: text_or_none(form.get("time_zone")),
    };
    apply(
        &st,
        &s,
        &raw,
        Edit {
            form,
            scope: Scope::ProfileWrite,
            saved: "profile",
            keep: Keep::Profile,
        },
        move |p| {
            if !pre.0.is_empty() {
                return Err(pre.clone());
            }
            patch.apply(p)
        },
    )
    .await
}
