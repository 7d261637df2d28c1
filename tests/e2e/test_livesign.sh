#!/usr/bin/env bash
# End-to-end: live signing (docs/signer.md). revokd-signer holds the keys and
# signs what no pre-signed response answers; the responder hands it requests
# over a Unix socket. Checked with openssl ocsp, GnuTLS ocsptool and
# python3-cryptography: `unknown` for a real certificate the CA database never
# listed (SHA-1/SHA-256, POST/GET), a nonce echoed under nonce = echo, two
# CertIDs in one answer, the RFC 6960 2.2 revoked form, tryLater while the
# signer is down (and recovery), a random-serial flood held to live_rate while
# pre-signed answers keep coming, and no key file open or mapped in the
# responder.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_livesign.sh
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=live
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
SGN=$BUILD/revokd-signer
echo "e2e: build $BUILD, temp $T"
need_programs "$IDX" "$RSP" "$SGN"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
A=$T/pki
make_pki "$A" "$NAME" "a PKI"

make_stranger "$A" "$NAME" 5EC2E7AB1E0001

# write_conf UNKNOWN NONCE RATE [MARGIN [VALIDITY]]: the config with those policies,
# live_margin (default 60s) and the indexer's validity (default 4d).
write_conf() {
    cat >"$T/revokd.conf" <<EOC
[store]
path = store

[log]
level = info

[indexer]
validity = ${5:-4d}
refresh = ${6:-1d}

[responder]
listen = 127.0.0.1:$PORT
backend = $E2E_BACKEND
workers = 2
live_rate = $3
live_timeout = 2s
live_cache_ttl = 2s
live_margin = ${4:-60s}

[signer]
socket = signer.sock
threads = 2

[issuer $NAME]
ca_cert        = pki/ca.pem
index          = pki/index.txt
signer_cert    = pki/ocsp.pem
signer_key     = pki/ocsp.key
unknown_serial = $1
nonce          = $2
EOC
}
write_conf unknown echo 1000
CONF=$T/revokd.conf
if run_logged check 20 env -C / "$RSP" -c "$CONF" --check; then
    pass "revokd-responder --check accepts [signer] and the live keys"
else
    fail "responder --check" "$(cat "$T/check.log")"
fi
if run_logged signer-check 20 env -C / "$SGN" -c "$CONF" --check; then
    pass "revokd-signer --check loads the config and the signer"
else
    fail "revokd-signer --check" "$(cat "$T/signer-check.log")"
fi
sed 's|^signer_key .*|signer_key = pki/missing.key|' "$CONF" >"$T/nokey.conf"
if run_logged signer-nokey 20 env -C / "$SGN" -c "$T/nokey.conf" --check; then
    fail "revokd-signer --check refuses a missing signer_key (it exited 0)" "$(cat "$T/signer-nokey.log")"
else
    pass "revokd-signer --check refuses a missing signer_key"
fi
if run_logged indexer 120 env -C / "$IDX" -c "$CONF" --once; then
    pass "revokd-indexer --once"
else
    fail "revokd-indexer --once" "$(cat "$T/indexer.log")"
    finish
fi

start_signer() {
    start_bg "signer$1" env -C / "$SGN" -c "$CONF"
    for ((i = 0; i < 100; i++)); do
        [ -S "$T/signer.sock" ] && return 0
        sleep 0.1
    done
    return 1
}
start_responder() {
    start_bg "responder$1" env -C / "$RSP" -c "$CONF"
    wait_port "$PORT" 15
}
if start_signer 1; then pass "revokd-signer listens on signer.sock"; else fail "signer start" "$(cat "$T/signer1.log")"; finish; fi
if start_responder 1; then pass "revokd-responder listens"; else fail "responder start" "$(cat "$T/responder1.log")"; finish; fi

ocsp_q() {
    timeout -k 5 30 openssl ocsp -url "$URL" -timeout 10 -CAfile "$A/chain.pem" "$@" 2>&1
}
OK=('+Response verify OK' '-Response Verify Failure' '-Nonce Verify error' '-Responder Error' '+Next Update:')

