//! The creator dashboard (`/dashboard`): server-rendered pages, complete without JavaScript
//! (every action a form posted, then a redirect, 303), enhanced by one small script of ours and
//! the vendored SortableJS (drag to reorder). What every page of it shares lives here: who is
//! signed in, the profile a page is about (through the one access check, `Who`), the frame
//! (navigation, the profile switcher), reading a form, and saying what went wrong in words.
//! Each page is a file of its own: `home` (the profiles, "Create page"), `editor` (the profile
//! and its links, the preview beside them; the link forms in `links`), `preview`, `history`, `analytics`, `share` (QR
//! code, export, import) and `admin` (accounts, profiles, the instance's health).
//! Must not: import a route module of the HTTP crate, change a profile except through
//! `profiles::modify` (one transaction, its version, its events, its invalidation), or need
//! JavaScript for anything but dragging.

pub mod admin;
pub mod analytics;
pub mod editor;
pub mod history;
pub mod home;
pub mod links;
pub mod preview;
pub mod share;

use crate::assets;
use crate::pages::{page, see_other};
use askama::Template;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use linkleaf_access::table::Action;
use linkleaf_domain::{Profile, Scope, ValidationErrors};
use linkleaf_http::access::Who;
use linkleaf_http::signin::{Signed, signed};
use linkleaf_http::{AppError, AppState};
use std::collections::HashMap;

/// The largest form a dashboard page posts (an import's file is pasted into one).
pub const FORM_MAX: usize = 1600 * 1024;

/// The dashboard's policy: its own stylesheet and scripts, the preview in a frame of this
/// site, images of this site (the QR code), forms posted here, nothing else.
pub const DASHBOARD_CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
     img-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'",
);

/// What the frame of every dashboard page shows.
pub struct Frame {
    pub title: String,
    pub css: &'static str,
    pub js: &'static str,
    pub sortable: Option<&'static str>,
    pub admin: bool,
    /// The person's profiles (usernames), for the switcher.
    pub profiles: Vec<String>,
    /// The profile the page is about.
    pub current: Option<String>,
    /// Which of the profile's pages this is: `editor`, `analytics`, `history`, `share`.
    pub tab: &'static str,
    pub notice: Option<String>,
}

impl Frame {
    pub fn is(&self, tab: &str) -> bool {
        self.tab == tab
    }

    pub fn current_is(&self, name: &str) -> bool {
        self.current.as_deref() == Some(name)
    }
}

/// The usernames of the profiles `s` is a member of, sorted.
pub async fn profile_names(st: &AppState, s: &Signed) -> Result<Vec<String>, AppError> {
    let mut names = Vec::new();
    for (id, _) in st.stores.accounts.memberships(s.account.id).await? {
        if let Some(p) = st.stores.profiles.profile_by_id(id).await? {
            names.push(p.username.as_str().to_owned());
        }
    }
    names.sort_by_key(|n| n.to_ascii_lowercase());
    Ok(names)
}

/// The frame of a page about `current` (or none), titled `title`.
pub async fn frame(
    st: &AppState,
    s: &Signed,
    current: Option<&Profile>,
    tab: &'static str,
    title: String,
) -> Result<Frame, AppError> {
    let names = profile_names(st, s).await?;
    Ok(Frame::new(s, names, current, tab, title))
}

impl Frame {
    /// The frame, for a page that has read the person's profiles (`profiles`: their usernames,
    /// sorted) itself.
    pub fn new(
        s: &Signed,
        profiles: Vec<String>,
        current: Option<&Profile>,
        tab: &'static str,
        title: String,
    ) -> Self {
        Frame {
            title,
            css: &assets::CSS.path,
            js: &assets::JS.path,
            sortable: None,
            admin: s.account.admin,
            profiles,
            current: current.map(|p| p.username.as_str().to_owned()),
            tab,
            notice: None,
        }
    }
}

/// A dashboard page: not stored (it is a person's), the dashboard's policy.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut res = page(status, body);
    res.headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, DASHBOARD_CSP);
    res
}

/// Renders `t` as a dashboard page.
pub fn show(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => html(status, body),
        Err(e) => AppError::Internal(format!("rendering a dashboard page: {e}")).into_response(),
    }
}

#[derive(Template)]
#[template(path = "dashboard/message.html")]
struct Message {
    f: Frame,
    heading: String,
    text: String,
}

