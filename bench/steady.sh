#!/usr/bin/env bash
# steady.sh — three responder measurements of issue 7 that bench/run.sh does not
# make, from one command, on run.sh's side-by-side PKI (mkpki + EC P-256 delegated
# signer, 10k certificates, 20k requests: 80% good, 10% revoked, 10% unknown, 20%
# SHA-256 CertIDs):
#
#   bench/steady.sh [--only steady|workers|openloop] [--secs S] [--backends "B .."]
#                   [--out DIR] [--workdir DIR] [--keep]
#
#   steady    a full-speed run of S seconds (default 60) per backend: ocspload 32
#             connections x 4 deep, half POST half GET, every answer status-checked
#             and a sample (1% + the first answer to every distinct request)
#             signature-verified; the responder (workers = 1, CPU 0; generator CPU 1)
#             sampled every second: VmRSS, open fds (/proc/PID/fd), threads, CPU.
#             OUT/steady-BACKEND.csv, summary in OUT/steady.jsonl
#   workers   workers = 1 (pinned to CPU 0) against workers = 2 (CPUs 0-1), 32x1 and
#             32x4 POST, 8 s each after 1 s warm-up, generator on CPU 1 (so with 2
#             workers it shares a core): req/s, the responder's CPU per answer
#             (lib.sh ol_run) and where each CPU's time went (/proc/stat user /
#             system / softirq / idle over the run). OUT/workers.jsonl
#   openloop  where the open-loop p99 comes from: closed-loop peak (32x4 POST), then
#             open loop at 50% and 90% of it with 32x4 (run.sh's shape), 128x4 and
#             256x1 connections, each reporting latency from the intended send time
#             (run.sh's figure), the generator's lag behind schedule, and latency
#             from the actual send. OUT/openloop.jsonl
# All three by default (~6 min with two backends). Default backends "io_uring libev".
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$BENCH/lib.sh"

ONLY="steady workers openloop"
SECS=60
BACKENDS="io_uring libev"
OUT=$BENCH/results/steady
WORK_PARENT=${TMPDIR:-/tmp}
KEEP=0
while [ $# -gt 0 ]; do
    case $1 in
    --only) ONLY=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    --backends) BACKENDS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --workdir) WORK_PARENT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) echo "steady.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
read -r -a BACKENDS <<<"$BACKENDS"
need_cmd cmake python3 openssl curl taskset timeout
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RUN_LOG=$OUT/log.txt
: >"$RUN_LOG"
WORK=$(mktemp -d "$WORK_PARENT/revokd-steady.XXXXXX")
COMMANDS=$OUT/commands.txt
: >"$COMMANDS"
scratch_traps
SERVER_CPU=0
GEN_CPU=1
export OPENSSL_CONF=/dev/null

log "bench/steady.sh --only '$ONLY' --secs $SECS --backends '${BACKENDS[*]}': load $(cut -d' ' -f1-3 /proc/loadavg), busy $(cpu_busy 2)"
build_servers
read -r PORT <<<"$(pick_ports 1)"

# ---- PKI: as run.sh's make_pki ----
P=$WORK/pki
make_ec_pki "$P" "$PORT"
"$BENCH/synth-index.py" --n 10000 --out "$P/index.txt" --base "$P/index.base" 2>>"$RUN_LOG"

# conf BACKEND WORKERS: $P/revokd-BACKEND-WORKERS.conf
conf() { write_conf "$P/revokd-$1-$2.conf" store "$PORT" ocsp-ec "$1" "$2"; }
conf io_uring 1
(cd "$P" && timeout 600 "$INDEXER" -c revokd-io_uring-1.conf --once) >>"$RUN_LOG" 2>&1 || die "indexer failed"
"$OCSPLOAD" gen --issuer "$P/ca.pem" --index "$P/index.txt" --out "$P/reqs.txt" --n 20000 \
    --unknown-fraction 0.1 --revoked-fraction 0.1 --sha256-fraction 0.2 --seed 1 2>>"$RUN_LOG"
