//! Who is calling: `Authenticator` finds a request's API key (`Authorization: Bearer lk_...`,
//! by its public prefix, its digest compared in constant time) and spends a token of the key's
//! rate-limit bucket; a `Caller` is what it found. (`access::Who`, the extractor every route
//! on a profile's data starts with, asks it; the access check reads the scope.) Must not: know
//! routes.

use crate::error::AppError;
use crate::limit::KeyLimiter;
use axum::http::{HeaderMap, header};
use linkleaf_domain::{ApiKeyToken, Scope, Scopes};
use linkleaf_store::KeyStore;
use metrics::Counter;
use std::sync::Arc;
use uuid::Uuid;

/// The API key behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: Uuid,
    pub name: String,
    pub scopes: Scopes,
    /// The profile a key an account made is bound to (`None`: an operator's key).
    pub profile: Option<Uuid>,
    /// The account that made it.
    pub account: Option<Uuid>,
}

impl Caller {
    pub fn require(&self, scope: Scope) -> Result<(), AppError> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(AppError::Forbidden(scope))
        }
    }
}

/// Finds the key of a request and spends its rate-limit token.
pub struct Authenticator {
    keys: Arc<dyn KeyStore>,
    limiter: Arc<dyn KeyLimiter>,
    /// `linkleaf_rate_limited_total`
    rate_limited: Counter,
}

impl Authenticator {
    pub fn new(
        keys: Arc<dyn KeyStore>,
        limiter: Arc<dyn KeyLimiter>,
        recorder: &dyn metrics::Recorder,
    ) -> Self {
        Self {
            keys,
            limiter,
            rate_limited: metrics::with_local_recorder(recorder, || {
                metrics::counter!("linkleaf_rate_limited_total")
            }),
        }
    }

    /// Finds the API key of a request (`Authorization: Bearer lk_...`), then spends one token
    /// of its rate-limit bucket.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AppError> {
        let mut all = headers.get_all(header::AUTHORIZATION).iter();
        let raw = all.next().ok_or(AppError::Unauthorized(
            "an API key is required: Authorization: Bearer <key>",
        ))?;
        if all.next().is_some() {
            // Which one would count is a matter of whoever reads first: none does.
            return Err(AppError::Unauthorized(
                "send one Authorization header, not several",
            ));
        }
        let raw = raw
            .to_str()
            .map_err(|_| AppError::Unauthorized("malformed Authorization header"))?;
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let token = raw
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .and_then(ApiKeyToken::parse)
            .ok_or(AppError::Unauthorized(
                "malformed API key: expected Authorization: Bearer lk_...",
            ))?;
        let rec = self.keys.key_by_prefix(token.prefix()).await?;
        let rec = match rec {
            Some(r) if token.matches(&r.digest) && r.revoked_at.is_none() => r,
            _ => return Err(AppError::Unauthorized("unknown or revoked API key")),
        };
        if let Err(wait) = self.limiter.take(rec.id).await {
            self.rate_limited.increment(1);
            return Err(AppError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            });
        }
        Ok(Caller {
            key_id: rec.id,
            name: rec.name,
            scopes: rec.scopes,
            profile: rec.profile,
            account: rec.account,
        })
    }
}
