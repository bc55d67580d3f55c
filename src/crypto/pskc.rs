//! The cryptography of PSKC (RFC 6030) seed files: AES-128-CBC with the IV in front of
//! the ciphertext (XML Encryption), HMAC-SHA1 value MACs, and PBKDF2-HMAC-SHA1 key
//! derivation. CBC is built here over the `aes` block cipher (ring has no CBC).

use aes::cipher::{BlockDecrypt as _, KeyInit as _};
use ring::{hmac, pbkdf2};
use std::num::NonZeroU32;
use zeroize::Zeroizing;

use super::Error;

const BLOCK: usize = 16;

/// Decrypts `iv ‖ ciphertext` with AES-128-CBC and removes the padding (PKCS#7, as XML
/// Encryption's padding reads the last byte as the pad length).
pub fn aes128_cbc_decrypt(key: &[u8], iv_and_ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let cipher = aes::Aes128::new_from_slice(key).map_err(|_| Error::BadKey("AES-128 key"))?;
    if iv_and_ct.len() < 2 * BLOCK || !iv_and_ct.len().is_multiple_of(BLOCK) {
        return Err(Error::Open);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(iv_and_ct.len() - BLOCK));
    let mut prev = &iv_and_ct[..BLOCK];
    for chunk in iv_and_ct[BLOCK..].chunks(BLOCK) {
        let mut block = aes::Block::clone_from_slice(chunk);
        cipher.decrypt_block(&mut block);
        out.extend(block.iter().zip(prev).map(|(b, p)| b ^ p));
        prev = chunk;
    }
    let pad = usize::from(*out.last().ok_or(Error::Open)?);
    if pad == 0 || pad > BLOCK || pad > out.len() {
        return Err(Error::Open);
    }
    let keep = out.len() - pad;
    out.truncate(keep);
    Ok(out)
}

/// Whether `tag` is HMAC-SHA1(key, data); constant-time.
pub fn hmac_sha1_verify(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    hmac::verify(&key, data, tag).is_ok()
}

/// PBKDF2-HMAC-SHA1.
pub fn pbkdf2_sha1(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let iterations = NonZeroU32::new(iterations).ok_or(Error::BadKey("PBKDF2 iterations"))?;
    if !(1..=64).contains(&len) {
        return Err(Error::BadKey("PBKDF2 key length"));
    }
    let mut out = Zeroizing::new(vec![0u8; len]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA1,
        iterations,
        salt,
        password,
        &mut out,
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    #[test]
    fn rfc6030_figure_6_mac_key_and_secret_decrypt_and_the_mac_verifies() {
        let psk = hex::decode("12345678901234567890123456789012").unwrap();
        let mac_key = aes128_cbc_decrypt(
            &psk,
            &b64("ESIzRFVmd4iZABEiM0RVZgKn6WjLaTC1sbeBMSvIhRejN9vJa2BOlSaMrR7I5wSX"),
        )
        .unwrap();
        assert_eq!(
            hex::encode(&*mac_key),
            "1122334455667788990011223344556677889900"
        );
        let ct = b64("AAECAwQFBgcICQoLDA0OD+cIHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv");
        let secret = aes128_cbc_decrypt(&psk, &ct).unwrap();
        assert_eq!(&*secret, b"12345678901234567890");
        assert!(hmac_sha1_verify(
            &mac_key,
            &ct,
            &b64("Su+NvtQfmvfJzF6bmQiJqoLRExc=")
        ));
        assert!(!hmac_sha1_verify(
            &mac_key,
            &ct,
            &b64("Tu+NvtQfmvfJzF6bmQiJqoLRExc=")
        ));
    }

    #[test]
    fn rfc6030_figure_7_pbkdf2_key() {
        let key = pbkdf2_sha1(b"qwerty", &b64("Ej7/PEpyEpw="), 1000, 16).unwrap();
        assert_eq!(hex::encode(&*key), "651e63cd57008476af1ff6422cd02e41");
    }

    #[test]
    fn malformed_ciphertexts_are_errors_not_panics() {
        let key = [0u8; 16];
        assert!(aes128_cbc_decrypt(&key, &[]).is_err());
        assert!(aes128_cbc_decrypt(&key, &[0u8; 17]).is_err());
        assert!(aes128_cbc_decrypt(&[0u8; 5], &[0u8; 32]).is_err());
    }
}
