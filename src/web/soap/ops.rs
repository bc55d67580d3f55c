//! The operation table of the SOAP binding: for each jXchange operation its name (the
//! `SOAPAction` tail and the body's root element), the JSON operation it runs, the element
//! the JSON API takes in its path, and its request and answer types: the JSON API's own
//! structs, ONE source of element names, order and types. The endpoint reads requests
//! into them (`de`) and writes answers from them (`ser`), and the WSDL's schema is
//! generated from their utoipa schemas (`xsd`), as the OpenAPI document is.
//!
//! Names: `MFATokenInq`, `MFATokenAdd`, `MFATokenMod`, `MFATokenTempPswdInq` and
//! `OOBValidate` are the published jXchange names. The seeds name no delete, resync,
//! activation, validation, verify, resend or status operation; tokend names them in
//! jXchange's style: `MFATokenDel`, `MFATokenResync`, `MFATokenActv`, `MFATokenValidate`,
//! `OOBVerify`, `OOBResend`, `OOBStatInq`. Nor do they name the user, phone, SIM-swap
//! hold or explain calls the JSON API gained (issue 17); tokend names those too:
//! `MFAUsrAdd`, `MFAUsrInq`, `MFAUsrPhoneMod`, `MFAUsrHoldLift`, `MFAUsrAlrtSubMod`,
//! `MFAExplainInq` (the
//! `MFA` prefix of the token operations, the object, then jXchange's verb: Add, Inq, Mod).
//! The jXchange headers and fault record, which no JSON struct spells as SOAP writes them,
//! keep their layouts in `layouts`. Imports: the JSON API's request and answer types.

use super::xsd::{shape, Shape};
use crate::web::api::{alerts, explain, inquiry, lifecycle, oob, oob_rq, tokens, users, validate};

/// Which JSON operation an entry runs (the endpoint's dispatch matches on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `POST /inquiry`.
    Inquire,
    /// `POST /tokens`.
    Add,
    /// `POST /tokens/{TokenId}/modify`.
    Modify,
    /// `POST /tokens/{TokenId}/delete`.
    Delete,
    /// `POST /tokens/{TokenId}/resync`.
    Resync,
    /// `POST /tokens/{TokenId}/activate`.
    Activate,
    /// `POST /validate`.
    Validate,
    /// `POST /tempcode`.
    TempPswd,
    /// `POST /oob`.
    OobStart,
    /// `POST /oob/{AlrtPkgId}/verify`.
    OobVerify,
    /// `POST /oob/{AlrtPkgId}/resend`.
    OobResend,
    /// `GET /oob/{AlrtPkgId}`.
    OobStatus,
    /// `POST /users`.
    UsrAdd,
    /// `GET /users/{UsrName}`.
    UsrInq,
    /// `POST /users/{UsrName}/phone`.
    UsrPhoneMod,
    /// `POST /users/{UsrName}/hold/lift`.
    UsrHoldLift,
    /// `POST /users/{UsrName}/alerts`.
    UsrAlrtSub,
    /// `POST /explain`.
    Explain,
}

impl Action {
    /// Whether the JSON operation is a GET: its SOAP body may hold nothing but the
    /// header and the path element.
    pub fn is_get(self) -> bool {
        matches!(self, Action::OobStatus | Action::UsrInq)
    }
}

/// The body element the JSON API takes in its path instead (`TokenId`, `AlrtPkgId`,
/// `UsrName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathElem {
    /// Nothing: the whole body is the JSON body.
    None,
    /// `TokenId`.
    TokenId,
    /// `AlrtPkgId`.
    AlrtPkgId,
    /// `UsrName`.
    UsrName,
}

impl PathElem {
    /// The element's name.
    pub fn name(self) -> Option<&'static str> {
        match self {
            PathElem::None => None,
            PathElem::TokenId => Some("TokenId"),
            PathElem::AlrtPkgId => Some("AlrtPkgId"),
            PathElem::UsrName => Some("UsrName"),
        }
    }
}

/// One SOAP operation.
#[derive(Debug, Clone, Copy)]
pub struct Op {
    /// `SOAPAction` `http://jackhenry.com/ws/<name>` and the body's root element.
    pub name: &'static str,
    /// The JSON operation it runs.
    pub action: Action,
    /// The body element that is the JSON operation's path parameter.
    pub path: PathElem,
    /// The request's type (the JSON operation's; its `MsgRqHdr` and path element aside).
    pub request: fn() -> Shape,
    /// The answer's type as the SOAP binding writes it.
    pub response: fn() -> Shape,
}

/// The jXchange namespace of every operation element.
pub const NS: &str = "http://jackhenry.com/jxchange/TPG/2008";
/// The `SOAPAction` prefix.
pub const ACTION_BASE: &str = "http://jackhenry.com/ws/";

