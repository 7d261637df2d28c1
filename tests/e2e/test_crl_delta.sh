#!/usr/bin/env bash
# End-to-end: delta CRLs (issue 9), with a PKI made by scripts/mkpki.sh, the
# real programs (the indexer following index.txt, crlgen's libev schedule, the
# responder) and independent clients as judges: openssl crl/verify, Python
# cryptography, GnuTLS certtool.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_crl_delta.sh   (ctest sets both)
#
# (a) --once makes a full and a delta CRL per issuer; every file parses in all
#     three clients; the delta's critical Delta CRL Indicator names the full
#     CRL's number, both carry AKI and a Freshest CRL naming the delta's URL,
#     and the delta's number is above the full's (one sequence).
# (b) openssl ca -revoke, picked up by the running indexer, reaches a delta
#     within the debounce; openssl verify -crl_check -use_deltas with the
#     earlier full CRL + that delta refuses the certificate (the full alone
#     still accepts it: it is revoked only in the delta) and accepts a good one.
# (c) a hold released in index.txt becomes removeFromCRL in the next delta,
#     and base + delta accept the certificate again.
# (d) the responder serves /crl/delta/NAME.crl with the published bytes, ETag,
#     Last-Modified, max-age not past nextUpdate, and 304 to If-None-Match.
# (e) an unwritable out_dir keeps the previous files, is logged, counted in
#     /metrics and retried; a full disk (tmpfs) likewise keeps them, leaves no
#     temp file, and the first run with room again publishes all four.
# (f) the CRL Number only grows across runs and across kill -9 mid-run (x20).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=dl
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
CRLGEN=$BUILD/revokd-crlgen

echo "e2e: build $BUILD, temp $T"
need_programs "$IDX" "$RSP" "$CRLGEN" /usr/bin/certtool

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
A=$T/pki
make_pki "$A" "$NAME" "a PKI"
FULL=$T/crl/$NAME.crl
DELTA=$T/crl/delta/$NAME.crl

CONF=$T/revokd.conf
cat >"$CONF" <<EOF
[store]
path = store

[log]
level = info

[indexer]
interval = 1s

[responder]
listen = 127.0.0.1:$PORT
backend = $E2E_BACKEND

[crlgen]
out_dir = crl
url = $URL/crl
delta_debounce = 1s

[issuer $NAME]
ca_cert     = pki/ca.pem
index       = pki/index.txt
signer_cert = pki/ocsp.pem
signer_key  = pki/ocsp.key
crl_key     = pki/ca.key
crlnumber   = pki/crlnumber
digest      = sha256
EOF

# crl_number FILE [-deltaindicator]: decimal CRL Number (or base) openssl reads from a DER CRL.
crl_field() {
    local hex
    hex=$(openssl crl -inform DER -in "$1" -noout -text 2>/dev/null |
        sed -n "/$2/{n;s/^ *\(0x\)\{0,1\}\([0-9A-Fa-f]*\) *$/\2/p}" | head -1)
    [ -n "$hex" ] && echo "$hex"
}
crl_number() { crl_field "$1" 'X509v3 CRL Number:'; }
crl_base() { crl_field "$1" 'X509v3 Delta CRL Indicator: critical'; }
indexer() { run_logged "indexer-$1" 120 env -C / "$IDX" -c "$CONF" --once; RC=$?; }
crlgen() { run_logged "crlgen-$1" 120 env -C / "$CRLGEN" -c "$CONF" --once; RC=$?; }
# delta_lists SERIAL SECS: waits until the published delta lists SERIAL.
delta_lists() {
    local i
    for ((i = 0; i < $2 * 20; i++)); do
        if [ -s "$DELTA" ] && openssl crl -inform DER -in "$DELTA" -noout -text 2>/dev/null |
            grep -q "Serial Number: $1\$"; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}
