//! The master key in an HSM, over PKCS#11 (the `cryptoki` crate): envelope encryption.
//!
//! The HSM holds one AES-256 key per install (`pkcs11_key_label`), created sensitive and
//! non-extractable, so its value never leaves the module. It never seals a seed: it
//! wraps DATA KEYS, 32 random bytes each, by AES-256-GCM inside the HSM (C_Encrypt; the
//! associated data names the data key's id, so a wrapped key stored under another id does
//! not unwrap). A data key is an ordinary [`MasterKey`] once unwrapped: the keyring derives
//! its seed, intent, code and audit keys from it as from a key file. It is unwrapped when
//! a process starts or meets a data key it does not hold, kept in memory only (zeroed on
//! drop), so a validation makes no HSM call.
//!
//! One logged-in session is kept behind a mutex; an operation that finds the session gone
//! (the HSM restarted, the network to it cut) opens a new one and logs in again once
//! before it reports the error. The PIN is held for that, zeroed on drop, never logged.
//! Imports: cryptoki, ring's random generator, zeroize, and the parent module.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use zeroize::Zeroizing;

use super::MasterKey;

/// The GCM nonce length of a wrapped data key, bytes.
const IV_LEN: usize = 12;

/// Why the HSM could not do something. Never carries the PIN or key material.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// The PKCS#11 library could not be loaded or initialised.
    #[error("cannot load the PKCS#11 library {module}: {why}")]
    Module {
        /// The library's path.
        module: String,
        /// The loader's or the library's answer.
        why: String,
    },
    /// No token with that label is present.
    #[error("no token labelled {label:?} is present (tokens seen: {seen})")]
    NoToken {
        /// The label asked for.
        label: String,
        /// The labels of the tokens present, for the operator.
        seen: String,
    },
    /// The token refused the PIN.
    #[error("the token refused the PIN ({0})")]
    Pin(String),
    /// No AES key with that label is in the token.
    #[error("no AES key labelled {0:?} is in the token")]
    NoKey(String),
    /// A key with that label is there but is not a sensitive, non-extractable AES key.
    #[error("the key labelled {0:?} is not a sensitive, non-extractable AES-256 key")]
    Unfit(String),
    /// A wrapped data key did not unwrap (another HSM key, or altered data).
    #[error("the wrapped data key did not unwrap (another HSM key, or altered data)")]
    Unwrap,
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// Any other PKCS#11 failure (the token gone, the device in error…).
    #[error("the HSM failed: {0}")]
    Failed(String),
}

/// A short name of a PKCS#11 failure ("PinIncorrect", "TokenNotPresent"): the library's
/// long descriptions are not for logs.
fn short(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{function}: {rv:?}"),
        other => other.to_string(),
    }
}

/// Whether a failure means the session (not the request) is gone: worth one new session.
fn is_session_lost(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::TokenNotPresent
                | RvError::UserNotLoggedIn
                | RvError::GeneralError,
            _
        )
    )
}

/// Whether a key was made by [`Hsm::create_key`] or found in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Generated in the token just now.
    Created,
    /// Already there (made by another node, or by the HSM's own tools).
    Adopted,
}

/// A logged-in connection to one token of a PKCS#11 module.
pub struct Hsm {
    pkcs11: Pkcs11,
    slot: Slot,
    pin: AuthPin,
    session: Mutex<Option<Session>>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Hsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hsm(slot={})", self.slot)
    }
}

