//! The staff page (admins): the accounts the admin's institution covers, with forms to
//! create one (a one-time password shown once), change a role (both under dual control
//! as configured) and disable one (its sessions end at once, on every node). An admin
//! of one institution manages that institution's accounts only, and creates none for
//! every institution.

use crate::web::admin::template::Template;
use rocket::form::{Form, FromForm};
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::{get, post, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::roles::{answered, filed, not_here, permit, submit};
use super::session::{Admin, AdminSession};
use super::{refused, Base, Refusal};
use crate::domain::api_keys::KeyReach;
use crate::domain::staff::accounts::describe_reach;
use crate::domain::staff::approvals::Submitted;
use crate::domain::staff::requests::StaffRequest;
use crate::domain::{Error, Fault, Service};
use crate::types::{Role, StaffAction};
use crate::web::admin::words::when;
use crate::web::edge::blocking;

const BACK: &str = "/admin/staff";

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![
        staff_page,
        create,
        set_role,
        disable,
        reset_factor,
        end_sessions
    ]
}

#[derive(Serialize)]
struct Row {
    username: String,
    role: String,
    institution: String,
    created: String,
    last_sign_in: String,
    disabled: String,
}

#[derive(Serialize)]
struct StaffPage {
    page: Base,
    rows: Vec<Row>,
    roles: Vec<&'static str>,
    secret: Option<(String, String)>,
}

async fn render(
    s: &AdminSession,
    service: &Arc<Service>,
    flash: Option<FlashMessage<'_>>,
    secret: Option<(String, String)>,
) -> Result<Template, Flash<Redirect>> {
    let reach = s.admin.reach.clone();
    let rows = blocking(service, move |sv| sv.list_staff(&reach))
        .await
        .map_err(|e| refused("/admin/users".into(), &e))?;
    Ok(Template::render(
        "admin/staff",
        StaffPage {
            page: Base::new("Staff", s, flash),
            rows: rows
                .into_iter()
                .map(|a| Row {
                    username: a.username,
                    role: a.role.to_string(),
                    institution: describe_reach(&a.reach),
                    created: a.created_at.map(when).unwrap_or_default(),
                    last_sign_in: a.last_sign_in_at.map(when).unwrap_or_default(),
                    disabled: a.disabled_at.map(when).unwrap_or_default(),
                })
                .collect(),
            roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
            secret,
        },
    ))
}

#[get("/staff")]
async fn staff_page(
    admin: Admin,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Result<Template, Flash<Redirect>>, Refusal> {
    permit(&admin.0, service, StaffAction::StaffRole).await?;
    Ok(render(&admin.0, service, flash, None).await)
}

#[derive(FromForm)]
struct CreateForm {
    #[field(default = String::new())]
    csrf: String,
    username: String,
    role: String,
    /// Blank: the console's institution.
    #[field(default = String::new())]
    inst_rt_id: String,
    #[field(default = false)]
    all_institutions: bool,
    #[field(default = String::new())]
    reason: String,
}

fn role_of(s: &str) -> Result<Role, Error> {
    s.parse()
        .map_err(|_| Error::at(Fault::InvalidValue, "role").with_value(s))
}

#[post("/staff", data = "<form>")]
async fn create(
    admin: Admin,
    form: Form<CreateForm>,
    service: &State<Arc<Service>>,
) -> Result<Result<Template, Flash<Redirect>>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    let role = match role_of(&form.role) {
        Ok(r) => r,
        Err(e) => return Ok(Err(refused(BACK.into(), &e))),
    };
    let inst = form.inst_rt_id.trim();
    let inst_rt_id = match (&s.admin.reach, form.all_institutions) {
        (KeyReach::All, true) => None,
        (KeyReach::All, false) if !inst.is_empty() => Some(inst.to_owned()),
        _ => Some(s.institution.clone()),
    };
    let rq = StaffRequest::StaffCreate {
        username: form.username.trim().to_owned(),
        role,
        inst_rt_id,
    };
    match submit(&s, service, rq, form.reason.clone()).await? {
        Ok(Submitted::Done(done)) => {
            let shown = done.secret.map(|(label, p)| (label, p.as_str().to_owned()));
            let flash = Flash::success(Redirect::to(BACK), done.message);
            match shown {
                Some(secret) => Ok(render(&s, service, None, Some(secret)).await),
                None => Ok(Err(flash)),
            }
        }
        Ok(Submitted::Filed(id)) => Ok(Err(filed(BACK.into(), id))),
        Err(e) => Ok(Err(refused(BACK.into(), &e))),
    }
}

