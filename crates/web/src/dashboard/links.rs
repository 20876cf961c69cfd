//! The link forms of the editor (`/dashboard/{profile}/links…`, `/order`): add, edit (title,
//! address, when it is shown), move up or down, show or hide, remove, and the whole order as
//! dragging posts it. Each is one `LinksPatch` applied through the editor's `apply`, as of the
//! version its form was made from; dates are read in the account's time zone.
//! Must not: change a profile except through `editor::apply`.

use super::editor::{Edit, Keep, apply};
use super::{Form, failed, posted};
use axum::extract::{Path, Request, State};
use axum::response::Response;
use linkleaf_domain::link_ops::{LinkOp, LinksPatch};
use linkleaf_domain::zone::Zone;
use linkleaf_domain::{Profile, Scope, ValidationErrors};
use linkleaf_http::signin::Signed;
use linkleaf_http::{AppError, AppState};
use uuid::Uuid;

/// A `datetime-local` field read in the account's zone; an unreadable one is a field error.
fn local_time(
    zone: &Zone,
    form: &Form,
    name: &str,
    field: &str,
    errs: &mut ValidationErrors,
) -> Option<String> {
    let v = form.get(name).trim();
    if v.is_empty() {
        return None;
    }
    match zone.from_local_input(v) {
        Some(t) => Some(t),
        None => {
            errs.0.push(linkleaf_domain::FieldError::new(
                field,
                "enter a date and a time, such as 2026-12-24 18:00",
            ));
            None
        }
    }
}

/// Operations that are the same whatever the profile is.
fn fixed(
    ops: Vec<LinkOp>,
) -> impl Fn(&Profile) -> Result<Vec<LinkOp>, ValidationErrors> + Send + Sync + 'static {
    move |_| Ok(ops.clone())
}

