//! The WSDL 1.1 document of the binding (document/literal, XSD inline), generated from
//! the operation table the endpoint reads and writes by: each operation's elements from
//! its request and answer types (`xsd`), the headers from `layouts`, so the two cannot
//! disagree. Imports: the operation table.

use std::fmt::Write as _;

use super::layouts::{self, Elem, Kind};
use super::ops::{self, Op, OPS};
use super::xml::WSSE_NS;
use super::xsd::Xsd;

/// The WSDL, with `location` as the service's `soap:address`.
pub fn document(location: &str) -> String {
    let ns = ops::NS;
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        r#"<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions name="tokend" targetNamespace="{ns}" xmlns:tns="{ns}" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:wsse="{WSSE_NS}">
<wsdl:documentation>tokend: the jXchange MFA token and OOBValidate operations over SOAP 1.1. Authenticate with a WS-Security UsernameToken (PasswordText = the API key, or PasswordDigest with a key made with --soap-digest, Username = its name) or Authorization: Bearer.</wsdl:documentation>
<wsdl:types>
<xsd:schema targetNamespace="{ns}" xmlns:tns="{ns}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
"#
    );
    types(&mut out);
    // The answers' wsse:Security/u:Timestamp header (the seed's) is not declared: a
    // declared output header changes what zeep returns (the envelope, not the body).
    out.push_str("</xsd:schema>\n</wsdl:types>\n");
    out.push_str("<wsdl:message name=\"HdrFault\"><wsdl:part name=\"detail\" element=\"tns:MsgRsHdr\"/></wsdl:message>\n");
    for op in OPS {
        let n = op.name;
        let _ = writeln!(
            out,
            "<wsdl:message name=\"{n}SoapIn\"><wsdl:part name=\"parameters\" element=\"tns:{n}\"/></wsdl:message>\
             <wsdl:message name=\"{n}SoapOut\"><wsdl:part name=\"parameters\" element=\"tns:{n}Response\"/></wsdl:message>"
        );
    }
    out.push_str("<wsdl:portType name=\"jXchangePortType\">\n");
    for op in OPS {
        let n = op.name;
        let _ = writeln!(
            out,
            "<wsdl:operation name=\"{n}\"><wsdl:input message=\"tns:{n}SoapIn\"/>\
             <wsdl:output message=\"tns:{n}SoapOut\"/><wsdl:fault name=\"HdrFault\" message=\"tns:HdrFault\"/></wsdl:operation>"
        );
    }
    out.push_str("</wsdl:portType>\n<wsdl:binding name=\"jXchangeBinding\" type=\"tns:jXchangePortType\">\
                   <soap:binding style=\"document\" transport=\"http://schemas.xmlsoap.org/soap/http\"/>\n");
    for op in OPS {
        let n = op.name;
        let _ = writeln!(
            out,
            "<wsdl:operation name=\"{n}\"><soap:operation soapAction=\"{}{n}\" style=\"document\"/>\
             <wsdl:input><soap:body use=\"literal\"/></wsdl:input><wsdl:output><soap:body use=\"literal\"/></wsdl:output>\
             <wsdl:fault name=\"HdrFault\"><soap:fault name=\"HdrFault\" use=\"literal\"/></wsdl:fault></wsdl:operation>",
            ops::ACTION_BASE
        );
    }
    let _ = write!(
        out,
        "</wsdl:binding>\n<wsdl:service name=\"jXchangeService\"><wsdl:port name=\"jXchangePort\" binding=\"tns:jXchangeBinding\">\
         <soap:address location=\"{}\"/></wsdl:port></wsdl:service>\n</wsdl:definitions>\n",
        quick_xml::escape::escape(location)
    );
    out
}

/// The schema's types: the value lists, the headers, and each operation's request and
/// answer elements, from the operation's types (`xsd`).
fn types(out: &mut String) {
    let mut xsd = Xsd::default();
    for op in OPS {
        operation_elements(&mut xsd, op);
    }
    for (name, values) in &xsd.enums {
        let _ = write!(
            out,
            "<xsd:simpleType name=\"{name}\"><xsd:restriction base=\"xsd:string\">"
        );
        for v in values {
            let _ = write!(out, "<xsd:enumeration value=\"{v}\"/>");
        }
        out.push_str("</xsd:restriction></xsd:simpleType>\n");
    }
    out.push_str("<xsd:complexType name=\"jXchangeHdr_CType\">");
    sequence(out, layouts::JX_HDR);
    out.push_str("</xsd:complexType>\n<xsd:complexType name=\"MsgRqHdr_CType\">");
    sequence(out, layouts::MSG_RQ_HDR);
    out.push_str("</xsd:complexType>\n<xsd:complexType name=\"MsgRsHdr_CType\"><xsd:sequence>");
    elements(out, layouts::MSG_RS_HDR);
    element(out, &layouts::FAULT_CUSTOM);
    out.push_str("</xsd:sequence>");
    out.push_str(
        "</xsd:complexType>\n<xsd:element name=\"MsgRsHdr\" type=\"tns:MsgRsHdr_CType\"/>\n",
    );
    out.push_str(&xsd.out);
}

