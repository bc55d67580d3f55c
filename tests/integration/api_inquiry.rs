//! Inquiry (MFATokenInq), the ActIntentKey, and the jXchange header echo.

use serde_json::json;

use crate::support::{fault, totp, TestServer};

#[test]
fn inquiry_reports_the_token_and_its_binding() {
    let server = TestServer::start();
    let (status, rs) = server.post(
        "/api/v1/tokens",
        &json!({"UsrName": "kim", "TokenType": "Software", "TokenId": "SW-1", "UsrTokenDesc": "Kim's phone"}),
    );
    assert_eq!(status, 200);
    let seed = crate::support::b32(rs["Secret"].as_str().unwrap());
    let (status, inq) = server.post("/api/v1/inquiry", &json!({"TokenId": "SW-1"}));
    assert_eq!(status, 200, "{inq}");
    assert_eq!(inq["TokenId"], "SW-1");
    assert_eq!(inq["ActIntent"], "ReadOnly");
    assert!(inq.get("ActIntentKey").is_none(), "ReadOnly has no key");
    assert_eq!(inq["MFATokenInqInfo"]["UsrTokenStat"], "Init");
    let rec = &inq["MFATokenInqInfo"]["MFATokenInqArray"][0];
    assert_eq!(rec["UsrName"], "kim");
    assert_eq!(rec["MFATokenUsrStat"], "Act");
    assert_eq!(rec["UsrTokenDesc"], "Kim's phone");
    assert!(rec.get("LastTrnRcptId").is_none());

    let step = crate::support::now_step(30);
    server.post(
        "/api/v1/tokens/SW-1/activate",
        &json!({"Code": totp(&seed, "SHA1", 6, step)}),
    );
    let ok = server.validate("kim", &totp(&seed, "SHA1", 6, step + 1));
    let (_, inq) = server.post(
        "/api/v1/inquiry",
        &json!({"TokenId": "SW-1", "UsrName": "kim"}),
    );
    assert_eq!(inq["UsrName"], "kim");
    assert_eq!(inq["MFATokenInqInfo"]["UsrTokenStat"], "Act");
    let rec = &inq["MFATokenInqInfo"]["MFATokenInqArray"][0];
    assert_eq!(rec["LastTrnRcptId"], ok["LastTrnRcptId"]);
    assert_eq!(rec["LastAuthenTimeDt"], ok["LastAuthenTimeDt"]);
}

#[test]
fn act_intent_keys_are_per_intent_and_change_when_the_record_changes() {
    let server = TestServer::start();
    let (token, seed, step) = server.enroll_active("lee");
    let key = |intent: &str| {
        let (status, inq) = server.post(
            "/api/v1/inquiry",
            &json!({"TokenId": token, "ActIntent": intent}),
        );
        assert_eq!(status, 200, "{inq}");
        assert_eq!(inq["ActIntent"], intent);
        inq["ActIntentKey"].as_str().unwrap().to_owned()
    };
    let upd = key("Upd");
    assert_eq!(upd, key("Upd"), "stable while nothing changes");
    assert_ne!(upd, key("Dlt"), "bound to the intent");
    server.validate("lee", &totp(&seed, "SHA1", 6, step + 1));
    assert_ne!(upd, key("Upd"), "a validation changed the record");
    let (other, _, _) = server.enroll_active("lee2");
    let (_, inq) = server.post(
        "/api/v1/inquiry",
        &json!({"TokenId": other, "ActIntent": "Upd"}),
    );
    assert_ne!(
        inq["ActIntentKey"].as_str().unwrap(),
        key("Upd"),
        "bound to the token"
    );
}

#[test]
fn inquiry_faults() {
    let server = TestServer::start();
    server.enroll_active("mia");
    let (status, rs) = server.post("/api/v1/inquiry", &json!({}));
    assert_eq!(
        (status, fault(&rs)),
        (400, ("2205".into(), Some("TokenId".into())))
    );
    let (status, rs) = server.post("/api/v1/inquiry", &json!({"TokenId": ""}));
    assert_eq!((status, fault(&rs).0.as_str()), (400, "2205"));
    let (status, rs) = server.post("/api/v1/inquiry", &json!({"TokenId": "NOPE"}));
    assert_eq!(
        (status, fault(&rs)),
        (404, ("7020".into(), Some("TokenId".into())))
    );
    let (token, _, _) = server.enroll_active("nia");
    let (status, rs) = server.post(
        "/api/v1/inquiry",
        &json!({"TokenId": token, "UsrName": "mia"}),
    );
    assert_eq!(
        (status, fault(&rs)),
        (404, ("7021".into(), Some("UsrName".into())))
    );
    let (status, rs) = server.post(
        "/api/v1/inquiry",
        &json!({"TokenId": token, "ActIntent": "Delete"}),
    );
    assert_eq!(
        (status, fault(&rs)),
        (400, ("2005".into(), Some("ActIntent".into())))
    );
}

#[test]
fn the_jxchange_header_is_echoed_and_a_tracking_id_generated() {
    let server = TestServer::start();
    let (token, _, _) = server.enroll_active("olga");
    let hdr = json!({"jXchangeHdr": {"AuditUsrId": "teller7", "AuditWsId": "WS-12", "ConsumerName": "Bank",
        "ConsumerProd": "OLB", "InstRtId": "tokend", "jXLogTrackingId": "trk-1", "BusCorrelId": "bus-1",
        "WorkflowCorrelId": "wf-1"}});
    let (status, rs) = server.post(
        "/api/v1/inquiry",
        &json!({"MsgRqHdr": hdr, "TokenId": token}),
    );
    assert_eq!(status, 200, "{rs}");
    assert_eq!(rs["MsgRsHdr"]["jXchangeHdr"], hdr["jXchangeHdr"]);
    let (_, rs) = server.post(
        "/api/v1/inquiry",
        &json!({"MsgRqHdr": hdr, "TokenId": "NOPE"}),
    );
    assert_eq!(
        rs["MsgRsHdr"]["jXchangeHdr"]["jXLogTrackingId"], "trk-1",
        "faults echo too"
    );
    let (_, rs) = server.post("/api/v1/inquiry", &json!({"TokenId": token}));
    let generated = rs["MsgRsHdr"]["jXchangeHdr"]["jXLogTrackingId"]
        .as_str()
        .unwrap();
    assert_eq!(generated.len(), 36);
}
