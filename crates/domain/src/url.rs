//! URLs a profile may point to.
//!
//! What is accepted is written once, as `LINK_URL_PATTERN` and `AVATAR_URL_PATTERN`: the API
//! description publishes them and this module enforces them, and everything they match parses
//! (a property test generates from the patterns themselves). A link may be:
//! - `http(s)://host[:port][/path][?query][#fragment]`, where the host is a domain name of
//!   letters, digits and hyphens with an alphabetic top-level label (`example.com`,
//!   `sub.example.co.uk`), or a dotted IPv4 address. Internationalized names are written in
//!   their ASCII form... except that labels with `--` in the third and fourth places (`xn--`)
//!   are refused, because whether one is valid punycode is not something a pattern can say;
//! - `mailto:local@domain[?query]`;
//! - `tel:` followed by 3 to 20 digits, optionally after a `+`, with single `-` or `.` between
//!   digits.
//!
//! Nothing else: `javascript:`, `data:`, `vbscript:`, `file:` and every other scheme are refused,
//! as are credentials (`https://bank.com@evil.example`: they exist to deceive), spaces and
//! control characters. An avatar must be `http(s)`. What is kept is the WHATWG-normalized form,
//! which may be longer than what was sent (percent-encoding), so the 2,048-character limit is on
//! what is sent.
//! Must not: resolve or fetch a URL (outbound requests are `linkleaf-outbound`'s, behind its
//! policy).

use crate::error::FieldError;
use regex::Regex;
use std::sync::LazyLock;

/// The most characters a URL may have, as sent.
pub const URL_MAX: usize = 2048;

macro_rules! alnum {
    () => {
        "[A-Za-z0-9]"
    };
}
macro_rules! ldh {
    () => {
        "[A-Za-z0-9-]"
    };
}
/// A label of 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit,
/// without `--` in its third and fourth places.
macro_rules! label {
    () => {
        concat!(
            alnum!(),
            "(?:",
            alnum!(),
            "|",
            ldh!(),
            "(?:",
            alnum!(),
            "(?:",
            ldh!(),
            "{0,59}",
            alnum!(),
            ")?|-",
            alnum!(),
            "(?:",
            ldh!(),
            "{0,58}",
            alnum!(),
            ")?))?"
        )
    };
}
macro_rules! domain {
    () => {
        concat!("(?:", label!(), "\\.)+[A-Za-z]{2,63}")
    };
}
macro_rules! octet {
    () => {
        "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    };
}
macro_rules! port {
    () => {
        "(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
    };
}
/// Anything but controls and spaces (the characters `char::is_whitespace` knows).
macro_rules! rest {
    () => {
        r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    };
}
macro_rules! web {
    () => {
        concat!(
            "[Hh][Tt][Tt][Pp][Ss]?://(?:",
            domain!(),
            "|",
            octet!(),
            "(?:\\.",
            octet!(),
            "){3})",
            port!(),
            "(?:[/?#]",
            rest!(),
            "*)?"
        )
    };
}
macro_rules! mailto {
    () => {
        concat!(
            "[Mm][Aa][Ii][Ll][Tt][Oo]:[A-Za-z0-9.!#$%&'*+=^_`{|}~-]+@",
            domain!(),
            "(?:\\?",
            rest!(),
            "*)?"
        )
    };
}
macro_rules! tel {
    () => {
        "[Tt][Ee][Ll]:\\+?[0-9](?:[-.]?[0-9]){2,19}"
    };
}

/// A link target, as the API description publishes it.
pub const LINK_URL_PATTERN: &str = concat!("^(?:", web!(), "|", mailto!(), "|", tel!(), ")$");
/// An avatar image, as the API description publishes it.
pub const AVATAR_URL_PATTERN: &str = concat!("^", web!(), "$");

static LINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(LINK_URL_PATTERN).expect("the URL patterns are valid"));
static AVATAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(AVATAR_URL_PATTERN).expect("the URL patterns are valid"));

