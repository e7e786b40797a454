//! TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of skew either way) as a
//! second factor: set-up with a QR code (SVG, rendered here) and the `otpauth://` URI, the
//! check of a code (each time step accepted once), removal.

use super::signin::{event, AResult, AccountError};
use super::{ClientCtx, Zegel};
use crate::error::Error;
use crate::model::{Ts, User};
use crate::signin::*;
use totp_rs::{Algorithm, TOTP};

/// Seconds per time step.
pub const TOTP_STEP_SECS: u64 = 30;

/// What the set-up page shows.
#[derive(Debug, Clone)]
pub struct TotpSetup {
    /// `otpauth://totp/Zegel:{email}?secret=...&issuer=Zegel`.
    pub uri: String,
    /// The URI as a QR code (an `<svg>` element, no XML declaration).
    pub svg: String,
}

fn aad(user_id: &str) -> String {
    format!("totp:{user_id}")
}

fn totp(secret: Vec<u8>, email: &str) -> AResult<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        TOTP_STEP_SECS,
        secret,
        Some("Zegel".into()),
        email.to_owned(),
    )
    .map_err(|e| AccountError::Core(Error::Internal(format!("totp: {e}"))))
}

/// The time step a code matches, among the current one and one on either side (constant-time
/// comparisons, all three made).
fn matching_step(t: &TOTP, code: &str, now: Ts) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let cur = (now.0.max(0) as u64 / 1000) / TOTP_STEP_SECS;
    let mut found = None;
    for step in [cur.saturating_sub(1), cur, cur + 1] {
        let expected = t.generate(step * TOTP_STEP_SECS);
        if zegel_crypto::ct_eq(expected.as_bytes(), code.as_bytes()) && found.is_none() {
            found = Some(step as i64);
        }
    }
    found
}

impl Zegel {
    fn open_totp(&self, row: &TotpRow, email: &str) -> AResult<TOTP> {
        let secret = self
            .keys
            .seal_key()
            .open(aad(&row.user_id).as_bytes(), &row.secret_sealed)
            .map_err(|e| AccountError::Core(e.into()))?;
        totp(secret, email)
    }

    /// Starts setting up TOTP: a new secret (replacing one not yet confirmed). False when TOTP
    /// is enrolled already.
    pub async fn totp_begin(&self, user: &User) -> AResult<bool> {
        let mut secret = vec![0u8; 20];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let sealed = self.keys.seal_key().seal(aad(&user.id).as_bytes(), &secret);
        Ok(self
            .store
            .totp_begin(&TotpRow {
                user_id: user.id.clone(),
                secret_sealed: sealed,
                created_at: Ts::now(),
                enabled_at: None,
                last_step: None,
            })
            .await?)
    }

    /// The TOTP being set up (URI and QR code), when there is one.
    pub async fn totp_setup(&self, user: &User) -> AResult<Option<TotpSetup>> {
        let Some(row) = self.store.totp_of(&user.id).await? else {
            return Ok(None);
        };
        if row.enabled_at.is_some() {
            return Ok(None);
        }
        let t = self.open_totp(&row, &user.email)?;
        let uri = t.get_url();
        let svg = qrcode::QrCode::new(uri.as_bytes())
            .map_err(|e| AccountError::Core(Error::Internal(format!("qr: {e}"))))?
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .build();
        let svg = match svg.find("<svg") {
            Some(i) => svg[i..].to_owned(),
            None => svg,
        };
        Ok(Some(TotpSetup { uri, svg }))
    }

    /// Confirms the TOTP being set up with its first code; then it is enrolled.
    pub async fn totp_confirm(&self, user: &User, code: &str, ctx: &ClientCtx) -> AResult<()> {
        let row = self
            .store
            .totp_of(&user.id)
            .await?
            .filter(|r| r.enabled_at.is_none())
            .ok_or(AccountError::Expired)?;
        let t = self.open_totp(&row, &user.email)?;
        let step =
            matching_step(&t, code, Ts::now()).ok_or(AccountError::WrongCode { pending: None })?;
        let ev = event(Some(&user.id), AccountEventKind::TotpAdded, ctx, None);
        if !self.store.totp_enable(&user.id, step, &ev).await? {
            return Err(AccountError::Expired);
        }
        Ok(())
    }

    /// Removes TOTP; refused when the organisation requires a second factor and TOTP is the
    /// only one.
    pub async fn totp_remove(&self, user_id: &str, ctx: &ClientCtx) -> AResult<()> {
        let account = self.account(user_id).await?;
        if account.second_factor_required && account.passkeys == 0 && account.totp_enabled {
            return Err(AccountError::SecondFactorRequired);
        }
        let ev = event(Some(user_id), AccountEventKind::TotpRemoved, ctx, None);
        self.store.totp_remove(user_id, &ev).await?;
        Ok(())
    }

    /// The second step of a sign-in with a TOTP code: the pending sign-in is used up; a wrong
    /// or replayed code counts as a failed sign-in and gives a new pending token to try again.
    pub async fn sign_in_totp(&self, pending: &str, code: &str, ctx: &ClientCtx) -> AResult<User> {
        self.check_address(ctx).await?;
        let row = self
            .take_pending(pending, CeremonyKind::SecondFactor)
            .await?;
        let user_id = row.user_id.ok_or(AccountError::Expired)?;
        let account = self.account(&user_id).await?;
        let now = Ts::now();
        if let Some(until) = account.locked_until.filter(|u| u.0 > now.0) {
            return Err(AccountError::Locked {
                retry_after_secs: now.secs_until(until).max(1),
            });
        }
        let totp_row = self
            .store
            .totp_of(&user_id)
            .await?
            .filter(|r| r.enabled_at.is_some())
            .ok_or(AccountError::Expired)?;
        let t = self.open_totp(&totp_row, &account.user.email)?;
        let accepted = match matching_step(&t, code, now) {
            Some(step) => self.store.totp_use_step(&user_id, step).await?,
            None => false,
        };
        if !accepted {
            let err = self
                .account_failure(
                    &user_id,
                    ctx,
                    "totp",
                    AccountError::WrongCode { pending: None },
                )
                .await;
            if let AccountError::WrongCode { .. } = err {
                let next = self
                    .put_pending(&user_id, CeremonyKind::SecondFactor, "{}".into())
                    .await?;
                return Err(AccountError::WrongCode {
                    pending: Some(next),
                });
            }
            return Err(err);
        }
        self.signed_in(&user_id, ctx, "totp").await?;
        Ok(account.user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors_and_the_matching_step() {
        // RFC 6238 appendix B, SHA-1 seed "12345678901234567890", 8 digits there; the same
        // HOTP values truncated to 6 digits.
        let t = totp(b"12345678901234567890".to_vec(), "a@b.example").unwrap();
        assert_eq!(t.generate(59), "287082");
        assert_eq!(t.generate(1_111_111_109), "081804");
        let now = Ts(1_111_111_109_000);
        let step = 1_111_111_109 / 30;
        assert_eq!(matching_step(&t, "081804", now), Some(step));
        let prev = t.generate((step as u64 - 1) * 30);
        assert_eq!(matching_step(&t, &prev, now), Some(step - 1));
        let far = t.generate((step as u64 - 2) * 30);
        assert_eq!(matching_step(&t, &far, now), None);
        assert_eq!(matching_step(&t, "12345", now), None);
        assert_eq!(matching_step(&t, "abcdef", now), None);
    }
}
