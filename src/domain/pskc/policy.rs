//! What tokend decides about each key of an opened PSKC file: skipped by design (not a
//! TOTP key), refused with its reason (a policy tokend cannot honour, parameters it does
//! not check, a missing or short secret), or imported. Reasons show the offending value
//! where it is not secret, never a secret.

use chrono::{DateTime, NaiveDateTime, Utc};
use zeroize::Zeroizing;

use super::open::{b64, Opened};
use super::read::{RawKey, FIELDS};
use crate::crypto::Seed;
use crate::domain::import::ImportRow;
use crate::otp::OtpParams;
use crate::types::{Algorithm, Digits, Period, TokenId, MIN_SEED_BYTES};

/// The outcome for one key.
pub(super) enum Decision {
    /// Stored (unless its serial is already present).
    Import(ImportRow),
    /// Not a key tokend validates (HOTP, OCRA, a device PIN): listed, not an error.
    Skip(String),
    /// A TOTP key tokend cannot use as written: an error the operator must look at.
    Refuse(String),
}

/// The serial tokend stores a key under: `DeviceInfo/SerialNo`, else `Key/@Id`.
pub(super) fn serial(k: &RawKey) -> Option<&str> {
    k.serial.as_deref().or(k.key_id.as_deref()).map(str::trim)
}

/// Decides one key. `now` judges its `StartDate` and `ExpiryDate`.
pub(super) fn decide(
    k: &RawKey,
    opened: &mut Opened,
    encrypted_file: bool,
    now: DateTime<Utc>,
    n: u64,
) -> Decision {
    if let Some(why) = skipped(k) {
        return Decision::Skip(why);
    }
    match to_row(k, opened, encrypted_file, now, n) {
        Ok(row) => Decision::Import(row),
        Err(why) => Decision::Refuse(why),
    }
}

/// Why this key is not one tokend validates at all (its algorithm).
fn skipped(k: &RawKey) -> Option<String> {
    let alg = k.algorithm.trim();
    if alg.ends_with(":pin") || alg.ends_with("#pin") {
        return Some("a device PIN key (RFC 6030 PIN profile): tokend keeps no PINs".into());
    }
    let is_totp = alg.ends_with(":totp") || alg.ends_with("#totp");
    match alg {
        _ if is_totp => None,
        "" => Some("no Algorithm: tokend validates TOTP only (…:pskc:totp)".into()),
        _ => Some(format!("algorithm {alg:?}: tokend validates TOTP only")),
    }
}

/// The row of a TOTP key tokend can use, or the reason it cannot.
fn to_row(
    k: &RawKey,
    opened: &mut Opened,
    encrypted_file: bool,
    now: DateTime<Utc>,
    n: u64,
) -> Result<ImportRow, String> {
    policy(k, now)?;
    let token_id = serial(k)
        .and_then(TokenId::parse)
        .ok_or("serial: 1-64 characters of A-Z a-z 0-9 . _ - expected")?;
    let digits = response_format(k)?;
    let seed = secret(k, opened, encrypted_file)?;
    let algorithm = match k
        .suite
        .as_deref()
        .map(|s| s.trim().to_ascii_uppercase())
        .as_deref()
    {
        None | Some("HMAC-SHA1" | "SHA1") => Algorithm::SHA1,
        Some("HMAC-SHA256" | "SHA256") => Algorithm::SHA256,
        Some("HMAC-SHA512" | "SHA512") => Algorithm::SHA512,
        Some(other) => {
            return Err(format!(
                "Suite {other:?}: HMAC-SHA1, -SHA256 or -SHA512 expected"
            ))
        }
    };
    let interval = integer(k, opened, "TimeInterval")?.unwrap_or(30);
    let period = u16::try_from(interval)
        .ok()
        .and_then(|p| Period::try_from(p).ok())
        .ok_or_else(|| format!("TimeInterval {interval}: 30 or 60 expected"))?;
    for (field, why) in [
        (
            "Time",
            "tokend counts time steps from the Unix epoch (Time 0)",
        ),
        (
            "TimeDrift",
            "tokend keeps no imported drift; import, then resync the token",
        ),
    ] {
        match integer(k, opened, field)? {
            None | Some(0) => {}
            Some(v) => return Err(format!("{field} {v}: {why}")),
        }
    }
    let params = OtpParams {
        algorithm,
        digits,
        period,
    };
    Ok(ImportRow::new(
        n,
        token_id,
        Seed::new(seed.to_vec()),
        params,
        None,
    ))
}

