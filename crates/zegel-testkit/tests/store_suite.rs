//! Every store case on SQLite and on PostgreSQL (`ZEGEL_TEST_POSTGRES_URL`).

zegel_testkit::store_suite!();

#[test]
fn migration_folders_have_the_same_file_names() {
    zegel_testkit::assert_migration_folders_match();
}
