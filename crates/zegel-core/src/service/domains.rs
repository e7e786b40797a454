//! An organisation's own mail domains (NTA 7516): mail from other providers to an address in
//! one of them is received into that user's inbox. Set with `zegel admin org domains`.

use super::Zegel;
use crate::error::{Error, Result};
use crate::mail_store::DomainAdded;
use crate::model::Ts;
use crate::signin::{AccountEvent, AccountEventKind};

/// A domain name as stored: lower case, no trailing dot, ASCII (an internationalised name in
/// its `xn--` form), at least two labels of letters, digits and inner hyphens.
pub fn normalise_domain(input: &str) -> Result<String> {
    let d = input.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if d.len() > 253 || d.split('.').count() < 2 || !d.split('.').all(label_ok) {
        return Err(Error::BadRequest(format!(
            "{input:?} is not a domain name (an internationalised name in its xn-- form)"
        )));
    }
    Ok(d)
}

impl Zegel {
    fn domain_event(org_id: &str, what: &str, domain: &str) -> AccountEvent {
        AccountEvent {
            user_id: None,
            kind: AccountEventKind::PolicyChanged,
            at: Ts::now(),
            ip: None,
            user_agent: None,
            detail: Some(format!("org {org_id}: mail domain {domain} {what}")),
        }
    }

    async fn org_id_of(&self, slug: &str) -> Result<String> {
        Ok(self
            .store
            .org_by_slug(slug)
            .await?
            .ok_or(Error::NotFound)?
            .id)
    }

    /// Adds a mail domain to the organisation `slug` (recorded as a policy change). A domain
    /// of another organisation is refused.
    pub async fn add_org_domain(&self, slug: &str, domain: &str) -> Result<DomainAdded> {
        let org_id = self.org_id_of(slug).await?;
        let domain = normalise_domain(domain)?;
        let added = self
            .store
            .add_org_domain(
                &org_id,
                &domain,
                &Self::domain_event(&org_id, "added", &domain),
            )
            .await?;
        if added == DomainAdded::Added {
            tracing::info!(org_id = %org_id, "mail domain added");
        }
        Ok(added)
    }

    /// Removes a mail domain from the organisation `slug`; false when it did not have it.
    pub async fn remove_org_domain(&self, slug: &str, domain: &str) -> Result<bool> {
        let org_id = self.org_id_of(slug).await?;
        let domain = normalise_domain(domain)?;
        Ok(self
            .store
            .remove_org_domain(
                &org_id,
                &domain,
                &Self::domain_event(&org_id, "removed", &domain),
            )
            .await?)
    }

    /// The organisation's mail domains, sorted.
    pub async fn org_domains(&self, slug: &str) -> Result<Vec<String>> {
        let org_id = self.org_id_of(slug).await?;
        Ok(self.store.org_domains(&org_id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked_and_lower_cased() {
        assert_eq!(
            normalise_domain(" Ziekenhuis.NL. ").unwrap(),
            "ziekenhuis.nl"
        );
        assert_eq!(
            normalise_domain("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
        for bad in [
            "",
            "nl",
            "-a.nl",
            "a-.nl",
            "a..nl",
            "bücher.nl",
            "a b.nl",
            "a@b.nl",
        ] {
            assert!(normalise_domain(bad).is_err(), "{bad:?}");
        }
    }
}
