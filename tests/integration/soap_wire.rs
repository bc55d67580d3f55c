//! The SOAP envelope as a gateway in front of tokend sees it (issue 26): exactly one
//! Header and one Body, the WSDL's address, and the audit user a consumer asserts.

use crate::soap::{assert_fault, envelope, good_hdr, post_soap, username_token};
use crate::support::TestServer;

const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const NS: &str = "http://jackhenry.com/jxchange/TPG/2008";

/// A `soapenv:Body` holding `<op>` with the good header and `rest`.
fn body_of(op: &str, rest: &str) -> String {
    format!(
        r#"<soapenv:Body><{op} xmlns="{NS}">{}{rest}</{op}></soapenv:Body>"#,
        good_hdr()
    )
}

/// An envelope of the given parts (headers and bodies, in order).
fn envelope_of(parts: &[String]) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_NS}">{}</soapenv:Envelope>"#,
        parts.concat()
    )
}

#[test]
fn an_envelope_with_two_bodies_or_two_headers_is_refused() {
    let server = TestServer::start();
    let header = format!(
        "<soapenv:Header>{}</soapenv:Header>",
        username_token(&server.key, "PasswordText")
    );
    let inq = body_of("MFAUsrInq", "<UsrName>eve</UsrName>");
    let add = body_of("MFAUsrAdd", "<UsrName>eve</UsrName>");
    // A gateway that authorises the first body (an inquiry) must not see the second run.
    for action in ["MFAUsrAdd", "MFAUsrInq"] {
        let two_bodies = envelope_of(&[header.clone(), inq.clone(), add.clone()]);
        let (status, _, text) = post_soap(&server, Some(action), None, two_bodies.as_bytes());
        assert_fault(status, &text, "7000");
        assert!(text.contains("exactly one"), "{text}");
    }
    let two_headers = envelope_of(&[header.clone(), header.clone(), add.clone()]);
    let (status, _, text) = post_soap(&server, Some("MFAUsrAdd"), None, two_headers.as_bytes());
    assert_fault(status, &text, "7000");
    let (status, _, _, _) = server.get("/api/v1/users/eve");
    assert_eq!(status, 404, "no user was created");
    // One of each still works.
    let one = envelope_of(&[header, add]);
    let (status, _, text) = post_soap(&server, Some("MFAUsrAdd"), None, one.as_bytes());
    assert_eq!(status, 200, "{text}");
    let plain = envelope(
        "MFAUsrInq",
        &format!("{}<UsrName>eve</UsrName>", good_hdr()),
        "",
    );
    let (status, _, text) = post_soap(
        &server,
        Some("MFAUsrInq"),
        Some(&server.key),
        plain.as_bytes(),
    );
    assert_eq!(status, 200, "{text}");
}

/// The WSDL fetched with `Host: host`, over a raw connection (a client can send any Host).
fn wsdl_with_host(server: &TestServer, host: &str) -> String {
    use std::io::{Read as _, Write as _};
    let addr = server.base.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET /jxchange?wsdl HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn the_wsdl_address_is_public_url_whatever_the_host_header() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("ROCKET_PUBLIC_URL", "https://tokend.bank.example/")];
    let mut server = TestServer::start_in(dir.path(), &env).unwrap();
    server.keep_dir(dir);
    let wsdl = wsdl_with_host(&server, "evil.example");
    assert!(
        wsdl.contains(r#"location="https://tokend.bank.example/jxchange""#),
        "{wsdl}"
    );
    assert!(!wsdl.contains("evil.example"), "{wsdl}");
    // A bad public_url stops the start with its name.
    let dir = tempfile::tempdir().unwrap();
    let err = TestServer::start_in(dir.path(), &[("ROCKET_PUBLIC_URL", "ftp://x")])
        .err()
        .unwrap();
    assert!(err.contains("public_url"), "{err}");
}

