//! Delivery status notifications (RFC 3464): a care worker who submitted a message by SMTP
//! learns the way mail users expect when a recipient's notification failed for good. The
//! report names the recipient, the reason and where to see the message; never the subject, the
//! text or file names (the sender's mailbox is outside Zegel).
//!
//! A leaf module: it uses nothing else of the service layer.

use crate::model::Ts;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;

/// What a report says.
pub(crate) struct Report<'a> {
    /// The organisation (the report's display name).
    pub org: &'a str,
    /// Zegel's mail domain (`Reporting-MTA`, the From address).
    pub domain: &'a str,
    /// The sender who gets the report.
    pub to: &'a str,
    /// The recipient who could not be notified.
    pub recipient: &'a str,
    /// Why (the relay's reply).
    pub reason: &'a str,
    /// When the message was sent.
    pub arrival: Ts,
    /// The message's page in the web app.
    pub message_url: &'a str,
    /// Message-ID without angle brackets (a repeat carries the same).
    pub message_id: String,
}

/// The RFC 3464 status code in `reason` (`5.1.1`), else `5.0.0` (failed, no detail).
fn status_of(reason: &str) -> String {
    reason
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|t| {
            let p: Vec<&str> = t.split('.').collect();
            p.len() == 3
                && matches!(p[0], "4" | "5")
                && p[1..].iter().all(|n| (1..=3).contains(&n.len()))
        })
        .map_or_else(|| "5.0.0".to_owned(), |s| format!("5{}", &s[1..]))
}

/// A field value of the machine-readable part: one line of printable ASCII.
fn field(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_graphic() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole report as an RFC 5322 message (multipart/report; report-type=delivery-status).
pub(crate) fn delivery_report(r: &Report<'_>) -> std::io::Result<Vec<u8>> {
    let arrival = time::OffsetDateTime::from_unix_timestamp(r.arrival.0.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc2822)
                .ok()
        })
        .unwrap_or_default();
    let reason = field(r.reason);
    let text = format!(
        "Uw beveiligde bericht kon niet worden afgeleverd bij {rcpt}: de melding met de link is \
         definitief mislukt.\r\nReden: {reason}\r\n\r\nBekijk het bericht, verbeter het adres of \
         stuur een nieuwe link: {url}\r\n\r\n--\r\n\r\nYour secure message could not be delivered \
         to {rcpt}: the notification with the link failed for good.\r\nReason: {reason}\r\n\r\n\
         See the message, correct the address or send a new link: {url}\r\n",
        rcpt = r.recipient,
        url = r.message_url,
    );
    let status = format!(
        "Reporting-MTA: dns; {domain}\r\nArrival-Date: {arrival}\r\n\r\n\
         Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: {code}\r\n\
         Diagnostic-Code: smtp; {reason}\r\n",
        domain = field(r.domain),
        rcpt = field(r.recipient),
        code = status_of(r.reason),
    );
    let from = format!("mailer-daemon@{}", r.domain);
    MessageBuilder::new()
        .from((format!("{} (Zegel)", field(r.org)), from))
        .to(r.to.to_owned())
        .subject(format!(
            "Niet afgeleverd / Undeliverable: beveiligd bericht aan {}",
            field(r.recipient)
        ))
        .message_id(r.message_id.clone())
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(MimePart::new(
            ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
            vec![
                MimePart::new("text/plain", text),
                // Short ASCII lines: 7bit, readable by any parser of reports.
                MimePart::new(ContentType::new("message/delivery-status"), status)
                    .transfer_encoding("7bit"),
            ],
        ))
        .write_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_code_comes_from_the_reply_or_is_5_0_0() {
        assert_eq!(status_of("550 5.1.1 <a@b>: User unknown"), "5.1.1");
        assert_eq!(status_of("permanent error (554): 5.7.1 rejected"), "5.7.1");
        // A failure after the retries of a temporary one is still final.
        assert_eq!(status_of("451 4.3.0 try later"), "5.3.0");
        assert_eq!(status_of("connection refused"), "5.0.0");
        assert_eq!(status_of("version 10.20.30.40"), "5.0.0");
    }

    #[test]
    fn a_report_parses_as_a_delivery_status_notification_without_content() {
        let raw = delivery_report(&Report {
            org: "Ziekenhuis",
            domain: "zegel.example",
            to: "arts@ziekenhuis.example",
            recipient: "pat@example.nl",
            reason: "550 5.1.1 <pat@example.nl>: Recipient address rejected\r\nX",
            arrival: Ts(1_700_000_000_000),
            message_url: "https://zegel.example/berichten/m1",
            message_id: "zegel.dsn.r1@zegel.example".into(),
        })
        .expect("built");
        use mail_parser::MimeHeaders;
        let msg = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("a mail");
        let ct = msg.content_type().expect("content type");
        assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")));
        assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.contains("Final-Recipient: rfc822; pat@example.nl"),
            "{text}"
        );
        assert!(text.contains("Status: 5.1.1"), "{text}");
        assert!(text.contains("Action: failed"), "{text}");
        assert!(
            text.contains(
                "Diagnostic-Code: smtp; 550 5.1.1 <pat@example.nl>: Recipient address rejected X"
            ),
            "{text}"
        );
        assert!(text.contains("Auto-Submitted: auto-replied"), "{text}");
        let shown = msg.body_text(0).expect("the text part");
        assert!(
            shown.contains("https://zegel.example/berichten/m1"),
            "{shown}"
        );
        assert!(
            shown.contains("kon niet worden afgeleverd bij pat@example.nl"),
            "{shown}"
        );
    }
}
