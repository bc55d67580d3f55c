//! The console actions that dual control can hold, as data: what a maker asked for is
//! stored as a [`StaffRequest`] (JSON in `approvals.params`) and run later by
//! [`Service::perform`] exactly as it would have run at once. Each request also carries
//! a guard, what its target looked like when asked ([`Service::guard_of`]); an approval
//! whose target changed since is refused instead of acting on something the maker never
//! saw.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::super::api_keys::{KeyConsumer, KeyReach, Scope};
use super::super::phones::PhoneChange;
use super::super::{Context, Error, Fault, Service};
use crate::types::{PhoneNum, Role, StaffAction, TokenId, UsrName};

/// An action held by dual control, with its input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action")]
pub enum StaffRequest {
    /// Change (or, with no phone, remove) a user's phone.
    #[serde(rename = "phone.change")]
    PhoneChange {
        /// The user.
        usr_name: String,
        /// The new number; none removes it.
        phone: Option<String>,
        /// The user's ActIntentKey as the maker's page showed it.
        intent_key: String,
    },
    /// Lift a user's SIM-swap hold.
    #[serde(rename = "hold.lift")]
    HoldLift {
        /// The user.
        usr_name: String,
        /// Why (audited).
        reason: String,
    },
    /// Delete a token (its seed destroyed).
    #[serde(rename = "token.delete")]
    TokenDelete {
        /// The token.
        token_id: String,
        /// The user whose page it was deleted from.
        usr_name: String,
        /// The ActIntentKey (Dlt) the maker's page carried.
        intent_key: String,
    },
    /// Bind an unassigned hardware token to a user.
    #[serde(rename = "token.bind")]
    TokenBind {
        /// The token's serial.
        token_id: String,
        /// The user (created if new).
        usr_name: String,
    },
    /// Create an API key.
    #[serde(rename = "apikey.create")]
    ApikeyCreate {
        /// Its name.
        name: String,
        /// Its scopes.
        scopes: Vec<String>,
        /// Its institution; none: every institution.
        inst_rt_id: Option<String>,
        /// The jXchange consumer it is registered for.
        consumer_name: Option<String>,
        /// The jXchange product it is registered for.
        consumer_prod: Option<String>,
        /// Kept sealed for WS-Security `PasswordDigest` (`tokend apikey create
        /// --soap-digest`); absent in requests filed before the console offered it.
        #[serde(default)]
        soap_digest: bool,
    },
    /// Add a text, or a name's next version, to the institution's SMS alert library.
    #[serde(rename = "alert.add")]
    AlertAdd {
        /// Its `AlrtName`.
        name: String,
        /// The text, with its `<%$otp%>` or `<%$otpa%>` tag.
        text: String,
    },
    /// Open or close the institution's SMS alert library to OOB validation.
    #[serde(rename = "alert.library")]
    AlertLibrary {
        /// Open (true) or closed.
        enabled: bool,
    },
    /// Create a staff account (a one-time password is generated).
    #[serde(rename = "staff.create")]
    StaffCreate {
        /// Its username.
        username: String,
        /// Its role.
        role: Role,
        /// Its institution; none: every institution.
        inst_rt_id: Option<String>,
    },
    /// Change a staff account's role.
    #[serde(rename = "staff.role")]
    StaffRole {
        /// The account.
        username: String,
        /// The role it has now.
        from: Role,
        /// The role it gets.
        to: Role,
    },
    /// Reset a staff account's second factor: it enrolls again at its next sign-in.
    #[serde(rename = "staff.mfa_reset")]
    StaffFactorReset {
        /// The account.
        username: String,
    },
}

/// What a performed action answers the console.
#[derive(Debug)]
pub struct Done {
    /// What happened, in words.
    pub message: String,
    /// A secret to show this once (a new API key or one-time password), with its label.
    pub secret: Option<(String, Zeroizing<String>)>,
}

fn said(message: impl Into<String>) -> Done {
    Done {
        message: message.into(),
        secret: None,
    }
}

fn usr(name: &str) -> Result<UsrName, Error> {
    UsrName::parse(name).ok_or_else(|| Error::at(Fault::InvalidValue, "UsrName").with_value(name))
}

fn token(id: &str) -> Result<TokenId, Error> {
    TokenId::parse(id).ok_or_else(|| Error::at(Fault::InvalidValue, "TokenId").with_value(id))
}

