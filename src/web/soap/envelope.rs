//! SOAP 1.1's envelope rules on a parsed request (`xml`): exactly one Header (its
//! blocks read by `wssec` and `addressing`) and one Body with its operation element,
//! which `de` reads into its request type; a SOAP 1.2 envelope and a header block that
//! must be understood are refused as SOAP says. Imports: the tree, domain errors.

use super::wssec::{self, WsSecurity};
use super::xml::{malformed, Node, SOAP_NS, WSSE_NS};
use crate::domain::{Error, Fault};

/// A SOAP 1.2 envelope's namespace (named in the `VersionMismatch` fault's detail).
const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

/// An `Envelope` in another namespace than SOAP 1.1's: SOAP 1.1 (section 4.1.2) answers
/// it with a `VersionMismatch` fault, this error inside.
pub fn version_mismatch(root: &Node) -> Option<Error> {
    (root.name == "Envelope" && root.ns != SOAP_NS).then(|| {
        let version = if root.ns == SOAP12_NS {
            "SOAP 1.2"
        } else {
            "not SOAP 1.1"
        };
        Error::at(Fault::MalformedBody, "Envelope")
            .with_value(root.ns.chars().take(128).collect::<String>())
            .with_detail(format!(
                "({version}: tokend speaks SOAP 1.1, whose Envelope is in {SOAP_NS})"
            ))
    })
}

/// The first header block marked `mustUnderstand="1"` that tokend does not process
/// (it processes only `wsse:Security`): SOAP 1.1 (section 4.2.3) answers it with a
/// `MustUnderstand` fault, this error inside. The attribute is matched by its local
/// name: a block that asks to be understood in any spelling is not silently ignored.
pub fn not_understood(root: &Node) -> Option<Error> {
    let header = root
        .children
        .iter()
        .find(|c| c.ns == SOAP_NS && c.name == "Header")?;
    let block = header.children.iter().find(|b| {
        let must = b
            .attr("mustUnderstand")
            .is_some_and(|v| v == "1" || v == "true");
        must && !(b.ns == WSSE_NS && b.name == "Security")
    })?;
    Some(
        Error::at(Fault::UnknownElement, block.name.clone())
            .with_value(block.ns.chars().take(128).collect::<String>())
            .with_detail("(a header block marked mustUnderstand that tokend does not process)"),
    )
}

/// The operation element of a document that may be nothing else we accept (any
/// envelope version, any namespaces): the `Body`'s first child. Only for reading the
/// request's header early, so every fault can echo it.
pub fn peek_op(root: &Node) -> Option<&Node> {
    root.children
        .iter()
        .find(|c| c.name == "Body")?
        .children
        .first()
}

/// A SOAP request taken apart.
pub struct SoapRq {
    /// The WS-Security header: the API key, the nonce and the timestamp.
    pub security: WsSecurity,
    /// The WS-Addressing `MessageID`: a retry's idempotency key (issue 29).
    pub message_id: Option<String>,
    /// The body's operation element.
    pub op: Node,
}

/// Takes a SOAP 1.1 envelope apart: its `wsse:Security/UsernameToken` and the one
/// element of its body.
pub fn read_envelope(root: Node) -> Result<SoapRq, Error> {
    if root.name != "Envelope" || root.ns != SOAP_NS {
        return Err(malformed(format!(
            "(the root element must be a SOAP 1.1 Envelope in {SOAP_NS})"
        )));
    }
    let mut header = None;
    let mut body = None;
    for child in root.children {
        // Exactly one Header (optional) and one Body: with two, a gateway that reads the
        // first and a server that reads the last would act on different requests.
        let slot = match (child.ns.as_str(), child.name.as_str()) {
            (SOAP_NS, "Header") => &mut header,
            (SOAP_NS, "Body") => &mut body,
            _ => return Err(Error::at(Fault::UnknownElement, child.name)),
        };
        if slot.is_some() {
            return Err(Error::at(Fault::MalformedBody, child.name.clone())
                .with_detail("(the Envelope holds it twice: exactly one is allowed)"));
        }
        *slot = Some(child);
    }
    let security = header.as_ref().map(wssec::read).transpose()?;
    let message_id = header.as_ref().and_then(super::addressing::message_id);
    let body = body.ok_or_else(|| Error::at(Fault::FieldRequired, "Body"))?;
    let mut ops = body.children.into_iter();
    let op = ops
        .next()
        .ok_or_else(|| Error::at(Fault::UnknownOperation, "Body").with_detail("(empty Body)"))?;
    if ops.next().is_some() {
        return Err(malformed("(the Body must hold exactly one operation)"));
    }
    Ok(SoapRq {
        security: security.unwrap_or_default(),
        message_id,
        op,
    })
}

#[cfg(test)]
mod tests {
    use super::super::xml::{parse, WSSE_NS};
    use super::*;

    fn fault_of(xml: &str) -> u16 {
        parse(xml.as_bytes())
            .and_then(read_envelope)
            .err()
            .map_or(0, |e| e.kind().code())
    }

    #[test]
    fn doctype_and_entities_are_refused() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>"#;
        assert_eq!(fault_of(xxe), 7000);
        assert_eq!(fault_of("<x>&e;</x>"), 7000);
        assert_eq!(fault_of("<x><y></x>"), 7000);
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(fault_of(&deep), 7000);
    }

    #[test]
    fn a_username_token_carries_the_key() {
        let xml = format!(
            r#"<s:Envelope xmlns:s="{SOAP_NS}"><s:Header><w:Security xmlns:w="{WSSE_NS}"><w:UsernameToken><w:Username>u</w:Username><w:Password Type="x#PasswordText">tk_1</w:Password></w:UsernameToken></w:Security></s:Header><s:Body><Op xmlns="{}"><A>1</A></Op></s:Body></s:Envelope>"#,
            super::super::ops::NS
        );
        let rq = read_envelope(parse(xml.as_bytes()).unwrap()).unwrap();
        assert_eq!(rq.security.password.as_deref(), Some("tk_1"));
        assert_eq!(rq.op.name, "Op");
        assert_eq!(rq.op.ns, super::super::ops::NS);
    }
}
