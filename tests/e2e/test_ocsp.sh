#!/usr/bin/env bash
# End-to-end: real PKIs made with the openssl CLI, the real revokd programs, and
# real clients (openssl ocsp/crl/verify, GnuTLS ocsptool, python3-cryptography).
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_ocsp.sh   (ctest sets both)
#   E2E_KEEP=1 keeps the temp dir; it is always kept when something failed.
#
# Two PKIs with the same serials and the same CA name (so the same
# issuerNameHash, different issuerKeyHash); only the first is configured.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

CHECK=("$PY" "$HERE/check_ocsp.py")
NAME=e2e
SERIAL=8A1F00000000000000000000000000A0 # high bit set: DER INTEGER gets a 00 byte, 17 bytes
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
CRLGEN=$BUILD/revokd-crlgen

echo "e2e: build $BUILD, temp $T"
need_programs "$IDX" "$RSP" "$CRLGEN"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
A=$T/pki-a
B=$T/pki-b
if "$SRC/scripts/mkpki.sh" "$A" --name "$NAME" --serial-start "$SERIAL" --port "$PORT" --backend "$E2E_BACKEND" >"$T/mkpki-a.log" 2>&1 &&
    "$SRC/scripts/mkpki.sh" "$B" --name "$NAME" --serial-start "$SERIAL" --port "$PORT" --backend "$E2E_BACKEND" >"$T/mkpki-b.log" 2>&1; then
    pass "mkpki.sh made two PKIs sharing serials from $SERIAL"
else
    fail "mkpki.sh" "$(cat "$T"/mkpki-*.log)"
    finish
fi
GOOD_SERIAL=$(serial_of "$A/good.pem")
REV_SERIAL=$(serial_of "$A/revoked.pem")
if [ "$GOOD_SERIAL" = "$(serial_of "$B/good.pem")" ] && [ "$REV_SERIAL" = "$(serial_of "$B/revoked.pem")" ]; then
    pass "second CA reuses the serials ($GOOD_SERIAL, $REV_SERIAL)"
else
    fail "second CA reuses the serials" "$GOOD_SERIAL $REV_SERIAL vs $(serial_of "$B/good.pem")"
fi

# One config with the first issuer only; relative paths (resolved against the
# config's directory), and the programs run from / to prove it.
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

[issuer $NAME]
ca_cert     = pki-a/ca.pem
index       = pki-a/index.txt
signer_cert = pki-a/ocsp.pem
signer_key  = pki-a/ocsp.key
crl_key     = pki-a/ca.key
digest      = sha256
EOF

# --- config validation ----------------------------------------------------------
sed 's/^path = store$/path = store\nmap_size = banana/' "$CONF" >"$T/bad.conf"
for p in "$IDX" "$RSP" "$CRLGEN"; do
    n=$(basename "$p")
    if run_logged "check-$n" 20 env -C / "$p" -c "$CONF" --check; then
        pass "$n --check accepts the config"
    else
        fail "$n --check accepts the config (exit $?)" "$(cat "$T/check-$n.log")"
    fi
    if run_logged "badcheck-$n" 20 env -C / "$p" -c "$T/bad.conf" --check; then
        fail "$n --check rejects map_size = banana (it exited 0)" "$(cat "$T/badcheck-$n.log")"
    else
        pass "$n --check rejects map_size = banana: $(head -n 1 "$T/badcheck-$n.log")"
    fi
done

# --- index, CRL ---------------------------------------------------------------------
if run_logged indexer-1 120 env -C / "$IDX" -c "$CONF" --once; then
    pass "revokd-indexer --once"
else
    fail "revokd-indexer --once (exit $?)" "$(cat "$T/indexer-1.log")"
fi
if run_logged crlgen-1 120 env -C / "$CRLGEN" -c "$CONF" --once; then
    pass "revokd-crlgen --once"
else
    fail "revokd-crlgen --once (exit $?)" "$(cat "$T/crlgen-1.log")"
fi
for f in "$T/crl/$NAME.crl" "$T/crl/$NAME.crl.pem"; do
    if [ -s "$f" ]; then pass "crlgen wrote $f"; else fail "crlgen wrote $f" "$(ls -la "$T/crl" 2>&1)"; fi