/// `<Op>`: `MsgRqHdr`, the path element (a string, required), the request type's members;
/// `<Op>Response`: `MsgRsHdr`, the answer type's members, ending with `Custom`.
fn operation_elements(xsd: &mut Xsd, op: &Op) {
    let _ = write!(
        xsd.out,
        "<xsd:element name=\"{}\"><xsd:complexType><xsd:sequence>\
         <xsd:element name=\"MsgRqHdr\" type=\"tns:MsgRqHdr_CType\"/>",
        op.name
    );
    if let Some(path) = op.path.name() {
        let _ = write!(
            xsd.out,
            "<xsd:element name=\"{path}\" minOccurs=\"1\" type=\"xsd:string\"/>"
        );
    }
    xsd.sequence_of(&(op.request)(), &["MsgRqHdr"], false);
    let _ = write!(
        xsd.out,
        "</xsd:sequence></xsd:complexType></xsd:element>\n\
         <xsd:element name=\"{}Response\"><xsd:complexType><xsd:sequence>\
         <xsd:element name=\"MsgRsHdr\" type=\"tns:MsgRsHdr_CType\" minOccurs=\"0\"/>",
        op.name
    );
    xsd.sequence_of(&(op.response)(), &[], true);
    xsd.out
        .push_str("</xsd:sequence></xsd:complexType></xsd:element>\n");
}

fn sequence(out: &mut String, layout: &[Elem]) {
    out.push_str("<xsd:sequence>");
    elements(out, layout);
    out.push_str("</xsd:sequence>");
}

fn elements(out: &mut String, layout: &[Elem]) {
    for e in layout {
        element(out, e);
    }
}

