//! Shared vocabulary of tokend: newtypes and enums whose variants ARE the jXchange codes.
//!
//! No logic beyond parsing and formatting lives here. Imports: serde and std only; every
//! other module may import this one.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Declares a string enum whose variant names are the wire (jXchange) codes, with `as_str`,
/// `FromStr` and serde support, so the same spelling is used in JSON, SQL and logs. A
/// second form names each variant's spelling (`Lock = "lock"`) where it is not the
/// variant's name. Storage gives every such enum Diesel's `ToSql`/`FromSql`
/// (`storage::sql_types`), so a state is typed from the wire to the column.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }
        wire_enum!(@impl $name { $($variant = stringify!($variant)),+ });
    };
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+ }
        wire_enum!(@impl $name { $($variant = $wire),+ });
    };
    (@impl $name:ident { $($variant:ident = $wire:expr),+ }) => {
        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling of this value (also what the database stores).
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                $(if s == $wire { return Ok($name::$variant); })+
                Err(UnknownValue)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

mod audit;
mod staff;
pub use audit::{AuditAction, AuditResult};
pub use staff::{ApprovalState, Role, StaffAction};

/// Where a listing by row id starts and which way it reads (the OOB event feed, the SMS
/// outbox): paging vocabulary shared by the edge, the domain and storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// Ids above this one, oldest first: how consumers follow a feed (`after=N`).
    After(i64),
    /// Ids below this one, newest first: how a person reads a log (`i64::MAX`: the newest).
    Before(i64),
}

/// A stored or received string is not one of an enum's canonical values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownValue;

wire_enum!(
    /// jXchange `UsrTokenStat`: the status of the token itself.
    UsrTokenStat { Act, InAct, Del, Init, Disable, Lock }
);

wire_enum!(
    /// jXchange `MFATokenUsrStat`: the status of one user's binding to a token.
    MfaTokenUsrStat { Act, Disable, Lock }
);

wire_enum!(
    /// Kind of token: a software authenticator app or a hardware device with an imported seed.
    TokenType { Software, Hardware }
);

wire_enum!(
    /// HMAC algorithm of a TOTP token (RFC 6238 allows SHA1, SHA256 and SHA512).
    Algorithm { SHA1, SHA256, SHA512 }
);

wire_enum!(
    /// jXchange `ActIntent`: what the consumer means to do after an inquiry.
    ActIntent { ReadOnly, Upd, Dlt }
);

wire_enum!(
    /// jXchange `RsStat` of a validation.
    RsStat { Success, Failed, Locked }
);

wire_enum!(
    /// tokend `Custom.RsStatRsn`: why a validation or activation did not succeed, for the
    /// consumer (a trusted system) to choose what its user is told ("wait for the next
    /// code" after `Replayed`). A right and a wrong code on a locked binding get the same
    /// `Locked`, so the reason is no oracle.
    RsStatRsn { WrongCode, Replayed, TokenNotActive, BindingNotActive, Locked }
);

wire_enum!(
    /// jXchange `OOBModeType`: OneWay sends a notification only; TwoWay keeps a session that
    /// the recipient's answer verifies.
    OobModeType { OneWay, TwoWay }
);

wire_enum!(
    /// The state of an OOB session, and the `RsStat` of its verification and its "90040"
    /// feedback event: Pending until it ends as Success, Failed or Expired (exactly once).
    OobStat { Pending, Success, Failed, Expired }
);

wire_enum!(
    /// Delivery state of an SMS (tokend `SendStat`): Pending while the provider is being
    /// tried, Sent once it accepted the message, Failed when every attempt failed.
    SendStat { Pending, Sent, Failed }
);

wire_enum!(
    /// Where one event's delivery to one webhook endpoint stands: Pending while it is
    /// tried (with back-off), Delivered on a 2xx, Refused on a 4xx that retrying cannot
    /// change, Failed when it was still undelivered a day after the event.
    DeliveryStat { Pending = "pending", Delivered = "delivered", Refused = "refused", Failed = "failed" }
);

