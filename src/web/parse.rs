//! Parsers from the edge's text (JSON elements, form fields) to the typed vocabulary of
//! `types`, each failing with the jXchange fault of its element. The JSON API and the
//! admin console use the same ones, so an input is refused the same way on both.
//! Imports: domain (errors), types.

use crate::domain::{Error, Fault};
use crate::types::{Code, PhoneNum, TokenId, UsrName};

/// A `TokenId` element: empty is 2205, a bad form is 7001.
pub fn parse_token_id(elem: &str, s: &str) -> Result<TokenId, Error> {
    if s.is_empty() {
        return Err(Error::at(Fault::IdRequired, elem));
    }
    TokenId::parse(s).ok_or_else(|| {
        Error::at(Fault::InvalidValue, elem)
            .with_value(s.chars().take(64).collect::<String>())
            .with_detail("(1-64 characters of A-Z a-z 0-9 . _ -)")
    })
}

/// A `UsrName` element: empty is 3103, a bad form is 7001.
pub fn parse_usr_name(s: &str) -> Result<UsrName, Error> {
    if s.is_empty() {
        return Err(Error::at(Fault::FieldRequired, "UsrName"));
    }
    UsrName::parse(s).ok_or_else(|| {
        Error::at(Fault::InvalidValue, "UsrName").with_detail(
            "(1-128 characters, no control characters, no colon, no surrounding spaces)",
        )
    })
}

/// Longest audit id (`AuditUsrId`, `AuditWsId`, an `AuthenUsrCred` user) the audit keeps.
pub const MAX_AUDIT_ID: usize = 128;

/// An audit id the consumer asserts (never verified by tokend): at most
/// [`MAX_AUDIT_ID`] characters and no control character (a CR/LF would forge lines in a
/// log or an export of the audit), else fault 2005 at `elem`; never echoed.
pub fn check_audit_id(elem: &str, value: Option<&str>) -> Result<(), Error> {
    let Some(v) = value else {
        return Ok(());
    };
    if v.chars().any(char::is_control) {
        return Err(Error::at(Fault::EnumValue, elem).with_detail("(no control characters)"));
    }
    if v.chars().count() > MAX_AUDIT_ID {
        return Err(Error::at(Fault::EnumValue, elem)
            .with_detail(format!("(at most {MAX_AUDIT_ID} characters)")));
    }
    Ok(())
}

/// A code element: 6 or 8 ASCII digits (7041); never echoed.
pub fn parse_code(elem: &str, s: &str) -> Result<Code, Error> {
    Code::parse(s).ok_or_else(|| Error::at(Fault::CodeFormat, elem))
}

/// A `PhoneNum` element: exactly 10 digits (jXchange 3147); never echoed in full.
pub fn parse_phone(s: &str) -> Result<PhoneNum, Error> {
    PhoneNum::parse(s).ok_or_else(|| Error::at(Fault::PhoneDigits, "PhoneNum"))
}
