//! `tokend copy-to`: a SQLite install copied into an empty PostgreSQL database, row for
//! row (sealed seeds as they are, the audit chain with its links, keys, admins, OOB state),
//! in one PostgreSQL transaction (a failure leaves the target as it was) from one
//! consistent SQLite snapshot. Ids are kept, so links, receipts and cursors stay valid;
//! the sequences are moved past them.
//!
//! Each table's row is read by position with every column of `schema` (no `select`): a
//! column added to the schema and not in `copy/tables.rs` fails to compile, instead of
//! being left behind.

use diesel::prelude::*;

use super::{Conn, Error, Storage};

/// Rows per INSERT (PostgreSQL takes at most 65,535 parameters in one statement).
const CHUNK: usize = 500;

/// One copied table: (name, rows in SQLite, rows in PostgreSQL after the copy).
pub type Copied = (&'static str, i64, i64);

macro_rules! tables {
    ($( $kind:ident $table:ident $row:ident ($pk:ident) { $($col:ident : $ty:ty,)+ } );+ ;) => {
        $(
            #[derive(Queryable, Insertable)]
            #[diesel(table_name = schema::$table)]
            struct $row { $($col: $ty,)+ }
        )+

        /// Copies every table, parents before children (the foreign keys' order) — but
        /// `soap_nonces` and `idempotency_keys`: memories of minutes and of retries, which
        /// a copy made with the service stopped need not carry — telling `progress` each
        /// table as it is done.
        pub(super) fn copy_all(
            src: &mut SqliteConnection,
            dst: &mut PgConnection,
            progress: &mut dyn FnMut(&Copied),
        ) -> Result<Vec<Copied>, Error> {
            let mut copied = Vec::new();
            $(
                let n = tables!(@copy $kind $table $row $pk src dst);
                let there: i64 = schema::$table::table.count().get_result(dst)?;
                let done = (stringify!($table), n, there);
                progress(&done);
                copied.push(done);
            )+
            Ok(copied)
        }

        /// Rows already in the target, per table (the copy needs an empty database).
        pub(super) fn rows_in(dst: &mut PgConnection) -> Result<i64, Error> {
            let mut n = 0;
            $( n += schema::$table::table.count().get_result::<i64>(dst)?; )+
            Ok(n)
        }

        /// Moves each id sequence past the copied ids.
        pub(super) fn reset_sequences(dst: &mut PgConnection) -> Result<(), Error> {
            $( tables!(@sequence $kind $table $pk dst); )+
            Ok(())
        }
    };
    (@copy whole $table:ident $row:ident $pk:ident $src:ident $dst:ident) => {{
        let rows: Vec<$row> = schema::$table::table.load($src)?;
        for chunk in rows.chunks(CHUNK) {
            diesel::insert_into(schema::$table::table).values(chunk).execute($dst)?;
        }
        i64::try_from(rows.len()).unwrap_or(i64::MAX)
    }};
    (@copy paged $table:ident $row:ident $pk:ident $src:ident $dst:ident) => {{
        let mut after = i32::MIN;
        let mut n = 0i64;
        loop {
            let rows: Vec<$row> = schema::$table::table
                .filter(schema::$table::$pk.gt(after))
                .order(schema::$table::$pk.asc())
                .limit(i64::try_from(CHUNK).unwrap_or(500))
                .load($src)?;
            let Some(last) = rows.last() else { break };
            after = last.$pk;
            diesel::insert_into(schema::$table::table).values(&rows).execute($dst)?;
            n += i64::try_from(rows.len()).unwrap_or(i64::MAX);
        }
        n
    }};
    (@sequence whole $table:ident $pk:ident $dst:ident) => {};
    (@sequence paged $table:ident $pk:ident $dst:ident) => {
        $dst.batch_execute(&format!(
            "SELECT setval(pg_get_serial_sequence('{t}', '{pk}'), \
             (SELECT COALESCE(MAX({pk}), 0) + 1 FROM {t}), false)",
            t = stringify!($table),
            pk = stringify!($pk),
        ))?;
    };
}

/// The tables copied, in the foreign keys' order: one list, in its own file (it grows
/// with the schema; the copy itself is above and below).
mod tables;
use tables::{copy_all, reset_sequences, rows_in};

/// Copies the SQLite database of `src` into the PostgreSQL database of `dst`, which must
/// be migrated and empty, telling `progress` each table as it is done (a large install
/// takes minutes, and an operator watching a silent command cannot tell it from a hang).
/// Answers each table's row counts on both sides.
pub fn copy_to_postgres(
    src: &Storage,
    dst: &Storage,
    progress: &mut dyn FnMut(&Copied),
) -> Result<Vec<Copied>, Error> {
    let mut source = src.conn()?;
    let mut target = dst.conn()?;
    let (Conn::Sqlite(source), Conn::Pg(target)) = (&mut *source, &mut *target) else {
        return Err(Error::Db(
            "copy-to copies a SQLite database into PostgreSQL".into(),
        ));
    };
    let existing = rows_in(target)?;
    if existing > 0 {
        return Err(Error::Db(format!(
            "the target database is not empty ({existing} rows): copy-to only fills a new one"
        )));
    }
    // One snapshot of the source (a read transaction in WAL mode), one transaction on
    // the target.
    source.transaction(|source| {
        target.transaction(|target| {
            let copied = copy_all(source, target, progress)?;
            reset_sequences(target)?;
            Ok(copied)
        })
    })
}
