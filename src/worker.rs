//! Background threads started by `serve`: the OOB expiry sweeper (so Expired events are
//! emitted even when nobody calls; it also purges OOB rows past their retention), the http
//! SMS senders, the event webhook deliverer, the sender to tokend's webhook endpoints
//! (`domain::webhooks`), the master-key watch (`domain::key_watch`),
//! the first admin's one-time password expiry (`domain::first_admin`), the daily audit
//! archive (when `audit_archive_dir` is set), and on PostgreSQL the audit linker.
//!
//! With several nodes every node runs all of them: rows are claimed with leases and
//! sessions ended with compare-and-swap, so each SMS, event and expiry is handled once;
//! only the audit linker is elected (`storage::leader`), and the archive runs one node at
//! a time (`Duty::AuditArchive`).
//!
//! This is an edge, like `web` and `cli`: it reads the clock and hands `now` to the domain.
//! Every queue is in the database, so a thread that stops (or a process that is killed)
//! loses nothing: the next start resumes. [`Workers::stop`] wakes every thread and joins it.

use chrono::Utc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::domain::oob::Signal;
use crate::domain::Service;

/// Sender threads of the http provider: a provider that hangs holds one of them for its
/// timeout; the others keep delivering.
const SENDERS: usize = 4;
/// How soon a sender (SMS, event webhook, webhook endpoints) looks again after finding
/// nothing, at first; it doubles up to [`IDLE_POLL_MAX`] while it keeps finding nothing.
const POLL: Duration = Duration::from_millis(200);
/// The longest an idle sender waits before looking again. New work of this process wakes
/// it at once (the signal), so this only bounds how late it sees a retry fall due, or the
/// work of a node that died: an idle sender asks the database every 1.6 s instead of five
/// times a second (four SMS senders, the event webhook and the endpoint sender made 30
/// queries a second on every idle node before).
const IDLE_POLL_MAX: Duration = Duration::from_millis(1600);

/// An idle sender's next wait: [`POLL`], doubling to [`IDLE_POLL_MAX`] while it finds
/// nothing, back to [`POLL`] once it finds work.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(POLL)
    }

    /// It found work: the next wait is short again.
    fn found(&mut self) {
        self.0 = POLL;
    }

    /// The wait after finding nothing.
    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(IDLE_POLL_MAX);
        wait
    }
}

/// The running background threads.
pub struct Workers {
    signal: Arc<Signal>,
    handles: Vec<JoinHandle<()>>,
    /// This node counted among the live ones (PostgreSQL), until it stops.
    _presence: crate::domain::Presence,
}

/// Starts the threads the configuration calls for.
pub fn start(
    service: &Arc<Service>,
    sweep_every: Duration,
    first_admin_otp: chrono::Duration,
    retention: &crate::config::AuditRetention,
) -> std::io::Result<Workers> {
    let signal = Arc::clone(&service.oob().signal);
    let mut handles = Vec::new();
    let s = Arc::clone(service);
    handles.push(spawn("oob-sweeper", move || sweep(&s, sweep_every))?);
    let s = Arc::clone(service);
    handles.push(spawn("key-watch", move || watch_keys(&s))?);
    let s = Arc::clone(service);
    handles.push(spawn("first-admin", move || {
        expire_first_admin(&s, first_admin_otp);
    })?);
    if service.oob().http.is_some() {
        for i in 0..SENDERS {
            let s = Arc::clone(service);
            handles.push(spawn(&format!("sms-sender-{i}"), move || send_sms(&s))?);
        }
    }
    if service.oob().webhook.is_some() {
        let s = Arc::clone(service);
        handles.push(spawn("event-webhook", move || push_events(&s))?);
    }
    if service.oob().endpoints.is_some() {
        let s = Arc::clone(service);
        handles.push(spawn("webhook-endpoints", move || push_deliveries(&s))?);
    }
    if retention.audit_archive_dir.is_some() {
        let (s, plan) = (Arc::clone(service), retention.clone());
        handles.push(spawn("audit-archive", move || archive_audit(&s, &plan))?);
    }
    if service.is_clustered() {
        let s = Arc::clone(service);
        handles.push(spawn("audit-linker", move || link_audit(&s))?);
    }
    Ok(Workers {
        signal,
        handles,
        _presence: service.announce_presence(),
    })
}

