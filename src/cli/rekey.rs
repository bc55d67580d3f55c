//! `tokend rekey` and `tokend rekey --verify`: the command-line side of a key rotation —
//! choosing or generating the new key file, running the passes, saying what happened and
//! what to do next. The steps themselves are `domain::rekey`; the keys `domain::keys`.

use anyhow::{bail, Context as _};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::hsm::{done_in_hsm, hsm_data_key, NewKey};
use crate::bootstrap;
use crate::config::Settings;
use crate::crypto::{keyfile, MasterKey};
use crate::domain::keys::keys_in;
use crate::domain::rekey::{Finish, RekeyError};
use crate::domain::start::{ACTIVE, RETIRING};
use crate::domain::{Context, Service};

/// How many times passes and the final check alternate before giving up (seeds would
/// have to keep appearing under an old key, which only a tokend without rotation support
/// writing to the same database could cause).
const ROUNDS: usize = 10;

fn ctx() -> Context {
    Context {
        actor: "cli:rekey".into(),
        ..Context::default()
    }
}

fn refused(e: RekeyError) -> anyhow::Error {
    anyhow::anyhow!("rekey refused: {e}")
}

/// Runs or resumes a rotation; see `Command::Rekey`.
pub(super) fn run(
    settings: &Settings,
    target: &NewKey,
    batch: i64,
    limit: Option<u64>,
) -> anyhow::Result<()> {
    let service = bootstrap::service(settings, bootstrap::Install::Existing)?;
    let new_key_file = match target {
        NewKey::File(file) => file.as_deref(),
        NewKey::Pkcs11(_) => None,
    };
    let rows = service.key_register()?;
    let retiring = rows.iter().find(|r| r.state == RETIRING);
    let (old, new) = match retiring {
        Some(r) => {
            let active = rows
                .iter()
                .find(|r| r.state == ACTIVE)
                .map(|r| r.key_id.clone())
                .unwrap_or_default();
            if let Some(file) = new_key_file {
                if read_key(file)?.key_id() != active {
                    bail!(
                        "a rotation from key {} to key {active} is in progress: finish it \
                         first (tokend rekey without --new-key-file)",
                        r.key_id
                    );
                }
            }
            eprintln!(
                "resuming the rotation from key {} to key {active}",
                r.key_id
            );
            (r.key_id.clone(), active)
        }
        None => start(settings, &service, target)?,
    };
    let serving = confirm_services(settings, &service, &new)?;
    let mut total = 0u64;
    for _ in 0..ROUNDS {
        if !passes(&service, batch, limit, &mut total)? {
            let left = service.seeds_left()?;
            if left > 0 {
                println!(
                    "rekey paused after {total} seed(s): {left} left under key {old}; run \
                     tokend rekey again to go on"
                );
                return Ok(());
            }
        }
        match service
            .finish_rotation(&ctx(), chrono::Utc::now())
            .map_err(refused)?
        {
            Finish::Retired { .. } => {
                if let NewKey::Pkcs11(label) = target {
                    done_in_hsm(settings, (&old, &new), total, label)?;
                    return Ok(());
                }
                done(settings, (&old, &new), total, serving)?;
                return Ok(());
            }
            Finish::Left(n) => eprintln!("{n} seed(s) appeared under an older key; another pass"),
        }
    }
    bail!("seeds keep appearing under an older key: is an older tokend writing to this database?")
}

/// Starts a rotation to a new key made as `target` says; (old key id, new key id).
fn start(
    settings: &Settings,
    service: &Service,
    target: &NewKey,
) -> anyhow::Result<(String, String)> {
    let live = service.live_nodes()?.unwrap_or(0);
    if live > 1 && matches!(target, NewKey::File(None)) {
        bail!(
            "{live} nodes serve this PostgreSQL database, and every node must hold \
             the new key before any seed is sealed under it: generate it \
             (head -c 32 /dev/urandom | base64 > master.new.key), put the file in \
             the key directory of every node (running nodes pick it up), then run \
             tokend rekey --new-key-file FILE (or, with the key in an HSM, tokend rekey \
             --to pkcs11: every node unwraps the new data key itself)"
        );
    }
    let key = match target {
        NewKey::File(file) => new_key(&bootstrap::key_dir(settings), file.as_deref())?,
        NewKey::Pkcs11(label) => hsm_data_key(settings, service, label)?,
    };
    let old = service
        .start_rotation(&ctx(), &key, chrono::Utc::now())
        .map_err(refused)?;
    eprintln!("rotation started: from key {old} to key {}", key.key_id());
    Ok((old, key.key_id()))
}

