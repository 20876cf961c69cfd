//! A profile's members: `GET /api/profiles/{profile}/members` (any member), `POST` (an owner:
//! add an account by its email, or change a member's role) and
//! `DELETE /api/profiles/{profile}/members/{account}` (an owner; or a member leaving). The last
//! owner cannot leave nor become less than an owner (409): a profile always has an owner.
//! Must not: leave a profile without an owner, or add someone who was not asked (an invitation is).

use crate::access::{NotEdge, Who};
use crate::error::AppError;
use crate::extract::{ApiJson, ApiPath};
use crate::profiles::{admin_json, no_content};
use crate::responses::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthorized, UnsupportedMediaType,
    ValidationFailed,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use linkleaf_access::table::Action;
use linkleaf_domain::account::{Email, Role};
use linkleaf_domain::{Scope, ValidationErrors};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A member of a profile.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    account: Uuid,
    email: String,
    display_name: String,
    /// `owner`, `editor` or `viewer`.
    role: &'static str,
}

/// An account to add (or whose role to change).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "grace@example.com", "role": "editor"}))]
pub struct NewMember {
    /// The email of an existing account (to bring someone new, make an invitation).
    #[schema(example = "grace@example.com", format = Email, max_length = 254)]
    email: String,
    role: RoleName,
}

/// A role on a profile (see the access table).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    Owner,
    Editor,
    Viewer,
}

impl From<RoleName> for Role {
    fn from(r: RoleName) -> Self {
        match r {
            RoleName::Owner => Role::Owner,
            RoleName::Editor => Role::Editor,
            RoleName::Viewer => Role::Viewer,
        }
    }
}

async fn members_of(st: &AppState, profile: Uuid) -> Result<Vec<MemberView>, AppError> {
    Ok(st
        .stores
        .accounts
        .members(profile)
        .await?
        .into_iter()
        .map(|(a, role)| MemberView {
            account: a.id,
            email: a.email,
            display_name: a.display_name,
            role: role.as_str(),
        })
        .collect())
}

/// A profile's members
#[utoipa::path(get, path = "/api/profiles/{profile}/members", operation_id = "listMembers", tag = "accounts",
    params(("profile" = String, Path, description = "The profile's id (UUID) or username", pattern = r"^[A-Za-z0-9_.-]+$")),
    security(("api_key" = ["profile:read"]), ("session" = [])),
    responses(
        (status = 200, description = "The members, by email", body = Vec<MemberView>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ))]
pub async fn list(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    ApiPath(raw): ApiPath,
) -> Result<Response, AppError> {
    let profile = who
        .profile(&st, &raw, Action::Scope(Scope::ProfileRead))
        .await?;
    Ok(admin_json(StatusCode::OK, &members_of(&st, profile).await?))
}

