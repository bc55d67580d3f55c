//! Malformed input of every kind gets a 4xx jXchange fault in JSON: never a 500, never HTML.

use serde_json::Value;

use crate::support::TestServer;

fn raw(
    server: &TestServer,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &[u8],
) -> (u16, String, Value) {
    let mut rq = ureq::request(method, &format!("{}{path}", server.base));
    if let Some(auth) = auth {
        rq = rq.set("Authorization", auth);
    }
    let rs = if body.is_empty() {
        rq.call()
    } else {
        rq.send_bytes(body)
    };
    let rs = crate::support::response(rs);
    let status = rs.status();
    let ct = rs.header("Content-Type").unwrap_or_default().to_owned();
    let text = rs.into_string().unwrap();
    assert!(
        ct.starts_with("application/json"),
        "{method} {path}: {status} {ct} {text}"
    );
    (status, ct, serde_json::from_str(&text).unwrap())
}

fn code_of(rs: &Value) -> &str {
    rs["MsgRsHdr"]["MsgRecInfoArray"][0]["ErrCode"]
        .as_str()
        .unwrap()
}

#[test]
fn malformed_bodies_get_400_faults_not_html() {
    let server = TestServer::start();
    let auth = format!("Bearer {}", server.key);
    let cases: &[(&[u8], &str)] = &[
        (b"{", "7000"),
        (b"not json", "7000"),
        (b"[]", "7001"),
        (b"null", "7001"),
        (b"{\"UsrName\": 5, \"Code\": \"123456\"}", "7001"),
        (
            b"{\"UsrName\": \"a\", \"Code\": \"123456\", \"Extra\": 1}",
            "7004",
        ),
        (b"{\"UsrName\": \"a\", \"Code\": \"123456\"} {}", "7000"),
        (b"\xff\xfe\x00", "7000"),
        (b"{\"UsrName\": \"a\"}", "3103"),
    ];
    for (body, want) in cases {
        let (status, _, rs) = raw(&server, "POST", "/api/v1/validate", Some(&auth), body);
        assert_eq!(
            (status, code_of(&rs)),
            (400, *want),
            "{}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(rs["MsgRsHdr"]["MsgRecInfoArray"][0]["ErrCat"], "Error");
        assert_eq!(rs["MsgRsHdr"]["MsgRecInfoArray"][0]["ErrLoc"], "tokend");
    }
    let (status, _, rs) = raw(&server, "POST", "/api/v1/validate", Some(&auth), b"");
    assert_eq!((status, code_of(&rs)), (400, "7000"), "empty body");
}

#[test]
fn authentication_faults() {
    let server = TestServer::start();
    let body = br#"{"UsrName": "a", "Code": "123456"}"#;
    for auth in [
        None,
        Some("Bearer"),
        Some("Bearer tkd_wrong"),
        Some("Basic abc"),
        Some("Bearer "),
    ] {
        let (status, _, rs) = raw(&server, "POST", "/api/v1/validate", auth, body);
        assert_eq!((status, code_of(&rs)), (401, "7010"), "{auth:?}");
    }
    // Authentication is checked before the body is judged.
    let (status, _, rs) = raw(&server, "POST", "/api/v1/validate", None, b"{");
    assert_eq!((status, code_of(&rs)), (401, "7010"));
}

#[test]
fn unknown_operations_and_methods_get_404_json() {
    let server = TestServer::start();
    let auth = format!("Bearer {}", server.key);
    for (method, path) in [
        ("GET", "/api/v1/nope"),
        ("GET", "/api/v1/validate"),
        ("DELETE", "/api/v1/tokens"),
        ("POST", "/api/v2/validate"),
    ] {
        let (status, _, rs) = raw(&server, method, path, Some(&auth), b"");
        assert_eq!((status, code_of(&rs)), (404, "7003"), "{method} {path}");
    }
    let (status, _, rs) = raw(
        &server,
        "GET",
        "/api/v1/tokens/a%2Fb/qr.png",
        Some(&auth),
        b"",
    );
    assert_eq!(
        (status, code_of(&rs)),
        (400, "7001"),
        "a TokenId with a slash"
    );
    // A method HTTP knows but Rocket does not is refused before routing: a request fault,
    // not a body fault.
    let (status, ct, rs) = raw(&server, "QUERY", "/api/v1/validate", Some(&auth), b"");
    assert_eq!((status, code_of(&rs)), (400, "7005"), "{rs}");
    assert!(ct.starts_with("application/json"));
}

#[test]
fn status_routes_answer_without_a_key() {
    let server = TestServer::start();
    let (status, _, rs) = raw(&server, "GET", "/", None, b"");
    assert_eq!((status, rs["Service"].as_str()), (200, Some("tokend")));
    let (status, _, rs) = raw(&server, "GET", "/health", None, b"");
    assert_eq!((status, rs["Status"].as_str()), (200, Some("ok")));
}

#[test]
fn oversized_bodies_get_413() {
    let server = TestServer::start();
    let auth = format!("Bearer {}", server.key);
    let big = format!(
        "{{\"UsrName\": \"{}\", \"Code\": \"123456\"}}",
        "a".repeat(70 * 1024)
    );
    let (status, _, rs) = raw(
        &server,
        "POST",
        "/api/v1/validate",
        Some(&auth),
        big.as_bytes(),
    );
    assert_eq!((status, code_of(&rs)), (413, "7002"));
}

#[test]
fn odd_but_well_formed_values_are_faults_not_crashes() {
    let server = TestServer::start();
    let auth = format!("Bearer {}", server.key);
    let bodies: &[&str] = &[
        r#"{"UsrName": "a:b", "TokenType": "Software"}"#,
        r#"{"UsrName": "\u0000", "TokenType": "Software"}"#,
        r#"{"UsrName": " padded", "TokenType": "Software"}"#,
        r#"{"UsrName": "a", "TokenType": "Software", "Digits": 600}"#,
        r#"{"UsrName": "a", "TokenType": "Software", "Period": -30}"#,
        r#"{"UsrName": "a", "TokenType": "Software", "Digits": "6"}"#,
        r#"{"UsrName": "a", "TokenType": null}"#,
        r#"{"UsrName": "a", "TokenType": "Software", "MsgRqHdr": 5}"#,
    ];
    for body in bodies {
        let (status, _, rs) = raw(
            &server,
            "POST",
            "/api/v1/tokens",
            Some(&auth),
            body.as_bytes(),
        );
        assert!((400..500).contains(&status), "{body}: {status} {rs}");
        assert!(
            rs["MsgRsHdr"]["MsgRecInfoArray"][0]["ErrElem"].is_string(),
            "{body}: {rs}"
        );
    }
}
