//! Property tests of the `.eml` export: the streaming base64 encoder gives the same bytes as a
//! one-shot encoding whatever the chunking, and a message built from arbitrary (stored, i.e.
//! single-line) subjects, names, file names and contents parses back with mail-parser, part for
//! part and byte for byte.

use super::{attachment_head, eml_head, eml_tail, text_of};
use crate::error::{Error, Result};
use crate::model::{Lang, MessageKind, Ts};
use crate::outbound::header_safe;
use crate::outbound::streamed::{base64_lines, LINE_BYTES};
use crate::service::content::AttachmentView;
use crate::service::thread::ThreadItem;
use base64::Engine;
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use mail_parser::{MessageParser, MimeHeaders};
use proptest::prelude::*;

/// `data` cut into chunks at the given lengths (the rest in a last chunk).
fn chunked(data: &[u8], cuts: &[usize]) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut rest = data;
    for &n in cuts {
        let n = n.min(rest.len());
        out.push(Bytes::copy_from_slice(&rest[..n]));
        rest = &rest[n..];
    }
    out.push(Bytes::copy_from_slice(rest));
    out
}

/// Runs the streaming encoder over `chunks`; the items it yields.
fn encode_stream(chunks: Vec<Result<Bytes>>) -> Vec<Result<Bytes>> {
    futures::executor::block_on(base64_lines(stream::iter(chunks).boxed()).collect())
}