/// Passes over the seeds not under the active key until one finds nothing to do; answers
/// false if it stopped at `limit` instead.
fn passes(
    service: &Service,
    batch: i64,
    limit: Option<u64>,
    total: &mut u64,
) -> anyhow::Result<bool> {
    let mut said = Instant::now();
    loop {
        let (mut after, mut did, mut failed) = (0, 0u64, Vec::new());
        loop {
            let size = match limit {
                Some(limit) if *total >= limit => return Ok(false),
                Some(limit) => batch.min(i64::try_from(limit - *total).unwrap_or(batch)),
                None => batch,
            };
            let step = service.rekey_batch(after, size).map_err(refused)?;
            let Some(last) = step.last_pk else { break };
            after = last;
            *total += step.resealed;
            did += step.resealed + step.changed;
            failed.extend(step.failed);
            if said.elapsed() >= Duration::from_secs(2) {
                eprintln!("rekey: {total} seed(s) re-encrypted so far");
                said = Instant::now();
            }
        }
        if !failed.is_empty() {
            for (token, why) in &failed {
                eprintln!("token {token}: its seed cannot be opened: {why}");
            }
            bail!(
                "{} seed(s) cannot be opened, so the old key cannot be retired; the rotation \
                 stays in progress (tokend rekey --verify lists them)",
                failed.len()
            );
        }
        if did == 0 {
            return Ok(true);
        }
    }
}

/// How long `rekey` waits for the serving processes to report the new key.
const CONFIRM_WAIT: Duration = Duration::from_secs(20);

