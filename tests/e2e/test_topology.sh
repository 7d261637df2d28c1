#!/usr/bin/env bash
# End-to-end: the deployment users run (issue 11, item 1), started by the one command
# scripts/topology.sh: Varnish -> HAProxy -> two revokd-responder replicas on one
# store, the indexer and crlgen beside them, the demo CA and its mesh certificates.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_topology.sh   (ctest sets both)
#   E2E_KEEP=1 keeps the temp dir; it is always kept when something failed.
#
# Checked, with openssl ocsp reading every answer:
#   - both paths answer: OCSP POST and RFC 5019 GET through Varnish and HAProxy;
#   - under load through HAProxy (wrk, GET, 8 connections): SIGTERM to replica 1 gives
#     zero failed requests (it drains; HAProxy retries refused connections elsewhere);
#     after it is back, kill -9 of replica 2 gives failures bounded by HAProxy's retry
#     and health check: at most one per client connection (the requests in flight);
#     both counts are printed; HAProxy marks each replica DOWN;
#   - through Varnish: a GET answer is served from the cache (X-Cache: HIT) and still
#     says good after `revokctl revoke` while its max-age runs, even though HAProxy
#     and a POST through Varnish already say revoked; after max-age the cache says
#     revoked too (the trade-off docs/operations-guide.md documents).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init
TOPO=$SRC/scripts/topology.sh
TD=$T/topo
# The topology's processes are not start_bg's: stop them first, then the usual cleanup.
trap 'rc=$?; "$TOPO" down "$TD" >/dev/null 2>&1; (exit $rc); e2e_cleanup' EXIT

HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
VARNISHD=$(command -v varnishd || echo /usr/sbin/varnishd)
WRK=$(command -v wrk || echo /usr/bin/wrk)
AGE_S=8 # seconds: long enough to see a HIT after the revocation, short for the test
LOAD_SECS=6
CONNS=8

echo "e2e: build $BUILD, temp $T"
need_programs "$BUILD/revokd-indexer" "$BUILD/revokd-responder" "$BUILD/revokd-crlgen" \
    "$BUILD/revokctl" "$HAPROXY" "$VARNISHD" "$WRK"

PORT=$(free_port)
if run_logged topology-up 120 "$TOPO" up "$TD" --port "$PORT" --replicas 2 \
    --max-age "${AGE_S}s" --backend "$E2E_BACKEND" --build "$BUILD"; then
    pass "scripts/topology.sh up: Varnish :$PORT, HAProxy, 2 replicas, indexer, crlgen"
else
    fail "scripts/topology.sh up" "$(cat "$T/topology-up.log"; tail -n 20 "$TD"/log/*.log)"
    finish
fi
# shellcheck disable=SC1091
. "$TD/topology.env"
P=$PKI
VURL=http://127.0.0.1:$VARNISH_PORT
HURL=http://127.0.0.1:$HAPROXY_PORT