/// Every operation of the binding, in the WSDL's order: its name, the JSON operation it
/// runs, the element the JSON API has in its path, and its request and answer types
/// (whose schemas the WSDL is generated from; `mod.rs`'s dispatch reads and writes them).
pub const OPS: &[Op] = &[
    Op {
        name: "MFATokenInq",
        action: Action::Inquire,
        path: PathElem::None,
        request: shape::<inquiry::MfaTokenInqRq>,
        response: shape::<inquiry::MfaTokenInqRs>,
    },
    Op {
        name: "MFATokenAdd",
        action: Action::Add,
        path: PathElem::None,
        request: shape::<tokens::TokenAddRq>,
        response: shape::<tokens::TokenAddRs>,
    },
    Op {
        name: "MFATokenMod",
        action: Action::Modify,
        path: PathElem::TokenId,
        request: shape::<lifecycle::MfaTokenModRq>,
        response: shape::<inquiry::MfaTokenInqRs>,
    },
    Op {
        name: "MFATokenDel",
        action: Action::Delete,
        path: PathElem::TokenId,
        request: shape::<lifecycle::DeleteRq>,
        response: shape::<lifecycle::StatusRs>,
    },
    Op {
        name: "MFATokenResync",
        action: Action::Resync,
        path: PathElem::TokenId,
        request: shape::<lifecycle::ResyncRq>,
        response: shape::<lifecycle::StatusRs>,
    },
    Op {
        name: "MFATokenActv",
        action: Action::Activate,
        path: PathElem::TokenId,
        request: shape::<tokens::ActivateRq>,
        response: shape::<tokens::ActivateRs>,
    },
    Op {
        name: "MFATokenValidate",
        action: Action::Validate,
        path: PathElem::None,
        request: shape::<validate::ValidateRq>,
        response: shape::<validate::ValidateRs>,
    },
    Op {
        name: "MFATokenTempPswdInq",
        action: Action::TempPswd,
        path: PathElem::None,
        request: shape::<lifecycle::TempPswdRq>,
        response: shape::<lifecycle::TempPswdRs>,
    },
    Op {
        name: "OOBValidate",
        action: Action::OobStart,
        path: PathElem::None,
        request: shape::<oob_rq::OobValidateRq>,
        response: shape::<oob::OobSeedRs>,
    },
    Op {
        name: "OOBVerify",
        action: Action::OobVerify,
        path: PathElem::AlrtPkgId,
        request: shape::<oob::OobVerifyRq>,
        response: shape::<oob::OobVerifyRs>,
    },
    Op {
        name: "OOBResend",
        action: Action::OobResend,
        path: PathElem::AlrtPkgId,
        request: shape::<oob::HeaderRq>,
        response: shape::<oob::OobRs>,
    },
    Op {
        name: "OOBStatInq",
        action: Action::OobStatus,
        path: PathElem::AlrtPkgId,
        request: shape::<oob::HeaderRq>,
        response: shape::<oob::OobSessionRs>,
    },
    Op {
        name: "MFAUsrAdd",
        action: Action::UsrAdd,
        path: PathElem::None,
        request: shape::<users::UsrAddRq>,
        response: shape::<users::UsrInqRs>,
    },
    Op {
        name: "MFAUsrInq",
        action: Action::UsrInq,
        path: PathElem::UsrName,
        request: shape::<oob::HeaderRq>,
        response: shape::<users::UsrInqRs>,
    },
    Op {
        name: "MFAUsrPhoneMod",
        action: Action::UsrPhoneMod,
        path: PathElem::UsrName,
        request: shape::<users::UsrPhoneModRq>,
        response: shape::<users::UsrInqRs>,
    },
    Op {
        name: "MFAUsrHoldLift",
        action: Action::UsrHoldLift,
        path: PathElem::UsrName,
        request: shape::<users::UsrHoldLiftRq>,
        response: shape::<users::UsrInqRs>,
    },
    Op {
        name: "MFAUsrAlrtSubMod",
        action: Action::UsrAlrtSub,
        path: PathElem::UsrName,
        request: shape::<alerts::UsrAlrtSubRq>,
        response: shape::<alerts::UsrAlrtSubRs>,
    },
    Op {
        name: "MFAExplainInq",
        action: Action::Explain,
        path: PathElem::None,
        request: shape::<explain::ExplainRq>,
        response: shape::<explain::ExplainRs>,
    },
];

/// The operation named `name`.
pub fn find(name: &str) -> Option<&'static Op> {
    OPS.iter().find(|op| op.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_path_elements_are_not_in_the_request_type() {
        for (i, op) in OPS.iter().enumerate() {
            assert!(
                OPS[i + 1..].iter().all(|o| o.name != op.name),
                "{}",
                op.name
            );
            if let Some(p) = op.path.name() {
                let request = (op.request)();
                assert!(
                    request.members().iter().all(|(n, ..)| *n != p),
                    "{}",
                    op.name
                );
            }
        }
    }
}
