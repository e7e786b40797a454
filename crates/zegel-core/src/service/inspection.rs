//! The patient's view (NEN 7513 right of inspection): who accessed the message a recipient's
//! link is for, newest first, for "Wie heeft dit bericht bekeken?" on their message page.
//!
//! Built from the message's events only. A recipient sees their own accesses, the sender's
//! (the message or their reply opened in the sender's web app or API), and those of the people
//! they forwarded it to, and on from there, with a masked address. Never another recipient the
//! sender chose (nor that there is one), never content, file names, addresses in full, network
//! addresses or browsers.

use super::access::RecipientSession;
use super::validate::mask_email;
use super::Zegel;
use crate::error::Result;
use crate::model::*;
use std::collections::HashMap;

/// The most entries the page lists (the newest).
pub const MAX_ACCESS_ENTRIES: usize = 200;

/// Who accessed the message, as its recipient is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accessor {
    /// The recipient themself ("u").
    You,
    /// The message's sender (a care worker of the sending organisation).
    Sender,
    /// Someone the recipient forwarded the message to.
    ForwardedTo {
        /// Their address, masked (`j***@example.nl`).
        masked_email: String,
    },
    /// Someone it was forwarded on to by one of those.
    ForwardedOn {
        /// Their address, masked.
        masked_email: String,
    },
}

/// One access to the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    /// When.
    pub at: Ts,
    /// Who.
    pub who: Accessor,
    /// What: `opened`, `viewed`, `downloaded`, `exported`, `forwarded`, `replied` (the
    /// recipient's own), `sender_viewed`, `reply_read` or `reply_downloaded` (the sender's).
    pub what: EventKind,
    /// For `forwarded`: to whom, masked.
    pub to: Option<String>,
}

/// The accesses to a message as its recipient may see them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessLog {
    /// Newest first, at most [`MAX_ACCESS_ENTRIES`].
    pub entries: Vec<AccessEntry>,
    /// How many older ones were left out.
    pub earlier: usize,
}

/// What a recipient's own accesses, and those of people they forwarded to, may show.
fn is_access(k: EventKind) -> bool {
    matches!(
        k,
        EventKind::Opened
            | EventKind::Viewed
            | EventKind::Downloaded
            | EventKind::Exported
            | EventKind::Forwarded
    )
}

/// Who each recipient of the message is to `me`: themself, or someone they forwarded it to
/// (directly or on from there). Recipients the sender chose are left out.
fn relations<'a>(me: &'a RecipientRow, all: &'a [RecipientRow]) -> HashMap<&'a str, Accessor> {
    let mut who: HashMap<&str, Accessor> = HashMap::from([(me.id.as_str(), Accessor::You)]);
    // A forward is always stored after the recipient who made it, but a fixpoint does not
    // rely on the order.
    loop {
        let before = who.len();
        for r in all {
            if who.contains_key(r.id.as_str()) {
                continue;
            }
            let Some(by) = r.forwarded_by.as_deref() else {
                continue;
            };
            let masked_email = mask_email(&r.email);
            match who.get(by) {
                Some(Accessor::You) => {
                    who.insert(&r.id, Accessor::ForwardedTo { masked_email });
                }
                Some(Accessor::ForwardedTo { .. } | Accessor::ForwardedOn { .. }) => {
                    who.insert(&r.id, Accessor::ForwardedOn { masked_email });
                }
                _ => {}
            }
        }
        if who.len() == before {
            return who;
        }
    }
}

impl Zegel {
    /// "Wie heeft dit bericht bekeken?": the accesses to the session's message that its
    /// recipient may see (see the module's documentation), newest first.
    pub async fn access_log(&self, s: &RecipientSession) -> Result<AccessLog> {
        let a = &s.access;
        let recipients = self.store.recipients_of(&a.message.id).await?;
        let who = relations(&a.recipient, &recipients);
        let mut events = self.store.events_of(&a.message.id).await?;
        events.sort_by(|x, y| (y.event.at, y.id).cmp(&(x.event.at, x.id)));
        let mut log = AccessLog::default();
        for e in &events {
            let e = &e.event;
            let Some(relation) = e.recipient_id.as_deref().and_then(|id| who.get(id)) else {
                continue;
            };
            let accessor = match (e.kind, relation) {
                (k, rel) if is_access(k) => rel.clone(),
                (EventKind::Replied, Accessor::You) => Accessor::You,
                (
                    EventKind::SenderViewed | EventKind::ReplyRead | EventKind::ReplyDownloaded,
                    Accessor::You,
                ) => Accessor::Sender,
                _ => continue,
            };
            if log.entries.len() == MAX_ACCESS_ENTRIES {
                log.earlier += 1;
                continue;
            }
            let to = match e.kind {
                EventKind::Forwarded => e
                    .detail
                    .as_deref()
                    .and_then(|rid| recipients.iter().find(|r| r.id == rid))
                    .map(|r| mask_email(&r.email)),
                _ => None,
            };
            log.entries.push(AccessEntry {
                at: e.at,
                who: accessor,
                what: e.kind,
                to,
            });
        }
        Ok(log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipient(id: &str, email: &str, by: Option<&str>) -> RecipientRow {
        RecipientRow {
            id: id.into(),
            message_id: "m".into(),
            email: email.into(),
            phone: None,
            verification: Verification::Email,
            code_hint_ct: None,
            link_hash: Vec::new(),
            status: RecipientStatus::Notified,
            failed_reason: None,
            code_mac: None,
            code_expires_at: None,
            failed_attempts: 0,
            locked_until: None,
            language: Lang::Nl,
            notified_at: None,
            created_at: Ts(0),
            forwarded_by: by.map(str::to_owned),
            wrong_total: 0,
            blocked_at: None,
            note_ct: None,
        }
    }

    #[test]
    fn forwards_are_followed_from_the_reader_only() {
        // p (the reader) and o (another recipient the sender chose); p forwarded to z, z on
        // to y (stored before z here: the order does not matter); o forwarded to x.
        let all = [
            recipient("p", "patient@example.nl", None),
            recipient("o", "other@example.nl", None),
            recipient("y", "yolanda@example.nl", Some("z")),
            recipient("z", "zus@example.nl", Some("p")),
            recipient("x", "xander@example.nl", Some("o")),
        ];
        let who = relations(&all[0], &all);
        assert_eq!(who.get("p"), Some(&Accessor::You));
        assert_eq!(
            who.get("z"),
            Some(&Accessor::ForwardedTo {
                masked_email: "z***@example.nl".into()
            })
        );
        assert_eq!(
            who.get("y"),
            Some(&Accessor::ForwardedOn {
                masked_email: "y***@example.nl".into()
            })
        );
        assert_eq!(who.get("o"), None, "another recipient is never shown");
        assert_eq!(who.get("x"), None, "nor whom they forwarded to");
        // From the forwarded recipient's side: only themself and whom they forwarded to.
        let who = relations(&all[3], &all);
        assert_eq!(who.len(), 2);
        assert_eq!(who.get("p"), None, "not the one who forwarded it to them");
    }
}
