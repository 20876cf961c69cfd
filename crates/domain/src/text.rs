//! Free text a profile shows: display names, bios and link titles.
//!
//! What is accepted is written once, as a regular expression per kind of text
//! (`DISPLAY_NAME_PATTERN`, `TITLE_PATTERN`, `BIO_PATTERN`) that the API description publishes
//! and this module enforces, so a client (or a fuzzer) reading the description knows exactly what
//! will be accepted. The rules behind them:
//! - no control characters (a bio may hold line breaks, `\n` or `\r\n`);
//! - no invisible format characters (Unicode category Cf: soft hyphen, zero-width space, word
//!   joiner, BOM, bidirectional controls, tag characters...), nor the blank "fillers" that render
//!   as nothing (Hangul fillers, braille blank, Khmer inherent vowels, Mongolian variation
//!   selectors), nor the line and paragraph separators;
//! - except what scripts need: a zero-width joiner or non-joiner (U+200D, U+200C) between two
//!   visible characters, as in emoji sequences (👨‍👩‍👧) and Persian words;
//! - at most 4 combining marks (diacritics, variation selectors) after a character, which is
//!   plenty for any language and stops "Zalgo" text from spilling over the page;
//! - at least one visible character (a bio may be empty).
//!
//! Lengths count characters as written (before trimming), as JSON Schema's `maxLength` does.
//! What is kept is trimmed; a bio's `\r\n` becomes `\n`. Escaping is the renderer's job; this
//! module only decides what is acceptable to keep.
//! Must not: escape (the renderer does), or accept what its published pattern would refuse.

use crate::error::FieldError;
use regex::Regex;
use std::sync::LazyLock;

pub const DISPLAY_NAME_MAX: usize = 80;
pub const BIO_MAX: usize = 280;
pub const TITLE_MAX: usize = 100;
/// Combining marks allowed in a row after one character.
pub const MARKS_MAX: usize = 4;

/// Controls (Cc), line and paragraph separators, format characters (Cf, but the two joiners),
/// and characters that render as nothing.
macro_rules! never {
    () => {
        concat!(
            r"\x00-\x1f\x7f-\x9f\u2028\u2029",
            r"\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e",
            r"\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb",
            "\u{110BD}\u{110CD}\u{13430}-\u{1343F}\u{1BCA0}-\u{1BCA3}\u{1D173}-\u{1D17A}",
            "\u{E0001}\u{E0020}-\u{E007F}",
            r"\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\uffa0",
        )
    };
}
/// Space separators (Zs): allowed between visible characters and trimmed at the ends.
macro_rules! spaces {
    () => {
        r" \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
    };
}
/// Combining marks that attach to the character before them: the combining diacritical blocks,
/// the variation selectors, and the marks that stack in Cyrillic (including the enclosing
/// U+0488/U+0489), Hebrew, Arabic, Thai and Lao, the scripts "Zalgo" text is built from
/// besides the Latin diacritics. Indic vowel signs are left out: they are letters' parts, never
/// more than a few in a row.
macro_rules! marks {
    () => {
        concat!(
            r"\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f",
            r"\u0483-\u0489\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7\u0610-\u061a",
            r"\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed",
            r"\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u0eb1\u0eb4-\u0ebc\u0ec8-\u0ece",
            "\u{E0100}-\u{E01EF}"
        )
    };
}
/// The two joiners, allowed only between two visible characters.
macro_rules! joiners {
    () => {
        r"\u200c\u200d"
    };
}
/// One visible character and the marks on it.
macro_rules! unit {
    () => {
        concat!(
            "[^",
            never!(),
            spaces!(),
            marks!(),
            joiners!(),
            "][",
            marks!(),
            "]{0,4}"
        )
    };
}
/// One line: spaces, then visible characters joined by spaces or a joiner, then spaces.
macro_rules! line {
    () => {
        concat!(
            "[",
            spaces!(),
            "]*",
            unit!(),
            "(?:[",
            spaces!(),
            "]*",
            unit!(),
            "|[",
            joiners!(),
            "]",
            unit!(),
            ")*[",
            spaces!(),
            "]*"
        )
    };
}

/// A display name or link title: one line with something visible in it.
pub const DISPLAY_NAME_PATTERN: &str = concat!("^", line!(), "$");
pub const TITLE_PATTERN: &str = DISPLAY_NAME_PATTERN;
/// A bio: empty, or lines with something visible in them.
pub const BIO_PATTERN: &str = concat!(
    "^(?:[",
    spaces!(),
    "]|\\r?\\n)*(?:",
    unit!(),
    "(?:(?:[",
    spaces!(),
    "]|\\r?\\n)*",
    unit!(),
    "|[",
    joiners!(),
    "]",
    unit!(),
    ")*(?:[",
    spaces!(),
    "]|\\r?\\n)*)?$"
);

static ONE_LINE: LazyLock<Regex> = LazyLock::new(|| compile(DISPLAY_NAME_PATTERN));
static MULTI_LINE: LazyLock<Regex> = LazyLock::new(|| compile(BIO_PATTERN));

