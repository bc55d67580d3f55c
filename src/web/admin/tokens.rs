//! Token pages: the actions on a token or binding — lock, unlock, disable, enable, delete
//! (after a confirmation page), resync (software enrollment is in `enroll`, temporary
//! codes and the test SMS in `fallback`) — each through the same domain call as the API, with the ActIntentKey of the page the admin
//! saw as a hidden field: if another admin (or a validation) changed the token since,
//! the action is refused (fault 7031) and the page shows the fresh state.

use crate::web::admin::template::Template;
use rocket::form::{Form, FromForm};
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::{get, post, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::enroll::ActivatePage;
use super::roles::{answered, permit, submit};
use super::session::{Admin, AdminSession};
use super::users::detail_uri;
use super::{refused, token_id, usr_name, Base, Refusal};
use crate::domain::lifecycle::ModifyRequest;
use crate::domain::staff::requests::StaffRequest;
use crate::domain::{Error, Fault, Service};
use crate::types::{MfaTokenUsrStat, RsStat, StaffAction, TokenId, UsrTokenStat};
use crate::web::edge::blocking;
use crate::web::parse::parse_code;

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![modify, delete_page, delete, resync_page, resync]
}

#[derive(FromForm)]
struct ModifyForm {
    #[field(default = String::new())]
    csrf: String,
    token_id: String,
    usr_name: String,
    key: String,
    /// `token` or `binding`.
    target: String,
    /// The new status (jXchange spelling).
    status: String,
}

/// What a status change is, judged from the record's current state (never from the
/// form): unlocking a locked token or binding is the help desk's `token.unlock`; any
/// other change (disable, enable, lock) is `token.disable`.
async fn modify_action(s: &AdminSession, service: &Arc<Service>, form: &ModifyForm) -> StaffAction {
    let (ctx, name, token) = (s.context(), form.usr_name.clone(), form.token_id.clone());
    let binding = form.target == "binding";
    let current = blocking(service, move |sv| {
        let view = sv.user_view(&ctx, &usr_name(&name)?, chrono::Utc::now())?;
        Ok(view
            .tokens
            .into_iter()
            .find(|t| t.token_id == token)
            .map(|t| {
                if binding {
                    t.binding_status == MfaTokenUsrStat::Lock
                } else {
                    t.token_status == UsrTokenStat::Lock
                }
            }))
    })
    .await;
    match current {
        Ok(Some(true)) if form.status == "Act" => StaffAction::TokenUnlock,
        _ => StaffAction::TokenDisable,
    }
}

fn modify_request(form: &ModifyForm) -> Result<(TokenId, ModifyRequest), Error> {
    let token = token_id(&form.token_id)?;
    let user = usr_name(&form.usr_name)?;
    let bad = || Error::at(Fault::EnumValue, "status").with_value(form.status.as_str());
    let mut rq = ModifyRequest {
        intent_key: form.key.clone(),
        ..ModifyRequest::default()
    };
    match form.target.as_str() {
        "token" => rq.token_status = Some(form.status.parse::<UsrTokenStat>().map_err(|_| bad())?),
        "binding" => {
            rq.binding_status = Some(form.status.parse::<MfaTokenUsrStat>().map_err(|_| bad())?);
            rq.usr_name = Some(user);
        }
        _ => return Err(bad()),
    }
    Ok((token, rq))
}

/// Lock, unlock, disable, enable: one MFATokenMod with the page's ActIntentKey.
#[post("/tokens/modify", data = "<form>")]
async fn modify(
    admin: Admin,
    form: Form<ModifyForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    let back = detail_uri(&form.usr_name);
    let (token, rq) = match modify_request(&form) {
        Ok(v) => v,
        Err(e) => return Ok(refused(back, &e)),
    };
    permit(&s, service, modify_action(&s, service, &form).await).await?;
    let ctx = s.context();
    let done = blocking(service, move |sv| {
        sv.modify(&ctx, &token, &rq, chrono::Utc::now())
    })
    .await;
    Ok(match done {
        Ok(_) => Flash::success(
            Redirect::to(back),
            format!(
                "{} of {} is now {}.",
                if form.target == "token" {
                    "Token"
                } else {
                    "Binding"
                },
                form.token_id,
                form.status
            ),
        ),
        Err(e) => refused(back, &e),
    })
}