# pycheck FULL DELTA: Python cryptography's view of the pair, one OK line or FAIL lines.
pycheck() {
    "$PY" - "$1" "$2" "$A/ca.pem" "$URL/crl/delta/$NAME.crl" <<'PYEOF'
import sys
from cryptography import x509
from cryptography.x509.oid import ExtensionOID
full = x509.load_der_x509_crl(open(sys.argv[1], "rb").read())
delta = x509.load_der_x509_crl(open(sys.argv[2], "rb").read())
ca = x509.load_pem_x509_certificate(open(sys.argv[3], "rb").read())
url = sys.argv[4]
bad = []
for what, c in (("full", full), ("delta", delta)):
    if not c.is_signature_valid(ca.public_key()):
        bad.append(what + ": signature")
    aki = c.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    if aki.key_identifier != ski.digest:
        bad.append(what + ": AKI != CA SKI")
    fr = c.extensions.get_extension_for_oid(ExtensionOID.FRESHEST_CRL).value
    uris = [n.value for dp in fr for n in (dp.full_name or [])]
    if uris != [url]:
        bad.append(what + ": Freshest CRL %r" % uris)
try:
    full.extensions.get_extension_for_oid(ExtensionOID.DELTA_CRL_INDICATOR)
    bad.append("full: has a Delta CRL Indicator")
except x509.ExtensionNotFound:
    pass
ind = delta.extensions.get_extension_for_oid(ExtensionOID.DELTA_CRL_INDICATOR)
fn = full.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
dn = delta.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
if not ind.critical:
    bad.append("delta: Delta CRL Indicator not critical")
if ind.value.crl_number != fn:
    bad.append("delta base %d != full number %d" % (ind.value.crl_number, fn))
if dn <= fn:
    bad.append("delta number %d <= full number %d" % (dn, fn))
for b in bad:
    print("FAIL:", b)
if not bad:
    print("OK: full=%d delta=%d base=%d entries=%d/%d" % (fn, dn, ind.value.crl_number, len(full), len(delta)))
PYEOF
}

# --- (a) --once: full + delta, parsed by three clients ---------------------------------
indexer a
if [ "$RC" -eq 0 ]; then pass "revokd-indexer --once"; else fail "revokd-indexer --once (exit $RC)" "$(cat "$T/indexer-a.log")"; finish; fi
crlgen a
if [ "$RC" -eq 0 ] && [ -s "$FULL" ] && [ -s "$FULL.pem" ] && [ -s "$DELTA" ] && [ -s "$DELTA.pem" ]; then
    pass "crlgen --once: exit 0, $NAME.crl(.pem) and delta/$NAME.crl(.pem) published"
else
    fail "crlgen --once publishes full and delta (exit $RC)" "$(ls -lR "$T/crl" 2>&1; cat "$T/crlgen-a.log")"
fi
for f in "$FULL" "$DELTA"; do
    out=$(openssl crl -inform DER -in "$f" -noout -text -CAfile "$A/chain.pem" 2>&1)
    expect "openssl crl: $(basename "$(dirname "$f")")/$(basename "$f") verifies, AKI, CRL Number, Freshest CRL" "$out" \
        '+verify OK' '+X509v3 Authority Key Identifier' '+X509v3 CRL Number' \
        "+URI:$URL/crl/delta/$NAME.crl"
    out=$(openssl crl -in "$f.pem" -noout -hash 2>&1)
    expect "openssl crl reads the PEM twin of $(basename "$f")" "$out" '+^[0-9a-f]{8}$'
    out=$(certtool --crl-info --inder --infile "$f" 2>&1)
    expect "certtool --crl-info parses $(basename "$(dirname "$f")")/$(basename "$f")" "rc=$?
$out" '+^rc=0$' '+Version: 2' '+CRL Number'
done
out=$(openssl crl -inform DER -in "$DELTA" -noout -text 2>&1)
expect "delta: critical Delta CRL Indicator" "$out" '+X509v3 Delta CRL Indicator: critical'
out=$(pycheck "$FULL" "$DELTA" 2>&1)
expect "Python cryptography: signatures, AKI, Freshest CRL, base = full number < delta number" "$out" '+^OK: ' '-FAIL'

