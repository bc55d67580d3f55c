//! Reading a SOAP request's operation element straight into the JSON API's request types:
//! a serde `Deserializer` over the parsed element tree (`xml::Node`), so the struct
//! that names an element for JSON (its serde `rename`) names it for SOAP too, and a SOAP
//! call runs the JSON operation's handler without a JSON round trip.
//!
//! The XML's reading: elements by local name, every one of a struct in the jXchange
//! namespace (else 7004 naming it); an element twice is refused (7001, "occurs more than
//! once"); `xsi:nil` is as absent; leaves are text, numbers and booleans (`true`/`false`/
//! `1`/`0`) parsed from it, enumerations their spelling; a sequence is the children of
//! its wrapping element; a text element holding elements is refused (7001). Something
//! untyped (`AuthenUsrCred`, `Custom`: `deserialize_any`) is a tree: a leaf as its text,
//! else a map of its children by local name, the first of repeated ones kept and any
//! `Password` left behind (nothing reads the end user's, so nothing carries it). An empty complex element reads as a struct of absent members,
//! the same as its absence. Errors are classified as the JSON decoder's
//! (`api::decode::classify_data`): serde's messages are the same text.
//! Imports: serde, serde_path_to_error, the element tree.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Unexpected, Visitor};
use serde::forward_to_deserialize_any;
use std::fmt;

use super::ops;
use super::xml::Node;
use crate::domain::{Error, Fault};
use crate::web::api::decode::classify_data;

/// Why an element tree is not the asked type.
#[derive(Debug)]
pub enum DeError {
    /// serde's complaint, classified like the JSON decoder's.
    Serde(String),
    /// A fault about the XML itself (namespace, repetition), already classified.
    Fault(Box<Error>),
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeError::Serde(m) => f.write_str(m),
            DeError::Fault(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::Serde(msg.to_string())
    }
}

/// Reads `node`'s children as a `T` (the operation's request type), or the fault naming
/// the element at fault.
pub fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, Error> {
    serde_path_to_error::deserialize(NodeDe(node)).map_err(|e| {
        let path = e.path().to_string();
        match e.into_inner() {
            DeError::Fault(fault) => *fault,
            DeError::Serde(message) => classify_data(&path, &message),
        }
    })
}

/// An element as JSON, by local name (see the module's `deserialize_any`): the form the
/// JSON API reads `AuthenUsrCred` in, also for the lenient early header read.
pub fn tree(node: &Node) -> serde_json::Value {
    use serde::Deserialize as _;
    serde_json::Value::deserialize(NodeDe(node)).unwrap_or(serde_json::Value::Null)
}

/// One element, to be read as whatever the visitor asks.
#[derive(Clone, Copy)]
struct NodeDe<'a>(&'a Node);

impl<'de> NodeDe<'de> {
    /// The element's text, refused when it has child elements (a leaf was asked).
    fn leaf<V: Visitor<'de>>(self, visitor: &V) -> Result<&'de str, DeError> {
        if self.0.children.is_empty() {
            Ok(&self.0.text)
        } else {
            Err(de::Error::invalid_type(Unexpected::Map, visitor))
        }
    }

    fn parse<T: std::str::FromStr, V: Visitor<'de>>(self, visitor: &V) -> Result<T, DeError> {
        let text = self.leaf(visitor)?;
        text.parse()
            .map_err(|_| de::Error::invalid_value(Unexpected::Str(text), visitor))
    }
}