#[derive(FromForm)]
struct AccountForm {
    #[field(default = String::new())]
    csrf: String,
    username: String,
    #[field(default = String::new())]
    role: String,
    #[field(default = String::new())]
    reason: String,
}

/// The account named by a form, if the admin's reach covers it (else 404, audited).
async fn covered(
    s: &AdminSession,
    service: &Arc<Service>,
    username: &str,
) -> Result<Role, Refusal> {
    let (reach, name) = (s.admin.reach.clone(), username.to_owned());
    match blocking(service, move |sv| sv.find_staff(&reach, &name)).await {
        Ok(a) => Ok(a.role),
        Err(_) => Err(not_here(s, service, format!("staff account {username}")).await),
    }
}

#[post("/staff/role", data = "<form>")]
async fn set_role(
    admin: Admin,
    form: Form<AccountForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    permit(&s, service, StaffAction::StaffRole).await?;
    let from = covered(&s, service, &form.username).await?;
    let to = match role_of(&form.role) {
        Ok(r) => r,
        Err(e) => return Ok(refused(BACK.into(), &e)),
    };
    let rq = StaffRequest::StaffRole {
        username: form.username.clone(),
        from,
        to,
    };
    let result = submit(&s, service, rq, form.reason.clone()).await?;
    Ok(answered(BACK.into(), result))
}

/// Runs `run` on the account a form names, after the role and reach checks: the
/// redirect back to the staff page says what `said` makes of its answer.
async fn on_account<T: Send + 'static>(
    s: &AdminSession,
    service: &Arc<Service>,
    (form, action): (&AccountForm, StaffAction),
    run: impl FnOnce(&Service, &crate::domain::Context, &str) -> Result<T, Error> + Send + 'static,
    said: impl FnOnce(T) -> String,
) -> Result<Flash<Redirect>, Refusal> {
    s.check_csrf(&form.csrf)?;
    permit(s, service, action).await?;
    covered(s, service, &form.username).await?;
    let (ctx, name) = (s.context(), form.username.clone());
    let done = blocking(service, move |sv| run(sv, &ctx, &name)).await;
    Ok(match done {
        Ok(v) => Flash::success(Redirect::to(BACK), said(v)),
        Err(e) => refused(BACK.into(), &e),
    })
}

#[post("/staff/disable", data = "<form>")]
async fn disable(
    admin: Admin,
    form: Form<AccountForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let name = form.username.clone();
    let run = |sv: &Service, ctx: &crate::domain::Context, u: &str| {
        sv.disable_staff(ctx, u, chrono::Utc::now())
    };
    let said = |()| format!("{name} is disabled; their sessions have ended.");
    on_account(
        &admin.0,
        service,
        (&form, StaffAction::StaffDisable),
        run,
        said,
    )
    .await
}

/// Resets a staff member's second factor (lost authenticator): under dual control when
/// `staff.mfa_reset` is listed.
#[post("/staff/factor/reset", data = "<form>")]
async fn reset_factor(
    admin: Admin,
    form: Form<AccountForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    permit(&s, service, StaffAction::StaffFactorReset).await?;
    covered(&s, service, &form.username).await?;
    let rq = StaffRequest::StaffFactorReset {
        username: form.username.clone(),
    };
    let result = submit(&s, service, rq, form.reason.clone()).await?;
    Ok(answered(BACK.into(), result))
}

/// Ends every session of a staff member, on every node at once.
#[post("/staff/sessions/end", data = "<form>")]
async fn end_sessions(
    admin: Admin,
    form: Form<AccountForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let name = form.username.clone();
    let run = |sv: &Service, ctx: &crate::domain::Context, u: &str| {
        sv.end_sessions_of(ctx, u, chrono::Utc::now())
    };
    let said = |n: usize| format!("{n} session(s) of {name} ended.");
    on_account(
        &admin.0,
        service,
        (&form, StaffAction::StaffDisable),
        run,
        said,
    )
    .await
}
