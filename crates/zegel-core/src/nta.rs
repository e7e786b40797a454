//! NTA 7516 (secure mail between care providers): the DNS TXT record by which a mail domain
//! declares that it takes secure mail directly from other providers,
//! `v=NTA7516-1;startdate=YYYY-MM;enddate=YYYY-MM;provider=NAME;ntamx=PRIO HOST` (`ntamx`
//! repeatable; without it the domain's MX hosts take the mail).
//!
//! Parsing is strict where a mistake would send patient data somewhere it should not go (the
//! version, the dates, the hosts) and lenient elsewhere (spaces, key case, unknown keys).

use std::fmt;

/// The version tag every record starts with.
pub const VERSION: &str = "NTA7516-1";

/// A calendar month (`YYYY-MM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct YearMonth {
    /// The year.
    pub year: u16,
    /// The month, 1 to 12.
    pub month: u8,
}

impl YearMonth {
    /// `YYYY-MM`, or `None`.
    pub fn parse(s: &str) -> Option<YearMonth> {
        let (y, m) = s.trim().split_once('-')?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (year, month) = (y.parse().ok()?, m.parse().ok()?);
        (1..=12)
            .contains(&month)
            .then_some(YearMonth { year, month })
    }

    /// The month of a UTC time in milliseconds since the epoch.
    pub fn of_millis(ms: i64) -> YearMonth {
        let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        YearMonth {
            year: u16::try_from(t.year()).unwrap_or(0),
            month: u8::from(t.month()),
        }
    }

    /// `months` later.
    pub fn plus_months(self, months: u32) -> YearMonth {
        let total = u32::from(self.year) * 12 + u32::from(self.month) - 1 + months;
        YearMonth {
            year: u16::try_from(total / 12).unwrap_or(u16::MAX),
            month: u8::try_from(total % 12 + 1).unwrap_or(12),
        }
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A parsed NTA 7516 record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtaRecord {
    /// The first month the domain takes direct mail.
    pub start: YearMonth,
    /// The last month (inclusive).
    pub end: YearMonth,
    /// The provider's name.
    pub provider: String,
    /// Where to deliver, by preference (lowest first); empty: the domain's MX hosts.
    pub mx: Vec<(u16, String)>,
}

/// Why a TXT record is not a usable NTA 7516 record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NtaError {
    /// Not an NTA 7516 record at all (another TXT record of the domain).
    #[error("not an NTA 7516 record")]
    NotNta,
    /// A field is missing or malformed.
    #[error("malformed NTA 7516 record: {0}")]
    Malformed(&'static str),
}

impl NtaRecord {
    /// Parses one TXT record's text (its strings joined).
    pub fn parse(txt: &str) -> Result<NtaRecord, NtaError> {
        let mut fields = txt.split(';').map(str::trim).filter(|f| !f.is_empty());
        let first = fields.next().ok_or(NtaError::NotNta)?;
        match first.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("v") && v.trim() == VERSION => {}
            _ => return Err(NtaError::NotNta),
        }
        let (mut start, mut end, mut provider, mut mx) = (None, None, None, Vec::new());
        for field in fields {
            let (key, value) = field
                .split_once('=')
                .ok_or(NtaError::Malformed("a field without `=`"))?;
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "startdate" => {
                    start = Some(YearMonth::parse(value).ok_or(NtaError::Malformed("startdate"))?)
                }
                "enddate" => {
                    end = Some(YearMonth::parse(value).ok_or(NtaError::Malformed("enddate"))?)
                }
                "provider" => provider = Some(value.to_owned()),
                "ntamx" => mx.push(parse_mx(value)?),
                _ => {}
            }
        }
        let (Some(start), Some(end)) = (start, end) else {
            return Err(NtaError::Malformed("startdate and enddate are required"));
        };
        if end < start {
            return Err(NtaError::Malformed("enddate before startdate"));
        }
        mx.sort();
        Ok(NtaRecord {
            start,
            end,
            provider: provider.unwrap_or_default(),
            mx,
        })
    }

    /// Whether the record holds in `month` (from its start to its end month, inclusive).
    pub fn holds_in(&self, month: YearMonth) -> bool {
        self.start <= month && month <= self.end
    }
}

impl fmt::Display for NtaRecord {
    /// The record as published.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "v={VERSION};startdate={};enddate={};provider={}",
            self.start, self.end, self.provider
        )?;
        for (prio, host) in &self.mx {
            write!(f, ";ntamx={prio} {host}")?;
        }
        Ok(())
    }
}

/// `PRIO HOST`: a preference and a host name (a trailing dot dropped, lower-cased).
fn parse_mx(value: &str) -> Result<(u16, String), NtaError> {
    let mut parts = value.split_whitespace();
    let (Some(prio), Some(host), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NtaError::Malformed("ntamx must be `PRIO HOST`"));
    };
    let prio: u16 = prio
        .parse()
        .map_err(|_| NtaError::Malformed("ntamx preference"))?;
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.len() > 253 || !host.contains('.') || !host.split('.').all(label_ok) {
        return Err(NtaError::Malformed("ntamx host"));
    }
    Ok((prio, host))
}

