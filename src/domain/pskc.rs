//! PSKC (RFC 6030) seed files: plaintext secrets, secrets encrypted with a pre-shared
//! AES-128 key, and secrets encrypted with a key derived from a passphrase (PBKDF2).
//!
//! Encrypted secrets are AES-128-CBC (IV in front) and each carries a `ValueMAC`
//! (HMAC-SHA1 under the MAC key the container carries, itself encrypted): EVERY MAC is
//! verified before anything is imported, and one failure refuses the whole file — a file
//! altered in transit is not partly trusted. Per-key problems (an HOTP key, a short seed,
//! an unusable serial) refuse that key only, reported by its `KeyPackage` number.
//! tokend validates TOTP only: keys whose algorithm is not TOTP are refused.

use base64::Engine as _;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use zeroize::Zeroizing;

use super::import::{ImportReport, ImportRow};
use super::{Error, Fault};
use crate::crypto::{pskc as cipher, Seed};
use crate::otp::OtpParams;
use crate::types::{Algorithm, Digits, Period, TokenId, MIN_SEED_BYTES};

/// What the importer knows to open encrypted files with. Never logged.
#[derive(Default)]
pub struct PskcKeys {
    /// The pre-shared AES-128 key (16 bytes), for `<ds:KeyName>` containers.
    pub psk: Option<Zeroizing<Vec<u8>>>,
    /// The passphrase, for `<DerivedKey>` (PBKDF2) containers.
    pub passphrase: Option<Zeroizing<String>>,
}

#[derive(Default)]
struct RawKey {
    serial: Option<String>,
    key_id: Option<String>,
    algorithm: String,
    digits: Option<String>,
    suite: Option<String>,
    plain: Option<Zeroizing<String>>,
    cipher: Option<String>,
    value_mac: Option<String>,
    interval: Option<String>,
    enc_method: Option<String>,
    /// `<KeyReference>`: the secret is derived from a master key the file only names.
    key_reference: Option<String>,
    /// `<KeyProfileId>`: the out-of-band profile of such a derivation.
    key_profile: Option<String>,
    /// `<PINPolicy PINUsageMode>`: who checks the device PIN.
    pin_usage: Option<String>,
    /// `<KeyUsage>` values of the key's policy.
    key_usage: Vec<String>,
}

#[derive(Default)]
struct RawFile {
    pbkdf2: bool,
    salt: Option<String>,
    iterations: Option<String>,
    key_length: Option<String>,
    mac_key: Option<String>,
    keys: Vec<RawKey>,
}

