//! `tokend institution …`: registering institutions, among them sandbox institutions
//! with a test clock (issue 29; `domain::sandbox`). Audited as `cli`.

use anyhow::Context as _;
use clap::Subcommand;

use crate::bootstrap::{self, Install};
use crate::config::Settings;
use crate::domain::{from_ms, Context};

/// What `tokend institution` does.
#[derive(Debug, Subcommand)]
pub enum InstitutionCommand {
    /// Register an institution. With --sandbox it is a sandbox: its clock starts now and
    /// moves only when its integrator says (POST /api/v1/sandbox/clock), no SMS leaves
    /// it, and its API keys start tk_test_. An institution that already has users,
    /// tokens, keys or audit rows is a production one and cannot become a sandbox.
    Create {
        /// The jXchange InstRtId.
        #[arg(long)]
        inst_rt_id: String,
        /// Make it a sandbox institution.
        #[arg(long)]
        sandbox: bool,
    },
    /// List the registered institutions: InstRtId, kind, and a sandbox's clock.
    List,
}

/// Runs `tokend institution …`.
pub fn run(settings: &Settings, action: InstitutionCommand) -> anyhow::Result<()> {
    let service = bootstrap::service(settings, Install::Existing)?;
    match action {
        InstitutionCommand::Create {
            inst_rt_id,
            sandbox,
        } => {
            let ctx = Context {
                actor: "cli".into(),
                ..Context::default()
            };
            service
                .create_institution(&ctx, &inst_rt_id, sandbox, chrono::Utc::now())
                .context("cannot create the institution")?;
            let kind = if sandbox { "sandbox" } else { "production" };
            println!("institution {inst_rt_id} created ({kind})");
        }
        InstitutionCommand::List => {
            for i in service.institutions()? {
                let kind = if i.sandbox { "sandbox" } else { "production" };
                let clock = i
                    .clock_at
                    .and_then(from_ms)
                    .map(|t| format!(" clock {}", t.to_rfc3339()))
                    .unwrap_or_default();
                println!("{} {kind}{clock}", i.inst_rt_id);
            }
        }
    }
    Ok(())
}
