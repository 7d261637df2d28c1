#!/usr/bin/env bash
# ab.sh — A/B of two revokd-responder binaries on one store: server CPU per answer.
#
#   bench/ab.sh [--certs N] [--rounds R] [--dur S] [--depths "1 4"]
#               [--backends "io_uring libev"] [--method post|get] [--ceiling]
#               [--work DIR] A_RESPONDER B_RESPONDER
#
# For A/B work on the responder's hot path on a busy machine: both binaries run
# at once (one responder per binary and backend, workers = 1, pinned to CPU 0,
# all serving the same store; an idle one costs nothing) and each round runs
# every (backend, depth) once against A and once against B, the order of A and
# B swapped every round, so whatever else runs on the machine hits both alike.
# ocspload runs on CPU 1 exactly as in bench/run.sh (warm-up 1 s, then DUR s,
# random good/revoked/unknown requests, 20% SHA-256 CertIDs). The figure is
# bench/run.sh's "server CPU per answer": utime + stime of the responder from
# /proc/PID/stat over the measured run / the answers it gave. --ceiling adds
# bench/uring_ceiling (fixed bytes, GET) as a third target for scale.
#
# The PKI and store (scripts/mkpki.sh + an EC P-256 delegated signer +
# bench/synth-index.py up to N certificates + revokd-indexer --once) are made
# once in DIR (default $TMPDIR/revokd-ab-N) and reused on the next run.
# Output: one line per run on stderr, the JSONL in DIR/ab.jsonl, and a table of
# the medians per (backend, depth, binary) and the B/A ratio on stdout.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$BENCH/lib.sh"

CERTS=10000 ROUNDS=5 DUR=4 DEPTHS="1 4" BACKENDS="io_uring libev" METHOD=post CEIL=0 WORK=
while [ $# -gt 2 ]; do
    case "$1" in
    --certs) CERTS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --dur) DUR=$2; shift 2 ;;
    --depths) DEPTHS=$2; shift 2 ;;
    --backends) BACKENDS=$2; shift 2 ;;
    --method) METHOD=$2; shift 2 ;;
    --ceiling) CEIL=1; shift ;;
    --work) WORK=$2; shift 2 ;;
    *) echo "ab.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ $# -eq 2 ] || { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
BIN_A=$(realpath "$1")
BIN_B=$(realpath "$2")
WORK=${WORK:-${TMPDIR:-/tmp}/revokd-ab-$CERTS}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
OCSPLOAD=$ROOT/build-bench/ocspload
INDEXER=$ROOT/build/revokd-indexer
CEILING=$ROOT/build-bench/uring_ceiling
CLK_TCK=$(getconf CLK_TCK)
RUN_LOG=$WORK/ab.log
SERVER_PID=
trap 'lib_cleanup' EXIT
trap 'exit 130' INT TERM

if [ ! -x "$OCSPLOAD" ] || [ ! -x "$CEILING" ]; then
    log "building ocspload and uring_ceiling (build-bench/)"
    { cmake -S "$BENCH" -B "$ROOT/build-bench" && cmake --build "$ROOT/build-bench" &&
        gcc -O2 -D_GNU_SOURCE "$BENCH/uring_ceiling.c" -o "$CEILING" -luring; } >>"$RUN_LOG" 2>&1 ||
        die "bench build failed (see $RUN_LOG)"
fi

P=$WORK/pki
if [ ! -s "$P/reqs.txt" ]; then
    rm -rf "$P"
    log "making the PKI and a store of $CERTS certificates in $P"
    make_ec_pki "$P"
    "$BENCH/synth-index.py" --n "$CERTS" --out "$P/index.txt" --base "$P/index.base" 2>>"$RUN_LOG"
    write_conf "$P/revokd.conf" store 1 ocsp-ec
    taskset -c 0 "$INDEXER" -c "$P/revokd.conf" --once >>"$RUN_LOG" 2>&1 || die "revokd-indexer failed"
    nreq=$((2 * CERTS < 200000 ? 2 * CERTS : 200000))
    nreq=$((nreq < 20000 ? 20000 : nreq))
    "$OCSPLOAD" gen --issuer "$P/ca.pem" --index "$P/index.txt" --out "$P/reqs.txt.tmp" --n "$nreq" \
        --unknown-fraction 0.1 --revoked-fraction 0.1 --sha256-fraction 0.2 --seed 1 2>>"$RUN_LOG"
    mv "$P/reqs.txt.tmp" "$P/reqs.txt"
fi

