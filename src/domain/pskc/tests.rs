//! The PSKC reader on RFC 6030's figures, real vendor and test files (python-pskc's
//! test suite: multiOTP, Feitian/LinOTP, its encryption and policy files), files made
//! with python-pskc's writer, and a few made by hand (see tests/fixtures/pskc/README.md).

use super::*;
use crate::domain::import::ImportRow;
use crate::domain::seed_file::parse_file;
use chrono::TimeZone as _;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/pskc/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A fixed "now" inside every fixture's validity dates (2020-06-01).
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 6, 1, 0, 0, 0).unwrap()
}

fn psk_hex(h: &str) -> PskcKeys {
    PskcKeys {
        psk: Some(Zeroizing::new(hex::decode(h).unwrap())),
        passphrase: None,
    }
}

fn psk() -> PskcKeys {
    psk_hex("12345678901234567890123456789012")
}

fn pass(p: &str) -> PskcKeys {
    PskcKeys {
        psk: None,
        passphrase: Some(Zeroizing::new(p.to_owned())),
    }
}

fn parse(file: &str, keys: &PskcKeys) -> (Vec<ImportRow>, ImportReport) {
    parse_pskc(&fixture(file), keys, now()).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn refused_file(bytes: &[u8], keys: &PskcKeys) -> String {
    match parse_pskc(bytes, keys, now()) {
        Ok((rows, report)) => panic!("accepted: {} rows, {report:?}", rows.len()),
        Err(e) => e.to_string(),
    }
}

fn serials(rows: &[ImportRow]) -> Vec<&str> {
    rows.iter().map(|r| r.token_id().as_str()).collect()
}

fn seed_of(row: &ImportRow) -> Vec<u8> {
    row.seed().expose().to_vec()
}

/// The file with one character of its `nth` ValueMAC changed.
fn alter_mac(file: &[u8], nth: usize) -> Vec<u8> {
    let xml = std::str::from_utf8(file).unwrap();
    let at = xml.match_indices("ValueMAC>").nth(2 * nth).unwrap().0 + "ValueMAC>".len();
    let mut bytes = file.to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    bytes
}

fn reasons(list: &[(u64, String)]) -> String {
    format!("{list:?}")
}

#[test]
fn rfc_figures_import_their_totp_variants_and_skip_their_hotp_keys() {
    let (rows, report) = parse("rfc6030-figure2.xml", &PskcKeys::default());
    assert!(rows.is_empty() && report.refused.is_empty());
    assert!(report.skipped[0].1.contains("TOTP only"), "{report:?}");
    for (file, keys) in [
        ("rfc6030-figure6.xml", psk()),
        ("rfc6030-figure7.xml", pass("qwerty")),
    ] {
        let (rows, report) = parse(file, &keys);
        assert!(rows.is_empty() && report.refused.is_empty(), "{file}");
        assert!(report.skipped[0].1.contains("TOTP only"), "{file}");
    }
    for (file, keys, serial) in [
        ("figure6-totp.xml", psk(), "PSK-0001"),
        ("figure7-totp.xml", pass("qwerty"), "PBE-0001"),
        ("figure3-totp.xml", PskcKeys::default(), "FIG3-0001"),
    ] {
        let (rows, report) = parse(file, &keys);
        assert!(report.refused.is_empty(), "{file}: {report:?}");
        assert_eq!(serials(&rows), [serial]);
        assert_eq!(seed_of(&rows[0]), b"12345678901234567890", "{file}");
        assert_eq!(rows[0].params().digits.get(), 8, "{file}");
    }
    let (rows, report) = parse("totp-min.xml", &PskcKeys::default());
    assert_eq!(serials(&rows), ["TOTP0001"]);
    assert_eq!(report.unit, Unit::KeyPackage);
}

#[test]
fn figures_4_and_5_name_the_master_key_and_the_pin_key() {
    let (_, report) = parse("figure4-totp.xml", &PskcKeys::default());
    let why = reasons(&report.refused);
    assert!(
        why.contains("no secret") && why.contains("MasterKeyLabel"),
        "{why}"
    );
    assert!(why.contains("keyProfile1"), "{why}");
    let (rows, report) = parse("figure5-totp.xml", &PskcKeys::default());
    assert_eq!(serials(&rows), ["FIG5-0001"]);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].0, 2, "the PIN key is KeyPackage 2");
    assert!(report.skipped[0].1.contains("PIN key"));
    let (_, report) = parse("figure5-totp-prepend.xml", &PskcKeys::default());
    assert!(
        reasons(&report.refused).contains("PINUsageMode \\\"Prepend\\\""),
        "{report:?}"
    );
}

