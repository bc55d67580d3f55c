//! Hardware tokens in the console: upload a CSV seed file (per-line results; a second
//! import adds nothing and says so), the inventory of unassigned tokens, bind by serial.

use crate::support::admin::{hidden, server_with_admin};
use crate::support::{now_step, totp};

const SEED_HEX: &str = "3132333435363738393031323334353637383930";

#[test]
fn upload_a_seed_file_twice_then_bind_a_token_by_serial() {
    let (server, c) = server_with_admin();
    let file = format!(
        "serial,seed,algorithm,digits,period,usr_name\n\
         HW-0001,{SEED_HEX},SHA1,6,30\n\
         HW-0002,{SEED_HEX},SHA1,6,30\n\
         HW-0003,{SEED_HEX},SHA1,6,30,Kari\n\
         HW-0004,3132,SHA1,6,30\n"
    );
    let csrf = c.get("/admin/hardware").csrf();
    let first = c.post_file(
        "/admin/hardware/import",
        &csrf,
        "batch.csv",
        file.as_bytes(),
    );
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(
        first.body.contains("<dd id=\"imported\">3</dd>"),
        "{}",
        first.body
    );
    assert!(first.body.contains("<dd id=\"refused\">1</dd>"));
    assert!(
        first.body.contains("at least 128 required"),
        "the refused line says why"
    );
    assert!(!first.body.contains(SEED_HEX), "never a seed on the page");
    let again = c.post_file(
        "/admin/hardware/import",
        &csrf,
        "batch.csv",
        file.as_bytes(),
    );
    assert!(again.body.contains("<dd id=\"imported\">0</dd>"));
    assert!(again.body.contains("<dd id=\"present\">3</dd>"));
    let garbage = c.post_file("/admin/hardware/import", &csrf, "x.bin", &[0xff, 0, 1, 2]);
    assert_eq!(garbage.status, 200, "garbage is a refused line, not a 500");
    assert_eq!(
        c.post_file(
            "/admin/hardware/import",
            "wrong",
            "batch.csv",
            file.as_bytes()
        )
        .status,
        403
    );

    bind_by_serial(&server, &c);
}

