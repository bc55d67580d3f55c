//! SOAP faults a consumer can correlate and match (issue 28): every fault echoes the
//! request's `jXchangeHdr` whenever it can be read, `faultstring` and `ErrDesc` are the
//! published sentence exactly (tokend's explanation in `MsgRsHdr/Custom/ErrDetail`), and
//! SOAP 1.1's own rules: `MustUnderstand`, `VersionMismatch`, `?WSDL` and `?wsdl`, and
//! the tutorial's `<Op>Rq` spelling answered `<Op>Rs`.

use crate::soap::{assert_fault, elem, envelope, good_hdr, post_soap, username_token};
use crate::support::TestServer;

const NS: &str = "http://jackhenry.com/jxchange/TPG/2008";
const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

/// Asserts the fault echoes `good_hdr()`'s ids, not a fresh tracking id.
fn assert_correlated(body: &str) {
    assert_eq!(elem(body, "jXLogTrackingId"), Some("T-42"), "{body}");
    assert_eq!(elem(body, "AuditUsrId"), Some("u1"), "{body}");
    assert_eq!(elem(body, "ConsumerProd"), Some("Teller"), "{body}");
}

/// The text of `<faultcode>`.
fn faultcode(body: &str) -> Option<&str> {
    elem(body, "faultcode")
}

