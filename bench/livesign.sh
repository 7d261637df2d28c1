#!/usr/bin/env bash
# bench/livesign.sh — live signing (docs/signer.md), in one run:
#   1. `openssl speed` sign operations/s for the signer's key type, pinned to the
#      signer's CPU: the ceiling one single-threaded revokd-signer can reach;
#   2. live-signed answers/s: ocspload sending only never-listed serials (every
#      answer a fresh signature: live_cache = 0, no rate limit);
#   3. pre-signed answers/s and responder CPU per answer, alone, then again while
#      a second ocspload keeps the live path saturated.
# Prints a Markdown table (and writes it to --out). One command:
#
#   bench/livesign.sh [--build DIR] [--seconds S] [--out FILE] [--keep]
#
# CPUs: SIGNER_CPU (0; a list such as 2,3 gives the signer one thread per CPU and
# `openssl speed -multi` as many), RESPONDER_CPU (1), LOAD_CPU (1), LIVE_LOAD_CPU (1)
# in the environment; on a larger machine give each its own cores. Run it on an idle
# machine: it reports the CPU time each process used, but cannot undo contention.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$SRC/build
SECS=10
OUT=
KEEP=
while [ $# -gt 0 ]; do
    case "$1" in
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: $0 [--build DIR] [--seconds S] [--out FILE] [--keep]" >&2; exit 2 ;;
    esac
done
SIGNER_CPU=${SIGNER_CPU:-0}
RESPONDER_CPU=${RESPONDER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-1}
LIVE_LOAD_CPU=${LIVE_LOAD_CPU:-1}
NSIGN=$(echo "$SIGNER_CPU" | tr ',' '\n' | grep -c .)
export OPENSSL_CONF=/dev/null

if [ ! -x "$BUILD/revokd-signer" ] || [ ! -x "$BUILD/bench/ocspload" ]; then
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREVOKD_TESTS=ON >/dev/null
    cmake --build "$BUILD" -j2 >/dev/null
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/revokd-livebench.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "$KEEP" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$SRC/scripts/mkpki.sh" "$W/pki" --name bench --port "$PORT" >"$W/mkpki.log" 2>&1
cat >"$W/revokd.conf" <<EOC
[store]
path = store
[log]
level = warn
[responder]
listen = 127.0.0.1:$PORT
workers = $NSIGN
max_conns = 1024
live_queue = 4096
live_rate = 10000000
live_timeout = 10s
live_cache = 0
[signer]
socket = signer.sock
threads = $NSIGN
[issuer bench]
ca_cert     = pki/ca.pem
index       = pki/index.txt
signer_cert = pki/ocsp.pem
signer_key  = pki/ocsp.key
EOC
"$BUILD/revokd-indexer" -c "$W/revokd.conf" --once >"$W/indexer.log" 2>&1
taskset -c "$SIGNER_CPU" "$BUILD/revokd-signer" -c "$W/revokd.conf" >"$W/signer.log" 2>&1 &
SPID=$!
PIDS+=("$SPID")
taskset -c "$RESPONDER_CPU" "$BUILD/revokd-responder" -c "$W/revokd.conf" >"$W/responder.log" 2>&1 &
RPID=$!
PIDS+=("$RPID")
for _ in $(seq 100); do
    [ -S "$W/signer.sock" ] && python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.5)" 2>/dev/null && break
    sleep 0.1
done

OL=$BUILD/bench/ocspload
"$OL" gen --issuer "$W/pki/ca.pem" --index "$W/pki/index.txt" --out "$W/live.reqs" --n 20000 \
    --unknown-fraction 1 --sha256-fraction 0.5 --seed 1 2>>"$W/gen.log"
"$OL" gen --issuer "$W/pki/ca.pem" --index "$W/pki/index.txt" --out "$W/pre.reqs" --n 2000 \
    --unknown-fraction 0 --revoked-fraction 0.5 --sha256-fraction 0.5 --seed 2 2>>"$W/gen.log"

