//! `Idempotency-Key` (issue 29): a consumer retrying a creating or sending call after a
//! timeout gets the first answer again — one token, one SMS, one counted failure — also
//! after a restart; another request with the key, or a key still held, is a fault.
//! Across nodes: `cluster::a_retry_reaching_another_node_does_its_work_once`.

use serde_json::{json, Value};
use std::sync::{Arc, Barrier};

use crate::api_oob::outbox;
use crate::support::{create_key, fault, response, wrong_code, TestServer};

/// An answer: status, body, and whether it was marked as a replay.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub replayed: bool,
}

/// POSTs `body` to `base` + `path` with `key` and the `Idempotency-Key` `idem`.
pub fn post_idem(base: &str, key: &str, path: &str, idem: &str, body: &Value) -> Answer {
    let rs = response(
        ureq::post(&format!("{base}{path}"))
            .set("Authorization", &format!("Bearer {key}"))
            .set("Content-Type", "application/json")
            .set("Idempotency-Key", idem)
            .send_string(&body.to_string()),
    );
    let status = rs.status();
    let replayed = rs.header("Idempotent-Replayed") == Some("true");
    let text = rs.into_string().unwrap();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
        replayed,
    }
}

fn tokens_of(server: &TestServer, usr: &str) -> usize {
    let (status, _, _, bytes) = server.get(&format!("/api/v1/users/{usr}"));
    let rs: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(status, 200, "{rs}");
    rs["MFATokenArray"].as_array().unwrap().len()
}

#[test]
fn a_retried_enrollment_makes_one_token_and_answers_the_same_secret() {
    let server = TestServer::start();
    let body = json!({"UsrName": "ada", "TokenType": "Software"});
    let first = post_idem(&server.base, &server.key, "/api/v1/tokens", "enr-1", &body);
    assert_eq!(
        (first.status, first.replayed),
        (200, false),
        "{}",
        first.body
    );
    let again = post_idem(&server.base, &server.key, "/api/v1/tokens", "enr-1", &body);
    assert_eq!(
        (again.status, again.replayed),
        (200, true),
        "{}",
        again.body
    );
    assert_eq!(again.body, first.body, "the stored answer, secret and all");
    assert_eq!(tokens_of(&server, "ada"), 1);
    // Another key is another enrollment.
    let other = post_idem(&server.base, &server.key, "/api/v1/tokens", "enr-2", &body);
    assert_eq!((other.status, other.replayed), (200, false));
    assert_ne!(other.body["TokenId"], first.body["TokenId"]);
    assert_eq!(tokens_of(&server, "ada"), 2);
}

#[test]
fn a_retried_oob_validate_sends_one_sms_and_a_retried_verify_checks_once() {
    let server = TestServer::start();
    let body = json!({"PhoneNum": "5552345678", "OOBModeType": "TwoWay"});
    let first = post_idem(&server.base, &server.key, "/api/v1/oob", "oob-1", &body);
    assert_eq!(first.status, 200, "{}", first.body);
    let again = post_idem(&server.base, &server.key, "/api/v1/oob", "oob-1", &body);
    assert!(again.replayed);
    assert_eq!(again.body["AlrtPkgId"], first.body["AlrtPkgId"]);
    assert_eq!(outbox(&server).len(), 1, "one SMS");
    // A wrong code fails the session once; its retry answers the same Failed, not 7051.
    let alrt = first.body["AlrtPkgId"].as_str().unwrap();
    let path = format!("/api/v1/oob/{alrt}/verify");
    let wrong = json!({"OTP": "000000"});
    let verdict = post_idem(&server.base, &server.key, &path, "ver-1", &wrong);
    assert_eq!(verdict.body["RsStat"], "Failed", "{}", verdict.body);
    let retried = post_idem(&server.base, &server.key, &path, "ver-1", &wrong);
    assert_eq!((retried.status, retried.replayed), (200, true));
    assert_eq!(retried.body["RsStat"], "Failed");
}

#[test]
fn a_retried_wrong_code_counts_one_failure() {
    let server = TestServer::start();
    let (token, seed, _) = server.enroll_active("bob");
    let body = json!({"UsrName": "bob", "Code": wrong_code(&seed)});
    for _ in 0..3 {
        let a = post_idem(
            &server.base,
            &server.key,
            "/api/v1/validate",
            "val-1",
            &body,
        );
        assert_eq!(a.body["RsStat"], "Failed", "{}", a.body);
    }
    let (_, inq) = server.post("/api/v1/inquiry", &json!({"TokenId": token}));
    let rec = &inq["MFATokenInqInfo"]["MFATokenInqArray"][0];
    assert_eq!(rec["Custom"]["FailureCount"], 1, "{inq}");
}

