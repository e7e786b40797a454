//! The organisation's rules for its recipients' pages (reply default, forwarding, remembered
//! devices, contact line) and its logo.

use super::{validate, Zegel};
use crate::error::{Error, Invalid, Result, TooLarge};
use crate::model::*;
use serde::{Deserialize, Serialize};

/// The largest logo, in bytes.
const MAX_LOGO_BYTES: usize = 256 * 1024;

/// The organisation's policy as an admin sets it (`PUT /api/v1/organisation/policy`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    /// Default reply policy.
    pub reply_default: ReplyPolicy,
    /// Senders may not change the reply policy.
    pub reply_locked: bool,
    /// Recipients may forward.
    pub forward_allowed: bool,
    /// "Remember this device" days (0 = off, at most 90).
    pub device_days: i64,
    /// Public contact line for the recipient pages.
    #[serde(default)]
    pub contact: Option<String>,
    /// SMS codes per day (UTC) at most; absent on a PUT: unchanged.
    #[serde(default)]
    pub sms_per_day: Option<i64>,
    /// Countries whose numbers may get an SMS code (ISO 3166 alpha-2, e.g. `["NL","BE"]`);
    /// absent on a PUT: unchanged.
    #[serde(default)]
    pub sms_countries: Option<Vec<String>>,
}

impl From<OrgPolicy> for PolicyDoc {
    fn from(p: OrgPolicy) -> Self {
        PolicyDoc {
            reply_default: p.reply_default,
            reply_locked: p.reply_locked,
            forward_allowed: p.forward_allowed,
            device_days: p.device_days,
            contact: p.contact,
            sms_per_day: Some(p.sms_per_day),
            sms_countries: Some(p.sms_countries),
        }
    }
}

/// The longest "remember this device" an organisation may allow.
pub const MAX_DEVICE_DAYS: i64 = 90;

impl Zegel {
    /// The organisation's policy (defaults when never set).
    pub async fn org_policy(&self, org_id: &str) -> Result<OrgPolicy> {
        Ok(self.store.org_policy(org_id).await?.unwrap_or_default())
    }

    /// Sets the organisation's policy (admins only).
    pub async fn set_org_policy(&self, admin: &User, doc: PolicyDoc) -> Result<PolicyDoc> {
        if admin.role != Role::Admin {
            return Err(Error::Forbidden);
        }
        self.set_org_policy_of(&admin.org_id, doc).await
    }

    /// Sets or removes an organisation's logo (PNG, JPEG or WebP, at most 256 KiB), shown on
    /// the recipient pages.
    pub async fn set_org_logo(&self, org_id: &str, logo: Option<&[u8]>) -> Result<()> {
        let with_type = match logo {
            None => None,
            Some(bytes) => {
                if bytes.len() > MAX_LOGO_BYTES {
                    return Err(TooLarge::Logo {
                        max: MAX_LOGO_BYTES,
                    }
                    .into());
                }
                let ct = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
                    "image/png"
                } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
                    "image/jpeg"
                } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
                    "image/webp"
                } else {
                    return Err(Invalid::LogoFormat.into());
                };
                Some((bytes, ct))
            }
        };
        if !self.store.set_org_logo(org_id, with_type).await? {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Sets an organisation's policy (CLI and admins).
    pub async fn set_org_policy_of(&self, org_id: &str, doc: PolicyDoc) -> Result<PolicyDoc> {
        if !(0..=MAX_DEVICE_DAYS).contains(&doc.device_days) {
            return Err(Invalid::DeviceDays {
                max: MAX_DEVICE_DAYS,
            }
            .into());
        }
        let contact = doc
            .contact
            .as_deref()
            .map(validate::single_line)
            .map(|c| c.chars().take(200).collect::<String>())
            .filter(|c| !c.trim().is_empty());
        if doc.sms_per_day.is_some_and(|n| n < 0) {
            return Err(Invalid::SmsPerDay.into());
        }
        let sms_countries = doc
            .sms_countries
            .as_deref()
            .map(validate::sms_countries)
            .transpose()?;
        let current = match (doc.sms_per_day, &sms_countries) {
            (Some(_), Some(_)) => None,
            _ => Some(
                self.store
                    .org_policy(org_id)
                    .await?
                    .ok_or(Error::NotFound)?,
            ),
        };
        let p = OrgPolicy {
            reply_default: doc.reply_default,
            reply_locked: doc.reply_locked,
            forward_allowed: doc.forward_allowed,
            device_days: doc.device_days,
            contact,
            has_logo: false,
            sms_per_day: doc
                .sms_per_day
                .or(current.as_ref().map(|c| c.sms_per_day))
                .unwrap_or(DEFAULT_SMS_PER_DAY),
            sms_countries: sms_countries
                .or(current.map(|c| c.sms_countries))
                .unwrap_or_default(),
        };
        if !self.store.set_org_policy(org_id, &p).await? {
            return Err(Error::NotFound);
        }
        tracing::info!(org_id = %org_id, "organisation policy changed");
        Ok(p.into())
    }
}
