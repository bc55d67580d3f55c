//! Decoding a JSON request body into an operation's request type: serde's complaint
//! becomes the fault a consumer can act on (the element it names, 3103 for a missing one,
//! 7004 for an unknown one, 2005 for a value outside an enumeration…), and the header is
//! still read so the fault echoes it. Split from `envelope` (the envelope's types and data
//! guard) along that seam. Imports: serde_json, serde_path_to_error, domain errors.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::envelope::{HasHeader, JxHdr, JxRequest, MsgRqHdr};
use crate::domain::{Error, Fault};

/// Just the header of a body that failed to decode as a whole, so the fault still echoes it.
#[derive(Deserialize)]
struct HeaderOnly {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
}

/// Decodes a body, turning serde's complaint into a fault naming the element.
pub fn decode<T: DeserializeOwned + HasHeader>(bytes: &[u8]) -> JxRequest<T> {
    // serde's derived structs also accept a JSON array of their fields in order; a body
    // that is not an object is refused before it can be read that way.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return JxRequest {
            hdr: JxHdr::generated(),
            body: Err(
                Error::fault(Fault::InvalidValue).with_detail("(the body must be a JSON object)")
            ),
        };
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let body = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(body) => match de.end() {
            Ok(()) => {
                return JxRequest {
                    hdr: body.msg_rq_hdr().header(),
                    body: Ok(body),
                }
            }
            Err(e) => {
                Error::fault(Fault::MalformedBody).with_detail(strip_position(&e.to_string()))
            }
        },
        Err(e) => classify(&e),
    };
    let hdr = serde_json::from_slice::<HeaderOnly>(bytes)
        .map(|h| h.hdr.header())
        .unwrap_or_else(|_| JxHdr::generated());
    JxRequest {
        hdr,
        body: Err(body),
    }
}

/// Maps a serde error to the fault a consumer can act on.
fn classify(e: &serde_path_to_error::Error<serde_json::Error>) -> Error {
    let inner = e.inner();
    let message = strip_position(&inner.to_string());
    let path = e.path().to_string();
    let at_root = path == "." || path.is_empty();
    if inner.is_eof() || inner.is_io() || (inner.is_syntax() && at_root) {
        return Error::fault(Fault::MalformedBody).with_detail(message);
    }
    if inner.is_syntax() {
        // serde_json reports some type mismatches (e.g. `null` for an enum) as syntax
        // errors; the path still names the element.
        return Error::at(Fault::InvalidValue, path).with_detail(message);
    }
    classify_data(&path, &message)
}

/// Maps serde's complaint about a value (whatever read it: JSON here, SOAP's element tree
/// in `soap::de`, whose messages are serde's same text) at `path` to the fault: a
/// missing element 3103 (`TokenId` 2205), an unknown one 7004, a value outside an
/// enumeration 2005 with the value, any other bad value 7001.
pub(crate) fn classify_data(path: &str, message: &str) -> Error {
    let at_root = path == "." || path.is_empty();
    let join = |name: &str| {
        if at_root {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    if let Some(name) = quoted(message, "missing field `") {
        let fault = if name == "TokenId" {
            Fault::IdRequired
        } else {
            Fault::FieldRequired
        };
        return Error::at(fault, join(&name));
    }
    if quoted(message, "unknown field `").is_some() {
        // serde_path_to_error's path already ends with the unknown element.
        return Error::at(Fault::UnknownElement, path);
    }
    if let Some(value) = quoted(message, "unknown variant `") {
        return Error::at(Fault::EnumValue, path)
            .with_value(value)
            .with_detail(message);
    }
    Error::at(Fault::InvalidValue, path).with_detail(message)
}

/// The text between `prefix` and the next backquote.
fn quoted(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next().map(str::to_owned)
}

/// serde_json appends " at line L column C"; the element path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}
