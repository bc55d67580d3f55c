//! Token pages: enroll a software token (QR code inline and the secret, shown once, then
//! the first code activates it) and the actions on a token or binding — lock, unlock,
//! disable, enable, delete (after a confirmation page), resync, temporary code — each
//! through the same domain call as the API, with the ActIntentKey of the page the admin
//! saw as a hidden field: if another admin (or a validation) changed the token since,
//! the action is refused (fault 7031) and the page shows the fresh state.

use base64::Engine as _;
use rocket::form::{Form, FromForm};
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::{get, post, routes, Route, State};
use rocket_dyn_templates::Template;
use serde::Serialize;
use std::sync::Arc;

use super::session::Admin;
use super::users::detail_uri;
use super::{refused, Base, Refusal};
use crate::domain::enroll::EnrollRequest;
use crate::domain::lifecycle::ModifyRequest;
use crate::domain::oob::OobRequest;
use crate::domain::sms_text::parse_template;
use crate::domain::temp_code::{TempCodeRequest, DEFAULT_TEMP_CODE_SECS};
use crate::domain::{qr, Error, Fault, Service};
use crate::otp::OtpParams;
use crate::types::{
    Algorithm, Code, Digits, MfaTokenUsrStat, OobModeType, Period, RsStat, TokenId, TokenType,
    UsrName, UsrTokenStat,
};
use crate::web::api::{blocking, iso8601};

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![
        enroll_page,
        enroll,
        activate_page,
        activate,
        modify,
        delete_page,
        delete,
        resync_page,
        resync,
        temp_code,
        test_sms
    ]
}

fn usr_name(s: &str) -> Result<UsrName, Error> {
    UsrName::parse(s).ok_or_else(|| Error::at(Fault::InvalidValue, "UsrName"))
}

fn token_id(s: &str) -> Result<TokenId, Error> {
    TokenId::parse(s).ok_or_else(|| Error::at(Fault::InvalidValue, "TokenId").with_value(s))
}

fn code(elem: &str, s: &str) -> Result<Code, Error> {
    Code::parse(s).ok_or_else(|| Error::at(Fault::CodeFormat, elem))
}

#[derive(Serialize)]
struct EnrollPage {
    page: Base,
    usr_name: String,
}

