#!/usr/bin/env bash
# End-to-end: revokd-crlgen's publishing policy (issue 13 items 1 and 5), with
# a PKI made by scripts/mkpki.sh, the real programs, and openssl as the judge.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_crl_policy.sh   (ctest sets both)
#
# (a) CRL Numbers never go backwards: they count up across runs, survive a
#     deleted store (the published CRL carries them), follow the CA's crlnumber
#     file, and an unreadable crlnumber file stops the CRL instead of a guess.
# (b) A CA database line the indexer cannot read makes the sync partial; crlgen
#     then keeps the published CRL byte for byte (so revoked.pem stays revoked
#     for openssl verify -crl_check), exits 1, and the responder reports it on
#     /healthz and /metrics; once the line is fixed the next CRL has a higher
#     number.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=pol
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
CRLGEN=$BUILD/revokd-crlgen

echo "e2e: build $BUILD, temp $T"
need_programs "$IDX" "$RSP" "$CRLGEN"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
A=$T/pki
make_pki "$A" "$NAME" "a PKI"
REV_SERIAL=$(serial_of "$A/revoked.pem")
CRL=$T/crl/$NAME.crl
CRLPEM=$T/crl/$NAME.crl.pem

CONF=$T/revokd.conf
cat >"$CONF" <<EOF
[store]
path = store

[log]
level = info

[responder]
listen = 127.0.0.1:$PORT
backend = $E2E_BACKEND

[crlgen]
out_dir = crl
# This scenario counts the full CRL's numbers run by run; deltas (which share the
# sequence) are covered by test_crl_delta.sh.
delta = no

[issuer $NAME]
ca_cert     = pki/ca.pem
index       = pki/index.txt
signer_cert = pki/ocsp.pem
signer_key  = pki/ocsp.key
crl_key     = pki/ca.key
digest      = sha256
EOF

