//! The cryptography of PSKC (RFC 6030) seed files, by well-kept RustCrypto crates:
//! AES-128/192/256-CBC with the IV in front of the ciphertext and PKCS#7 padding checked
//! in full (`cbc`), the RFC 3394 AES key wrap (`aes-kw`), the HMACs a `MACMethod` may
//! name (`hmac` over SHA-1 and SHA-2), and PBKDF2 (ring).
//!
//! Errors say what went wrong without key material: a padding or key-wrap integrity
//! failure is [`OpenError::WrongKey`], because with the right key a CBC value whose MAC
//! verified always unpads.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut as _, KeyIvInit as _};
use hmac::Hmac;
use ring::pbkdf2;
use std::num::NonZeroU32;
use zeroize::Zeroizing;

use super::Error;

/// The XML Encryption namespace of the algorithm URIs tokend reads.
const XMLENC: &str = "http://www.w3.org/2001/04/xmlenc#";

/// An encryption algorithm tokend can open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    /// `xmlenc#aes128-cbc`, `#aes192-cbc`, `#aes256-cbc`: key length in bytes.
    AesCbc(usize),
    /// `xmlenc#kw-aes128`, `#kw-aes192`, `#kw-aes256` (RFC 3394): key length in bytes.
    AesKw(usize),
}

impl Cipher {
    /// The cipher an `EncryptionMethod` URI names, `None` for any other (Camellia,
    /// Triple-DES, RSA, …), which the caller names as not supported.
    pub fn from_uri(uri: &str) -> Option<Cipher> {
        match uri.trim().strip_prefix(XMLENC)? {
            "aes128-cbc" => Some(Cipher::AesCbc(16)),
            "aes192-cbc" => Some(Cipher::AesCbc(24)),
            "aes256-cbc" => Some(Cipher::AesCbc(32)),
            "kw-aes128" => Some(Cipher::AesKw(16)),
            "kw-aes192" => Some(Cipher::AesKw(24)),
            "kw-aes256" => Some(Cipher::AesKw(32)),
            _ => None,
        }
    }

    /// The key length this cipher needs, in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Cipher::AesCbc(n) | Cipher::AesKw(n) => n,
        }
    }

    /// Whether the cipher checks integrity itself (key wrap), so no `ValueMAC` is needed.
    pub fn authenticates(self) -> bool {
        matches!(self, Cipher::AesKw(_))
    }
}

/// Why a value did not open. Carries no key material and no plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The key has the wrong length for the cipher.
    #[error("the key is {have} bytes; the cipher needs {need}")]
    KeyLength {
        /// The key's length.
        have: usize,
        /// The cipher's.
        need: usize,
    },
    /// The ciphertext cannot be one of this cipher (length).
    #[error("the ciphertext has an impossible length")]
    Malformed,
    /// Padding or key-wrap integrity failed: the key (or passphrase) is not the file's.
    #[error("wrong key or passphrase")]
    WrongKey,
}

/// Decrypts one XML Encryption value (`iv ‖ ciphertext` for CBC, the wrapped key for KW).
pub fn decrypt(cipher: Cipher, key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let need = cipher.key_len();
    if key.len() != need {
        return Err(OpenError::KeyLength {
            have: key.len(),
            need,
        });
    }
    match cipher {
        Cipher::AesCbc(n) => cbc_decrypt(n, key, data),
        Cipher::AesKw(n) => kw_unwrap(n, key, data),
    }
}

/// AES-CBC with the IV in the first block; PKCS#7 padding checked in full.
fn cbc_decrypt(n: usize, key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    const BLOCK: usize = 16;
    if data.len() < 2 * BLOCK || !data.len().is_multiple_of(BLOCK) {
        return Err(OpenError::Malformed);
    }
    let (iv, ct) = data.split_at(BLOCK);
    // Decrypted in place in a buffer that is zeroed on drop, then cut to the plaintext.
    let mut buf = Zeroizing::new(ct.to_vec());
    let bad = |_| OpenError::WrongKey;
    let len = match n {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(|_| OpenError::Malformed)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map_err(bad)?
            .len(),
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv)
            .map_err(|_| OpenError::Malformed)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map_err(bad)?
            .len(),
        _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(|_| OpenError::Malformed)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map_err(bad)?
            .len(),
    };
    buf.truncate(len);
    Ok(buf)
}

