//! The OpenAPI 3.1 document of the JSON API, served at `GET /api/v1/openapi.json`.
//!
//! Generated from the code so it cannot drift: every operation is the handler's own
//! `#[utoipa::path]` (path and parameters read from its Rocket route attribute by utoipa's
//! `rocket_extras`), every body is the `ToSchema` of the very struct serde reads or writes
//! (same renames, same optionality, `deny_unknown_fields` as `additionalProperties: false`),
//! the enumerations come from the wire enums' `ALL` lists, the fault codes and their HTTP
//! statuses from `Fault::ALL` and `fault::status_of`. The integration test
//! `api_openapi.rs` fails when a mounted `/api/v1` route is missing from the document, and
//! `.ci/schemathesis` checks every operation's real answers against it.
//!
//! Imports: rocket, utoipa, the api modules' DTOs, domain (fault table), types.

use rocket::http::{ContentType, Status};
use rocket::{get, routes, Route};
use std::collections::BTreeMap;
use std::sync::LazyLock;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi, PartialSchema, ToSchema};

use super::envelope::{JxHdr, MsgRec, MsgRqHdr, MsgRsHdr};
use super::fault::status_of;
use super::openapi_idem::IdempotencyHeader;
use super::{
    alerts, audit, events, explain, inquiry, lifecycle, oob, sandbox, sms, tokens, users, validate,
};
use crate::domain::Fault;
use crate::types;

/// The route of the document.
pub fn routes() -> Vec<Route> {
    routes![openapi_json]
}

/// The document, built once: it depends only on the code.
static DOCUMENT: LazyLock<Result<String, String>> =
    LazyLock::new(|| ApiDoc::openapi().to_json().map_err(|e| e.to_string()));

/// `GET /api/v1/openapi.json` — this API's OpenAPI document.
///
/// No API key is required: the document describes the contract every integrator reads
/// (the same facts as docs/api.md), holds no data, key or configuration, and an integrator
/// must be able to read it before being issued a key — and tools (client generators,
/// schemathesis) fetch it without credentials.
#[utoipa::path(
    get,
    context_path = "/api/v1",
    tag = "meta",
    operation_id = "OpenAPIDocInq",
    security(()),
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API",
            content_type = "application/json", body = Object),
    )
)]
#[get("/openapi.json")]
fn openapi_json() -> (Status, (ContentType, String)) {
    match &*DOCUMENT {
        Ok(json) => (Status::Ok, (ContentType::JSON, json.clone())),
        Err(e) => {
            tracing::error!("the OpenAPI document does not serialize: {e}");
            (
                Status::InternalServerError,
                (ContentType::JSON, "{}".to_owned()),
            )
        }
    }
}

/// The document: every operation of `/api/v1` and every schema they use.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "tokend JSON API",
        description = "TOTP token management with jXchange element names (MFA Token Inquiry, \
            OOBValidate). Every answer carries `MsgRsHdr.jXchangeHdr` echoing the request's \
            `MsgRqHdr.jXchangeHdr` (a `jXLogTrackingId` is generated when absent); a fault \
            answers a fitting 4xx (or 5xx) status with `MsgRsHdr.MsgRecInfoArray`. Element \
            names are case-sensitive; unknown elements are refused (fault 7004).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    // The server that publishes the document: paths carry /api/v1, so its root.
    servers((url = "/", description = "The tokend server publishing this document")),
    paths(
        tokens::add,
        tokens::qr_png,
        tokens::qr_svg,
        tokens::activate,
        validate::validate,
        inquiry::inquire,
        lifecycle::modify,
        lifecycle::delete,
        lifecycle::resync,
        lifecycle::temp_code,
        oob::start,
        oob::verify,
        oob::resend,
        oob::session,
        sms::inbound,
        sms::outbox,
        events::events,
        audit::audit,
        users::create,
        users::read,
        users::phone,
        users::lift_hold,
        alerts::subscribe,
        explain::explain,
        sandbox::clock,
        sandbox::move_clock,
        sandbox::sms,
        openapi_json,
    ),
    components(schemas(FaultRs, super::fault::FaultCustom, JxHdr, MsgRqHdr, MsgRec)),
    modifiers(&BearerKey, &IdempotencyHeader),
    security(("bearer" = [])),
    tags(
        (name = "tokens", description = "Enrollment, QR code, activation, lifecycle"),
        (name = "validate", description = "Code validation"),
        (name = "inquiry", description = "jXchange MFATokenInq"),
        (name = "oob", description = "Out-of-band SMS validation (jXchange OOBValidate)"),
        (name = "audit", description = "The audit trail"),
        (name = "users", description = "Users, their phones (SIM-swap guard) and \"explain this failure\""),
        (name = "sandbox", description = "A sandbox institution's test clock and SMS (Testing your integration)"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme every operation but this document's requires.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key from `tokend apikey create` (scopes manage, validate, sms)",
                    ))
                    .build(),
            ),
        );
    }
}

/// A successful answer: `MsgRsHdr` (without faults) beside the operation's elements.
/// Mirrors `envelope::json_response`, which flattens the body beside the header.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "a schema only: envelope::json_response writes the answer"
)]
pub struct Answer<T> {
    #[serde(rename = "MsgRsHdr")]
    hdr: MsgRsHdr<'static>,
    #[serde(flatten)]
    body: T,
}

