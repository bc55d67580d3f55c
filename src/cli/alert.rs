//! `tokend alert …`: each institution's library of named alert texts and its users'
//! subscriptions, for OOBValidate's recipient mode (issue 28; `domain::alerts`). The CLI
//! is the operator's way in to the library (no console page yet); subscriptions also have
//! an API call (`POST /api/v1/users/{UsrName}/alerts`). Audited as `cli`.

use anyhow::Context as _;
use clap::Subcommand;

use crate::bootstrap::{self, Install};
use crate::config::Settings;
use crate::domain::Context;

/// What `tokend alert` does.
#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Add a named alert text to an institution's library (the first one deploys the
    /// library). Adding a name again adds its next version (PubVer); prints the PubVer.
    /// The text follows SMSText's rules: at most one of <%$otp%> and <%$otpa%>, no
    /// other <%$…%> tag.
    Add {
        /// The jXchange InstRtId.
        #[arg(long)]
        inst_rt_id: String,
        /// The jXchange AlrtName.
        #[arg(long)]
        name: String,
        /// The text, e.g. 'Bank: your login code is <%$otp%>'.
        #[arg(long)]
        text: String,
    },
    /// List an institution's library: each alert, version, subscriber count and text.
    List {
        /// The jXchange InstRtId.
        #[arg(long)]
        inst_rt_id: String,
    },
    /// Subscribe a user (the ConsmRecipId) to an alert of their institution's library.
    Subscribe {
        /// The jXchange InstRtId.
        #[arg(long)]
        inst_rt_id: String,
        /// The user (UsrName = ConsmRecipId).
        #[arg(long)]
        usr_name: String,
        /// The jXchange AlrtName.
        #[arg(long)]
        name: String,
    },
    /// End a user's subscription to an alert.
    Unsubscribe {
        /// The jXchange InstRtId.
        #[arg(long)]
        inst_rt_id: String,
        /// The user (UsrName = ConsmRecipId).
        #[arg(long)]
        usr_name: String,
        /// The jXchange AlrtName.
        #[arg(long)]
        name: String,
    },
    /// Open (on) or close (off) an institution's library to OOB validation; closed,
    /// every recipient-mode OOBValidate of the institution is fault 3155.
    Library {
        /// The jXchange InstRtId.
        #[arg(long)]
        inst_rt_id: String,
        /// on or off.
        #[arg(long, value_parser = ["on", "off"])]
        oob: String,
    },
}

/// Runs `tokend alert …`.
pub fn run(settings: &Settings, action: AlertCommand) -> anyhow::Result<()> {
    let service = bootstrap::service(settings, Install::Existing)?;
    let ctx = Context {
        actor: "cli".into(),
        ..Context::default()
    };
    let now = chrono::Utc::now();
    match action {
        AlertCommand::Add {
            inst_rt_id,
            name,
            text,
        } => {
            let ver = service
                .add_alert(&ctx, &inst_rt_id, &name, &text, now)
                .context("cannot add the alert")?;
            println!("{ver}");
        }
        AlertCommand::List { inst_rt_id } => {
            let (open, texts) = service.alert_library(&inst_rt_id)?;
            let state = match open {
                None => "no library",
                Some(true) => "open to OOB",
                Some(false) => "closed to OOB",
            };
            println!("library of {inst_rt_id}: {state}");
            for t in texts {
                let subscribers = service.alert_subscribers(&inst_rt_id, &t.alrt_name)?;
                println!(
                    "{}\tPubVer {}\t{} subscriber(s)\t{}",
                    t.alrt_name,
                    t.pub_ver,
                    subscribers.len(),
                    t.text
                );
            }
        }
        AlertCommand::Subscribe {
            inst_rt_id,
            usr_name,
            name,
        } => subscribe(&service, &ctx, (&inst_rt_id, &usr_name), &name, true)?,
        AlertCommand::Unsubscribe {
            inst_rt_id,
            usr_name,
            name,
        } => subscribe(&service, &ctx, (&inst_rt_id, &usr_name), &name, false)?,
        AlertCommand::Library { inst_rt_id, oob } => {
            service
                .set_alert_library_oob(&ctx, &inst_rt_id, oob == "on", now)
                .context("cannot change the library")?;
            println!("library of {inst_rt_id}: OOB {oob}");
        }
    }
    Ok(())
}

fn subscribe(
    service: &crate::domain::Service,
    ctx: &Context,
    who: (&str, &str),
    name: &str,
    on: bool,
) -> anyhow::Result<()> {
    let changed = service
        .subscribe_alert(ctx, who, name, on, chrono::Utc::now())
        .context("cannot change the subscription")?;
    let what = match (on, changed) {
        (true, true) => "subscribed to",
        (true, false) => "was already subscribed to",
        (false, true) => "unsubscribed from",
        (false, false) => "was not subscribed to",
    };
    println!("{} {what} {name}", who.1);
    Ok(())
}
