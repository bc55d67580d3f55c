//! Enrollment (jXchange MFATokenAdd), the otpauth URI and QR code, and activation.
//!
//! Software tokens get a seed from the system random generator sized to the algorithm;
//! hardware tokens bring theirs (base32, at least 128 bits). The token starts in Init with
//! an Act binding; the first valid code (activation) moves the token to Act and counts as
//! used. The secret and otpauth URI are answered once, at enrollment; the QR code can be
//! fetched again only while the token is Init.

use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use zeroize::Zeroizing;

use super::audit::{self, Entry};
use super::validate::entry_for;
use super::{params_of, to_ms, Context, Error, Fault, Service};
use crate::crypto::{digest, SealedSeed, Seed};
use crate::otp::OtpParams;
use crate::storage::{self, bindings, tokens, users, Conn};
use crate::types::{
    Algorithm, Code, Digits, MfaTokenUsrStat, Period, PhoneNum, RsStat, RsStatRsn, TokenId,
    TokenType, UsrName, UsrTokenStat, MIN_SEED_BYTES,
};
use crate::types::{AuditAction, AuditResult};

/// What an enrollment asks for (already parsed by the edge).
#[derive(Debug)]
pub struct EnrollRequest {
    /// The user to bind the token to (created if new).
    pub usr_name: UsrName,
    /// Software (seed generated here) or Hardware (seed supplied).
    pub token_type: TokenType,
    /// Serial; generated when absent.
    pub token_id: Option<TokenId>,
    /// jXchange `UsrTokenDesc` of the binding.
    pub description: Option<String>,
    /// Algorithm, digits, period.
    pub params: OtpParams,
    /// Base32 seed of a hardware token.
    pub seed_base32: Option<Zeroizing<String>>,
    /// Phone for the SMS fallback, stored on the user.
    pub phone: Option<PhoneNum>,
}

/// The TOTP parameters of an [`EnrollRequest`] from the shared vocabulary, so the edges
/// ask for an algorithm, digits and period without naming the `otp` module.
pub fn otp_params(algorithm: Algorithm, digits: Digits, period: Period) -> OtpParams {
    OtpParams {
        algorithm,
        digits,
        period,
    }
}

/// The result of an enrollment.
#[derive(Debug)]
pub struct Enrolled {
    /// The serial.
    pub token_id: TokenId,
    /// The user.
    pub usr_name: UsrName,
    /// Always Init.
    pub status: UsrTokenStat,
    /// For software tokens: the base32 secret and otpauth URI, this once.
    pub provisioning: Option<Provisioning>,
}

/// What an authenticator app needs. Both strings contain the seed: never log them.
pub struct Provisioning {
    /// Base32 secret without padding.
    pub secret: Zeroizing<String>,
    /// `otpauth://totp/...` Key URI.
    pub otpauth_uri: Zeroizing<String>,
}

impl std::fmt::Debug for Provisioning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Provisioning(<redacted>)")
    }
}

/// The result of an activation attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    /// Success, Failed or Locked.
    pub rs_stat: RsStat,
    /// Why it did not succeed (`None` on Success).
    pub reason: Option<RsStatRsn>,
    /// The token's status afterwards.
    pub token_status: UsrTokenStat,
}

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Base32 (RFC 4648) without padding, as the Key URI format asks.
pub fn base32_secret(seed: &Seed) -> Zeroizing<String> {
    Zeroizing::new(base32::encode(
        base32::Alphabet::Rfc4648 { padding: false },
        seed.expose(),
    ))
}

/// The Key URI: `otpauth://totp/Issuer:UsrName?secret=…&issuer=…&algorithm=…&digits=…&period=…`.
pub fn otpauth_uri(
    issuer: &str,
    usr_name: &UsrName,
    seed: &Seed,
    p: &OtpParams,
) -> Zeroizing<String> {
    let issuer = utf8_percent_encode(issuer, URI_COMPONENT).to_string();
    let account = utf8_percent_encode(usr_name.as_str(), URI_COMPONENT);
    Zeroizing::new(format!(
        "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm={}&digits={}&period={}",
        base32_secret(seed).as_str(),
        p.algorithm,
        p.digits.get(),
        p.period.secs()
    ))
}

