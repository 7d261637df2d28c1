#!/usr/bin/env bash
# End-to-end: faults around the store and the keys (issue 12 item 2):
#   - LMDB map full: an import into a 16 MiB map stops with a message that names
#     [store] map_size and how to grow it, exit 1, the store stays consistent
#     (tests/e2e/storecheck.c); raising map_size and running again resumes and
#     completes, and a responder started before the growth serves the new part;
#   - an unreadable, missing or mismatched signer_key, and a mismatched crl_key,
#     stop with a message that names the key file, exit non-zero;
#   - the store removed, then replaced, under a running responder: reported in
#     the log and on /healthz (503) and /metrics (revokd_store_current 0), answers
#     go on from the open copy, SIGHUP serves the new one and /healthz is 200 again.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_store_faults.sh   (ctest sets both)
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=flt
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
CRLGEN=$BUILD/revokd-crlgen
CHECK=$BUILD/tests/e2e_storecheck
echo "e2e: build $BUILD, temp $T"
need_programs "$IDX" "$RSP" "$CRLGEN" "$CHECK" /usr/bin/curl

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
A=$T/pki
make_pki "$A" "$NAME" "a PKI"
LINES=12000
"$PY" "$SRC/bench/synth-index.py" --n "$LINES" --out "$T/index.txt" --base "$A/index.txt" \
    2>"$T/synth.log" || { fail "synth-index.py" "$(cat "$T/synth.log")"; finish; }
cp "$T/index.txt" "$A/index.txt"

# conf FILE MAP_SIZE [SIGNER_KEY [CRL_KEY]]
conf() {
    cat >"$1" <<EOC
[store]
path = store
map_size = $2

[responder]
listen = 127.0.0.1:$PORT
backend = $E2E_BACKEND

[indexer]
batch = 1000

[issuer $NAME]
ca_cert     = pki/ca.pem
index       = pki/index.txt
signer_cert = pki/ocsp.pem
signer_key  = ${3:-pki/ocsp.key}
crl_key     = ${4:-pki/ca.key}
EOC
}

# --- map full, then grown ------------------------------------------------------
conf "$T/small.conf" 16M
run_logged full 300 env -C "$T" "$IDX" -c "$T/small.conf" --once
rc=$?
L=$(cat "$T/full.log")
if [ "$rc" -eq 1 ]; then
    pass "indexer into a 16 MiB map: exit 1"
else
    fail "indexer into a 16 MiB map: exit 1 (got $rc)" "$L"
fi
expect "map full: the message names map_size, its value and how to grow it" "$L" \
    "+the store at .*store is full: \[store\] map_size = 16 MiB is too small\. Raise map_size" \
    '+docs/store.md, "Sizing"'
"$CHECK" "$T/store" "$NAME" 20 >"$T/full.lines" 2>"$T/full.err"
n_full=$(grep -c . "$T/full.lines")
if [ -s "$T/full.err" ] || [ "$n_full" -eq 0 ] || [ "$n_full" -ge "$LINES" ]; then
    fail "after map full the store is consistent and holds part of the import ($n_full of $LINES)" "$(cat "$T/full.err")"
else
    pass "after map full the store is consistent and holds $n_full of $LINES certificates"
fi
conf "$T/big.conf" 512M
start_bg responder env -C "$T" "$RSP" -c "$T/big.conf"
wait_port "$PORT" 15 || { fail "responder listens" "$(cat "$T/responder.log")"; finish; }
if run_logged grown 300 env -C "$T" "$IDX" -c "$T/big.conf" --once; then
    pass "map_size raised to 512M: the indexer completes"
else
    fail "map_size raised to 512M: the indexer completes" "$(cat "$T/grown.log")"
fi
signed=$(sed -n "s/.*\[issuer $NAME\] synced [0-9]* entries ([0-9]* changed, \([0-9]*\) responses signed.*/\1/p" "$T/grown.log")
want=$((2 * (LINES - n_full)))
if [ "$signed" = "$want" ]; then
    pass "the grown run resumed: signed $signed responses (2 x the $((LINES - n_full)) missing)"
else
    fail "the grown run resumed: signed 2 x $((LINES - n_full)) = $want (got '$signed')" "$(cat "$T/grown.log")"
fi
"$CHECK" "$T/store" "$NAME" 20 >"$T/grown.lines" 2>"$T/grown.err"
n=$(grep -c . "$T/grown.lines")
if [ ! -s "$T/grown.err" ] && [ "$n" -eq "$LINES" ]; then
    pass "after growing the store is consistent and complete ($n certificates)"
else
    fail "after growing the store is consistent and complete ($n of $LINES)" "$(cat "$T/grown.err")"
