//! What the API does to profiles, shared by the route modules: the keyed read by id, and writes
//! that commit in one store transaction and then announce what they changed (invalidation)
//! before the answer leaves. Each write runs in a task of its own (`detached`), so a request
//! that goes away (a client hanging up, the request deadline) cannot stop it between its commit
//! and its announcement. Imports no route module.
//! Must not: answer a request before its write's invalidation is announced, or read a route's
//! state.

use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use linkleaf_domain::account::Actor;
use linkleaf_domain::{Profile, ValidationErrors};
use linkleaf_store::{Change, Modified, ProfileRef};
use serde::Serialize;
use std::future::Future;
use uuid::Uuid;

/// The most items a list answers at once (its `limit`), for every paginated list.
pub const LIST_MAX: u32 = 100;

pub const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

pub fn admin_json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let mut res = (status, Json(body)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, NO_STORE);
    res
}

/// `204 No Content`, not to be stored: what a delete answers.
pub fn no_content() -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, NO_STORE);
    res
}

/// Runs `write` to its end in a task of its own (the lifecycle's, so a stop waits for it),
/// whatever becomes of the request awaiting it.
pub async fn detached<T: Send + 'static>(
    st: &AppState,
    write: impl Future<Output = Result<T, AppError>> + Send + 'static,
) -> Result<T, AppError> {
    st.tasks
        .spawn(write)
        .await
        .map_err(|e| AppError::Internal(format!("write task: {e}")))?
}

/// The version an edit is for, from `If-Match` (RFC 9110 §13.1.1): `"7"` (or `7`, for
/// curl's sake) is version 7; `*` or no header asks for no check (the last write wins). A weak
/// tag (`W/"7"`) never matches (the comparison is strong), so a list of weak tags is a version
/// no profile is at (412); of a list, the one strong version in it is taken.
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, AppError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let bad = || {
        AppError::Validation(ValidationErrors::single(
            "If-Match",
            "must be the profile's version as read, such as \"7\" (or *)",
        ))
    };
    let text = raw.to_str().map_err(|_| bad())?.trim();
    let mut strong = Vec::new();
    for item in text.split(',').map(str::trim) {
        if item == "*" {
            return Ok(None);
        }
        if item.starts_with("W/") {
            continue;
        }
        let bare = item
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(item);
        match bare.parse::<i64>() {
            Ok(v) if v >= 0 && !bare.starts_with('+') => strong.push(v),
            _ => return Err(bad()),
        }
    }
    match strong.as_slice() {
        [] => Ok(Some(-1)),
        [one] => Ok(Some(*one)),
        _ => Err(AppError::Validation(ValidationErrors::single(
            "If-Match",
            "name one version: the one you read",
        ))),
    }
}

/// A profile as the admin API answers it, with its version as the `ETag` (what `If-Match`
/// takes back).
pub fn profile_json(status: StatusCode, p: &Profile) -> Response {
    let mut res = admin_json(status, p);
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{}\"", p.version)) {
        res.headers_mut().insert(header::ETAG, tag);
    }
    res
}

/// Applies `change` to profile `id` (as the access check found it), in one store
/// transaction, and invalidates what it touched before returning; detached. With
/// `if_version`, only while the profile is at that version (412 otherwise).
pub async fn modify(
    st: &AppState,
    id: Uuid,
    actor: Actor,
    if_version: Option<i64>,
    change: impl Fn(&Profile) -> Result<Profile, ValidationErrors> + Send + Sync + 'static,
) -> Result<Profile, AppError> {
    Ok(modify_seen(st, id, actor, if_version, change).await?.after)
}

/// `modify`, answering the profile as it was before the change too.
pub async fn modify_seen(
    st: &AppState,
    id: Uuid,
    actor: Actor,
    if_version: Option<i64>,
    change: impl Fn(&Profile) -> Result<Profile, ValidationErrors> + Send + Sync + 'static,
) -> Result<Modified, AppError> {
    detached(st, {
        let st = st.clone();
        async move {
            let change: Change<'_> = &change;
            let m = st
                .stores
                .profiles
                .modify_profile_as(ProfileRef::Id(id), change, Some(&actor), if_version)
                .await?
                .ok_or_else(|| AppError::not_found_profile(&id.to_string()))?;
            if m.after != m.before {
                st.invalidate_profile(Some(&m.before), &m.after).await;
            }
            Ok(m)
        }
    })
    .await
}

/// Makes the profile `body` describes, owned by `owner` (an account, with the most profiles it
/// may own then; `None`: no one yet, for `linkleaf profiles assign`), as `actor`. Detached, and
/// invalidated before it returns. `Who::new_owner` says who owns what a credential makes.
pub async fn create(
    st: &AppState,
    owner: Option<(Uuid, Option<u32>)>,
    actor: Actor,
    body: linkleaf_domain::CreateProfile,
) -> Result<Profile, AppError> {
    let p = body.into_profile(linkleaf_domain::now_millis())?;
    detached(st, {
        let st = st.clone();
        async move {
            let stored = st
                .stores
                .profiles
                .create_profile_with(&p, owner, Some(&actor))
                .await?;
            st.invalidate_profile(None, &stored).await;
            Ok(stored)
        }
    })
    .await
}

/// Deletes an account: first the profiles it alone owns (each as `DELETE /api/profiles/{id}`
/// would: its event written, its caches dropped everywhere), then the account with its
/// sessions, memberships and keys. Returns the usernames of the profiles deleted. A failure
/// part way leaves what is left for the same call to finish.
pub async fn delete_account(
    st: &AppState,
    account: Uuid,
    actor: Actor,
) -> Result<Vec<String>, AppError> {
    detached(st, {
        let st = st.clone();
        async move {
            let mut gone = Vec::new();
            for profile in st.stores.accounts.sole_owned(account).await? {
                if let Some((id, username)) = st
                    .stores
                    .profiles
                    .delete_profile_as(ProfileRef::Id(profile), Some(&actor))
                    .await?
                {
                    st.invalidate(Some(id), &[&username]).await;
                    gone.push(username.as_str().to_owned());
                }
            }
            if !st.stores.accounts.delete_account(account).await? {
                return Err(AppError::NotFound(format!("no account {account}")));
            }
            Ok(gone)
        }
    })
    .await
}

/// The usernames of the profiles `account` alone owns (what deleting it would delete).
pub async fn sole_owned_names(st: &AppState, account: Uuid) -> Result<Vec<String>, AppError> {
    let mut names = Vec::new();
    for id in st.stores.accounts.sole_owned(account).await? {
        if let Some(p) = st.stores.profiles.profile_by_id(id).await? {
            names.push(p.username.as_str().to_owned());
        }
    }
    names.sort();
    Ok(names)
}
