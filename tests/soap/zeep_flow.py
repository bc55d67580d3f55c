"""A jXchange consumer nobody here wrote: zeep builds its client from tokend's live WSDL
and runs the whole token flow over SOAP (and tokend's own user, phone, hold and explain
operations: MFAUsrAdd, MFAUsrInq, MFAUsrPhoneMod, MFAUsrHoldLift, MFAExplainInq), then sends the seed's own request envelope byte
for byte and checks the answer has the seed answer's shape.

Run by tests/integration/soap_zeep.rs (which makes the venv, starts the server and the
keys):  python zeep_flow.py BASE_URL FLOW_KEY SEED_KEY SEED_DIR
Exit status 0 when every step holds; otherwise the failing step's traceback.
"""

import base64
import hashlib
import hmac
import struct
import sys
import time
from pathlib import Path

import requests
import zeep
from lxml import etree
from zeep.plugins import HistoryPlugin
from zeep.wsse.username import UsernameToken

BASE, FLOW_KEY, SEED_KEY, SEED_DIR = sys.argv[1:5]
NS = "http://jackhenry.com/jxchange/TPG/2008"
HDR = {
    "jXchangeHdr": {
        "AuditUsrId": "teller7",
        "AuditWsId": "ws-12",
        "ConsumerName": "FirstBank",
        "ConsumerProd": "Teller",
        "jXLogTrackingId": "zeep-flow",
        "InstRtId": "003003003",
        "ValidConsmName": "FirstBank",
        "ValidConsmProd": "Teller",
    }
}


def step(name):
    print(f"zeep: {name}", flush=True)


def totp(secret_b32, at_step):
    """RFC 6238 SHA1/6/30, as an authenticator app computes it."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", at_step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off : off + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


def now_step():
    """The current step, after waiting out one about to end (no race at a boundary)."""
    into = time.time() % 30
    if 30 - into < 3:
        time.sleep(30 - into + 0.05)
    return int(time.time() // 30)


SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


class Checked:
    """The client's service, each answer's body (or fault detail) validated against the
    WSDL's own schema: what tokend writes is what its WSDL promises, element order too."""

    def __init__(self, client, history):
        wsdl = etree.fromstring(requests.get(f"{BASE}/jxchange?wsdl", timeout=10).content)
        schema = wsdl.find(".//{http://www.w3.org/2001/XMLSchema}schema")
        self.schema = etree.XMLSchema(schema)
        self.client, self.history = client, history

    def __getattr__(self, name):
        def call(**kw):
            try:
                return getattr(self.client.service, name)(**kw)
            finally:
                self.validate()
        return call

    def validate(self):
        env = self.history.last_received["envelope"]
        body = env.find(f"{{{SOAP_NS}}}Body")[0]
        if etree.QName(body).localname == "Fault":
            body = body.find("detail")[0]
        self.schema.assertValid(etree.fromstring(etree.tostring(body)))