/// Decodes a supplied base32 seed (case-insensitive, padding optional) and checks its size.
fn decode_seed(text: &str) -> Result<Seed, Error> {
    let normalized = Zeroizing::new(text.trim_end_matches('=').to_ascii_uppercase());
    let bytes = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &normalized)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| Error::at(Fault::SeedEncoding, "Seed"))?;
    let seed = Seed::new(bytes);
    if seed.len() < MIN_SEED_BYTES {
        return Err(Error::at(Fault::SeedTooShort, "Seed")
            .with_detail(format!("{} bits supplied", seed.len() * 8)));
    }
    Ok(seed)
}

/// A fresh serial: `TK` and 16 base32 characters (80 random bits).
fn generate_token_id() -> Result<TokenId, Error> {
    let raw = digest::random_bytes(10)?;
    let text = format!(
        "TK{}",
        base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &raw)
    );
    TokenId::parse(&text).ok_or_else(|| Error::Internal("generated TokenId is invalid".into()))
}

/// The user a new token is bound to.
pub(super) struct Owner<'a> {
    pub usr_name: &'a UsrName,
    pub phone: Option<&'a PhoneNum>,
    pub description: Option<&'a str>,
}

/// A new token as stored: sealed seed, parameters, and its owner if it has one yet.
pub(super) struct StoredToken<'a> {
    pub token_id: &'a TokenId,
    pub token_type: TokenType,
    pub params: &'a OtpParams,
    pub sealed: &'a SealedSeed,
    pub owner: Option<Owner<'a>>,
}

/// Stores a token in Init (and, with an owner, the user and an Act binding) with its audit
/// row, inside the caller's transaction: the one write path of enrollment and import.
/// A serial already present is fault 7020.
pub(super) fn store_token(
    c: &mut Conn,
    ctx: &Context,
    inst: &str,
    now: DateTime<Utc>,
    action: AuditAction,
    t: &StoredToken<'_>,
) -> Result<(), Error> {
    let now_ms = to_ms(now);
    let new = tokens::NewToken {
        token_id: t.token_id.as_str(),
        token_type: t.token_type,
        algorithm: t.params.algorithm,
        digits: i32::from(t.params.digits.get()),
        period: i32::from(t.params.period.secs()),
        seed_key_id: &t.sealed.key_id,
        seed_nonce: &t.sealed.nonce,
        seed_ciphertext: &t.sealed.ciphertext,
        status: UsrTokenStat::Init,
        last_step: -1,
        drift: 0,
        version: 1,
        created_at: now_ms,
        updated_at: now_ms,
        inst_rt_id: inst,
    };
    let token_pk = tokens::insert_token(c, &new).map_err(|e| match e {
        storage::Error::Conflict(_) => {
            Error::at(Fault::DuplicateTokenId, "TokenId").with_value(t.token_id.as_str())
        }
        other => other.into(),
    })?;
    if let Some(owner) = &t.owner {
        let user_pk = owner_pk(c, inst, owner, now_ms)?;
        let act = MfaTokenUsrStat::Act;
        bindings::insert_binding(c, token_pk, user_pk, act, owner.description, now_ms)?;
    }
    let entry = Entry {
        action,
        token_id: Some(t.token_id.as_str()),
        usr_name: t.owner.as_ref().map(|o| o.usr_name.as_str()),
        result: AuditResult::Success,
        detail: Some(t.token_type.as_str()),
    };
    Ok(audit::record(c, ctx, now, entry)?)
}

