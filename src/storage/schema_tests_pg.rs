//! The PostgreSQL side of the schema check: the catalogue read into the same model as
//! SQLite's (`schema_tests`).

use diesel::sql_types::{Bool, Text};
use diesel::{QueryableByName, RunQueryDsl as _};

use super::{diesel_type, sorted_foreign_keys, Column, Index, Name, Schema, Table};
use crate::storage::Conn;

pub(super) fn postgres_schema(c: &mut Conn) -> Schema {
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' \
         AND table_name <> '__diesel_schema_migrations' ORDER BY table_name",
    )
    .load(c)
    .unwrap();
    tables
        .into_iter()
        .map(|Name { name }| (name.clone(), postgres_table(c, &name)))
        .collect()
}

fn postgres_table(c: &mut Conn, table: &str) -> Table {
    #[derive(QueryableByName)]
    struct Col {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        declared: String,
        #[diesel(sql_type = Bool)]
        nullable: bool,
    }
    let cols: Vec<Col> = diesel::sql_query(format!(
        "SELECT column_name::text AS name, data_type::text AS declared, \
         is_nullable = 'YES' AS nullable FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = '{table}' ORDER BY ordinal_position"
    ))
    .load(c)
    .unwrap();
    let pk: Vec<Name> = diesel::sql_query(format!(
        "SELECT a.attname::text AS name FROM pg_index i \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
         WHERE i.indrelid = 'public.{table}'::regclass AND i.indisprimary \
         ORDER BY array_position(i.indkey::int2[], a.attnum)"
    ))
    .load(c)
    .unwrap();
    Table {
        columns: cols
            .into_iter()
            .map(|col| Column {
                sql_type: diesel_type(&col.declared),
                name: col.name,
                nullable: col.nullable,
            })
            .collect(),
        primary_key: pk.into_iter().map(|n| n.name).collect(),
        indexes: postgres_indexes(c, table),
        foreign_keys: sorted_foreign_keys(
            diesel::sql_query(format!(
                "SELECT a.attname::text AS from_col, cf.relname::text AS to_table \
                 FROM pg_constraint k JOIN pg_class cf ON cf.oid = k.confrelid \
                 JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey) \
                 WHERE k.contype = 'f' AND k.conrelid = 'public.{table}'::regclass"
            ))
            .load(c)
            .unwrap(),
        ),
    }
}

fn postgres_indexes(c: &mut Conn, table: &str) -> Vec<Index> {
    #[derive(QueryableByName)]
    struct Idx {
        #[diesel(sql_type = Text)]
        def: String,
        #[diesel(sql_type = Bool)]
        is_primary: bool,
    }
    let idx: Vec<Idx> = diesel::sql_query(format!(
        "SELECT pg_get_indexdef(i.indexrelid) AS def, i.indisprimary AS is_primary \
         FROM pg_index i WHERE i.indrelid = 'public.{table}'::regclass"
    ))
    .load(c)
    .unwrap();
    let mut indexes: Vec<Index> = idx
        .iter()
        .filter(|i| !i.is_primary)
        .map(|i| parse_pg_index(&i.def))
        .collect();
    indexes.sort();
    indexes
}

/// Reads `CREATE [UNIQUE] INDEX n ON public.t USING btree (a, b) [WHERE …]`.
fn parse_pg_index(def: &str) -> Index {
    let open = def.find('(').unwrap_or(0);
    let mut depth = 0;
    let mut close = def.len();
    for (i, ch) in def[open..].char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    close = open + i;
                    break;
                }
            }
            _ => {}
        }
    }
    let columns = def[open + 1..close]
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .map(|c| {
            // An expression (SQLite's catalogue names none of its columns).
            if c.contains(['(', ' ', ':']) {
                "<expression>".to_owned()
            } else {
                c.to_owned()
            }
        })
        .collect();
    Index {
        columns,
        unique: def.starts_with("CREATE UNIQUE"),
        partial: def[close..].contains(" WHERE "),
    }
}
