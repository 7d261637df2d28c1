#!/usr/bin/env bash
# ceiling_scale.sh — what does an ideal server pay for answering from N records?
#
#   bench/ceiling_scale.sh [--rounds R] [--dur S] [--depth "4,1"] [--records "10000,1000000"]
#                          [--stride B] [--huge] [--body FILE]
#
# The floor under the responder's 1M-vs-10k gap (issue 7: 1M certificates within
# 10% of 10k in CPU per answer, warm). bench/uring_ceiling parses nothing and looks
# nothing up; with --records N it copies each answer from one of N records B bytes
# apart picked at random (B: --stride, default 1000, the store's bytes per
# certificate), so a run's answers sweep N x B bytes of memory, as a responder's
# do across a store of N certificates, without the responder's dependent loads.
# One ceiling per N (default 10k and 1M), on 4 KiB pages (--huge: 2 MiB), all
# running at once, pinned to CPU 0, measured in interleaved rounds (the order
# rotates every round), so whatever else runs on the machine hits every size
# alike. ocspload runs on CPU 1 as bench/run.sh drives the ceiling: 32 connections
# x depth D (every depth of the list, each round), one fixed `GET /good.der`,
# 200 + Content-Length checked (--no-ocsp-check), a 1 s warm-up invocation, then
# S s measured. Figure: bench/run.sh's server CPU per answer (utime + stime from
# /proc/PID/stat over the measured run / the answers it gave), split into user
# and system time.
#
# The body (default): an EC-signed OCSP response for good.pem from `openssl ocsp`
# over make_ec_pki's PKI (bench/lib.sh; signer certificate included, as in
# revokd's answers), made once in $TMPDIR/ceiling-scale/pki. Output: one line per
# run on stderr, the JSONL in $TMPDIR/ceiling-scale/ceiling-scale.jsonl, a Markdown
# table of medians on stdout (per depth, the first N is the reference of the ratio
# and difference columns: per round, each N's run / minus the reference's).
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$BENCH/lib.sh"

ROUNDS=5 DUR=4 DEPTHS=4,1 RECORDS=10000,1000000 STRIDE=1000 HUGE=0 BODY=
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --dur) DUR=$2; shift 2 ;;
    --depth) DEPTHS=$2; shift 2 ;;
    --records) RECORDS=$2; shift 2 ;;
    --stride) STRIDE=$2; shift 2 ;;
    --huge) HUGE=1; shift ;;
    --body) BODY=$(realpath "$2"); shift 2 ;;
    -h | --help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "ceiling_scale.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
WORK=${TMPDIR:-/tmp}/ceiling-scale
mkdir -p "$WORK"
OCSPLOAD=$ROOT/build-bench/ocspload
CEILING=$ROOT/build-bench/uring_ceiling
CLK_TCK=$(getconf CLK_TCK)
RUN_LOG=$WORK/ceiling-scale.log
COMMANDS=$WORK/commands.txt
SECTION=ceiling-scale
ROUND=-
SERVER_PID=
: >"$RUN_LOG"
: >"$COMMANDS"
trap 'lib_cleanup' EXIT
trap 'exit 130' INT TERM

# ocspload and the ceiling only: the revokd build (build_servers) is not needed here
if [ ! -x "$OCSPLOAD" ] || [ ! -x "$CEILING" ] || [ "$BENCH/uring_ceiling.c" -nt "$CEILING" ]; then
    log "building ocspload and uring_ceiling (build-bench/)"
    { cmake -S "$BENCH" -B "$ROOT/build-bench" && cmake --build "$ROOT/build-bench" --target ocspload &&
        gcc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE "$BENCH/uring_ceiling.c" -o "$CEILING" -luring; } \
        >>"$RUN_LOG" 2>&1 || die "bench build failed (see $RUN_LOG)"
fi
if [ -z "$BODY" ]; then
    P=$WORK/pki
    if [ ! -s "$P/good.der" ]; then
        rm -rf "$P"
        log "making the PKI and good.der in $P"
        make_ec_pki "$P"
        (cd "$P" && OPENSSL_CONF=/dev/null openssl ocsp -index index.txt -CA ca.pem -rsigner ocsp-ec.pem \
            -rkey ocsp-ec.key -reqin goodreq.der -respout good.der -ndays 30 >>"$RUN_LOG" 2>&1) ||
            die "openssl ocsp could not answer for good.pem"
    fi
    BODY=$P/good.der
fi
log "kernel $(uname -r); THP enabled: $(cat /sys/kernel/mm/transparent_hugepage/enabled);" \
    "body $BODY ($(stat -c %s "$BODY") bytes); CPUs busy: $(cpu_busy 1)"

IFS=, read -r -a NS <<<"$RECORDS"
IFS=, read -r -a DS <<<"$DEPTHS"
read -r -a PORTS <<<"$(pick_ports ${#NS[@]})"
declare -A PORT PID
J=$WORK/ceiling-scale.jsonl
SPLIT=$WORK/ceiling-scale-split.jsonl
: >"$J"
: >"$SPLIT"
i=0
for n in "${NS[@]}"; do
    PORT[$n]=${PORTS[i]}
    i=$((i + 1))
    args=(--port "${PORT[$n]}" --body "$BODY" --cpu 0 --records "$n" --stride "$STRIDE")
    [ "$HUGE" -eq 0 ] || args+=(--huge)
    printf '%s\t%s\tbuild-bench/uring_ceiling %s\n' "$SECTION" "$ROUND" "${args[*]}" >>"$COMMANDS"
    start_bg "$WORK/ceiling-$n.log" "$CEILING" "${args[@]}"
    PID[$n]=$LAST_PID
    wait_port "${PORT[$n]}" 60 || die "uring_ceiling --records $n did not listen (see $WORK/ceiling-$n.log)"
    log "$n: pid ${PID[$n]} port ${PORT[$n]}; $(grep -h records "$WORK/ceiling-$n.log" | sed 's/^uring_ceiling: //')"
