//! The schema written once: `schema.rs` is generated from the SQLite migrations, and the
//! PostgreSQL migrations must make the same tables, columns, types, nullability, primary
//! keys, indexes and foreign keys. Both engines are migrated here and read back from their
//! own catalogues, so a column added to one engine only, or a `schema.rs` edited by hand,
//! fails the test naming the difference.
//!
//! To regenerate `src/storage/schema.rs` after adding a migration (to both directories):
//! `TOKEND_WRITE_SCHEMA=1 cargo test --lib storage::schema_tests`. Diesel CLI's
//! `diesel print-schema` (diesel.toml) writes the same declarations; this needs no tool
//! beyond the test suite and also checks the twin.

use std::collections::BTreeMap;

use diesel::sql_types::{BigInt, Bool, Text};
use diesel::{QueryableByName, RunQueryDsl as _};

use super::test_support::temp_storage;
use super::{migrate, Conn, Storage};

#[path = "schema_tests_pg.rs"]
mod pg;
use pg::postgres_schema;

/// A column as both engines must declare it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    name: String,
    /// Diesel's SQL type name (`Integer`, `BigInt`, `Text`, `Bool`, `Binary`).
    sql_type: String,
    nullable: bool,
}

/// An index: its columns in order, whether unique, whether partial.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Index {
    columns: Vec<String>,
    unique: bool,
    partial: bool,
}

/// One table as its engine's catalogue describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Table {
    /// In the engine's column order.
    columns: Vec<Column>,
    primary_key: Vec<String>,
    /// Sorted; the primary key's own index left out.
    indexes: Vec<Index>,
    /// (column, referenced table), sorted.
    foreign_keys: Vec<(String, String)>,
}

type Schema = BTreeMap<String, Table>;

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Diesel's SQL type for a declared column type of either engine.
fn diesel_type(declared: &str) -> String {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "int" | "int4" | "serial" => "Integer",
        "bigint" | "int8" | "bigserial" => "BigInt",
        "text" | "character varying" => "Text",
        "boolean" | "bool" => "Bool",
        "blob" | "bytea" => "Binary",
        other => return format!("Unknown<{other}>"),
    }
    .to_owned()
}

fn sqlite_schema(c: &mut Conn) -> Schema {
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '__diesel_schema_migrations' ORDER BY name",
    )
    .load(c)
    .unwrap();
    tables
        .into_iter()
        .map(|Name { name }| (name.clone(), sqlite_table(c, &name)))
        .collect()
}

fn sqlite_table(c: &mut Conn, table: &str) -> Table {
    #[derive(QueryableByName)]
    struct Col {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        declared: String,
        #[diesel(sql_type = Bool)]
        not_null: bool,
        #[diesel(sql_type = BigInt)]
        pk: i64,
    }
    let cols: Vec<Col> = diesel::sql_query(format!(
        "SELECT name, type AS declared, \"notnull\" AS not_null, pk \
         FROM pragma_table_info('{table}') ORDER BY cid"
    ))
    .load(c)
    .unwrap();
    let mut pk: Vec<(i64, String)> = cols
        .iter()
        .filter(|c| c.pk > 0)
        .map(|c| (c.pk, c.name.clone()))
        .collect();
    pk.sort();
    let columns = cols
        .iter()
        .map(|col| Column {
            name: col.name.clone(),
            sql_type: diesel_type(&col.declared),
            // SQLite reports a primary key column nullable unless declared NOT NULL;
            // an INTEGER PRIMARY KEY is the row id and never NULL.
            nullable: !col.not_null && col.pk == 0,
        })
        .collect();
    Table {
        columns,
        primary_key: pk.into_iter().map(|(_, n)| n).collect(),
        indexes: sqlite_indexes(c, table),
        foreign_keys: sqlite_foreign_keys(c, table),
    }
}

