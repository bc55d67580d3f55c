//! Crash safety and multi-process concurrency: `kill -9` under load loses no answered
//! success, no started OOB session and no OOB result event, and two servers sharing one
//! database file still accept a code once.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use crate::support::{json_of, totp, TestServer};

/// Every audit row's detail for validation successes, read from the database file.
fn audited_receipts(server: &TestServer) -> Vec<String> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    let mut conn = crate::support::database(&server.data_dir);
    diesel::sql_query(
        "SELECT detail FROM audit_events WHERE action = 'validate' AND result = 'Success'",
    )
    .load::<Row>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|r| r.detail)
    .collect()
}

fn post(base: &str, key: &str, path: &str, body: &Value) -> Option<(u16, Value)> {
    let rs = ureq::post(&format!("{base}{path}"))
        .set("Authorization", &format!("Bearer {key}"))
        .timeout(Duration::from_secs(10))
        .send_string(&body.to_string());
    match rs {
        Err(ureq::Error::Transport(_)) => None,
        other => Some(json_of(other)),
    }
}

/// Polls `done` every millisecond (at most 30 s), so the kill lands in the middle of the
/// load rather than after it.
fn wait_until(done: impl Fn() -> bool) {
    for _ in 0..30_000 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("the load did not make progress");
}

/// A success answered before the kill: who, with which code, and its receipt.
type Answered = (String, String, String);

#[test]
fn answered_successes_survive_kill_9_and_cannot_be_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let window = [("ROCKET_WINDOW_STEPS", "10")];
    let mut server = TestServer::start_in(dir.path(), &window).unwrap();
    let users: Vec<(String, Vec<u8>, i64)> = (0..16)
        .map(|i| {
            let usr = format!("crash-{i}");
            let (_, seed, step) = server.enroll_active(&usr);
            (usr, seed, step)
        })
        .collect();
    let answered: Arc<Mutex<Vec<Answered>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = users
        .clone()
        .into_iter()
        .map(|(usr, seed, step)| {
            let (base, key) = (server.base.clone(), server.key.clone());
            let (answered, stop) = (answered.clone(), stop.clone());
            std::thread::spawn(move || {
                for ahead in 1..=10 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let code = totp(&seed, "SHA1", 6, step + ahead);
                    let body = json!({"UsrName": usr, "Code": code});
                    let Some((_, rs)) = post(&base, &key, "/api/v1/validate", &body) else {
                        return;
                    };
                    if rs["RsStat"] == "Success" {
                        let receipt = rs["LastTrnRcptId"].as_str().unwrap().to_owned();
                        answered.lock().unwrap().push((usr.clone(), code, receipt));
                    }
                }
            })
        })
        .collect();
    wait_until(|| answered.lock().unwrap().len() >= 40);
    server.stop(); // SIGKILL, mid-load
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    assert!(
        !answered.is_empty(),
        "some validations were answered before the kill"
    );

    let server = TestServer::start_in(dir.path(), &window).expect("restarts without repair");
    let receipts = audited_receipts(&server);
    for (usr, code, receipt) in &answered {
        assert!(
            receipts.contains(receipt),
            "answered receipt {receipt} of {usr} was lost"
        );
        let rs = server.validate(usr, code);
        assert_eq!(
            rs["RsStat"], "Failed",
            "an answered code of {usr} was replayed"
        );
    }
    // Every token is whole: each still validates with a fresh code.
    for (usr, seed, step) in &users {
        let rs = server.validate(usr, &totp(seed, "SHA1", 6, step + 11));
        assert_eq!(rs["RsStat"], "Success", "{usr}: {rs}");
    }
}

#[test]
fn answered_enrollments_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]).unwrap();
    let answered: Arc<Mutex<Vec<String>>> = Arc::default();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (base, key, answered) = (server.base.clone(), server.key.clone(), answered.clone());
            std::thread::spawn(move || {
                for i in 0..200 {
                    let body = json!({"UsrName": format!("e-{w}-{i}"), "TokenType": "Software"});
                    let Some((200, rs)) = post(&base, &key, "/api/v1/tokens", &body) else {
                        return;
                    };
                    answered
                        .lock()
                        .unwrap()
                        .push(rs["TokenId"].as_str().unwrap().to_owned());
                }
            })
        })
        .collect();
    wait_until(|| answered.lock().unwrap().len() >= 50);
    server.stop(); // SIGKILL, mid-load
    for w in workers {
        w.join().unwrap();
    }
    let server = TestServer::start_in(dir.path(), &[]).expect("restarts without repair");
    let answered = answered.lock().unwrap().clone();
    assert!(!answered.is_empty());
    for token in &answered {
        let (status, inq) = server.post("/api/v1/inquiry", &json!({"TokenId": token}));
        assert_eq!(status, 200, "enrolled token {token} lost: {inq}");
        assert_eq!(inq["MFATokenInqInfo"]["UsrTokenStat"], "Init");
        assert_eq!(
            inq["MFATokenInqInfo"]["MFATokenInqArray"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
}

#[test]
fn two_servers_on_one_database_accept_a_code_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestServer::start_in(dir.path(), &[]).unwrap();
    let b = TestServer::start_in(dir.path(), &[]).unwrap();
    let (_, seed, step) = a.enroll_active("shared");
    let code = totp(&seed, "SHA1", 6, step + 1);
    let n = 32;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let server = if i % 2 == 0 { &a } else { &b };
            let (base, key) = (server.base.clone(), server.key.clone());
            let (barrier, code) = (barrier.clone(), code.clone());
            std::thread::spawn(move || {
                barrier.wait();
                post(
                    &base,
                    &key,
                    "/api/v1/validate",
                    &json!({"UsrName": "shared", "Code": code}),
                )
                .expect("answered")
            })
        })
        .collect();
    let answers: Vec<(u16, Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    let wins = answers
        .iter()
        .filter(|(_, rs)| rs["RsStat"] == "Success")
        .count();
    assert_eq!(wins, 1, "{answers:?}");
}

