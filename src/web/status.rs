//! Service status routes outside the jXchange API: `/` (a static description, the
//! cheapest route: the floor of the HTTP stack in benchmarks), `/health` (liveness: the
//! database answers, its migrations are current, the clock is sane) and `/ready`
//! (readiness: this node can serve — see `domain::ready`).

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;

use crate::domain::Service;

/// The status routes.
pub fn routes() -> Vec<Route> {
    routes![index, health, ready]
}

/// What `/` answers.
#[derive(Serialize)]
pub struct About {
    #[serde(rename = "Service")]
    service: &'static str,
    #[serde(rename = "Version")]
    version: &'static str,
    #[serde(rename = "Api")]
    api: &'static str,
}

#[get("/")]
fn index() -> Json<About> {
    Json(About {
        service: "tokend",
        version: env!("CARGO_PKG_VERSION"),
        api: "/api/v1",
    })
}

/// What `/health` answers.
#[derive(Serialize)]
pub struct HealthRs {
    #[serde(rename = "Status")]
    status: &'static str,
    #[serde(rename = "Database")]
    database: &'static str,
    #[serde(rename = "Migrations")]
    migrations: &'static str,
    #[serde(rename = "Clock")]
    clock: &'static str,
}

fn word(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "unavailable"
    }
}

/// 200 when the database answers, its migrations are current and the clock is sane;
/// 503 naming what is not.
#[get("/health")]
async fn health(service: &State<Arc<Service>>) -> (Status, Json<HealthRs>) {
    let health = super::edge::blocking(service, |s| Ok(s.health(chrono::Utc::now())))
        .await
        .unwrap_or_default();
    let status = if health.ok() {
        Status::Ok
    } else {
        Status::ServiceUnavailable
    };
    (
        status,
        Json(HealthRs {
            status: word(health.ok()),
            database: word(health.database),
            migrations: word(health.migrations_current),
            clock: word(health.clock_sane),
        }),
    )
}

/// What `/ready` answers.
#[derive(Serialize)]
pub struct ReadyRs {
    #[serde(rename = "Status")]
    status: &'static str,
    #[serde(rename = "Database")]
    database: &'static str,
    #[serde(rename = "Writable")]
    writable: &'static str,
    #[serde(rename = "Migrations")]
    migrations: &'static str,
    #[serde(rename = "Keys")]
    keys: &'static str,
    /// Key ids in use this node lacks.
    #[serde(rename = "MissingKeyIds", skip_serializing_if = "Vec::is_empty")]
    missing_keys: Vec<String>,
    /// The HSM holding the master key (pkcs11 source only): `ok` or `unavailable`.
    #[serde(rename = "Hsm", skip_serializing_if = "Option::is_none")]
    hsm: Option<&'static str>,
    /// Why the HSM is unavailable (the PKCS#11 error, never a PIN or key).
    #[serde(rename = "HsmError", skip_serializing_if = "Option::is_none")]
    hsm_error: Option<String>,
}

/// 200 when this node can serve (database readable and writable, migrations current,
/// every master key in use held, the HSM answering when the key is in one); 503 naming
/// what is not. For load balancers.
#[get("/ready")]
async fn ready(service: &State<Arc<Service>>) -> (Status, Json<ReadyRs>) {
    let r = super::edge::blocking(service, |s| Ok(s.readiness()))
        .await
        .unwrap_or_default();
    let status = if r.ok() {
        Status::Ok
    } else {
        Status::ServiceUnavailable
    };
    (
        status,
        Json(ReadyRs {
            status: word(r.ok()),
            database: word(r.database),
            writable: word(r.writable),
            migrations: word(r.migrations_current),
            keys: word(r.missing_keys.is_empty()),
            missing_keys: r.missing_keys,
            hsm: r.hsm.as_ref().map(|h| word(h.is_ok())),
            hsm_error: r.hsm.and_then(Result::err),
        }),
    )
}
