//! The WSDL 1.1 document of the binding (document/literal, XSD inline), generated from
//! the operation table the endpoint reads and writes by, so the two cannot disagree.
//! Imports: the operation table.

use std::fmt::Write as _;

use super::envelope::WSSE_NS;
use super::layouts::{self, Elem, Kind};
use super::ops::{self, OPS};

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

/// Every value list of the table (named simple types), once each, in first-use order.
fn enums() -> Vec<(&'static str, &'static [&'static str])> {
    fn walk(layout: &[Elem], out: &mut Vec<(&'static str, &'static [&'static str])>) {
        for e in layout {
            match e.kind {
                Kind::Enum(name, values) if !out.iter().any(|(n, _)| *n == name) => {
                    out.push((name, values));
                }
                Kind::Group(inner) | Kind::Array(_, inner) => walk(inner, out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(layouts::MSG_RS_HDR, &mut out);
    for op in OPS {
        walk(op.request, &mut out);
        walk(op.response, &mut out);
    }
    out
}

/// The schema's types: the value lists, the headers, and each operation's request and
/// answer elements.
fn types(out: &mut String) {
    for (name, values) in enums() {
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
    for op in OPS {
        let _ = write!(
            out,
            "<xsd:element name=\"{}\"><xsd:complexType><xsd:sequence>\
             <xsd:element name=\"MsgRqHdr\" type=\"tns:MsgRqHdr_CType\"/>",
            op.name
        );
        elements(out, op.request);
        let _ = write!(
            out,
            "</xsd:sequence></xsd:complexType></xsd:element>\n\
             <xsd:element name=\"{}Response\"><xsd:complexType><xsd:sequence>\
             <xsd:element name=\"MsgRsHdr\" type=\"tns:MsgRsHdr_CType\" minOccurs=\"0\"/>",
            op.name
        );
        elements(out, op.response);
        out.push_str("</xsd:sequence></xsd:complexType></xsd:element>\n");
    }
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

fn element(out: &mut String, e: &Elem) {
    let min = if e.required { "1" } else { "0" };
    let nil = if e.name == "Custom" {
        " nillable=\"true\""
    } else {
        ""
    };
    let _ = write!(
        out,
        "<xsd:element name=\"{}\" minOccurs=\"{min}\"{nil}",
        e.name
    );
    match e.kind {
        Kind::Str => out.push_str(" type=\"xsd:string\"/>"),
        Kind::Int => out.push_str(" type=\"xsd:int\"/>"),
        Kind::Long => out.push_str(" type=\"xsd:long\"/>"),
        Kind::DateTime => out.push_str(" type=\"xsd:dateTime\"/>"),
        Kind::Enum(name, _) => {
            let _ = write!(out, " type=\"tns:{name}\"/>");
        }
        Kind::Bool => out.push_str(" type=\"xsd:boolean\"/>"),
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
        Kind::Any | Kind::Tree => out.push_str(
            "><xsd:complexType><xsd:sequence><xsd:any namespace=\"##any\" processContents=\"lax\" minOccurs=\"0\" maxOccurs=\"unbounded\"/></xsd:sequence></xsd:complexType></xsd:element>",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wsdl_is_well_formed_and_names_every_operation() {
        let doc = document("http://127.0.0.1:8000/jxchange");
        let root = super::super::envelope::parse(doc.as_bytes()).unwrap();
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
        fn check(layout: &[Elem], seen: &mut Vec<(&'static str, &'static [&'static str])>) {
            for e in layout {
                match e.kind {
                    Kind::Enum(name, values) => {
                        if let Some((_, v)) = seen.iter().find(|(n, _)| *n == name) {
                            assert_eq!(*v, values, "{name}");
                        }
                        seen.push((name, values));
                    }
                    Kind::Group(inner) | Kind::Array(_, inner) => check(inner, seen),
                    _ => {}
                }
            }
        }
        let mut seen = Vec::new();
        for op in OPS {
            check(op.request, &mut seen);
            check(op.response, &mut seen);
        }
        assert!(seen.len() > 10);
    }
}
