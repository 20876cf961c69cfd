//! The handlers of the pages. Forms are posted the plain way (`application/x-www-form-urlencoded`)
//! and answered with a page or a redirect (303), so everything works without JavaScript. A form
//! that carries the session cookie must come from this site (the same origin check as the API's);
//! a failed sign-in shows the form again, with the email kept and the reason said.
//! Must not: import a route module of the HTTP crate, or need JavaScript for anything but passkeys.

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use linkleaf_access::sessions::SignInError;
use linkleaf_http::signin::{
    Signed, clear_cookie, cookie_value, cookie_write, from_this_site, session_cookie, signed,
    user_agent,
};
use linkleaf_http::{AppError, AppState};
use serde::Deserialize;

const FORM_MAX: usize = 16 * 1024;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    stylesheet: &'static str,
    email: &'a str,
    error: Option<&'a str>,
}

struct SessionRow {
    id: String,
    browser: String,
    created: String,
    created_iso: String,
    seen: String,
    seen_iso: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    stylesheet: &'static str,
    email: &'a str,
    display_name: &'a str,
    sessions: Vec<SessionRow>,
    passkeys: Vec<PasskeyRow>,
    keys: Vec<KeyRow>,
    /// The person's profiles, by username, for the key form.
    profiles: Vec<String>,
    new_token: Option<String>,
    key_error: Option<String>,
    scopes: Vec<&'static str>,
    notice: Option<&'a str>,
    error: Option<String>,
}

/// The pages' policy: the stylesheet, the one vendored script (passkeys) and its calls to this
/// site's API, forms posted to this site, nothing else.
const PAGE_CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
     img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
);

/// A form that signs someone in (or makes an account) must come from this site's own pages, as
/// a signed-in write must (`signin::from_this_site`): otherwise another site could sign a
/// visitor into an account of its choosing (login CSRF). The refusal, when it does not.
pub(crate) fn from_elsewhere(st: &AppState, headers: &HeaderMap) -> Option<Response> {
    from_this_site(st, headers)
        .err()
        .map(IntoResponse::into_response)
}

/// The signed-in person behind a form that changes something (from this site's own pages);
/// without a session, the way to the sign-in page.
pub(crate) async fn writer(st: &AppState, headers: &HeaderMap) -> Result<Signed, Response> {
    match cookie_write(st, headers).await {
        Ok(s) => Ok(s),
        Err(AppError::Unauthorized(_)) => Err(see_other("/login")),
        Err(e) => Err(e.into_response()),
    }
}

/// What a form answered past the sign-in limit says, and its `Retry-After`.
pub(crate) fn wait_words(secs: u64) -> String {
    format!("Too many attempts. Wait {secs} seconds, then try again.")
}

pub(crate) fn retry_after(mut res: Response, secs: u64) -> Response {
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}

