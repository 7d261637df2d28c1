#!/usr/bin/env bash
# End-to-end: the responder's timeouts ignore wall-clock steps (issue 13 item 11).
# revokd-responder runs under libfaketime (Debian package faketime) with the
# monotonic clock left alone (FAKETIME_DONT_FAKE_MONOTONIC=1) and its wall clock
# read from a file on every call (FAKETIME_TIMESTAMP_FILE, FAKETIME_NO_CACHE=1),
# so the test can step it by an hour while connections idle, as NTP or a VM
# resume does. With idle_timeout = 2s: a step back must not keep an idle
# connection open for an hour, a step forward must not close a fresh one at once.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_clock_step.sh   (ctest sets both)
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=clock
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
IDLE=2
need_programs "$IDX" "$RSP"
FAKETIME_LIB=$(find /usr/lib -path "*/faketime/libfaketime.so.1" 2>/dev/null | head -n 1)
if [ -n "$FAKETIME_LIB" ]; then
    pass "libfaketime: $FAKETIME_LIB"
else
    fail "libfaketime not installed (apt-get install faketime; docker/install-deps.sh does)"
    finish
fi

PORT=$(free_port)
A=$T/pki
make_pki "$A" "$NAME" "a PKI"
CONF=$A/clock.conf # next to the PKI: relative paths resolve against it
sed "s/^listen = .*/listen = 127.0.0.1:$PORT\nidle_timeout = ${IDLE}s/" "$A/revokd.conf" >"$CONF"
if run_logged indexer 120 "$IDX" -c "$CONF" --once; then
    pass "revokd-indexer --once"
else
    fail "revokd-indexer --once (exit $?)" "$(tail -n 20 "$T/indexer.log")"
    finish
fi

FAKE=$T/faketime.rc
echo "+0" >"$FAKE"
# An ASan build wants its runtime first in the library list; libfaketime is preloaded.
start_bg responder env LD_PRELOAD="$FAKETIME_LIB" FAKETIME_TIMESTAMP_FILE="$FAKE" \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
    FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 "$RSP" -c "$CONF"
listens responder "revokd-responder (under libfaketime) listens on 127.0.0.1:$PORT"

# The fake clock really moves the responder's wall clock: its Date header follows the file.
date_of() { curl -s --max-time 5 -D - -o /dev/null "http://127.0.0.1:$PORT/healthz" | tr -d '\r' | sed -n 's/^Date: //p'; }
echo "-3600" >"$FAKE"
sleep 1 # past libev's 0.5 s wall-clock resync, so an old binary shows its cached clock
d_back=$(date -u -d "$(date_of)" +%s 2>/dev/null || echo 0)
echo "+0" >"$FAKE"
sleep 1 # past libev's 0.5 s wall-clock resync, so an old binary shows its cached clock
d_now=$(date -u -d "$(date_of)" +%s 2>/dev/null || echo 0)
diff=$((d_now - d_back))
if [ "$diff" -ge 3590 ] && [ "$diff" -le 3610 ]; then
    pass "libfaketime steps the responder's wall clock (Date moved by $diff s)"
else
    fail "libfaketime steps the responder's wall clock (Date moved by $diff s, want ~3600)"
fi

while IFS= read -r ln; do
    case "$ln" in
    ok\ *) pass "${ln#ok }" ;;
    bad\ *) fail "${ln#bad }" ;;
    *) [ -n "$ln" ] && fail "hostile_http.py: $ln" ;;
    esac
done < <("$PY" "$HERE/hostile_http.py" idle "$PORT" "$IDLE" "$FAKE" 2>&1)

if alive responder; then pass "revokd-responder survived"; else fail "revokd-responder died" "$(tail -n 40 "$T/responder.log")"; fi
stop_bg responder
if [ "$STOP_RC" = 0 ]; then pass "revokd-responder exits 0 on SIGTERM"; else fail "exit $STOP_RC on SIGTERM"; fi
finish
