#!/usr/bin/env bash
# mk_sources.sh DIR — real files for the source readers' tests (test_src_*.c) and
# tests/e2e/test_sources.sh, made with the openssl CLI (`openssl ca`, `-gencrl`)
# and Python cryptography (the delta CRL with a Delta CRL Indicator, and CRLs
# openssl ca cannot be asked to get wrong). Into DIR:
#   ca.pem ca.key ca.cnf index.txt ...   the CA ("/CN=revokd source test CA", EC P-256)
#   other.pem                             another CA (other name)
#   fake.pem                              a CA with OUR CA's name but another key
#   l1..l6.pem                            leaves of ca (serials 1001..1006), l1 l2 l3 revoked
#                                         in index.txt: l1 keyCompromise, l2 certificateHold,
#                                         l3 keyCompromise with keyTime (invalidity date)
#   foreign.pem                           a leaf of other
#   impostor.pem                          a leaf of fake (names our CA as issuer), serial 2001
#   certdir/                              l1 l3 l4 PEM, l2 DER, l5 PEM+key in one file,
#                                         foreign, impostor, junk.pem, .hidden, sub/
#   full.crl (PEM) full.der               openssl ca -gencrl: l1 l2 l3; CRL Number 4096 (0x1000)
#   delta.crl                             delta over 4096 (number 4097): l2 removeFromCRL,
#                                         l4 superseded with invalidity date, l6 keyCompromise
#   delta-badbase.crl                     Delta CRL Indicator 4097 > full's number
#   delta-oldnum.crl                      its own CRL Number 4096, not above the full's
#   expired.crl                           nextUpdate in the past
#   fakesig.crl                           openssl ca -gencrl of fake (our name, wrong key)
#   other.crl                             another CA's CRL
#   indirect.crl                          an entry with certificateIssuer
#   certmate/                             CertMate tree: <usage>/<id>/cert.crt + metadata.json
#       api-mtls/cert-001  l4 good           vpn/cert-002  l5 revoked keyCompromise
#       vpn/cert-003  l6 certificateHold     other/cert-004  l3 no metadata.json (malformed)
#       other/cert-005  foreign              other/cert-006  l1, serial_number mismatch (malformed)
#       other/cert-007  l2 metadata not JSON (malformed)
set -eu
D=$1
export OPENSSL_CONF=/dev/null
mkdir -p "$D"
cd "$D"
LOG=$D/mk.log
: >"$LOG"
run() { "$@" >>"$LOG" 2>&1 || { echo "mk_sources: FAILED: $*" >&2; tail -n 20 "$LOG" >&2; exit 1; }; }

# ca_setup NAME SUBJECT: self-signed CA NAME.pem/.key with its openssl ca database in NAME.db/
ca_setup() {
    local n=$1 subj=$2
    mkdir -p "$n.db/newcerts"
    : >"$n.db/index.txt"
    printf 'unique_subject = no\n' >"$n.db/index.txt.attr"
    printf '1001\n' >"$n.db/serial"
    printf '1000\n' >"$n.db/crlnumber"
    run openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$n.key" \
        -out "$n.pem" -days 3650 -subj "$subj" -addext basicConstraints=critical,CA:true \
        -addext keyUsage=critical,keyCertSign,cRLSign -addext subjectKeyIdentifier=hash
    cat >"$n.cnf" <<CNF
[ ca ]
default_ca = CA_default
[ CA_default ]
dir              = $D/$n.db
database         = \$dir/index.txt
new_certs_dir    = \$dir/newcerts
certificate      = $D/$n.pem
private_key      = $D/$n.key
serial           = \$dir/serial
crlnumber        = \$dir/crlnumber
default_md       = sha256
default_days     = 365
default_crl_days = 7
policy           = policy_any
unique_subject   = no
x509_extensions  = leaf
crl_extensions   = crl_ext
[ policy_any ]
commonName = supplied
[ leaf ]
basicConstraints = CA:false
keyUsage = digitalSignature
authorityKeyIdentifier = keyid
[ crl_ext ]
authorityKeyIdentifier = keyid
CNF
}
ca_setup ca "/CN=revokd source test CA"
ca_setup other "/CN=revokd other CA"
ca_setup fake "/CN=revokd source test CA"
# The impostor's serial is one our CA never issued: a CertID names only issuer and
# serial, so an impostor sharing l1's serial would be indistinguishable from l1.
printf '2001\n' >fake.db/serial
run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key
run openssl req -new -key leaf.key -subj "/CN=leaf" -out leaf.csr
issue() { run openssl ca -config "$1.cnf" -batch -notext -in leaf.csr -out "$2"; }
for i in 1 2 3 4 5 6; do issue ca "l$i.pem"; done
issue other foreign.pem
issue fake impostor.pem
run openssl ca -config ca.cnf -revoke l1.pem -crl_reason keyCompromise
run openssl ca -config ca.cnf -revoke l2.pem -crl_hold holdInstructionReject
run openssl ca -config ca.cnf -revoke l3.pem -crl_compromise 20240102030405Z
cp ca.db/index.txt index.txt
run openssl ca -config ca.cnf -gencrl -out full.crl
run openssl crl -in full.crl -outform DER -out full.der
run openssl ca -config fake.cnf -gencrl -out fakesig.crl
run openssl ca -config other.cnf -gencrl -out other.crl