fn compile(p: &str) -> Regex {
    Regex::new(p).expect("the text patterns are valid")
}

fn is_never(c: char) -> bool {
    let u = c as u32;
    c.is_control()
        || matches!(
            u,
            0x2028 | 0x2029 | 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x890 | 0x891 | 0x8e2
                | 0x180e | 0x200b | 0x200e | 0x200f | 0x202a..=0x202e | 0x2060..=0x2064
                | 0x2066..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0x110bd | 0x110cd
                | 0x13430..=0x1343f | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a | 0xe0001
                | 0xe0020..=0xe007f | 0x115f | 0x1160 | 0x17b4 | 0x17b5 | 0x180b..=0x180f
                | 0x2800 | 0x3164 | 0xffa0
        )
}

fn is_space(c: char) -> bool {
    matches!(
        c as u32,
        0x20 | 0xa0 | 0x1680 | 0x2000..=0x200a | 0x202f | 0x205f | 0x3000
    )
}

fn is_mark(c: char) -> bool {
    matches!(c as u32, 0x300..=0x36f | 0x1ab0..=0x1aff | 0x1dc0..=0x1dff | 0x20d0..=0x20ff
        | 0xfe00..=0xfe0f | 0xfe20..=0xfe2f | 0xe0100..=0xe01ef
        | 0x483..=0x489 | 0x591..=0x5bd | 0x5bf | 0x5c1 | 0x5c2 | 0x5c4 | 0x5c5 | 0x5c7
        | 0x610..=0x61a | 0x64b..=0x65f | 0x670 | 0x6d6..=0x6dc | 0x6df..=0x6e4 | 0x6e7 | 0x6e8
        | 0x6ea..=0x6ed | 0xe31 | 0xe34..=0xe3a | 0xe47..=0xe4e | 0xeb1 | 0xeb4..=0xebc
        | 0xec8..=0xece)
}

fn is_joiner(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}')
}

fn is_visible(c: char) -> bool {
    !(is_never(c) || is_space(c) || is_mark(c) || is_joiner(c))
}

/// Why a text the pattern refused was refused, in words for the person who wrote it.
fn diagnose(s: &str, multiline: bool) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut run = 0;
    for (i, &c) in chars.iter().enumerate() {
        let newline = c == '\n' || (c == '\r' && chars.get(i + 1) == Some(&'\n'));
        if multiline && newline {
            run = 0;
            continue;
        }
        if c.is_control() {
            return format!("may not contain the control character U+{:04X}", c as u32);
        }
        if is_never(c) {
            return format!("may not contain the invisible character U+{:04X}", c as u32);
        }
        if is_joiner(c) {
            let before = i > 0 && (is_visible(chars[i - 1]) || is_mark(chars[i - 1]));
            let after = chars.get(i + 1).is_some_and(|&n| is_visible(n));
            if !(before && after) {
                return format!(
                    "U+{:04X} (a zero-width joiner) may only stand between two visible characters",
                    c as u32
                );
            }
        }
        if is_mark(c) {
            let attached = i > 0 && (is_visible(chars[i - 1]) || is_mark(chars[i - 1]));
            if !attached {
                return format!(
                    "the combining mark U+{:04X} has no character to attach to",
                    c as u32
                );
            }
            run += 1;
            if run > MARKS_MAX {
                return format!("may hold at most {MARKS_MAX} combining marks in a row");
            }
        } else {
            run = 0;
        }
    }
    if !chars.iter().any(|&c| is_visible(c)) {
        return if multiline {
            "holds only invisible characters".into()
        } else {
            "must not be empty or invisible".into()
        };
    }
    "holds characters that are not allowed here".into()
}

fn check(
    field: &str,
    raw: &str,
    max: usize,
    pattern: &Regex,
    multiline: bool,
) -> Result<String, FieldError> {
    let n = raw.chars().count();
    if n > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters (got {n})"),
        ));
    }
    if !pattern.is_match(raw) {
        return Err(FieldError::new(field, diagnose(raw, multiline)));
    }
    let kept = if multiline {
        raw.replace("\r\n", "\n")
    } else {
        raw.to_owned()
    };
    Ok(kept.trim_matches(is_space_or_newline).to_owned())
}

fn is_space_or_newline(c: char) -> bool {
    is_space(c) || c == '\n' || c == '\r'
}

/// A display name: 1 to 80 characters, one line, something visible.
pub fn display_name(raw: &str) -> Result<String, FieldError> {
    check("displayName", raw, DISPLAY_NAME_MAX, &ONE_LINE, false)
}

/// A bio: up to 280 characters; line breaks allowed; may be empty.
pub fn bio(raw: &str) -> Result<String, FieldError> {
    check("bio", raw, BIO_MAX, &MULTI_LINE, true)
}

