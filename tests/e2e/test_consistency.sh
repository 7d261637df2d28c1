#!/usr/bin/env bash
# End-to-end property test (issue 13): OCSP and the CRL never disagree, for every
# status and reason `openssl ca` can write.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_consistency.sh   (ctest sets both)
#   E2E_KEEP=1 keeps the temp dir; it is always kept when something failed.
#
# A generated CA database (consistency.py gen: ~260 lines in `openssl ca`'s exact
# format; V, E, R with no reason, every CRLReason word, holdInstruction,OID, keyTime,
# CAkeyTime, removeFromCRL; serials of 1..20 octets, serial 0, top bit set; revocations
# inside the backdate window) under the issuing CA of a mkpki PKI. The real indexer,
# crlgen and responder run on it; consistency.py check asks OCSP about every serial
# (POST, and a sample with GET and SHA-256 CertIDs), downloads the CRL, and asserts:
# CRL serials == OCSP revoked serials, same reason and time on both channels,
# thisUpdate >= revocationTime, released holds good and unlisted, unspecified never
# spelled out, each response verifies and answers the CertID asked, each kind of line
# means what the contract says on both channels, and the CRL entries equal those of
# `openssl ca -gencrl` on the same database. Then the database is edited as operators
# do (new revocations and holds, a hold released, a hold made permanent, R lines
# turned back into V/E or into removeFromCRL) and everything is asserted again, plus
# "never undo": those certificates stay revoked on both channels and /healthz says so.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=prop
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
CRLGEN=$BUILD/revokd-crlgen
CONS=("$PY" "$HERE/consistency.py")

echo "e2e: build $BUILD, temp $T"
need_programs "$IDX" "$RSP" "$CRLGEN"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
P=$T/pki
D=$T/db
make_pki "$P" "$NAME" "the PKI whose issuing CA signs the generated database"
mkdir -p "$D"
if out=$("${CONS[@]}" gen --out "$D/index.txt" --model "$D/model.json" 2>&1); then
    pass "generated the CA database: $out"
else
    fail "consistency.py gen" "$out"
    finish
fi

cat >"$T/revokd.conf" <<EOF
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
ca_cert     = pki/ca.pem
index       = db/index.txt
signer_cert = pki/ocsp.pem
signer_key  = pki/ocsp.key
crl_key     = pki/ca.key
digest      = sha256
EOF

# The oracle: `openssl ca -gencrl` with the PKI's own config pointed at the database.
sed "s|^dir  *= .*|dir              = $D|" "$P/openssl.cnf" >"$D/openssl.cnf"
printf '01\n' >"$D/crlnumber"
oracle() { # oracle ROUND: writes $D/oracle-ROUND.crl
    if openssl ca -config "$D/openssl.cnf" -gencrl -crldays 1 -out "$D/oracle-$1.crl" \
        >"$T/oracle-$1.log" 2>&1; then
        pass "openssl ca -gencrl on the same database ($1), the independent oracle"
    else
        fail "openssl ca -gencrl on the same database ($1)" "$(cat "$T/oracle-$1.log")"
    fi
}

# check ROUND: runs consistency.py check, one PASS/FAIL here per assertion it makes
check() {
    local line n=0 orc=()
    [ -s "$D/oracle-$1.crl" ] && orc=(--oracle-crl "$D/oracle-$1.crl")
    while IFS= read -r line; do
        case "$line" in
        PASS:*) pass "${line#PASS: }"; n=$((n + 1)) ;;
        FAIL:*) fail "${line#FAIL: }"; n=$((n + 1)) ;;
        *) echo "    $line" ;;
        esac
    done < <(timeout -k 5 300 "${CONS[@]}" check --url "$URL" --issuer "$P/ca.pem" \
        --signer "$P/ocsp.pem" --model "$D/model.json" --crl-name "$NAME" --label "$1" "${orc[@]}" 2>&1)
    [ "$n" -gt 10 ] || fail "consistency.py check ($1) ran its assertions (only $n)"
}

# --- round 1: the database as generated -----------------------------------------------
if run_logged indexer-1 120 env -C / "$IDX" -c "$T/revokd.conf" --once; then
    pass "revokd-indexer --once accepts every line openssl ca writes (exit 0)"
else
    fail "revokd-indexer --once accepts every line openssl ca writes (exit $?)" \
        "$(grep -v ' info: ' "$T/indexer-1.log")"
fi
if run_logged crlgen-1 120 env -C / "$CRLGEN" -c "$T/revokd.conf" --once; then
    pass "revokd-crlgen --once (exit 0)"
else
    fail "revokd-crlgen --once (exit $?)" "$(cat "$T/crlgen-1.log")"
fi
oracle round1

start_bg responder env -C / "$RSP" -c "$T/revokd.conf"
listens responder "revokd-responder listens on 127.0.0.1:$PORT"
health() { curl -s --max-time 10 -o "$T/healthz.body" -w '%{http_code}' "$URL/healthz"; }
code=$(health)
expect "GET /healthz after a complete sync -> 200" "$code $(cat "$T/healthz.body")" '+^200 ok'

check round1

# --- round 2: operators' edits ----------------------------------------------------------
sleep 1 # revocation dates of the edits fall in a later second than round 1's signing
if out=$("${CONS[@]}" mutate --index "$D/index.txt" --model "$D/model.json" 2>&1); then
    pass "edited the database: $out"
else
    fail "consistency.py mutate" "$out"
    finish
fi
run_logged indexer-2 120 env -C / "$IDX" -c "$T/revokd.conf" --once
rc=$?
echo "    revokd-indexer --once after the edits exited $rc (not asserted: refused undos may count as errors)"
# Contract: each refused undo is logged at error level with the issuer and serial hex.
mapfile -t undo < <("${CONS[@]}" undo --model "$D/model.json")
missing=()
for s in "${undo[@]}"; do
    grep -i " error: " "$T/indexer-2.log" | grep -i "$NAME" | grep -qi "$s" || missing+=("$s")
done
if [ "${#undo[@]}" -gt 0 ] && [ "${#missing[@]}" -eq 0 ]; then
    pass "revokd-indexer logs each of the ${#undo[@]} refused undos (error, issuer, serial hex)"
else
    fail "revokd-indexer logs each of the ${#undo[@]} refused undos (error, issuer, serial hex): ${#missing[@]} not named: ${missing[*]}" \
        "$(grep -v ' info: ' "$T/indexer-2.log")"
fi
if run_logged crlgen-2 120 env -C / "$CRLGEN" -c "$T/revokd.conf" --once; then
    pass "revokd-crlgen --once after the edits (sync complete, exit 0)"
else
    fail "revokd-crlgen --once after the edits (exit $?)" "$(cat "$T/crlgen-2.log")"
fi
oracle round2
code=$(health)
expect "GET /healthz with refused undos -> 503 naming them" "$code $(cat "$T/healthz.body")" \
    '+^503 ' "+issuer $NAME: [0-9]+ revocation\(s\) the source no longer lists kept revoked"
check round2

# --- shutdown, sanitizer reports ------------------------------------------------------
if alive responder; then
    pass "revokd-responder survived every request"
else
    fail "revokd-responder survived every request (it died)" "$(tail -n 40 "$T/responder.log")"
fi
stop_bg responder
mapfile -t reports < <(grep -lE 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:' "$T"/*.log)
if [ "${#reports[@]}" -eq 0 ]; then
    pass "no sanitizer reports in any program log"
else
    fail "sanitizer reports in: ${reports[*]}" "$(grep -hE -A 20 'Sanitizer|runtime error:' "${reports[@]}" | head -n 60)"
fi

finish