fn bad_file(why: impl Into<String>) -> Error {
    Error::at(Fault::InvalidValue, "file").with_detail(why.into())
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

fn on_start(raw: &mut RawFile, stack: &[Vec<u8>], e: &BytesStart<'_>) {
    let name = e.local_name();
    let within = |n: &[u8]| stack.iter().any(|s| s.as_slice() == n);
    match name.as_ref() {
        b"KeyPackage" => raw.keys.push(RawKey::default()),
        b"Key" if within(b"KeyPackage") => {
            if let Some(k) = raw.keys.last_mut() {
                k.key_id = attr(e, b"Id");
                k.algorithm = attr(e, b"Algorithm").unwrap_or_default();
            }
        }
        b"ResponseFormat" => {
            if let Some(k) = raw.keys.last_mut() {
                k.digits = attr(e, b"Length");
            }
        }
        b"KeyDerivationMethod" => {
            raw.pbkdf2 = attr(e, b"Algorithm").is_some_and(|a| a.ends_with("#pbkdf2"));
        }
        b"PINPolicy" => {
            if let Some(k) = raw.keys.last_mut() {
                k.pin_usage = attr(e, b"PINUsageMode");
            }
        }
        b"EncryptionMethod" if within(b"EncryptedValue") => {
            if let Some(k) = raw.keys.last_mut() {
                k.enc_method = attr(e, b"Algorithm");
            }
        }
        _ => {}
    }
}

fn on_text(raw: &mut RawFile, stack: &[Vec<u8>], text: String) {
    let within = |n: &[u8]| stack.iter().any(|s| s.as_slice() == n);
    let Some(last) = stack.last().map(Vec::as_slice) else {
        return;
    };
    let key = raw.keys.last_mut();
    match (last, key) {
        (b"Specified", _) if within(b"Salt") => raw.salt = Some(text),
        (b"IterationCount", _) => raw.iterations = Some(text),
        (b"KeyLength", _) => raw.key_length = Some(text),
        (b"CipherValue", _) if within(b"MACKey") => raw.mac_key = Some(text),
        (b"CipherValue", Some(k)) if within(b"Secret") => k.cipher = Some(text),
        (b"PlainValue", Some(k)) if within(b"Secret") => k.plain = Some(Zeroizing::new(text)),
        (b"PlainValue", Some(k)) if within(b"TimeInterval") => k.interval = Some(text),
        (b"ValueMAC", Some(k)) => k.value_mac = Some(text),
        (b"SerialNo", Some(k)) => k.serial = Some(text),
        (b"Suite", Some(k)) => k.suite = Some(text),
        (b"KeyReference", Some(k)) => k.key_reference = Some(text),
        (b"KeyProfileId", Some(k)) => k.key_profile = Some(text),
        (b"KeyUsage", Some(k)) => k.key_usage.push(text),
        _ => {}
    }
}

fn read_xml(xml: &str) -> Result<RawFile, Error> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut raw = RawFile::default();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                on_start(&mut raw, &stack, &e);
                stack.push(e.local_name().as_ref().to_vec());
            }
            Ok(Event::Empty(e)) => on_start(&mut raw, &stack, &e),
            Ok(Event::End(_)) => {
                stack.pop();
            }
            Ok(Event::Text(t)) => {
                let text = t
                    .unescape()
                    .map_err(|e| bad_file(format!("(not PSKC XML: {e})")))?;
                on_text(&mut raw, &stack, text.trim().to_owned());
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(bad_file(format!("(not PSKC XML: {e})"))),
        }
    }
    if raw.keys.is_empty() {
        return Err(bad_file("(no KeyPackage in the PSKC file)"));
    }
    Ok(raw)
}

fn b64(what: &str, s: &str) -> Result<Vec<u8>, Error> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| bad_file(format!("({what} is not base64)")))
}

/// The AES key of an encrypted file: the pre-shared key, or PBKDF2 of the passphrase.
fn encryption_key(raw: &RawFile, keys: &PskcKeys) -> Result<Zeroizing<Vec<u8>>, Error> {
    if raw.pbkdf2 {
        let pass = keys
            .passphrase
            .as_ref()
            .ok_or_else(|| bad_file("(the file is encrypted with a passphrase: give it)"))?;
        let salt = b64("Salt", raw.salt.as_deref().unwrap_or_default())?;
        let iterations = raw
            .iterations
            .as_deref()
            .and_then(|i| i.parse::<u32>().ok())
            .filter(|i| (1..=10_000_000).contains(i))
            .ok_or_else(|| bad_file("(bad PBKDF2 IterationCount)"))?;
        let len = raw
            .key_length
            .as_deref()
            .map_or(Ok(16), str::parse::<usize>)
            .map_err(|_| bad_file("(bad PBKDF2 KeyLength)"))?;
        cipher::pbkdf2_sha1(pass.as_bytes(), &salt, iterations, len)
            .map_err(|e| bad_file(format!("({e})")))
    } else {
        keys.psk
            .clone()
            .ok_or_else(|| bad_file("(the file is encrypted with a pre-shared key: give it)"))
    }
}

