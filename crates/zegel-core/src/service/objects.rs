//! CONTRACT (stored format): the names that bind ciphertext to its place. Every encrypted
//! object carries its object id as AAD (the chunked AEAD binds it with each chunk index), sealed
//! job secrets carry their own AAD, and access codes are MACed over the recipient id. Data
//! written under these names must stay readable: change none of them, only add new ones.
//!
//! A leaf module: it uses nothing else of the service layer.

use crate::error::{Error, Result};
use base64::Engine;

/// The subject of message `mid`.
pub(crate) fn subject(mid: &str) -> String {
    format!("{mid}/subject")
}

/// The body text of message `mid`.
pub(crate) fn body(mid: &str) -> String {
    format!("{mid}/body")
}

/// The HTML body of message `mid`.
pub(crate) fn html(mid: &str) -> String {
    format!("{mid}/html")
}

/// The sender's code hint for recipient `rid` of message `mid`.
pub(crate) fn hint(mid: &str, rid: &str) -> String {
    format!("{mid}/hint/{rid}")
}

/// The forwarder's note for the forwarded recipient `rid` of message `mid`.
pub(crate) fn note(mid: &str, rid: &str) -> String {
    format!("{mid}/note/{rid}")
}

/// The content of attachment `aid` of message `mid`.
pub(crate) fn attachment(mid: &str, aid: &str) -> String {
    format!("{mid}/att/{aid}")
}

/// The name and content type (JSON) of attachment `aid` of message `mid`.
pub(crate) fn attachment_meta(mid: &str, aid: &str) -> String {
    format!("{mid}/att/{aid}/meta")
}

/// The blob key of attachment `aid` of message `mid` (where its ciphertext is kept).
pub(crate) fn attachment_blob(mid: &str, aid: &str) -> String {
    format!("att/{mid}/{aid}")
}

/// The AAD of a link token sealed into a `notify_recipient` job.
pub(crate) fn notify_aad(recipient_id: &str) -> String {
    format!("notify:{recipient_id}")
}

/// The AAD of a code sealed into a `send_code` job.
pub(crate) fn code_aad(recipient_id: &str) -> String {
    format!("code:{recipient_id}")
}

/// What an access code's HMAC is computed over: the code bound to its recipient.
pub(crate) fn code_input(recipient_id: &str, code: &str) -> String {
    format!("{recipient_id}:{code}")
}

/// Sealed bytes as they are kept in a job payload: unpadded base64url.
pub(crate) fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The sealed bytes of a job payload field.
pub(crate) fn unb64(s: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| Error::Internal("bad base64 in job payload".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_stored_ones() {
        // Changing any of these makes stored ciphertext unreadable.
        assert_eq!(subject("m"), "m/subject");
        assert_eq!(body("m"), "m/body");
        assert_eq!(hint("m", "r"), "m/hint/r");
        assert_eq!(note("m", "r"), "m/note/r");
        assert_eq!(attachment("m", "a"), "m/att/a");
        assert_eq!(attachment_meta("m", "a"), "m/att/a/meta");
        assert_eq!(attachment_blob("m", "a"), "att/m/a");
        assert_eq!(notify_aad("r"), "notify:r");
        assert_eq!(code_aad("r"), "code:r");
        assert_eq!(code_input("r", "123456"), "r:123456");
        assert_eq!(unb64(&b64(b"\x00\xffz")).ok(), Some(b"\x00\xffz".to_vec()));
    }
}
