//! Schemas of the wire vocabulary of `types.rs`, from the enums' `ALL` lists, so
//! `types.rs` stays free of the documentation crate and the document's enumerations are
//! the code's.
//!
//! Imports: utoipa, types.

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::types;

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
    ProviderKind as "Provider",
);

/// A string enumeration of `values`: for the value lists the server writes as literals
/// (a pattern would validate them, but a generator only makes an enum of an `enum`).
fn strings(values: &[&'static str]) -> utoipa::openapi::schema::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// `ErrCat`: tokend's fault records are all errors.
pub fn err_cat() -> utoipa::openapi::schema::Object {
    strings(&["Error"])
}

/// `EvtType` of an OOB feedback event: jXchange's event code.
pub fn evt_type() -> utoipa::openapi::schema::Object {
    strings(&["90040"])
}

/// `RsStat` of an OOB feedback event: how the session ended.
pub fn oob_outcome() -> utoipa::openapi::schema::Object {
    strings(&["Success", "Failed", "Expired"])
}

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
