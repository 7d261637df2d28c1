#!/usr/bin/env bash
# failover.sh — what stopping a responder replica costs clients behind HAProxy, with
# and without HAProxy's retries (scripts/topology.sh, conf/haproxy/revokd-lb.cfg):
# per configuration and round, wrk loads HAProxy with one RFC 5019 GET for LOAD
# seconds over CONNS connections while, 2 s in, replica 1 gets SIGTERM (drain) and,
# in a second run, replica 2 gets kill -9; the replica is restarted between runs.
#
#   bench/failover.sh [--build DIR] [--rounds N] [--secs LOAD] [--conns CONNS] [--out FILE]
#
# Prints one line per run: config (retry | noretry), event (sigterm | kill9), round,
# requests, failed (non-2xx + socket errors, as wrk counts them), p99 and max latency
# (wrk's), and the CPU seconds (user+sys, from /proc) HAProxy used during the run,
# so results are comparable on a busy machine. --out appends them as JSON lines.
# tests/e2e/test_topology.sh asserts the retry case (0 failed on SIGTERM, at most
# CONNS on kill -9); this script shows what the retries buy.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BUILD=$SRC/build
ROUNDS=3
LOAD=6
CONNS=8
OUT=
while [ $# -gt 0 ]; do
    case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --secs) LOAD=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) sed -n '2,16p' "$0" >&2; exit 2 ;;
    esac
done
export OPENSSL_CONF=/dev/null
W=$(mktemp -d "${TMPDIR:-/tmp}/revokd-failover.XXXXXX")
TOPO=$SRC/scripts/topology.sh
cleanup() { "$TOPO" down "$W/retry" >/dev/null 2>&1 || true; "$TOPO" down "$W/noretry" >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT

cpu() { # cpu PID: utime+stime in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
printf '%-8s %-7s %5s %9s %6s %9s %9s %8s\n' config event round requests failed p99 max haproxy_cpu_s
for cfg in retry noretry; do
    D=$W/$cfg
    opt=()
    [ "$cfg" = noretry ] && opt=(--no-retry)
    "$TOPO" up "$D" --port "$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')" \
        --replicas 2 --build "$BUILD" "${opt[@]}" >/dev/null
    # shellcheck disable=SC1091
    . "$D/topology.env"
    openssl ocsp -issuer "$PKI/ca.pem" -cert "$PKI/good.pem" -no_nonce -reqout "$D/req.der" >/dev/null 2>&1
    path=/$(base64 -w0 "$D/req.der" | python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.stdin.read().strip(), safe=""))')
    hap=$(cat "$D/run/haproxy.pid")
    for ((r = 1; r <= ROUNDS; r++)); do
        for ev in sigterm kill9; do
            if [ "$ev" = sigterm ]; then i=1; sig=TERM; else i=2; sig=KILL; fi
            c0=$(cpu "$hap")
            wrk -t1 -c"$CONNS" -d"${LOAD}s" --timeout 5s --latency "http://127.0.0.1:$HAPROXY_PORT$path" >"$D/wrk.log" 2>&1 &
            wp=$!
            sleep 2
            kill -"$sig" "$(cat "$D/run/responder-$i.pid")"
            wait "$wp"
            c1=$(cpu "$hap")
            read -r req fail p99 max < <(awk '
                /requests in/ { r = $1 }
                /Non-2xx/ { f += $NF }
                /Socket errors/ { gsub(",", ""); f += $4 + $6 + $8 + $10 }
                / 99% / { p = $2 }
                /Latency/ && !l { m = $4; l = 1 }
                END { print r + 0, f + 0, p, m }' "$D/wrk.log")
            cs=$(awk -v a="$c0" -v b="$c1" -v t="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / t }')
            printf '%-8s %-7s %5s %9s %6s %9s %9s %8s\n' "$cfg" "$ev" "$r" "$req" "$fail" "$p99" "$max" "$cs"
            [ -z "$OUT" ] || printf '{"config":"%s","event":"%s","round":%d,"requests":%d,"failed":%d,"p99":"%s","max":"%s","haproxy_cpu_s":%s,"conns":%d,"secs":%d}\n' \
                "$cfg" "$ev" "$r" "$req" "$fail" "$p99" "$max" "$cs" "$CONNS" "$LOAD" >>"$OUT"
            "$TOPO" replica "$D" "$i"
            sleep 2 # rise 2 x inter 500ms: back in the pool
        done
    done
    "$TOPO" down "$D"
done