#[derive(Serialize)]
struct ConfirmPage {
    page: Base,
    usr_name: String,
    token_id: String,
    key: String,
}

#[get("/tokens/delete?<token>&<name>&<key>")]
async fn delete_page(
    admin: Admin,
    token: &str,
    name: &str,
    key: &str,
    service: &State<Arc<Service>>,
) -> Result<Template, Refusal> {
    permit(&admin.0, service, StaffAction::TokenDelete).await?;
    Ok(Template::render(
        "admin/tokens/delete",
        ConfirmPage {
            page: Base::new("Delete a token", &admin.0, None),
            usr_name: name.to_owned(),
            token_id: token.to_owned(),
            key: key.to_owned(),
        },
    ))
}

#[derive(FromForm)]
struct DeleteForm {
    #[field(default = String::new())]
    csrf: String,
    token_id: String,
    usr_name: String,
    key: String,
    /// Why, for the approver (under dual control).
    #[field(default = String::new())]
    reason: String,
}

#[post("/tokens/delete", data = "<form>")]
async fn delete(
    admin: Admin,
    form: Form<DeleteForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    let back = detail_uri(&form.usr_name);
    let token = match token_id(&form.token_id) {
        Ok(t) => t,
        Err(e) => return Ok(refused(back, &e)),
    };
    let rq = StaffRequest::TokenDelete {
        token_id: token.as_str().to_owned(),
        usr_name: form.usr_name.clone(),
        intent_key: form.key.clone(),
    };
    let result = submit(&s, service, rq, form.reason.clone()).await?;
    Ok(answered(back, result))
}

#[get("/tokens/resync?<token>&<name>")]
async fn resync_page(
    admin: Admin,
    token: &str,
    name: &str,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Template, Refusal> {
    permit(&admin.0, service, StaffAction::TokenResync).await?;
    Ok(Template::render(
        "admin/tokens/resync",
        ActivatePage {
            page: Base::new("Resynchronise a token", &admin.0, flash),
            usr_name: name.to_owned(),
            token_id: token.to_owned(),
        },
    ))
}

#[derive(FromForm)]
struct ResyncForm {
    #[field(default = String::new())]
    csrf: String,
    token_id: String,
    usr_name: String,
    code1: String,
    code2: String,
}

#[post("/tokens/resync", data = "<form>")]
async fn resync(
    admin: Admin,
    form: Form<ResyncForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    permit(&s, service, StaffAction::TokenResync).await?;
    let again = format!(
        "/admin/tokens/resync?token={}&name={}",
        super::users::enc(&form.token_id),
        super::users::enc(&form.usr_name)
    );
    let parsed = token_id(&form.token_id).and_then(|t| {
        Ok((
            t,
            parse_code("Code1", &form.code1)?,
            parse_code("Code2", &form.code2)?,
        ))
    });
    let (token, c1, c2) = match parsed {
        Ok(v) => v,
        Err(e) => return Ok(refused(again, &e)),
    };
    let ctx = s.context();
    let done = blocking(service, move |sv| {
        sv.resync(&ctx, &token, &c1, &c2, chrono::Utc::now())
    })
    .await;
    Ok(match done {
        Ok(r) if r.rs_stat == RsStat::Success => Flash::success(
            Redirect::to(detail_uri(&form.usr_name)),
            format!(
                "Token {} is resynchronised (drift {} steps).",
                form.token_id, r.drift
            ),
        ),
        Ok(_) => Flash::error(
            Redirect::to(again),
            "The two codes are not consecutive codes of this token near now.",
        ),
        Err(e) => refused(again, &e),
    })
}
