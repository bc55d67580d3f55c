//! Token enrollment (jXchange MFATokenAdd), the enrollment QR code, and activation.

use rocket::http::ContentType;
use rocket::{get, post, routes, Route, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use zeroize::Zeroizing;

use super::envelope::{HasHeader, Jx, JxHdr, JxRequest, MsgRqHdr};
use super::fault::ApiFault;
use super::openapi::{
    Answer, BadQuery, BodyFaults, Common, Conflict, Gone, InstRtIdQuery, NotFound, Unprocessable,
};
use super::validate::RsCustom;
use super::{operate, Call};
use crate::domain::api_keys::Scope;
use crate::domain::enroll::{otp_params, EnrollRequest, Enrolled};
use crate::domain::{qr, Error, Service};
use crate::types::{Algorithm, Digits, Period, RsStat, TokenType, UsrTokenStat};
use crate::web::parse::{parse_code, parse_phone, parse_token_id, parse_usr_name};

/// The token routes.
pub fn routes() -> Vec<Route> {
    routes![add, qr_png, qr_svg, activate]
}

/// jXchange MFATokenAddRq.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MFATokenAddRq)]
pub struct TokenAddRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    #[serde(rename = "UsrName")]
    #[schema(
        pattern = "^[^\\s:\\x00-\\x1f\\x7f-\\x9f]([^:\\x00-\\x1f\\x7f-\\x9f]*[^\\s:\\x00-\\x1f\\x7f-\\x9f])?$",
        max_length = 128,
        example = "jdoe"
    )]
    usr_name: String,
    #[serde(rename = "TokenType")]
    token_type: TokenType,
    #[serde(rename = "TokenId", default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", example = "TK-000123")]
    token_id: Option<String>,
    #[serde(rename = "UsrTokenDesc", default)]
    #[schema(max_length = 256)]
    description: Option<String>,
    #[serde(rename = "Algorithm", default)]
    algorithm: Option<Algorithm>,
    #[serde(rename = "Digits", default)]
    digits: Option<Digits>,
    #[serde(rename = "Period", default)]
    period: Option<Period>,
    #[serde(rename = "Seed", default)]
    #[schema(value_type = Option<String>)]
    seed: Option<Zeroizing<String>>,
    #[serde(rename = "PhoneNum", default)]
    #[schema(pattern = "^[0-9]{10}$", example = "4175556652")]
    phone: Option<String>,
    #[serde(rename = "Custom", default)]
    #[schema(value_type = Option<Object>)]
    _custom: Option<serde_json::Value>,
}

impl HasHeader for TokenAddRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// jXchange MFATokenAddRs.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = MFATokenAddRs)]
pub struct TokenAddRs {
    #[serde(rename = "TokenId")]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", example = "TK-000123")]
    token_id: String,
    #[serde(rename = "UsrName")]
    #[schema(
        pattern = "^[^\\s:\\x00-\\x1f\\x7f-\\x9f]([^:\\x00-\\x1f\\x7f-\\x9f]*[^\\s:\\x00-\\x1f\\x7f-\\x9f])?$",
        max_length = 128,
        example = "jdoe"
    )]
    usr_name: String,
    #[serde(rename = "UsrTokenStat")]
    status: UsrTokenStat,
    #[serde(rename = "OtpAuthUri", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    otpauth_uri: Option<Zeroizing<String>>,
    #[serde(rename = "Secret", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    secret: Option<Zeroizing<String>>,
    #[serde(rename = "QRCodePng", skip_serializing_if = "Option::is_none")]
    qr_png: Option<String>,
    #[serde(rename = "QRCodeSvg", skip_serializing_if = "Option::is_none")]
    qr_svg: Option<String>,
}

