//! The fault vocabulary of tokend: every error a caller can see, with its jXchange code.
//!
//! Codes below 7000 are the published jXchange codes (OOBValidate error table); 7000 and up
//! are tokend's own, documented in docs/api.md (Fault codes). The HTTP status of each is
//! chosen in ONE place, `web::api::fault`.

use std::fmt;

use crate::{crypto, storage};

/// A fault a caller can act on. The variant says what; `code` and `desc` give the wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// 2001 — the message request header (`MsgRqHdr.jXchangeHdr`) is required (header
    /// rules: always on the SOAP binding, on JSON with `jxchange_strict_headers`).
    HdrRequired,
    /// 2002 — the audit workstation id (`AuditWsId`) is required (the element; the
    /// seed's own example sends it empty).
    AuditWsIdRequired,
    /// 2003 — the consumer product (`ConsumerProd`) is required.
    ConsumerProdRequired,
    /// 2016 — the institution routing id (`InstRtId`) is required.
    InstRtIdRequired,
    /// 2021 — the audit user id (`AuditUsrId`) is required (the element, as 2002).
    AuditUsrIdRequired,
    /// 2401 — the valid consumer name (`ValidConsmName`) is required.
    ValidConsmNameRequired,
    /// 2005 — a value is not one of the element's enumerations.
    EnumValue,
    /// 2205 — a unique identifier (TokenId) is required.
    IdRequired,
    /// 2505 — access denied: the API key may not act within the `InstRtId` the request
    /// names (published jXchange code).
    InstitutionDenied,
    /// 3103 — a required element is missing or empty.
    FieldRequired,
    /// 3121 — the alert name (`AlrtName`) is not in the institution's publisher library
    /// (tokend: or the recipient is not subscribed to it).
    AlertNameInvalid,
    /// 3124 — `PubVer` is not a version of the alert in the institution's library.
    PubVerInvalid,
    /// 3126 — the institution has no deployed publisher library (`tokend alert add`).
    NoPublisherLibrary,
    /// 3147 — the mobile number must be 10 digits.
    PhoneDigits,
    /// 3154 — either AlrtName or PhoneNum is required (tokend: PhoneNum or a UsrName with a
    /// phone on file).
    PhoneRequired,
    /// 3156 — SMS text may not have both OTP and OTPA tags.
    SmsTextBothTags,
    /// 3157 — SMS text cannot contain any tags besides the OTP tags.
    SmsTextOtherTag,
    /// 3158 — no verification value could be determined for two-way OOB validation.
    NoVerificationValue,
    /// 3155 — the institution's publisher library is closed to OOB validation
    /// (`tokend alert library --inst-rt-id I --oob off`).
    OobNotEnabled,
    /// 3160 — OOBValidate expiration seconds outside 15–1800.
    ExpSecRange,
    /// 7000 — the body is not well-formed JSON.
    MalformedBody,
    /// 7001 — an element has a value of the wrong type or form.
    InvalidValue,
    /// 7002 — the body is larger than the configured limit.
    BodyTooLarge,
    /// 7003 — no such operation (path or method).
    UnknownOperation,
    /// 7004 — the body carries an element this operation does not define.
    UnknownElement,
    /// 7005 — the HTTP request itself is malformed (an unknown method, a bad URI or
    /// header), refused before any operation could read it.
    MalformedRequest,
    /// 7010 — no valid API key was presented.
    Unauthenticated,
    /// 7011 — the API key lacks the scope this operation needs.
    ScopeDenied,
    /// 7012 — a SOAP message outside its WS-Security time window, or a nonce reused.
    StaleMessage,
    /// 7013 — an `Idempotency-Key` already used with a different request (issue 29).
    IdempotencyMismatch,
    /// 7014 — the request holding this `Idempotency-Key` has not answered yet; retry.
    IdempotencyInFlight,
    /// 7020 — no token with this TokenId.
    TokenNotFound,
    /// 7021 — no such user, or the user is not bound to the token.
    UserNotFound,
    /// 7030 — a token with this TokenId already exists.
    DuplicateTokenId,
    /// 7036 — a user with this UsrName already exists in the institution (names compare
    /// ignoring case and width): a conflict with the record, like a duplicate TokenId.
    DuplicateUsrName,
    /// 7031 — the ActIntentKey does not match the record (changed since the inquiry).
    StaleIntentKey,
    /// 7032 — the token is not in a status that allows this operation.
    WrongTokenState,
    /// 7033 — the enrollment QR code is no longer available (token activated or deleted).
    QrGone,
    /// 7034 — the user is already bound to this token.
    AlreadyBound,
    /// 7035 — a request named a phone other than the user's one on file (enrollment, or
    /// an OOBValidate naming the user): phones change only through the phone call.
    PhoneMismatch,
    /// 7040 — the seed is shorter than 128 bits.
    SeedTooShort,
    /// 7041 — a code must be 6 or 8 ASCII digits.
    CodeFormat,
    /// 7042 — the seed is not valid base32.
    SeedEncoding,
    /// 7043 — a seed may only be supplied for Hardware tokens.
    SeedNotAllowed,
    /// 7044 — the token has several users; name one with UsrName.
    AmbiguousBinding,
    /// 7050 — no OOB session with this AlrtPkgId.
    OobNotFound,
    /// 7051 — the OOB session does not allow this (OneWay, or no longer Pending).
    OobWrongState,
    /// 7052 — the SMS send cap for this user or phone is reached (SMS pumping guard).
    SendCapReached,
    /// 7053 — the session has no resends left.
    ResendLimit,
    /// 7054 — an OOB OTP must be 6 ASCII digits or letters.
    OtpFormat,
    /// 7055 — the user's phone changed recently: SMS to it is held (SIM-swap guard).
    SimSwapHold,
    /// 7056 — the number cannot receive a code (`sms_blocked_prefixes`).
    PhoneBlocked,
    /// 7060 — a rate limit (per API key, per user, or failed validations per key).
    RateLimited,
    /// 7090 — the database is busy; retry.
    Busy,
    /// 7099 — an internal error; the jXLogTrackingId identifies it in the logs.
    Internal,
}

