//! Notification and code e-mails / SMS in the recipient's language, and the sender's reply
//! notification, texts from the catalogs in `crate::i18n`. They never carry message content:
//! no subject, body or file names. Sender name, organisation and the link only.
//!
//! A leaf module: it uses nothing else of the service layer.

use crate::i18n::{datetime, tr, tr_args, Lang};
use crate::model::Ts;
use crate::outbound::OutMail;
use html_escape::encode_text as esc;

/// The HTML part of a notification: one shell, `body` is already escaped markup.
pub(crate) fn html_mail(lang: Lang, title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head><meta charset=\"utf-8\"><title>{t}</title></head>\n\
         <body style=\"font-family:Arial,sans-serif;font-size:16px;line-height:1.5;color:#1a1a1a;max-width:600px\">\n\
         {body}</body>\n</html>\n",
        lang = lang.as_str(),
        t = esc(title),
    )
}

/// The link notification for a recipient.
pub(crate) fn notification(
    lang: Lang,
    to: &str,
    org: &str,
    (sender, forwarder): (&str, Option<&str>),
    link: &str,
    public_url: &str,
    message_id: String,
) -> OutMail {
    // CONTRACT: no subject, body or file names here.
    let subject = tr_args(lang, "notify-subject", &[("org", org)]);
    let intro = match forwarder {
        // A secure forward: say who forwarded it, so the new recipient knows why it came.
        Some(f) => tr_args(
            lang,
            "notify-intro-forwarded",
            &[("forwarder", f), ("sender", sender), ("org", org)],
        ),
        None => tr_args(lang, "notify-intro", &[("sender", sender), ("org", org)]),
    };
    let button = tr(lang, "notify-button");
    let how = tr(lang, "notify-how");
    let prefix = format!("{public_url}/m/");
    let genuine = tr_args(lang, "notify-genuine", &[("prefix", &prefix), ("org", org)]);
    let noreply = tr(lang, "notify-auto");
    // The link on a line of its own: mail clients linkify it, and a quoted-printable body
    // keeps a short line whole (no soft line break inside the token).
    let text = format!("{intro}\n\n{button}:\n{link}\n\n{how}\n\n{genuine}\n\n{noreply}\n");
    let body = format!(
        "<p>{intro}</p>\n\
         <p><a style=\"display:inline-block;background:#0b5394;color:#ffffff;padding:12px 24px;\
         border-radius:6px;text-decoration:none;font-weight:bold\"\nhref=\n\"{l}\"\n>{button}</a></p>\n\
         <p>{how}</p>\n<p style=\"color:#555555\">{genuine}</p>\n<p style=\"color:#555555\">{noreply}</p>\n",
        intro = esc(&intro),
        l = html_escape::encode_double_quoted_attribute(link),
        button = esc(&button),
        how = esc(&how),
        genuine = esc(&genuine),
        noreply = esc(&noreply),
    );
    let html = html_mail(lang, &subject, &body);
    OutMail {
        to: to.into(),
        from_name: org.into(),
        subject,
        text,
        html,
        message_id,
    }
}

/// The one-time code by e-mail: the code is the only run of digits in the text.
pub(crate) fn code_mail(
    lang: Lang,
    to: &str,
    org: &str,
    code: &str,
    message_id: String,
) -> OutMail {
    let subject = tr_args(lang, "code-mail-subject", &[("org", org)]);
    let line = tr_args(lang, "code-mail-code", &[("code", code)]);
    let validity = tr(lang, "code-mail-validity");
    let text = format!("{line}\n\n{validity}\n");
    let html = html_mail(
        lang,
        &subject,
        &format!("<p>{}</p>\n<p>{}</p>\n", esc(&line), esc(&validity)),
    );
    OutMail {
        to: to.into(),
        from_name: org.into(),
        subject,
        text,
        html,
        message_id,
    }
}

/// The one-time code by SMS.
pub(crate) fn code_sms(lang: Lang, org: &str, code: &str) -> String {
    tr_args(lang, "code-sms", &[("org", org), ("code", code)])
}

/// The sender's notification of a reply: no content (no subject, body or file names), only
/// that a secure reply is waiting, from which address, and where to read it. In Dutch (staff).
pub(crate) fn reply_mail(
    to: &str,
    org: &str,
    from_email: &str,
    sent_at: Ts,
    public_url: &str,
    message_id: String,
) -> OutMail {
    let l = Lang::Nl;
    let subject = tr(l, "notify-reply-subject");
    let intro = tr_args(
        l,
        "notify-reply-intro",
        &[("from", from_email), ("org", org)],
    );
    let how = tr_args(l, "notify-reply-how", &[("url", public_url)]);
    let when = tr_args(
        l,
        "notify-reply-received",
        &[("date", &datetime(l, sent_at))],
    );
    let text = format!("{intro}\n\n{how}\n\n{when}\n");
    let html = html_mail(
        l,
        &subject,
        &format!(
            "<p>{}</p>\n<p>{}</p>\n<p style=\"color:#555555\">{}</p>\n",
            esc(&intro),
            esc(&how),
            esc(&when)
        ),
    );
    OutMail {
        to: to.into(),
        from_name: org.into(),
        subject,
        text,
        html,
        message_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(lang: Lang) -> OutMail {
        notification(
            lang,
            "jan@example.nl",
            "Ziekenhuis <Test>",
            ("Dr. Test", None),
            "https://zegel.example/m/abc",
            "https://zegel.example",
            "id@x".into(),
        )
    }

    #[test]
    fn the_notification_follows_the_recipients_language() {
        let nl = mail(Lang::Nl);
        assert_eq!(nl.subject, "Beveiligd bericht van Ziekenhuis <Test>");
        assert!(nl
            .text
            .contains("Bericht lezen:\nhttps://zegel.example/m/abc\n"));
        assert!(nl.html.contains("<html lang=\"nl\">") && nl.html.contains(">Bericht lezen</a>"));
        assert!(nl
            .html
            .contains("\nhref=\n\"https://zegel.example/m/abc\"\n>Bericht lezen</a>"));
        assert!(nl.html.contains("Ziekenhuis &lt;Test&gt;"));
        let en = mail(Lang::En);
        assert_eq!(en.subject, "Secure message from Ziekenhuis <Test>");
        assert!(en
            .text
            .contains("Dr. Test of Ziekenhuis <Test> has sent you a secure message."));
        assert!(en.html.contains("<html lang=\"en\">") && en.html.contains(">Read message</a>"));
    }

    #[test]
    fn codes_are_the_only_digits() {
        for lang in Lang::ALL {
            let m = code_mail(lang, "a@b.nl", "Ziekenhuis", "123456", "id@x".into());
            let digits: String = m.text.chars().filter(|c| c.is_ascii_digit()).collect();
            assert_eq!(digits, "123456");
            let sms = code_sms(lang, "Ziekenhuis", "654321");
            let digits: String = sms.chars().filter(|c| c.is_ascii_digit()).collect();
            assert_eq!(digits, "654321");
        }
        assert!(code_mail(Lang::Nl, "a", "o", "1", "i".into())
            .text
            .contains("toegangscode"));
    }
}