haproxy_cmd() { # haproxy_cmd CMD: the runtime API's answer
    "$PY" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
d = b""
while True:
    x = s.recv(65536)
    if not x:
        break
    d += x
sys.stdout.write(d.decode())' "$HAPROXY_SOCK" "$1"
}
server_status() { # server_status rN: UP, DOWN, ... as HAProxy sees it
    haproxy_cmd "show stat" | awk -F, -v s="$1" '$1 == "revokd" && $2 == s { print $18 }'
}
wait_server() { # wait_server rN STATE SECS
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        [ "$(server_status "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
for r in r1 r2; do
    if wait_server "$r" UP 10; then pass "HAProxy health check (GET /healthz): $r UP"; else fail "$r UP" "$(haproxy_cmd "show stat")"; fi
done

# get_url CERT: the RFC 5019 GET URL path of CERT's OCSP request (no nonce)
get_path() {
    openssl ocsp -issuer "$P/ca.pem" -cert "$1" -no_nonce -reqout "$T/req.der" >/dev/null 2>&1
    base64 -w0 "$T/req.der" | "$PY" -c 'import sys, urllib.parse
print("/" + urllib.parse.quote(sys.stdin.read().strip(), safe=""))'
}
# ocsp_get BASEURL CERT: "STATUS X-Cache Age" of a GET answer, checked by openssl ocsp
ocsp_get() {
    local hdr st
    hdr=$(curl -s --max-time 10 -D - -o "$T/get.der" "$1$(get_path "$2")" | tr -d '\r')
    st=$(openssl ocsp -respin "$T/get.der" -issuer "$P/ca.pem" -cert "$2" -CAfile "$P/chain.pem" 2>&1 |
        sed -n "s|^$2: ||p")
    printf '%s %s %s\n' "${st:-none}" \
        "$(printf '%s\n' "$hdr" | sed -n 's/^X-Cache: //Ip')" "$(printf '%s\n' "$hdr" | sed -n 's/^Age: //Ip')"
}
ocsp_post() { # ocsp_post BASEURL CERT: openssl ocsp's verdict over POST
    openssl ocsp -issuer "$P/ca.pem" -cert "$2" -url "$1" -CAfile "$P/chain.pem" 2>&1
}

# --- both paths answer -------------------------------------------------------------
expect "POST via Varnish: gateway.pem good, signature verified" "$(ocsp_post "$VURL" "$P/mesh/gateway.pem")" \
    '+Response verify OK' '+gateway.pem: good'
expect "POST via HAProxy: revoked.pem revoked" "$(ocsp_post "$HURL" "$P/revoked.pem")" \
    '+Response verify OK' '+revoked.pem: revoked'
expect "GET via HAProxy: admin.pem good" "$(ocsp_get "$HURL" "$P/mesh/admin.pem")" '+^good '
out=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$VURL/crl/demo.crl")
expect "CRL Distribution Point via Varnish: GET /crl/demo.crl 200" "$out" '+^200$'

# --- load through HAProxy: SIGTERM, then kill -9 ---------------------------------------
LOADPATH=$(get_path "$P/good.pem")
# load NAME: wrk against HAProxy in the background; load_result NAME prints
# "requests failures" (non-2xx + every socket error)
load() { "$WRK" -t1 -c"$CONNS" -d"${LOAD_SECS}s" --timeout 5s "$HURL$LOADPATH" >"$T/wrk-$1.log" 2>&1 & WRK_PID=$!; }
load_result() {
    awk '/requests in/ { r = $1 }
         /Non-2xx/ { f += $NF }
         /Socket errors/ { gsub(",", ""); f += $4 + $6 + $8 + $10 }
         END { print r + 0, f + 0 }' "$T/wrk-$1.log"
}
responder_pid() { cat "$TD/run/responder-$1.pid"; }

load sigterm
sleep 2
kill -TERM "$(responder_pid 1)"
wait "$WRK_PID"
read -r reqs fails < <(load_result sigterm)
echo "e2e: SIGTERM to replica 1 under load: $reqs requests, $fails failed"
if [ "${reqs:-0}" -gt 100 ] && [ "$fails" -eq 0 ]; then
    pass "SIGTERM to replica 1 under load through HAProxy: $reqs requests, 0 failed"
else
    fail "SIGTERM under load: $reqs requests, $fails failed (want > 100 and 0)" "$(cat "$T/wrk-sigterm.log")"
fi
expect "replica 1 drained and stopped on SIGTERM" "$(cat "$TD/log/responder-1.log")" \
    '+signal 15: stopping' '+info: stopped'
if wait_server r1 DOWN 5; then pass "HAProxy marked r1 DOWN"; else fail "r1 DOWN" "$(haproxy_cmd "show stat")"; fi

if run_logged replica1 60 "$TOPO" replica "$TD" 1 && wait_server r1 UP 10; then
    pass "replica 1 restarted and back UP in HAProxy"
else
    fail "replica 1 back UP" "$(cat "$T/replica1.log"; haproxy_cmd "show stat")"
fi

load kill9
sleep 2
kill -KILL "$(responder_pid 2)"
wait "$WRK_PID"
read -r reqs fails < <(load_result kill9)
echo "e2e: kill -9 of replica 2 under load: $reqs requests, $fails failed (bound: $CONNS in flight)"
if [ "${reqs:-0}" -gt 100 ] && [ "$fails" -le "$CONNS" ]; then
    pass "kill -9 of replica 2 under load through HAProxy: $reqs requests, $fails failed (<= $CONNS)"
else
    fail "kill -9 under load: $reqs requests, $fails failed (want > 100 and <= $CONNS)" "$(cat "$T/wrk-kill9.log")"
fi
if wait_server r2 DOWN 5; then pass "HAProxy marked r2 DOWN (health check)"; else fail "r2 DOWN" "$(haproxy_cmd "show stat")"; fi
expect "HAProxy still answers with r2 gone: POST good.pem good" "$(ocsp_post "$HURL" "$P/good.pem")" '+good.pem: good'
if run_logged replica2 60 "$TOPO" replica "$TD" 2 && wait_server r2 UP 10; then
    pass "replica 2 restarted and back UP in HAProxy"
else
    fail "replica 2 back UP" "$(haproxy_cmd "show stat")"
fi

# --- Varnish: cached until max-age, then the revocation --------------------------------
C=$P/mesh/partner.pem
t0=$(date +%s)
out=$(ocsp_get "$VURL" "$C")
expect "GET via Varnish: partner.pem good (first fetch: MISS)" "$out" '+^good MISS'
out=$(ocsp_get "$VURL" "$C")
expect "GET via Varnish again: good, from the cache (HIT)" "$out" '+^good HIT'
if run_logged revokctl 30 "$BUILD/revokctl" -c "$P/revokd.conf" revoke --issuer demo \
    --serial "$(serial_of "$C")" --reason keyCompromise; then
    pass "revokctl revoke partner.pem"
else
    fail "revokctl revoke" "$(cat "$T/revokctl.log")"
fi
expect "POST via Varnish (never cached): partner.pem revoked at once" "$(ocsp_post "$VURL" "$C")" \
    '+Response verify OK' '+partner.pem: revoked'
expect "GET via HAProxy: partner.pem revoked at once" "$(ocsp_get "$HURL" "$C")" '+^revoked '
out=$(ocsp_get "$VURL" "$C")
t1=$(date +%s)
if [ $((t1 - t0)) -lt "$AGE_S" ]; then
    expect "GET via Varnish within max-age ($((t1 - t0)) s < $AGE_S s): still good from the cache (documented)" \
        "$out" '+^good HIT'
else
    fail "the machine was too slow to look inside max-age ($((t1 - t0)) s)" "$out"
fi
sleep $((t0 + AGE_S + 1 - $(date +%s)))
out=$(ocsp_get "$VURL" "$C")
expect "GET via Varnish after max-age ($(($(date +%s) - t0)) s): revoked" "$out" '+^revoked '
out=$(ocsp_get "$VURL" "$C")
expect "GET via Varnish: the revoked answer is now the cached one" "$out" '+^revoked HIT'

# The dashboard's latency panel and the RevokdSlowResponses alert read HAProxy's exporter.
out=$(curl -s --max-time 5 "http://127.0.0.1:$HAPROXY_STATS_PORT/metrics")
expect "HAProxy's exporter has the latency metrics the dashboard and alerts use" "$out" \
    '+^haproxy_backend_response_time_average_seconds\{proxy="revokd"\} [0-9.e-]+$' \
    '+^haproxy_backend_total_time_average_seconds\{proxy="revokd"\} [0-9.e-]+$'

cp "$TD"/log/responder-*.log "$T/" # so finish checks which backend the replicas ran
finish