fn enroll_request(rq: TokenAddRq) -> Result<EnrollRequest, Error> {
    let description = match rq.description {
        Some(d) if d.chars().count() > 256 => {
            return Err(
                Error::at(crate::domain::Fault::InvalidValue, "UsrTokenDesc")
                    .with_detail("(at most 256 characters)"),
            )
        }
        other => other,
    };
    Ok(EnrollRequest {
        usr_name: parse_usr_name(&rq.usr_name)?,
        token_type: rq.token_type,
        token_id: rq
            .token_id
            .as_deref()
            .map(|t| parse_token_id("TokenId", t))
            .transpose()?,
        description,
        params: otp_params(
            rq.algorithm.unwrap_or(Algorithm::SHA1),
            rq.digits.unwrap_or(Digits::SIX),
            rq.period.unwrap_or(Period::THIRTY),
        ),
        seed_base32: rq.seed,
        phone: rq.phone.as_deref().map(parse_phone).transpose()?,
    })
}

/// `POST /api/v1/tokens` — enroll a software or hardware token in Init.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "tokens",
    operation_id = "MFATokenAdd",
    security(("bearer" = ["manage"])),
    request_body = TokenAddRq,
    responses(
        (status = 200, description = "Enrolled in Init; `Secret`, `OtpAuthUri` and the QR links only for Software, this once", body = Answer<TokenAddRs>),
        BodyFaults, Unprocessable, NotFound, Conflict, Common,
    )
)]
#[post("/tokens", data = "<rq>")]
pub(crate) async fn add(
    caller: Result<super::Caller, Error>,
    rq: JxRequest<TokenAddRq>,
    service: &State<Arc<Service>>,
) -> Result<Jx<TokenAddRs>, ApiFault> {
    operate(
        (rq.hdr, caller, Scope::Manage),
        service,
        rq.body.and_then(enroll_request),
        |s, ctx, request, now| s.enroll(ctx, request, now),
        token_add_rs,
    )
    .await
}

/// The enrollment answer: the secret and the QR links only for a software token.
fn token_add_rs(enrolled: Enrolled) -> TokenAddRs {
    let base = format!("/api/v1/tokens/{}", enrolled.token_id);
    let software = enrolled.provisioning.is_some();
    let (secret, otpauth_uri) = match enrolled.provisioning {
        Some(p) => (Some(p.secret), Some(p.otpauth_uri)),
        None => (None, None),
    };
    TokenAddRs {
        token_id: enrolled.token_id.to_string(),
        usr_name: enrolled.usr_name.to_string(),
        status: enrolled.status,
        otpauth_uri,
        secret,
        qr_png: software.then(|| format!("{base}/qr.png")),
        qr_svg: software.then(|| format!("{base}/qr.svg")),
    }
}

/// The two images of the enrollment QR code.
#[derive(Debug, Clone, Copy)]
enum QrImage {
    Png,
    Svg,
}

/// `GET /api/v1/tokens/{TokenId}/qr.{png,svg}`: the one handler behind both routes (two
/// routes, since each is its own path in the OpenAPI document): the otpauth URI of a
/// token still in Init, rendered as the asked image.
async fn qr_image(
    hdr: JxHdr,
    caller: Result<super::Caller, Error>,
    token_id: &str,
    service: &State<Arc<Service>>,
    image: QrImage,
) -> Result<(ContentType, Vec<u8>), ApiFault> {
    let call = Call::admit(hdr, caller, Scope::Manage)?;
    let token_id = call.check(parse_token_id("TokenId", token_id))?;
    let ctx = call.context()?;
    let uri = call
        .run(service, &ctx, move |s, ctx, _now| {
            s.enrollment_uri(ctx, &token_id)
        })
        .await?;
    let rendered = match image {
        QrImage::Png => qr::png(&uri).map(|png| (ContentType::PNG, png)),
        QrImage::Svg => qr::svg(&uri).map(|svg| (ContentType::SVG, svg.into_bytes())),
    };
    call.check(rendered)
}

