//! The NEN 7513 audit trail: one hash chain of entries per organisation.
//!
//! Every row of `events` (what happened to a message) and `account_events` (what happened to an
//! account, a key, a policy) becomes an [`AuditEntry`] in the transaction that wrote it: the
//! store queues the row by trigger and chains the queue just before the commit (see
//! zegel-store-sql `shared/audit.rs`). An entry holds the NEN 7513 fields (what, when, outcome,
//! who with name and role, on whose behalf, the recipient concerned, the object, the node and
//! the network address) and never content, codes, tokens or file names.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry's own fields
//! ([`entry_hash`]), so changing, removing, inserting or reordering an entry breaks the chain
//! from there on. About once a minute a checkpoint "chain C had entry N with hash H" is signed
//! with the organisation's signing key, which is kept under the master key and not in the
//! database; rewriting history before a checkpoint therefore also needs that key.
//! [`crate::audit_check::verify`] checks all of it.

use crate::model::Ts;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The `prev_hash` of a chain's first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// Where an entry came from: `event` (table `events`) or `account` (table `account_events`).
pub const SOURCE_EVENT: &str = "event";
/// See [`SOURCE_EVENT`].
pub const SOURCE_ACCOUNT: &str = "account";

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// The chain: the organisation's id, `""` for what belongs to no organisation.
    pub chain: String,
    /// Position in the chain, from 1.
    pub seq: i64,
    /// `event` or `account`.
    pub source: String,
    /// The row id in the source table (the event id).
    pub source_id: i64,
    /// When it happened (ms since the epoch).
    pub at: i64,
    /// What happened: `message.<event kind>` or `account.<account event kind>`.
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Who: a user id, `recipient:<id>` or `system`.
    pub user_id: Option<String>,
    /// The user's name (and address) at the time.
    pub user_name: Option<String>,
    /// `sender`/`admin` (the account's role), `recipient` or `system`.
    pub user_role: Option<String>,
    /// On whose behalf: the organisation's name.
    pub on_behalf_of: Option<String>,
    /// The patient or recipient concerned (their address).
    pub recipient: Option<String>,
    /// The object: the message id.
    pub object: Option<String>,
    /// The node that wrote it.
    pub node: String,
    /// The client's network address.
    pub address: Option<String>,
    /// Extra detail (never content, codes or tokens).
    pub detail: Option<String>,
    /// The previous entry's hash ([`GENESIS`] for the first).
    #[serde(skip)]
    pub prev_hash: [u8; 32],
    /// This entry's hash ([`entry_hash`]).
    #[serde(skip)]
    pub hash: [u8; 32],
}

/// The fields an entry's hash covers, in a fixed order (serde_json keeps declaration order).
#[derive(Serialize)]
struct Hashed<'a> {
    v: u8,
    chain: &'a str,
    seq: i64,
    source: &'a str,
    source_id: i64,
    at: i64,
    action: &'a str,
    outcome: &'a str,
    user_id: &'a Option<String>,
    user_name: &'a Option<String>,
    user_role: &'a Option<String>,
    on_behalf_of: &'a Option<String>,
    recipient: &'a Option<String>,
    object: &'a Option<String>,
    node: &'a str,
    address: &'a Option<String>,
    detail: &'a Option<String>,
}

/// SHA-256 over `"zegel audit v1\0"`, `prev_hash` and the entry's fields as JSON.
pub fn entry_hash(e: &AuditEntry) -> [u8; 32] {
    let fields = Hashed {
        v: 1,
        chain: &e.chain,
        seq: e.seq,
        source: &e.source,
        source_id: e.source_id,
        at: e.at,
        action: &e.action,
        outcome: &e.outcome,
        user_id: &e.user_id,
        user_name: &e.user_name,
        user_role: &e.user_role,
        on_behalf_of: &e.on_behalf_of,
        recipient: &e.recipient,
        object: &e.object,
        node: &e.node,
        address: &e.address,
        detail: &e.detail,
    };
    let mut h = Sha256::new();
    h.update(b"zegel audit v1\0");
    h.update(e.prev_hash);
    // Serialising plain strings and integers cannot fail.
    h.update(serde_json::to_vec(&fields).unwrap_or_default());
    h.finalize().into()
}

/// `success` or `failure` for a stored event kind of `source`.
pub fn outcome(source: &str, kind: &str) -> &'static str {
    let failed = match source {
        SOURCE_EVENT => matches!(
            kind,
            "deferred"
                | "failed"
                | "direct_failed"
                | "code_failed"
                | "code_wrong"
                | "locked"
                | "blocked"
        ),
        _ => matches!(kind, "sign_in_failed" | "locked" | "send_failed"),
    };
    if failed {
        "failure"
    } else {
        "success"
    }
}

/// The action name of a stored event kind of `source`.
pub fn action(source: &str, kind: &str) -> String {
    match source {
        SOURCE_EVENT => format!("message.{kind}"),
        _ => format!("account.{kind}"),
    }
}

static NODE: OnceLock<String> = OnceLock::new();

/// Sets the name this process writes into entries as their source node (once, at start-up;
/// later calls are ignored).
pub fn set_node_name(name: &str) {
    let _ = NODE.set(name.to_owned());
}

/// The source node of entries this process writes: [`set_node_name`], else the host name.
pub fn node_name() -> &'static str {
    NODE.get_or_init(|| {
        std::env::var("ZEGEL_NODE_NAME")
            .ok()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| {
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty())
            })
            .unwrap_or_else(|| "zegel".to_owned())
    })
}

/// The last entry of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// The chain.
    pub chain: String,
    /// Its last entry's position.
    pub seq: i64,
    /// Its last entry's hash.
    pub hash: [u8; 32],
}

/// A signed statement that a chain had entry `seq` with `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    /// The chain.
    pub chain: String,
    /// The entry's position.
    pub seq: i64,
    /// The entry's hash.
    pub hash: [u8; 32],
    /// When it was signed.
    pub signed_at: Ts,
    /// The signing key's id.
    pub key_id: String,
    /// Ed25519 over [`checkpoint_message`].
    pub signature: Vec<u8>,
}

/// The bytes a checkpoint's signature covers.
pub fn checkpoint_message(chain: &str, seq: i64, hash: &[u8; 32], signed_at: Ts) -> Vec<u8> {
    format!(
        "zegel audit checkpoint v1\nchain={chain}\nseq={seq}\nhash={}\nsigned_at={}\n",
        hex(hash),
        signed_at.0
    )
    .into_bytes()
}

/// A row of `events` or `account_events` that does not agree with the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceFinding {
    /// The row has no entry (it was inserted around the store).
    Unrecorded {
        /// `event` or `account`.
        source: String,
        /// Its id.
        source_id: i64,
    },
    /// The row differs from its entry (it was changed).
    Changed {
        /// The entry's chain.
        chain: String,
        /// The entry's position.
        seq: i64,
        /// `event` or `account`.
        source: String,
        /// Its id.
        source_id: i64,
    },
    /// The entry's row is gone (events are never deleted).
    Removed {
        /// The entry's chain.
        chain: String,
        /// The entry's position.
        seq: i64,
        /// `event` or `account`.
        source: String,
        /// Its id.
        source_id: i64,
    },
}

/// Which entries `zegel audit export` writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// From this time on (inclusive).
    pub from: Option<Ts>,
    /// Before this time (exclusive).
    pub to: Option<Ts>,
    /// Only entries concerning this recipient address (or done by them).
    pub recipient: Option<String>,
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
