//! The console's overview, its home page: what a help desk or an officer looks at first —
//! tokens by status, bindings locked now, SMS codes sent today (UTC), and validations
//! that failed in the last hour — for the institution the staff member acts within.

use chrono::{DateTime, Duration, Utc};

use super::{to_ms, Context, Error, Service};
use crate::storage::overview;
use crate::types::UsrTokenStat;

/// The overview of one institution at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    /// Tokens per status, every status listed (zero included), in lifecycle order.
    pub tokens: Vec<(UsrTokenStat, i64)>,
    /// Bindings locked now.
    pub locked: i64,
    /// SMS codes sent since midnight UTC.
    pub sms_today: i64,
    /// Validations that failed in the last hour.
    pub failures_last_hour: i64,
}

/// The statuses in the order a token lives through them.
const ORDER: [UsrTokenStat; 6] = [
    UsrTokenStat::Init,
    UsrTokenStat::Act,
    UsrTokenStat::Lock,
    UsrTokenStat::Disable,
    UsrTokenStat::InAct,
    UsrTokenStat::Del,
];

impl Service {
    /// The overview of the request's institution at `now`.
    pub fn overview(&self, ctx: &Context, now: DateTime<Utc>) -> Result<Overview, Error> {
        let inst = self.institution(ctx).to_owned();
        let is_default = inst == self.policy.default_inst_rt_id;
        let midnight = now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map_or(now, |t| t.and_utc());
        let counts = self.storage.read(|c| {
            overview::find_counts(
                c,
                &inst,
                is_default,
                to_ms(midnight),
                to_ms(now - Duration::hours(1)),
            )
        })?;
        let tokens = ORDER
            .iter()
            .map(|s| {
                let n = counts
                    .tokens
                    .iter()
                    .find(|(t, _)| t == s)
                    .map_or(0, |(_, n)| *n);
                (*s, n)
            })
            .collect();
        Ok(Overview {
            tokens,
            locked: counts.locked,
            sms_today: counts.sms_sent,
            failures_last_hour: counts.failures,
        })
    }
}
