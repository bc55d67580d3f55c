//! Institutions (jXchange `InstRtId`): the registered ones (`institutions`: production
//! or sandbox, with a sandbox's test clock, issue 29), and the placing of rows written
//! before institutions existed.

use diesel::prelude::*;

use super::schema::{api_keys, audit_events, institutions, oob_sessions, tokens, users};
use super::{Conn, Error};

/// A registered institution.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Institution {
    /// jXchange `InstRtId`.
    pub inst_rt_id: String,
    /// A sandbox (test clock, no SMS leaves) rather than production.
    pub sandbox: bool,
    /// A sandbox's clock, ms.
    pub clock_at: Option<i64>,
    /// When it was registered, ms.
    pub created_at: i64,
}

/// Registers an institution; a second registration is a unique violation
/// (`Error::Conflict`).
pub fn insert_institution(conn: &mut Conn, row: &Institution) -> Result<(), Error> {
    diesel::insert_into(institutions::table)
        .values((
            institutions::inst_rt_id.eq(&row.inst_rt_id),
            institutions::sandbox.eq(row.sandbox),
            institutions::clock_at.eq(row.clock_at),
            institutions::created_at.eq(row.created_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The registered institution `inst`, if it is one.
pub fn find_institution(conn: &mut Conn, inst: &str) -> Result<Option<Institution>, Error> {
    Ok(institutions::table
        .filter(institutions::inst_rt_id.eq(inst))
        .first(conn)
        .optional()?)
}

/// Every registered institution, by `InstRtId`.
pub fn find_institutions(conn: &mut Conn) -> Result<Vec<Institution>, Error> {
    Ok(institutions::table
        .order(institutions::inst_rt_id.asc())
        .load(conn)?)
}

/// Whether anything already belongs to `inst` (a user, a token, an API key, an audit
/// row): an institution in production use, which may not be made a sandbox.
pub fn has_rows(conn: &mut Conn, inst: &str) -> Result<bool, Error> {
    use diesel::dsl::exists;
    let users: bool =
        diesel::select(exists(users::table.filter(users::inst_rt_id.eq(inst)))).get_result(conn)?;
    let tokens: bool = diesel::select(exists(tokens::table.filter(tokens::inst_rt_id.eq(inst))))
        .get_result(conn)?;
    let keys: bool = diesel::select(exists(
        api_keys::table.filter(api_keys::inst_rt_id.eq(inst)),
    ))
    .get_result(conn)?;
    let audit: bool = diesel::select(exists(
        audit_events::table.filter(audit_events::inst_rt_id.eq(inst)),
    ))
    .get_result(conn)?;
    Ok(users || tokens || keys || audit)
}

/// Moves the sandbox `inst`'s clock to `to` (ms), never backwards: answers whether it
/// moved (false when `to` is before the clock, or `inst` is no sandbox). One conditional
/// UPDATE, so two racing moves cannot take it back.
pub fn update_clock(conn: &mut Conn, inst: &str, to: i64) -> Result<bool, Error> {
    let moved = diesel::update(
        institutions::table
            .filter(institutions::inst_rt_id.eq(inst))
            .filter(institutions::sandbox.eq(true))
            .filter(institutions::clock_at.le(to)),
    )
    .set(institutions::clock_at.eq(to))
    .execute(conn)?;
    Ok(moved == 1)
}

/// Gives the tokens and OOB sessions the institutions migration could not place (no bound
/// user, so `''`) to `default_inst`: on an install that had one institution, that is
/// theirs. Runs at every start, after the migrations; a no-op once done. Answers how many
/// rows it placed.
pub fn adopt_unplaced(conn: &mut Conn, default_inst: &str) -> Result<usize, Error> {
    let tokens = diesel::update(tokens::table.filter(tokens::inst_rt_id.eq("")))
        .set(tokens::inst_rt_id.eq(default_inst))
        .execute(conn)?;
    let sessions = diesel::update(oob_sessions::table.filter(oob_sessions::inst_rt_id.eq("")))
        .set(oob_sessions::inst_rt_id.eq(default_inst))
        .execute(conn)?;
    Ok(tokens + sessions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::{new_token, temp_storage};
    use crate::storage::tokens::{find_token, insert_token, NewToken};

    fn token<'a>(token_id: &'a str, inst_rt_id: &'a str) -> NewToken<'a> {
        new_token(token_id, "k", crate::types::UsrTokenStat::Init, inst_rt_id)
    }

    #[test]
    fn a_sandbox_clock_moves_only_forwards() {
        let (_dir, storage) = temp_storage();
        let row = |inst: &str, sandbox: bool| Institution {
            inst_rt_id: inst.into(),
            sandbox,
            clock_at: sandbox.then_some(1_000),
            created_at: 1_000,
        };
        storage
            .write(|c| {
                insert_institution(c, &row("sbx", true))?;
                insert_institution(c, &row("prod", false))
            })
            .unwrap();
        let again = storage.write(|c| insert_institution(c, &row("sbx", true)));
        assert!(matches!(again, Err(Error::Conflict(_))));
        let mv = |inst: &str, to: i64| storage.write(|c| update_clock(c, inst, to)).unwrap();
        assert!(mv("sbx", 5_000));
        assert!(!mv("sbx", 4_999), "never backwards");
        assert!(!mv("prod", 9_000), "a production clock is the real one");
        let found = storage
            .read(|c| find_institution(c, "sbx"))
            .unwrap()
            .unwrap();
        assert_eq!(found.clock_at, Some(5_000));
        let all = storage.read(find_institutions).unwrap();
        assert_eq!(all.len(), 2);
        assert!(!storage.read(|c| has_rows(c, "sbx")).unwrap());
    }

    #[test]
    fn unplaced_rows_go_to_the_default_institution_and_placed_ones_stay() {
        let (_dir, storage) = temp_storage();
        storage
            .write(|c| {
                insert_token(c, &token("OLD", ""))?;
                insert_token(c, &token("B1", "bank-b"))?;
                Ok::<_, Error>(())
            })
            .unwrap();
        assert_eq!(storage.read(|c| adopt_unplaced(c, "tokend")).unwrap(), 1);
        assert_eq!(storage.read(|c| adopt_unplaced(c, "tokend")).unwrap(), 0);
        let found =
            |inst: &str, id: &str| storage.read(|c| find_token(c, inst, id)).unwrap().is_some();
        assert!(found("tokend", "OLD"));
        assert!(found("bank-b", "B1") && !found("tokend", "B1"));
    }
}
