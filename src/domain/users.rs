//! Users as the admin console sees them: a paged prefix search, creation with an
//! optional phone, and a detail view with every binding and the ActIntentKeys the
//! console's action forms carry (the same optimistic-concurrency model as the API).

use chrono::{DateTime, Utc};

use super::audit::{self, Entry};
use super::inquiry::{Inquiry, InquiryRequest};
use super::{from_ms, to_ms, Context, Error, Fault, Service};
use crate::storage::{self, bindings, users};
use crate::types::{usr_name_key, ActIntent, PhoneNum, TokenId, UsrName};
use crate::types::{AuditAction, AuditResult};

/// One user in a search result.
#[derive(Debug, Clone)]
pub struct UserSummary {
    /// jXchange `UsrName`.
    pub usr_name: String,
    /// The phone, masked.
    pub phone_masked: Option<String>,
    /// When the user was created.
    pub created_at: Option<DateTime<Utc>>,
}

/// A page of a user search.
#[derive(Debug, Clone)]
pub struct UserPage {
    /// The users, in name order.
    pub users: Vec<UserSummary>,
    /// The name to continue after, when there are more.
    pub next_after: Option<String>,
}

/// One of the user's tokens, with this user's binding and the keys for changing it.
#[derive(Debug, Clone)]
pub struct UserToken {
    /// The inquiry of the token filtered to this user, with an Upd key.
    pub inquiry: Inquiry,
    /// The Dlt key of the same moment.
    pub delete_key: Option<String>,
}

/// A user with their tokens.
#[derive(Debug, Clone)]
pub struct UserDetail {
    /// jXchange `UsrName`.
    pub usr_name: String,
    /// The phone, masked.
    pub phone_masked: Option<String>,
    /// When the user was created.
    pub created_at: Option<DateTime<Utc>>,
    /// Every bound token, oldest binding first.
    pub tokens: Vec<UserToken>,
}

fn masked(phone: Option<&str>) -> Option<String> {
    phone.and_then(PhoneNum::parse).map(|p| p.masked())
}

/// A user name that folds onto another user's (`types::usr_name_key`) and so has no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameCollision {
    /// jXchange `InstRtId`.
    pub inst_rt_id: String,
    /// The name found only when named exactly.
    pub usr_name: String,
}

impl Service {
    /// Gives every user without one its name key (rows from before keys), and answers the
    /// names that fold onto another user's of the institution: those keep none, so they
    /// are found by their exact name only, and are reported at every start until an
    /// admin resolves them. Each row is its own write, so nodes starting at once agree.
    pub fn key_user_names(&self) -> Result<Vec<NameCollision>, Error> {
        let mut collisions = Vec::new();
        let mut after = 0;
        loop {
            let batch = self
                .storage
                .read(|c| users::find_users_without_key(c, after, 500))?;
            let Some(last) = batch.last() else {
                return Ok(collisions);
            };
            after = last.0;
            // One transaction per batch (100,000 rows must not take 100,000 commits);
            // a batch with a collision is done again row by row to find it.
            let keyed: Vec<(i32, String)> = batch
                .iter()
                .map(|(id, _, name)| (*id, usr_name_key(name)))
                .collect();
            let whole = self.storage.write(|c| {
                keyed
                    .iter()
                    .try_for_each(|(id, key)| users::update_user_name_key(c, *id, key).map(drop))
            });
            match whole {
                Ok(()) => continue,
                Err(storage::Error::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            for ((id, inst_rt_id, usr_name), (_, key)) in batch.into_iter().zip(keyed) {
                match self
                    .storage
                    .write(|c| users::update_user_name_key(c, id, &key))
                {
                    Ok(_) => {}
                    Err(storage::Error::Conflict(_)) => collisions.push(NameCollision {
                        inst_rt_id,
                        usr_name,
                    }),
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }

    /// Users whose name starts with `prefix` (ASCII case-insensitive), `limit` at most, after `after`.
    pub fn search_users(
        &self,
        ctx: &Context,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<UserPage, Error> {
        let inst = self.institution(ctx).to_owned();
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(101);
        let mut rows = self
            .storage
            .read(|c| users::find_users_page(c, &inst, prefix, after, fetch))?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_after = if more {
            rows.last().map(|u| u.usr_name.clone())
        } else {
            None
        };
        Ok(UserPage {
            users: rows
                .into_iter()
                .map(|u| UserSummary {
                    phone_masked: masked(u.phone_num.as_deref()),
                    created_at: from_ms(u.created_at),
                    usr_name: u.usr_name,
                })
                .collect(),
            next_after,
        })
    }

    /// Creates a user without a token; an existing name is fault 7036 (409) on `UsrName`.
    pub fn create_user(
        &self,
        ctx: &Context,
        usr_name: &UsrName,
        phone: Option<&PhoneNum>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let inst = self.institution(ctx).to_owned();
        self.storage.write(|c| {
            users::insert_user(
                c,
                &inst,
                usr_name.as_str(),
                phone.map(PhoneNum::as_str),
                to_ms(now),
            )
            .map_err(|e| match e {
                storage::Error::Conflict(_) => Error::at(Fault::DuplicateUsrName, "UsrName")
                    .with_value(usr_name.as_str())
                    .with_detail(
                        "(a user with this name exists: names compare ignoring case and width)",
                    ),
                other => Error::from(other),
            })?;
            let entry = Entry {
                action: AuditAction::UserCreate,
                token_id: None,
                usr_name: Some(usr_name.as_str()),
                result: AuditResult::Success,
                detail: None,
            };
            Ok::<_, Error>(audit::record(c, ctx, now, entry)?)
        })
    }

    /// A user and every token bound to them; an unknown user is fault 7021.
    pub fn user_detail(&self, ctx: &Context, usr_name: &UsrName) -> Result<UserDetail, Error> {
        let inst = self.institution(ctx).to_owned();
        let (user, bound) = self.storage.read(|c| {
            Ok((
                users::find_user(c, &inst, usr_name.as_str())?,
                bindings::find_bound_by_user(c, &inst, usr_name.as_str())?,
            ))
        })?;
        let user = user.ok_or_else(|| {
            Error::at(Fault::UserNotFound, "UsrName").with_value(usr_name.as_str())
        })?;
        let mut tokens = Vec::with_capacity(bound.len());
        for b in bound {
            let Some(token_id) = TokenId::parse(&b.token.token_id) else {
                continue;
            };
            let rq = |intent| InquiryRequest {
                token_id: token_id.clone(),
                usr_name: Some(usr_name.clone()),
                intent,
            };
            let inquiry = self.inquire(ctx, rq(ActIntent::Upd))?;
            let delete_key = self.inquire(ctx, rq(ActIntent::Dlt))?.intent_key;
            tokens.push(UserToken {
                inquiry,
                delete_key,
            });
        }
        Ok(UserDetail {
            usr_name: user.usr_name,
            phone_masked: masked(user.phone_num.as_deref()),
            created_at: from_ms(user.created_at),
            tokens,
        })
    }
}
