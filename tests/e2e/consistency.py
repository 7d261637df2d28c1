#!/usr/bin/python3
"""consistency.py — the OCSP/CRL property test of issue 13, client side (python3-cryptography).

Writes an OpenSSL CA database with every status and revocation reason `openssl ca`
can write, mutates it the way operators do, and checks what revokd answers for every
serial on both channels against each other and against what the database means under
revokd's contract (BRIEF.md "Contracts"). Certificates need not exist: OCSP requests
are built by hand from the issuer's hashes and the serial, so serial 0 and 20-octet
serials with the top bit set are asked for exactly as a client would.

  consistency.py gen    --out index.txt --model model.json [--seed N]
  consistency.py mutate --index index.txt --model model.json [--seed N]
  consistency.py undo   --model model.json   (serials of the round-2 undo attempts)
  consistency.py check  --url URL --issuer ca.pem --signer ocsp.pem --model model.json
                        --label L [--oracle-crl openssl-ca-gencrl.crl]

`check` prints one "PASS: ..." or "FAIL: ..." line per assertion (the bash test counts
them) and exits 0; it exits 2 only when it cannot run at all.
"""

import argparse
import base64
import collections
import datetime
import hashlib
import json
import os
import random
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_ocsp import http, load_cert, same_key, spki_key_bits, verify_sig  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.x509 import ocsp  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID  # noqa: E402

# The reasons column as apps/ca.c make_revocation_str() writes it, and what each means
# to a relying party under the contract: (status, reason name or None) on BOTH channels.
# cryptography's ReasonFlags names are used for reasons.
HOLD_OIDS = ["1.2.840.10040.2.1", "1.2.840.10040.2.2", "1.2.840.10040.2.3",
             "holdInstructionReject"]  # -crl_hold takes an OID or an OpenSSL name
PLAIN = {  # -crl_reason WORD
    "unspecified": None,  # expressed by omission on both channels
    "keyCompromise": "key_compromise",
    "CACompromise": "ca_compromise",
    "affiliationChanged": "affiliation_changed",
    "superseded": "superseded",
    "cessationOfOperation": "cessation_of_operation",
    "certificateHold": "certificate_hold",
}
HASH_OIDS = {  # AlgorithmIdentifier OID contents
    "sha1": bytes.fromhex("2b0e03021a"),
    "sha256": bytes.fromhex("608648016503040201"),
}
EXAMPLES = 6


def utctime(t):
    """The time format `openssl ca` writes: UTCTime before 2050, GeneralizedTime after."""
    d = datetime.datetime.utcfromtimestamp(t)
    return d.strftime("%y%m%d%H%M%SZ") if d.year < 2050 else d.strftime("%Y%m%d%H%M%SZ")


def gentime(t):
    return datetime.datetime.utcfromtimestamp(t).strftime("%Y%m%d%H%M%SZ")


def epoch(dt):
    return int(dt.replace(tzinfo=datetime.timezone.utc).timestamp())


# --- the database ----------------------------------------------------------------

def entry_line(e):
    return "\t".join([e["type"], e["expiry"], e["rev"], e["serial"], "unknown", e["subject"]])


def meaning(e):
    """(status, reason, revocation time) that the database line means under the contract."""
    if e["type"] in ("V", "E"):
        return "good", None, None
    parts = e["rev"].split(",", 2)
    t = parse_dbtime(parts[0])
    if len(parts) == 1:
        return "revoked", None, t
    word = parts[1]
    if word == "removeFromCRL":
        return "good", None, None  # a released hold
    if word == "holdInstruction":
        return "revoked", "certificate_hold", t
    if word == "keyTime":
        return "revoked", "key_compromise", t
    if word == "CAkeyTime":
        return "revoked", "ca_compromise", t
    return "revoked", PLAIN[word], t


def parse_dbtime(s):
    fmt = "%y%m%d%H%M%SZ" if len(s) == 13 else "%Y%m%d%H%M%SZ"
    return epoch(datetime.datetime.strptime(s, fmt))


