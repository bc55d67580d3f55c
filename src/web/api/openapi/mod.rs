//! The OpenAPI 3.1 document of the JSON API, served at `GET /api/v1/openapi.json`.
//!
//! Generated from the code so it cannot drift: every operation is the handler's own
//! `#[utoipa::path]` (path and parameters read from its Rocket route attribute by utoipa's
//! `rocket_extras`), every body is the `ToSchema` of the very struct serde reads or writes
//! (same renames, same optionality, `deny_unknown_fields` as `additionalProperties: false`),
//! the enumerations come from the wire enums' `ALL` lists, the fault codes and their HTTP
//! statuses from `Fault::ALL` and `fault::status_of` (`faults.rs`; the wire enums in
//! `wire.rs`). What the derive cannot say — element-named path parameters, binary QR
//! media, each operation's fault list, no unused twin schemas — is one pass over the
//! generated JSON (`refine.rs`). Each handler's attribute declares the scope its
//! `Scope::…` check needs. The integration test
//! `api_openapi.rs` fails when a mounted `/api/v1` route is missing from the document, and
//! `.ci/schemathesis` checks every operation's real answers against it (the same test
//! file probes each declared scope against the handler).
//!
//! Imports: rocket, utoipa, the api modules' DTOs, domain (fault table), types.

use rocket::http::{ContentType, Status};
use rocket::{get, routes, Route};
use std::sync::LazyLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::envelope::{JxHdr, MsgRec, MsgRqHdr, MsgRsHdr};
use super::{
    alerts, audit, events, explain, inquiry, lifecycle, oob, sandbox, sms, tokens, users, validate,
};
use idempotency::IdempotencyHeader;

mod faults;
mod idempotency;
mod refine;
mod wire;

pub use wire::{err_cat, evt_type, oob_outcome};

pub use faults::{
    err_codes, BadQuery, BodyFaults, Common, Conflict, Gone, InstRtIdQuery, NotFound, TooMany,
    Unprocessable,
};

/// The route of the document.
pub fn routes() -> Vec<Route> {
    routes![openapi_json]
}

/// The document, built once: it depends only on the code.
static DOCUMENT: LazyLock<Result<String, String>> = LazyLock::new(|| {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).map_err(|e| e.to_string())?;
    refine::refine(&mut doc);
    serde_json::to_string(&doc).map_err(|e| e.to_string())
});

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
                        "An API key from `tokend apikey create` (scopes manage, validate, sms). \
                         Each operation's `security` names the scope its handler checks; \
                         a key without it answers 403 (fault 7011). A OneWay `SMSText` of \
                         the consumer's own (OOBValidate) also needs `sms`.",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Fault;

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
            "Answer_MFATokenInqRs",
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
