//! Service status routes outside the jXchange API: `/` (a static description, the
//! cheapest route: the floor of the HTTP stack in benchmarks) and `/health` (the database
//! answers and its migrations are current).

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
pub struct Health {
    #[serde(rename = "Status")]
    status: &'static str,
    #[serde(rename = "Database")]
    database: &'static str,
}

#[get("/health")]
async fn health(service: &State<Arc<Service>>) -> (Status, Json<Health>) {
    let ok = super::api::blocking(service, |s| s.is_healthy())
        .await
        .unwrap_or(false);
    let (status, text) = if ok {
        (Status::Ok, "ok")
    } else {
        (Status::ServiceUnavailable, "unavailable")
    };
    (
        status,
        Json(Health {
            status: text,
            database: text,
        }),
    )
}
