//! Dual-control requests (maker–checker): an action a bank lists under `dual_control`
//! is stored here instead of running, until a second staff member decides it. Every
//! decision is one conditional UPDATE on `state = 'pending'`, so of two checkers (on any
//! node) deciding one request at once exactly one wins.

use diesel::prelude::*;

use super::schema::approvals;
use super::{Conn, Error};
use crate::types::{ApprovalState, StaffAction};

/// A stored request.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = approvals)]
pub struct Approval {
    /// Row id: the request's number.
    pub id: i32,
    /// The institution it acts within.
    pub inst_rt_id: String,
    /// What it does.
    pub action: StaffAction,
    /// What it acts on, for people (a user, a token, an account).
    pub target: String,
    /// The action's input, JSON (`domain::staff::requests::StaffRequest`).
    pub params: String,
    /// Why the maker asks.
    pub reason: String,
    /// The maker's account id (never the checker).
    pub maker_id: i32,
    /// The maker's username.
    pub maker: String,
    /// Where it stands.
    pub state: ApprovalState,
    /// When it was made (ms).
    pub created_at: i64,
    /// When it lapses unless decided (ms).
    pub expires_at: i64,
    /// Who decided it.
    pub decided_by: Option<String>,
    /// When (ms).
    pub decided_at: Option<i64>,
    /// What came of it, in words.
    pub outcome: Option<String>,
}

/// A new request.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = approvals)]
pub struct NewApproval<'a> {
    /// The institution it acts within.
    pub inst_rt_id: &'a str,
    /// What it does.
    pub action: StaffAction,
    /// What it acts on, for people.
    pub target: &'a str,
    /// The action's input, JSON.
    pub params: &'a str,
    /// Why.
    pub reason: &'a str,
    /// The maker.
    pub maker_id: i32,
    /// The maker's username.
    pub maker: &'a str,
    /// Always Pending.
    pub state: ApprovalState,
    /// Now (ms).
    pub created_at: i64,
    /// When it lapses (ms).
    pub expires_at: i64,
}

/// Stores a request; answers its number.
pub fn insert_approval(conn: &mut Conn, new: &NewApproval<'_>) -> Result<i32, Error> {
    Ok(diesel::insert_into(approvals::table)
        .values(new)
        .returning(approvals::id)
        .get_result(conn)?)
}

/// One request.
pub fn find_approval(conn: &mut Conn, id: i32) -> Result<Option<Approval>, Error> {
    Ok(approvals::table
        .find(id)
        .select(Approval::as_select())
        .first(conn)
        .optional()?)
}

/// The newest requests (of one institution, or of all with `None`), at most `limit`.
pub fn find_approvals(
    conn: &mut Conn,
    inst_rt_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Approval>, Error> {
    let mut q = approvals::table
        .select(Approval::as_select())
        .order(approvals::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(inst) = inst_rt_id {
        q = q.filter(approvals::inst_rt_id.eq(inst.to_owned()));
    }
    Ok(q.load(conn)?)
}

/// Decides a pending request: moves it from Pending to `to` (with who, when and what came
/// of it) only while it is still pending. Answers whether this call decided it.
pub fn update_approval_decided(
    conn: &mut Conn,
    id: i32,
    to: ApprovalState,
    by: &str,
    outcome: &str,
    now_ms: i64,
) -> Result<bool, Error> {
    let rows = diesel::update(
        approvals::table
            .find(id)
            .filter(approvals::state.eq(ApprovalState::Pending)),
    )
    .set((
        approvals::state.eq(to),
        approvals::decided_by.eq(Some(by)),
        approvals::decided_at.eq(Some(now_ms)),
        approvals::outcome.eq(Some(outcome)),
    ))
    .execute(conn)?;
    Ok(rows == 1)
}

/// Records what came of an approved request: `state` Approved (it ran) or Failed (the
/// action refused), and the outcome in words. Only a request claimed as Approved.
pub fn update_approval_outcome(
    conn: &mut Conn,
    id: i32,
    state: ApprovalState,
    outcome: &str,
) -> Result<(), Error> {
    diesel::update(
        approvals::table
            .find(id)
            .filter(approvals::state.eq(ApprovalState::Approved)),
    )
    .set((
        approvals::state.eq(state),
        approvals::outcome.eq(Some(outcome)),
    ))
    .execute(conn)?;
    Ok(())
}

/// The pending requests past their expiry at `now_ms` (at most `limit`, oldest first).
pub fn find_expired_approvals(
    conn: &mut Conn,
    now_ms: i64,
    limit: i64,
) -> Result<Vec<Approval>, Error> {
    Ok(approvals::table
        .filter(approvals::state.eq(ApprovalState::Pending))
        .filter(approvals::expires_at.le(now_ms))
        .order(approvals::id.asc())
        .limit(limit)
        .select(Approval::as_select())
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::temp_storage;

    fn new(expires_at: i64) -> NewApproval<'static> {
        NewApproval {
            inst_rt_id: "011000015",
            action: StaffAction::TokenDelete,
            target: "token T1 of bob",
            params: "{}",
            reason: "lost",
            maker_id: 1,
            maker: "ola",
            state: ApprovalState::Pending,
            created_at: 0,
            expires_at,
        }
    }

    #[test]
    fn a_request_is_decided_once_and_expiry_finds_only_pending_ones() {
        let (_dir, storage) = temp_storage();
        storage
            .write(|c| {
                let a = insert_approval(c, &new(1_000))?;
                let b = insert_approval(c, &new(1_000))?;
                assert!(update_approval_decided(
                    c,
                    a,
                    ApprovalState::Approved,
                    "kari",
                    "done",
                    500
                )?);
                assert!(!update_approval_decided(
                    c,
                    a,
                    ApprovalState::Rejected,
                    "per",
                    "no",
                    501
                )?);
                assert_eq!(
                    find_approval(c, a)?.unwrap().decided_by.as_deref(),
                    Some("kari")
                );
                assert!(find_expired_approvals(c, 999, 10)?.is_empty());
                let expired = find_expired_approvals(c, 1_000, 10)?;
                assert_eq!(expired.iter().map(|r| r.id).collect::<Vec<_>>(), vec![b]);
                assert_eq!(find_approvals(c, Some("other"), 10)?.len(), 0);
                assert_eq!(find_approvals(c, None, 10)?.len(), 2);
                Ok::<_, Error>(())
            })
            .unwrap();
    }
}
