//! Inquiry (jXchange MFATokenInq) and the ActIntentKey of the optimistic concurrency model.
//!
//! An inquiry with ActIntent Upd or Dlt answers an `ActIntentKey`: an HMAC, under a key
//! derived from the master key, of the TokenId, the token's version and the intent. The
//! version changes on every write to the token or its bindings (validations included), so
//! a key stops matching as soon as anything changed, cannot be forged, and cannot be used
//! for another token or another intent.

use chrono::{DateTime, Utc};

use super::validate::FAILURE_LOCK;
use super::Context;
use super::{from_ms, Error, Fault, Service};
use crate::storage::bindings::{self, BoundToken};
use crate::storage::tokens;
use crate::types::{
    ActIntent, Algorithm, MfaTokenUsrStat, TokenId, TokenType, UsrName, UsrTokenStat,
};

/// jXchange MFATokenInqRq.
#[derive(Debug, Clone)]
pub struct InquiryRequest {
    /// Required.
    pub token_id: TokenId,
    /// Optional filter: only this user's binding.
    pub usr_name: Option<UsrName>,
    /// ReadOnly (default), Upd or Dlt.
    pub intent: ActIntent,
}

/// One binding as the inquiry shows it (jXchange MFATokenInqInfoRec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingRecord {
    /// jXchange `UsrName`.
    pub usr_name: String,
    /// jXchange `MFATokenUsrStat`.
    pub status: MfaTokenUsrStat,
    /// jXchange `UsrTokenDesc`.
    pub description: Option<String>,
    /// jXchange `LastAuthenTimeDt`.
    pub last_authen_at: Option<DateTime<Utc>>,
    /// jXchange `LastTrnRcptId`.
    pub last_receipt_id: Option<String>,
    /// Help desk: consecutive failed codes so far.
    pub failure_count: i32,
    /// Help desk: when the binding was locked.
    pub locked_at: Option<DateTime<Utc>>,
    /// Help desk: why it was locked.
    pub lock_reason: Option<String>,
    /// Help desk: when it unlocks by itself (auto-unlock), if it will.
    pub unlocks_at: Option<DateTime<Utc>>,
}

/// Token facts a help desk needs beside the jXchange elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    /// Software or Hardware.
    pub token_type: TokenType,
    /// HMAC algorithm.
    pub algorithm: Algorithm,
    /// Code length.
    pub digits: i32,
    /// Step length, seconds.
    pub period: i32,
    /// Learned clock drift, in steps.
    pub drift: i32,
}

/// jXchange MFATokenInqRs.
#[derive(Debug, Clone)]
pub struct Inquiry {
    /// The token.
    pub token_id: TokenId,
    /// The filter, echoed.
    pub usr_name: Option<UsrName>,
    /// The intent, echoed.
    pub intent: ActIntent,
    /// For Upd and Dlt: the key a later modification must present.
    pub intent_key: Option<String>,
    /// jXchange `UsrTokenStat`.
    pub token_status: UsrTokenStat,
    /// jXchange `MFATokenInqArray`.
    pub records: Vec<BindingRecord>,
    /// Answered under `Custom`.
    pub facts: TokenFacts,
}

fn intent_message(token_id: &TokenId, version: i64, intent: ActIntent) -> Vec<u8> {
    format!("{token_id}\n{version}\n{intent}").into_bytes()
}

impl Service {
    /// Answers a token's status and bindings, and an ActIntentKey for Upd/Dlt.
    pub fn inquire(&self, ctx: &Context, rq: InquiryRequest) -> Result<Inquiry, Error> {
        let token_id = rq.token_id.as_str();
        let inst = self.institution(ctx);
        // One query when the token is bound (its bindings carry it); the token alone only
        // for a token bound to nobody.
        let (token, mut bound) = self.storage.read(|c| {
            let bound = bindings::find_bound_by_token(c, inst, token_id)?;
            let token = match bound.first() {
                Some(b) => Some(b.token.clone()),
                None => tokens::find_token(c, inst, token_id)?,
            };
            Ok((token, bound))
        })?;
        let token =
            token.ok_or_else(|| Error::at(Fault::TokenNotFound, "TokenId").with_value(token_id))?;
        if let Some(name) = &rq.usr_name {
            bindings::retain_named(&mut bound, name.as_str());
            if bound.is_empty() {
                return Err(Error::at(Fault::UserNotFound, "UsrName").with_value(name.as_str()));
            }
        }
        let records = bound
            .into_iter()
            .map(|b| self.record_of(b))
            .collect::<Result<Vec<_>, Error>>()?;
        let intent_key = (rq.intent != ActIntent::ReadOnly).then(|| {
            self.keyring
                .intent_tag(&intent_message(&rq.token_id, token.version, rq.intent))
        });
        Ok(Inquiry {
            token_status: token.status,
            token_id: rq.token_id,
            usr_name: rq.usr_name,
            intent: rq.intent,
            intent_key,
            records,
            facts: TokenFacts {
                token_type: token.token_type,
                algorithm: token.algorithm,
                digits: token.digits,
                period: token.period,
                drift: token.drift,
            },
        })
    }

    fn record_of(&self, b: BoundToken) -> Result<BindingRecord, Error> {
        let status: MfaTokenUsrStat = b.binding.status;
        let auto = self.policy.auto_unlock_after_secs;
        let by_failures = b
            .binding
            .lock_reason
            .as_deref()
            .is_some_and(|r| r.ends_with(FAILURE_LOCK));
        let unlocks_at = match (status, b.binding.locked_at) {
            (MfaTokenUsrStat::Lock, Some(at)) if auto > 0 && by_failures => from_ms(
                at.saturating_add(i64::try_from(auto.saturating_mul(1000)).unwrap_or(i64::MAX)),
            ),
            _ => None,
        };
        Ok(BindingRecord {
            status,
            usr_name: b.usr_name,
            description: b.binding.description,
            last_authen_at: b.binding.last_authen_at.and_then(from_ms),
            last_receipt_id: b.binding.last_receipt_id,
            failure_count: b.binding.failure_count,
            locked_at: b.binding.locked_at.and_then(from_ms),
            lock_reason: b.binding.lock_reason,
            unlocks_at,
        })
    }

    /// Whether `key` is the ActIntentKey an inquiry with `intent` would answer for the
    /// token at `version` now.
    pub fn is_current_intent_key(
        &self,
        token_id: &TokenId,
        version: i64,
        intent: ActIntent,
        key: &str,
    ) -> bool {
        self.keyring
            .verify_intent_tag(&intent_message(token_id, version, intent), key)
    }
}
