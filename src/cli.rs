//! The `tokend` command line: `serve` (the default), `migrate`, `apikey create`.
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
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        action: ApikeyCommand,
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

fn serve(figment: rocket::figment::Figment, settings: &Settings) -> anyhow::Result<()> {
    let service = Arc::new(bootstrap::service(settings)?);
    let figment = match bootstrap::secret_key(settings, &figment)? {
        Some(key) => figment.merge(("secret_key", key.as_str())),
        None => figment,
    };
    let sweep_every = std::time::Duration::from_millis(settings.oob_sweep_interval_ms);
    let workers = worker::start(&service, sweep_every).context("cannot start workers")?;
    let served = rocket::execute(web::build(figment, service).launch())
        .map(drop)
        .map_err(|e| anyhow::anyhow!("the server stopped: {e}"));
    workers.stop();
    served
}
