//! Service status routes outside the jXchange API: `/` (a static description, the
//! cheapest route: the floor of the HTTP stack in benchmarks) and `/health` (the database
//! answers, its migrations are current, the clock is sane).

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;

use crate::domain::Service;

/// The status routes.
pub fn routes() -> Vec<Route> {
    routes![index, health]
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