def main():
    history = HistoryPlugin()
    client = zeep.Client(f"{BASE}/jxchange?wsdl", wsse=UsernameToken("zeep-flow", FLOW_KEY), plugins=[history])
    svc = Checked(client, history)

    step("MFATokenAdd")
    add = svc.MFATokenAdd(MsgRqHdr=HDR, UsrName="alice", TokenType="Software", PhoneNum="5555550100")
    assert add.UsrTokenStat == "Init", add
    assert add.MsgRsHdr.jXchangeHdr.jXLogTrackingId == "zeep-flow", add.MsgRsHdr
    assert add.Custom is None, add.Custom
    token, secret = add.TokenId, add.Secret

    step("QR code")
    qr = requests.get(f"{BASE}{add.QRCodePng}", headers={"Authorization": f"Bearer {FLOW_KEY}"}, timeout=10)
    assert qr.status_code == 200 and qr.content[:8] == b"\x89PNG\r\n\x1a\n", qr.status_code

    step("MFATokenActv")
    s = now_step()
    actv = svc.MFATokenActv(MsgRqHdr=HDR, TokenId=token, Code=totp(secret, s - 1))
    assert (actv.RsStat, actv.UsrTokenStat) == ("Success", "Act"), actv

    step("MFATokenValidate")
    ok = svc.MFATokenValidate(MsgRqHdr=HDR, UsrName="alice", Code=totp(secret, now_step()))
    assert ok.RsStat == "Success" and ok.LastTrnRcptId, ok

    step("MFATokenInq Upd")
    inq = svc.MFATokenInq(MsgRqHdr=HDR, TokenId=token, UsrName="alice", ActIntent="Upd")
    assert inq.ActIntentKey and inq.MFATokenInqInfo.UsrTokenStat == "Act", inq
    rec = inq.MFATokenInqInfo.MFATokenInqArray.MFATokenInqInfoRec[0]
    assert rec.UsrName == "alice" and rec.LastTrnRcptId == ok.LastTrnRcptId, rec
    # The seed: consumers outside JHA IMS send the token id as UsrName; UsrName or
    # AuthenUsrCred is required (3103 without either).
    ims = svc.MFATokenInq(MsgRqHdr=HDR, TokenId=token, UsrName=token)
    assert ims.TokenId == token, ims
    try:
        svc.MFATokenInq(MsgRqHdr=HDR, TokenId=token)
        raise AssertionError("an inquiry without UsrName or AuthenUsrCred was answered")
    except zeep.exceptions.Fault as f:
        assert err_code(f) == "3103", etree.tostring(f.detail)

    step("MFATokenMod with the ActIntentKey")
    mod = svc.MFATokenMod(MsgRqHdr=HDR, TokenId=token, ActIntentKey=inq.ActIntentKey, UsrName="alice", UsrTokenDesc="zeep phone")
    assert mod.MFATokenInqInfo.MFATokenInqArray.MFATokenInqInfoRec[0].UsrTokenDesc == "zeep phone", mod
    step("a stale ActIntentKey is a fault")
    try:
        svc.MFATokenMod(MsgRqHdr=HDR, TokenId=token, ActIntentKey=inq.ActIntentKey, UsrTokenDesc="again")
        raise AssertionError("a stale key was accepted")
    except zeep.exceptions.Fault as f:
        assert err_code(f) == "7031", etree.tostring(f.detail)

    step("lock by modify, then validation answers Locked with the SMS fallback")
    inq = svc.MFATokenInq(MsgRqHdr=HDR, TokenId=token, UsrName="alice", ActIntent="Upd")
    locked = svc.MFATokenMod(MsgRqHdr=HDR, TokenId=token, ActIntentKey=inq.ActIntentKey, UsrTokenStat="Lock")
    assert locked.MFATokenInqInfo.UsrTokenStat == "Lock", locked
    lk = svc.MFATokenValidate(MsgRqHdr=HDR, UsrName="alice", Code=totp(secret, now_step() + 1))
    assert lk.RsStat == "Locked", lk

    step("OOBValidate TwoWay")
    oob = svc.OOBValidate(MsgRqHdr=HDR, InstRtId="003003003", ConsumerProd="Teller", PhoneNum="5555550100", OOBModeType="TwoWay", UsrName="alice")
    assert oob.RsStat == "Success" and oob.AlrtPkgId and len(oob.OTP) == 6 and oob.Custom is None, oob

    step("OOBVerify")
    ver = svc.OOBVerify(MsgRqHdr=HDR, AlrtPkgId=oob.AlrtPkgId, OTP=oob.OTP)
    assert ver.RsStat == "Success", ver
    st = svc.OOBStatInq(MsgRqHdr=HDR, AlrtPkgId=oob.AlrtPkgId)
    assert st.OOBStat == "Success", st

    step("MFATokenTempPswdInq")
    tmp = svc.MFATokenTempPswdInq(MsgRqHdr=HDR, UsrName="alice", ExpSec=600)
    assert tmp.TempPswd and tmp.UsrName == "alice", tmp

    users_and_explain(svc, token)

    step("MFATokenDel")
    inq = svc.MFATokenInq(MsgRqHdr=HDR, TokenId=token, UsrName=token, ActIntent="Dlt")
    gone = svc.MFATokenDel(MsgRqHdr=HDR, TokenId=token, ActIntentKey=inq.ActIntentKey)
    assert gone.UsrTokenStat == "Del", gone

    step("faults carry the jXchange record")
    try:
        svc.MFATokenInq(MsgRqHdr=HDR, TokenId="no-such-token", UsrName="no-such-token")
        raise AssertionError("an unknown token was found")
    except zeep.exceptions.Fault as f:
        assert err_code(f) == "7020", etree.tostring(f.detail)
    bad = zeep.Client(f"{BASE}/jxchange?wsdl", wsse=UsernameToken("zeep-flow", "tkd_wrong"))
    try:
        bad.service.MFATokenInq(MsgRqHdr=HDR, TokenId=token, UsrName=token)
        raise AssertionError("a wrong key was accepted")
    except zeep.exceptions.Fault as f:
        assert err_code(f) == "7010", etree.tostring(f.detail)

    seed_envelope()
    print("zeep: all steps passed", flush=True)


