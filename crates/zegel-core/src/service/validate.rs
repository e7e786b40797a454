//! Input checks shared by the API and the viewer.

use crate::error::{Invalid, Result};
use std::str::FromStr;

/// A lower-cased, syntactically valid e-mail address (RFC 5321 length limits).
pub(crate) fn email(raw: &str) -> Result<String> {
    let e = raw.trim().to_lowercase();
    if e.len() > 254 || e.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad_email(raw));
    }
    let parsed = email_address::EmailAddress::from_str(&e).map_err(|_| bad_email(raw))?;
    // A display name form ("A <a@b>") is not an address.
    if parsed.as_str() != e || !parsed.domain().contains('.') {
        return Err(bad_email(raw));
    }
    Ok(e)
}

/// Parses a phone number (Dutch numbers without country code are accepted) to E.164.
pub fn normalise_phone(raw: &str) -> Result<String> {
    let n = parse_phone(raw)?;
    Ok(n.format().mode(phonenumber::Mode::E164).to_string())
}

/// A number an SMS code may go to (DESIGN "Hostile clients": SMS only to mobile numbers), as
/// E.164. The type comes from libphonenumber's metadata (the `phonenumber` crate): `Mobile`
/// (NL 06, BE 04xx, DE 015x/016x/017x, ...), and `FixedLineOrMobile` where a numbering plan
/// does not tell the two apart (the US and Canada), since refusing those would refuse a whole
/// country; which countries are allowed at all is the organisation's SMS country list.
/// Everything else is [`Invalid::NotMobile`]: fixed lines, premium rate (NL 0900/0906/0909),
/// toll free, shared cost, VoIP, pagers, personal and corporate numbers, and numbers of
/// unknown type. Premium, toll-free and shared-cost ranges are told apart before mobile ones,
/// so an SMS never goes to a number that charges for receiving it.
pub fn mobile_phone(raw: &str) -> Result<String> {
    use phonenumber::Type;
    let n = parse_phone(raw)?;
    match n.number_type(&phonenumber::metadata::DATABASE) {
        Type::Mobile | Type::FixedLineOrMobile => {
            Ok(n.format().mode(phonenumber::Mode::E164).to_string())
        }
        _ => Err(Invalid::NotMobile { input: short(raw) }.into()),
    }
}

/// A valid phone number of any type.
fn parse_phone(raw: &str) -> Result<phonenumber::PhoneNumber> {
    let invalid = || Invalid::Phone { input: short(raw) };
    let n = phonenumber::parse(Some(phonenumber::country::Id::NL), raw.trim())
        .map_err(|_| invalid())?;
    if !phonenumber::is_valid(&n) {
        return Err(invalid().into());
    }
    Ok(n)
}

/// `06-****-**78` for Dutch mobiles, `+32-****-**78` otherwise.
pub fn mask_phone(e164: &str) -> String {
    let digits: String = e164.chars().filter(|c| c.is_ascii_digit()).collect();
    let last2 = &digits[digits.len().saturating_sub(2)..];
    if let Some(rest) = e164.strip_prefix("+31") {
        if rest.starts_with('6') {
            return format!("06-****-**{last2}");
        }
        return format!(
            "0{}-****-**{last2}",
            rest.chars().take(2).collect::<String>()
        );
    }
    let cc = phonenumber::parse(None, e164)
        .map(|n| n.code().value().to_string())
        .unwrap_or_default();
    format!("+{cc}-****-**{last2}")
}

/// `j***@example.nl`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// An SMS code goes only to a number of one of the organisation's countries (ISO 3166
/// alpha-2): `Invalid::SmsCountry` otherwise. `e164` is a number [`normalise_phone`] gave.
pub(crate) fn sms_country(e164: &str, allowed: &[String]) -> Result<()> {
    let country = phonenumber::parse(None, e164)
        .ok()
        .and_then(|n| n.country().id())
        .map(|id| id.as_ref().to_owned());
    match country {
        Some(c) if allowed.iter().any(|a| a.eq_ignore_ascii_case(&c)) => Ok(()),
        other => Err(Invalid::SmsCountry {
            country: other.unwrap_or_else(|| "??".into()),
            allowed: allowed.to_vec(),
        }
        .into()),
    }
}

/// An organisation's SMS countries: ISO 3166 alpha-2 codes with phone numbers (`nl` is
/// `NL`), each once, in the order given.
pub(crate) fn sms_countries(raw: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for c in raw {
        let code = c.trim().to_ascii_uppercase();
        let known = code.len() == 2
            && phonenumber::country::Id::from_str(&code).is_ok()
            && phonenumber::metadata::DATABASE.by_id(&code).is_some();
        if !known {
            return Err(Invalid::SmsCountryCode { input: short(c) }.into());
        }
        if !out.contains(&code) {
            out.push(code);
        }
    }
    Ok(out)
}

/// Removes CR/LF and other control characters (a subject or name reaches mail headers and
/// single-line displays).
pub(crate) use crate::outbound::header_safe as single_line;

/// The longest code hint, in characters.
const MAX_HINT_CHARS: usize = 200;

/// A code the sender chose: exactly 6 digits.
pub(crate) fn sender_code(raw: &str) -> Result<String> {
    let c = raw.trim();
    if c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()) {
        Ok(c.to_string())
    } else {
        Err(Invalid::SenderCode.into())
    }
}