impl Hsm {
    /// Loads `module`, finds the token labelled `token_label` and logs in with `pin`.
    /// A token not found is looked for twice more, with the module loaded anew, over
    /// about a second: a module may list no token while another process writes the
    /// token's state (SoftHSM2 does, when nodes start together).
    pub fn connect(module: &Path, token_label: &str, pin: &str) -> Result<Hsm, HsmError> {
        let mut attempt = 0;
        let (pkcs11, slot) = loop {
            let pkcs11 = load(module)?;
            match find_token(&pkcs11, token_label) {
                Ok(slot) => break (pkcs11, slot),
                Err(HsmError::NoToken { .. }) if attempt < 2 => {
                    drop(pkcs11);
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(400));
                }
                Err(e) => return Err(e),
            }
        };
        let hsm = Hsm {
            pkcs11,
            slot,
            pin: AuthPin::new(pin.into()),
            session: Mutex::new(None),
            rng: SystemRandom::new(),
        };
        hsm.with_session(|_| Ok(()))?;
        Ok(hsm)
    }

    /// A new session on the token, logged in as the user.
    fn open(&self) -> Result<Session, HsmError> {
        let session = self
            .pkcs11
            .open_rw_session(self.slot)
            .map_err(|e| HsmError::Failed(short(&e)))?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(
                e @ CkError::Pkcs11(
                    RvError::PinIncorrect
                    | RvError::PinInvalid
                    | RvError::PinLenRange
                    | RvError::PinLocked
                    | RvError::PinExpired,
                    _,
                ),
            ) => Err(HsmError::Pin(short(&e))),
            Err(e) => Err(HsmError::Failed(short(&e))),
        }
    }

    /// Runs `f` on the logged-in session, opening one if needed, and once more on a new
    /// session when the first attempt finds the session gone.
    fn with_session<T>(&self, f: impl Fn(&Session) -> Result<T, CkError>) -> Result<T, HsmError> {
        let mut guard = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        for attempt in 0..2 {
            if guard.is_none() {
                *guard = Some(self.open()?);
            }
            let Some(session) = guard.as_ref() else {
                continue;
            };
            match f(session) {
                Ok(value) => return Ok(value),
                Err(e) if attempt == 0 && is_session_lost(&e) => *guard = None,
                Err(e) => {
                    if is_session_lost(&e) {
                        *guard = None;
                    }
                    return Err(HsmError::Failed(short(&e)));
                }
            }
        }
        Err(HsmError::Failed("no session".to_owned()))
    }

    /// The AES secret key labelled `label`, if one is in the token.
    fn find_key(&self, session: &Session, label: &str) -> Result<Option<ObjectHandle>, CkError> {
        let found = session.find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Label(label.as_bytes().to_vec()),
        ])?;
        Ok(found.into_iter().next())
    }

    /// Whether the key labelled `label` is in the token (an HSM round trip: the probe
    /// behind `/ready`). A key not found is looked for once more in a new session, so a
    /// token that came back (an HSM restarted, a network path restored) is seen again.
    pub fn has_key(&self, label: &str) -> Result<bool, HsmError> {
        if self.with_session(|s| Ok(self.find_key(s, label)?.is_some()))? {
            return Ok(true);
        }
        self.reset();
        self.with_session(|s| Ok(self.find_key(s, label)?.is_some()))
    }

    /// Drops the session; the next operation opens and logs in a new one.
    fn reset(&self) {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Creates the wrapping key `label` in the token (AES-256, sensitive, never
    /// extractable, usable to encrypt and decrypt only), or adopts the one already there
    /// after checking it is such a key.
    pub fn create_key(&self, label: &str) -> Result<KeyOrigin, HsmError> {
        let existing = self.with_session(|s| self.find_key(s, label))?;
        if let Some(handle) = existing {
            self.check_fit(handle, label)?;
            return Ok(KeyOrigin::Adopted);
        }
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        self.with_session(|s| s.generate_key(&Mechanism::AesKeyGen, &template))?;
        Ok(KeyOrigin::Created)
    }

    /// Refuses a key that could leave the HSM or is not AES-256.
    fn check_fit(&self, handle: ObjectHandle, label: &str) -> Result<(), HsmError> {
        let attributes = self.with_session(|s| {
            s.get_attributes(
                handle,
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::ValueLen,
                ],
            )
        })?;
        let fit = attributes.iter().all(|a| match a {
            Attribute::Sensitive(v) => *v,
            Attribute::Extractable(v) => !*v,
            Attribute::ValueLen(len) => usize::from(*len) == 32,
            _ => true,
        });
        if fit && attributes.len() == 3 {
            Ok(())
        } else {
            Err(HsmError::Unfit(label.to_owned()))
        }
    }

    /// Wraps `data_key` under the HSM key `label`: `iv || ciphertext || tag`.
    pub fn wrap(&self, label: &str, data_key: &MasterKey) -> Result<Vec<u8>, HsmError> {
        let mut iv = [0u8; IV_LEN];
        self.rng.fill(&mut iv).map_err(|_| HsmError::Random)?;
        let aad = wrap_aad(&data_key.key_id());
        let sealed = self.with_session(|s| {
            let key = self.find_key(s, label)?;
            let Some(key) = key else {
                return Ok(None);
            };
            let mut iv = iv;
            let params = GcmParams::new(&mut iv, &aad, 128.into())?;
            s.encrypt(&Mechanism::AesGcm(params), key, data_key.0.as_ref())
                .map(Some)
        })?;
        let sealed = sealed.ok_or_else(|| HsmError::NoKey(label.to_owned()))?;
        Ok([iv.as_slice(), &sealed].concat())
    }

    /// Unwraps what [`Hsm::wrap`] made for the data key `key_id` under the HSM key
    /// `label`; the data key, held in memory only.
    pub fn unwrap(&self, label: &str, key_id: &str, blob: &[u8]) -> Result<MasterKey, HsmError> {
        if blob.len() <= IV_LEN {
            return Err(HsmError::Unwrap);
        }
        let (iv, sealed) = blob.split_at(IV_LEN);
        let aad = wrap_aad(key_id);
        let plain = self.with_session(|s| {
            let Some(key) = self.find_key(s, label)? else {
                return Ok(Err(HsmError::NoKey(label.to_owned())));
            };
            let mut iv = iv.to_vec();
            let params = GcmParams::new(&mut iv, &aad, 128.into())?;
            // A GCM tag that does not verify is CKR_ENCRYPTED_DATA_INVALID in the
            // standard; SoftHSM2 answers CKR_GENERAL_ERROR. The key was found in this
            // same session a moment ago, so the device is there: either means "does
            // not unwrap", not "session lost".
            match s.decrypt(&Mechanism::AesGcm(params), key, sealed) {
                Ok(plain) => Ok(Ok(Zeroizing::new(plain))),
                Err(CkError::Pkcs11(
                    RvError::EncryptedDataInvalid
                    | RvError::EncryptedDataLenRange
                    | RvError::FunctionFailed
                    | RvError::GeneralError,
                    _,
                )) => Ok(Err(HsmError::Unwrap)),
                Err(e) => Err(e),
            }
        })??;
        let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| HsmError::Unwrap)?;
        let key = MasterKey(Zeroizing::new(bytes));
        if key.key_id() != key_id {
            return Err(HsmError::Unwrap);
        }
        Ok(key)
    }
}

