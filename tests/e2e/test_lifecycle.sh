#!/usr/bin/env bash
# End-to-end: the responder's backends and signals, with the real programs.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_lifecycle.sh   (ctest sets both)
#
# - backend = auto with io_uring forbidden (test hook REVOKD_TEST_NO_IO_URING, the
#   way Docker's seccomp profile or kernel.io_uring_disabled forbid it) falls back
#   to libev, says so in the log and in /metrics; backend = io_uring then refuses
#   to start, naming the key. Without the hook, auto runs io_uring if this kernel
#   allows it (the log says which; /metrics must agree).
# - 30000 pipelined requests on one connection, read only after 1 s (so the
#   responder must stop reading and resume), come back complete and in order.
# - SIGTERM with requests in flight: every one is answered, then exit 0, within
#   the idle timeout; the port is closed at once.
# - [responder] user: the process switches to it once listening, and still answers.
# - SIGHUP after the store was rebuilt (moved aside, indexer --once): a connection
#   kept open across it gets its next answer from the new store.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=life
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
CHECK=("$PY" "$HERE/check_ocsp.py")
SLOW=("$PY" "$HERE/slow_client.py")
need_programs "$IDX" "$RSP"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
A=$T/pki
make_pki "$A" "$NAME" "a PKI"
IDLE=4
CONF=$A/life.conf # beside mkpki's revokd.conf: relative paths resolve the same
sed "s/^listen = .*/listen = 127.0.0.1:$PORT\nidle_timeout = ${IDLE}s/" "$A/revokd.conf" >"$CONF"
if run_logged indexer 120 "$IDX" -c "$CONF" --once; then
    pass "revokd-indexer --once"
else
    fail "revokd-indexer --once" "$(cat "$T/indexer.log")"
    finish
fi
openssl ocsp -issuer "$A/ca.pem" -cert "$A/good.pem" -no_nonce -reqout "$T/good.req" >/dev/null 2>&1 ||
    fail "openssl ocsp -reqout"
metrics() { curl -s --max-time 5 "$URL/metrics"; }

# --- fallback -----------------------------------------------------------------
sed "s/^backend = .*/backend = auto/" "$CONF" >"$A/auto.conf"
start_bg fallback env REVOKD_TEST_NO_IO_URING=1 "$RSP" -c "$A/auto.conf"
if wait_port "$PORT" 15; then
    expect "auto with io_uring forbidden: the log says why and that libev runs" \
        "$(cat "$T/fallback.log")" '+backend = auto: io_uring unavailable \(io_uring_queue_init: ' \
        '+info: backend libev, ' '+backend libev, [0-9]+ worker'
    expect "/metrics: revokd_backend_info names libev" "$(metrics)" \
        '+^revokd_backend_info\{backend="libev"\} 1$' '-backend="io_uring"'
    out=$("${CHECK[@]}" ocsp --issuer "$A/ca.pem" --cert "$A/good.pem" --url "$URL" --expect good 2>&1)
    expect "the libev fallback answers OCSP: good" "$out" '+^OK'
else
    fail "auto with io_uring forbidden starts" "$(cat "$T/fallback.log")"
fi
stop_bg fallback
[ "$STOP_RC" = 0 ] && pass "fallback responder exits 0 on SIGTERM" || fail "fallback exit $STOP_RC"

sed "s/^backend = .*/backend = io_uring/" "$CONF" >"$A/uring.conf"
run_logged forced 15 env REVOKD_TEST_NO_IO_URING=1 "$RSP" -c "$A/uring.conf"
rc=$?
[ "$rc" = 1 ] && pass "backend = io_uring where it cannot run: exit 1" || fail "backend = io_uring forbidden: exit $rc (want 1)" "$(cat "$T/forced.log")"
expect "the start-up error names the key" "$(cat "$T/forced.log")" \
    '+\[responder\] backend = io_uring cannot run here: io_uring_queue_init: ' '-listening on'

# (only in the auto run: under REVOKD_E2E_BACKEND=libev every responder must be libev)
[ "$E2E_BACKEND" = auto ] && start_bg auto "$RSP" -c "$A/auto.conf"
if [ "$E2E_BACKEND" != auto ]; then
    :
elif wait_port "$PORT" 15; then
    ran=$(sed -n 's/.*info: backend \([a-z_]*\), .*/\1/p' "$T/auto.log")
    if [ "$ran" = io_uring ] || { [ "$ran" = libev ] && grep -q 'io_uring unavailable' "$T/auto.log"; }; then
        pass "auto runs $ran here (libev only with a logged reason)"
    else
        fail "auto: which backend runs" "$(cat "$T/auto.log")"
    fi
    expect "/metrics agrees with the log ($ran)" "$(metrics)" "+^revokd_backend_info\\{backend=\"$ran\"\\} 1$"