/// Waits until every serving process (the one holding the data directory's serve lock
/// on SQLite; every live node on PostgreSQL) has reported that it opened key `new`
/// (`domain::key_watch`), BEFORE any seed is moved under it; answers how many did.
/// Refuses, naming the cause the process reported ("permission denied" …), when one
/// cannot open it, or when none answers in time: the rotation then stays in progress
/// with no seed moved, and `tokend rekey` resumes it once the cause is fixed.
fn confirm_services(settings: &Settings, service: &Service, new: &str) -> anyhow::Result<usize> {
    let expected = match service.live_nodes()? {
        Some(nodes) => usize::try_from(nodes).unwrap_or(0),
        None => usize::from(bootstrap::dir_lock::is_served(settings)?),
    };
    if expected == 0 {
        eprintln!("no tokend serves this database now; its next start loads key {new}");
        return Ok(0);
    }
    let deadline = Instant::now() + CONFIRM_WAIT;
    loop {
        // Each process refreshes its state every minute: older ones are processes gone.
        let states = service.key_states(chrono::Utc::now() - chrono::Duration::minutes(2))?;
        let on_new: Vec<_> = states.iter().filter(|s| s.key_id == new).collect();
        if let Some((node, why)) = on_new
            .iter()
            .find_map(|s| Some((&s.node, s.missing.as_deref()?)))
        {
            bail!(
                "the running tokend {node} cannot open the new key {new}: {why}. No seed was moved \
                 (new enrollments wait for the key meanwhile); fix that, then run tokend \
                 rekey again to go on"
            );
        }
        if on_new.len() >= expected {
            eprintln!("the running tokend ({expected} process(es)) opened key {new}");
            return Ok(expected);
        }
        if Instant::now() >= deadline {
            let behind: Vec<&str> = states
                .iter()
                .filter(|s| s.key_id != new)
                .map(|s| s.node.as_str())
                .collect();
            bail!(
                "{expected} tokend process(es) serve this database, and {} reported opening \
                 the new key {new} within {} s; not yet: {} (an older tokend, or a stuck one?). \
                 No seed was moved; run tokend rekey again once they do (the service logs why)",
                on_new.len(),
                CONFIRM_WAIT.as_secs(),
                if behind.is_empty() {
                    "unknown".to_owned()
                } else {
                    behind.join(", ")
                }
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What to say (and, in the default layout, where to put the key files) once the old
/// key is retired: see `bootstrap::key_files`.
fn done(
    settings: &Settings,
    (old, new): (&str, &str),
    total: u64,
    serving: usize,
) -> anyhow::Result<()> {
    println!("rekey done: {total} seed(s) re-encrypted; key {old} is retired, every seed is under key {new}");
    if serving > 0 {
        eprintln!("The running tokend reported that it uses key {new}.");
    }
    if let Some(moved) = bootstrap::key_files::settle_after_rotation(settings, old, new)? {
        eprintln!("{moved}. BACK UP the new key, apart from database backups.");
        return Ok(());
    }
    let dir = bootstrap::key_dir(settings);
    let path = keys_in(&dir)
        .into_iter()
        .find(|(_, k)| k.key_id() == new)
        .map_or_else(
            || keyfile::key_file_name(new),
            |(p, _)| p.display().to_string(),
        );
    eprintln!(
        "For the next starts set master_key_file (or TOKEND_MASTER_KEY) to the new key \
         ({path}); until then it is found in the key directory, with a warning. A start \
         with only key {old} is refused from now on. BACK UP the new key; keep the old one \
         (in {}, where tokend restore looks) as long as database backups made before this \
         rotation: restoring one needs it.",
        bootstrap::key_files::retired_dir(settings).display()
    );
    Ok(())
}

/// Reads a master key file.
fn read_key(path: &Path) -> anyhow::Result<MasterKey> {
    let text = zeroize::Zeroizing::new(
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    MasterKey::from_base64(&text).with_context(|| {
        format!(
            "{} is not a master key (base64 of 32 bytes)",
            path.display()
        )
    })
}

/// The new key: `file`, which must be a `master*.key` file in the key directory (so a
/// running tokend finds it there), or a new key generated into `dir/master.<id>.key`.
fn new_key(dir: &Path, file: Option<&Path>) -> anyhow::Result<MasterKey> {
    let Some(file) = file else {
        let key = MasterKey::generate()?;
        let path = dir.join(keyfile::key_file_name(&key.key_id()));
        keyfile::create_new(&path, &key.to_base64())?;
        // Written by root under systemd: the service (another user) must read it. A key
        // it could not be given is removed, not left behind unreadable.
        if let Err(e) = bootstrap::install::hand_over(&path, dir) {
            let _ = fs::remove_file(&path);
            return Err(e.context("the new key was not kept; nothing was rotated"));
        }
        eprintln!(
            "generated a new master key at {} (mode 0600): BACK IT UP, apart from database \
             backups",
            path.display()
        );
        return Ok(key);
    };
    let key = read_key(file)?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let same_dir = fs::canonicalize(&parent).ok() == fs::canonicalize(dir).ok();
    if !same_dir || !name.starts_with("master") || !name.ends_with(".key") {
        bail!(
            "{} must be a file named master*.key in the key directory {} (e.g. {}), where a \
             running tokend looks for it; move it there (mode 0600) and run again",
            file.display(),
            dir.display(),
            dir.join(keyfile::key_file_name(&key.key_id())).display()
        );
    }
    bootstrap::install::hand_over(file, dir)?;
    Ok(key)
}

/// `tokend rekey --verify`: per key id, the seeds that open and those that do not.
pub(super) fn verify(settings: &Settings) -> anyhow::Result<()> {
    let service = bootstrap::service(settings, bootstrap::Install::Existing)?;
    let report = service.verify_seeds().context("cannot read the seeds")?;
    let mut total = 0;
    for (id, (ok, bad)) in &report.per_key {
        let state = report.states.get(id).map_or("unknown key", String::as_str);
        println!("key {id} ({state}): {ok} seed(s) open, {bad} do not");
        total += ok + bad;
    }
    for (token, key, why) in &report.failures {
        println!("token {token} (key {key}): {why}");
    }
    let elsewhere = report.not_under_active();
    if !report.failures.is_empty() || elsewhere > 0 {
        bail!(
            "{} seed(s) do not open; {elsewhere} under another key than the active key {}",
            report.failures.len(),
            report.active
        );
    }
    println!(
        "every seed opens: {total} seed(s), all under the active key {}",
        report.active
    );
    Ok(())
}
