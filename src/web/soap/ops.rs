//! The operation table of the SOAP binding: for each jXchange operation its name (the
//! `SOAPAction` tail and the body's root element), the JSON operation it runs, and the
//! layout of its request and answer elements. ONE source of truth: the endpoint reads
//! requests and writes answers by these layouts, and the WSDL is generated from them.
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
//! Element types: the seeds' value lists are `Enum`s of the wire enums' spellings, times
//! `DateTime`, counts `Int` (`xsd:int`), offsets `Long`; the shared layouts (headers,
//! records) are in `layouts`. Imports: `layouts`.

pub use super::layouts::{opt, req, Elem, Kind};
use super::layouts::{
    ACT_INTENT, ALGORITHM, ATTEMPT_REC, CUSTOM_IN, EXPLAIN_TOKEN_REC, INQ_RS, MFA_TOKEN_USR_STAT,
    NO_CUSTOM, OOB_MODE_TYPE, OOB_RESEND_RS, OOB_SESSION, OOB_STAT, RS_CUSTOM, RS_STAT,
    RS_STAT_SENT, SEND_STAT, STATUS_RS, TOKEN_TYPE, USR_INQ_RS, USR_TOKEN_STAT,
};
use Kind::{Array, Bool, DateTime, Enum, Group, Int, Str};

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
    /// The request's elements after `MsgRqHdr`.
    pub request: &'static [Elem],
    /// The answer's elements after `MsgRsHdr`.
    pub response: &'static [Elem],
}

/// The jXchange namespace of every operation element.
pub const NS: &str = "http://jackhenry.com/jxchange/TPG/2008";
/// The `SOAPAction` prefix.
pub const ACTION_BASE: &str = "http://jackhenry.com/ws/";

