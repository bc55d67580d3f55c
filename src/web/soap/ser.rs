//! Writing an answer straight from the JSON API's answer type: a serde `Serializer` that
//! writes each member as an XML element, in the struct's field order (the WSDL's
//! sequence), so the struct that names an element for JSON names it for SOAP too.
//!
//! A member left out (`skip_serializing_if`, `None`) is not written; an enumeration is
//! its serde spelling, numbers and booleans their text, a nested struct an element of
//! its members; an array is an element around one element per item, named by the
//! newtype struct around it (`api::records::Records`: `Record::ITEM`). An answer that
//! writes no `Custom` ends with `<Custom xsi:nil="true"/>`, as the seed's answer does
//! (every answer's sequence ends with the nillable `Custom`).
//! Imports: serde, quick-xml.

use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use serde::ser::{self, Impossible, Serialize};
use std::fmt;

type W = Writer<Vec<u8>>;

/// Why a value could not be written (a shape the answers never have: a bug).
#[derive(Debug)]
pub struct SerError(String);

impl fmt::Display for SerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SerError {}

impl ser::Error for SerError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        SerError(msg.to_string())
    }
}

impl From<std::io::Error> for SerError {
    fn from(e: std::io::Error) -> Self {
        SerError(e.to_string())
    }
}

/// The answer's members as XML elements (the body of `<Op>Response` after `MsgRsHdr`).
pub fn to_elements<T: Serialize>(answer: &T) -> Result<Vec<u8>, SerError> {
    let mut w = Writer::new(Vec::new());
    answer.serialize(Elem {
        w: &mut w,
        name: ANSWER,
        item: None,
    })?;
    Ok(w.into_inner())
}

fn unsupported(what: &str) -> SerError {
    SerError(format!("{what} has no XML form in an answer"))
}

/// The name `to_elements` gives the answer itself: a struct whose members are written
/// without an element around them (the caller writes `<Op>Response`).
const ANSWER: &str = "";

/// `<name>text</name>`, escaped.
fn text(w: &mut W, name: &str, text: &str) -> Result<(), SerError> {
    if name == ANSWER {
        return Err(unsupported("an answer that is not a struct"));
    }
    w.write_event(Event::Start(BytesStart::new(name)))?;
    w.write_event(Event::Text(BytesText::new(text)))?;
    w.write_event(Event::End(BytesEnd::new(name)))?;
    Ok(())
}

/// A struct's members: the answer itself (`close` None: no element around it, and a
/// nil `Custom` when it wrote none) or a nested element (`close` its name).
struct Members<'w> {
    w: &'w mut W,
    close: Option<&'static str>,
    custom: bool,
}

impl ser::SerializeStruct for Members<'_> {
    type Ok = ();
    type Error = SerError;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        self.custom |= key == "Custom";
        value.serialize(Elem {
            w: self.w,
            name: key,
            item: None,
        })
    }

    fn end(self) -> Result<(), SerError> {
        match self.close {
            Some(name) => self.w.write_event(Event::End(BytesEnd::new(name)))?,
            None if !self.custom => {
                let nil = BytesStart::new("Custom").with_attributes([("xsi:nil", "true")]);
                self.w.write_event(Event::Empty(nil))?;
            }
            None => {}
        }
        Ok(())
    }
}

/// One element named `name`; `item` the element name of an array's items, when the
/// value is the `Records` newtype around them.
struct Elem<'w> {
    w: &'w mut W,
    name: &'static str,
    item: Option<&'static str>,
}

/// An array's items, each an element named `item`, inside the element `name`.
struct Items<'w> {
    w: &'w mut W,
    name: &'static str,
    item: &'static str,
}

impl ser::SerializeSeq for Items<'_> {
    type Ok = ();
    type Error = SerError;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), SerError> {
        value.serialize(Elem {
            w: self.w,
            name: self.item,
            item: None,
        })
    }

    fn end(self) -> Result<(), SerError> {
        self.w.write_event(Event::End(BytesEnd::new(self.name)))?;
        Ok(())
    }
}