# shellcheck disable=SC2016 # $WORK is literal text for the report
printf 'scripts/mkpki.sh $WORK/pki --name bench --port PORT  # + EC P-256 signer ocsp-ec.pem, as bench/run.sh\nbench/synth-index.py --n 10000 --out index.txt --base index.base\nbuild/revokd-indexer -c revokd.conf --once\nbuild-bench/ocspload gen --issuer ca.pem --index index.txt --out reqs.txt --n 20000 --unknown-fraction 0.1 --revoked-fraction 0.1 --sha256-fraction 0.2 --seed 1\n' >>"$COMMANDS"

# start BACKEND WORKERS CPUS: the responder on CPUS; pid in RPID and SERVER_PID
start() {
    conf "$1" "$2"
    local t0
    printf 'taskset -c %s build/revokd-responder -c revokd.conf  # backend = %s, workers = %s\n' "$3" "$1" "$2" >>"$COMMANDS"
    t0=$(now)
    start_bg "$WORK/responder-$1-$2.log" taskset -c "$3" "$RESPONDER" -c "$P/revokd-$1-$2.conf"
    RPID=$LAST_PID
    first_answer "$PORT" "$P/goodreq.der" 20 "$t0" >/dev/null ||
        die "revokd-responder ($1, $2 workers) did not answer: $(tail -n 3 "$WORK/responder-$1-$2.log")"
    # the backend that runs is the one asked for (a fallback would measure the wrong thing)
    local said
    said=$(curl -sf --max-time 5 "http://127.0.0.1:$PORT/metrics" |
        sed -n 's/^revokd_backend_info{backend="\([^"]*\)".*/\1/p' | head -n 1) || true
    [ -z "$said" ] || [ "$said" = "$1" ] || die "asked for backend $1, /metrics says $said"
    SERVER_PID=$RPID
}
stop() {
    stop_pid "$RPID"
    SERVER_PID=
}

# stat_cpu: per-CPU jiffies "user nice system idle iowait irq softirq" from /proc/stat
stat_cpu() { grep '^cpu[0-9]' /proc/stat | tr '\n' ';'; }
# stat_split BEFORE AFTER: JSON {"cpu0":{"user":%,"system":%,"softirq":%,"idle":%},..}
stat_split() {
    python3 - "$1" "$2" <<'PY'
import json, sys
def parse(s):
    return {f[0]: list(map(int, f[1:8])) for f in (l.split() for l in s.split(";") if l.strip())}
a, b = parse(sys.argv[1]), parse(sys.argv[2])
out = {}
for c in a:
    d = [y - x for x, y in zip(a[c], b[c])]
    tot = sum(d) or 1
    out[c] = {"user": round(100 * (d[0] + d[1]) / tot, 1), "system": round(100 * d[2] / tot, 1),
              "softirq": round(100 * (d[5] + d[6]) / tot, 1), "idle": round(100 * (d[3] + d[4]) / tot, 1)}
print(json.dumps(out, separators=(",", ":")))
PY
}

