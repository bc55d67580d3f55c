//! Hardware tokens: the inventory of imported, unassigned tokens, binding one to a user by
//! serial, and importing a seed file (PSKC or CSV) from an upload with per-key results.

use crate::web::admin::template::Template;
use rocket::form::{Form, FromForm};
use rocket::fs::TempFile;
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::tokio::io::AsyncReadExt as _;
use rocket::{get, post, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;
use zeroize::Zeroizing;

use super::roles::{answered, permit, submit};
use super::session::Admin;
use super::users::detail_uri;
use super::{refused, Base, Refusal};
use crate::domain::import::ImportReport;
use crate::domain::pskc::PskcKeys;
use crate::domain::seed_file::parse_file;
use crate::domain::staff::approvals::Submitted;
use crate::domain::staff::requests::StaffRequest;
use crate::domain::{Error, Fault, Service};
use crate::types::StaffAction;
use crate::types::{TokenId, UsrName};
use crate::web::admin::words::when;
use crate::web::edge::blocking;

/// Tokens per inventory page.
pub const PAGE_SIZE: i64 = 50;

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![inventory, bind, import]
}

#[derive(Serialize)]
struct Row {
    token_id: String,
    token_type: String,
    status: String,
    params: String,
    created: String,
}

#[derive(Serialize)]
struct InventoryPage {
    page: Base,
    tokens: Vec<Row>,
    next_after: Option<String>,
}

#[get("/hardware?<after>")]
async fn inventory(
    admin: Admin,
    after: Option<String>,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Template, Flash<Redirect>> {
    let s = admin.0;
    let from = after.unwrap_or_default();
    let ctx = s.context();
    let mut rows = blocking(service, move |sv| {
        sv.unassigned_tokens(&ctx, &from, PAGE_SIZE + 1)
    })
    .await
    .map_err(|e| refused("/admin/users".into(), &e))?;
    let more = rows.len() > usize::try_from(PAGE_SIZE).unwrap_or(50);
    rows.truncate(usize::try_from(PAGE_SIZE).unwrap_or(50));
    Ok(Template::render(
        "admin/hardware",
        InventoryPage {
            page: Base::new("Hardware tokens", &s, flash),
            next_after: if more {
                rows.last().map(|r| r.token_id.clone())
            } else {
                None
            },
            tokens: rows
                .into_iter()
                .map(|t| Row {
                    token_id: t.token_id,
                    token_type: t.token_type.to_string(),
                    status: t.status.to_string(),
                    params: t.params,
                    created: t.created_at.map(when).unwrap_or_default(),
                })
                .collect(),
        },
    ))
}

#[derive(FromForm)]
struct BindForm {
    #[field(default = String::new())]
    csrf: String,
    token_id: String,
    usr_name: String,
    /// `user` when posted from a user's page (errors go back there).
    #[field(default = String::new())]
    from: String,
    /// Why, for the approver (under dual control).
    #[field(default = String::new())]
    reason: String,
}

fn parse_bind(form: &BindForm) -> Result<(TokenId, UsrName), Error> {
    let token = TokenId::parse(form.token_id.trim()).ok_or_else(|| {
        Error::at(Fault::InvalidValue, "TokenId").with_value(form.token_id.as_str())
    })?;
    let user = UsrName::parse(&form.usr_name).ok_or_else(|| {
        Error::at(Fault::InvalidValue, "UsrName").with_detail(
            "(1-128 characters, no control characters, no colon, no surrounding spaces)",
        )
    })?;
    Ok((token, user))
}

/// Binds an unassigned token to a user by serial.
#[post("/hardware/bind", data = "<form>")]
async fn bind(
    admin: Admin,
    form: Form<BindForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    let back = if form.from == "user" {
        detail_uri(&form.usr_name)
    } else {
        "/admin/hardware".to_owned()
    };
    let (token, user) = match parse_bind(&form) {
        Ok(v) => v,
        Err(e) => return Ok(refused(back, &e)),
    };
    let rq = StaffRequest::TokenBind {
        token_id: token.as_str().to_owned(),
        usr_name: user.as_str().to_owned(),
    };
    Ok(match submit(&s, service, rq, form.reason.clone()).await? {
        Ok(Submitted::Done(_)) => Flash::success(
            Redirect::to(detail_uri(user.as_str())),
            format!("Token {token} is bound to {user}; its first code activates it."),
        ),
        other => answered(back, other),
    })
}

/// The upload form (multipart).
#[derive(FromForm)]
struct ImportForm<'r> {
    #[field(default = String::new())]
    csrf: String,
    file: TempFile<'r>,
    /// PSKC pre-shared key, hex.
    #[field(default = String::new())]
    psk: String,
    /// PSKC passphrase (PBKDF2).
    #[field(default = String::new())]
    passphrase: String,
}

