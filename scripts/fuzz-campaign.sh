#!/usr/bin/env bash
# fuzz-campaign.sh — long libFuzzer runs that add up across sessions (issue 12:
# at least one CPU-hour per target before it is called done). Each run keeps its
# grown corpus between campaigns (--corpus, seeded from tests/fuzz/corpus/<name>/),
# runs at nice 19 so it can share a machine, and appends one line to the ledger
# (tests/fuzz/ledger.tsv, committed): when, target, wall and CPU seconds
# (user + sys of the fuzzer, from /usr/bin/time), executions, the result and the
# commit fuzzed. --report sums the ledger per target.
#
#   scripts/fuzz-campaign.sh [--jobs N] [--build DIR] [--corpus DIR] [--ledger FILE]
#                            [NAME[:SECONDS] ...]      (default: every target, 600 s)
#   scripts/fuzz-campaign.sh --report [--ledger FILE]
#
# The fuzzers come from a libFuzzer build (docs/HACKING.md, "Fuzz"):
#   CC=clang cmake -S . -B build-fuzz -DREVOKD_FUZZ=ON -DREVOKD_TESTS=OFF && cmake --build build-fuzz
# A crash stops that run with a non-zero result in the ledger and leaves the
# input as <corpus>/../artifacts/<name>-crash-*; it becomes a regression test first.
# Stopping a campaign with Ctrl-C (SIGINT to the fuzzers) still records what ran.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-fuzz
CORPUS=/var/tmp/revokd-corpus
LEDGER=$ROOT/tests/fuzz/ledger.tsv
JOBS=2
REPORT=
TARGETS=()
while [ $# -gt 0 ]; do
    case $1 in
    --jobs) JOBS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --corpus) CORPUS=$2; shift 2 ;;
    --ledger) LEDGER=$2; shift 2 ;;
    --report) REPORT=1; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "fuzz-campaign: unknown option $1" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
    esac
done

report() {
    python3 - "$LEDGER" <<'PY'
import sys, collections
cpu, ex, runs, bad = collections.Counter(), collections.Counter(), collections.Counter(), collections.Counter()
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    f = line.rstrip("\n").split("\t")
    when, name, wall, c, execs, result = f[:6]
    cpu[name] += float(c)
    ex[name] += int(execs) if execs.isdigit() else 0
    runs[name] += 1
    bad[name] += result not in ("ok", "stopped")
print(f"{'target':16s} {'runs':>4s} {'CPU min':>8s} {'of 60':>6s} {'executions':>15s} {'crashes':>7s}")
for n in sorted(cpu):
    print(f"{n:16s} {runs[n]:4d} {cpu[n] / 60:8.1f} {100 * cpu[n] / 3600:5.0f}% {ex[n]:15,d} {bad[n]:7d}")
print(f"{'total':16s} {sum(runs.values()):4d} {sum(cpu.values()) / 60:8.1f}")
PY
}
if [ -n "$REPORT" ]; then
    report
    exit 0
fi

if [ ${#TARGETS[@]} -eq 0 ]; then
    for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
        n=$(basename "$src" .c)
        TARGETS+=("${n#fuzz_}:600")
    done
fi
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
mkdir -p "$CORPUS/artifacts" "$CORPUS/logs"
[ -f "$LEDGER" ] || printf '# when (UTC)\ttarget\twall s\tCPU s (user+sys)\texecutions\tresult\tcommit\n' >"$LEDGER"

one() { # one NAME SECONDS: one run, one ledger line
    local n=$1 t=$2 bin=$BUILD/tests/fuzz/fuzz_$1 c=$CORPUS/$1 ts log tf rc u s e ex result
    if [ ! -x "$bin" ]; then
        echo "fuzz-campaign: $bin not built" >&2
        return 1
    fi
    mkdir -p "$c"
    [ -d "$ROOT/tests/fuzz/corpus/$n" ] && cp -Rn "$ROOT/tests/fuzz/corpus/$n/." "$c/"
    ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    log=$CORPUS/logs/$n-$ts.log
    tf=$CORPUS/logs/$n-$ts.time
    /usr/bin/time -f "TIME %U %S %e" -o "$tf" nice -n 19 "$bin" -max_total_time="$t" -print_final_stats=1 \
        -artifact_prefix="$CORPUS/artifacts/$n-" "$c" >"$log" 2>&1
    rc=$?
    read -r _ u s e < <(grep '^TIME' "$tf")
    ex=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    case $rc in
    0) result=ok ;;
    72 | 130) result=stopped ;; # libFuzzer's exit code after SIGINT
    *) result="failed (exit $rc, log $log)" ;;
    esac
    printf '%s\t%s\t%.0f\t%.0f\t%s\t%s\t%s\n' "$ts" "$n" "$e" "$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')" "${ex:-0}" "$result" "$COMMIT" >>"$LEDGER"
    echo "fuzz-campaign: $n: $result, $(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }') CPU s, ${ex:-0} executions"
}
export -f one
export BUILD CORPUS LEDGER COMMIT ROOT
# shellcheck disable=SC2016 # $0 and $1 below are the inner bash's arguments
printf '%s\n' "${TARGETS[@]}" | sed 's/:/ /' | awk '{ print $1, ($2 == "" ? 600 : $2) }' |
    xargs -P "$JOBS" -L 1 bash -c 'one "$0" "$1"'
report
