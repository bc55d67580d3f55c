//! The `tokend` command line: `serve` (the default), `migrate`, `import`,
//! `audit verify|archive|search`, `apikey create`, `admin create`, `institution create|list`,
//! `alert …`, `rekey`, `hsm init`, `backup`, `restore`, `copy-to`,
//! `webhook add|list|remove|secret rotate`.
//! Only `serve` and `migrate` may create an install (`bootstrap::install`).
//! Every subcommand reads the same configuration as `serve`. Results go to stdout (only
//! the result, so scripts can capture it); logs go to stderr.

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// The start of the line that shows the bootstrap admin's one-time password.
pub const FIRST_ADMIN: &str = "tokend first admin: ";

use crate::bootstrap::{self, Install};
use crate::config::Settings;
use crate::domain::api_keys::{is_inst_rt_id, parse_scopes, KeyConsumer, KeyReach};
use crate::domain::pskc::PskcKeys;
use crate::domain::Context;

mod admin;
mod alert;
mod audit;
mod data;
mod env_file;
mod hsm;
mod institution;
mod rekey;
mod serve;
mod webhook;

use admin::AdminCommand;
use alert::AlertCommand;
use audit::AuditCommand;
use institution::InstitutionCommand;
use webhook::WebhookCommand;

/// tokend — TOTP token management with a jXchange-style API.
#[derive(Debug, Parser)]
#[command(name = "tokend", version, about)]
pub struct Cli {
    /// Read the service's environment file first (systemd's EnvironmentFile format), so
    /// the command runs with the service's settings and master key: under systemd,
    /// `sudo tokend --env-file /etc/tokend/tokend.env …`. Variables already set win.
    #[arg(long, global = true, env = "TOKEND_ENV_FILE", value_name = "FILE")]
    env_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the HTTP service (the default).
    Serve,
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Import hardware tokens from a seed file: PSKC (RFC 6030, XML) or CSV
    /// `serial,seed(hex),algorithm,digits,period[,usr_name]`.
    Import {
        /// The file; `-` reads standard input.
        file: std::path::PathBuf,
        /// PSKC encrypted with a pre-shared key: the AES key in hex (32, 48 or 64 digits).
        #[arg(long, env = "TOKEND_PSKC_KEY", hide_env_values = true)]
        psk_hex: Option<String>,
        /// PSKC encrypted with a passphrase (PBKDF2): read it from the first line of stdin.
        #[arg(long)]
        passphrase_stdin: bool,
        /// The institution (jXchange InstRtId) the tokens belong to; default: the
        /// configured `inst_rt_id`.
        #[arg(long)]
        inst_rt_id: Option<String>,
    },
    /// Write a consistent copy of the database to FILE while the service runs (seeds stay
    /// sealed: keep the master key apart from it).
    Backup {
        /// Where to write the copy; must not exist.
        file: std::path::PathBuf,
    },
    /// Put a backup (from tokend backup) back as the database, with the service stopped:
    /// checks the backup's integrity and audit chain first, removes the old database's
    /// -wal and -shm files, keeps the database it replaces beside it, and says what it
    /// restored.
    Restore {
        /// The backup file.
        file: std::path::PathBuf,
    },
    /// Copy this SQLite install into an empty PostgreSQL database (to run several nodes),
    /// verify the copy (row counts, the audit chain) and print what to configure. Stop
    /// the service first: the copy is one snapshot, and later writes would stay behind;
    /// it refuses while a server runs on the data directory.
    CopyTo {
        /// The target: postgres://user:password@host:port/database (an empty database).
        url: String,
        /// Copy even while a server runs on the data directory (its later commits are
        /// not in the copy).
        #[arg(long)]
        force: bool,
    },
    /// Re-encrypt every seed under a new master key; safe while the service runs, and
    /// resumable: run it again after an interruption. See docs/operations.md, "Master key
    /// rotation".
    Rekey {
        /// The new master key (a file holding 32 bytes in base64), in the key directory
        /// (the directory of master_key_file, else the data directory) so that a running
        /// tokend finds it. Without it a new key is generated there as master.<id>.key.
        #[arg(long, conflicts_with = "verify")]
        new_key_file: Option<std::path::PathBuf>,
        /// Seeds re-encrypted per transaction.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        batch: i64,
        /// Stop after re-encrypting this many seeds (the rest is done by the next run).
        #[arg(long, conflicts_with = "verify")]
        limit: Option<u64>,
        /// Change nothing: open every seed, count them per key id, and exit 1 if any does
        /// not open or any is under another key than the active one.
        #[arg(long)]
        verify: bool,
        /// Where the new key lives: `file` (a key file, as above) or `pkcs11` (a data key
        /// wrapped by the HSM key, see --pkcs11-key-label). Default: the configured
        /// master_key_source (`env` counts as `file`).
        #[arg(long, value_enum, conflicts_with = "verify")]
        to: Option<hsm::Target>,
        /// With --to pkcs11: the label of the HSM key that wraps the new data key
        /// (created first with tokend hsm init); default pkcs11_key_label.
        #[arg(long, conflicts_with = "new_key_file")]
        pkcs11_key_label: Option<String>,
    },
    /// The HSM that holds the master key (master_key_source = "pkcs11"). See
    /// docs/operations.md, "The master key in an HSM".
    Hsm {
        #[command(subcommand)]
        action: hsm::HsmCommand,
    },
    /// Check, archive and search the audit trail.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        action: ApikeyCommand,
    },
    /// Manage admin accounts of the web console.
    Admin {
        #[command(subcommand)]
        action: AdminCommand,
    },
    /// Register institutions, sandbox ones among them.
    Institution {
        #[command(subcommand)]
        action: InstitutionCommand,
    },
    /// Manage the webhook endpoints events are signed and delivered to (see
    /// docs/webhooks.md).
    Webhook {
        #[command(subcommand)]
        action: WebhookCommand,
    },
    /// Alert libraries (named OOB texts) and subscriptions, for OOBValidate's recipient
    /// mode (ConsmRecipId, AlrtName, PubVer).
    Alert {
        #[command(subcommand)]
        action: AlertCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ApikeyCommand {
    /// Create a key and print it (only the key) on stdout. It is shown this once.
    Create {
        /// A unique name; it appears in the audit trail as the actor.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: manage, validate, sms.
        #[arg(long)]
        scope: String,
        /// The one institution (jXchange InstRtId) the key may act within; default: the
        /// configured `inst_rt_id`.
        #[arg(long, conflicts_with = "all_institutions")]
        inst_rt_id: Option<String>,
        /// Let the key act within every institution (requests name theirs in InstRtId).
        #[arg(long)]
        all_institutions: bool,
        /// The jXchange ValidConsmName the key is registered for: a request naming
        /// another is fault 2505.
        #[arg(long)]
        consumer_name: Option<String>,
        /// The jXchange ValidConsmProd the key is registered for (as --consumer-name).
        #[arg(long)]
        consumer_prod: Option<String>,
        /// Let SOAP clients send the key as a WS-Security PasswordDigest (CXF/WSS4J's
        /// default; Username = --name): the key is then also kept sealed under the master
        /// key, as seeds are, since a digest cannot be checked against a hash.
        #[arg(long)]
        soap_digest: bool,
    },
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(file) = &cli.env_file {
        env_file::apply(file)?;
    }
    let figment = Settings::figment();
    let settings = bootstrap::compose::settings(&figment)?;
    let command = cli.command.unwrap_or(Command::Serve);
    if !matches!(command, Command::Serve) {
        bootstrap::install::check_operator(&settings.data_dir)?;
    }
    match command {
        Command::Serve => serve::serve(figment, &settings),
        Command::Migrate => {
            bootstrap::service(&settings, Install::Create)?;
            println!(
                "database {} is up to date",
                bootstrap::database_label(&settings)
            );
            Ok(())
        }
        Command::Audit { action } => audit::run(&settings, action),
        Command::Backup { file } => data::backup(&settings, &file),
        Command::Restore { file } => data::restore(&settings, &file),
        Command::CopyTo { url, force } => data::copy_to(&settings, &url, force),
        Command::Rekey { verify: true, .. } => rekey::verify(&settings),
        Command::Rekey {
            new_key_file,
            batch,
            limit,
            verify: false,
            to,
            pkcs11_key_label,
        } => {
            let target = hsm::target(&settings, to, pkcs11_key_label, new_key_file)?;
            rekey::run(&settings, &target, batch, limit)
        }
        Command::Hsm { action } => hsm::run(&settings, action),
        Command::Import {
            file,
            psk_hex,
            passphrase_stdin,
            inst_rt_id,
        } => {
            let keys = pskc_keys(psk_hex.as_deref(), passphrase_stdin)?;
            if let Some(inst) = inst_rt_id.as_deref().filter(|i| !is_inst_rt_id(i)) {
                anyhow::bail!("--inst-rt-id {inst:?}: 1-64 characters of A-Z a-z 0-9 . _ -");
            }
            import(&settings, &file, &keys, inst_rt_id)
        }
        Command::Admin { action } => admin::run(&settings, action),
        Command::Apikey { action } => apikey(&settings, action),
        Command::Institution { action } => institution::run(&settings, action),
        Command::Webhook { action } => webhook::run(&settings, action),
        Command::Alert { action } => alert::run(&settings, action),
    }
}

/// `apikey create`: prints only the new key.
fn apikey(settings: &Settings, action: ApikeyCommand) -> anyhow::Result<()> {
    let ApikeyCommand::Create {
        name,
        scope,
        inst_rt_id,
        all_institutions,
        consumer_name,
        consumer_prod,
        soap_digest,
    } = action;
    let scopes = parse_scopes(&scope).map_err(anyhow::Error::msg)?;
    let reach = if all_institutions {
        KeyReach::All
    } else {
        KeyReach::Institution(inst_rt_id.unwrap_or_else(|| settings.inst_rt_id.clone()))
    };
    let service = bootstrap::service(settings, Install::Existing)?;
    let ctx = Context {
        actor: "cli".into(),
        ..Context::default()
    };
    let consumer = KeyConsumer {
        name: consumer_name,
        prod: consumer_prod,
    };
    let (now, key) = (chrono::Utc::now(), (name.as_str(), &consumer));
    let key = if soap_digest {
        service.create_soap_digest_key(&ctx, key, &scopes, &reach, now)
    } else {
        service.create_api_key_for(&ctx, key, &scopes, &reach, now)
    }
    .context("cannot create the API key")?;
    println!("{}", key.as_str());
    Ok(())
}

/// The keys that open an encrypted PSKC file: `--psk-hex` (an AES-128, -192 or -256
/// key) and the passphrase from stdin's first line.
fn pskc_keys(psk_hex: Option<&str>, passphrase_stdin: bool) -> anyhow::Result<PskcKeys> {
    let psk = match psk_hex {
        Some(h) => {
            let bytes = hex::decode(h.trim()).context("--psk-hex: hex expected")?;
            anyhow::ensure!(
                [16, 24, 32].contains(&bytes.len()),
                "--psk-hex: an AES key is 16, 24 or 32 bytes (32, 48 or 64 hex digits)"
            );
            Some(zeroize::Zeroizing::new(bytes))
        }
        None => None,
    };
    let passphrase = if passphrase_stdin {
        let mut line = zeroize::Zeroizing::new(String::new());
        std::io::stdin()
            .read_line(&mut line)
            .context("cannot read the passphrase from stdin")?;
        Some(zeroize::Zeroizing::new(
            line.trim_end_matches(['\r', '\n']).to_owned(),
        ))
    } else {
        None
    };
    Ok(PskcKeys { psk, passphrase })
}

/// Imports a seed file through the same `parse_file` as the console and prints what
/// happened: counts on stdout, one line per key skipped, refused or already present on
/// stderr. Exit 0 when no key was refused (keys skipped by design, such as HOTP keys of
/// a mixed vendor file, do not fail it); exit 1 when the file or any key was refused.
fn import(
    settings: &Settings,
    file: &std::path::Path,
    keys: &PskcKeys,
    inst_rt_id: Option<String>,
) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    if file.as_os_str() == "-" {
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
    } else {
        std::fs::File::open(file).and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut bytes))
    }
    .with_context(|| format!("cannot read {}", file.display()))?;
    let service = bootstrap::service(settings, Install::Existing)?;
    let ctx = Context {
        actor: "cli:import".into(),
        inst_rt_id,
        ..Context::default()
    };
    let now = chrono::Utc::now();
    let (rows, mut report) = crate::domain::seed_file::parse_file(&bytes, keys, now)
        .map_err(|e| anyhow::anyhow!("the file is refused, nothing imported: {e}"))?;
    drop(bytes);
    service
        .import_tokens(&ctx, &rows, now, &mut report)
        .context("import stopped")?;
    let unit = report.unit.name();
    for n in &report.already_present {
        eprintln!("{unit} {n}: serial already present, left unchanged");
    }
    for (n, why) in &report.skipped {
        eprintln!("{unit} {n}: skipped: {why}");
    }
    for (n, why) in &report.refused {
        eprintln!("{unit} {n}: refused: {why}");
    }
    println!(
        "imported {}, already present {}, refused {}, skipped {}",
        report.imported,
        report.already_present.len(),
        report.refused.len(),
        report.skipped.len()
    );
    if report.refused.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} {unit}(s) refused", report.refused.len())
    }
}
