//! The admin API: create, read, list, edit and delete profiles, edit links, invalidate caches.
//!
//! Every handler starts with `Who` (a key, spending its rate-limit token, or a session) and
//! passes the access check for the profile it names (`access`), parses its body through
//! `ApiJson`, has the store apply the change (a pure domain function) inside one write
//! transaction, so concurrent edits of a profile queue, then invalidates the cache by id and by
//! every username involved before answering, so a read that starts after the answer sees the
//! write.
//! Must not: answer a write before the caches it touched are invalidated, or skip the access check.

use crate::access::{Among, NotEdge, Who};
use crate::error::AppError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::profiles::{LIST_MAX, admin_json, detached, if_match, modify, no_content, profile_json};
use crate::respond::API_PROFILES;
use crate::responses::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, PreconditionFailed, RateLimited,
    Unauthorized, Unavailable, UnsupportedMediaType, ValidationFailed,
};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use linkleaf_access::table::Action;
use linkleaf_domain::{CreateProfile, LinksPatch, Profile, ProfilePatch, Scope, Username};
use linkleaf_store::ProfileRef;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Create a profile
///
/// Links are created enabled unless `enabled` is false. Every field error is reported at once.
#[utoipa::path(post, path = "/api/profiles", operation_id = "createProfile", tag = "admin",
    security(("api_key" = ["profile:write"]), ("session" = [])),
    request_body(content = CreateProfile, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Profile, headers(
            ("Location" = String, description = "`/api/profiles/{id}`"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ))]
pub async fn create(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    ApiJson(body): ApiJson<CreateProfile>,
) -> Result<Response, AppError> {
    let stored = crate::profiles::create(&st, who.new_owner(&st)?, who.actor(), body).await?;
    let mut res = profile_json(StatusCode::CREATED, &stored);
    if let Ok(loc) = HeaderValue::from_str(&format!("{API_PROFILES}{}", stored.id)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// How many profiles to return (1 to 100, default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Start after this username (the `next` of the previous page).
    pub after: Option<String>,
}

/// One profile in a list.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ProfileSummary)]
struct Summary {
    id: Uuid,
    #[schema(value_type = String)]
    username: Username,
    display_name: String,
    link_count: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    last_modified: time::OffsetDateTime,
}

/// A page of profiles.
#[derive(Serialize, ToSchema)]
#[schema(as = ProfilePage)]
struct Page {
    items: Vec<Summary>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    next: Option<String>,
}

/// List profiles
///
/// By username, a page at a time: pass the answer's `next` as `after` for the next page.
#[utoipa::path(get, path = "/api/profiles", operation_id = "listProfiles", tag = "admin",
    security(("api_key" = ["profile:read"]), ("session" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of profiles", body = Page),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ))]
pub async fn list(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Response, AppError> {
    let among = who.among(&st, Action::Scope(Scope::ProfileRead)).await?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=LIST_MAX).contains(&limit) {
        return Err(AppError::Validation(
            linkleaf_domain::ValidationErrors::single(
                "limit",
                format!("must be between 1 and {LIST_MAX}"),
            ),
        ));
    }
    let after = params.after.as_deref().map(str::to_ascii_lowercase);
    let profiles = &st.stores.profiles;
    let rows = match (&among, &who) {
        (Among::All, _) => profiles.list_profiles(after.as_deref(), limit).await?,
        (Among::Only(_), Who::Person(s)) => {
            profiles
                .list_profiles_of(s.account.id, after.as_deref(), limit)
                .await?
        }
        (Among::Only(ids), _) => {
            let mut rows = Vec::new();
            for id in ids {
                if let Some(p) = profiles.profile_by_id(*id).await?
                    && after
                        .as_deref()
                        .is_none_or(|a| p.username.key().as_str() > a)
                {
                    rows.push(linkleaf_store::ProfileSummary {
                        id: p.id,
                        link_count: p.links.len() as u32,
                        display_name: p.display_name,
                        last_modified: p.last_modified,
                        username: p.username,
                    });
                }
            }
            rows.truncate(limit as usize);
            rows
        }
    };
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.username.key()))
        .flatten();
    let items = rows
        .into_iter()
        .map(|r| Summary {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            link_count: r.link_count,
            last_modified: r.last_modified,
        })
        .collect();
    Ok(admin_json(StatusCode::OK, &Page { items, next }))
}

/// Edit a profile
///
/// Absent fields stay as they are; `null` clears `bio` and `avatarUrl`. Renaming frees the old
/// name at once.
#[utoipa::path(patch, path = "/api/profiles/{profile}", operation_id = "updateProfile", tag = "admin",
    params(("profile" = String, Path, description = "The profile's id (UUID) or username", pattern = r"^[A-Za-z0-9_.-]+$"),
           ("If-Match" = Option<String>, Header, description = "The profile's `version` as read (`\"7\"`): the edit is refused with 412 if someone changed the profile since; without it the last write wins", pattern = r#"^(\*|"[0-9]{1,15}"|[0-9]{1,15})$"#)),
    security(("api_key" = ["profile:write"]), ("session" = [])),
    request_body(content = ProfilePatch, content_type = "application/json"),
    responses(
        (status = 200, description = "The profile as it now is", body = Profile),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 412, response = PreconditionFailed),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ))]
pub async fn update(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    ApiPath(reference): ApiPath,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<ProfilePatch>,
) -> Result<Response, AppError> {
    let expect = if_match(&headers)?;
    let id = who
        .profile(&st, &reference, Action::Scope(Scope::ProfileWrite))
        .await?;
    let p = modify(&st, id, who.actor(), expect, move |p| patch.apply(p)).await?;
    Ok(profile_json(StatusCode::OK, &p))
}