fi
# The responder opened the 16 MiB map; it must serve a certificate written past it.
last=$(tail -n 1 "$T/index.txt" | cut -f4)
lst=$(tail -n 1 "$T/index.txt" | cut -f1)
o=$(timeout -k 5 30 openssl ocsp -url "$URL" -timeout 10 -CAfile "$A/chain.pem" -no_nonce \
    -issuer "$A/ca.pem" -serial "0x$last" 2>&1)
[ "$lst" = V ] && w=': good' || w=': revoked'
expect "the running responder serves the last line ($last), written after the map grew" "$o" \
    '+Response verify OK' "+$w"
stop_bg responder

# --- the store removed, then replaced, under a running responder -----------------
start_bg responder2 env -C "$T" "$RSP" -c "$T/big.conf"
wait_port "$PORT" 15 || { fail "responder listens" "$(cat "$T/responder2.log")"; finish; }
hz() { curl -s --max-time 5 -o "$T/hz.body" -w '%{http_code}' "$URL/healthz"; }
code=$(hz)
[ "$code" = 200 ] && pass "/healthz 200 before" || fail "/healthz 200 before (got $code)" "$(cat "$T/hz.body")"
mv "$T/store" "$T/store.moved"
sleep 2
code=$(hz)
expect "store removed: /healthz $code says so" "$code $(cat "$T/hz.body")" '+^503 ' '+store removed'
expect "store removed: logged" "$(cat "$T/responder2.log")" '+the store was removed'
o=$(timeout -k 5 30 openssl ocsp -url "$URL" -timeout 10 -CAfile "$A/chain.pem" -no_nonce \
    -issuer "$A/ca.pem" -cert "$A/revoked.pem" 2>&1)
expect "store removed: answers go on from the open copy" "$o" '+Response verify OK' '+: revoked'
# a new store at the path (a rebuild), with good.pem revoked in it
openssl ca -config "$A/openssl.cnf" -revoke "$A/good.pem" -crl_reason superseded >"$T/rev.log" 2>&1
run_logged rebuild 300 env -C "$T" "$IDX" -c "$T/big.conf" --once ||
    fail "rebuild the store" "$(cat "$T/rebuild.log")"
sleep 2
code=$(hz)
expect "store replaced: /healthz $code says so" "$code $(cat "$T/hz.body")" '+^503 ' '+replaced'
expect "store replaced: logged" "$(cat "$T/responder2.log")" '+the store was replaced'
expect "store replaced: /metrics revokd_store_current 0" "$(curl -s --max-time 5 "$URL/metrics")" \
    '+^revokd_store_current 0$'
kill -HUP "$(pid_of responder2)"
sleep 2
code=$(hz)
expect "after SIGHUP: /healthz 200 and /metrics revokd_store_current 1" \
    "$code $(curl -s --max-time 5 "$URL/metrics")" '+^200 ' '+^revokd_store_current 1$'
o=$(timeout -k 5 30 openssl ocsp -url "$URL" -timeout 10 -CAfile "$A/chain.pem" -no_nonce \
    -issuer "$A/ca.pem" -cert "$A/good.pem" 2>&1)
expect "after SIGHUP the rebuilt store answers (good.pem revoked there)" "$o" \
    '+Response verify OK' '+good.pem: revoked'
stop_bg responder2
expect "responder exited 0 (no crash)" "exit $STOP_RC" '+^exit 0$'

# --- keys ----------------------------------------------------------------------
echo "not a key" >"$A/garbage.key"
key_case() { # key_case WHAT CONF PROGRAM KEYFILE
    run_logged key 60 env -C "$T" "$3" -c "$2" --once
    local rc=$?
    if [ "$rc" -ne 0 ] && grep -q "$4" "$T/key.log"; then
        pass "$1: exit $rc, the message names $4"
    else
        fail "$1: exit non-zero with a message naming $4 (exit $rc)" "$(cat "$T/key.log")"
    fi
}
conf "$T/k1.conf" 512M pki/garbage.key
key_case "indexer with an unreadable signer_key" "$T/k1.conf" "$IDX" garbage.key
conf "$T/k2.conf" 512M pki/missing.key
key_case "indexer with a missing signer_key" "$T/k2.conf" "$IDX" missing.key
conf "$T/k3.conf" 512M pki/good.key
key_case "indexer with a signer_key of another certificate" "$T/k3.conf" "$IDX" good.key
conf "$T/k4.conf" 512M pki/ocsp.key pki/good.key
key_case "crlgen with a crl_key of another certificate" "$T/k4.conf" "$CRLGEN" good.key
finish
