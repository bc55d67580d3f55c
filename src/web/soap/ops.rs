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
//! `MFAUsrAdd`, `MFAUsrInq`, `MFAUsrPhoneMod`, `MFAUsrHoldLift`, `MFAExplainInq` (the
//! `MFA` prefix of the token operations, the object, then jXchange's verb: Add, Inq, Mod).
//! Imports: nothing from the crate.

/// An element's type.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Text (`xsd:string`).
    Str,
    /// A whole number (`xsd:long`).
    Int,
    /// `true`/`false` (`xsd:boolean`).
    Bool,
    /// A complex element with these children, in this order.
    Group(&'static [Elem]),
    /// An array element (jXchange `_AType`): repeated records of this name and layout.
    Array(&'static str, &'static [Elem]),
    /// Anything (`xsd:any`), not carried to the JSON body (`Custom`).
    Any,
    /// Anything (`xsd:any`), carried to the JSON body as a tree of local names, so the
    /// JSON API's header path reads the end user from it as it does for JSON
    /// (`AuthenUsrCred`'s WS-Security content).
    Tree,
}

/// One element of a layout.
#[derive(Debug, Clone, Copy)]
pub struct Elem {
    /// The jXchange element name (also the JSON API's member name).
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// `minOccurs="1"` in the WSDL.
    pub required: bool,
}

const fn opt(name: &'static str, kind: Kind) -> Elem {
    Elem {
        name,
        kind,
        required: false,
    }
}

const fn req(name: &'static str, kind: Kind) -> Elem {
    Elem {
        name,
        kind,
        required: true,
    }
}

use Kind::{Any, Array, Bool, Group, Int, Str, Tree};

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

/// `MsgRqHdr/jXchangeHdr`, in the order of the OOBValidate seed's request.
pub const JX_HDR_RQ: &[Elem] = &[
    opt("JxVer", Str),
    opt("AuditUsrId", Str),
    opt("AuditWsId", Str),
    opt("AuthenUsrId", Str),
    opt("ConsumerName", Str),
    opt("ConsumerProd", Str),
    opt("jXLogTrackingId", Str),
    opt("InstRtId", Str),
    opt("InstEnv", Str),
    opt("ValidConsmName", Str),
    opt("ValidConsmProd", Str),
    opt("BusCorrelId", Str),
    opt("WorkflowCorrelId", Str),
];

/// `MsgRqHdr`: the header proper and the end user's credentials (`AuthenUsrCred`, a
/// WS-Security element: accepted, its user recorded in the audit, its SAML not verified).
pub const MSG_RQ_HDR: &[Elem] = &[
    opt("AuthenUsrCred", Tree),
    opt("jXchangeHdr", Group(JX_HDR_RQ)),
];

/// `MsgRsHdr/jXchangeHdr`, exactly as the OOBValidate seed's answer orders it.
pub const JX_HDR_RS: &[Elem] = &[
    opt("JxVer", Str),
    opt("AuditUsrId", Str),
    opt("AuditWsId", Str),
    opt("ConsumerName", Str),
    opt("ConsumerProd", Str),
    opt("Ver_1", Str),
    opt("jXLogTrackingId", Str),
    opt("Ver_2", Str),
    opt("InstRtId", Str),
    opt("InstEnv", Str),
    opt("Ver_3", Str),
    opt("BusCorrelId", Str),
    opt("Ver_4", Str),
    opt("Ver_5", Str),
    opt("ValidConsmName", Str),
    opt("ValidConsmProd", Str),
    opt("WorkflowCorrelId", Str),
];

/// jXchange `MsgRec`: one fault record (SOAP faults carry it in `detail`).
pub const MSG_REC: &[Elem] = &[
    opt("ErrCat", Str),
    opt("ErrCode", Str),
    opt("ErrDesc", Str),
    opt("ErrElem", Str),
    opt("ErrElemVal", Str),
    opt("ErrLoc", Str),
];

/// `MsgRsHdr`.
pub const MSG_RS_HDR: &[Elem] = &[
    opt("jXchangeHdr", Group(JX_HDR_RS)),
    opt("MsgRecInfoArray", Array("MsgRec", MSG_REC)),
];

const RS_CUSTOM: Elem = opt("Custom", Group(&[opt("RsStatRsn", Str)]));
/// An empty `Custom` (written `xsi:nil="true"`, as the seed's answer does).
const NO_CUSTOM: Elem = opt("Custom", Group(&[]));
const CUSTOM_IN: Elem = opt("Custom", Any);

const INQ_REC: &[Elem] = &[
    opt("UsrName", Str),
    opt("MFATokenUsrStat", Str),
    opt("UsrTokenDesc", Str),
    opt("LastAuthenTimeDt", Str),
    opt("LastTrnRcptId", Str),
    opt(
        "Custom",
        Group(&[
            opt("FailureCount", Int),
            opt("LockedDt", Str),
            opt("LockReason", Str),
            opt("AutoUnlockDt", Str),
        ]),
    ),
];

/// The inquiry answer (also what MFATokenMod answers).
const INQ_RS: &[Elem] = &[
    opt("UsrName", Str),
    opt("TokenId", Str),
    opt("ActIntent", Str),
    opt("ActIntentKey", Str),
    opt(
        "MFATokenInqInfo",
        Group(&[
            opt("UsrTokenStat", Str),
            opt("MFATokenInqArray", Array("MFATokenInqInfoRec", INQ_REC)),
        ]),
    ),
    opt(
        "Custom",
        Group(&[
            opt("TokenType", Str),
            opt("Algorithm", Str),
            opt("Digits", Int),
            opt("Period", Int),
            opt("DriftSteps", Int),
        ]),
    ),
];

