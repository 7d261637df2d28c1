#!/usr/bin/env python3
"""gen-certs.py N OUT — N leaf certificates of one EC P-256 CA, for bench/sources.sh.

OUT/ca.pem, OUT/certdir/<i>.pem (a cert_dir) and OUT/certmate/<usage>/<id>/
{cert.crt,metadata.json} (a CertMate store, every 10th revoked), made with
Python cryptography: openssl ca issues about 30 certificates a second, too slow
for the sizes measured here.
"""
import datetime as dt
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

n, out = int(sys.argv[1]), sys.argv[2]
os.makedirs(f"{out}/certdir", exist_ok=True)
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "revokd bench CA")])
now = dt.datetime.now(dt.timezone.utc)
ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
      .public_key(key.public_key()).serial_number(1).not_valid_before(now)
      .not_valid_after(now + dt.timedelta(days=3650))
      .add_extension(x509.BasicConstraints(True, None), True).sign(key, hashes.SHA256()))
with open(f"{out}/ca.pem", "wb") as f:
    f.write(ca.public_bytes(serialization.Encoding.PEM))
leaf_pub = ec.generate_private_key(ec.SECP256R1()).public_key()
for i in range(n):
    serial = 0x100000 + i
    c = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"leaf {i}")]))
         .issuer_name(name).public_key(leaf_pub).serial_number(serial)
         .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
         .sign(key, hashes.SHA256()))
    pem = c.public_bytes(serialization.Encoding.PEM)
    with open(f"{out}/certdir/{i}.pem", "wb") as f:
        f.write(pem)
    d = f"{out}/certmate/{['api-mtls', 'vpn', 'other'][i % 3]}/cert-{i:07d}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/cert.crt", "wb") as f:
        f.write(pem)
    revoked = i % 10 == 0
    meta = {"type": "client_certificate", "identifier": f"cert-{i:07d}",
            "serial_number": str(serial), "created_at": now.isoformat(),
            "revocation": {"revoked": revoked,
                           "revoked_at": now.isoformat() if revoked else None,
                           "reason_revoked": "keyCompromise" if revoked else None}}
    with open(f"{d}/metadata.json", "w") as f:
        json.dump(meta, f, indent=2)