# --- unknown serial: live `unknown`, POST and GET, SHA-1 and SHA-256 ------------------
for dg in "" -sha256; do
    hn=sha1
    [ -n "$dg" ] && hn=sha256
    out=$(ocsp_q $dg -issuer "$A/ca.pem" -cert "$A/stranger.pem" -no_nonce)
    expect "openssl ocsp POST stranger.pem ($hn) -> unknown, Response verify OK" "$out" \
        '+stranger\.pem: unknown$' "${OK[@]}" '-: good'
    out=$(ocsp_q $dg -issuer "$A/ca.pem" -cert "$A/good.pem" -no_nonce)
    expect "openssl ocsp POST good.pem ($hn) -> good (pre-signed path)" "$out" '+good\.pem: good$' "${OK[@]}"
    n=get-stranger$dg
    openssl ocsp $dg -issuer "$A/ca.pem" -cert "$A/stranger.pem" -no_nonce -reqout "$T/$n.req" >/dev/null 2>&1
    b64=$("$PY" -c 'import sys, base64, urllib.parse; print(urllib.parse.quote(base64.b64encode(open(sys.argv[1], "rb").read()).decode(), safe=""))' "$T/$n.req")
    code=$(curl -s --max-time 10 -o "$T/$n.body" -w '%{http_code} %{content_type}' "$URL/$b64")
    out=$(timeout 20 openssl ocsp -respin "$T/$n.body" $dg -issuer "$A/ca.pem" -cert "$A/stranger.pem" \
        -CAfile "$A/chain.pem" -no_nonce 2>&1)
    expect "GET stranger.pem ($hn) -> 200, unknown, Response verify OK" "$code
$out" '+^200 application/ocsp-response' '+stranger\.pem: unknown$' "${OK[@]}"
done

# --- nonce = echo: openssl ocsp sends a nonce and gets it back ------------------------
for leaf in good stranger revoked; do
    out=$(ocsp_q -issuer "$A/ca.pem" -cert "$A/$leaf.pem" -nonce)
    want=good
    [ $leaf = stranger ] && want=unknown
    [ $leaf = revoked ] && want=revoked
    expect "openssl ocsp -nonce $leaf.pem (nonce = echo) -> $want, nonce echoed, verify OK" "$out" \
        "+$leaf\\.pem: $want\$" '-WARNING: no nonce' "${OK[@]}"
done

# --- two CertIDs in one request (python3-cryptography) ----------------------------------
for alg in "" --sha256; do
    out=$("$PY" "$HERE/live_multi.py" "$URL" "$A/ca.pem" "$A/good.pem" good "$A/stranger.pem" unknown $alg 2>&1)
    rc=$?
    expect "python cryptography: one request, good.pem + stranger.pem ${alg:---sha1} -> both answered, signed" \
        "rc=$rc
$out" '+^rc=0$' '+: good \(want good\), CertID matches: True' '+: unknown \(want unknown\), CertID matches: True' \
        '+signature: verified'
done

# --- GnuTLS ocsptool verifies a live answer ---------------------------------------------
out=$(timeout -k 5 30 ocsptool --ask="$URL" --no-nonce --load-issuer "$A/ca.pem" \
    --load-cert "$A/stranger.pem" --load-signer "$A/ca.pem" --outfile "$T/gnutls-stranger.der" 2>&1)
rc=$?
expect "ocsptool --ask stranger.pem (exit $rc) -> unknown, Verifying: Success" "rc=$rc
$out" '+Certificate Status: unknown' '+Verifying OCSP Response: Success' '-Failure'
out=$(timeout 20 ocsptool -e --load-trust "$A/chain.pem" --load-response "$T/gnutls-stranger.der" 2>&1)
rc=$?
expect "ocsptool -e --load-trust chain.pem on the live answer (exit $rc) -> Success" "rc=$rc
$out" '+^rc=0$' '+Verifying OCSP Response: Success'

