//! The WSDL 1.1 document of the binding (document/literal, XSD inline), generated from
//! the operation table the endpoint reads and writes by, so the two cannot disagree.
//! Imports: the operation table.

use std::fmt::Write as _;

use super::envelope::WSSE_NS;
use super::ops::{self, Elem, Kind, OPS};

/// The WSDL, with `location` as the service's `soap:address`.
pub fn document(location: &str) -> String {
    let ns = ops::NS;
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        r#"<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions name="tokend" targetNamespace="{ns}" xmlns:tns="{ns}" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:wsse="{WSSE_NS}">
<wsdl:documentation>tokend: the jXchange MFA token and OOBValidate operations over SOAP 1.1. Authenticate with a WS-Security UsernameToken (PasswordText = the API key) or Authorization: Bearer.</wsdl:documentation>
<wsdl:types>
<xsd:schema targetNamespace="{ns}" xmlns:tns="{ns}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
"#
    );
    out.push_str("<xsd:complexType name=\"MsgRqHdr_CType\">");
    sequence(&mut out, ops::MSG_RQ_HDR);
    out.push_str("</xsd:complexType>\n<xsd:complexType name=\"MsgRsHdr_CType\">");
    sequence(&mut out, ops::MSG_RS_HDR);
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
        elements(&mut out, op.request);
        let _ = write!(
            out,
            "</xsd:sequence></xsd:complexType></xsd:element>\n\
             <xsd:element name=\"{}Response\"><xsd:complexType><xsd:sequence>\
             <xsd:element name=\"MsgRsHdr\" type=\"tns:MsgRsHdr_CType\" minOccurs=\"0\"/>",
            op.name
        );
        elements(&mut out, op.response);
        out.push_str("</xsd:sequence></xsd:complexType></xsd:element>\n");
    }
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
        Kind::Int => out.push_str(" type=\"xsd:long\"/>"),
        Kind::Bool => out.push_str(" type=\"xsd:boolean\"/>"),
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
    }
}