# Key type of the signer -> the matching `openssl speed` algorithm.
KT=$(openssl x509 -in "$W/pki/ocsp.pem" -noout -text | sed -n 's/^ *Public Key Algorithm: //p' | head -n 1)
BITS=$(openssl x509 -in "$W/pki/ocsp.pem" -noout -text | sed -n 's/.*Public-Key: (\([0-9]*\) bit).*/\1/p' | head -n 1)
case "$KT" in
rsaEncryption) ALG=rsa$BITS ;;
id-ecPublicKey) ALG=ecdsap$BITS ;;
*) ALG= ;;
esac
MULTI=
[ "$NSIGN" -gt 1 ] && MULTI="-multi $NSIGN"
# shellcheck disable=SC2086
SPEED=$(taskset -c "$SIGNER_CPU" openssl speed $MULTI -seconds "$SECS" "$ALG" 2>/dev/null | awk '/bits/ { v = $(NF-1) } END { print v }')

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
jget() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d[sys.argv[2]])' "$1" "$2"; }
# load NAME CPU REQS CONNS DEPTH EXPECT: one ocspload run, JSON in $W/NAME.json
load() {
    # No warmup: the CPU counted from /proc covers exactly the answers counted.
    taskset -c "$2" "$OL" run -r "$3" -c "$4" -d "$5" -t "$SECS" --unknown-expect "$6" \
        --verify-fraction 0.001 --ca "$W/pki/chain.pem" --json "127.0.0.1:$PORT" \
        >"$W/$1.json" 2>"$W/$1.err" || { cat "$W/$1.err" >&2; exit 1; }
}

# Pre-signed alone.
r0=$(ticks "$RPID")
load pre-alone "$LOAD_CPU" "$W/pre.reqs" 16 4 unauthorized
r1=$(ticks "$RPID")
PRE_ALONE=$(jget "$W/pre-alone.json" rps)
PRE_ALONE_N=$(jget "$W/pre-alone.json" ok)
# Live alone.
s0=$(ticks "$SPID")
load live-alone "$LIVE_LOAD_CPU" "$W/live.reqs" 64 8 unknown
s1=$(ticks "$SPID")
LIVE_ALONE=$(jget "$W/live-alone.json" rps)
# Both at once: the live load starts first and outlasts the pre-signed one.
taskset -c "$LIVE_LOAD_CPU" "$OL" run -r "$W/live.reqs" -c 64 -d 8 -t $((SECS + 3)) --unknown-expect unknown \
    --verify-fraction 0.001 --ca "$W/pki/chain.pem" --json "127.0.0.1:$PORT" \
    >"$W/live-both.json" 2>"$W/live-both.err" &
LPID=$!
sleep 1
r2=$(ticks "$RPID")
load pre-both "$LOAD_CPU" "$W/pre.reqs" 16 4 unauthorized
r3=$(ticks "$RPID")
wait "$LPID"
PRE_BOTH=$(jget "$W/pre-both.json" rps)
PRE_BOTH_N=$(jget "$W/pre-both.json" ok)
LIVE_BOTH=$(jget "$W/live-both.json" rps)

us_per() { awk -v t="$1" -v hz="$HZ" -v n="$2" 'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "n/a" }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }
LIVE_N=$(jget "$W/live-alone.json" ok)
{
    echo "| measurement | value |"
    echo "|---|---|"
    echo "| \`openssl speed $MULTI $ALG\` sign/s, CPU $SIGNER_CPU | $SPEED |"
    echo "| live-signed answers/s (revokd-signer, $NSIGN thread(s) on CPU $SIGNER_CPU) | $LIVE_ALONE ($(pct "$LIVE_ALONE" "$SPEED") of openssl speed) |"
    echo "| revokd-signer CPU per live answer (share of its CPU(s) it got) | $(us_per $((s1 - s0)) "$LIVE_N") us ($(awk -v t=$((s1 - s0)) -v hz="$HZ" -v s="$SECS" -v n="$NSIGN" 'BEGIN { printf "%.0f%%", 100 * t / hz / s / n }')) |"
    echo "| pre-signed answers/s, alone | $PRE_ALONE |"
    echo "| pre-signed answers/s, live path saturated | $PRE_BOTH ($(pct "$PRE_BOTH" "$PRE_ALONE") of alone; live meanwhile $LIVE_BOTH/s) |"
    echo "| responder CPU per answer, pre-signed alone | $(us_per $((r1 - r0)) "$PRE_ALONE_N") us |"
    echo "| responder CPU per pre-signed answer, live saturated (includes the live hand-off work) | $(us_per $((r3 - r2)) "$PRE_BOTH_N") us |"
} | tee "${OUT:-/dev/null}"
echo "(seconds per run $SECS; CPUs signer $SIGNER_CPU, responder $RESPONDER_CPU, loads $LOAD_CPU/$LIVE_LOAD_CPU; nproc $(nproc))"
