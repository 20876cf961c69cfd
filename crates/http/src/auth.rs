//! `Auth<S>`: the extractor every admin route starts with. It authenticates the bearer key,
//! spends a token of the key's rate-limit bucket, then checks scope `S` — before any body is
//! read, so an unauthenticated caller learns nothing about body validation.

use crate::error::AppError;
use crate::state::{AppState, Caller};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use linkleaf_domain::Scope;
use std::marker::PhantomData;

pub trait RequiredScope: Send + Sync {
    const SCOPE: Scope;
}

macro_rules! scopes {
    ($($name:ident => $scope:ident),* $(,)?) => {
        $(
            #[derive(Debug)]
            pub struct $name;
            impl RequiredScope for $name {
                const SCOPE: Scope = Scope::$scope;
            }
        )*
    };
}

scopes! {
    ProfileRead => ProfileRead,
    ProfileWrite => ProfileWrite,
    LinksWrite => LinksWrite,
    CacheWrite => CacheWrite,
    AnalyticsRead => AnalyticsRead,
    WebhooksWrite => WebhooksWrite,
}

pub struct Auth<S>(pub Caller, PhantomData<S>);

impl<S: RequiredScope> FromRequestParts<AppState> for Auth<S> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        // An edge owns no profiles: what would read or change them is refused before the key
        // is even looked at (its cache and its webhook subscriptions are its own).
        if state.settings().edge && !matches!(S::SCOPE, Scope::CacheWrite | Scope::WebhooksWrite) {
            return Err(AppError::EdgeMode);
        }
        let caller = state.authenticate(&parts.headers).await?;
        caller.require(S::SCOPE)?;
        Ok(Self(caller, PhantomData))
    }
}
