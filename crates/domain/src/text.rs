//! Free text a profile shows: display names, bios and link titles.
//!
//! Text is trimmed, measured in characters, and may not hold control characters (a bio may hold
//! line breaks) nor the bidirectional overrides used to disguise text. Escaping is the renderer's
//! job; this module only decides what is acceptable to keep.

use crate::error::FieldError;

pub const DISPLAY_NAME_MAX: usize = 80;
pub const BIO_MAX: usize = 280;
pub const TITLE_MAX: usize = 100;

/// Characters that reorder text on screen (U+202A..U+202E, U+2066..U+2069): refused everywhere.
fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn check(
    field: &str,
    raw: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<String, FieldError> {
    let normalized;
    let s = if multiline && raw.contains('\r') {
        normalized = raw.replace("\r\n", "\n");
        normalized.trim()
    } else {
        raw.trim()
    };
    if let Some(c) = s
        .chars()
        .find(|&c| (c.is_control() && !(multiline && c == '\n')) || is_bidi_override(c))
    {
        return Err(FieldError::new(
            field,
            format!("may not contain the control character U+{:04X}", c as u32),
        ));
    }
    let n = s.chars().count();
    if n < min {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if n > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters (got {n})"),
        ));
    }
    Ok(s.to_owned())
}

/// A display name: 1 to 80 characters, one line.
pub fn display_name(raw: &str) -> Result<String, FieldError> {
    check("displayName", raw, 1, DISPLAY_NAME_MAX, false)
}

/// A bio: up to 280 characters; line breaks allowed.
pub fn bio(raw: &str) -> Result<String, FieldError> {
    check("bio", raw, 0, BIO_MAX, true)
}

/// A link title: 1 to 100 characters, one line.
pub fn link_title(raw: &str) -> Result<String, FieldError> {
    check("title", raw, 1, TITLE_MAX, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trims_and_measures_in_characters() {
        assert_eq!(display_name("  Jane Doe ").unwrap(), "Jane Doe");
        assert!(display_name(&"é".repeat(80)).is_ok());
        let e = display_name(&"é".repeat(81)).unwrap_err();
        assert_eq!(e.field, "displayName");
        assert!(e.message.contains("at most 80"));
        assert_eq!(
            display_name("   ").unwrap_err().message,
            "must not be empty"
        );
    }

    #[test]
    fn bios_keep_line_breaks_other_text_does_not() {
        assert_eq!(bio("line one\r\nline two").unwrap(), "line one\nline two");
        assert!(bio("").is_ok());
        assert!(link_title("a\nb").is_err());
        assert!(display_name("a\tb").is_err());
    }

    #[test]
    fn refuses_controls_and_bidi_overrides() {
        for bad in [
            "a\0b",
            "a\u{7}b",
            "evil\u{202E}txt.exe",
            "x\u{2066}y",
            "a\u{85}b",
        ] {
            assert!(link_title(bad).is_err(), "{bad:?}");
            assert!(bio(bad).is_err(), "{bad:?}");
        }
        // markup is not a control character: it is kept here and escaped when rendered
        assert_eq!(
            link_title("<script>alert(1)</script>").unwrap(),
            "<script>alert(1)</script>"
        );
    }

    proptest! {
        #[test]
        fn never_panics_and_output_obeys_limits(s in "\\PC{0,300}") {
            if let Ok(t) = link_title(&s) {
                prop_assert!(!t.is_empty() && t.chars().count() <= TITLE_MAX);
                prop_assert!(!t.chars().any(char::is_control));
            }
            if let Ok(b) = bio(&s) {
                prop_assert!(b.chars().count() <= BIO_MAX);
            }
        }
    }
}
