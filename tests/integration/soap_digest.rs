//! WS-Security `PasswordDigest` (issue 28) over real HTTP: a key made with `tokend apikey
//! create --soap-digest` authenticates Base64(SHA-1(nonce ‖ Created ‖ key)) computed by
//! Python's hashlib (not by tokend's code); a wrong key, a replayed nonce and a stale
//! `Created` each get their fault; a plain (hashed) key's digest is refused saying why;
//! the key is never in the data directory in clear, and survives `tokend rekey`.

use std::path::Path;
use std::process::Command;

use crate::soap::{assert_fault, envelope, good_hdr, post_soap};
use crate::support::{cli, create_key_with, TestServer};

const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const PROFILE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0";
const SOAP_MESSAGE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0";

/// The profile's digest, by Python's hashlib: Base64(SHA-1(b64decode(nonce) + created +
/// password)).
fn python_digest(nonce_b64: &str, created: &str, password: &str) -> String {
    let script = "import base64, hashlib, sys\n\
                  n = base64.b64decode(sys.argv[1])\n\
                  d = hashlib.sha1(n + sys.argv[2].encode() + sys.argv[3].encode()).digest()\n\
                  print(base64.b64encode(d).decode())";
    let out = Command::new("python3")
        .args(["-c", script, nonce_b64, created, password])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A `wsse:Security` header as WSS4J writes it: a UsernameToken with a PasswordDigest, an
/// encoded Nonce and a `wsu:Created`.
fn digest_token(user: &str, digest: &str, nonce: &str, created: &str) -> String {
    format!(
        r#"<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken wsu:Id="UsernameToken-1"><wsse:Username>{user}</wsse:Username><wsse:Password Type="{PROFILE}#PasswordDigest">{digest}</wsse:Password><wsse:Nonce EncodingType="{SOAP_MESSAGE}#Base64Binary">{nonce}</wsse:Nonce><wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"#
    )
}

/// `MFAUsrInq` of a user who does not exist: past authentication it is fault 7021.
fn inquire(server: &TestServer, security: &str) -> (u16, String) {
    let body = format!("{}<UsrName>nobody</UsrName>", good_hdr());
    let env = envelope("MFAUsrInq", &body, security);
    let (status, _, text) = post_soap(server, Some("MFAUsrInq"), None, env.as_bytes());
    (status, text)
}

/// A signed request of `user` with `password`, nonce `nonce` and `Created` `created`.
fn signed(user: &str, password: &str, nonce: &str, created: &str) -> String {
    digest_token(
        user,
        &python_digest(nonce, created, password),
        nonce,
        created,
    )
}

/// Whether any file under `dir` holds `needle`.
fn found_in(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let p = e.unwrap().path();
        if p.is_dir() {
            return found_in(&p, needle);
        }
        std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
    })
}