done

# A certificate the CA issues after indexing: the store has never heard of it.
if openssl req -new -config "$A/openssl.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$A/late.key" -subj "/O=revokd demo/CN=late.$NAME.revokd.test" -out "$A/late.csr" \
    >"$T/late.log" 2>&1 &&
    openssl ca -config "$A/openssl.cnf" -batch -notext -in "$A/late.csr" -out "$A/late.pem" \
        >>"$T/late.log" 2>&1; then
    pass "issued late.pem (serial $(serial_of "$A/late.pem")) after indexing"
else
    fail "issue late.pem" "$(cat "$T/late.log")"
fi

# --- responder -------------------------------------------------------------------
start_bg responder env -C / "$RSP" -c "$CONF"
listens responder "revokd-responder listens on 127.0.0.1:$PORT"

# curl_to NAME URL [curl args]: body in $T/NAME.body, headers in $T/NAME.hdr,
# prints "CODE CONTENT-TYPE".
curl_to() {
    local n=$1 u=$2
    shift 2
    curl -s --max-time 10 -D "$T/$n.hdr" -o "$T/$n.body" -w '%{http_code} %{content_type}' "$@" "$u"
}

out=$(curl_to healthz "$URL/healthz")
expect "GET /healthz answers 200" "$out" '+^200 '
out=$(curl_to metrics "$URL/metrics")
expect "GET /metrics answers 200 with a body" "$out $(head -c 200 "$T/metrics.body")" '+^200 ' '+[a-z_]+'

# ocsp_q ARGS...: openssl ocsp against the responder, trusting chain.pem
ocsp_q() {
    timeout -k 5 30 openssl ocsp -url "$URL" -timeout 10 -CAfile "$A/chain.pem" "$@" 2>&1
}
OK=('+Response verify OK' '-Response Verify Failure' '-WARNING: Status times invalid'
    '-No Status found' '-Nonce Verify error' '-Responder Error' '+Next Update:')

for dg in "" -sha256; do
    hn=sha1
    [ -n "$dg" ] && hn=sha256
    for nonce in -no_nonce ""; do
        nn=${nonce:-with nonce}
        out=$(ocsp_q $dg -issuer "$A/ca.pem" -cert "$A/good.pem" $nonce)
        expect "openssl ocsp POST good.pem, $hn CertID, $nn -> good, Response verify OK" \
            "$out" '+good\.pem: good$' "${OK[@]}"
        out=$(ocsp_q $dg -issuer "$A/ca.pem" -cert "$A/revoked.pem" $nonce)
        expect "openssl ocsp POST revoked.pem, $hn CertID, $nn -> revoked, keyCompromise" \
            "$out" '+revoked\.pem: revoked$' '+Reason: keyCompromise' '+Revocation Time:' "${OK[@]}"
    done
    out=$(ocsp_q $dg -issuer "$A/ca.pem" -cert "$A/late.pem" -no_nonce)
    expect "openssl ocsp, $hn: cert issued after indexing -> Responder Error: unauthorized" \
        "$out" '+Responder Error: unauthorized \(6\)' '-: good'
    out=$(ocsp_q $dg -issuer "$A/ca.pem" -serial 0xDEADBEEF -no_nonce)
    expect "openssl ocsp, $hn: serial 0xDEADBEEF -> Responder Error: unauthorized" \
        "$out" '+Responder Error: unauthorized \(6\)' '-: good'
    out=$(ocsp_q $dg -issuer "$B/ca.pem" -cert "$B/good.pem" -no_nonce -CAfile "$B/chain.pem")
    expect "openssl ocsp, $hn: other CA (same name, same serial $GOOD_SERIAL) -> unauthorized" \
        "$out" '+Responder Error: unauthorized \(6\)' '-: good'
done

