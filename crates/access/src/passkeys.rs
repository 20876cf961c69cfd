//! Passkeys (WebAuthn, with webauthn-rs): a person registers one while signed in, then signs in
//! with it alone (their email, then the passkey; no password needed). The relying party is
//! `server.public_url`'s host, and its origin the only one accepted. Each ceremony's challenge
//! and state are kept in the database, so any instance finishes what another started; a
//! ceremony is used once and lasts `CEREMONY_TTL`. An email with no passkey (or no account)
//! gets a challenge that looks the same and cannot succeed: the answer says nothing of who has
//! an account. Must not: know routes.

use crate::clock::Clock;
use crate::session::digest;
use linkleaf_domain::FieldError;
use linkleaf_domain::account::Email;
use linkleaf_store::StoreError;
use linkleaf_store::accounts::{AccountRecord, AccountStore, CeremonyRecord, PasskeyRecord};
use serde_json::{Value, json};
use std::sync::Arc;
use time::Duration;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
};

/// How long a ceremony (from its challenge to its answer) may take.
pub const CEREMONY_TTL: Duration = Duration::minutes(5);
/// Passkeys one account may hold.
pub const PASSKEYS_MAX: usize = 20;
const REGISTER: &str = "register";
const AUTHENTICATE: &str = "authenticate";

#[derive(Debug)]
pub enum PasskeyError {
    /// The ceremony failed, expired, or was a decoy: one answer for all.
    Refused,
    /// Something to fix (`name`, `email`, or too many passkeys).
    Invalid(FieldError),
    Store(StoreError),
}

impl From<StoreError> for PasskeyError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// The relying party and the ceremonies.
pub struct Passkeys {
    webauthn: Webauthn,
    rp_id: String,
    store: Arc<dyn AccountStore>,
    clock: Arc<dyn Clock>,
    /// Makes an unknown email's decoy credential id the same at each ask (within a process).
    decoy_key: [u8; 32],
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // without randomness nothing here is safe: an all-zero challenge is refused by no one,
    // so say it loudly rather than go on
    if getrandom::fill(&mut b).is_err() {
        panic!("no randomness available");
    }
    b
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn ceremony_id() -> String {
    b64url(&random::<18>())
}

fn state_json<T: serde::Serialize>(v: &T) -> Result<String, PasskeyError> {
    serde_json::to_string(v).map_err(|e| PasskeyError::Store(StoreError::Other(e.to_string())))
}

impl Passkeys {
    /// The relying party of `public_url` (`http://localhost:3000`: `localhost`).
    pub fn new(
        public_url: &str,
        store: Arc<dyn AccountStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let origin = Url::parse(public_url).map_err(|e| format!("server.public_url: {e}"))?;
        let rp_id = origin
            .host_str()
            .ok_or("server.public_url has no host")?
            .to_owned();
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|b| b.rp_name("linkleaf").build())
            .map_err(|e| format!("passkeys for {public_url}: {e}"))?;
        Ok(Self {
            webauthn,
            rp_id,
            store,
            clock,
            decoy_key: random(),
        })
    }

    fn passkeys(records: &[PasskeyRecord]) -> Vec<Passkey> {
        records
            .iter()
            .filter_map(|r| serde_json::from_str(&r.credential).ok())
            .collect()
    }

    async fn keep(
        &self,
        kind: &str,
        account: Option<uuid::Uuid>,
        state: Option<String>,
    ) -> Result<String, PasskeyError> {
        let id = ceremony_id();
        self.store
            .insert_ceremony(&CeremonyRecord {
                id: id.clone(),
                account_id: account,
                kind: kind.to_owned(),
                state,
                expires_at: self.clock.now() + CEREMONY_TTL,
            })
            .await?;
        Ok(id)
    }

    /// The options for `navigator.credentials.create`, and the ceremony's id.
    pub async fn start_registration(
        &self,
        account: &AccountRecord,
    ) -> Result<(String, Value), PasskeyError> {
        let existing = self.store.passkeys_of(account.id).await?;
        if existing.len() >= PASSKEYS_MAX {
            return Err(PasskeyError::Invalid(FieldError::new(
                "passkey",
                format!("this account has {PASSKEYS_MAX} passkeys already: remove one first"),
            )));
        }
        let exclude = Self::passkeys(&existing)
            .iter()
            .map(|p| p.cred_id().clone())
            .collect();
        let (options, state) = self
            .webauthn
            .start_passkey_registration(
                account.id,
                &account.email,
                &account.display_name,
                Some(exclude),
            )
            .map_err(|_| PasskeyError::Refused)?;
        let id = self
            .keep(REGISTER, Some(account.id), Some(state_json(&state)?))
            .await?;
        Ok((id, json!(options)))
    }

