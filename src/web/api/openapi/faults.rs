//! The fault side of the document, from the fault table (`Fault::ALL`, `fault::status_of`):
//! the `ErrCode` schema with a name and a sentence for every code, the fault answers of
//! each HTTP status, and the response sets the handlers' `#[utoipa::path]` list (beside
//! them, the `InstRtId` query parameter every GET reads).
//!
//! Imports: utoipa, domain (fault table), the api fault module.

use std::collections::BTreeMap;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::IntoResponses;

use super::super::fault::status_of;
use crate::domain::Fault;

/// The fault codes, from the fault table. A bare list of numbers would reach a generated
/// client as `_7036`; `x-enum-varnames` (the fault's name in the code, e.g. `DuplicateUsrName`)
/// and `x-enum-descriptions` (its published sentence) are the extensions that
/// openapi-generator, openapi-typescript and hey-api read to name the members.
pub fn err_codes() -> Schema {
    let names: Vec<String> = Fault::ALL.iter().map(|f| format!("{f:?}")).collect();
    let descs: Vec<String> = Fault::ALL.iter().map(|f| f.desc().to_string()).collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(Fault::ALL.iter().map(|f| f.code().to_string())))
        .description(Some("jXchange fault code (below 7000) or tokend's own"))
        .examples([serde_json::json!("7036")])
        .extensions(Some(
            ExtensionsBuilder::new()
                .add("x-enum-varnames", names)
                .add("x-enum-descriptions", descs)
                .build(),
        ))
        .into()
}

/// The fault answers of one HTTP status, described from the fault table
/// and listing them in `x-jxchange-faults` (the codes a client may branch on; the
/// operation's union is added by `refine`).
pub(super) fn fault_response(status: u16) -> RefOr<Response> {
    let faults: Vec<Fault> = Fault::ALL
        .iter()
        .copied()
        .filter(|f| status_of(*f).code == status)
        .collect();
    let codes: Vec<String> = faults
        .iter()
        .map(|f| format!("{} {}", f.code(), f.desc()))
        .collect();
    let mut listed: Vec<String> = faults.iter().map(|f| f.code().to_string()).collect();
    if status == 404 && !listed.iter().any(|c| c == "7003") {
        // The catcher's answer to a path no route serves.
        listed.push("7003".to_owned());
    }
    let mut description = match status {
        404 => "Fault (also 7003: no such operation). ".to_owned(),
        _ => "Fault. ".to_owned(),
    };
    description.push_str(&codes.join("; "));
    let mut response = ResponseBuilder::new()
        .description(description)
        .extensions(Some(
            ExtensionsBuilder::new()
                .add("x-jxchange-faults", listed)
                .build(),
        ))
        .content(
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