impl StaffRequest {
    /// Which action it is.
    pub fn action(&self) -> StaffAction {
        match self {
            StaffRequest::PhoneChange { .. } => StaffAction::PhoneChange,
            StaffRequest::HoldLift { .. } => StaffAction::HoldLift,
            StaffRequest::TokenDelete { .. } => StaffAction::TokenDelete,
            StaffRequest::TokenBind { .. } => StaffAction::TokenBind,
            StaffRequest::ApikeyCreate { .. } => StaffAction::ApikeyCreate,
            StaffRequest::StaffCreate { .. } => StaffAction::StaffCreate,
            StaffRequest::StaffRole { .. } => StaffAction::StaffRole,
            StaffRequest::StaffFactorReset { .. } => StaffAction::StaffFactorReset,
            StaffRequest::AlertAdd { .. } | StaffRequest::AlertLibrary { .. } => {
                StaffAction::AlertEdit
            }
        }
    }

    /// What it acts on, in words (the approvals page, the audit).
    pub fn target(&self) -> String {
        match self {
            StaffRequest::PhoneChange {
                usr_name, phone, ..
            } => match phone {
                Some(p) => format!("user {usr_name}: phone to {}", masked(p)),
                None => format!("user {usr_name}: remove the phone"),
            },
            StaffRequest::HoldLift { usr_name, .. } => format!("user {usr_name}"),
            StaffRequest::TokenDelete {
                token_id, usr_name, ..
            } => format!("token {token_id} of {usr_name}"),
            StaffRequest::TokenBind { token_id, usr_name } => {
                format!("hardware token {token_id} to {usr_name}")
            }
            StaffRequest::ApikeyCreate {
                name,
                scopes,
                inst_rt_id,
                soap_digest,
                ..
            } => format!(
                "API key {name} ({}) for {}{}",
                scopes.join(","),
                inst_rt_id.as_deref().unwrap_or("every institution"),
                if *soap_digest {
                    ", sealed for SOAP PasswordDigest"
                } else {
                    ""
                }
            ),
            StaffRequest::StaffCreate {
                username,
                role,
                inst_rt_id,
            } => format!(
                "staff {username} as {role} of {}",
                inst_rt_id.as_deref().unwrap_or("every institution")
            ),
            StaffRequest::StaffRole { username, from, to } => {
                format!("staff {username}: {from} to {to}")
            }
            StaffRequest::StaffFactorReset { username } => {
                format!("staff {username}: reset the second factor")
            }
            StaffRequest::AlertAdd { name, text } => format!("SMS alert {name}: \"{text}\""),
            StaffRequest::AlertLibrary { enabled } => format!(
                "the SMS alert library: {} OOB",
                if *enabled { "open to" } else { "closed to" }
            ),
        }
    }
}

fn masked(phone: &str) -> String {
    PhoneNum::parse(phone).map_or_else(|| phone.to_owned(), |p| p.masked())
}

impl Service {
    /// What the request's target looks like now, in a form compared at approval: the
    /// user's ActIntentKey (phone state) and hold for user actions, the token's key for a
    /// delete, the account's role for a role change; empty where a re-run checks itself
    /// (a name taken since is refused by the creation).
    pub fn guard_of(
        &self,
        ctx: &Context,
        rq: &StaffRequest,
        now: DateTime<Utc>,
    ) -> Result<String, Error> {
        Ok(match rq {
            StaffRequest::PhoneChange { usr_name, .. }
            | StaffRequest::HoldLift { usr_name, .. } => {
                let view = self.user_view(ctx, &usr(usr_name)?, now)?;
                format!("{}|{:?}", view.intent_key, view.hold_until)
            }
            StaffRequest::TokenBind { usr_name, .. } => {
                match self.user_view(ctx, &usr(usr_name)?, now) {
                    Ok(view) => format!("{}|{}", view.intent_key, view.tokens.len()),
                    Err(e) if e.kind() == Fault::UserNotFound => String::new(),
                    Err(e) => return Err(e),
                }
            }
            StaffRequest::TokenDelete { intent_key, .. } => intent_key.clone(),
            StaffRequest::StaffRole { from, .. } => from.as_str().to_owned(),
            StaffRequest::ApikeyCreate { .. }
            | StaffRequest::StaffCreate { .. }
            | StaffRequest::StaffFactorReset { .. }
            | StaffRequest::AlertAdd { .. }
            | StaffRequest::AlertLibrary { .. } => String::new(),
        })
    }

