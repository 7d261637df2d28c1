#!/usr/bin/env bash
# End-to-end: the indexer's policy (issue 13 items 1-4 and 6) with a PKI made by
# scripts/mkpki.sh and `openssl ca`, the real programs, and openssl ocsp/crl/verify:
#   - serial 0 (`openssl ca` with a serial file saying 00) is served and, once
#     revoked, is in the CRL;
#   - editing an R line back to V keeps the certificate revoked (OCSP and CRL),
#     --once exits 1 and says why; --unrevoke corrects it only as documented;
#   - removeFromCRL after a hold is good; unspecified carries no reason;
#   - a fresh revocation's thisUpdate is not before its revocation time;
#   - an expired, not-yet-valid or nocheck-less delegated signer is refused at start.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_indexer_policy.sh   (ctest sets both)
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
CONF=$A/revokd.conf
CNF=$A/openssl.cnf

# issue NAME [openssl ca args...]: a leaf from the intermediate's `openssl ca`
issue() {
    local n=$1
    shift
    openssl req -new -config "$CNF" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$A/$n.key" -subj "/O=revokd e2e/CN=$n.$NAME.revokd.test" -out "$A/$n.csr" \
        >>"$T/issue.log" 2>&1 &&
        openssl ca -config "$CNF" -batch -notext -in "$A/$n.csr" -out "$A/$n.pem" "$@" \
            >>"$T/issue.log" 2>&1
}
revoke() { openssl ca -config "$CNF" -revoke "$A/$1.pem" "${@:2}" >>"$T/issue.log" 2>&1; }

# serial 0: what openssl ca issues when its serial file says 00
echo 00 >"$A/serial"
ok=1
issue zero || ok=0
for n in unspec hold undo fresh; do issue "$n" -extensions leaf_ext || ok=0; done
if [ "$ok" = 1 ] && [ "$(serial_of "$A/zero.pem")" = 00 ]; then
    pass "openssl ca issued zero.pem with serial 00 and four more leaves"
else
    fail "issue leaves (zero.pem serial $(serial_of "$A/zero.pem" 2>&1))" "$(tail -n 20 "$T/issue.log")"
    finish
fi
if ! { revoke unspec -crl_reason unspecified && revoke hold -crl_reason certificateHold &&
    revoke undo -crl_reason keyCompromise; }; then
    fail "openssl ca -revoke" "$(tail "$T/issue.log")"
fi

ocsp_q() {
    timeout -k 5 30 openssl ocsp -url "$URL" -timeout 10 -CAfile "$A/chain.pem" -no_nonce \
        -issuer "$A/ca.pem" -resp_text "$@" 2>&1
}
OK=('+Response verify OK' '-Response Verify Failure' '-WARNING: Status times invalid'
    '-Responder Error')

# --- phase 1 ---------------------------------------------------------------------
if run_logged idx-1 120 env -C / "$IDX" -c "$CONF" --once; then
    pass "revokd-indexer --once (serial 00 in index.txt) exits 0"
else
    fail "revokd-indexer --once exits 0 (exit $?)" "$(cat "$T/idx-1.log")"
fi
expect "indexer warns about serial 0" "$(cat "$T/idx-1.log")" '+serial 0 ' '-malformed line skipped'
start_bg responder env -C / "$RSP" -c "$CONF"
wait_port "$PORT" 15 || { fail "responder listens" "$(cat "$T/responder.log")"; finish; }

out=$(ocsp_q -cert "$A/zero.pem")
expect "openssl ocsp: serial 0 -> good" "$out" '+zero\.pem: good$' "${OK[@]}"
out=$(ocsp_q -cert "$A/unspec.pem")
expect "openssl ocsp: -crl_reason unspecified -> revoked with no Reason" "$out" \
    '+unspec\.pem: revoked$' '-Reason:' '-[Uu]nspecified' "${OK[@]}"
out=$(ocsp_q -cert "$A/hold.pem")
expect "openssl ocsp: certificateHold -> revoked, certificateHold" "$out" \
    '+hold\.pem: revoked$' '+Reason: certificateHold' "${OK[@]}"

# --- phase 2: revoke zero and fresh; release the hold; undo a revocation by hand --
if ! { revoke zero -crl_reason keyCompromise && revoke fresh -crl_reason superseded; }; then
    fail "openssl ca -revoke zero fresh" "$(tail "$T/issue.log")"
fi
UNDO=$(serial_of "$A/undo.pem")
HOLD=$(serial_of "$A/hold.pem")
# OpenSSL has no "release" command: the operator writes removeFromCRL (RFC 5280 5.3.1),
# and someone edits the revoked line of `undo` back to V.
sed -i -e "/\t$HOLD\t/s/,certificateHold/,removeFromCRL/" \
    -e "/\t$UNDO\t/s/^R\t\([^\t]*\)\t[^\t]*\t/V\t\1\t\t/" "$A/index.txt"