/// RFC 6030 §5: a key whose policy tokend does not understand, does not allow OTP, needs
/// a server-checked PIN, or is outside its validity dates is not to be used.
fn policy(k: &RawKey, now: DateTime<Utc>) -> Result<(), String> {
    if let Some(what) = k.policy_unknown.first() {
        return Err(format!(
            "{what}: a policy tokend does not understand or cannot honour; RFC 6030 §5 \
             says such a key must not be used"
        ));
    }
    if !k.key_usage.is_empty() && !k.key_usage.iter().any(|u| u.trim() == "OTP") {
        return Err(format!("KeyUsage {:?}: OTP is not allowed", k.key_usage));
    }
    if let Some(mode) = k.pin_usage.as_deref().filter(|m| m.trim() != "Local") {
        return Err(format!(
            "PINUsageMode {mode:?}: the server would have to check a PIN with the code; \
             tokend checks codes only (a Local PIN, checked by the device, is accepted)"
        ));
    }
    if let Some(text) = &k.start_date {
        if date("StartDate", text)? > now {
            return Err(format!(
                "StartDate {}: the key may not be used yet",
                text.trim()
            ));
        }
    }
    if let Some(text) = &k.expiry_date {
        if date("ExpiryDate", text)? <= now {
            return Err(format!("ExpiryDate {}: the key has expired", text.trim()));
        }
    }
    Ok(())
}

/// An `xs:dateTime`; one without a zone is read as UTC.
fn date(what: &str, text: &str) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").map(|d| d.and_utc()))
        .map_err(|_| format!("{what} {t:?}: not a date-time"))
}

/// The code length; tokend checks decimal codes without a check digit.
fn response_format(k: &RawKey) -> Result<Digits, String> {
    if let Some(enc) = k
        .encoding
        .as_deref()
        .map(str::trim)
        .filter(|e| *e != "DECIMAL")
    {
        return Err(format!(
            "ResponseFormat Encoding {enc:?}: tokend checks DECIMAL codes only"
        ));
    }
    if let Some(c) = k.check_digits.as_deref().map(str::trim) {
        if c == "true" || c == "1" {
            return Err(format!(
                "ResponseFormat CheckDigits {c:?}: tokend checks codes without a check digit"
            ));
        }
    }
    match k.digits.as_deref().map(str::trim) {
        None => Digits::try_from(6u8).map_err(|_| "6 digits".into()),
        Some(d) => d
            .parse::<u8>()
            .ok()
            .and_then(|v| Digits::try_from(v).ok())
            .ok_or_else(|| format!("ResponseFormat Length {d:?}: 6 or 8 expected")),
    }
}

/// The seed: decrypted, or plaintext in a file that encrypts none.
fn secret(
    k: &RawKey,
    opened: &mut Opened,
    encrypted_file: bool,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let bytes = match (
        opened[0].take(),
        k.value("Secret").and_then(|v| v.plain.as_ref()),
    ) {
        (Some(s), _) => s,
        (None, Some(_)) if encrypted_file => {
            return Err(
                "a plaintext Secret in a file whose secrets are encrypted and MAC-protected: \
                 refused (it is covered by no MAC)"
                    .into(),
            )
        }
        (None, Some(p)) => {
            Zeroizing::new(b64("Secret", p).map_err(|_| "Secret: not base64".to_owned())?)
        }
        (None, None) => return Err(no_secret(k)),
    };
    if bytes.len() < MIN_SEED_BYTES {
        return Err(format!(
            "seed: {} bits; at least 128 required",
            bytes.len() * 8
        ));
    }
    Ok(bytes)
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

/// An integer data value, plaintext or decrypted (decimal text, else big-endian bytes,
/// as python-pskc reads them).
fn integer(k: &RawKey, opened: &Opened, field: &str) -> Result<Option<i64>, String> {
    let i = FIELDS.iter().position(|f| *f == field).unwrap_or(0);
    if let Some(bytes) = &opened[i] {
        if !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit) {
            let text = String::from_utf8_lossy(bytes);
            return text
                .parse()
                .map(Some)
                .map_err(|_| format!("{field}: too large"));
        }
        if bytes.len() > 8 {
            return Err(format!(
                "{field}: {} bytes, too large for an integer",
                bytes.len()
            ));
        }
        let v = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        return i64::try_from(v)
            .map(Some)
            .map_err(|_| format!("{field}: too large"));
    }
    match k.value(field).and_then(|v| v.plain.as_ref()) {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{field} {:?}: not an integer", text.trim())),
    }
}