def gen_serials(rng, n):
    """Hex serials as BN_bn2hex writes them: whole octets, no leading 00 octet except
    serial 0 ("00"); 1..20 octets, about half with the top bit set."""
    out = ["00", "01", "7F", "80", "FF", "0100", "8000", "7F" + "FF" * 19,
           "FF" * 20, "80" + "00" * 19]
    seen = set(out)
    while len(out) < n:
        ln = rng.choice([1, 2, 3, 4, 8, 9, 10, 16, 17, 19, 20])
        first = rng.randrange(0x80, 0x100) if rng.random() < 0.5 else rng.randrange(1, 0x80)
        s = "%02X" % first + "".join("%02X" % rng.randrange(256) for _ in range(ln - 1))
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def cmd_gen(a):
    rng = random.Random(a.seed)
    now = int(time.time())
    day = 86400
    kinds = (
        [("V", None)] * 70 + [("V-2050", None)] * 10 + [("E", None)] * 20
        + [("R", "")] * 15 + [("R", "unspecified")] * 15
        + [("R", w) for w in ("keyCompromise", "CACompromise", "affiliationChanged",
                              "superseded", "cessationOfOperation") for _ in range(10)]
        + [("R", "certificateHold")] * 10 + [("R", "holdInstruction")] * 16
        + [("R", "removeFromCRL")] * 10 + [("R", "keyTime")] * 10
        + [("R", "CAkeyTime")] * 10
        + [("R-expired", w) for w in ("", "unspecified", "keyCompromise", "superseded",
                                      "holdInstruction")]
        + [("R-recent", w) for w in ("", "unspecified", "keyCompromise", "CACompromise",
                                     "affiliationChanged", "superseded",
                                     "cessationOfOperation", "certificateHold",
                                     "holdInstruction", "keyTime", "CAkeyTime")] * 2
    )
    serials = gen_serials(rng, len(kinds))
    # serial 0 (first in the list) is a revoked certificate: the case where a CRL
    # failing open hurts most
    entries = []
    pairs = list(kinds)
    pairs.remove(("R", "keyCompromise"))
    rng.shuffle(pairs)
    pairs.insert(0, ("R", "keyCompromise"))
    for i, (serial, (typ, word)) in enumerate(zip(serials, pairs)):
        e = {"serial": serial, "subject": "/O=revokd consistency/CN=c%d.revokd.test" % i}
        expired = typ in ("E", "R-expired")
        exp = now - rng.randrange(day, 300 * day) if expired else now + rng.randrange(30 * day, 800 * day)
        if typ == "V-2050":
            exp = epoch(datetime.datetime(2050, 1, 1)) + rng.randrange(0, 3000 * day)
        e["expiry"] = utctime(exp)
        if typ.startswith("V") or typ == "E":
            e["type"], e["rev"], e["kind"] = typ[0], "", typ
        else:
            if typ == "R-recent":  # inside the default 1 h backdate: thisUpdate must not precede it
                rt = now - rng.randrange(60, 40 * 60)
            elif typ == "R-expired":
                rt = exp - rng.randrange(day, 30 * day)
            else:
                rt = now - rng.randrange(2 * 3600, 400 * day)
            rev = utctime(rt)
            if word == "holdInstruction":
                rev += ",holdInstruction," + rng.choice(HOLD_OIDS)
            elif word in ("keyTime", "CAkeyTime"):
                rev += ",%s,%s" % (word, gentime(rt - rng.randrange(3600, 30 * day)))
            elif word:
                rev += "," + word
            e["type"], e["rev"] = "R", rev
            e["kind"] = "R %s%s" % (word or "(no reason)", "" if typ == "R" else
                                    " (%s)" % typ[2:])
        st, rs, t = meaning(e)
        e["want"] = {"status": st, "reason": rs, "time": t}
        entries.append(e)
    write_db(a.out, entries)
    save_model(a.model, entries)
    kinds_n = collections.Counter(e["kind"] for e in entries)
    print("wrote %d entries, serials of %d..%d octets, kinds: %s" % (
        len(entries), min(len(e["serial"]) // 2 for e in entries),
        max(len(e["serial"]) // 2 for e in entries),
        ", ".join("%s=%d" % kv for kv in sorted(kinds_n.items()))))


def write_db(path, entries):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for e in entries:
            f.write(entry_line(e) + "\n")
    os.replace(tmp, path)


def save_model(path, entries):
    with open(path, "w") as f:
        json.dump(entries, f, indent=0)


def load_model(path):
    with open(path) as f:
        return json.load(f)


def cmd_mutate(a):
    """Operators' edits, each with what must follow from it under the contract."""
    rng = random.Random(a.seed)
    entries = load_model(a.model)
    now = int(time.time())

    def pick(pred, n):
        c = [e for e in entries if pred(e) and not e.get("mutated")]
        rng.shuffle(c)
        for e in c[:n]:
            e["mutated"] = True
        return c[:n]

    def is_kind(*ks):
        return lambda e: e["kind"] in ks

    valid = is_kind("V")
    # 1. fresh revocations, recent: thisUpdate must not precede them
    words = ["", "unspecified", "keyCompromise", "CACompromise", "affiliationChanged",
             "superseded", "cessationOfOperation", "keyTime", "CAkeyTime"]
    for i, e in enumerate(pick(valid, 18)):
        w = words[i % len(words)]
        rt = now - 30 - i
        rev = utctime(rt)
        if w in ("keyTime", "CAkeyTime"):
            rev += ",%s,%s" % (w, gentime(rt - 7200))
        elif w:
            rev += "," + w
        e.update(type="R", rev=rev, kind="round 2: V -> R %s" % (w or "(no reason)"))
        st, rs, t = meaning(e)
        e["want"] = {"status": st, "reason": rs, "time": t}
    # 2. new holds
    for i, e in enumerate(pick(valid, 8)):
        rev = utctime(now - 20 - i) + (",certificateHold" if i % 2 else
                                       ",holdInstruction," + HOLD_OIDS[i % 4])
        e.update(type="R", rev=rev, kind="round 2: V -> hold")
        st, rs, t = meaning(e)
        e["want"] = {"status": st, "reason": rs, "time": t}
    held = lambda e: e["want"]["reason"] == "certificate_hold" and not e["kind"].startswith(  # noqa: E731
        "round 2") and "expired" not in e["kind"]
    # 3. a hold released: R ...,removeFromCRL (RFC 5280 5.3.1) -> good, off the CRL
    for e in pick(held, 6):
        e.update(rev=utctime(now - 10) + ",removeFromCRL",
                 kind="round 2: hold released (removeFromCRL)")
        e["want"] = {"status": "good", "reason": None, "time": None}
    # 4. a hold made permanent, same date
    for e in pick(held, 3):
        e.update(rev=e["rev"].split(",")[0] + ",keyCompromise",
                 kind="round 2: hold -> keyCompromise")
        e["want"] = {"status": "revoked", "reason": "key_compromise", "time": e["want"]["time"]}
    # 5. never undo: R -> V, R -> E, and removeFromCRL on a revocation that is no hold
    perm = lambda e: (e["want"]["status"] == "revoked"  # noqa: E731
                      and e["want"]["reason"] != "certificate_hold"
                      and not e["kind"].startswith("round 2") and "expired" not in e["kind"])
    for e in pick(perm, 6):
        e.update(type="V", rev="", kind="round 2: R -> V (undo refused)")  # want unchanged
    for e in pick(perm, 2):
        e.update(type="E", rev="", kind="round 2: R -> E (undo refused)")
    for e in pick(perm, 3):
        e.update(rev=e["rev"].split(",")[0] + ",removeFromCRL",
                 kind="round 2: revoked -> removeFromCRL (undo refused)")
    # 6. a certificate released earlier (round 1 removeFromCRL = good) is now revoked
    for e in pick(is_kind("R removeFromCRL"), 3):
        e.update(rev=utctime(now - 5) + ",superseded",
                 kind="round 2: released -> superseded")
        e["want"] = {"status": "revoked", "reason": "superseded", "time": now - 5}
    write_db(a.index, entries)
    save_model(a.model, entries)
    n = collections.Counter(e["kind"] for e in entries if e["kind"].startswith("round 2"))
    print("mutated: " + ", ".join("%s=%d" % kv for kv in sorted(n.items())))


# --- OCSP by hand ------------------------------------------------------------------

def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        ln = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + ln + content


def der_int_content(serial_hex):
    b = bytes.fromhex(serial_hex).lstrip(b"\x00") or b"\x00"
    return b"\x00" + b if b[0] & 0x80 else b


def ocsp_request(issuer, serial_hex, halg):
    h = getattr(hashlib, halg)
    name_hash = h(issuer.subject.public_bytes()).digest()
    key_hash = h(spki_key_bits(issuer)).digest()
    alg = tlv(0x30, tlv(0x06, HASH_OIDS[halg]) + b"\x05\x00")
    certid = tlv(0x30, alg + tlv(0x04, name_hash) + tlv(0x04, key_hash)
                 + tlv(0x02, der_int_content(serial_hex)))
    return tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, certid)))), name_hash, key_hash