/// A hint must not carry personal data: no digits runs, no dates, no words that point at
/// identity numbers or birth dates.
pub(crate) fn code_hint(raw: &str) -> Result<String> {
    let h = single_line(raw);
    if h.chars().count() > MAX_HINT_CHARS {
        return Err(Invalid::HintTooLong {
            max: MAX_HINT_CHARS,
        }
        .into());
    }
    let lower = h.to_lowercase();
    const BANNED: [&str; 8] = [
        "geboorte",
        "birth",
        "bsn",
        "burgerservice",
        "postcode",
        "adres",
        "address",
        "iban",
    ];
    if BANNED.iter().any(|b| lower.contains(b))
        || h.chars().filter(|c| c.is_ascii_digit()).count() >= 4
    {
        return Err(Invalid::HintPersonalData.into());
    }
    Ok(h)
}

fn bad_email(raw: &str) -> crate::error::Error {
    Invalid::Email { input: short(raw) }.into()
}

/// The first 40 characters of an input for an error message (never logged).
fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_normalised_and_masked() {
        assert_eq!(normalise_phone("06 12345678").unwrap(), "+31612345678");
        assert_eq!(normalise_phone("+31 6 1234 5678").unwrap(), "+31612345678");
        assert_eq!(mask_phone("+31612345678"), "06-****-**78");
        assert!(normalise_phone("12").is_err());
        assert!(normalise_phone("not a number").is_err());
        assert_eq!(mask_phone("+3245678901"), "+32-****-**01");
    }

    #[test]
    fn sms_goes_only_to_mobile_numbers() {
        let mobile = |raw: &str| mobile_phone(raw).map_err(|e| e.to_string());
        // Mobiles: NL 06, BE 04xx, DE 015x/016x/017x, given in any usual notation.
        assert_eq!(mobile("06-12345678").unwrap(), "+31612345678");
        assert_eq!(mobile("+31 6 1234 5678").unwrap(), "+31612345678");
        assert_eq!(mobile("+32 470 12 34 56").unwrap(), "+32470123456");
        assert_eq!(mobile("+49 151 23456789").unwrap(), "+4915123456789");
        assert_eq!(mobile("+49 160 1234567").unwrap(), "+491601234567");
        assert_eq!(mobile("+49 170 1234567").unwrap(), "+491701234567");
        // Valid numbers that are not mobile: premium rate, fixed line, toll free, VoIP, a
        // company number; Belgian and German fixed lines.
        for raw in [
            "+31900123456",
            "0900 123 4567",
            "0906 1234567",
            "+31201234567",
            "020 123 4567",
            "0800 1234567",
            "085 123 4567",
            "088 123 4567",
            "+32 2 234 56 78",
            "+49 30 12345678",
            "+49 900 1 234567",
        ] {
            assert!(normalise_phone(raw).is_ok(), "{raw} is a valid number");
            match mobile_phone(raw) {
                Err(crate::Error::Invalid(Invalid::NotMobile { input })) => assert_eq!(input, raw),
                other => panic!("{raw}: {other:?}"),
            }
        }
        // Not a number at all stays the other reason.
        assert!(matches!(
            mobile_phone("12"),
            Err(crate::Error::Invalid(Invalid::Phone { .. }))
        ));
    }

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(email(" Jan@Example.NL ").unwrap(), "jan@example.nl");
        assert!(email("jan").is_err());
        assert!(email("jan@example.nl\r\nBcc: x@y.z").is_err());
        assert!(email("Jan <jan@example.nl>").is_err());
        assert_eq!(mask_email("jan@example.nl"), "j***@example.nl");
    }

    #[test]
    fn hints_with_personal_data_are_refused() {
        assert!(code_hint("uw geboortedatum").is_err());
        assert!(code_hint("laatste cijfers BSN").is_err());
        assert!(code_hint("code 1234 5678").is_err());
        assert_eq!(
            code_hint("de code die ik u belde\r\n").unwrap(),
            "de code die ik u belde"
        );
    }

    #[test]
    fn sender_codes_are_six_digits() {
        assert!(sender_code("123456").is_ok());
        assert!(sender_code("12345").is_err());
        assert!(sender_code("12345a").is_err());
    }

    #[test]
    fn sms_codes_go_only_to_the_organisations_countries() {
        let allowed =
            sms_countries(&["nl".into(), "BE".into(), " de ".into(), "NL".into()]).unwrap();
        assert_eq!(allowed, ["NL", "BE", "DE"]);
        assert!(sms_country("+31612345678", &allowed).is_ok());
        assert!(sms_country("+32470123456", &allowed).is_ok());
        assert!(sms_country("+4915123456789", &allowed).is_ok());
        let err = sms_country("+447400123456", &allowed).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid: SMS codes go only to numbers from NL, BE, DE; this number is from GB"
        );
        assert!(sms_country("+31612345678", &[]).is_err());
        assert!(sms_countries(&["XX".into()]).is_err());
        assert!(sms_countries(&["Nederland".into()]).is_err());
        assert_eq!(sms_countries(&[]).unwrap(), Vec::<String>::new());
    }
}
