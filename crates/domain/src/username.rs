//! Usernames: what may name a public page at `/{username}`.
//!
//! 3 to 30 characters of ASCII letters, digits, `_` and `.`; no leading, trailing or doubled dot.
//! Unique without regard to case: `JaneDoe` is stored as written and found as `janedoe` (its key).
//! Words that name our own routes or files a browser asks for are reserved.
//!
//! Unique without regard to look-alikes, too: a name is refused when its *skeleton* equals
//! that of a name already taken, so `paypal`, `paypaI` (capital i), `paypa1` and `rnicrosoft`
//! cannot sit beside `paypal` and `microsoft`. The skeleton follows Unicode TR39's idea (map
//! each character to a representative of its look-alike class, then compare), restricted to the
//! ASCII a username may hold: on the name as written, `0` becomes `o`, `1` and capital `I`
//! become `l`; then everything is lowercased; then `rn` becomes `m` and `vv` becomes `w`. Case
//! is looked at before lowercasing because it is the written form that deceives: `Ian` and `lan`
//! look alike, `ian` and `lan` do not. `_` and `.` are left as they are.
//! Must not: accept a name that looks like a taken one once reduced to its skeleton, or a reserved
//! one.

use crate::error::FieldError;
use std::fmt;

pub const MIN_LEN: usize = 3;
pub const MAX_LEN: usize = 30;

/// Lowercase words no profile may take: they name routes (`/api`, `/r`, `/metrics`...) or files
/// browsers and crawlers ask every site for.
pub const RESERVED: &[&str] = &[
    "about",
    "account",
    "admin",
    "api",
    "app",
    "assets",
    "auth",
    "cdn",
    "dashboard",
    "docs",
    "edit",
    "explore",
    "favicon.ico",
    "healthz",
    "help",
    "home",
    "index",
    "index.html",
    "invite",
    "link",
    "linkleaf",
    "links",
    "login",
    "logout",
    "mail",
    "media",
    "metrics",
    "new",
    "null",
    "oauth",
    "openapi.json",
    "password",
    "privacy",
    "profile",
    "profiles",
    "public",
    "r",
    "readyz",
    "register",
    "robots.txt",
    "root",
    "search",
    "security",
    "settings",
    "signup",
    "sitemap.xml",
    "static",
    "status",
    "support",
    "terms",
    "undefined",
    "webhooks",
    "www",
];

/// Whether a lowercase key is reserved. On the hot read path, so a binary search of the sorted
/// list rather than a scan.
fn is_reserved(key: &str) -> bool {
    RESERVED.binary_search(&key).is_ok()
}

/// A valid username, as its owner wrote it.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Username(String);

/// The pattern the API description publishes for usernames (with the length limits).
pub const PATTERN: &str = r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$";