def ask(url, issuer, serial_hex, halg, method):
    req, nh, kh = ocsp_request(issuer, serial_hex, halg)
    if method == "GET":
        code, _, body = http(url.rstrip("/") + "/" + urllib.parse.quote(
            base64.b64encode(req).decode(), safe=""))
    else:
        code, _, body = http(url, req)
    return code, body, nh, kh


def examine(body, nh, kh, serial_hex, halg, issuer, signer_want):
    """Parses and verifies one response. Returns (answer dict, [problems])."""
    probs = []
    try:
        r = ocsp.load_der_ocsp_response(body)
    except ValueError as e:
        return None, ["does not parse: %s" % e]
    if r.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return None, ["responseStatus %s" % r.response_status.name]
    singles = list(r.responses)
    if len(singles) != 1:
        probs.append("%d SingleResponses" % len(singles))
    if (r.serial_number != int(serial_hex, 16) or r.hash_algorithm.name != halg
            or r.issuer_name_hash != nh or r.issuer_key_hash != kh):
        probs.append("CertID differs from the request (serial %x, %s)" % (
            r.serial_number, r.hash_algorithm.name))
    signer = None
    for c in r.certificates:
        if (r.responder_key_hash is not None
                and hashlib.sha1(spki_key_bits(c)).digest() == r.responder_key_hash) or (
                r.responder_name is not None and r.responder_name == c.subject):
            signer = c
    if signer is None:
        probs.append("no embedded certificate matches the ResponderID")
    else:
        try:
            verify_sig(signer.public_key(), r.signature, r.tbs_response_bytes,
                       r.signature_hash_algorithm)
        except InvalidSignature:
            probs.append("signature does not verify")
        if signer != signer_want:
            probs.append("signed by %s" % signer.subject.rfc4514_string())
        if not same_key(signer, issuer):
            try:
                verify_sig(issuer.public_key(), signer.signature, signer.tbs_certificate_bytes,
                           signer.signature_hash_algorithm)
            except InvalidSignature:
                probs.append("signer not signed by the CA")
            try:
                eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
                if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
                    probs.append("signer lacks OCSPSigning")
            except x509.ExtensionNotFound:
                probs.append("signer has no EKU")
    ans = {
        "status": r.certificate_status.name.lower(),
        "reason": r.revocation_reason.name if r.revocation_reason else None,
        "time": epoch(r.revocation_time) if r.revocation_time else None,
        "this_update": epoch(r.this_update),
        "next_update": epoch(r.next_update) if r.next_update else None,
        # reason present at all (an explicit unspecified (0) counts as present)
        "reason_present": r.revocation_reason is not None,
    }
    return ans, probs