#[get("/enroll?<name>")]
fn enroll_page(admin: Admin, name: &str, flash: Option<FlashMessage<'_>>) -> Template {
    Template::render(
        "admin/tokens/enroll",
        EnrollPage {
            page: Base::new("Enroll a software token", &admin.0, flash),
            usr_name: name.to_owned(),
        },
    )
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
        params: OtpParams {
            algorithm: Algorithm::SHA1,
            digits: Digits::SIX,
            period: Period::THIRTY,
        },
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
struct ActivatePage {
    page: Base,
    usr_name: String,
    token_id: String,
}

#[get("/activate?<token>&<name>")]
fn activate_page(
    admin: Admin,
    token: &str,
    name: &str,
    flash: Option<FlashMessage<'_>>,
) -> Template {
    Template::render(
        "admin/tokens/activate",
        ActivatePage {
            page: Base::new("Activate the token", &admin.0, flash),
            usr_name: name.to_owned(),
            token_id: token.to_owned(),
        },
    )
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
    let again = format!(
        "/admin/activate?token={}&name={}",
        super::users::enc(&form.token_id),
        super::users::enc(&form.usr_name)
    );
    let parsed = token_id(&form.token_id).and_then(|t| Ok((t, code("Code", &form.code)?)));
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
fn delete_page(admin: Admin, token: &str, name: &str, key: &str) -> Template {
    Template::render(
        "admin/tokens/delete",
        ConfirmPage {
            page: Base::new("Delete a token", &admin.0, None),
            usr_name: name.to_owned(),
            token_id: token.to_owned(),
            key: key.to_owned(),
        },
    )
}

#[derive(FromForm)]
struct DeleteForm {
    #[field(default = String::new())]
    csrf: String,
    token_id: String,
    usr_name: String,
    key: String,
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
    let (ctx, key) = (s.context(), form.key.clone());
    let done = blocking(service, move |sv| {
        sv.delete(&ctx, &token, &key, chrono::Utc::now())
    })
    .await;
    Ok(match done {
        Ok(_) => Flash::success(
            Redirect::to(back),
            format!("Token {} is deleted; its seed is destroyed.", form.token_id),
        ),
        Err(e) => refused(back, &e),
    })
}

#[get("/tokens/resync?<token>&<name>")]
fn resync_page(admin: Admin, token: &str, name: &str, flash: Option<FlashMessage<'_>>) -> Template {
    Template::render(
        "admin/tokens/resync",
        ActivatePage {
            page: Base::new("Resynchronise a token", &admin.0, flash),
            usr_name: name.to_owned(),
            token_id: token.to_owned(),
        },
    )
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
    let again = format!(
        "/admin/tokens/resync?token={}&name={}",
        super::users::enc(&form.token_id),
        super::users::enc(&form.usr_name)
    );
    let parsed = token_id(&form.token_id)
        .and_then(|t| Ok((t, code("Code1", &form.code1)?, code("Code2", &form.code2)?)));
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

#[derive(FromForm)]
struct TempCodeForm {
    #[field(default = String::new())]
    csrf: String,
    usr_name: String,
}

#[derive(Serialize)]
struct TempCodePage {
    page: Base,
    usr_name: String,
    code: String,
    expires: String,
}

/// Issues a one-time temporary code (lost token) valid for a day and shows it once.
#[post("/users/tempcode", data = "<form>")]
async fn temp_code(
    admin: Admin,
    form: Form<TempCodeForm>,
    service: &State<Arc<Service>>,
) -> Result<Result<Template, Flash<Redirect>>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    let back = detail_uri(&form.usr_name);
    let name = match usr_name(&form.usr_name) {
        Ok(n) => n,
        Err(e) => return Ok(Err(refused(back, &e))),
    };
    let ctx = s.context();
    let rq = TempCodeRequest {
        usr_name: name,
        exp_secs: DEFAULT_TEMP_CODE_SECS,
        one_time: true,
    };
    let issued = match blocking(service, move |sv| {
        sv.issue_temp_code(&ctx, &rq, chrono::Utc::now())
    })
    .await
    {
        Ok(i) => i,
        Err(e) => return Ok(Err(refused(back, &e))),
    };
    Ok(Ok(Template::render(
        "admin/tokens/tempcode",
        TempCodePage {
            page: Base::new("Temporary code", &s, None),
            usr_name: issued.usr_name.as_str().to_owned(),
            code: issued.code.as_str().to_owned(),
            expires: iso8601(issued.expires_at),
        },
    )))
}

/// The text of a test SMS: no code, nothing to answer.
pub const TEST_SMS: &str =
    "This is a test message from your bank's token service. No action is needed.";

/// Sends a test SMS (a OneWay notification without a code) to the user's phone on file,
/// through the same OOB path and send cap as the API.
#[post("/users/testsms", data = "<form>")]
async fn test_sms(
    admin: Admin,
    form: Form<TempCodeForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    let back = detail_uri(&form.usr_name);
    let name = match usr_name(&form.usr_name) {
        Ok(n) => n,
        Err(e) => return Ok(refused(back, &e)),
    };
    let ctx = s.context();
    let sent = blocking(service, move |sv| {
        let rq = OobRequest {
            phone: None,
            usr_name: Some(name),
            mode: OobModeType::OneWay,
            template: Some(parse_template(TEST_SMS)?),
            exp_secs: 60,
        };
        sv.start_oob(&ctx, &rq, chrono::Utc::now())
    })
    .await;
    Ok(match sent {
        Ok(started) => Flash::success(
            Redirect::to(back),
            format!(
                "Test SMS to {}: {}.",
                started.session.phone_masked,
                started.session.send_stat.as_str()
            ),
        ),
        Err(e) => refused(back, &e),
    })
}
