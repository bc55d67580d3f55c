//! Sandbox institutions and their test clocks (issue 29; DESIGN: "Time is a parameter of
//! the domain … read from a clock per institution, which is the real one except in a
//! sandbox institution, whose clock moves only when its integrator says").
//!
//! The domain still never reads the clock: it says which clock an institution has
//! ([`InstClock`]) and the edge reads the real one when that is the answer. Every request
//! asks, so the answer for a production institution comes from memory
//! ([`SandboxCache`]): a registered production institution is remembered for good (it
//! never becomes a sandbox), an unregistered one for [`UNREGISTERED_SECS`] (it could be
//! registered as a sandbox meanwhile, on any node). A sandbox's clock is read from the
//! database on every request, so a move on one node holds on all at once.
//! Imports: storage.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use super::api_keys::{is_inst_rt_id, KeyReach};
use super::audit::{self, Entry};
use super::{from_ms, to_ms, Context, Error, Fault, Service};
use crate::storage::institutions::{self as inst, Institution};
use crate::storage::{self};
use crate::types::{AuditAction, AuditResult};

/// How long a node trusts that an unregistered institution is a production one.
pub const UNREGISTERED_SECS: u64 = 10;

/// How many institutions a node remembers before it starts over.
const MAX_REMEMBERED: usize = 10_000;

/// Which clock an institution's time rules read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstClock {
    /// The real one (production).
    Real,
    /// A sandbox's test clock, at this time.
    Sandbox(DateTime<Utc>),
}

/// What a node remembers of institutions: production ones (registered: forever;
/// unregistered: until the instant), and which are sandboxes.
#[derive(Debug, Default)]
pub struct SandboxCache(RwLock<HashMap<String, Known>>);

#[derive(Debug, Clone, Copy)]
enum Known {
    Production(Option<Instant>),
    Sandbox,
}

impl SandboxCache {
    fn get(&self, inst: &str) -> Option<Known> {
        let known = *self.0.read().ok()?.get(inst)?;
        match known {
            Known::Production(Some(until)) if Instant::now() >= until => None,
            k => Some(k),
        }
    }

    fn put(&self, inst: &str, known: Known) {
        if let Ok(mut map) = self.0.write() {
            // Requests may name any InstRtId: what is remembered stays bounded.
            if map.len() >= MAX_REMEMBERED {
                map.clear();
            }
            map.insert(inst.to_owned(), known);
        }
    }
}

/// The largest single move of a sandbox clock (ten years), so a typo cannot overflow it.
pub const MAX_ADVANCE_SECS: i64 = 10 * 366 * 86_400;

const INST_ELEM: &str = "MsgRqHdr.jXchangeHdr.InstRtId";

impl Service {
    /// The clock of the institution `ctx` acts within, for a key of `reach`: a sandbox
    /// takes only keys bound to it (`tk_test_`), so a cross-institution (production) key
    /// naming one is fault 2505.
    pub fn clock_for(&self, ctx: &Context, reach: &KeyReach) -> Result<InstClock, Error> {
        let clock = self.clock_of(self.institution(ctx))?;
        if matches!(clock, InstClock::Sandbox(_)) && *reach == KeyReach::All {
            return Err(Error::at(Fault::InstitutionDenied, INST_ELEM)
                .with_detail("(a sandbox institution takes only its own tk_test_ keys)"));
        }
        Ok(clock)
    }

    /// The clock of institution `inst` (see the module doc for what is remembered).
    pub fn clock_of(&self, inst: &str) -> Result<InstClock, Error> {
        if let Some(Known::Production(_)) = self.sandboxes.get(inst) {
            return Ok(InstClock::Real);
        }
        let row = self.storage.read(|c| inst::find_institution(c, inst))?;
        match row {
            Some(Institution {
                sandbox: true,
                clock_at,
                ..
            }) => {
                self.sandboxes.put(inst, Known::Sandbox);
                let at = clock_at
                    .and_then(from_ms)
                    .ok_or_else(|| Error::Internal(format!("sandbox {inst} has no clock")))?;
                Ok(InstClock::Sandbox(at))
            }
            Some(_) => {
                self.sandboxes.put(inst, Known::Production(None));
                Ok(InstClock::Real)
            }
            None => {
                let until = Instant::now() + Duration::from_secs(UNREGISTERED_SECS);
                self.sandboxes.put(inst, Known::Production(Some(until)));
                Ok(InstClock::Real)
            }
        }
    }

    /// Whether `inst` is a sandbox institution.
    pub fn is_sandbox(&self, inst: &str) -> Result<bool, Error> {
        Ok(matches!(self.clock_of(inst)?, InstClock::Sandbox(_)))
    }

