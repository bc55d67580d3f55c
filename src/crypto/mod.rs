//! Seed encryption and key material. The ONLY module that names `ring`.
//!
//! Seeds are sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the master key,
//! with a random 96-bit nonce and the TokenId as associated data, so a ciphertext copied to
//! another token's row does not open. Each sealed seed carries the id of the key that
//! sealed it, so `rekey` can rotate keys one row at a time (see `keyring` for what a
//! rotation keeps and what it replaces). Imports: ring, zeroize, and `types::TokenId` only;
//! `pskc` also names the RustCrypto crates (cbc, aes, aes-kw, hmac, sha1, sha2) that PSKC
//! files need and ring lacks; `hsm` names cryptoki (PKCS#11), for a master key kept in an
//! HSM that wraps the data keys (envelope encryption).

pub mod digest;
pub mod hsm;
pub mod keyfile;
mod keyring;
pub mod password;
pub mod pskc;

pub use keyring::Keyring;

use base64::Engine as _;
use ring::hkdf;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use std::fmt;
use zeroize::Zeroizing;

/// Why a crypto operation failed. Opaque on purpose: it never carries key material or
/// plaintext, and a failed open does not say whether the key, nonce or AAD was wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// A key was not 32 bytes of valid base64.
    #[error("invalid master key: {0}")]
    BadKey(&'static str),
    /// A ciphertext names a key this keyring does not hold.
    #[error("no key with id {0} is loaded")]
    UnknownKeyId(String),
    /// Authentication of a ciphertext failed.
    #[error("a sealed seed failed to decrypt (wrong key, or tampered data)")]
    Open,
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The 32-byte master key. No `Display`, no `Serialize`, a redacted `Debug`, zeroed on drop.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id={})", self.key_id())
    }
}

impl MasterKey {
    /// Draws a fresh key from the system random generator.
    pub fn generate() -> Result<MasterKey, Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| Error::Random)?;
        Ok(MasterKey(bytes))
    }

    /// Parses the base64 text form (standard alphabet, white space around it ignored).
    pub fn from_base64(text: &str) -> Result<MasterKey, Error> {
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| Error::BadKey("not base64"))?,
        );
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| Error::BadKey("must decode to exactly 32 bytes"))?;
        Ok(MasterKey(Zeroizing::new(bytes)))
    }

    /// The base64 text form, for writing a key file.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0.as_ref()))
    }

    /// A public fingerprint (hex HMAC-SHA256 of a fixed label), stored in the database so
    /// the service can refuse to start with a different key instead of failing every
    /// validation.
    pub fn fingerprint(&self) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.0.as_ref());
        digest::hex(hmac::sign(&key, b"tokend master key fingerprint v1").as_ref())
    }

    /// A short id for this key, stored beside every ciphertext it seals.
    pub fn key_id(&self) -> String {
        self.fingerprint()[..16].to_owned()
    }

    /// HKDF-SHA256 expansion of the master key for one purpose, named by `info`, so the
    /// seed key and the ActIntentKey key are independent.
    pub(crate) fn derive<L, K>(&self, info: &[u8], len: L) -> Result<K, Error>
    where
        L: hkdf::KeyType,
        K: for<'a> From<hkdf::Okm<'a, L>>,
    {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"tokend").extract(self.0.as_ref());
        let info = [info];
        let okm = prk
            .expand(&info, len)
            .map_err(|_| Error::BadKey("key derivation failed"))?;
        Ok(K::from(okm))
    }

    /// The 32 raw bytes of an HMAC-SHA256 key derived for `info`: the same key as
    /// `derive(info, hmac::HMAC_SHA256)` (ring fills the digest length, 32 bytes, and keys
    /// HMAC with them; a unit test pins it), but as bytes, so a retired key's verification
    /// keys can be wrapped and carried across a rotation.
    pub(crate) fn derive_raw(&self, info: &[u8]) -> Result<Zeroizing<[u8; 32]>, Error> {
        struct Len32;
        impl hkdf::KeyType for Len32 {
            fn len(&self) -> usize {
                32
            }
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"tokend").extract(self.0.as_ref());
        let info = [info];
        let okm = prk
            .expand(&info, Len32)
            .map_err(|_| Error::BadKey("key derivation failed"))?;
        let mut raw = Zeroizing::new([0u8; 32]);
        okm.fill(raw.as_mut())
            .map_err(|_| Error::BadKey("key derivation failed"))?;
        Ok(raw)
    }
}

/// HKDF labels: one independent key per purpose.
pub(crate) mod info {
    /// AES-256-GCM key that seals seeds.
    pub const SEED: &[u8] = b"tokend seed AES-256-GCM v1";
    /// HMAC key of jXchange ActIntentKeys.
    pub const INTENT: &[u8] = b"tokend ActIntentKey HMAC v1";
    /// HMAC key of stored one-time codes (OOB, temporary codes).
    pub const CODE: &[u8] = b"tokend one-time code hash v1";
    /// HMAC key of the audit chain.
    pub const AUDIT: &[u8] = b"tokend audit chain HMAC v1";
    /// AES-256-GCM key that wraps a retired key's verification keys.
    pub const WRAP: &[u8] = b"tokend retired key wrap v1";
}

/// A seed in clear, only ever in memory: zeroed on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct Seed(Zeroizing<Vec<u8>>);

impl Seed {
    /// Wraps bytes that are already a seed.
    pub fn new(bytes: Vec<u8>) -> Seed {
        Seed(Zeroizing::new(bytes))
    }
    /// Draws `len` random bytes from the system generator.
    pub fn generate(len: usize) -> Result<Seed, Error> {
        Ok(Seed::new(digest::random_bytes(len)?))
    }
    /// The raw bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether the seed is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seed(<{} bytes redacted>)", self.0.len())
    }
}

