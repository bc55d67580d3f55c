//! The WSDL's schema of each operation's request and answer, generated from the utoipa
//! schemas of the JSON API's own request and answer types (the OpenAPI document's), so
//! the element names, their order (utoipa's `preserve_order`: field order), their types
//! and whether they are required are written once, on the struct.
//!
//! Mapping: `required` → `minOccurs="1"`, else 0; a string `xsd:string`, `date-time`
//! `xsd:dateTime`; an integer `xsd:int`, `int64` `xsd:long`; a boolean `xsd:boolean`; a
//! string enumeration a named simple type `<Component>_Type` (an inline one
//! `<Element>_Type`) of its values; an object an inline complex type of its members; an
//! object without members (`Custom` of a request) `xsd:any`; an array jXchange's wrapper
//! (`_AType`) around its records, named by the record schema's `xml.name`
//! (`api::records`). A record carries no `Custom` on SOAP: jXchange's record types have no
//! extension point, so the extras go to the message's `Custom`
//! (`MfaTokenInqRs::lift_binding_extras`). Imports: utoipa.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use utoipa::openapi::schema::{
    ArrayItems, KnownFormat, Object, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

/// A type's schema and the components it refers to (by name).
pub struct Shape {
    /// The type's schema name (its OpenAPI component's).
    pub name: std::borrow::Cow<'static, str>,
    /// The Rust type's name (the dispatch checks it reads and writes this type).
    pub rust: &'static str,
    /// The type's own schema.
    pub root: RefOr<Schema>,
    /// The schemas it refers to, by component name.
    pub comps: BTreeMap<String, RefOr<Schema>>,
}

/// The shape of `T`, as its `ToSchema` gives it.
pub fn shape<T: ToSchema>() -> Shape {
    let mut comps = Vec::new();
    T::schemas(&mut comps);
    Shape {
        name: T::name(),
        rust: std::any::type_name::<T>(),
        root: T::schema(),
        comps: comps.into_iter().collect(),
    }
}

impl Shape {
    /// The schema `s` stands for: a `$ref`'s component (with its name), an `Option`'s
    /// (`oneOf` with `null`) other member.
    fn resolve<'a>(&'a self, s: &'a RefOr<Schema>) -> (Option<&'a str>, Option<&'a Schema>) {
        match s {
            RefOr::Ref(r) => {
                let name = r.ref_location.rsplit('/').next().unwrap_or_default();
                match self.comps.get(name) {
                    Some(found) => (Some(name), self.resolve(found).1),
                    None => (Some(name), None),
                }
            }
            RefOr::T(Schema::OneOf(one)) => {
                let other = one.items.iter().find(|i| !is_null(i));
                other.map_or((None, None), |o| self.resolve(o))
            }
            RefOr::T(schema) => (None, Some(schema)),
        }
    }

    /// The members of the type's own object schema, in order, with whether each is
    /// required.
    pub fn members(&self) -> Vec<(&str, &RefOr<Schema>, bool)> {
        match self.resolve(&self.root).1 {
            Some(Schema::Object(o)) => members(o),
            _ => Vec::new(),
        }
    }
}

fn members(o: &Object) -> Vec<(&str, &RefOr<Schema>, bool)> {
    (o.properties.iter())
        .map(|(name, s)| (name.as_str(), s, o.required.contains(name)))
        .collect()
}

fn is_null(s: &RefOr<Schema>) -> bool {
    matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
}

/// The one type an object schema has (`Option`'s `[T, null]` is T).
fn type_of(o: &Object) -> Type {
    match &o.schema_type {
        SchemaType::Type(t) => t.clone(),
        SchemaType::Array(ts) => {
            (ts.iter().find(|t| **t != Type::Null).cloned()).unwrap_or(Type::Null)
        }
        SchemaType::AnyValue => Type::Object,
    }
}

/// XSD being written, and the value lists met on the way (named simple types, once each).
#[derive(Default)]
pub struct Xsd {
    /// The elements written.
    pub out: String,
    /// Each value list by its type name, in first-use order.
    pub enums: Vec<(String, Vec<String>)>,
}

