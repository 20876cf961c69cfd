//! What an API key may do. A key holds a set of scopes; each admin route requires one.
//! Must not: know roles or accounts (the access table maps roles to scopes).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    ProfileRead,
    ProfileWrite,
    LinksWrite,
    CacheWrite,
    AnalyticsRead,
    /// Manage webhook subscriptions (and read their deliveries).
    WebhooksWrite,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Self::ProfileRead,
        Self::ProfileWrite,
        Self::LinksWrite,
        Self::CacheWrite,
        Self::AnalyticsRead,
        Self::WebhooksWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProfileRead => "profile:read",
            Self::ProfileWrite => "profile:write",
            Self::LinksWrite => "links:write",
            Self::CacheWrite => "cache:write",
            Self::AnalyticsRead => "analytics:read",
            Self::WebhooksWrite => "webhooks:write",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|sc| sc.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown scope '{s}' (known: {})", known.join(", "))
            })
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, written as a comma- or space-separated list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Self {
        Self::ALL_BITS
    }
    const ALL_BITS: Scopes = Scopes(0b11_1111);

    pub fn parse(list: &str) -> Result<Self, String> {
        let mut set = Self::default();
        for s in list
            .split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            set.0 |= Scope::parse(s)?.bit();
        }
        if set.0 == 0 {
            return Err("at least one scope is needed".into());
        }
        Ok(set)
    }

    pub fn contains(self, s: Scope) -> bool {
        self.0 & s.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Vec<&str> = self.iter().map(Scope::as_str).collect();
        f.write_str(&v.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_round_trips() {
        let s = Scopes::parse("profile:read, links:write").unwrap();
        assert!(s.contains(Scope::ProfileRead) && s.contains(Scope::LinksWrite));
        assert!(!s.contains(Scope::ProfileWrite));
        assert_eq!(Scopes::parse(&s.to_string()).unwrap(), s);
        assert_eq!(Scopes::all().iter().count(), 6);
    }

    #[test]
    fn refuses_unknown_and_empty() {
        assert!(
            Scopes::parse("profile:read,root")
                .unwrap_err()
                .contains("unknown scope 'root'")
        );
        assert!(Scopes::parse(" , ").is_err());
    }
}
