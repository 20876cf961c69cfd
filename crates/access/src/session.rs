//! Session tokens. A session is named by a public id (128 random bits, shown in a person's
//! list of sessions and used to end one) and proven by a secret (256 random bits) that only the
//! cookie holds: the database keeps its SHA-256 digest, compared in constant time. The cookie's
//! value is `{id}.{secret}`. A new token is made at every sign-in and privilege change.
//! Must not: store or log a secret, or compare one in variable time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A token just made: the public id, the secret (for the cookie, once) and its digest (for the
/// database).
pub struct NewToken {
    pub id: String,
    pub secret: String,
    pub digest: Vec<u8>,
}

impl NewToken {
    pub fn cookie_value(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // the operating system's generator; without it no session can be made safely
    getrandom::fill(&mut b).expect("the system's random number generator");
    b
}

/// A new session token.
pub fn new_token() -> NewToken {
    let id: String = random::<16>().iter().map(|b| format!("{b:02x}")).collect();
    let secret = URL_SAFE_NO_PAD.encode(random::<32>());
    let digest = digest(&secret);
    NewToken { id, secret, digest }
}

/// A one-time link's token (an invitation, a password reset): 256 random bits; the database
/// keeps its digest.
pub fn new_link_token() -> (String, Vec<u8>) {
    let t = URL_SAFE_NO_PAD.encode(random::<32>());
    let d = digest(&t);
    (t, d)
}

pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The public id and the secret of a cookie's value, if it has their shape.
pub fn parse(value: &str) -> Option<(&str, &str)> {
    let (id, secret) = value.split_once('.')?;
    let ok = id.len() == 32
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some((id, secret))
}

/// Whether `secret` is the one `stored` is the digest of, in constant time.
pub fn matches(secret: &str, stored: &[u8]) -> bool {
    digest(secret).ct_eq(stored).into()
}

/// The cookie's name: `__Host-` prefixed when the site is served over https (the browser then
/// holds it to `Secure`, `Path=/` and no `Domain`).
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-linkleaf_session"
    } else {
        "linkleaf_session"
    }
}

/// A `Set-Cookie` value for a session: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` over
/// https; it lasts as long as the session may (`max_age_secs`).
pub fn set_cookie(value: &str, secure: bool, max_age_secs: u64) -> String {
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        cookie_name(secure),
        if secure { "; Secure" } else { "" }
    )
}

/// A `Set-Cookie` value that removes the session's cookie.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", secure, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_parse_back_and_match_only_their_digest() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a.id, b.id);
        assert_ne!(a.secret, b.secret);
        let v = a.cookie_value();
        let (id, secret) = parse(&v).unwrap();
        assert_eq!((id, secret), (a.id.as_str(), a.secret.as_str()));
        assert!(matches(secret, &a.digest));
        assert!(!matches(&b.secret, &a.digest));
        for bad in [
            "",
            "x.y",
            &format!("{}.", a.id),
            &format!("{}.{}!", a.id, &a.secret[1..]),
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn cookies_carry_their_flags() {
        let c = set_cookie("v", true, 60);
        assert!(c.starts_with("__Host-linkleaf_session=v; Path=/; HttpOnly; SameSite=Lax"));
        assert!(c.ends_with("; Secure"));
        let c = set_cookie("v", false, 60);
        assert!(c.starts_with("linkleaf_session=v;") && !c.contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
