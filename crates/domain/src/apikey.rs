//! API key tokens: `lk_<16 hex: public prefix>_<64 hex: secret>`.
//!
//! The prefix finds the key's record; only a SHA-256 digest of the whole token is stored, and it
//! is compared in constant time. A key is 256 random bits, so a fast digest is enough: there is
//! no password to stretch. Randomness comes from the caller, so this module stays pure.
//! Must not: draw randomness itself, or keep a token's secret past issuing it.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const KEY_PREFIX: &str = "lk_";
const PREFIX_HEX: usize = 16;
const SECRET_HEX: usize = 64;
const TOKEN_LEN: usize = KEY_PREFIX.len() + PREFIX_HEX + 1 + SECRET_HEX;

/// A whole API key as its holder presents it.
#[derive(Clone)]
pub struct ApiKeyToken(String);

impl std::fmt::Debug for ApiKeyToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeyToken({}…)", self.prefix())
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| {
            [
                DIGITS[(b >> 4) as usize] as char,
                DIGITS[(b & 15) as usize] as char,
            ]
        })
        .collect()
}

impl ApiKeyToken {
    /// A new token from 40 random bytes (8 for the prefix, 32 for the secret).
    pub fn generate(random: [u8; 40]) -> Self {
        Self(format!(
            "{KEY_PREFIX}{}_{}",
            hex(&random[..8]),
            hex(&random[8..])
        ))
    }

    /// A token in the expected shape, or `None`. Says nothing about whether it is valid.
    pub fn parse(raw: &str) -> Option<Self> {
        let b = raw.as_bytes();
        let shape_ok = b.len() == TOKEN_LEN
            && raw.starts_with(KEY_PREFIX)
            && b[KEY_PREFIX.len() + PREFIX_HEX] == b'_'
            && b[KEY_PREFIX.len()..KEY_PREFIX.len() + PREFIX_HEX]
                .iter()
                .chain(&b[KEY_PREFIX.len() + PREFIX_HEX + 1..])
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        shape_ok.then(|| Self(raw.to_owned()))
    }

    /// The public part that identifies the key (`lk_` and 16 hex digits).
    pub fn prefix(&self) -> &str {
        &self.0[..KEY_PREFIX.len() + PREFIX_HEX]
    }

    /// The whole token; show it once, at creation.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// Whether this token hashes to `stored`, compared in constant time.
    pub fn matches(&self, stored: &[u8]) -> bool {
        bool::from(self.digest().as_slice().ct_eq(stored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_match_only_their_digest() {
        let t = ApiKeyToken::generate([7; 40]);
        assert_eq!(t.expose().len(), TOKEN_LEN);
        let back = ApiKeyToken::parse(t.expose()).unwrap();
        assert_eq!(back.prefix(), "lk_0707070707070707");
        assert!(back.matches(&t.digest()));
        let other = ApiKeyToken::generate([8; 40]);
        assert!(!other.matches(&t.digest()));
        assert!(!t.matches(&[]), "a short stored digest never matches");
        assert!(
            !format!("{t:?}").contains(&t.expose()[20..]),
            "Debug hides the secret"
        );
    }

    #[test]
    fn refuses_malformed_tokens() {
        let good = ApiKeyToken::generate([1; 40]).expose().to_owned();
        for bad in [
            String::new(),
            "lk_".into(),
            good.to_uppercase(),
            good[..good.len() - 1].to_owned(),
            format!("{good}0"),
            good.replace("lk_", "xx_"),
            format!("{}é", &good[..good.len() - 2]),
        ] {
            assert!(ApiKeyToken::parse(&bad).is_none(), "{bad}");
        }
    }
}
