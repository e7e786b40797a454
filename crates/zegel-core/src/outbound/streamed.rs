//! A mail whose attachments are streamed, never held whole in memory: lettre writes the
//! headers, the text and HTML parts and each attachment's part headers (RFC 2047 and 2231
//! names); each attachment's content is read from its source and base64-encoded as it goes.
//! The mail can be written more than once, the same bytes each time (DKIM hashes the body
//! before the mail is sent).

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use lettre::message::header::{
    ContentDisposition, ContentTransferEncoding, ContentType, HeaderName, HeaderValue, Headers,
};
use lettre::message::{MessageBuilder, MultiPart, SinglePart};

/// Raw bytes per base64 line: 57 bytes make the 76 characters RFC 2045 allows.
pub(crate) const LINE_BYTES: usize = 57;

/// `ct` as a content type; one lettre cannot write is `application/octet-stream`.
pub(crate) fn content_type(ct: &str) -> ContentType {
    ContentType::parse(ct).unwrap_or(
        ContentType::parse("application/octet-stream").unwrap_or(ContentType::TEXT_PLAIN),
    )
}

/// An attachment part's headers, ending with the empty line (its base64 follows).
pub(crate) fn attachment_headers(content_type_text: &str, name: &str) -> String {
    let mut ph = Headers::new();
    ph.set(content_type(content_type_text));
    if name.contains("=?") {
        // lettre would quote it as it is, and mail programs decode a quoted `=?...?=` as an
        // encoded word: give the name in RFC 2231 form only (at most 255 characters, so one line).
        let pct = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        ph.insert_raw(HeaderValue::dangerous_new_pre_encoded(
            HeaderName::new_from_ascii_str("Content-Disposition"),
            format!("attachment; filename=\"{name}\""),
            format!("attachment; filename*=utf-8''{pct}"),
        ));
    } else {
        ph.set(ContentDisposition::attachment(name));
    }
    ph.set(ContentTransferEncoding::Base64);
    format!("{ph}\r\n")
}

/// Base64 in CRLF-terminated lines of 76 characters, encoding as the bytes arrive (nothing
/// for no bytes).
pub(crate) fn base64_lines<E: Send + 'static>(
    inner: BoxStream<'static, Result<Bytes, E>>,
) -> BoxStream<'static, Result<Bytes, E>> {
    futures::stream::unfold(
        (Some(inner), Vec::<u8>::new()),
        move |(inner, mut rem)| async move {
            let mut inner = inner?;
            match inner.next().await {
                Some(Ok(chunk)) => {
                    rem.extend_from_slice(&chunk);
                    let whole = rem.len() / LINE_BYTES * LINE_BYTES;
                    let out = encode_lines(&rem[..whole]);
                    rem.drain(..whole);
                    Some((Ok(out), (Some(inner), rem)))
                }
                Some(Err(e)) => Some((Err(e), (None, Vec::new()))),
                None => Some((Ok(encode_lines(&rem)), (None, Vec::new()))),
            }
        },
    )
    .boxed()
}

/// Where the attachments' contents come from.
#[async_trait]
pub trait PartSource: Send + Sync {
    /// Attachment `i`'s content from its first byte, as it is read (decrypted, say).
    async fn open(&self, i: usize) -> Result<BoxStream<'static, Result<Bytes, String>>, String>;
}

/// The mail's first part: the text, or text and HTML as alternatives.
#[derive(Debug, Clone)]
pub enum Part {
    /// One part (the text).
    Single(SinglePart),
    /// Several (`multipart/alternative`).
    Multi(MultiPart),
}

/// An attachment's name, type and size (the source gives its content).
#[derive(Debug, Clone)]
pub struct PartInfo {
    /// The file name.
    pub name: String,
    /// Its MIME type (one lettre cannot write goes as `application/octet-stream`).
    pub content_type: String,
    /// Its size in bytes: the content must have exactly this many.
    pub size: u64,
}

/// A mail ready to be written (see the module documentation).
pub struct StreamedMail<'a> {
    /// The headers and the first part of the `multipart/mixed` body, without its closing
    /// delimiter.
    head: Vec<u8>,
    boundary: String,
    /// Each attachment's part headers (ending with the empty line) and size.
    parts: Vec<(Vec<u8>, u64)>,
    source: &'a dyn PartSource,
}

impl std::fmt::Debug for StreamedMail<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamedMail({} parts)", self.parts.len())
    }
}