/// RFC 3394 key unwrap; its integrity check failing means a wrong key (or altered data).
fn kw_unwrap(n: usize, key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    if data.len() < 24 || !data.len().is_multiple_of(8) {
        return Err(OpenError::Malformed);
    }
    let out = match n {
        16 => aes_kw::KekAes128::try_from(key)
            .map_err(|_| OpenError::Malformed)?
            .unwrap_vec(data),
        24 => aes_kw::KekAes192::try_from(key)
            .map_err(|_| OpenError::Malformed)?
            .unwrap_vec(data),
        _ => aes_kw::KekAes256::try_from(key)
            .map_err(|_| OpenError::Malformed)?
            .unwrap_vec(data),
    };
    out.map(Zeroizing::new).map_err(|_| OpenError::WrongKey)
}

/// The HMAC a `MACMethod` (or a PBKDF2 `PRF`) names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacAlg {
    /// `xmldsig#hmac-sha1` (RFC 6030's default).
    Sha1,
    /// `xmldsig-more#hmac-sha224`.
    Sha224,
    /// `xmldsig-more#hmac-sha256`.
    Sha256,
    /// `xmldsig-more#hmac-sha384`.
    Sha384,
    /// `xmldsig-more#hmac-sha512`.
    Sha512,
}

impl MacAlg {
    /// The HMAC a URI names (RFC 6030 and the XML Signature registry, RFC 6931), `None`
    /// for any other: the caller refuses the file naming it.
    pub fn from_uri(uri: &str) -> Option<MacAlg> {
        let uri = uri.trim();
        let fragment = uri
            .strip_prefix("http://www.w3.org/2000/09/xmldsig#")
            .or_else(|| uri.strip_prefix("http://www.w3.org/2001/04/xmldsig-more#"))?;
        match fragment {
            "hmac-sha1" => Some(MacAlg::Sha1),
            "hmac-sha224" => Some(MacAlg::Sha224),
            "hmac-sha256" => Some(MacAlg::Sha256),
            "hmac-sha384" => Some(MacAlg::Sha384),
            "hmac-sha512" => Some(MacAlg::Sha512),
            _ => None,
        }
    }
}

/// Whether `tag` is the HMAC of `data` under `key`; constant-time.
pub fn mac_verify(alg: MacAlg, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    fn check<M: hmac::Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
        let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
            return false;
        };
        mac.update(data);
        mac.verify_slice(tag).is_ok()
    }
    match alg {
        MacAlg::Sha1 => check::<Hmac<sha1::Sha1>>(key, data, tag),
        MacAlg::Sha224 => check::<Hmac<sha2::Sha224>>(key, data, tag),
        MacAlg::Sha256 => check::<Hmac<sha2::Sha256>>(key, data, tag),
        MacAlg::Sha384 => check::<Hmac<sha2::Sha384>>(key, data, tag),
        MacAlg::Sha512 => check::<Hmac<sha2::Sha512>>(key, data, tag),
    }
}

