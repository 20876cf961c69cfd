//! URLs a profile may point to.
//!
//! A link may be `http`, `https`, `mailto` or `tel`, nothing else: `javascript:`, `data:`,
//! `vbscript:`, `file:` and every other scheme are refused, however they are spelled or padded.
//! An avatar must be `http` or `https`. URLs with credentials (`https://bank.com@evil.example`)
//! are refused: they exist to deceive. What is kept is the WHATWG-normalized form.

use crate::error::FieldError;

pub const URL_MAX: usize = 2048;

fn precheck(field: &str, raw: &str) -> Result<(), FieldError> {
    if raw.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if raw.len() > URL_MAX {
        return Err(FieldError::new(
            field,
            format!("must be at most {URL_MAX} bytes"),
        ));
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(FieldError::new(
            field,
            "may not contain spaces or control characters",
        ));
    }
    Ok(())
}

/// Any absolute URL, trimmed and checked for size and characters before parsing.
fn parse_absolute(field: &str, raw: &str) -> Result<url::Url, FieldError> {
    let raw = raw.trim();
    precheck(field, raw)?;
    url::Url::parse(raw)
        .map_err(|e| FieldError::new(field, format!("is not a valid absolute URL ({e})")))
}

/// The normalized form, which may be longer than what came in (`http://0?q` becomes
/// `http://0.0.0.0/?q`): the limit holds for what is kept.
fn kept(field: &str, url: url::Url) -> Result<String, FieldError> {
    let s: String = url.into();
    if s.len() > URL_MAX {
        return Err(FieldError::new(
            field,
            format!("must be at most {URL_MAX} bytes once normalized"),
        ));
    }
    Ok(s)
}

fn parse_web(field: &str, url: url::Url) -> Result<String, FieldError> {
    if url.host_str().is_none_or(str::is_empty) {
        return Err(FieldError::new(field, "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::new(
            field,
            "may not contain a user name or password",
        ));
    }
    kept(field, url)
}

/// A link target: `http(s)://host/...`, `mailto:someone@example.com` or `tel:+15551234567`.
pub fn link_url(raw: &str) -> Result<String, FieldError> {
    const FIELD: &str = "url";
    let url = parse_absolute(FIELD, raw)?;
    match url.scheme() {
        "http" | "https" => parse_web(FIELD, url),
        "mailto" => {
            let addr = url.path();
            let ok = addr
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty());
            if ok {
                kept(FIELD, url)
            } else {
                Err(FieldError::new(FIELD, "mailto: needs an address"))
            }
        }
        "tel" => {
            let num = url.path();
            let digits = num.bytes().filter(u8::is_ascii_digit).count();
            let charset_ok = num
                .bytes()
                .all(|b| b.is_ascii_digit() || b"+-().".contains(&b));
            if charset_ok && (3..=20).contains(&digits) && num.len() <= 32 {
                kept(FIELD, url)
            } else {
                Err(FieldError::new(
                    FIELD,
                    "tel: needs a phone number (digits, + - ( ) .)",
                ))
            }
        }
        other => Err(FieldError::new(
            FIELD,
            format!("scheme '{other}' is not allowed: use http, https, mailto or tel"),
        )),
    }
}

/// An avatar image: `http` or `https` only.
pub fn avatar_url(raw: &str) -> Result<String, FieldError> {
    const FIELD: &str = "avatarUrl";
    let url = parse_absolute(FIELD, raw)?;
    match url.scheme() {
        "http" | "https" => parse_web(FIELD, url),
        other => Err(FieldError::new(
            FIELD,
            format!("scheme '{other}' is not allowed: use http or https"),
        )),
    }
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
            link_url(" HTTP://Example.COM/a?b=c#d ").unwrap(),
            "http://example.com/a?b=c#d"
        );
        assert!(link_url("mailto:jane@example.com").is_ok());
        assert!(link_url("tel:+1-555-123-4567").is_ok());
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
        ] {
            let e = link_url(bad).expect_err(bad);
            assert_eq!(e.field, "url", "{bad:?}");
        }
    }

    #[test]
    fn avatars_are_web_images_only() {
        assert!(avatar_url("https://cdn.example.com/a.png").is_ok());
        for bad in [
            "mailto:a@b.c",
            "data:image/png;base64,AAAA",
            "javascript:x",
            "",
        ] {
            assert_eq!(avatar_url(bad).unwrap_err().field, "avatarUrl");
        }
    }

    #[test]
    fn refuses_oversized_before_and_after_normalizing() {
        let long = format!("https://example.com/{}", "a".repeat(URL_MAX));
        assert!(link_url(&long).unwrap_err().message.contains("at most"));
        // found by schemathesis: 2,048 bytes in, 2,056 out
        let grows = format!("http://0?{}", "0".repeat(URL_MAX - 9));
        assert_eq!(grows.len(), URL_MAX);
        assert!(
            link_url(&grows)
                .unwrap_err()
                .message
                .contains("once normalized")
        );
        assert!(avatar_url(&grows).is_err());
    }

    proptest! {
        #[test]
        fn whatever_is_accepted_has_an_allowed_scheme(s in "\\PC{0,64}", scheme in "(https?|mailto|tel|javascript|data|JAVASCRIPT):") {
            let input = format!("{scheme}{s}");
            if let Ok(u) = link_url(&input) {
                prop_assert!(["http:", "https:", "mailto:", "tel:"].iter().any(|p| u.starts_with(p)), "{}", u);
            }
            if let Ok(u) = avatar_url(&s) {
                prop_assert!(u.starts_with("http:") || u.starts_with("https:"));
                prop_assert!(u.len() <= URL_MAX);
            }
        }
    }
}
