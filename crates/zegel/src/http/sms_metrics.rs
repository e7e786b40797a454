//! The SMS budget on `/metrics`: per organisation, today's (UTC) SMS codes sent, refused
//! because the budget was spent, and the budget itself. Read from the database, so every node
//! reports the same, cluster-wide numbers (gauges, not node-local counters).

use std::fmt::Write;
use zegel_core::codes::{utc_day, SmsUsage};
use zegel_core::model::Ts;
use zegel_core::Zegel;

/// A gauge: its name, its help text and its value for one organisation.
type Gauge = (&'static str, &'static str, fn(&SmsUsage) -> i64);

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Appends the SMS gauges to `out` (nothing when the database cannot be read; logged).
pub(super) async fn write_sms_metrics(z: &Zegel, out: &mut String) {
    let usage = match z.store.sms_usage(utc_day(Ts::now())).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "metrics: SMS usage failed");
            return;
        }
    };
    let gauges: [Gauge; 3] = [
        (
            "zegel_sms_sent_today",
            "SMS codes sent today (UTC) per organisation.",
            |u| u.sent,
        ),
        (
            "zegel_sms_refused_today",
            "SMS codes refused today (UTC) because the organisation's budget was spent.",
            |u| u.refused,
        ),
        (
            "zegel_sms_budget_per_day",
            "The organisation's SMS budget per day (sms_per_day).",
            |u| u.per_day,
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for u in &usage {
            let _ = writeln!(out, "{name}{{org=\"{}\"}} {}", label(&u.org_slug), value(u));
        }
    }
}