fn created(offset_secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset_secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[test]
fn a_soap_digest_key_authenticates_a_password_digest_once_within_the_window() {
    let server = TestServer::start();
    let key = create_key_with(
        &server.data_dir,
        "cxf",
        "manage,validate",
        &["--soap-digest"],
    );
    let now = created(0);
    let good = signed("cxf", &key, "MTIzNDU2Nzg5MGFiY2RlZg==", &now);
    let (status, text) = inquire(&server, &good);
    assert_fault(status, &text, "7021"); // authenticated: the user is what is missing
                                         // The same envelope again: the nonce was used (on every node: it is in the database).
    let (status, text) = inquire(&server, &good);
    assert_fault(status, &text, "7012");
    assert!(text.contains("already used"), "{text}");
    // A wrong key: 7010, the presented digest never echoed.
    let wrong = signed("cxf", "tkd_wrong", "bm9uY2UtMg==", &now);
    let (status, text) = inquire(&server, &wrong);
    assert_fault(status, &text, "7010");
    // A stale Created (beyond soap_clock_skew_secs, 300 s) or one from the future: 7012,
    // though the digest over it is right.
    for offset in [-900, 900] {
        let (status, text) = inquire(
            &server,
            &signed("cxf", &key, "bm9uY2UtMw==", &created(offset)),
        );
        assert_fault(status, &text, "7012");
        assert!(text.contains("UsernameToken/Created"), "{text}");
    }
    // Without a Nonce or a Created, a digest is refused (7012), never taken as replayable.
    let no_nonce = good
        .replace("<wsse:Nonce", "<wsse:Ignored")
        .replace("</wsse:Nonce>", "</wsse:Ignored>");
    let (status, text) = inquire(&server, &no_nonce);
    assert_fault(status, &text, "7012");
    // Within the skew, a fresh nonce passes; the key also works in clear.
    let (status, text) = inquire(
        &server,
        &signed("cxf", &key, "bm9uY2UtNA==", &created(-120)),
    );
    assert_fault(status, &text, "7021");
    let body = format!("{}<UsrName>nobody</UsrName>", good_hdr());
    let env = envelope("MFAUsrInq", &body, "");
    let (status, _, text) = post_soap(&server, Some("MFAUsrInq"), Some(&key), env.as_bytes());
    assert_fault(status, &text, "7021");
    // The key is in the data directory only sealed and hashed.
    assert!(!found_in(&server.data_dir, key.as_bytes()));
}

#[test]
fn a_plain_key_sent_as_a_digest_is_refused_saying_it_needs_soap_digest() {
    let server = TestServer::start();
    let plain = create_key_with(&server.data_dir, "plain", "manage,validate", &[]);
    let (status, text) = inquire(
        &server,
        &signed("plain", &plain, "bm9uY2UtNQ==", &created(0)),
    );
    assert_fault(status, &text, "7010");
    assert!(text.contains("--soap-digest"), "{text}");
    assert!(!text.contains(&plain), "{text}");
    // An unknown name gets the very same answer (no key names are disclosed).
    let (status, other) = inquire(
        &server,
        &signed("nobody", &plain, "bm9uY2UtNg==", &created(0)),
    );
    assert_fault(status, &other, "7010");
    assert!(other.contains("--soap-digest"), "{other}");
}

/// The console makes the same key as `--soap-digest` when its box is ticked: the list
/// marks it, and it signs a digest; a key made without the box is refused as a digest.
#[test]
fn a_key_created_in_the_console_with_soap_digest_ticked_signs_password_digests() {
    let (server, c) = crate::support::admin::server_with_admin();
    let page = c.get("/admin/apikeys");
    assert!(
        page.body.contains("name=\"soap_digest\""),
        "the form offers it"
    );
    let mut made = Vec::new();
    for (name, ticked) in [("console-cxf", true), ("console-plain", false)] {
        let mut form = vec![
            ("csrf", page.csrf()),
            ("name", name.to_owned()),
            ("scope", "manage".to_owned()),
        ];
        if ticked {
            form.push(("soap_digest", "true".to_owned()));
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let rs = c.post("/admin/apikeys", &form);
        assert_eq!(rs.status, 200, "{}", rs.body);
        let key = rs.body.split("id=\"new-key\">").nth(1).unwrap();
        made.push(key.split('<').next().unwrap().to_owned());
    }
    let list = c.get("/admin/apikeys").body;
    assert!(
        list.contains("console-cxf <small>(PasswordDigest)</small>"),
        "{list}"
    );
    assert!(
        !list.contains("console-plain <small>(PasswordDigest)"),
        "{list}"
    );
    let (status, text) = inquire(
        &server,
        &signed("console-cxf", &made[0], "Y29uc29sZS0x", &created(0)),
    );
    assert_fault(status, &text, "7021");
    let (status, text) = inquire(
        &server,
        &signed("console-plain", &made[1], "Y29uc29sZS0y", &created(0)),
    );
    assert_fault(status, &text, "7010");
    assert!(!found_in(&server.data_dir, made[0].as_bytes()));
}

#[test]
fn a_soap_digest_key_survives_a_master_key_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]).unwrap();
    let key = create_key_with(dir.path(), "cxf", "manage,validate", &["--soap-digest"]);
    let out = cli(dir.path(), &[], &["rekey"]);
    assert!(out.status.success(), "{out:?}");
    server.stop();
    let server = TestServer::start_in(dir.path(), &[]).unwrap();
    let (status, text) = inquire(&server, &signed("cxf", &key, "bm9uY2UtNw==", &created(0)));
    assert_fault(status, &text, "7021");
}

#[test]
fn a_zeep_client_sending_password_digests_works_and_sends_a_recipient_alert() {
    let python = crate::soap_zeep::python_with("zeep");
    let server = TestServer::start();
    let key = create_key_with(
        &server.data_dir,
        "wss4j",
        "manage,validate",
        &["--soap-digest"],
    );
    let (status, rs) = server.post(
        "/api/v1/users",
        &serde_json::json!({"UsrName": "zed", "PhoneNum": "5555550199"}),
    );
    assert_eq!(status, 200, "{rs}");
    for args in [
        &[
            "alert",
            "add",
            "--inst-rt-id",
            "tokend",
            "--name",
            "Login",
            "--text",
            "Code <%$otp%>",
        ][..],
        &[
            "alert",
            "subscribe",
            "--inst-rt-id",
            "tokend",
            "--usr-name",
            "zed",
            "--name",
            "Login",
        ],
    ] {
        let out = cli(&server.data_dir, &[], args);
        assert!(out.status.success(), "{out:?}");
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/soap/zeep_digest.py");
    let out = Command::new(&python)
        .arg(script)
        .args([&server.base, "wss4j", &key])
        .output()
        .expect("run the zeep digest client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all steps passed"),
        "zeep digest client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The alert went to zed's phone on file with the OTP zeep was answered.
    let line = stdout.lines().find_map(|l| l.strip_prefix("session: "));
    let (alrt, otp) = line.and_then(|l| l.split_once(' ')).expect("session line");
    let messages = crate::api_oob::outbox(&server);
    let sms = messages
        .iter()
        .find(|m| m["AlrtPkgId"] == alrt)
        .expect("the SMS");
    assert_eq!(sms["Body"], format!("Code {otp}"));
}