done

nn=${#NS[@]}
for r in $(seq "$ROUNDS"); do
    ROUND=$r
    for d in "${DS[@]}"; do
        for k in $(seq 0 $((nn - 1))); do
            n=${NS[$(((k + r) % nn))]}
            SERVER_PID=${PID[$n]}
            args=(run --cpu 1 -c 32 -d "$d" --no-ocsp-check -m get "http://127.0.0.1:${PORT[$n]}/good.der")
            # the 1 s warm-up as its own invocation here (ol_run's would fall inside the
            # utime/stime samples below)
            printf '%s\t%s\tbuild-bench/ocspload %s -t 1 -w 0  # warm-up\n' "$SECTION" "$ROUND" "${args[*]}" >>"$COMMANDS"
            timeout 120 "$OCSPLOAD" "${args[@]}" -t 1 -w 0 >/dev/null 2>>"$RUN_LOG" || warn "warm-up of $n failed"
            read -r u0 s0 < <(cut -d' ' -f14,15 "/proc/$SERVER_PID/stat")
            ol_run "$J" "{\"records\":$n,\"stride\":$STRIDE,\"huge\":$HUGE,\"depth\":$d,\"round\":$r}" 120 \
                "${args[@]}" -t "$DUR" -w 0
            read -r u1 s1 < <(cut -d' ' -f14,15 "/proc/$SERVER_PID/stat")
            # the same window as ol_run's samples: user and system apart
            tail -n 1 "$J" | python3 -c 'import json,sys; d=json.load(sys.stdin); n=d.get("server_answered") or 0
print(json.dumps({"records": d["records"], "depth": d["depth"], "round": d["round"], "user_us": (int(sys.argv[1]) * 1e6 / int(sys.argv[3]) / n) if n else None, "sys_us": (int(sys.argv[2]) * 1e6 / int(sys.argv[3]) / n) if n else None}))' \
                $((u1 - u0)) $((s1 - s0)) "$CLK_TCK" >>"$SPLIT"
            tail -n 1 "$J" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("round %s d=%s %8s records %8.0f req/s  %.3f us/answer  util %.2f  runq %.3f errors %s" % (d["round"], d["depth"], d["records"], d.get("rps") or 0, d.get("server_cpu_us_per_req") or 0, d.get("server_cpu_util") or 0, d.get("server_runq_wait_fraction") or 0, (d.get("errors") or {}).get("total")))' >&2
        done
    done
done
log "CPUs busy after the rounds: $(cpu_busy 1)"

python3 - "$J" "$SPLIT" "$RECORDS" "$DEPTHS" "$STRIDE" "$HUGE" "$(stat -c %s "$BODY")" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
split = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
ns = [int(x) for x in sys.argv[3].split(",")]
depths = [int(x) for x in sys.argv[4].split(",")]
print("uring_ceiling --records N --stride %s%s, body %s bytes, 32 x depth GET, warm\n" % (
    sys.argv[5], " --huge" if sys.argv[6] == "1" else "", sys.argv[7]))
print("| depth | records | working set | µs/answer (median) | user | system | req/s (median) | µs/answer vs the first row | per-round ratio (median) | per-round difference (median) | runq (max) |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
def med(sel, f):
    v = [d[f] for d in sel if d.get(f)]
    return statistics.median(v) if v else float("nan")
for dp in depths:
    first = None
    for n in ns:
        sel = [d for d in runs if d["records"] == n and d["depth"] == dp]
        m = med(sel, "server_cpu_us_per_req")
        if first is None:
            first = (m, {d["round"]: d.get("server_cpu_us_per_req") for d in sel})
        # the same round's runs ran back to back: their ratio cancels slow drift
        both = [(d["server_cpu_us_per_req"], first[1][d["round"]]) for d in sel
                if d.get("server_cpu_us_per_req") and first[1].get(d["round"])]
        rat = [a / b for a, b in both]
        dif = [a - b for a, b in both]
        sp = [d for d in split if d["records"] == n and d["depth"] == dp]
        print("| %d | %s | %s MB | %.3f | %.2f | %.2f | %.0f | %.2fx | %.2fx | %+.3f µs | %.3f |" % (
            dp, f"{n:,}", f"{n * int(sys.argv[5]) / 1e6:,.0f}", m, med(sp, "user_us"), med(sp, "sys_us"),
            med(sel, "rps"), m / first[0], statistics.median(rat) if rat else float("nan"),
            statistics.median(dif) if dif else float("nan"),
            max((d.get("server_runq_wait_fraction") or 0) for d in sel)))
bad = [d for d in runs if d.get("failed") or (d.get("errors") or {}).get("total") or d.get("rc")]
if bad:
    print("\nruns with errors or failures: %d" % len(bad))
PY
