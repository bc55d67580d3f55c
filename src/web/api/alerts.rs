//! A user's alert subscriptions (issue 28), scope `manage`:
//! `POST /api/v1/users/{UsrName}/alerts` subscribes the user (an OOBValidate recipient,
//! `ConsmRecipId`) to an alert of their institution's library, or with
//! `"Subscribed": false` ends the subscription — the call online banking makes when a
//! customer opts in or out, beside the operator's `tokend alert subscribe`. On SOAP:
//! `MFAUsrAlrtSubMod` (tokend's own name, in the style of the other user operations).

use rocket::{post, routes, Route, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::envelope::{HasHeader, Jx, JxRequest, MsgRqHdr};
use super::fault::ApiFault;
use super::openapi::{Answer, BodyFaults, Common, NotFound, Unprocessable};
use super::{operate, Caller};
use crate::domain::alerts::check_alert_name;
use crate::domain::api_keys::Scope;
use crate::domain::{Error, Service};
use crate::web::parse::parse_usr_name;

/// The subscription routes.
pub fn routes() -> Vec<Route> {
    routes![subscribe]
}

/// Subscribes to (`Subscribed` true, the default) or unsubscribes from an alert.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UsrAlrtSubRq)]
pub struct UsrAlrtSubRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    /// An alert of the institution's library (`tokend alert add`).
    #[serde(rename = "AlrtName")]
    #[schema(max_length = 64)]
    alrt_name: String,
    /// `false` ends the subscription.
    #[serde(rename = "Subscribed", default)]
    subscribed: Option<bool>,
}

impl HasHeader for UsrAlrtSubRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// The subscription after the call.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = UsrAlrtSubRs)]
pub struct UsrAlrtSubRs {
    #[serde(rename = "UsrName")]
    usr_name: String,
    #[serde(rename = "AlrtName")]
    alrt_name: String,
    /// Whether the user is now subscribed.
    #[serde(rename = "Subscribed")]
    subscribed: bool,
    /// Whether this call changed it (false: it already was so).
    #[serde(rename = "Changed")]
    changed: bool,
}

/// `POST /api/v1/users/{UsrName}/alerts` — subscribe a user to an alert (or unsubscribe).
#[utoipa::path(
    operation_id = "MFAUsrAlrtSubMod",
    security(("bearer" = ["manage"])),
    context_path = "/api/v1",
    tag = "users",
    params(("usr_name" = String, Path, description = "UsrName (the ConsmRecipId)")),
    request_body = UsrAlrtSubRq,
    responses(
        (status = 200, description = "The subscription", body = Answer<UsrAlrtSubRs>),
        BodyFaults, NotFound, Unprocessable, Common,
    )
)]
#[post("/users/<usr_name>/alerts", data = "<rq>")]
pub(crate) async fn subscribe(
    caller: Result<Caller, Error>,
    usr_name: &str,
    rq: JxRequest<UsrAlrtSubRq>,
    service: &State<Arc<Service>>,
) -> Result<Jx<UsrAlrtSubRs>, ApiFault> {
    let input = rq.body.and_then(|b| {
        check_alert_name(&b.alrt_name, "AlrtName")?;
        Ok((
            parse_usr_name(usr_name)?,
            b.alrt_name,
            b.subscribed != Some(false),
        ))
    });
    operate(
        (rq.hdr, caller, Scope::Manage),
        service,
        input,
        |s, ctx, (usr, name, on), now| {
            let who = (s.institution(ctx), usr.as_str());
            let changed = s.subscribe_alert(ctx, who, &name, on, now)?;
            Ok((usr, name, on, changed))
        },
        |(usr, name, on, changed)| UsrAlrtSubRs {
            usr_name: usr.as_str().to_owned(),
            alrt_name: name,
            subscribed: on,
            changed,
        },
    )
    .await
}
