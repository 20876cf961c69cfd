//! API keys as they are issued: a name a person can read, scopes, and for a key an account
//! makes, the one profile it is bound to and its maker. The token is shown once; only its
//! digest is kept. Both the command line (operator keys, instance-wide) and `POST /api/me/keys`
//! (bound keys) issue keys here.
//! Must not: keep or log a token after handing it out, or decide what a key may reach (the access
//! table does).

use linkleaf_domain::{ApiKeyToken, Scopes, now_millis};
use linkleaf_store::keys::ApiKeyRecord;
use uuid::Uuid;

/// A key's name: 1 to 100 printable characters, trimmed.
pub fn check_name(name: &str) -> Result<&str, &'static str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err("give a key a name of 1 to 100 printable characters");
    }
    Ok(name)
}

/// A new key: its record (to store) and its token (to show once). `profile` and `account` are
/// `None` for an operator's key.
pub fn issue(
    name: &str,
    scopes: Scopes,
    profile: Option<Uuid>,
    account: Option<Uuid>,
) -> Result<(ApiKeyRecord, ApiKeyToken), &'static str> {
    let name = check_name(name)?;
    let mut random = [0u8; 40];
    getrandom::fill(&mut random).map_err(|_| "no randomness available")?;
    let token = ApiKeyToken::generate(random);
    let rec = ApiKeyRecord {
        id: Uuid::now_v7(),
        name: name.to_owned(),
        prefix: token.prefix().to_owned(),
        digest: token.digest().to_vec(),
        scopes,
        created_at: now_millis(),
        revoked_at: None,
        profile,
        account,
    };
    Ok((rec, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_printable_and_bounded_and_tokens_match_their_digest() {
        assert!(check_name("  ").is_err());
        assert!(check_name("a\u{7}b").is_err());
        assert!(check_name(&"x".repeat(101)).is_err());
        assert_eq!(check_name("  ci  "), Ok("ci"));
        let p = Uuid::now_v7();
        let (rec, token) =
            issue("ci", Scopes::parse("profile:read").unwrap(), Some(p), None).unwrap();
        assert!(token.matches(&rec.digest));
        assert_eq!(rec.prefix, token.prefix());
        assert_eq!(rec.profile, Some(p));
        let (other, _) = issue("ci", rec.scopes, None, None).unwrap();
        assert_ne!(other.prefix, rec.prefix);
    }
}
