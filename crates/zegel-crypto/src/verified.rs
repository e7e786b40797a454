//! Passwords verified a short while ago, so that a system that logs in again and again (an
//! EHR that opens an SMTP session for each letter, a mail client's parallel connections) does
//! not cost an Argon2id verification (about 20-40 ms of CPU and 19 MiB) every time. Dovecot's
//! authentication cache does the same for IMAP and SMTP logins.
//!
//! What is kept is never the password: only HMAC-SHA-256 tags, under a key made at random
//! when the process starts (and never stored), of the account, its current PHC string and the
//! password that matched it. So:
//! - a wrong password is never remembered and always costs the full verification;
//! - a new password (a new PHC string) or a revoked credential (no PHC string to pass in)
//!   never matches a remembered tag;
//! - a remembered tag expires after its time to live, and the set has a maximum size.

use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

use crate::secrets::verify_password;

/// A set of recently verified (account, PHC string, password) triples, by keyed tag.
pub struct VerifiedPasswords {
    key: Zeroizing<[u8; 32]>,
    ttl: Duration,
    max: usize,
    seen: Mutex<HashMap<[u8; 32], Instant>>,
    hashed: AtomicU64,
}

impl std::fmt::Debug for VerifiedPasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedPasswords")
            .field("ttl", &self.ttl)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl VerifiedPasswords {
    /// An empty set whose tags live `ttl` and of which at most `max` are kept.
    pub fn new(ttl: Duration, max: usize) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut());
        Self {
            key,
            ttl,
            max: max.max(1),
            seen: Mutex::new(HashMap::new()),
            hashed: AtomicU64::new(0),
        }
    }

    /// Whether `password` is the password of `account`, whose stored hash is `phc`: true at
    /// once when the same triple was verified within the time to live, else the result of the
    /// Argon2id verification (blocking: call it off the async threads), remembered when true.
    pub fn verify(&self, account: &str, phc: &str, password: &str) -> bool {
        let tag = self.tag(account, phc, password);
        let now = Instant::now();
        if let Some(tag) = &tag {
            let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get(tag).is_some_and(|until| *until > now) {
                return true;
            }
        }
        self.hashed.fetch_add(1, Ordering::Relaxed);
        if !verify_password(password, phc) {
            return false;
        }
        if let Some(tag) = tag {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.len() >= self.max {
                seen.retain(|_, until| *until > now);
                if seen.len() >= self.max {
                    seen.clear();
                }
            }
            seen.insert(tag, now + self.ttl);
        }
        true
    }

    /// HMAC-SHA-256 of the three values, each preceded by its length (no two triples give
    /// the same input). HMAC takes a key of any length, so there is always one; were there
    /// none, nothing would be remembered.
    fn tag(&self, account: &str, phc: &str, password: &str) -> Option<[u8; 32]> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_ref()).ok()?;
        for part in [account, phc, password] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        Some(mac.finalize().into_bytes().into())
    }

    /// How many Argon2id verifications [`VerifiedPasswords::verify`] has run.
    pub fn verifications(&self) -> u64 {
        self.hashed.load(Ordering::Relaxed)
    }

    /// How many tags are kept (expired ones included until the set is full).
    pub fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no tag is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::hash_password;

    #[test]
    fn a_verified_password_is_remembered_and_a_wrong_one_never() {
        let phc = hash_password("juist wachtwoord").unwrap();
        let v = VerifiedPasswords::new(Duration::from_secs(60), 10);
        assert!(!v.verify("acc", &phc, "fout"));
        assert!(v.is_empty(), "a wrong password is not remembered");
        assert!(v.verify("acc", &phc, "juist wachtwoord"));
        assert_eq!(v.len(), 1);
        assert_eq!(v.verifications(), 2);
        // Remembered: the same triple matches without a verification.
        assert!(v.verify("acc", &phc, "juist wachtwoord"));
        assert!(v.verify("acc", &phc, "juist wachtwoord"));
        assert_eq!(v.verifications(), 2);
        // Anything else is verified.
        assert!(!v.verify("acc", &phc, "fout"));
        assert!(!v.verify("acc", &phc, "juist wachtwoord "));
        assert_eq!(v.verifications(), 4);
    }

    #[test]
    fn a_new_hash_or_another_account_does_not_match_a_remembered_tag() {
        let old = hash_password("pw").unwrap();
        let new = hash_password("pw2").unwrap();
        let v = VerifiedPasswords::new(Duration::from_secs(60), 10);
        assert!(v.verify("acc", &old, "pw"));
        // The password was changed: the old one no longer opens the account.
        assert!(!v.verify("acc", &new, "pw"));
        // Another account with the same hash string is verified on its own.
        assert!(!v.verify("other", "not a phc string", "pw"));
        assert!(v.verify("other", &old, "pw"));
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn tags_expire_and_the_set_stays_bounded() {
        let phc = hash_password("pw").unwrap();
        let v = VerifiedPasswords::new(Duration::from_millis(1), 2);
        assert!(v.verify("a", &phc, "pw"));
        std::thread::sleep(Duration::from_millis(5));
        // Expired: verified again.
        assert!(v.verify("a", &phc, "pw"));
        assert_eq!(v.verifications(), 2);
        assert!(v.verify("b", &phc, "pw"));
        assert!(v.verify("c", &phc, "pw"));
        assert!(v.len() <= 2, "{}", v.len());
    }
}