# --- (b) a revocation reaches a delta within the debounce --------------------------------
start_bg indexer env -C / "$IDX" -c "$CONF"
start_bg responder env -C / "$RSP" -c "$CONF"
start_bg crlgen env -C / "$CRLGEN" -c "$CONF"
listens responder "revokd-responder listens"
for ((i = 0; i < 100; i++)); do
    grep -q "delta CRL .* on base" "$T/crlgen.log" && break
    sleep 0.1
done
expect "crlgen (loop): full then delta at start" "$(cat "$T/crlgen.log")" '+issuer dl: CRL [0-9]+' '+issuer dl: delta CRL [0-9]+ on base'
sleep 0.3
cp "$FULL" "$T/base.crl"
openssl crl -inform DER -in "$T/base.crl" -out "$T/base.pem"
GOOD_SERIAL=$(serial_of "$A/good.pem")
t0=$(date +%s%N)
if openssl ca -config "$A/openssl.cnf" -revoke "$A/good.pem" -crl_reason keyCompromise >"$T/revoke.log" 2>&1; then
    pass "openssl ca -revoke good.pem (serial $GOOD_SERIAL)"
else
    fail "openssl ca -revoke good.pem" "$(cat "$T/revoke.log")"
fi
if delta_lists "$GOOD_SERIAL" 15; then
    ms=$((($(date +%s%N) - t0) / 1000000))
    if [ "$ms" -le 4000 ]; then
        pass "the delta lists good.pem ${ms} ms after openssl ca -revoke (debounce 1 s)"
    else
        fail "the delta lists good.pem within 4 s of openssl ca -revoke (took ${ms} ms)"
    fi
else
    fail "the delta lists good.pem within 15 s" "$(cat "$T/crlgen.log")"
fi
openssl crl -inform DER -in "$DELTA" -out "$T/delta1.pem"
cp "$DELTA" "$T/delta1.crl"
out=$(openssl crl -inform DER -in "$T/base.crl" -noout -text 2>&1)
expect "the base full CRL does not list good.pem" "$out" "-Serial Number: $GOOD_SERIAL\$"
out=$(openssl crl -inform DER -in "$T/delta1.crl" -noout -text 2>&1)
expect "the delta lists good.pem with Key Compromise" "$out" "+Serial Number: $GOOD_SERIAL\$" '+Key Compromise'
bn=$(crl_number "$T/base.crl")
db=$(crl_base "$T/delta1.crl")
expect "the delta's base is the saved full CRL ($bn)" "base=$db" "+^base=$bn\$"
cat "$T/base.pem" "$T/delta1.pem" >"$T/bd1.pem"
out=$(openssl verify -crl_check -use_deltas -CAfile "$A/chain.pem" -CRLfile "$T/bd1.pem" "$A/good.pem" 2>&1)
expect "openssl verify -crl_check -use_deltas base+delta: good.pem refused" "rc=$?
$out" '+certificate revoked' '-^rc=0$'
out=$(openssl verify -crl_check -CAfile "$A/chain.pem" -CRLfile "$T/base.pem" "$A/good.pem" 2>&1)
expect "openssl verify -crl_check with the base alone: good.pem OK (revoked only in the delta)" "rc=$?
$out" '+^rc=0$' '+good.pem: OK'
out=$(openssl verify -crl_check -use_deltas -CAfile "$A/chain.pem" -CRLfile "$T/bd1.pem" "$A/server.pem" 2>&1)
expect "openssl verify -crl_check -use_deltas base+delta: server.pem (good) OK" "rc=$?
$out" '+^rc=0$' '+server.pem: OK'
out=$(openssl verify -crl_check -use_deltas -CAfile "$A/chain.pem" -CRLfile "$T/bd1.pem" "$A/revoked.pem" 2>&1)
expect "openssl verify -use_deltas base+delta: revoked.pem (in the base) refused" "rc=$?
$out" '+certificate revoked' '-^rc=0$'
out=$(pycheck "$T/base.crl" "$T/delta1.crl" 2>&1)
expect "Python cryptography: the saved base and the new delta pair up" "$out" '+^OK: ' '-FAIL'
out=$(certtool --crl-info --inder --infile "$T/delta1.crl" 2>&1)
expect "certtool --crl-info: the delta lists good.pem" "$out" "+Serial Number \(hex\): 0*$(echo "$GOOD_SERIAL" | tr 'A-F' 'a-f' | sed 's/^0*//')"