/// A seed as stored: the sealing key's id, the nonce, and ciphertext with its GCM tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSeed {
    /// Id of the master key that sealed it.
    pub key_id: String,
    /// The 96-bit GCM nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl SealedSeed {
    /// One column's bytes: the key id's length (one byte), the key id, the nonce, the
    /// ciphertext (for data sealed beside a row, such as an SMS text).
    pub fn to_bytes(&self) -> Vec<u8> {
        let id = self.key_id.as_bytes();
        let mut out = Vec::with_capacity(1 + id.len() + self.nonce.len() + self.ciphertext.len());
        out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&id[..id.len().min(255)]);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// The inverse of [`SealedSeed::to_bytes`]; `None` when too short.
    pub fn from_bytes(bytes: &[u8]) -> Option<SealedSeed> {
        let (&len, rest) = bytes.split_first()?;
        let len = usize::from(len);
        let nonce_at = rest.get(..len).map(|_| len)?;
        let nonce = rest.get(nonce_at..nonce_at + 12)?;
        Some(SealedSeed {
            key_id: String::from_utf8(rest[..len].to_vec()).ok()?,
            nonce: nonce.to_vec(),
            ciphertext: rest.get(nonce_at + 12..)?.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TokenId;

    fn token(s: &str) -> TokenId {
        TokenId::parse(s).unwrap()
    }

    #[test]
    fn seal_then_open_round_trips() {
        let ring = Keyring::new(&MasterKey::generate().unwrap()).unwrap();
        let seed = Seed::new(b"12345678901234567890".to_vec());
        let sealed = ring.seal(&token("T1"), &seed).unwrap();
        assert_eq!(sealed.nonce.len(), 12);
        assert_ne!(&sealed.ciphertext[..20], seed.expose());
        assert_eq!(
            ring.open(&token("T1"), &sealed).unwrap().expose(),
            seed.expose()
        );
    }

    #[test]
    fn two_seals_of_one_seed_differ() {
        let ring = Keyring::new(&MasterKey::generate().unwrap()).unwrap();
        let seed = Seed::new(vec![7; 20]);
        let a = ring.seal(&token("T1"), &seed).unwrap();
        let b = ring.seal(&token("T1"), &seed).unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn tampered_ciphertext_does_not_open() {
        let ring = Keyring::new(&MasterKey::generate().unwrap()).unwrap();
        let mut sealed = ring.seal(&token("T1"), &Seed::new(vec![1; 20])).unwrap();
        sealed.ciphertext[3] ^= 1;
        assert!(matches!(ring.open(&token("T1"), &sealed), Err(Error::Open)));
    }

    #[test]
    fn ciphertext_of_another_token_does_not_open() {
        let ring = Keyring::new(&MasterKey::generate().unwrap()).unwrap();
        let sealed = ring.seal(&token("T1"), &Seed::new(vec![1; 20])).unwrap();
        assert!(matches!(ring.open(&token("T2"), &sealed), Err(Error::Open)));
    }

    #[test]
    fn unknown_key_id_and_wrong_key_are_refused() {
        let ring = Keyring::new(&MasterKey::generate().unwrap()).unwrap();
        let mut sealed = ring.seal(&token("T1"), &Seed::new(vec![1; 20])).unwrap();
        let other = Keyring::new(&MasterKey::generate().unwrap()).unwrap();
        assert!(matches!(
            other.open(&token("T1"), &sealed),
            Err(Error::UnknownKeyId(_))
        ));
        sealed.key_id = other.active_key_id().to_owned();
        assert!(matches!(
            other.open(&token("T1"), &sealed),
            Err(Error::Open)
        ));
    }

    #[test]
    fn retired_key_still_opens_after_rotation() {
        let old = MasterKey::generate().unwrap();
        let sealed = Keyring::new(&old)
            .unwrap()
            .seal(&token("T1"), &Seed::new(vec![9; 20]))
            .unwrap();
        let rotated = Keyring::new(&MasterKey::generate().unwrap())
            .unwrap()
            .with_retired(&old)
            .unwrap();
        assert_eq!(
            rotated.open(&token("T1"), &sealed).unwrap().expose(),
            &[9; 20]
        );
    }

    #[test]
    fn master_key_text_form_and_fingerprint() {
        let key = MasterKey::generate().unwrap();
        let again = MasterKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.fingerprint(), again.fingerprint());
        assert_eq!(key.fingerprint().len(), 64);
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
        assert!(!format!("{key:?}").contains(key.to_base64().as_str()));
    }

    #[test]
    fn code_hashes_are_keyed() {
        let a = Keyring::new(&MasterKey::generate().unwrap()).unwrap();
        let b = Keyring::new(&MasterKey::generate().unwrap()).unwrap();
        let h = a.code_hash(b"7\n12345678");
        assert!(a.is_code_hash(b"7\n12345678", &h));
        assert!(!a.is_code_hash(b"7\n12345679", &h));
        assert!(
            !b.is_code_hash(b"7\n12345678", &h),
            "another key, another hash"
        );
    }

    #[test]
    fn intent_tags_verify_only_their_message() {
        let ring = Keyring::new(&MasterKey::generate().unwrap()).unwrap();
        let tag = ring.intent_tag(b"T1|3|Upd");
        assert!(ring.verify_intent_tag(b"T1|3|Upd", &tag));
        assert!(!ring.verify_intent_tag(b"T1|4|Upd", &tag));
        assert!(!ring.verify_intent_tag(b"T1|3|Upd", "garbage"));
    }
}
