//! The console's ways to reach a user without their token: a one-time temporary code
//! (lost token), shown once, and a test SMS to the phone on file. Both through the same
//! domain calls, send cap and audit as the API.

use crate::web::admin::template::Template;
use rocket::form::{Form, FromForm};
use rocket::response::{Flash, Redirect};
use rocket::{post, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::roles::permit;
use super::session::Admin;
use super::users::detail_uri;
use super::usr_name;
use super::{refused, Base, Refusal};
use crate::domain::oob::text::parse_template;
use crate::domain::oob::OobRequest;
use crate::domain::temp_code::{TempCodeRequest, DEFAULT_TEMP_CODE_SECS};
use crate::domain::Service;
use crate::types::OobModeType;
use crate::types::StaffAction;
use crate::web::admin::words::when;
use crate::web::edge::blocking;

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![temp_code, test_sms]
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
    permit(&s, service, StaffAction::TempcodeIssue).await?;
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
            expires: when(issued.expires_at),
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
    permit(&s, service, StaffAction::SmsTest).await?;
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
            recipient: None,
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
