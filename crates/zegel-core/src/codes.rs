//! One-time codes against hostile clients: the rules that decide a verification (wrong-try
//! counting, growing lockouts, the final block) and a code request (at most so many codes per
//! window, the organisation's daily SMS budget).
//!
//! The rules are pure functions here; a store applies them inside ONE locked transaction
//! (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: `SELECT ... FOR UPDATE` on the recipient row), so
//! concurrent requests are decided one after another on the state the previous one left
//! (see [`crate::store::AccessStore::check_code`] and [`crate::store::AccessStore::set_code`]).

use crate::model::{EventKind, NewEvent, NewJob, SessionRow, Ts};

/// How wrong codes are counted and locked out (from [`crate::Settings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Wrong tries before a lockout (5): they answer 401 with `remaining_attempts` 4..0.
    pub max_attempts: i64,
    /// The first, second, ... lockout in milliseconds; the last one repeats
    /// (15 minutes, 1 hour, 4 hours, 24 hours).
    pub steps_ms: Vec<i64>,
    /// Wrong tries in total (since the last right code or the sender's unblock) after which
    /// the recipient is blocked until the sender unblocks them (20); 0: never.
    pub block_after: i64,
}

/// A recipient's code and counters as stored, read under the row lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeState {
    /// HMAC of the current code, if any.
    pub code_mac: Option<Vec<u8>>,
    /// When a one-time code stops being valid.
    pub code_expires_at: Option<Ts>,
    /// Wrong tries since the last lockout ended (or the last right code).
    pub failed_attempts: i64,
    /// Wrong tries since the last right code or unblock; a lockout's end does not reset it.
    pub wrong_total: i64,
    /// Locked until (inclusive).
    pub locked_until: Option<Ts>,
    /// Blocked until the sender unblocks.
    pub blocked: bool,
}

/// What one verification came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeVerdict {
    /// The right code: counters reset, session opened.
    Accepted,
    /// A wrong code, counted.
    Wrong {
        /// Tries left before the lockout (0: this one started a lockout or the block).
        remaining: u32,
        /// Set when this try started a lockout.
        locked_until: Option<Ts>,
        /// This try blocked the recipient.
        blocked: bool,
    },
    /// Locked at this moment: not compared, not counted (also the right code).
    Locked {
        /// Until when.
        until: Ts,
    },
    /// Blocked until the sender unblocks: not compared, not counted.
    Blocked,
    /// No valid code to compare with (none requested, used, replaced or expired): not counted.
    Expired,
}

impl CodeVerdict {
    /// The events a store records with this verdict, in order (none: nothing changes).
    pub fn event_kinds(&self) -> &'static [EventKind] {
        match self {
            CodeVerdict::Accepted => &[EventKind::Opened],
            CodeVerdict::Wrong { blocked: true, .. } => &[EventKind::CodeWrong, EventKind::Blocked],
            CodeVerdict::Wrong {
                locked_until: Some(_),
                ..
            } => &[EventKind::CodeWrong, EventKind::Locked],
            CodeVerdict::Wrong { .. } => &[EventKind::CodeWrong],
            CodeVerdict::Locked { .. } | CodeVerdict::Blocked | CodeVerdict::Expired => &[],
        }
    }
}

impl LockoutPolicy {
    /// The lockout that starts when the wrong tries reach `wrong_total`: the step of the
    /// lockouts before it, the last step repeating.
    fn lock_ms(&self, wrong_total: i64) -> i64 {
        let max = self.max_attempts.max(1);
        let before = usize::try_from((wrong_total - 1).max(0) / max).unwrap_or(usize::MAX);
        let last = self.steps_ms.len().saturating_sub(1);
        self.steps_ms
            .get(before.min(last))
            .copied()
            .unwrap_or(15 * 60 * 1000)
    }