/// PBKDF2 with the HMAC the file's `PRF` names (HMAC-SHA1 when it names none).
pub fn pbkdf2(
    prf: MacAlg,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let iterations = NonZeroU32::new(iterations).ok_or(Error::BadKey("PBKDF2 iterations"))?;
    if !(1..=64).contains(&len) {
        return Err(Error::BadKey("PBKDF2 key length"));
    }
    let alg = match prf {
        MacAlg::Sha1 => pbkdf2::PBKDF2_HMAC_SHA1,
        MacAlg::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
        MacAlg::Sha384 => pbkdf2::PBKDF2_HMAC_SHA384,
        MacAlg::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        MacAlg::Sha224 => return Err(Error::BadKey("PBKDF2 with HMAC-SHA224")),
    };
    let mut out = Zeroizing::new(vec![0u8; len]);
    pbkdf2::derive(alg, iterations, salt, password, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    const AES128: Cipher = Cipher::AesCbc(16);

    #[test]
    fn rfc6030_figure_6_mac_key_and_secret_decrypt_and_the_mac_verifies() {
        let psk = hex::decode("12345678901234567890123456789012").unwrap();
        let mac_key = decrypt(
            AES128,
            &psk,
            &b64("ESIzRFVmd4iZABEiM0RVZgKn6WjLaTC1sbeBMSvIhRejN9vJa2BOlSaMrR7I5wSX"),
        )
        .unwrap();
        assert_eq!(
            hex::encode(&*mac_key),
            "1122334455667788990011223344556677889900"
        );
        let ct = b64("AAECAwQFBgcICQoLDA0OD+cIHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv");
        assert_eq!(
            &*decrypt(AES128, &psk, &ct).unwrap(),
            b"12345678901234567890"
        );
        let tag = b64("Su+NvtQfmvfJzF6bmQiJqoLRExc=");
        assert!(mac_verify(MacAlg::Sha1, &mac_key, &ct, &tag));
        assert!(!mac_verify(MacAlg::Sha256, &mac_key, &ct, &tag));
        let other = b64("Tu+NvtQfmvfJzF6bmQiJqoLRExc=");
        assert!(!mac_verify(MacAlg::Sha1, &mac_key, &ct, &other));
    }

    /// python-pskc `tests/encryption/kw-aes128.pskcxml` (the RFC 3394 §4.1 vector).
    #[test]
    fn rfc3394_key_unwrap() {
        let kek = hex::decode("000102030405060708090A0B0C0D0E0F").unwrap();
        let out = decrypt(
            Cipher::AesKw(16),
            &kek,
            &b64("H6aLCoEStEeu80vY+1p7gp0+hiNx0s/l"),
        );
        assert_eq!(
            hex::encode(&*out.unwrap()),
            "00112233445566778899aabbccddeeff"
        );
        let wrong = decrypt(
            Cipher::AesKw(16),
            &[1u8; 16],
            &b64("H6aLCoEStEeu80vY+1p7gp0+hiNx0s/l"),
        );
        assert_eq!(wrong.err(), Some(OpenError::WrongKey));
    }

    /// A wrong key fails the full PKCS#7 check: over many wrong keys, far fewer than the
    /// one in sixteen that a last-byte check let through unpad "successfully".
    #[test]
    fn wrong_keys_are_caught_by_the_full_padding_check() {
        let ct = b64("AAECAwQFBgcICQoLDA0OD+cIHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv");
        let passed = (0u8..=255)
            .filter(|b| decrypt(AES128, &[*b; 16], &ct).is_ok())
            .count();
        assert!(passed <= 4, "{passed} of 256 wrong keys unpadded");
    }

    #[test]
    fn uris_name_the_algorithms_and_unknown_ones_are_none() {
        let enc = "http://www.w3.org/2001/04/xmlenc#";
        assert_eq!(
            Cipher::from_uri(&format!("{enc}aes256-cbc")),
            Some(Cipher::AesCbc(32))
        );
        assert_eq!(
            Cipher::from_uri(&format!("{enc}kw-aes192")),
            Some(Cipher::AesKw(24))
        );
        assert_eq!(Cipher::from_uri(&format!("{enc}tripledes-cbc")), None);
        assert_eq!(
            Cipher::from_uri("http://www.w3.org/2001/04/xmldsig-more#camellia128-cbc"),
            None
        );
        assert_eq!(
            MacAlg::from_uri("http://www.w3.org/2001/04/xmldsig-more#hmac-sha224"),
            Some(MacAlg::Sha224)
        );
        assert_eq!(
            MacAlg::from_uri("http://www.w3.org/2000/09/xmldsig#hmac-zha9"),
            None
        );
    }

    #[test]
    fn rfc6030_figure_7_pbkdf2_key() {
        let key = pbkdf2(MacAlg::Sha1, b"qwerty", &b64("Ej7/PEpyEpw="), 1000, 16).unwrap();
        assert_eq!(hex::encode(&*key), "651e63cd57008476af1ff6422cd02e41");
    }

    #[test]
    fn malformed_ciphertexts_and_keys_are_errors_not_panics() {
        let key = [0u8; 16];
        assert_eq!(decrypt(AES128, &key, &[]).err(), Some(OpenError::Malformed));
        assert_eq!(
            decrypt(AES128, &key, &[0u8; 17]).err(),
            Some(OpenError::Malformed)
        );
        assert_eq!(
            decrypt(AES128, &[0u8; 5], &[0u8; 32]).err(),
            Some(OpenError::KeyLength { have: 5, need: 16 })
        );
        assert!(decrypt(Cipher::AesKw(32), &[0u8; 32], &[0u8; 12]).is_err());
    }
}
