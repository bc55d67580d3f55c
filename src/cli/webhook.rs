//! `tokend webhook …`: the webhook endpoints tokend signs and delivers events to
//! (`domain::webhooks`; docs/webhooks.md). A new secret goes to stdout alone, so a
//! script can capture it; everything else goes to stderr. Audited as `cli`.

use anyhow::Context as _;
use clap::Subcommand;

use crate::bootstrap::{self, Install};
use crate::config::{check_outbound_url, Settings};
use crate::domain::api_keys::is_inst_rt_id;
use crate::domain::webhooks::{when, DEFAULT_GRACE_SECS};
use crate::domain::Context;

/// What `tokend webhook` does.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add an endpoint that receives the "90040" OOB result events, signed to the
    /// Standard Webhooks specification; prints its secret (whsec_…) on stdout, this
    /// once: give it to the receiver.
    Add {
        /// Where events are POSTed (https://; http:// only to loopback unless
        /// http_client_allow_plaintext).
        #[arg(long)]
        url: String,
        /// Only this institution's events (default: every institution's).
        #[arg(long)]
        inst_rt_id: Option<String>,
    },
    /// List the endpoints: id, URL, institution, when added and rotated, state.
    List,
    /// Remove an endpoint: no further event or attempt; its deliveries stay listed.
    Remove {
        /// The endpoint's id (see list).
        #[arg(long)]
        id: i32,
    },
    /// The endpoint's signing secret.
    Secret {
        #[command(subcommand)]
        action: SecretCommand,
    },
}

/// What `tokend webhook secret` does.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Make a new secret and print it on stdout, this once; the old one keeps signing
    /// beside it for the grace period, so the receiver can switch without a refusal.
    Rotate {
        /// The endpoint's id (see list).
        #[arg(long)]
        id: i32,
        /// How long the old secret still signs, in seconds (0 to 2592000; 0 stops it
        /// at once).
        #[arg(long, default_value_t = DEFAULT_GRACE_SECS)]
        grace_secs: i64,
    },
}

/// Runs `tokend webhook …`.
pub fn run(settings: &Settings, action: WebhookCommand) -> anyhow::Result<()> {
    let service = bootstrap::service(settings, Install::Existing)?;
    let ctx = Context {
        actor: "cli".into(),
        ..Context::default()
    };
    let now = chrono::Utc::now();
    match action {
        WebhookCommand::Add { url, inst_rt_id } => {
            check_outbound_url("--url", &url, settings.http_client_allow_plaintext)?;
            if let Some(inst) = inst_rt_id.as_deref().filter(|i| !is_inst_rt_id(i)) {
                anyhow::bail!("--inst-rt-id {inst:?}: 1-64 characters of A-Z a-z 0-9 . _ -");
            }
            let (id, secret) = service
                .add_webhook(&ctx, &url, inst_rt_id.as_deref(), now)
                .context("cannot add the endpoint")?;
            eprintln!("webhook endpoint {id} added; its secret is shown this once:");
            println!("{}", secret.expose());
        }
        WebhookCommand::List => {
            for e in service.webhooks()? {
                let inst = e.inst_rt_id.as_deref().unwrap_or("(all)");
                let mut line = format!("{} {} {inst} added {}", e.id, e.url, when(e.created_at));
                if let Some(at) = e.rotated_at {
                    line.push_str(&format!(" rotated {}", when(at)));
                }
                match (e.removed_at, e.previous_until) {
                    (Some(at), _) => line.push_str(&format!(" removed {}", when(at))),
                    (None, Some(until)) if until > now.timestamp_millis() => {
                        line.push_str(&format!(" old secret signs until {}", when(until)));
                    }
                    _ => {}
                }
                println!("{line}");
            }
        }
        WebhookCommand::Remove { id } => {
            service
                .remove_webhook(&ctx, id, now)
                .context("cannot remove the endpoint")?;
            println!("webhook endpoint {id} removed");
        }
        WebhookCommand::Secret {
            action: SecretCommand::Rotate { id, grace_secs },
        } => {
            let secret = service
                .rotate_webhook_secret(&ctx, id, grace_secs, now)
                .context("cannot rotate the secret")?;
            eprintln!(
                "webhook endpoint {id}: new secret, shown this once; the old one signs for {grace_secs} s more:"
            );
            println!("{}", secret.expose());
        }
    }
    Ok(())
}
