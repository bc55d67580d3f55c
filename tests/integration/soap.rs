//! The SOAP binding (`/jxchange`) over real HTTP: every operation the WSDL lists
//! answers; hostile and malformed bodies get SOAP faults (HTTP 500 with the jXchange
//! record), never a bare 5xx or a hang; the credentials SOAP clients send; the header
//! rules (strict on SOAP, lenient on JSON unless `jxchange_strict_headers`).

use serde_json::json;

use crate::support::{fault, response, TestServer};

const NS: &str = "http://jackhenry.com/jxchange/TPG/2008";
const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

/// A header that meets every rule for the server's default institution.
pub fn good_hdr() -> String {
    "<MsgRqHdr><jXchangeHdr><AuditUsrId>u1</AuditUsrId><AuditWsId>w1</AuditWsId>\
     <ConsumerName>Bank</ConsumerName><ConsumerProd>Teller</ConsumerProd>\
     <jXLogTrackingId>T-42</jXLogTrackingId><InstRtId>tokend</InstRtId>\
     <ValidConsmName>Bank</ValidConsmName><ValidConsmProd>Teller</ValidConsmProd>\
     </jXchangeHdr></MsgRqHdr>"
        .to_owned()
}

/// An envelope around `<op xmlns=TPG>inner</op>`, with an optional WS-Security header.
pub fn envelope(op: &str, inner: &str, security: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Header>{security}</soapenv:Header><soapenv:Body><{op} xmlns="{NS}">{inner}</{op}></soapenv:Body></soapenv:Envelope>"#
    )
}

/// A `wsse:Security` header with a UsernameToken carrying `password` of `kind`.
pub fn username_token(password: &str, kind: &str) -> String {
    format!(
        r#"<wsse:Security xmlns:wsse="{WSSE_NS}"><wsse:UsernameToken><wsse:Username>mw</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#{kind}">{password}</wsse:Password></wsse:UsernameToken></wsse:Security>"#
    )
}

/// POSTs bytes to /jxchange; answers (status, content type, body).
pub fn post_soap(
    server: &TestServer,
    action: Option<&str>,
    bearer: Option<&str>,
    body: &[u8],
) -> (u16, String, String) {
    let mut rq = ureq::post(&format!("{}/jxchange", server.base))
        .timeout(std::time::Duration::from_secs(20))
        .set("Content-Type", "text/xml; charset=utf-8");
    if let Some(a) = action {
        rq = rq.set("SOAPAction", &format!("\"http://jackhenry.com/ws/{a}\""));
    }
    if let Some(k) = bearer {
        rq = rq.set("Authorization", &format!("Bearer {k}"));
    }
    let rs = response(rq.send_bytes(body));
    let status = rs.status();
    let ct = rs.header("Content-Type").unwrap_or_default().to_owned();
    (status, ct, rs.into_string().unwrap())
}

/// Calls `op` with the server's key in a UsernameToken.
pub fn call(server: &TestServer, op: &str, inner: &str) -> (u16, String) {
    let sec = username_token(&server.key, "PasswordText");
    let (status, ct, body) =
        post_soap(server, Some(op), None, envelope(op, inner, &sec).as_bytes());
    assert!(ct.starts_with("text/xml"), "{ct}: {body}");
    (status, body)
}

/// The text of the first `<name>` in `xml`.
pub fn elem<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(&xml[start..end])
}

/// Asserts a SOAP fault (500, `faultcode`, the jXchange record) with `code`.
pub fn assert_fault(status: u16, body: &str, code: &str) {
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("<s:Fault><faultcode>s:"), "{body}");
    assert_eq!(elem(body, "ErrCode"), Some(code), "{body}");
    for part in ["ErrCat", "ErrDesc", "ErrLoc", "jXLogTrackingId"] {
        assert!(elem(body, part).is_some(), "{part} in {body}");
    }
}