wire_enum!(
    /// The kind of code an OOB text carries: six digits (`<%$otp%>`) or six letters or
    /// digits (`<%$otpa%>`); stored with the session, so a resend sends the same kind.
    OtpKind { Digits = "otp", Alnum = "otpa" }
);

wire_enum!(
    /// Who delivers SMS (`sms_provider`), stored with each message.
    ProviderKind { Outbox = "outbox", Http = "http" }
);

wire_enum!(
    /// Why an OOB session was started: the fallback of a Locked validation, an explicit
    /// OOBValidate request, or an explicit one that named its user and, on the consumer's
    /// word (`oob_explicit_phone = "allow"`), a number that is not the user's phone on
    /// file: its answer, its "90040" event and its audit say so.
    SessionOrigin { Lock = "lock", Explicit = "explicit", OffFile = "explicit_off_file" }
);

impl Algorithm {
    /// Length of a freshly generated software seed: the HMAC's output size, as RFC 6238's
    /// reference implementation uses (160, 256 and 512 bits).
    pub fn seed_len(self) -> usize {
        match self {
            Algorithm::SHA1 => 20,
            Algorithm::SHA256 => 32,
            Algorithm::SHA512 => 64,
        }
    }
}

/// Smallest seed accepted from a hardware import: RFC 4226 R6 requires 128 bits.
pub const MIN_SEED_BYTES: usize = 16;

/// Number of digits of a code; only 6 and 8 are supported by the apps and devices we serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Digits(u8);

impl Digits {
    /// Six digits, what every authenticator app supports.
    pub const SIX: Digits = Digits(6);
    /// The count as a number.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Digits {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            6 | 8 => Ok(Digits(v)),
            _ => Err(format!("Digits must be 6 or 8, not {v}")),
        }
    }
}

impl From<Digits> for u8 {
    fn from(d: Digits) -> u8 {
        d.0
    }
}

/// Length of a TOTP time step in seconds: 30 (the app default) or 60.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct Period(u16);

impl Period {
    /// Thirty seconds, what every authenticator app supports.
    pub const THIRTY: Period = Period(30);
    /// The period in seconds.
    pub fn secs(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for Period {
    type Error = String;
    fn try_from(v: u16) -> Result<Self, String> {
        match v {
            30 | 60 => Ok(Period(v)),
            _ => Err(format!("Period must be 30 or 60, not {v}")),
        }
    }
}

impl From<Period> for u16 {
    fn from(p: Period) -> u16 {
        p.0
    }
}

/// jXchange `TokenId`: the unique serial of a token. 1–64 characters of `A-Z a-z 0-9 . _ -`,
/// so it is safe in a URL path, a QR label and a log line without escaping.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TokenId(String);

impl TokenId {
    /// Checks the character set and length.
    pub fn parse(s: &str) -> Option<TokenId> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        ok.then(|| TokenId(s.to_owned()))
    }
    /// The serial as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// jXchange `UsrName`: 1–128 printable characters, no control characters and no colon
/// (the otpauth label uses the colon to separate issuer and account).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct UsrName(String);

impl UsrName {
    /// Checks length and characters; surrounding white space is an error, not trimmed.
    pub fn parse(s: &str) -> Option<UsrName> {
        let ok = (1..=128).contains(&s.chars().count())
            && s.trim() == s
            && !s.chars().any(|c| c.is_control() || c == ':');
        ok.then(|| UsrName(s.to_owned()))
    }
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The form user names compare in within an institution (issue 26): `carol`, `Carol` and
/// `Ｃarol` (a full-width C) are one user. Unicode NFKC (compatibility forms: full width,
/// ligatures), then case folded (lower case, with the full foldings of `ß` and final
/// `ς` that lower-casing leaves), then NFKC again, as Unicode's NFKC_Casefold does.
pub fn usr_name_key(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    let mut folded = String::with_capacity(name.len());
    for c in name.nfkc().flat_map(char::to_lowercase) {
        match c {
            'ß' => folded.push_str("ss"),
            'ς' => folded.push('σ'),
            _ => folded.push(c),
        }
    }
    folded.nfkc().collect()
}

impl fmt::Display for UsrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 10-digit phone number (jXchange `PhoneNum`), kept for the SMS fallback.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PhoneNum(String);

impl PhoneNum {
    /// Exactly ten ASCII digits (jXchange fault 3147 otherwise).
    pub fn parse(s: &str) -> Option<PhoneNum> {
        (s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit())).then(|| PhoneNum(s.to_owned()))
    }
    /// The full number; never log it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The number with all but the last four digits hidden, for logs and answers.
    pub fn masked(&self) -> String {
        format!("******{}", &self.0[6..])
    }
}

impl fmt::Debug for PhoneNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A code as typed by the user: exactly 6 or 8 ASCII digits, nothing trimmed or normalised
/// (DESIGN: "a code is exactly `Digits` ASCII digits"). Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl Code {
    /// Accepts 6 or 8 ASCII digits; whether the length fits a given token is checked later.
    pub fn parse(s: &str) -> Option<Code> {
        (matches!(s.len(), 6 | 8) && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Code(s.to_owned()))
    }
    /// The digits; never log them.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_enums_round_trip_their_spelling() {
        for s in UsrTokenStat::ALL {
            assert_eq!(s.as_str().parse::<UsrTokenStat>(), Ok(*s));
        }
        assert_eq!("act".parse::<UsrTokenStat>(), Err(UnknownValue));
        assert_eq!(
            serde_json::to_string(&MfaTokenUsrStat::Lock).unwrap(),
            "\"Lock\""
        );
    }