/// Why a URL the pattern refused was refused.
fn diagnose(field: &str, raw: &str, schemes: &str) -> FieldError {
    let err = |m: String| FieldError::new(field, m);
    if raw.is_empty() {
        return err("must not be empty".into());
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return err("may not contain spaces or control characters".into());
    }
    let scheme = raw
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let allowed: Vec<&str> = schemes.split(", ").collect();
    if !raw.contains(':') || scheme.is_empty() {
        return err(format!("must be an absolute URL ({schemes})"));
    }
    if !allowed.contains(&scheme.as_str()) {
        return err(format!(
            "scheme '{}' is not allowed: use {}",
            scheme.chars().take(20).collect::<String>(),
            schemes
        ));
    }
    match scheme.as_str() {
        "http" | "https" => {
            let after = raw.split_once("://").map_or("", |(_, a)| a);
            let authority = after.split(['/', '?', '#']).next().unwrap_or_default();
            if authority.contains('@') {
                err("may not contain a user name or password".into())
            } else if authority.is_empty() {
                err("must name a host".into())
            } else if authority.split(':').next().unwrap_or("").contains("--") {
                err("must name a host of letters, digits, hyphens and dots with a top-level domain \
                     such as .com, or an IPv4 address; labels may not hold `--` in their third and \
                     fourth places"
                    .into())
            } else {
                err("must name a host of letters, digits, hyphens and dots with a top-level domain \
                     such as .com (internationalized names in their ASCII form), or an IPv4 \
                     address, and an optional port from 1 to 65535"
                    .into())
            }
        }
        "mailto" => err("mailto: needs an address such as mailto:someone@example.com".into()),
        "tel" => err("tel: needs a phone number of 3 to 20 digits (+, - and . allowed)".into()),
        _ => err("is not a valid URL".into()),
    }
}

fn check(field: &str, raw: &str, pattern: &Regex, schemes: &str) -> Result<String, FieldError> {
    let n = raw.chars().count();
    if n > URL_MAX {
        return Err(FieldError::new(
            field,
            format!("must be at most {URL_MAX} characters"),
        ));
    }
    if !pattern.is_match(raw) {
        return Err(diagnose(field, raw, schemes));
    }
    url::Url::parse(raw)
        .map(String::from)
        .map_err(|e| FieldError::new(field, format!("is not a valid absolute URL ({e})")))
}

/// A link target: `http(s)://host/...`, `mailto:someone@example.com` or `tel:+15551234567`.
pub fn link_url(raw: &str) -> Result<String, FieldError> {
    check("url", raw, &LINK, "http, https, mailto, tel")
}

/// An avatar image: `http` or `https` only.
pub fn avatar_url(raw: &str) -> Result<String, FieldError> {
    check("avatarUrl", raw, &AVATAR, "http, https")
}