read -r -a BKS <<<"$BACKENDS"
read -r -a DPS <<<"$DEPTHS"
read -r -a PORTS <<<"$(pick_ports $((2 * ${#BKS[@]} + 1)))"
declare -A PORT PID
i=0
for bin in A B; do
    exe=$BIN_A
    [ "$bin" = A ] || exe=$BIN_B
    for b in "${BKS[@]}"; do
        k=$bin-$b
        PORT[$k]=${PORTS[i]}
        i=$((i + 1))
        write_conf "$P/ab-$k.conf" store "${PORT[$k]}" ocsp-ec "$b"
        start_bg "$WORK/responder-$k.log" taskset -c 0 "$exe" -c "$P/ab-$k.conf"
        PID[$k]=$LAST_PID
        wait_port "${PORT[$k]}" 10 || die "responder $k did not listen (see $WORK/responder-$k.log)"
        log "$k: $exe backend $b pid ${PID[$k]} port ${PORT[$k]}"
    done
done
if [ "$CEIL" -eq 1 ]; then
    OPENSSL_CONF=/dev/null openssl ocsp -issuer "$P/ca.pem" -cert "$P/good.pem" -no_nonce \
        -url "http://127.0.0.1:${PORT[A-${BKS[0]}]}" -CAfile "$P/chain.pem" -respout "$P/good.der" >>"$RUN_LOG" 2>&1 ||
        die "no verified answer for good.pem"
    start_bg "$WORK/ceiling.log" "$CEILING" --port "${PORTS[i]}" --body "$P/good.der" --cpu 0
    PID[ceiling]=$LAST_PID
    PORT[ceiling]=${PORTS[i]}
    wait_port "${PORT[ceiling]}" 10 || die "uring_ceiling did not listen"
fi

J=$WORK/ab.jsonl
: >"$J"
for r in $(seq "$ROUNDS"); do
    order=(A B)
    [ $((r % 2)) -eq 1 ] || order=(B A)
    for b in "${BKS[@]}"; do
        for d in "${DPS[@]}"; do
            targets=("${order[@]}")
            [ "$CEIL" -eq 0 ] || targets+=(ceiling)
            for bin in "${targets[@]}"; do
                if [ "$bin" = ceiling ]; then
                    k=ceiling
                    args=(--no-ocsp-check -m get "http://127.0.0.1:${PORT[$k]}/good.der")
                else
                    k=$bin-$b
                    args=(-r "$P/reqs.txt" --ca "$P/chain.pem" --no-verify -m "$METHOD" "127.0.0.1:${PORT[$k]}")
                fi
                SERVER_PID=${PID[$k]}
                ol_run "$J" "{\"bin\":\"$bin\",\"backend\":\"$b\",\"depth\":$d,\"round\":$r}" 120 \
                    run --cpu 1 -t "$DUR" -w 1 -c 32 -d "$d" "${args[@]}"
                tail -n 1 "$J" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("round %s %-8s d=%s %-7s %8.0f req/s  %.3f us/answer  util %.2f  runq %.3f errors %s" % (d["round"], d["backend"], d["depth"], d["bin"], d.get("rps") or 0, d.get("server_cpu_us_per_req") or 0, d.get("server_cpu_util") or 0, d.get("server_runq_wait_fraction") or 0, (d.get("errors") or {}).get("total")))' >&2
            done
        done
    done
done

python3 - "$J" "$BIN_A" "$BIN_B" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("A = %s\nB = %s\n" % (sys.argv[2], sys.argv[3]))
print("| backend | conns x depth | A µs/answer (median) | B µs/answer (median) | B/A of medians | B/A per round (median; B lower in) | A req/s | B req/s | ceiling µs/answer |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
keys = sorted({(d["backend"], d["depth"]) for d in runs if d["bin"] != "ceiling"})
def med(sel, f):
    v = [d[f] for d in sel if d.get(f)]
    return statistics.median(v) if v else float("nan")
for b, dp in keys:
    a = [d for d in runs if d["bin"] == "A" and d["backend"] == b and d["depth"] == dp]
    bb = [d for d in runs if d["bin"] == "B" and d["backend"] == b and d["depth"] == dp]
    c = [d for d in runs if d["bin"] == "ceiling" and d["depth"] == dp]
    ma, mb = med(a, "server_cpu_us_per_req"), med(bb, "server_cpu_us_per_req")
    mc = med(c, "server_cpu_us_per_req") if c else None
    # the same round's A and B ran back to back: their ratio cancels slow drift
    ra = {d["round"]: d.get("server_cpu_us_per_req") for d in a}
    rat = [d["server_cpu_us_per_req"] / ra[d["round"]] for d in bb
           if d.get("server_cpu_us_per_req") and ra.get(d["round"])]
    per = "%.3f (%d/%d)" % (statistics.median(rat), sum(x < 1 for x in rat), len(rat)) if rat else "-"
    print("| %s | 32 x %d | %.3f | %.3f | %.3f | %s | %.0f | %.0f | %s |" % (
        b, dp, ma, mb, mb / ma, per, med(a, "rps"), med(bb, "rps"), "%.3f" % mc if c else "-"))
bad = [d for d in runs if d.get("failed") or (d.get("errors") or {}).get("total") or d.get("rc")]
if bad:
    print("\nruns with errors or failures: %d" % len(bad))
PY
