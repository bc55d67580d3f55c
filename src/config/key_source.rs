//! Where the master key comes from (issue 32): `master_key_source` = `file` (the default:
//! `master_key_file`, else `<data_dir>/master.key`), `env` (`TOKEND_MASTER_KEY` only), or
//! `pkcs11` (an HSM's AES key, named by the `pkcs11_*` settings, wraps the data keys that
//! seal the seeds). Flattened into [`super::Settings`] (root keys). Data only.
//!
//! THE PIN NEVER GOES IN THE CONFIGURATION: it is read from `TOKEND_PKCS11_PIN` or from
//! the file `pkcs11_pin_file` (a credential file, e.g. systemd's `LoadCredential=`), and a
//! `pkcs11_pin` key in Rocket.toml or `ROCKET_PKCS11_PIN` stops the start.

use anyhow::{bail, Context as _};
use serde::Deserialize;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// Environment variable holding the HSM user PIN.
pub const PIN_ENV: &str = "TOKEND_PKCS11_PIN";

/// Which source `master_key_source` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A key file (today's behaviour; `TOKEND_MASTER_KEY` still wins when set).
    File,
    /// `TOKEND_MASTER_KEY` and nothing else: a start without it is refused.
    Env,
    /// A PKCS#11 module (an HSM): the key never leaves it.
    Pkcs11,
}

/// The key source settings.
#[derive(Debug, Clone, Deserialize)]
pub struct KeySource {
    /// `file` (default), `env` or `pkcs11`.
    #[serde(default = "default_source")]
    pub master_key_source: Source,
    /// The vendor's PKCS#11 library (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    #[serde(default)]
    pub pkcs11_module: Option<PathBuf>,
    /// The label of the token (the HSM partition) holding the key.
    #[serde(default)]
    pub pkcs11_token_label: Option<String>,
    /// The label (CKA_LABEL) of the AES key in that token (default `tokend-master`).
    #[serde(default = "default_key_label")]
    pub pkcs11_key_label: String,
    /// A file holding the user PIN (first line); `TOKEND_PKCS11_PIN` wins over it.
    #[serde(default)]
    pub pkcs11_pin_file: Option<PathBuf>,
    /// Refused when present: see the module documentation.
    #[serde(default)]
    pkcs11_pin: Option<serde::de::IgnoredAny>,
}

/// Their names, for the unknown-key warning.
pub const KEYS: &[&str] = &[
    "master_key_source",
    "pkcs11_module",
    "pkcs11_token_label",
    "pkcs11_key_label",
    "pkcs11_pin_file",
    "pkcs11_pin",
];

fn default_source() -> Source {
    Source::File
}

fn default_key_label() -> String {
    "tokend-master".to_owned()
}

/// What it takes to reach the HSM, checked complete.
#[derive(Clone)]
pub struct Pkcs11Settings {
    /// `pkcs11_module`.
    pub module: PathBuf,
    /// `pkcs11_token_label`.
    pub token_label: String,
    /// `pkcs11_key_label`.
    pub key_label: String,
    /// The user PIN. Never logged.
    pub pin: Zeroizing<String>,
    /// Where the PIN came from, for messages (`TOKEND_PKCS11_PIN` or the file).
    pub pin_source: String,
}

impl std::fmt::Debug for Pkcs11Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Pkcs11Settings(module={}, token={:?}, key={:?}, pin from {})",
            self.module.display(),
            self.token_label,
            self.key_label,
            self.pin_source
        )
    }
}

