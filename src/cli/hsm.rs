//! `tokend hsm init` and the target of `tokend rekey --to`: the command-line side of a
//! master key kept in an HSM (`bootstrap::hsm`, `domain::hsm_keys`).

use anyhow::{bail, Context as _};
use clap::{Subcommand, ValueEnum};
use std::path::PathBuf;

use crate::bootstrap;
use crate::config::{KeySourceKind, Settings};
use crate::crypto::hsm::{HsmError, KeyOrigin};
use crate::crypto::MasterKey;
use crate::domain::hsm_keys::HsmKeys;
use crate::domain::Service;

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

/// A new data key wrapped by the HSM key `label` and stored wrapped: with this
/// process's HSM (master_key_source = "pkcs11"), else one connected for the move.
pub(super) fn hsm_data_key(
    settings: &Settings,
    service: &Service,
    label: &str,
) -> anyhow::Result<MasterKey> {
    let p = settings.key_source.pkcs11()?;
    let connected;
    let hsm = match service.hsm() {
        Some(hsm) => &**hsm,
        None => {
            connected = HsmKeys::new(bootstrap::hsm::connect(&p)?, &p.token_label, label);
            &connected
        }
    };
    let mut named = p.clone();
    named.key_label = label.to_owned();
    let missing = HsmError::NoKey(label.to_owned());
    if !service
        .hsm_has_key(hsm, label)
        .map_err(|e| bootstrap::hsm::explain(e, &named))?
    {
        return Err(bootstrap::hsm::explain(missing, &named));
    }
    let key = service
        .new_hsm_data_key(hsm, label, chrono::Utc::now())
        .context("cannot make a new data key in the HSM")?;
    eprintln!(
        "made a new data key {}, wrapped by the HSM key {label:?} of token {:?} (stored only \
         wrapped)",
        key.key_id(),
        p.token_label
    );
    Ok(key)
}

/// What to say once a rotation into the HSM retired the old key.
pub(super) fn done_in_hsm(
    settings: &Settings,
    (old, new): (&str, &str),
    total: u64,
    label: &str,
) -> anyhow::Result<()> {
    println!("rekey done: {total} seed(s) re-encrypted; key {old} is retired, every seed is under key {new}");
    if let Some(moved) = bootstrap::key_files::settle_after_move_to_hsm(settings, old)? {
        eprintln!("{moved}");
    }
    eprintln!(
        "Every seed is now under data key {new}, wrapped by the HSM key {label:?}. For the \
         next starts set master_key_source = \"pkcs11\" and pkcs11_key_label = {label:?} on \
         every node. Keep the retired key {old} OFF this host (offline) as long as database \
         backups made before this rotation: restoring one needs it."
    );
    Ok(())
}
