#!/usr/bin/env bash
# End-to-end: partitioned CRLs (issue 9 item 2). A CA issues certificates with
# `openssl ca`, each with the CRL Distribution Point of its shard computed from
# the next serial as docs/operations.md says; some are revoked; crlgen --once
# writes the whole CRL and 4 shards (span 2), full and delta.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_crl_shards.sh   (ctest sets both)
#
# Checked with independent clients: every shard and shard delta parses in
# openssl crl, Python cryptography and certtool; each carries a critical Issuing
# Distribution Point naming its own URL (the delta the same as its base); the
# shards together list exactly the revoked set (index.txt's R lines, which is
# the whole CRL's list, which is the store's revoked index), each serial once
# and in the shard of the formula; openssl verify -crl_check with a shard
# refuses a revoked certificate of that shard, accepts a good one, and does not
# take another shard's CRL for it; the responder serves each shard.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=sh
N=4
SPAN=2
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
CRLGEN=$BUILD/revokd-crlgen

echo "e2e: build $BUILD, temp $T"
need_programs "$IDX" "$RSP" "$CRLGEN" /usr/bin/certtool

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
A=$T/pki
make_pki "$A" "$NAME" "a PKI"

CONF=$T/revokd.conf
cat >"$CONF" <<EOF
[store]
path = store

[responder]
listen = 127.0.0.1:$PORT
backend = $E2E_BACKEND

[crlgen]
out_dir = crl
url = $URL/crl

[issuer $NAME]
ca_cert        = pki/ca.pem
index          = pki/index.txt
signer_cert    = pki/ocsp.pem
signer_key     = pki/ocsp.key
crl_key        = pki/ca.key
crlnumber      = pki/crlnumber
crl_shards     = $N
crl_shard_span = $SPAN
EOF