/// The row id of the new token's user, creating the user (with the phone given) if absent.
/// An existing user's phone is NEVER changed here (issue 17: enrolling a token naming a
/// new number was an account-takeover path): another number is fault 7035; phones change
/// only through `POST /users/{UsrName}/phone`, audited and under the SIM-swap hold.
fn owner_pk(c: &mut Conn, inst: &str, owner: &Owner<'_>, now_ms: i64) -> Result<i32, Error> {
    let name = owner.usr_name.as_str();
    let phone = owner.phone.map(PhoneNum::as_str);
    match users::find_user(c, inst, name)? {
        Some(user) if phone.is_some() && user.phone_num.as_deref() != phone => {
            Err(Error::at(Fault::PhoneMismatch, "PhoneNum").with_detail(
                "(the user has another phone on file, or none: change it with POST /api/v1/users/{UsrName}/phone)",
            ))
        }
        Some(user) => Ok(user.id),
        None => Ok(users::insert_user(c, inst, name, phone, now_ms)?),
    }
}

impl Service {
    /// Creates a token in Init, bound to the user (jXchange MFATokenAdd).
    pub fn enroll(
        &self,
        ctx: &Context,
        rq: EnrollRequest,
        now: DateTime<Utc>,
    ) -> Result<Enrolled, Error> {
        let seed = match (rq.token_type, &rq.seed_base32) {
            (TokenType::Software, None) => Seed::generate(rq.params.algorithm.seed_len())?,
            (TokenType::Software, Some(_)) => return Err(Error::at(Fault::SeedNotAllowed, "Seed")),
            (TokenType::Hardware, Some(text)) => decode_seed(text)?,
            (TokenType::Hardware, None) => return Err(Error::at(Fault::FieldRequired, "Seed")),
        };
        let token_id = match rq.token_id.clone() {
            Some(id) => id,
            None => generate_token_id()?,
        };
        let inst = self.institution(ctx).to_owned();
        self.store_sealed(|| {
            let sealed = self.keyring.seal(&token_id, &seed)?;
            let stored = StoredToken {
                token_id: &token_id,
                token_type: rq.token_type,
                params: &rq.params,
                sealed: &sealed,
                owner: Some(Owner {
                    usr_name: &rq.usr_name,
                    phone: rq.phone.as_ref(),
                    description: rq.description.as_deref(),
                }),
            };
            self.storage.write(|c| {
                if !super::keys::is_sealing_key(c, &sealed.key_id)? {
                    return Ok(None);
                }
                store_token(c, ctx, &inst, now, AuditAction::Enroll, &stored).map(Some)
            })
        })?;
        let provisioning = (rq.token_type == TokenType::Software).then(|| Provisioning {
            secret: base32_secret(&seed),
            otpauth_uri: otpauth_uri(&self.policy.issuer, &rq.usr_name, &seed, &rq.params),
        });
        Ok(Enrolled {
            token_id,
            usr_name: rq.usr_name,
            status: UsrTokenStat::Init,
            provisioning,
        })
    }

    /// The otpauth URI of a token still in Init, for its QR code; gone once activated.
    pub fn enrollment_uri(
        &self,
        ctx: &Context,
        token_id: &TokenId,
    ) -> Result<Zeroizing<String>, Error> {
        let bound = self.bound_to_token(ctx, token_id)?;
        let first = &bound[0];
        if first.token.status != UsrTokenStat::Init || first.token.token_type != TokenType::Software
        {
            return Err(Error::at(Fault::QrGone, "TokenId").with_value(token_id.as_str()));
        }
        let usr_name = UsrName::parse(&first.usr_name)
            .ok_or_else(|| Error::Internal("stored UsrName is malformed".into()))?;
        let seed = self.open_seed(&first.token)?;
        Ok(otpauth_uri(
            &self.policy.issuer,
            &usr_name,
            &seed,
            &params_of(&first.token)?,
        ))
    }