# ---- steady: S s at full speed per backend, RSS and fds every second ----
steady() {
    local b J=$OUT/steady.jsonl s0 s1 rc csv spid
    rm -f "$J" "$OUT"/steady-*.csv
    SECTION=steady
    for b in "${BACKENDS[@]}"; do
        ROUND=$b
        log "steady: $b, $SECS s at full speed (32x4, mix POST/GET, verification on)"
        start "$b" 1 "$SERVER_CPU"
        csv=$OUT/steady-$b.csv
        echo "t_s,rss_kb,fds,threads,cpu_ticks" >"$csv"
        (
            t0=$EPOCHREALTIME
            while [ -d "/proc/$RPID" ]; do
                read -r line <"/proc/$RPID/stat" || break
                read -r -a f <<<"${line##*) }"
                fds=$(find "/proc/$RPID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
                awk -v t0="$t0" -v t="$EPOCHREALTIME" -v fds="$fds" -v ticks=$((f[11] + f[12])) \
                    '/^VmRSS/ { r = $2 } /^Threads/ { th = $2 } END { printf "%.1f,%d,%d,%d,%d\n", t - t0, r, fds, th, ticks }' \
                    "/proc/$RPID/status"
                sleep 1
            done
        ) >>"$csv" 2>/dev/null &
        spid=$!
        sleep 2 # two idle samples first: the baseline before any load
        rc=0
        printf 'build-bench/ocspload run -r reqs.txt --ca chain.pem --cpu %s -c 32 -d 4 -m mix --get-fraction 0.5 -t %s --json 127.0.0.1:PORT\n' "$GEN_CPU" "$SECS" >>"$COMMANDS"
        s0=$(server_sample)
        timeout -k 5 $((SECS + 120)) "$OCSPLOAD" run -r "$P/reqs.txt" --ca "$P/chain.pem" --cpu "$GEN_CPU" \
            -c 32 -d 4 -m mix --get-fraction 0.5 -t "$SECS" --label "revokd-$b" --json "127.0.0.1:$PORT" \
            >"$WORK/steady-$b.json" 2>>"$RUN_LOG" || rc=$?
        s1=$(server_sample)
        sleep 2 # and after: what it holds once the connections are gone
        kill "$spid" 2>/dev/null || true
        wait "$spid" 2>/dev/null || true
        stop
        SERVER_CPU_PY=$SERVER_CPU_PY python3 - "$WORK/steady-$b.json" "$csv" "$b" "$rc" "$s0" "$s1" "$CLK_TCK" <<'PY' | tee -a "$J"
import csv, json, os, sys
exec(os.environ["SERVER_CPU_PY"])
path, csvp, b, rc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
try:
    d = json.load(open(path))
except (OSError, ValueError):
    d = {"failed": True}
rows = list(csv.DictReader(open(csvp)))
o = {"backend": b, "rc": rc, "secs": d.get("window_s"), "rps": d.get("rps"), "ok": d.get("ok"),
     "responses": d.get("responses"), "errors": d.get("errors"), "verify": d.get("verify"),
     "latency_ns": d.get("latency_ns"), "generator": d.get("generator"), "samples": len(rows)}
server_cpu(o, sys.argv[5], sys.argv[6], d.get("responses"), (d.get("generator") or {}).get("wall_s"), int(sys.argv[7]))
# loaded: the samples while the responder used CPU (ticks rising), i.e. under load
ticks = [int(r["cpu_ticks"]) for r in rows]
loaded = [r for i, r in enumerate(rows) if 0 < i and ticks[i] > ticks[i - 1]]
for k in ("rss_kb", "fds", "threads"):
    v, lv = [int(r[k]) for r in rows], [int(r[k]) for r in loaded]
    if v:
        # idle before the load, first and last second under load, idle after it
        o[k] = {"idle_before": v[0], "first_loaded": lv[0] if lv else None,
                "last_loaded": lv[-1] if lv else None, "idle_after": v[-1], "min": min(v), "max": max(v),
                "max_loaded": max(lv) if lv else None, "loaded_samples": len(lv)}
print(json.dumps(o, separators=(",", ":")))
PY
    done
}

# ---- workers: 1 worker on CPU 0 against 2 workers on CPUs 0-1 ----
workers() {
    local b w cpus d J=$OUT/workers.jsonl a0 a1 split
    rm -f "$J"
    SECTION=workers
    for b in "${BACKENDS[@]}"; do
        for w in 1 2 1 2; do # interleaved: drift hits both alike
            cpus=$SERVER_CPU
            [ "$w" -eq 1 ] || cpus=0-1
            start "$b" "$w" "$cpus"
            for d in 1 4; do
                ROUND="$b w$w"
                log "workers: $b, $w worker(s) on CPU $cpus, 32x$d"
                a0=$(stat_cpu)
                ol_run "$WORK/w.jsonl" "{\"backend\":\"$b\",\"workers\":$w,\"server_cpus\":\"$cpus\",\"conns\":32,\"depth\":$d}" 300 \
                    run -r "$P/reqs.txt" --ca "$P/chain.pem" --cpu "$GEN_CPU" -c 32 -d "$d" -m post -t 8 -w 1 "127.0.0.1:$PORT"
                a1=$(stat_cpu)
                split=$(stat_split "$a0" "$a1")
                # /proc/stat covers the warm-up second too: 9 s, the measured 8 in it
                tail -n 1 "$WORK/w.jsonl" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d["proc_stat"]=json.loads(sys.argv[1]); print(json.dumps(d,separators=(",",":")))' "$split" >>"$J"
            done
            stop
        done
    done
    python3 - "$J" <<'PY' | tee -a "$RUN_LOG"
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    g = d.get("generator") or {}
    print("%-8s w%d 32x%d: %8.0f req/s  server %.2f us/answer, %.2f cores, runq %.2f  gen cpu %.2f runq %.2f  %s errors %s" % (
        d["backend"], d["workers"], d["depth"], d.get("rps") or 0, d.get("server_cpu_us_per_req") or 0,
        d.get("server_cpu_util") or 0, d.get("server_runq_wait_fraction") or 0, g.get("cpu_fraction") or 0,
        g.get("runq_wait_fraction") or 0, json.dumps(d.get("proc_stat")), (d.get("errors") or {}).get("total")))
PY
}

# ---- openloop: whose is the p99? ----
openloop() {
    local b J=$OUT/openloop.jsonl peak share shape c d
    rm -f "$J"
    SECTION=openloop
    for b in "${BACKENDS[@]}"; do
        ROUND=$b
        start "$b" 1 "$SERVER_CPU"
        ol_run "$J" "{\"backend\":\"$b\",\"phase\":\"peak\",\"conns\":32,\"depth\":4}" 300 run -r "$P/reqs.txt" \
            --ca "$P/chain.pem" --cpu "$GEN_CPU" -c 32 -d 4 -m post -t 6 -w 1 "127.0.0.1:$PORT"
        peak=$(tail -n 1 "$J" | python3 -c 'import json,sys; print(int(json.loads(sys.stdin.read()).get("rps") or 0))')
        [ "$peak" -gt 0 ] || die "no peak measured for $b"
        for share in 50 90; do
            for shape in 32x4 128x4 256x1; do
                c=${shape%x*} d=${shape#*x}
                log "openloop: $b, $share% of $peak req/s, ${c}x$d"
                ol_run "$J" "{\"backend\":\"$b\",\"phase\":\"open\",\"share\":$share,\"peak\":$peak,\"conns\":$c,\"depth\":$d}" 300 \
                    run -r "$P/reqs.txt" --ca "$P/chain.pem" --cpu "$GEN_CPU" -c "$c" -d "$d" -m post \
                    -t 6 -w 1 -R $((peak * share / 100)) "127.0.0.1:$PORT"
            done
        done
        stop
    done
    python3 - "$J" <<'PY' | tee -a "$RUN_LOG"
import json, sys
us = lambda h, q: "%7.0f" % ((h or {}).get(q, 0) / 1e3)
for l in open(sys.argv[1]):
    d = json.loads(l)
    g = d.get("generator") or {}
    if d["phase"] == "peak":
        print("%-8s peak 32x4: %.0f req/s, server %.2f us/answer" % (d["backend"], d.get("rps") or 0, d.get("server_cpu_us_per_req") or 0))
        continue
    L, S, F = d.get("latency_ns"), d.get("send_lag_ns"), d.get("latency_from_send_ns")
    print("%-8s %d%% %3dx%d: %8.0f req/s | intended p50 %s p99 %s | lag p99 %s | from send p50 %s p99 %s | server %.2f cores, runq %.3f | gen cpu %.2f runq %.3f | err %s" % (
        d["backend"], d["share"], d["conns"], d["depth"], d.get("rps") or 0, us(L, "p50"), us(L, "p99"), us(S, "p99"),
        us(F, "p50"), us(F, "p99"), d.get("server_cpu_util") or 0, d.get("server_runq_wait_fraction") or 0,
        g.get("cpu_fraction") or 0, g.get("runq_wait_fraction") or 0, (d.get("errors") or {}).get("total")))
PY
}

for m in $ONLY; do
    case $m in
    steady | workers | openloop) "$m" ;;
    *) die "--only wants steady, workers or openloop" ;;
    esac
done
log "load at the end: $(cut -d' ' -f1-3 /proc/loadavg); results in $OUT"
sed -i -e "s|$WORK|\$WORK|g" -e "s|$ROOT/||g" "$RUN_LOG" "$COMMANDS"