/// Edit a profile's links
///
/// Operations apply in order, all or none: `add`, `edit`, `move`, `reorder` (every link, in the
/// new order), `enable`, `disable`, `remove`. Positions are renumbered 0..n afterwards.
/// Concurrent edits of one profile apply one after the other.
#[utoipa::path(patch, path = "/api/profiles/{profile}/links", operation_id = "editLinks", tag = "admin",
    params(("profile" = String, Path, description = "The profile's id (UUID) or username", pattern = r"^[A-Za-z0-9_.-]+$"),
           ("If-Match" = Option<String>, Header, description = "The profile's `version` as read (`\"7\"`): the edit is refused with 412 if someone changed the profile since; without it the last write wins", pattern = r#"^(\*|"[0-9]{1,15}"|[0-9]{1,15})$"#)),
    security(("api_key" = ["links:write"]), ("session" = [])),
    request_body(content = LinksPatch, content_type = "application/json", examples(
        ("addLinks" = (summary = "Add two links, the first at the top (works on any profile)", value = json!(
            {"ops": [{"op": "add", "title": "New talk", "url": "https://talks.example/1", "position": 0},
                     {"op": "add", "title": "Newsletter", "url": "https://news.example/subscribe"}]}))),
        ("editExample" = (summary = "Edit, move and disable links of the example profile (see Profile); on another profile these ids answer 409", value = json!(
            {"ops": [{"op": "edit", "id": "01a210f4-1703-70b5-8418-a878b07f190b", "title": "My blog (new)"},
                     {"op": "move", "id": "01a210f4-1703-70b5-8418-a879ecd5d087", "position": 0},
                     {"op": "disable", "id": "01a210f4-1703-70b5-8418-a879ecd5d087"}]}))),
    )),
    responses(
        (status = 200, description = "The profile with its links as they now are", body = Profile),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 412, response = PreconditionFailed),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ))]
pub async fn patch_links(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    ApiPath(reference): ApiPath,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<LinksPatch>,
) -> Result<Response, AppError> {
    let expect = if_match(&headers)?;
    let id = who
        .profile(&st, &reference, Action::Scope(Scope::LinksWrite))
        .await?;
    let p = modify(&st, id, who.actor(), expect, move |p| {
        let mut next = p.clone();
        next.links = patch.apply(&p.links)?;
        Ok(next)
    })
    .await?;
    Ok(profile_json(StatusCode::OK, &p))
}

/// Delete a profile
///
/// Its page and JSON answer 404 from the next request on.
#[utoipa::path(delete, path = "/api/profiles/{profile}", operation_id = "deleteProfile", tag = "admin",
    params(("profile" = String, Path, description = "The profile's id (UUID) or username", pattern = r"^[A-Za-z0-9_.-]+$")),
    security(("api_key" = ["profile:write"]), ("session" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = RateLimited),
        (status = 503, response = Unavailable),
    ))]
pub async fn delete(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    ApiPath(reference): ApiPath,
) -> Result<Response, AppError> {
    let id = who.profile(&st, &reference, Action::Delete).await?;
    let actor = who.actor();
    let deleted = detached(&st, {
        let st = st.clone();
        async move {
            let deleted = st
                .stores
                .profiles
                .delete_profile_as(ProfileRef::Id(id), Some(&actor))
                .await?;
            if let Some((id, username)) = &deleted {
                st.invalidate(Some(*id), &[username]).await;
            }
            Ok(deleted)
        }
    })
    .await?;
    match deleted {
        Some(_) => Ok(no_content()),
        None => Err(AppError::not_found_profile(&reference)),
    }
}

/// What was dropped from the cache.
#[derive(Serialize, ToSchema)]
struct Invalidated {
    /// The lowercase username keys dropped.
    invalidated: Vec<String>,
}

/// Drop a cached page
///
/// Whether or not a profile has the name (a remembered "not found" goes too). Writes through
/// this API invalidate by themselves; this is for changes made elsewhere.
#[utoipa::path(post, path = "/api/cache/invalidate/{username}", operation_id = "invalidateCache", tag = "admin",
    params(("username" = String, Path, description = "A username, in any case", min_length = 3, max_length = 30, pattern = "@username")),
    security(("api_key" = ["cache:write"]), ("session" = [])),
    responses(
        (status = 200, description = "Dropped", body = Invalidated),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
    ))]
pub async fn invalidate(
    State(st): State<AppState>,
    who: Who,
    ApiPath(name): ApiPath,
) -> Result<Response, AppError> {
    let key = Username::parse_key(&name).map_err(linkleaf_domain::ValidationErrors::from)?;
    // any name for the instance's operators and admins; a profile's own name for its members
    let whole = who.instance(Scope::CacheWrite, AppError::not_found_profile(&name));
    match whole {
        Ok(()) => {}
        Err(AppError::ProfileNotFound(_)) => {
            who.profile(&st, &key, Action::Scope(Scope::CacheWrite))
                .await?;
        }
        Err(e) => return Err(e),
    }
    // A reserved word names no profile: nothing can be cached under it.
    let invalidated = if Username::lookup_key(&key).is_some() {
        st.invalidate(None, &[&Username::from_stored(key.clone())])
            .await;
        vec![key]
    } else {
        vec![]
    };
    Ok(admin_json(StatusCode::OK, &Invalidated { invalidated }))
}