    /// Checks the browser's answer and keeps the passkey, named `name`.
    pub async fn finish_registration(
        &self,
        account: &AccountRecord,
        ceremony: &str,
        credential: Value,
        name: &str,
    ) -> Result<PasskeyRecord, PasskeyError> {
        let name = name.trim();
        if name.chars().count() > 60 || name.chars().any(char::is_control) {
            return Err(PasskeyError::Invalid(FieldError::new(
                "name",
                "must be at most 60 printable characters",
            )));
        }
        let now = self.clock.now();
        let c = self
            .store
            .take_ceremony(ceremony, REGISTER, now)
            .await?
            .filter(|c| c.account_id == Some(account.id))
            .ok_or(PasskeyError::Refused)?;
        let state: PasskeyRegistration = c
            .state
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or(PasskeyError::Refused)?;
        let reg: RegisterPublicKeyCredential =
            serde_json::from_value(credential).map_err(|_| PasskeyError::Refused)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&reg, &state)
            .map_err(|_| PasskeyError::Refused)?;
        let raw: &[u8] = passkey.cred_id().as_ref();
        let id = b64url(raw);
        let rec = PasskeyRecord {
            id,
            account_id: account.id,
            name: if name.is_empty() {
                "Passkey".to_owned()
            } else {
                name.to_owned()
            },
            credential: state_json(&passkey)?,
            created_at: now,
            last_used_at: None,
        };
        // counted again: registrations started side by side cannot pass the limit together
        // (one at the limit is refused; the person removes one and adds again)
        if self.store.passkeys_of(account.id).await?.len() >= PASSKEYS_MAX {
            return Err(PasskeyError::Invalid(FieldError::new(
                "passkey",
                format!("this account has {PASSKEYS_MAX} passkeys already: remove one first"),
            )));
        }
        if !self.store.insert_passkey(&rec).await? {
            return Err(PasskeyError::Refused);
        }
        Ok(rec)
    }

    /// The options for `navigator.credentials.get` for `email`, and the ceremony's id. An
    /// email without passkeys gets options of the same shape that cannot succeed.
    pub async fn start_authentication(&self, email: &str) -> Result<(String, Value), PasskeyError> {
        let email = Email::parse(email).map_err(PasskeyError::Invalid)?;
        let account = self
            .store
            .account_by_email(email.as_str())
            .await?
            .filter(|a| a.disabled_at.is_none());
        let keys = match &account {
            Some(a) => Self::passkeys(&self.store.passkeys_of(a.id).await?),
            None => Vec::new(),
        };
        if let (Some(a), false) = (&account, keys.is_empty())
            && let Ok((options, state)) = self.webauthn.start_passkey_authentication(&keys)
        {
            let id = self
                .keep(AUTHENTICATE, Some(a.id), Some(state_json(&state)?))
                .await?;
            return Ok((id, json!(options)));
        }
        // a decoy: the same shape, a credential id that is the same at each ask for this
        // email, and no state to finish with
        let mut seed = self.decoy_key.to_vec();
        seed.extend_from_slice(email.as_str().as_bytes());
        let fake = digest(&b64url(&seed));
        let id = self.keep(AUTHENTICATE, None, None).await?;
        let options = json!({"publicKey": {
            "challenge": b64url(&random::<32>()),
            "timeout": 300_000,
            "rpId": self.rp_id,
            "allowCredentials": [{"type": "public-key", "id": b64url(&fake[..16])}],
            "userVerification": "required",
        }});
        Ok((id, options))
    }

    /// Checks the browser's answer: the account signed in, or `Refused`.
    pub async fn finish_authentication(
        &self,
        ceremony: &str,
        credential: Value,
    ) -> Result<AccountRecord, PasskeyError> {
        let now = self.clock.now();
        let c = self
            .store
            .take_ceremony(ceremony, AUTHENTICATE, now)
            .await?
            .ok_or(PasskeyError::Refused)?;
        let (Some(account_id), Some(state)) = (c.account_id, c.state) else {
            return Err(PasskeyError::Refused);
        };
        let state: PasskeyAuthentication =
            serde_json::from_str(&state).map_err(|_| PasskeyError::Refused)?;
        let answer: PublicKeyCredential =
            serde_json::from_value(credential).map_err(|_| PasskeyError::Refused)?;
        let result = self
            .webauthn
            .finish_passkey_authentication(&answer, &state)
            .map_err(|_| PasskeyError::Refused)?;
        let account = self
            .store
            .account_by_id(account_id)
            .await?
            .filter(|a| a.disabled_at.is_none())
            .ok_or(PasskeyError::Refused)?;
        // the passkey must still be the account's (one removed since the challenge was asked
        // for signs in no one), and its counter moves: keep it (a clone of the authenticator
        // would fall behind)
        let mut found = false;
        for rec in self.store.passkeys_of(account.id).await? {
            let Ok(mut key) = serde_json::from_str::<Passkey>(&rec.credential) else {
                continue;
            };
            if key.cred_id() == result.cred_id() {
                found = true;
                key.update_credential(&result);
                self.store
                    .passkey_used(&rec.id, &state_json(&key)?, now)
                    .await?;
            }
        }
        if !found {
            return Err(PasskeyError::Refused);
        }
        Ok(account)
    }
}
