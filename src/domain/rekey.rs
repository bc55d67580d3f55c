//! `tokend rekey`: re-encrypting every seed under a new master key while the service runs.
//!
//! 1. [`Service::start_rotation`] registers the new key as active and the old one as
//!    retiring, in one transaction (with its audit row). From then on every process seals
//!    with the new key (see `keys`: a store under the retiring key is refused inside its
//!    transaction and redone), and both keys open seeds.
//! 2. [`Service::rekey_batch`] re-encrypts the seeds still under another key, in row
//!    order, a batch per transaction. Seeds are opened and sealed outside the transaction;
//!    each row is then rewritten only if its seal is still the one that was read (a
//!    compare-and-swap on key id, nonce and ciphertext, `storage::tokens::update_token_reseal`),
//!    and only the seal columns are written: a validation, resync or lock that committed
//!    meanwhile is kept, and a delete that destroyed the seed wins. A row skipped that way
//!    is picked up by the next pass. Nothing records progress: the rows left under the
//!    old key ARE the progress, so an interrupted run resumes by running again.
//! 3. [`Service::finish_rotation`] retires the old key in one transaction that first counts
//!    the seeds not under the active key: only at zero is the old key retired, its
//!    verification keys (audit, code) stored wrapped under the new key, and the retired
//!    keys of earlier rotations re-wrapped under it.
//!
//! [`Service::verify_seeds`] opens every seed and counts them per key id.
//! No seed is ever logged, printed or written anywhere but sealed into its row.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use super::audit::{self, Entry};
use super::{to_ms, Context, Error, Service};
use crate::crypto::{self, MasterKey, SealedSeed};
use crate::storage::master_keys::{self as register, MasterKeyRow, ACTIVE, RETIRED, RETIRING};
use crate::storage::tokens::{self, SealedRow};
use crate::storage::{self, Conn};
use crate::types::TokenId;
use crate::types::{AuditAction, AuditResult};

/// Why a rekey step did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RekeyError {
    /// The register does not allow it; the message says what to do.
    #[error("{0}")]
    Refused(String),
    /// The database or the keys failed.
    #[error(transparent)]
    Failed(#[from] Error),
}

impl From<storage::Error> for RekeyError {
    fn from(e: storage::Error) -> RekeyError {
        RekeyError::Failed(e.into())
    }
}

impl storage::JobError for RekeyError {
    fn storage_error(&self) -> Option<&storage::Error> {
        match self {
            RekeyError::Failed(e) => e.storage_error(),
            RekeyError::Refused(_) => None,
        }
    }
}

impl From<crypto::Error> for RekeyError {
    fn from(e: crypto::Error) -> RekeyError {
        RekeyError::Failed(e.into())
    }
}

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The last row read (pass it as `after_pk` for the next batch); `None`: no row left.
    pub last_pk: Option<i32>,
    /// Seeds now under the active key.
    pub resealed: u64,
    /// Rows whose seal changed between the read and the write (left for the next pass).
    pub changed: u64,
    /// Seeds that cannot be opened: `(TokenId, why)`.
    pub failed: Vec<(String, String)>,
}

/// How [`Service::finish_rotation`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// The old key is retired.
    Retired {
        /// Its id.
        key_id: String,
    },
    /// Seeds are still under another key than the active one: run more passes.
    Left(i64),
}

/// Seeds per key, as `tokend rekey --verify` reports them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// The active key.
    pub active: String,
    /// Per key id: (seeds that opened, seeds that did not).
    pub per_key: BTreeMap<String, (u64, u64)>,
    /// The register's state of each key id (`active`, `retiring`, `retired`).
    pub states: BTreeMap<String, String>,
    /// Every seed that did not open: (TokenId, key id, why).
    pub failures: Vec<(String, String, String)>,
}

impl SeedReport {
    /// Seeds under another key than the active one.
    pub fn not_under_active(&self) -> u64 {
        self.per_key
            .iter()
            .filter(|(id, _)| **id != self.active)
            .map(|(_, (ok, bad))| ok + bad)
            .sum()
    }
}