impl Fault {
    /// Every fault, for the documentation table and its test.
    pub const ALL: &'static [Fault] = &[
        Fault::HdrRequired,
        Fault::AuditWsIdRequired,
        Fault::ConsumerProdRequired,
        Fault::InstRtIdRequired,
        Fault::AuditUsrIdRequired,
        Fault::ValidConsmNameRequired,
        Fault::EnumValue,
        Fault::IdRequired,
        Fault::InstitutionDenied,
        Fault::FieldRequired,
        Fault::AlertNameInvalid,
        Fault::PubVerInvalid,
        Fault::NoPublisherLibrary,
        Fault::PhoneDigits,
        Fault::PhoneRequired,
        Fault::OobNotEnabled,
        Fault::SmsTextBothTags,
        Fault::SmsTextOtherTag,
        Fault::NoVerificationValue,
        Fault::ExpSecRange,
        Fault::MalformedBody,
        Fault::InvalidValue,
        Fault::BodyTooLarge,
        Fault::UnknownOperation,
        Fault::UnknownElement,
        Fault::MalformedRequest,
        Fault::Unauthenticated,
        Fault::ScopeDenied,
        Fault::StaleMessage,
        Fault::IdempotencyMismatch,
        Fault::IdempotencyInFlight,
        Fault::TokenNotFound,
        Fault::UserNotFound,
        Fault::DuplicateTokenId,
        Fault::StaleIntentKey,
        Fault::WrongTokenState,
        Fault::QrGone,
        Fault::AlreadyBound,
        Fault::PhoneMismatch,
        Fault::DuplicateUsrName,
        Fault::SeedTooShort,
        Fault::CodeFormat,
        Fault::SeedEncoding,
        Fault::SeedNotAllowed,
        Fault::AmbiguousBinding,
        Fault::OobNotFound,
        Fault::OobWrongState,
        Fault::SendCapReached,
        Fault::ResendLimit,
        Fault::OtpFormat,
        Fault::SimSwapHold,
        Fault::PhoneBlocked,
        Fault::RateLimited,
        Fault::Busy,
        Fault::Internal,
    ];

    /// The jXchange `ErrCode`.
    pub fn code(self) -> u16 {
        match self {
            Fault::HdrRequired => 2001,
            Fault::AuditWsIdRequired => 2002,
            Fault::ConsumerProdRequired => 2003,
            Fault::InstRtIdRequired => 2016,
            Fault::AuditUsrIdRequired => 2021,
            Fault::ValidConsmNameRequired => 2401,
            Fault::EnumValue => 2005,
            Fault::IdRequired => 2205,
            Fault::InstitutionDenied => 2505,
            Fault::FieldRequired => 3103,
            Fault::AlertNameInvalid => 3121,
            Fault::PubVerInvalid => 3124,
            Fault::NoPublisherLibrary => 3126,
            Fault::PhoneDigits => 3147,
            Fault::PhoneRequired => 3154,
            Fault::OobNotEnabled => 3155,
            Fault::SmsTextBothTags => 3156,
            Fault::SmsTextOtherTag => 3157,
            Fault::NoVerificationValue => 3158,
            Fault::ExpSecRange => 3160,
            Fault::MalformedBody => 7000,
            Fault::InvalidValue => 7001,
            Fault::BodyTooLarge => 7002,
            Fault::UnknownOperation => 7003,
            Fault::UnknownElement => 7004,
            Fault::MalformedRequest => 7005,
            Fault::Unauthenticated => 7010,
            Fault::ScopeDenied => 7011,
            Fault::StaleMessage => 7012,
            Fault::IdempotencyMismatch => 7013,
            Fault::IdempotencyInFlight => 7014,
            Fault::TokenNotFound => 7020,
            Fault::UserNotFound => 7021,
            Fault::DuplicateTokenId => 7030,
            Fault::StaleIntentKey => 7031,
            Fault::WrongTokenState => 7032,
            Fault::QrGone => 7033,
            Fault::AlreadyBound => 7034,
            Fault::PhoneMismatch => 7035,
            Fault::DuplicateUsrName => 7036,
            Fault::SeedTooShort => 7040,
            Fault::CodeFormat => 7041,
            Fault::SeedEncoding => 7042,
            Fault::SeedNotAllowed => 7043,
            Fault::AmbiguousBinding => 7044,
            Fault::OobNotFound => 7050,
            Fault::OobWrongState => 7051,
            Fault::SendCapReached => 7052,
            Fault::ResendLimit => 7053,
            Fault::OtpFormat => 7054,
            Fault::SimSwapHold => 7055,
            Fault::PhoneBlocked => 7056,
            Fault::RateLimited => 7060,
            Fault::Busy => 7090,
            Fault::Internal => 7099,
        }
    }
}

