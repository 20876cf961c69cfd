//! Standard Webhooks signatures, with the `standardwebhooks` crate (the spec's reference
//! implementation for Rust): `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
//! several space-separated while a secret rotates; secrets written `whsec_<base64>`; a
//! timestamp more than 5 minutes old or ahead refused. Verification runs on the raw bytes, before
//! anything parses them, and compares in constant time. Svix's own names (`svix-id`,
//! `svix-timestamp`, `svix-signature`: what its service sends unless a customer pays to rename
//! them) are read as the standard's when the standard's are absent (`standard_headers`).
//! Must not: parse a body before its signature checks out, or compare a signature in variable time.

use hyper::header::HeaderMap;
use std::borrow::Cow;

/// The standard's three headers, and Svix's names for them.
const FAMILIES: [[&str; 3]; 2] = [
    ["webhook-id", "webhook-timestamp", "webhook-signature"],
    ["svix-id", "svix-timestamp", "svix-signature"],
];

/// `headers` with the standard's names: as they are when any `webhook-*` header is present (a
/// request is signed in one family), else with Svix's `svix-*` copied under the standard's.
pub fn standard_headers(headers: &HeaderMap) -> Cow<'_, HeaderMap> {
    let [standard, svix] = FAMILIES;
    if standard.iter().any(|h| headers.contains_key(*h))
        || !svix.iter().any(|h| headers.contains_key(*h))
    {
        return Cow::Borrowed(headers);
    }
    let mut h = headers.clone();
    for (to, from) in standard.iter().zip(svix) {
        if let Some(v) = headers.get(from) {
            h.insert(*to, v.clone());
        }
    }
    Cow::Owned(h)
}

/// Why an incoming request was refused, each with its own answer (a stable `code` and words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the {0} header is missing: the request is not signed")]
    Missing(&'static str),
    #[error("the {0} header is not readable text")]
    Unreadable(&'static str),
    #[error("webhook-timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than 5 minutes old: a replay, or a clock far behind")]
    TooOld,
    #[error("webhook-timestamp is more than 5 minutes ahead: check the sender's clock")]
    TooNew,
    #[error("no signature matches: wrong secret, or the body was changed")]
    BadSignature,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing(_) | Self::Unreadable(_) => "webhook_unsigned",
            Self::BadTimestamp => "webhook_bad_timestamp",
            Self::TooOld => "webhook_too_old",
            Self::TooNew => "webhook_too_new",
            Self::BadSignature => "webhook_bad_signature",
        }
    }
}

/// The secrets incoming events may be signed with (several during a rotation).
pub struct Verifier {
    hooks: Vec<standardwebhooks::Webhook>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verifier({} secrets)", self.hooks.len())
    }
}

/// The fewest secret bytes accepted (the standard asks for 24 to 64; linkleaf makes 32).
pub const SECRET_MIN_BYTES: usize = 16;

/// Reads `whsec_...` secrets, space-separated. An empty list is allowed (then nothing verifies).
fn secrets(list: &str) -> Result<Vec<standardwebhooks::Webhook>, String> {
    list.split_whitespace()
        .enumerate()
        .map(|(i, s)| {
            let Some(b64) = s.strip_prefix("whsec_") else {
                return Err(format!("secret {}: must start with whsec_", i + 1));
            };
            let bytes = b64.trim_end_matches('=').len() * 3 / 4;
            if bytes < SECRET_MIN_BYTES {
                return Err(format!(
                    "secret {}: {bytes} bytes is too short to sign with (at least {SECRET_MIN_BYTES})",
                    i + 1
                ));
            }
            standardwebhooks::Webhook::new(s)
                .map_err(|e| format!("secret {}: not base64 after whsec_ ({e})", i + 1))
        })
        .collect()
}

impl Verifier {
    /// From `webhooks.secret`.
    pub fn new(list: &str) -> Result<Self, String> {
        Ok(Self {
            hooks: secrets(list)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// Checks `body` against the request's `webhook-*` (or `svix-*`) headers. The headers are
    /// checked first (their absence, then the timestamp's window), then each secret in turn.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Refusal> {
        let headers = &*standard_headers(headers);
        for h in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            match headers.get(h).map(|v| v.to_str()) {
                None => return Err(Refusal::Missing(h)),
                Some(Err(_)) => return Err(Refusal::Unreadable(h)),
                Some(Ok(_)) => {}
            }
        }
        let mut refusal = Refusal::BadSignature;
        for hook in &self.hooks {
            match hook.verify(body, headers) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    use standardwebhooks::WebhookError as E;
                    match e {
                        E::TimestampTooOldError => return Err(Refusal::TooOld),
                        E::FutureTimestampError => return Err(Refusal::TooNew),
                        E::InvalidTimestamp => return Err(Refusal::BadTimestamp),
                        E::MissingHeader(h) | E::InvalidHeader(h) => {
                            refusal = Refusal::Unreadable(match h {
                                "id" => "webhook-id",
                                "timestamp" => "webhook-timestamp",
                                _ => "webhook-signature",
                            });
                        }
                        _ => {}
                    }
                }
            }
        }
        Err(refusal)
    }
}

