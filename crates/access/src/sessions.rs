//! Signing in and the sessions it makes, over the account store: a password checked with the
//! same work whether the account exists or not (and one answer for both), a new session (new
//! id, new secret) at every sign-in, found again from the cookie while it is live, ended by an
//! idle timeout, an absolute lifetime, a sign-out, a password change or the account being
//! disabled — on every instance at its next request, since every lookup reads the database.
//! Must not: keep a session in memory (every lookup reads the store), or answer an unknown email
//! differently from a wrong password.

use crate::clock::Clock;
use crate::{password, session};
use linkleaf_domain::FieldError;
use linkleaf_domain::account::Email;
use linkleaf_store::StoreError;
use linkleaf_store::accounts::{AccountRecord, AccountStore, SessionRecord};
use std::sync::Arc;
use std::time::Duration;

/// `accounts.session_idle_secs`, `accounts.session_max_secs`.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// A session not used for this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub max: Duration,
}

/// Why signing in did not work.
#[derive(Debug)]
pub enum SignInError {
    /// Unknown email, wrong password, no password set, or a disabled account: one answer for
    /// all, so it tells nothing.
    Refused,
    Store(StoreError),
}

impl From<StoreError> for SignInError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Why a password was not changed.
#[derive(Debug)]
pub enum PasswordChangeError {
    /// The current password is wrong, or the new one fails the policy (the field says which).
    Invalid(FieldError),
    Store(StoreError),
}

impl From<StoreError> for PasswordChangeError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// A live session and its account.
#[derive(Debug, Clone)]
pub struct Current {
    pub session: SessionRecord,
    pub account: AccountRecord,
}

/// A session just made: the cookie's value (the only time the secret exists) and its account.
pub struct SignedIn {
    pub cookie_value: String,
    pub session_id: String,
    pub account: AccountRecord,
}

pub struct Sessions {
    store: Arc<dyn AccountStore>,
    clock: Arc<dyn Clock>,
    pub lifetimes: Lifetimes,
}

/// How much of a user agent a session keeps (it is shown, not parsed).
const USER_AGENT_MAX: usize = 200;

impl Sessions {
    pub fn new(store: Arc<dyn AccountStore>, clock: Arc<dyn Clock>, lifetimes: Lifetimes) -> Self {
        Self {
            store,
            clock,
            lifetimes,
        }
    }

    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// Checks an email and a password; on success makes a new session.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        user_agent: &str,
    ) -> Result<SignedIn, SignInError> {
        let account = match Email::parse(email) {
            Ok(e) => self.store.account_by_email(e.as_str()).await?,
            Err(_) => None,
        };
        let stored = account
            .as_ref()
            .filter(|a| a.disabled_at.is_none())
            .and_then(|a| a.password_hash.as_deref());
        // the same work whatever is found; the hash runs off the async threads
        let (password, stored) = (password.to_owned(), stored.map(str::to_owned));
        let ok =
            tokio::task::spawn_blocking(move || password::verify(&password, stored.as_deref()))
                .await
                .unwrap_or(false);
        let Some(account) = account.filter(|_| ok) else {
            return Err(SignInError::Refused);
        };
        Ok(self.start(account, user_agent).await?)
    }

    /// A new session for `account` (at sign-in, and at every change of privilege).
    pub async fn start(
        &self,
        account: AccountRecord,
        user_agent: &str,
    ) -> Result<SignedIn, StoreError> {
        let token = session::new_token();
        let now = self.clock.now();
        let ua: String = user_agent
            .chars()
            .filter(|c| !c.is_control())
            .take(USER_AGENT_MAX)
            .collect();
        self.store
            .insert_session(&SessionRecord {
                id: token.id.clone(),
                account_id: account.id,
                digest: token.digest.clone(),
                user_agent: ua,
                created_at: now,
                last_seen_at: now,
                ended_at: None,
            })
            .await?;
        Ok(SignedIn {
            cookie_value: token.cookie_value(),
            session_id: token.id,
            account,
        })
    }

    /// The live session a cookie's value names, if any: its secret matches, its account is not
    /// disabled, and it is within both lifetimes (one past either is ended here). Marks it seen.
    pub async fn current(&self, cookie_value: &str) -> Result<Option<Current>, StoreError> {
        let Some((id, secret)) = session::parse(cookie_value) else {
            return Ok(None);
        };
        let Some((s, account)) = self.store.live_session(id).await? else {
            return Ok(None);
        };
        if !session::matches(secret, &s.digest) {
            return Ok(None);
        }
        let now = self.clock.now();
        let idle = now - s.last_seen_at > self.lifetimes.idle;
        let old = now - s.created_at > self.lifetimes.max;
        if idle || old || account.disabled_at.is_some() {
            self.store.end_session(&s.id, None, now).await?;
            return Ok(None);
        }
        // one write a minute at most per session, not one per request
        if now - s.last_seen_at >= Duration::from_secs(60) {
            self.store.touch_session(&s.id, now).await?;
        }
        Ok(Some(Current {
            session: s,
            account,
        }))
    }

    /// Ends the session a cookie names (sign-out); `false` when it named none.
    pub async fn sign_out(&self, cookie_value: &str) -> Result<bool, StoreError> {
        match self.current(cookie_value).await? {
            Some(c) => self.end(&c.session.id, c.account.id).await,
            None => Ok(false),
        }
    }

    /// Ends one of `account`'s sessions.
    pub async fn end(&self, id: &str, account: uuid::Uuid) -> Result<bool, StoreError> {
        self.store
            .end_session(id, Some(account), self.clock.now())
            .await
    }

    /// Changes the password of a signed-in account: the current one must be given (a session
    /// left open is not enough to take the account), the new one must pass the policy. Every
    /// other session of the account ends; `keep` (the one asking) goes on.
    pub async fn change_password(
        &self,
        account: &AccountRecord,
        keep: &str,
        current: &str,
        new: &str,
    ) -> Result<(), PasswordChangeError> {
        let email = Email::parse(&account.email).ok();
        let (given, stored) = (current.to_owned(), account.password_hash.clone());
        let ok = tokio::task::spawn_blocking(move || password::verify(&given, stored.as_deref()))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(PasswordChangeError::Invalid(FieldError::new(
                "currentPassword",
                "is not this account's password",
            )));
        }
        linkleaf_domain::account::check_password(new, email.as_ref()).map_err(|mut e| {
            e.field = "newPassword".into();
            PasswordChangeError::Invalid(e)
        })?;
        let new = new.to_owned();
        let hash = tokio::task::spawn_blocking(move || password::hash(&new))
            .await
            .map_err(|e| PasswordChangeError::Store(StoreError::Other(e.to_string())))?
            .map_err(|e| PasswordChangeError::Store(StoreError::Other(e)))?;
        self.store
            .set_password(account.id, &hash, Some(keep), self.clock.now())
            .await?;
        Ok(())
    }

    pub fn store(&self) -> &Arc<dyn AccountStore> {
        &self.store
    }
}
