//! Tokens whose clocks drift (issue 17 drift telemetry): the learned `drift` column read
//! for the metrics gauge and the console's drifting-tokens page. Diesel DSL only.

use diesel::dsl::count_star;
use diesel::prelude::*;

use super::schema::tokens;
use super::tokens::Token;
use super::{Conn, Error};
use crate::types::UsrTokenStat;

/// Usable-or-locked tokens (not deleted) whose |drift| is at least `min_abs`.
pub fn count_tokens_drifted(conn: &mut Conn, min_abs: i32) -> Result<i64, Error> {
    Ok(tokens::table
        .filter(tokens::status.ne(UsrTokenStat::Del))
        .filter(tokens::drift.ge(min_abs).or(tokens::drift.le(-min_abs)))
        .select(count_star())
        .first(conn)?)
}

/// Up to `limit` of the institution's tokens (not deleted) whose |drift| is at least
/// `min_abs` (the caller sorts them by |drift|).
pub fn find_tokens_drifted(
    conn: &mut Conn,
    inst_rt_id: &str,
    min_abs: i32,
    limit: i64,
) -> Result<Vec<Token>, Error> {
    Ok(tokens::table
        .filter(tokens::inst_rt_id.eq(inst_rt_id))
        .filter(tokens::status.ne(UsrTokenStat::Del))
        .filter(tokens::drift.ge(min_abs).or(tokens::drift.le(-min_abs)))
        .limit(limit)
        .select(Token::as_select())
        .load(conn)?)
}