    /// Activates an Init token with its first code; a wrong code counts as a failure on
    /// its bindings, like a validation.
    pub fn activate(
        &self,
        ctx: &Context,
        token_id: &TokenId,
        code: &Code,
        now: DateTime<Utc>,
    ) -> Result<Activation, Error> {
        let bound = self.bound_to_token(ctx, token_id)?;
        let first = &bound[0];
        let status: UsrTokenStat = first.token.status;
        if status != UsrTokenStat::Init {
            return Err(Error::at(Fault::WrongTokenState, "TokenId")
                .with_value(token_id.as_str())
                .with_detail(format!("the token is {status}, not Init")));
        }
        let act = MfaTokenUsrStat::Act;
        let open: Vec<_> = bound.iter().filter(|b| b.binding.status == act).collect();
        if open.is_empty() {
            let entry = entry_for(
                first,
                AuditAction::Activate,
                AuditResult::Locked,
                Some("no active binding"),
            );
            self.storage
                .write(|c| Ok::<_, Error>(audit::record(c, ctx, now, entry)?))?;
            let lock = MfaTokenUsrStat::Lock;
            let reason = if bound.iter().any(|b| b.binding.status == lock) {
                RsStatRsn::Locked
            } else {
                RsStatRsn::BindingNotActive
            };
            return Ok(Activation {
                rs_stat: RsStat::Locked,
                reason: Some(reason),
                token_status: status,
            });
        }
        if let Some(step) = self.match_step(first, code, now)? {
            let init = UsrTokenStat::Init;
            let won = self.storage.write(|c| {
                let won = tokens::update_token_accept_step(
                    c,
                    first.token.id,
                    init,
                    UsrTokenStat::Act,
                    step,
                    0,
                    to_ms(now),
                )?;
                if won {
                    bindings::update_bindings_clear_failures(c, first.token.id)?;
                    audit::record(
                        c,
                        ctx,
                        now,
                        entry_for(first, AuditAction::Activate, AuditResult::Success, None),
                    )?;
                }
                Ok::<_, Error>(won)
            })?;
            if won {
                return Ok(Activation {
                    rs_stat: RsStat::Success,
                    reason: None,
                    token_status: UsrTokenStat::Act,
                });
            }
            return Err(Error::at(Fault::WrongTokenState, "TokenId")
                .with_value(token_id.as_str())
                .with_detail("the token was activated by another request"));
        }
        let counted = self.count_failure(ctx, &open, now, AuditAction::Activate, None)?;
        Ok(Activation {
            rs_stat: counted.rs_stat(),
            reason: Some(counted.reason()),
            token_status: status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Algorithm, Digits, Period};

    #[test]
    fn otpauth_uri_follows_the_key_uri_format() {
        let seed = Seed::new(b"12345678901234567890".to_vec());
        let p = OtpParams {
            algorithm: Algorithm::SHA1,
            digits: Digits::SIX,
            period: Period::THIRTY,
        };
        let uri = otpauth_uri("ACME Co", &UsrName::parse("john doe@x").unwrap(), &seed, &p);
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/ACME%20Co:john%20doe%40x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn supplied_seeds_are_decoded_and_size_checked() {
        assert_eq!(
            decode_seed("gezdgnbvgy3tqojqgezdgnbvgy3tqojq")
                .unwrap()
                .expose(),
            b"12345678901234567890"
        );
        assert_eq!(
            decode_seed("JBSWY3DPEHPK3PXP").unwrap_err().kind(),
            Fault::SeedTooShort
        );
        assert_eq!(
            decode_seed("not base32!").unwrap_err().kind(),
            Fault::SeedEncoding
        );
        assert_eq!(decode_seed("").unwrap_err().kind(), Fault::SeedEncoding);
    }

    #[test]
    fn generated_token_ids_are_valid_and_distinct() {
        let a = generate_token_id().unwrap();
        assert_eq!(a.as_str().len(), 18);
        assert_ne!(a, generate_token_id().unwrap());
    }
}