impl Workers {
    /// Stops every thread and waits for it (at most one provider timeout).
    pub fn stop(self) {
        self.signal.stop();
        for h in self.handles {
            let _ = h.join();
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name.to_owned()).spawn(f)
}

fn sweep(service: &Service, every: Duration) {
    let signal = &service.oob().signal;
    let mut seen = 0;
    loop {
        if let Err(e) = service.expire_due(Utc::now()) {
            tracing::error!("OOB sweeper: {e}");
        }
        match service.purge_oob(Utc::now()) {
            Ok((0, 0)) => {}
            Ok((s, m)) => tracing::info!("OOB retention: purged {s} session(s) and {m} SMS"),
            Err(e) => tracing::error!("OOB retention purge: {e}"),
        }
        if let Err(e) = service.purge_failed_codes(Utc::now()) {
            tracing::error!("explain retention purge: {e}");
        }
        if !pause(signal, &mut seen, every) {
            return;
        }
    }
}

/// Waits `every` whatever wake-ups for new work come meanwhile (they are for the
/// senders; the sweeper and the key watch keep their own pace); false once stopping.
fn pause(signal: &crate::domain::oob::Signal, seen: &mut u64, every: Duration) -> bool {
    let next = Instant::now() + every;
    while let Some(left) = next.checked_duration_since(Instant::now()) {
        if left.is_zero() {
            break;
        }
        if !signal.wait(seen, left) {
            return false;
        }
    }
    true
}

/// How often a serving process looks at the register of master keys: a key rotation
/// waits about this long for every process to confirm the new key.
const KEY_WATCH_EVERY: Duration = Duration::from_secs(1);

/// Follows the register of master keys and publishes what this process holds (see
/// `domain::key_watch`), so `tokend rekey` knows the running service opened a new key.
fn watch_keys(service: &Service) {
    let signal = &service.oob().signal;
    let mut seen = 0;
    let mut watch = crate::domain::key_watch::KeyWatch::default();
    loop {
        if let Err(e) = watch.tick(service, Utc::now()) {
            tracing::warn!("key watch: {e}");
        }
        if !pause(signal, &mut seen, KEY_WATCH_EVERY) {
            watch.leave(service);
            return;
        }
    }
}

/// Expires the first admin's one-time password when its time is up (see
/// `domain::first_admin`); ends when there is none left to watch.
fn expire_first_admin(service: &Service, max_age: chrono::Duration) {
    use crate::domain::first_admin::OneTime;
    let signal = &service.oob().signal;
    let mut seen = 0;
    loop {
        match service.first_admin_password(max_age) {
            Ok(OneTime::Live(until)) if Utc::now() >= until => {
                match service.expire_first_admin_password(Utc::now(), max_age) {
                    Ok(true) => tracing::warn!("{}", crate::domain::first_admin::EXPIRED_SAY),
                    Ok(false) => {}
                    Err(e) => tracing::warn!("first admin: {e}"),
                }
            }
            Ok(OneTime::Live(_)) => {}
            Ok(OneTime::Expired | OneTime::Replaced) => return,
            Err(e) => tracing::warn!("first admin: {e}"),
        }
        if !signal.wait(&mut seen, KEY_WATCH_EVERY) {
            return;
        }
    }
}

/// How often the audit linker looks for new rows (PostgreSQL only): rows wait at most
/// about this long for their link.
const LINK_EVERY: Duration = Duration::from_millis(250);

/// On PostgreSQL, the node elected for it links new audit rows into the chain; the
/// others keep trying to take the duty over, so it moves when that node dies.
fn link_audit(service: &Service) {
    let signal = &service.oob().signal;
    let mut seen = 0;
    let mut leader = service.audit_linker();
    loop {
        if leader.holds() {
            match leader.link_audit() {
                Ok(n) if n > 0 => tracing::debug!("linked {n} audit row(s)"),
                Ok(_) => {}
                Err(e) => tracing::warn!("audit linker: {e}"),
            }
        }
        if !signal.wait(&mut seen, LINK_EVERY) {
            // A last round, so a node stopped on purpose leaves nothing unlinked.
            if leader.holds() {
                let _ = leader.link_audit();
            }
            return;
        }
    }
}

/// Moves the audit rows older than `audit_hot_days` into `audit_archive_dir`: at start,
/// then every `audit_archive_every_secs` (a day by default). A failure is logged and
/// recorded for `/metrics` (its alert), and the next run tries again; nothing is pruned
/// unless its segment was written and synced.
fn archive_audit(service: &Service, plan: &crate::config::AuditRetention) {
    let Some(dir) = plan.audit_archive_dir.as_deref() else {
        return;
    };
    let signal = &service.oob().signal;
    let mut seen = 0;
    let every = Duration::from_secs(plan.audit_archive_every_secs);
    loop {
        let now = Utc::now();
        let before = now - chrono::Duration::days(i64::from(plan.audit_hot_days));
        let rows = i64::from(plan.audit_segment_rows);
        match service.archive_audit(dir, before, now, rows) {
            Ok(r) if r.rows > 0 => tracing::info!(
                rows = r.rows,
                segments = r.segments,
                "audit archive: moved {} row(s) to {}",
                r.rows,
                dir.display()
            ),
            Ok(_) => {}
            Err(e) => tracing::error!("audit archive into {} failed: {e}", dir.display()),
        }
        if !pause(signal, &mut seen, every) {
            return;
        }
    }
}

fn send_sms(service: &Service) {
    let signal = &service.oob().signal;
    let (mut seen, mut idle) = (0, Backoff::new());
    loop {
        match service.claim_sms(Utc::now()) {
            Ok(Some(m)) => {
                idle.found();
                let result = service.deliver_sms(&m);
                if let Err(e) = service.record_sms_attempt(&m, &result, Utc::now()) {
                    tracing::error!("SMS sender: cannot record attempt of message {}: {e}", m.id);
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::error!("SMS sender: {e}"),
        }
        if !signal.wait(&mut seen, idle.next()) {
            return;
        }
    }
}

fn push_events(service: &Service) {
    let signal = &service.oob().signal;
    let (mut seen, mut idle) = (0, Backoff::new());
    loop {
        match service.claim_event(Utc::now()) {
            Ok(Some(e)) => {
                idle.found();
                let (begun, clock) = (Utc::now(), std::time::Instant::now());
                let result = service.push_event(&e);
                let took = clock.elapsed();
                if let Err(err) = service.record_event_attempt(&e, &result, begun, took) {
                    tracing::error!("event webhook: cannot record attempt of {}: {err}", e.id);
                }
                if result.is_ok() {
                    continue;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!("event webhook: {e}"),
        }
        if !signal.wait(&mut seen, idle.next()) {
            return;
        }
    }
}

/// Delivers events to tokend's webhook endpoints (`domain::webhooks`): one attempt per
/// leased delivery, logged, then the next due one at once; idle, it polls ([`Backoff`]).
fn push_deliveries(service: &Service) {
    let signal = &service.oob().signal;
    let (mut seen, mut idle) = (0, Backoff::new());
    loop {
        match service.claim_delivery(Utc::now()) {
            Ok(Some(d)) => {
                idle.found();
                if let Err(e) = service.attempt_delivery(&d, Utc::now()) {
                    tracing::error!("webhook endpoints: cannot record attempt of {}: {e}", d.id);
                } else {
                    continue;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!("webhook endpoints: {e}"),
        }
        if !signal.wait(&mut seen, idle.next()) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_sender_waits_longer_up_to_the_bound_and_short_again_after_work() {
        let mut idle = Backoff::new();
        let waits: Vec<u128> = (0..6).map(|_| idle.next().as_millis()).collect();
        assert_eq!(waits, [200, 400, 800, 1600, 1600, 1600]);
        idle.found();
        assert_eq!(idle.next(), POLL);
    }
}
