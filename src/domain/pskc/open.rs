//! Opening an encrypted PSKC file: the encryption key (pre-shared, or PBKDF2 of a
//! passphrase), the MAC key and its `MACMethod`, then every encrypted data value of every
//! key, each with its own `EncryptionMethod` and `ValueMAC`. Every value is opened and
//! every MAC verified before anything is imported; one failure refuses the whole file,
//! because a file altered in transit is not partly trusted. Messages never carry key
//! material or a decrypted value.

use base64::Engine as _;
use zeroize::Zeroizing;

use super::read::{Encrypted, KeySource, RawFile, Value, FIELDS};
use super::PskcKeys;
use crate::crypto::pskc::{self as cipher, Cipher, MacAlg, OpenError};

/// A decrypted value.
pub(super) type Plain = Zeroizing<Vec<u8>>;

/// The decrypted values of one key, in the order of [`FIELDS`].
pub(super) type Opened = [Option<Plain>; 5];

/// What opens the file's values.
struct Opener {
    key: Zeroizing<Vec<u8>>,
    mac: Option<(MacAlg, Plain)>,
}

/// Base64 as PSKC writes it (line breaks and spaces inside); the error names the field.
pub(super) fn b64(what: &str, s: &str) -> Result<Vec<u8>, String> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| format!("{what} is not base64"))
}

/// Whether any value of the file is encrypted.
pub(super) fn is_encrypted(raw: &RawFile) -> bool {
    encrypted_values(raw).next().is_some()
}

/// Every encrypted value: (KeyPackage number, element name, value).
fn encrypted_values(raw: &RawFile) -> impl Iterator<Item = (usize, &'static str, &Value)> {
    raw.keys.iter().enumerate().flat_map(|(i, k)| {
        FIELDS.iter().zip(&k.values).filter_map(move |(f, v)| {
            v.as_ref()
                .filter(|v| v.encrypted.is_some())
                .map(|v| (i + 1, *f, v))
        })
    })
}

/// The cipher an `EncryptionMethod` names, or the refusal naming it.
fn cipher_of(method: Option<&str>, whose: &str) -> Result<Cipher, String> {
    let uri = method.ok_or_else(|| format!("{whose}: no EncryptionMethod"))?;
    Cipher::from_uri(uri).ok_or_else(|| {
        let name = uri.rsplit('#').next().unwrap_or(uri);
        format!(
            "{whose}: encryption {name:?} is not supported (tokend opens aes128-cbc, \
             aes192-cbc, aes256-cbc and kw-aes128/192/256)"
        )
    })
}

/// Decrypts every encrypted value of the file and verifies every MAC. `Ok` holds, per
/// key, its decrypted values; `Err` is the reason the whole file is refused.
pub(super) fn open_all(raw: &RawFile, keys: &PskcKeys) -> Result<Vec<Opened>, String> {
    let mut out: Vec<Opened> = raw.keys.iter().map(|_| Default::default()).collect();
    if !is_encrypted(raw) {
        return Ok(out);
    }
    // Checked before asking for a key: an unsupported file is named as such, whatever
    // key was given.
    supported_source(&raw.key_source)?;
    for (n, field, v) in encrypted_values(raw) {
        let enc = v.encrypted.as_ref().map(|e| e.method.as_deref());
        cipher_of(enc.flatten(), &format!("KeyPackage {n} {field}"))?;
    }
    let opener = opener(raw, keys)?;
    let (mut checked, mut failed) = (0usize, Vec::new());
    for (n, field, v) in encrypted_values(raw) {
        let whose = format!("KeyPackage {n} {field}");
        let (plain, mac_ok) = opener.open(v, &whose)?;
        if let Some(ok) = mac_ok {
            checked += 1;
            if !ok {
                failed.push(whose);
            }
        }
        let i = FIELDS.iter().position(|f| *f == field).unwrap_or(0);
        out[n - 1][i] = Some(plain);
    }
    mac_verdict(checked, &failed)?;
    Ok(out)
}

/// The whole file's MAC verdict. When no MAC verifies, the likelier cause is a wrong
/// key or passphrase (the MAC key itself then decrypts to garbage that happened to
/// unpad), so the message says both.
fn mac_verdict(checked: usize, failed: &[String]) -> Result<(), String> {
    match failed {
        [] => Ok(()),
        _ if failed.len() == checked => Err(format!(
            "no ValueMAC verifies ({} checked): wrong key or passphrase, or the file was \
             altered; the whole file is refused",
            checked
        )),
        [first, ..] => Err(format!(
            "{first}: the ValueMAC does not verify ({} of {checked} fail): the file was \
             altered; the whole file is refused",
            failed.len()
        )),
    }
}

/// The encryption key and MAC key of the file.
fn opener(raw: &RawFile, keys: &PskcKeys) -> Result<Opener, String> {
    let key = encryption_key(raw, keys)?;
    let needs_mac = encrypted_values(raw).any(|(_, _, v)| {
        let m = v.encrypted.as_ref().and_then(|e| e.method.as_deref());
        cipher_of(m, "").is_ok_and(|c| !c.authenticates())
    });
    let mac = match (&raw.mac_method, &raw.mac_key) {
        (Some(uri), Some(mk)) => Some(mac_key(uri, mk, &key)?),
        // Files of the drafts before RFC 6030 MAC under the encryption key itself, as
        // python-pskc accepts; the MACs are still checked.
        (Some(uri), None) => Some((mac_alg(uri)?, key.clone())),
        _ if !needs_mac => None,
        (None, Some(_)) => return Err("a MACKey without a MACMethod algorithm".into()),
        (None, None) => {
            return Err(
                "CBC-encrypted values without a MACMethod: their integrity cannot be \
                 checked; refused"
                    .into(),
            )
        }
    };
    Ok(Opener { key, mac })
}

