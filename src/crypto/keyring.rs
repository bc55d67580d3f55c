//! The keyring: every master key this process holds, which one is active, and the
//! verification keys of retired master keys.
//!
//! KEY ROTATION (`tokend rekey`). Each master key yields, by HKDF, one key per purpose:
//! the seed key (AES-256-GCM), the ActIntentKey key, the one-time-code key and the audit
//! chain key. Everything new is made with the ACTIVE key: seals, ActIntentKeys, code
//! hashes, audit links. Everything old is checked with the key that made it:
//!
//! - a sealed seed names its key id, and opens only with that key held in full;
//! - an audit link names its key id (`KEYID:HEX`), and verifies with that key's audit key;
//! - a code hash (OOB and temporary codes) carries no id: it is checked against the code
//!   key of every key held, so codes issued before a rotation (temporary codes live up to
//!   7 days) keep working after it;
//! - an ActIntentKey is checked against every key held IN FULL. They live seconds to
//!   minutes (any change to the token voids them), so once the old master key is gone
//!   an outstanding one answers 409 and the caller inquires again, as jXchange expects.
//!
//! A retired master key is not kept: only its audit and code keys are, wrapped under the
//! active key (AES-256-GCM, [`Keyring::wrap_retired`]) and stored in the database, so the
//! old key file can be destroyed while `tokend audit verify` still checks the links made
//! before the rotation. These two keys cannot open a seed (HKDF outputs are independent),
//! and whoever holds only them cannot extend the chain past the rotation: the first link
//! made under the new key covers the last link made under the old one.
//!
//! The set of keys can grow while the service runs (a rotation started by another process
//! is learned without a restart): it lives behind a read-write lock holding an `Arc`, so a
//! reader clones the `Arc` and works without the lock; a change copies the set.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use zeroize::Zeroizing;

use super::{digest, info, Error, MasterKey, SealedSeed, Seed};
use crate::types::TokenId;

/// The verification keys of one master key: all a retired key leaves behind.
struct MacKeys {
    id: String,
    audit: hmac::Key,
    code: hmac::Key,
    /// `audit || code`, kept to wrap them under a later key.
    raw: Zeroizing<[u8; 64]>,
}

impl MacKeys {
    fn from_raw(id: &str, raw: Zeroizing<[u8; 64]>) -> MacKeys {
        MacKeys {
            id: id.to_owned(),
            audit: hmac::Key::new(hmac::HMAC_SHA256, &raw[..32]),
            code: hmac::Key::new(hmac::HMAC_SHA256, &raw[32..]),
            raw,
        }
    }

    fn from_master(key: &MasterKey) -> Result<MacKeys, Error> {
        let mut raw = Zeroizing::new([0u8; 64]);
        raw[..32].copy_from_slice(key.derive_raw(info::AUDIT)?.as_ref());
        raw[32..].copy_from_slice(key.derive_raw(info::CODE)?.as_ref());
        Ok(MacKeys::from_raw(&key.key_id(), raw))
    }
}

/// A master key held in full.
struct FullKey {
    id: String,
    fingerprint: String,
    seal: LessSafeKey,
    wrap: LessSafeKey,
    intent: hmac::Key,
    macs: Arc<MacKeys>,
}

impl FullKey {
    fn load(key: &MasterKey) -> Result<FullKey, Error> {
        let seal: UnboundKey = key.derive(info::SEED, &aead::AES_256_GCM)?;
        let wrap: UnboundKey = key.derive(info::WRAP, &aead::AES_256_GCM)?;
        Ok(FullKey {
            id: key.key_id(),
            fingerprint: key.fingerprint(),
            seal: LessSafeKey::new(seal),
            wrap: LessSafeKey::new(wrap),
            intent: key.derive(info::INTENT, hmac::HMAC_SHA256)?,
            macs: Arc::new(MacKeys::from_master(key)?),
        })
    }
}

/// One consistent view of the keys.
#[derive(Clone)]
struct KeySet {
    active: Arc<FullKey>,
    /// Every key held in full, the active one included.
    full: Vec<Arc<FullKey>>,
    /// Verification keys of retired keys not held in full.
    retired: Vec<Arc<MacKeys>>,
}