# --- (c) a released hold: removeFromCRL -----------------------------------------------
SRV_SERIAL=$(serial_of "$A/server.pem")
openssl ca -config "$A/openssl.cnf" -revoke "$A/server.pem" -crl_reason certificateHold >"$T/hold.log" 2>&1 ||
    fail "openssl ca -revoke server.pem -crl_reason certificateHold" "$(cat "$T/hold.log")"
if delta_lists "$SRV_SERIAL" 15; then pass "the delta lists server.pem on hold"; else fail "the delta lists server.pem on hold" "$(cat "$T/crlgen.log")"; fi
out=$(openssl crl -inform DER -in "$DELTA" -noout -text 2>&1)
expect "the delta says Certificate Hold" "$out" '+Certificate Hold'
# A full CRL that lists the hold, issued while the loop runs (one sequence, no clash).
crlgen c-full
cp "$FULL" "$T/base2.crl"
openssl crl -inform DER -in "$T/base2.crl" -out "$T/base2.pem"
out=$(openssl crl -inform DER -in "$T/base2.crl" -noout -text 2>&1)
expect "crlgen --once while the loop runs: the new full CRL lists server.pem" "rc=$RC
$out" '+^rc=0$' "+Serial Number: $SRV_SERIAL\$"
# Release: the CA database line goes back to V (how openssl ca's database says "not revoked").
awk -F'\t' -v OFS='\t' -v s="$SRV_SERIAL" '$1 == "R" && $4 == s { $1 = "V"; $3 = "" } { print }' \
    "$A/index.txt" >"$T/index.new" && cat "$T/index.new" >"$A/index.txt"
released=
for ((i = 0; i < 300; i++)); do
    if openssl crl -inform DER -in "$DELTA" -noout -text 2>/dev/null |
        grep -A4 "Serial Number: $SRV_SERIAL\$" | grep -q 'Remove From CRL'; then
        released=1
        break
    fi
    sleep 0.05
done
if [ -n "$released" ]; then
    pass "hold released in index.txt: the delta lists server.pem as removeFromCRL"
else
    fail "the delta lists server.pem as removeFromCRL within 15 s" "$(openssl crl -inform DER -in "$DELTA" -noout -text; tail -5 "$T/crlgen.log")"
fi
openssl crl -inform DER -in "$DELTA" -out "$T/delta2.pem"
out=$(openssl verify -crl_check -CAfile "$A/chain.pem" -CRLfile "$T/base2.pem" "$A/server.pem" 2>&1)
expect "base with the hold alone: server.pem refused" "rc=$?
$out" '+certificate revoked' '-^rc=0$'
cat "$T/base2.pem" "$T/delta2.pem" >"$T/bd2.pem"
out=$(openssl verify -crl_check -use_deltas -CAfile "$A/chain.pem" -CRLfile "$T/bd2.pem" "$A/server.pem" 2>&1)
expect "base + delta with removeFromCRL: server.pem OK again" "rc=$?
$out" '+^rc=0$' '+server.pem: OK'
out=$(openssl verify -crl_check -use_deltas -CAfile "$A/chain.pem" -CRLfile "$T/bd2.pem" "$A/good.pem" 2>&1)
expect "base + delta: good.pem still refused" "rc=$?
$out" '+certificate revoked' '-^rc=0$'

# --- (d) the responder serves the delta --------------------------------------------------
sleep 0.5
hdr=$(curl -s --max-time 10 -D - -o "$T/served.crl" "$URL/crl/delta/$NAME.crl")
if cmp -s "$T/served.crl" "$DELTA"; then
    pass "GET /crl/delta/$NAME.crl: the published delta, byte for byte"
