"""A SOAP client nobody here wrote, sending what Java stacks (CXF/WSS4J) send by default:
zeep's UsernameToken with use_digest=True (a PasswordDigest over its own random Nonce and
Created), built from tokend's live WSDL (issue 28). Then, with that client, OOBValidate
in recipient mode (ConsmRecipId + AlrtName, elements the WSDL declares).

Run by tests/integration/soap_digest.rs:  python zeep_digest.py BASE_URL KEY_NAME KEY
The key was made with `tokend apikey create --soap-digest`, user "zed" subscribed to the
alert "Login" of institution "tokend". Exit status 0 when every step holds.
"""

import sys

import zeep
from lxml import etree
from zeep.wsse.username import UsernameToken

BASE, NAME, KEY = sys.argv[1:4]
NS = "http://jackhenry.com/jxchange/TPG/2008"
HDR = {
    "jXchangeHdr": {
        "AuditUsrId": "u1",
        "AuditWsId": "w1",
        "ConsumerName": "Bank",
        "ConsumerProd": "Teller",
        "jXLogTrackingId": "zeep-digest",
        "InstRtId": "tokend",
        "ValidConsmName": "Bank",
        "ValidConsmProd": "Teller",
    }
}


def client(password):
    token = UsernameToken(NAME, password, use_digest=True)
    return zeep.Client(f"{BASE}/jxchange?wsdl", wsse=token).service


def err_code(fault):
    codes = fault.detail.findall(f".//{{{NS}}}ErrCode")
    return codes[0].text if codes else None


print("zeep digest: MFAUsrInq with a PasswordDigest", flush=True)
svc = client(KEY)
usr = svc.MFAUsrInq(MsgRqHdr=HDR, UsrName="zed")
assert usr.UsrName == "zed", usr

print("zeep digest: a digest of another key is refused (7010)", flush=True)
try:
    client(KEY + "x").MFAUsrInq(MsgRqHdr=HDR, UsrName="zed")
    raise AssertionError("a wrong digest was accepted")
except zeep.exceptions.Fault as f:
    assert err_code(f) == "7010", etree.tostring(f.detail)

print("zeep digest: OOBValidate in recipient mode", flush=True)
oob = svc.OOBValidate(MsgRqHdr=HDR, ConsmRecipId="zed", AlrtName="Login", OOBModeType="TwoWay")
assert oob.RsStat == "Success" and len(oob.OTP) == 6, oob
try:
    svc.OOBValidate(MsgRqHdr=HDR, ConsmRecipId="zed", AlrtName="Login", PubVer=7)
    raise AssertionError("an unknown PubVer was accepted")
except zeep.exceptions.Fault as f:
    assert err_code(f) == "3124", etree.tostring(f.detail)
print(f"session: {oob.AlrtPkgId} {oob.OTP}")
print("all steps passed")