/// Defects 1 and 2: multiOTP encrypts Secret, Time and TimeInterval, each with its own
/// ValueMAC; the genuine file imports with the codes of TEST-VECTORS.md.
#[test]
fn multiotp_files_with_a_mac_per_value_import() {
    let (rows, report) = parse("multiotp-tokens-totp-aes.xml", &psk());
    assert!(report.refused.is_empty(), "{report:?}");
    assert_eq!(serials(&rows), ["ZZ8000000001", "ZZ8000000002"]);
    assert_eq!(rows[1].params().algorithm, crate::types::Algorithm::SHA512);
    let (rows, report) = parse("multiotp-pskc-totp-aes.xml", &psk());
    assert!(report.refused.is_empty(), "{report:?}");
    assert_eq!(
        serials(&rows),
        [
            "ZZ1000000000",
            "ZZ1100000000",
            "ZZ1000000001",
            "ZZ1100000001"
        ]
    );
    assert_eq!(seed_of(&rows[3]), b"12345678901234567890123456789013");
    for (row, code) in rows
        .iter()
        .zip(["287082", "74250087", "119246", "23013768"])
    {
        let p = row.params();
        assert_eq!(p.code_at_step(&seed_of(row), p.step_at(59)).unwrap(), code);
    }
}

/// Defect 2: an encrypted TimeInterval of 60 gives period 60; tampering with it (its own
/// MAC) refuses the file.
#[test]
fn an_encrypted_time_interval_is_decrypted_and_its_own_mac_checked() {
    let keys = psk_hex(&"12345678901234567890123456789012".repeat(2));
    let (rows, report) = parse("writer-totp60-aes256-sha256.xml", &keys);
    assert!(report.refused.is_empty(), "{report:?}");
    assert_eq!(rows[0].params().period.secs(), 60);
    assert_eq!(seed_of(&rows[0]), b"12345678901234567890");
    let bytes = alter_mac(&fixture("writer-totp60-aes256-sha256.xml"), 2);
    let why = refused_file(&bytes, &keys);
    assert!(
        why.contains("KeyPackage 1 TimeInterval: the ValueMAC does not verify"),
        "{why}"
    );
}

/// Defect 3: every HMAC of RFC 6030's registry; an unknown one is refused by name.
#[test]
fn the_mac_method_is_read_and_an_unknown_one_refused_by_name() {
    for alg in ["sha224", "sha384", "sha512"] {
        let (rows, report) = parse(&format!("writer-mac-{alg}.xml"), &psk());
        assert!(report.refused.is_empty(), "{alg}: {report:?}");
        assert_eq!(seed_of(&rows[0]), b"12345678901234567890", "{alg}");
    }
    let why = refused_file(&fixture("pskc-invalid-mac-algorithm.xml"), &psk());
    assert!(
        why.contains("hmac-zha9") && why.contains("not supported"),
        "{why}"
    );
    // python-pskc's aes256-cbc file: HMAC-SHA384 over AES-256-CBC (its key has no
    // algorithm, so it is skipped, after its MAC verified).
    let keys = psk_hex(&"1234567890".repeat(7)[..64]);
    let (_, report) = parse("pskc-aes256-cbc.xml", &keys);
    assert!(report.skipped[0].1.contains("TOTP only"), "{report:?}");
    // python-pskc's no-mac-key file: the older MAC under the encryption key verifies;
    // altered, it does not.
    let (_, report) = parse("pskc-no-mac-key.xml", &psk());
    assert!(report.skipped[0].1.contains("TOTP only"), "{report:?}");
    let why = refused_file(&alter_mac(&fixture("pskc-no-mac-key.xml"), 0), &psk());
    assert!(why.contains("whole file is refused"), "{why}");
}

/// Defect 4: a wrong key is "wrong key or passphrase", never tampering.
#[test]
fn a_wrong_key_or_passphrase_is_named_as_such() {
    for b in 0u8..=255 {
        let wrong = PskcKeys {
            psk: Some(Zeroizing::new(vec![b; 16])),
            passphrase: None,
        };
        let why = refused_file(&fixture("multiotp-pskc-totp-aes.xml"), &wrong);
        assert!(why.contains("wrong key or passphrase"), "{b}: {why}");
    }
    let why = refused_file(&fixture("figure7-totp.xml"), &pass("QWERTY"));
    assert!(why.contains("wrong key or passphrase"), "{why}");
    let why = refused_file(&fixture("figure6-totp.xml"), &PskcKeys::default());
    assert!(why.contains("pre-shared key: give it"), "{why}");
}

/// The tampered figure 6 (one value, its MAC altered) and a value altered among several.
#[test]
fn a_mac_that_does_not_verify_refuses_the_whole_file() {
    let why = refused_file(&fixture("figure6-tampered-mac.xml"), &psk());
    assert!(why.contains("whole file is refused"), "{why}");
    let bytes = alter_mac(&fixture("multiotp-pskc-totp-aes.xml"), 0);
    let why = refused_file(&bytes, &psk());
    assert!(
        why.contains("KeyPackage 1 Secret: the ValueMAC does not verify"),
        "{why}"
    );
    assert!(why.contains("altered"), "{why}");
}

