//! The ONE place where a domain error becomes an HTTP status and a jXchange fault record.
//!
//! `status_of` is an exhaustive match, pinned by a test, so adding a fault without choosing
//! its status does not compile. Internal errors are logged here with the jXLogTrackingId
//! and answered with a generic fault that reveals nothing.

use rocket::http::Status;
use rocket::request::Request;
use rocket::response::{self, Responder};
use rocket::{catch, catchers, Catcher};

use super::envelope::{json_response, JxHdr, MsgRec};
use crate::domain::{Error, Fault};

/// The HTTP status of each fault.
pub fn status_of(fault: Fault) -> Status {
    match fault {
        Fault::HdrRequired
        | Fault::AuditWsIdRequired
        | Fault::ConsumerProdRequired
        | Fault::InstRtIdRequired
        | Fault::AuditUsrIdRequired
        | Fault::ValidConsmNameRequired
        | Fault::MalformedBody
        | Fault::InvalidValue
        | Fault::UnknownElement
        | Fault::MalformedRequest
        | Fault::EnumValue
        | Fault::IdRequired
        | Fault::FieldRequired
        | Fault::PhoneRequired => Status::BadRequest,
        Fault::Unauthenticated | Fault::StaleMessage => Status::Unauthorized,
        Fault::ScopeDenied | Fault::InstitutionDenied | Fault::OobNotEnabled => Status::Forbidden,
        Fault::TokenNotFound
        | Fault::UserNotFound
        | Fault::UnknownOperation
        | Fault::OobNotFound
        | Fault::NoPublisherLibrary => Status::NotFound,
        Fault::DuplicateTokenId
        | Fault::DuplicateUsrName
        | Fault::StaleIntentKey
        | Fault::WrongTokenState
        | Fault::AlreadyBound
        | Fault::PhoneMismatch
        | Fault::SimSwapHold
        | Fault::IdempotencyInFlight
        | Fault::OobWrongState => Status::Conflict,
        Fault::QrGone => Status::Gone,
        Fault::BodyTooLarge => Status::PayloadTooLarge,
        Fault::PhoneDigits
        | Fault::AlertNameInvalid
        | Fault::PubVerInvalid
        | Fault::SeedTooShort
        | Fault::CodeFormat
        | Fault::SeedEncoding
        | Fault::SeedNotAllowed
        | Fault::AmbiguousBinding
        | Fault::SmsTextBothTags
        | Fault::SmsTextOtherTag
        | Fault::NoVerificationValue
        | Fault::ExpSecRange
        | Fault::PhoneBlocked
        | Fault::IdempotencyMismatch
        | Fault::OtpFormat => Status::UnprocessableEntity,
        Fault::SendCapReached | Fault::ResendLimit | Fault::RateLimited => Status::TooManyRequests,
        Fault::Busy => Status::ServiceUnavailable,
        Fault::Internal => Status::InternalServerError,
    }
}

/// A fault answer: the echoed header and one fault record.
#[derive(Debug)]
pub struct ApiFault {
    /// Echoed header (boxed: faults travel through `Result`s on every path).
    pub hdr: Box<JxHdr>,
    /// What went wrong.
    pub error: Error,
    /// `Retry-After` seconds, for rate limits.
    pub retry_after: Option<u64>,
}

impl ApiFault {
    /// Attaches the header to echo.
    pub fn new(hdr: &JxHdr, error: Error) -> ApiFault {
        ApiFault {
            hdr: Box::new(hdr.clone()),
            error,
            retry_after: None,
        }
    }

    /// A rate limit's fault, with its `Retry-After`.
    pub fn limited(hdr: &JxHdr, limited: crate::web::limits::Limited) -> ApiFault {
        ApiFault {
            retry_after: Some(limited.retry_after_secs),
            ..ApiFault::new(hdr, limited.error())
        }
    }
}

/// Builds the fault record of an error.
pub fn record_of(error: &Error) -> MsgRec {
    let fault = error.kind();
    let (elem, value) = match error {
        Error::Fault { elem, value, .. } => (elem.clone(), value.clone()),
        Error::Unavailable(_) | Error::Internal(_) => (None, None),
    };
    MsgRec {
        err_cat: "Error",
        err_code: fault.code().to_string(),
        // The published sentence exactly, so consumers matching on it still match;
        // tokend's explanation travels in `Custom.ErrDetail` (`FaultCustom`).
        err_desc: fault.desc().to_owned(),
        err_elem: elem,
        err_elem_val: value,
        err_loc: "tokend",
    }
}

/// tokend's explanation of a fault, beside the jXchange record (whose `ErrDesc` is the
/// published sentence alone): `Custom.ErrDetail`, on both bindings.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct FaultCustom {
    /// Why, in tokend's words (which element, which limit, until when).
    #[serde(rename = "ErrDetail")]
    pub err_detail: String,
}