macro_rules! parsed {
    ($($method:ident => $visit:ident: $t:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            let value: $t = self.parse(&visitor)?;
            visitor.$visit(value)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.children.is_empty() {
            visitor.visit_borrowed_str(&self.0.text)
        } else {
            visitor.visit_map(Members::of(self.0, false))
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.leaf(&visitor)? {
            "true" | "1" => visitor.visit_bool(true),
            "false" | "0" => visitor.visit_bool(false),
            other => Err(de::Error::invalid_value(Unexpected::Str(other), &visitor)),
        }
    }

    parsed! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let text = self.leaf(&visitor)?;
        visitor.visit_borrowed_str(text)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if is_nil(self.0) {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_seq(Items(self.0.children.iter()))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_map(Members::of(self.0, true))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let text = self.leaf(&visitor)?;
        visitor.visit_enum(IntoDeserializer::<DeError>::into_deserializer(text))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bytes byte_buf unit unit_struct tuple tuple_struct identifier
    }
}

fn is_nil(node: &Node) -> bool {
    node.attr("nil").is_some_and(|v| v == "true" || v == "1")
}

/// An element's children as members. `strict` (a struct's): each in the jXchange
/// namespace, once, a nil one as absent. Else (an untyped tree's): any namespace, the
/// first of repeated ones, no `Password`.
struct Members<'a> {
    children: std::slice::Iter<'a, Node>,
    seen: Vec<&'a str>,
    value: Option<&'a Node>,
    strict: bool,
}

impl<'a> Members<'a> {
    fn of(node: &'a Node, strict: bool) -> Self {
        Members {
            children: node.children.iter(),
            seen: Vec::new(),
            value: None,
            strict,
        }
    }

    /// Whether `child` is read (else skipped), or the fault it is.
    fn admits(&self, child: &Node) -> Result<bool, DeError> {
        let twice = self.seen.contains(&child.name.as_str());
        if !self.strict {
            return Ok(!twice && child.name != "Password");
        }
        let fault = if child.ns != ops::NS {
            Error::at(Fault::UnknownElement, child.name.clone())
                .with_detail(format!("(elements are in {})", ops::NS))
        } else if twice {
            Error::at(Fault::InvalidValue, child.name.clone())
                .with_detail("(the element occurs more than once)")
        } else {
            return Ok(true);
        };
        Err(DeError::Fault(Box::new(fault)))
    }
}

impl<'de> de::MapAccess<'de> for Members<'de> {
    type Error = DeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        while let Some(child) = self.children.next() {
            if !self.admits(child)? {
                continue;
            }
            self.seen.push(&child.name);
            if self.strict && is_nil(child) {
                continue;
            }
            self.value = Some(child);
            let key = BorrowedStrDeserializer::<DeError>::new(&child.name);
            return seed.deserialize(key).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DeError> {
        match self.value.take() {
            Some(node) => seed.deserialize(NodeDe(node)),
            None => Err(de::Error::custom("a value without its element")),
        }
    }
}

/// The items of a sequence: the wrapping element's children, in order.
struct Items<'a>(std::slice::Iter<'a, Node>);

impl<'de> de::SeqAccess<'de> for Items<'de> {
    type Error = DeError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        self.0
            .next()
            .map(|node| seed.deserialize(NodeDe(node)))
            .transpose()
    }
}

/// The element as canonical XML (local names, namespaces where they change, `nil` the one
/// attribute the reading honours, text and children in document order): what a SOAP message's idempotency fingerprint is taken of, so
/// a retry of the same body, however prefixed, matches.
pub fn canonical(node: &Node) -> Vec<u8> {
    let mut w = quick_xml::Writer::new(Vec::new());
    let _ = write_canonical(&mut w, node, "");
    w.into_inner()
}