    /// Runs a request as the console would have run it at once, within `ctx`'s
    /// institution and audited as `ctx`'s actor.
    pub fn perform(
        &self,
        ctx: &Context,
        rq: &StaffRequest,
        now: DateTime<Utc>,
    ) -> Result<Done, Error> {
        match rq {
            StaffRequest::PhoneChange {
                usr_name,
                phone,
                intent_key,
            } => {
                let phone = match phone {
                    Some(p) => Some(
                        PhoneNum::parse(p)
                            .ok_or_else(|| Error::at(Fault::PhoneDigits, "PhoneNum"))?,
                    ),
                    None => None,
                };
                let change = PhoneChange {
                    usr_name: usr(usr_name)?,
                    intent_key: intent_key.clone(),
                    phone,
                };
                let view = self.change_phone(ctx, &change, now)?;
                Ok(said(match view.phone_masked {
                    Some(p) => format!("Phone changed to {p}; the SMS fallback is held."),
                    None => "Phone removed.".to_owned(),
                }))
            }
            StaffRequest::HoldLift { usr_name, reason } => {
                self.lift_hold(ctx, &usr(usr_name)?, reason, now)?;
                Ok(said("SIM-swap hold lifted."))
            }
            StaffRequest::TokenDelete {
                token_id,
                intent_key,
                ..
            } => {
                self.delete(ctx, &token(token_id)?, intent_key, now)?;
                Ok(said(format!(
                    "Token {token_id} is deleted; its seed is destroyed."
                )))
            }
            StaffRequest::TokenBind { token_id, usr_name } => {
                self.bind_hardware(ctx, &token(token_id)?, &usr(usr_name)?, now)?;
                Ok(said(format!(
                    "Hardware token {token_id} is bound to {usr_name}."
                )))
            }
            StaffRequest::ApikeyCreate { .. } => self.perform_key(ctx, rq, now),
            StaffRequest::AlertAdd { .. } | StaffRequest::AlertLibrary { .. } => {
                self.perform_alert(ctx, rq, now)
            }
            StaffRequest::StaffCreate {
                username,
                role,
                inst_rt_id,
            } => {
                let reach = KeyReach::from_stored(inst_rt_id.clone());
                let otp = self.create_staff(ctx, username, None, *role, &reach, now)?;
                Ok(Done {
                    message: format!("Staff account {username} ({role}) is created."),
                    secret: otp.map(|p| (format!("One-time password of {username}"), p)),
                })
            }
            StaffRequest::StaffRole { username, from, to } => {
                self.set_staff_role(ctx, username, Some(*from), *to, now)?;
                Ok(said(format!("{username} is now {to}.")))
            }
            StaffRequest::StaffFactorReset { username } => {
                self.reset_staff_factor(ctx, username, now)?;
                Ok(said(format!(
                    "The second factor of {username} is reset: they enroll a new one at their next sign-in."
                )))
            }
        }
    }

    fn perform_key(
        &self,
        ctx: &Context,
        rq: &StaffRequest,
        now: DateTime<Utc>,
    ) -> Result<Done, Error> {
        let StaffRequest::ApikeyCreate {
            name,
            scopes,
            inst_rt_id,
            consumer_name,
            consumer_prod,
            soap_digest,
        } = rq
        else {
            return Err(Error::Internal("perform_key on another request".into()));
        };
        let scopes = scopes
            .iter()
            .map(|s| s.parse::<Scope>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|why| Error::at(Fault::InvalidValue, "scope").with_detail(why))?;
        let consumer = KeyConsumer {
            name: consumer_name.clone(),
            prod: consumer_prod.clone(),
        };
        let reach = KeyReach::from_stored(inst_rt_id.clone());
        let key = if *soap_digest {
            self.create_soap_digest_key(ctx, (name, &consumer), &scopes, &reach, now)?
        } else {
            self.create_api_key_for(ctx, (name, &consumer), &scopes, &reach, now)?
        };
        Ok(Done {
            message: format!("API key {name} is created."),
            secret: Some((format!("API key {name}"), key)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_survives_its_stored_form() {
        let rq = StaffRequest::StaffRole {
            username: "kari".into(),
            from: Role::Helpdesk,
            to: Role::Officer,
        };
        let json = serde_json::to_string(&rq).unwrap();
        assert!(json.contains("\"action\":\"staff.role\""), "{json}");
        assert_eq!(serde_json::from_str::<StaffRequest>(&json).unwrap(), rq);
        assert_eq!(rq.action(), StaffAction::StaffRole);
        assert_eq!(rq.target(), "staff kari: helpdesk to officer");
    }
}
