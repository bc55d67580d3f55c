//! `tokend admin …`: the operator's break-glass path for staff accounts. It acts as
//! `cli` with every right and is never under dual control; each change is audited like
//! the console's.

use anyhow::Context as _;
use clap::Subcommand;

use crate::bootstrap;
use crate::config::Settings;
use crate::domain::api_keys::{is_inst_rt_id, KeyReach};
use crate::domain::staff::accounts::describe_reach;
use crate::domain::Context;
use crate::types::Role;

/// What `tokend admin` does.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a staff account. Without --password-stdin a one-time password is generated,
    /// printed (only it) on stdout this once, and must be changed at the first sign-in.
    Create {
        /// The sign-in name (letters, digits, '.', '_', '-', '@').
        #[arg(long)]
        username: String,
        /// Read the password from the first line of standard input instead.
        #[arg(long)]
        password_stdin: bool,
        /// auditor, helpdesk, officer or admin.
        #[arg(long, default_value = "admin", value_parser = parse_role)]
        role: Role,
        /// The one institution it acts within (default: the configured `inst_rt_id`).
        #[arg(long, conflicts_with = "all_institutions")]
        inst_rt_id: Option<String>,
        /// Every institution (a processor's own staff).
        #[arg(long)]
        all_institutions: bool,
        /// Also enroll the account's TOTP second factor and print its `otpauth://` URI
        /// this once (last line of stdout); its first code at sign-in confirms it.
        #[arg(long)]
        enroll_totp: bool,
    },
    /// List the staff accounts: name, role, institution, created, last sign-in, disabled.
    List,
    /// Change a staff account's role.
    SetRole {
        /// The account.
        #[arg(long)]
        username: String,
        /// auditor, helpdesk, officer or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Disable a staff account: it signs in no more, and its sessions end at once.
    Disable {
        /// The account.
        #[arg(long)]
        username: String,
    },
    /// Reset a staff account's second factor (a lost authenticator): its sessions end
    /// and it enrolls a new factor at its next sign-in. With --enroll-totp, enroll the
    /// new one now and print its `otpauth://` URI this once.
    ResetFactor {
        /// The account.
        #[arg(long)]
        username: String,
        /// Enroll the new factor now (see `create --enroll-totp`).
        #[arg(long)]
        enroll_totp: bool,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a role: auditor, helpdesk, officer or admin"))
}

fn cli_context() -> Context {
    Context {
        actor: "cli".into(),
        ..Context::default()
    }
}

/// Runs one `tokend admin` command.
pub fn run(settings: &Settings, command: AdminCommand) -> anyhow::Result<()> {
    let service = bootstrap::service(settings, bootstrap::Install::Existing)?;
    let (ctx, now) = (cli_context(), chrono::Utc::now());
    match command {
        AdminCommand::Create {
            username,
            password_stdin,
            role,
            inst_rt_id,
            all_institutions,
            enroll_totp,
        } => {
            let reach = match (all_institutions, inst_rt_id) {
                (true, _) => KeyReach::All,
                (false, Some(inst)) if !is_inst_rt_id(&inst) => {
                    anyhow::bail!("--inst-rt-id {inst:?}: 1-64 characters of A-Z a-z 0-9 . _ -")
                }
                (false, Some(inst)) => KeyReach::Institution(inst),
                (false, None) => KeyReach::Institution(settings.inst_rt_id.clone()),
            };
            create(
                &service,
                (&username, role, &reach),
                password_stdin,
                enroll_totp,
            )?;
        }
        AdminCommand::List => {
            let rows = service.list_staff(&KeyReach::All)?;
            println!("username\trole\tinstitution\tcreated\tlast sign-in\tdisabled");
            let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or_else(
                    || "-".to_owned(),
                    |t| t.format("%Y-%m-%d %H:%M").to_string(),
                )
            };
            for a in rows {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    a.username,
                    a.role,
                    describe_reach(&a.reach),
                    when(a.created_at),
                    when(a.last_sign_in_at),
                    when(a.disabled_at),
                );
            }
        }
        AdminCommand::SetRole { username, role } => {
            service
                .set_staff_role(&ctx, &username, None, role, now)
                .map_err(|e| anyhow::anyhow!("cannot change the role: {e}"))?;
            eprintln!("{username} is now {role}");
        }
        AdminCommand::ResetFactor {
            username,
            enroll_totp,
        } => {
            service
                .reset_staff_factor(&ctx, &username, now)
                .map_err(|e| anyhow::anyhow!("cannot reset the second factor: {e}"))?;
            eprintln!("the second factor of {username} is reset; its sessions have ended");
            if enroll_totp {
                print_factor(&service, &ctx, &username)?;
            }
        }
        AdminCommand::Disable { username } => {
            service
                .disable_staff(&ctx, &username, now)
                .map_err(|e| anyhow::anyhow!("cannot disable the account: {e}"))?;
            eprintln!("{username} is disabled; its sessions have ended");
        }
    }
    Ok(())
}

/// Creates an account; prints its one-time password (if generated) and, with
/// `enroll_totp`, its factor's `otpauth://` URI, each once on its own line.
fn create(
    service: &crate::domain::Service,
    (username, role, reach): (&str, Role, &KeyReach),
    password_stdin: bool,
    enroll_totp: bool,
) -> anyhow::Result<()> {
    let ctx = cli_context();
    let password = if password_stdin {
        Some(read_password()?)
    } else {
        None
    };
    let generated = service
        .create_staff(
            &ctx,
            username,
            password.as_deref().map(String::as_str),
            role,
            reach,
            chrono::Utc::now(),
        )
        .map_err(|e| anyhow::anyhow!("cannot create the staff account: {e}"))?;
    match generated {
        Some(one_time) => println!("{}", one_time.as_str()),
        None => eprintln!("{username} created: {role} of {}", describe_reach(reach)),
    }
    if enroll_totp {
        print_factor(service, &ctx, username)?;
    }
    Ok(())
}

/// Enrolls a staff member's TOTP factor and prints its `otpauth://` URI, once.
fn print_factor(
    service: &crate::domain::Service,
    ctx: &Context,
    username: &str,
) -> anyhow::Result<()> {
    let enrolled = service
        .enroll_staff_factor(ctx, username, chrono::Utc::now())
        .map_err(|e| anyhow::anyhow!("cannot enroll the second factor: {e}"))?;
    let uri = enrolled
        .provisioning
        .ok_or_else(|| anyhow::anyhow!("the enrollment gave no secret"))?
        .otpauth_uri;
    println!("{}", uri.as_str());
    Ok(())
}

/// The password on stdin's first line (never echoed).
fn read_password() -> anyhow::Result<zeroize::Zeroizing<String>> {
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    Ok(zeroize::Zeroizing::new(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}
