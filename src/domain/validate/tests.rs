//! Validation at fixed times: the window, replay, drift learning, the lock threshold and
//! auto-unlock, each decided by the `now` passed in (no wall clock, no sleeping).

use super::FAILURE_LOCK;
use crate::domain::test_support::{
    at, bound, code, enroll_active, policy, service, service_with, step_of, validate, wrong_code,
    RFC_SEED,
};
use crate::domain::Policy;
use crate::storage::audit::find_audit_for_token;
use crate::types::{MfaTokenUsrStat, RsStat, RsStatRsn};

/// Activated at `at(0)`; validated ten steps later.
const LATER: i64 = 300;

#[test]
fn codes_of_the_step_before_now_and_after_are_accepted() {
    let (_dir, s) = service();
    let now = at(LATER);
    for (usr, delta) in [("minus", -1), ("zero", 0), ("plus", 1)] {
        enroll_active(&s, usr, &format!("T-{usr}"), RFC_SEED, at(0));
        let v = validate(&s, usr, &code(RFC_SEED, step_of(now) + delta), now);
        assert_eq!(v.rs_stat, RsStat::Success, "step {delta:+}: {v:?}");
        assert_eq!(v.token_id.as_deref(), Some(format!("T-{usr}").as_str()));
        assert_eq!(v.last_authen_at, Some(now));
        assert!(v.receipt_id.is_some());
    }
}

#[test]
fn codes_two_steps_away_are_wrong_codes() {
    let (_dir, s) = service();
    let now = at(LATER);
    enroll_active(&s, "u", "T-1", RFC_SEED, at(0));
    for delta in [-2, 2] {
        let v = validate(&s, "u", &code(RFC_SEED, step_of(now) + delta), now);
        assert_eq!(
            (v.rs_stat, v.reason),
            (RsStat::Failed, Some(RsStatRsn::WrongCode)),
            "step {delta:+}"
        );
    }
    assert_eq!(bound(&s, "u")[0].binding.failure_count, 2);
}

#[test]
fn the_window_follows_now_within_a_step_and_across_its_edge() {
    let (_dir, s) = service();
    enroll_active(&s, "u", "T-1", RFC_SEED, at(0));
    // at(329) is still step +10; at(330) is step +11, where the code of +9 is too old.
    let step = step_of(at(LATER));
    assert_eq!(step_of(at(LATER + 29)), step);
    let v = validate(&s, "u", &code(RFC_SEED, step - 1), at(LATER + 30));
    assert_eq!(v.reason, Some(RsStatRsn::WrongCode));
    let v = validate(&s, "u", &code(RFC_SEED, step), at(LATER + 29));
    assert_eq!(v.rs_stat, RsStat::Success);
}

#[test]
fn a_code_is_accepted_once_and_a_replay_counts_no_failure() {
    let (_dir, s) = service();
    let now = at(LATER);
    let token = enroll_active(&s, "u", "T-1", RFC_SEED, at(0));
    let c = code(RFC_SEED, step_of(now));
    assert_eq!(validate(&s, "u", &c, now).rs_stat, RsStat::Success);
    let again = validate(&s, "u", &c, at(LATER + 5));
    assert_eq!(
        (again.rs_stat, again.reason),
        (RsStat::Failed, Some(RsStatRsn::Replayed))
    );
    assert_eq!(again.receipt_id, None);
    // An older step still inside the window is a replay too: the step must be newer.
    let older = validate(&s, "u", &code(RFC_SEED, step_of(now) - 1), now);
    assert_eq!(older.reason, Some(RsStatRsn::Replayed));
    let b = &bound(&s, "u")[0];
    assert_eq!(b.binding.failure_count, 0, "a replay is not a guess");
    assert_eq!(b.token.last_step, step_of(now));
    let audit = s
        .storage
        .read(|c| find_audit_for_token(c, token.as_str(), 1))
        .unwrap();
    assert_eq!(audit[0].result, "Failed");
    assert_eq!(audit[0].detail.as_deref(), Some("replayed code"));
    // The next step is still welcome.
    let next = validate(&s, "u", &code(RFC_SEED, step_of(now) + 1), now);
    assert_eq!(next.rs_stat, RsStat::Success);
}

