//! The organisation's rules for its recipients' pages (reply default, forwarding, remembered
//! devices, contact line), how long its messages stay available (retention), and its logo.
//! Every change is an account event `policy_changed`, written with it.

use super::{validate, Settings, Zegel};
use crate::error::{Error, Invalid, Result, TooLarge};
use crate::model::*;
use crate::signin::{AccountEvent, AccountEventKind};
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
    /// Days a new message stays available when its sender chooses nothing (1 to
    /// [`MAX_AVAILABILITY_DAYS`], at most `max_availability_days`); absent on a PUT: unchanged.
    #[serde(default)]
    pub default_availability_days: Option<i64>,
    /// The longest availability a sender may choose or extend to, counted from the sending
    /// (1 to [`MAX_AVAILABILITY_DAYS`]); absent on a PUT: unchanged.
    #[serde(default)]
    pub max_availability_days: Option<i64>,
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
            default_availability_days: p.default_availability_days,
            max_availability_days: p.max_availability_days,
        }
    }
}

/// The longest availability an organisation may set, in days (ten years).
pub const MAX_AVAILABILITY_DAYS: i64 = 3650;

/// How long an organisation's messages stay available, in days: its own policy, else the
/// installation's (`ZEGEL_DEFAULT_EXPIRY_DAYS`, `ZEGEL_MAX_EXPIRY_DAYS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    /// When the sender chooses nothing.
    pub default_days: i64,
    /// The longest a sender may choose or extend to, counted from the sending.
    pub max_days: i64,
}

impl Settings {
    /// The availability of organisation policy `p` (the default never above the maximum).
    pub fn availability(&self, p: &OrgPolicy) -> Availability {
        let max_days = p
            .max_availability_days
            .unwrap_or(self.max_expiry_days)
            .clamp(1, MAX_AVAILABILITY_DAYS);
        let default_days = p
            .default_availability_days
            .unwrap_or(self.default_expiry_days)
            .clamp(1, max_days);
        Availability {
            default_days,
            max_days,
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

    /// The policy as shown (`GET /api/v1/organisation/policy`, the command line): the
    /// availability in effect filled in where the organisation set none.
    pub fn policy_doc(&self, p: OrgPolicy) -> PolicyDoc {
        let a = self.settings.availability(&p);
        PolicyDoc {
            default_availability_days: Some(a.default_days),
            max_availability_days: Some(a.max_days),
            ..PolicyDoc::from(p)
        }
    }

    /// The availability of organisation `org_id`'s messages.
    pub async fn org_availability(&self, org_id: &str) -> Result<Availability> {
        Ok(self.settings.availability(&self.org_policy(org_id).await?))
    }

    /// Sets the organisation's policy (admins only).
    pub async fn set_org_policy(&self, admin: &User, doc: PolicyDoc) -> Result<PolicyDoc> {
        if admin.role != Role::Admin {
            return Err(Error::Forbidden);
        }
        self.set_org_policy_by(&admin.org_id, doc, Some(admin))
            .await
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

    /// Sets an organisation's policy from the command line (an account event without a user).
    pub async fn set_org_policy_of(&self, org_id: &str, doc: PolicyDoc) -> Result<PolicyDoc> {
        self.set_org_policy_by(org_id, doc, None).await
    }

    /// Sets an organisation's policy and records the change (account event `policy_changed`,
    /// by `by` or the command line) in the same transaction. Returns the policy as shown.
    async fn set_org_policy_by(
        &self,
        org_id: &str,
        doc: PolicyDoc,
        by: Option<&User>,
    ) -> Result<PolicyDoc> {
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
        let current = self
            .store
            .org_policy(org_id)
            .await?
            .ok_or(Error::NotFound)?;
        let (default_availability_days, max_availability_days) =
            match (doc.default_availability_days, doc.max_availability_days) {
                (None, None) => (
                    current.default_availability_days,
                    current.max_availability_days,
                ),
                (d, m) => {
                    // One given: the other as it is in effect now; both stored from now on.
                    let now = self.settings.availability(&current);
                    let d = d.unwrap_or(now.default_days);
                    let m = m.unwrap_or(now.max_days);
                    let range = 1..=MAX_AVAILABILITY_DAYS;
                    if !range.contains(&d) || !range.contains(&m) || d > m {
                        return Err(Invalid::AvailabilityDays {
                            default: d,
                            max: m,
                            limit: MAX_AVAILABILITY_DAYS,
                        }
                        .into());
                    }
                    (Some(d), Some(m))
                }
            };
        let p = OrgPolicy {
            reply_default: doc.reply_default,
            reply_locked: doc.reply_locked,
            forward_allowed: doc.forward_allowed,
            device_days: doc.device_days,
            contact,
            has_logo: false,
            sms_per_day: doc.sms_per_day.unwrap_or(current.sms_per_day),
            sms_countries: sms_countries.unwrap_or_else(|| current.sms_countries.clone()),
            default_availability_days,
            max_availability_days,
        };
        if p == (OrgPolicy {
            has_logo: false,
            ..current.clone()
        }) {
            // Nothing changes (e.g. the command line only shows the policy): no event.
            return Ok(self.policy_doc(current));
        }
        let event = AccountEvent {
            user_id: by.map(|u| u.id.clone()),
            kind: AccountEventKind::PolicyChanged,
            at: Ts::now(),
            ip: None,
            user_agent: None,
            detail: Some(change_detail(org_id, &current, &p, &self.settings)),
        };
        if !self.store.set_org_policy(org_id, &p, &event).await? {
            return Err(Error::NotFound);
        }
        tracing::info!(org_id = %org_id, "organisation policy changed");
        Ok(self.policy_doc(p))
    }
}

/// The account event's `detail` of a policy change: the organisation, the availability in
/// effect and the names of the fields that changed (never the contact line's text).
fn change_detail(org_id: &str, old: &OrgPolicy, new: &OrgPolicy, s: &Settings) -> String {
    let changed: Vec<&str> = [
        (old.reply_default != new.reply_default, "reply_default"),
        (old.reply_locked != new.reply_locked, "reply_locked"),
        (
            old.forward_allowed != new.forward_allowed,
            "forward_allowed",
        ),
        (old.device_days != new.device_days, "device_days"),
        (old.contact != new.contact, "contact"),
        (old.sms_per_day != new.sms_per_day, "sms_per_day"),
        (old.sms_countries != new.sms_countries, "sms_countries"),
        (
            old.default_availability_days != new.default_availability_days,
            "default_availability_days",
        ),
        (
            old.max_availability_days != new.max_availability_days,
            "max_availability_days",
        ),
    ]
    .into_iter()
    .filter_map(|(differs, name)| differs.then_some(name))
    .collect();
    let a = s.availability(new);
    format!(
        "org={org_id} default_availability_days={} max_availability_days={} changed={}",
        a.default_days,
        a.max_days,
        changed.join(",")
    )
}