else
    fail "GET /crl/delta/$NAME.crl equals delta/$NAME.crl" "$hdr"
fi
expect "GET /crl/delta/$NAME.crl: 200, pkix-crl, ETag, Last-Modified, max-age" "$hdr" \
    '+^HTTP/1.1 200' '+Content-Type: application/pkix-crl' '+^ETag: "' '+^Last-Modified: ' '+max-age=[0-9]+'
age=$(printf '%s\n' "$hdr" | sed -n 's/.*max-age=\([0-9]*\).*/\1/p' | head -1)
nu=$(openssl crl -inform DER -in "$DELTA" -noout -nextupdate | sed 's/^nextUpdate=//')
left=$(($(date -d "$nu" +%s) - $(date +%s)))
if [ -n "$age" ] && [ "$age" -le $((left + 1)) ]; then
    pass "max-age $age does not pass the delta's nextUpdate ($left s away)"
else
    fail "max-age ${age:-none} <= $left s to nextUpdate" "$hdr"
fi
etag=$(printf '%s\n' "$hdr" | sed -n 's/^ETag: \(".*"\)\r\{0,1\}$/\1/p' | tr -d '\r')
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL/crl/delta/$NAME.crl")
expect "If-None-Match $etag -> 304" "$code" '+^304$'
code=$(curl -s --max-time 10 -o "$T/served-full.crl" -w '%{http_code}' "$URL/crl/$NAME.crl")
if [ "$code" = 200 ] && cmp -s "$T/served-full.crl" "$FULL"; then pass "GET /crl/$NAME.crl: the published full CRL"; else fail "GET /crl/$NAME.crl ($code)"; fi
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$URL/crl/delta/nosuch.crl")
expect "GET /crl/delta/nosuch.crl -> 404" "$code" '+^404$'

# --- (e) unwritable out_dir, full disk: previous files kept, logged, counted, retried --------
metric() { curl -s --max-time 10 "$URL/metrics" | sed -n "s/^$1{issuer=\"$NAME\"} //p"; }
f0=$(metric revokd_crl_failures_total)
sum=$(sha256sum "$DELTA" "$DELTA.pem")
if chattr +i "$T/crl/delta" 2>/dev/null; then
    # A change the loop must publish: put server.pem on hold again.
    openssl ca -config "$A/openssl.cnf" -revoke "$A/server.pem" -crl_reason certificateHold >"$T/rev2.log" 2>&1
    for ((i = 0; i < 150; i++)); do
        grep -q "not published" "$T/crlgen.log" && break
        sleep 0.1
    done
    expect "delta dir immutable (chattr +i): crlgen logs the delta as not published" "$(cat "$T/crlgen.log")" \
        '+delta CRL [0-9]+ not published; the previous files are kept'
    if [ "$(sha256sum "$DELTA" "$DELTA.pem")" = "$sum" ]; then pass "unwritable dir: previous delta files unchanged"; else fail "unwritable dir: previous delta files unchanged"; fi
    f1=$(metric revokd_crl_failures_total)
    if [ -n "$f1" ] && [ "$f1" -gt "${f0:-0}" ]; then pass "/metrics revokd_crl_failures_total ${f0:-0} -> $f1"; else fail "/metrics counts the failure (${f0:-none} -> ${f1:-none})"; fi
    chattr -i "$T/crl/delta"
    ok=
    for ((i = 0; i < 200; i++)); do
        if openssl crl -inform DER -in "$DELTA" -noout -text 2>/dev/null | grep -A4 "Serial Number: $SRV_SERIAL\$" | grep -q 'Certificate Hold'; then
            ok=1
            break
        fi
        sleep 0.05
    done
    if [ -n "$ok" ]; then pass "directory writable again: the retry publishes the delta with the new hold"; else fail "retry publishes the delta within 10 s" "$(tail -5 "$T/crlgen.log")"; fi
else
    echo "e2e: chattr +i not supported here: unwritable-directory case not run"
