//! DANE for SMTP (RFC 7672): a mail host that publishes TLSA records at `_25._tcp.HOST`, in a
//! DNSSEC-signed zone, names the certificate (or the CA) its STARTTLS must present. Zegel
//! checks them only when its resolver vouches for the answer (the AD bit of a validating
//! resolver, as Postfix and Exim do); an unsigned TLSA answer could be forged as easily as the
//! certificate, so it changes nothing (the certificate is then verified against the CAs).
//!
//! Usable records, as RFC 7672 §3.1 says for SMTP:
//! - `3` DANE-EE: the host's own certificate (or its key) matches; its name and dates do not
//!   matter, the DNSSEC-signed record is the trust.
//! - `2` DANE-TA: a certificate in the chain the host presents matches, the host's certificate
//!   chains to it and carries the host's name.
//!
//! Usages `0` and `1` (PKIX-TA, PKIX-EE) are for the web and unusable for SMTP; a host with
//! only unusable records is verified against the CAs.

use sha2::{Digest, Sha256, Sha512};

/// One TLSA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    /// Certificate usage (0-3).
    pub usage: u8,
    /// Selector: 0 the whole certificate, 1 its SubjectPublicKeyInfo.
    pub selector: u8,
    /// Matching type: 0 exact, 1 SHA-256, 2 SHA-512.
    pub matching: u8,
    /// The association data.
    pub data: Vec<u8>,
}

impl Tlsa {
    /// Whether the record can be used for SMTP (RFC 7672 §3.1): DANE-TA or DANE-EE, with a
    /// selector and matching type this code knows.
    pub fn usable(&self) -> bool {
        matches!(self.usage, 2 | 3) && self.selector <= 1 && self.matching <= 2
    }

    /// Whether the certificate `der` matches the record's selector and data.
    pub fn matches(&self, der: &[u8]) -> bool {
        let selected: Vec<u8> = match self.selector {
            0 => der.to_vec(),
            1 => match x509_parser::parse_x509_certificate(der) {
                Ok((_, cert)) => cert.tbs_certificate.subject_pki.raw.to_vec(),
                Err(_) => return false,
            },
            _ => return false,
        };
        let digest: Vec<u8> = match self.matching {
            0 => selected,
            1 => Sha256::digest(&selected).to_vec(),
            2 => Sha512::digest(&selected).to_vec(),
            _ => return false,
        };
        // Public data (a certificate's hash), no secret to time.
        digest == self.data
    }
}

/// Checks the chain a host presented (`chain[0]` its own certificate) against the host's
/// usable TLSA records. `Ok`: which record matched (for the sender's events); `Err`: why none.
pub fn check(
    records: &[Tlsa],
    chain: &[Vec<u8>],
    host: &str,
    now: rustls_pki_types::UnixTime,
) -> Result<&'static str, String> {
    let Some(leaf) = chain.first() else {
        return Err("DANE: the host presented no certificate".into());
    };
    let usable: Vec<&Tlsa> = records.iter().filter(|r| r.usable()).collect();
    if usable.iter().any(|r| r.usage == 3 && r.matches(leaf)) {
        return Ok("DANE-EE");
    }
    for ta in usable.iter().filter(|r| r.usage == 2) {
        for (i, cert) in chain.iter().enumerate() {
            if ta.matches(cert) && chains_to(leaf, &chain[1..i.max(1)], cert, host, now).is_ok() {
                return Ok("DANE-TA");
            }
        }
    }
    Err(format!(
        "DANE: the certificate of {host} matches none of its {} TLSA record(s)",
        usable.len()
    ))
}

/// The leaf is valid now, for `host`, and chains through `intermediates` to `anchor`.
fn chains_to(
    leaf: &[u8],
    intermediates: &[Vec<u8>],
    anchor: &[u8],
    host: &str,
    now: rustls_pki_types::UnixTime,
) -> Result<(), webpki::Error> {
    use rustls_pki_types::{CertificateDer, ServerName};
    let anchor_der = CertificateDer::from(anchor);
    let anchors = [webpki::anchor_from_trusted_cert(&anchor_der)?.to_owned()];
    let leaf_der = CertificateDer::from(leaf);
    let ee = webpki::EndEntityCert::try_from(&leaf_der)?;
    let inter: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &inter,
        now,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )?;
    let name = ServerName::try_from(host).map_err(|_| webpki::Error::UnsupportedNameType)?;
    ee.verify_is_valid_for_subject_name(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlsa(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> Tlsa {
        Tlsa {
            usage,
            selector,
            matching,
            data,
        }
    }

    #[test]
    fn only_dane_usages_with_known_types_are_usable() {
        assert!(tlsa(3, 1, 1, vec![]).usable());
        assert!(tlsa(2, 0, 2, vec![]).usable());
        assert!(!tlsa(1, 1, 1, vec![]).usable(), "PKIX-EE is for the web");
        assert!(!tlsa(0, 0, 1, vec![]).usable());
        assert!(!tlsa(3, 2, 1, vec![]).usable());
        assert!(!tlsa(3, 1, 3, vec![]).usable());
    }

    #[test]
    fn a_certificate_matches_by_its_bytes_or_their_hashes() {
        // Not a certificate: selector 0 still compares its bytes, selector 1 cannot parse it.
        let der = b"not a certificate".to_vec();
        assert!(tlsa(3, 0, 0, der.clone()).matches(&der));
        assert!(tlsa(3, 0, 1, Sha256::digest(&der).to_vec()).matches(&der));
        assert!(tlsa(3, 0, 2, Sha512::digest(&der).to_vec()).matches(&der));
        assert!(!tlsa(3, 0, 1, Sha512::digest(&der).to_vec()).matches(&der));
        assert!(!tlsa(3, 1, 1, Sha256::digest(&der).to_vec()).matches(&der));
        let now = rustls_pki_types::UnixTime::now();
        assert!(check(
            &[tlsa(3, 0, 0, der.clone())],
            std::slice::from_ref(&der),
            "mx.x.nl",
            now
        )
        .is_ok());
        assert!(check(
            &[tlsa(1, 0, 0, der.clone())],
            std::slice::from_ref(&der),
            "mx.x.nl",
            now
        )
        .is_err());
        assert!(check(&[tlsa(3, 0, 0, der)], &[], "mx.x.nl", now).is_err());
    }
}