/// Loads and initialises the PKCS#11 library at `module`.
fn load(module: &Path) -> Result<Pkcs11, HsmError> {
    let module_error = |e: CkError| HsmError::Module {
        module: module.display().to_string(),
        why: short(&e),
    };
    let pkcs11 = Pkcs11::new(module).map_err(module_error)?;
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(pkcs11),
        Err(e) => Err(module_error(e)),
    }
}

/// Associated data of a wrapped data key: binds the blob to the key id it carries.
fn wrap_aad(key_id: &str) -> Vec<u8> {
    [b"tokend data key ".as_slice(), key_id.as_bytes()].concat()
}

/// The slot whose token is labelled `label` (PKCS#11 pads labels with spaces).
fn find_token(pkcs11: &Pkcs11, label: &str) -> Result<Slot, HsmError> {
    let slots = pkcs11
        .get_slots_with_token()
        .map_err(|e| HsmError::Failed(short(&e)))?;
    let mut seen = Vec::new();
    for slot in slots {
        let Ok(info) = pkcs11.get_token_info(slot) else {
            continue;
        };
        let found = info.label().trim_end();
        if found == label {
            return Ok(slot);
        }
        if !found.is_empty() {
            seen.push(format!("{found:?}"));
        }
    }
    Err(HsmError::NoToken {
        label: label.to_owned(),
        seen: if seen.is_empty() {
            "none".to_owned()
        } else {
            seen.join(", ")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Debian's SoftHSM2 module.
    const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

    /// A SoftHSM2 token in a temporary directory, made by the operator's tool; the
    /// directory (keep it alive). One test only sets SOFTHSM2_CONF for this process: the
    /// module reads it once, at C_Initialize.
    fn token(label: &str, pin: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("softhsm2.conf");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        std::fs::write(
            &conf,
            format!("directories.tokendir = {}\n", tokens.display()),
        )
        .unwrap();
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", label])
            .args(["--so-pin", "so-pin-1", "--pin", pin])
            .output()
            .expect("softhsm2-util (apt package softhsm2) must be installed");
        assert!(out.status.success(), "{out:?}");
        std::env::set_var("SOFTHSM2_CONF", &conf);
        dir
    }

    #[test]
    fn a_data_key_wraps_and_unwraps_only_inside_the_token_it_was_made_in() {
        let _dir = token("unit", "1234");
        let module = Path::new(MODULE);
        assert!(matches!(
            Hsm::connect(module, "unit", "9999"),
            Err(HsmError::Pin(_))
        ));
        assert!(matches!(
            Hsm::connect(module, "other", "1234"),
            Err(HsmError::NoToken { .. })
        ));
        assert!(matches!(
            Hsm::connect(Path::new("/nonexistent/libpkcs11.so"), "unit", "1234"),
            Err(HsmError::Module { .. })
        ));
        let hsm = Hsm::connect(module, "unit", "1234").unwrap();
        assert!(!hsm.has_key("k1").unwrap());
        let data_key = MasterKey::generate().unwrap();
        assert!(matches!(hsm.wrap("k1", &data_key), Err(HsmError::NoKey(_))));
        assert_eq!(hsm.create_key("k1").unwrap(), KeyOrigin::Created);
        assert_eq!(hsm.create_key("k1").unwrap(), KeyOrigin::Adopted);
        assert_eq!(hsm.create_key("k2").unwrap(), KeyOrigin::Created);

        let blob = hsm.wrap("k1", &data_key).unwrap();
        assert!(!blob.windows(32).any(|w| w == data_key.0.as_ref()));
        let back = hsm.unwrap("k1", &data_key.key_id(), &blob).unwrap();
        assert_eq!(back.fingerprint(), data_key.fingerprint());
        assert_ne!(
            blob,
            hsm.wrap("k1", &data_key).unwrap(),
            "a fresh IV each time"
        );

        // Another HSM key, another key id, or one altered byte: no key.
        assert!(matches!(
            hsm.unwrap("k2", &data_key.key_id(), &blob),
            Err(HsmError::Unwrap)
        ));
        assert!(matches!(
            hsm.unwrap("k1", "0000000000000000", &blob),
            Err(HsmError::Unwrap)
        ));
        let mut altered = blob.clone();
        altered[20] ^= 1;
        assert!(matches!(
            hsm.unwrap("k1", &data_key.key_id(), &altered),
            Err(HsmError::Unwrap)
        ));
        assert!(matches!(
            hsm.unwrap("gone", &data_key.key_id(), &blob),
            Err(HsmError::NoKey(_))
        ));

        // A key that could leave the HSM is not adopted.
        let loose = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
            Attribute::Label(b"loose".to_vec()),
        ];
        hsm.with_session(|s| s.generate_key(&Mechanism::AesKeyGen, &loose))
            .unwrap();
        assert!(matches!(hsm.create_key("loose"), Err(HsmError::Unfit(_))));

        // The key's value cannot be read out of the token.
        let value = hsm.with_session(|s| {
            let key = self::Hsm::find_key(&hsm, s, "k1")?.unwrap();
            Ok(s.get_attributes(key, &[AttributeType::Value]))
        });
        let readable =
            matches!(value, Ok(Ok(ref a)) if a.iter().any(|a| matches!(a, Attribute::Value(_))));
        assert!(!readable, "the HSM key's value must not be readable");
    }
}