TAB=$'\t'
if grep -q "^V.*$TAB$UNDO$TAB" "$A/index.txt" && grep -q "removeFromCRL$TAB$HOLD$TAB" "$A/index.txt"; then
    pass "index.txt edited: $UNDO back to V, hold $HOLD released with removeFromCRL"
else
    fail "edit index.txt" "$(cat "$A/index.txt")"
fi
run_logged idx-2 120 env -C / "$IDX" -c "$CONF" --once
rc=$?
expect "indexer --once after R->V edit exits 1 and names the serial kept revoked (exit $rc)" \
    "exit=$rc
$(cat "$T/idx-2.log")" '+^exit=1$' "+serial $UNDO is listed as valid, but it was revoked" \
    '+kept revoked'
if run_logged crlgen-2 120 env -C / "$CRLGEN" -c "$CONF" --once; then
    pass "revokd-crlgen --once"
else
    fail "revokd-crlgen --once (exit $?)" "$(cat "$T/crlgen-2.log")"
fi
CRL=$T/crl/$NAME.crl.pem
[ -s "$A/crl/$NAME.crl.pem" ] && CRL=$A/crl/$NAME.crl.pem
crltext=$(openssl crl -in "$CRL" -noout -text 2>&1)
expect "CRL lists serial 00 and the hand-undone $UNDO, not the released hold $HOLD" "$crltext" \
    '+Serial Number: 00$' "+Serial Number: $UNDO\$" "-Serial Number: $HOLD\$"

out=$(ocsp_q -cert "$A/zero.pem")
expect "openssl ocsp: serial 0 revoked -> revoked, keyCompromise" "$out" \
    '+zero\.pem: revoked$' '+Reason: keyCompromise' "${OK[@]}"
out=$(timeout 20 openssl verify -crl_check -CAfile "$A/chain.pem" -CRLfile "$CRL" "$A/zero.pem" 2>&1)
expect "openssl verify -crl_check: serial 0 -> certificate revoked" "$out" \
    '+certificate revoked' '-: OK$'
out=$(timeout 20 openssl verify -crl_check -CAfile "$A/chain.pem" -CRLfile "$CRL" "$A/undo.pem" 2>&1)
expect "openssl verify -crl_check: R->V edited cert still revoked in the CRL" "$out" \
    '+certificate revoked' '-: OK$'
out=$(ocsp_q -cert "$A/undo.pem")
expect "openssl ocsp: R->V edited cert -> still revoked, keyCompromise" "$out" \
    '+undo\.pem: revoked$' '+Reason: keyCompromise' "${OK[@]}"
out=$(ocsp_q -cert "$A/hold.pem")
expect "openssl ocsp: removeFromCRL after a hold -> good" "$out" '+hold\.pem: good$' \
    '-Reason: removeFromCRL' "${OK[@]}"
out=$(timeout 20 openssl verify -crl_check -CAfile "$A/chain.pem" -CRLfile "$CRL" "$A/hold.pem" 2>&1)
expect "openssl verify -crl_check: released hold -> OK" "$out" '+hold\.pem: OK$'

out=$(ocsp_q -cert "$A/fresh.pem")
rev=$(printf '%s\n' "$out" | sed -n 's/^ *Revocation Time: //p' | head -n 1)
thu=$(printf '%s\n' "$out" | sed -n 's/^ *This Update: //p' | head -n 1)
rev_s=$(date -u -d "$rev" +%s 2>/dev/null || echo 0)
thu_s=$(date -u -d "$thu" +%s 2>/dev/null || echo -1)
if [ "$rev_s" -gt 0 ] && [ "$thu_s" -ge "$rev_s" ]; then
    pass "fresh revocation: This Update ($thu) >= Revocation Time ($rev)"
else
    fail "fresh revocation: This Update ($thu) >= Revocation Time ($rev)" "$out"
fi

# Per the /healthz contract (responder side; passes only after merge).
hz=$(curl -s --max-time 10 -w '\n%{http_code}' "$URL/healthz")
expect "/healthz: 503 naming the revocation kept although the source no longer lists it" "$hz" \
    '+^503$' "+issuer $NAME: 1 revocation\(s\) the source no longer lists kept revoked"