/// Every operation of the binding, in the WSDL's order.
pub const OPS: &[Op] = &[
    Op {
        name: "MFATokenInq",
        action: Action::Inquire,
        path: PathElem::None,
        request: &[
            req("TokenId", Str),
            opt("UsrName", Str),
            opt("ActIntent", ACT_INTENT),
            CUSTOM_IN,
        ],
        response: INQ_RS,
    },
    Op {
        name: "MFATokenAdd",
        action: Action::Add,
        path: PathElem::None,
        request: &[
            req("UsrName", Str),
            req("TokenType", TOKEN_TYPE),
            opt("TokenId", Str),
            opt("UsrTokenDesc", Str),
            opt("Algorithm", ALGORITHM),
            opt("Digits", Int),
            opt("Period", Int),
            opt("Seed", Str),
            opt("PhoneNum", Str),
            CUSTOM_IN,
        ],
        response: &[
            opt("TokenId", Str),
            opt("UsrName", Str),
            opt("UsrTokenStat", USR_TOKEN_STAT),
            opt("OtpAuthUri", Str),
            opt("Secret", Str),
            opt("QRCodePng", Str),
            opt("QRCodeSvg", Str),
            NO_CUSTOM,
        ],
    },
    Op {
        name: "MFATokenMod",
        action: Action::Modify,
        path: PathElem::TokenId,
        request: &[
            req("TokenId", Str),
            req("ActIntentKey", Str),
            opt("UsrTokenStat", USR_TOKEN_STAT),
            opt("UsrName", Str),
            opt("MFATokenUsrStat", MFA_TOKEN_USR_STAT),
            opt("UsrTokenDesc", Str),
            opt("Unbind", Bool),
            opt("AddUsrName", Str),
            CUSTOM_IN,
        ],
        response: INQ_RS,
    },
    Op {
        name: "MFATokenDel",
        action: Action::Delete,
        path: PathElem::TokenId,
        request: &[req("TokenId", Str), req("ActIntentKey", Str)],
        response: STATUS_RS,
    },
    Op {
        name: "MFATokenResync",
        action: Action::Resync,
        path: PathElem::TokenId,
        request: &[req("TokenId", Str), req("Code1", Str), req("Code2", Str)],
        response: STATUS_RS,
    },
    Op {
        name: "MFATokenActv",
        action: Action::Activate,
        path: PathElem::TokenId,
        request: &[req("TokenId", Str), req("Code", Str)],
        response: &[
            opt("RsStat", RS_STAT),
            opt("TokenId", Str),
            opt("UsrTokenStat", USR_TOKEN_STAT),
            RS_CUSTOM,
        ],
    },
    Op {
        name: "MFATokenValidate",
        action: Action::Validate,
        path: PathElem::None,
        request: &[opt("UsrName", Str), opt("TokenId", Str), req("Code", Str)],
        response: &[
            opt("RsStat", RS_STAT),
            opt("TokenId", Str),
            opt("UsrName", Str),
            opt("LastTrnRcptId", Str),
            opt("LastAuthenTimeDt", DateTime),
            opt("OOB", Group(OOB_SESSION)),
            opt("OOBRsn", Str),
            RS_CUSTOM,
        ],
    },
    Op {
        name: "MFATokenTempPswdInq",
        action: Action::TempPswd,
        path: PathElem::None,
        request: &[
            req("UsrName", Str),
            opt("ExpSec", Int),
            opt("OneTime", Bool),
        ],
        response: &[
            opt("UsrName", Str),
            opt("TempPswd", Str),
            opt("ExpDt", DateTime),
            opt("OneTime", Bool),
            NO_CUSTOM,
        ],
    },
    Op {
        name: "OOBValidate",
        action: Action::OobStart,
        path: PathElem::None,
        request: &[
            opt("InstRtId", Str),
            opt("ConsumerProd", Str),
            // Recipient mode (issue 28): never mixed with PhoneNum/SMSText/UsrName.
            opt("ConsmRecipId", Str),
            opt("AlrtName", Str),
            opt("PubVer", Int),
            opt("PhoneNum", Str),
            opt("UsrName", Str),
            opt("OOBModeType", OOB_MODE_TYPE),
            opt("SMSText", Str),
            opt("ExpSec", Int),
            CUSTOM_IN,
        ],
        // Exactly the seed's answer; the session's other facts are OOBStatInq's.
        response: &[
            opt("AlrtPkgId", Str),
            opt("OTP", Str),
            opt("RsStat", RS_STAT_SENT),
            NO_CUSTOM,
        ],
    },
    Op {
        name: "OOBVerify",
        action: Action::OobVerify,
        path: PathElem::AlrtPkgId,
        request: &[req("AlrtPkgId", Str), req("OTP", Str)],
        response: &[
            opt("AlrtPkgId", Str),
            opt("RsStat", OOB_STAT),
            opt("UsrName", Str),
            opt("PhoneNumOnFile", Bool),
            NO_CUSTOM,
        ],
    },
    Op {
        name: "OOBResend",
        action: Action::OobResend,
        path: PathElem::AlrtPkgId,
        request: &[req("AlrtPkgId", Str)],
        response: OOB_RESEND_RS,
    },
    Op {
        name: "OOBStatInq",
        action: Action::OobStatus,
        path: PathElem::AlrtPkgId,
        request: &[req("AlrtPkgId", Str)],
        response: &[
            opt("AlrtPkgId", Str),
            opt("OOBModeType", OOB_MODE_TYPE),
            opt("OOBStat", OOB_STAT),
            opt("SendStat", SEND_STAT),
            opt("PhoneNumMasked", Str),
            opt("ExpDt", DateTime),
            opt("ResendRemain", Int),
            opt("UsrName", Str),
            NO_CUSTOM,
        ],
    },
    // The user, phone, SIM-swap hold and explain operations (issue 17).
    Op {
        name: "MFAUsrAdd",
        action: Action::UsrAdd,
        path: PathElem::None,
        request: &[req("UsrName", Str), opt("PhoneNum", Str)],
        response: USR_INQ_RS,
    },
    Op {
        name: "MFAUsrInq",
        action: Action::UsrInq,
        path: PathElem::UsrName,
        request: &[req("UsrName", Str)],
        response: USR_INQ_RS,
    },
    Op {
        name: "MFAUsrPhoneMod",
        action: Action::UsrPhoneMod,
        path: PathElem::UsrName,
        request: &[
            req("UsrName", Str),
            req("ActIntentKey", Str),
            opt("ActIntent", Enum("PhoneActIntent_Type", &["Upd", "Dlt"])),
            opt("PhoneNum", Str),
        ],
        response: USR_INQ_RS,
    },
    Op {
        name: "MFAUsrHoldLift",
        action: Action::UsrHoldLift,
        path: PathElem::UsrName,
        request: &[req("UsrName", Str), req("Rsn", Str)],
        response: USR_INQ_RS,
    },
    Op {
        name: "MFAUsrAlrtSubMod",
        action: Action::UsrAlrtSub,
        path: PathElem::UsrName,
        request: &[
            req("UsrName", Str),
            req("AlrtName", Str),
            opt("Subscribed", Bool),
        ],
        response: &[
            opt("UsrName", Str),
            opt("AlrtName", Str),
            opt("Subscribed", Bool),
            opt("Changed", Bool),
            NO_CUSTOM,
        ],
    },
    Op {
        name: "MFAExplainInq",
        action: Action::Explain,
        path: PathElem::None,
        request: &[opt("UsrName", Str), opt("TokenId", Str), opt("Cnt", Int)],
        response: &[
            opt("AttemptArray", Array("AttemptRec", ATTEMPT_REC)),
            opt("TokenArray", Array("TokenRec", EXPLAIN_TOKEN_REC)),
            NO_CUSTOM,
        ],
    },
];

/// The operation named `name`.
pub fn find(name: &str) -> Option<&'static Op> {
    OPS.iter().find(|op| op.name == name)
}

/// The child `name` of a layout.
pub fn child(layout: &'static [Elem], name: &str) -> Option<&'static Elem> {
    layout.iter().find(|e| e.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_path_elements_are_in_the_request() {
        for (i, op) in OPS.iter().enumerate() {
            assert!(
                OPS[i + 1..].iter().all(|o| o.name != op.name),
                "{}",
                op.name
            );
            if let Some(p) = op.path.name() {
                assert!(
                    child(op.request, p).is_some_and(|e| e.required),
                    "{}",
                    op.name
                );
            }
        }
    }
}