/// Where a webhook is sent: `http` or `https`, with no credentials in it (they would be sent to
/// whoever the host is, and shown in every listing). A fragment is dropped: HTTP never sends it.
pub fn webhook_url(raw: &str) -> Result<String, FieldError> {
    let url = check("url", raw, &AVATAR, "http, https")?;
    let mut parsed = url::Url::parse(&url)
        .map_err(|e| FieldError::new("url", format!("is not a valid absolute URL ({e})")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(FieldError::new(
            "url",
            "must not hold credentials (user:password@): the receiver checks the signature",
        ));
    }
    parsed.set_fragment(None);
    Ok(parsed.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_four_schemes() {
        assert_eq!(
            link_url("https://example.com").unwrap(),
            "https://example.com/"
        );
        assert_eq!(
            link_url("HTTP://Example.COM/a?b=c#d").unwrap(),
            "http://example.com/a?b=c#d"
        );
        assert!(link_url("mailto:jane@example.com").is_ok());
        assert!(link_url("mailto:jane@example.com?subject=Hi%20there").is_ok());
        assert!(link_url("tel:+1-555-123-4567").is_ok());
        assert!(link_url("https://93.184.216.34:8443/x").is_ok());
        assert!(link_url("https://ab-cd.example.co.uk/é?q=日本#frag").is_ok());
    }

    #[test]
    fn refuses_script_and_data_however_spelled() {
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "java\nscript:alert(1)",
            "\u{0}javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox",
            "file:///etc/passwd",
            "//example.com",
            "/relative",
            "example.com",
            "https://",
            "https://user:pw@example.com",
            "https://bank.com@evil.example",
            "mailto:",
            "tel:call-me",
            "ftp://example.com",
            " https://example.com",
            "https://example.com ",
            "https://localhost/",
            "https://example.com:0/",
            "https://example.com:65536/",
            "https://1.2.3.999/",
            "https://xn--bcher-kva.example/",
            "https://example.com./",
            "https://-a.com/",
            "https://example.com\\@evil.com",
        ] {
            let e = link_url(bad).expect_err(bad);
            assert_eq!(e.field, "url", "{bad:?}");
            assert_ne!(
                e.message, "is not a valid URL",
                "{bad:?}: a specific reason"
            );
        }
        assert!(
            link_url("javascript:alert(1)")
                .unwrap_err()
                .message
                .contains("scheme 'javascript' is not allowed")
        );
        assert!(
            link_url("https://bank.com@evil.example")
                .unwrap_err()
                .message
                .contains("user name or password")
        );
    }

    #[test]
    fn avatars_are_web_images_only() {
        assert!(avatar_url("https://cdn.example.com/a.png").is_ok());
        for bad in [
            "mailto:a@b.co",
            "data:image/png;base64,AAAA",
            "javascript:x",
            "",
        ] {
            assert_eq!(avatar_url(bad).unwrap_err().field, "avatarUrl");
        }
    }

    #[test]
    fn the_limit_is_on_what_is_sent_and_normalizing_may_grow_it() {
        let long = format!("https://example.com/{}", "a".repeat(URL_MAX));
        assert!(link_url(&long).unwrap_err().message.contains("at most"));
        // found by schemathesis: a URL at the limit grows once normalized; it is accepted
        let grows = format!("http://example.com/{}", "é".repeat(URL_MAX - 19));
        assert_eq!(grows.chars().count(), URL_MAX);
        assert!(link_url(&grows).unwrap().len() > URL_MAX);
    }

    fn unanchored(p: &str) -> String {
        p.trim_start_matches('^').trim_end_matches('$').to_owned()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn everything_the_link_pattern_matches_is_accepted(s in proptest::string::string_regex(&unanchored(LINK_URL_PATTERN)).unwrap()) {
            prop_assume!(s.chars().count() <= URL_MAX);
            let r = link_url(&s);
            prop_assert!(r.is_ok(), "{:?}: {:?}", s, r);
        }

        #[test]
        fn everything_the_avatar_pattern_matches_is_accepted(s in proptest::string::string_regex(&unanchored(AVATAR_URL_PATTERN)).unwrap()) {
            prop_assume!(s.chars().count() <= URL_MAX);
            prop_assert!(avatar_url(&s).is_ok(), "{:?}", s);
        }

        #[test]
        fn whatever_is_accepted_has_an_allowed_scheme(s in "\\PC{0,64}", scheme in "(https?|mailto|tel|javascript|data|JAVASCRIPT):") {
            let input = format!("{scheme}{s}");
            if let Ok(u) = link_url(&input) {
                prop_assert!(["http:", "https:", "mailto:", "tel:"].iter().any(|p| u.starts_with(p)), "{}", u);
            }
            if let Ok(u) = avatar_url(&s) {
                prop_assert!(u.starts_with("http:") || u.starts_with("https:"));
            }
        }
    }
}