/// Applies the operations `ops` makes of the profile (as the form's version has it) through
/// the editor's `apply`, which answers; `pre` are the form's own refusals (a date that does not
/// read), reported with whatever the operations refuse.
async fn edit_links(
    st: &AppState,
    s: &Signed,
    raw: &str,
    form: Form,
    (saved, keep): (&'static str, Keep),
    pre: ValidationErrors,
    ops: impl Fn(&Profile) -> Result<Vec<LinkOp>, ValidationErrors> + Send + Sync + 'static,
) -> Response {
    let edit = Edit {
        form,
        scope: Scope::LinksWrite,
        saved,
        keep,
    };
    apply(st, s, raw, edit, move |p| {
        if !pre.0.is_empty() {
            return Err(pre.clone());
        }
        let patch = LinksPatch { ops: ops(p)? };
        let mut next = p.clone();
        next.links = patch.apply(&p.links)?;
        Ok(next)
    })
    .await
}

/// `POST /dashboard/{profile}/links`: "Add link".
pub async fn add_link(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    req: Request,
) -> Response {
    let (s, form) = match posted(&st, req).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let zone = Zone::from_stored(&s.account.time_zone);
    let mut pre = ValidationErrors::default();
    let visible_from = local_time(&zone, &form, "visible_from", "visibleFrom", &mut pre);
    let visible_until = local_time(&zone, &form, "visible_until", "visibleUntil", &mut pre);
    let op = LinkOp::Add {
        title: form.get("title").trim().to_owned(),
        url: form.get("url").trim().to_owned(),
        enabled: None,
        position: None,
        visible_from,
        visible_until,
    };
    edit_links(
        &st,
        &s,
        &raw,
        form,
        ("added", Keep::Add),
        pre,
        fixed(vec![op]),
    )
    .await
}

fn link_id(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

/// The person, the form and the link (by its id in the path) of a form about one link.
async fn posted_link(
    st: &AppState,
    req: Request,
    id: &str,
) -> Result<(Signed, Form, Uuid), Response> {
    let (s, form) = posted(st, req).await?;
    match link_id(id) {
        Some(id) => Ok((s, form, id)),
        None => Err(failed(st, &s, AppError::NotFound("no such link".into())).await),
    }
}

/// `POST /dashboard/{profile}/links/{id}`: "Save" of a link's edit form.
pub async fn edit_link(
    State(st): State<AppState>,
    Path((raw, id)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (s, form, id) = match posted_link(&st, req, &id).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let zone = Zone::from_stored(&s.account.time_zone);
    let mut pre = ValidationErrors::default();
    // a field sent back as it was shown leaves the stored time alone
    let mut changed = |name: &str, field: &str| {
        let was = format!("{name}_was");
        (form.get(name).trim() != form.get(&was).trim() || !form.0.iter().any(|(k, _)| *k == was))
            .then(|| local_time(&zone, &form, name, field, &mut pre))
    };
    let visible_from = changed("visible_from", "visibleFrom");
    let visible_until = changed("visible_until", "visibleUntil");
    let op = LinkOp::Edit {
        id,
        title: Some(form.get("title").trim().to_owned()),
        url: Some(form.get("url").trim().to_owned()),
        enabled: None,
        visible_from,
        visible_until,
    };
    edit_links(
        &st,
        &s,
        &raw,
        form,
        ("link", Keep::Link(id)),
        pre,
        fixed(vec![op]),
    )
    .await
}

/// `POST /dashboard/{profile}/links/{id}/move`: "Move up" (`to=up`) or "Move down".
pub async fn move_link(
    State(st): State<AppState>,
    Path((raw, id)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (s, form, id) = match posted_link(&st, req, &id).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let up = form.get("to") == "up";
    // the position is the link's own, one step on, in the profile as the form saw it (the
    // version check refuses a form made from another order)
    edit_links(
        &st,
        &s,
        &raw,
        form,
        ("moved", Keep::Nothing),
        ValidationErrors::default(),
        move |p: &Profile| {
            let Some(at) = p.links.iter().position(|l| l.id == id) else {
                return Err(ValidationErrors::single("id", "no such link"));
            };
            let to = if up {
                at.saturating_sub(1)
            } else {
                (at + 1).min(p.links.len().saturating_sub(1))
            };
            Ok(vec![LinkOp::Move {
                id,
                position: to as u32,
            }])
        },
    )
    .await
}

/// `POST /dashboard/{profile}/links/{id}/toggle`: "Hide" (`enabled=false`) or "Show".
pub async fn toggle_link(
    State(st): State<AppState>,
    Path((raw, id)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (s, form, id) = match posted_link(&st, req, &id).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let (op, saved) = if form.get("enabled") == "true" {
        (LinkOp::Enable { id }, "shown")
    } else {
        (LinkOp::Disable { id }, "hidden")
    };
    edit_links(
        &st,
        &s,
        &raw,
        form,
        (saved, Keep::Nothing),
        ValidationErrors::default(),
        fixed(vec![op]),
    )
    .await
}

/// `POST /dashboard/{profile}/links/{id}/remove`: "Remove".
pub async fn remove_link(
    State(st): State<AppState>,
    Path((raw, id)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (s, form, id) = match posted_link(&st, req, &id).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    edit_links(
        &st,
        &s,
        &raw,
        form,
        ("removed", Keep::Nothing),
        ValidationErrors::default(),
        fixed(vec![LinkOp::Remove { id }]),
    )
    .await
}

/// `POST /dashboard/{profile}/order`: every link's id in the new order (`id`, repeated), as
/// dragging posts it.
pub async fn reorder(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    req: Request,
) -> Response {
    let (s, form) = match posted(&st, req).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let mut pre = ValidationErrors::default();
    let mut ids = Vec::new();
    for v in form.all("id") {
        match link_id(v) {
            Some(id) => ids.push(id),
            None => pre
                .0
                .push(linkleaf_domain::FieldError::new("ids", "no such link")),
        }
    }
    edit_links(
        &st,
        &s,
        &raw,
        form,
        ("order", Keep::Nothing),
        pre,
        fixed(vec![LinkOp::Reorder { ids }]),
    )
    .await
}