/// A session started before the kill, and the answer to its verification, if one came.
type OobAnswered = (String, Option<String>);

#[test]
fn answered_oob_sessions_and_events_survive_kill_9() {
    use crate::api_oob::{events_of, get_json};
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]).unwrap();
    let answered: Arc<Mutex<Vec<OobAnswered>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (base, key) = (server.base.clone(), server.key.clone());
            let (answered, stop) = (answered.clone(), stop.clone());
            std::thread::spawn(move || {
                for i in 0..500 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let phone = format!("55{w:02}{i:06}");
                    let body = json!({"PhoneNum": phone, "OOBModeType": "TwoWay"});
                    let Some((200, rs)) = post(&base, &key, "/api/v1/oob", &body) else {
                        return;
                    };
                    let alrt = rs["AlrtPkgId"].as_str().unwrap().to_owned();
                    let otp = rs["OTP"].as_str().unwrap().to_owned();
                    let slot = {
                        let mut all = answered.lock().unwrap();
                        all.push((alrt.clone(), None));
                        all.len() - 1
                    };
                    let presented = if i % 2 == 0 { otp } else { "ZZZZZZ".to_owned() };
                    let path = format!("/api/v1/oob/{alrt}/verify");
                    let Some((200, rs)) = post(&base, &key, &path, &json!({"OTP": presented}))
                    else {
                        return;
                    };
                    let stat = rs["RsStat"].as_str().unwrap().to_owned();
                    answered.lock().unwrap()[slot].1 = Some(stat);
                }
            })
        })
        .collect();
    wait_until(|| {
        answered
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, a)| a.is_some())
            .count()
            >= 30
    });
    server.stop(); // SIGKILL, mid-load
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let answered = answered.lock().unwrap().clone();

    let server = TestServer::start_in(dir.path(), &[]).expect("restarts without repair");
    for (alrt, answer) in &answered {
        let (status, session) = get_json(&server, &format!("/api/v1/oob/{alrt}"));
        assert_eq!(status, 200, "started session {alrt} was lost: {session}");
        let evs = events_of(&server, alrt);
        match answer {
            Some(stat) => {
                assert_eq!(session["OOBStat"], stat.as_str(), "{alrt}");
                assert_eq!(evs.len(), 1, "{alrt}: {evs:?}");
                assert_eq!(evs[0]["RsStat"], stat.as_str());
            }
            None => assert!(evs.len() <= 1, "{alrt}: {evs:?}"),
        }
    }
}

#[test]
fn two_servers_on_one_database_end_an_oob_session_once() {
    use crate::api_oob::events_of;
    let dir = tempfile::tempdir().unwrap();
    let a = TestServer::start_in(dir.path(), &[]).unwrap();
    let b = TestServer::start_in(dir.path(), &[]).unwrap();
    let (_, rs) = a.post("/api/v1/oob", &json!({"PhoneNum": "4175556652"}));
    let alrt = rs["AlrtPkgId"].as_str().unwrap().to_owned();
    let otp = rs["OTP"].as_str().unwrap().to_owned();
    let n = 16;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let server = if i % 2 == 0 { &a } else { &b };
            let (base, key) = (server.base.clone(), server.key.clone());
            let (barrier, otp) = (barrier.clone(), otp.clone());
            let path = format!("/api/v1/oob/{alrt}/verify");
            std::thread::spawn(move || {
                barrier.wait();
                post(&base, &key, &path, &json!({"OTP": otp})).expect("answered")
            })
        })
        .collect();
    let answers: Vec<(u16, Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    let wins = answers
        .iter()
        .filter(|(_, rs)| rs["RsStat"] == "Success")
        .count();
    assert_eq!(wins, 1, "{answers:?}");
    assert_eq!(events_of(&a, &alrt).len(), 1);
}