def users_and_explain(svc, token):
    """tokend's own user operations, and explain of alice's attempts above."""
    step("MFAUsrAdd")
    usr = svc.MFAUsrAdd(MsgRqHdr=HDR, UsrName="bob", PhoneNum="5555550111")
    assert usr.UsrName == "bob" and usr.PhoneNum == "******0111" and usr.Custom is None, usr

    step("MFAUsrInq")
    inq = svc.MFAUsrInq(MsgRqHdr=HDR, UsrName="bob")
    assert inq.PhoneNum == "******0111" and inq.ActIntentKey, inq
    assert inq.SimSwapHoldEndDt is None, inq
    alice = svc.MFAUsrInq(MsgRqHdr=HDR, UsrName="alice")
    assert alice.MFATokenArray.MFATokenRec[0].TokenId == token, alice

    step("MFAUsrPhoneMod with the ActIntentKey, then MFAUsrHoldLift")
    mod = svc.MFAUsrPhoneMod(MsgRqHdr=HDR, UsrName="bob", ActIntentKey=inq.ActIntentKey, PhoneNum="5555550122")
    assert mod.PhoneNum == "******0122" and mod.SimSwapHoldEndDt, mod
    try:
        svc.MFAUsrPhoneMod(MsgRqHdr=HDR, UsrName="bob", ActIntentKey=inq.ActIntentKey, PhoneNum="5555550133")
        raise AssertionError("a stale key changed the phone")
    except zeep.exceptions.Fault as f:
        assert err_code(f) == "7031", etree.tostring(f.detail)
    lifted = svc.MFAUsrHoldLift(MsgRqHdr=HDR, UsrName="bob", Rsn="verified in branch")
    assert lifted.SimSwapHoldEndDt is None, lifted

    step("MFAExplainInq")
    why = svc.MFAExplainInq(MsgRqHdr=HDR, UsrName="alice", Cnt=5)
    attempts = why.AttemptArray.AttemptRec
    assert 0 < len(attempts) <= 5 and all(a.Result and a.Reason for a in attempts), why
    assert why.TokenArray.TokenRec[0].TokenId == token, why
    assert why.TokenArray.TokenRec[0].Bindings.BindingRec[0].UsrName == "alice", why


def err_code(fault):
    codes = fault.detail.findall(f".//{{{NS}}}ErrCode")
    return codes[0].text if codes else None


def shape(elem):
    """An element's shape: its local name and its children's shapes (text ignored)."""
    return (etree.QName(elem).localname, [shape(c) for c in elem if isinstance(c.tag, str)])


def seed_envelope():
    step("the seed's OOBValidate request, byte for byte")
    seed_rq = (Path(SEED_DIR) / "seed-oob-validate-request.xml").read_bytes()
    rs = requests.post(
        f"{BASE}/jxchange",
        data=seed_rq,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": '"http://jackhenry.com/ws/OOBValidate"',
            "Authorization": f"Bearer {SEED_KEY}",
        },
        timeout=10,
    )
    assert rs.status_code == 200, rs.text
    got = etree.fromstring(rs.content)
    want = etree.fromstring((Path(SEED_DIR) / "seed-oob-validate-response.xml").read_bytes().strip())
    body = lambda env: env.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]
    assert shape(body(got)) == shape(body(want)), (shape(body(got)), shape(body(want)))
    assert shape(got[0]) == shape(want[0]), "the Security/Timestamp header"
    wsdl = etree.fromstring(requests.get(f"{BASE}/jxchange?wsdl", timeout=10).content)
    schema = etree.XMLSchema(wsdl.find(".//{http://www.w3.org/2001/XMLSchema}schema"))
    schema.assertValid(etree.fromstring(etree.tostring(body(got))))
    custom = body(got).find(f"{{{NS}}}Custom")
    assert custom.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"


if __name__ == "__main__":
    main()