# crl_number FILE: the CRL Number openssl reads from a DER CRL, in decimal.
crl_number() {
    local hex
    hex=$(openssl crl -inform DER -in "$1" -noout -crlnumber 2>/dev/null | sed -n 's/^crlNumber=\(0x\)\{0,1\}//p')
    [ -n "$hex" ] && echo $((16#$hex))
}
# indexer LABEL / crlgen LABEL: one --once run; sets RC.
indexer() { run_logged "indexer-$1" 120 env -C / "$IDX" -c "$CONF" --once; RC=$?; }
crlgen() { run_logged "crlgen-$1" 120 env -C / "$CRLGEN" -c "$CONF" --once; RC=$?; }
# verify_revoked LABEL: openssl verify -crl_check with the published CRL refuses revoked.pem.
verify_revoked() {
    local out rc
    out=$(openssl verify -crl_check -CAfile "$A/chain.pem" -CRLfile "$CRLPEM" "$A/revoked.pem" 2>&1)
    rc=$?
    expect "$1: openssl verify -crl_check revoked.pem -> certificate revoked" "rc=$rc
$out" '+certificate revoked' '-^rc=0$'
}

# --- (a) CRL Numbers ---------------------------------------------------------------
# mkpki.sh starts openssl ca's crlnumber at 1000 (hex); move it aside first so
# the store and the published CRL are the only witnesses.
mv "$A/crlnumber" "$A/crlnumber.mkpki"
indexer a1
if [ "$RC" -eq 0 ]; then pass "revokd-indexer --once"; else fail "revokd-indexer --once (exit $RC)" "$(cat "$T/indexer-a1.log")"; fi
prev=0
for i in 1 2 3; do
    crlgen "a$i"
    n=$(crl_number "$CRL")
    if [ "$RC" -eq 0 ] && [ -n "$n" ] && [ "$n" -eq "$i" ]; then
        pass "crlgen --once run $i: exit 0, CRL Number $n"
    else
        fail "crlgen --once run $i: exit 0, CRL Number $i (exit $RC, number ${n:-none})" "$(cat "$T/crlgen-a$i.log")"
    fi
    prev=${n:-$prev}
done
verify_revoked "after three runs"

rm -rf "$T/store"
indexer a-rebuild
if [ "$RC" -eq 0 ]; then pass "store deleted and rebuilt by revokd-indexer --once"; else fail "rebuild (exit $RC)" "$(cat "$T/indexer-a-rebuild.log")"; fi
crlgen a-rebuild
n=$(crl_number "$CRL")
if [ "$RC" -eq 0 ] && [ -n "$n" ] && [ "$n" -gt "$prev" ]; then
    pass "after the store was rebuilt the CRL Number goes on: $prev -> $n"
else
    fail "after the store was rebuilt the CRL Number is higher than $prev (exit $RC, number ${n:-none})" "$(cat "$T/crlgen-a-rebuild.log")"
fi
prev=${n:-$prev}

# The CA's own numbering: openssl ca's crlnumber file holds the next number it would use.
printf '5000\n' >"$A/crlnumber"
crlgen a-crlnumber
n=$(crl_number "$CRL")
if [ "$RC" -eq 0 ] && [ -n "$n" ] && [ "$n" -ge $((0x5000)) ]; then
    pass "crlnumber file 5000 (hex): next CRL Number $n >= $((0x5000))"
else
    fail "crlnumber file 5000: next CRL Number >= $((0x5000)) (exit $RC, number ${n:-none})" "$(cat "$T/crlgen-a-crlnumber.log")"
fi
prev=${n:-$prev}
out=$(cat "$A/crlnumber")
expect "crlgen leaves openssl ca's crlnumber file alone" "$out" '+^5000$'

# A crlnumber file that cannot be parsed: no CRL rather than a guessed number.
sum=$(sha256sum "$CRL" "$CRLPEM" 2>&1)
printf 'twelve\n' >"$A/crlnumber"
crlgen a-badnumber
if [ "$RC" -eq 1 ]; then
    pass "unparsable crlnumber file: crlgen --once exits 1"
else
    fail "unparsable crlnumber file: crlgen --once exits 1 (exit $RC)" "$(cat "$T/crlgen-a-badnumber.log")"
fi
expect "unparsable crlnumber file: the log names the file" "$(cat "$T/crlgen-a-badnumber.log")" \
    "+issuer $NAME: crlnumber file .*crlnumber is not one hex number"
if [ -s "$CRL" ] && [ "$(sha256sum "$CRL" "$CRLPEM" 2>&1)" = "$sum" ]; then
    pass "unparsable crlnumber file: published CRL files unchanged"
else
    fail "unparsable crlnumber file: published CRL files unchanged"
fi
printf '10\n' >"$A/crlnumber" # below the store's: the store wins
crlgen a-lownumber
n=$(crl_number "$CRL")
if [ "$RC" -eq 0 ] && [ -n "$n" ] && [ "$n" -eq $((prev + 1)) ]; then
    pass "crlnumber file below the store's number: CRL Number $prev -> $n"
else
    fail "crlnumber file below the store's: CRL Number $((prev + 1)) (exit $RC, number ${n:-none})" "$(cat "$T/crlgen-a-lownumber.log")"
fi
prev=${n:-$prev}

# --- (b) partial sync: the previous CRL stays -------------------------------------
start_bg responder env -C / "$RSP" -c "$CONF"
listens responder "revokd-responder listens on 127.0.0.1:$PORT"
curl_to() { # curl_to NAME URL: body in $T/NAME.body, prints the HTTP code
    curl -s --max-time 10 -o "$T/$1.body" -w '%{http_code}' "$2"
}
out=$(curl_to healthz-0 "$URL/healthz")
expect "before the bad line: GET /healthz -> 200" "$out $(cat "$T/healthz-0.body")" '+^200 '

cp "$A/index.txt" "$T/index.txt.good"
# The R line of revoked.pem with a revocation date no parser can read.
awk -F'\t' -v OFS='\t' -v s="$REV_SERIAL" '$1 == "R" && $4 == s { sub(/^[^,]*/, "20X1O1O1OOOOOOZ", $3) } { print }' \
    "$T/index.txt.good" >"$A/index.txt"
if grep -q 'X1O1O1' "$A/index.txt"; then
    pass "corrupted the R line of revoked.pem (serial $REV_SERIAL): $(grep X1O1O1 "$A/index.txt" | cut -f1-4 | tr '\t' ' ')"
else
    fail "corrupt the R line of revoked.pem" "$(cat "$A/index.txt")"
fi
sum=$(sha256sum "$CRL" "$CRLPEM" 2>&1)
indexer b-bad
if [ "$RC" -ne 0 ]; then
    pass "revokd-indexer --once on the bad line exits non-zero ($RC)"
else
    fail "revokd-indexer --once on the bad line exits non-zero (it exited 0)" "$(cat "$T/indexer-b-bad.log")"
fi
crlgen b-bad
if [ "$RC" -eq 1 ]; then
    pass "after the partial sync: crlgen --once exits 1 [passes only after merge with the indexer's sync.failed_at]"
else
    fail "after the partial sync: crlgen --once exits 1 (exit $RC) [passes only after merge with the indexer's sync.failed_at]" "$(cat "$T/crlgen-b-bad.log")"
fi
expect "after the partial sync: crlgen logs the issuer and the failed sync" "$(cat "$T/crlgen-b-bad.log")" \
    "+issuer $NAME: last sync failed at .*malformed line.*CRL not issued"
if [ -s "$CRL" ] && [ "$(sha256sum "$CRL" "$CRLPEM" 2>&1)" = "$sum" ]; then
    pass "after the partial sync: published CRL files are byte-identical (sha256sum)"
else
    fail "after the partial sync: published CRL files are byte-identical" "before: $sum
after: $(sha256sum "$CRL" "$CRLPEM")
CRL Number now $(crl_number "$CRL")"
fi
verify_revoked "after the partial sync"
out=$(curl_to healthz-1 "$URL/healthz")
expect "after the partial sync: GET /healthz -> 503 naming the issuer [responder part: after merge]" \
    "$out $(cat "$T/healthz-1.body")" '+^503 ' "+issuer $NAME"
curl_to metrics-1 "$URL/metrics" >/dev/null
expect "after the partial sync: /metrics revokd_crl_skipped_total{issuer=\"$NAME\"} 1 [responder part: after merge]" \
    "$(cat "$T/metrics-1.body")" "+^revokd_crl_skipped_total\\{issuer=\"$NAME\"\\} 1$"
# The store still hands out the previous CRL too.
curl_to crl-1 "$URL/crl/$NAME.crl" >/dev/null
if cmp -s "$T/crl-1.body" "$CRL"; then
    pass "after the partial sync: the responder serves the previous CRL"
else
    fail "after the partial sync: the responder serves the previous CRL" "served CRL Number $(crl_number "$T/crl-1.body"), file $(crl_number "$CRL")"
fi

# Fixed: the next run publishes again, with a higher number, still listing revoked.pem.
cp "$T/index.txt.good" "$A/index.txt"
indexer b-fixed
if [ "$RC" -eq 0 ]; then pass "line fixed: revokd-indexer --once exits 0"; else fail "line fixed: revokd-indexer --once (exit $RC)" "$(cat "$T/indexer-b-fixed.log")"; fi
crlgen b-fixed
n=$(crl_number "$CRL")
if [ "$RC" -eq 0 ] && [ -n "$n" ] && [ "$n" -gt "$prev" ]; then
    pass "line fixed: crlgen --once publishes CRL Number $n > $prev"
else
    fail "line fixed: crlgen --once publishes a number above $prev (exit $RC, number ${n:-none})" "$(cat "$T/crlgen-b-fixed.log")"
fi
verify_revoked "after the fix"
out=$(openssl crl -in "$CRLPEM" -CAfile "$A/chain.pem" -noout 2>&1)
expect "after the fix: openssl crl -CAfile chain.pem -> verify OK" "$out" '+^verify OK$'
out=$(curl_to healthz-2 "$URL/healthz")
expect "after the fix: GET /healthz -> 200" "$out $(cat "$T/healthz-2.body")" '+^200 '

stop_bg responder
if [ "$STOP_RC" = 0 ]; then pass "revokd-responder exits 0 on SIGTERM"; else fail "revokd-responder exits 0 on SIGTERM (exit $STOP_RC)" "$(tail -n 20 "$T/responder.log")"; fi
mapfile -t reports < <(grep -lE 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:' "$T"/*.log)
if [ "${#reports[@]}" -eq 0 ]; then
    pass "no sanitizer reports in any program log"
else
    fail "sanitizer reports in: ${reports[*]}" "$(grep -hE -A 20 'Sanitizer|runtime error:' "${reports[@]}" | head -n 60)"
fi
finish