# --- no key in the responder: its open files and maps ------------------------------------
RPID=$(pid_of responder1)
KEYS=
for k in "$A"/*.key; do KEYS="$KEYS $(basename "$k")"; done
fds=$(ls -l "/proc/$RPID/fd" 2>&1)
maps=$(cat "/proc/$RPID/maps" 2>&1)
bad=
for k in $KEYS; do
    printf '%s\n%s\n' "$fds" "$maps" | grep -F -q "$A/$k" && bad="$bad $k"
done
if [ -n "$fds" ] && [ -n "$maps" ] && [ -z "$bad" ] && printf '%s\n' "$maps" | grep -q revokd-responder &&
    printf '%s\n' "$fds" | grep -q socket; then
    pass "responder (pid $RPID) has no key file open or mapped (checked: $KEYS)"
else
    fail "responder has a key file open or mapped:$bad" "$fds"
fi
# Positive control: the same inspection does see the files the responder uses
# (the store's map), so finding no key above means something.
if printf '%s\n' "$maps" | grep -q "$T/store/data.mdb"; then
    pass "positive control: the inspection finds the store's data.mdb mapped in the responder"
else
    fail "positive control: data.mdb not found in the responder's maps" "$maps"
fi
SPID=$(pid_of signer1)

# --- signer killed mid-load: tryLater, no hang, pre-signed keeps serving; recovery ---
openssl ocsp -issuer "$A/ca.pem" -cert "$A/good.pem" -no_nonce -reqout "$T/good.req" >/dev/null 2>&1
"$PY" "$HERE/live_flood.py" "$URL" "$T/good.req" 4 >"$T/killflood.out" 2>&1 &
FLOOD=$!
sleep 1.5
kill -KILL "$SPID"
stop_bg signer1
wait "$FLOOD"
out=$(cat "$T/killflood.out")
echo "    flood while the signer was killed: $out"
read -r _ _ _ unk _ tl _ oth _ gd <<<"$out"
if [ -n "${unk:-}" ] && [ "$unk" -gt 0 ] && [ "$tl" -gt 0 ] && [ "$oth" -eq 0 ] && [ "$gd" -eq $((unk + tl)) ]; then
    pass "signer killed mid-load: $unk live answers before, $tl tryLater after, no error or hang, all $gd pre-signed good"
else
    fail "signer killed mid-load" "$out"
fi
# A fresh serial (no cache entry can answer it): tryLater at once, well inside
# live_timeout (2 s), which a hang would run into.
start=$(date +%s%N)
out=$(ocsp_q -issuer "$A/ca.pem" -serial 0x5EC2E7AB1E0002 -no_nonce)
ms=$((($(date +%s%N) - start) / 1000000))
expect "signer down: a never-listed serial -> Responder Error: trylater, in $ms ms (< 1500)" "$out
ms=$ms" '+Responder Error: trylater \(3\)' '-: unknown' '+^ms=([0-9]{1,3}|1[0-4][0-9]{2})$'
out=$(ocsp_q -issuer "$A/ca.pem" -cert "$A/good.pem" -no_nonce)
expect "signer killed: good.pem still good (pre-signed path)" "$out" '+good\.pem: good$' "${OK[@]}"
m=$(curl -s --max-time 10 "$URL/metrics")
expect "/metrics counts signer_down" "$m" '+^revokd_live_requests_total\{result="signer_down"\} [1-9]'
if start_signer 2; then pass "revokd-signer restarted"; else fail "signer restart" "$(cat "$T/signer2.log")"; fi
# Another fresh serial, so the answer cannot come from the cache: the signer's.
for ((i = 0; i < 30; i++)); do
    out=$(ocsp_q -issuer "$A/ca.pem" -serial 0x5EC2E7AB1E0003 -no_nonce)
    printf '%s\n' "$out" | grep -q ': unknown$' && break
    sleep 0.2
done
expect "signer back: a never-listed serial -> unknown, verified" "$out" '+: unknown$' "${OK[@]}"

# --- flood of random serials within live_rate, pre-signed answers unaffected -------------
stop_bg responder1
write_conf unknown ignore 20
start_responder 2 || fail "responder restart" "$(cat "$T/responder2.log")"
out=$("$PY" "$HERE/live_flood.py" "$URL" "$T/good.req" 3 2>&1)
echo "    flood: $out"
read -r _ el _ unk _ tl _ oth _ gd <<<"$out"
# live_rate 20/s over the two workers (10/s each), one second deep: at most
# 20 + 20 * elapsed signatures.
limit=$("$PY" -c "import sys; print(int(20 + 20 * float(sys.argv[1])) + 1)" "${el:-0}")
if [ -n "${unk:-}" ] && [ "$unk" -ge 10 ] && [ "$unk" -le "$limit" ] && [ "$tl" -gt 0 ] && [ "$oth" -eq 0 ] &&
    [ "$gd" -eq $((unk + tl)) ]; then
    pass "random-serial flood: $unk signed (limit $limit), $tl tryLater, every one of $gd pre-signed answers good"
else
    fail "random-serial flood held to live_rate = 20" "$out (limit $limit)"
fi
m=$(curl -s --max-time 10 "$URL/metrics")
expect "/metrics counts rate_limited" "$m" '+^revokd_live_requests_total\{result="rate_limited"\} [1-9]'

# --- unknown_serial = revoked (RFC 6960 2.2) and = unauthorized ---------------------------
stop_bg responder2
stop_bg signer2
write_conf revoked ignore 1000
start_signer 3 || fail "signer restart" "$(cat "$T/signer3.log")"
start_responder 3 || fail "responder restart" "$(cat "$T/responder3.log")"
# OpenSSL prints id-pkix-ocsp-extended-revoke (1.3.6.1.5.5.7.48.1.9) by its old name
# "valid"; the DER must hold the OID itself, with the NULL value RFC 6960 4.4.8 gives.
out=$(ocsp_q -issuer "$A/ca.pem" -cert "$A/stranger.pem" -no_nonce -resp_text -respout "$T/revform.der")
hex=$(od -An -tx1 -v "$T/revform.der" | tr -d ' \n')
case "$hex" in
*06092b060105050730010904020500*) pass "the 2.2 answer carries id-pkix-ocsp-extended-revoke, value NULL" ;;
*) fail "the 2.2 answer carries id-pkix-ocsp-extended-revoke" "$hex" ;;
esac
expect "unknown_serial = revoked: stranger.pem -> revoked, certificateHold, 1970, extended revoke" "$out" \
    '+stranger\.pem: revoked$' '+Reason: certificateHold' '+Revocation Time: Jan  1 00:00:00 1970 GMT' \
    '+Response Extensions:' '+^ +valid: *$' "${OK[@]}"
stop_bg responder3
stop_bg signer3
write_conf unauthorized ignore 1000
start_signer 4 || fail "signer restart" "$(cat "$T/signer4.log")"
start_responder 4 || fail "responder restart" "$(cat "$T/responder4.log")"
out=$(ocsp_q -issuer "$A/ca.pem" -cert "$A/stranger.pem" -no_nonce)
expect "unknown_serial = unauthorized: stranger.pem -> unauthorized" "$out" '+Responder Error: unauthorized \(6\)'
out=$(ocsp_q -issuer "$A/ca.pem" -cert "$A/good.pem" -nonce)
expect "nonce = ignore: good.pem with a nonce -> pre-signed good, no nonce" "$out" '+good\.pem: good$' \
    '+WARNING: no nonce in response' '+Response verify OK'

# --- a nearly expired pre-signed response is signed live, never served stale ---------
# Re-sign with a 3 h validity and let live_margin (1 d) call all of them nearly
# expired: good.pem must come back signed live (nextUpdate = thisUpdate + [signer]
# validity, 1 h) and verified, not the pre-signed bytes (3 h).
stop_bg responder4
stop_bg signer4
rm -rf "$T/store"
write_conf unknown ignore 1000 1d 3h 1h
if run_logged indexer-short 120 env -C / "$IDX" -c "$CONF" --once; then
    pass "revokd-indexer --once signed a new store with a 3 h validity"
else
    fail "revokd-indexer --once (3 h)" "$(cat "$T/indexer-short.log")"
fi
start_signer 5 || fail "signer restart" "$(cat "$T/signer5.log")"
start_responder 5 || fail "responder restart" "$(cat "$T/responder5.log")"
out=$(ocsp_q -issuer "$A/ca.pem" -cert "$A/good.pem" -no_nonce)
span=$(printf '%s\n' "$out" | "$PY" -c '
import sys, datetime
f = "%b %d %H:%M:%S %Y GMT"
t = {}
for line in sys.stdin:
    k, _, v = line.strip().partition(": ")
    if k in ("This Update", "Next Update"):
        t[k] = datetime.datetime.strptime(" ".join(v.split()), f)
print(int((t["Next Update"] - t["This Update"]).total_seconds()) if len(t) == 2 else "none")')
expect "live_margin 1d, responses with 3 h left: good.pem signed live (span ${span}s = 1 h + backdate), verified" \
    "$out
span=$span" '+good\.pem: good$' "${OK[@]}" '+^span=7200$'
m=$(curl -s --max-time 10 "$URL/metrics")
expect "/metrics counts the live signature" "$m" '+^revokd_live_requests_total\{result="signed"\} [1-9]'
stop_bg responder5
write_conf unknown ignore 1000 60s 3h 1h
start_responder 6 || fail "responder restart" "$(cat "$T/responder6.log")"
out=$(ocsp_q -issuer "$A/ca.pem" -cert "$A/good.pem" -no_nonce)
span=$(printf '%s\n' "$out" | "$PY" -c '
import sys, datetime
f = "%b %d %H:%M:%S %Y GMT"
t = {}
for line in sys.stdin:
    k, _, v = line.strip().partition(": ")
    if k in ("This Update", "Next Update"):
        t[k] = datetime.datetime.strptime(" ".join(v.split()), f)
print(int((t["Next Update"] - t["This Update"]).total_seconds()) if len(t) == 2 else "none")')
expect "negative control: live_margin 60s -> the pre-signed answer (span ${span}s = 3 h)" "$out
span=$span" '+good\.pem: good$' "${OK[@]}" '+^span=10800$'

finish
