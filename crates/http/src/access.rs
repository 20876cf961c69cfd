//! Who is asking, and what they may do to a profile: the one access check every route that
//! reads or changes a profile's data passes through.
//!
//! A request's credential (`Who`) is found once: an `Authorization: Bearer` key (an operator's,
//! made on the command line and instance-wide; or one an account made, bound to one profile),
//! else a session cookie (a signed-in person; a write must also come from the site's own
//! origin). Then, for the profile a route names, `Who::on` reads the access table
//! (`linkleaf_access::table`): a credential that sees nothing of the profile gets 404, a member
//! whose role lacks the action 403 `insufficient_role`, a key without the scope 403
//! `insufficient_scope`; no credential, 401. An admin account may do everything a profile's
//! owner may, on every profile. `RULES` says which check each route makes; the access matrix
//! test walks the router's own route list against it. Must not: know the database beyond the
//! stores' traits.

use crate::auth::Caller;
use crate::error::AppError;
use crate::signin::{Signed, cookie_write, signed};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use linkleaf_access::table::{Action, allows};
use linkleaf_domain::account::{Actor, ActorKind, Role};
use linkleaf_domain::{ApiKeyToken, Scope, Scopes, ValidationErrors};
use linkleaf_store::ApiKeyRecord;
use linkleaf_store::{ProfileRef, ReadFrom};
use uuid::Uuid;

/// The credential behind a request.
#[derive(Debug, Clone)]
pub enum Who {
    /// A key made on the command line: every profile, within its scopes.
    Operator(Caller),
    /// A key an account made: one profile, within its scopes and its maker's role there.
    Bound {
        caller: Caller,
        profile: Uuid,
        maker: Uuid,
        /// The maker is an admin (who may do what an owner may on every profile).
        maker_admin: bool,
    },
    /// A signed-in person.
    Person(Signed),
}

/// Refuses the request on an edge (which owns no profiles) before anything else is looked at:
/// the first extractor of every route that reads or changes a profile's data.
pub struct NotEdge;

impl FromRequestParts<AppState> for NotEdge {
    type Rejection = AppError;

    async fn from_request_parts(_: &mut Parts, st: &AppState) -> Result<Self, AppError> {
        if st.settings.edge {
            Err(AppError::EdgeMode)
        } else {
            Ok(Self)
        }
    }
}

/// Which profiles a credential sees, for one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Among {
    All,
    Only(Vec<Uuid>),
}

/// What an operator's key needs for an action that is not a scope of its own.
fn operator_scope(action: Action) -> Scope {
    match action {
        Action::Scope(s) => s,
        Action::Members | Action::Keys | Action::Delete => Scope::ProfileWrite,
    }
}

const ROLE_TOO_LOW: &str = "your role on this profile does not allow this (see the access table)";
const BOUND_KEY: &str = "a key bound to a profile may use its scopes only: members, keys and deleting the profile \
     are for people signed in";

impl FromRequestParts<AppState> for Who {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, AppError> {
        Self::find(st, &parts.method, &parts.headers).await
    }
}

