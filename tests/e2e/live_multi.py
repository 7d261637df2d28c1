#!/usr/bin/env python3
"""Two CertIDs in one OCSP request, checked with python3-cryptography.

cryptography's OCSPRequestBuilder takes one certificate, so the request is built
from two single-certificate requests it makes: their Request elements are joined
into one requestList (plain DER, no other library). The answer must be one
signed BasicOCSPResponse whose SingleResponses match each certificate with the
status given on the command line, signed by a certificate the CA issued.

usage: live_multi.py URL ISSUER CERT1 STATUS1 CERT2 STATUS2 [--sha256]
Prints one line per answer; exits 0 only when everything holds.
"""
import sys
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp


def tlv(data, off):
    """(tag, header length, content length) of the DER element at off."""
    tag, first = data[off], data[off + 1]
    if first < 0x80:
        return tag, 2, first
    n = first & 0x7F
    return tag, 2 + n, int.from_bytes(data[off + 2:off + 2 + n], "big")


def enc(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(b)]) + b + content


def request_element(der):
    """The first Request of an OCSPRequest's requestList."""
    _, h, _ = tlv(der, 0)  # OCSPRequest
    off = h
    _, h, _ = tlv(der, off)  # TBSRequest
    off += h
    _, h, _ = tlv(der, off)  # requestList
    off += h
    _, h, n = tlv(der, off)  # Request
    return der[off:off + h + n]


def verify(key, sig, data, alg):
    """Raises unless sig is key's signature of data (cryptography 38 has no helper)."""
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(sig, data, padding.PKCS1v15(), alg)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(sig, data, ec.ECDSA(alg))
    else:
        key.verify(sig, data)


def load(path):
    return x509.load_pem_x509_certificate(open(path, "rb").read())


def main():
    args = [a for a in sys.argv[1:] if a != "--sha256"]
    alg = hashes.SHA256() if "--sha256" in sys.argv else hashes.SHA1()
    url, issuer = args[0], load(args[1])
    certs = [(load(args[2]), args[3]), (load(args[4]), args[5])]
    reqs = []
    for cert, _ in certs:
        r = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, alg).build()
        reqs.append(request_element(r.public_bytes(serialization.Encoding.DER)))
    body = enc(0x30, enc(0x30, enc(0x30, b"".join(reqs))))
    http = urllib.request.Request(url, data=body,
                                  headers={"Content-Type": "application/ocsp-request"})
    der = urllib.request.urlopen(http, timeout=10).read()
    resp = ocsp.load_der_ocsp_response(der)
    ok = True
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        print(f"response status {resp.response_status}")
        return 1
    singles = list(resp.responses)
    if len(singles) != 2:
        print(f"{len(singles)} SingleResponses, expected 2")
        ok = False
    for (cert, want), single in zip(certs, singles):
        got = single.certificate_status.name.lower()
        match = single.serial_number == cert.serial_number and \
            single.issuer_key_hash == ocsp.OCSPRequestBuilder().add_certificate(
                cert, issuer, alg).build().issuer_key_hash
        print(f"serial {cert.serial_number:X}: {got} (want {want}), CertID matches: {match}")
        ok = ok and got == want and match
    signer = resp.certificates[0] if resp.certificates else issuer
    try:
        if signer != issuer:  # a delegated signer: the CA must have issued it
            verify(issuer.public_key(), signer.signature, signer.tbs_certificate_bytes,
                   signer.signature_hash_algorithm)
        verify(signer.public_key(), resp.signature, resp.tbs_response_bytes,
               resp.signature_hash_algorithm)
        print("signature: verified")
    except Exception as e:  # noqa: BLE001 - any failure is a failed check
        print(f"signature: FAILED ({e!r})")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
