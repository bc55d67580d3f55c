//! The counts of the console's overview page, per institution: tokens by status, bindings
//! locked now, SMS codes sent since a time, failed validations since a time.

use diesel::dsl::count_star;
use diesel::prelude::*;

use super::schema::{audit_events, bindings, oob_sessions, sms_messages, tokens};
use super::{Conn, Error};
use crate::types::{AuditAction, AuditResult, MfaTokenUsrStat, SendStat, UsrTokenStat};

/// The overview's counts at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Tokens per status.
    pub tokens: Vec<(UsrTokenStat, i64)>,
    /// Bindings locked now.
    pub locked: i64,
    /// SMS codes sent since `since_day_ms`.
    pub sms_sent: i64,
    /// Failed validations since `since_hour_ms`.
    pub failures: i64,
}

/// Reads the counts of institution `inst` (with the audit rows written before
/// institutions, which have none, when `inst` is the default one) in one read
/// transaction.
pub fn find_counts(
    conn: &mut Conn,
    inst: &str,
    is_default: bool,
    since_day_ms: i64,
    since_hour_ms: i64,
) -> Result<Counts, Error> {
    conn.transaction(|c| {
        let tokens = tokens::table
            .filter(tokens::inst_rt_id.eq(inst))
            .group_by(tokens::status)
            .select((tokens::status, count_star()))
            .load(c)?;
        let locked = bindings::table
            .inner_join(tokens::table)
            .filter(tokens::inst_rt_id.eq(inst))
            .filter(bindings::status.eq(MfaTokenUsrStat::Lock))
            .select(count_star())
            .first(c)?;
        let sms_sent = sms_messages::table
            .inner_join(oob_sessions::table)
            .filter(oob_sessions::inst_rt_id.eq(inst))
            .filter(sms_messages::state.eq(SendStat::Sent))
            .filter(sms_messages::created_at.ge(since_day_ms))
            .select(count_star())
            .first(c)?;
        let failed = audit_events::table
            .filter(audit_events::action.eq(AuditAction::Validate))
            .filter(audit_events::result.eq(AuditResult::Failed))
            .filter(audit_events::at.ge(since_hour_ms));
        let failures = if is_default {
            failed
                .filter(
                    audit_events::inst_rt_id
                        .eq(inst)
                        .or(audit_events::inst_rt_id.is_null()),
                )
                .select(count_star())
                .first(c)?
        } else {
            failed
                .filter(audit_events::inst_rt_id.eq(inst))
                .select(count_star())
                .first(c)?
        };
        Ok(Counts {
            tokens,
            locked,
            sms_sent,
            failures,
        })
    })
}
