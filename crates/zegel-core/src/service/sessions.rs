//! The sender web app's sessions: server-side, behind the cookie `zegel_sender` (a random
//! 256-bit token; only its SHA-256 is stored). A session ends after 30 minutes without a
//! request and 12 hours after sign-in, whichever comes first; sign-out ends it, a password
//! change or an account reset ends the user's others.
//!
//! Each session has its own CSRF token, derived from the cookie value with a one-way hash
//! (so the page can carry it and nothing can be learnt from it about the cookie).

use super::Zegel;
use crate::error::Result;
use crate::model::{Principal, Ts};
use crate::store::SessionLimits;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The limits of every sender session: idle 30 minutes, at most 12 hours.
pub const SENDER_SESSION_LIMITS: SessionLimits = SessionLimits {
    idle_ms: 30 * 60_000,
    max_ms: 12 * 3_600_000,
};

/// A live sender session.
#[derive(Debug, Clone)]
pub struct SenderSession {
    /// The signed-in user, with organisation and policy.
    pub principal: Principal,
    /// When the user signed in.
    pub started_at: Ts,
    /// The session's CSRF token (every signed-in form repeats it).
    pub csrf: String,
    /// SHA-256 of the cookie value (to end this session, or to keep it when ending others).
    pub token_hash: [u8; 32],
}

/// The CSRF token of the session behind `token`.
fn csrf_of(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"zegel sender csrf\0");
    h.update(token.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

impl Zegel {
    /// Starts a session for `user_id` (after a complete sign-in); returns the cookie value.
    pub async fn start_sender_session(&self, user_id: &str) -> Result<String> {
        let token = zegel_crypto::random_token();
        self.store
            .create_sender_session(&zegel_crypto::token_hash(&token), user_id, Ts::now())
            .await?;
        Ok(token)
    }

    /// The live session behind a cookie value, if any (an unknown, idle or too old one is
    /// `None`; lookups are by hash, so timing does not tell them apart).
    pub async fn sender_session(&self, token: &str) -> Result<Option<SenderSession>> {
        let token_hash = zegel_crypto::token_hash(token);
        let found = self
            .store
            .sender_session(&token_hash, Ts::now(), SENDER_SESSION_LIMITS)
            .await?;
        Ok(found.map(|(principal, started_at)| SenderSession {
            principal,
            started_at,
            csrf: csrf_of(token),
            token_hash,
        }))
    }

    /// Ends the session behind a cookie value (sign-out). Returns whether it was live.
    pub async fn end_sender_session(&self, token: &str) -> Result<bool> {
        Ok(self
            .store
            .end_sender_session(&zegel_crypto::token_hash(token))
            .await?)
    }

    /// Ends every session of a user but `keep` (a password change keeps the session that
    /// made it; a reset keeps none). Returns how many ended.
    pub async fn end_user_sender_sessions(
        &self,
        user_id: &str,
        keep: Option<&[u8; 32]>,
    ) -> Result<u64> {
        Ok(self.store.end_user_sender_sessions(user_id, keep).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_per_session_and_not_the_cookie() {
        let a = zegel_crypto::random_token();
        let b = zegel_crypto::random_token();
        assert_eq!(csrf_of(&a), csrf_of(&a));
        assert_ne!(csrf_of(&a), csrf_of(&b));
        assert_ne!(csrf_of(&a), a);
        assert_eq!(csrf_of(&a).len(), 43);
    }
}