    /// Decides a verification at `now` on the state read under the lock: the verdict and the
    /// state to store. `presented` is the HMAC of the presented code, `None` when it was not
    /// six digits (always wrong). A one-time code must not have expired; the sender's fixed
    /// code (`one_time` false) does not expire. The MACs are compared in constant time.
    pub fn decide(
        &self,
        s: &CodeState,
        presented: Option<&[u8]>,
        one_time: bool,
        now: Ts,
    ) -> (CodeVerdict, CodeState) {
        if s.blocked {
            return (CodeVerdict::Blocked, s.clone());
        }
        if let Some(until) = s.locked_until.filter(|u| *u >= now) {
            return (CodeVerdict::Locked { until }, s.clone());
        }
        let mut next = s.clone();
        if s.locked_until.is_some() {
            // The lockout has passed: a new round of tries, the total goes on.
            next.locked_until = None;
            next.failed_attempts = 0;
        }
        let Some(stored) = s.code_mac.as_deref() else {
            return (CodeVerdict::Expired, next);
        };
        if one_time && s.code_expires_at.is_none_or(|t| t <= now) {
            return (CodeVerdict::Expired, next);
        }
        let right = presented.is_some_and(|p| zegel_crypto::ct_eq(stored, p));
        if right {
            next.failed_attempts = 0;
            next.wrong_total = 0;
            next.locked_until = None;
            if one_time {
                next.code_mac = None;
                next.code_expires_at = None;
            }
            return (CodeVerdict::Accepted, next);
        }
        next.failed_attempts += 1;
        next.wrong_total += 1;
        if self.block_after > 0 && next.wrong_total >= self.block_after {
            next.blocked = true;
            let verdict = CodeVerdict::Wrong {
                remaining: 0,
                locked_until: None,
                blocked: true,
            };
            return (verdict, next);
        }
        let remaining = (self.max_attempts - next.failed_attempts).max(0);
        let locked_until =
            (remaining == 0).then(|| now.plus_millis(self.lock_ms(next.wrong_total)));
        next.locked_until = locked_until;
        let verdict = CodeVerdict::Wrong {
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            locked_until,
            blocked: false,
        };
        (verdict, next)
    }
}

/// One verification for [`crate::store::AccessStore::check_code`].
#[derive(Debug, Clone)]
pub struct CodeCheck<'a> {
    /// The recipient.
    pub recipient_id: &'a str,
    /// HMAC of the presented code; `None` when it was not six digits.
    pub presented_mac: Option<&'a [u8]>,
    /// A one-time code (sms/email) that expires and is used up, or the sender's fixed code.
    pub one_time: bool,
    /// The moment of the check.
    pub now: Ts,
    /// The rules.
    pub policy: &'a LockoutPolicy,
    /// The session to open when accepted.
    pub session: &'a SessionRow,
    /// Who and from where; its kind is replaced by each of [`CodeVerdict::event_kinds`].
    pub event: &'a NewEvent,
}

/// The organisation's SMS budget for one day, for a code request by SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsBudget<'a> {
    /// The organisation.
    pub org_id: &'a str,
    /// The day (UTC), as days since the Unix epoch ([`utc_day`]).
    pub day: i64,
    /// SMS per day at most (0: none).
    pub per_day: i64,
}

/// The UTC day of `t`, as days since the Unix epoch.
pub fn utc_day(t: Ts) -> i64 {
    t.0.div_euclid(86_400_000)
}

/// The start of the UTC day after `t`'s.
pub fn next_utc_day(t: Ts) -> Ts {
    Ts((utc_day(t) + 1) * 86_400_000)
}

/// A new one-time code for [`crate::store::AccessStore::set_code`].
#[derive(Debug, Clone)]
pub struct CodeRequest<'a> {
    /// The recipient.
    pub recipient_id: &'a str,
    /// HMAC of the new code.
    pub code_mac: &'a [u8],
    /// When it stops being valid.
    pub expires_at: Option<Ts>,
    /// Its delivery.
    pub job: Option<&'a NewJob>,
    /// The request's event; earlier events of this kind of the recipient are what the window
    /// counts.
    pub event: &'a NewEvent,
    /// The moment of the request.
    pub now: Ts,
    /// At most this many codes per window (5) ...
    pub max_per_window: i64,
    /// ... of this many milliseconds (15 minutes).
    pub window_ms: i64,
    /// For a code by SMS: the organisation's budget, counted in the same transaction.
    pub sms_budget: Option<SmsBudget<'a>>,
}

/// What became of a code request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRequestOutcome {
    /// The code, its job and event are stored.
    Stored,
    /// Locked at `now`; nothing changed.
    Locked {
        /// Until when.
        until: Ts,
    },
    /// Blocked until the sender unblocks; nothing changed.
    Blocked,
    /// The window's codes are used; nothing changed.
    TooMany {
        /// When the next code may be requested.
        retry_at: Ts,
    },
    /// The organisation's SMS budget for the day is spent; only the refusal is counted.
    SmsBudgetSpent,
}