/// Defect 5: AES-192, the key wrap, and unsupported algorithms named.
#[test]
fn other_encryptions_open_or_are_named_not_supported() {
    let (rows, _) = parse(
        "writer-aes192.xml",
        &psk_hex("123456789012345678901234567890123456789012345678"),
    );
    assert_eq!(serials(&rows), ["GEN-AES192"]);
    let (rows, report) = parse(
        "writer-kw-aes256.xml",
        &psk_hex(&"12345678901234567890123456789012".repeat(2)),
    );
    assert!(report.refused.is_empty(), "{report:?}");
    assert_eq!(seed_of(&rows[0]), b"12345678901234567890123456789012");
    let (_, report) = parse(
        "pskc-kw-aes128.xml",
        &psk_hex("000102030405060708090A0B0C0D0E0F"),
    );
    assert!(report.skipped[0].1.contains("TOTP only"), "{report:?}");
    for (file, name) in [
        ("pskc-camellia128-cbc.xml", "camellia128-cbc"),
        ("pskc-tripledes-cbc.xml", "tripledes-cbc"),
        ("pskc-kw-tripledes.xml", "kw-tripledes"),
    ] {
        let why = refused_file(&fixture(file), &psk());
        assert!(
            why.contains(name) && why.contains("not supported"),
            "{file}: {why}"
        );
        assert!(!why.contains("wrong key"), "{file}: {why}");
    }
    let why = refused_file(&fixture("pskc-rfc6030-figure8-rsa.xml"), &psk());
    assert!(
        why.contains("asymmetric") && why.contains("X509Data"),
        "{why}"
    );
    let why = refused_file(&fixture("writer-aes192.xml"), &psk());
    assert!(why.contains("16 bytes") && why.contains("24"), "{why}");
}

/// Defect 6.
#[test]
fn a_plaintext_secret_in_an_encrypted_file_is_refused() {
    let (rows, report) = parse("encrypted-with-plaintext-secret.xml", &psk());
    assert_eq!(serials(&rows), ["PSK-0001"]);
    assert_eq!(report.refused[0].0, 2);
    assert!(
        report.refused[0].1.contains("plaintext Secret"),
        "{report:?}"
    );
}

/// Defect 7: a file cut after its 5th KeyPackage, or inside a tag, imports nothing.
#[test]
fn a_truncated_file_is_refused_as_such() {
    let xml = String::from_utf8(fixture("feitian-linotp-file1.xml")).unwrap();
    let fifth = xml.match_indices("</KeyPackage>").nth(4).unwrap().0 + "</KeyPackage>".len();
    let why = refused_file(&xml.as_bytes()[..fifth], &PskcKeys::default());
    assert!(
        why.contains("truncated") && why.contains("KeyContainer"),
        "{why}"
    );
    let why = refused_file(&xml.as_bytes()[..fifth + 10], &PskcKeys::default());
    assert!(why.contains("truncated"), "{why}");
    assert!(parse_pskc(xml.as_bytes(), &PskcKeys::default(), now()).is_ok());
}

/// Defect 8: dates, unknown policies, response formats.
#[test]
fn key_policies_and_response_formats_tokend_cannot_honour_refuse_the_key() {
    let (rows, report) = parse("policy-dates-totp.xml", &PskcKeys::default());
    assert_eq!(serials(&rows), ["DATE-NOW"]);
    let why = reasons(&report.refused);
    assert!(
        why.contains("ExpiryDate 2001-01-01T00:00:00Z: the key has expired"),
        "{why}"
    );
    assert!(why.contains("StartDate 2999-01-01T00:00:00Z"), "{why}");
    // The real Feitian file expired on 2022-09-01.
    let later = Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).unwrap();
    let (rows, report) = parse_pskc(
        &fixture("feitian-20120919.xml"),
        &PskcKeys::default(),
        later,
    )
    .unwrap();
    assert!(
        rows.is_empty() && reasons(&report.refused).contains("expired"),
        "{report:?}"
    );
    let (rows, report) = parse("policy-totp.xml", &PskcKeys::default());
    assert!(rows.is_empty());
    let why: Vec<&str> = report.refused.iter().map(|(_, w)| w.as_str()).collect();
    assert!(why[0].contains("NumberOfTransactions 4321"), "{why:?}");
    assert!(
        why[1].contains("PINPolicy attribute OnWeekDaysOnly"),
        "{why:?}"
    );
    assert!(why[2].contains("PINPolicy element Foo"), "{why:?}");
    assert!(why[3].contains("Policy element Foo"), "{why:?}");
    let (rows, report) = parse("checkdigits-totp.xml", &PskcKeys::default());
    let why = reasons(&report.refused);
    assert_eq!(
        serials(&rows),
        ["CD-0001"],
        "8 digits, CheckDigits false: {why}"
    );
    assert!(why.contains("CheckDigits \\\"1\\\""), "{why}");
    assert!(why.contains("CheckDigits \\\"true\\\""), "{why}");
    assert!(why.contains("Encoding \\\"ALPHANUMERIC\\\""), "{why}");
}