    #[test]
    fn audit_actions_keep_their_stored_spellings() {
        let spellings: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        let unique: std::collections::HashSet<_> = spellings.iter().collect();
        assert_eq!(unique.len(), spellings.len());
        assert_eq!(AuditAction::OobStart.as_str(), "oob.start");
        assert_eq!("auto-unlock".parse(), Ok(AuditAction::AutoUnlock));
        assert_eq!(SessionOrigin::Lock.as_str(), "lock");
        assert_eq!(ProviderKind::Http.to_string(), "http");
        assert_eq!(serde_json::to_string(&OtpKind::Alnum).unwrap(), "\"otpa\"");
    }

    #[test]
    fn token_ids_and_names_are_checked() {
        assert!(TokenId::parse("HW-0001.a_b").is_some());
        assert!(TokenId::parse("").is_none());
        assert!(TokenId::parse("a/b").is_none());
        assert!(TokenId::parse(&"x".repeat(65)).is_none());
        assert!(UsrName::parse("John Doe").is_some());
        assert!(UsrName::parse(" John").is_none());
        assert!(UsrName::parse("a:b").is_none());
    }

    #[test]
    fn codes_are_exact_digit_strings() {
        assert!(Code::parse("000123").is_some());
        assert!(Code::parse("12345678").is_some());
        assert!(Code::parse(" 123456").is_none());
        assert!(Code::parse("1234567").is_none());
        assert!(Code::parse("12345a").is_none());
        assert!(Code::parse("１２３４５６").is_none());
        assert_eq!(
            format!("{:?}", Code::parse("123456").unwrap()),
            "Code(<redacted>)"
        );
    }

    #[test]
    fn phone_numbers_are_ten_digits_and_masked() {
        let p = PhoneNum::parse("4175556652").unwrap();
        assert_eq!(p.masked(), "******6652");
        assert!(PhoneNum::parse("417555665").is_none());
        assert!(PhoneNum::parse("+417555665").is_none());
    }

    #[test]
    fn digits_and_period_accept_only_supported_values() {
        assert!(Digits::try_from(7).is_err());
        assert!(Period::try_from(45).is_err());
        assert_eq!(Period::try_from(60).unwrap().secs(), 60);
    }
}