fn sqlite_indexes(c: &mut Conn, table: &str) -> Vec<Index> {
    #[derive(QueryableByName)]
    struct Idx {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Bool)]
        is_unique: bool,
        #[diesel(sql_type = Text)]
        origin: String,
        #[diesel(sql_type = Bool)]
        partial: bool,
    }
    let listed: Vec<Idx> = diesel::sql_query(format!(
        "SELECT name, \"unique\" AS is_unique, origin, partial FROM pragma_index_list('{table}')"
    ))
    .load(c)
    .unwrap();
    let mut indexes: Vec<Index> = listed
        .into_iter()
        .filter(|i| i.origin != "pk")
        .map(|idx| {
            let columns: Vec<Name> = diesel::sql_query(format!(
                "SELECT coalesce(name, '<expression>') AS name FROM pragma_index_info('{}') \
                 ORDER BY seqno",
                idx.name
            ))
            .load(c)
            .unwrap();
            Index {
                columns: columns.into_iter().map(|n| n.name).collect(),
                unique: idx.is_unique,
                partial: idx.partial,
            }
        })
        .collect();
    indexes.sort();
    indexes
}

#[derive(QueryableByName)]
struct Fk {
    #[diesel(sql_type = Text)]
    from_col: String,
    #[diesel(sql_type = Text)]
    to_table: String,
}

fn sorted_foreign_keys(rows: Vec<Fk>) -> Vec<(String, String)> {
    let mut fks: Vec<(String, String)> =
        rows.into_iter().map(|f| (f.from_col, f.to_table)).collect();
    fks.sort();
    fks
}

fn sqlite_foreign_keys(c: &mut Conn, table: &str) -> Vec<(String, String)> {
    sorted_foreign_keys(
        diesel::sql_query(format!(
            "SELECT \"from\" AS from_col, \"table\" AS to_table \
             FROM pragma_foreign_key_list('{table}')"
        ))
        .load(c)
        .unwrap(),
    )
}

