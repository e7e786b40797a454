//! Sample rows for tests: organisations, users, a message with recipients, an attachment, an
//! event and a job. Ciphertext and hashes are random bytes (nothing here is decryptable); ids
//! and unique fields are fresh on every call, so fixtures never collide.

use rand::RngCore;
use zegel_core::model::*;
use zegel_core::DynStore;

/// A fixed "now" for store tests (2023-11-14T22:13:20Z), far from `Ts::now()` on purpose.
pub const T0: Ts = Ts(1_700_000_000_000);
/// One minute in milliseconds.
pub const MINUTE_MS: i64 = 60_000;

/// A seeded organisation with its key and one sender.
#[derive(Debug, Clone)]
pub struct Sender {
    /// The organisation.
    pub org: Organisation,
    /// Its (fake) wrapped organisation key.
    pub key: OrgKey,
    /// The sender.
    pub user: User,
}

/// `n` random bytes (stand-in ciphertext, MACs, wrapped keys).
pub fn fake_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

/// A random 32-byte hash (link token, API token or session hash).
pub fn random_hash() -> [u8; 32] {
    let mut h = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut h);
    h
}

/// A fresh UUID v4 as text.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A short random suffix for unique slugs and e-mail addresses.
fn suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// An organisation and its first key (not stored).
pub fn org(slug: &str, name: &str, at: Ts) -> (Organisation, OrgKey) {
    let org_id = new_id();
    let key = OrgKey {
        id: format!("kek_{}", suffix()),
        org_id: org_id.clone(),
        wrapped: fake_bytes(60),
        created_at: at,
    };
    let org = Organisation {
        id: org_id,
        slug: slug.to_owned(),
        name: name.to_owned(),
        active_kek_id: key.id.clone(),
        created_at: at,
    };
    (org, key)
}

/// A sender account (not stored).
pub fn user(org_id: &str, email: &str, name: &str, at: Ts) -> User {
    User {
        id: new_id(),
        org_id: org_id.to_owned(),
        email: email.to_owned(),
        name: name.to_owned(),
        password_hash: None,
        role: Role::Sender,
        created_at: at,
    }
}

/// Stores a fresh organisation (with key) and a sender in it.
///
/// # Panics
/// When the store refuses them (a test failure).
pub async fn seed_sender(store: &DynStore) -> Sender {
    let s = suffix();
    let (org, key) = org(&format!("org-{s}"), &format!("Ziekenhuis {s}"), T0);
    let user = user(
        &org.id,
        &format!("arts-{s}@ziekenhuis.example"),
        &format!("Dr. {s}"),
        T0,
    );
    store
        .create_org(&org, &key, None)
        .await
        .expect("seed_sender: create_org");
    store
        .create_user(&user)
        .await
        .expect("seed_sender: create_user");
    Sender { org, key, user }
}

/// An audit event (actor `system`, with an IP and a user agent); `kind` is a stored event kind
/// such as `"sent"`.
pub fn event(message_id: &str, recipient_id: Option<&str>, kind: &str, at: Ts) -> NewEvent {
    NewEvent {
        message_id: message_id.to_owned(),
        recipient_id: recipient_id.map(str::to_owned),
        kind: EventKind::parse(kind).expect("a known event kind"),
        at,
        actor: "system".to_owned(),
        ip: Some("192.0.2.10".to_owned()),
        user_agent: Some("zegel-testkit".to_owned()),
        detail: None,
    }
}

/// A job with a JSON payload; `kind` is a stored job kind such as `"send_code"`.
pub fn job(kind: &str, payload: serde_json::Value, run_at: Ts) -> NewJob {
    NewJob {
        kind: JobKind::parse(kind).expect("a known job kind"),
        payload: payload.to_string(),
        run_at,
        max_attempts: 5,
    }
}

/// A `notify_recipient` job whose payload names the message and the recipient.
pub fn notify_job(message_id: &str, recipient_id: &str, run_at: Ts) -> NewJob {
    job(
        "notify_recipient",
        serde_json::json!({ "message_id": message_id, "recipient_id": recipient_id }),
        run_at,
    )
}

/// A recipient session with a random token hash, valid `ttl_ms` from `at`.
pub fn session(recipient_id: &str, at: Ts, ttl_ms: i64) -> SessionRow {
    SessionRow {
        token_hash: random_hash().to_vec(),
        recipient_id: recipient_id.to_owned(),
        created_at: at,
        expires_at: at.plus_millis(ttl_ms),
    }
}

/// A queued recipient with a random link hash and no code.
pub fn recipient(
    message_id: &str,
    email: &str,
    verification: Verification,
    at: Ts,
) -> RecipientRow {
    RecipientRow {
        id: new_id(),
        message_id: message_id.to_owned(),
        email: email.to_owned(),
        phone: None,
        verification,
        code_hint_ct: None,
        link_hash: random_hash().to_vec(),
        status: RecipientStatus::Queued,
        failed_reason: None,
        code_mac: None,
        code_expires_at: None,
        failed_attempts: 0,
        locked_until: None,
        language: Lang::Nl,
        notified_at: None,
        created_at: at,
        forwarded_by: None,
        note_ct: None,
        wrong_total: 0,
        blocked_at: None,
    }
}

