//! The wire text of every fault (jXchange `ErrDesc`), beside the codes in `error`: the
//! table the documentation's fault list is checked against.

use super::Fault;

impl Fault {
    /// The jXchange `ErrDesc`.
    pub fn desc(self) -> &'static str {
        match self {
            Fault::HdrRequired => "The message request header is required.",
            Fault::AuditWsIdRequired => "The audit workstation ID is required.",
            Fault::ConsumerProdRequired => "The consumer product is required.",
            Fault::InstRtIdRequired => "The institution routing identifier is required.",
            Fault::AuditUsrIdRequired => "The audit user ID is required.",
            Fault::ValidConsmNameRequired => "The valid consumer name is required.",
            Fault::EnumValue => "Value does not match defined list of enumerations.",
            Fault::IdRequired => "The unique identifier is required.",
            Fault::InstitutionDenied => "Access was denied.",
            Fault::FieldRequired => "This field is required and cannot be null.",
            Fault::AlertNameInvalid => {
                "The specified alert name is not valid for the applicable publisher library for the institution."
            }
            Fault::PubVerInvalid => "PubVer not valid for this institution/publisher combination.",
            Fault::NoPublisherLibrary => {
                "The specified institution has no deployed publisher libraries for the specified publisher."
            }
            Fault::PhoneDigits => "The mobile number must be 10 digits in length.",
            Fault::PhoneRequired => "Either AlrtName or PhoneNum is required.",
            Fault::OobNotEnabled => "Out of band validation is not enabled for this publisher.",
            Fault::SmsTextBothTags => "SMS text may not have both OTP and OTPA tags.",
            Fault::SmsTextOtherTag => "SMS text cannot contain any ENS tags besides OTP tags.",
            Fault::NoVerificationValue => {
                "No verification value could be determined for two-way OOB validation (OTP or VerifVal)."
            }
            Fault::ExpSecRange => {
                "OOBValidate expiration seconds is outside of allowed range 15 1800."
            }
            Fault::MalformedBody => "The request body is not well-formed (JSON, or XML on /jxchange).",
            Fault::InvalidValue => "The value is not valid for this element.",
            Fault::BodyTooLarge => "The request body is larger than the allowed limit.",
            Fault::UnknownOperation => "No such operation.",
            Fault::UnknownElement => "The element is not defined for this operation.",
            Fault::MalformedRequest => {
                "The HTTP request is malformed (unknown method, bad URI or header)."
            }
            Fault::Unauthenticated => "A valid API key is required (Authorization: Bearer).",
            Fault::ScopeDenied => "The API key is not allowed to call this operation.",
            Fault::StaleMessage => "The message is expired, not yet valid, or replayed (WS-Security).",
            Fault::IdempotencyMismatch => {
                "The Idempotency-Key was already used with a different request."
            }
            Fault::IdempotencyInFlight => {
                "A request with this Idempotency-Key is still running; retry later."
            }
            Fault::TokenNotFound => "No token has this TokenId.",
            Fault::UserNotFound => "No such user is bound to a token.",
            Fault::DuplicateTokenId => "A token with this TokenId already exists.",
            Fault::DuplicateUsrName => "A user with this UsrName already exists.",
            Fault::StaleIntentKey => "The ActIntentKey does not match the current record.",
            Fault::WrongTokenState => "The token status does not allow this operation.",
            Fault::QrGone => "The enrollment QR code is only available while the token is Init.",
            Fault::AlreadyBound => "The user is already bound to this token.",
            Fault::PhoneMismatch => "The user has another phone on file; only the phone call changes it.",
            Fault::SeedTooShort => "The seed must be at least 128 bits.",
            Fault::CodeFormat => "A code must be 6 or 8 ASCII digits.",
            Fault::SeedEncoding => "The seed must be base32 (RFC 4648).",
            Fault::SeedNotAllowed => "A seed may only be supplied for Hardware tokens.",
            Fault::AmbiguousBinding => "The token is bound to several users; name one in UsrName.",
            Fault::OobNotFound => "No out-of-band session has this AlrtPkgId.",
            Fault::OobWrongState => "The out-of-band session does not allow this operation.",
            Fault::SendCapReached => "Too many SMS were sent (to this user or phone, for this institution or API key); retry later.",
            Fault::ResendLimit => "The out-of-band session has no resends left.",
            Fault::OtpFormat => "An OTP must be 6 ASCII digits or letters.",
            Fault::SimSwapHold => {
                "The phone changed recently; SMS to it is held (SIM-swap guard)."
            }
            Fault::PhoneBlocked => "The number cannot receive a code (blocked: premium, toll-free, N11 or invalid).",
            Fault::RateLimited => "Too many requests; retry after the time given.",
            Fault::Busy => "The service is busy; retry the request.",
            Fault::Internal => "Internal error; quote the jXLogTrackingId to support.",
        }
    }
}