/// A header or fault record element, by its layout.
fn element(out: &mut String, e: &Elem) {
    let min = if e.required { "1" } else { "0" };
    let _ = write!(out, "<xsd:element name=\"{}\" minOccurs=\"{min}\"", e.name);
    match e.kind {
        Kind::Str => out.push_str(" type=\"xsd:string\"/>"),
        // One header type for requests and answers.
        Kind::Group(inner) if std::ptr::eq(inner, layouts::JX_HDR) => {
            out.push_str(" type=\"tns:jXchangeHdr_CType\"/>");
        }
        Kind::Group(inner) => {
            out.push_str("><xsd:complexType>");
            sequence(out, inner);
            out.push_str("</xsd:complexType></xsd:element>");
        }
        Kind::Array(item, inner) => {
            let _ = write!(
                out,
                "><xsd:complexType><xsd:sequence><xsd:element name=\"{item}\" minOccurs=\"0\" maxOccurs=\"unbounded\"><xsd:complexType>"
            );
            sequence(out, inner);
            out.push_str("</xsd:complexType></xsd:element></xsd:sequence></xsd:complexType></xsd:element>");
        }
        Kind::Any => out.push_str(
            "><xsd:complexType><xsd:sequence><xsd:any namespace=\"##any\" processContents=\"lax\" minOccurs=\"0\" maxOccurs=\"unbounded\"/></xsd:sequence></xsd:complexType></xsd:element>",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::xml::Node;
    use super::*;
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::RefOr;

    #[test]
    fn the_wsdl_is_well_formed_and_names_every_operation() {
        let doc = document("http://127.0.0.1:8000/jxchange");
        let root = super::super::xml::parse(doc.as_bytes()).unwrap();
        assert_eq!(root.name, "definitions");
        for op in OPS {
            assert!(doc.contains(&format!("soapAction=\"{}{}\"", ops::ACTION_BASE, op.name)));
        }
        assert!(doc.contains("<xsd:enumeration value=\"InAct\"/>"));
        assert!(doc.contains("name=\"LastAuthenTimeDt\" minOccurs=\"0\" type=\"xsd:dateTime\""));
    }

    /// A value list's name means one list: two lists under one name would make a client
    /// generator refuse values the server sends.
    #[test]
    fn each_value_list_name_has_one_list() {
        let mut xsd = Xsd::default();
        for op in OPS {
            operation_elements(&mut xsd, op);
        }
        let mut names: Vec<_> = xsd.enums.iter().map(|(n, _)| n).collect();
        let all = names.len();
        names.dedup();
        assert_eq!(names.len(), all);
        assert!(all > 10, "{names:?}");
    }

    /// The child element names of the top-level element `name` of the WSDL's schema.
    fn sequence_names(schema: &Node, name: &str) -> Vec<String> {
        let elem = (schema.children.iter())
            .find(|e| e.name == "element" && e.attr("name") == Some(name))
            .unwrap_or_else(|| panic!("no element {name}"));
        let seq = elem.find("sequence").expect("a sequence");
        (seq.children.iter())
            .filter_map(|e| e.attr("name").map(str::to_owned))
            .collect()
    }

    /// The property names, in order, of the OpenAPI document's component `name`.
    fn properties(doc: &utoipa::openapi::OpenApi, name: &str) -> Option<Vec<String>> {
        let schema = doc.components.as_ref()?.schemas.get(name)?;
        match schema {
            RefOr::T(Schema::Object(o)) => Some(o.properties.keys().cloned().collect()),
            _ => None,
        }
    }

    /// The WSDL cannot drift from the JSON API: for every SOAP operation, its request's
    /// elements after `MsgRqHdr` (and the path element) are, in order, the properties of
    /// the OpenAPI document's schema of the same request type, and its answer's after
    /// `MsgRsHdr` those of the answer type (then the nil `Custom` when it has none);
    /// OOBValidate's answer is the seed's, so its elements are the first of the JSON
    /// answer's.
    #[test]
    fn each_operations_elements_are_its_openapi_types_properties_in_order() {
        use utoipa::OpenApi as _;
        let doc = crate::web::api::openapi::ApiDoc::openapi();
        let wsdl = document("http://127.0.0.1:8000/jxchange");
        let root = super::super::xml::parse(wsdl.as_bytes()).unwrap();
        let schema = root.find("schema").expect("the schema");
        for op in OPS {
            let (rq, rs) = ((op.request)(), (op.response)());
            let mut want: Vec<String> = vec!["MsgRqHdr".into()];
            want.extend(op.path.name().map(str::to_owned));
            let props = properties(&doc, &rq.name).unwrap_or_else(|| {
                panic!("{}: {} is not in the OpenAPI document", op.name, rq.name)
            });
            want.extend(props.into_iter().filter(|p| p != "MsgRqHdr"));
            assert_eq!(sequence_names(schema, op.name), want, "{}", op.name);
            let got = sequence_names(schema, &format!("{}Response", op.name));
            let json_name = if op.name == "OOBValidate" {
                "OOBValidateRs"
            } else {
                &rs.name
            };
            let props = properties(&doc, json_name).unwrap_or_else(|| {
                panic!("{}: {json_name} is not in the OpenAPI document", op.name)
            });
            let mut want: Vec<String> = vec!["MsgRsHdr".into()];
            if op.name == "OOBValidate" {
                want.extend(props.into_iter().take(3));
            } else {
                want.extend(props);
            }
            if !want.iter().any(|n| n == "Custom") {
                want.push("Custom".into());
            }
            assert_eq!(got, want, "{}Response", op.name);
        }
    }

    /// A record's element name is written once for each binding: `Record::ITEM` (what
    /// the SOAP writer names each item) is its schema's `xml.name` (what the WSDL and the
    /// OpenAPI document name it).
    #[test]
    fn record_names_are_their_schemas_xml_names() {
        use crate::web::api::records::Record;
        use crate::web::api::{explain, inquiry, users};
        fn check<T: Record + utoipa::ToSchema>() {
            let name = match T::schema() {
                RefOr::T(Schema::Object(o)) => o.xml.and_then(|x| x.name).map(|n| n.into_owned()),
                _ => None,
            };
            assert_eq!(name.as_deref(), Some(T::ITEM));
        }
        check::<inquiry::MfaTokenInqInfoRec>();
        check::<inquiry::BindingCustom>();
        check::<users::UsrTokenRec>();
        check::<explain::AttemptRec>();
        check::<explain::ExplainTokenRec>();
        check::<explain::ExplainBindingRec>();
    }
}