#[test]
fn a_token_whose_clock_runs_ahead_is_followed_one_step_at_a_time() {
    let (_dir, s) = service();
    enroll_active(&s, "u", "T-1", RFC_SEED, at(0));
    enroll_active(&s, "fresh", "T-2", RFC_SEED, at(0));
    // Ten steps later the token shows the next step's code: accepted, drift +1 learned.
    let now = at(LATER);
    let v = validate(&s, "u", &code(RFC_SEED, step_of(now) + 1), now);
    assert_eq!(v.rs_stat, RsStat::Success);
    assert_eq!(bound(&s, "u")[0].token.drift, 1);
    // Ten more: the token is now two steps ahead. Inside the learned window (+1 ± 1)...
    let now = at(2 * LATER);
    let ahead = code(RFC_SEED, step_of(now) + 2);
    let v = validate(&s, "u", &ahead, now);
    assert_eq!(v.rs_stat, RsStat::Success);
    assert_eq!(bound(&s, "u")[0].token.drift, 2);
    // ... and outside a token's window that learned nothing.
    let v = validate(&s, "fresh", &ahead, now);
    assert_eq!(v.reason, Some(RsStatRsn::WrongCode));
    // A token back on time comes back: the drift follows it down again.
    let now = at(3 * LATER);
    let v = validate(&s, "u", &code(RFC_SEED, step_of(now) + 1), now);
    assert_eq!(v.rs_stat, RsStat::Success);
    assert_eq!(bound(&s, "u")[0].token.drift, 1);
}

#[test]
fn the_learned_drift_never_exceeds_the_resync_range() {
    let (_dir, s) = service_with(Policy {
        resync_window_steps: 1,
        ..policy()
    });
    enroll_active(&s, "u", "T-1", RFC_SEED, at(0));
    let now = at(LATER);
    assert_eq!(
        validate(&s, "u", &code(RFC_SEED, step_of(now) + 1), now).rs_stat,
        RsStat::Success
    );
    let now = at(2 * LATER);
    assert_eq!(
        validate(&s, "u", &code(RFC_SEED, step_of(now) + 2), now).rs_stat,
        RsStat::Success
    );
    assert_eq!(bound(&s, "u")[0].token.drift, 1, "clamped to ±1");
}

#[test]
fn the_fifth_wrong_code_locks_and_then_every_code_is_locked() {
    let (_dir, s) = service();
    let now = at(LATER);
    enroll_active(&s, "u", "T-1", RFC_SEED, at(0));
    let wrong = wrong_code(RFC_SEED, step_of(now));
    for n in 1..=4 {
        let v = validate(&s, "u", &wrong, now);
        assert_eq!(
            (v.rs_stat, v.reason),
            (RsStat::Failed, Some(RsStatRsn::WrongCode)),
            "wrong code {n}"
        );
        assert_eq!(bound(&s, "u")[0].binding.failure_count, n);
    }
    let v = validate(&s, "u", &wrong, now);
    assert_eq!(
        (v.rs_stat, v.reason),
        (RsStat::Locked, Some(RsStatRsn::Locked))
    );
    let b = &bound(&s, "u")[0];
    assert_eq!(b.binding.status, MfaTokenUsrStat::Lock);
    assert_eq!(b.binding.locked_at, Some(now.timestamp_millis()));
    assert!(b
        .binding
        .lock_reason
        .as_deref()
        .unwrap()
        .ends_with(FAILURE_LOCK));
    // Right or wrong, the answer is the same, and nothing more is counted.
    let right = validate(&s, "u", &code(RFC_SEED, step_of(now)), now);
    assert_eq!(right.rs_stat, RsStat::Locked);
    let again = validate(&s, "u", &wrong, now);
    assert_eq!(again, right);
    assert_eq!(bound(&s, "u")[0].binding.failure_count, 5);
}

#[test]
fn a_success_clears_the_count_of_wrong_codes() {
    let (_dir, s) = service();
    let now = at(LATER);
    enroll_active(&s, "u", "T-1", RFC_SEED, at(0));
    let wrong = wrong_code(RFC_SEED, step_of(now));
    for _ in 0..4 {
        validate(&s, "u", &wrong, now);
    }
    let v = validate(&s, "u", &code(RFC_SEED, step_of(now)), now);
    assert_eq!(v.rs_stat, RsStat::Success);
    assert_eq!(bound(&s, "u")[0].binding.failure_count, 0);
    for _ in 0..4 {
        assert_eq!(validate(&s, "u", &wrong, now).rs_stat, RsStat::Failed);
    }
}