/// Change a member's role
///
/// An owner gives a member (named by email) another role; someone new comes in through an
/// invitation (`POST /api/invitations`), which they accept. An operator's key or an admin may
/// add any account directly. The last owner cannot become less than an owner (409).
#[utoipa::path(post, path = "/api/profiles/{profile}/members", operation_id = "addMember", tag = "accounts",
    params(("profile" = String, Path, description = "The profile's id (UUID) or username", pattern = r"^[A-Za-z0-9_.-]+$")),
    security(("api_key" = ["profile:write"]), ("session" = [])),
    request_body(content = NewMember, content_type = "application/json"),
    responses(
        (status = 200, description = "The members as they now are", body = Vec<MemberView>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn add(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    ApiPath(raw): ApiPath,
    ApiJson(body): ApiJson<NewMember>,
) -> Result<Response, AppError> {
    let profile = who.profile(&st, &raw, Action::Members).await?;
    let role = Role::from(body.role);
    let email =
        Email::parse(&body.email).map_err(|e| AppError::Validation(ValidationErrors(vec![e])))?;
    // an owner changes the role of a member; someone new comes through an invitation they
    // accept, so that no one is added without saying yes, and the answer says nothing of
    // whether an email has an account. The instance's operators and admins may add anyone.
    let anyone = matches!(who, Who::Operator(_)) || who.person().is_some_and(|p| p.account.admin);
    let not_member = || {
        AppError::Validation(ValidationErrors::single(
            "email",
            "is not a member of this profile: bring them in with an invitation \
             (POST /api/invitations)",
        ))
    };
    let account = st
        .stores
        .accounts
        .account_by_email(email.as_str())
        .await?
        .ok_or_else(not_member)?;
    if !anyone
        && st
            .stores
            .accounts
            .role_of(profile, account.id)
            .await?
            .is_none()
    {
        return Err(not_member());
    }
    st.stores
        .accounts
        .set_member(profile, account.id, role, OffsetDateTime::now_utc())
        .await?;
    Ok(admin_json(StatusCode::OK, &members_of(&st, profile).await?))
}

/// Remove a member, or leave
///
/// An owner removes any member; any member may remove themselves. The last owner cannot
/// leave (409): make another member owner first, or delete the profile.
#[utoipa::path(delete, path = "/api/profiles/{profile}/members/{account}", operation_id = "removeMember", tag = "accounts",
    params(
        ("profile" = String, Path, description = "The profile's id (UUID) or username", pattern = r"^[A-Za-z0-9_.-]+$"),
        ("account" = Uuid, Path, description = "The member's account id"),
    ),
    security(("api_key" = ["profile:write"]), ("session" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ))]
pub async fn remove(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    Path((raw, account)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let leaving = who
        .person()
        .is_some_and(|p| p.account.id.to_string() == account);
    // leaving needs only to be a member; removing another, the members action
    let action = if leaving {
        Action::Scope(Scope::ProfileRead)
    } else {
        Action::Members
    };
    let profile = who.profile(&st, &raw, action).await?;
    let missing = || AppError::NotFound("no such member of this profile".into());
    let account = Uuid::try_parse(&account).map_err(|_| missing())?;
    if st.stores.accounts.remove_member(profile, account).await? {
        Ok(no_content())
    } else {
        Err(missing())
    }
}

/// An invitation to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"profile": "ada", "role": "editor"}))]
pub struct NewInvitation {
    /// The profile (its id or username) to join.
    #[schema(min_length = 1, max_length = 64)]
    profile: String,
    role: RoleName,
}

/// An invitation: a link to hand over.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    /// `{server.public_url}/invite/{token}`: it works once, until `expiresAt`.
    url: String,
    profile: Uuid,
    role: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// Invite someone to a profile
///
/// A one-time link (linkleaf sends no mail: hand it over) to `/invite/{token}`, where the person
/// joins the profile with the role, signing up first when they have no account (whatever
/// `accounts.signup` says, except `closed`). It works once, for seven days.
#[utoipa::path(post, path = "/api/invitations", operation_id = "invite", tag = "accounts",
    security(("api_key" = ["profile:write"]), ("session" = [])),
    request_body(content = NewInvitation, content_type = "application/json"),
    responses(
        (status = 201, description = "The link, shown this once", body = Invitation),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = ValidationFailed),
    ))]
pub async fn invite(
    State(st): State<AppState>,
    _: NotEdge,
    who: Who,
    ApiJson(body): ApiJson<NewInvitation>,
) -> Result<Response, AppError> {
    let profile = who.profile(&st, &body.profile, Action::Members).await?;
    let role = Role::from(body.role);
    let (token, expires_at) = linkleaf_access::links::invitation(
        st.stores.accounts.as_ref(),
        profile,
        role,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(admin_json(
        StatusCode::CREATED,
        &Invitation {
            url: linkleaf_access::links::url(&st.settings.public_url, &token),
            profile,
            role: role.as_str(),
            expires_at,
        },
    ))
}