else
    fail "auto starts" "$(cat "$T/auto.log")"
fi
stop_bg auto

# --- [responder] user: drop privileges after binding ----------------------------
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    DROP=nobody
else
    DROP=$(id -un) # not root: switching to oneself is all that can be checked
fi
sed "s/^\[responder\]\$/[responder]\nuser = $DROP/" "$CONF" >"$A/user.conf"
start_bg user "$RSP" -c "$A/user.conf"
if wait_port "$PORT" 15; then
    uid=$(awk '/^Uid:/ {print $2 "," $3 "," $4 "," $5}' "/proc/$(pid_of user)/status")
    want=$(id -u "$DROP")
    [ "$uid" = "$want,$want,$want,$want" ] && pass "[responder] user = $DROP: every uid is $want" ||
        fail "[responder] user = $DROP: uids $uid, want $want" "$(cat "$T/user.log")"
    out=$("${CHECK[@]}" ocsp --issuer "$A/ca.pem" --cert "$A/good.pem" --url "$URL" --expect good 2>&1)
    expect "as $DROP it still answers OCSP: good" "$out" '+^OK'
else
    fail "[responder] user = $DROP starts" "$(cat "$T/user.log")"
fi
stop_bg user
[ "$STOP_RC" = 0 ] && pass "as $DROP: exit 0 on SIGTERM" || fail "as $DROP: exit $STOP_RC"
sed "s/^\[responder\]\$/[responder]\nuser = no-such-user-revokd/" "$CONF" >"$A/nouser.conf"
run_logged nouser 15 "$RSP" -c "$A/nouser.conf"
rc=$?
[ "$rc" = 1 ] && pass "a user that does not exist: exit 1" || fail "unknown user: exit $rc (want 1)" "$(cat "$T/nouser.log")"
expect "the error names the key" "$(cat "$T/nouser.log")" '+\[responder\] user = no-such-user-revokd: no such user'

# --- deep pipelining: far more than a read buffer, answered in order ------------
start_bg responder0 "$RSP" -c "$CONF"
wait_port "$PORT" 15 || { fail "responder listens" "$(cat "$T/responder0.log")"; finish; }
out=$(timeout 60 "${SLOW[@]}" pipeline --port "$PORT" --n 30000 --read-delay 1 2>&1)
expect "30000 pipelined requests (1.3 MB) on one connection, read after 1 s: all answered, in order" "$out" '+^OK: 30000'
stop_bg responder0

# --- SIGTERM with requests in flight -------------------------------------------
start_bg responder "$RSP" -c "$CONF"
wait_port "$PORT" 15 || { fail "responder listens" "$(cat "$T/responder.log")"; finish; }
RPID=$(pid_of responder)
start_bg inflight "${SLOW[@]}" inflight --port "$PORT" --req "$T/good.req" --n 20 \
    --ready "$T/ready1" --go "$T/go1" --save "$T/inflight.der"
for ((i = 0; i < 100; i++)); do [ -e "$T/ready1" ] && break; sleep 0.1; done
[ -e "$T/ready1" ] || fail "20 requests in flight" "$(cat "$T/inflight.log")"
sleep 0.3 # every partial request has reached the responder
t0=$(date +%s%N)
kill -TERM "$RPID"
sleep 0.5
if "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)' "$PORT" 2>/dev/null; then
    fail "after SIGTERM the port no longer accepts"
else
    pass "after SIGTERM the port no longer accepts"
fi
alive responder && pass "still running while 20 requests are in flight" || fail "exited with requests in flight" "$(cat "$T/responder.log")"
touch "$T/go1"
for ((i = 0; i < 100; i++)); do alive inflight || break; sleep 0.1; done
stop_bg inflight
expect "every in-flight request answered 200 after SIGTERM" "$(cat "$T/inflight.log")" '+^OK: 20/20 answered 200'
out=$("${CHECK[@]}" ocsp --issuer "$A/ca.pem" --cert "$A/good.pem" --response "$T/inflight.der" --expect good 2>&1)
expect "an answer given while stopping is a valid OCSP response: good" "$out" '+^OK'
for ((i = 0; i < (IDLE + 2) * 10; i++)); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
ms=$((($(date +%s%N) - t0) / 1000000))
if kill -0 "$RPID" 2>/dev/null; then
    fail "exits within the idle timeout after SIGTERM ($ms ms)"
else
    pass "exited ${ms} ms after SIGTERM (idle timeout ${IDLE}s)"
fi
stop_bg responder
[ "$STOP_RC" = 0 ] && pass "exit status 0 after draining" || fail "exit status $STOP_RC after SIGTERM" "$(tail "$T/responder.log")"
expect "the log: stopping, stopped" "$(cat "$T/responder.log")" '+signal 15: stopping' '+info: stopped'