macro_rules! as_text {
    ($($method:ident: $t:ty),* $(,)?) => {$(
        fn $method(self, v: $t) -> Result<(), SerError> {
            text(self.w, self.name, &v.to_string())
        }
    )*};
}

impl<'w> ser::Serializer for Elem<'w> {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = Items<'w>;
    type SerializeTuple = Impossible<(), SerError>;
    type SerializeTupleStruct = Impossible<(), SerError>;
    type SerializeTupleVariant = Impossible<(), SerError>;
    type SerializeMap = Impossible<(), SerError>;
    type SerializeStruct = Members<'w>;
    type SerializeStructVariant = Impossible<(), SerError>;

    as_text! {
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_f32: f32, serialize_f64: f64, serialize_char: char,
        serialize_str: &str,
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<(), SerError> {
        Err(unsupported("bytes"))
    }

    fn serialize_none(self) -> Result<(), SerError> {
        Ok(())
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), SerError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), SerError> {
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), SerError> {
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), SerError> {
        text(self.w, self.name, variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        item: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        value.serialize(Elem {
            item: Some(item),
            ..self
        })
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), SerError> {
        Err(unsupported("a newtype variant"))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Items<'w>, SerError> {
        let item = self
            .item
            .filter(|_| self.name != ANSWER)
            .ok_or_else(|| SerError(format!("{}: an array without its record name", self.name)))?;
        self.w
            .write_event(Event::Start(BytesStart::new(self.name)))?;
        Ok(Items {
            w: self.w,
            name: self.name,
            item,
        })
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, SerError> {
        Err(unsupported("a tuple"))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, SerError> {
        Err(unsupported("a tuple struct"))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, SerError> {
        Err(unsupported("a tuple variant"))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, SerError> {
        Err(unsupported("a map"))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Members<'w>, SerError> {
        if self.name == ANSWER {
            return Ok(Members {
                w: self.w,
                close: None,
                custom: false,
            });
        }
        self.w
            .write_event(Event::Start(BytesStart::new(self.name)))?;
        Ok(Members {
            w: self.w,
            close: Some(self.name),
            custom: true,
        })
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, SerError> {
        Err(unsupported("a struct variant"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::api::records::{Record, Records};
    use serde::Serialize;

    #[derive(Serialize)]
    struct Rec {
        #[serde(rename = "Name")]
        name: &'static str,
    }

    impl Record for Rec {
        const ITEM: &'static str = "ItemRec";
    }

    #[derive(Serialize)]
    struct Answer {
        #[serde(rename = "Stat")]
        stat: crate::types::UsrTokenStat,
        #[serde(rename = "Left", skip_serializing_if = "Option::is_none")]
        left: Option<u32>,
        #[serde(rename = "Gone")]
        gone: Option<bool>,
        #[serde(rename = "Array")]
        items: Records<Rec>,
        #[serde(rename = "Note")]
        note: &'static str,
    }

    #[test]
    fn members_are_written_in_field_order_with_record_names_and_a_nil_custom() {
        let answer = Answer {
            stat: crate::types::UsrTokenStat::InAct,
            left: None,
            gone: None,
            items: Records(vec![Rec { name: "a" }, Rec { name: "b<" }]),
            note: "x&y",
        };
        let xml = String::from_utf8(to_elements(&answer).unwrap()).unwrap();
        assert_eq!(
            xml,
            "<Stat>InAct</Stat><Array><ItemRec><Name>a</Name></ItemRec>\
             <ItemRec><Name>b&lt;</Name></ItemRec></Array><Note>x&amp;y</Note>\
             <Custom xsi:nil=\"true\"/>"
        );
        // The same value on the JSON wire: the records are a plain array.
        let json = serde_json::to_value(&answer).unwrap();
        assert_eq!(
            json["Array"],
            serde_json::json!([{"Name": "a"}, {"Name": "b<"}])
        );
    }

    #[test]
    fn an_array_without_its_record_name_or_a_non_struct_answer_is_an_error() {
        #[derive(Serialize)]
        struct Bare {
            #[serde(rename = "Array")]
            items: Vec<u8>,
        }
        assert!(to_elements(&Bare { items: vec![1] }).is_err());
        assert!(to_elements(&"text").is_err());
    }
}