#[test]
fn a_failure_lock_ends_after_auto_unlock_after_secs_and_not_before() {
    let (_dir, s) = service_with(Policy {
        auto_unlock_after_secs: 600,
        ..policy()
    });
    let token = enroll_active(&s, "u", "T-1", RFC_SEED, at(0));
    let locked_at = at(LATER);
    let wrong = wrong_code(RFC_SEED, step_of(locked_at));
    for _ in 0..5 {
        validate(&s, "u", &wrong, locked_at);
    }
    assert_eq!(bound(&s, "u")[0].binding.status, MfaTokenUsrStat::Lock);
    let early = at(LATER + 599);
    let v = validate(&s, "u", &code(RFC_SEED, step_of(early)), early);
    assert_eq!(v.rs_stat, RsStat::Locked, "one second early");
    let due = at(LATER + 600);
    let v = validate(&s, "u", &code(RFC_SEED, step_of(due)), due);
    assert_eq!(v.rs_stat, RsStat::Success, "{v:?}");
    let b = &bound(&s, "u")[0];
    assert_eq!(
        (b.binding.status.as_str(), b.binding.failure_count),
        ("Act", 0)
    );
    assert_eq!(
        (b.binding.locked_at, b.binding.lock_reason.as_deref()),
        (None, None)
    );
    let audit = s
        .storage
        .read(|c| find_audit_for_token(c, token.as_str(), 2))
        .unwrap();
    assert_eq!(
        (audit[1].action.as_str(), audit[1].result.as_str()),
        ("auto-unlock", "Success")
    );
}

#[test]
fn without_auto_unlock_a_failure_lock_stays() {
    let (_dir, s) = service();
    enroll_active(&s, "u", "T-1", RFC_SEED, at(0));
    let wrong = wrong_code(RFC_SEED, step_of(at(LATER)));
    for _ in 0..5 {
        validate(&s, "u", &wrong, at(LATER));
    }
    let much_later = at(LATER + 30 * 24 * 3600);
    let v = validate(&s, "u", &code(RFC_SEED, step_of(much_later)), much_later);
    assert_eq!(v.rs_stat, RsStat::Locked);
}

/// One validation through the split entry (decide, then the awaited write), as the web
/// edge runs it on SQLite; `None` when it was not split (the caller runs `validate`).
fn validate_split(
    s: &crate::domain::Service,
    usr: &str,
    code: &crate::types::Code,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<super::Validation> {
    let rq = super::ValidateRequest {
        usr_name: Some(crate::types::UsrName::parse(usr).unwrap()),
        token_id: None,
        code: code.clone(),
    };
    let ctx = crate::domain::test_support::ctx();
    let super::Decided::Write(pending) = s.decide_validation(&ctx, &rq, now).unwrap() else {
        return None;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(s.write_decided(pending)).unwrap()
}

/// The split validation answers as `validate` does, and writes the same: a success, a
/// replay (not split), wrong codes up to the lock, then a locked user (not split); the
/// same sequence runs through `validate` on a twin database.
#[test]
fn the_split_validation_answers_and_writes_as_validate_does() {
    let ((_d1, split), (_d2, whole)) = (service(), service());
    let now = at(LATER);
    for s in [&split, &whole] {
        enroll_active(s, "u", "T-1", RFC_SEED, at(0));
    }
    let (right, wrong) = (
        code(RFC_SEED, step_of(now)),
        wrong_code(RFC_SEED, step_of(now)),
    );
    let mut sequence = vec![(right.clone(), true), (right, false)];
    sequence.extend((0..5).map(|_| (wrong.clone(), true)));
    sequence.push((code(RFC_SEED, step_of(now) + 1), false));
    for (i, (c, is_split)) in sequence.into_iter().enumerate() {
        let mut expected = validate(&whole, "u", &c, now);
        let mut got = match validate_split(&split, "u", &c, now) {
            Some(v) => {
                assert!(is_split, "request {i} should not be split");
                v
            }
            None => {
                assert!(!is_split, "request {i} should be split");
                validate(&split, "u", &c, now)
            }
        };
        assert_eq!(got.receipt_id.is_some(), expected.receipt_id.is_some());
        (got.receipt_id, expected.receipt_id) = (None, None);
        assert_eq!(got, expected, "request {i}");
    }
    let (a, b) = (&bound(&split, "u")[0], &bound(&whole, "u")[0]);
    assert_eq!(a.binding.status, MfaTokenUsrStat::Lock);
    assert_eq!(
        (
            a.binding.failure_count,
            a.binding.locked_at,
            a.token.last_step
        ),
        (
            b.binding.failure_count,
            b.binding.locked_at,
            b.token.last_step
        )
    );
}