#[test]
fn an_asserted_audit_user_carries_no_control_characters_and_is_marked_as_asserted() {
    let server = TestServer::start();
    let with_cred = |user: &str| {
        good_hdr().replace("<AuditUsrId>u1</AuditUsrId>", "<AuditUsrId/>").replace(
            "<MsgRqHdr>",
            &format!(
                "<MsgRqHdr><AuthenUsrCred><Security><UsernameToken><Username>{user}</Username></UsernameToken></Security></AuthenUsrCred>"
            ),
        )
    };
    // CR/LF (as character references, which XML turns into the characters) and an
    // overlong name: fault 2005, nothing done.
    for (usr, user) in [
        (
            "ann",
            "mallory&#13;&#10;2026-01-01 admin:root user.delete".to_owned(),
        ),
        ("bea", "m".repeat(129)),
    ] {
        let body = format!("{}<UsrName>{usr}</UsrName>", with_cred(&user));
        let (status, _, text) = post_soap(
            &server,
            Some("MFAUsrAdd"),
            Some(&server.key),
            envelope("MFAUsrAdd", &body, "").as_bytes(),
        );
        assert_fault(status, &text, "2005");
        assert!(
            text.contains("<ErrElem>MsgRqHdr.AuthenUsrCred</ErrElem>"),
            "{text}"
        );
        let (status, _, _, _) = server.get(&format!("/api/v1/users/{usr}"));
        assert_eq!(status, 404);
    }
    // The JSON header's own AuditUsrId: the same rule.
    let (status, rs) = server.post(
        "/api/v1/users",
        &serde_json::json!({"MsgRqHdr": {"jXchangeHdr": {"AuditUsrId": "a\nb"}}, "UsrName": "cid"}),
    );
    assert_eq!(
        (status, crate::support::fault(&rs)),
        (
            400,
            (
                "2005".into(),
                Some("MsgRqHdr.jXchangeHdr.AuditUsrId".into())
            )
        ),
        "{rs}"
    );
    // A clean one is recorded, marked with where the consumer asserted it.
    let body = format!("{}<UsrName>dee</UsrName>", with_cred("jdoe"));
    let (status, _, text) = post_soap(
        &server,
        Some("MFAUsrAdd"),
        Some(&server.key),
        envelope("MFAUsrAdd", &body, "").as_bytes(),
    );
    assert_eq!(status, 200, "{text}");
    let (status, rs) = server.post(
        "/api/v1/users",
        &serde_json::json!({"MsgRqHdr": {"jXchangeHdr": {"AuditUsrId": "teller7"}}, "UsrName": "eve"}),
    );
    assert_eq!(status, 200, "{rs}");
    for (usr, who, src) in [
        ("dee", "jdoe", "AuthenUsrCred"),
        ("eve", "teller7", "AuditUsrId"),
    ] {
        let (_, _, _, page) = server.get(&format!("/api/v1/audit?UsrName={usr}"));
        let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
        let row = &page["AuditArray"][0];
        assert_eq!(
            (&row["AuditUsrId"], &row["AuditUsrIdSrc"]),
            (&serde_json::json!(who), &serde_json::json!(src)),
            "{page}"
        );
    }
}

/// A `wsse:Security` header with a UsernameToken (the key, a nonce) and a Timestamp.
fn secured(key: &str, nonce: &str, created: &str, expires: &str) -> String {
    const WSSE: &str =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    const WSU: &str =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    format!(
        r#"<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsu:Timestamp><wsu:Created>{created}</wsu:Created><wsu:Expires>{expires}</wsu:Expires></wsu:Timestamp><wsse:UsernameToken><wsse:Username>mw</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">{key}</wsse:Password><wsse:Nonce>{nonce}</wsse:Nonce></wsse:UsernameToken></wsse:Security>"#
    )
}

#[test]
fn a_captured_envelope_replays_neither_after_its_window_nor_within_it() {
    let server = TestServer::start();
    let now = chrono::Utc::now();
    let at = |secs: i64| (now + chrono::Duration::seconds(secs)).to_rfc3339();
    let inq = |security: &str| {
        let body = format!("{}<UsrName>nobody</UsrName>", good_hdr());
        let env = envelope("MFAUsrInq", &body, security);
        post_soap(&server, Some("MFAUsrInq"), None, env.as_bytes())
    };
    // A fresh message answers (a 7021 fault: no such user, but past the security checks).
    let fresh = secured(&server.key, "bm9uY2UtMQ==", &at(0), &at(60));
    let (status, _, text) = inq(&fresh);
    assert_fault(status, &text, "7021");
    // The same envelope again: its nonce was used.
    let (status, _, text) = inq(&fresh);
    assert_fault(status, &text, "7012");
    assert!(text.contains("already used"), "{text}");
    // Expired long ago, or created in the future (beyond the 300 s skew): refused.
    for (created, expires) in [(at(-3600), at(-1800)), (at(900), at(960))] {
        let (status, _, text) = inq(&secured(&server.key, "bm9uY2UtMg==", &created, &expires));
        assert_fault(status, &text, "7012");
    }
    // Within the skew it passes; a nonce of another key is that key's own.
    let (status, _, text) = inq(&secured(&server.key, "bm9uY2UtMw==", &at(-200), &at(-100)));
    assert_fault(status, &text, "7021");
    let other = crate::support::create_key(&server.data_dir, "other", "manage,validate");
    let (status, _, text) = inq(&secured(&other, "bm9uY2UtMQ==", &at(0), &at(60)));
    assert_fault(status, &text, "7021");
    // A malformed time is refused, not ignored.
    let (status, _, text) = inq(&secured(&server.key, "bm9uY2UtNA==", "yesterday", &at(60)));
    assert_fault(status, &text, "7012");
}
