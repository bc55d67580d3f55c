//! `GET /metrics` in the Prometheus text format: request counts and latency per route
//! (a fairing times every request), validations by result (counted where the answer is
//! made), and, read from the database at scrape time, locked bindings, the SMS queue by
//! provider and state, the event webhook's backlog, unlinked audit rows and the reading
//! pool's connections.
//!
//! Like `/health`, the route needs no key: it reveals counts, never a user, token or
//! code. Expose it to the monitoring network only.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{ContentType, Status};
use rocket::{get, routes, Data, Request, Response, Route, State};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use crate::domain::Service;
use crate::types::RsStat;
use crate::web::api::envelope::TrackingId;

/// The metrics route.
pub fn routes() -> Vec<Route> {
    routes![metrics]
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Cow<'static, str>,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SmsLabels {
    provider: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: String,
}

/// Every metric, registered once at start-up.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    validations: Family<ResultLabels, Counter>,
    locked: Gauge,
    sms: Family<SmsLabels, Gauge>,
    backlog: Gauge,
    unlinked: Gauge,
    pool: Family<PoolLabels, Gauge>,
    phones: super::metrics_phones::PhoneMetrics,
    audit: super::metrics_audit::AuditMetrics,
}

/// Latency buckets: 100 µs doubling up to ~3 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Metrics {
    /// Registers every metric under the `tokend_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tokend");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency =
            Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        let validations = Family::<ResultLabels, Counter>::default();
        let (locked, backlog, unlinked) = (Gauge::default(), Gauge::default(), Gauge::default());
        let sms = Family::<SmsLabels, Gauge>::default();
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time from the request's arrival to its answer, per route",
            latency.clone(),
        );
        registry.register(
            "validations",
            "Code validations by answer (Success, Failed, Locked)",
            validations.clone(),
        );
        registry.register("locked_bindings", "Bindings in Lock", locked.clone());
        registry.register(
            "sms_messages",
            "SMS messages by provider and state",
            sms.clone(),
        );
        registry.register(
            "event_backlog",
            "OOB result events not yet delivered to the webhook",
            backlog.clone(),
        );
        registry.register(
            "audit_unlinked_rows",
            "Audit rows not yet linked into the chain",
            unlinked.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Reading pool connections by state",
            pool.clone(),
        );
        let phones = super::metrics_phones::PhoneMetrics::register(&mut registry);
        let audit = super::metrics_audit::AuditMetrics::register(&mut registry);
        Metrics {
            phones,
            audit,
            registry,
            requests,
            latency,
            validations,
            locked,
            sms,
            backlog,
            unlinked,
            pool,
        }
    }

    /// Counts one validation answer.
    pub fn validation(&self, result: RsStat) {
        self.validations
            .get_or_create(&ResultLabels {
                result: result.as_str(),
            })
            .inc();
    }

    /// Observes the drift a success learned (matched step offset from now).
    pub fn drift(&self, steps: i32) {
        self.phones.drift(steps);
    }

    /// Counts an SMS refused by the SIM-swap hold (`lock` fallback or `explicit` OOB).
    pub fn sim_swap_held(&self, kind: &'static str) {
        self.phones.held(kind);
    }

    /// Reads the database-backed gauges and renders everything.
    fn render(&self, service: &Service) -> Result<String, String> {
        self.phones.refresh(service)?;
        self.audit
            .refresh(service, chrono::Utc::now().timestamp_millis())?;
        let (snapshot, (open, idle)) = service.stats().map_err(|e| e.to_string())?;
        self.locked.set(snapshot.locked_bindings);
        self.backlog.set(snapshot.undelivered_events);
        self.unlinked.set(snapshot.unlinked_audit_rows);
        self.sms.clear();
        for (provider, state, n) in snapshot.sms {
            self.sms
                .get_or_create(&SmsLabels {
                    provider: provider.to_string(),
                    state: state.to_string(),
                })
                .set(n);
        }
        for (state, n) in [("in_use", open.saturating_sub(idle)), ("idle", idle)] {
            self.pool
                .get_or_create(&PoolLabels {
                    state: state.to_owned(),
                })
                .set(i64::from(n));
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).map_err(|e| e.to_string())?;
        Ok(out)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// When the request arrived (kept in the request's local cache).
struct Arrived(Instant);

/// Times and counts every request into the shared [`Metrics`], and writes the access log
/// line (target `tokend::access`, level info): method, route, status, milliseconds and the
/// `jXLogTrackingId` the answer carries. Never the path (it may name a token) nor a body.
pub struct Timing(pub Arc<Metrics>);

#[rocket::async_trait]
impl Fairing for Timing {
    fn info(&self) -> Info {
        Info {
            name: "request metrics",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, _: &mut Data<'_>) {
        req.local_cache(|| Arrived(Instant::now()));
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let elapsed = req.local_cache(|| Arrived(Instant::now())).0.elapsed();
        // The handler's name: one series per route, never per path (paths carry ids). Labels
        // borrow 'static names, so counting a request allocates nothing.
        let route = req
            .route()
            .and_then(|r| r.name.clone())
            .unwrap_or(Cow::Borrowed("unmatched"));
        self.0
            .requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                method: req.method().as_str(),
                status: res.status().code,
            })
            .inc();
        let tracking = req.local_cache(|| TrackingId(None));
        tracing::info!(
            target: "tokend::access",
            method = req.method().as_str(),
            route = route.as_ref(),
            status = res.status().code,
            ms = round_ms(elapsed),
            jXLogTrackingId = tracking.0.as_deref().unwrap_or("-"),
        );
        self.0
            .latency
            .get_or_create(&RouteLabels { route })
            .observe(elapsed.as_secs_f64());
    }
}

#[get("/metrics")]
async fn metrics(
    metrics: &State<Arc<Metrics>>,
    service: &State<Arc<Service>>,
) -> (Status, (ContentType, String)) {
    let metrics = Arc::clone(metrics);
    let rendered = crate::web::edge::blocking(service, move |s| {
        metrics.render(s).map_err(crate::domain::Error::Internal)
    })
    .await;
    let text = ContentType::new("text", "plain").with_params(("version", "0.0.4"));
    match rendered {
        Ok(body) => (Status::Ok, (text, body)),
        Err(e) => (Status::ServiceUnavailable, (text, format!("# {e}\n"))),
    }
}

/// A duration in milliseconds to the microsecond, as the access line prints it
/// (`0.857`, not `0.8572649999999999`).
fn round_ms(elapsed: std::time::Duration) -> f64 {
    (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_times_are_printed_to_the_microsecond() {
        let d = std::time::Duration::from_nanos(857_264_999);
        assert_eq!(round_ms(d), 857.265);
        assert_eq!(round_ms(std::time::Duration::from_nanos(857_265)), 0.857);
    }
}
