//! The layouts of the jXchange headers and fault record as SOAP writes and declares them
//! (`jXchangeHdr` with the seed's `Ver_1`…`Ver_5`, `MsgRqHdr`, `MsgRsHdr`, `MsgRec`): no
//! JSON struct spells them so. Every operation's own elements come from its request and
//! answer types (`ops`, `xsd`). Imports: none.

use Kind::{Any, Array, Group, Str};

/// An element's type.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Text (`xsd:string`).
    Str,
    /// A complex element with these children, in this order.
    Group(&'static [Elem]),
    /// An array element (jXchange `_AType`): repeated records of this name and layout.
    Array(&'static str, &'static [Elem]),
    /// Anything (`xsd:any`): `AuthenUsrCred`'s WS-Security content.
    Any,
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
pub const MSG_RQ_HDR: &[Elem] = &[opt("AuthenUsrCred", Any), opt("jXchangeHdr", Group(JX_HDR))];

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
