//! Query counts of pages that must not grow with their length, counted from sqlx's own
//! statement log (target `sqlx::query`, one event per statement) on both backends.

mod common;

use common::{Backend, TestApp};
use serde_json::json;
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// The span a counted call runs in ([`counted`]).
const COUNTED: &str = "zegel_counted";

/// Keeps sqlx's statement events made inside a [`COUNTED`] span (their summaries, for the
/// failure message): what the measured call ran, not what a background task (the audit
/// sequencer, the job worker) ran meanwhile. SQLite's connection threads log inside the
/// caller's span too (sqlx hands it over).
struct Statements(Arc<Mutex<Vec<String>>>);

/// The `summary` field of a `sqlx::query` event.
struct Summary(String);

impl tracing::field::Visit for Summary {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "summary" {
            self.0 = value.to_owned();
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S> Layer<S> for Statements
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let inside = ctx
            .event_scope(event)
            .is_some_and(|mut scope| scope.any(|span| span.metadata().target() == COUNTED));
        if inside {
            let mut summary = Summary(String::new());
            event.record(&mut summary);
            // A connection the pool opens meanwhile sets itself up (SQLite's pragmas, the
            // node's name on PostgreSQL): not what the page costs.
            let setup = summary.0.starts_with("PRAGMA ")
                || summary.0.starts_with("SELECT set_config('zegel.node'");
            if !setup {
                self.0.lock().expect("statement log").push(summary.0);
            }
        }
    }
}

/// Runs `f` inside a span whose statements [`Statements`] keeps; the statements it ran.
async fn counted<F: std::future::Future>(f: F) -> (F::Output, Vec<String>) {
    use tracing::Instrument;
    let log = statements();
    let before = log.lock().expect("statement log").len();
    let out = f
        .instrument(tracing::info_span!(target: COUNTED, "counted"))
        .await;
    let ran = log.lock().expect("statement log")[before..].to_vec();
    (out, ran)
}

fn statements() -> Arc<Mutex<Vec<String>>> {
    static LOG: std::sync::OnceLock<Arc<Mutex<Vec<String>>>> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let filter = tracing_subscriber::filter::Targets::new()
            .with_target("sqlx::query", tracing::Level::TRACE)
            .with_target(COUNTED, tracing::Level::TRACE);
        let subscriber =
            tracing_subscriber::registry().with(Statements(log.clone()).with_filter(filter));
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        log
    })
    .clone()
}

async fn send(app: &TestApp, n: usize) {
    for i in 0..n {
        let res = app
            .send_json(json!({
                "subject": format!("bericht {i}"),
                "recipients": [
                    {"email": format!("a{i}@example.nl"), "verification": "email"},
                    {"email": format!("b{i}@example.nl"), "verification": "email"},
                ],
            }))
            .await;
        assert_eq!(res.status(), 201);
    }
}

/// Statements run by one `list_messages` call, and the page it gave.
async fn list(app: &TestApp) -> (Vec<String>, usize) {
    let (page, ran) = counted(app.z.list_messages(&app.sender, None, 200)).await;
    let page = page.expect("list");
    assert!(page.iter().all(|m| m.recipients.len() == 2));
    assert!(page.iter().all(|m| m.subject.is_some()));
    (ran, page.len())
}

/// The statement log is process-wide: the tests of this file take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn the_sent_list_costs_the_same_queries_for_3_and_30_messages(b: Backend) {
    statements();
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    send(&app, 3).await;
    let (small, n) = list(&app).await;
    assert_eq!(n, 3);
    send(&app, 27).await;
    let (large, n) = list(&app).await;
    assert_eq!(n, 30);
    assert!(!small.is_empty(), "the statement log is seen");
    assert_eq!(small, large, "a page of 30 costs what a page of 3 does");
    assert!(large.len() <= 3, "{large:?} for one page");
    eprintln!("{b:?}: {} statements for a page of {n}", large.len());
    app.run_jobs().await;
}

/// Statements run by one page of the web app's sent list (`/berichten`), filtered by status.
async fn tracked(app: &TestApp) -> (Vec<String>, usize) {
    let q = zegel_core::store::SentQuery {
        status: Some(zegel_core::store::ShownStatus::Queued),
        ..Default::default()
    };
    let (page, ran) = counted(app.z.sent_list(&app.sender, &q, 200)).await;
    let page = page.expect("sent_list");
    assert!(page.messages.iter().all(|m| m.recipients.len() == 2));
    assert!(page.messages.iter().all(|m| m.subject.is_some()));
    (ran, page.messages.len())
}

async fn the_web_sent_list_costs_three_statements_whatever_its_length(b: Backend) {
    statements();
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    send(&app, 3).await;
    let (small, n) = tracked(&app).await;
    assert_eq!(n, 3);
    send(&app, 27).await;
    let (large, n) = tracked(&app).await;
    assert_eq!(n, 30);
    assert!(!small.is_empty(), "the statement log is seen");
    assert_eq!(small, large, "a page of 30 costs what a page of 3 does");
    // The page and its recipients, plus (issue 14) the organisation's availability for the
    // "Verlengen" limit: constant per page.
    assert!(large.len() <= 3, "{large:?} for one page");
    eprintln!("{b:?}: {} statements for a web page of {n}", large.len());
    app.run_jobs().await;
}

backend_tests!(
    the_sent_list_costs_the_same_queries_for_3_and_30_messages,
    the_web_sent_list_costs_three_statements_whatever_its_length
);
