//! How a page looks: a preset palette, an optional accent colour and a button style.
//!
//! Only closed sets and `#rrggbb` colours are accepted, so whatever a theme holds can go into a
//! stylesheet as it is.
//!
//! Every preset, with every button style, reaches WCAG 2.2 AA: text 4.5:1 against what it is
//! written on, and the non-text indicators (an outline button's border, the focus ring, both in
//! the accent colour) 3:1 against the page (SC 1.4.11). An accent colour that cannot reach 3:1
//! against its preset's background is refused at save (`Theme::check`); one stored before that
//! rule renders with the preset's own accent (`Theme::accent`), so no page breaks.
//! Must not: take free-form CSS, or a colour other than `#rrggbb`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ThemePreset {
    #[default]
    Light,
    Dark,
    Midnight,
    Forest,
    Sunset,
    Ocean,
}

/// The shape of the link buttons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ButtonStyle {
    #[default]
    Rounded,
    Pill,
    Square,
    Outline,
}

/// A colour written `#rrggbb` (stored in lowercase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^#[0-9a-fA-F]{6}$", example = "#d9480f")]
pub struct Color(String);

impl Color {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The contrast ratio of two `#rrggbb` colours (WCAG 2.2's definition: relative luminance, from
/// 1:1 to 21:1).
pub fn contrast(a: &str, b: &str) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la >= lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

fn luminance(hex: &str) -> f64 {
    let channel = |i: usize| {
        let v = hex
            .get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
        let c = f64::from(v) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
}

/// WCAG 2.2 AA for text (SC 1.4.3).
pub const TEXT_CONTRAST: f64 = 4.5;
/// WCAG 2.2 AA for the indicators of a control and its state (SC 1.4.11).
pub const NON_TEXT_CONTRAST: f64 = 3.0;

impl TryFrom<String> for Color {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok =
            s.len() == 7 && s.starts_with('#') && s.bytes().skip(1).all(|b| b.is_ascii_hexdigit());
        if ok {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err("must be a colour written #rrggbb".into())
        }
    }
}

impl From<Color> for String {
    fn from(c: Color) -> String {
        c.0
    }
}

/// How a page looks.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Theme {
    #[serde(default)]
    pub preset: ThemePreset,
    /// Draws the buttons' borders, the avatar's ring and the focus ring: it must reach 3:1
    /// against the preset's background (WCAG 2.2 SC 1.4.11), or the save is refused with 422.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<Color>,
    #[serde(default)]
    pub button_style: ButtonStyle,
}

impl ThemePreset {
    pub const ALL: [Self; 6] = [
        Self::Light,
        Self::Dark,
        Self::Midnight,
        Self::Forest,
        Self::Sunset,
        Self::Ocean,
    ];

    /// (background, text, button background, button text, muted text). The text colour is also
    /// the preset's own accent.
    pub fn palette(self) -> [&'static str; 5] {
        match self {
            Self::Light => ["#f6f7f9", "#14171a", "#ffffff", "#14171a", "#5b6470"],
            Self::Dark => ["#15171c", "#f2f4f7", "#242833", "#f2f4f7", "#a3acb9"],
            Self::Midnight => ["#0b1026", "#e8ecff", "#1d2650", "#e8ecff", "#9aa5d6"],
            Self::Forest => ["#0f2a1d", "#eaf6ee", "#1d4a33", "#eaf6ee", "#a7cdb5"],
            // white on #ff7a59 was 2.57:1; #c0462a keeps the colour and reaches 5.06:1
            Self::Sunset => ["#fff1e6", "#3b1d14", "#c0462a", "#ffffff", "#7a4a3a"],
            Self::Ocean => ["#e6f4fb", "#0b2b3d", "#0f6e99", "#ffffff", "#3f6578"],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Dark => "dark",
            Self::Midnight => "midnight",
            Self::Forest => "forest",
            Self::Sunset => "sunset",
            Self::Ocean => "ocean",
        }
    }
}

impl ButtonStyle {
    pub const ALL: [Self; 4] = [Self::Rounded, Self::Pill, Self::Square, Self::Outline];

    /// Its name, as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rounded => "rounded",
            Self::Pill => "pill",
            Self::Square => "square",
            Self::Outline => "outline",
        }
    }
}

impl Theme {
    /// Refuses an accent colour that cannot be seen as a border and a focus ring on the preset's
    /// background (less than 3:1), naming the field and the ratio.
    pub fn check(&self) -> Result<(), crate::error::FieldError> {
        let Some(accent) = &self.accent_color else {
            return Ok(());
        };
        let bg = self.preset.palette()[0];
        let ratio = contrast(accent.as_str(), bg);
        if ratio >= NON_TEXT_CONTRAST {
            return Ok(());
        }
        Err(crate::error::FieldError::new(
            "theme.accentColor",
            format!(
                "{} has a contrast of {:.2}:1 against the {} background {bg}; the accent draws \
                 the buttons' borders and the focus ring, which need at least 3:1 (WCAG 2.2, \
                 SC 1.4.11): choose a {} colour",
                accent.as_str(),
                (ratio * 100.0).floor() / 100.0,
                self.preset.as_str(),
                if luminance(bg) > 0.18 {
                    "darker"
                } else {
                    "lighter"
                },
            ),
        ))
    }