#[test]
fn every_fault_echoes_the_request_header_when_it_can_be_read() {
    let server = TestServer::start();
    let key = username_token(&server.key, "PasswordText");
    let add = |inner: &str| format!("{}{inner}", good_hdr());
    // (SOAPAction, envelope, expected ErrCode)
    let cases = [
        // A SOAPAction that names another operation.
        (
            "MFAUsrInq",
            envelope("MFAUsrAdd", &add("<UsrName>ann</UsrName>"), &key),
            "7003",
        ),
        // An element twice.
        (
            "MFAUsrAdd",
            envelope(
                "MFAUsrAdd",
                &add("<UsrName>ann</UsrName><UsrName>bob</UsrName>"),
                &key,
            ),
            "7001",
        ),
        // An unqualified element.
        (
            "MFAUsrAdd",
            envelope(
                "MFAUsrAdd",
                &add(r#"<UsrName xmlns="">ann</UsrName>"#),
                &key,
            ),
            "7004",
        ),
        // A WS-Security password type tokend does not take.
        (
            "MFAUsrAdd",
            envelope(
                "MFAUsrAdd",
                &add("<UsrName>ann</UsrName>"),
                &username_token(&server.key, "PasswordHash"),
            ),
            "7010",
        ),
        // Two bodies.
        (
            "MFAUsrAdd",
            envelope("MFAUsrAdd", &add("<UsrName>ann</UsrName>"), &key)
                .replace("</soapenv:Body>", "</soapenv:Body><soapenv:Body/>"),
            "7000",
        ),
    ];
    for (action, env, code) in cases {
        let (status, _, body) = post_soap(&server, Some(action), None, env.as_bytes());
        assert_fault(status, &body, code);
        assert_correlated(&body);
    }
    // Nothing was created by any of them.
    let (status, _, _, _) = server.get("/api/v1/users/ann");
    assert_eq!(status, 404);
    // Not XML at all: nothing to read, a fresh id.
    let (status, _, body) = post_soap(&server, Some("MFAUsrAdd"), None, b"<oops");
    assert_fault(status, &body, "7000");
    assert_ne!(elem(&body, "jXLogTrackingId"), Some("T-42"), "{body}");
}

/// The body is read straight into the operation's request type: what it cannot be gets
/// the JSON decoder's fault, naming the element, after the header is echoed.
#[test]
fn a_body_that_is_not_its_request_type_gets_the_fault_naming_the_element() {
    let server = TestServer::start();
    let key = username_token(&server.key, "PasswordText");
    let add = |inner: &str| format!("{}{inner}", good_hdr());
    let cases = [
        // The path element (the JSON API's `{UsrName}`) twice, or unqualified.
        (
            "MFAUsrInq",
            envelope(
                "MFAUsrInq",
                &add("<UsrName>ann</UsrName><UsrName>bob</UsrName>"),
                &key,
            ),
            "7001",
        ),
        (
            "MFAUsrInq",
            envelope(
                "MFAUsrInq",
                &add(r#"<UsrName xmlns="">ann</UsrName>"#),
                &key,
            ),
            "7004",
        ),
        // Read straight into the request type: a text element holding elements, a
        // boolean that is not one, a member the type does not have.
        (
            "MFAUsrAdd",
            envelope("MFAUsrAdd", &add("<UsrName><X>ann</X></UsrName>"), &key),
            "7001",
        ),
        (
            "MFAUsrAlrtSubMod",
            envelope(
                "MFAUsrAlrtSubMod",
                &add(
                    "<UsrName>ann</UsrName><AlrtName>Login</AlrtName><Subscribed>yes</Subscribed>",
                ),
                &key,
            ),
            "7001",
        ),
        (
            "MFAUsrInq",
            envelope(
                "MFAUsrInq",
                &add("<UsrName>ann</UsrName><PhoneNum>5555550100</PhoneNum>"),
                &key,
            ),
            "7004",
        ),
    ];
    for (action, env, code) in cases {
        let (status, _, body) = post_soap(&server, Some(action), None, env.as_bytes());
        assert_fault(status, &body, code);
        assert_correlated(&body);
    }
    let (status, _, _, _) = server.get("/api/v1/users/ann");
    assert_eq!(status, 404);
}

#[test]
fn fault_texts_are_the_published_sentences_with_the_explanation_beside_them() {
    let server = TestServer::start();
    let env = envelope(
        "OOBValidate",
        &format!(
            "{}<InstRtId>999999999</InstRtId><PhoneNum>5555550100</PhoneNum>",
            good_hdr()
        ),
        &username_token(&server.key, "PasswordText"),
    );
    let (status, _, body) = post_soap(&server, Some("OOBValidate"), None, env.as_bytes());
    assert_fault(status, &body, "2505");
    assert_eq!(elem(&body, "faultstring"), Some("Access was denied."));
    assert_eq!(elem(&body, "ErrDesc"), Some("Access was denied."));
    let detail = elem(&body, "ErrDetail").unwrap_or_default();
    assert!(detail.contains("InstRtId"), "{body}");
    // Inside the fault's one detail element, after the record (the WSDL declares it).
    assert!(
        body.contains("</MsgRecInfoArray><Custom><ErrDetail>"),
        "{body}"
    );
    // A fault without words of tokend's own carries no Custom.
    let env = envelope(
        "MFAUsrInq",
        &format!("{}<UsrName>nobody</UsrName>", good_hdr()),
        &username_token(&server.key, "PasswordText"),
    );
    let (status, _, body) = post_soap(&server, Some("MFAUsrInq"), None, env.as_bytes());
    assert_fault(status, &body, "7021");
    assert_eq!(elem(&body, "ErrDesc"), elem(&body, "faultstring"));
    // The JSON API: the same record, the explanation in Custom.ErrDetail.
    let (status, rs) = server.post(
        "/api/v1/tokens",
        &serde_json::json!({"UsrName": "ann", "TokenType": "Softwar"}),
    );
    assert_eq!(status, 400, "{rs}");
    let rec = &rs["MsgRsHdr"]["MsgRecInfoArray"][0];
    assert_eq!(
        rec["ErrDesc"],
        "Value does not match defined list of enumerations."
    );
    let detail = rs["Custom"]["ErrDetail"].as_str().unwrap_or_default();
    assert!(detail.contains("Software"), "{rs}");
}

#[test]
fn a_header_block_that_must_be_understood_and_is_not_is_a_must_understand_fault() {
    let server = TestServer::start();
    let block =
        r#"<t:Transaction xmlns:t="urn:example:tx" soapenv:mustUnderstand="1">5</t:Transaction>"#;
    let security = username_token(&server.key, "PasswordText");
    let inner = format!("{}<UsrName>ann</UsrName>", good_hdr());
    let env = envelope("MFAUsrAdd", &inner, &format!("{security}{block}"));
    let (status, _, body) = post_soap(&server, Some("MFAUsrAdd"), None, env.as_bytes());
    assert_fault(status, &body, "7004");
    assert_eq!(faultcode(&body), Some("s:MustUnderstand"), "{body}");
    assert_eq!(elem(&body, "ErrElem"), Some("Transaction"), "{body}");
    assert_correlated(&body);
    let (status, _, _, _) = server.get("/api/v1/users/ann");
    assert_eq!(status, 404, "nothing ran");
    // The same block without mustUnderstand (or with "0") is ignored; the
    // wsse:Security tokend processes may carry it.
    for relaxed in [
        block.replace(r#" soapenv:mustUnderstand="1""#, ""),
        block.replace(r#"mustUnderstand="1""#, r#"mustUnderstand="0""#),
    ] {
        let security = security.replace(
            "<wsse:Security ",
            r#"<wsse:Security soapenv:mustUnderstand="1" "#,
        );
        let env = envelope("MFAUsrInq", &inner, &format!("{security}{relaxed}"));
        let (status, _, body) = post_soap(&server, Some("MFAUsrInq"), None, env.as_bytes());
        assert_fault(status, &body, "7021");
    }
}

#[test]
fn a_soap_1_2_envelope_is_a_version_mismatch_fault() {
    let server = TestServer::start();
    let env = format!(
        r#"<?xml version="1.0"?><env:Envelope xmlns:env="{SOAP12_NS}"><env:Body><MFAUsrInq xmlns="{NS}">{}<UsrName>ann</UsrName></MFAUsrInq></env:Body></env:Envelope>"#,
        good_hdr()
    );
    let (status, ct, body) = post_soap(
        &server,
        Some("MFAUsrInq"),
        Some(&server.key),
        env.as_bytes(),
    );
    assert!(ct.starts_with("text/xml"), "{ct}");
    assert_fault(status, &body, "7000");
    assert_eq!(faultcode(&body), Some("s:VersionMismatch"), "{body}");
    assert_eq!(elem(&body, "ErrElemVal"), Some(SOAP12_NS), "{body}");
    assert_correlated(&body);
}

#[test]
fn the_wsdl_answers_in_either_spelling() {
    let server = TestServer::start();
    let (status, _, _, lower) = server.get("/jxchange?wsdl");
    assert_eq!(status, 200);
    let (status, ct, _, upper) = server.get("/jxchange?WSDL");
    assert_eq!(status, 200);
    assert!(ct.contains("xml"), "{ct}");
    assert_eq!(lower, upper);
}

#[test]
fn the_tutorials_rq_element_is_answered_with_rs() {
    let server = TestServer::start();
    let security = username_token(&server.key, "PasswordText");
    let inner = format!(
        "{}<UsrName>ann</UsrName><PhoneNum>5555550100</PhoneNum>",
        good_hdr()
    );
    // The published SOAPAction (the operation's name) with the tutorial's element.
    let env = envelope("MFAUsrAddRq", &inner, &security);
    let (status, _, body) = post_soap(&server, Some("MFAUsrAdd"), None, env.as_bytes());
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!(r#"<MFAUsrAddRs xmlns="{NS}">"#)),
        "{body}"
    );
    assert!(body.contains("</MFAUsrAddRs>"), "{body}");
    assert_eq!(elem(&body, "UsrName"), Some("ann"), "{body}");
    // A fault of an Rq request is the same fault.
    let env = envelope("MFAUsrInqRq", &inner.replace("ann", "nobody"), &security);
    let (status, _, body) = post_soap(&server, Some("MFAUsrInq"), None, env.as_bytes());
    assert_fault(status, &body, "7004");
    assert_correlated(&body);
    // An Rq of no operation is no operation.
    let env = envelope("NoSuchRq", &inner, &security);
    let (status, _, body) = post_soap(&server, None, None, env.as_bytes());
    assert_fault(status, &body, "7003");
}
