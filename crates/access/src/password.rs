//! Passwords, kept as Argon2id hashes (PHC strings, the `argon2` crate's defaults: 19 MiB, two
//! passes, one lane, as OWASP advises). An email with no account costs the same work as one
//! with an account (`verify` against a dummy hash), so the answer's timing does not tell them
//! apart; `work_done` counts the hashes computed, for tests to assert on the work rather than on
//! the clock.
//! Must not: keep or log a password, or answer an unknown account faster than a known one.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

static WORK: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static WORK_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many Argon2 computations this process has made (hashes and verifications).
pub fn work_done() -> u64 {
    WORK.load(Ordering::Relaxed)
}

/// How many this thread has made (tests running side by side in one process each count their
/// own).
pub fn work_done_here() -> u64 {
    WORK_HERE.with(|w| w.get())
}

fn count() {
    WORK.fetch_add(1, Ordering::Relaxed);
    WORK_HERE.with(|w| w.set(w.get() + 1));
}

/// The PHC string of `password`, under a fresh random salt.
pub fn hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    count();
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A hash of nothing anyone knows: what an unknown account's password is checked against.
static DUMMY: LazyLock<String> = LazyLock::new(|| {
    let mut secret = [0u8; 24];
    let _ = getrandom::fill(&mut secret);
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    // made once per process, whoever asks first; its work is not the caller's
    let mut salt = [0u8; 16];
    let _ = getrandom::fill(&mut salt);
    SaltString::encode_b64(&salt)
        .ok()
        .and_then(|salt| {
            Argon2::default()
                .hash_password(secret.as_bytes(), &salt)
                .ok()
                .map(|h| h.to_string())
        })
        .unwrap_or_default()
});

/// Whether `password` is the one `stored` was made from. With no stored hash (no such account,
/// or one that signs in with passkeys only) the same work is done against a dummy, and the
/// answer is no.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (DUMMY.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        // an unreadable stored hash: the same work, and no
        let dummy = PasswordHash::new(DUMMY.as_str());
        count();
        if let Ok(d) = dummy {
            let _ = Argon2::default().verify_password(password.as_bytes(), &d);
        }
        return false;
    };
    count();
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_is_argon2id() {
        let h = hash("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse battery staple", Some(&h)));
        assert!(!verify("correct horse battery stapler", Some(&h)));
        assert_ne!(h, hash("correct horse battery staple").unwrap(), "salted");
    }

    #[test]
    fn an_unknown_account_costs_the_same_work() {
        let h = hash("a password of some length").unwrap();
        let _ = &*DUMMY;
        let before = work_done_here();
        assert!(!verify("a password of some length", None));
        let unknown = work_done_here() - before;
        let before = work_done_here();
        assert!(!verify("another password entirely", Some(&h)));
        let known = work_done_here() - before;
        assert_eq!((unknown, known), (1, 1));
        let before = work_done_here();
        assert!(!verify("x", Some("not a phc string")));
        assert_eq!(work_done_here() - before, 1);
    }
}