def crl_entries(crl):
    out = {}
    dup = []
    for rc in crl:
        s = rc.serial_number
        try:
            reason = rc.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
        except x509.ExtensionNotFound:
            reason = None
        try:
            inv = epoch(rc.extensions.get_extension_for_class(x509.InvalidityDate).value
                        .invalidity_date)
        except x509.ExtensionNotFound:
            inv = None
        if s in out:
            dup.append(s)
        out[s] = {"reason": reason, "time": epoch(rc.revocation_date), "invalidity": inv}
    return out, dup


class Report:
    def __init__(self, label):
        self.label = label

    def result(self, ok, msg, bad=()):
        bad = list(bad)
        if ok and not bad:
            print("PASS: [%s] %s" % (self.label, msg))
        else:
            more = " ..." if len(bad) > EXAMPLES else ""
            print("FAIL: [%s] %s: %d offending: %s%s" % (
                self.label, msg, len(bad), "; ".join(str(b) for b in bad[:EXAMPLES]), more))


def hx(s):
    """A serial spelled as `openssl ca` writes it in index.txt."""
    h = "%X" % s
    return h if len(h) % 2 == 0 else "0" + h


def fmt_t(t):
    return "-" if t is None else datetime.datetime.utcfromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def cmd_check(a):
    R = Report(a.label)
    entries = load_model(a.model)
    issuer = load_cert(a.issuer)
    signer_want = load_cert(a.signer)
    by_int = {int(e["serial"], 16): e for e in entries}

    # every serial, SHA-1 CertID, POST
    ans, fails, bad_sig, bad_id = {}, [], [], []
    for e in entries:
        code, body, nh, kh = ask(a.url, issuer, e["serial"], "sha1", "POST")
        if code != 200:
            fails.append("%s: HTTP %d" % (e["serial"], code))
            continue
        an, probs = examine(body, nh, kh, e["serial"], "sha1", issuer, signer_want)
        if an is None:
            fails.append("%s (%s): %s" % (e["serial"], e["kind"], probs[0]))
            continue
        for p in probs:
            (bad_id if "CertID" in p or "SingleResponses" in p else bad_sig).append(
                "%s: %s" % (e["serial"], p))
        ans[int(e["serial"], 16)] = an
    R.result(True, "OCSP POST (SHA-1 CertID) for all %d serials answers successful" % len(entries),
             fails)
    R.result(True, "every response verifies: signature, signer = ocsp.pem issued by the CA "
             "with EKU OCSPSigning", bad_sig)
    R.result(True, "every response's CertID matches its request (hash, issuer hashes, serial)",
             bad_id)

    # a sample with GET and SHA-256 CertIDs answers the same
    sample = [e for e in entries if e["serial"] in ("00", "FF" * 20, "80" + "00" * 19)]
    rng = random.Random(7)
    sample += rng.sample(entries, min(30, len(entries)))
    diff = []
    for e in sample:
        s = int(e["serial"], 16)
        for halg, method in (("sha1", "GET"), ("sha256", "POST"), ("sha256", "GET")):
            code, body, nh, kh = ask(a.url, issuer, e["serial"], halg, method)
            an, probs = examine(body, nh, kh, e["serial"], halg, issuer, signer_want) \
                if code == 200 else (None, ["HTTP %d" % code])
            base = ans.get(s)
            if an is None or probs:
                diff.append("%s %s/%s: %s" % (e["serial"], method, halg, "; ".join(probs)))
            elif base is None or any(an[k] != base[k] for k in ("status", "reason", "time")):
                diff.append("%s %s/%s: %s/%s/%s vs POST/sha1 %s" % (
                    e["serial"], method, halg, an["status"], an["reason"], fmt_t(an["time"]),
                    base and base["status"]))
    R.result(True, "GET and SHA-256 CertIDs (%d serials x 3) verify and answer what POST/SHA-1 "
             "does" % len(sample), diff)

    # the CRL, as clients download it
    code, ctype, der = http(a.url.rstrip("/") + "/crl/" + a.crl_name + ".crl")
    if code != 200:
        R.result(False, "GET /crl/%s.crl" % a.crl_name, ["HTTP %d" % code])
        return
    try:
        crl = x509.load_der_x509_crl(der)
    except ValueError as e:
        R.result(False, "CRL parses", [str(e)])
        return
    crl_ok = crl.is_signature_valid(issuer.public_key()) and crl.issuer == issuer.subject
    cl, dup = crl_entries(crl)
    R.result(crl_ok and crl.next_update is not None,
             "CRL (%d entries) is signed by the CA, names it as issuer, has nextUpdate" % len(cl),
             ["duplicate serial %s" % hx(s) for s in dup])

    ocsp_rev = {s for s, an in ans.items() if an["status"] == "revoked"}
    crl_set = set(cl)
    R.result(True, "set of serials the CRL lists (%d) == set OCSP answers revoked (%d)" % (
        len(crl_set), len(ocsp_rev)),
        ["%s in CRL only (%s)" % (hx(s), by_int[s]["kind"] if s in by_int else "not in the database")
         for s in sorted(crl_set - ocsp_rev)]
        + ["%s revoked in OCSP only (%s)" % (hx(s), by_int[s]["kind"]) for s in sorted(ocsp_rev - crl_set)])
    both = sorted(ocsp_rev & crl_set)
    R.result(True, "same reason on both channels (%d serials; both absent or equal)" % len(both),
             ["%s (%s): OCSP %s, CRL %s" % (hx(s), by_int[s]["kind"], ans[s]["reason"], cl[s]["reason"])
              for s in both if ans[s]["reason"] != cl[s]["reason"]])
    R.result(True, "same revocation time on both channels (%d serials)" % len(both),
             ["%s: OCSP %s, CRL %s" % (hx(s), fmt_t(ans[s]["time"]), fmt_t(cl[s]["time"]))
              for s in both if ans[s]["time"] != cl[s]["time"]])
    R.result(True, "every revoked response has thisUpdate >= revocationTime (%d responses)" %
             len(ocsp_rev),
             ["%s (%s): thisUpdate %s < revocationTime %s" % (
                 hx(s), by_int[s]["kind"], fmt_t(ans[s]["this_update"]), fmt_t(ans[s]["time"]))
              for s in sorted(ocsp_rev) if ans[s]["this_update"] < ans[s]["time"]])
    rel = [e for e in entries if e["kind"] in ("R removeFromCRL",
                                               "round 2: hold released (removeFromCRL)")]
    R.result(bool(rel), "released holds (removeFromCRL, %d) are good in OCSP and absent from the "
             "CRL" % len(rel),
             ["%s: OCSP %s, %s" % (e["serial"], ans.get(int(e["serial"], 16), {}).get("status"),
                                   "in CRL" if int(e["serial"], 16) in cl else "not in CRL")
              for e in rel if ans.get(int(e["serial"], 16), {}).get("status") != "good"
              or int(e["serial"], 16) in cl])
    unsp = [e for e in entries if e["rev"] and e["want"]["status"] == "revoked"
            and e["want"]["reason"] is None]
    R.result(bool(unsp), "unspecified / no reason (%d) carries no reason on either channel" %
             len(unsp),
             ["%s (%s): OCSP reason %s, CRL reason %s" % (
                 e["serial"], e["kind"], ans.get(int(e["serial"], 16), {}).get("reason"),
                 cl.get(int(e["serial"], 16), {}).get("reason"))
              for e in unsp if ans.get(int(e["serial"], 16), {}).get("reason_present")
              or cl.get(int(e["serial"], 16), {}).get("reason") is not None])

    # each kind of line against what it means (catches both channels agreeing on a wrong answer)
    by_kind = collections.defaultdict(list)
    for e in entries:
        by_kind[e["kind"]].append(e)
    for kind in sorted(by_kind):
        bad = []
        w0 = by_kind[kind][0]["want"]
        for e in by_kind[kind]:
            s, w = int(e["serial"], 16), e["want"]
            an = ans.get(s)
            got_o = (an["status"], an["reason"], an["time"]) if an else ("no answer", None, None)
            got_c = ("revoked", cl[s]["reason"], cl[s]["time"]) if s in cl else ("good", None, None)
            want = (w["status"], w["reason"], w["time"])
            if got_o != want or got_c != want:
                bad.append("%s: want %s/%s/%s, OCSP %s/%s/%s, CRL %s/%s/%s" % (
                    e["serial"], want[0], want[1], fmt_t(want[2]), got_o[0], got_o[1],
                    fmt_t(got_o[2]), got_c[0], got_c[1], fmt_t(got_c[2])))
        if all((e["want"]["status"], e["want"]["reason"]) == (w0["status"], w0["reason"])
               for e in by_kind[kind]):
            says = w0["status"] + ((" " + (w0["reason"] or "without reason"))
                                   if w0["status"] == "revoked" else "")
        else:
            says = "the revocation stored before (status, reason, time)"
        R.result(True, "%s (%d): both channels say %s" % (kind, len(by_kind[kind]), says), bad)

    # an independent oracle: `openssl ca -gencrl` on the same database
    if a.oracle_crl:
        with open(a.oracle_crl, "rb") as f:
            data = f.read()
        oc = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
        ol, _ = crl_entries(oc)
        bad = []
        for e in entries:
            s = int(e["serial"], 16)
            plain_r = e["type"] == "R" and ",removeFromCRL" not in e["rev"]
            if not plain_r:
                continue
            if s not in ol:
                bad.append("%s: openssl ca lists no entry" % e["serial"])
                continue
            if s not in cl:
                bad.append("%s (%s): openssl ca lists it, revokd's CRL does not" % (e["serial"],
                                                                                   e["kind"]))
                continue
            want = dict(ol[s])
            if want["reason"] == "unspecified":
                want["reason"] = None  # BR 7.2.2: unspecified by omission
            if e["want"] != meaning(e):
                continue  # a hold turned permanent keeps its own history; compared above
            if cl[s] != want:
                bad.append("%s (%s): openssl %s/%s/inv %s, revokd %s/%s/inv %s" % (
                    e["serial"], e["kind"], want["reason"], fmt_t(want["time"]),
                    fmt_t(want["invalidity"]), cl[s]["reason"], fmt_t(cl[s]["time"]),
                    fmt_t(cl[s]["invalidity"])))
        extra = [s for s in ol if s not in by_int]
        R.result(True, "revokd's CRL entries equal `openssl ca -gencrl`'s for every R line "
                 "(date, reason, invalidityDate; unspecified omitted)",
                 bad + ["openssl lists unknown serial %s" % hx(s) for s in extra])


def cmd_undo(a):
    """Serials whose round-2 line asks to undo a revocation (the indexer must name them)."""
    for e in load_model(a.model):
        if "undo refused" in e["kind"]:
            print(e["serial"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--out", required=True)
    g.add_argument("--model", required=True)
    g.add_argument("--seed", type=int, default=13)
    m = sub.add_parser("mutate")
    m.add_argument("--index", required=True)
    m.add_argument("--model", required=True)
    m.add_argument("--seed", type=int, default=14)
    c = sub.add_parser("check")
    c.add_argument("--url", required=True)
    c.add_argument("--issuer", required=True)
    c.add_argument("--signer", required=True)
    c.add_argument("--model", required=True)
    c.add_argument("--crl-name", required=True)
    c.add_argument("--label", required=True)
    c.add_argument("--oracle-crl")
    u = sub.add_parser("undo")
    u.add_argument("--model", required=True)
    a = ap.parse_args()
    {"gen": cmd_gen, "mutate": cmd_mutate, "check": cmd_check, "undo": cmd_undo}[a.cmd](a)


if __name__ == "__main__":
    main()