# --- issue 12 certificates, each naming its shard's CRL ---------------------------------
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/x.key" 2>/dev/null
openssl req -new -key "$T/x.key" -subj "/CN=shard-leaf" -out "$T/x.csr" -config /dev/null 2>/dev/null
ok=1
for ((i = 1; i <= 12; i++)); do
    serial=$(cat "$A/serial")
    k=$(((16#$serial / SPAN) % N + 1))
    cat >"$T/ext.cnf" <<EOF
[leaf]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = URI:$URL/crl/shard/$NAME/$k.crl
EOF
    openssl ca -config "$A/openssl.cnf" -batch -notext -extfile "$T/ext.cnf" -extensions leaf \
        -in "$T/x.csr" -out "$T/c$i.pem" >>"$T/issue.log" 2>&1 || ok=
    echo "$k" >"$T/c$i.shard"
done
if [ -n "$ok" ]; then pass "openssl ca issued 12 certificates with their shard's CRL DP"; else fail "openssl ca" "$(cat "$T/issue.log")"; finish; fi
for i in 1 2 4 5 7 8 11; do
    openssl ca -config "$A/openssl.cnf" -revoke "$T/c$i.pem" -crl_reason keyCompromise >>"$T/revoke.log" 2>&1 || ok=
done
if [ -n "$ok" ]; then pass "revoked 7 of them"; else fail "openssl ca -revoke" "$(cat "$T/revoke.log")"; fi

run_logged indexer 120 env -C / "$IDX" -c "$CONF" --once
RC=$?
if [ "$RC" -eq 0 ]; then pass "revokd-indexer --once"; else fail "indexer (exit $RC)" "$(cat "$T/indexer.log")"; finish; fi
run_logged crlgen 120 env -C / "$CRLGEN" -c "$CONF" --once
RC=$?
missing=
for ((k = 1; k <= N; k++)); do
    for f in "crl/shard/$NAME/$k.crl" "crl/shard/$NAME/$k.crl.pem" "crl/delta/shard/$NAME/$k.crl" "crl/delta/shard/$NAME/$k.crl.pem"; do
        [ -s "$T/$f" ] || missing="$missing $f"
    done
done
if [ "$RC" -eq 0 ] && [ -z "$missing" ]; then
    pass "crlgen --once: exit 0, $N shards, full and delta, DER and PEM"
else
    fail "crlgen --once writes every shard (exit $RC, missing:$missing)" "$(cat "$T/crlgen.log")"
    finish
fi

for ((k = 1; k <= N; k++)); do
    for f in "$T/crl/shard/$NAME/$k.crl" "$T/crl/delta/shard/$NAME/$k.crl"; do
        rel=${f#"$T/"}
        out=$(openssl crl -inform DER -in "$f" -noout -text -CAfile "$A/chain.pem" 2>&1)
        expect "openssl crl: $rel verifies, critical IDP naming shard $k" "$out" \
            '+verify OK' '+X509v3 Issuing Distribution Point: critical' \
            "+URI:$URL/crl/shard/$NAME/$k.crl\$" "+URI:$URL/crl/delta/shard/$NAME/$k.crl\$"
        out=$(certtool --crl-info --inder --infile "$f" 2>&1)
        expect "certtool --crl-info parses $rel" "rc=$?
$out" '+^rc=0$' '+Version: 2'
    done
done

# Python: shards vs the revoked set, the formula, IDPs, bases.
out=$("$PY" - "$T" "$NAME" "$N" "$SPAN" "$URL" "$A/ca.pem" "$A/index.txt" <<'PYEOF'
import sys
from cryptography import x509
from cryptography.x509.oid import ExtensionOID
T, name, n, span, url, ca_path, index = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
ca = x509.load_pem_x509_certificate(open(ca_path, "rb").read())
load = lambda p: x509.load_der_x509_crl(open(p, "rb").read())
bad = []
revoked = {int(l.split("\t")[3], 16) for l in open(index) if l.startswith("R\t")}
whole = load("%s/crl/%s.crl" % (T, name))
whole_set = {r.serial_number for r in whole}
if whole_set != revoked:
    bad.append("whole CRL %s != index.txt revoked %s" % (sorted(whole_set), sorted(revoked)))
try:
    whole.extensions.get_extension_for_oid(ExtensionOID.ISSUING_DISTRIBUTION_POINT)
    bad.append("the whole CRL has an IDP")
except x509.ExtensionNotFound:
    pass
seen = []
num = whole.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
for k in range(1, n + 1):
    full = load("%s/crl/shard/%s/%d.crl" % (T, name, k))
    delta = load("%s/crl/delta/shard/%s/%d.crl" % (T, name, k))
    for what, c in (("full", full), ("delta", delta)):
        if not c.is_signature_valid(ca.public_key()):
            bad.append("shard %d %s: signature" % (k, what))
        idp = c.extensions.get_extension_for_oid(ExtensionOID.ISSUING_DISTRIBUTION_POINT)
        uris = [g.value for g in idp.value.full_name]
        if not idp.critical or uris != ["%s/crl/shard/%s/%d.crl" % (url, name, k)]:
            bad.append("shard %d %s: IDP %r critical=%s" % (k, what, uris, idp.critical))
    if full.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number != num:
        bad.append("shard %d: CRL Number differs from the whole CRL's" % k)
    base = delta.extensions.get_extension_for_oid(ExtensionOID.DELTA_CRL_INDICATOR).value.crl_number
    if base != num:
        bad.append("shard %d delta: base %d != %d" % (k, base, num))
    for r in full:
        seen.append(r.serial_number)
        if (r.serial_number // span) % n + 1 != k:
            bad.append("serial %x in shard %d, formula says %d" % (r.serial_number, k, (r.serial_number // span) % n + 1))
if sorted(seen) != sorted(revoked):
    bad.append("shards list %s, revoked set is %s" % (sorted(seen), sorted(revoked)))
for b in bad:
    print("FAIL:", b)
if not bad:
    print("OK: %d revoked serials in %d shards, each once, CRL %d" % (len(seen), n, num))
PYEOF
)
expect "Python cryptography: shards = index.txt's revoked set = the whole CRL, each serial once, in its formula's shard; IDPs; bases" "$out" '+^OK: ' '-FAIL'

# openssl verify with one shard: scope through the certificate's CRL DP.
for i in 1 3; do
    k=$(cat "$T/c$i.shard")
    openssl crl -inform DER -in "$T/crl/shard/$NAME/$k.crl" -out "$T/s$k.pem"
    other=$((k % N + 1))
    openssl crl -inform DER -in "$T/crl/shard/$NAME/$other.crl" -out "$T/s$other.pem"
    out=$(openssl verify -crl_check -CAfile "$A/chain.pem" -CRLfile "$T/s$k.pem" "$T/c$i.pem" 2>&1)
    rc=$?
    if [ "$i" = 1 ]; then
        expect "openssl verify -crl_check with shard $k: c1 (revoked, shard $k) refused" "rc=$rc
$out" '+certificate revoked' '-^rc=0$'
    else
        expect "openssl verify -crl_check with shard $k: c3 (good, shard $k) OK" "rc=$rc
$out" '+^rc=0$'
    fi
    out=$(openssl verify -crl_check -CAfile "$A/chain.pem" -CRLfile "$T/s$other.pem" "$T/c$i.pem" 2>&1)
    rc=$?
    expect "openssl verify with another shard's CRL ($other) for c$i: refused as out of scope" "rc=$rc
$out" '-^rc=0$' '+different CRL scope'
done

start_bg responder env -C / "$RSP" -c "$CONF"
listens responder "revokd-responder listens"
for ((k = 1; k <= N; k++)); do
    for kind in "" "delta/"; do
        code=$(curl -s --max-time 10 -o "$T/got.crl" -w '%{http_code}' "$URL/crl/${kind}shard/$NAME/$k.crl")
        if [ "$code" = 200 ] && cmp -s "$T/got.crl" "$T/crl/${kind}shard/$NAME/$k.crl"; then
            pass "GET /crl/${kind}shard/$NAME/$k.crl: the published bytes"
        else
            fail "GET /crl/${kind}shard/$NAME/$k.crl ($code)"
        fi
    done
done
for bad in "shard/$NAME/0.crl" "shard/$NAME/$((N + 1)).crl" "shard/$NAME/01.crl" "shard//1.crl" "shard/$NAME/x.crl"; do
    code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$URL/crl/$bad")
    expect "GET /crl/$bad -> 404" "$code" '+^404$'
done

# Deltas per shard: crlgen's loop, then c3 (good, its shard k3) revoked: only
# shard k3's delta (and the whole delta) list it, and base + delta of that
# shard refuse it in openssl verify -use_deltas.
k3=$(cat "$T/c3.shard")
sed -i 's/^url = .*/&\ndelta_debounce = 1s/' "$CONF"
start_bg crlgen-loop env -C / "$CRLGEN" -c "$CONF"
for ((i = 0; i < 100; i++)); do
    grep -q "delta CRL .* on base" "$T/crlgen-loop.log" && break
    sleep 0.1
done
sleep 0.3
openssl crl -inform DER -in "$T/crl/shard/$NAME/$k3.crl" -out "$T/base3.pem"
C3_SERIAL=$(serial_of "$T/c3.pem")
openssl ca -config "$A/openssl.cnf" -revoke "$T/c3.pem" -crl_reason superseded >>"$T/revoke.log" 2>&1
run_logged indexer-2 120 env -C / "$IDX" -c "$CONF" --once
listed=
for ((i = 0; i < 200; i++)); do
    if openssl crl -inform DER -in "$T/crl/delta/shard/$NAME/$k3.crl" -noout -text 2>/dev/null | grep -q "Serial Number: $C3_SERIAL\$"; then
        listed=1
        break
    fi
    sleep 0.05
done
if [ -n "$listed" ]; then pass "shard $k3's delta lists c3 after openssl ca -revoke"; else fail "shard $k3's delta lists c3 within 10 s" "$(cat "$T/crlgen-loop.log")"; fi
others=
for ((k = 1; k <= N; k++)); do
    [ "$k" = "$k3" ] && continue
    openssl crl -inform DER -in "$T/crl/delta/shard/$NAME/$k.crl" -noout -text | grep -q "Serial Number: $C3_SERIAL\$" && others="$others $k"
done
if [ -z "$others" ]; then pass "no other shard's delta lists c3"; else fail "other shards' deltas list c3:$others"; fi
openssl crl -inform DER -in "$T/crl/delta/shard/$NAME/$k3.crl" -out "$T/delta3.pem"
cat "$T/base3.pem" "$T/delta3.pem" >"$T/bd3.pem"
out=$(openssl verify -crl_check -use_deltas -CAfile "$A/chain.pem" -CRLfile "$T/bd3.pem" "$T/c3.pem" 2>&1)
rc=$?
expect "openssl verify -use_deltas with shard $k3's base + delta: c3 refused" "rc=$rc
$out" '+certificate revoked' '-^rc=0$'
out=$(openssl verify -crl_check -CAfile "$A/chain.pem" -CRLfile "$T/base3.pem" "$T/c3.pem" 2>&1)
rc=$?
expect "shard $k3's base alone: c3 OK (revoked only in the delta)" "rc=$rc
$out" '+^rc=0$'

finish
