//! Query counts of pages that must not grow with their length, counted from sqlx's own
//! statement log (target `sqlx::query`, one event per statement) on both backends.

mod common;

use common::{Backend, TestApp};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// The span a counted call runs in ([`counted`]).
const COUNTED: &str = "zegel_counted";

/// Counts sqlx's statement events made inside a [`COUNTED`] span: what the measured call
/// ran, not what a background task (the audit sequencer, the job worker) ran meanwhile.
/// SQLite's connection threads log inside the caller's span too (sqlx hands it over).
struct Statements(Arc<AtomicUsize>);

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
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Runs `f` inside a span whose statements [`Statements`] counts.
async fn counted<F: std::future::Future>(f: F) -> F::Output {
    use tracing::Instrument;
    f.instrument(tracing::info_span!(target: COUNTED, "counted"))
        .await
}

fn counter() -> Arc<AtomicUsize> {
    static COUNT: std::sync::OnceLock<Arc<AtomicUsize>> = std::sync::OnceLock::new();
    COUNT
        .get_or_init(|| {
            let count = Arc::new(AtomicUsize::new(0));
            let filter = tracing_subscriber::filter::Targets::new()
                .with_target("sqlx::query", tracing::Level::TRACE)
                .with_target(COUNTED, tracing::Level::TRACE);
            let subscriber =
                tracing_subscriber::registry().with(Statements(count.clone()).with_filter(filter));
            tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
            count
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
async fn list(app: &TestApp) -> (usize, usize) {
    let count = counter();
    let before = count.load(Ordering::SeqCst);
    let page = counted(app.z.list_messages(&app.sender, None, 200))
        .await
        .expect("list");
    let ran = count.load(Ordering::SeqCst) - before;
    assert!(page.iter().all(|m| m.recipients.len() == 2));
    assert!(page.iter().all(|m| m.subject.is_some()));
    (ran, page.len())
}

/// The statement log is process-wide: the tests of this file take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn the_sent_list_costs_the_same_queries_for_3_and_30_messages(b: Backend) {
    counter();
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
    assert!(small > 0, "the statement log is seen");
    assert_eq!(small, large, "a page of 30 costs what a page of 3 does");
    assert!(large <= 3, "{large} statements for one page");
    eprintln!("{b:?}: {large} statements for a page of {n}");
    app.run_jobs().await;
}

/// Statements run by one page of the web app's sent list (`/berichten`), filtered by status.
async fn tracked(app: &TestApp) -> (usize, usize) {
    let count = counter();
    let before = count.load(Ordering::SeqCst);
    let q = zegel_core::store::SentQuery {
        status: Some(zegel_core::store::ShownStatus::Queued),
        ..Default::default()
    };
    let page = counted(app.z.sent_list(&app.sender, &q, 200))
        .await
        .expect("sent_list");
    let ran = count.load(Ordering::SeqCst) - before;
    assert!(page.messages.iter().all(|m| m.recipients.len() == 2));
    assert!(page.messages.iter().all(|m| m.subject.is_some()));
    (ran, page.messages.len())
}

async fn the_web_sent_list_costs_three_statements_whatever_its_length(b: Backend) {
    counter();
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
    assert!(small > 0, "the statement log is seen");
    assert_eq!(small, large, "a page of 30 costs what a page of 3 does");
    // The page and its recipients, plus (issue 14) the organisation's availability for the
    // "Verlengen" limit: constant per page.
    assert!(large <= 3, "{large} statements for one page");
    eprintln!("{b:?}: {large} statements for a web page of {n}");
    app.run_jobs().await;
}

backend_tests!(
    the_sent_list_costs_the_same_queries_for_3_and_30_messages,
    the_web_sent_list_costs_three_statements_whatever_its_length
);
