//! `tokend serve`: what a start does before and around the web server.

use anyhow::Context as _;
use std::io::Write as _;
use std::sync::Arc;

use super::FIRST_ADMIN;
use crate::bootstrap::{self, Install};
use crate::config::Settings;
use crate::{web, worker};

/// Refuses at once, naming the address and port, when they cannot be bound (another
/// process listens there), before anything is created: a first start that cannot serve
/// would otherwise print the first admin's one-time password and then stop.
fn check_listen(figment: &rocket::figment::Figment) -> anyhow::Result<(std::net::IpAddr, u16)> {
    let config: rocket::Config = figment
        .extract()
        .context("invalid address or port (ROCKET_ADDRESS, ROCKET_PORT)")?;
    let (address, port) = (config.address, config.port);
    if port != 0 {
        if let Err(e) = std::net::TcpListener::bind((address, port)) {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                format!(
                    ": another process listens there (another tokend? `ss -ltnp 'sport = :{port}'` \
                     names it); stop it or choose another port"
                )
            } else {
                String::new()
            };
            anyhow::bail!(
                "cannot listen on {address}:{port} (address and port, ROCKET_ADDRESS and \
                 ROCKET_PORT): {e}{hint}"
            );
        }
    }
    Ok((address, port))
}

/// How long the first admin's one-time password stays usable.
fn otp_lifetime(settings: &Settings) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(settings.first_admin_otp_secs).unwrap_or(i64::MAX))
}

/// Creates the first admin on a new install and prints its one-time password once (with
/// when it expires); on a later start, expires it if its time is up and says so.
fn first_admin(settings: &Settings, service: &crate::domain::Service) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let lifetime = otp_lifetime(settings);
    if let Some(one_time) = service
        .ensure_first_admin(now)
        .context("cannot create the first admin")?
    {
        // Printed once, on purpose: the operator needs it to sign in the first time, and
        // it stops working at the first sign-in (a new password is forced) or when it
        // expires, whichever comes first.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{FIRST_ADMIN}{} one-time password: {} (sign in at /admin/login; a new password is required; it expires at {} UTC)",
            crate::domain::admins::BOOTSTRAP_ADMIN,
            one_time.as_str(),
            (now + lifetime).format("%Y-%m-%d %H:%M")
        );
        let _ = writeln!(
            out,
            "tokend next: an API key for your application: tokend apikey create --name my-app --scope manage,validate (prints the key once)"
        );
        let _ = out.flush();
        return Ok(());
    }
    service.expire_first_admin_password(now, lifetime)?;
    if service.first_admin_password(lifetime)? == crate::domain::first_admin::OneTime::Expired {
        tracing::warn!("{}", crate::domain::first_admin::EXPIRED_SAY);
    }
    Ok(())
}

/// `tokend serve`: the data directory, its serve lock, the install (created when new),
/// the first admin, the workers, then the web server until it stops.
pub(super) fn serve(figment: rocket::figment::Figment, settings: &Settings) -> anyhow::Result<()> {
    let (address, port) = check_listen(&figment)?;
    bootstrap::ensure_data_dir(settings)?;
    // Held until the server stops: copy-to and restore refuse while it is.
    let _serving = bootstrap::dir_lock::serving(settings)?;
    let service = Arc::new(bootstrap::service(settings, Install::Create)?);
    let figment = match bootstrap::secret_key(settings, &figment)? {
        Some(key) => figment.merge(("secret_key", key.as_str())),
        None => figment,
    };
    first_admin(settings, &service)?;
    let sweep_every = std::time::Duration::from_millis(settings.oob_sweep_interval_ms);
    let workers = worker::start(
        &service,
        sweep_every,
        otp_lifetime(settings),
        &settings.audit_retention,
    )
    .context("cannot start workers")?;
    let served = rocket::execute(
        web::build(figment, service, bootstrap::compose::web_config(settings)?).launch(),
    )
    .map(drop)
    .map_err(|e| anyhow::anyhow!("the server on {address}:{port} stopped: {e}"));
    workers.stop();
    served
}
