#!/usr/bin/python3
"""check_ocsp.py — an OCSP/CRL client independent of OpenSSL's CLI, for revokd's e2e tests.

Uses python3-cryptography (Debian 12: 38.x) to build requests, parse responses and
CRLs and verify their signatures itself. Prints one line "OK: ..." and exits 0, or
"FAIL: reason; reason" and exits 1.

  check_ocsp.py ocsp --issuer ca.pem --cert leaf.pem (--url URL [--get] | --response R.der)
                [--hash sha1|sha256] [--nonce] --expect good|revoked|unknown|unauthorized|
                malformed_request [--reason key_compromise] [--signer ocsp.pem] [--save R.der]
  check_ocsp.py crl --crl X.crl --issuer ca.pem [--revoked CERT:REASON]... [--not-revoked CERT]...
                (the OK line says crl_number=N)
  check_ocsp.py flip-sig --kind ocsp|crl --in X --out Y   (negative controls: corrupt the signature)
"""

import argparse
import base64
import datetime
import hashlib
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

SKEW = datetime.timedelta(minutes=5)
HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256}


class Problems:
    def __init__(self):
        self.items = []

    def add(self, msg):
        self.items.append(msg)

    def check(self, cond, msg):
        if not cond:
            self.add(msg)
        return cond

    def finish(self, ok_msg):
        if self.items:
            print("FAIL: " + "; ".join(self.items))
            sys.exit(1)
        print("OK: " + ok_msg)
        sys.exit(0)