# --- RFC 5019 GET --------------------------------------------------------------------
urlenc() { "$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
for leaf in good revoked; do
    for dg in "" -sha256; do
        hn=sha1
        [ -n "$dg" ] && hn=sha256
        n=get-$leaf${dg}
        openssl ocsp $dg -issuer "$A/ca.pem" -cert "$A/$leaf.pem" -no_nonce -reqout "$T/$n.req" >/dev/null 2>&1
        b64=$(base64 -w0 "$T/$n.req")
        enc=$(urlenc "$b64")
        out=$(curl_to "$n" "$URL/$enc")
        hdr=$(tr -d '\r' <"$T/$n.hdr")
        expect "GET /<base64> ($leaf, $hn, ${#enc}-char path$([ "$b64" != "$enc" ] && echo ', percent-encoded')) -> 200 application/ocsp-response, Cache-Control max-age" \
            "$out
$hdr" '+^200 application/ocsp-response' '+^[Cc]ache-[Cc]ontrol:.*max-age=[0-9]+'
        out=$(timeout 20 openssl ocsp -respin "$T/$n.body" $dg -issuer "$A/ca.pem" -cert "$A/$leaf.pem" \
            -CAfile "$A/chain.pem" -no_nonce 2>&1)
        if [ "$leaf" = good ]; then
            expect "openssl ocsp -respin (GET, good, $hn) -> good, Response verify OK" "$out" \
                '+good\.pem: good$' "${OK[@]}"
        else
            expect "openssl ocsp -respin (GET, revoked, $hn) -> revoked, keyCompromise" "$out" \
                '+revoked\.pem: revoked$' '+Reason: keyCompromise' "${OK[@]}"
        fi
    done
done

# --- malformed --------------------------------------------------------------------
out=$(curl_to garbage "$URL/" -H 'Content-Type: application/ocsp-request' --data-binary 'garbage, not DER')
hex=$(od -An -tx1 "$T/garbage.body" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')
expect "POST garbage -> malformedRequest OCSPResponse 30 03 0a 01 01" "body: $hex
http: $out" '+^body: 30 03 0a 01 01$'
out=$(head -c 4096 /dev/urandom | curl_to garbage2 "$URL/" -H 'Content-Type: application/ocsp-request' --data-binary @-)
hex=$(od -An -tx1 "$T/garbage2.body" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')
expect "POST 4 KiB of random bytes -> malformedRequest 30 03 0a 01 01" "body: $hex
http: $out" '+^body: 30 03 0a 01 01$'

# --- GnuTLS ocsptool ------------------------------------------------------------------
for leaf in good revoked; do
    out=$(timeout -k 5 30 ocsptool --ask="$URL" --no-nonce --load-issuer "$A/ca.pem" \
        --load-cert "$A/$leaf.pem" --load-signer "$A/ca.pem" --outfile "$T/gnutls-$leaf.der" 2>&1)
    rc=$?
    expect "ocsptool --ask $leaf.pem, signer checked against ca.pem (exit $rc) -> $leaf, Verifying: Success" \
        "rc=$rc
$out" '+^rc=0$' "+Certificate Status: $leaf" '+Verifying OCSP Response: Success' '-Failure'
    out=$(timeout 20 ocsptool -e --load-trust "$A/chain.pem" --load-response "$T/gnutls-$leaf.der" 2>&1)
    rc=$?
    expect "ocsptool -e --load-trust chain.pem on the $leaf response (exit $rc) -> Success" \
        "rc=$rc
$out" '+^rc=0$' "+Certificate Status: $leaf" '+Verifying OCSP Response: Success'
done
out=$(timeout 20 ocsptool -e --load-signer "$B/ca.pem" --load-response "$T/gnutls-good.der" 2>&1)
rc=$?
expect "negative control: ocsptool -e with the OTHER CA as signer's issuer fails (exit $rc)" \
    "rc=$rc
$out" '-^rc=0$' '+Verifying OCSP Response: Failure'
if "${CHECK[@]}" flip-sig --kind ocsp --in "$T/gnutls-good.der" --out "$T/tampered.der" >/dev/null; then
    out=$(timeout 20 ocsptool -e --load-signer "$A/ca.pem" --load-response "$T/tampered.der" 2>&1)
    rc=$?
    expect "negative control: ocsptool -e on a response with one signature bit flipped fails (exit $rc)" \
        "rc=$rc
$out" '-^rc=0$' '+Verifying OCSP Response: Failure'
else
    fail "flip-sig on the good response"
fi

# --- python3-cryptography ---------------------------------------------------------------
pycheck() { # pycheck MSG ARGS...
    local msg=$1 out rc
    shift
    out=$(timeout -k 5 30 "${CHECK[@]}" "$@" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then pass "$msg: $out"; else fail "$msg (exit $rc)" "$out"; fi
}
pycheck_fails() { # pycheck_fails MSG ARGS...: the checker must reject
    local msg=$1 out rc
    shift
    out=$(timeout -k 5 30 "${CHECK[@]}" "$@" 2>&1)
    rc=$?
    if [ "$rc" -ne 0 ]; then pass "$msg: $out"; else fail "$msg (checker accepted it)" "$out"; fi
}
for h in sha1 sha256; do
    for m in post get; do
        g=()
        [ "$m" = get ] && g=(--get)
        pycheck "python ocsp $m $h good.pem" ocsp --url "$URL" "${g[@]}" --hash "$h" \
            --issuer "$A/ca.pem" --cert "$A/good.pem" --signer "$A/ocsp.pem" --expect good \
            --save "$T/py-good-$h-$m.der"
        pycheck "python ocsp $m $h revoked.pem" ocsp --url "$URL" "${g[@]}" --hash "$h" \
            --issuer "$A/ca.pem" --cert "$A/revoked.pem" --signer "$A/ocsp.pem" --expect revoked \
            --reason key_compromise
    done
    pycheck "python ocsp post $h late.pem (not indexed)" ocsp --url "$URL" --hash "$h" \
        --issuer "$A/ca.pem" --cert "$A/late.pem" --expect unauthorized
    pycheck "python ocsp post $h other CA's good.pem (same serial)" ocsp --url "$URL" --hash "$h" \
        --issuer "$B/ca.pem" --cert "$B/good.pem" --expect unauthorized
done
pycheck "python ocsp post with a nonce, good.pem" ocsp --url "$URL" --nonce \
    --issuer "$A/ca.pem" --cert "$A/good.pem" --expect good
if "${CHECK[@]}" flip-sig --kind ocsp --in "$T/py-good-sha1-post.der" --out "$T/py-tampered.der" >/dev/null; then
    pycheck_fails "negative control: python rejects a response with a flipped signature bit" \
        ocsp --response "$T/py-tampered.der" --issuer "$A/ca.pem" --cert "$A/good.pem" --expect good
fi
pycheck_fails "negative control: python rejects the good response when told the other CA issued it" \
    ocsp --response "$T/py-good-sha1-post.der" --issuer "$B/ca.pem" --cert "$A/good.pem" --expect good

# --- CRL ------------------------------------------------------------------------------
out=$(curl_to crl-dl "$URL/crl/$NAME.crl")
expect "GET /crl/$NAME.crl -> 200 application/pkix-crl" "$out" '+^200 application/pkix-crl$'
if cmp -s "$T/crl-dl.body" "$T/crl/$NAME.crl"; then
    pass "downloaded CRL is byte-identical to $T/crl/$NAME.crl"
else
    fail "downloaded CRL is byte-identical to out_dir's" "$(cmp "$T/crl-dl.body" "$T/crl/$NAME.crl" 2>&1)"
fi
out=$(curl_to crl-404 "$URL/crl/no-such-issuer.crl")
expect "GET /crl/no-such-issuer.crl -> 404" "$out" '+^404'

crl_checks() { # crl_checks LABEL DERFILE
    local label=$1 f=$2 out
    out=$(openssl crl -inform DER -in "$f" -CAfile "$A/chain.pem" -noout 2>&1)
    expect "openssl crl -CAfile chain.pem ($label) -> verify OK" "$out" '+^verify OK$' '-failure'
    out=$(openssl crl -inform DER -in "$f" -noout -text 2>&1)
    expect "openssl crl -text ($label): revoked serial, Key Compromise, CRL Number, AKI" "$out" \
        "+Serial Number: $REV_SERIAL" '+Key Compromise' '+X509v3 CRL Number' \
        '+X509v3 Authority Key Identifier' "-Serial Number: $GOOD_SERIAL" '+Next Update: [A-Z]'
    pycheck "python crl ($label)" crl --crl "$f" --issuer "$A/ca.pem" \
        --revoked "$A/revoked.pem:key_compromise" --not-revoked "$A/good.pem"
}
crl_checks "out_dir $NAME.crl" "$T/crl/$NAME.crl"
crl_checks "downloaded /crl/$NAME.crl" "$T/crl-dl.body"
out=$(openssl crl -in "$T/crl/$NAME.crl.pem" -CAfile "$A/chain.pem" -noout 2>&1)
expect "openssl crl $NAME.crl.pem (PEM) -> verify OK" "$out" '+^verify OK$'
if openssl crl -in "$T/crl/$NAME.crl.pem" -outform DER 2>/dev/null | cmp -s - "$T/crl/$NAME.crl"; then
    pass "$NAME.crl.pem and $NAME.crl hold the same CRL"
else
    fail "$NAME.crl.pem and $NAME.crl hold the same CRL"
fi
out=$(openssl verify -crl_check -CAfile "$A/chain.pem" -CRLfile "$T/crl/$NAME.crl.pem" "$A/revoked.pem" 2>&1)
rc=$?
expect "openssl verify -crl_check revoked.pem -> certificate revoked" "rc=$rc
$out" '+certificate revoked' '-^rc=0$'
out=$(openssl verify -crl_check -CAfile "$A/chain.pem" -CRLfile "$T/crl/$NAME.crl.pem" "$A/good.pem" 2>&1)
rc=$?
expect "openssl verify -crl_check good.pem -> OK" "rc=$rc
$out" '+good\.pem: OK' '+^rc=0$'
if "${CHECK[@]}" flip-sig --kind crl --in "$T/crl/$NAME.crl" --out "$T/tampered.crl" >/dev/null; then
    pycheck_fails "negative control: python rejects the CRL with a flipped signature bit" \
        crl --crl "$T/tampered.crl" --issuer "$A/ca.pem"
    out=$(openssl crl -inform DER -in "$T/tampered.crl" -CAfile "$A/chain.pem" -noout 2>&1)
    expect "negative control: openssl crl rejects the tampered CRL" "$out" '-^verify OK$'
fi
n1=$("${CHECK[@]}" crl --crl "$T/crl/$NAME.crl" --issuer "$A/ca.pem" 2>/dev/null | sed -n 's/^OK: crl_number=\([0-9]*\) .*/\1/p')

# --- live: an operator revokes with openssl ca, revokd picks it up ------------------
if openssl ca -config "$A/openssl.cnf" -revoke "$A/good.pem" -crl_reason superseded >"$T/revoke.log" 2>&1; then
    pass "openssl ca -revoke good.pem -crl_reason superseded"
else
    fail "openssl ca -revoke good.pem" "$(cat "$T/revoke.log")"
fi
if run_logged indexer-2 120 env -C / "$IDX" -c "$CONF" --once; then
    pass "revokd-indexer --once (re-sync)"
else
    fail "revokd-indexer --once (re-sync, exit $?)" "$(cat "$T/indexer-2.log")"
fi
for dg in "" -sha256; do
    hn=sha1
    [ -n "$dg" ] && hn=sha256
    out=$(ocsp_q $dg -issuer "$A/ca.pem" -cert "$A/good.pem" -no_nonce)
    expect "after re-sync, openssl ocsp good.pem ($hn) -> revoked, superseded" "$out" \
        '+good\.pem: revoked$' '+Reason: superseded' "${OK[@]}"
    out=$(ocsp_q $dg -issuer "$A/ca.pem" -cert "$A/late.pem" -no_nonce)
    expect "after re-sync, openssl ocsp late.pem ($hn) -> good" "$out" '+late\.pem: good$' "${OK[@]}"
done
pycheck "after re-sync, python GET good.pem -> revoked/superseded" ocsp --url "$URL" --get \
    --issuer "$A/ca.pem" --cert "$A/good.pem" --expect revoked --reason superseded
out=$(ocsp_q -issuer "$A/ca.pem" -cert "$A/revoked.pem" -no_nonce)
expect "after re-sync, revoked.pem still revoked, keyCompromise" "$out" \
    '+revoked\.pem: revoked$' '+Reason: keyCompromise' "${OK[@]}"

if run_logged crlgen-2 120 env -C / "$CRLGEN" -c "$CONF" --once; then
    pass "revokd-crlgen --once (after the revocation)"
else
    fail "revokd-crlgen --once (after the revocation, exit $?)" "$(cat "$T/crlgen-2.log")"
fi
pycheck "new CRL lists good.pem (superseded) and revoked.pem" crl --crl "$T/crl/$NAME.crl" \
    --issuer "$A/ca.pem" --revoked "$A/good.pem:superseded" --revoked "$A/revoked.pem:key_compromise" \
    --not-revoked "$A/late.pem"
n2=$("${CHECK[@]}" crl --crl "$T/crl/$NAME.crl" --issuer "$A/ca.pem" 2>/dev/null | sed -n 's/^OK: crl_number=\([0-9]*\) .*/\1/p')
if [ -n "$n1" ] && [ -n "$n2" ] && [ "$n2" -gt "$n1" ]; then
    pass "CRL Number went up ($n1 -> $n2)"
else
    fail "CRL Number went up (${n1:-none} -> ${n2:-none})"
fi
ok=
for _ in $(seq 50); do
    curl_to crl-dl2 "$URL/crl/$NAME.crl" >/dev/null
    if cmp -s "$T/crl-dl2.body" "$T/crl/$NAME.crl"; then ok=1; break; fi
    sleep 0.1
done
if [ -n "$ok" ]; then
    pass "responder serves the new CRL"
else
    fail "responder serves the new CRL within 5 s" "$("${CHECK[@]}" crl --crl "$T/crl-dl2.body" --issuer "$A/ca.pem" 2>&1)"
fi

# --- follow mode: a running indexer (no --once) picks up a revocation by itself --------
start_bg indexer-follow env -C / "$IDX" -c "$CONF"
sleep 1
if openssl ca -config "$A/openssl.cnf" -revoke "$A/late.pem" -crl_reason cessationOfOperation \
    >"$T/revoke-late.log" 2>&1; then
    pass "openssl ca -revoke late.pem -crl_reason cessationOfOperation (indexer running)"
else
    fail "openssl ca -revoke late.pem" "$(cat "$T/revoke-late.log")"
fi
seen=
for _ in $(seq 30); do
    out=$(ocsp_q -issuer "$A/ca.pem" -cert "$A/late.pem" -no_nonce)
    if printf '%s\n' "$out" | grep -q 'late\.pem: revoked$'; then seen=1; break; fi
    sleep 0.5
done
if [ -n "$seen" ]; then
    expect "running revokd-indexer (interval 1s by default) published the revocation within 15 s" \
        "$out" '+late\.pem: revoked$' '+Reason: cessationOfOperation' "${OK[@]}"
else
    fail "running revokd-indexer published the revocation of late.pem within 15 s" \
        "$out
--- indexer log:
$(tail -n 20 "$T/indexer-follow.log")"
fi
if alive indexer-follow; then
    pass "revokd-indexer (follow mode) is still running"
else
    fail "revokd-indexer (follow mode) is still running (it exited)" "$(tail -n 20 "$T/indexer-follow.log")"
fi
stop_bg indexer-follow
if [ "$STOP_RC" = 0 ]; then
    pass "revokd-indexer exits 0 on SIGTERM"
else
    fail "revokd-indexer exits 0 on SIGTERM (exit $STOP_RC)" "$(tail -n 20 "$T/indexer-follow.log")"
fi

# --- shutdown, sanitizer reports ------------------------------------------------------
if alive responder; then
    pass "revokd-responder survived every request"
else
    fail "revokd-responder survived every request (it died)" "$(tail -n 40 "$T/responder.log")"
fi
stop_bg responder
if [ "$STOP_RC" = 0 ]; then
    pass "revokd-responder exits 0 on SIGTERM"
else
    fail "revokd-responder exits 0 on SIGTERM (exit $STOP_RC)" "$(tail -n 20 "$T/responder.log")"
fi
mapfile -t reports < <(grep -lE 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:' "$T"/*.log)
if [ "${#reports[@]}" -eq 0 ]; then
    pass "no sanitizer reports in any program log"
else
    fail "sanitizer reports in: ${reports[*]}" "$(grep -hE -A 20 'Sanitizer|runtime error:' "${reports[@]}" | head -n 60)"
fi

finish
