//! The `tokend` command line: `serve` (the default), `migrate`, `import`, `audit verify`,
//! `apikey create`.
//! Every subcommand reads the same configuration as `serve`. Results go to stdout (only
//! the result, so scripts can capture it); logs go to stderr.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::sync::Arc;

use crate::config::Settings;
use crate::domain::api_keys::parse_scopes;
use crate::domain::Context;
use crate::{bootstrap, web, worker};

/// tokend — TOTP token management with a jXchange-style API.
#[derive(Debug, Parser)]
#[command(name = "tokend", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the HTTP service (the default).
    Serve,
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Import hardware tokens from a CSV seed file:
    /// `serial,seed(hex),algorithm,digits,period[,usr_name]`.
    Import {
        /// The file; `-` reads standard input.
        file: std::path::PathBuf,
    },
    /// Check the audit trail.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        action: ApikeyCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check every link of the audit chain; exit 1 naming the first broken row. Read-only,
    /// safe while the service runs.
    Verify,
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
    },
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let figment = Settings::figment();
    let settings = Settings::load(&figment)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(figment, &settings),
        Command::Migrate => {
            bootstrap::open_storage(&settings)?;
            println!(
                "database {} is up to date",
                settings.database_path().display()
            );
            Ok(())
        }
        Command::Import { file } => import(&settings, &file),
        Command::Audit {
            action: AuditCommand::Verify,
        } => verify_audit(&settings),
        Command::Apikey {
            action: ApikeyCommand::Create { name, scope },
        } => {
            let scopes = parse_scopes(&scope).map_err(anyhow::Error::msg)?;
            let service = bootstrap::service(&settings)?;
            let ctx = Context {
                actor: "cli".into(),
                ..Context::default()
            };
            let key = service
                .create_api_key(&ctx, &name, &scopes, chrono::Utc::now())
                .context("cannot create the API key")?;
            println!("{}", key.as_str());
            Ok(())
        }
    }
}

/// Verifies the audit chain; the verdict on stdout, exit 1 when broken.
fn verify_audit(settings: &Settings) -> anyhow::Result<()> {
    let service = bootstrap::service(settings)?;
    let report = service
        .verify_audit_chain()
        .context("cannot read the audit trail")?;
    if let Some((row, why)) = report.broken {
        println!(
            "audit chain BROKEN at row {row}: {why} ({} rows before it verified)",
            report.linked
        );
        anyhow::bail!("the audit chain is broken at row {row}");
    }
    let head = report.head.map_or_else(
        || "none".to_owned(),
        |(id, link)| format!("row {id} {link}"),
    );
    println!(
        "audit chain whole: {} rows verified, {} not linked yet; head: {head}",
        report.linked, report.unlinked_tail
    );
    Ok(())
}

/// Imports a seed file and prints what happened: counts on stdout, one line per refused
/// or already present line on stderr. Fails (exit 1) when any line was refused.
fn import(settings: &Settings, file: &std::path::Path) -> anyhow::Result<()> {
    let input: Box<dyn std::io::Read> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
        )
    };
    let service = bootstrap::service(settings)?;
    let ctx = Context {
        actor: "cli:import".into(),
        ..Context::default()
    };
    let (rows, mut report) = crate::domain::import::parse_csv(std::io::BufReader::new(input));
    service
        .import_tokens(&ctx, &rows, chrono::Utc::now(), &mut report)
        .context("import stopped")?;
    for line in &report.already_present {
        eprintln!("line {line}: serial already present, left unchanged");
    }
    for (line, why) in &report.refused {
        eprintln!("line {line}: refused: {why}");
    }
    println!(
        "imported {}, already present {}, refused {}",
        report.imported,
        report.already_present.len(),
        report.refused.len()
    );
    if report.refused.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} line(s) refused", report.refused.len())
    }
}

fn serve(figment: rocket::figment::Figment, settings: &Settings) -> anyhow::Result<()> {
    let service = Arc::new(bootstrap::service(settings)?);
    let figment = match bootstrap::secret_key(settings, &figment)? {
        Some(key) => figment.merge(("secret_key", key.as_str())),
        None => figment,
    };
    let sweep_every = std::time::Duration::from_millis(settings.oob_sweep_interval_ms);
    let workers = worker::start(&service, sweep_every).context("cannot start workers")?;
    let served = rocket::execute(web::build(figment, service, settings.limits()).launch())
        .map(drop)
        .map_err(|e| anyhow::anyhow!("the server stopped: {e}"));
    workers.stop();
    served
}