/// An attachment row with fake encrypted metadata.
pub fn attachment(message_id: &str, position: i64, at: Ts) -> AttachmentRow {
    let id = new_id();
    AttachmentRow {
        blob_key: format!("messages/{message_id}/{id}"),
        id,
        message_id: message_id.to_owned(),
        position,
        meta_ct: Some(fake_bytes(80)),
        size: 12_345,
        alg: "aes256gcm-stream64k".to_owned(),
        created_at: at,
    }
}

/// A message from `sender` sent at `at`, expiring 30 days later, with:
/// - recipient 0: verification by e-mail, no code yet;
/// - recipient 1: verification by a code the sender gave (a fixed code MAC and an encrypted
///   hint), with a phone number;
/// - one attachment, one `created` event, one `notify_recipient` job for recipient 0.
pub fn new_message(sender: &Sender, at: Ts) -> NewMessage {
    let id = uuid::Uuid::now_v7().to_string();
    let s = suffix();
    let r0 = recipient(
        &id,
        &format!("patient-{s}@mail.example"),
        Verification::Email,
        at,
    );
    let mut r1 = recipient(
        &id,
        &format!("naaste-{s}@mail.example"),
        Verification::Code,
        at,
    );
    r1.phone = Some("+31612345678".to_owned());
    r1.code_hint_ct = Some(fake_bytes(40));
    r1.code_mac = Some(fake_bytes(32));
    let message = MessageRow {
        id: id.clone(),
        org_id: sender.org.id.clone(),
        sender_id: sender.user.id.clone(),
        subject_ct: Some(fake_bytes(64)),
        body_ct: Some(fake_bytes(256)),
        alg: "aes256gcm-stream64k".to_owned(),
        reply_policy: ReplyPolicy::Once,
        state: MessageState::Active,
        created_at: at,
        expires_at: at.plus_secs(30 * 24 * 3600),
        destroyed_at: None,
        kind: MessageKind::Message,
        thread_id: id.clone(),
        parent_id: None,
        from_recipient_id: None,
        from_address: None,
        from_verified: false,
        html_ct: None,
        read_at: None,
    };
    let mut created = event(&id, None, "sent", at);
    created.actor = format!("sender:{}", sender.user.id);
    NewMessage {
        key: MessageKey {
            message_id: id.clone(),
            kek_id: sender.key.id.clone(),
            wrapped_dek: fake_bytes(60),
        },
        attachments: vec![attachment(&id, 0, at)],
        events: vec![created],
        jobs: vec![notify_job(&id, &r0.id, at)],
        recipients: vec![r0, r1],
        message,
        sending: SendOptions::default(),
    }
}

/// A reply from recipient `recipient` of `parent`, sent at `at`, with one attachment, its
/// `replied` event and the sender's `notify_sender` job.
pub fn new_reply(parent: &NewMessage, recipient: &RecipientRow, once: bool, at: Ts) -> NewReply {
    let id = uuid::Uuid::now_v7().to_string();
    let p = &parent.message;
    NewReply {
        message: MessageRow {
            id: id.clone(),
            org_id: p.org_id.clone(),
            sender_id: p.sender_id.clone(),
            subject_ct: Some(fake_bytes(64)),
            body_ct: Some(fake_bytes(128)),
            alg: "aes256gcm-stream64k".to_owned(),
            reply_policy: ReplyPolicy::Off,
            state: MessageState::Active,
            created_at: at,
            expires_at: at.plus_secs(30 * 24 * 3600),
            destroyed_at: None,
            kind: MessageKind::Reply,
            thread_id: p.thread_id.clone(),
            parent_id: Some(p.id.clone()),
            from_recipient_id: Some(recipient.id.clone()),
            from_address: None,
            from_verified: false,
            html_ct: None,
            read_at: None,
        },
        key: MessageKey {
            message_id: id.clone(),
            kek_id: parent.key.kek_id.clone(),
            wrapped_dek: fake_bytes(60),
        },
        attachments: vec![attachment(&id, 0, at)],
        once,
        event: event(&p.id, Some(&recipient.id), "replied", at),
        job: NewJob {
            kind: JobKind::NotifySender,
            payload: format!(r#"{{"message_id":"{id}"}}"#),
            run_at: at,
            max_attempts: 10,
        },
    }
}

/// A recipient added to `parent` by a forward from `by`.
pub fn new_forward(parent: &NewMessage, by: &RecipientRow, email: &str, at: Ts) -> NewForward {
    let mut r = recipient(&parent.message.id, email, Verification::Sms, at);
    r.phone = Some("+31687654321".to_owned());
    r.forwarded_by = Some(by.id.clone());
    r.note_ct = Some(fake_bytes(48));
    NewForward {
        events: vec![
            event(&parent.message.id, Some(&by.id), "forwarded", at),
            event(&parent.message.id, Some(&r.id), "sent", at),
        ],
        job: notify_job(&parent.message.id, &r.id, at),
        recipient: r,
        max_recipients: 100,
    }
}
