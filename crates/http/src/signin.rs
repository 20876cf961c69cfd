//! The session a request carries, for the handlers that need a signed-in person: its cookie
//! (`linkleaf_session`, `__Host-linkleaf_session` over https) found among the request's
//! cookies, looked up through `linkleaf_access::sessions` (the database: every instance sees a
//! sign-out or a disabled account at its next request), and, for a write, the origin check of
//! `linkleaf_access::origin`. Must not: know routes.

use crate::error::AppError;
use crate::state::AppState;
use axum::http::StatusCode;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use linkleaf_access::{origin, session};
use linkleaf_store::accounts::AccountRecord;
use serde::Serialize;
use utoipa::ToSchema;

/// A signed-in request: its session's public id and its account.
#[derive(Debug, Clone)]
pub struct Signed {
    pub session_id: String,
    pub account: AccountRecord,
}

/// The value of the session cookie among the request's cookies, if it carries one.
pub fn cookie_value(headers: &HeaderMap, secure: bool) -> Option<&str> {
    let name = session::cookie_name(secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// The signed-in person, or 401.
pub async fn signed(st: &AppState, headers: &HeaderMap) -> Result<Signed, AppError> {
    let secure = st.settings.accounts.secure_cookies;
    let value = cookie_value(headers, secure).ok_or(AppError::Unauthorized(
        "sign in first: no session cookie was sent",
    ))?;
    let current = st
        .sessions
        .current(value)
        .await?
        .ok_or(AppError::Unauthorized(
            "this session has ended: sign in again",
        ))?;
    Ok(Signed {
        session_id: current.session.id,
        account: current.account,
    })
}

/// The signed-in person, for a write: 401 without a session, 403 when the request does not
/// come from the site's own pages.
pub async fn cookie_write(st: &AppState, headers: &HeaderMap) -> Result<Signed, AppError> {
    let s = signed(st, headers).await?;
    from_this_site(st, headers)?;
    Ok(s)
}

/// 403 unless the request comes from the site's own pages: its `Origin` is
/// `server.public_url`'s, or without one `Sec-Fetch-Site` is `same-origin`. A signed-in write
/// needs it, and so does a form that signs someone in (login CSRF).
pub fn from_this_site(st: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    origin::check_write(
        header("origin"),
        header("sec-fetch-site"),
        &st.settings.accounts.site_origin,
    )
    .map_err(|r| AppError::CrossSite(r.detail()))
}

/// The user agent a request names ("" without one): what a session's list shows.
pub fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Takes a sign-in attempt from the request's client (its address, or the one a trusted proxy
/// names) against `email`: `Err(AppError::RateLimited)` when the client or the account has
/// tried too often (the same for an unknown email).
pub async fn attempt(
    st: &AppState,
    headers: &HeaderMap,
    peer: Option<crate::client::Peer>,
    email: &str,
) -> Result<(), AppError> {
    let ip = peer.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |p| p.0.ip());
    let client = st.client(ip, headers);
    st.signin_limits
        .take(email, client)
        .await
        .map_err(|wait| AppError::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        })
}

/// The `Set-Cookie` of a new session; it lasts as long as a session may.
pub fn session_cookie(st: &AppState, value: &str) -> HeaderValue {
    let a = &st.settings.accounts;
    let v = session::set_cookie(value, a.secure_cookies, st.sessions.lifetimes.max.as_secs());
    HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""))
}

/// The `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(st: &AppState) -> HeaderValue {
    let v = session::clear_cookie(st.settings.accounts.secure_cookies);
    HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""))
}

/// The signed-in person.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    id: uuid::Uuid,
    email: String,
    display_name: String,
    /// May manage accounts and every profile.
    admin: bool,
    /// An IANA time zone name: the days this person sees (`PATCH /api/me` sets it).
    time_zone: String,
    /// The profiles this account is a member of, with its role on each.
    profiles: Vec<Membership>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    id: uuid::Uuid,
    /// `owner`, `editor` or `viewer`.
    role: &'static str,
}

/// The answer to a sign-in, a sign-up or a passkey: who is signed in, with the new session's
/// cookie.
pub async fn signed_in(
    st: &AppState,
    status: StatusCode,
    started: linkleaf_access::sessions::SignedIn,
) -> Result<Response, AppError> {
    let cookie = session_cookie(st, &started.cookie_value);
    let signed = Signed {
        session_id: started.session_id,
        account: started.account,
    };
    let mut res = crate::profiles::admin_json(status, &me_of(st, &signed).await?);
    res.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(res)
}

pub async fn me_of(st: &AppState, s: &Signed) -> Result<Me, AppError> {
    let profiles = st
        .sessions
        .store()
        .memberships(s.account.id)
        .await?
        .into_iter()
        .map(|(id, role)| Membership {
            id,
            role: role.as_str(),
        })
        .collect();
    Ok(Me {
        id: s.account.id,
        email: s.account.email.clone(),
        display_name: s.account.display_name.clone(),
        admin: s.account.admin,
        time_zone: s.account.time_zone.clone(),
        profiles,
    })
}

/// A one-time link's refusal as an answer.
pub fn link_error(e: linkleaf_access::links::LinkError) -> AppError {
    use linkleaf_access::links::LinkError;
    match e {
        LinkError::Gone => AppError::Validation(linkleaf_domain::ValidationErrors::single(
            "invitation",
            "is used, expired or unknown: ask for a new link",
        )),
        LinkError::Invalid(f) => AppError::Validation(linkleaf_domain::ValidationErrors(vec![f])),
        LinkError::Taken => AppError::Conflict(linkleaf_domain::ValidationErrors::single(
            "email",
            "has an account already: sign in instead",
        )),
        LinkError::Store(e) => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others_by_its_exact_name() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; linkleaf_session_x=no"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("linkleaf_session=yes; b=2"),
        );
        assert_eq!(cookie_value(&h, false), Some("yes"));
        assert_eq!(
            cookie_value(&h, true),
            None,
            "over https only the __Host- one counts"
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-linkleaf_session=secure"),
        );
        assert_eq!(cookie_value(&h, true), Some("secure"));
    }
}