/// Signs one delivery with each of `secrets` (current first): the `webhook-signature` value.
pub fn sign(secrets: &[String], id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let mut out = Vec::with_capacity(secrets.len());
    for s in secrets {
        let hook =
            standardwebhooks::Webhook::new(s).map_err(|e| format!("a stored secret: {e}"))?;
        out.push(
            hook.sign(id, timestamp, body)
                .map_err(|e| format!("signing: {e}"))?,
        );
    }
    Ok(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(id: &str, ts: i64, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("webhook-id", HeaderValue::from_str(id).unwrap());
        h.insert(
            "webhook-timestamp",
            HeaderValue::from_str(&ts.to_string()).unwrap(),
        );
        h.insert("webhook-signature", HeaderValue::from_str(sig).unwrap());
        h
    }

    /// Svix's service sends `svix-*` names unless renamed: read as the standard's; a request
    /// in the standard's names keeps them (a stray `svix-*` beside them changes nothing).
    #[test]
    fn svix_header_names_verify_like_the_standards() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let v = Verifier::new(&secret).unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let body = br#"{"test": 1}"#;
        let sig = sign(std::slice::from_ref(&secret), "msg_svix", now, body).unwrap();
        let standard = headers("msg_svix", now, &sig);
        let mut svix = HeaderMap::new();
        for (from, to) in [
            ("webhook-id", "svix-id"),
            ("webhook-timestamp", "svix-timestamp"),
            ("webhook-signature", "svix-signature"),
        ] {
            svix.insert(to, standard[from].clone());
        }
        assert_eq!(v.verify(&svix, body), Ok(()));
        assert_eq!(standard_headers(&svix)["webhook-id"], "msg_svix");
        // tampered under Svix's names: refused as under the standard's
        assert_eq!(
            v.verify(&svix, br#"{"test": 2}"#),
            Err(Refusal::BadSignature)
        );
        // one family per request: the standard's, when any of its headers is there
        let mut mixed = svix.clone();
        mixed.insert("webhook-id", HeaderValue::from_static("msg_other"));
        assert_eq!(
            v.verify(&mixed, body),
            Err(Refusal::Missing("webhook-timestamp"))
        );
        assert_eq!(
            v.verify(&HeaderMap::new(), body),
            Err(Refusal::Missing("webhook-id"))
        );
    }

    /// The spec's own test vector (standardwebhooks.com; ../shared/ECOSYSTEM.md).
    #[test]
    fn the_specs_test_vector() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let sig = sign(
            std::slice::from_ref(&secret),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        // and our verifier accepts it (at its time it is old: the window is checked first)
        let v = Verifier::new(&secret).unwrap();
        assert_eq!(
            v.verify(
                &headers("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, &sig),
                br#"{"test": 2432232314}"#
            ),
            Err(Refusal::TooOld)
        );
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let fresh = sign(
            &[secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            now,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(
            v.verify(
                &headers("msg_p5jXN8AQM9LWM0D4loKWxJek", now, &fresh),
                br#"{"test": 2432232314}"#
            ),
            Ok(())
        );
    }

    #[test]
    fn every_way_of_being_wrong_has_its_own_refusal() {
        let (old, new) = (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_owned(),
        );
        let v = Verifier::new(&format!("{new} {old}")).unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let body = br#"{"type":"profile.updated"}"#;
        let by_old = sign(std::slice::from_ref(&old), "msg_1", now, body).unwrap();
        assert_eq!(
            v.verify(&headers("msg_1", now, &by_old), body),
            Ok(()),
            "a rotated secret"
        );
        let other = sign(
            &["whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldA==".into()],
            "msg_1",
            now,
            body,
        )
        .unwrap();
        assert_eq!(
            v.verify(&headers("msg_1", now, &other), body),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            v.verify(
                &headers("msg_1", now, &by_old),
                br#"{"type":"profile.deleted"}"#
            ),
            Err(Refusal::BadSignature),
            "a tampered body"
        );
        assert_eq!(
            v.verify(&headers("msg_2", now, &by_old), body),
            Err(Refusal::BadSignature),
            "another id"
        );
        let stale = sign(std::slice::from_ref(&old), "msg_1", now - 301, body).unwrap();
        assert_eq!(
            v.verify(&headers("msg_1", now - 301, &stale), body),
            Err(Refusal::TooOld)
        );
        let ahead = sign(std::slice::from_ref(&old), "msg_1", now + 301, body).unwrap();
        assert_eq!(
            v.verify(&headers("msg_1", now + 301, &ahead), body),
            Err(Refusal::TooNew)
        );
        let mut h = headers("msg_1", now, &by_old);
        h.remove("webhook-signature");
        assert_eq!(
            v.verify(&h, body),
            Err(Refusal::Missing("webhook-signature"))
        );
        let mut h = headers("msg_1", now, &by_old);
        h.insert("webhook-timestamp", HeaderValue::from_static("yesterday"));
        assert_eq!(v.verify(&h, body), Err(Refusal::BadTimestamp));
        // both secrets sign during a rotation: either one verifies
        let both = sign(&[new.clone(), old.clone()], "msg_3", now, body).unwrap();
        assert_eq!(both.split(' ').count(), 2);
        assert_eq!(
            Verifier::new(&old)
                .unwrap()
                .verify(&headers("msg_3", now, &both), body),
            Ok(())
        );
        assert_eq!(
            Verifier::new(&new)
                .unwrap()
                .verify(&headers("msg_3", now, &both), body),
            Ok(())
        );
    }

    #[test]
    fn secrets_must_be_whsec_and_long_enough() {
        assert!(Verifier::new("").unwrap().is_empty());
        assert!(Verifier::new("plain").is_err());
        assert!(Verifier::new("whsec_!!!!!!!!!!!!!!!!!!!!!!!!").is_err());
        assert!(
            Verifier::new("whsec_").is_err(),
            "an empty key anyone can sign with"
        );
        assert!(Verifier::new("whsec_c2hvcnQ=").is_err(), "5 bytes");
        assert!(Verifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
    }
}