fn bind_by_serial(server: &crate::support::TestServer, c: &crate::support::admin::AdminClient) {
    // The inventory lists the two unassigned tokens (HW-0003 went to Kari).
    let inventory = c.get("/admin/hardware");
    assert!(inventory.body.contains("HW-0001") && inventory.body.contains("HW-0002"));
    assert!(!inventory.body.contains("HW-0003"));

    // Bind from the user's page by serial; the token then activates with its first code.
    let created = c.submit(
        "/admin/users/new",
        "/admin/users",
        &[("usr_name", "Jane Doe"), ("phone", "")],
    );
    let detail = c.follow(&created);
    let bound = c.post(
        "/admin/hardware/bind",
        &[
            ("csrf", &detail.csrf()),
            ("usr_name", "Jane Doe"),
            ("from", "user"),
            ("token_id", "HW-0001"),
        ],
    );
    let page = c.follow(&bound);
    assert!(
        page.body.contains("HW-0001 is bound to Jane Doe"),
        "{}",
        page.body
    );
    assert!(page.body.contains("stat Init"));
    assert!(!c.get("/admin/hardware").body.contains("HW-0001"));
    // The same serial a second time, an unknown one, a bound one: refused with a message.
    for (serial, says) in [
        ("HW-0001", "That token is bound already"),
        ("HW-9999", "There is no token with that serial"),
        ("HW-0003", "That token is bound already"),
    ] {
        let again = c.post(
            "/admin/hardware/bind",
            &[
                ("csrf", &detail.csrf()),
                ("usr_name", "Ola"),
                ("token_id", serial),
            ],
        );
        assert_eq!(again.location.as_deref(), Some("/admin/hardware"));
        assert!(c.follow(&again).body.contains(says), "{serial}");
    }
    let seed = b"12345678901234567890";
    let code = totp(seed, "SHA1", 6, now_step(30) - 1);
    let (status, rs) = server.post(
        "/api/v1/tokens/HW-0001/activate",
        &serde_json::json!({ "Code": code }),
    );
    assert_eq!((status, rs["RsStat"].as_str()), (200, Some("Success")));
    // From the inventory row as well.
    let inv = c.get("/admin/hardware");
    assert_eq!(hidden(&inv.body, "token_id").as_deref(), Some("HW-0002"));
    let from_row = c.post(
        "/admin/hardware/bind",
        &[
            ("csrf", &inv.csrf()),
            ("token_id", "HW-0002"),
            ("usr_name", "Ola"),
        ],
    );
    assert_eq!(from_row.location.as_deref(), Some("/admin/user?name=Ola"));
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/pskc/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

const PSK: &str = "12345678901234567890123456789012";

#[test]
fn pskc_uploads_verify_every_mac_and_import_the_totp_keys() {
    let (server, c) = server_with_admin();
    let csrf = c.get("/admin/hardware").csrf();
    let tampered = c.post_file_with(
        "/admin/hardware/import",
        &[("csrf", &csrf), ("psk", PSK)],
        "f6.xml",
        &fixture("figure6-tampered-mac.xml"),
    );
    assert_eq!(tampered.location.as_deref(), Some("/admin/hardware"));
    assert!(c.follow(&tampered).body.contains("whole file is refused"));
    let no_key = c.post_file_with(
        "/admin/hardware/import",
        &[("csrf", &csrf)],
        "f6.xml",
        &fixture("figure6-totp.xml"),
    );
    assert!(c.follow(&no_key).body.contains("pre-shared key"));
    let ok = c.post_file_with(
        "/admin/hardware/import",
        &[("csrf", &csrf), ("psk", PSK)],
        "f6.xml",
        &fixture("figure6-totp.xml"),
    );
    assert!(
        ok.body.contains("<dd id=\"imported\">1</dd>"),
        "{}",
        ok.body
    );
    let hotp = c.post_file_with(
        "/admin/hardware/import",
        &[("csrf", &csrf), ("passphrase", "qwerty")],
        "f7.xml",
        &fixture("rfc6030-figure7.xml"),
    );
    assert!(hotp.body.contains("TOTP only"), "{}", hotp.body);
    let inv = c.get("/admin/hardware");
    assert!(inv.body.contains("PSK-0001"));
    let bound = c.post(
        "/admin/hardware/bind",
        &[
            ("csrf", &inv.csrf()),
            ("token_id", "PSK-0001"),
            ("usr_name", "Ola"),
        ],
    );
    assert_eq!(bound.location.as_deref(), Some("/admin/user?name=Ola"));
    // The decrypted seed is the RFC 4226 secret: its TOTP codes (SHA1, 8 digits) activate.
    let code = totp(b"12345678901234567890", "SHA1", 8, now_step(30) - 1);
    let (status, rs) = server.post(
        "/api/v1/tokens/PSK-0001/activate",
        &serde_json::json!({ "Code": code }),
    );
    assert_eq!((status, rs["RsStat"].as_str()), (200, Some("Success")));
}

/// Every RFC 6030 example document (figures 2-7) through the console's upload: each gets
/// per-key results with the reason a key is skipped or refused, the encrypted ones only after every
/// MAC verifies; the TOTP variants of figures 3 and 5 import their OTP key.
#[test]
fn the_rfc_6030_figures_2_to_7_upload_with_per_key_results() {
    let (_server, c) = server_with_admin();
    let csrf = c.get("/admin/hardware").csrf();
    let upload = |file: &str, keys: &[(&str, &str)]| {
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(keys);
        c.post_file_with("/admin/hardware/import", &fields, file, &fixture(file))
    };
    for (file, keys, reason) in [
        ("rfc6030-figure2.xml", &[][..], "TOTP only"),
        ("rfc6030-figure3.xml", &[], "TOTP only"),
        ("rfc6030-figure4.xml", &[], "TOTP only"),
        ("rfc6030-figure5.xml", &[], "PIN key"),
        ("rfc6030-figure6.xml", &[("psk", PSK)], "TOTP only"),
        (
            "rfc6030-figure7.xml",
            &[("passphrase", "qwerty")],
            "TOTP only",
        ),
        ("figure4-totp.xml", &[], "MasterKeyLabel"),
    ] {
        let rs = upload(file, keys);
        assert_eq!(rs.status, 200, "{file}: {}", rs.body);
        assert!(rs.body.contains("<dd id=\"imported\">0</dd>"), "{file}");
        assert!(rs.body.contains(reason), "{file}: {}", rs.body);
    }
    for (file, imported, skipped) in [("figure3-totp.xml", 1, 0), ("figure5-totp.xml", 1, 1)] {
        let rs = upload(file, &[]);
        assert!(
            rs.body
                .contains(&format!("<dd id=\"imported\">{imported}</dd>"))
                && rs.body.contains("<dd id=\"refused\">0</dd>")
                && rs
                    .body
                    .contains(&format!("<dd id=\"skipped\">{skipped}</dd>")),
            "{file}: {}",
            rs.body
        );
    }
    let inventory = c.get("/admin/hardware").body;
    assert!(inventory.contains("FIG3-0001") && inventory.contains("FIG5-0001"));
}

#[test]
fn tokend_import_reads_pskc_with_a_key_or_a_passphrase_and_refuses_a_bad_mac() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| format!("{}/tests/fixtures/pskc/{name}", env!("CARGO_MANIFEST_DIR"));
    let cli = crate::support::cli;
    let bad = cli(
        dir.path(),
        &[],
        &[
            "import",
            &path("figure6-tampered-mac.xml"),
            "--psk-hex",
            PSK,
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("whole file is refused"));
    let ok = cli(
        dir.path(),
        &[],
        &["import", &path("figure6-totp.xml"), "--psk-hex", PSK],
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("imported 1, already present 0"));
    let out = crate::support::cli_input(
        dir.path(),
        &["import", &path("figure7-totp.xml"), "--passphrase-stdin"],
        b"qwerty\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 1"));
    let again = cli(
        dir.path(),
        &[],
        &["import", &path("figure6-totp.xml"), "--psk-hex", PSK],
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("imported 0, already present 1"));
}