def die(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def now_utc():
    return datetime.datetime.utcnow()  # cryptography 38 returns naive UTC datetimes


def load_cert(path):
    with open(path, "rb") as f:
        data = f.read()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def der_read(buf, off):
    """One DER TLV at off: returns (tag, content_start, content_end)."""
    tag = buf[off]
    ln = buf[off + 1]
    off += 2
    if ln & 0x80:
        n = ln & 0x7F
        ln = int.from_bytes(buf[off:off + n], "big")
        off += n
    return tag, off, off + ln


def spki_key_bits(cert):
    """The subjectPublicKey BIT STRING contents (without the unused-bits byte)."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    _, start, _ = der_read(spki, 0)          # SEQUENCE
    _, _, alg_end = der_read(spki, start)    # AlgorithmIdentifier
    tag, bs, be = der_read(spki, alg_end)    # BIT STRING
    if tag != 0x03:
        raise ValueError("unexpected SubjectPublicKeyInfo")
    return spki[bs + 1:be]


def verify_sig(pub, signature, data, hash_alg):
    """Raises InvalidSignature unless signature over data verifies with pub."""
    if isinstance(pub, rsa.RSAPublicKey):
        pub.verify(signature, data, padding.PKCS1v15(), hash_alg)
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(signature, data, ec.ECDSA(hash_alg))
    elif isinstance(pub, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        pub.verify(signature, data)
    else:
        raise InvalidSignature("unsupported key type %s" % type(pub).__name__)


def same_key(a, b):
    return spki_key_bits(a) == spki_key_bits(b)


def http(url, body=None, timeout=10):
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        req.add_header("Content-Type", "application/ocsp-request")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()
    except OSError as e:
        die("HTTP %s %s: %s" % ("POST" if body is not None else "GET", url, e))


def cmd_ocsp(a):
    p = Problems()
    issuer = load_cert(a.issuer)
    cert = load_cert(a.cert)
    halg = HASHES[a.hash]()
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, halg)
    nonce = None
    if a.nonce:
        nonce = os.urandom(16)
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    req = builder.build()
    req_der = req.public_bytes(serialization.Encoding.DER)

    if a.url:
        if a.get:
            b64 = base64.b64encode(req_der).decode()
            url = a.url.rstrip("/") + "/" + urllib.parse.quote(b64, safe="")
            status, ctype, der = http(url)
        else:
            status, ctype, der = http(a.url, req_der)
        p.check(status == 200, "HTTP status %d, want 200" % status)
        p.check(ctype.split(";")[0].strip().lower() == "application/ocsp-response",
                "Content-Type %r, want application/ocsp-response" % ctype)
        if a.save:
            with open(a.save, "wb") as f:
                f.write(der)
    else:
        with open(a.response, "rb") as f:
            der = f.read()

    try:
        resp = ocsp.load_der_ocsp_response(der)
    except ValueError as e:
        p.add("response does not parse: %s (%d bytes: %s)" % (e, len(der), der[:16].hex()))
        p.finish("")

    want_status = {
        "unauthorized": ocsp.OCSPResponseStatus.UNAUTHORIZED,
        "malformed_request": ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
    }.get(a.expect, ocsp.OCSPResponseStatus.SUCCESSFUL)
    if resp.response_status != want_status:
        p.add("responseStatus %s, want %s" % (resp.response_status.name, want_status.name))
        p.finish("")
    if want_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        p.check(der == bytes([0x30, 0x03, 0x0A, 0x01, want_status.value]),
                "error response is not the bare 5-byte OCSPResponse: %s" % der.hex())
        p.finish("responseStatus %s (%s)" % (want_status.name, der.hex()))

    # the SingleResponse: exactly one, for the CertID we asked about
    singles = list(resp.responses)
    p.check(len(singles) == 1, "%d SingleResponses, want 1" % len(singles))
    p.check(resp.serial_number == cert.serial_number,
            "serial %x, want %x" % (resp.serial_number, cert.serial_number))
    p.check(resp.hash_algorithm.name == halg.name,
            "CertID hash %s, want %s" % (resp.hash_algorithm.name, halg.name))
    p.check(resp.issuer_name_hash == req.issuer_name_hash,
            "issuerNameHash %s, want %s" % (resp.issuer_name_hash.hex(), req.issuer_name_hash.hex()))
    p.check(resp.issuer_key_hash == req.issuer_key_hash,
            "issuerKeyHash %s, want %s" % (resp.issuer_key_hash.hex(), req.issuer_key_hash.hex()))

    status_map = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
                  "unknown": ocsp.OCSPCertStatus.UNKNOWN}
    want = status_map[a.expect]
    p.check(resp.certificate_status == want,
            "certStatus %s, want %s" % (resp.certificate_status.name, want.name))
    if want == ocsp.OCSPCertStatus.REVOKED == resp.certificate_status:
        p.check(resp.revocation_time is not None, "revoked without revocationTime")
        if a.reason:
            got = resp.revocation_reason.name if resp.revocation_reason else None
            p.check(got == a.reason, "revocationReason %s, want %s" % (got, a.reason))

    # times
    now = now_utc()
    p.check(resp.this_update <= now + SKEW, "thisUpdate %s is in the future" % resp.this_update)
    p.check(resp.produced_at <= now + SKEW, "producedAt %s is in the future" % resp.produced_at)
    if p.check(resp.next_update is not None, "no nextUpdate (RFC 5019 requires it)"):
        p.check(resp.next_update > now, "nextUpdate %s has passed" % resp.next_update)
        p.check(resp.next_update > resp.this_update, "nextUpdate not after thisUpdate")

    # nonce: a pre-signed responder may leave it out, but must never echo a wrong one
    try:
        rn = resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        p.check(nonce is not None and rn == nonce, "response nonce does not match the request")
    except x509.ExtensionNotFound:
        pass

    # the signer: embedded, identified by the ResponderID, authorized for this issuer
    certs = list(resp.certificates)
    signer = None
    for c in certs:
        if resp.responder_key_hash is not None:
            if hashlib.sha1(spki_key_bits(c)).digest() == resp.responder_key_hash:
                signer = c
        elif resp.responder_name == c.subject:
            signer = c
    if signer is None and (
            resp.responder_key_hash == hashlib.sha1(spki_key_bits(issuer)).digest()
            or resp.responder_name == issuer.subject):
        signer = issuer  # the CA signs itself (then embedding its certificate is optional)
    if signer is None:
        p.add("no embedded certificate matches the ResponderID (%d certs embedded)" % len(certs))
        p.finish("")
    if a.signer:
        want_signer = load_cert(a.signer)
        p.check(signer == want_signer, "signer is %s, want %s" % (
            signer.subject.rfc4514_string(), want_signer.subject.rfc4514_string()))
    p.check(len(certs) >= 1, "no responder certificate embedded in the response")

    try:
        verify_sig(signer.public_key(), resp.signature, resp.tbs_response_bytes,
                   resp.signature_hash_algorithm)
    except InvalidSignature:
        p.add("response signature does NOT verify with the signer's public key")

    delegated = not same_key(signer, issuer)
    if delegated:
        p.check(signer.issuer == issuer.subject, "signer not issued by the CA (issuer %s)" %
                signer.issuer.rfc4514_string())
        try:
            verify_sig(issuer.public_key(), signer.signature, signer.tbs_certificate_bytes,
                       signer.signature_hash_algorithm)
        except InvalidSignature:
            p.add("signer certificate is NOT signed by the CA key")
        try:
            eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            p.check(ExtendedKeyUsageOID.OCSP_SIGNING in eku, "signer lacks EKU OCSPSigning")
        except x509.ExtensionNotFound:
            p.add("signer has no extendedKeyUsage (needs OCSPSigning)")
        p.check(signer.not_valid_before <= now + SKEW and signer.not_valid_after > now,
                "signer certificate not valid now")

    reason = ""
    if want == ocsp.OCSPCertStatus.REVOKED and resp.revocation_reason:
        reason = "/" + resp.revocation_reason.name
    p.finish("%s%s serial=%x hash=%s signer=%s (%s) signature verified, nextUpdate %s" % (
        resp.certificate_status.name.lower(), reason, resp.serial_number, halg.name,
        signer.subject.rfc4514_string(), "delegated, issued by CA, EKU OCSPSigning"
        if delegated else "the CA itself", resp.next_update))


def reason_of(entry):
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
    except x509.ExtensionNotFound:
        return None


def cmd_crl(a):
    p = Problems()
    issuer = load_cert(a.issuer)
    with open(a.crl, "rb") as f:
        data = f.read()
    try:
        crl = (x509.load_pem_x509_crl(data) if b"-----BEGIN" in data
               else x509.load_der_x509_crl(data))
    except ValueError as e:
        die("CRL does not parse: %s" % e)

    p.check(crl.issuer == issuer.subject, "CRL issuer %s, want %s" % (
        crl.issuer.rfc4514_string(), issuer.subject.rfc4514_string()))
    p.check(crl.is_signature_valid(issuer.public_key()),
            "CRL signature does NOT verify with the CA public key")
    now = now_utc()
    p.check(crl.last_update <= now + SKEW, "thisUpdate %s is in the future" % crl.last_update)
    if p.check(crl.next_update is not None, "no nextUpdate"):
        p.check(crl.next_update > now, "nextUpdate %s has passed" % crl.next_update)
    number = None
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        p.add("no CRL Number extension")
    try:
        aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ski = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest
        try:
            ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            pass
        p.check(aki.key_identifier == ski, "AKI keyIdentifier %s, want the CA's SKI %s" % (
            aki.key_identifier.hex() if aki.key_identifier else None, ski.hex()))
    except x509.ExtensionNotFound:
        p.add("no Authority Key Identifier extension")

    for spec in a.revoked:
        path, _, reason = spec.partition(":")
        serial = load_cert(path).serial_number
        e = crl.get_revoked_certificate_by_serial_number(serial)
        if p.check(e is not None, "serial %x (%s) not in the CRL" % (serial, path)):
            if reason:
                got = reason_of(e)
                p.check(got == reason, "serial %x reason %s, want %s" % (serial, got, reason))
    for path in a.not_revoked:
        serial = load_cert(path).serial_number
        p.check(crl.get_revoked_certificate_by_serial_number(serial) is None,
                "serial %x (%s) is listed but must not be" % (serial, path))
    p.finish("crl_number=%s by %s, signature verified, %d entries, nextUpdate %s" % (
        number, crl.issuer.rfc4514_string(), len(list(crl)), crl.next_update))


def cmd_flip_sig(a):
    with open(a.inp, "rb") as f:
        der = bytearray(f.read())
    if a.kind == "ocsp":
        sig = ocsp.load_der_ocsp_response(bytes(der)).signature
    else:
        sig = x509.load_der_x509_crl(bytes(der)).signature
    i = bytes(der).find(sig)
    if i < 0:
        die("signature not found in the DER")
    der[i + len(sig) - 1] ^= 0x01
    with open(a.out, "wb") as f:
        f.write(der)
    print("OK: flipped a bit of the signature")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("ocsp")
    o.add_argument("--issuer", required=True)
    o.add_argument("--cert", required=True)
    src = o.add_mutually_exclusive_group(required=True)
    src.add_argument("--url")
    src.add_argument("--response")
    o.add_argument("--get", action="store_true", help="RFC 5019 GET instead of POST")
    o.add_argument("--hash", choices=sorted(HASHES), default="sha1")
    o.add_argument("--nonce", action="store_true")
    o.add_argument("--expect", required=True, choices=[
        "good", "revoked", "unknown", "unauthorized", "malformed_request"])
    o.add_argument("--reason", help="ReasonFlags name, e.g. key_compromise")
    o.add_argument("--signer", help="the certificate that must have signed")
    o.add_argument("--save")
    c = sub.add_parser("crl")
    c.add_argument("--crl", required=True)
    c.add_argument("--issuer", required=True)
    c.add_argument("--revoked", action="append", default=[], metavar="CERT[:REASON]")
    c.add_argument("--not-revoked", action="append", default=[], metavar="CERT")
    f = sub.add_parser("flip-sig")
    f.add_argument("--kind", choices=["ocsp", "crl"], required=True)
    f.add_argument("--in", dest="inp", required=True)
    f.add_argument("--out", required=True)
    a = ap.parse_args()
    {"ocsp": cmd_ocsp, "crl": cmd_crl, "flip-sig": cmd_flip_sig}[a.cmd](a)


if __name__ == "__main__":
    main()