impl KeySet {
    fn full(&self, id: &str) -> Option<&Arc<FullKey>> {
        self.full.iter().find(|k| k.id == id)
    }

    fn macs(&self) -> impl Iterator<Item = &MacKeys> {
        // The active key first: it made nearly everything that is checked.
        self.by_use()
            .map(|k| &*k.macs)
            .chain(self.retired.iter().map(|m| &**m))
    }

    /// The keys held in full, the active one first.
    fn by_use(&self) -> impl Iterator<Item = &FullKey> {
        let active = &*self.active;
        std::iter::once(active).chain(
            self.full
                .iter()
                .map(|k| &**k)
                .filter(move |k| k.id != active.id),
        )
    }
}

/// Every key tokend may use, shared by the whole process.
pub struct Keyring {
    keys: RwLock<Arc<KeySet>>,
    rng: SystemRandom,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keyring(active={})", self.keys().active.id)
    }
}

/// Associated data of a wrapped retired key: binds the blob to the key it carries.
fn wrap_aad(id: &str) -> Vec<u8> {
    [b"tokend retired key ".as_slice(), id.as_bytes()].concat()
}

/// HMAC over the previous link (length-prefixed, so no two inputs collide) and the row.
fn audit_mac(key: &hmac::Key, previous: &str, row: &[u8]) -> String {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(&(previous.len() as u64).to_be_bytes());
    ctx.update(previous.as_bytes());
    ctx.update(row);
    digest::hex(ctx.sign().as_ref())
}

impl Keyring {
    /// A keyring that holds `active` only and makes everything new with it.
    pub fn new(active: &MasterKey) -> Result<Keyring, Error> {
        let active = Arc::new(FullKey::load(active)?);
        Ok(Keyring {
            keys: RwLock::new(Arc::new(KeySet {
                full: vec![Arc::clone(&active)],
                active,
                retired: Vec::new(),
            })),
            rng: SystemRandom::new(),
        })
    }

    /// Adds another key held in full (e.g. the outgoing key of a rotation).
    pub fn with_retired(self, old: &MasterKey) -> Result<Keyring, Error> {
        self.add_key(old)?;
        Ok(self)
    }