/// Defect 9.
#[test]
fn a_serial_repeated_in_a_file_refuses_every_key_with_it() {
    let (rows, report) = parse("duplicate-serial.xml", &PskcKeys::default());
    assert_eq!(serials(&rows), ["OK-0001"]);
    let numbers: Vec<u64> = report.refused.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [1, 3]);
    assert!(
        report.refused[0].1.contains("KeyPackages 1, 3"),
        "{report:?}"
    );
}

/// Defect 10.
#[test]
fn utf16_pskc_is_read_as_pskc() {
    let bytes = fixture("totp-min-utf16le.xml");
    assert!(is_pskc(&bytes));
    let (rows, report) = parse_file(&bytes, &PskcKeys::default(), now()).unwrap();
    assert!(report.refused.is_empty(), "{report:?}");
    assert_eq!(serials(&rows), ["UTF16-0001"]);
    let be: Vec<u8> = bytes.chunks(2).flat_map(|c| [c[1], c[0]]).collect();
    assert_eq!(
        serials(&parse_file(&be, &PskcKeys::default(), now()).unwrap().0),
        ["UTF16-0001"]
    );
    let latin = String::from_utf8(fixture("totp-min.xml"))
        .unwrap()
        .replace("UTF-8", "ISO-8859-1")
        .replace("Example-Bank", "Banque-\u{e9}");
    let latin: Vec<u8> = latin
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap())
        .collect();
    assert_eq!(
        serials(&parse_file(&latin, &PskcKeys::default(), now()).unwrap().0),
        ["TOTP0001"]
    );
}

/// Defect 11: the offending value, the serial, no fault-code prefix; Version and drafts.
#[test]
fn messages_name_the_key_the_serial_and_the_value() {
    let xml = String::from_utf8(fixture("totp-min.xml")).unwrap().replace(
        "<PlainValue>30</PlainValue>",
        "<PlainValue>172800</PlainValue>",
    );
    let (_, report) = parse_pskc(xml.as_bytes(), &PskcKeys::default(), now()).unwrap();
    assert_eq!(
        report.refused,
        [(
            1,
            "serial \"TOTP0001\": TimeInterval 172800: 30 or 60 expected".to_owned()
        )]
    );
    let why = refused_file(&fixture("pskc-invalid-wrongversion.xml"), &psk());
    assert_eq!(why, "Version \"1.2\": PSKC 1.0 (RFC 6030) expected");
    for draft in [
        "draft-ietf-keyprov-pskc-02-figure2.xml",
        "draft-hoyer-01-non-encrypted.xml",
    ] {
        let why = refused_file(&fixture(draft), &psk());
        assert!(
            why.starts_with("a pre-RFC 6030 draft PSKC format"),
            "{draft}: {why}"
        );
    }
    let why = refused_file(&fixture("figure6-tampered-mac.xml"), &psk());
    assert!(!why.contains("7001"), "{why}");
}

/// Defect 12: the LinOTP/Feitian file has 2 HOTP and 4 TOTP keys (TimeInterval 60).
#[test]
fn a_mixed_vendor_file_imports_its_totp_keys_and_skips_the_others() {
    let (rows, report) = parse("feitian-linotp-file1.xml", &PskcKeys::default());
    assert_eq!(rows.len(), 4, "{report:?}");
    assert!(rows.iter().all(|r| r.params().period.secs() == 60));
    assert!(report.refused.is_empty(), "{report:?}");
    let skipped: Vec<u64> = report.skipped.iter().map(|(n, _)| *n).collect();
    assert_eq!(skipped, [1, 2]);
    assert!(
        report.skipped[0].1.contains("\"1000133508267\""),
        "{report:?}"
    );
    let (rows, report) = parse("writer-mixed.xml", &PskcKeys::default());
    assert_eq!(serials(&rows), ["MIX-T1", "MIX-T2"]);
    assert_eq!(report.skipped.len(), 2);
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for junk in [
        &b"<"[..],
        b"<a><b></a>",
        b"\xff\xfe<x/>",
        b"<KeyContainer/>",
        b"",
        b"<KeyContainer Version=\"1.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\"/>",
    ] {
        assert!(parse_pskc(junk, &psk(), now()).is_err());
    }
    assert!(is_pskc(b"\xEF\xBB\xBF  <?xml"));
    assert!(!is_pskc(b"serial,seed"));
}
