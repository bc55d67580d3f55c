//! SOAP 1.1 on the wire: reading a request envelope (exactly one Header, read by
//! `wssec`, and one Body with its operation element) and writing answers and faults, with quick-xml.
//!
//! Reading is defensive: a DOCTYPE (and so any DTD or entity declaration) is refused
//! outright, only XML's predefined entities and character references are expanded,
//! and the element tree is bounded in depth and size; `de` reads the operation element
//! into its request type. Imports: quick-xml, domain errors.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::wssec::{self, WsSecurity};
use crate::domain::{Error, Fault};

/// SOAP 1.1's envelope namespace.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// WS-Security's `wsse` namespace.
pub const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// WS-Security's utility (`u`) namespace.
pub const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

const MAX_DEPTH: usize = 32;
const MAX_NODES: usize = 4096;

/// One element of a parsed document.
#[derive(Debug, Default)]
pub struct Node {
    /// Its namespace URI (empty when unbound).
    pub ns: String,
    /// Its local name.
    pub name: String,
    /// Attributes by local name.
    pub attrs: Vec<(String, String)>,
    /// Child elements.
    pub children: Vec<Node>,
    /// Its text (concatenated, trimmed).
    pub text: String,
}

impl Node {
    /// The first child named `name` (any namespace).
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// An attribute by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first descendant named `name`, depth first.
    pub fn find(&self, name: &str) -> Option<&Node> {
        self.children.iter().find_map(|c| {
            if c.name == name {
                Some(c)
            } else {
                c.find(name)
            }
        })
    }
}

fn malformed(detail: impl Into<String>) -> Error {
    Error::fault(Fault::MalformedBody).with_detail(detail.into())
}

/// Parses a document into its root element; refuses DOCTYPE, bounds depth and size.
pub fn parse(bytes: &[u8]) -> Result<Node, Error> {
    let mut reader = NsReader::from_reader(bytes);
    reader.config_mut().trim_text(true);
    reader.config_mut().expand_empty_elements = true;
    let mut buf = Vec::new();
    let mut stack: Vec<Node> = Vec::new();
    let mut nodes = 0usize;
    let mut root = None;
    loop {
        let (ns, event) = reader
            .read_resolved_event_into(&mut buf)
            .map_err(|e| malformed(format!("(XML: {e})")))?;
        match event {
            Event::DocType(_) => {
                return Err(malformed(
                    "(a DOCTYPE, DTD or entity declaration is refused)",
                ))
            }
            Event::Start(e) => {
                nodes += 1;
                if stack.len() >= MAX_DEPTH || nodes > MAX_NODES {
                    return Err(malformed(
                        "(the document is nested too deep or is too large)",
                    ));
                }
                if root.is_some() {
                    return Err(malformed("(content after the root element)"));
                }
                stack.push(start_node(&ns, &e)?);
            }
            Event::End(_) => {
                let node = stack
                    .pop()
                    .ok_or_else(|| malformed("(unbalanced end tag)"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                let text = t
                    .unescape()
                    .map_err(|e| malformed(format!("(XML text: {e})")))?;
                push_text(&mut stack, &text)?;
            }
            Event::CData(t) => push_text(&mut stack, &String::from_utf8_lossy(&t))?,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err(malformed("(the document ends inside an element)"));
    }
    root.ok_or_else(|| malformed("(no root element)"))
}

fn start_node(ns: &ResolveResult<'_>, e: &BytesStart<'_>) -> Result<Node, Error> {
    let ns = match ns {
        ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into_owned(),
        ResolveResult::Unbound => String::new(),
        ResolveResult::Unknown(p) => {
            return Err(malformed(format!(
                "(undeclared namespace prefix {})",
                String::from_utf8_lossy(p)
            )))
        }
    };
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| malformed(format!("(XML attribute: {e})")))?;
        let value = a
            .unescape_value()
            .map_err(|e| malformed(format!("(XML attribute: {e})")))?;
        attrs.push((
            String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(),
            value.into_owned(),
        ));
    }
    Ok(Node {
        ns,
        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
        attrs,
        ..Node::default()
    })
}

fn push_text(stack: &mut [Node], text: &str) -> Result<(), Error> {
    match stack.last_mut() {
        Some(node) => {
            node.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(malformed("(text outside the root element)")),
    }
}

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
