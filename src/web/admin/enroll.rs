//! Software enrollment in the console: enroll a token for a user (the QR code inline and
//! the secret, shown once), then the first code from the app activates it. The same
//! domain calls as the API.

use crate::web::admin::template::Template;
use base64::Engine as _;
use rocket::form::{Form, FromForm};
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::{get, post, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::roles::permit;
use super::session::Admin;
use super::users::detail_uri;
use super::{refused, Base, Refusal};
use super::{token_id, usr_name};
use crate::domain::enroll::{otp_params, EnrollRequest};
use crate::domain::{qr, Error, Service};
use crate::types::StaffAction;
use crate::types::{Algorithm, Digits, Period, RsStat, TokenType};
use crate::web::edge::blocking;
use crate::web::parse::parse_code;

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![enroll_page, enroll, activate_page, activate]
}

#[derive(Serialize)]
struct EnrollPage {
    page: Base,
    usr_name: String,
}

#[get("/enroll?<name>")]
async fn enroll_page(
    admin: Admin,
    name: &str,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Template, Refusal> {
    permit(&admin.0, service, StaffAction::TokenEnroll).await?;
    Ok(Template::render(
        "admin/tokens/enroll",
        EnrollPage {
            page: Base::new("Enroll a software token", &admin.0, flash),
            usr_name: name.to_owned(),
        },
    ))
}

#[derive(FromForm)]
struct EnrollForm {
    #[field(default = String::new())]
    csrf: String,
    usr_name: String,
    #[field(default = String::new())]
    description: String,
}

#[derive(Serialize)]
struct EnrolledPage {
    page: Base,
    usr_name: String,
    token_id: String,
    secret: String,
    qr_data_uri: String,
}

/// Enrolls and shows the QR code and the secret in the answer itself (no redirect: the
/// secret is shown this once and kept nowhere for a later page; `no-store`).
#[post("/enroll", data = "<form>")]
async fn enroll(
    admin: Admin,
    form: Form<EnrollForm>,
    service: &State<Arc<Service>>,
) -> Result<Result<Template, Flash<Redirect>>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    permit(&s, service, StaffAction::TokenEnroll).await?;
    let back = format!("/admin/enroll?name={}", super::users::enc(&form.usr_name));
    let name = match usr_name(&form.usr_name) {
        Ok(n) => n,
        Err(e) => return Ok(Err(refused(back, &e))),
    };
    let description = Some(form.description.trim().to_owned())
        .filter(|d| !d.is_empty())
        .map(|d| d.chars().take(256).collect());
    let rq = EnrollRequest {
        usr_name: name.clone(),
        token_type: TokenType::Software,
        token_id: None,
        description,
        params: otp_params(Algorithm::SHA1, Digits::SIX, Period::THIRTY),
        seed_base32: None,
        phone: None,
    };
    let ctx = s.context();
    let shown = blocking(service, move |sv| {
        let enrolled = sv.enroll(&ctx, rq, chrono::Utc::now())?;
        let p = enrolled
            .provisioning
            .ok_or_else(|| Error::Internal("software enrollment without a secret".into()))?;
        let png = qr::png(&p.otpauth_uri)?;
        Ok((enrolled.token_id, p.secret, png))
    })
    .await;
    let (token, secret, png) = match shown {
        Ok(v) => v,
        Err(e) => return Ok(Err(refused(back, &e))),
    };
    Ok(Ok(Template::render(
        "admin/tokens/enrolled",
        EnrolledPage {
            page: Base::new("Scan the QR code", &s, None),
            usr_name: name.as_str().to_owned(),
            token_id: token.as_str().to_owned(),
            secret: secret.as_str().to_owned(),
            qr_data_uri: format!(
                "data:image/png;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(png)
            ),
        },
    )))
}

#[derive(Serialize)]
pub(super) struct ActivatePage {
    pub(super) page: Base,
    pub(super) usr_name: String,
    pub(super) token_id: String,
}

#[get("/activate?<token>&<name>")]
async fn activate_page(
    admin: Admin,
    token: &str,
    name: &str,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Template, Refusal> {
    permit(&admin.0, service, StaffAction::TokenEnroll).await?;
    Ok(Template::render(
        "admin/tokens/activate",
        ActivatePage {
            page: Base::new("Activate the token", &admin.0, flash),
            usr_name: name.to_owned(),
            token_id: token.to_owned(),
        },
    ))
}

#[derive(FromForm)]
struct ActivateForm {
    #[field(default = String::new())]
    csrf: String,
    token_id: String,
    usr_name: String,
    code: String,
}

#[post("/activate", data = "<form>")]
async fn activate(
    admin: Admin,
    form: Form<ActivateForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    permit(&s, service, StaffAction::TokenEnroll).await?;
    let again = format!(
        "/admin/activate?token={}&name={}",
        super::users::enc(&form.token_id),
        super::users::enc(&form.usr_name)
    );
    let parsed = token_id(&form.token_id).and_then(|t| Ok((t, parse_code("Code", &form.code)?)));
    let (token, code) = match parsed {
        Ok(v) => v,
        Err(e) => return Ok(refused(again, &e)),
    };
    let ctx = s.context();
    let done = blocking(service, move |sv| {
        sv.activate(&ctx, &token, &code, chrono::Utc::now())
    })
    .await;
    Ok(match done {
        Ok(a) if a.rs_stat == RsStat::Success => Flash::success(
            Redirect::to(detail_uri(&form.usr_name)),
            format!("Token {} is active.", form.token_id),
        ),
        Ok(a) => Flash::error(
            Redirect::to(again),
            format!(
                "That code was not accepted ({}); the token is {}. Try the next code.",
                a.rs_stat.as_str(),
                a.token_status.as_str()
            ),
        ),
        Err(e) => refused(again, &e),
    })
}
