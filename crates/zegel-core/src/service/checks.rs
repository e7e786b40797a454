//! The checks before a message goes out (issue 13), pure: the first message from this
//! organisation to an address, an address that looks like a typo of one it used before or of
//! a common mail domain, and many recipients. Warnings, not refusals: the sender confirms.
//!
//! A leaf module: it uses nothing else of the service layer.

use serde::Serialize;

/// More recipients than this is worth a second look.
pub const MANY_RECIPIENTS: usize = 5;

/// Edit distance at which an address looks like a typo of another.
pub const TYPO_DISTANCE: usize = 2;

/// Mail domains many Dutch patients use; an unknown domain this close to one is likely a typo.
pub const COMMON_DOMAINS: &[&str] = &[
    "gmail.com",
    "hotmail.com",
    "outlook.com",
    "live.nl",
    "ziggo.nl",
    "kpnmail.nl",
    "xs4all.nl",
    "icloud.com",
    "yahoo.com",
    "planet.nl",
    "home.nl",
];

/// Top-level domains that are real: `hotmail.de` or `live.be` are other domains, not typos.
const REAL_TLDS: &[&str] = &[
    "nl", "be", "de", "fr", "com", "net", "org", "eu", "uk", "es", "it", "at", "ch", "lu", "dk",
    "se", "no", "pl", "us", "ca", "info",
];

/// Something the sender should see before the message goes out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SendWarning {
    /// The organisation never sent to this address ("Eerste bericht aan dit adres").
    FirstMessage {
        /// The address.
        email: String,
    },
    /// The address is close to another ("Bedoelde u ...?"): one the organisation used
    /// before, or the same name at a common mail domain.
    DidYouMean {
        /// The address as given.
        email: String,
        /// The address it is close to.
        suggestion: String,
    },
    /// More than [`MANY_RECIPIENTS`] recipients.
    ManyRecipients {
        /// How many.
        count: usize,
    },
}

/// The warnings for a message to `addresses` (lower-cased, in the sender's order). `known`:
/// which of them the organisation sent to before; `recent`: addresses the organisation used,
/// most recent first (the candidates for "did you mean"). An address the organisation used
/// before gets no warning: it was chosen before.
pub fn send_warnings(
    addresses: &[String],
    known: &[String],
    recent: &[String],
) -> Vec<SendWarning> {
    let mut out = Vec::new();
    for a in addresses {
        if known.contains(a) {
            continue;
        }
        out.push(SendWarning::FirstMessage { email: a.clone() });
        if let Some(suggestion) = close_known(a, recent).or_else(|| close_domain(a)) {
            out.push(SendWarning::DidYouMean {
                email: a.clone(),
                suggestion,
            });
        }
    }
    if addresses.len() > MANY_RECIPIENTS {
        out.push(SendWarning::ManyRecipients {
            count: addresses.len(),
        });
    }
    out
}

/// The closest address of `recent` within [`TYPO_DISTANCE`] (not `a` itself); the most
/// recent of equally close ones.
fn close_known(a: &str, recent: &[String]) -> Option<String> {
    recent
        .iter()
        .filter(|r| r.as_str() != a)
        .map(|r| (strsim::levenshtein(a, r), r))
        .filter(|(d, _)| *d <= TYPO_DISTANCE)
        .min_by_key(|(d, _)| *d)
        .map(|(_, r)| r.clone())
}

