#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod db;
pub mod dkim;
pub mod fixtures;
pub mod store_cases;

pub use db::{
    execute_sql, postgres_skipped, postgres_store, select_texts, sqlite_store, PgDb,
    POSTGRES_URL_ENV, SKIP_POSTGRES_ENV,
};

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
