#!/usr/bin/env python3
"""Random-serial flood for tests/e2e/test_livesign.sh, with python3-cryptography.

For SECONDS, alternately POSTs a request for a random serial of our CA (never
listed: each costs the signer a signature unless the responder refuses it) and
the pre-signed request in GOOD_REQ. Prints
  elapsed S unknown N trylater N other N good N
where `other` counts any answer that is neither a signed unknown nor tryLater
(there must be none) and `good` the pre-signed answers that came back good.

usage: live_flood.py URL GOOD_REQ SECONDS
"""
import os
import sys
import time
import urllib.request

from cryptography.x509 import ocsp

from live_multi import enc


def post(url, body):
    r = urllib.request.Request(url, data=body, headers={"Content-Type": "application/ocsp-request"})
    return ocsp.load_der_ocsp_response(urllib.request.urlopen(r, timeout=10).read())


def request(name_hash, key_hash, serial):
    """A one-CertID SHA-1 OCSPRequest, DER by hand (cryptography 38 cannot build by hash)."""
    alg = enc(0x30, bytes.fromhex("06052b0e03021a") + bytes.fromhex("0500"))
    n = serial.to_bytes((serial.bit_length() + 8) // 8, "big")  # room for a positive sign
    certid = enc(0x30, alg + enc(0x04, name_hash) + enc(0x04, key_hash) + enc(0x02, n))
    return enc(0x30, enc(0x30, enc(0x30, enc(0x30, certid))))


def main():
    url, good = sys.argv[1], open(sys.argv[2], "rb").read()
    secs = float(sys.argv[3])
    real = ocsp.load_der_ocsp_request(good)
    unknown = trylater = other = good_ok = 0
    t0 = time.time()
    while time.time() - t0 < secs:
        serial = int.from_bytes(os.urandom(8), "big") | 1
        r = post(url, request(real.issuer_name_hash, real.issuer_key_hash, serial))
        if r.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL and \
                r.certificate_status == ocsp.OCSPCertStatus.UNKNOWN and r.serial_number == serial:
            unknown += 1
        elif r.response_status == ocsp.OCSPResponseStatus.TRY_LATER:
            trylater += 1
        else:
            other += 1
        g = post(url, good)
        if g.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL and \
                g.certificate_status == ocsp.OCSPCertStatus.GOOD:
            good_ok += 1
    print(f"elapsed {time.time() - t0:.2f} unknown {unknown} trylater {trylater} "
          f"other {other} good {good_ok}")


if __name__ == "__main__":
    main()