fn pskc_keys(psk: &str, passphrase: &str) -> Result<PskcKeys, Error> {
    let psk = match psk.trim() {
        "" => None,
        h => Some(Zeroizing::new(
            hex::decode(h)
                .ok()
                .filter(|k| [16, 24, 32].contains(&k.len()))
                .ok_or_else(|| {
                    Error::at(Fault::InvalidValue, "psk")
                        .with_detail("(an AES key: 32, 48 or 64 hex digits)")
                })?,
        )),
    };
    let passphrase = (!passphrase.is_empty()).then(|| Zeroizing::new(passphrase.to_owned()));
    Ok(PskcKeys { psk, passphrase })
}

#[derive(Serialize)]
struct ImportPage {
    page: Base,
    file_name: String,
    /// "line" (CSV) or "KeyPackage" (PSKC).
    unit: &'static str,
    imported: usize,
    already_present: Vec<u64>,
    skipped: Vec<(u64, String)>,
    refused: Vec<(u64, String)>,
}

/// The largest seed file the console takes (the CLI has no limit).
pub const MAX_UPLOAD: u64 = 4 * 1024 * 1024;

async fn read_upload(file: &TempFile<'_>) -> Result<Vec<u8>, Error> {
    let unreadable = |e: std::io::Error| Error::Internal(format!("cannot read the upload: {e}"));
    let mut bytes = Vec::new();
    file.open()
        .await
        .map_err(unreadable)?
        .take(MAX_UPLOAD + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_UPLOAD {
        return Err(Error::fault(Fault::BodyTooLarge).with_detail("(4 MiB at most)"));
    }
    Ok(bytes)
}

/// Imports an uploaded seed file (PSKC or CSV) through the same `parse_file` as
/// `tokend import`: a refused file comes back as a flash with the same reason.
#[post("/hardware/import", data = "<form>")]
async fn import(
    admin: Admin,
    form: Form<ImportForm<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Result<Template, Flash<Redirect>>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    permit(&s, service, StaffAction::HardwareImport).await?;
    let file_name = form
        .file
        .raw_name()
        .map(|n| n.dangerous_unsafe_unsanitized_raw().as_str().to_owned())
        .unwrap_or_default();
    let read = match pskc_keys(&form.psk, &form.passphrase) {
        Ok(keys) => read_upload(&form.file).await.map(|b| (b, keys)),
        Err(e) => Err(e),
    };
    let (bytes, keys) = match read {
        Ok(v) => v,
        Err(e) => return Ok(Err(refused("/admin/hardware".into(), &e))),
    };
    let ctx = s.context();
    let report = blocking(service, move |sv| {
        let now = chrono::Utc::now();
        let (rows, mut report): (_, ImportReport) = match parse_file(&bytes, &keys, now) {
            Ok(parsed) => parsed,
            Err(file_refused) => return Ok(Err(file_refused)),
        };
        sv.import_tokens(&ctx, &rows, now, &mut report)?;
        Ok(Ok(report))
    })
    .await;
    let report = match report {
        Ok(Ok(r)) => r,
        Ok(Err(file_refused)) => {
            return Ok(Err(Flash::error(
                Redirect::to("/admin/hardware"),
                format!("The file is refused, nothing imported: {file_refused}"),
            )))
        }
        Err(e) => return Ok(Err(refused("/admin/hardware".into(), &e))),
    };
    Ok(Ok(Template::render(
        "admin/import",
        ImportPage {
            page: Base::new("Import result", &s, None),
            file_name,
            unit: report.unit.name(),
            imported: report.imported,
            already_present: report.already_present,
            skipped: report.skipped,
            refused: report.refused,
        },
    )))
}
