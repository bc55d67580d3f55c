//! The element layouts the operation table (`ops::OPS`) shares: the jXchange headers and
//! fault record, and the answer records several operations write. Value lists are the
//! wire enums' own spellings (`wire!`, from the enums' `ALL`), so the WSDL's `xsd:enumeration`s are the
//! values the server reads and writes.
//! The element vocabulary (`Kind`, `Elem`) is here too. Imports: types (wire enums).

use crate::types::{
    ActIntent, Algorithm, MfaTokenUsrStat, OobModeType, OobStat, RsStat, RsStatRsn, SendStat,
    TokenType, UsrTokenStat,
};
use Kind::{Array, Bool, DateTime, Enum, Group, Int, Long, Str, Tree};

/// The wire spellings of a wire enum's `ALL`, at compile time: the value list the WSDL
/// declares is the list the server reads and writes.
macro_rules! wire {
    ($t:ty) => {{
        const N: usize = <$t>::ALL.len();
        const SPELLINGS: [&str; N] = {
            let mut out = [""; N];
            let mut i = 0;
            while i < N {
                out[i] = <$t>::ALL[i].as_str();
                i += 1;
            }
            out
        };
        &SPELLINGS
    }};
}

/// An element's type.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Text (`xsd:string`).
    Str,
    /// A whole number within 32 bits (`xsd:int`).
    Int,
    /// A whole number within 64 bits (`xsd:long`).
    Long,
    /// A time with its zone (`xsd:dateTime`, as tokend writes it: RFC 3339).
    DateTime,
    /// Text from a value list: the WSDL's named simple type (`UsrTokenStat_Type`) and its
    /// `xsd:enumeration`s, so a client generator makes one enum per list.
    Enum(&'static str, &'static [&'static str]),
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

/// An optional element (`minOccurs="0"`).
pub const fn opt(name: &'static str, kind: Kind) -> Elem {
    Elem {
        name,
        kind,
        required: false,
    }
}

/// A required element (`minOccurs="1"`).
pub const fn req(name: &'static str, kind: Kind) -> Elem {
    Elem {
        name,
        kind,
        required: true,
    }
}

/// `UsrTokenStat` (MFA Token Inquiry: Act, InAct, Del, Init, Disable, Lock).
pub const USR_TOKEN_STAT: Kind = Enum("UsrTokenStat_Type", wire!(UsrTokenStat));
/// `MFATokenUsrStat` (MFA Token Inquiry: Act, Disable, Lock).
pub const MFA_TOKEN_USR_STAT: Kind = Enum("MFATokenUsrStat_Type", wire!(MfaTokenUsrStat));
/// `ActIntent` (MFA Token Inquiry: ReadOnly, Upd, Dlt).
pub const ACT_INTENT: Kind = Enum("ActIntent_Type", wire!(ActIntent));
/// `TokenType` (Software, Hardware).
pub const TOKEN_TYPE: Kind = Enum("TokenType_Type", wire!(TokenType));
/// `Algorithm` (SHA1, SHA256, SHA512).
pub const ALGORITHM: Kind = Enum("Algorithm_Type", wire!(Algorithm));
/// `OOBModeType` (OOBValidate: OneWay, TwoWay).
pub const OOB_MODE_TYPE: Kind = Enum("OOBModeType_Type", wire!(OobModeType));
/// `RsStat` of a validation, activation, deletion or resync (Success, Failed, Locked).
pub const RS_STAT: Kind = Enum("RsStat_Type", wire!(RsStat));
/// `RsStat` of a session started or resent: always `Success` (the seed's answer's).
pub const RS_STAT_SENT: Kind = Enum("OOBSentRsStat_Type", &["Success"]);
/// `RsStat` of a verification and `OOBStat` of a session (Pending, Success, Failed, Expired).
pub const OOB_STAT: Kind = Enum("OOBStat_Type", wire!(OobStat));
/// `SendStat` of an SMS (Pending, Sent, Failed).
pub const SEND_STAT: Kind = Enum("SendStat_Type", wire!(SendStat));

/// `jXchangeHdr`, ONE type for requests and answers, in the seed answer's element order
/// (with `Ver_1`…`Ver_5`, which tokend writes empty) and the deprecated `AuthenUsrId` where
/// the seed's request sends it. tokend reads a request's header in any order.
pub const JX_HDR: &[Elem] = &[
    opt("JxVer", Str),
    opt("AuditUsrId", Str),
    opt("AuditWsId", Str),
    opt("AuthenUsrId", Str),
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

/// `MsgRqHdr`: the header proper and the end user's credentials (`AuthenUsrCred`, a
/// WS-Security element: accepted, its user recorded in the audit, its SAML not verified).
pub const MSG_RQ_HDR: &[Elem] = &[
    opt("AuthenUsrCred", Tree),
    opt("jXchangeHdr", Group(JX_HDR)),
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
    opt("jXchangeHdr", Group(JX_HDR)),
    opt("MsgRecInfoArray", Array("MsgRec", MSG_REC)),
];

/// A fault's `MsgRsHdr` ends with tokend's explanation (`ErrDesc` stays the published
/// sentence): written by `answer::SoapAnswer::fault`, declared by the WSDL.
pub const FAULT_CUSTOM: Elem = opt("Custom", Group(&[opt("ErrDetail", Str)]));

/// `Custom` of a validation or activation: tokend's reason for a Failed or Locked answer.
pub const RS_CUSTOM: Elem = opt(
    "Custom",
    Group(&[opt("RsStatRsn", Enum("RsStatRsn_Type", wire!(RsStatRsn)))]),
);
/// An empty `Custom` (written `xsi:nil="true"`, as the seed's answer does).
pub const NO_CUSTOM: Elem = opt("Custom", Group(&[]));
/// A request's `Custom`: anything, read by nobody.
pub const CUSTOM_IN: Elem = opt("Custom", Kind::Any);

/// `MFATokenInqInfoRec`, exactly the seed's record (its extras are in the answer's
/// `Custom/BindingArray`: the record type has no extension point).
const INQ_REC: &[Elem] = &[
    opt("UsrName", Str),
    opt("MFATokenUsrStat", MFA_TOKEN_USR_STAT),
    opt("UsrTokenDesc", Str),
    opt("LastAuthenTimeDt", DateTime),
    opt("LastTrnRcptId", Str),
];

/// tokend's help-desk facts about one binding of an inquiry answer, by `UsrName`.
pub const INQ_BINDING_REC: &[Elem] = &[
    opt("UsrName", Str),
    opt("FailureCount", Int),
    opt("LockedDt", DateTime),
    opt("LockReason", Str),
    opt("AutoUnlockDt", DateTime),
];

/// The inquiry answer (also what MFATokenMod answers): the seed's elements, and tokend's
/// facts in the message's `Custom` (`Custom_CType`, jXchange's extension point).
pub const INQ_RS: &[Elem] = &[
    opt("UsrName", Str),
    opt("TokenId", Str),
    opt("ActIntent", ACT_INTENT),
    opt("ActIntentKey", Str),
    opt(
        "MFATokenInqInfo",
        Group(&[
            opt("UsrTokenStat", USR_TOKEN_STAT),
            opt("MFATokenInqArray", Array("MFATokenInqInfoRec", INQ_REC)),
        ]),
    ),
    opt(
        "Custom",
        Group(&[
            opt("TokenType", TOKEN_TYPE),
            opt("Algorithm", ALGORITHM),
            opt("Digits", Int),
            opt("Period", Int),
            opt("DriftSteps", Int),
            opt("BindingArray", Array("BindingRec", INQ_BINDING_REC)),
        ]),
    ),
];

/// An OOB session's facts (the validation's `OOB`); `PhoneNumOnFile` only `false`, for
/// a code sent to a number not on file.
pub const OOB_SESSION: &[Elem] = &[
    opt("AlrtPkgId", Str),
    opt("OTP", Str),
    opt("RsStat", RS_STAT_SENT),
    opt("OOBModeType", OOB_MODE_TYPE),
    opt("PhoneNumMasked", Str),
    opt("ExpDt", DateTime),
    opt("SendStat", SEND_STAT),
    opt("ResendRemain", Int),
    opt("PhoneNumOnFile", Bool),
];

/// OOBResend's answer: the session's facts, and the answers' nil `Custom`.
pub const OOB_RESEND_RS: &[Elem] = &[
    opt("AlrtPkgId", Str),
    opt("OTP", Str),
    opt("RsStat", RS_STAT_SENT),
    opt("OOBModeType", OOB_MODE_TYPE),
    opt("PhoneNumMasked", Str),
    opt("ExpDt", DateTime),
    opt("SendStat", SEND_STAT),
    opt("ResendRemain", Int),
    opt("PhoneNumOnFile", Bool),
    NO_CUSTOM,
];

/// What deletion and resync answer.
pub const STATUS_RS: &[Elem] = &[
    opt("TokenId", Str),
    opt("UsrTokenStat", USR_TOKEN_STAT),
    opt("RsStat", RS_STAT),
    opt("DriftSteps", Int),
    NO_CUSTOM,
];

/// The "MFA user" view (what every user operation answers).
pub const USR_INQ_RS: &[Elem] = &[
    opt("UsrName", Str),
    opt("PhoneNum", Str),
    opt("PhoneChgDt", DateTime),
    opt("SimSwapHoldEndDt", DateTime),
    opt("ActIntentKey", Str),
    opt(
        "MFATokenArray",
        Array(
            "MFATokenRec",
            &[
                opt("TokenId", Str),
                opt("TokenType", TOKEN_TYPE),
                opt("UsrTokenStat", USR_TOKEN_STAT),
                opt("MFATokenUsrStat", MFA_TOKEN_USR_STAT),
                opt("UsrTokenDesc", Str),
                opt("DriftSteps", Int),
            ],
        ),
    ),
    NO_CUSTOM,
];

/// One attempt an explanation lists.
pub const ATTEMPT_REC: &[Elem] = &[
    opt("AttemptDt", DateTime),
    opt("Action", Str),
    opt("TokenId", Str),
    opt("UsrName", Str),
    opt("Result", Str),
    opt("Reason", Str),
    opt(
        "Code",
        Group(&[
            opt(
                "Finding",
                Enum(
                    "Finding_Type",
                    &["Offset", "NoMatch", "NotKept", "NotYetValid"],
                ),
            ),
            opt("OffsetSteps", Long),
            opt("OffsetSecs", Long),
            opt("Advice", Str),
        ]),
    ),
];

/// A token's state now, as an explanation lists it.
pub const EXPLAIN_TOKEN_REC: &[Elem] = &[
    opt("TokenId", Str),
    opt("UsrTokenStat", USR_TOKEN_STAT),
    opt("DriftSteps", Int),
    opt(
        "Bindings",
        Array(
            "BindingRec",
            &[
                opt("UsrName", Str),
                opt("MFATokenUsrStat", MFA_TOKEN_USR_STAT),
                opt("FailureCount", Int),
                opt("LockedDt", DateTime),
                opt("LockReason", Str),
                opt("AutoUnlockDt", DateTime),
            ],
        ),
    ),
];
