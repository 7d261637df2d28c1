#!/usr/bin/env bash
# End-to-end: the live signer's health as the responder reports it, and
# revokd-signer's signals (docs/signer.md, issue 10).
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_signer_health.sh   (ctest sets both)
#
# Checked: with revokd-signer up, /metrics has revokd_live_signer_up 1 and
# /healthz is 200 "ok" with no signer line; SIGHUP makes the signer read its
# config again (unknown_serial changed from unknown to revoked: openssl ocsp
# then gets the RFC 6960 2.2 revoked form for a never-issued certificate,
# Response verify OK); a SIGHUP with a config whose key is missing is refused
# and the previous config keeps signing; SIGTERM makes it exit 0 within 5 s,
# logging its totals; with the signer gone /metrics has revokd_live_signer_up
# 0 and /healthz stays 200 but says "live signer down" (a down signer makes
# live answers tryLater, not wrong: decision in docs/signer.md), the
# pre-signed path keeps answering; a restarted signer is up again.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=sgh
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
SGN=$BUILD/revokd-signer
echo "e2e: build $BUILD, temp $T"
need_programs "$IDX" "$RSP" "$SGN"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
A=$T/pki
make_pki "$A" "$NAME" "a PKI"

make_stranger "$A" "$NAME" 5EC2E7AB1E0002

# write_conf UNKNOWN_SERIAL [SIGNER_KEY]
write_conf() {
    cat >"$T/revokd.conf" <<EOC
[store]
path = store

[log]
level = info

[responder]
listen = 127.0.0.1:$PORT
backend = $E2E_BACKEND
workers = 2
live_timeout = 2s

[signer]
socket = signer.sock
threads = 2

[issuer $NAME]
ca_cert        = pki/ca.pem
index          = pki/index.txt
signer_cert    = pki/ocsp.pem
signer_key     = ${2:-pki/ocsp.key}
unknown_serial = $1
EOC
}
write_conf unknown
CONF=$T/revokd.conf
if run_logged indexer 120 env -C / "$IDX" -c "$CONF" --once; then pass "revokd-indexer --once"; else
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
if start_signer 1; then pass "revokd-signer listens"; else fail "signer start" "$(cat "$T/signer1.log")"; finish; fi
start_bg responder env -C / "$RSP" -c "$CONF"
listens responder "revokd-responder listens"

ocsp_q() {
    timeout -k 5 30 openssl ocsp -url "$URL" -timeout 10 -CAfile "$A/chain.pem" -issuer "$A/ca.pem" -no_nonce "$@" 2>&1
}
# health WANT_UP: checks /metrics and /healthz for a signer up (1) or down (0).
health() {
    local want=$1 m code body
    m=$(curl -s --max-time 10 "$URL/metrics")
    code=$(curl -s --max-time 10 -o "$T/healthz.body" -w '%{http_code}' "$URL/healthz")
    body=$(cat "$T/healthz.body")
    if echo "$m" | grep -q "^revokd_live_signer_up $want\$" && echo "$m" | grep -q '^# TYPE revokd_live_signer_up gauge$'; then
        pass "/metrics: revokd_live_signer_up $want"
    else
        fail "/metrics revokd_live_signer_up $want" "$(echo "$m" | grep -i signer)"
    fi
    if [ "$want" = 1 ] && [ "$code" = 200 ] && [ "$body" = ok ]; then
        pass "/healthz 200 ok, no signer line, with the signer up"
    elif [ "$want" = 0 ] && [ "$code" = 200 ] && echo "$body" | grep -q '^live signer down: \[signer\] socket .*signer.sock'; then
        pass "/healthz stays 200 and says: $(echo "$body" | grep 'live signer down')"
    else
        fail "/healthz with signer up=$want (HTTP $code)" "$body"
    fi
}
health 1
out=$(ocsp_q -cert "$A/stranger.pem")
if echo "$out" | grep -q 'stranger.pem: unknown$' && echo "$out" | grep -q 'Response verify OK'; then
    pass "live signing: stranger.pem unknown (unknown_serial = unknown)"
else
    fail "live unknown" "$out"
fi

# --- SIGHUP: a new config is read --------------------------------------------------------
write_conf revoked
kill -HUP "$(pid_of signer1)"
ok=
for ((i = 0; i < 50; i++)); do
    grep -q "SIGHUP: configuration .* reloaded" "$T/signer1.log" && ok=1 && break
    sleep 0.1
done
if [ -n "$ok" ] && alive signer1; then pass "SIGHUP: revokd-signer reloads its configuration"; else fail "SIGHUP reload" "$(cat "$T/signer1.log")"; fi
out=
for ((i = 0; i < 30; i++)); do # the responders reconnect within 200 ms; give it 3 s
    out=$(ocsp_q -cert "$A/stranger.pem")
    echo "$out" | grep -q 'stranger.pem: revoked$' && break
    sleep 0.1
done
if echo "$out" | grep -q 'stranger.pem: revoked$' && echo "$out" | grep -q 'Response verify OK'; then
    pass "after SIGHUP the new policy signs: stranger.pem revoked (RFC 6960 2.2), Response verify OK"
else
    fail "new policy after SIGHUP" "$out"
fi
health 1

# A reload whose config cannot load its key: refused, the previous one keeps serving.
write_conf unknown pki/missing.key
kill -HUP "$(pid_of signer1)"
ok=
for ((i = 0; i < 50; i++)); do
    grep -q "SIGHUP: .*serving the previous configuration" "$T/signer1.log" && ok=1 && break
    sleep 0.1
done
out=
for ((i = 0; i < 30; i++)); do
    out=$(ocsp_q -cert "$A/stranger.pem")
    echo "$out" | grep -q 'stranger.pem: revoked$' && break
    sleep 0.1
done
if [ -n "$ok" ] && alive signer1 && echo "$out" | grep -q 'stranger.pem: revoked$'; then
    pass "SIGHUP with a missing signer_key: refused, the previous config still signs (revoked)"
else
    fail "bad SIGHUP kept the previous config" "$(tail -5 "$T/signer1.log"; echo "$out")"
fi

# --- SIGTERM: a clean exit --------------------------------------------------------------
t0=$EPOCHREALTIME
stop_bg signer1
ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
if [ "$STOP_RC" = 0 ] && [ "$ms" -lt 5000 ] && grep -q "stopping: .* requests" "$T/signer1.log"; then
    pass "SIGTERM: revokd-signer exits 0 in $ms ms and logs its totals"
else
    fail "SIGTERM exit (rc $STOP_RC, $ms ms)" "$(tail -5 "$T/signer1.log")"
fi
health 0
out=$(ocsp_q -cert "$A/good.pem")
if echo "$out" | grep -q 'good.pem: good$' && echo "$out" | grep -q 'Response verify OK'; then
    pass "signer down: the pre-signed path still answers good.pem good"
else
    fail "pre-signed with the signer down" "$out"
fi
# A serial never asked before (stranger.pem's answer is in the responder's live cache).
out=$(ocsp_q -serial 0x5EC2E7AB1E0FFF)
if echo "$out" | grep -qi 'Responder Error: trylater'; then pass "signer down: a new unknown serial gets tryLater"; else fail "tryLater with the signer down" "$out"; fi

write_conf unknown
if start_signer 2; then pass "revokd-signer restarted"; else fail "signer restart" "$(cat "$T/signer2.log")"; fi
health 1
stop_bg responder
stop_bg signer2
finish