#[test]
fn every_operation_in_the_wsdl_answers() {
    let server = TestServer::start();
    let (status, ct, _, wsdl) = server.get("/jxchange?wsdl");
    assert_eq!(status, 200);
    assert!(ct.contains("xml"), "{ct}");
    let wsdl = String::from_utf8(wsdl).unwrap();
    let re = regex::Regex::new(r#"soapAction="http://jackhenry.com/ws/(\w+)""#).unwrap();
    let ops: Vec<String> = re.captures_iter(&wsdl).map(|c| c[1].to_owned()).collect();
    for published in ["MFATokenInq", "MFATokenAdd", "MFATokenMod", "OOBValidate"] {
        assert!(ops.iter().any(|o| o == published), "{published}: {ops:?}");
    }
    // The JSON API's user, phone, hold and explain calls (issue 17) are there too.
    for own in [
        "MFAUsrAdd",
        "MFAUsrInq",
        "MFAUsrPhoneMod",
        "MFAUsrHoldLift",
        "MFAUsrAlrtSubMod",
        "MFAExplainInq",
    ] {
        assert!(ops.iter().any(|o| o == own), "{own}: {ops:?}");
    }
    assert!(ops.len() >= 17, "{ops:?}");
    for op in &ops {
        // The header alone: each operation is known and answers (a result or a fault of
        // its own elements), never "no such operation" nor an internal error.
        let (status, body) = call(&server, op, &good_hdr());
        assert!(status == 200 || status == 500, "{op}: {status} {body}");
        let code = elem(&body, "ErrCode").unwrap_or("none");
        assert!(!["7003", "7099", "7000"].contains(&code), "{op}: {body}");
        assert!(
            body.contains("<jXLogTrackingId>T-42</jXLogTrackingId>"),
            "{op}: {body}"
        );
    }
}

#[test]
fn hostile_and_malformed_bodies_get_soap_faults() {
    let server = TestServer::start();
    let key = Some(server.key.as_str());
    let xxe = format!(
        r#"<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>{}"#,
        envelope("MFATokenInq", "<TokenId>&x;</TokenId>", "")
    );
    let laughs = format!(
        r#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>{}"#,
        envelope("MFATokenInq", "<TokenId>&b;</TokenId>", "")
    );
    let other_ns = envelope("MFATokenInq", "", "").replace(NS, "urn:not-jxchange");
    let big = envelope(
        "MFATokenInq",
        &format!("{}<TokenId>{}</TokenId>", good_hdr(), "a".repeat(70 * 1024)),
        "",
    );
    let cases: Vec<(&str, Option<&str>, Vec<u8>, &str)> = vec![
        (
            "not XML",
            Some("MFATokenInq"),
            b"this is not xml".to_vec(),
            "7000",
        ),
        ("empty", Some("MFATokenInq"), Vec::new(), "7000"),
        (
            "JSON",
            Some("MFATokenInq"),
            br#"{"TokenId":"a"}"#.to_vec(),
            "7000",
        ),
        (
            "unclosed",
            Some("MFATokenInq"),
            b"<a><b></a>".to_vec(),
            "7000",
        ),
        ("XXE", Some("MFATokenInq"), xxe.into_bytes(), "7000"),
        (
            "entity expansion",
            Some("MFATokenInq"),
            laughs.into_bytes(),
            "7000",
        ),
        (
            "wrong namespace",
            Some("MFATokenInq"),
            other_ns.into_bytes(),
            "7003",
        ),
        (
            "unknown operation",
            Some("NoSuchOp"),
            envelope("NoSuchOp", &good_hdr(), "").into_bytes(),
            "7003",
        ),
        (
            "SOAPAction disagrees",
            Some("OOBValidate"),
            envelope("MFATokenInq", &good_hdr(), "").into_bytes(),
            "7003",
        ),
        ("oversized", Some("MFATokenInq"), big.into_bytes(), "7002"),
    ];
    for (what, action, body, code) in cases {
        let (status, ct, text) = post_soap(&server, action, key, &body);
        assert!(ct.starts_with("text/xml"), "{what}: {ct} {text}");
        assert_fault(status, &text, code);
        assert!(!text.contains("root:"), "{what}: {text}");
    }
    // Rocket's own refusals under /jxchange are SOAP faults too.
    let rs = response(ureq::put(&format!("{}/jxchange", server.base)).send_string("x"));
    let status = rs.status();
    assert_fault(status, &rs.into_string().unwrap(), "7003");
}

#[test]
fn soap_clients_authenticate_with_a_username_token_or_bearer() {
    let server = TestServer::start();
    let inq = format!(
        "{}<TokenId>nope</TokenId><UsrName>nope</UsrName>",
        good_hdr()
    );
    let body = |sec: &str| envelope("MFATokenInq", &inq, sec).into_bytes();
    let text = username_token(&server.key, "PasswordText");
    let (status, _, rs) = post_soap(&server, Some("MFATokenInq"), None, &body(&text));
    assert_fault(status, &rs, "7020"); // authenticated: the token is what is missing
    let (status, _, rs) = post_soap(&server, Some("MFATokenInq"), Some(&server.key), &body(""));
    assert_fault(status, &rs, "7020");
    let (status, _, rs) = post_soap(&server, Some("MFATokenInq"), None, &body(""));
    assert_fault(status, &rs, "7010");
    // A PasswordDigest without its Nonce and Created is refused as replayable (issue 28;
    // the digest itself is soap_digest's).
    let digest = username_token(&server.key, "PasswordDigest");
    let (status, _, rs) = post_soap(&server, Some("MFATokenInq"), None, &body(&digest));
    assert_fault(status, &rs, "7012");
    let other = username_token(&server.key, "PasswordSaltedHash");
    let (status, _, rs) = post_soap(&server, Some("MFATokenInq"), None, &body(&other));
    assert_fault(status, &rs, "7010");
    let wrong = username_token("tkd_not-a-key", "PasswordText");
    let (status, _, rs) = post_soap(&server, Some("MFATokenInq"), None, &body(&wrong));
    assert_fault(status, &rs, "7010");
    assert!(
        !rs.contains("tkd_"),
        "a presented key is never echoed: {rs}"
    );
}

#[test]
fn the_published_header_rules_hold_on_soap() {
    let server = TestServer::start();
    let without = |elem: &str| {
        let re = regex::Regex::new(&format!("<{elem}>[^<]*</{elem}>")).unwrap();
        re.replace(&good_hdr(), "").into_owned()
    };
    let cases = [
        (String::new(), "2001"),
        (without("AuditUsrId"), "2021"),
        (without("AuditWsId"), "2002"),
        (without("ConsumerProd"), "2003"),
        (without("InstRtId"), "2016"),
        (without("ValidConsmName"), "2401"),
    ];
    for (hdr, code) in cases {
        let (status, body) = call(
            &server,
            "MFATokenInq",
            &format!("{hdr}<TokenId>t1</TokenId><UsrName>t1</UsrName>"),
        );
        assert_fault(status, &body, code);
    }
    // Empty AuditUsrId and AuditWsId are allowed (the seed's own example sends them so).
    let empty_audit = good_hdr()
        .replace("<AuditUsrId>u1</AuditUsrId>", "<AuditUsrId></AuditUsrId>")
        .replace("<AuditWsId>w1</AuditWsId>", "<AuditWsId/>");
    let (status, body) = call(
        &server,
        "MFATokenInq",
        &format!("{empty_audit}<TokenId>t1</TokenId><UsrName>t1</UsrName>"),
    );
    assert_fault(status, &body, "7020");
    // OOBValidate: InstRtId in the body disagreeing with the header's.
    let (status, body) = call(
        &server,
        "OOBValidate",
        &format!(
            "{}<InstRtId>999999999</InstRtId><PhoneNum>5555550100</PhoneNum>",
            good_hdr()
        ),
    );
    assert_fault(status, &body, "2505");
    assert_eq!(elem(&body, "ErrElem"), Some("InstRtId"), "{body}");
    assert!(
        elem(&body, "ErrDesc")
            .unwrap()
            .starts_with("Access was denied."),
        "{body}"
    );
}

#[test]
fn a_key_registered_for_a_consumer_refuses_another_valid_consumer() {
    let server = TestServer::start();
    let key = crate::support::create_key_with(
        &server.data_dir,
        "teller-app",
        "manage,validate",
        &["--consumer-name", "Bank", "--consumer-prod", "Teller"],
    );
    let inq = |hdr: &str| {
        envelope(
            "MFATokenInq",
            &format!("{hdr}<TokenId>t1</TokenId><UsrName>t1</UsrName>"),
            "",
        )
    };
    let (status, _, body) = post_soap(
        &server,
        Some("MFATokenInq"),
        Some(&key),
        inq(&good_hdr()).as_bytes(),
    );
    assert_fault(status, &body, "7020");
    for (from, to) in [
        ("<ValidConsmName>Bank<", "<ValidConsmName>Other<"),
        ("<ValidConsmProd>Teller<", "<ValidConsmProd>Kiosk<"),
    ] {
        let hdr = good_hdr().replace(from, to);
        let (status, _, body) = post_soap(
            &server,
            Some("MFATokenInq"),
            Some(&key),
            inq(&hdr).as_bytes(),
        );
        assert_fault(status, &body, "2505");
        assert_eq!(
            elem(&body, "ErrDesc").map(|d| d.starts_with("Access was denied.")),
            Some(true)
        );
    }
    // The JSON API applies the same registration.
    let (status, rs) = server.post_as(
        &key,
        "/api/v1/inquiry",
        &json!({"MsgRqHdr": {"jXchangeHdr": {"ValidConsmName": "Other"}}, "TokenId": "t1"}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (403, "2505"), "{rs}");
}

#[test]
fn authen_usr_cred_is_accepted_and_its_user_audited() {
    let server = TestServer::start();
    let hdr = good_hdr()
        .replace("<AuditUsrId>u1</AuditUsrId>", "<AuditUsrId/>")
        .replace(
            "<MsgRqHdr>",
            &format!(
                r#"<MsgRqHdr><AuthenUsrCred><wsse:Security xmlns:wsse="{WSSE_NS}"><wsse:UsernameToken><wsse:Username>jdoe</wsse:Username></wsse:UsernameToken></wsse:Security></AuthenUsrCred>"#
            ),
        );
    let (status, body) = call(
        &server,
        "MFATokenAdd",
        &format!("{hdr}<UsrName>zed</UsrName><TokenType>Software</TokenType>"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(elem(&body, "AuditUsrId"), Some("jdoe"), "{body}");
    let (_, _, _, page) = server.get("/api/v1/audit?UsrName=zed");
    let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
    assert_eq!(page["AuditArray"][0]["AuditUsrId"], "jdoe", "{page}");
}

#[test]
fn json_stays_lenient_by_default_and_is_strict_when_configured() {
    let lenient = TestServer::start();
    let (status, rs) = lenient.post("/api/v1/inquiry", &json!({"TokenId": "t1"}));
    assert_eq!((status, fault(&rs).0.as_str()), (404, "7020"), "{rs}");

    let dir = tempfile::tempdir().unwrap();
    let mut strict =
        TestServer::start_in(dir.path(), &[("ROCKET_JXCHANGE_STRICT_HEADERS", "true")]).unwrap();
    strict.keep_dir(dir);
    let (status, rs) = strict.post("/api/v1/inquiry", &json!({"TokenId": "t1"}));
    assert_eq!((status, fault(&rs).0.as_str()), (400, "2001"), "{rs}");
    let hdr = json!({"AuditUsrId": "", "AuditWsId": "", "ConsumerProd": "Teller",
                     "InstRtId": "tokend", "ValidConsmName": "Bank"});
    let (_, rs) = strict.post(
        "/api/v1/inquiry",
        &json!({"MsgRqHdr": {"jXchangeHdr": hdr}, "TokenId": "t1"}),
    );
    assert_eq!(fault(&rs), ("3103".into(), Some("UsrName".into())), "{rs}");
    let (status, rs) = strict.post(
        "/api/v1/inquiry",
        &json!({"MsgRqHdr": {"jXchangeHdr": hdr}, "TokenId": "t1", "UsrName": "t1"}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (404, "7020"), "{rs}");
    let (status, rs) = strict.post(
        "/api/v1/oob",
        &json!({"MsgRqHdr": {"jXchangeHdr": hdr}, "InstRtId": "999", "PhoneNum": "5555550100"}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (403, "2505"), "{rs}");
}

/// Every member name in a JSON answer (nested), but its `MsgRsHdr`.
pub fn member_names(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if k != "MsgRsHdr" {
                    out.push(k.clone());
                    member_names(v, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| member_names(i, out)),
        _ => {}
    }
}

#[test]
fn soap_answers_carry_what_the_json_answers_carry() {
    let server = TestServer::start();
    let (token, seed, step) = server.enroll_active("pat");
    let code = crate::support::totp(&seed, "SHA1", 6, step + 1);
    let (_, json_ok) = server.post("/api/v1/validate", &json!({"UsrName": "pat", "Code": code}));
    let (_, soap_ok) = call(
        &server,
        "MFATokenValidate",
        &format!(
            "{}<UsrName>pat</UsrName><Code>{}</Code>",
            good_hdr(),
            crate::support::totp(&seed, "SHA1", 6, step + 2)
        ),
    );
    let (_, json_inq) = server.post(
        "/api/v1/inquiry",
        &json!({"TokenId": token, "ActIntent": "Upd"}),
    );
    let (_, soap_inq) = call(
        &server,
        "MFATokenInq",
        &format!(
            "{}<TokenId>{token}</TokenId><UsrName>pat</UsrName><ActIntent>Upd</ActIntent>",
            good_hdr()
        ),
    );
    for (json_rs, soap_rs) in [(json_ok, soap_ok), (json_inq, soap_inq)] {
        let mut names = Vec::new();
        member_names(&json_rs, &mut names);
        assert!(!names.is_empty(), "{json_rs}");
        for name in names {
            assert!(
                soap_rs.contains(&format!("<{name}>")),
                "{name} missing from {soap_rs}"
            );
        }
    }
}

#[test]
fn the_readme_soap_example_runs_as_written() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = crate::readme::run_blocks(&server, dir.path(), &["soap"]);
    assert!(out.contains("<MFATokenAddResponse"), "{out}");
    assert!(out.contains("<UsrTokenStat>Init</UsrTokenStat>"), "{out}");
    assert_eq!(elem(&out, "UsrName"), Some("Ann Lee"), "{out}");
    assert!(out.contains("<Custom xsi:nil=\"true\"/>"), "{out}");
}

/// The local names of the opening tags of `xml`'s `Body`, in order.
fn body_shape(xml: &str) -> Vec<String> {
    let start = xml.find(":Body>").expect("a Body");
    let end = xml.rfind(":Body>").unwrap();
    let re = regex::Regex::new(r"<(?:[\w-]+:)?([\w-]+)[\s/>]").unwrap();
    re.captures_iter(&xml[start..end])
        .map(|c| c[1].to_owned())
        .filter(|n| n != "Body")
        .collect()
}

#[test]
fn the_seed_request_sent_byte_for_byte_gets_the_seed_shaped_answer() {
    let server = TestServer::start();
    // The seed's request says {Insert} for both consumer elements; it is sent unchanged.
    let consumer = [
        "--inst-rt-id",
        "003003003",
        "--consumer-name",
        "{Insert}",
        "--consumer-prod",
        "{Insert}",
    ];
    let key = crate::support::create_key_with(&server.data_dir, "seed", "validate", &consumer);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/soap/");
    let request = std::fs::read(format!("{dir}seed-oob-validate-request.xml")).unwrap();
    let want = std::fs::read_to_string(format!("{dir}seed-oob-validate-response.xml")).unwrap();
    let (status, ct, got) = post_soap(&server, Some("OOBValidate"), Some(&key), &request);
    assert_eq!(status, 200, "{got}");
    assert!(ct.starts_with("text/xml"), "{ct}");
    assert!(body_shape(&want).len() > 20, "{:?}", body_shape(&want));
    assert_eq!(body_shape(&got), body_shape(&want), "{got}");
    assert!(
        got.contains("<u:Timestamp u:Id=\"_0\"><u:Created>"),
        "{got}"
    );
    assert!(got.contains("<Custom xsi:nil=\"true\"/>"), "{got}");
    assert_eq!(elem(&got, "RsStat"), Some("Success"), "{got}");
    assert_eq!(elem(&got, "InstRtId"), Some("003003003"), "{got}");
}

#[test]
fn resync_resend_and_status_run_over_soap() {
    let server = TestServer::start();
    let (token, seed, step) = server.enroll_active("kim");
    let code = |s| crate::support::totp(&seed, "SHA1", 6, s);
    let (status, body) = call(
        &server,
        "MFATokenResync",
        &format!(
            "{}<TokenId>{token}</TokenId><Code1>{}</Code1><Code2>{}</Code2>",
            good_hdr(),
            code(step + 1),
            code(step + 2)
        ),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(elem(&body, "RsStat"), Some("Success"), "{body}");
    assert!(elem(&body, "DriftSteps").is_some(), "{body}");

    let (status, body) = call(
        &server,
        "OOBValidate",
        &format!(
            "{}<PhoneNum>5555550123</PhoneNum><OOBModeType>TwoWay</OOBModeType>",
            good_hdr()
        ),
    );
    assert_eq!(status, 200, "{body}");
    let alrt = elem(&body, "AlrtPkgId").unwrap().to_owned();
    let (status, body) = call(
        &server,
        "OOBResend",
        &format!("{}<AlrtPkgId>{alrt}</AlrtPkgId>", good_hdr()),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(elem(&body, "AlrtPkgId"), Some(alrt.as_str()), "{body}");
    assert!(elem(&body, "OTP").is_some_and(|o| o.len() == 6), "{body}");
    let (status, body) = call(
        &server,
        "OOBStatInq",
        &format!("{}<AlrtPkgId>{alrt}</AlrtPkgId>", good_hdr()),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(elem(&body, "OOBStat"), Some("Pending"), "{body}");
    // The path element is required; an unknown session is the JSON API's fault.
    let (status, body) = call(&server, "OOBStatInq", &good_hdr());
    assert_fault(status, &body, "3103");
    let (status, body) = call(
        &server,
        "OOBStatInq",
        &format!(
            "{}<AlrtPkgId>00000000-0000-0000-0000-000000000000</AlrtPkgId>",
            good_hdr()
        ),
    );
    assert_fault(status, &body, "7050");
}
