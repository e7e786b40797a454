//! Every store case (`zegel_testkit::store_cases::all()`) on SQLite and on PostgreSQL
//! (`ZEGEL_TEST_POSTGRES_URL`), one trial each, named `sqlite::case_x` / `postgres::case_x`,
//! each on its own fresh store; trials run in parallel like ordinary tests and take the usual
//! test arguments (a name filter, `--test-threads`, ...).
//!
//! Without `ZEGEL_TEST_POSTGRES_URL` the PostgreSQL trials fail with an explanation, unless
//! `ZEGEL_TEST_SKIP_POSTGRES=1`, when they are listed as ignored.

use libtest_mimic::{Arguments, Failed, Trial};
use std::future::Future;
use zegel_testkit::store_cases::{self, Case};

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let skip_postgres = zegel_testkit::postgres_skipped();
    if skip_postgres {
        eprintln!(
            "SKIPPED: the PostgreSQL store cases ({}=1 and {} unset)",
            zegel_testkit::SKIP_POSTGRES_ENV,
            zegel_testkit::POSTGRES_URL_ENV
        );
    }
    let mut trials = Vec::new();
    for case in store_cases::all() {
        trials.push(Trial::test(format!("sqlite::{}", case.name), move || {
            on_runtime(sqlite(case))
        }));
        trials.push(
            Trial::test(format!("postgres::{}", case.name), move || {
                on_runtime(postgres(case))
            })
            .with_ignored_flag(skip_postgres),
        );
    }
    trials.push(Trial::test(
        "migration_folders_have_the_same_file_names",
        || {
            zegel_testkit::assert_migration_folders_match();
            Ok(())
        },
    ));
    libtest_mimic::run(&args, trials).exit_code()
}

async fn sqlite(case: Case) {
    let (store, _dir) = zegel_testkit::sqlite_store().await;
    case.run(store).await;
}

async fn postgres(case: Case) {
    let Some((store, _db)) = zegel_testkit::postgres_store().await else {
        return;
    };
    case.run(store).await;
}

/// Runs a trial on its own runtime, as `#[tokio::test(flavor = "multi_thread",
/// worker_threads = 2)]` would. A panic fails the trial (libtest-mimic catches it).
fn on_runtime(trial: impl Future<Output = ()>) -> Result<(), Failed> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(format!("no tokio runtime: {e}")))?
        .block_on(trial);
    Ok(())
}
