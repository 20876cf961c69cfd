//! `/dashboard`: the person's pages (every profile they are a member of, with their role) and
//! "Create page" (a username and a display name; the person becomes its owner).
//! Must not: make a profile except through `profiles::create` (its limit, its version, its
//! invalidation).

use super::{Form, Frame, field_errors, posted, reader, show};
use askama::Template;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use linkleaf_domain::CreateProfile;
use linkleaf_http::access::Who;
use linkleaf_http::signin::Signed;
use linkleaf_http::{AppError, AppState};

pub struct PageRow {
    pub username: String,
    pub display_name: String,
    pub links: usize,
    pub role: &'static str,
}

#[derive(Template)]
#[template(path = "dashboard/home.html")]
struct Home {
    f: Frame,
    pages: Vec<PageRow>,
    public_url: String,
    can_create: bool,
    max_profiles: u32,
    username: String,
    display_name: String,
    error: Option<String>,
    username_error: Option<String>,
    display_name_error: Option<String>,
}

/// What the "Create page" form says back.
#[derive(Default)]
struct Said {
    username: String,
    display_name: String,
    error: Option<String>,
    username_error: Option<String>,
    display_name_error: Option<String>,
}

async fn home(st: &AppState, s: &Signed, status: StatusCode, said: Said) -> Response {
    let built = async {
        let mut pages = Vec::new();
        for (id, role) in st.stores.accounts.memberships(s.account.id).await? {
            if let Some(p) = st.stores.profiles.profile_by_id(id).await? {
                pages.push(PageRow {
                    username: p.username.as_str().to_owned(),
                    display_name: p.display_name.clone(),
                    links: p.links.len(),
                    role: role.as_str(),
                });
            }
        }
        pages.sort_by_key(|p| p.username.to_ascii_lowercase());
        let max = st.settings.accounts.max_profiles;
        // the switcher's names are those just read
        let names = pages.iter().map(|p| p.username.clone()).collect();
        let f = Frame::new(s, names, None, "home", "Your pages".to_owned());
        Ok::<_, AppError>(Home {
            f,
            can_create: s.account.admin
                || pages.iter().filter(|p| p.role == "owner").count() < max as usize,
            pages,
            public_url: st.settings.public_url.trim_end_matches('/').to_owned(),
            max_profiles: max,
            username: said.username,
            display_name: said.display_name,
            error: said.error,
            username_error: said.username_error,
            display_name_error: said.display_name_error,
        })
    };
    match built.await {
        Ok(t) => show(status, &t),
        Err(e) => e.into_response(),
    }
}

/// `GET /dashboard` (`?profile=`: the switcher's choice)
pub async fn index(
    State(st): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(res) = super::switched(&q) {
        return res;
    }
    let s = match reader(&st, &headers).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    home(&st, &s, StatusCode::OK, Said::default()).await
}

/// `POST /dashboard`: "Create page". Made, the editor of the new page; refused, the form
/// again with what to fix beside its field.
pub async fn create(State(st): State<AppState>, req: Request) -> Response {
    let (s, form): (Signed, Form) = match posted(&st, req).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let username = form.get("username").trim().to_owned();
    let display_name = form.get("display_name").trim().to_owned();
    let body = CreateProfile {
        username: username.clone(),
        display_name: (!display_name.is_empty()).then(|| display_name.clone()),
        bio: None,
        avatar_url: None,
        theme: None,
        links: Vec::new(),
        time_zone: Some(s.account.time_zone.clone()),
    };
    if st.settings.edge {
        return super::failed(&st, &s, AppError::EdgeMode).await;
    }
    let who = Who::Person(s.clone());
    let owner = match who.new_owner(&st) {
        Ok(o) => o,
        Err(e) => return super::failed(&st, &s, e).await,
    };
    let mut said = Said {
        username,
        display_name,
        ..Said::default()
    };
    match linkleaf_http::profiles::create(&st, owner, who.actor(), body).await {
        Ok(p) => super::back(p.username.as_str(), "?made=1"),
        Err(AppError::Validation(v)) => {
            let mut errs = field_errors(&v);
            said.username_error = errs.remove("username");
            said.display_name_error = errs.remove("displayName");
            said.error = Some("The page was not made: fix what is marked below.".to_owned());
            home(&st, &s, StatusCode::UNPROCESSABLE_ENTITY, said).await
        }
        Err(AppError::UsernameTaken(_)) | Err(AppError::Conflict(_)) => {
            said.username_error = Some("This username is taken: choose another.".to_owned());
            said.error = Some("The page was not made: fix what is marked below.".to_owned());
            home(&st, &s, StatusCode::CONFLICT, said).await
        }
        Err(AppError::LimitReached(max)) => {
            said.error = Some(format!(
                "You have as many pages as an account may have ({max})."
            ));
            home(&st, &s, StatusCode::CONFLICT, said).await
        }
        Err(e) => super::failed(&st, &s, e).await,
    }
}
