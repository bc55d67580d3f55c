//! `tokend hsm init` and the target of `tokend rekey --to`: the command-line side of a
//! master key kept in an HSM (`bootstrap::hsm`, `domain::hsm_keys`).

use anyhow::bail;
use clap::{Subcommand, ValueEnum};
use std::path::PathBuf;

use crate::bootstrap;
use crate::config::{KeySourceKind, Settings};
use crate::crypto::hsm::KeyOrigin;

#[derive(Debug, Subcommand)]
pub(super) enum HsmCommand {
    /// Create the AES-256 key that wraps tokend's data keys in the HSM token (sensitive,
    /// never extractable), or adopt the key already there under that label (another node
    /// made it, or the HSM's own tools did). Prints `created LABEL` or `adopted LABEL`.
    /// Needs pkcs11_module, pkcs11_token_label and the PIN; not the database.
    Init {
        /// The key's label; default pkcs11_key_label.
        #[arg(long)]
        key_label: Option<String>,
    },
}

/// Where `tokend rekey` puts the new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Target {
    /// A key file in the key directory.
    File,
    /// A data key wrapped by an HSM key.
    Pkcs11,
}

/// The new key of a rotation, as the command line asked for it.
#[derive(Debug, Clone)]
pub(super) enum NewKey {
    /// A key file: the one given, or one generated into the key directory.
    File(Option<PathBuf>),
    /// A data key wrapped by the HSM key with this label.
    Pkcs11(String),
}

/// The rotation's target: `--to`, else the configured source.
pub(super) fn target(
    settings: &Settings,
    to: Option<Target>,
    label: Option<String>,
    new_key_file: Option<PathBuf>,
) -> anyhow::Result<NewKey> {
    let to = to.unwrap_or(
        if settings.key_source.master_key_source == KeySourceKind::Pkcs11 {
            Target::Pkcs11
        } else {
            Target::File
        },
    );
    match to {
        Target::File if label.is_some() => {
            bail!("--pkcs11-key-label goes with --to pkcs11")
        }
        Target::File => Ok(NewKey::File(new_key_file)),
        Target::Pkcs11 if new_key_file.is_some() => {
            bail!("--new-key-file goes with --to file")
        }
        Target::Pkcs11 => {
            Ok(NewKey::Pkcs11(label.unwrap_or_else(|| {
                settings.key_source.pkcs11_key_label.clone()
            })))
        }
    }
}

/// Runs `tokend hsm …`.
pub(super) fn run(settings: &Settings, action: HsmCommand) -> anyhow::Result<()> {
    let HsmCommand::Init { key_label } = action;
    let p = settings.key_source.pkcs11()?;
    let label = key_label.unwrap_or_else(|| p.key_label.clone());
    let hsm = bootstrap::hsm::connect(&p)?;
    let origin = hsm
        .create_key(&label)
        .map_err(|e| bootstrap::hsm::explain(e, &p))?;
    match origin {
        KeyOrigin::Created => {
            eprintln!(
                "created the AES-256 key {label:?} in the HSM token {:?} (sensitive, not \
                 extractable). BACK IT UP with the HSM's own tools: without it no seed \
                 sealed under it can ever be read",
                p.token_label
            );
            println!("created {label}");
        }
        KeyOrigin::Adopted => {
            eprintln!(
                "the HSM token {:?} already holds a fitting key {label:?}: adopted",
                p.token_label
            );
            println!("adopted {label}");
        }
    }
    Ok(())
}
