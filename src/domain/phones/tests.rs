//! The phone lifecycle, the hold and explain at fixed times (no clock read).

use chrono::Duration;

use super::explain::{CodeFinding, ExplainRequest};
use super::{PhoneChange, PhonePolicy};
use crate::domain::test_support::{
    at, bound, code, ctx, enroll_active, service, step_of, validate, wrong_code,
};
use crate::domain::Service;
use crate::types::{PhoneNum, RsStat, UsrName};

const SEED: &[u8] = b"12345678901234567890";

fn name(s: &str) -> UsrName {
    UsrName::parse(s).unwrap()
}

fn change(s: &Service, usr: &str, phone: Option<&str>, secs: i64) {
    let key = s
        .user_view(&ctx(), &name(usr), at(secs))
        .unwrap()
        .intent_key;
    let rq = PhoneChange {
        usr_name: name(usr),
        intent_key: key,
        phone: phone.and_then(PhoneNum::parse),
    };
    s.change_phone(&ctx(), &rq, at(secs)).unwrap();
}

fn hold(s: &Service, usr: &str, secs: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    s.user_view(&ctx(), &name(usr), at(secs))
        .unwrap()
        .hold_until
}

#[test]
fn a_change_holds_for_the_period_and_a_lift_covers_only_earlier_changes() {
    let (_dir, s) = service();
    let t0 = 1_800_000_000;
    let phone = PhoneNum::parse("4175556652").unwrap();
    s.create_user(&ctx(), &name("ann"), Some(&phone), at(t0))
        .unwrap();
    assert_eq!(
        hold(&s, "ann", t0),
        None,
        "a phone given at creation holds nothing"
    );
    change(&s, "ann", Some("5552001234"), t0 + 10);
    let week = 7 * 24 * 3600;
    assert_eq!(hold(&s, "ann", t0 + 20), Some(at(t0 + 10 + week)));
    assert_eq!(hold(&s, "ann", t0 + 10 + week), None, "the hold ends");
    s.lift_hold(&ctx(), &name("ann"), "called back", at(t0 + 30))
        .unwrap();
    assert_eq!(hold(&s, "ann", t0 + 40), None);
    change(&s, "ann", None, t0 + 50);
    assert!(
        hold(&s, "ann", t0 + 60).is_some(),
        "a later change holds again"
    );
    let off = service().1.with_phones(PhonePolicy {
        sim_swap_hold_secs: 0,
        ..PhonePolicy::default()
    });
    off.create_user(&ctx(), &name("bo"), None, at(t0)).unwrap();
    change(&off, "bo", Some("5552001234"), t0 + 10);
    assert_eq!(hold(&off, "bo", t0 + 20), None, "0 turns the guard off");
}

#[test]
fn explain_names_a_drifted_codes_offset_and_counts_nothing() {
    let (_dir, s) = service();
    let now = at(1_800_000_000);
    enroll_active(&s, "cy", "HW-1", SEED, now);
    let later = now + Duration::seconds(60);
    let step = step_of(later);
    assert_eq!(
        validate(&s, "cy", &code(SEED, step - 6), later).rs_stat,
        RsStat::Failed
    );
    assert_eq!(
        validate(&s, "cy", &wrong_code(SEED, step), later).rs_stat,
        RsStat::Failed
    );
    let rq = ExplainRequest {
        usr_name: Some(name("cy")),
        token_id: None,
        count: 10,
    };
    let e = s.explain(&ctx(), &rq, later).unwrap();
    let findings: Vec<_> = e.attempts.iter().map(|a| a.code.clone()).collect();
    assert_eq!(findings[0], Some(CodeFinding::NoMatch));
    assert_eq!(
        findings[1],
        Some(CodeFinding::Offset {
            steps: -6,
            period: 30
        })
    );
    assert!(findings[1]
        .as_ref()
        .unwrap()
        .advice()
        .contains("3 minute(s)"));
    assert!(findings[1].as_ref().unwrap().advice().contains("slow"));
    assert_eq!(
        bound(&s, "cy")[0].binding.failure_count,
        2,
        "explain counts nothing"
    );
    // Past the retention the hash is gone: the explanation says so.
    let e = s.explain(&ctx(), &rq, later + Duration::hours(2)).unwrap();
    assert_eq!(e.attempts[1].code, Some(CodeFinding::NotKept));
}