/// RFC 2045 base64 of `data` in one go: 76-character lines, each ending in CRLF.
fn one_shot(data: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = Vec::new();
    for line in b64.as_bytes().chunks(LINE_BYTES / 3 * 4) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Runs of white space as one space: mail readers (mail-parser among them) collapse the white
/// space around RFC 2047 encoded words, so a double space may come back single.
fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn concat(items: Vec<Result<Bytes>>) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for i in items {
        out.extend_from_slice(&i.map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// Text as users type it, with the awkward parts made likely: non-ASCII, quotes, MIME
/// specials, encoded-word look-alikes, line breaks and controls (stored text is made single
/// line with `header_safe`, as uploads and messages are).
fn user_text(max: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9 ]{1,8}",
        1 => prop::sample::select(vec![
            "\"", "\\", "(", ")", "<", ">", ",", ";", ":", "@", "=?", "?=", "=?utf-8?q?x?=",
            "é", "ß", "漢字", "😀", "\r\n", "\t", "  ", "%", "'", "\u{202e}",
        ])
        .prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 1..max).prop_map(|v| v.concat())
}

fn attachment() -> impl Strategy<Value = (String, String, Vec<u8>)> {
    let ct = prop_oneof![
        Just("application/pdf".to_string()),
        Just("image/png".to_string()),
        Just("text/plain; charset=utf-8".to_string()),
        "[a-z]{1,8}/[a-z0-9.+-]{1,12}",
        user_text(4),
    ];
    (
        user_text(10),
        ct,
        prop::collection::vec(any::<u8>(), 0..400),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn streamed_base64_equals_one_shot_base64_whatever_the_chunks(
        data in prop::collection::vec(any::<u8>(), 0..1000),
        cuts in prop::collection::vec(0usize..200, 0..12),
    ) {
        let chunks = chunked(&data, &cuts).into_iter().map(Ok).collect();
        let out = concat(encode_stream(chunks));
        let want = one_shot(&data);
        prop_assert_eq!(out.as_deref(), Ok(want.as_slice()));
        let out = out.unwrap_or_default();
        // Lines of at most 76 characters, each ending in CRLF, decoding back to the data.
        let text = String::from_utf8(out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut joined = String::new();
        for line in text.split_terminator("\r\n") {
            prop_assert!(line.len() <= 76 && !line.contains('\n') && !line.contains('\r'));
            joined.push_str(line);
        }
        prop_assert_eq!(
            base64::engine::general_purpose::STANDARD.decode(joined).ok(),
            Some(data)
        );
    }

    #[test]
    fn a_failing_source_ends_the_stream_with_its_error(
        data in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(0usize..200, 0..6),
        fail_at in any::<prop::sample::Index>(),
    ) {
        let mut chunks: Vec<Result<Bytes>> = chunked(&data, &cuts).into_iter().map(Ok).collect();
        let at = fail_at.index(chunks.len() + 1);
        chunks.insert(at, Err(Error::Internal("disk".into())));
        let items = encode_stream(chunks);
        // Exactly one error, as the last item: nothing is encoded after a failure.
        prop_assert_eq!(items.iter().filter(|i| i.is_err()).count(), 1);
        prop_assert!(items.last().is_some_and(|i| i.is_err()));
        let before: Vec<u8> = items.iter().filter_map(|i| i.as_ref().ok()).flat_map(|b| b.to_vec()).collect();
        // What came out before it is whole lines of the data before the failure.
        let seen: Vec<u8> = chunked(&data, &cuts)[..at].concat();
        let whole = seen.len() / LINE_BYTES * LINE_BYTES;
        prop_assert_eq!(before, one_shot(&seen[..whole]));
    }

    #[test]
    fn an_eml_of_arbitrary_names_and_subjects_parses_back_part_for_part(
        sender in user_text(8),
        org in user_text(6),
        subject in user_text(16),
        body in user_text(20),
        files in prop::collection::vec(attachment(), 0..3),
    ) {
        // What the store holds: subjects, names and file names made single-line.
        let subject = header_safe(&subject);
        // A message is refused without a subject (422), so a stored one is never empty.
        prop_assume!(!subject.is_empty());
        let from_name = format!("{} ({})", header_safe(&sender), header_safe(&org));
        let files: Vec<(String, String, Vec<u8>)> = files
            .into_iter()
            .map(|(n, ct, data)| (header_safe(&n), header_safe(&ct), data))
            .collect();
        let item = ThreadItem {
            id: "m1".into(),
            kind: MessageKind::Message,
            from: header_safe(&sender),
            mine: false,
            current: true,
            sent_at: "2026-08-01T10:00:00Z".into(),
            sent_ts: Ts(0),
            subject: Some(subject.clone()),
            body: Some(body.clone()),
            attachments: files
                .iter()
                .enumerate()
                .map(|(i, (n, ct, d))| AttachmentView {
                    id: format!("a{i}"),
                    name: n.clone(),
                    size: d.len() as i64,
                    content_type: ct.clone(),
                })
                .collect(),
            gone: None,
        };
        let text = text_of(std::slice::from_ref(&item), Lang::Nl);
        let boundary = "zegel-0123456789abcdefghijklmnopqrstuvwxyzABCDEF";
        let mut eml = eml_head(boundary, &from_name, "zegel.example", "jan@example.nl", &subject)
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .into_bytes();
        eml.extend(one_shot(text.as_bytes()));
        for (n, ct, data) in &files {
            eml.extend(attachment_head(boundary, ct, n).into_bytes());
            eml.extend(one_shot(data));
        }
        eml.extend(eml_tail(boundary).into_bytes());

        let msg = MessageParser::default().parse(&eml);
        prop_assert!(msg.is_some(), "mail-parser could not parse:\n{}", String::from_utf8_lossy(&eml));
        let msg = msg.unwrap_or_default();
        let shown = String::from_utf8_lossy(&eml).into_owned();
        prop_assert_eq!(msg.subject().map(squeeze), Some(squeeze(&subject)), "{}", shown);
        let from = msg.from().and_then(|a| a.first());
        prop_assert_eq!(from.and_then(|a| a.name()).map(squeeze), Some(squeeze(&from_name)), "{}", shown);
        prop_assert_eq!(from.and_then(|a| a.address()), Some("no-reply@zegel.example"));
        prop_assert_eq!(
            msg.to().and_then(|a| a.first()).and_then(|a| a.address()),
            Some("jan@example.nl")
        );
        // No header beyond the ones we set (nothing injected through a name or subject).
        for h in msg.headers() {
            let name = h.name().to_ascii_lowercase();
            prop_assert!(
                ["mime-version", "date", "from", "to", "subject", "content-type"].contains(&name.as_str()),
                "unexpected header {name}\n{shown}"
            );
        }
        // The text part, byte for byte, then every attachment with its name and bytes.
        prop_assert_eq!(msg.text_body_count(), 1, "{}", shown);
        let text_part = msg.text_body.first().and_then(|&i| msg.part(i));
        prop_assert_eq!(text_part.map(|p| p.contents()), Some(text.as_bytes()), "{}", shown);
        prop_assert_eq!(msg.attachment_count(), files.len(), "{}", shown);
        for (i, (n, _, data)) in files.iter().enumerate() {
            let part = msg.attachment(i as u32);
            prop_assert!(part.is_some());
            let part = part.unwrap_or_else(|| unreachable!());
            let want_name = if n.is_empty() { None } else { Some(squeeze(n)) };
            prop_assert_eq!(part.attachment_name().map(squeeze), want_name, "{}", shown);
            // The bytes as sent (mail-parser hands text/* parts back as decoded text).
            let raw = eml.get(part.offset_body as usize..part.offset_end as usize).unwrap_or_default();
            let b64: Vec<u8> = raw.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
            let decoded = base64::engine::general_purpose::STANDARD.decode(b64).ok();
            prop_assert_eq!(decoded.as_deref(), Some(data.as_slice()), "{}", shown);
        }
    }
}
