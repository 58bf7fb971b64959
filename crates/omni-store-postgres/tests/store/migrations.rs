use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::MigrationHarness;
use omni_store_postgres::test_db::TestDatabase;
use omni_store_postgres::{DbConfig, MIGRATIONS, run_migrations};

use crate::{client, rows};

/// Everything of ours in the public schema, as sorted text: tables and columns, constraints,
/// indexes, triggers, functions and sequences. Diesel's bookkeeping table is left out.
async fn snapshot(db: &TestDatabase) -> Vec<String> {
    let c = client(db).await;
    let mut out = Vec::new();
    for sql in [
        "SELECT 'column', table_name, column_name, data_type, is_nullable, coalesce(column_default, ''), \
                is_identity, coalesce(generation_expression, '') \
         FROM information_schema.columns WHERE table_schema = 'public' \
           AND table_name <> '__diesel_schema_migrations'",
        "SELECT 'constraint', conrelid::regclass::text, conname, pg_get_constraintdef(c.oid) \
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
         WHERE n.nspname = 'public' AND conrelid::regclass::text <> '__diesel_schema_migrations'",
        "SELECT 'index', tablename, indexname, indexdef FROM pg_indexes \
         WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'",
        "SELECT 'trigger', tgrelid::regclass::text, tgname, pg_get_triggerdef(t.oid) \
         FROM pg_trigger t WHERE NOT tgisinternal",
        "SELECT 'function', proname, pg_get_functiondef(p.oid) FROM pg_proc p \
         JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'",
        "SELECT 'sequence', sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public'",
        "SELECT 'type', typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
         WHERE n.nspname = 'public' AND typtype IN ('e', 'd', 'c') AND typrelid = 0",
    ] {
        out.extend(rows(&c, sql).await);
    }
    out.sort();
    out
}

/// Runs `f` on a blocking thread with a migration harness on `db`.
async fn with_harness<T: Send + 'static>(
    db: &TestDatabase,
    f: impl FnOnce(&mut AsyncConnectionWrapper<diesel_async::AsyncPgConnection>) -> T + Send + 'static,
) -> T {
    use diesel_async::AsyncConnection;
    let conn = diesel_async::AsyncPgConnection::establish(db.url())
        .await
        .unwrap();
    tokio::task::spawn_blocking(move || {
        let mut harness = AsyncConnectionWrapper::from(conn);
        f(&mut harness)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_down_migration_exactly_reverses_its_up() {
    let db = TestDatabase::empty().await.unwrap();
    let total = MIGRATIONS.len();

    // Up one at a time, remembering the schema after each step.
    let mut after_step = vec![snapshot(&db).await];
    assert!(
        after_step[0].is_empty(),
        "a new database has none of our objects: {:?}",
        after_step[0]
    );
    for _ in 0..total {
        with_harness(&db, |h| {
            h.run_next_migration(MIGRATIONS)
                .map(|v| v.to_string())
                .unwrap()
        })
        .await;
        after_step.push(snapshot(&db).await);
    }
    assert!(
        after_step[total]
            .iter()
            .any(|r| r.starts_with("column|tickets|status|"))
    );

    // Down one at a time: each revert must land exactly on the schema before its up.
    for step in (0..total).rev() {
        with_harness(&db, |h| {
            h.revert_last_migration(MIGRATIONS)
                .map(|v| v.to_string())
                .unwrap()
        })
        .await;
        let now = snapshot(&db).await;
        assert_eq!(
            now,
            after_step[step],
            "reverting migration {} left a different schema",
            step + 1
        );
    }

    // And up again, all at once, to the same schema as before.
    let applied = run_migrations(&DbConfig::new(db.url()).unwrap())
        .await
        .unwrap();
    assert_eq!(applied.len(), total);
    assert_eq!(snapshot(&db).await, after_step[total]);
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_starting_together_migrate_once() {
    let db = TestDatabase::empty().await.unwrap();
    let config = DbConfig::new(db.url()).unwrap();
    let runs = futures_util::future::join_all((0..4).map(|_| run_migrations(&config))).await;
    let mut applied = Vec::new();
    for run in runs {
        applied.extend(run.expect("every instance starts"));
    }
    // Each migration was applied by exactly one instance; the others found nothing to do.
    applied.sort();
    let before = applied.len();
    applied.dedup();
    assert_eq!(before, applied.len(), "a migration ran twice");
    assert_eq!(applied.len(), MIGRATIONS.len());
    let c = client(&db).await;
    assert_eq!(
        rows(&c, "SELECT count(*) FROM __diesel_schema_migrations").await,
        vec![MIGRATIONS.len().to_string()]
    );
    // A later start has nothing to do.
    assert!(run_migrations(&config).await.unwrap().is_empty());
}

trait MigrationCount {
    fn len(&self) -> usize;
}

impl MigrationCount for diesel_migrations::EmbeddedMigrations {
    fn len(&self) -> usize {
        use diesel::migration::MigrationSource;
        MigrationSource::<diesel::pg::Pg>::migrations(self)
            .unwrap()
            .len()
    }
}
