#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod db;
pub mod dkim;
pub mod fixtures;
pub mod store_cases;

pub use db::{postgres_store, sqlite_store, PgDb, POSTGRES_URL_ENV, SKIP_POSTGRES_ENV};

/// Runs store cases from [`store_cases`] as `#[tokio::test]`s on both backends: one module
/// `sqlite` and one module `postgres`, each with one test per case (`sqlite::case_x`,
/// `postgres::case_x`).
///
/// `store_suite!()` runs every case. With an explicit list, `store_suite!(case_a, case_b)`,
/// it also generates a test that fails unless the list names every `pub async fn` of
/// [`store_cases`], so a new case cannot be forgotten. The calling crate needs `tokio` (with
/// the `macros` and `rt-multi-thread` features) as a (dev-)dependency.
#[macro_export]
macro_rules! store_suite {
    () => {
        $crate::store_suite!(
            case_migrate_twice,
            case_meta_init_first_writer_wins,
            case_create_org_and_key,
            case_user_create_and_lookup,
            case_api_token_lookup,
            case_insert_message_roundtrip,
            case_insert_message_is_all_or_nothing,
            case_list_messages_order_and_paging,
            case_access_by_link_hash,
            case_set_code_replaces_code_and_enqueues_job,
            case_set_code_refused_while_locked,
            case_record_wrong_code_counts_and_locks,
            case_accept_code_stale_mac,
            case_accept_code_success,
            case_accept_code_fixed_code_is_kept,
            case_accept_code_while_locked,
            case_accept_code_race_has_one_winner,
            case_unknown_recipient_is_not_found,
            case_record_event_status_transitions,
            case_claim_jobs_respects_run_at_and_max,
            case_claimed_job_lease_expires,
            case_concurrent_claimers_never_share_a_job,
            case_retry_kill_complete_and_counts,
            case_mark_notified_sets_notified_at_once,
            case_mark_notified_completes_its_job,
            case_concurrent_inserts_fail_alone,
            case_concurrent_marks_answer_alone,
            case_mark_failed,
            case_destroy_message_revoke,
            case_destroy_message_expire,
            case_expired_message_ids,
            case_blobs_to_delete,
            case_reply_roundtrip_once_and_thread,
            case_reply_to_destroyed_message_is_refused,
            case_concurrent_once_replies_store_one,
            case_forward_adds_recipient,
            case_org_policy_and_logo,
            case_devices_accept_revoke_expire,
        );
    };
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (store, _dir) = $crate::sqlite_store().await;
                    $crate::store_cases::$case(store).await;
                }
            )+
        }

        mod postgres {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some((store, _db)) = $crate::postgres_store().await else {
                        return;
                    };
                    $crate::store_cases::$case(store).await;
                }
            )+
        }

        #[test]
        fn store_suite_lists_every_case() {
            $crate::store_cases::assert_every_case_listed(&[$(stringify!($case)),+]);
        }
    };
}

/// Panics unless `zegel-store-sqlite/migrations` and `zegel-store-postgres/migrations` hold
/// the same, non-empty set of file names.
pub fn assert_migration_folders_match() {
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let names = |backend: &str| -> Vec<String> {
        let dir = crates.join(backend).join("migrations");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|entry| {
                entry
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    };
    let sqlite = names("zegel-store-sqlite");
    let postgres = names("zegel-store-postgres");
    assert!(!sqlite.is_empty(), "no SQLite migrations found");
    assert!(
        sqlite.iter().all(|n| n.ends_with(".sql")),
        "non-.sql file among the SQLite migrations: {sqlite:?}"
    );
    assert_eq!(
        sqlite, postgres,
        "the SQLite and PostgreSQL migration folders must hold the same file names"
    );
}