/// `a` with its domain replaced by the common domain it is within [`TYPO_DISTANCE`] of, when
/// it is not a common domain itself nor the same name under another real top-level domain.
fn close_domain(a: &str) -> Option<String> {
    let (local, domain) = a.rsplit_once('@')?;
    if COMMON_DOMAINS.contains(&domain) {
        return None;
    }
    let (name, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
    COMMON_DOMAINS
        .iter()
        .filter(|c| {
            let (c_name, _) = c.rsplit_once('.').unwrap_or((c, ""));
            !(c_name == name && REAL_TLDS.contains(&tld))
        })
        .map(|c| (strsim::levenshtein(domain, c), c))
        .filter(|(d, _)| *d <= TYPO_DISTANCE)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!("{local}@{c}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn did_you_mean(a: &str, recent: &[&str]) -> Option<String> {
        send_warnings(&s(&[a]), &[], &s(recent))
            .into_iter()
            .find_map(|w| match w {
                SendWarning::DidYouMean { suggestion, .. } => Some(suggestion),
                _ => None,
            })
    }

    #[test]
    fn a_new_address_is_a_first_message_and_a_known_one_is_not() {
        let known = s(&["bert@praktijk.nl"]);
        let w = send_warnings(&s(&["anna@x.nl", "bert@praktijk.nl"]), &known, &known);
        assert_eq!(
            w,
            vec![SendWarning::FirstMessage {
                email: "anna@x.nl".into()
            }]
        );
        assert!(send_warnings(&known, &known, &known).is_empty());
    }

    #[test]
    fn an_address_close_to_a_known_one_asks_did_you_mean() {
        let recent = ["jan.jansen@ziekenhuis.nl", "piet@praktijk.nl"];
        assert_eq!(
            did_you_mean("jan.jasen@ziekenhuis.nl", &recent).as_deref(),
            Some("jan.jansen@ziekenhuis.nl")
        );
        assert_eq!(
            did_you_mean("pieter@praktijk.nl", &recent).as_deref(),
            Some("piet@praktijk.nl")
        );
        // Three edits away: no guess.
        assert_eq!(did_you_mean("pietjes@praktijk.nl", &recent), None);
        // The closest one wins.
        assert_eq!(
            did_you_mean("ab@x.nl", &["abcd@x.nl", "abc@x.nl"]).as_deref(),
            Some("abc@x.nl")
        );
    }

    #[test]
    fn the_identical_address_is_no_typo_of_itself() {
        assert_eq!(
            did_you_mean("piet@praktijk.nl", &["piet@praktijk.nl"]),
            None
        );
    }

    #[test]
    fn common_domain_typos_are_caught() {
        for (typo, meant) in [
            ("jan@gmial.com", "jan@gmail.com"),
            ("jan@hotmial.com", "jan@hotmail.com"),
            ("jan@outlok.com", "jan@outlook.com"),
            ("jan@hotmai.com", "jan@hotmail.com"),
            ("jan@gmail.con", "jan@gmail.com"),
            ("jan@zigo.nl", "jan@ziggo.nl"),
            ("jan@ziggo.n", "jan@ziggo.nl"),
            ("jan@kpmail.nl", "jan@kpnmail.nl"),
            ("jan@xs4al.nl", "jan@xs4all.nl"),
            ("jan@iclod.com", "jan@icloud.com"),
            ("jan@yaho.com", "jan@yahoo.com"),
        ] {
            assert_eq!(did_you_mean(typo, &[]).as_deref(), Some(meant), "{typo}");
        }
    }

    #[test]
    fn real_domains_are_left_alone() {
        for a in [
            "jan@gmail.com",
            "jan@hotmail.de",
            "jan@live.be",
            "jan@outlook.be",
            "jan@ziekenhuis.nl",
            "jan@umcg.nl",
        ] {
            assert_eq!(did_you_mean(a, &[]), None, "{a}");
        }
    }

    #[test]
    fn more_than_five_recipients_is_a_warning() {
        let five: Vec<String> = (0..5).map(|i| format!("p{i}@x.nl")).collect();
        let six: Vec<String> = (0..6).map(|i| format!("p{i}@x.nl")).collect();
        assert!(send_warnings(&five, &five, &[]).is_empty());
        assert_eq!(
            send_warnings(&six, &six, &[]),
            vec![SendWarning::ManyRecipients { count: 6 }]
        );
    }
}