# --- a second SIGTERM does not wait for the request still in flight -------------
start_bg responder3 "$RSP" -c "$CONF"
wait_port "$PORT" 15 || { fail "responder listens" "$(cat "$T/responder3.log")"; finish; }
RPID=$(pid_of responder3)
start_bg stuck "${SLOW[@]}" inflight --port "$PORT" --req "$T/good.req" --n 1 \
    --ready "$T/ready3" --go "$T/go3"
for ((i = 0; i < 100; i++)); do [ -e "$T/ready3" ] && break; sleep 0.1; done
sleep 0.3
kill -TERM "$RPID"
sleep 0.5
if kill -0 "$RPID" 2>/dev/null; then
    pass "one SIGTERM waits for the request in flight"
    kill -TERM "$RPID"
    for ((i = 0; i < 20; i++)); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$RPID" 2>/dev/null; then fail "a second SIGTERM stops it within 2 s"; else pass "a second SIGTERM stops it within 2 s"; fi
else
    fail "one SIGTERM waits for the request in flight" "$(cat "$T/responder3.log")"
fi
stop_bg responder3
expect "the log: again, stopping now" "$(cat "$T/responder3.log")" '+signal 15 again: stopping now'
touch "$T/go3"
stop_bg stuck

# --- SIGHUP after a store rebuild ----------------------------------------------
start_bg responder2 "$RSP" -c "$CONF"
wait_port "$PORT" 15 || { fail "responder listens" "$(cat "$T/responder2.log")"; finish; }
RPID=$(pid_of responder2)
start_bg keep "${SLOW[@]}" keepalive --port "$PORT" --req "$T/good.req" \
    --ready "$T/ready2" --go "$T/go2" --save1 "$T/before.der" --save2 "$T/after.der"
for ((i = 0; i < 100; i++)); do [ -e "$T/ready2" ] && break; sleep 0.1; done
# Revoke good.pem in the CA database and rebuild the store from it beside the running responder.
openssl ca -config "$A/openssl.cnf" -revoke "$A/good.pem" -crl_reason keyCompromise >"$T/revoke.log" 2>&1 ||
    fail "openssl ca -revoke good.pem" "$(cat "$T/revoke.log")"
mv "$A/store" "$A/store.old"
if run_logged indexer-2 120 "$IDX" -c "$CONF" --once; then pass "store rebuilt (old one moved aside)"; else fail "rebuild" "$(cat "$T/indexer-2.log")"; fi
out=$("${CHECK[@]}" ocsp --issuer "$A/ca.pem" --cert "$A/good.pem" --url "$URL" --expect good 2>&1)
expect "before SIGHUP the responder still serves the store it opened: good" "$out" '+^OK'
kill -HUP "$RPID"
for ((i = 0; i < 50; i++)); do grep -q 'SIGHUP: store .* reopened' "$T/responder2.log" && break; sleep 0.1; done
expect "the log says the store was reopened" "$(cat "$T/responder2.log")" '+SIGHUP: store .* reopened'
touch "$T/go2"
for ((i = 0; i < 100; i++)); do alive keep || break; sleep 0.1; done
stop_bg keep
expect "the connection opened before SIGHUP carries a request after it" "$(cat "$T/keep.log")" '+^OK: two answers on one connection'
out=$("${CHECK[@]}" ocsp --issuer "$A/ca.pem" --cert "$A/good.pem" --response "$T/before.der" --expect good 2>&1)
expect "on it, before SIGHUP: good" "$out" '+^OK'
out=$("${CHECK[@]}" ocsp --issuer "$A/ca.pem" --cert "$A/good.pem" --response "$T/after.der" --expect revoked 2>&1)
expect "on the same connection after SIGHUP: revoked (the rebuilt store)" "$out" '+^OK'
out=$("${CHECK[@]}" ocsp --issuer "$A/ca.pem" --cert "$A/good.pem" --url "$URL" --expect revoked 2>&1)
expect "a new connection after SIGHUP: revoked" "$out" '+^OK'
kill -HUP "$RPID"
for ((i = 0; i < 50; i++)); do grep -q 'nothing to reopen' "$T/responder2.log" && break; sleep 0.1; done
expect "SIGHUP with the same store: nothing to reopen" "$(cat "$T/responder2.log")" '+is the store already open; nothing to reopen'
alive responder2 && pass "responder survived two SIGHUPs" || fail "responder died" "$(tail "$T/responder2.log")"
stop_bg responder2
[ "$STOP_RC" = 0 ] && pass "exit 0" || fail "exit $STOP_RC"
if grep -q 'ERROR: \(Address\|Undefined\|Leak\)Sanitizer\|runtime error:' "$T"/*.log; then
    fail "sanitizer reports" "$(grep -h -A5 'Sanitizer\|runtime error' "$T"/*.log | head -40)"
fi
finish