/// `GET /account/passkeys.js`: the vendored script behind "Use a passkey" and "Add a passkey".
pub async fn passkeys_js() -> Response {
    let mut res = include_str!("../assets/passkeys.js").into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

struct KeyRow {
    id: String,
    name: String,
    profile: String,
    scopes: String,
    created: String,
    created_iso: String,
    revoked: bool,
}

/// The keys the person made (newest first) and the usernames of their profiles.
async fn keys_and_profiles(
    st: &AppState,
    s: &linkleaf_http::signin::Signed,
) -> Result<(Vec<KeyRow>, Vec<String>), AppError> {
    let mut names = std::collections::HashMap::new();
    for (id, _) in st.stores.accounts.memberships(s.account.id).await? {
        if let Some(p) = st.stores.profiles.profile_by_id(id).await? {
            names.insert(id, p.username.as_str().to_owned());
        }
    }
    let keys = st
        .stores
        .keys
        .keys_of(s.account.id)
        .await?
        .into_iter()
        .map(|k| {
            let (created, created_iso) = when(k.created_at);
            KeyRow {
                id: k.id.to_string(),
                name: k.name,
                profile: k
                    .profile
                    .and_then(|p| names.get(&p).cloned())
                    .unwrap_or_else(|| "a profile you left".to_owned()),
                scopes: k.scopes.to_string(),
                created,
                created_iso,
                revoked: k.revoked_at.is_some(),
            }
        })
        .collect();
    let mut profiles: Vec<String> = names.into_values().collect();
    profiles.sort();
    Ok((keys, profiles))
}

/// `POST /account/keys`: makes a key bound to one of the person's profiles; the page shows its
/// token this once, or says why it was not made.
pub async fn make_key(State(st): State<AppState>, req: Request) -> Response {
    let s = match writer(&st, req.headers()).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let bytes = match axum::body::to_bytes(req.into_body(), FORM_MAX).await {
        Ok(b) => b,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let (mut name, mut profile, mut scopes) = (String::new(), String::new(), Vec::new());
    for (k, v) in form_urlencoded::parse(&bytes) {
        match k.as_ref() {
            "name" => name = v.into_owned(),
            "profile" => profile = v.into_owned(),
            "scope" => scopes.push(v.into_owned()),
            _ => {}
        }
    }
    match linkleaf_http::access::issue_bound_key(&st, &s, &name, &profile, &scopes).await {
        Ok((_, token)) => {
            let said = KeysSaid {
                token: Some(token.expose().to_owned()),
                error: None,
            };
            account_page_with(&st, &s, StatusCode::CREATED, None, None, said).await
        }
        Err(e) => {
            let (status, why) = match &e {
                AppError::Validation(v) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    v.0.iter()
                        .map(|f| match f.field.as_str() {
                            "name" => format!("The name: {}.", f.message),
                            "scopes" => format!("The scopes: {}.", f.message),
                            _ => format!("{}: {}.", f.field, f.message),
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                AppError::InsufficientRole(why) => {
                    (StatusCode::FORBIDDEN, format!("Not made: {why}."))
                }
                AppError::ProfileNotFound(_) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Choose one of your profiles.".to_owned(),
                ),
                AppError::LimitReached(max) => (
                    StatusCode::CONFLICT,
                    format!("You have {max} keys: revoke one first."),
                ),
                _ => return e.into_response(),
            };
            let said = KeysSaid {
                token: None,
                error: Some(why),
            };
            account_page_with(&st, &s, status, None, None, said).await
        }
    }
}

/// `POST /account/keys/{id}/revoke`: revokes one of the keys the person made.
pub async fn revoke_key(
    State(st): State<AppState>,
    Path(id): Path<String>,
    req: Request<Body>,
) -> Response {
    let s = match writer(&st, req.headers()).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if let Ok(id) = uuid::Uuid::parse_str(&id)
        && let Err(e) = st
            .stores
            .keys
            .revoke_key_of(s.account.id, id, time::OffsetDateTime::now_utc())
            .await
    {
        return AppError::from(e).into_response();
    }
    see_other("/account")
}

struct PasskeyRow {
    id: String,
    name: String,
    created: String,
    created_iso: String,
    used: Option<(String, String)>,
}

pub(crate) fn stylesheet() -> &'static str {
    &linkleaf_http::style::stylesheet().path
}

/// An HTML page: no caching (it is a person's), the pages' security headers.
pub(crate) fn page(status: StatusCode, html: String) -> Response {
    let mut res = (status, html).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, linkleaf_http::profiles::NO_STORE);
    linkleaf_http::respond::html_security_headers(h, PAGE_CSP);
    res
}

pub(crate) fn see_other(to: &'static str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    res.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, linkleaf_http::profiles::NO_STORE);
    res
}

fn login_page(status: StatusCode, email: &str, error: Option<&str>) -> Response {
    let html = LoginPage {
        stylesheet: stylesheet(),
        email,
        error,
    }
    .render()
    .unwrap_or_default();
    page(status, html)
}

/// `GET /login`: the form; a signed-in person goes to their account.
pub async fn login_form(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if signed(&st, &headers).await.is_ok() {
        return see_other("/dashboard");
    }
    login_page(StatusCode::OK, "", None)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub(crate) async fn form<T: for<'de> Deserialize<'de>>(req: Request) -> Result<T, Response> {
    let bytes = axum::body::to_bytes(req.into_body(), FORM_MAX)
        .await
        .map_err(|_| {
            login_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "",
                Some("The form is too large."),
            )
        })?;
    serde_urlencoded::from_bytes(&bytes).map_err(|_| {
        login_page(
            StatusCode::BAD_REQUEST,
            "",
            Some("The form could not be read: send it again."),
        )
    })
}

/// `POST /login`: checks the email and password; on success a new session and the account.
pub async fn login(State(st): State<AppState>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<linkleaf_http::client::Peer>()
        .copied();
    let headers = req.headers().clone();
    if let Some(refused) = from_elsewhere(&st, &headers) {
        return refused;
    }
    let f: LoginForm = match form(req).await {
        Ok(f) => f,
        Err(res) => return res,
    };
    if f.email.trim().is_empty() || f.password.is_empty() {
        return login_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &f.email,
            Some("Enter your email and your password."),
        );
    }
    if let Err(AppError::RateLimited { retry_after_secs }) =
        linkleaf_http::signin::attempt(&st, &headers, peer, &f.email).await
    {
        let page = login_page(
            StatusCode::TOO_MANY_REQUESTS,
            &f.email,
            Some(&wait_words(retry_after_secs)),
        );
        return retry_after(page, retry_after_secs);
    }
    match st
        .sessions
        .sign_in(&f.email, &f.password, user_agent(&headers))
        .await
    {
        Ok(s) => {
            let mut res = see_other("/dashboard");
            res.headers_mut()
                .insert(header::SET_COOKIE, session_cookie(&st, &s.cookie_value));
            res
        }
        Err(SignInError::Refused) => login_page(
            StatusCode::UNAUTHORIZED,
            &f.email,
            Some("That email and password do not match an account. Check both and try again."),
        ),
        Err(SignInError::Store(e)) => AppError::from(e).into_response(),
    }
}

