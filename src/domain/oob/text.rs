//! OOB message texts (jXchange `SMSText`) and their one-time codes.
//!
//! A text may carry `<%$otp%>` (a 6-digit code) or `<%$otpa%>` (6 letters and digits),
//! never both (3156) and no other `<%$…%>` tag (3157). A TwoWay session needs a tag, or the
//! recipient could never see the value to answer with (3158). Without `SMSText` a system
//! default text with `<%$otp%>` is used (jXchange: default bodies use otp only).

use zeroize::Zeroizing;

use crate::crypto::digest;
use crate::domain::{Error, Fault};

/// The digit tag.
pub const OTP_TAG: &str = "<%$otp%>";
/// The alphanumeric tag.
pub const OTPA_TAG: &str = "<%$otpa%>";
/// Longest accepted `SMSText` (ten concatenated SMS segments).
pub const MAX_TEXT_CHARS: usize = 1530;
/// Letters and digits of an alphanumeric code: upper case, without 0/O and 1/I, which a
/// reader confuses. 32 symbols, so a random byte maps onto them without bias.
const ALNUM: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// The kind of code a text carries (the vocabulary type, named here too).
pub use crate::types::OtpKind;

/// A checked text: which code tag it carries, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsTemplate {
    /// The text with its tags.
    pub text: String,
    /// The tag it carries (`None`: a notification without a code).
    pub kind: Option<OtpKind>,
}

/// Checks a consumer-provided `SMSText`.
pub fn parse_template(text: &str) -> Result<SmsTemplate, Error> {
    if text.is_empty() {
        return Err(Error::at(Fault::FieldRequired, "SMSText"));
    }
    if text.chars().count() > MAX_TEXT_CHARS || text.contains('\0') {
        return Err(Error::at(Fault::InvalidValue, "SMSText")
            .with_detail(format!("(1 to {MAX_TEXT_CHARS} characters)")));
    }
    let (mut otp, mut otpa) = (false, false);
    let mut rest = text;
    while let Some(start) = rest.find("<%$") {
        let after = &rest[start + 3..];
        let Some(end) = after.find("%>") else {
            return Err(Error::at(Fault::SmsTextOtherTag, "SMSText")
                .with_detail("(an unterminated <%$ tag)"));
        };
        match &after[..end] {
            "otp" => otp = true,
            "otpa" => otpa = true,
            other => {
                let tag: String = other.chars().take(32).collect();
                return Err(
                    Error::at(Fault::SmsTextOtherTag, "SMSText").with_value(format!("<%${tag}%>"))
                );
            }
        }
        rest = &after[end + 2..];
    }
    let kind = match (otp, otpa) {
        (true, true) => return Err(Error::at(Fault::SmsTextBothTags, "SMSText")),
        (true, false) => Some(OtpKind::Digits),
        (false, true) => Some(OtpKind::Alnum),
        (false, false) => None,
    };
    Ok(SmsTemplate {
        text: text.to_owned(),
        kind,
    })
}

/// The system default text: the code, its life, and a warning not to share it.
pub fn default_template(issuer: &str, exp_secs: u64) -> SmsTemplate {
    let life = if exp_secs.is_multiple_of(60) {
        format!("{} minute(s)", exp_secs / 60)
    } else {
        format!("{exp_secs} seconds")
    };
    SmsTemplate {
        text: format!(
            "{issuer}: your security code is {OTP_TAG}. Enter it or reply with it within \
             {life}. Never share it; {issuer} will never ask you for it."
        ),
        kind: Some(OtpKind::Digits),
    }
}

/// What stands for the code in the kept (masked) copy of a text.
pub const MASK: &str = "******";

/// The text with its tag replaced by the code.
pub fn render(template: &str, code: &str) -> Zeroizing<String> {
    Zeroizing::new(template.replace(OTP_TAG, code).replace(OTPA_TAG, code))
}

/// A fresh random code of `kind`.
pub fn generate(kind: OtpKind) -> Result<Zeroizing<String>, Error> {
    let raw = Zeroizing::new(digest::random_bytes(8)?);
    match kind {
        OtpKind::Digits => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&raw);
            Ok(Zeroizing::new(format!(
                "{:06}",
                u64::from_be_bytes(n) % 1_000_000
            )))
        }
        OtpKind::Alnum => Ok(Zeroizing::new(
            raw.iter()
                .take(6)
                .map(|b| char::from(ALNUM[usize::from(b & 31)]))
                .collect(),
        )),
    }
}

/// Whether a presented OTP has the form of a code (6 ASCII letters or digits); anything
/// else is fault 7054 and does not end the session.
pub fn is_otp_form(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(text: &str) -> Fault {
        parse_template(text).unwrap_err().kind()
    }

    #[test]
    fn tags_are_checked_as_jxchange_publishes() {
        assert_eq!(
            parse_template("Code <%$otp%> now").unwrap().kind,
            Some(OtpKind::Digits)
        );
        assert_eq!(
            parse_template("Code <%$otpa%>").unwrap().kind,
            Some(OtpKind::Alnum)
        );
        assert_eq!(parse_template("No code here").unwrap().kind, None);
        assert_eq!(fault("<%$otp%> and <%$otpa%>"), Fault::SmsTextBothTags);
        assert_eq!(fault("Hi <%$name%> <%$otp%>"), Fault::SmsTextOtherTag);
        assert_eq!(fault("Hi <%$otp"), Fault::SmsTextOtherTag);
        assert_eq!(fault(""), Fault::FieldRequired);
    }

    #[test]
    fn codes_have_their_form_and_render_into_the_text() {
        let d = generate(OtpKind::Digits).unwrap();
        assert!(d.len() == 6 && d.bytes().all(|b| b.is_ascii_digit()));
        let a = generate(OtpKind::Alnum).unwrap();
        assert!(a.len() == 6 && a.bytes().all(|b| ALNUM.contains(&b)));
        assert!(is_otp_form(&d) && is_otp_form(&a));
        assert!(!is_otp_form("12345") && !is_otp_form("12345 "));
        assert_eq!(render("a <%$otp%> b", "123456").as_str(), "a 123456 b");
        assert_eq!(render("<%$otpa%>", "ABC234").as_str(), "ABC234");
        let default = default_template("Bank", 300);
        assert!(default.text.contains(OTP_TAG) && default.text.contains("5 minute(s)"));
    }
}