/// Decrypts every encrypted secret and checks every MAC; any failure refuses the file.
fn open_secrets(raw: &RawFile, keys: &PskcKeys) -> Result<Vec<Option<Zeroizing<Vec<u8>>>>, Error> {
    let encrypted = raw.keys.iter().any(|k| k.cipher.is_some());
    if !encrypted {
        return Ok(raw.keys.iter().map(|_| None).collect());
    }
    let key = encryption_key(raw, keys)?;
    let mac_ct = raw
        .mac_key
        .as_deref()
        .ok_or_else(|| bad_file("(encrypted secrets without a MACMethod: refused)"))?;
    let mac_key = cipher::aes128_cbc_decrypt(&key, &b64("MACKey", mac_ct)?)
        .map_err(|_| bad_file("(the MAC key does not decrypt: wrong key or passphrase)"))?;
    let mut out = Vec::with_capacity(raw.keys.len());
    for (i, k) in raw.keys.iter().enumerate() {
        let Some(ct) = &k.cipher else {
            out.push(None);
            continue;
        };
        if k.enc_method
            .as_deref()
            .is_some_and(|m| !m.ends_with("#aes128-cbc"))
        {
            return Err(bad_file(format!(
                "(KeyPackage {}: only aes128-cbc is supported)",
                i + 1
            )));
        }
        let ct = b64("CipherValue", ct)?;
        let mac = b64("ValueMAC", k.value_mac.as_deref().unwrap_or_default())?;
        if !cipher::hmac_sha1_verify(&mac_key, &ct, &mac) {
            return Err(bad_file(format!(
                "(KeyPackage {}: the ValueMAC does not verify; the whole file is refused)",
                i + 1
            )));
        }
        let secret = cipher::aes128_cbc_decrypt(&key, &ct)
            .map_err(|_| bad_file(format!("(KeyPackage {}: does not decrypt)", i + 1)))?;
        out.push(Some(secret));
    }
    Ok(out)
}

/// Why tokend cannot use this key at all, whatever its secret: the checks of RFC 6030's
/// algorithm and policy elements (figures 4 and 5 show each case).
fn unusable(k: &RawKey) -> Option<String> {
    if k.algorithm.ends_with(":pin") {
        return Some("a device PIN key (RFC 6030 PIN profile): tokend keeps no PINs".into());
    }
    let is_totp = k.algorithm.ends_with(":totp") || k.algorithm.ends_with("#totp");
    if !is_totp {
        return Some(format!(
            "algorithm {:?}: tokend validates TOTP only",
            k.algorithm
        ));
    }
    if !k.key_usage.is_empty() && !k.key_usage.iter().any(|u| u == "OTP") {
        return Some(format!("KeyUsage {:?}: OTP is not allowed", k.key_usage));
    }
    match k.pin_usage.as_deref() {
        None | Some("Local") => None,
        Some(mode) => Some(format!(
            "PINUsageMode {mode:?}: the server would have to check a PIN with the code; \
             tokend checks codes only (a Local PIN, checked by the device, is accepted)"
        )),
    }
}

/// What to say when a key carries no secret.
fn no_secret(k: &RawKey) -> String {
    match &k.key_reference {
        Some(master) => format!(
            "no secret: it is derived from master key {master:?} (profile {:?}), which \
             tokend does not hold; ask the vendor for the secrets",
            k.key_profile.as_deref().unwrap_or("none")
        ),
        None => "no secret".into(),
    }
}

fn to_row(k: &RawKey, secret: Option<Zeroizing<Vec<u8>>>, n: u64) -> Result<ImportRow, String> {
    if let Some(why) = unusable(k) {
        return Err(why);
    }
    let serial = k
        .serial
        .as_deref()
        .or(k.key_id.as_deref())
        .unwrap_or_default();
    let token_id =
        TokenId::parse(serial).ok_or("serial: 1-64 characters of A-Z a-z 0-9 . _ - expected")?;
    let bytes = match (secret, &k.plain) {
        (Some(s), _) => s,
        (None, Some(p)) => {
            Zeroizing::new(b64("PlainValue", p).map_err(|_| "secret: not base64".to_owned())?)
        }
        (None, None) => return Err(no_secret(k)),
    };
    if bytes.len() < MIN_SEED_BYTES {
        return Err(format!(
            "seed: {} bits; at least 128 required",
            bytes.len() * 8
        ));
    }
    let algorithm = match k.suite.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("HMAC-SHA1" | "SHA1") => Algorithm::SHA1,
        Some("HMAC-SHA256" | "SHA256") => Algorithm::SHA256,
        Some("HMAC-SHA512" | "SHA512") => Algorithm::SHA512,
        Some(other) => return Err(format!("Suite {other:?}: HMAC-SHA1/256/512 expected")),
    };
    let digits = k
        .digits
        .as_deref()
        .map_or(Ok(6), str::parse::<u8>)
        .map_err(|e| e.to_string())
        .and_then(Digits::try_from)
        .map_err(|_| "digits: 6 or 8 expected".to_owned())?;
    let period = k
        .interval
        .as_deref()
        .map_or(Ok(30), str::parse::<u16>)
        .map_err(|e| e.to_string())
        .and_then(Period::try_from)
        .map_err(|_| "TimeInterval: 30 or 60 expected".to_owned())?;
    let params = OtpParams {
        algorithm,
        digits,
        period,
    };
    Ok(ImportRow::new(
        n,
        token_id,
        Seed::new(bytes.to_vec()),
        params,
        None,
    ))
}