/// A fault answer (`ApiFault`): the echoed header and at least one fault record (its
/// `ErrDesc` the published sentence alone), and tokend's explanation when it has one.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema only: ApiFault writes the answer")]
pub struct FaultRs {
    #[serde(rename = "MsgRsHdr")]
    hdr: FaultHdr,
    #[serde(rename = "Custom")]
    custom: Option<super::fault::FaultCustom>,
}

/// The `MsgRsHdr` of a fault.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema only: ApiFault writes the answer")]
pub struct FaultHdr {
    #[serde(rename = "jXchangeHdr")]
    jx: JxHdr,
    #[serde(rename = "MsgRecInfoArray")]
    #[schema(min_items = 1)]
    records: Vec<MsgRec>,
}

/// The fault codes, from the fault table.
pub fn err_codes() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(Fault::ALL.iter().map(|f| f.code().to_string())))
        .description(Some("jXchange fault code (below 7000) or tokend's own"))
        .into()
}

/// The fault answers of one HTTP status, described from the fault table.
pub(super) fn fault_response(status: u16) -> RefOr<Response> {
    let codes: Vec<String> = Fault::ALL
        .iter()
        .filter(|f| status_of(**f).code == status)
        .map(|f| format!("{} {}", f.code(), f.desc()))
        .collect();
    let mut description = match status {
        404 => "Fault (also 7003: no such operation). ".to_owned(),
        _ => "Fault. ".to_owned(),
    };
    description.push_str(&codes.join("; "));
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("FaultRs")))
            .build(),
    );
    if status == 429 {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                ))
                .description(Some(
                    "Seconds to wait (rate limits, fault 7060; absent on the send caps)",
                ))
                .build(),
        );
    }
    RefOr::T(response.build())
}

/// The `InstRtId` query parameter every GET reads through its header guard (a GET has no
/// `MsgRqHdr` to carry it); listed in their `params(...)`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query, rename_all = "PascalCase")]
pub struct InstRtIdQuery {
    /// The institution to act within (a bound key may name only its own: else 2505)
    #[param(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    #[allow(dead_code)] // documents the parameter; `JxHdr`'s guard reads it
    inst_rt_id: Option<String>,
}

/// Declares a set of fault statuses as an `IntoResponses` type for `#[utoipa::path]`.
macro_rules! fault_set {
    ($(#[$meta:meta])* $name:ident: $($status:literal),+) => {
        $(#[$meta])*
        pub struct $name;
        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                [$($status),+]
                    .into_iter()
                    .map(|s: u16| (s.to_string(), fault_response(s)))
                    .collect()
            }
        }
    };
}

fault_set!(
    /// What any authenticated operation may answer: no key, the wrong scope or institution, the database
    /// busy, an internal error.
    Common: 401, 403, 500, 503
);
fault_set!(
    /// What an operation with a JSON body may answer about the body.
    BodyFaults: 400, 413
);
fault_set!(
    /// Element values of the right type but not acceptable (codes, phone, seed, …).
    Unprocessable: 422
);
fault_set!(
    /// Unknown token, user, session — or a path Rocket cannot route.
    NotFound: 404
);
fault_set!(
    /// The record's state does not allow the change.
    Conflict: 409
);
fault_set!(
    /// The QR code is gone once the token left Init.
    Gone: 410
);
fault_set!(
    /// A rate limit or SMS send cap.
    TooMany: 429
);
fault_set!(
    /// Query parameters of the wrong form.
    BadQuery: 400
);

/// Implements `ToSchema` for a wire enum from its `ALL` list, so the document's
/// enumeration is the code's, under its jXchange name (`MFATokenUsrStat`, `OOBModeType`).
macro_rules! wire_schema {
    ($($ty:ident $(as $name:literal)?),+ $(,)?) => {$(
        impl PartialSchema for types::$ty {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(types::$ty::ALL.iter().map(|v| v.as_str())))
                    .into()
            }
        }
        impl ToSchema for types::$ty {
            $(fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($name)
            })?
        }
    )+};
}

wire_schema!(
    UsrTokenStat,
    MfaTokenUsrStat as "MFATokenUsrStat",
    TokenType,
    Algorithm,
    ActIntent,
    RsStat,
    RsStatRsn,
    OobModeType as "OOBModeType",
    OobStat as "OOBStat",
    SendStat,
);

/// Implements `ToSchema` for an integer newtype that accepts only the listed values.
macro_rules! int_schema {
    ($ty:ident: $($v:literal),+) => {
        impl PartialSchema for types::$ty {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .enum_values(Some([$($v),+]))
                    .into()
            }
        }
        impl ToSchema for types::$ty {}
    };
}

int_schema!(Digits: 6, 8);
int_schema!(Period: 30, 60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_serializes_and_names_every_fault_code() {
        let json = DOCUMENT.as_ref().expect("serializes");
        let doc: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let codes = &doc["components"]["schemas"]["MsgRec"]["properties"]["ErrCode"]["enum"];
        assert_eq!(codes.as_array().unwrap().len(), Fault::ALL.len());
        // Schemas are named in jXchange's style, so a generated client shows them so.
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for name in [
            "MFATokenInqRq",
            "MFATokenInqRs",
            "MFATokenAddRq",
            "OOBValidateRq",
        ] {
            assert!(schemas.contains_key(name), "{name} missing");
        }
        let rust_cased: Vec<&String> = schemas
            .keys()
            .filter(|k| k.contains("MfaToken") || k.contains("Oob"))
            .collect();
        assert!(rust_cased.is_empty(), "{rust_cased:?}");
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }
}
