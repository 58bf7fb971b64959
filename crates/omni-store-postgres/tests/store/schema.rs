//! `src/schema.rs` is written by hand (the diesel CLI needs libpq); this keeps it honest.

use std::collections::BTreeMap;

use omni_store_postgres::test_db::TestDatabase;

use crate::{client, rows};

/// Columns of the database that schema.rs leaves out on purpose.
const NOT_IN_SCHEMA_RS: &[&str] = &["ticket_messages.search"];

/// `table.column` → (PostgreSQL type name, nullable), parsed from schema.rs's `table!` blocks.
fn declared() -> BTreeMap<String, (String, bool)> {
    let source = include_str!("../../src/schema.rs");
    let mut out = BTreeMap::new();
    let mut table = None::<String>;
    let mut sql_name = None::<String>;
    for line in source.lines().map(str::trim) {
        // `name (primary key) {` opens a table block.
        if let Some(rest) = line
            .strip_suffix(") {")
            .and_then(|l| l.split_once(" ("))
            .map(|(name, _)| name)
        {
            table = Some(rest.trim().to_owned());
        } else if line == "}" {
            table = None;
        } else if let Some(name) = line
            .strip_prefix("#[sql_name = \"")
            .and_then(|l| l.strip_suffix("\"]"))
        {
            sql_name = Some(name.to_owned());
        } else if let (Some(t), Some((col, ty))) = (&table, line.split_once(" -> ")) {
            let ty = ty.trim_end_matches(',');
            let (ty, nullable) = match ty
                .strip_prefix("Nullable<")
                .and_then(|t| t.strip_suffix('>'))
            {
                Some(inner) => (inner, true),
                None => (ty, false),
            };
            let pg = match ty {
                "Int8" => "int8",
                "Int4" => "int4",
                "Int2" => "int2",
                "Text" => "text",
                "Jsonb" => "jsonb",
                "Bool" => "bool",
                "Timestamptz" => "timestamptz",
                "Float8" => "float8",
                "Array<Text>" => "_text",
                "Array<Int8>" => "_int8",
                "Date" => "date",
                "Bytea" => "bytea",
                other => panic!("schema.rs uses {other}: teach this test its PostgreSQL name"),
            };
            let col = sql_name.take().unwrap_or_else(|| col.to_owned());
            out.insert(format!("{t}.{col}"), (pg.to_owned(), nullable));
        }
    }
    out
}

#[tokio::test]
async fn schema_matches_the_database() {
    let db = TestDatabase::new().await.unwrap();
    let c = client(&db).await;
    let actual: BTreeMap<String, (String, bool)> = rows(
        &c,
        "SELECT table_name || '.' || column_name, udt_name, is_nullable FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .await
    .into_iter()
    .filter_map(|r| {
        let mut parts = r.split('|');
        let (col, ty, null) = (parts.next()?, parts.next()?, parts.next()?);
        (!NOT_IN_SCHEMA_RS.contains(&col)).then(|| (col.to_owned(), (ty.to_owned(), null == "YES")))
    })
    .collect();
    let declared = declared();
    assert!(
        declared.len() > 60,
        "parsed too little of schema.rs: {}",
        declared.len()
    );
    assert_eq!(declared, actual);
}
