//! How a page looks: a preset palette, an optional accent colour and a button style.
//!
//! Only closed sets and `#rrggbb` colours are accepted, so whatever a theme holds can go into a
//! stylesheet as it is.

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
#[schema(value_type = String, pattern = "^#[0-9a-fA-F]{6}$", example = "#ff8800")]
pub struct Color(String);

impl Color {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<Color>,
    #[serde(default)]
    pub button_style: ButtonStyle,
}

impl ThemePreset {
    /// (background, text, button background, button text, muted text)
    pub fn palette(self) -> [&'static str; 5] {
        match self {
            Self::Light => ["#f6f7f9", "#14171a", "#ffffff", "#14171a", "#5b6470"],
            Self::Dark => ["#15171c", "#f2f4f7", "#242833", "#f2f4f7", "#a3acb9"],
            Self::Midnight => ["#0b1026", "#e8ecff", "#1d2650", "#e8ecff", "#9aa5d6"],
            Self::Forest => ["#0f2a1d", "#eaf6ee", "#1d4a33", "#eaf6ee", "#a7cdb5"],
            Self::Sunset => ["#fff1e6", "#3b1d14", "#ff7a59", "#ffffff", "#7a4a3a"],
            Self::Ocean => ["#e6f4fb", "#0b2b3d", "#0f6e99", "#ffffff", "#3f6578"],
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