impl Who {
    /// The credential of a request with this method and these headers.
    pub async fn find(
        st: &AppState,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Self, AppError> {
        if headers.contains_key(header::AUTHORIZATION) {
            let caller = st.auth.authenticate(headers).await?;
            let (Some(profile), Some(maker)) = (caller.profile, caller.account) else {
                return Ok(Self::Operator(caller));
            };
            // the maker's account is read at every request: disabled, its keys stop at once,
            // on every instance
            let account = st.stores.accounts.account_by_id(maker).await?;
            let Some(account) = account.filter(|a| a.disabled_at.is_none()) else {
                return Err(AppError::Unauthorized(
                    "the account that made this key is disabled or gone",
                ));
            };
            return Ok(Self::Bound {
                caller,
                profile,
                maker,
                maker_admin: account.admin,
            });
        }
        let safe = matches!(*method, Method::GET | Method::HEAD);
        let person = if safe {
            signed(st, headers).await
        } else {
            cookie_write(st, headers).await
        };
        match person {
            Ok(p) => Ok(Self::Person(p)),
            Err(AppError::Unauthorized(_))
                if crate::signin::cookie_value(headers, st.settings.accounts.secure_cookies)
                    .is_none() =>
            {
                Err(AppError::Unauthorized(
                    "sign in, or send an API key: Authorization: Bearer <key>",
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// The signed-in admin, if this is one.
    fn admin(&self) -> bool {
        matches!(self, Self::Person(p) if p.account.admin)
    }

    /// Who this is, as a version of a profile and an event name them.
    pub fn actor(&self) -> Actor {
        match self {
            Self::Operator(c) | Self::Bound { caller: c, .. } => Actor {
                kind: ActorKind::Key,
                id: c.key_id,
                name: c.name.clone(),
            },
            Self::Person(p) => Actor {
                kind: ActorKind::Account,
                id: p.account.id,
                name: p.account.email.clone(),
            },
        }
    }

    /// The signed-in person, if this is one.
    pub fn person(&self) -> Option<&Signed> {
        match self {
            Self::Person(p) => Some(p),
            _ => None,
        }
    }

    /// May this credential do `action` on `profile`? 404 when it sees nothing of it.
    pub async fn on(&self, st: &AppState, profile: Uuid, action: Action) -> Result<(), AppError> {
        if st.settings.edge {
            return Err(AppError::EdgeMode);
        }
        let unseen = || AppError::not_found_profile(&profile.to_string());
        match self {
            Self::Operator(c) => c.require(operator_scope(action)),
            Self::Bound {
                caller,
                profile: p,
                maker,
                maker_admin,
            } => {
                if *p != profile {
                    return Err(unseen());
                }
                let Action::Scope(scope) = action else {
                    return Err(AppError::InsufficientRole(BOUND_KEY));
                };
                caller.require(scope)?;
                if *maker_admin {
                    return Ok(());
                }
                match st.stores.accounts.role_of(profile, *maker).await? {
                    None => Err(AppError::Unauthorized(
                        "the account that made this key is no longer a member of its profile",
                    )),
                    Some(role) if allows(role, action) => Ok(()),
                    Some(_) => Err(AppError::InsufficientRole(
                        "the role of the account that made this key no longer allows this",
                    )),
                }
            }
            Self::Person(s) => {
                if s.account.admin {
                    return Ok(());
                }
                match st.stores.accounts.role_of(profile, s.account.id).await? {
                    None => Err(unseen()),
                    Some(role) if allows(role, action) => Ok(()),
                    Some(_) => Err(AppError::InsufficientRole(ROLE_TOO_LOW)),
                }
            }
        }
    }

    /// The profile `raw` (an id or a username) names, when this credential may do `action` on
    /// it; 404 when there is no such profile or it sees nothing of it.
    pub async fn profile(
        &self,
        st: &AppState,
        raw: &str,
        action: Action,
    ) -> Result<Uuid, AppError> {
        self.read_profile(st, raw, action).await.map(|p| p.id)
    }

    /// `profile`, as it was read to find it (for a route that only reads it).
    pub async fn read_profile(
        &self,
        st: &AppState,
        raw: &str,
        action: Action,
    ) -> Result<linkleaf_domain::Profile, AppError> {
        if st.settings.edge {
            return Err(AppError::EdgeMode);
        }
        let missing = || AppError::not_found_profile(raw);
        // an operator's key without the scope learns nothing of which profiles exist
        if let Self::Operator(c) = self {
            c.require(operator_scope(action))?;
        }
        let profiles = &st.stores.profiles;
        let found = match ProfileRef::parse(raw).ok_or_else(missing)? {
            ProfileRef::Id(id) => profiles.profile_by_id(id).await?,
            ProfileRef::Key(k) => profiles.profile_by_username(&k, ReadFrom::Primary).await?,
        };
        let found = found.ok_or_else(missing)?;
        self.on(st, found.id, action).await.map_err(|e| match e {
            AppError::ProfileNotFound(_) => missing(),
            other => other,
        })?;
        Ok(found)
    }

    /// Who owns a profile this credential makes: a person (up to `accounts.max_profiles`,
    /// unless an admin); no one yet for an operator's key (`linkleaf profiles assign`); a key
    /// bound to one profile makes none.
    pub fn new_owner(&self, st: &AppState) -> Result<Option<(Uuid, Option<u32>)>, AppError> {
        match self {
            Self::Operator(c) => c.require(Scope::ProfileWrite).map(|()| None),
            Self::Bound { .. } => Err(AppError::InsufficientRole(
                "a key bound to one profile cannot make another",
            )),
            Self::Person(s) => Ok(Some((
                s.account.id,
                (!s.account.admin).then_some(st.settings.accounts.max_profiles),
            ))),
        }
    }

    /// The profiles this credential may do `action` on.
    pub async fn among(&self, st: &AppState, action: Action) -> Result<Among, AppError> {
        match self {
            Self::Operator(c) => c.require(operator_scope(action)).map(|()| Among::All),
            Self::Bound { profile, .. } => {
                self.on(st, *profile, action).await?;
                Ok(Among::Only(vec![*profile]))
            }
            Self::Person(s) if s.account.admin => Ok(Among::All),
            Self::Person(s) => Ok(Among::Only(
                st.stores
                    .accounts
                    .memberships(s.account.id)
                    .await?
                    .into_iter()
                    .filter(|(_, role)| allows(*role, action))
                    .map(|(id, _)| id)
                    .collect(),
            )),
        }
    }

    /// May this credential do `scope` to the whole instance (what belongs to no one profile:
    /// an instance-wide subscription, any name in the cache)? An operator's key with the
    /// scope, or an admin; others see nothing there (`not_found`).
    pub fn instance(&self, scope: Scope, not_found: AppError) -> Result<(), AppError> {
        match self {
            Self::Operator(c) => c.require(scope),
            _ if self.admin() => Ok(()),
            _ => Err(not_found),
        }
    }
}

/// Live keys one account may hold.
pub const KEYS_MAX: usize = 50;

/// A key `s` makes: bound to the profile `profile` names (one they are a member of), with
/// `scopes` (their names) within their role there. The record as stored, and the token (shown
/// once). `POST /api/me/keys` and the account page make keys here.
pub async fn issue_bound_key(
    st: &AppState,
    s: &Signed,
    name: &str,
    profile: &str,
    scopes: &[String],
) -> Result<(ApiKeyRecord, ApiKeyToken), AppError> {
    let name = linkleaf_access::keys::check_name(name)
        .map_err(|e| AppError::Validation(ValidationErrors::single("name", e)))?;
    let scopes = Scopes::parse(&scopes.join(" "))
        .map_err(|e| AppError::Validation(ValidationErrors::single("scopes", e)))?;
    if scopes.iter().next().is_none() {
        return Err(AppError::Validation(ValidationErrors::single(
            "scopes",
            "name at least one scope",
        )));
    }
    // a member of the profile, whatever their role, may make a key within it
    let id = Who::Person(s.clone())
        .profile(st, profile, Action::Scope(Scope::ProfileRead))
        .await?;
    let role = if s.account.admin {
        Role::Owner
    } else {
        st.stores
            .accounts
            .role_of(id, s.account.id)
            .await?
            .ok_or_else(|| AppError::not_found_profile(profile))?
    };
    if let Some(beyond) = scopes.iter().find(|sc| !allows(role, Action::Scope(*sc))) {
        return Err(AppError::InsufficientRole(match beyond {
            Scope::WebhooksWrite => "webhooks:write is beyond your role on this profile",
            Scope::ProfileWrite => "profile:write is beyond your role on this profile",
            Scope::LinksWrite => "links:write is beyond your role on this profile",
            Scope::CacheWrite => "cache:write is beyond your role on this profile",
            _ => "a scope asked for is beyond your role on this profile",
        }));
    }
    let live = st
        .stores
        .keys
        .keys_of(s.account.id)
        .await?
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .count();
    if live >= KEYS_MAX {
        return Err(AppError::LimitReached(KEYS_MAX as u32));
    }
    let (rec, token) = linkleaf_access::keys::issue(name, scopes, Some(id), Some(s.account.id))
        .map_err(|e| AppError::Internal(e.into()))?;
    st.stores.keys.insert_key(&rec).await?;
    Ok((rec, token))
}

/// The check a route makes, as `RULES` lists it for every route of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone: pages, their public JSON, files, the API description; an incoming webhook is
    /// checked by its signature.
    Public,
    /// Signing in and out.
    SignIn,
    /// The signed-in person's own account (`/api/me...`).
    Own,
    /// The profile the path names, for this action.
    Profile(Action),
    /// The profiles the credential sees, for this action (a list; making one).
    Among(Action),
    /// The subscription the path names: its profile's webhooks (the instance's for one of
    /// the instance).
    Subscription,
    /// The instance's accounts: admins.
    Admin,
}

/// Every API route (method, path template) and its check. A route missing here fails the
/// access matrix test.
pub const RULES: &[(&str, &str, Rule)] = {
    use Action::{Delete, Members, Scope as S};
    use Rule::*;
    use linkleaf_domain::Scope::*;
    &[
        ("GET", "/", Public),
        ("GET", "/favicon.ico", Public),
        ("GET", "/apple-touch-icon.png", Public),
        ("GET", "/robots.txt", Public),
        ("GET", "/static/{file}", Public),
        ("GET", "/{username}", Public),
        ("GET", "/r/{link}", Public),
        ("GET", "/api/openapi.json", Public),
        ("GET", "/api/docs", Public),
        ("GET", "/api/docs/{asset}", Public),
        ("POST", "/api/webhooks", Public),
        // the whole profile (disabled links too) needs profile:read; without a credential,
        // the public JSON
        ("GET", "/api/profiles/{profile}", Public),
        ("GET", "/api/profiles", Among(S(ProfileRead))),
        ("POST", "/api/profiles", Among(S(ProfileWrite))),
        ("PATCH", "/api/profiles/{profile}", Profile(S(ProfileWrite))),
        ("DELETE", "/api/profiles/{profile}", Profile(Delete)),
        (
            "PATCH",
            "/api/profiles/{profile}/links",
            Profile(S(LinksWrite)),
        ),
        (
            "GET",
            "/api/profiles/{profile}/analytics",
            Profile(S(AnalyticsRead)),
        ),
        (
            "GET",
            "/api/profiles/{profile}/analytics.csv",
            Profile(S(AnalyticsRead)),
        ),
        (
            "GET",
            "/api/profiles/{profile}/qr.svg",
            Profile(S(ProfileRead)),
        ),
        (
            "GET",
            "/api/profiles/{profile}/qr.png",
            Profile(S(ProfileRead)),
        ),
        (
            "GET",
            "/api/profiles/{profile}/members",
            Profile(S(ProfileRead)),
        ),
        ("POST", "/api/profiles/{profile}/members", Profile(Members)),
        (
            "GET",
            "/api/profiles/{profile}/history",
            Profile(S(ProfileRead)),
        ),
        (
            "POST",
            "/api/profiles/{profile}/history/{version}/restore",
            Profile(S(ProfileWrite)),
        ),
        (
            "GET",
            "/api/profiles/{profile}/export",
            Profile(S(ProfileRead)),
        ),
        (
            "POST",
            "/api/profiles/{profile}/import",
            Profile(S(ProfileWrite)),
        ),
        (
            "DELETE",
            "/api/profiles/{profile}/members/{account}",
            Profile(Members),
        ),
        (
            "POST",
            "/api/cache/invalidate/{username}",
            Profile(S(CacheWrite)),
        ),
        (
            "GET",
            "/api/webhooks/subscriptions",
            Among(S(WebhooksWrite)),
        ),
        (
            "POST",
            "/api/webhooks/subscriptions",
            Among(S(WebhooksWrite)),
        ),
        ("GET", "/api/webhooks/subscriptions/{id}", Subscription),
        ("PATCH", "/api/webhooks/subscriptions/{id}", Subscription),
        ("DELETE", "/api/webhooks/subscriptions/{id}", Subscription),
        (
            "POST",
            "/api/webhooks/subscriptions/{id}/rotate",
            Subscription,
        ),
        (
            "GET",
            "/api/webhooks/subscriptions/{id}/deliveries",
            Subscription,
        ),
        ("POST", "/api/invitations", Among(Members)),
        ("POST", "/api/session", SignIn),
        ("POST", "/api/accounts", SignIn),
        ("DELETE", "/api/session", SignIn),
        ("GET", "/api/me", Own),
        ("DELETE", "/api/me", Own),
        ("PATCH", "/api/me", Own),
        ("GET", "/api/me/sessions", Own),
        ("DELETE", "/api/me/sessions/{id}", Own),
        ("PUT", "/api/me/password", Own),
        ("GET", "/api/me/keys", Own),
        ("POST", "/api/me/keys", Own),
        ("DELETE", "/api/me/keys/{id}", Own),
        ("GET", "/api/me/passkeys", Own),
        ("DELETE", "/api/me/passkeys/{id}", Own),
        ("POST", "/api/passkeys/register/start", Own),
        ("POST", "/api/passkeys/register/finish", Own),
        ("POST", "/api/passkeys/authenticate/start", SignIn),
        ("POST", "/api/passkeys/authenticate/finish", SignIn),
        ("GET", "/api/admin/accounts", Admin),
        ("POST", "/api/admin/accounts", Admin),
        ("POST", "/api/admin/accounts/{id}/disable", Admin),
        ("POST", "/api/admin/accounts/{id}/reset", Admin),
        ("DELETE", "/api/admin/accounts/{id}", Admin),
    ]
};

/// The rule of a route, if it has one.
pub fn rule(method: &str, path: &str) -> Option<Rule> {
    RULES
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, r)| *r)
}
