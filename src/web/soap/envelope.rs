//! SOAP 1.1 on the wire: reading a request envelope (exactly one Header, read by
//! `wssec`, and one Body with its operation element) and writing answers and faults, with quick-xml.
//!
//! Reading is defensive: a DOCTYPE (and so any DTD or entity declaration) is refused
//! outright, only XML's predefined entities and character references are expanded,
//! and the element tree is bounded in depth and size. Imports: quick-xml, the operation
//! layouts, and the JSON API's header and fault record types.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use quick_xml::Writer;
use serde_json::{Map, Value};

use super::ops::{self, Elem, Kind};
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
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

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

    fn is_nil(&self) -> bool {
        self.attr("nil").is_some_and(|v| v == "true" || v == "1")
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

/// The operation element's children as the JSON API's body, by the operation's layout:
/// numbers and booleans typed, complex elements as objects, an empty or nil `Custom`
/// left out. An element the layout does not know stays text, so the JSON API's decoder
/// answers it as it would in JSON (7004 with its name).
pub fn to_json(op: &Node, layout: &'static [Elem]) -> Result<Map<String, Value>, Error> {
    let mut out = Map::new();
    for child in &op.children {
        if child.ns != ops::NS {
            return Err(Error::at(Fault::UnknownElement, child.name.clone())
                .with_detail(format!("(elements are in {})", ops::NS)));
        }
        if out.contains_key(&child.name) {
            return Err(Error::at(Fault::InvalidValue, child.name.clone())
                .with_detail("(the element occurs more than once)"));
        }
        let kind = match child.name.as_str() {
            "MsgRqHdr" => Kind::Group(ops::MSG_RQ_HDR),
            name => ops::child(layout, name).map_or(Kind::Str, |e| e.kind),
        };
        if let Some(value) = value_of(child, kind)? {
            out.insert(child.name.clone(), value);
        }
    }
    Ok(out)
}

fn value_of(node: &Node, kind: Kind) -> Result<Option<Value>, Error> {
    if node.is_nil() {
        return Ok(None);
    }
    Ok(match kind {
        Kind::Str => Some(Value::String(node.text.clone())),
        // Not a number: stays text, and the decoder names the element (7001).
        Kind::Int => Some(
            node.text
                .parse::<i64>()
                .map_or_else(|_| Value::String(node.text.clone()), Value::from),
        ),
        Kind::Bool => Some(match node.text.as_str() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            other => Value::String(other.to_owned()),
        }),
        // An empty complex element (`<Custom/>`, an empty `jXchangeHdr`) is absent.
        Kind::Group(_) if node.children.is_empty() && node.text.is_empty() => None,
        Kind::Group(layout) => Some(Value::Object(to_json(node, layout)?)),
        Kind::Tree => Some(tree(node)),
        Kind::Array(_, _) | Kind::Any => None,
    })
}

/// An `xsd:any` element as JSON, by local name (a leaf is its text; of repeated
/// children the first is kept), so the JSON API reads it as it reads a JSON body's.
/// The parser's depth and size bounds bound it too. A `Password` (the end user's, in a
/// `UsernameToken`) is left behind: nothing reads it, so nothing should carry it.
fn tree(node: &Node) -> Value {
    if node.children.is_empty() {
        return Value::String(node.text.clone());
    }
    let mut map = Map::new();
    for child in &node.children {
        if child.name != "Password" && !map.contains_key(&child.name) {
            map.insert(child.name.clone(), tree(child));
        }
    }
    Value::Object(map)
}

