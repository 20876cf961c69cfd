//! `GET /r/{link}`: the redirect behind every link button, which records the click first.
//!
//! It only ever sends a visitor to a stored, enabled link's URL: an unknown, disabled or
//! malformed id gets the friendly 404 page. The click is written to the spool before the 302
//! leaves; a `HEAD` is answered too but counted as a monitor, not a person. Cached hits are
//! answered by the fast path with the same functions (`respond::redirect`, `Recorder`).
//! Must not: send a visitor anywhere but a stored, enabled link's URL, or answer before the click
//! is spooled.

use crate::client::Peer;
use crate::respond::{
    REDIRECT_PREFIX, html_message, link_key, redirect, segment, unavailable_page,
};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use linkleaf_events::event::Kind;
use uuid::Uuid;

/// Follow a link
///
/// Redirects (`302`, never `301`) to the URL of an enabled link, after recording the click:
/// the click is on disk before this answers. Unknown, disabled and malformed ids get the
/// friendly 404 page.
#[utoipa::path(get, path = "/r/{link}", operation_id = "followLink", tag = "public",
    params(("link" = String, Path, description = "A link's id")),
    responses(
        (status = 302, description = "To the link's URL", headers(
            ("Location" = String, description = "The link's URL"),
            ("Cache-Control" = String, description = "`no-store`: every click comes back here"))),
        (status = 404, description = "No enabled link has this id", content_type = "text/html", body = String),
        (status = 503, description = "The store cannot be reached and the link is not cached",
            content_type = "text/html", body = String,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn follow(State(st): State<AppState>, req: Request) -> Response {
    let not_found = || html_message(StatusCode::NOT_FOUND, &st.prebuilt.not_found_html, None);
    let Some(id) =
        segment(req.uri().path(), REDIRECT_PREFIX).and_then(|s| Uuid::try_parse(&s).ok())
    else {
        return not_found();
    };
    let read = match st.links.get(link_key(&id, &mut [0; 36])).await {
        Ok(r) => r,
        Err(e) => return unavailable_page(&st.prebuilt, &e),
    };
    let Some(target) = read.entry.value().filter(|t| t.enabled) else {
        return not_found();
    };
    if let (Some(rec), Some(Peer(peer))) = (st.recorder.as_ref(), req.extensions().get::<Peer>()) {
        let head = req.method() == Method::HEAD;
        rec.click(rec.hit(
            Kind::Click,
            target.profile,
            Some(id),
            peer.ip(),
            req.headers(),
            head,
        ))
        .await;
    }
    redirect(&target.location)
}
