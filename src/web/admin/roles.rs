//! The console's side of staff trust: [`permit`] refuses, before anything else, an
//! action the staff member's role does not allow (a 403 page naming the role needed, and
//! a `console.denied` audit row), and [`submit`] runs an action that dual control may
//! hold, answering "done" or "waiting for approval". The domain checks the role again.

use rocket::http::Status;
use rocket::response::{Flash, Redirect};
use std::sync::Arc;

use super::session::AdminSession;
use super::{error_page, refused, Refusal};
use crate::domain::staff::approvals::Submitted;
use crate::domain::staff::requests::StaffRequest;
use crate::domain::staff::required_role;
use crate::domain::{Error, Service};
use crate::types::StaffAction;
use crate::web::edge::blocking;

/// Refuses `action` unless the staff member's role allows it: a 403 page that says which
/// role it needs, and a `console.denied` audit row naming who tried what.
pub async fn permit(
    s: &AdminSession,
    service: &Arc<Service>,
    action: StaffAction,
) -> Result<(), Refusal> {
    if s.staff().may(action) {
        return Ok(());
    }
    let needed = required_role(action);
    let what = format!(
        "{action} refused: it needs {needed}; {} is {}",
        s.admin.username, s.admin.role
    );
    record_denied(s, service, what).await;
    Err(error_page(
        Status::Forbidden,
        &format!(
            "This needs the {needed} role or above ({action}); your role is {}. Nothing was changed.",
            s.admin.role
        ),
    ))
}

/// Refuses (404 page, audited) a URL naming something that is not in the staff
/// member's institution — or does not exist: the two are not told apart.
pub async fn not_here(s: &AdminSession, service: &Arc<Service>, what: String) -> Refusal {
    record_denied(
        s,
        service,
        format!("not found in {}: {what}", s.institution),
    )
    .await;
    error_page(Status::NotFound, "There is no such page.")
}

/// Writes the `console.denied` audit row of a refusal (a failure to write it is logged:
/// the refusal stands either way).
async fn record_denied(s: &AdminSession, service: &Arc<Service>, what: String) {
    let ctx = s.context();
    if let Err(e) = blocking(service, move |sv| {
        sv.record_denied(&ctx, &what, chrono::Utc::now())
    })
    .await
    {
        tracing::warn!(error = %e, "a refused console request could not be audited");
    }
}

/// Runs a console action through dual control (after [`permit`]): done at once, or
/// filed as a request for a second staff member.
pub async fn submit(
    s: &AdminSession,
    service: &Arc<Service>,
    rq: StaffRequest,
    reason: String,
) -> Result<Result<Submitted, Error>, Refusal> {
    permit(s, service, rq.action()).await?;
    let (ctx, staff) = (s.context(), s.staff());
    Ok(blocking(service, move |sv| {
        sv.submit(&ctx, &staff, &rq, &reason, chrono::Utc::now())
    })
    .await)
}

/// The redirect answering an action without a secret to show.
pub fn answered(back: String, result: Result<Submitted, Error>) -> Flash<Redirect> {
    match result {
        Ok(Submitted::Done(done)) => Flash::success(Redirect::to(back), done.message),
        Ok(Submitted::Filed(id)) => filed(back, id),
        Err(e) => refused(back, &e),
    }
}

/// The redirect saying a request waits for approval.
pub fn filed(back: String, id: i32) -> Flash<Redirect> {
    Flash::success(
        Redirect::to(back),
        format!(
            "Request #{id} is filed: it takes effect when another staff member approves it on the Approvals page."
        ),
    )
}