/// What went wrong, as a page that says it in words (with the frame when it can be drawn).
pub async fn failed(st: &AppState, s: &Signed, e: AppError) -> Response {
    let (status, heading, text) = match &e {
        AppError::ProfileNotFound(_) | AppError::NotFound(_) => (
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such page among yours. Choose one of your pages below.".to_owned(),
        ),
        AppError::InsufficientRole(why) => (
            StatusCode::FORBIDDEN,
            "Not allowed",
            format!("Your role on this page does not allow this: {why}."),
        ),
        AppError::Unauthorized(_) => return see_other("/login"),
        AppError::Forbidden(scope) => (
            StatusCode::FORBIDDEN,
            "Not allowed",
            format!("This needs the {} permission.", scope.as_str()),
        ),
        AppError::Validation(v) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not saved",
            format!(
                "This form could not be read ({}): nothing was saved. Reload the page and try again.",
                v.0.iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ),
        AppError::EdgeMode => (
            StatusCode::NOT_FOUND,
            "Not here",
            "This instance serves pages from another one: edit them there.".to_owned(),
        ),
        AppError::RateLimited { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            format!("Wait {retry_after_secs} seconds, then try again."),
        ),
        _ => return e.into_response(),
    };
    match frame(st, s, None, "", heading.to_owned()).await {
        Ok(f) => show(
            status,
            &Message {
                f,
                heading: heading.to_owned(),
                text,
            },
        ),
        Err(e) => e.into_response(),
    }
}

/// The signed-in person of a page read; without a session, the way to the sign-in page.
pub async fn reader(st: &AppState, headers: &HeaderMap) -> Result<Signed, Response> {
    match signed(st, headers).await {
        Ok(s) => Ok(s),
        Err(AppError::Unauthorized(_)) => Err(see_other("/login")),
        Err(e) => Err(e.into_response()),
    }
}

/// The profile `raw` names when `s` may do `action` on it.
pub async fn profile_for(
    st: &AppState,
    s: &Signed,
    raw: &str,
    action: Action,
) -> Result<Profile, AppError> {
    Who::Person(s.clone()).read_profile(st, raw, action).await
}

/// May `s` do `action` on `p`, a profile already read (the access check alone, without
/// reading the profile again)?
pub async fn allowed(
    st: &AppState,
    s: &Signed,
    p: &Profile,
    action: Action,
) -> Result<(), AppError> {
    Who::Person(s.clone()).on(st, p.id, action).await
}

/// Whether `s` may write `p`'s links (its editor's forms).
pub async fn may_write(st: &AppState, s: &Signed, p: &Profile) -> bool {
    allowed(st, s, p, Action::Scope(Scope::LinksWrite))
        .await
        .is_ok()
}

/// The profile of a page that reads it (any member).
pub async fn readable(st: &AppState, s: &Signed, raw: &str) -> Result<Profile, AppError> {
    profile_for(st, s, raw, Action::Scope(Scope::ProfileRead)).await
}

/// A posted form, its fields in order (a name may come several times).
#[derive(Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The profile version the form was made from (its `If-Match`). Every form of the
    /// dashboard carries one: without it, the edit is refused rather than made unchecked.
    pub fn version(&self) -> Result<i64, AppError> {
        self.get("version").parse().map_err(|_| {
            AppError::Validation(ValidationErrors::single(
                "version",
                "the form lacks the version of the page it was made from",
            ))
        })
    }
}

/// The signed-in person behind a form (from this site's pages) and its fields.
pub async fn posted(st: &AppState, req: Request) -> Result<(Signed, Form), Response> {
    let s = crate::pages::writer(st, req.headers()).await?;
    let bytes = axum::body::to_bytes(req.into_body(), FORM_MAX)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.").into_response())?;
    let fields = form_urlencoded::parse(&bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    Ok((s, Form(fields)))
}

/// Field errors by the name of the field they are about (the last part of its path:
/// `ops[0].title` is `title`), in words.
pub fn field_errors(e: &ValidationErrors) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for f in &e.0 {
        let name = f.field.rsplit('.').next().unwrap_or(&f.field);
        let name = name.split('[').next().unwrap_or(name).to_owned();
        out.entry(name).or_insert_with(|| sentence(&f.message));
    }
    out
}

/// A message as a sentence: a capital first letter and a full stop.
pub fn sentence(m: &str) -> String {
    let mut c = m.chars();
    let mut s: String = match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    };
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// Where a form's action goes back to: the page about `name`, with `tail`.
pub fn back(name: &str, tail: &str) -> Response {
    let to = format!("/dashboard/{name}{tail}");
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, linkleaf_http::profiles::NO_STORE);
    res
}

/// The switcher's choice (`?profile=`, sent without JavaScript): the editor of that page.
pub fn switched(q: &HashMap<String, String>) -> Option<Response> {
    q.get("profile")
        .filter(|p| {
            !p.is_empty()
                && p.len() <= 64
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        })
        .map(|p| back(p, ""))
}

/// The words of the refusal of an edit made from an older version of the profile.
pub const STALE: &str = "Someone else changed this page since you opened it, so your change \
     was not saved. What the page is now is shown below; what you sent is kept in its form: \
     check it and save again.";
