//! Accounts' input rules: an email address, a password's policy (OWASP ASVS 5.0 V6.2), a
//! member's role, and the sign-up policy. Must not: hash, store or check a credential (the
//! `linkleaf-access` crate does).

use crate::error::FieldError;
use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

/// An email address, trimmed and in lowercase: the account's name for signing in. linkleaf
/// sends no mail, so it is checked for shape only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

/// The longest address SMTP carries (RFC 5321 §4.5.3.1.3).
pub const EMAIL_MAX: usize = 254;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let e = raw.trim();
        let err = |m: &str| Err(FieldError::new("email", m));
        if e.is_empty() {
            return err("is required");
        }
        if e.len() > EMAIL_MAX {
            return err("is longer than 254 characters");
        }
        if e.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return err("must not hold spaces or control characters");
        }
        let Some((local, domain)) = e.rsplit_once('@') else {
            return err("must be an address such as name@example.com");
        };
        if local.is_empty() || local.contains('@') {
            return err("must be an address such as name@example.com");
        }
        let labels_ok = domain.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if !labels_ok || !domain.contains('.') {
            return err("must end in a domain such as example.com");
        }
        Ok(Self(e.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shortest password accepted (ASVS 5.0 V6.2.1: 8; 15 advised, said on the form).
pub const PASSWORD_MIN: usize = 8;
/// The longest (ASVS asks that at least 64 be allowed; Argon2 takes any length, this bounds the
/// work one request can ask for).
pub const PASSWORD_MAX: usize = 256;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../assets/common-passwords/passwords.txt")
        .lines()
        .filter(|l| !l.is_empty())
        .collect()
});

/// A new password: 8 to 256 characters (counted as characters, not bytes), any characters,
/// pasting allowed, no composition rules; not one of the passwords most often found in breaches
/// (`assets/common-passwords`, compared without regard to case), nor the account's email.
pub fn check_password(password: &str, email: Option<&Email>) -> Result<(), FieldError> {
    let err = |m: String| Err(FieldError::new("password", m));
    let n = password.chars().count();
    if n < PASSWORD_MIN {
        return err(format!(
            "must be at least {PASSWORD_MIN} characters long (it is {n}); a few words make a \
             long one easy to remember"
        ));
    }
    if n > PASSWORD_MAX {
        return err(format!("must be at most {PASSWORD_MAX} characters long"));
    }
    let lower = password.to_lowercase();
    if COMMON.contains(lower.as_str()) {
        return err(
            "is one of the passwords most often tried by attackers: choose another".to_owned(),
        );
    }
    if email.is_some_and(|e| e.as_str() == lower.trim()) {
        return err("must not be your email address".to_owned());
    }
    Ok(())
}

/// What a member may do on a profile (the access table is `linkleaf_access::table`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Editor, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| FieldError::new("role", "must be owner, editor or viewer"))
    }
}

/// Who may make an account (`accounts.signup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Signup {
    /// With an invitation only.
    #[default]
    Invite,
    /// Anyone (bounded by `accounts.max_profiles` and a throttle per client address).
    Open,
    /// No one: accounts are made on the command line.
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_shaped() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada @example.com",
            "ada@exa mple.com",
            "ada@-example.com",
            "ada@example..com",
            &format!("{}@example.com", "a".repeat(250)),
        ] {
            let e = Email::parse(bad).unwrap_err();
            assert_eq!(e.field, "email", "{bad}");
        }
        assert!(Email::parse("ada+links@mail.example.co.uk").is_ok());
        assert!(Email::parse("zoë@bücher.example").is_ok());
    }

    #[test]
    fn passwords_follow_asvs_v6_2() {
        let email = Email::parse("ada@example.com").unwrap();
        // length, counted in characters
        assert!(check_password("seven77", None).is_err());
        assert!(
            check_password("ééééééé", None).is_err(),
            "7 characters, 14 bytes"
        );
        assert!(check_password("éééééééé", None).is_ok());
        assert!(check_password(&"x".repeat(64), None).is_ok(), "64 allowed");
        assert!(check_password(&"x".repeat(257), None).is_err());
        // no composition rules: any characters, spaces included
        assert!(check_password("correct horse battery staple", None).is_ok());
        assert!(check_password("только буквы и пробелы", None).is_ok());
        // the most common are refused, whatever their case
        for common in ["password", "12345678", "PassWord1", "iloveyou"] {
            let e = check_password(common, None).unwrap_err();
            assert!(e.message.contains("most often"), "{common}: {}", e.message);
        }
        assert!(check_password("ada@example.com", Some(&email)).is_err());
        assert!(COMMON.len() > 17_000);
    }

    #[test]
    fn roles_parse_and_order() {
        assert_eq!(Role::parse("editor").unwrap(), Role::Editor);
        assert!(Role::parse("admin").is_err());
        assert!(Role::Owner > Role::Editor && Role::Editor > Role::Viewer);
    }
}

/// What made a change.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// A person, signed in.
    Account,
    /// An API key (an operator's, or one a person made).
    Key,
}

/// Who made a change: kept with each version of a profile, and in the events it sends
/// (`data.actor`). Absent for what the operator did on the command line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    pub kind: ActorKind,
    /// The account's or the key's id.
    pub id: uuid::Uuid,
    /// The account's email, or the key's name.
    pub name: String,
}