const OOB_SESSION: &[Elem] = &[
    opt("AlrtPkgId", Str),
    opt("OTP", Str),
    opt("RsStat", Str),
    opt("OOBModeType", Str),
    opt("PhoneNumMasked", Str),
    opt("ExpDt", Str),
    opt("SendStat", Str),
    opt("ResendRemain", Int),
];

const STATUS_RS: &[Elem] = &[
    opt("TokenId", Str),
    opt("UsrTokenStat", Str),
    opt("RsStat", Str),
    opt("DriftSteps", Int),
    NO_CUSTOM,
];

/// The "MFA user" view (what every user operation answers).
const USR_INQ_RS: &[Elem] = &[
    opt("UsrName", Str),
    opt("PhoneNum", Str),
    opt("PhoneChgDt", Str),
    opt("SimSwapHoldEndDt", Str),
    opt("ActIntentKey", Str),
    opt(
        "MFATokenArray",
        Array(
            "MFATokenRec",
            &[
                opt("TokenId", Str),
                opt("TokenType", Str),
                opt("UsrTokenStat", Str),
                opt("MFATokenUsrStat", Str),
                opt("UsrTokenDesc", Str),
                opt("DriftSteps", Int),
            ],
        ),
    ),
    NO_CUSTOM,
];

/// One attempt an explanation lists.
const ATTEMPT_REC: &[Elem] = &[
    opt("AttemptDt", Str),
    opt("Action", Str),
    opt("TokenId", Str),
    opt("UsrName", Str),
    opt("Result", Str),
    opt("Reason", Str),
    opt(
        "Code",
        Group(&[
            opt("Finding", Str),
            opt("OffsetSteps", Int),
            opt("OffsetSecs", Int),
            opt("Advice", Str),
        ]),
    ),
];

/// A token's state now, as an explanation lists it.
const EXPLAIN_TOKEN_REC: &[Elem] = &[
    opt("TokenId", Str),
    opt("UsrTokenStat", Str),
    opt("DriftSteps", Int),
    opt(
        "Bindings",
        Array(
            "BindingRec",
            &[
                opt("UsrName", Str),
                opt("MFATokenUsrStat", Str),
                opt("FailureCount", Int),
                opt("LockedDt", Str),
                opt("LockReason", Str),
                opt("AutoUnlockDt", Str),
            ],
        ),
    ),
];

/// Every operation of the binding, in the WSDL's order.
pub const OPS: &[Op] = &[
    Op {
        name: "MFATokenInq",
        action: Action::Inquire,
        path: PathElem::None,
        request: &[
            req("TokenId", Str),
            opt("UsrName", Str),
            opt("ActIntent", Str),
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
            req("TokenType", Str),
            opt("TokenId", Str),
            opt("UsrTokenDesc", Str),
            opt("Algorithm", Str),
            opt("Digits", Int),
            opt("Period", Int),
            opt("Seed", Str),
            opt("PhoneNum", Str),
            CUSTOM_IN,
        ],
        response: &[
            opt("TokenId", Str),
            opt("UsrName", Str),
            opt("UsrTokenStat", Str),
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
            opt("UsrTokenStat", Str),
            opt("UsrName", Str),
            opt("MFATokenUsrStat", Str),
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
            opt("RsStat", Str),
            opt("TokenId", Str),
            opt("UsrTokenStat", Str),
            RS_CUSTOM,
        ],
    },
    Op {
        name: "MFATokenValidate",
        action: Action::Validate,
        path: PathElem::None,
        request: &[opt("UsrName", Str), opt("TokenId", Str), req("Code", Str)],
        response: &[
            opt("RsStat", Str),
            opt("TokenId", Str),
            opt("UsrName", Str),
            opt("LastTrnRcptId", Str),
            opt("LastAuthenTimeDt", Str),
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
            opt("ExpDt", Str),
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
            opt("PhoneNum", Str),
            opt("UsrName", Str),
            opt("OOBModeType", Str),
            opt("SMSText", Str),
            opt("ExpSec", Int),
            CUSTOM_IN,
        ],
        // Exactly the seed's answer; the session's other facts are OOBStatInq's.
        response: &[
            opt("AlrtPkgId", Str),
            opt("OTP", Str),
            opt("RsStat", Str),
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
            opt("RsStat", Str),
            opt("UsrName", Str),
            NO_CUSTOM,
        ],
    },
    Op {
        name: "OOBResend",
        action: Action::OobResend,
        path: PathElem::AlrtPkgId,
        request: &[req("AlrtPkgId", Str)],
        response: OOB_SESSION,
    },
    Op {
        name: "OOBStatInq",
        action: Action::OobStatus,
        path: PathElem::AlrtPkgId,
        request: &[req("AlrtPkgId", Str)],
        response: &[
            opt("AlrtPkgId", Str),
            opt("OOBModeType", Str),
            opt("OOBStat", Str),
            opt("SendStat", Str),
            opt("PhoneNumMasked", Str),
            opt("ExpDt", Str),
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
            opt("ActIntent", Str),
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