impl Xsd {
    /// The elements of `shape`'s own members but those named in `skip`; `Custom` at the
    /// end of an answer (`custom`) when the type has none: every answer's sequence ends
    /// with the nillable `Custom`.
    pub fn sequence_of(&mut self, shape: &Shape, skip: &[&str], custom: bool) {
        let members = shape.members();
        for (name, s, required) in &members {
            if !skip.contains(name) {
                self.element(shape, name, s, *required);
            }
        }
        if custom && !members.iter().any(|(n, ..)| *n == "Custom") {
            self.out.push_str(EMPTY_CUSTOM);
        }
    }

    /// `<xsd:element name=…>` for a member.
    pub fn element(&mut self, shape: &Shape, name: &str, s: &RefOr<Schema>, required: bool) {
        let min = if required { "1" } else { "0" };
        let nil = if name == "Custom" {
            " nillable=\"true\""
        } else {
            ""
        };
        let _ = write!(
            self.out,
            "<xsd:element name=\"{name}\" minOccurs=\"{min}\"{nil}"
        );
        let (comp, schema) = shape.resolve(s);
        match schema {
            Some(Schema::Array(a)) => self.array(shape, a),
            Some(Schema::Object(o)) if type_of(o) == Type::Object && !o.properties.is_empty() => {
                self.out.push_str("><xsd:complexType><xsd:sequence>");
                for (member, s, required) in members(o) {
                    self.element(shape, member, s, required);
                }
                self.out
                    .push_str("</xsd:sequence></xsd:complexType></xsd:element>");
            }
            Some(Schema::Object(o)) if type_of(o) != Type::Object => {
                let ty = self.simple(comp.unwrap_or(name), o);
                let _ = write!(self.out, " type=\"{ty}\"/>");
            }
            _ => self.out.push_str(ANY),
        }
    }

    /// A simple type's name, registering a value list under `<named>_Type`.
    fn simple(&mut self, named: &str, o: &Object) -> String {
        match (type_of(o), &o.enum_values) {
            (Type::String, Some(values)) => {
                let ty = format!("{named}_Type");
                if !self.enums.iter().any(|(n, _)| *n == ty) {
                    let values = values.iter().filter_map(|v| v.as_str().map(str::to_owned));
                    self.enums.push((ty.clone(), values.collect()));
                }
                format!("tns:{ty}")
            }
            (Type::String, None)
                if o.format == Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)) =>
            {
                "xsd:dateTime".into()
            }
            (Type::Integer, _)
                if o.format == Some(SchemaFormat::KnownFormat(KnownFormat::Int64)) =>
            {
                "xsd:long".into()
            }
            (Type::Integer, _) => "xsd:int".into(),
            (Type::Boolean, _) => "xsd:boolean".into(),
            _ => "xsd:string".into(),
        }
    }

    /// jXchange's array wrapper around records named by the record schema's `xml.name`.
    fn array(&mut self, shape: &Shape, a: &utoipa::openapi::schema::Array) {
        let ArrayItems::RefOrSchema(items) = &a.items else {
            self.out.push_str(ANY);
            return;
        };
        let (comp, item) = shape.resolve(items);
        let record = match item {
            Some(Schema::Object(o)) => o,
            _ => {
                self.out.push_str(ANY);
                return;
            }
        };
        let item_name = (record.xml.as_ref().and_then(|x| x.name.as_deref()))
            .or(comp)
            .unwrap_or("Rec");
        let _ = write!(
            self.out,
            "><xsd:complexType><xsd:sequence><xsd:element name=\"{item_name}\" minOccurs=\"0\" maxOccurs=\"unbounded\"><xsd:complexType><xsd:sequence>"
        );
        for (member, s, required) in members(record) {
            if member != "Custom" {
                self.element(shape, member, s, required);
            }
        }
        self.out.push_str("</xsd:sequence></xsd:complexType></xsd:element></xsd:sequence></xsd:complexType></xsd:element>");
    }
}

/// Anything (`xsd:any`): a request's `Custom`, read by nobody.
const ANY: &str = "><xsd:complexType><xsd:sequence><xsd:any namespace=\"##any\" processContents=\"lax\" minOccurs=\"0\" maxOccurs=\"unbounded\"/></xsd:sequence></xsd:complexType></xsd:element>";

/// The nil `Custom` an answer without one ends with.
const EMPTY_CUSTOM: &str = "<xsd:element name=\"Custom\" minOccurs=\"0\" nillable=\"true\"><xsd:complexType><xsd:sequence></xsd:sequence></xsd:complexType></xsd:element>";
