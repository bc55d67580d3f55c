//! Writing SOAP 1.1 envelopes with quick-xml: the answer's envelope with the WS-Security
//! timestamp header the seed's answer has, and elements by an operation's layout.
//! Imports: quick-xml, the operation layouts.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use serde_json::{Map, Value};

use super::layouts::{Elem, Kind};
use super::xml::{SOAP_NS, WSSE_NS, WSU_NS, XSI_NS};

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
            (_, None) | (Kind::Any, _) => {}
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