/// Seeds read per page by [`Service::verify_seeds`].
const VERIFY_PAGE: i64 = 1000;

fn find<'a>(rows: &'a [MasterKeyRow], state: &str) -> Option<&'a MasterKeyRow> {
    rows.iter().find(|r| r.state == state)
}

impl Service {
    /// The register of master keys, oldest first.
    pub fn key_register(&self) -> Result<Vec<MasterKeyRow>, Error> {
        Ok(self.storage.read(register::find_master_keys)?)
    }

    /// Starts a rotation to `new`: registers it as the active key and this process's active
    /// key as retiring; answers the retiring key's id. Refused while another rotation runs,
    /// for the active key itself, and for a key that was ever registered (a retired key is
    /// never used again).
    pub fn start_rotation(
        &self,
        ctx: &Context,
        new: &MasterKey,
        now: DateTime<Utc>,
    ) -> Result<String, RekeyError> {
        let new_id = new.key_id();
        let old_id = self.keyring.active_key_id();
        self.keyring.add_key(new)?;
        self.storage.write(|c| {
            let rows = register::find_master_keys(c)?;
            if let Some(r) = find(&rows, RETIRING) {
                return Err(RekeyError::Refused(format!(
                    "a rotation from key {} is in progress: finish it first (tokend rekey)",
                    r.key_id
                )));
            }
            if let Some(r) = rows.iter().find(|r| r.key_id == new_id) {
                return Err(RekeyError::Refused(format!(
                    "key {new_id} is already known to this database ({}): a new key must be new",
                    r.state
                )));
            }
            if !register::update_master_key_state(c, &old_id, ACTIVE, RETIRING)? {
                return Err(RekeyError::Refused(format!(
                    "key {old_id} is not the database's active key"
                )));
            }
            register::insert_master_key(c, &new_id, &new.fingerprint(), ACTIVE, to_ms(now))?;
            let detail = format!("from key {old_id} to key {new_id}");
            audit::record(c, ctx, now, rekey_entry(AuditAction::RekeyStart, &detail))?;
            Ok(())
        })?;
        self.keyring.set_active(&new_id)?;
        Ok(old_id)
    }

    /// Re-encrypts, under the active key, up to `limit` seeds under another key that come
    /// after row `after_pk`, in one transaction (see the module documentation).
    pub fn rekey_batch(&self, after_pk: i32, limit: i64) -> Result<Batch, RekeyError> {
        let active = self.keyring.active_key_id();
        let rows = self
            .storage
            .read(|c| tokens::find_sealed(c, Some(&active), after_pk, limit))?;
        let mut batch = Batch {
            last_pk: rows.last().map(|r| r.id),
            ..Batch::default()
        };
        let mut resealed = Vec::with_capacity(rows.len());
        for row in rows {
            match self.reseal(&row) {
                Ok(sealed) => resealed.push((row, sealed)),
                Err(why) => batch.failed.push((row.token_id, why)),
            }
        }
        let written = self.storage.write(|c| {
            check_active(c, &active)?;
            let mut written = 0u64;
            for (row, sealed) in &resealed {
                let swapped = tokens::update_token_reseal(
                    c,
                    row,
                    &sealed.key_id,
                    &sealed.nonce,
                    &sealed.ciphertext,
                )?;
                written += u64::from(swapped);
            }
            Ok::<_, RekeyError>(written)
        })?;
        batch.resealed = written;
        batch.changed = resealed.len() as u64 - written;
        Ok(batch)
    }

    /// Opens one stored seal and seals the seed again under the active key.
    fn reseal(&self, row: &SealedRow) -> Result<SealedSeed, String> {
        let token_id = TokenId::parse(&row.token_id).ok_or("the TokenId is malformed")?;
        let sealed = SealedSeed {
            key_id: row.seed_key_id.clone(),
            nonce: row.seed_nonce.clone(),
            ciphertext: row.seed_ciphertext.clone(),
        };
        let seed = self
            .keyring
            .open(&token_id, &sealed)
            .map_err(|e| e.to_string())?;
        self.keyring
            .seal(&token_id, &seed)
            .map_err(|e| e.to_string())
    }