/// An answer's envelope: the WS-Security timestamp header (as the seed's answer has)
/// around `body`, written by `write_body`.
pub fn answer(
    now: chrono::DateTime<chrono::Utc>,
    write_body: impl FnOnce(&mut Writer<Vec<u8>>) -> std::io::Result<()>,
) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    let out = (|| -> std::io::Result<()> {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
        let env = BytesStart::new("s:Envelope").with_attributes([
            ("xmlns:s", SOAP_NS),
            ("xmlns:u", WSU_NS),
            ("xmlns:xsi", XSI_NS),
        ]);
        w.write_event(Event::Start(env))?;
        w.write_event(Event::Start(BytesStart::new("s:Header")))?;
        let security = BytesStart::new("o:Security")
            .with_attributes([("s:mustUnderstand", "1"), ("xmlns:o", WSSE_NS)]);
        w.write_event(Event::Start(security))?;
        w.write_event(Event::Start(
            BytesStart::new("u:Timestamp").with_attributes([("u:Id", "_0")]),
        ))?;
        let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        text_elem(&mut w, "u:Created", &fmt(now))?;
        text_elem(
            &mut w,
            "u:Expires",
            &fmt(now + chrono::Duration::minutes(5)),
        )?;
        w.write_event(Event::End(BytesEnd::new("u:Timestamp")))?;
        w.write_event(Event::End(BytesEnd::new("o:Security")))?;
        w.write_event(Event::End(BytesEnd::new("s:Header")))?;
        w.write_event(Event::Start(BytesStart::new("s:Body")))?;
        write_body(&mut w)?;
        w.write_event(Event::End(BytesEnd::new("s:Body")))?;
        w.write_event(Event::End(BytesEnd::new("s:Envelope")))
    })();
    // Writing into a Vec cannot fail; an error here would be a bug in this module.
    debug_assert!(out.is_ok());
    w.into_inner()
}

/// `<name>text</name>`, escaped.
pub fn text_elem(w: &mut Writer<Vec<u8>>, name: &str, text: &str) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))?;
    w.write_event(Event::Text(BytesText::new(text)))?;
    w.write_event(Event::End(BytesEnd::new(name)))
}

/// Writes `value`'s members in `layout`'s order (members the layout lacks are not
/// written: the WSDL is the contract). A `Custom` the value lacks, or an empty one, is
/// written `xsi:nil="true"`, as the seed's answer does.
pub fn write_layout(
    w: &mut Writer<Vec<u8>>,
    layout: &'static [Elem],
    value: &Map<String, Value>,
) -> std::io::Result<()> {
    for elem in layout {
        let member = value.get(elem.name).filter(|v| !v.is_null());
        match (elem.kind, member) {
            (Kind::Group(_), None) if elem.name == "Custom" => {
                let nil = BytesStart::new("Custom").with_attributes([("xsi:nil", "true")]);
                w.write_event(Event::Empty(nil))?;
            }
            (_, None) | (Kind::Any | Kind::Tree, _) => {}
            (Kind::Group(inner), Some(Value::Object(map))) => {
                w.write_event(Event::Start(BytesStart::new(elem.name)))?;
                write_layout(w, inner, map)?;
                w.write_event(Event::End(BytesEnd::new(elem.name)))?;
            }
            (Kind::Array(item, inner), Some(Value::Array(items))) => {
                w.write_event(Event::Start(BytesStart::new(elem.name)))?;
                for it in items {
                    if let Value::Object(map) = it {
                        w.write_event(Event::Start(BytesStart::new(item)))?;
                        write_layout(w, inner, map)?;
                        w.write_event(Event::End(BytesEnd::new(item)))?;
                    }
                }
                w.write_event(Event::End(BytesEnd::new(elem.name)))?;
            }
            (_, Some(Value::String(s))) => text_elem(w, elem.name, s)?,
            (_, Some(other)) if !other.is_object() && !other.is_array() => {
                text_elem(w, elem.name, &other.to_string())?;
            }
            (_, Some(_)) => {}
        }
    }
    Ok(())
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
            ops::NS
        );
        let rq = read_envelope(parse(xml.as_bytes()).unwrap()).unwrap();
        assert_eq!(rq.security.password.as_deref(), Some("tk_1"));
        assert_eq!(rq.op.name, "Op");
        assert_eq!(rq.op.ns, ops::NS);
    }
}