    /// Registers institution `inst_rt_id`; a sandbox's clock starts at `now`. Refused: a
    /// malformed id, one already registered, and a sandbox for the default institution
    /// or for one that already has users, tokens, keys or audit rows (production data:
    /// a production institution never becomes a sandbox). Audited.
    pub fn create_institution(
        &self,
        ctx: &Context,
        inst_rt_id: &str,
        sandbox: bool,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        if !is_inst_rt_id(inst_rt_id) {
            return Err(Error::at(Fault::InvalidValue, "InstRtId")
                .with_detail("(1-64 characters of A-Z a-z 0-9 . _ -)"));
        }
        let production = || {
            Error::at(Fault::InvalidValue, "InstRtId")
                .with_value(inst_rt_id)
                .with_detail(
                    "is a production institution (the default, or it has data); \
                 a production institution cannot become a sandbox",
                )
        };
        if sandbox && inst_rt_id == self.policy.default_inst_rt_id {
            return Err(production());
        }
        let row = Institution {
            inst_rt_id: inst_rt_id.to_owned(),
            sandbox,
            clock_at: sandbox.then(|| to_ms(now)),
            created_at: to_ms(now),
        };
        let ctx = Context {
            inst_rt_id: Some(inst_rt_id.to_owned()),
            ..ctx.clone()
        };
        self.storage.write(|c| {
            if sandbox && inst::has_rows(c, inst_rt_id)? {
                return Err(production());
            }
            inst::insert_institution(c, &row).map_err(|e| match e {
                storage::Error::Conflict(_) => Error::at(Fault::InvalidValue, "InstRtId")
                    .with_value(inst_rt_id)
                    .with_detail("is already registered"),
                other => Error::from(other),
            })?;
            let kind = if sandbox { "sandbox" } else { "production" };
            let entry = Entry {
                action: AuditAction::InstitutionCreate,
                token_id: None,
                usr_name: None,
                result: AuditResult::Success,
                detail: Some(kind),
            };
            Ok(audit::record(c, &ctx, now, entry)?)
        })
    }

    /// Every registered institution.
    pub fn institutions(&self) -> Result<Vec<Institution>, Error> {
        Ok(self.storage.read(inst::find_institutions)?)
    }

    /// Moves the test clock of the sandbox `ctx` acts within to `to`, never backwards
    /// (fault 7001 at `elem`); audited with both times. Answers the clock after the move.
    /// `real_now` stamps the audit row, so the trail stays in real time.
    pub fn move_sandbox_clock(
        &self,
        ctx: &Context,
        to: DateTime<Utc>,
        elem: &str,
        real_now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, Error> {
        let inst_rt_id = self.institution(ctx).to_owned();
        let InstClock::Sandbox(from) = self.clock_of(&inst_rt_id)? else {
            return Err(not_a_sandbox());
        };
        let detail = format!("{} -> {}", from.to_rfc3339(), to.to_rfc3339());
        self.storage.write(|c| {
            if !inst::update_clock(c, &inst_rt_id, to_ms(to))? {
                return Err(Error::at(Fault::InvalidValue, elem)
                    .with_detail("(a sandbox clock never goes backwards)"));
            }
            let entry = Entry {
                action: AuditAction::SandboxClock,
                token_id: None,
                usr_name: None,
                result: AuditResult::Success,
                detail: Some(&detail),
            };
            Ok(audit::record(c, ctx, real_now, entry)?)
        })?;
        // What the real clock's sweeper does for production, done at the new time.
        self.expire_due_in(&inst_rt_id, to)?;
        Ok(to)
    }
}

/// The fault for a sandbox call within a production institution.
pub fn not_a_sandbox() -> Error {
    Error::at(Fault::InstitutionDenied, INST_ELEM)
        .with_detail("(not a sandbox institution: its clock is the real one)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::service;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn in_inst(inst: &str) -> Context {
        Context {
            actor: "test".into(),
            inst_rt_id: Some(inst.into()),
            ..Context::default()
        }
    }

    #[test]
    fn a_sandbox_clock_starts_at_creation_and_moves_only_forwards() {
        let (_dir, s) = service();
        let ctx = in_inst("sbx");
        s.create_institution(&ctx, "sbx", true, at(1_800_000_000))
            .unwrap();
        assert_eq!(
            s.clock_of("sbx").unwrap(),
            InstClock::Sandbox(at(1_800_000_000))
        );
        s.move_sandbox_clock(&ctx, at(1_800_000_600), "AdvanceSecs", at(1))
            .unwrap();
        assert_eq!(
            s.clock_of("sbx").unwrap(),
            InstClock::Sandbox(at(1_800_000_600))
        );
        let back = s
            .move_sandbox_clock(&ctx, at(1_800_000_000), "SetDt", at(2))
            .unwrap_err();
        assert_eq!(back.kind(), Fault::InvalidValue);
        assert_eq!(s.clock_of("other").unwrap(), InstClock::Real);
        let prod = s
            .move_sandbox_clock(&in_inst("other"), at(1_900_000_000), "SetDt", at(3))
            .unwrap_err();
        assert_eq!(prod.kind(), Fault::InstitutionDenied);
    }

    #[test]
    fn a_production_institution_cannot_become_a_sandbox_and_takes_no_cross_key_refusal() {
        let (_dir, s) = service();
        let ctx = in_inst("x");
        let default = s.policy().default_inst_rt_id.clone();
        let e = s
            .create_institution(&ctx, &default, true, at(5))
            .unwrap_err();
        assert_eq!(e.kind(), Fault::InvalidValue);
        s.create_institution(&ctx, "prod", false, at(5)).unwrap();
        let again = s.create_institution(&ctx, "prod", true, at(6)).unwrap_err();
        assert_eq!(again.kind(), Fault::InvalidValue);
        assert!(!s.is_sandbox("prod").unwrap());
        s.create_institution(&ctx, "sbx", true, at(5)).unwrap();
        let cross = s.clock_for(&in_inst("sbx"), &KeyReach::All).unwrap_err();
        assert_eq!(cross.kind(), Fault::InstitutionDenied);
        let own = KeyReach::Institution("sbx".into());
        assert!(s.clock_for(&in_inst("sbx"), &own).is_ok());
        assert_eq!(s.institutions().unwrap().len(), 2);
    }
}
