//! A value that must not be printed (a password in a URL, a key, a signing secret): `Debug`
//! says `[redacted]`, and the value is read only by asking for it (`expose`), in the crate that
//! uses it. Must not: implement `Display` or `Serialize`.

use serde::Deserialize;

/// A value that must not be printed.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The value itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_not_printed() {
        let s = Secret::new("amqp://u:hunter2@mq/");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(s.expose(), "amqp://u:hunter2@mq/");
    }
}