impl Username {
    /// Checks a username a client wants to take: its syntax (invalid input), then whether it is
    /// reserved (a conflict: the name is well formed, but not free).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let key = Self::parse_key(raw)?;
        if is_reserved(&key) {
            return Err(FieldError::conflict(
                "username",
                format!("'{raw}' is reserved"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The lookup key of a well-formed name, reserved or not (for operations that only name a
    /// cache entry).
    pub fn parse_key(raw: &str) -> Result<String, FieldError> {
        Self::check_syntax(raw).map_err(|m| FieldError::new("username", m))?;
        Ok(raw.to_ascii_lowercase())
    }

    /// What the name looks like, for uniqueness among look-alikes (see the module comment).
    pub fn skeleton(&self) -> String {
        skeleton(&self.0)
    }

    /// For a value read back from our own store, which only ever holds parsed usernames.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The lookup key: the username in ASCII lowercase.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lookup key of a name in a request path, if it could name a profile at all (syntax and
    /// reserved words). Borrows when the name is already lowercase, the common case, so the hot
    /// read path allocates nothing.
    pub fn lookup_key(raw: &str) -> Option<std::borrow::Cow<'_, str>> {
        Self::check_syntax(raw).ok()?;
        let key = if raw.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(raw.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(raw)
        };
        if is_reserved(&key) {
            return None;
        }
        Some(key)
    }

    pub fn check_syntax(raw: &str) -> Result<(), String> {
        let len = raw.len();
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(format!("must be {MIN_LEN} to {MAX_LEN} characters long"));
        }
        if let Some(c) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.'))
        {
            return Err(format!(
                "may hold only letters a-z, digits, '_' and '.', not {:?}",
                c
            ));
        }
        if raw.starts_with('.') || raw.ends_with('.') || raw.contains("..") {
            return Err("may not start or end with '.' or hold '..'".into());
        }
        Ok(())
    }
}

/// The skeleton of a username as written (see the module comment). The SQLite migration that
/// added the column computes the same with nested `replace` calls; a test holds them equal.
pub fn skeleton(written: &str) -> String {
    let mapped: String = written
        .chars()
        .map(|c| match c {
            '0' => 'o',
            '1' | 'I' => 'l',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    mapped.replace("rn", "m").replace("vv", "w")
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_names_and_keeps_their_case() {
        for ok in [
            "alice",
            "Jane.Doe",
            "x_y",
            "abc",
            "a1b2c3",
            "a".repeat(30).as_str(),
        ] {
            let u = Username::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(u.as_str(), ok);
            assert_eq!(u.key(), ok.to_ascii_lowercase());
        }
    }

    #[test]
    fn refuses_bad_syntax_naming_the_field() {
        for bad in [
            "",
            "ab",
            "a b",
            "alice!",
            "../etc",
            ".alice",
            "alice.",
            "a..b",
            "émile",
            "al\0ce",
            "<script>",
            "a/b",
            "a%2e",
            &"a".repeat(31),
            "-abc",
        ] {
            let e = Username::parse(bad).expect_err(bad);
            assert_eq!(e.field, "username");
        }
    }

    #[test]
    fn refuses_reserved_words_in_any_case_as_a_conflict() {
        for r in [
            "api",
            "API",
            "Admin",
            "metrics",
            "static",
            "robots.txt",
            "healthz",
        ] {
            let e = Username::parse(r).expect_err(r);
            assert!(e.message.contains("reserved"), "{r}: {}", e.message);
            assert!(e.conflict, "well formed, but not free");
            assert!(Username::lookup_key(r).is_none());
        }
        assert!(!Username::parse("a b").unwrap_err().conflict);
    }

    #[test]
    fn look_alikes_share_a_skeleton() {
        let sk = |s: &str| Username::parse(s).unwrap().skeleton();
        for (a, b) in [
            ("paypal", "paypaI"),
            ("paypal", "paypa1"),
            ("paypal", "PayPal"),
            ("google", "g00gle"),
            ("microsoft", "rnicrosoft"),
            ("wikipedia", "vvikipedia"),
            ("Ian", "lan"),
        ] {
            assert_eq!(sk(a), sk(b), "{a} / {b}");
        }
        for (a, b) in [("ian", "lan"), ("jane", "june"), ("bill", "bi11y")] {
            assert_ne!(sk(a), sk(b), "{a} / {b}");
        }
    }

    #[test]
    fn the_reserved_list_is_sorted_for_binary_search() {
        assert!(RESERVED.windows(2).all(|w| w[0] < w[1]));
        assert!(RESERVED.iter().all(|r| is_reserved(r)));
    }

    #[test]
    fn lookup_key_borrows_lowercase_and_folds_uppercase() {
        assert!(matches!(
            Username::lookup_key("alice"),
            Some(std::borrow::Cow::Borrowed("alice"))
        ));
        assert_eq!(Username::lookup_key("AliCe").as_deref(), Some("alice"));
        assert_eq!(Username::lookup_key("al%69ce"), None);
    }

    proptest! {
        #[test]
        fn never_panics_and_accepted_names_are_url_safe(s in "\\PC{0,40}") {
            if let Ok(u) = Username::parse(&s) {
                prop_assert!(u.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.'));
                prop_assert_eq!(Username::lookup_key(&s).map(|k| k.into_owned()), Some(u.key()));
            }
        }
    }
}
