//! Users: search (paged prefix search), create, and the detail page with every binding.

use crate::web::admin::template::Template;
use rocket::form::{Form, FromForm};
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::{get, post, routes, uri, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::roles::{not_here, permit};
use super::session::Admin;
use super::{describe, refused, Base, Refusal};
use crate::domain::users::UserDetail;
use crate::domain::{Error, Fault, Service};
use crate::types::StaffAction;
use crate::types::{PhoneNum, UsrName};
use crate::web::admin::words::when;
use crate::web::edge::blocking;

/// Users per search page.
pub const PAGE_SIZE: usize = 50;

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![list, new_page, create, detail]
}

#[derive(Serialize)]
struct UserRow {
    usr_name: String,
    phone: String,
    created: String,
}

#[derive(Serialize)]
struct ListPage {
    page: Base,
    q: String,
    users: Vec<UserRow>,
    next_after: Option<String>,
}

/// Where the detail page of a user is.
pub fn detail_uri(usr_name: &str) -> String {
    uri!("/admin", detail(name = usr_name)).to_string()
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[get("/users?<q>&<after>")]
async fn list(
    admin: Admin,
    q: Option<String>,
    after: Option<String>,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Template, Flash<Redirect>> {
    let s = admin.0;
    let q = q.unwrap_or_default().chars().take(128).collect::<String>();
    let ctx = s.context();
    let (prefix, from) = (q.clone(), after.clone());
    let found = blocking(service, move |sv| {
        sv.search_users(&ctx, &prefix, from.as_deref(), PAGE_SIZE)
    })
    .await
    .map_err(|e| refused("/admin/".into(), &e))?;
    Ok(Template::render(
        "admin/users/list",
        ListPage {
            page: Base::new("Users", &s, flash),
            q,
            users: found
                .users
                .into_iter()
                .map(|u| UserRow {
                    usr_name: u.usr_name,
                    phone: u.phone_masked.unwrap_or_default(),
                    created: u.created_at.map(when).unwrap_or_default(),
                })
                .collect(),
            next_after: found.next_after,
        },
    ))
}

#[derive(Serialize)]
struct NewPage {
    page: Base,
}

#[get("/users/new")]
async fn new_page(
    admin: Admin,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Template, Refusal> {
    permit(&admin.0, service, StaffAction::UserCreate).await?;
    Ok(Template::render(
        "admin/users/new",
        NewPage {
            page: Base::new("New user", &admin.0, flash),
        },
    ))
}

#[derive(FromForm)]
struct NewUserForm {
    #[field(default = String::new())]
    csrf: String,
    usr_name: String,
    phone: String,
}

fn parse_new_user(form: &NewUserForm) -> Result<(UsrName, Option<PhoneNum>), Error> {
    let name = UsrName::parse(&form.usr_name).ok_or_else(|| {
        Error::at(Fault::InvalidValue, "UsrName").with_detail(
            "(1-128 characters, no control characters, no colon, no surrounding spaces)",
        )
    })?;
    let phone = match form.phone.trim() {
        "" => None,
        p => Some(
            PhoneNum::parse(p)
                .ok_or_else(|| Error::at(Fault::PhoneDigits, "PhoneNum").with_value(p))?,
        ),
    };
    Ok((name, phone))
}

#[post("/users", data = "<form>")]
async fn create(
    admin: Admin,
    form: Form<NewUserForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    permit(&s, service, StaffAction::UserCreate).await?;
    let (name, phone) = match parse_new_user(&form) {
        Ok(v) => v,
        Err(e) => return Ok(refused("/admin/users/new".into(), &e)),
    };
    let ctx = s.context();
    let created_name = name.clone();
    let created = blocking(service, move |sv| {
        sv.create_user(&ctx, &created_name, phone.as_ref(), chrono::Utc::now())
    })
    .await;
    Ok(match created {
        Ok(()) => Flash::success(
            Redirect::to(detail_uri(name.as_str())),
            format!("User {name} created."),
        ),
        Err(e) => refused("/admin/users/new".into(), &e),
    })
}

/// One binding as the detail page shows it.
#[derive(Serialize)]
struct TokenRow {
    token_id: String,
    token_type: String,
    token_status: String,
    params: String,
    binding_status: String,
    description: String,
    last_authen: String,
    last_receipt: String,
    failure_count: i32,
    lock_reason: String,
    locked_at: String,
    upd_key: String,
    dlt_key: String,
}

#[derive(Serialize)]
struct DetailPage {
    page: Base,
    usr_name: String,
    phone: String,
    created: String,
    tokens: Vec<TokenRow>,
    /// Issue 17: phone lifecycle and explain panels.
    panel: super::phones::PhonePanel,
}

fn token_rows(detail: UserDetail) -> Vec<TokenRow> {
    detail
        .tokens
        .into_iter()
        .filter_map(|t| {
            let inq = t.inquiry;
            let rec = inq.records.into_iter().next()?;
            Some(TokenRow {
                token_id: inq.token_id.as_str().to_owned(),
                token_type: inq.facts.token_type.to_string(),
                token_status: inq.token_status.as_str().to_owned(),
                params: format!(
                    "{}, {} digits, {} s, drift {}",
                    inq.facts.algorithm, inq.facts.digits, inq.facts.period, inq.facts.drift
                ),
                binding_status: rec.status.as_str().to_owned(),
                description: rec.description.unwrap_or_default(),
                last_authen: rec.last_authen_at.map(when).unwrap_or_default(),
                last_receipt: rec.last_receipt_id.unwrap_or_default(),
                failure_count: rec.failure_count,
                lock_reason: rec.lock_reason.unwrap_or_default(),
                locked_at: rec.locked_at.map(when).unwrap_or_default(),
                upd_key: inq.intent_key.unwrap_or_default(),
                dlt_key: t.delete_key.unwrap_or_default(),
            })
        })
        .collect()
}

#[get("/user?<name>")]
async fn detail(
    admin: Admin,
    name: &str,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Result<Template, Flash<Redirect>>, Refusal> {
    let s = admin.0;
    let Some(usr_name) = UsrName::parse(name) else {
        return Ok(Err(Flash::error(
            Redirect::to("/admin/users"),
            "That is not a valid UsrName.",
        )));
    };
    let ctx = s.context();
    let panel = super::phones::panel(service, ctx.clone(), usr_name.clone()).await;
    let detail = match blocking(service, move |sv| sv.user_detail(&ctx, &usr_name)).await {
        Ok(d) => d,
        // Another institution's user is answered as one that does not exist (audited).
        Err(e) if e.kind() == Fault::UserNotFound => {
            return Err(not_here(&s, service, format!("user {name}")).await)
        }
        Err(e) => {
            return Ok(Err(Flash::error(
                Redirect::to("/admin/users"),
                describe(&e),
            )))
        }
    };
    Ok(Ok(Template::render(
        "admin/users/detail",
        DetailPage {
            page: Base::new(&detail.usr_name.clone(), &s, flash),
            phone: detail.phone_masked.clone().unwrap_or_default(),
            created: detail.created_at.map(when).unwrap_or_default(),
            usr_name: detail.usr_name.clone(),
            tokens: token_rows(detail),
            panel,
        },
    )))
}
