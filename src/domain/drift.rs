//! Drift telemetry (issue 17): which tokens' clocks run away, before they lock out.
//!
//! Validation follows a drifting clock one step at a time, but never beyond
//! ±`resync_window_steps`; a token whose learned drift is within one step of that edge
//! is about to fail every code. The metrics gauge counts them, the console lists the
//! drifting tokens sorted by |drift| with a resync action.

use super::{Context, Error, Service};
use crate::storage::{bindings, drift};
use crate::types::{TokenType, UsrTokenStat};

/// Tokens listed at most on the drifting-tokens page.
const PAGE: i64 = 500;

/// A drifting token, for the console.
#[derive(Debug, Clone)]
pub struct DriftingToken {
    /// jXchange `TokenId`.
    pub token_id: String,
    /// Software or Hardware.
    pub token_type: TokenType,
    /// jXchange `UsrTokenStat`.
    pub status: UsrTokenStat,
    /// Learned drift, steps (positive: the token's clock runs fast).
    pub drift: i32,
    /// The token's step, seconds.
    pub period: i32,
    /// Its users.
    pub users: Vec<String>,
    /// Within one step of the edge of the window drift may follow.
    pub near_edge: bool,
}

impl Service {
    /// The |drift| from which a token is "near the edge".
    fn edge(&self) -> i32 {
        i32::try_from(self.policy.resync_window_steps)
            .unwrap_or(i32::MAX)
            .saturating_sub(1)
            .max(1)
    }

    /// How many tokens' drift is within one step of the window edge (the metrics gauge).
    pub fn tokens_near_drift_edge(&self) -> Result<i64, Error> {
        let edge = self.edge();
        Ok(self
            .storage
            .read(|c| drift::count_tokens_drifted(c, edge))?)
    }

    /// The institution's tokens with any drift, largest |drift| first.
    pub fn drifting_tokens(&self, ctx: &Context) -> Result<Vec<DriftingToken>, Error> {
        let inst = self.institution(ctx).to_owned();
        let edge = self.edge();
        let rows = self
            .storage
            .read(|c| drift::find_tokens_drifted(c, &inst, 1, PAGE))?;
        let mut out = Vec::with_capacity(rows.len());
        for t in rows {
            let bound = self
                .storage
                .read(|c| bindings::find_bound_by_token(c, &inst, &t.token_id))?;
            out.push(DriftingToken {
                users: bound.into_iter().map(|b| b.usr_name).collect(),
                near_edge: t.drift.abs() >= edge,
                token_id: t.token_id,
                token_type: t.token_type,
                status: t.status,
                drift: t.drift,
                period: t.period,
            });
        }
        out.sort_by_key(|t| std::cmp::Reverse(t.drift.abs()));
        Ok(out)
    }
}