impl<'a> StreamedMail<'a> {
    /// The mail `message` makes with `first` (the text, or text and HTML) and the attachments
    /// in `parts`, whose contents `source` gives.
    pub fn new(
        message: MessageBuilder,
        first: Part,
        parts: &[PartInfo],
        source: &'a dyn PartSource,
    ) -> Result<Self, String> {
        // "=_" never occurs in quoted-printable or base64 text.
        let boundary = format!("=_zegel{}", uuid::Uuid::new_v4().simple());
        let mixed = MultiPart::mixed().boundary(boundary.clone());
        let body = match first {
            Part::Single(p) => mixed.singlepart(p),
            Part::Multi(p) => mixed.multipart(p),
        };
        let whole = message
            .multipart(body)
            .map_err(|e| format!("building the mail: {e}"))?
            .formatted();
        let close = format!("--{boundary}--\r\n");
        let head = whole
            .strip_suffix(close.as_bytes())
            .ok_or("building the mail: no closing delimiter")?
            .to_vec();
        let heads = parts
            .iter()
            .map(|p| {
                (
                    attachment_headers(&p.content_type, &p.name).into_bytes(),
                    p.size,
                )
            })
            .collect();
        Ok(StreamedMail {
            head,
            boundary,
            parts: heads,
            source,
        })
    }

    /// The mail's size in bytes, exactly as written.
    pub fn size(&self) -> u64 {
        let delimiter = self.boundary.len() as u64 + 4; // "--" boundary CRLF
        let parts: u64 = self
            .parts
            .iter()
            .map(|(h, size)| delimiter + h.len() as u64 + encoded_len(*size))
            .sum();
        self.head.len() as u64 + parts + delimiter + 2
    }

    /// Only ASCII (else it needs 8BITMIME).
    pub fn is_ascii(&self) -> bool {
        self.head.is_ascii() && self.parts.iter().all(|(h, _)| h.is_ascii())
    }

    /// The mail from its first byte, in chunks as the sources give them (a 64 KiB chunk of an
    /// attachment is 87 KiB of base64). A source that fails, or gives more or fewer bytes than
    /// its size, ends the stream with an error.
    pub fn chunks(&self) -> BoxStream<'_, Result<Bytes, String>> {
        let head = futures::stream::once(async { Ok(Bytes::copy_from_slice(&self.head)) });
        let parts = futures::stream::iter(0..self.parts.len())
            .map(move |i| {
                let (headers, size) = &self.parts[i];
                let mut start = format!("--{}\r\n", self.boundary).into_bytes();
                start.extend_from_slice(headers);
                let start = futures::stream::once(async { Ok(Bytes::from(start)) });
                start.chain(self.part_body(i, *size))
            })
            .flatten();
        let end =
            futures::stream::once(
                async move { Ok(Bytes::from(format!("--{}--\r\n", self.boundary))) },
            );
        head.chain(parts).chain(end).boxed()
    }

    /// Attachment `i` in base64 lines of 76 characters, each ending with CRLF (an empty one
    /// is a lone CRLF, as lettre writes it).
    fn part_body(&self, i: usize, size: u64) -> BoxStream<'_, Result<Bytes, String>> {
        if size == 0 {
            return futures::stream::once(async { Ok(Bytes::from_static(b"\r\n")) }).boxed();
        }
        futures::stream::once(self.source.open(i))
            .map_ok(move |content| base64_lines(exactly(content, size)))
            .try_flatten()
            .boxed()
    }
}

/// `content`, failing when it has more or fewer bytes than `size`.
fn exactly(
    content: BoxStream<'static, Result<Bytes, String>>,
    size: u64,
) -> BoxStream<'static, Result<Bytes, String>> {
    futures::stream::try_unfold((content, 0u64), move |(mut content, seen)| async move {
        match content.next().await {
            Some(chunk) => {
                let chunk = chunk?;
                let seen = seen + chunk.len() as u64;
                if seen > size {
                    return Err("an attachment is larger than its recorded size".to_string());
                }
                Ok(Some((chunk, (content, seen))))
            }
            None if seen == size => Ok(None),
            None => Err("an attachment is smaller than its recorded size".to_string()),
        }
    })
    .boxed()
}