/// The NTA 7516 records among a domain's TXT records. Other TXT records (SPF, verification
/// tokens) are skipped; a malformed NTA record counts as none (the portal is always safe).
pub fn records(txts: &[String]) -> Vec<NtaRecord> {
    txts.iter()
        .filter_map(|t| match NtaRecord::parse(t) {
            Ok(r) => Some(r),
            Err(NtaError::NotNta) => None,
            Err(e) => {
                tracing::info!(error = %e, "an NTA 7516 record is ignored");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ym(year: u16, month: u8) -> YearMonth {
        YearMonth { year, month }
    }

    #[test]
    fn a_record_parses_and_prints_back() {
        let txt = "v=NTA7516-1;startdate=2026-01;enddate=2027-12;provider=Zorgmail;\
                   ntamx=20 mx2.example.nl.;ntamx=10 MX1.example.nl";
        let r = NtaRecord::parse(txt).unwrap();
        assert_eq!(r.start, ym(2026, 1));
        assert_eq!(r.end, ym(2027, 12));
        assert_eq!(r.provider, "Zorgmail");
        assert_eq!(
            r.mx,
            vec![(10, "mx1.example.nl".into()), (20, "mx2.example.nl".into())]
        );
        assert_eq!(
            r.to_string(),
            "v=NTA7516-1;startdate=2026-01;enddate=2027-12;provider=Zorgmail;\
             ntamx=10 mx1.example.nl;ntamx=20 mx2.example.nl"
        );
        assert_eq!(NtaRecord::parse(&r.to_string()).unwrap(), r);
        // Spaces, key case and unknown keys do not matter; without ntamx: the MX hosts.
        let r =
            NtaRecord::parse(" v = NTA7516-1 ; StartDate=2026-05; enddate=2026-05; x=y;").unwrap();
        assert!(r.mx.is_empty());
        assert!(r.holds_in(ym(2026, 5)));
    }

    #[test]
    fn only_inside_its_months_does_a_record_hold() {
        let r =
            NtaRecord::parse("v=NTA7516-1;startdate=2026-03;enddate=2026-11;provider=p").unwrap();
        assert!(!r.holds_in(ym(2026, 2)));
        assert!(r.holds_in(ym(2026, 3)));
        assert!(r.holds_in(ym(2026, 11)));
        assert!(!r.holds_in(ym(2026, 12)), "an expired enddate is ignored");
        let txts = vec![
            "v=spf1 -all".to_owned(),
            "v=NTA7516-1;startdate=2026-03;enddate=2026-11;provider=p".to_owned(),
            "v=NTA7516-1;startdate=2026-13;enddate=2027-01".to_owned(),
        ];
        let found = records(&txts);
        assert_eq!(found.len(), 1, "neither SPF nor a malformed record");
        assert!(found[0].holds_in(ym(2026, 6)));
        assert!(!found[0].holds_in(ym(2026, 12)));
    }

    #[test]
    fn what_is_not_a_usable_record_is_refused() {
        for (txt, err) in [
            ("v=spf1 include:x -all", NtaError::NotNta),
            ("", NtaError::NotNta),
            (
                "v=NTA7516-2;startdate=2026-01;enddate=2026-02",
                NtaError::NotNta,
            ),
            (
                "startdate=2026-01;v=NTA7516-1;enddate=2026-02",
                NtaError::NotNta,
            ),
            (
                "v=NTA7516-1;enddate=2026-02",
                NtaError::Malformed("startdate and enddate are required"),
            ),
            (
                "v=NTA7516-1;startdate=2026-1;enddate=2026-02",
                NtaError::Malformed("startdate"),
            ),
            (
                "v=NTA7516-1;startdate=2026-03;enddate=2026-02",
                NtaError::Malformed("enddate before startdate"),
            ),
            (
                "v=NTA7516-1;startdate=2026-01;enddate=2026-02;ntamx=mx.example.nl",
                NtaError::Malformed("ntamx must be `PRIO HOST`"),
            ),
            (
                "v=NTA7516-1;startdate=2026-01;enddate=2026-02;ntamx=10 evil_host",
                NtaError::Malformed("ntamx host"),
            ),
            (
                "v=NTA7516-1;startdate=2026-01;enddate=2026-02;ntamx=99999 mx.example.nl",
                NtaError::Malformed("ntamx preference"),
            ),
        ] {
            assert_eq!(NtaRecord::parse(txt), Err(err), "{txt}");
        }
    }

    #[test]
    fn months_count_across_years() {
        assert_eq!(ym(2026, 12).plus_months(1), ym(2027, 1));
        assert_eq!(ym(2026, 1).plus_months(23), ym(2027, 12));
        assert_eq!(YearMonth::of_millis(1_767_225_600_000), ym(2026, 1)); // 2026-01-01T00:00Z
        assert_eq!(YearMonth::parse("2026-00"), None);
        assert_eq!(YearMonth::parse("26-01"), None);
    }
}