/// The MAC algorithm (refused by name when unknown) and the decrypted MAC key.
fn mac_key(uri: &str, mk: &Encrypted, key: &[u8]) -> Result<(MacAlg, Plain), String> {
    let alg = mac_alg(uri)?;
    let c = cipher_of(mk.method.as_deref(), "MACKey")?;
    let plain = cipher::decrypt(c, key, &b64("MACKey", &mk.cipher)?)
        .map_err(|e| opened("the MACKey", e))?;
    Ok((alg, plain))
}

/// The HMAC a `MACMethod` names, or the refusal naming it.
fn mac_alg(uri: &str) -> Result<MacAlg, String> {
    MacAlg::from_uri(uri).ok_or_else(|| {
        format!(
            "MACMethod {uri:?} is not supported (tokend checks HMAC-SHA1, -SHA224, -SHA256, \
             -SHA384 and -SHA512)"
        )
    })
}

/// A decryption failure in words.
fn opened(whose: &str, e: OpenError) -> String {
    match e {
        OpenError::WrongKey => format!("{whose} does not decrypt: wrong key or passphrase"),
        other => format!("{whose} does not decrypt: {other}"),
    }
}

/// Refuses, by name, the ways of giving the file's key that tokend does not support.
fn supported_source(source: &KeySource) -> Result<(), String> {
    match source {
        KeySource::Asymmetric(element) => Err(format!(
            "asymmetric encryption (EncryptionKey {element}, RFC 6030 §6.3) is not \
             supported: ask the vendor for a file under a pre-shared key or a passphrase"
        )),
        KeySource::OtherDerivation(uri) => Err(format!(
            "key derivation {uri:?} is not supported (tokend derives keys with PBKDF2)"
        )),
        KeySource::Pbkdf2 | KeySource::PreShared => Ok(()),
    }
}

/// The AES key of the file: the pre-shared key, or PBKDF2 of the passphrase.
fn encryption_key(raw: &RawFile, keys: &PskcKeys) -> Result<Zeroizing<Vec<u8>>, String> {
    supported_source(&raw.key_source)?;
    if raw.key_source == KeySource::Pbkdf2 {
        return derived_key(raw, keys);
    }
    keys.psk
        .clone()
        .ok_or_else(|| "the file is encrypted with a pre-shared key: give it (--psk-hex)".into())
}

/// PBKDF2 of the passphrase with the file's salt, iteration count, key length and PRF.
fn derived_key(raw: &RawFile, keys: &PskcKeys) -> Result<Zeroizing<Vec<u8>>, String> {
    let pass = keys
        .passphrase
        .as_ref()
        .ok_or("the file is encrypted with a passphrase: give it (--passphrase-stdin)")?;
    let salt = b64("PBKDF2 Salt", raw.salt.as_deref().unwrap_or_default())?;
    let iterations = raw
        .iterations
        .as_deref()
        .and_then(|i| i.trim().parse::<u32>().ok())
        .filter(|i| (1..=10_000_000).contains(i))
        .ok_or_else(|| {
            format!(
                "PBKDF2 IterationCount {:?}: 1 to 10000000 expected",
                raw.iterations.as_deref().unwrap_or("(none)")
            )
        })?;
    let len = match raw.key_length.as_deref().map(str::trim) {
        None => 16,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| [16, 24, 32].contains(l))
            .ok_or_else(|| format!("PBKDF2 KeyLength {l:?}: 16, 24 or 32 expected"))?,
    };
    let prf = match raw.prf.as_deref() {
        None | Some("") => MacAlg::Sha1,
        Some(uri) => MacAlg::from_uri(uri)
            .filter(|a| *a != MacAlg::Sha224)
            .ok_or_else(|| format!("PBKDF2 PRF {uri:?} is not supported"))?,
    };
    cipher::pbkdf2(prf, pass.as_bytes(), &salt, iterations, len).map_err(|e| e.to_string())
}

impl Opener {
    /// Decrypts one value and checks its own MAC: (plaintext, Some(MAC verified) or None
    /// when the cipher authenticates itself and the file carries no MAC for it).
    fn open(&self, v: &Value, whose: &str) -> Result<(Plain, Option<bool>), String> {
        let enc = v
            .encrypted
            .as_ref()
            .ok_or_else(|| format!("{whose}: not encrypted"))?;
        let c = cipher_of(enc.method.as_deref(), whose)?;
        let ct = b64(&format!("{whose} CipherValue"), &enc.cipher)?;
        let mac_ok = match (&self.mac, &v.mac) {
            (Some((alg, key)), Some(tag)) => {
                let tag = b64(&format!("{whose} ValueMAC"), tag)?;
                Some(cipher::mac_verify(*alg, key, &ct, &tag))
            }
            (_, None) if c.authenticates() => None,
            (_, None) => {
                return Err(format!(
                    "{whose}: no ValueMAC; its integrity cannot be checked"
                ))
            }
            (None, Some(_)) => {
                return Err(format!("{whose}: a ValueMAC but no MACKey to check it"))
            }
        };
        if mac_ok == Some(false) {
            // Not decrypted: its MAC failing is the verdict, reported with the others.
            return Ok((Zeroizing::new(Vec::new()), mac_ok));
        }
        let plain = cipher::decrypt(c, &self.key, &ct).map_err(|e| opened(whose, e))?;
        Ok((plain, mac_ok))
    }
}