fi
# Disk full: out_dir on a tmpfs with no room left, in a mount namespace of its own.
if unshare -m true 2>/dev/null; then
    cp -a "$T/crl" "$T/crl.before"
    out=$(unshare -m bash -c '
        set -u
        mount -t tmpfs -o size=64k tmpfs "$1/crl" || exit 90
        cp -a "$1/crl.before/." "$1/crl/"
        dd if=/dev/zero of="$1/crl/filler" bs=4k count=64 2>/dev/null
        timeout 60 env -C / "$2" -c "$3" --once >"$1/crlgen-full.log" 2>&1
        echo "rc=$?"
        for f in '"$NAME"'.crl '"$NAME"'.crl.pem delta/'"$NAME"'.crl delta/'"$NAME"'.crl.pem; do
            cmp -s "$1/crl/$f" "$1/crl.before/$f" && echo "same $f" || echo "changed $f"
        done
        find "$1/crl" -name ".*" -type f | sed "s/^/temp left: /"
        # Room again: the next run publishes, and the new files verify.
        rm -f "$1/crl/filler"
        timeout 60 env -C / "$2" -c "$3" --once >"$1/crlgen-full2.log" 2>&1
        echo "rc2=$?"
        for f in '"$NAME"'.crl '"$NAME"'.crl.pem delta/'"$NAME"'.crl delta/'"$NAME"'.crl.pem; do
            case $f in *.pem) form=PEM ;; *) form=DER ;; esac
            cmp -s "$1/crl/$f" "$1/crl.before/$f" && echo "after: same $f" || echo "after: changed $f"
            openssl crl -inform $form -in "$1/crl/$f" -CAfile "$1/pki/ca.pem" -noout 2>&1 | grep -qx "verify OK" ||
                echo "after: $f does not verify"
        done' _ "$T" "$CRLGEN" "$CONF" 2>&1)
    if printf '%s\n' "$out" | grep -q '^rc=90$'; then
        echo "e2e: cannot mount a tmpfs here: disk-full case not run"
    else
        expect "disk full: crlgen --once exits 1, all four files unchanged, no temp file left" "$out" '+^rc=1$' '-^changed' "+same $NAME.crl\$" "+same delta/$NAME.crl.pem\$" '-^temp left'
        expect "disk full: the log says why" "$(cat "$T/crlgen-full.log")" '+No space left on device' '+not published'
        expect "disk full, then room again: the next run publishes all four files, and they verify" "$out" '+^rc2=0$' '-^after: same' '-does not verify' "+after: changed $NAME.crl\$" "+after: changed delta/$NAME.crl.pem\$"
    fi
fi

# --- (f) CRL Numbers only grow: runs, and kill -9 mid-run ---------------------------------
stop_bg crlgen
prev=$(( $(crl_number "$DELTA" | sed 's/^/0x/') ))
ok=1
log=
for ((i = 1; i <= 20; i++)); do
    env -C / "$CRLGEN" -c "$CONF" --once >"$T/kill9-$i.log" 2>&1 &
    pid=$!
    sleep "0.0$((RANDOM % 10))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    crlgen "after-kill-$i"
    f=$(( $(crl_number "$FULL" | sed 's/^/0x/') ))
    d=$(( $(crl_number "$DELTA" | sed 's/^/0x/') ))
    b=$(( $(crl_base "$DELTA" | sed 's/^/0x/') ))
    log="$log
run $i: exit $RC full $f delta $d base $b (before $prev)"
    if [ "$RC" -ne 0 ] || [ "$f" -le "$prev" ] || [ "$d" -le "$f" ] || [ "$b" -ne "$f" ]; then
        ok=
    fi
    prev=$d
done
if [ -n "$ok" ]; then
    pass "20 x (crlgen killed with -9 at a random point, then --once): numbers only grow, delta > full = base"
else
    fail "CRL Numbers grow across kill -9" "$log"
fi
out=$(pycheck "$FULL" "$DELTA" 2>&1)
expect "after the kill -9 loop the pair still checks out in Python cryptography" "$out" '+^OK: ' '-FAIL'

finish