# --- phase 3: --unrevoke ------------------------------------------------------------
run_logged unrev-bad 60 env -C / "$IDX" -c "$CONF" --unrevoke "$NAME:00"
rc=$?
expect "--unrevoke $NAME:00 refused while index.txt lists it revoked (exit $rc)" "exit=$rc
$(cat "$T/unrev-bad.log")" '+^exit=1$' '+refused: .*still lists the certificate as revoked'
run_logged unrev-none 60 env -C / "$IDX" -c "$CONF" --unrevoke "nosuch:$UNDO"
rc=$?
expect "--unrevoke with an unknown issuer exits 2 (exit $rc)" "exit=$rc" '+^exit=2$'
out=$(ocsp_q -cert "$A/zero.pem")
expect "serial 0 still revoked after the refused --unrevoke" "$out" '+zero\.pem: revoked$'
run_logged unrev 60 env -C / "$IDX" -c "$CONF" --unrevoke "$NAME:$UNDO"
rc=$?
expect "--unrevoke $NAME:$UNDO (source says V) exits 0 with an AUDIT line (exit $rc)" "exit=$rc
$(cat "$T/unrev.log")" '+^exit=0$' "+AUDIT: uid [0-9]+ .*serial $UNDO changed from \[revoked"
out=$(ocsp_q -cert "$A/undo.pem")
expect "openssl ocsp after --unrevoke -> good" "$out" '+undo\.pem: good$' "${OK[@]}"
run_logged unrev-again 60 env -C / "$IDX" -c "$CONF" --unrevoke "$NAME:$UNDO"
rc=$?
expect "a second --unrevoke is refused: nothing to correct (exit $rc)" "exit=$rc
$(cat "$T/unrev-again.log")" '+^exit=1$' '+nothing to correct'
if run_logged idx-3 120 env -C / "$IDX" -c "$CONF" --once; then
    pass "revokd-indexer --once exits 0 again after the correction"
else
    fail "revokd-indexer --once after --unrevoke (exit $?)" "$(cat "$T/idx-3.log")"
fi

# --- phase 4: signers refused at start ----------------------------------------------
stop_bg responder
# signer NAME EXTFILE-SECTION [openssl ca args...]
signer() {
    local n=$1 ext=$2
    shift 2
    openssl req -new -config "$CNF" -newkey rsa:2048 -nodes -keyout "$A/$n.key" \
        -subj "/O=revokd e2e/CN=$n.$NAME.revokd.test" -out "$A/$n.csr" >>"$T/issue.log" 2>&1 &&
        openssl ca -config "$CNF" -batch -notext -extensions "$ext" -in "$A/$n.csr" \
            -out "$A/$n.pem" "$@" >>"$T/issue.log" 2>&1
}
cat >"$T/nonocheck.cnf" <<'EOF'
[ ocsp_nonocheck ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = critical, OCSPSigning
EOF
if signer expired ocsp_ext -startdate 20200101000000Z -enddate 20210101000000Z &&
    signer future ocsp_ext -startdate 20400101000000Z -enddate 20410101000000Z &&
    signer nonocheck ocsp_nonocheck -extfile "$T/nonocheck.cnf"; then
    pass "openssl ca issued an expired, a not-yet-valid and a nocheck-less OCSP signer"
else
    fail "issue signers" "$(tail -n 20 "$T/issue.log")"
fi
# conf_with SIGNER [extra issuer line]
# (the issuing CA's section only: mkpki's config also serves the root, signed by its own signer)
conf_with() {
    sed -e '/^\[issuer .*-root\]/,$d' \
        -e "s#^signer_cert *=.*#signer_cert = $1.pem#" -e "s#^signer_key *=.*#signer_key  = $1.key#" \
        "$CONF" >"$A/$1.conf"
    [ $# -lt 2 ] || printf '%s\n' "$2" >>"$A/$1.conf"
}
conf_with expired
run_logged sig-expired 60 env -C / "$IDX" -c "$A/expired.conf" --once
rc=$?
expect "expired signer refused at start (exit $rc)" "exit=$rc
$(cat "$T/sig-expired.log")" '-^exit=0$' \
    "+\[issuer $NAME\] signer_cert .*expired\.pem has expired: notAfter 2021-01-01 00:00:00 UTC"
conf_with future
run_logged sig-future 60 env -C / "$IDX" -c "$A/future.conf" --once
rc=$?
expect "not-yet-valid signer refused at start (exit $rc)" "exit=$rc
$(cat "$T/sig-future.log")" '-^exit=0$' \
    "+\[issuer $NAME\] signer_cert .*future\.pem is not valid yet: notBefore 2040-01-01 00:00:00 UTC"
conf_with nonocheck
run_logged sig-nonocheck 60 env -C / "$IDX" -c "$A/nonocheck.conf" --once
rc=$?
expect "signer without id-pkix-ocsp-nocheck refused at start (exit $rc)" "exit=$rc
$(cat "$T/sig-nonocheck.log")" '-^exit=0$' \
    "+\[issuer $NAME\] signer_cert .*nonocheck\.pem has no id-pkix-ocsp-nocheck" '+require_nocheck = no'
conf_with nonocheck "require_nocheck = no"
mv "$A/nonocheck.conf" "$A/nonocheck-ok.conf"
run_logged sig-nonocheck-ok 60 env -C / "$IDX" -c "$A/nonocheck-ok.conf" --once
rc=$?
expect "... accepted with require_nocheck = no, with a warning (exit $rc)" "exit=$rc
$(cat "$T/sig-nonocheck-ok.log")" '+^exit=0$' '+warn: .*no id-pkix-ocsp-nocheck'

finish