/// `raw` in base64 lines of at most 76 characters, each with CRLF.
fn encode_lines(raw: &[u8]) -> Bytes {
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut out = Vec::with_capacity(encoded_len(raw.len() as u64) as usize);
    let mut line = [0u8; 76];
    for group in raw.chunks(LINE_BYTES) {
        // 57 bytes or fewer always fit in 76 characters.
        let n = engine.encode_slice(group, &mut line).unwrap_or(0);
        out.extend_from_slice(&line[..n]);
        out.extend_from_slice(b"\r\n");
    }
    Bytes::from(out)
}

/// The length of `size` bytes as `encode_lines` writes them (a lone CRLF for none).
fn encoded_len(size: u64) -> u64 {
    if size == 0 {
        return 2;
    }
    let lines = size.div_ceil(LINE_BYTES as u64);
    size.div_ceil(3) * 4 + 2 * lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use lettre::message::Mailbox;

    struct Fixed(Vec<Vec<u8>>, usize);

    #[async_trait]
    impl PartSource for Fixed {
        async fn open(
            &self,
            i: usize,
        ) -> Result<BoxStream<'static, Result<Bytes, String>>, String> {
            // Odd chunk sizes, so lines straddle chunks.
            let chunks: Vec<Result<Bytes, String>> = self.0[i]
                .chunks(self.1)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            Ok(futures::stream::iter(chunks).boxed())
        }
    }

    fn builder() -> MessageBuilder {
        let from: Mailbox = "Dr. Jansen <arts@ziekenhuis.test>".parse().unwrap();
        lettre::Message::builder()
            .from(from)
            .to("pat@praktijk.test".parse().unwrap())
            .subject("Uitslag")
    }

    async fn written(mail: &StreamedMail<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut s = mail.chunks();
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn attachments_arrive_byte_for_byte_with_their_names_and_the_size_is_exact() {
        let big: Vec<u8> = (0..200_003u32).map(|i| (i * 31 % 256) as u8).collect();
        let files = vec![big.clone(), Vec::new(), b"kort".to_vec()];
        let source = Fixed(files.clone(), 4099);
        let info = [
            ("uitslag-één.pdf", "application/pdf"),
            ("leeg.txt", "text/plain"),
            ("notitie (2).txt", "not a type"),
        ]
        .iter()
        .zip(&files)
        .map(|((n, t), f)| PartInfo {
            name: (*n).into(),
            content_type: (*t).into(),
            size: f.len() as u64,
        })
        .collect::<Vec<_>>();
        let first = Part::Single(SinglePart::plain("Beste patiënt".to_string()));
        let mail = StreamedMail::new(builder(), first, &info, &source).unwrap();
        let raw = written(&mail).await;
        assert_eq!(raw.len() as u64, mail.size());
        assert!(mail.is_ascii() && raw.is_ascii());
        assert!(raw.split(|b| *b == b'\n').all(|l| l.len() <= 78));
        // The same bytes a second time.
        assert_eq!(written(&mail).await, raw);

        use mail_parser::{MessageParser, MimeHeaders};
        let msg = MessageParser::default().parse(&raw).unwrap();
        assert_eq!(msg.subject(), Some("Uitslag"));
        assert!(msg.body_text(0).unwrap().contains("Beste patiënt"));
        let got: Vec<(String, Vec<u8>)> = msg
            .attachments()
            .map(|a| {
                (
                    a.attachment_name().unwrap_or_default().to_owned(),
                    a.contents().to_vec(),
                )
            })
            .collect();
        let want: Vec<(String, Vec<u8>)> = info.iter().map(|p| p.name.clone()).zip(files).collect();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn a_source_with_more_or_fewer_bytes_than_recorded_fails_the_stream() {
        for (content, recorded) in [(vec![1u8; 100], 99u64), (vec![1u8; 100], 101)] {
            let source = Fixed(vec![content], 7);
            let info = [PartInfo {
                name: "a.bin".into(),
                content_type: "application/octet-stream".into(),
                size: recorded,
            }];
            let first = Part::Single(SinglePart::plain("x".to_string()));
            let mail = StreamedMail::new(builder(), first, &info, &source).unwrap();
            let mut s = mail.chunks();
            let mut failed = None;
            while let Some(c) = s.next().await {
                if let Err(e) = c {
                    failed = Some(e);
                    break;
                }
            }
            let failed = failed.expect("the stream fails");
            assert!(failed.contains("recorded size"), "{failed}");
        }
    }
}
