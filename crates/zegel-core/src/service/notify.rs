//! Notification and code e-mails / SMS. They never carry message content: no subject, body
//! or file names. Sender name, organisation and the link only.

use crate::outbound::OutMail;
use html_escape::encode_text as esc;

/// The link notification for a recipient.
pub(crate) fn notification(
    lang: &str,
    to: &str,
    org: &str,
    sender: &str,
    link: &str,
    public_url: &str,
    message_id: String,
) -> OutMail {
    let en = lang == "en";
    let subject = if en {
        format!("Secure message from {org}")
    } else {
        format!("Beveiligd bericht van {org}")
    };
    let (intro, button, how, genuine, noreply) = if en {
        (
            format!("{sender} of {org} has sent you a secure message."),
            "Read message",
            "Press the button to open the message. You will first be asked for a one-time code, \
             so that only you can read it. You can also reply securely there; please do not reply \
             to this e-mail.",
            format!("Is this e-mail genuine? The link must start with {public_url}/m/ . If in doubt, contact {org} directly."),
            "This e-mail was sent automatically.",
        )
    } else {
        (
            format!("{sender} van {org} heeft u een beveiligd bericht gestuurd."),
            "Bericht lezen",
            "Klik op de knop om het bericht te openen. U krijgt eerst een eenmalige code, zodat \
             alleen u het bericht kunt lezen. Daar kunt u ook veilig antwoorden; beantwoord deze \
             e-mail niet.",
            format!("Is deze e-mail echt? De link moet beginnen met {public_url}/m/ . Twijfelt u? Neem dan zelf contact op met {org}."),
            "Deze e-mail is automatisch verstuurd.",
        )
    };
    let text = format!("{intro}\n\n{button}: {link}\n\n{how}\n\n{genuine}\n\n{noreply}\n");
    let html = format!(
        "<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:Arial,sans-serif;font-size:16px;color:#1a1a1a;max-width:600px\">\
         <p>{intro}</p>\
         <p><a href=\"{l}\" style=\"display:inline-block;background:#0b5394;color:#ffffff;padding:12px 24px;\
         border-radius:6px;text-decoration:none;font-weight:bold\">{button}</a></p>\
         <p>{how}</p><p style=\"color:#555\">{genuine}</p><p style=\"color:#555\">{noreply}</p>\
         </body></html>",
        lang = if en { "en" } else { "nl" },
        t = esc(&subject),
        intro = esc(&intro),
        l = html_escape::encode_double_quoted_attribute(link),
        button = button,
        how = esc(how),
        genuine = esc(&genuine),
        noreply = esc(noreply),
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

/// The one-time code by e-mail: the code is the only run of digits in the text.
pub(crate) fn code_mail(
    lang: &str,
    to: &str,
    org: &str,
    code: &str,
    message_id: String,
) -> OutMail {
    let en = lang == "en";
    let (subject, line, validity) = if en {
        (
            format!("Your access code for the message from {org}"),
            format!("Your one-time access code is: {code}"),
            "It is valid for fifteen minutes. Never share this code with anyone.",
        )
    } else {
        (
            format!("Uw toegangscode voor het bericht van {org}"),
            format!("Uw eenmalige toegangscode is: {code}"),
            "De code is een kwartier geldig. Deel deze code met niemand.",
        )
    };
    let text = format!("{line}\n\n{validity}\n");
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body style=\"font-family:Arial,sans-serif\">\
         <p>{}</p><p>{}</p></body></html>",
        esc(&line),
        esc(validity)
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
pub(crate) fn code_sms(lang: &str, org: &str, code: &str) -> String {
    if lang == "en" {
        format!("Your code for the secure message from {org}: {code} (valid for fifteen minutes)")
    } else {
        format!("Uw code voor het beveiligde bericht van {org}: {code} (een kwartier geldig)")
    }
}
