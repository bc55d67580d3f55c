//! Institutions (jXchange `InstRtId`) of rows written before institutions existed.

use diesel::prelude::*;

use super::schema::{oob_sessions, tokens};
use super::{Conn, Error};

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