fn write_canonical(
    w: &mut quick_xml::Writer<Vec<u8>>,
    node: &Node,
    parent_ns: &str,
) -> std::io::Result<()> {
    use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
    let mut start = BytesStart::new(node.name.as_str());
    if node.ns != parent_ns {
        start.push_attribute(("xmlns", node.ns.as_str()));
    }
    if is_nil(node) {
        start.push_attribute(("nil", "true"));
    }
    w.write_event(Event::Start(start))?;
    w.write_event(Event::Text(BytesText::new(&node.text)))?;
    for child in &node.children {
        write_canonical(w, child, &node.ns)?;
    }
    w.write_event(Event::End(BytesEnd::new(node.name.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        #[serde(rename = "TokenId")]
        token_id: String,
        #[serde(rename = "ActIntent", default)]
        intent: Option<crate::types::ActIntent>,
        #[serde(rename = "Digits", default)]
        digits: Option<crate::types::Digits>,
        #[serde(rename = "OneTime", default)]
        one_time: Option<bool>,
        #[serde(rename = "Custom", default)]
        custom: Option<serde_json::Value>,
    }

    fn node(body: &str) -> Node {
        let xml = format!(r#"<Op xmlns="{}">{body}</Op>"#, ops::NS);
        super::super::xml::parse(xml.as_bytes()).unwrap()
    }

    fn fault_of(body: &str) -> (Fault, Option<String>) {
        match from_node::<Probe>(&node(body)) {
            Err(Error::Fault { fault, elem, .. }) => (fault, elem),
            other => panic!("expected a fault, got {other:?}"),
        }
    }

    #[test]
    fn typed_members_are_read_from_text() {
        let probe: Probe = from_node(&node(
            "<TokenId>a</TokenId><ActIntent>Upd</ActIntent><Digits>8</Digits><OneTime>1</OneTime>\
             <Custom><X><Y>1</Y></X><X>2</X><Password>pw</Password></Custom>",
        ))
        .unwrap();
        assert_eq!(probe.token_id, "a");
        assert_eq!(probe.intent, Some(crate::types::ActIntent::Upd));
        assert_eq!(probe.one_time, Some(true));
        assert!(probe.digits.is_some());
        assert_eq!(probe.custom, Some(serde_json::json!({"X": {"Y": "1"}})));
    }

    #[test]
    fn each_kind_of_bad_body_gets_the_json_decoders_fault() {
        let nil = r#"<TokenId xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:nil="true"/>"#;
        assert_eq!(fault_of(nil), (Fault::IdRequired, Some("TokenId".into())));
        assert_eq!(fault_of(""), (Fault::IdRequired, Some("TokenId".into())));
        let t = "<TokenId>a</TokenId>";
        let enum_value = fault_of(&format!("{t}<ActIntent>Delete</ActIntent>"));
        assert_eq!(enum_value, (Fault::EnumValue, Some("ActIntent".into())));
        let digits = fault_of(&format!("{t}<Digits>7</Digits>"));
        assert_eq!(digits, (Fault::InvalidValue, Some("Digits".into())));
        let text = fault_of(&format!("{t}<Digits>six</Digits>"));
        assert_eq!(text, (Fault::InvalidValue, Some("Digits".into())));
        let boolean = fault_of(&format!("{t}<OneTime>yes</OneTime>"));
        assert_eq!(boolean, (Fault::InvalidValue, Some("OneTime".into())));
        let unknown = fault_of(&format!("{t}<Bogus>1</Bogus>"));
        assert_eq!(unknown, (Fault::UnknownElement, Some("Bogus".into())));
        let twice = fault_of(&format!("{t}{t}"));
        assert_eq!(twice, (Fault::InvalidValue, Some("TokenId".into())));
        let foreign = fault_of(r#"<TokenId xmlns="urn:other">a</TokenId>"#);
        assert_eq!(foreign, (Fault::UnknownElement, Some("TokenId".into())));
        let nested = fault_of("<TokenId><X>a</X></TokenId>");
        assert_eq!(nested, (Fault::InvalidValue, Some("TokenId".into())));
    }

    #[test]
    fn the_canonical_form_ignores_prefixes() {
        let a = super::super::xml::parse(
            format!(r#"<p:Op xmlns:p="{}"><p:A>1</p:A></p:Op>"#, ops::NS).as_bytes(),
        )
        .unwrap();
        let b = node("<A>1</A>");
        assert_eq!(canonical(&a), canonical(&b));
        assert_ne!(canonical(&b), canonical(&node("<A>2</A>")));
    }
}
