//! WS-Addressing in a request's `Header`: its `MessageID` is the message's idempotency
//! key (issue 29), as `Idempotency-Key` is on the JSON API. Imports: the element tree.

use super::xml::Node;

/// WS-Addressing's namespaces: the W3C recommendation, and the 2004 submission.
const WSA_NS: [&str; 2] = [
    "http://www.w3.org/2005/08/addressing",
    "http://schemas.xmlsoap.org/ws/2004/08/addressing",
];

/// The header's `MessageID`, trimmed, if it has one.
pub fn message_id(header: &Node) -> Option<String> {
    header
        .children
        .iter()
        .find(|c| c.name == "MessageID" && WSA_NS.contains(&c.ns.as_str()))
        .map(|m| m.text.trim().to_owned())
}
