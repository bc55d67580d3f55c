//! The approvals page (dual control): the requests of the console's institution, newest
//! first, each pending one with Approve and Reject forms for those who may decide it
//! (never its maker, who may only withdraw it). An approval that runs an action with a
//! secret (a new API key, a one-time password) shows the secret on its answer, once.

use crate::web::admin::template::Template;
use rocket::form::{Form, FromForm};
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::{get, post, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::session::{Admin, AdminSession};
use super::{refused, Base, Refusal};
use crate::domain::Service;
use crate::web::admin::words::when;
use crate::web::edge::blocking;

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![approvals, decision]
}

#[derive(Serialize)]
struct Row {
    id: i32,
    inst_rt_id: String,
    action: String,
    target: String,
    reason: String,
    maker: String,
    state: String,
    created: String,
    expires: String,
    decided_by: String,
    outcome: String,
    decidable: bool,
    mine: bool,
}

#[derive(Serialize)]
struct ApprovalsPage {
    page: Base,
    rows: Vec<Row>,
}

/// The requests of the console's institution.
#[get("/approvals")]
async fn approvals(
    admin: Admin,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Template, Flash<Redirect>> {
    let s = admin.0;
    let (ctx, staff) = (s.context(), s.staff());
    let rows = blocking(service, move |sv| {
        sv.approvals(&ctx, &staff, chrono::Utc::now())
    })
    .await
    .map_err(|e| refused("/admin/users".into(), &e))?;
    Ok(Template::render(
        "admin/approvals",
        ApprovalsPage {
            page: Base::new("Approvals", &s, flash),
            rows: rows
                .into_iter()
                .map(|a| Row {
                    mine: a.maker == s.admin.username,
                    id: a.id,
                    inst_rt_id: a.inst_rt_id,
                    action: a.action.to_string(),
                    target: a.target,
                    reason: a.reason,
                    maker: a.maker,
                    state: a.state.to_string(),
                    created: a.created_at.map(when).unwrap_or_default(),
                    expires: a.expires_at.map(when).unwrap_or_default(),
                    decided_by: a.decided_by.unwrap_or_default(),
                    outcome: a.outcome.unwrap_or_default(),
                    decidable: a.decidable,
                })
                .collect(),
        },
    ))
}

#[derive(FromForm)]
struct DecideForm {
    #[field(default = String::new())]
    csrf: String,
}

#[derive(Serialize)]
struct SecretPage {
    page: Base,
    message: String,
    label: String,
    secret: String,
}

async fn decide(
    s: &AdminSession,
    service: &Arc<Service>,
    id: i32,
    approve: bool,
) -> Result<Template, Flash<Redirect>> {
    let (ctx, staff) = (s.context(), s.staff());
    let done = blocking(service, move |sv| {
        sv.decide(&ctx, &staff, id, approve, chrono::Utc::now())
    })
    .await
    .map_err(|e| refused("/admin/approvals".into(), &e))?;
    match done.secret {
        Some((label, secret)) => Ok(Template::render(
            "admin/secret",
            SecretPage {
                page: Base::new("Approved", s, None),
                message: done.message,
                label,
                secret: secret.as_str().to_owned(),
            },
        )),
        None => Err(Flash::success(
            Redirect::to("/admin/approvals"),
            format!("Request #{id}: {}", done.message),
        )),
    }
}

/// `approve`: the action runs now, re-checked against its target; `reject`: it never
/// runs (for its maker: withdrawn). Anything else is no such page.
#[post("/approvals/<id>/<decision>", data = "<form>")]
async fn decision(
    admin: Admin,
    id: i32,
    decision: &str,
    form: Form<DecideForm>,
    service: &State<Arc<Service>>,
) -> Result<Result<Template, Flash<Redirect>>, Refusal> {
    let approve = match decision {
        "approve" => true,
        "reject" => false,
        _ => {
            return Err(super::error_page(
                rocket::http::Status::NotFound,
                "There is no such page.",
            ))
        }
    };
    admin.0.check_csrf(&form.csrf)?;
    Ok(decide(&admin.0, service, id, approve).await)
}