    /// The accent a page is drawn with: the chosen one, or the preset's own when none is chosen
    /// or the chosen one does not reach 3:1 (a theme stored before the rule).
    pub fn accent(&self) -> &str {
        let palette = self.preset.palette();
        match &self.accent_color {
            Some(c) if contrast(c.as_str(), palette[0]) >= NON_TEXT_CONTRAST => c.as_str(),
            _ => palette[1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_defaults_and_colours() {
        let t: Theme = serde_json::from_str("{}").unwrap();
        assert_eq!(t, Theme::default());
        let t: Theme = serde_json::from_str(
            r##"{"preset":"dark","accentColor":"#FFAA00","buttonStyle":"pill"}"##,
        )
        .unwrap();
        assert_eq!(t.accent_color.unwrap().as_str(), "#ffaa00");
    }

    /// Every preset with every button style: each text on what it is written on, and each
    /// indicator on what it sits on. The page's stylesheet (`render.rs`, `page.css`) draws with
    /// exactly these pairs.
    #[test]
    fn every_preset_and_button_style_reaches_wcag_aa() {
        let mut failures = Vec::new();
        for preset in ThemePreset::ALL {
            let [bg, fg, btn, btn_fg, muted] = preset.palette();
            for style in ButtonStyle::ALL {
                let theme = Theme {
                    preset,
                    accent_color: None,
                    button_style: style,
                };
                let accent = theme.accent();
                let (button_text, button_bg) = if style == ButtonStyle::Outline {
                    (fg, bg)
                } else {
                    (btn_fg, btn)
                };
                let pairs = [
                    ("button text", button_text, button_bg, TEXT_CONTRAST),
                    ("name and bio", fg, bg, TEXT_CONTRAST),
                    ("handle", muted, bg, TEXT_CONTRAST),
                    ("footer link", muted, bg, TEXT_CONTRAST),
                    ("empty note", muted, bg, TEXT_CONTRAST),
                    ("focus ring", accent, bg, NON_TEXT_CONTRAST),
                    ("button border", accent, bg, NON_TEXT_CONTRAST),
                ];
                for (what, a, b, min) in pairs {
                    let r = contrast(a, b);
                    if r < min {
                        failures.push(format!("{preset:?}/{style:?} {what}: {a} on {b} {r:.2}:1"));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn contrast_is_wcag_s_ratio() {
        assert!((contrast("#000000", "#ffffff") - 21.0).abs() < 1e-9);
        assert!((contrast("#777777", "#777777") - 1.0).abs() < 1e-9);
        // the ratio the issue measured on the old sunset buttons
        assert!((contrast("#ffffff", "#ff7a59") - 2.57).abs() < 0.01);
    }

    #[test]
    fn a_faint_accent_is_refused_naming_the_ratio_and_a_stored_one_falls_back() {
        let theme: Theme =
            serde_json::from_str(r##"{"preset":"sunset","accentColor":"#ffd0b0"}"##).unwrap();
        let err = theme.check().unwrap_err();
        assert_eq!(err.field, "theme.accentColor");
        assert!(err.message.contains(":1"), "{}", err.message);
        assert!(err.message.contains("darker"), "{}", err.message);
        assert_eq!(
            theme.accent(),
            "#3b1d14",
            "a stored faint accent renders as the preset's"
        );
        let dark: Theme =
            serde_json::from_str(r##"{"preset":"midnight","accentColor":"#202040"}"##).unwrap();
        assert!(dark.check().unwrap_err().message.contains("lighter"));
        let fine: Theme =
            serde_json::from_str(r##"{"preset":"dark","accentColor":"#ffaa00"}"##).unwrap();
        assert!(fine.check().is_ok());
        assert_eq!(fine.accent(), "#ffaa00");
        assert!(Theme::default().check().is_ok());
    }

    #[test]
    fn refuses_anything_that_could_escape_a_stylesheet() {
        for bad in [
            r#"{"accentColor":"red;}body{display:none"}"#,
            r##"{"accentColor":"#12345"}"##,
            r##"{"accentColor":"#12345g"}"##,
            r#"{"preset":"neon"}"#,
            r#"{"buttonStyle":"</style>"}"#,
            r#"{"font":"x"}"#,
        ] {
            assert!(serde_json::from_str::<Theme>(bad).is_err(), "{bad}");
        }
    }
}