/// The explanation of an error, if it has one (internal errors never do: they are logged).
pub fn custom_of(error: &Error) -> Option<FaultCustom> {
    match error {
        Error::Fault {
            detail: Some(d), ..
        } => Some(FaultCustom {
            err_detail: unwrap_parens(d).to_owned(),
        }),
        _ => None,
    }
}

/// A detail written as one parenthetical (to follow `ErrDesc`, as it once did) without
/// its parentheses; any other text as it is.
fn unwrap_parens(d: &str) -> &str {
    match d.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        Some(inner) if !inner.contains(['(', ')']) => inner,
        _ => d,
    }
}

/// A JSON fault's body beside `MsgRsHdr`: the explanation, when there is one.
#[derive(serde::Serialize)]
struct FaultBody {
    #[serde(rename = "Custom", skip_serializing_if = "Option::is_none")]
    custom: Option<FaultCustom>,
}

impl<'r> Responder<'r, 'static> for ApiFault {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        if let Error::Internal(message) = &self.error {
            tracing::error!(
                tracking_id = self.hdr.tracking_id.as_deref().unwrap_or("-"),
                "internal error: {message}"
            );
        }
        let status = status_of(self.error.kind());
        let body = FaultBody {
            custom: custom_of(&self.error),
        };
        let mut response = json_response(status, &self.hdr, &[record_of(&self.error)], &body)?;
        if let Some(secs) = self.retry_after {
            response.set_raw_header("Retry-After", secs.to_string());
        }
        Ok(response)
    }
}

/// Catches every status Rocket produces itself (no route, a panic, …) and answers a JSON
/// fault, so no request ever gets an HTML error page.
#[catch(default)]
fn any_status(status: Status, req: &Request<'_>) -> ApiFault {
    let fault = match status.code {
        401 => Fault::Unauthenticated,
        403 => Fault::ScopeDenied,
        404 | 405 => Fault::UnknownOperation,
        413 => Fault::BodyTooLarge,
        // Bodies never fail their guard (a body fault is answered by the handler), so a
        // 400 reaching here is Rocket refusing the request itself.
        400 => Fault::MalformedRequest,
        411 | 415 | 422 => Fault::MalformedBody,
        503 => Fault::Busy,
        _ => Fault::Internal,
    };
    let error = match fault {
        Fault::Internal => Error::Internal(format!("unhandled status {status}")),
        other => Error::fault(other),
    };
    let hdr = JxHdr::generated();
    super::envelope::remember_tracking_id(req, &hdr);
    ApiFault::new(&hdr, error)
}

/// The JSON catchers.
pub fn catchers() -> Vec<Catcher> {
    catchers![any_status]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the whole status table: a change here is a change to the API contract.
    #[test]
    fn fault_status_table() {
        let table: Vec<(u16, u16)> = Fault::ALL
            .iter()
            .map(|f| (f.code(), status_of(*f).code))
            .collect();
        assert_eq!(
            table,
            vec![
                (2001, 400),
                (2002, 400),
                (2003, 400),
                (2016, 400),
                (2021, 400),
                (2401, 400),
                (2005, 400),
                (2205, 400),
                (2505, 403),
                (3103, 400),
                (3121, 422),
                (3124, 422),
                (3126, 404),
                (3147, 422),
                (3154, 400),
                (3155, 403),
                (3156, 422),
                (3157, 422),
                (3158, 422),
                (3160, 422),
                (7000, 400),
                (7001, 400),
                (7002, 413),
                (7003, 404),
                (7004, 400),
                (7005, 400),
                (7010, 401),
                (7011, 403),
                (7012, 401),
                (7013, 422),
                (7014, 409),
                (7020, 404),
                (7021, 404),
                (7030, 409),
                (7031, 409),
                (7032, 409),
                (7033, 410),
                (7034, 409),
                (7035, 409),
                (7036, 409),
                (7040, 422),
                (7041, 422),
                (7042, 422),
                (7043, 422),
                (7044, 422),
                (7050, 404),
                (7051, 409),
                (7052, 429),
                (7053, 429),
                (7054, 422),
                (7055, 409),
                (7056, 422),
                (7060, 429),
                (7090, 503),
                (7099, 500),
            ]
        );
    }

    #[test]
    fn internal_errors_reveal_nothing() {
        let rec = record_of(&Error::Internal("disk /var/x failed".into()));
        assert_eq!(rec.err_code, "7099");
        assert!(!rec.err_desc.contains("/var/x"));
        assert!(custom_of(&Error::Internal("disk /var/x failed".into())).is_none());
    }

    #[test]
    fn err_desc_is_the_published_sentence_and_the_detail_goes_beside_it() {
        let error = Error::at(Fault::InstitutionDenied, "InstRtId").with_detail("(not this key's)");
        assert_eq!(record_of(&error).err_desc, "Access was denied.");
        let custom = custom_of(&error).map(|c| c.err_detail);
        assert_eq!(custom.as_deref(), Some("not this key's"));
    }
}