/// `GET /api/v1/tokens/{TokenId}/qr.png` — the otpauth QR code, only while Init.
#[utoipa::path(
    operation_id = "MFATokenQRPng",
    security(("bearer" = ["manage"])),
    context_path = "/api/v1",
    tag = "tokens",
    params(
        ("token_id" = String, Path, description = "TokenId"),
        InstRtIdQuery,
    ),
    responses(
        (status = 200, description = "The otpauth QR code (binary PNG)", content_type = "image/png", body = String),
        BadQuery, NotFound, Gone, Common,
    )
)]
#[get("/tokens/<token_id>/qr.png")]
async fn qr_png(
    hdr: JxHdr,
    caller: Result<super::Caller, Error>,
    token_id: &str,
    service: &State<Arc<Service>>,
) -> Result<(ContentType, Vec<u8>), ApiFault> {
    qr_image(hdr, caller, token_id, service, QrImage::Png).await
}

/// `GET /api/v1/tokens/{TokenId}/qr.svg` — the otpauth QR code, only while Init.
#[utoipa::path(
    operation_id = "MFATokenQRSvg",
    security(("bearer" = ["manage"])),
    context_path = "/api/v1",
    tag = "tokens",
    params(
        ("token_id" = String, Path, description = "TokenId"),
        InstRtIdQuery,
    ),
    responses(
        (status = 200, description = "The otpauth QR code (SVG)", content_type = "image/svg+xml", body = String),
        BadQuery, NotFound, Gone, Common,
    )
)]
#[get("/tokens/<token_id>/qr.svg")]
async fn qr_svg(
    hdr: JxHdr,
    caller: Result<super::Caller, Error>,
    token_id: &str,
    service: &State<Arc<Service>>,
) -> Result<(ContentType, Vec<u8>), ApiFault> {
    qr_image(hdr, caller, token_id, service, QrImage::Svg).await
}

/// Activation request: the first code shown by the app or device.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MFATokenActivateRq)]
pub struct ActivateRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    #[serde(rename = "Code")]
    #[schema(pattern = "^([0-9]{6}|[0-9]{8})$", example = "123456")]
    code: String,
}

impl HasHeader for ActivateRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// Activation answer.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = MFATokenActivateRs)]
pub struct ActivateRs {
    #[serde(rename = "RsStat")]
    rs_stat: RsStat,
    #[serde(rename = "TokenId")]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", example = "TK-000123")]
    token_id: String,
    #[serde(rename = "UsrTokenStat")]
    status: UsrTokenStat,
    /// tokend's reason for a Failed or Locked answer.
    #[serde(rename = "Custom", skip_serializing_if = "Option::is_none")]
    custom: Option<RsCustom>,
}

/// `POST /api/v1/tokens/{TokenId}/activate` — the first valid code makes the token Act.
#[utoipa::path(
    operation_id = "MFATokenActv",
    security(("bearer" = ["manage"])),
    context_path = "/api/v1",
    tag = "tokens",
    params(("token_id" = String, Path, description = "TokenId")),
    request_body = ActivateRq,
    responses(
        (status = 200, description = "`RsStat` Success (token now Act), Failed or Locked", body = Answer<ActivateRs>),
        BodyFaults, Unprocessable, NotFound, Conflict, Common,
    )
)]
#[post("/tokens/<token_id>/activate", data = "<rq>")]
pub(crate) async fn activate(
    caller: Result<super::Caller, Error>,
    token_id: &str,
    rq: JxRequest<ActivateRq>,
    service: &State<Arc<Service>>,
) -> Result<Jx<ActivateRs>, ApiFault> {
    let input = parse_token_id("TokenId", token_id)
        .and_then(|token| Ok((token, parse_code("Code", &rq.body?.code)?)));
    operate(
        (rq.hdr, caller, Scope::Manage),
        service,
        input,
        |s, ctx, (token, code), now| Ok((s.activate(ctx, &token, &code, now)?, token)),
        |(done, token)| ActivateRs {
            rs_stat: done.rs_stat,
            token_id: token.to_string(),
            status: done.token_status,
            custom: RsCustom::of(done.reason),
        },
    )
    .await
}