mkdir -p certdir/sub
cp l1.pem l3.pem l4.pem foreign.pem impostor.pem certdir/
run openssl x509 -in l2.pem -outform DER -out certdir/l2.der
cat l5.pem leaf.key >certdir/l5-with-key.pem
printf 'not a certificate\n' >certdir/junk.pem
printf 'garbage' >certdir/.hidden
cp l6.pem certdir/sub/

serial_dec() { "${PY:-/usr/bin/python3}" -c 'import sys; print(int(sys.argv[1], 16))' "$(openssl x509 -in "$1" -noout -serial | cut -d= -f2)"; }
# cm USAGE ID CERT REVOKED_JSON [SERIAL]
cm() {
    local dir=certmate/$1/$2 serial=${5:-}
    mkdir -p "$dir"
    [ -n "$3" ] && cp "$3" "$dir/cert.crt"
    [ -n "$4" ] || return 0
    [ -n "$serial" ] || serial=$(serial_dec "$3")
    cat >"$dir/metadata.json" <<JSON
{
  "type": "client_certificate",
  "identifier": "$2",
  "common_name": "user@example.com",
  "serial_number": "$serial",
  "key_usage": ["digitalSignature", "keyEncipherment"],
  "created_at": "2024-10-30T18:00:00Z",
  "expires_at": "2025-10-30T18:00:00Z",
  "cert_usage": "$1",
  "notes": "caf\u00e9 \"test\"",
  "revocation": $4,
  "renewal": {"renewal_enabled": true, "renewal_threshold_days": 30, "last_renewed_at": null}
}
JSON
}
cm api-mtls cert-001 l4.pem '{"revoked": false, "revoked_at": null, "reason_revoked": null}'
cm vpn cert-002 l5.pem '{"revoked": true, "revoked_at": "2024-11-02T10:20:30Z", "reason_revoked": "keyCompromise"}'
cm vpn cert-003 l6.pem '{"revoked": true, "revoked_at": "2024-11-03T00:00:00.123456+01:00", "reason_revoked": "certificate_hold"}'
cm other cert-004 l3.pem ''
cm other cert-005 foreign.pem '{"revoked": false, "revoked_at": null, "reason_revoked": null}'
cm other cert-006 l1.pem '{"revoked": false, "revoked_at": null, "reason_revoked": null}' 12345
cm other cert-007 l2.pem '{"revoked": false,'

"${PY:-/usr/bin/python3}" - "$D" <<'PY' >>"$LOG" 2>&1 || { echo "mk_sources: python CRLs failed" >&2; tail -n 20 "$LOG" >&2; exit 1; }
import datetime as dt, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
D = sys.argv[1]
ld = lambda p: open(f"{D}/{p}", "rb").read()
ca = x509.load_pem_x509_certificate(ld("ca.pem"))
key = serialization.load_pem_private_key(ld("ca.key"), None)
full = x509.load_pem_x509_crl(ld("full.crl"))
num = full.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
ser = lambda p: x509.load_pem_x509_certificate(ld(p)).serial_number
now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

def crl(name, entries, number=None, base=None, last=None, nxt=None, extra_entry_ext=None):
    b = x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
    b = b.last_update(last or now - dt.timedelta(hours=1))
    b = b.next_update(nxt or now + dt.timedelta(days=7))
    if number is not None:
        b = b.add_extension(x509.CRLNumber(number), False)
    if base is not None:
        b = b.add_extension(x509.DeltaCRLIndicator(base), True)
    for s, reason, inv in entries:
        r = x509.RevokedCertificateBuilder().serial_number(s).revocation_date(now - dt.timedelta(minutes=30))
        if reason is not None:
            r = r.add_extension(x509.CRLReason(reason), False)
        if inv is not None:
            r = r.add_extension(x509.InvalidityDate(inv), False)
        if extra_entry_ext is not None:
            r = r.add_extension(extra_entry_ext, True)
        b = b.add_revoked_certificate(r.build())
    c = b.sign(key, hashes.SHA256())
    open(f"{D}/{name}", "wb").write(c.public_bytes(serialization.Encoding.PEM))
    return c

R = x509.ReasonFlags
inv = dt.datetime(2024, 5, 6, 7, 8, 9)
crl("delta.crl", [(ser("l2.pem"), R.remove_from_crl, None), (ser("l4.pem"), R.superseded, inv),
                  (ser("l6.pem"), R.key_compromise, None)], number=num + 1, base=num)
crl("delta-badbase.crl", [(ser("l4.pem"), R.superseded, None)], number=num + 2, base=num + 1)
crl("delta-oldnum.crl", [(ser("l4.pem"), R.superseded, None)], number=num, base=num)
crl("expired.crl", [(ser("l1.pem"), R.key_compromise, None)], number=num + 5,
    last=now - dt.timedelta(days=9), nxt=now - dt.timedelta(days=2))
crl("indirect.crl", [(ser("l1.pem"), R.key_compromise, None)], number=num + 6,
    extra_entry_ext=x509.CertificateIssuer([x509.DirectoryName(ca.subject)]))
PY
echo "mk_sources: done" >>"$LOG"