impl KeySource {
    /// Refuses a PIN in the configuration and a pkcs11 source without its module or
    /// token label.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.pkcs11_pin.is_some() {
            bail!(
                "pkcs11_pin is set in the configuration (Rocket.toml or ROCKET_PKCS11_PIN): \
                 the HSM PIN must never be in the configuration; remove it and give it in \
                 {PIN_ENV} or in a file named by pkcs11_pin_file"
            );
        }
        if self.master_key_source == Source::Pkcs11 {
            if self.pkcs11_module.is_none() {
                bail!("master_key_source = \"pkcs11\" needs pkcs11_module (the vendor's PKCS#11 library)");
            }
            if self.pkcs11_token_label.is_none() {
                bail!("master_key_source = \"pkcs11\" needs pkcs11_token_label (the HSM token's label)");
            }
        }
        if self.pkcs11_key_label.is_empty() {
            bail!("pkcs11_key_label must not be empty");
        }
        Ok(())
    }

    /// The HSM settings with the PIN read (from `TOKEND_PKCS11_PIN`, else
    /// `pkcs11_pin_file`), whatever `master_key_source` says (`tokend hsm init` and a
    /// rekey into the HSM need them before the source is pkcs11); an error naming the
    /// missing setting.
    pub fn pkcs11(&self) -> anyhow::Result<Pkcs11Settings> {
        let module = self.pkcs11_module.clone().context(
            "pkcs11_module is not set (ROCKET_PKCS11_MODULE): the path of the HSM vendor's \
             PKCS#11 library",
        )?;
        let token_label = self.pkcs11_token_label.clone().context(
            "pkcs11_token_label is not set (ROCKET_PKCS11_TOKEN_LABEL): the label of the \
             HSM token that holds the key",
        )?;
        let (pin, pin_source) = self.read_pin()?;
        Ok(Pkcs11Settings {
            module,
            token_label,
            key_label: self.pkcs11_key_label.clone(),
            pin,
            pin_source,
        })
    }

    fn read_pin(&self) -> anyhow::Result<(Zeroizing<String>, String)> {
        if let Ok(pin) = std::env::var(PIN_ENV) {
            return Ok((Zeroizing::new(pin), PIN_ENV.to_owned()));
        }
        let Some(file) = &self.pkcs11_pin_file else {
            bail!(
                "no HSM PIN: set {PIN_ENV}, or pkcs11_pin_file to a file holding it (never \
                 the PIN itself in the configuration)"
            );
        };
        let text = Zeroizing::new(std::fs::read_to_string(file).with_context(|| {
            format!(
                "cannot read the HSM PIN from pkcs11_pin_file = {}",
                file.display()
            )
        })?);
        let pin = Zeroizing::new(text.lines().next().unwrap_or_default().trim().to_owned());
        if pin.is_empty() {
            bail!("pkcs11_pin_file = {} is empty", file.display());
        }
        Ok((pin, format!("pkcs11_pin_file = {}", file.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> KeySource {
        use rocket::figment::providers::{Format as _, Toml};
        rocket::figment::Figment::from(Toml::string(toml))
            .extract()
            .unwrap()
    }

    #[test]
    fn file_is_the_default_and_pkcs11_needs_its_module_and_token() {
        let s = parse("");
        assert_eq!(s.master_key_source, Source::File);
        assert_eq!(s.pkcs11_key_label, "tokend-master");
        s.check().unwrap();
        let e = parse("master_key_source = \"pkcs11\"").check().unwrap_err();
        assert!(e.to_string().contains("pkcs11_module"), "{e}");
        let e = parse("master_key_source = \"pkcs11\"\npkcs11_module = \"/x.so\"")
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("pkcs11_token_label"), "{e}");
    }

    #[test]
    fn a_pin_in_the_configuration_is_refused_without_echoing_it() {
        let e = parse("pkcs11_pin = \"123456\"").check().unwrap_err();
        assert!(e.to_string().contains("pkcs11_pin"));
        assert!(!e.to_string().contains("123456"));
    }

    #[test]
    fn the_pin_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pin");
        std::fs::write(&file, "4321\n").unwrap();
        let s = parse(&format!(
            "pkcs11_module = \"/x.so\"\npkcs11_token_label = \"t\"\npkcs11_pin_file = {:?}",
            file.display().to_string()
        ));
        if std::env::var(PIN_ENV).is_err() {
            let p = s.pkcs11().unwrap();
            assert_eq!(p.pin.as_str(), "4321");
            assert!(!format!("{p:?}").contains("4321"));
        }
    }
}
