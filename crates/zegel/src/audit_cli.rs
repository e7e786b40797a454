//! `zegel audit verify` and `zegel audit export` (see `zegel_core::audit`).

use anyhow::Context;
use std::collections::HashMap;
use std::io::Write;
use zegel_core::audit::{self, AuditEntry, AuditFilter};
use zegel_core::audit_check::CheckpointKeys;
use zegel_core::model::Ts;
use zegel_core::Zegel;

/// Output format of `zegel audit export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// RFC 4180 CSV with a header line.
    Csv,
}

/// Names of chains for people: the organisation's slug, `installatie` for the chain of what
/// belongs to no organisation.
async fn chain_labels(z: &Zegel) -> anyhow::Result<HashMap<String, String>> {
    let mut labels: HashMap<String, String> = z
        .store
        .list_orgs()
        .await?
        .into_iter()
        .map(|o| (o.id, format!("organisation {}", o.slug)))
        .collect();
    labels.insert(String::new(), "the installation".into());
    Ok(labels)
}

/// `zegel audit verify`: `Ok(true)` when the trail is whole; prints what it found.
pub async fn verify(z: &Zegel, keys: &dyn CheckpointKeys) -> anyhow::Result<bool> {
    let labels = chain_labels(z).await?;
    let label = |chain: &str| {
        labels
            .get(chain)
            .cloned()
            .unwrap_or_else(|| format!("chain {chain}"))
    };
    let report = zegel_core::audit_check::verify(&z.store, keys, &label).await?;
    match report.problem {
        Some(problem) => {
            eprintln!("{problem}");
            Ok(false)
        }
        None => {
            println!(
                "audit trail whole: {} entries in {} chains, {} signed checkpoints checked",
                report.entries, report.chains, report.checkpoints
            );
            Ok(true)
        }
    }
}

/// A `--from`/`--to` value: a date (`2026-12-05`, the day in Amsterdam) or an RFC 3339 time.
/// `end` = the end of the day for a date.
pub fn parse_when(s: &str, end: bool) -> anyhow::Result<Ts> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(Ts((t.unix_timestamp_nanos() / 1_000_000) as i64));
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(s, &fmt)
        .with_context(|| format!("{s:?} is not a date (2026-12-05) or an RFC 3339 time"))?;
    let date = if end {
        date.next_day().context("date out of range")?
    } else {
        date
    };
    Ok(zegel_core::i18n::amsterdam_day_start(date))
}

const CSV_HEADER: [&str; 19] = [
    "chain",
    "seq",
    "event_id",
    "time",
    "action",
    "outcome",
    "user_id",
    "user_name",
    "user_role",
    "on_behalf_of",
    "recipient",
    "object",
    "source_node",
    "network_address",
    "detail",
    "source",
    "source_id",
    "prev_hash",
    "hash",
];

fn record(e: &AuditEntry) -> [String; 19] {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        e.chain.clone(),
        e.seq.to_string(),
        format!("{}-{}", e.source, e.source_id),
        Ts(e.at).to_rfc3339(),
        e.action.clone(),
        e.outcome.clone(),
        o(&e.user_id),
        o(&e.user_name),
        o(&e.user_role),
        o(&e.on_behalf_of),
        o(&e.recipient),
        o(&e.object),
        e.node.clone(),
        o(&e.address),
        o(&e.detail),
        e.source.clone(),
        e.source_id.to_string(),
        audit::hex(&e.prev_hash),
        audit::hex(&e.hash),
    ]
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF; a leading `=`,
/// `+` or `@` gets a `'` so a spreadsheet does not run it as a formula.
fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '@']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// `zegel audit export`: the entries matching `filter`, by time, to `out`. Returns how many.
pub async fn export(
    z: &Zegel,
    filter: &AuditFilter,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<u64> {
    // Everything staged until now is in the export.
    z.sequence_audit().await?;
    if format == Format::Csv {
        writeln!(out, "{}", CSV_HEADER.join(","))?;
    }
    let mut after = None;
    let mut n = 0u64;
    loop {
        let page = z
            .store
            .audit_export_page(filter, after.clone(), 1000)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some((last.at, last.chain.clone(), last.seq));
        for e in &page {
            match format {
                Format::Jsonl => {
                    let fields = record(e);
                    let obj: serde_json::Map<String, serde_json::Value> = CSV_HEADER
                        .iter()
                        .zip(fields)
                        .map(|(k, v)| {
                            let v = match *k {
                                "seq" => serde_json::Value::from(e.seq),
                                "source_id" => serde_json::Value::from(e.source_id),
                                _ if v.is_empty() && *k != "chain" => serde_json::Value::Null,
                                _ => serde_json::Value::from(v),
                            };
                            ((*k).to_owned(), v)
                        })
                        .collect();
                    serde_json::to_writer(&mut *out, &obj)?;
                    writeln!(out)?;
                }
                Format::Csv => {
                    let line: Vec<String> = record(e).iter().map(|f| csv_field(f)).collect();
                    writeln!(out, "{}", line.join(","))?;
                }
            }
            n += 1;
        }
    }
    out.flush()?;
    Ok(n)
}

/// Records the export itself (NEN 7513: exports are audited too): the filter and the count,
/// never the recipient's address.
pub async fn record_export(z: &Zegel, filter: &AuditFilter, n: u64) -> anyhow::Result<()> {
    let when = |t: Option<Ts>| t.map_or_else(|| "-".to_owned(), Ts::to_rfc3339);
    let detail = format!(
        "from {} to {}{}; {n} entries",
        when(filter.from),
        when(filter.to),
        if filter.recipient.is_some() {
            ", one recipient"
        } else {
            ""
        }
    );
    z.store
        .record_account_event(&zegel_core::signin::AccountEvent {
            user_id: None,
            kind: zegel_core::signin::AccountEventKind::AuditExported,
            at: Ts::now(),
            ip: None,
            user_agent: None,
            detail: Some(detail),
        })
        .await?;
    Ok(())
}

/// The public signing keys of every chain, from the database, to check checkpoints with.
pub struct StoreKeys {
    /// Key id -> (its organisation, its public key).
    keys: HashMap<String, (String, Vec<u8>)>,
}

impl StoreKeys {
    /// Loads the keys of every chain.
    pub async fn load(z: &Zegel) -> anyhow::Result<Self> {
        let mut keys = HashMap::new();
        for head in z.store.audit_heads().await? {
            for k in z.store.signing_keys_of(&head.chain).await? {
                keys.insert(k.id, (k.org_id, k.public_key));
            }
        }
        Ok(Self { keys })
    }
}

impl CheckpointKeys for StoreKeys {
    fn check(&self, chain: &str, key_id: &str, message: &[u8], signature: &[u8]) -> bool {
        // A checkpoint counts only when signed by a key of its own chain's organisation.
        self.keys.get(key_id).is_some_and(|(org, public)| {
            org == chain && zegel_crypto::verify_ed25519(public, message, signature)
        })
    }
}
