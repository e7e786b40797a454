//! The store section for mail (issue 15): the mail domains an organisation receives mail
//! for, recipients delivered directly, mail received from another provider (NTA 7516), and a
//! user's own SMTP submission credentials.

use crate::error::StoreResult;
use crate::model::*;
use crate::signin::AccountEvent;
use async_trait::async_trait;

/// What adding a domain to an organisation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainAdded {
    /// Added (and the event recorded).
    Added,
    /// The organisation had it already: nothing changed.
    Already,
    /// Another organisation has it: nothing changed.
    OtherOrganisation,
}

/// Mail received from another provider for a user, to store with its key and attachments
/// ([`MailStore::insert_received_mail`]).
#[derive(Debug, Clone)]
pub struct NewReceivedMail {
    /// The message row: kind `reply`, no parent, `sender_id` the addressee, `from_address` set.
    pub message: MessageRow,
    /// Its key.
    pub key: MessageKey,
    /// Its attachments (blobs already written).
    pub attachments: Vec<AttachmentRow>,
    /// `mail_received` on the new message.
    pub event: NewEvent,
    /// The addressee's notification ("a secure message is waiting").
    pub job: NewJob,
}

/// NTA 7516 (see the module documentation).
#[async_trait]
pub trait MailStore: Send + Sync + 'static {
    /// Adds `domain` (lower case) to the organisation, with `event` (`policy_changed`) in the
    /// same transaction.
    async fn add_org_domain(
        &self,
        org_id: &str,
        domain: &str,
        event: &AccountEvent,
    ) -> StoreResult<DomainAdded>;

    /// Removes `domain` from the organisation, with `event`; `false` if it did not have it.
    async fn remove_org_domain(
        &self,
        org_id: &str,
        domain: &str,
        event: &AccountEvent,
    ) -> StoreResult<bool>;

    /// The organisation's domains, sorted.
    async fn org_domains(&self, org_id: &str) -> StoreResult<Vec<String>>;

    /// The organisation that receives mail for `domain` (lower case), if any.
    async fn org_of_domain(&self, domain: &str) -> StoreResult<Option<String>>;

    /// The recipient's whole message was delivered directly: `direct_at` and `notified_at`
    /// set (status `delivered` from then on), `event` recorded and the job deleted, in one
    /// transaction.
    async fn mark_delivered_direct(
        &self,
        recipient_id: &str,
        event: &NewEvent,
        job: i64,
    ) -> StoreResult<()>;

    /// The user's live SMTP submission credentials, newest first.
    async fn smtp_credentials_of(&self, user_id: &str) -> StoreResult<Vec<SmtpCredentialInfo>>;

    /// Stores mail received from another provider with its key, attachments and the
    /// addressee's notification job, in one transaction.
    async fn insert_received_mail(&self, m: &NewReceivedMail) -> StoreResult<()>;
}
