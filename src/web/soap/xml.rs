//! XML in: the parsed element tree every reader of a SOAP message works on (the
//! envelope's rules, the WS-Security and WS-Addressing header blocks, `de`'s typed
//! reading), and the namespaces they match.
//!
//! Reading is defensive: a DOCTYPE (and so any DTD or entity declaration) is refused
//! outright, only XML's predefined entities and character references are expanded, and
//! the tree is bounded in depth and size. Imports: quick-xml, domain errors.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

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

/// A request that is not well-formed or not a SOAP envelope (7000), saying why.
pub fn malformed(detail: impl Into<String>) -> Error {
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
