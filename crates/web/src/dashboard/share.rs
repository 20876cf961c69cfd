//! `/dashboard/{profile}/share`: the page's QR code (shown, and to download as SVG or PNG: the
//! API's images, which carry `?src=qr` so their views count under `qr`), the export (the API's
//! file), and the import: a file read first as a dry run, whose changes are shown, then applied
//! as one edit (one version) only when "Apply import" is pressed, and refused with the page's
//! words if the profile changed between the two.
//! Must not: change a profile except through `profiles::modify`, or apply an import that was
//! not shown first.

use super::{Form, Frame, STALE, back, failed, frame, posted, profile_for, reader, show};
use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use linkleaf_access::table::Action;
use linkleaf_domain::import::{Changes, Format, Imported, MAX_BYTES};
use linkleaf_domain::{Profile, Scope};
use linkleaf_http::signin::Signed;
use linkleaf_http::{AppError, AppState};

#[derive(Default)]
pub struct ImportView {
    pub format: String,
    pub content: String,
    pub errors: Vec<String>,
    /// The dry run's changes, when it passed.
    pub changes: Option<Changes>,
}

impl ImportView {
    pub fn is(&self, format: &str) -> bool {
        self.format == format || (self.format.is_empty() && format == "linkleaf")
    }
}

#[derive(Template)]
#[template(path = "dashboard/share.html")]
struct Share {
    f: Frame,
    name: String,
    id: String,
    page_url: String,
    version: i64,
    can_write: bool,
    import: ImportView,
    error: Option<String>,
}

async fn share_page(
    st: &AppState,
    s: &Signed,
    p: &Profile,
    status: StatusCode,
    import: ImportView,
    error: Option<String>,
) -> Response {
    let can_write = super::may_write(st, s, p).await
        && super::allowed(st, s, p, Action::Scope(Scope::ProfileWrite))
            .await
            .is_ok();
    let f = match frame(
        st,
        s,
        Some(p),
        "share",
        format!("Share @{}", p.username.as_str()),
    )
    .await
    {
        Ok(f) => f,
        Err(e) => return failed(st, s, e).await,
    };
    show(
        status,
        &Share {
            f,
            name: p.username.as_str().to_owned(),
            id: p.id.to_string(),
            page_url: format!(
                "{}/{}",
                st.settings.public_url.trim_end_matches('/'),
                p.username.key()
            ),
            version: p.version,
            can_write,
            import,
            error,
        },
    )
}

/// `GET /dashboard/{profile}/share`
pub async fn share(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Response {
    let s = match reader(&st, &headers).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    match profile_for(&st, &s, &raw, Action::Scope(Scope::ProfileRead)).await {
        Ok(p) => share_page(&st, &s, &p, StatusCode::OK, ImportView::default(), None).await,
        Err(e) => failed(&st, &s, e).await,
    }
}

fn format_of(form: &Form) -> Option<Format> {
    match form.get("format") {
        "linkleaf" => Some(Format::Linkleaf),
        "linkstack" => Some(Format::Linkstack),
        "csv" => Some(Format::Csv),
        _ => None,
    }
}

/// `POST /dashboard/{profile}/import`: "Preview import" (`step=preview`: the dry run, shown)
/// or "Apply import" (`step=apply`: the file shown, applied as one edit).
pub async fn import(State(st): State<AppState>, Path(raw): Path<String>, req: Request) -> Response {
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
    let mut view = ImportView {
        format: form.get("format").to_owned(),
        content: form.get("content").to_owned(),
        ..ImportView::default()
    };
    let Some(format) = format_of(&form) else {
        view.errors
            .push("Choose what the file is: linkleaf, LinkStack or CSV.".to_owned());
        return share_page(&st, &s, &p, StatusCode::UNPROCESSABLE_ENTITY, view, None).await;
    };
    if view.content.len() > MAX_BYTES {
        view.errors.push(format!(
            "The file is larger than {} KiB: import fewer links at once.",
            MAX_BYTES / 1024
        ));
        view.content.clear();
        return share_page(&st, &s, &p, StatusCode::PAYLOAD_TOO_LARGE, view, None).await;
    }
    if view.content.trim().is_empty() {
        view.errors
            .push("Paste the file's contents (or choose the file) first.".to_owned());
        return share_page(&st, &s, &p, StatusCode::UNPROCESSABLE_ENTITY, view, None).await;
    }
    let imported = match Imported::read(format, view.content.as_bytes()) {
        Ok(i) => i,
        Err(v) => {
            view.errors =
                v.0.iter()
                    .map(|f| super::sentence(&format!("{}: {}", f.field, f.message)))
                    .collect();
            return share_page(&st, &s, &p, StatusCode::UNPROCESSABLE_ENTITY, view, None).await;
        }
    };
    if form.get("step") != "apply" {
        view.changes = Some(Changes::of(&p, &imported.apply(&p)));
        return share_page(&st, &s, &p, StatusCode::OK, view, None).await;
    }
    let version = match form.version() {
        Ok(v) => v,
        Err(e) => return failed(&st, &s, e).await,
    };
    let actor = linkleaf_http::access::Who::Person(s.clone()).actor();
    match linkleaf_http::profiles::modify(&st, p.id, actor, Some(version), move |current| {
        Ok(imported.apply(current))
    })
    .await
    {
        Ok(after) => back(after.username.as_str(), "?saved=imported"),
        Err(AppError::Stale { .. }) => {
            // the profile as it is now, and the dry run again against it
            let now = match profile_for(
                &st,
                &s,
                &p.id.to_string(),
                Action::Scope(Scope::ProfileRead),
            )
            .await
            {
                Ok(now) => now,
                Err(e) => return failed(&st, &s, e).await,
            };
            if let Ok(i) = Imported::read(format, view.content.as_bytes()) {
                view.changes = Some(Changes::of(&now, &i.apply(&now)));
            }
            let words = STALE.replace(
                "what you sent is kept in its form: check it and save again",
                "the import is shown again against the page as it is now: check it and apply it again",
            );
            share_page(
                &st,
                &s,
                &now,
                StatusCode::PRECONDITION_FAILED,
                view,
                Some(words),
            )
            .await
        }
        Err(e) => failed(&st, &s, e).await,
    }
}