/// `POST /logout`: ends the session on the server and removes the cookie.
pub async fn logout(State(st): State<AppState>, req: Request) -> Response {
    let secure = st.settings.accounts.secure_cookies;
    if cookie_value(req.headers(), secure).is_none() {
        return see_other("/login");
    }
    match cookie_write(&st, req.headers()).await {
        Ok(s) => {
            if let Err(e) = st.sessions.end(&s.session_id, s.account.id).await {
                return AppError::from(e).into_response();
            }
        }
        Err(AppError::Unauthorized(_)) => {}
        Err(e) => return e.into_response(),
    }
    let mut res = see_other("/login");
    res.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie(&st));
    res
}

fn when(t: time::OffsetDateTime) -> (String, String) {
    let iso = t
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let shown = t
        .format(time::macros::format_description!(
            "[day] [month repr:short] [year], [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    (shown, iso)
}

/// A user agent as a person would name it: "Firefox on Linux", or the first words of it.
fn browser_name(ua: &str) -> String {
    let l = ua.to_ascii_lowercase();
    let browser = [
        ("edg/", "Edge"),
        ("firefox/", "Firefox"),
        ("chrome/", "Chrome"),
        ("safari/", "Safari"),
    ]
    .into_iter()
    .find(|(k, _)| l.contains(k))
    .map(|(_, n)| n);
    let os = [
        ("iphone", "iPhone"),
        ("ipad", "iPad"),
        ("android", "Android"),
        ("windows", "Windows"),
        ("mac os", "macOS"),
        ("linux", "Linux"),
    ]
    .into_iter()
    .find(|(k, _)| l.contains(k))
    .map(|(_, n)| n);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        _ if ua.is_empty() => "An unknown browser".to_owned(),
        _ => ua.chars().take(40).collect(),
    }
}

/// `GET /account`: who is signed in and their sessions; without a session, the sign-in form.
pub async fn account(
    State(st): State<AppState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: HeaderMap,
) -> Response {
    let s = match signed(&st, &headers).await {
        Ok(s) => s,
        Err(AppError::Unauthorized(_)) => return see_other("/login"),
        Err(e) => return e.into_response(),
    };
    let notice = match query.as_deref() {
        Some("password=changed") => {
            Some("Your password is changed. Your other sessions have ended.")
        }
        Some("passkey=added") => Some("Your passkey is added: use it to sign in."),
        _ => None,
    };
    account_page(&st, &s, StatusCode::OK, notice, None).await
}

/// What the keys section says after a key was made or refused.
#[derive(Default)]
struct KeysSaid {
    /// A key just made: its token, shown this once.
    token: Option<String>,
    /// Why a key was not made.
    error: Option<String>,
}

async fn account_page(
    st: &AppState,
    s: &linkleaf_http::signin::Signed,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
) -> Response {
    account_page_with(st, s, status, notice, error, KeysSaid::default()).await
}

async fn account_page_with(
    st: &AppState,
    s: &linkleaf_http::signin::Signed,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
    said: KeysSaid,
) -> Response {
    let list = match st.sessions.store().sessions_of(s.account.id).await {
        Ok(l) => l,
        Err(e) => return AppError::from(e).into_response(),
    };
    let sessions = list
        .into_iter()
        .map(|r| {
            let (created, created_iso) = when(r.created_at);
            let (seen, seen_iso) = when(r.last_seen_at);
            SessionRow {
                current: r.id == s.session_id,
                browser: browser_name(&r.user_agent),
                id: r.id,
                created,
                created_iso,
                seen,
                seen_iso,
            }
        })
        .collect();
    let passkeys = match st.stores.accounts.passkeys_of(s.account.id).await {
        Ok(l) => l,
        Err(e) => return AppError::from(e).into_response(),
    };
    let passkeys = passkeys
        .into_iter()
        .map(|p| {
            let (created, created_iso) = when(p.created_at);
            PasskeyRow {
                id: p.id,
                name: p.name,
                created,
                created_iso,
                used: p.last_used_at.map(when),
            }
        })
        .collect();
    let (keys, profiles) = match keys_and_profiles(st, s).await {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let html = AccountPage {
        stylesheet: stylesheet(),
        email: &s.account.email,
        display_name: &s.account.display_name,
        sessions,
        passkeys,
        keys,
        profiles,
        new_token: said.token,
        key_error: said.error,
        scopes: linkleaf_domain::Scope::ALL.map(|s| s.as_str()).to_vec(),
        notice,
        error,
    }
    .render()
    .unwrap_or_default();
    page(status, html)
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// `POST /account/password`: changes the password (the current one is asked for); the other
/// sessions end. A refusal shows the account page again, saying what to fix.
pub async fn change_password(State(st): State<AppState>, req: Request) -> Response {
    let s = match writer(&st, req.headers()).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let f: PasswordForm = match form(req).await {
        Ok(f) => f,
        Err(res) => return res,
    };
    use linkleaf_access::sessions::PasswordChangeError;
    match st
        .sessions
        .change_password(
            &s.account,
            &s.session_id,
            &f.current_password,
            &f.new_password,
        )
        .await
    {
        Ok(()) => {
            let mut res = StatusCode::SEE_OTHER.into_response();
            res.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_static("/account?password=changed"),
            );
            res
        }
        Err(PasswordChangeError::Invalid(e)) => {
            let what = if e.field == "currentPassword" {
                "The current password"
            } else {
                "The new password"
            };
            let message = format!("{what} {}.", e.message);
            account_page(
                &st,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(message),
            )
            .await
        }
        Err(PasswordChangeError::Store(e)) => AppError::from(e).into_response(),
    }
}

/// `POST /account/sessions/{id}/end`: ends one of the person's sessions.
pub async fn end_session(
    State(st): State<AppState>,
    Path(id): Path<String>,
    req: Request<Body>,
) -> Response {
    let s = match writer(&st, req.headers()).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if let Err(e) = st.sessions.end(&id, s.account.id).await {
        return AppError::from(e).into_response();
    }
    see_other("/account")
}

/// `POST /account/passkeys/{id}/remove`: removes one of the person's passkeys.
pub async fn remove_passkey(
    State(st): State<AppState>,
    Path(id): Path<String>,
    req: Request<Body>,
) -> Response {
    let s = match writer(&st, req.headers()).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    if let Err(e) = st.stores.accounts.delete_passkey(s.account.id, &id).await {
        return AppError::from(e).into_response();
    }
    see_other("/account")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_are_named_as_people_name_them() {
        assert_eq!(
            browser_name("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"),
            "Firefox on Linux"
        );
        assert_eq!(
            browser_name(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
            ),
            "Safari on iPhone"
        );
        assert_eq!(browser_name(""), "An unknown browser");
        assert_eq!(browser_name("curl/8.5.0"), "curl/8.5.0");
    }
}