/// An error from a domain operation.
#[derive(Debug)]
pub enum Error {
    /// A fault to report to the caller, with the element and value that caused it.
    Fault {
        /// What went wrong.
        fault: Fault,
        /// jXchange `ErrElem`: the element at fault, as a path (`MsgRqHdr.jXchangeHdr.InstRtId`).
        elem: Option<String>,
        /// jXchange `ErrElemVal`: the offending value, when it is safe to echo.
        value: Option<String>,
        /// tokend's explanation (`Custom.ErrDetail` beside the record; `ErrDesc` stays
        /// the published sentence).
        detail: Option<String>,
    },
    /// The database is unavailable for now (busy, unreachable, or still refusing a
    /// write as conflicting once the retries ran out): answered as [`Fault::Busy`]. The
    /// storage error is kept so the write path can tell whether to run a job again.
    Unavailable(storage::Error),
    /// A failure that is not the caller's: logged in full, answered generically.
    Internal(String),
}

impl Error {
    /// A fault with no element.
    pub fn fault(fault: Fault) -> Error {
        Error::Fault {
            fault,
            elem: None,
            value: None,
            detail: None,
        }
    }

    /// A fault about one element.
    pub fn at(fault: Fault, elem: impl Into<String>) -> Error {
        Error::Fault {
            fault,
            elem: Some(elem.into()),
            value: None,
            detail: None,
        }
    }

    /// Adds the offending value (only for values safe to echo: never a code or a seed).
    pub fn with_value(mut self, v: impl Into<String>) -> Error {
        if let Error::Fault { value, .. } = &mut self {
            *value = Some(v.into());
        }
        self
    }

    /// Adds explanatory words.
    pub fn with_detail(mut self, d: impl Into<String>) -> Error {
        if let Error::Fault { detail, .. } = &mut self {
            *detail = Some(d.into());
        }
        self
    }

    /// The fault this error answers with.
    pub fn kind(&self) -> Fault {
        match self {
            Error::Fault { fault, .. } => *fault,
            Error::Unavailable(_) => Fault::Busy,
            Error::Internal(_) => Fault::Internal,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Fault {
                fault,
                elem,
                detail,
                ..
            } => write!(
                f,
                "{} {}{}{}",
                fault.code(),
                fault.desc(),
                elem.as_deref()
                    .map(|e| format!(" [{e}]"))
                    .unwrap_or_default(),
                detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
            Error::Unavailable(e) => {
                write!(f, "{} {} ({e})", Fault::Busy.code(), Fault::Busy.desc())
            }
            Error::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<storage::Error> for Error {
    fn from(e: storage::Error) -> Error {
        match e {
            e if e.is_transient() => Error::Unavailable(e),
            storage::Error::Unstorable(_) => Error::fault(Fault::InvalidValue),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl storage::JobError for Error {
    fn storage_error(&self) -> Option<&storage::Error> {
        match self {
            Error::Unavailable(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crypto::Error> for Error {
    fn from(e: crypto::Error) -> Error {
        Error::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_fault_has_a_distinct_code() {
        let codes: HashSet<u16> = Fault::ALL.iter().map(|f| f.code()).collect();
        assert_eq!(codes.len(), Fault::ALL.len());
    }

    #[test]
    fn published_jxchange_codes_keep_their_numbers() {
        assert_eq!(Fault::EnumValue.code(), 2005);
        assert_eq!(Fault::IdRequired.code(), 2205);
        assert_eq!(Fault::FieldRequired.code(), 3103);
        assert_eq!(Fault::PhoneDigits.code(), 3147);
        assert_eq!(Fault::PhoneRequired.code(), 3154);
        assert_eq!(Fault::SmsTextBothTags.code(), 3156);
        assert_eq!(Fault::SmsTextOtherTag.code(), 3157);
        assert_eq!(Fault::NoVerificationValue.code(), 3158);
        assert_eq!(Fault::ExpSecRange.code(), 3160);
    }
}
