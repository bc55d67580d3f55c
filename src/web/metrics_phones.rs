//! The metrics of issue 17: the drift successes learn (`tokend_token_drift_steps`), the
//! tokens whose drift is within one step of the window edge
//! (`tokend_tokens_drift_near_edge`, read from the database at scrape time), and the SMS
//! refused by the SIM-swap hold (`tokend_sim_swap_held`, by `kind`: `lock` fallback or
//! `explicit` OOBValidate), and the SMS the fraud guard refused (`tokend_sms_refused`, by
//! `kind`; issue 26). Counts only: never a user, token or number.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::domain::Service;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// Buckets of matched offsets, in steps: fine near 0, coarse towards the window edge.
const DRIFT_BUCKETS: [f64; 13] = [
    -20.0, -10.0, -5.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0,
];

/// Issue 17's metrics, registered beside the others.
pub struct PhoneMetrics {
    drift: Histogram,
    near_edge: Gauge,
    held: Family<KindLabels, Counter>,
    refused: Family<KindLabels, Counter>,
}

impl PhoneMetrics {
    /// Registers the metrics in `registry` (prefix `tokend`).
    pub fn register(registry: &mut Registry) -> PhoneMetrics {
        let drift = Histogram::new(DRIFT_BUCKETS);
        let near_edge = Gauge::default();
        let held = Family::<KindLabels, Counter>::default();
        let refused = Family::<KindLabels, Counter>::default();
        registry.register(
            "sms_refused",
            "SMS the fraud guard refused since start (kind: institution or api_key hourly cap, user_or_phone cap, blocked_number); alert SmsPumping in docs/operations.md",
            refused.clone(),
        );
        registry.register(
            "token_drift_steps",
            "Matched step offset from now of each successful validation (positive: the token's clock runs fast)",
            drift.clone(),
        );
        registry.register(
            "tokens_drift_near_edge",
            "Tokens whose learned drift is within one step of resync_window_steps (about to lock out)",
            near_edge.clone(),
        );
        registry.register(
            "sim_swap_held",
            "SMS refused by the SIM-swap hold after a phone change (kind: lock fallback, explicit OOB)",
            held.clone(),
        );
        PhoneMetrics {
            drift,
            near_edge,
            held,
            refused,
        }
    }

    /// Observes one success's drift.
    pub fn drift(&self, steps: i32) {
        self.drift.observe(f64::from(steps));
    }

    /// Counts one refusal by the hold.
    pub fn held(&self, kind: &'static str) {
        self.held.get_or_create(&KindLabels { kind }).inc();
    }

    /// Reads the near-edge gauge from the database.
    pub fn refresh(&self, service: &Service) -> Result<(), String> {
        let n = service
            .tokens_near_drift_edge()
            .map_err(|e| e.to_string())?;
        self.near_edge.set(n);
        // The domain counts refusals where it decides them; the counter catches up here.
        for (kind, n) in service.oob().refused.snapshot() {
            let counter = self.refused.get_or_create(&KindLabels { kind });
            counter.inc_by(n.saturating_sub(counter.get()));
        }
        Ok(())
    }
}
