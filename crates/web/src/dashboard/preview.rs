//! `GET /dashboard/{profile}/preview`: the page as the renderer makes it now, for the editor's
//! frame. It is the renderer's bytes, with two differences: its policy lets this site frame it
//! (`frame-ancestors 'self'`; the public page keeps `'none'`), and its link buttons lead
//! nowhere (`/r/{id}` becomes `#r-{id}`), so a creator trying them records no click. Nothing
//! here records a view either: this route never reaches the recorder.
//! Must not: record a view or a click, be stored by a cache, or be framed by another site.

use super::{failed, readable, reader};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use linkleaf_http::render::Renderer;
use linkleaf_http::{AppError, AppState};

/// The renderer's page with its links made inert.
pub fn inert(html: &[u8]) -> Vec<u8> {
    const FROM: &[u8] = b"href=\"/r/";
    const TO: &[u8] = b"href=\"#r-";
    let mut out = Vec::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.windows(FROM.len()).position(|w| w == FROM) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(TO);
        rest = &rest[at + FROM.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// The page's policy with `frame-ancestors 'self'` for `'none'`.
pub fn framed_by_self(csp: &HeaderValue) -> HeaderValue {
    let s = csp.to_str().unwrap_or_default();
    let s = s.replace("frame-ancestors 'none'", "frame-ancestors 'self'");
    HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static(
        "default-src 'none'; style-src 'self'; frame-ancestors 'self'",
    ))
}

pub async fn preview(
    State(st): State<AppState>,
    Path(raw): Path<String>,
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
    let renderer = Renderer {
        public_url: st.settings.public_url.clone(),
    };
    let page = match renderer.render(&p) {
        Ok(page) => page,
        Err(e) => return AppError::Internal(format!("rendering a preview: {e}")).into_response(),
    };
    let mut res = (StatusCode::OK, inert(&page.html.body)).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, linkleaf_http::profiles::NO_STORE);
    linkleaf_http::respond::html_security_headers(h, framed_by_self(&page.csp));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_lead_nowhere_and_the_rest_is_as_rendered() {
        let html = br#"<a class="link" href="/r/abc" title="x">A</a><a href="/">Home</a><a class="link" href="/r/def">B</a>"#;
        let out = String::from_utf8(inert(html)).unwrap();
        assert_eq!(
            out,
            r##"<a class="link" href="#r-abc" title="x">A</a><a href="/">Home</a><a class="link" href="#r-def">B</a>"##
        );
    }

    #[test]
    fn the_preview_may_be_framed_by_this_site_only() {
        let csp = HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; frame-ancestors 'none'",
        );
        assert_eq!(
            framed_by_self(&csp).to_str().unwrap(),
            "default-src 'none'; style-src 'self'; frame-ancestors 'self'"
        );
    }
}