/// Every difference between the engines, one line each.
fn differences(sqlite: &Schema, pg: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for name in sqlite.keys().chain(pg.keys()) {
        let (Some(s), Some(p)) = (sqlite.get(name), pg.get(name)) else {
            let only = if sqlite.contains_key(name) {
                "SQLite"
            } else {
                "PostgreSQL"
            };
            out.push(format!("table {name}: only on {only}"));
            continue;
        };
        let by_name = |t: &Table| -> BTreeMap<String, Column> {
            t.columns
                .iter()
                .map(|c| (c.name.clone(), c.clone()))
                .collect()
        };
        let (sc, pc) = (by_name(s), by_name(p));
        for col in sc.keys().chain(pc.keys()) {
            match (sc.get(col), pc.get(col)) {
                (Some(a), Some(b)) if a != b => out.push(format!(
                    "{name}.{col}: SQLite {} {}, PostgreSQL {} {}",
                    a.sql_type,
                    if a.nullable { "NULL" } else { "NOT NULL" },
                    b.sql_type,
                    if b.nullable { "NULL" } else { "NOT NULL" },
                )),
                (Some(_), None) => out.push(format!("{name}.{col}: only on SQLite")),
                (None, Some(_)) => out.push(format!("{name}.{col}: only on PostgreSQL")),
                _ => {}
            }
        }
        if s.primary_key != p.primary_key {
            out.push(format!(
                "{name}: primary key SQLite {:?}, PostgreSQL {:?}",
                s.primary_key, p.primary_key
            ));
        }
        if s.indexes != p.indexes {
            out.push(format!(
                "{name}: indexes SQLite {:?}, PostgreSQL {:?}",
                s.indexes, p.indexes
            ));
        }
        if s.foreign_keys != p.foreign_keys {
            out.push(format!(
                "{name}: foreign keys SQLite {:?}, PostgreSQL {:?}",
                s.foreign_keys, p.foreign_keys
            ));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `schema.rs` as Diesel's `print-schema` writes it: tables in name order, a
/// `joinable!` per foreign key (when a table refers to another by one column only), and
/// every table allowed in one query. The second half of the tables goes to
/// `schema_tables.rs`, which `schema.rs` includes, so neither generated file outgrows the
/// 400-line bound every source file keeps. Answers (schema.rs, schema_tables.rs).
fn render(schema: &Schema) -> (String, String) {
    const HEADER: &str =
        "// @generated from the migrations by the schema check (src/storage/schema_tests.rs):\n\
         // TOKEND_WRITE_SCHEMA=1 cargo test --lib storage::schema_tests\n";
    let (mut out, mut rest) = (String::from(HEADER), String::from(HEADER));
    let half = schema.len().div_ceil(2);
    for (n, (name, table)) in schema.iter().enumerate() {
        let target = if n < half { &mut out } else { &mut rest };
        target.push_str(&format!(
            "\ndiesel::table! {{\n    {name} ({}) {{\n",
            table.primary_key.join(", ")
        ));
        for col in &table.columns {
            let ty = if col.nullable {
                format!("Nullable<{}>", col.sql_type)
            } else {
                col.sql_type.clone()
            };
            target.push_str(&format!("        {} -> {ty},\n", col.name));
        }
        target.push_str("    }\n}\n");
    }
    out.push_str("\ninclude!(\"schema_tables.rs\");\n");
    let mut joins = Vec::new();
    for (name, table) in schema {
        for (col, to) in &table.foreign_keys {
            let refs = table.foreign_keys.iter().filter(|(_, t)| t == to).count();
            if refs == 1 && to != name {
                joins.push(format!("diesel::joinable!({name} -> {to} ({col}));\n"));
            }
        }
    }
    joins.sort();
    if !joins.is_empty() {
        out.push('\n');
        out.extend(joins);
    }
    out.push_str("\ndiesel::allow_tables_to_appear_in_same_query!(\n");
    for name in schema.keys() {
        out.push_str(&format!("    {name},\n"));
    }
    out.push_str(");\n");
    (out, rest)
}

fn postgres() -> (testkit::pg::Database, Storage) {
    let db = testkit::pg::Database::fresh("schema").expect("PostgreSQL");
    let storage = Storage::open_postgres(&db.url, 2).unwrap();
    storage.read(migrate::run_pending).unwrap();
    (db, storage)
}

fn read_schema(storage: &Storage, f: fn(&mut Conn) -> Schema) -> Schema {
    storage.read(|c| Ok(f(c))).unwrap()
}

#[test]
fn both_engines_migrate_to_the_same_schema() {
    let (_dir, sqlite) = temp_storage();
    let (_db, pg) = postgres();
    let (s, p) = (
        read_schema(&sqlite, sqlite_schema),
        read_schema(&pg, postgres_schema),
    );
    assert!(s.len() > 10, "the SQLite catalogue read nothing: {s:?}");
    let diff = differences(&s, &p);
    assert!(
        diff.is_empty(),
        "the migrations differ between the engines:\n{}",
        diff.join("\n")
    );
}

#[test]
fn schema_rs_is_what_the_migrations_make() {
    let (_dir, sqlite) = temp_storage();
    let (main, rest) = render(&read_schema(&sqlite, sqlite_schema));
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/storage/");
    for (file, generated) in [("schema.rs", main), ("schema_tables.rs", rest)] {
        let path = format!("{dir}{file}");
        if std::env::var("TOKEND_WRITE_SCHEMA").is_ok_and(|v| v == "1") {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap();
        assert!(
            committed == generated,
            "src/storage/{file} is not what the migrations make: regenerate it with \
             TOKEND_WRITE_SCHEMA=1 cargo test --lib storage::schema_tests"
        );
    }
}

#[test]
fn a_column_on_one_engine_only_is_named() {
    let (_dir, sqlite) = temp_storage();
    let mut s = read_schema(&sqlite, sqlite_schema);
    let p = s.clone();
    s.get_mut("tokens").unwrap().columns.push(Column {
        name: "extra".into(),
        sql_type: "Text".into(),
        nullable: true,
    });
    assert_eq!(differences(&s, &p), ["tokens.extra: only on SQLite"]);
}
