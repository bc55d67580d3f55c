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
//! - An `InstRtId` in the body that disagrees with the header's: 2505.
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

/// Checks a request's header: `present` says whether it carried `MsgRqHdr.jXchangeHdr`
/// at all, `body_inst_rt_id` is an `InstRtId` its body names (OOBValidate has one).
pub fn check(present: bool, hdr: &JxHdr, body_inst_rt_id: Option<&str>) -> Result<(), Error> {
    if !present {
        return Err(Error::at(Fault::HdrRequired, HDR));
    }
    let filled = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    let rules: [(bool, Fault, &str); 5] = [
        (hdr.audit_usr_id.is_some(), Fault::AuditUsrIdRequired, "AuditUsrId"),
        (hdr.audit_ws_id.is_some(), Fault::AuditWsIdRequired, "AuditWsId"),
        (filled(&hdr.consumer_prod), Fault::ConsumerProdRequired, "ConsumerProd"),
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
    match (body_inst_rt_id.filter(|b| !b.is_empty()), &hdr.inst_rt_id) {
        (Some(body), Some(head)) if body != head => Err(Error::at(Fault::InstitutionDenied, "InstRtId")
            .with_value(body.chars().take(64).collect::<String>())
            .with_detail("(InstRtId in the body does not match the header's)")),
        _ => Ok(()),
    }
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
        assert_eq!(code(check(false, &full(), None)), 2001);
        assert_eq!(code(check(true, &full(), None)), 0);
        let mut h = full();
        h.audit_usr_id = None;
        assert_eq!(code(check(true, &h, None)), 2021);
        let mut h = full();
        h.audit_ws_id = None;
        assert_eq!(code(check(true, &h, None)), 2002);
        let mut h = full();
        h.consumer_prod = Some(" ".into());
        assert_eq!(code(check(true, &h, None)), 2003);
        let mut h = full();
        h.inst_rt_id = None;
        assert_eq!(code(check(true, &h, None)), 2016);
        let mut h = full();
        h.valid_consm_name = None;
        assert_eq!(code(check(true, &h, None)), 2401);
        assert_eq!(code(check(true, &full(), Some("003003003"))), 0);
        assert_eq!(code(check(true, &full(), Some("111111111"))), 2505);
    }
}
