//! The accounts tables are one DDL applied by two migrations: they must not drift apart.

#[test]
fn hub_migration_0010_and_node_migration_0007_are_the_accounts_schema() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for path in [
        "hub/migrations/0010_accounts.sql",
        "node/migrations/0007_accounts.sql",
    ] {
        let text = std::fs::read_to_string(root.join(path)).unwrap();
        assert_eq!(
            text,
            bangfu_web::SCHEMA,
            "{path} differs from web/schema.sql"
        );
    }
}
