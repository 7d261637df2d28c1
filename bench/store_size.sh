#!/usr/bin/env bash
# bench/store_size.sh — bytes of store per certificate and the responder's speed
# right after a (re)start and warm, for stores of N certificates (issue 7 item 3).
#
#   bench/store_size.sh [--keep] [--dur S] N [N ...]        e.g. bench/store_size.sh 10000 100000 1000000
#
# Per N: the demo PKI (scripts/mkpki.sh) with an EC P-256 delegated signer, an
# index.txt of N certificates (bench/synth-index.py: random-looking serials, ~2%
# revoked), `revokd-indexer --once`, then from `mdb_stat`: the map's used bytes
# (last page + 1, what /metrics calls revokd_store_map_used_bytes) and the bytes
# in B-tree pages, each per certificate. Then revokd-responder (one worker on
# CPU 0, the default backend) and ocspload (CPU 1, 32 connections x depth 1, POST,
# 2 requests per certificate up to 200k, uniformly over the whole index): one run
# of S seconds right after a start with the map warm-up switched off
# (REVOKD_BENCH_NO_WARMUP, "nowarm": the responder before it had one), one right
# after a normal start ("first") and one after that ("warm"), each with req/s and
# the responder's CPU per answer (utime + stime from /proc/PID/stat over the run).
# One JSON line per N on stdout.
#
# Uses build-rel/ (RelWithDebInfo) and build-bench/ocspload; builds them if absent.
# Noisy on a shared machine: CPU per answer is the number to compare.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KEEP=0 DUR=5
SIZES=()
while [ $# -gt 0 ]; do
    case $1 in
    --keep) KEEP=1 ;;
    --dur) DUR=$2; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) SIZES+=("$1") ;;
    esac
    shift
done
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 100000)
B=$ROOT/build-rel
[ -x "$B/revokd-responder" ] || { cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build "$B" -j2; } >&2
[ -x "$ROOT/build-bench/ocspload" ] || { cmake -S "$ROOT/bench" -B "$ROOT/build-bench" && cmake --build "$ROOT/build-bench" -j2; } >&2
OL=$ROOT/build-bench/ocspload
W=$(mktemp -d "${TMPDIR:-/tmp}/revokd-store-size.XXXXXX")
RPID=
cleanup() { [ -z "$RPID" ] || kill "$RPID" 2>/dev/null || true; [ "$KEEP" -eq 1 ] || rm -rf "$W"; }
trap cleanup EXIT
export OPENSSL_CONF=/dev/null
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
P=$W/pki
"$ROOT/scripts/mkpki.sh" "$P" --name size --port "$PORT" >"$W/mkpki.log" 2>&1
(cd "$P" && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ocsp-ec.key 2>/dev/null &&
    openssl req -new -config openssl.cnf -key ocsp-ec.key -subj "/O=revokd demo/CN=ocsp-ec.size.revokd.test" \
        -out ocsp-ec.csr 2>/dev/null &&
    openssl ca -config openssl.cnf -batch -notext -extensions ocsp_ext -in ocsp-ec.csr -out ocsp-ec.pem >/dev/null 2>&1)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)

for n in "${SIZES[@]}"; do
    d=$W/n$n
    mkdir -p "$d"
    cp "$P/ca.pem" "$P/ocsp-ec.pem" "$P/ocsp-ec.key" "$d/"
    "$ROOT/bench/synth-index.py" --n "$n" --out "$d/index.txt" --base "$P/index.txt" 2>/dev/null
    cat >"$d/revokd.conf" <<EOF
[store]
path = store
map_size = 64g
[log]
level = info
[responder]
listen = 127.0.0.1:$PORT
workers = 1
[issuer size]
ca_cert     = ca.pem
index       = index.txt
signer_cert = ocsp-ec.pem
signer_key  = ocsp-ec.key
EOF
    t0=$EPOCHREALTIME
    env -C "$d" "$B/revokd-indexer" -c revokd.conf --once >"$d/indexer.log" 2>&1
    idx_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    mdb_stat -a -e "$d/store" >"$d/mdb_stat.txt"
    used=$(awk '/Number of pages used:/ { print $5; exit }' "$d/mdb_stat.txt")
    tree=$(awk '/(Branch|Leaf|Overflow) pages:/ { s += $3 } END { print s + 0 }' "$d/mdb_stat.txt")
    rleaf=$(awk '/^Status of responses/ { f = 1 } f && /Leaf pages:/ { print $3; exit }' "$d/mdb_stat.txt")
    nreq=$((2 * n < 200000 ? 2 * n : 200000))
    "$OL" gen --issuer "$d/ca.pem" --index "$d/index.txt" --out "$d/reqs.txt" --n "$nreq" \
        --unknown-fraction 0.1 --sha256-fraction 0.2 --seed 2 2>/dev/null
    # Drop what the indexer left mapped in the page cache? No: a restart finds the
    # file cached; what it lacks is the responder's own page tables (the warm-up's job).
    res=()
    # First without the map warm-up (as before it existed), then with it.
    for phase in nowarm first warm; do
        if [ "$phase" != warm ]; then
            [ -z "$RPID" ] || { kill "$RPID"; wait "$RPID" 2>/dev/null || true; }
            if [ "$phase" = nowarm ]; then
                env -C "$d" REVOKD_BENCH_NO_WARMUP=1 taskset -c 0 "$B/revokd-responder" -c revokd.conf >"$d/responder-nowarm.log" 2>&1 &
            else
                env -C "$d" taskset -c 0 "$B/revokd-responder" -c revokd.conf >"$d/responder.log" 2>&1 &
            fi
            RPID=$!
            for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.05; done
        fi
        c0=$(cpu_ticks "$RPID")
        taskset -c 1 "$OL" run -r "$d/reqs.txt" --no-verify -c 32 -d 1 -m post -t "$DUR" -w 0 \
            "127.0.0.1:$PORT" --json >"$d/$phase.json" 2>"$d/$phase.err" || true
        c1=$(cpu_ticks "$RPID")
        rps=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["rps"]))' "$d/$phase.json" 2>/dev/null || echo null)
        cpu=$(awk -v c="$((c1 - c0))" -v t="$tck" -v r="$rps" -v s="$DUR" \
            'BEGIN { if (r == "null" || r == 0) print "null"; else printf "%.2f", c / t * 1e6 / (r * s) }')
        res+=("\"rps_$phase\":$rps,\"cpu_us_per_req_$phase\":$cpu")
    done
    kill "$RPID"; wait "$RPID" 2>/dev/null || true; RPID=
    warm_log=$(grep -o 'store warm-up: .*' "$d/responder.log" | head -n 1 || true)
    printf '{"n":%d,"indexer_s":%s,"map_used_bytes":%d,"bytes_per_cert_map":%.0f,"bytes_per_cert_btrees":%.0f,"responses_per_leaf":%.2f,%s,%s,%s,"warmup":"%s"}\n' \
        "$n" "$idx_s" "$((used * 4096))" "$(awk -v u="$used" -v n="$n" 'BEGIN { print u * 4096 / n }')" \
        "$(awk -v u="$tree" -v n="$n" 'BEGIN { print u * 4096 / n }')" \
        "$(awk -v l="$rleaf" -v n="$n" 'BEGIN { print 2 * n / l }')" "${res[0]}" "${res[1]}" "${res[2]}" "$warm_log"
    [ "$KEEP" -eq 1 ] || rm -rf "$d"
done
