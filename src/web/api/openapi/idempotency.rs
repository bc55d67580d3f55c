//! The `Idempotency-Key` header in the OpenAPI document (issue 29): every operation whose
//! body the JSON data guard decodes as a jXchange request (`HasHeader::JXCHANGE`, every
//! `POST` but the SMS provider's reply webhook) accepts the header, and any answer it
//! stores may come back to a retry marked `Idempotent-Replayed: true`. Declared by a
//! document modifier rather than in each `#[utoipa::path]`, so a new `POST` gets it
//! without anyone remembering to, and the limits written here are the ones
//! `idempotency::check_key` enforces (the unit test below holds them together).
//! Imports: utoipa, the idempotency module's header names.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Required};
use utoipa::Modify;

use super::super::idempotency::{HEADER, REPLAYED};
use super::faults::fault_response;

/// `POST` operations whose body is not a jXchange request, so they take no key: the SMS
/// provider's reply webhook (`HasHeader::JXCHANGE` is false for its body).
const WITHOUT_KEY: &[&str] = &["SMSInbound"];

/// The longest key the server accepts.
pub const MAX_KEY_LEN: usize = 255;

/// The key's form: visible ASCII (0x21–0x7E), 1 to 255 characters.
pub const KEY_PATTERN: &str = "^[\\x21-\\x7E]{1,255}$";

/// Adds the header parameter to every keyed operation, the statuses of the key's faults
/// (409 and 422, where the operation had none), and the replay marker to each of its
/// answers a retry may get again (everything but 429 and 5xx, which are not stored).
pub struct IdempotencyHeader;

impl Modify for IdempotencyHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let Some(op) = item.post.as_mut() else {
                continue;
            };
            let id = op.operation_id.as_deref().unwrap_or_default();
            if op.request_body.is_none() || WITHOUT_KEY.contains(&id) {
                continue;
            }
            op.parameters
                .get_or_insert_with(Vec::new)
                .push(RefOr::T(key_parameter()));
            // The key's own faults, whatever else the operation answers: 7013 (another
            // request's key) and 7014 (still running).
            for status in [409_u16, 422] {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| fault_response(status));
            }
            for (status, response) in &mut op.responses.responses {
                let RefOr::T(response) = response else {
                    continue;
                };
                if status == "429" || status.starts_with('5') {
                    continue;
                }
                response
                    .headers
                    .insert(REPLAYED.to_owned(), RefOr::T(replayed_header()));
            }
        }
    }
}

fn key_parameter() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(HEADER)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retry safe: the same key with the same request (method, path, body \
             bytes) within idempotency_retention_secs answers the first answer again, marked \
             Idempotent-Replayed, and does no work; with another request, fault 7013 (422); \
             while the first still runs, 7014 (409). Per API key; send a fresh UUID per \
             logical request. Malformed: fault 7001.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(MAX_KEY_LEN))
                .pattern(Some(KEY_PATTERN)),
        ))
        .build()
}

fn replayed_header() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["true"])),
        ))
        .description(Some(
            "Present (true) when this is the stored answer of an earlier request with the \
             same Idempotency-Key, given again: no work was done for this one",
        ))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pattern declared is the rule `check_key` enforces, on its edges.
    #[test]
    fn the_declared_form_is_the_enforced_one() {
        let re = regex::Regex::new(KEY_PATTERN).unwrap();
        let long = "x".repeat(MAX_KEY_LEN);
        for key in ["k", "550e8400-e29b-41d4-a716-446655440000", "~!", &long] {
            assert!(re.is_match(key), "{key}");
            assert!(crate::web::api::idempotency::check_key(key, HEADER).is_ok());
        }
        let over = "x".repeat(MAX_KEY_LEN + 1);
        for key in ["", "a b", "\u{e9}", "tab\t", &over] {
            assert!(!re.is_match(key), "{key}");
            assert!(crate::web::api::idempotency::check_key(key, HEADER).is_err());
        }
    }
}