/// Reads a PSKC document. `Err` refuses the whole file (not XML, no key to open it, a
/// MAC that does not verify); per-key refusals go to the report.
pub fn parse_pskc(xml: &[u8], keys: &PskcKeys) -> Result<(Vec<ImportRow>, ImportReport), Error> {
    let text = std::str::from_utf8(xml).map_err(|_| bad_file("(the file is not UTF-8)"))?;
    let raw = read_xml(text)?;
    let secrets = open_secrets(&raw, keys)?;
    let mut rows = Vec::new();
    let mut report = ImportReport::default();
    for (i, (k, secret)) in raw.keys.iter().zip(secrets).enumerate() {
        let n = u64::try_from(i + 1).unwrap_or(u64::MAX);
        match to_row(k, secret, n) {
            Ok(row) => rows.push(row),
            Err(why) => report.refused.push((n, why)),
        }
    }
    Ok((rows, report))
}

/// Whether a file looks like XML (PSKC) rather than CSV.
pub fn is_pskc(bytes: &[u8]) -> bool {
    let start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    start.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/pskc/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn psk() -> PskcKeys {
        PskcKeys {
            psk: Some(Zeroizing::new(
                hex::decode("12345678901234567890123456789012").unwrap(),
            )),
            passphrase: None,
        }
    }

    fn pass(p: &str) -> PskcKeys {
        PskcKeys {
            psk: None,
            passphrase: Some(Zeroizing::new(p.to_owned())),
        }
    }

    fn seed_of(rows: &[ImportRow]) -> Vec<u8> {
        rows[0].seed().expose().to_vec()
    }

    #[test]
    fn figure_2_plaintext_32_bit_secret_is_refused_by_the_seed_policy() {
        let (rows, report) =
            parse_pskc(&fixture("rfc6030-figure2.xml"), &PskcKeys::default()).unwrap();
        assert!(rows.is_empty());
        assert_eq!(report.refused.len(), 1);
        assert!(
            report.refused[0].1.contains("TOTP only"),
            "{:?}",
            report.refused
        );
    }

    #[test]
    fn minimal_totp_container_imports_with_its_parameters() {
        let (rows, report) = parse_pskc(&fixture("totp-min.xml"), &PskcKeys::default()).unwrap();
        assert!(report.refused.is_empty(), "{:?}", report.refused);
        assert_eq!(rows[0].token_id().as_str(), "TOTP0001");
        assert_eq!(seed_of(&rows), b"12345678901234567890");
        assert_eq!(rows[0].params().period.secs(), 30);
    }

    #[test]
    fn figures_6_and_7_decrypt_verify_and_refuse_their_hotp_keys() {
        for (file, keys) in [
            ("rfc6030-figure6.xml", psk()),
            ("rfc6030-figure7.xml", pass("qwerty")),
        ] {
            let (rows, report) = parse_pskc(&fixture(file), &keys).unwrap();
            assert!(rows.is_empty(), "{file}");
            assert!(report.refused[0].1.contains("TOTP only"), "{file}");
        }
        for (file, keys, serial) in [
            ("figure6-totp.xml", psk(), "PSK-0001"),
            ("figure7-totp.xml", pass("qwerty"), "PBE-0001"),
        ] {
            let (rows, report) = parse_pskc(&fixture(file), &keys).unwrap();
            assert!(report.refused.is_empty(), "{file}: {:?}", report.refused);
            assert_eq!(rows[0].token_id().as_str(), serial);
            assert_eq!(seed_of(&rows), b"12345678901234567890", "{file}");
            assert_eq!(rows[0].params().digits.get(), 8, "{file}");
        }
    }

    fn refusals(file: &str) -> Vec<String> {
        let (rows, report) = parse_pskc(&fixture(file), &PskcKeys::default()).unwrap();
        assert!(rows.is_empty(), "{file}");
        report.refused.into_iter().map(|(_, why)| why).collect()
    }

    #[test]
    fn figures_3_4_and_5_as_published_are_refused_key_by_key_with_the_reason() {
        assert!(refusals("rfc6030-figure3.xml")[0].contains("TOTP only"));
        assert!(refusals("rfc6030-figure4.xml")[0].contains("TOTP only"));
        let figure5 = refusals("rfc6030-figure5.xml");
        assert_eq!(figure5.len(), 2);
        assert!(figure5[0].contains("TOTP only"), "{figure5:?}");
        assert!(figure5[1].contains("PIN key"), "{figure5:?}");
    }

    #[test]
    fn figure_3_supplementary_data_imports_as_totp_with_its_serial_and_digits() {
        let (rows, report) =
            parse_pskc(&fixture("figure3-totp.xml"), &PskcKeys::default()).unwrap();
        assert!(report.refused.is_empty(), "{:?}", report.refused);
        assert_eq!(rows[0].token_id().as_str(), "FIG3-0001");
        assert_eq!(seed_of(&rows), b"12345678901234567890");
        assert_eq!(rows[0].params().digits.get(), 8);
    }

    #[test]
    fn figure_4_derived_key_has_no_secret_and_says_which_master_key() {
        let why = refusals("figure4-totp.xml");
        assert!(why[0].contains("no secret"), "{why:?}");
        assert!(why[0].contains("MasterKeyLabel"), "{why:?}");
        assert!(why[0].contains("keyProfile1"), "{why:?}");
    }

    #[test]
    fn figure_5_local_pin_imports_the_otp_key_and_refuses_the_pin_key() {
        let (rows, report) =
            parse_pskc(&fixture("figure5-totp.xml"), &PskcKeys::default()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].token_id().as_str(), "FIG5-0001");
        assert_eq!(seed_of(&rows), b"12345678901234567890");
        assert_eq!(report.refused.len(), 1);
        assert_eq!(report.refused[0].0, 2, "the PIN key is KeyPackage 2");
        assert!(report.refused[0].1.contains("PIN key"));
        let prepend = refusals("figure5-totp-prepend.xml");
        assert!(
            prepend[0].contains("PINUsageMode \"Prepend\""),
            "{prepend:?}"
        );
    }

    #[test]
    fn a_key_whose_policy_forbids_otp_is_refused() {
        let xml = String::from_utf8(fixture("figure4-totp.xml"))
            .unwrap()
            .replace("<KeyUsage>OTP</KeyUsage>", "<KeyUsage>Encrypt</KeyUsage>");
        let (_, report) = parse_pskc(xml.as_bytes(), &PskcKeys::default()).unwrap();
        assert!(report.refused[0].1.contains("OTP is not allowed"));
    }

    #[test]
    fn a_tampered_mac_a_wrong_key_or_no_key_refuses_the_whole_file() {
        let tampered = parse_pskc(&fixture("figure6-tampered-mac.xml"), &psk());
        assert!(tampered
            .err()
            .unwrap()
            .to_string()
            .contains("ValueMAC does not verify"));
        let wrong = PskcKeys {
            psk: Some(Zeroizing::new(vec![7u8; 16])),
            passphrase: None,
        };
        assert!(parse_pskc(&fixture("figure6-totp.xml"), &wrong).is_err());
        assert!(parse_pskc(&fixture("figure6-totp.xml"), &PskcKeys::default()).is_err());
        assert!(parse_pskc(&fixture("figure7-totp.xml"), &pass("QWERTY")).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for junk in [
            &b"<"[..],
            b"<a><b></a>",
            b"\xff\xfe<x/>",
            b"<KeyContainer/>",
            b"",
        ] {
            assert!(parse_pskc(junk, &psk()).is_err());
        }
        assert!(is_pskc(b"\xEF\xBB\xBF  <?xml"));
        assert!(!is_pskc(b"serial,seed"));
    }
}
