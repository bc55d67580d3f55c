//! The jXchange header rules the contracts publish, shared by both bindings: always on
//! the SOAP binding, on the JSON API only with `jxchange_strict_headers = true` (the
//! JSON default stays lenient: a request without a header still succeeds there).
//!
//! What is checked, and why these and no others:
//! - `MsgRqHdr.jXchangeHdr` present (2001).
//! - `AuditUsrId` (2021) and `AuditWsId` (2002) present as elements. They may be empty:
//!   the OOBValidate seed's own request example sends both empty.
//! - `ConsumerProd` (2003), `InstRtId` (2016, "required in all message requests") and
//!   `ValidConsmName` (2401) present and not empty.
//! - An `InstRtId` in the body that disagrees with the header's: 2505; a `ConsumerProd`
//!   in the body that disagrees with the header's `ValidConsmProd`: 2505 (both published
//!   triggers of 2505 in the OOBValidate seed).
//!
//! - MFATokenInq: "UsrName and AuthenUsrCred are part of a documented choice statement
//!   whereas both are optional but at least one is required" (the MFA Token Inquiry
//!   contract): neither is 3103 at `UsrName`. Consumers outside JHA IMS send the TokenId
//!   as `UsrName`, as the same contract says.
//!
//! `BusCorrelId` (2700) is NOT required: the seed's request example has none while its
//! answer carries one, so the provider generates it (the SOAP answer does).
//! Imports: domain (the fault vocabulary) and the envelope's header type.

use super::envelope::JxHdr;
use crate::domain::{Error, Fault};

/// Whether the JSON API enforces the header rules (managed state; SOAP always does).
#[derive(Debug, Clone, Copy, Default)]
pub struct HeaderRules {
    /// `jxchange_strict_headers`.
    pub json_strict: bool,
}

const HDR: &str = "MsgRqHdr.jXchangeHdr";

/// What a body names that the header names too (OOBValidate's `InstRtId` and
/// `ConsumerProd`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyIds<'a> {
    /// The body's `InstRtId`.
    pub inst_rt_id: Option<&'a str>,
    /// The body's `ConsumerProd`.
    pub consumer_prod: Option<&'a str>,
    /// For an operation with the `UsrName`/`AuthenUsrCred` choice (MFATokenInq): whether
    /// the request made it. `None`: the operation has no such choice.
    pub usr_choice: Option<bool>,
}

/// Checks a request's header: `present` says whether it carried `MsgRqHdr.jXchangeHdr`
/// at all; `body` is what its body names that the header must agree with.
pub fn check(present: bool, hdr: &JxHdr, body: BodyIds<'_>) -> Result<(), Error> {
    if !present {
        return Err(Error::at(Fault::HdrRequired, HDR));
    }
    let filled = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    let rules: [(bool, Fault, &str); 5] = [
        (
            hdr.audit_usr_id.is_some(),
            Fault::AuditUsrIdRequired,
            "AuditUsrId",
        ),
        (
            hdr.audit_ws_id.is_some(),
            Fault::AuditWsIdRequired,
            "AuditWsId",
        ),
        (
            filled(&hdr.consumer_prod),
            Fault::ConsumerProdRequired,
            "ConsumerProd",
        ),
        (filled(&hdr.inst_rt_id), Fault::InstRtIdRequired, "InstRtId"),
        (
            filled(&hdr.valid_consm_name),
            Fault::ValidConsmNameRequired,
            "ValidConsmName",
        ),
    ];
    if let Some((_, fault, elem)) = rules.iter().find(|(ok, _, _)| !ok) {
        return Err(Error::at(*fault, format!("{HDR}.{elem}")));
    }
    let pairs = [
        (body.inst_rt_id, &hdr.inst_rt_id, "InstRtId", "InstRtId"),
        (
            body.consumer_prod,
            &hdr.valid_consm_prod,
            "ConsumerProd",
            "ValidConsmProd",
        ),
    ];
    for (in_body, in_hdr, elem, hdr_elem) in pairs {
        match (in_body.filter(|b| !b.is_empty()), in_hdr.as_deref()) {
            (Some(b), Some(h)) if !h.is_empty() && b != h => {
                return Err(Error::at(Fault::InstitutionDenied, elem)
                    .with_value(b.chars().take(64).collect::<String>())
                    .with_detail(format!(
                        "({elem} in the body does not match the header's {hdr_elem})"
                    )))
            }
            _ => {}
        }
    }
    if body.usr_choice == Some(false) {
        return Err(Error::at(Fault::FieldRequired, "UsrName").with_detail(
            "(UsrName or MsgRqHdr.AuthenUsrCred is required; consumers outside JHA IMS send the TokenId as UsrName)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> JxHdr {
        JxHdr {
            audit_usr_id: Some(String::new()),
            audit_ws_id: Some(String::new()),
            consumer_prod: Some("Prod".into()),
            inst_rt_id: Some("003003003".into()),
            valid_consm_name: Some("Bank".into()),
            ..JxHdr::default()
        }
    }

    fn code(r: Result<(), Error>) -> u16 {
        r.err().map_or(0, |e| e.kind().code())
    }

    #[test]
    fn each_published_rule_has_its_code() {
        assert_eq!(code(check(false, &full(), BodyIds::default())), 2001);
        assert_eq!(code(check(true, &full(), BodyIds::default())), 0);
        let mut h = full();
        h.audit_usr_id = None;
        assert_eq!(code(check(true, &h, BodyIds::default())), 2021);
        let mut h = full();
        h.audit_ws_id = None;
        assert_eq!(code(check(true, &h, BodyIds::default())), 2002);
        let mut h = full();
        h.consumer_prod = Some(" ".into());
        assert_eq!(code(check(true, &h, BodyIds::default())), 2003);
        let mut h = full();
        h.inst_rt_id = None;
        assert_eq!(code(check(true, &h, BodyIds::default())), 2016);
        let mut h = full();
        h.valid_consm_name = None;
        assert_eq!(code(check(true, &h, BodyIds::default())), 2401);
        let inst = |i| BodyIds {
            inst_rt_id: Some(i),
            ..BodyIds::default()
        };
        assert_eq!(code(check(true, &full(), inst("003003003"))), 0);
        assert_eq!(code(check(true, &full(), inst("111111111"))), 2505);
        let mut h = full();
        h.valid_consm_prod = Some("Teller".into());
        let prod = |p| BodyIds {
            consumer_prod: Some(p),
            ..BodyIds::default()
        };
        assert_eq!(code(check(true, &h, prod("Teller"))), 0);
        assert_eq!(code(check(true, &h, prod("Other"))), 2505);
        let choice = |made| BodyIds {
            usr_choice: Some(made),
            ..BodyIds::default()
        };
        assert_eq!(code(check(true, &full(), choice(true))), 0);
        assert_eq!(code(check(true, &full(), choice(false))), 3103);
    }
}