/// An organisation's SMS codes of one day (for `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsUsage {
    /// The organisation's slug.
    pub org_slug: String,
    /// Its budget per day.
    pub per_day: i64,
    /// SMS codes sent (requested) that day.
    pub sent: i64,
    /// SMS codes refused that day because the budget was spent.
    pub refused: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            max_attempts: 5,
            steps_ms: vec![15 * MIN, 60 * MIN, 240 * MIN, 1440 * MIN],
            block_after: 20,
        }
    }

    fn state(mac: &[u8]) -> CodeState {
        CodeState {
            code_mac: Some(mac.to_vec()),
            code_expires_at: Some(Ts(1_000 * MIN)),
            failed_attempts: 0,
            wrong_total: 0,
            locked_until: None,
            blocked: false,
        }
    }

    /// Wrong tries until the next verdict that is not a plain countdown; returns the state.
    fn wrong_round(p: &LockoutPolicy, mut s: CodeState, now: Ts) -> (CodeVerdict, CodeState) {
        loop {
            let (v, next) = p.decide(&s, Some(b"wrong"), true, now);
            s = next;
            match v {
                CodeVerdict::Wrong {
                    remaining,
                    locked_until: None,
                    blocked: false,
                } if remaining > 0 => continue,
                other => return (other, s),
            }
        }
    }

    #[test]
    fn lockouts_grow_and_the_twentieth_wrong_try_blocks() {
        let p = policy();
        let mut s = state(b"right");
        let mut now = Ts(0);
        let mut locks = Vec::new();
        for _ in 0..3 {
            let (v, next) = wrong_round(&p, s, now);
            let CodeVerdict::Wrong {
                remaining: 0,
                locked_until: Some(until),
                blocked: false,
            } = v
            else {
                panic!("a lockout, got {v:?}");
            };
            locks.push(until.0 - now.0);
            // Locked: even the right code is not compared, nothing is counted.
            assert_eq!(
                p.decide(&next, Some(b"right"), true, until),
                (CodeVerdict::Locked { until }, next.clone())
            );
            s = next;
            now = until.plus_millis(1);
        }
        assert_eq!(locks, vec![15 * MIN, 60 * MIN, 240 * MIN]);
        assert_eq!(s.wrong_total, 15, "the total survives the lockouts");
        let (v, s) = wrong_round(&p, s, now);
        assert_eq!(
            v,
            CodeVerdict::Wrong {
                remaining: 0,
                locked_until: None,
                blocked: true
            }
        );
        assert!(s.blocked);
        assert_eq!(s.wrong_total, 20);
        assert_eq!(
            p.decide(&s, Some(b"right"), true, Ts(i64::MAX / 2)).0,
            CodeVerdict::Blocked
        );
    }

    #[test]
    fn the_last_step_repeats_without_a_block() {
        let p = LockoutPolicy {
            block_after: 0,
            ..policy()
        };
        assert_eq!(p.lock_ms(5), 15 * MIN);
        assert_eq!(p.lock_ms(20), 1440 * MIN);
        assert_eq!(p.lock_ms(45), 1440 * MIN);
    }

    #[test]
    fn the_right_code_resets_everything_and_is_used_up() {
        let p = policy();
        let mut s = state(b"right");
        s.failed_attempts = 3;
        s.wrong_total = 13;
        let (v, next) = p.decide(&s, Some(b"right"), true, Ts(0));
        assert_eq!(v, CodeVerdict::Accepted);
        assert_eq!((next.failed_attempts, next.wrong_total), (0, 0));
        assert_eq!(next.code_mac, None);
        // Used up: the same code again compares with nothing and is not counted.
        assert_eq!(
            p.decide(&next, Some(b"right"), true, Ts(0)).0,
            CodeVerdict::Expired
        );
        // The sender's fixed code stays.
        let (v, next) = p.decide(&s, Some(b"right"), false, Ts(0));
        assert_eq!(v, CodeVerdict::Accepted);
        assert!(next.code_mac.is_some());
    }

    #[test]
    fn an_expired_code_and_a_malformed_one() {
        let p = policy();
        let s = state(b"right");
        let late = Ts(1_000 * MIN);
        assert_eq!(
            p.decide(&s, Some(b"right"), true, late).0,
            CodeVerdict::Expired
        );
        // A fixed code does not expire.
        assert_eq!(
            p.decide(&s, Some(b"right"), false, late).0,
            CodeVerdict::Accepted
        );
        assert_eq!(
            p.decide(&s, None, true, Ts(0)).0,
            CodeVerdict::Wrong {
                remaining: 4,
                locked_until: None,
                blocked: false
            }
        );
    }

    #[test]
    fn utc_days() {
        assert_eq!(utc_day(Ts(0)), 0);
        assert_eq!(utc_day(Ts(86_399_999)), 0);
        assert_eq!(next_utc_day(Ts(86_399_999)), Ts(86_400_000));
        assert_eq!(next_utc_day(Ts(86_400_000)), Ts(172_800_000));
    }
}