    fn keys(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn update(&self, f: impl FnOnce(&mut KeySet) -> Result<(), Error>) -> Result<(), Error> {
        let mut guard = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = KeySet::clone(&guard);
        f(&mut next)?;
        *guard = Arc::new(next);
        Ok(())
    }

    /// Holds `key` in full from now on (it opens its seeds); answers false if it already
    /// was. The active key does not change.
    pub fn add_key(&self, key: &MasterKey) -> Result<bool, Error> {
        if self.has_key(&key.key_id()) {
            return Ok(false);
        }
        let loaded = Arc::new(FullKey::load(key)?);
        self.update(|set| {
            set.retired.retain(|m| m.id != loaded.id);
            if set.full(&loaded.id).is_none() {
                set.full.push(loaded);
            }
            Ok(())
        })?;
        Ok(true)
    }

    /// Whether the key `id` is held in full.
    pub fn has_key(&self, id: &str) -> bool {
        self.keys().full(id).is_some()
    }

    /// Makes the held key `id` the one everything new is made with.
    pub fn set_active(&self, id: &str) -> Result<(), Error> {
        self.update(|set| {
            let key = set
                .full(id)
                .cloned()
                .ok_or_else(|| Error::UnknownKeyId(id.to_owned()))?;
            set.active = key;
            Ok(())
        })
    }

    /// Id of the key new seals use.
    pub fn active_key_id(&self) -> String {
        self.keys().active.id.clone()
    }

    /// Fingerprint of the active master key (see [`MasterKey::fingerprint`]).
    pub fn fingerprint(&self) -> String {
        self.keys().active.fingerprint.clone()
    }

    /// Encrypts a seed for one token with the active key.
    pub fn seal(&self, token_id: &TokenId, seed: &Seed) -> Result<SealedSeed, Error> {
        self.seal_bound(token_id.as_str().as_bytes(), seed.expose())
    }

    /// Decrypts a token's seed; fails if the key id is not held, the data was altered, or
    /// the ciphertext belongs to another token.
    pub fn open(&self, token_id: &TokenId, sealed: &SealedSeed) -> Result<Seed, Error> {
        let plain = self.open_bound(token_id.as_str().as_bytes(), sealed)?;
        Ok(Seed::new(plain.to_vec()))
    }

    /// Encrypts `plain` with the active seed key, bound to `aad` (a caller's own context,
    /// e.g. an SMS text to its session and number; never a TokenId's shape, so nothing
    /// sealed here opens as a seed).
    pub fn seal_bound(&self, aad: &[u8], plain: &[u8]) -> Result<SealedSeed, Error> {
        let keys = self.keys();
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| Error::Random)?;
        let mut in_out = plain.to_vec();
        keys.active
            .seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut in_out,
            )
            .map_err(|_| Error::Open)?;
        Ok(SealedSeed {
            key_id: keys.active.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext: in_out,
        })
    }

    /// Decrypts what [`Keyring::seal_bound`] sealed with the same `aad`.
    pub fn open_bound(&self, aad: &[u8], sealed: &SealedSeed) -> Result<Zeroizing<Vec<u8>>, Error> {
        let keys = self.keys();
        let key = keys
            .full(&sealed.key_id)
            .ok_or_else(|| Error::UnknownKeyId(sealed.key_id.clone()))?;
        let nonce = Nonce::try_assume_unique_for_key(&sealed.nonce).map_err(|_| Error::Open)?;
        let mut in_out = Zeroizing::new(sealed.ciphertext.clone());
        let len = key
            .seal
            .open_in_place(nonce, Aad::from(aad), &mut in_out)
            .map_err(|_| Error::Open)?
            .len();
        in_out.truncate(len);
        Ok(in_out)
    }

    /// An unforgeable tag over `message` (used for jXchange `ActIntentKey`), base64url.
    pub fn intent_tag(&self, message: &[u8]) -> String {
        digest::b64url(hmac::sign(&self.keys().active.intent, message).as_ref())
    }

    /// Checks a tag made by [`Keyring::intent_tag`] with any key held in full.
    pub fn verify_intent_tag(&self, message: &[u8], tag: &str) -> bool {
        use base64::Engine as _;
        let Ok(raw) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        let keys = self.keys();
        let valid = keys
            .by_use()
            .any(|k| hmac::verify(&k.intent, message, &raw).is_ok());
        valid
    }

    /// The stored form of a short one-time code (temporary and OOB codes): a keyed hash,
    /// so a copy of the database does not let anyone test the small code space offline.
    pub fn code_hash(&self, message: &[u8]) -> String {
        digest::hex(hmac::sign(&self.keys().active.macs.code, message).as_ref())
    }

    /// Whether `message` hashes to `stored` under the code key of any key held, active or
    /// retired, compared in constant time.
    pub fn is_code_hash(&self, message: &[u8], stored: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        self.keys().macs().any(|m| {
            let hash = digest::hex(hmac::sign(&m.code, message).as_ref());
            bool::from(hash.as_bytes().ct_eq(stored.as_bytes()))
        })
    }

    /// The audit chain link of a row: `KEYID:HEX` of an HMAC over the previous row's link
    /// and this row's canonical bytes. Keyed with a key derived from the master key, so
    /// whoever can write the database but not read the key file cannot forge or re-link
    /// rows; the key id lets links made before a rotation verify after it.
    pub fn audit_link(&self, previous: &str, row: &[u8]) -> String {
        let keys = self.keys();
        let key = &keys.active.macs;
        format!("{}:{}", key.id, audit_mac(&key.audit, previous, row))
    }

    /// Whether `link` is the right link for `previous` and `row`, in constant time.
    pub fn verify_audit_link(&self, previous: &str, row: &[u8], link: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        let Some((id, _)) = link.split_once(':') else {
            return false;
        };
        let keys = self.keys();
        let Some(key) = keys.macs().find(|m| m.id == id) else {
            return false;
        };
        let expected = format!("{id}:{}", audit_mac(&key.audit, previous, row));
        bool::from(expected.as_bytes().ct_eq(link.as_bytes()))
    }

    /// Wraps the verification keys (audit, code) of the key `id`, held in full or retired,
    /// under the active key: `(active key id, nonce || ciphertext || tag)`, for the
    /// database. Never wraps a seed key.
    pub fn wrap_retired(&self, id: &str) -> Result<(String, Vec<u8>), Error> {
        let keys = self.keys();
        let macs = keys
            .macs()
            .find(|m| m.id == id)
            .ok_or_else(|| Error::UnknownKeyId(id.to_owned()))?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| Error::Random)?;
        let mut in_out = macs.raw.to_vec();
        keys.active
            .wrap
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(wrap_aad(id)),
                &mut in_out,
            )
            .map_err(|_| Error::Open)?;
        Ok((keys.active.id.clone(), [nonce.as_slice(), &in_out].concat()))
    }

    /// Takes up the verification keys of the retired key `id` from a blob made by
    /// [`Keyring::wrap_retired`] under the key `wrapped_by`, which must be held in full.
    /// Nothing changes if `id`'s keys are already held.
    pub fn add_wrapped(&self, id: &str, wrapped_by: &str, blob: &[u8]) -> Result<(), Error> {
        let keys = self.keys();
        if keys.macs().any(|m| m.id == id) {
            return Ok(());
        }
        let wrapper = keys
            .full(wrapped_by)
            .ok_or_else(|| Error::UnknownKeyId(wrapped_by.to_owned()))?;
        if blob.len() < NONCE_LEN {
            return Err(Error::Open);
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::Open)?;
        let mut in_out = Zeroizing::new(sealed.to_vec());
        let plain = wrapper
            .wrap
            .open_in_place(nonce, Aad::from(wrap_aad(id)), &mut in_out)
            .map_err(|_| Error::Open)?;
        if plain.len() != 64 {
            return Err(Error::Open);
        }
        let mut raw = Zeroizing::new([0u8; 64]);
        raw.copy_from_slice(plain);
        let macs = Arc::new(MacKeys::from_raw(id, raw));
        self.update(|set| {
            if !set.macs().any(|m| m.id == macs.id) {
                set.retired.push(macs);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(s: &str) -> TokenId {
        TokenId::parse(s).unwrap()
    }

    #[test]
    fn hmac_keys_from_raw_bytes_equal_the_derived_keys() {
        // Links and code hashes made before raw derivation existed must still verify.
        let key = MasterKey::generate().unwrap();
        for label in [info::AUDIT, info::CODE, info::INTENT] {
            let derived: hmac::Key = key.derive(label, hmac::HMAC_SHA256).unwrap();
            let raw = key.derive_raw(label).unwrap();
            let from_raw = hmac::Key::new(hmac::HMAC_SHA256, raw.as_ref());
            assert_eq!(
                hmac::sign(&derived, b"row").as_ref(),
                hmac::sign(&from_raw, b"row").as_ref()
            );
        }
    }

    #[test]
    fn a_rotation_switches_new_seals_and_keeps_old_ones_readable_while_both_are_held() {
        let (old, new) = (
            MasterKey::generate().unwrap(),
            MasterKey::generate().unwrap(),
        );
        let ring = Keyring::new(&old).unwrap();
        let before = ring.seal(&token("T1"), &Seed::new(vec![5; 20])).unwrap();
        assert!(ring.add_key(&new).unwrap());
        assert!(!ring.add_key(&new).unwrap(), "held already");
        assert_eq!(
            ring.active_key_id(),
            old.key_id(),
            "adding does not activate"
        );
        ring.set_active(&new.key_id()).unwrap();
        let after = ring.seal(&token("T1"), &Seed::new(vec![5; 20])).unwrap();
        assert_eq!(
            (before.key_id, after.key_id.clone()),
            (old.key_id(), new.key_id())
        );
        let before = Keyring::new(&old)
            .unwrap()
            .seal(&token("T2"), &Seed::new(vec![6; 20]))
            .unwrap();
        assert_eq!(ring.open(&token("T2"), &before).unwrap().expose(), &[6; 20]);
        assert_eq!(ring.open(&token("T1"), &after).unwrap().expose(), &[5; 20]);
        assert!(matches!(
            ring.set_active("0000000000000000"),
            Err(Error::UnknownKeyId(_))
        ));
    }

    #[test]
    fn a_retired_key_leaves_its_audit_and_code_keys_but_no_seed_or_intent_key() {
        let (old, new) = (
            MasterKey::generate().unwrap(),
            MasterKey::generate().unwrap(),
        );
        let old_ring = Keyring::new(&old).unwrap();
        let link = old_ring.audit_link("", b"row 1");
        let code = old_ring.code_hash(b"7\n12345678");
        let tag = old_ring.intent_tag(b"T1|3|Upd");
        let sealed = old_ring
            .seal(&token("T1"), &Seed::new(vec![1; 20]))
            .unwrap();

        // The rotation: both held, the new one active; the old one's keys are wrapped.
        let rotating = Keyring::new(&new).unwrap().with_retired(&old).unwrap();
        assert!(
            rotating.verify_intent_tag(b"T1|3|Upd", &tag),
            "both held: still valid"
        );
        let (wrapped_by, blob) = rotating.wrap_retired(&old.key_id()).unwrap();
        assert_eq!(wrapped_by, new.key_id());
        assert!(!blob
            .windows(32)
            .any(|w| w == old.derive_raw(info::AUDIT).unwrap().as_ref()));

        // After it: only the new key, and the blob from the database.
        let after = Keyring::new(&new).unwrap();
        assert!(!after.verify_audit_link("", b"row 1", &link));
        after
            .add_wrapped(&old.key_id(), &wrapped_by, &blob)
            .unwrap();
        assert!(after.verify_audit_link("", b"row 1", &link));
        assert!(!after.verify_audit_link("", b"row 2", &link));
        assert!(after.is_code_hash(b"7\n12345678", &code));
        assert!(!after.is_code_hash(b"7\n12345679", &code));
        assert!(
            !after.verify_intent_tag(b"T1|3|Upd", &tag),
            "intent keys are not carried"
        );
        assert!(matches!(
            after.open(&token("T1"), &sealed),
            Err(Error::UnknownKeyId(_))
        ));
        // New links are made with the new key and name it.
        assert!(after.audit_link(&link, b"row 2").starts_with(&new.key_id()));

        // A later rotation carries the old keys on: re-wrapped under the next key.
        let next = MasterKey::generate().unwrap();
        after.add_key(&next).unwrap();
        after.set_active(&next.key_id()).unwrap();
        let (by, again) = after.wrap_retired(&old.key_id()).unwrap();
        let last = Keyring::new(&next).unwrap();
        last.add_wrapped(&old.key_id(), &by, &again).unwrap();
        assert!(last.verify_audit_link("", b"row 1", &link));
    }

    #[test]
    fn a_tampered_or_misattributed_wrapped_key_is_refused() {
        let (old, new) = (
            MasterKey::generate().unwrap(),
            MasterKey::generate().unwrap(),
        );
        let rotating = Keyring::new(&new).unwrap().with_retired(&old).unwrap();
        let (by, mut blob) = rotating.wrap_retired(&old.key_id()).unwrap();
        let fresh = Keyring::new(&new).unwrap();
        assert!(matches!(
            fresh.add_wrapped("ffffffffffffffff", &by, &blob),
            Err(Error::Open)
        ));
        assert!(matches!(
            fresh.add_wrapped(&old.key_id(), "ffffffffffffffff", &blob),
            Err(Error::UnknownKeyId(_))
        ));
        blob[20] ^= 1;
        assert!(matches!(
            fresh.add_wrapped(&old.key_id(), &by, &blob),
            Err(Error::Open)
        ));
        assert!(matches!(
            fresh.add_wrapped(&old.key_id(), &by, &blob[..5]),
            Err(Error::Open)
        ));
    }
}