#[test]
fn the_same_key_with_another_request_is_7013_and_keys_are_per_api_key() {
    let server = TestServer::start();
    let path = "/api/v1/users";
    let first = post_idem(
        &server.base,
        &server.key,
        path,
        "u-1",
        &json!({"UsrName": "cy"}),
    );
    assert_eq!(first.status, 200, "{}", first.body);
    let other = post_idem(
        &server.base,
        &server.key,
        path,
        "u-1",
        &json!({"UsrName": "di"}),
    );
    assert_eq!(other.status, 422);
    assert_eq!(
        fault(&other.body),
        ("7013".into(), Some("Idempotency-Key".into()))
    );
    // Another consumer's key is its own: the same header value runs its own request.
    let theirs = create_key(&server.data_dir, "theirs", "manage");
    let mine = post_idem(
        &server.base,
        &theirs,
        path,
        "u-1",
        &json!({"UsrName": "di"}),
    );
    assert_eq!((mine.status, mine.replayed), (200, false), "{}", mine.body);
    for bad in ["", "has space", &"k".repeat(256)] {
        let a = post_idem(
            &server.base,
            &server.key,
            path,
            bad,
            &json!({"UsrName": "ed"}),
        );
        assert_eq!(
            (a.status, fault(&a.body)),
            (400, ("7001".into(), Some("Idempotency-Key".into())))
        );
    }
}

#[test]
fn a_retry_after_a_restart_gets_the_stored_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), &[]).unwrap();
    let key = server.key.clone();
    let body = json!({"UsrName": "fay", "TokenType": "Software"});
    let first = post_idem(&server.base, &key, "/api/v1/tokens", "r-1", &body);
    assert_eq!(first.status, 200);
    drop(server);
    let server = TestServer::start_in(dir.path(), &[]).unwrap();
    let again = post_idem(&server.base, &key, "/api/v1/tokens", "r-1", &body);
    assert!(again.replayed);
    assert_eq!(again.body, first.body);
    assert_eq!(tokens_of(&server, "fay"), 1);
}

#[test]
fn racing_requests_with_one_key_send_one_sms() {
    let server = TestServer::start();
    let body = json!({"PhoneNum": "5559876543", "OOBModeType": "OneWay"});
    let n = 8;
    let barrier = Arc::new(Barrier::new(n));
    let answers: Vec<Answer> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let (barrier, server, body) = (Arc::clone(&barrier), &server, &body);
                s.spawn(move || {
                    barrier.wait();
                    post_idem(&server.base, &server.key, "/api/v1/oob", "race-1", body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ran: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    assert!(!ran.is_empty());
    assert_eq!(ran.iter().filter(|a| !a.replayed).count(), 1, "one ran");
    assert!(ran
        .iter()
        .all(|a| a.body["AlrtPkgId"] == ran[0].body["AlrtPkgId"]));
    for a in answers.iter().filter(|a| a.status != 200) {
        assert_eq!((a.status, fault(&a.body).0.as_str()), (409, "7014"));
    }
    assert_eq!(outbox(&server).len(), 1, "one SMS");
}

/// SOAP takes the key from the WS-Addressing `MessageID`: a retried OOBValidate envelope
/// (a new nonce and timestamp would be fine: the security header is not compared) sends
/// one SMS and answers the stored envelope again.
#[test]
fn a_soap_retry_with_the_same_message_id_sends_one_sms() {
    use crate::soap::{elem, envelope, good_hdr, username_token};
    let server = TestServer::start();
    let inner = format!(
        "{}<PhoneNum>5555550123</PhoneNum><OOBModeType>TwoWay</OOBModeType>",
        good_hdr()
    );
    let send = |message_id: &str| {
        let header = format!(
            r#"{}<wsa:MessageID xmlns:wsa="http://www.w3.org/2005/08/addressing">{message_id}</wsa:MessageID>"#,
            username_token(&server.key, "PasswordText")
        );
        let rs = response(
            ureq::post(&format!("{}/jxchange", server.base))
                .set("Content-Type", "text/xml; charset=utf-8")
                .set("SOAPAction", "\"http://jackhenry.com/ws/OOBValidate\"")
                .send_string(&envelope("OOBValidate", &inner, &header)),
        );
        let replayed = rs.header("Idempotent-Replayed") == Some("true");
        let ct = rs.header("Content-Type").unwrap_or_default().to_owned();
        (rs.status(), replayed, ct, rs.into_string().unwrap())
    };
    let (status, replayed, _, first) = send("urn:uuid:5f1c0e7a-0000-4000-8000-000000000001");
    assert_eq!((status, replayed), (200, false), "{first}");
    let (status, replayed, ct, again) = send("urn:uuid:5f1c0e7a-0000-4000-8000-000000000001");
    assert_eq!((status, replayed), (200, true), "{again}");
    assert!(ct.starts_with("text/xml"), "{ct}");
    assert_eq!(elem(&again, "AlrtPkgId"), elem(&first, "AlrtPkgId"));
    assert_eq!(outbox(&server).len(), 1, "one SMS");
    let (_, replayed, _, other) = send("urn:uuid:5f1c0e7a-0000-4000-8000-000000000002");
    assert!(!replayed);
    assert_ne!(elem(&other, "AlrtPkgId"), elem(&first, "AlrtPkgId"));
    assert_eq!(outbox(&server).len(), 2);
}