/// A link title: 1 to 100 characters, one line, something visible.
pub fn link_title(raw: &str) -> Result<String, FieldError> {
    check("title", raw, TITLE_MAX, &ONE_LINE, false)
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
            "must not be empty or invisible"
        );
        // the limit is on what was sent, as the description's maxLength says
        assert!(display_name(&format!("a{}", " ".repeat(80))).is_err());
    }

    #[test]
    fn bios_keep_line_breaks_other_text_does_not() {
        assert_eq!(bio("line one\r\nline two").unwrap(), "line one\nline two");
        assert_eq!(bio("").unwrap(), "");
        assert_eq!(bio(" \n ").unwrap(), "");
        assert!(link_title("a\nb").is_err());
        assert!(display_name("a\tb").is_err());
        assert!(bio("a\rb").is_err(), "a lone carriage return is a control");
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

    #[test]
    fn refuses_invisible_format_characters_and_blank_text() {
        for bad in [
            "\u{200B}",                                      // zero-width space alone: a blank button
            "click\u{200B}me",                               // hidden inside a word
            "\u{FEFF}Jane",                                  // BOM
            "a\u{2060}b",                                    // word joiner
            "soft\u{AD}hyphen",                              // soft hyphen
            "tag\u{E0041}\u{E0042}",                         // tag characters
            "\u{3164}",                                      // Hangul filler
            "\u{3164}\u{3164}",                              // only fillers
            "\u{2800}",                                      // braille blank
            "\u{200D}",                                      // a joiner alone
            "a\u{200D}",                                     // a joiner at the end
            "\u{200C}a",                                     // a non-joiner at the start
            "a\u{200D}\u{200D}b",                            // two joiners
            "a \u{200D}b",                                   // a joiner after a space
            "\u{0301}",                                      // a mark with nothing to attach to
            "Z\u{0301}\u{0302}\u{0303}\u{0304}\u{0305}algo", // five marks in a row
            "Z\u{0489}\u{0489}\u{0489}\u{0489}\u{0489}",     // Cyrillic enclosing marks
            "\u{0E01}\u{0E49}\u{0E49}\u{0E49}\u{0E49}\u{0E49}", // stacked Thai tone marks
            "\u{05D0}\u{0591}\u{0592}\u{0593}\u{0594}\u{0595}", // Hebrew cantillation
            "\u{0628}\u{064B}\u{064C}\u{064D}\u{064E}\u{064F}", // Arabic harakat
        ] {
            let e = link_title(bad).expect_err(bad);
            assert_ne!(
                e.message, "holds characters that are not allowed here",
                "{bad:?}: a specific reason"
            );
            assert!(display_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keeps_what_scripts_need() {
        for ok in [
            "👨\u{200D}👩\u{200D}👧 family", // ZWJ emoji sequence
            "می\u{200C}خواهم",               // ZWNJ in Persian
            "❤\u{FE0F} love",                // emoji presentation selector
            "1\u{FE0F}\u{20E3}",             // keycap
            "Ñandú café naïve",
            "e\u{0301}\u{0302}\u{0303}\u{0304}", // four marks
            "日本語のタイトル",
            "नमस्ते",                // Devanagari with its own vowel signs
            "สวัสดี",                // Thai with its vowel and tone marks
            "שָׁלוֹם",                // Hebrew with points
            "مُحَمَّد",                // Arabic with harakat and shadda
            "🏳\u{FE0F}\u{200D}🌈", // rainbow flag
            "a\u{3000}b",          // ideographic space between words
        ] {
            assert!(link_title(ok).is_ok(), "{ok:?}: {:?}", link_title(ok));
        }
    }

    #[test]
    fn the_published_patterns_are_what_is_enforced() {
        // The description publishes these strings; Python's `re` (schemathesis) and ECMA
        // validators must read them as this crate does: no syntax beyond the common subset.
        for p in [DISPLAY_NAME_PATTERN, BIO_PATTERN] {
            assert!(!p.contains(r"\p") && !p.contains(r"\d") && !p.contains(r"\s"));
            assert!(p.starts_with('^') && p.ends_with('$'));
        }
        assert!(ONE_LINE.is_match("Jane"));
        assert!(!ONE_LINE.is_match(""));
        assert!(MULTI_LINE.is_match(""));
    }

    proptest! {
        #[test]
        fn never_panics_and_output_obeys_limits(s in "\\PC{0,300}") {
            if let Ok(t) = link_title(&s) {
                prop_assert!(!t.is_empty() && t.chars().count() <= TITLE_MAX);
                prop_assert!(!t.chars().any(char::is_control));
                prop_assert!(t.chars().any(is_visible));
            }
            if let Ok(b) = bio(&s) {
                prop_assert!(b.chars().count() <= BIO_MAX);
            }
        }

        #[test]
        fn every_refusal_has_a_specific_reason(s in "[a \u{200B}-\u{200F}\u{0300}-\u{0305}\u{3164}\u{FEFF}\u{2028}\n\r\u{7}]{0,12}") {
            for (r, multiline) in [(link_title(&s), false), (bio(&s), true)] {
                if let Err(e) = r {
                    prop_assert_ne!(e.message, "holds characters that are not allowed here", "{:?} multiline={}", s, multiline);
                }
            }
        }
    }
}