    /// How many seeds are under another key than the active one.
    pub fn seeds_left(&self) -> Result<i64, Error> {
        let active = self.keyring.active_key_id();
        Ok(self
            .storage
            .read(|c| tokens::count_sealed_not_under(c, &active))?)
    }

    /// Retires the rotation's old key if no seed is left under another key than the
    /// active one (checked in the same transaction).
    pub fn finish_rotation(&self, ctx: &Context, now: DateTime<Utc>) -> Result<Finish, RekeyError> {
        let active = self.keyring.active_key_id();
        let rows = self.key_register()?;
        let retiring = find(&rows, RETIRING)
            .map(|r| r.key_id.clone())
            .ok_or_else(|| RekeyError::Refused("no rotation is in progress".into()))?;
        // The webhook endpoints' secrets are few and long-lived: resealed here, at once.
        self.reseal_webhook_secrets()?;
        // The few `--soap-digest` API keys are sealed as seeds are: resealed here.
        self.reseal_digest_keys()?;
        let (by, blob) = self.keyring.wrap_retired(&retiring)?;
        let mut rewrapped = Vec::new();
        for row in rows.iter().filter(|r| r.state == RETIRED) {
            match self.keyring.wrap_retired(&row.key_id) {
                Ok(wrapped) => rewrapped.push((row.key_id.clone(), wrapped)),
                Err(e) => tracing::warn!(
                    key_id = %row.key_id,
                    "cannot carry a retired key's verification keys to the new key: {e}"
                ),
            }
        }
        self.storage.write(|c| {
            check_active(c, &active)?;
            let left = tokens::count_sealed_not_under(c, &active)?
                + super::api_key_digest::count_not_under(c, &active)?;
            if left > 0 {
                return Ok(Finish::Left(left));
            }
            register::update_master_key_retired(c, &retiring, &by, &blob, to_ms(now))?;
            for (id, (by, blob)) in &rewrapped {
                register::update_master_key_wrapping(c, id, by, blob)?;
            }
            let detail = format!("key {retiring} retired; every seed is under key {active}");
            audit::record(c, ctx, now, rekey_entry(AuditAction::RekeyFinish, &detail))?;
            Ok(Finish::Retired {
                key_id: retiring.clone(),
            })
        })
    }

    /// Opens every stored seed (deleted tokens' destroyed seeds aside) and counts them per
    /// key id; read-only, safe while the service runs. Seeds are dropped (zeroed) at once.
    pub fn verify_seeds(&self) -> Result<SeedReport, Error> {
        let mut report = SeedReport {
            active: self.keyring.active_key_id(),
            ..SeedReport::default()
        };
        for row in self.key_register()? {
            report.states.insert(row.key_id, row.state);
        }
        let mut after = 0;
        loop {
            let page = self
                .storage
                .read(|c| tokens::find_sealed(c, None, after, VERIFY_PAGE))?;
            let Some(last) = page.last() else {
                return Ok(report);
            };
            after = last.id;
            for row in page {
                let counts = report.per_key.entry(row.seed_key_id.clone()).or_default();
                match self.reseal(&row) {
                    Ok(_) => counts.0 += 1,
                    Err(why) => {
                        counts.1 += 1;
                        report.failures.push((row.token_id, row.seed_key_id, why));
                    }
                }
            }
        }
    }
}

/// Refuses the write if another process changed the active key meanwhile.
fn check_active(c: &mut Conn, active: &str) -> Result<(), RekeyError> {
    match register::find_active_key_id(c)? {
        Some(id) if id == active => Ok(()),
        other => Err(RekeyError::Refused(format!(
            "the database's active key is now {} (another rekey?): run tokend rekey again",
            other.unwrap_or_default()
        ))),
    }
}

fn rekey_entry<'a>(action: AuditAction, detail: &'a str) -> Entry<'a> {
    Entry {
        action,
        token_id: None,
        usr_name: None,
        result: AuditResult::Success,
        detail: Some(detail),
    }
}
