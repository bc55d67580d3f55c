//! API keys in the console (admins only): create — the key shown once, to whoever runs
//! the creation (the approver, under dual control) —, list and revoke. Staff of one
//! institution see, create and revoke that institution's keys only.

use crate::web::admin::template::Template;
use rocket::form::{Form, FromForm};
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::{get, post, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::roles::{filed, permit, submit};
use super::session::{Admin, AdminSession};
use super::{refused, Base, Refusal};
use crate::domain::api_keys::KeyReach;
use crate::domain::staff::approvals::Submitted;
use crate::domain::staff::requests::StaffRequest;
use crate::domain::Service;
use crate::types::StaffAction;
use crate::web::admin::words::when;
use crate::web::edge::blocking;

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![api_keys, create_api_key, revoke_api_key]
}

#[derive(Serialize)]
struct KeyRow {
    name: String,
    scopes: String,
    reach: String,
    /// `ValidConsmName, ValidConsmProd` the key is registered for (blank: any).
    consumer: String,
    created: String,
    revoked: String,
    /// When it last authenticated a request (to the minute), or "never".
    last_used: String,
    /// Whether it is kept sealed for WS-Security `PasswordDigest`.
    soap_digest: bool,
}

#[derive(Serialize)]
struct KeysPage {
    page: Base,
    keys: Vec<KeyRow>,
    new_key: Option<(String, String)>,
    default_inst: String,
}

/// Whether the staff member's reach covers a key's.
fn covers(s: &AdminSession, key: &KeyReach) -> bool {
    match (&s.admin.reach, key) {
        (KeyReach::All, _) => true,
        (KeyReach::Institution(own), KeyReach::Institution(k)) => own == k,
        (KeyReach::Institution(_), KeyReach::All) => false,
    }
}

async fn keys_page(
    s: &AdminSession,
    service: &Arc<Service>,
    flash: Option<FlashMessage<'_>>,
    new_key: Option<(String, String)>,
) -> Result<Template, Flash<Redirect>> {
    let keys = blocking(service, |sv| sv.list_api_keys())
        .await
        .map_err(|e| refused("/admin/users".into(), &e))?;
    Ok(Template::render(
        "admin/api_keys",
        KeysPage {
            page: Base::new("API keys", s, flash),
            keys: keys
                .into_iter()
                .filter(|k| covers(s, &k.reach))
                .map(|k| KeyRow {
                    name: k.name,
                    scopes: k.scopes,
                    reach: k.reach.to_string(),
                    consumer: [k.consumer.name, k.consumer.prod]
                        .into_iter()
                        .map(Option::unwrap_or_default)
                        .collect::<Vec<_>>()
                        .join(", ")
                        .trim_matches([' ', ','])
                        .to_owned(),
                    created: k.created_at.map(when).unwrap_or_default(),
                    revoked: k.revoked_at.map(when).unwrap_or_default(),
                    last_used: k.last_used_at.map_or_else(|| "never".to_owned(), when),
                    soap_digest: k.soap_digest,
                })
                .collect(),
            new_key,
            default_inst: s.institution.clone(),
        },
    ))
}

#[get("/apikeys")]
async fn api_keys(
    admin: Admin,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Result<Template, Flash<Redirect>>, Refusal> {
    permit(&admin.0, service, StaffAction::ApikeyCreate).await?;
    Ok(keys_page(&admin.0, service, flash, None).await)
}

#[derive(FromForm)]
struct NewKeyForm {
    #[field(default = String::new())]
    csrf: String,
    name: String,
    #[field(default = Vec::new())]
    scope: Vec<String>,
    /// Blank: the console's institution.
    #[field(default = String::new())]
    inst_rt_id: String,
    /// A cross-institution key (staff of every institution only).
    #[field(default = false)]
    all_institutions: bool,
    /// The jXchange `ValidConsmName` it is registered for (blank: not checked).
    #[field(default = String::new())]
    consumer_name: String,
    /// The jXchange `ValidConsmProd` it is registered for (blank: not checked).
    #[field(default = String::new())]
    consumer_prod: String,
    /// Keep it sealed for SOAP clients that send a WS-Security `PasswordDigest`.
    #[field(default = false)]
    soap_digest: bool,
    /// Why, for the approver (under dual control).
    #[field(default = String::new())]
    reason: String,
}

/// The key's institution as the form asks, within the staff member's reach: staff of
/// one institution make keys of it alone.
fn asked_reach(s: &AdminSession, form: &NewKeyForm) -> Option<String> {
    let inst = form.inst_rt_id.trim();
    match (&s.admin.reach, form.all_institutions) {
        (KeyReach::All, true) => None,
        (KeyReach::All, false) if !inst.is_empty() => Some(inst.to_owned()),
        _ => Some(s.institution.clone()),
    }
}

/// Creates a key and shows it in the answer, this once (`no-store`) — or files the
/// request under dual control.
#[post("/apikeys", data = "<form>")]
async fn create_api_key(
    admin: Admin,
    form: Form<NewKeyForm>,
    service: &State<Arc<Service>>,
) -> Result<Result<Template, Flash<Redirect>>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    let given = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let rq = StaffRequest::ApikeyCreate {
        name: form.name.trim().to_owned(),
        scopes: form.scope.clone(),
        inst_rt_id: asked_reach(&s, &form),
        consumer_name: given(&form.consumer_name),
        consumer_prod: given(&form.consumer_prod),
        soap_digest: form.soap_digest,
    };
    let back = "/admin/apikeys".to_owned();
    match submit(&s, service, rq, form.reason.clone()).await? {
        Ok(Submitted::Done(done)) => {
            let shown = done
                .secret
                .map(|(_, key)| (form.name.trim().to_owned(), key.as_str().to_owned()));
            Ok(keys_page(&s, service, None, shown).await)
        }
        Ok(Submitted::Filed(id)) => Ok(Err(filed(back, id))),
        Err(e) => Ok(Err(refused(back, &e))),
    }
}

#[derive(FromForm)]
struct RevokeForm {
    #[field(default = String::new())]
    csrf: String,
    name: String,
}

#[post("/apikeys/revoke", data = "<form>")]
async fn revoke_api_key(
    admin: Admin,
    form: Form<RevokeForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    permit(&s, service, StaffAction::ApikeyRevoke).await?;
    let name = form.name.clone();
    let found = blocking(service, move |sv| sv.list_api_keys())
        .await
        .map(|keys| keys.into_iter().find(|k| k.name == name));
    match found {
        Ok(Some(k)) if covers(&s, &k.reach) => {}
        Ok(_) => {
            return Err(super::roles::not_here(&s, service, format!("API key {}", form.name)).await)
        }
        Err(e) => return Ok(refused("/admin/apikeys".into(), &e)),
    }
    let (ctx, name) = (s.context(), form.name.clone());
    let done = blocking(service, move |sv| {
        sv.revoke_api_key(&ctx, &name, chrono::Utc::now())
    })
    .await;
    Ok(match done {
        Ok(()) => Flash::success(
            Redirect::to("/admin/apikeys"),
            format!("API key {} is revoked.", form.name),
        ),
        Err(e) => refused("/admin/apikeys".into(), &e),
    })
}
