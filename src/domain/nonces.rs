//! Replay protection of the SOAP binding (issue 26): a WS-Security nonce is used once per
//! API key within its message's time window, on any node (the database remembers it).
//! The edge checks the timestamp and hands the nonce here. Imports: storage.

use chrono::{DateTime, Utc};

use super::{to_ms, Error, Fault, Service};
use crate::storage::{self, soap_nonces};

impl Service {
    /// Records `nonce` of `actor` until `until`; fault 7012 when it was already used.
    pub fn use_nonce(
        &self,
        actor: &str,
        nonce: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let key = format!("{actor}\n{nonce}");
        let fresh = self
            .storage
            .write(|c| soap_nonces::insert_nonce(c, &key, to_ms(until), to_ms(now)));
        match fresh {
            Ok(true) => Ok(()),
            Ok(false) | Err(storage::Error::Conflict(_)) => {
                Err(Error::at(Fault::StaleMessage, "Nonce")
                    .with_detail("(this nonce was already used: a replayed message)"))
            }
            Err(e) => Err(e.into()),
        }
    }
}
