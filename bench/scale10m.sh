#!/usr/bin/env bash
# scale10m.sh — the scale step of bench/run.sh for one large store (issue 7 item 1:
# "a 10M store run once with --full and recorded") without the rest of run.sh's
# half hour of side-by-side runs, and with what run.sh's scale_one leaves out:
# CPU times, a status-only import, the indexer's peak RSS and a capped
# `openssl ocsp -index` load.
#
#   bench/scale10m.sh [--n N] [--out DIR] [--workdir DIR] [--ossl-limit S] [--keep]
#
#   --n N          certificates (default 10000000)
#   --out DIR      raw results (default bench/results/scale10m; only files this
#                  script writes there are replaced)
#   --workdir D    scratch parent (default $TMPDIR or /tmp; 10M needs ~15-25 GB)
#   --ossl-limit S cap on `openssl ocsp -index` start-to-first-answer (default 600 s)
#   --keep         keep the scratch directory
#   --reuse DIR    serve only: DIR is the `scale` directory of a kept run (its
#                  store, index.txt, reqs.txt, revokd.conf); runs the responder
#                  steps again (first answer, cold, warm) into OUT/serve.jsonl and
#                  OUT/serve-runs.jsonl, e.g. once a busy machine is quiet again
#
# Same inputs as run.sh's scale_one: mkpki's demo PKI plus an EC P-256 delegated
# OCSP signer, bench/synth-index.py --n N (2% revoked, random-looking serials),
# request set of 200k drawn over the whole index (10% unknown, 20% SHA-256 CertIDs,
# seed 2), responder with one worker pinned to CPU 0 on the io_uring backend,
# ocspload 32 connections x 4 deep POSTs on CPU 1, status-checked (--no-verify:
# ~190k distinct answers would make ocspload verify instead of load; the
# signatures are checked by bench/steady.sh and run.sh's side-by-side runs).
# Differences from scale_one, on purpose: the indexer is NOT pinned (it signs
# on every CPU, as in production and bench/indexer_scale.sh; pinned it would take
# ~20 min at 10M) and each indexer run is timed for wall and CPU (user+sys, GNU
# time) with RssAnon/RssFile sampled every 200 ms.
#
# Steps, each recorded in OUT/scale10m.jsonl (one object) and OUT/log.txt:
#   synth      bench/synth-index.py: seconds and index.txt bytes
#   status     revokd-indexer --once --status-only into a fresh store
#   import     revokd-indexer --once into a fresh store (status + 2 signed responses
#              per certificate, durable commit)
#   resync     the same again, nothing changed (a restart)
#   store      data.mdb size, pages used (mdb_stat -ef / -a into OUT/mdb_stat.txt)
#   first      responder start to its first answer (run.sh's first_answer), and the
#              map warm-up time the responder logs
#   cold/warm  ocspload runs right after start (-w 0) and after a 5 s warm-up, with
#              the responder's CPU per answer (lib.sh ol_run) into OUT/runs.jsonl
#   openssl    `openssl ocsp -index` start to first answer, capped
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$BENCH/lib.sh"

N=10000000
OUT=$BENCH/results/scale10m
WORK_PARENT=${TMPDIR:-/tmp}
OSSL_LIMIT=600
KEEP=0
REUSE=
DUR=10
while [ $# -gt 0 ]; do
    case $1 in
    --n) N=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --workdir) WORK_PARENT=$2; shift 2 ;;
    --ossl-limit) OSSL_LIMIT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --reuse) REUSE=$(cd "$2" && pwd); shift 2 ;;
    -h | --help) sed -n '2,41p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) echo "scale10m.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
need_cmd cmake python3 openssl curl taskset timeout mdb_stat /usr/bin/time
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [ -n "$REUSE" ]; then
    RUN_LOG=$OUT/serve-log.txt COMMANDS=$OUT/serve-commands.txt
    rm -f "$OUT/serve.jsonl" "$OUT/serve-runs.jsonl"
else
    RUN_LOG=$OUT/log.txt COMMANDS=$OUT/commands.txt
    rm -f "$OUT/scale10m.jsonl" "$OUT/runs.jsonl" "$OUT/mdb_stat.txt"
fi
: >"$RUN_LOG"
: >"$COMMANDS"
WORK=$(mktemp -d "$WORK_PARENT/revokd-scale10m.XXXXXX")
SECTION=scale10m
ROUND=$N
scratch_traps
SERVER_CPU=0
GEN_CPU=1
export OPENSSL_CONF=/dev/null

log "bench/scale10m.sh --n $N: scratch $WORK, results $OUT; load $(cut -d' ' -f1-3 /proc/loadavg), busy $(cpu_busy 2)"
build_servers
read -r PORT <<<"$(pick_ports 1)"
note() { printf '%s\n' "$*" >>"$COMMANDS"; }

# serve: the responder steps, on the store in D (port PORT in its revokd.conf);
# appends to J, runs to RUNS
serve() {
    note "taskset -c $SERVER_CPU build/revokd-responder -c revokd.conf   # backend io_uring, workers 1"
    local t0
    t0=$(now)
    start_bg "$WORK/responder.log" taskset -c "$SERVER_CPU" "$RESPONDER" -c "$D/revokd.conf"
    RPID=$LAST_PID
    SERVER_PID=$RPID
    FIRST=$(first_answer "$PORT" "$D/goodreq.der" 60 "$t0") || die "revokd-responder did not answer"
    log "responder: first answer $FIRST s after start"
    J="$J,\"responder_first_s\":$FIRST"
    RUNARGS=(run -r "$D/reqs.txt" --no-verify --cpu "$GEN_CPU" -c 32 -d 4 -m post)
    log "ocspload cold ($DUR s right after start), then warm (5 s warm-up, $DUR s)"
    ol_run "$RUNS" "{\"n\":$N,\"phase\":\"cold\"}" 120 "${RUNARGS[@]}" -t "$DUR" -w 0 "127.0.0.1:$PORT"
    ol_run "$RUNS" "{\"n\":$N,\"phase\":\"warm\"}" 120 "${RUNARGS[@]}" -t "$DUR" -w 5 "127.0.0.1:$PORT"
    RRSS=$(awk '/^VmRSS/ { print $2 }' "/proc/$RPID/status")
    J="$J,\"responder_rss_kb_after\":$RRSS"
    stop_pid "$RPID"
    SERVER_PID=
    # the map warm-up thread's own report (level info): "store warm-up: N MB mapped in M ms"
    local wl wms
    wl=$(grep -o 'store warm-up: .*' "$WORK/responder.log" | head -n 1 || true)
    wms=$(printf '%s' "$wl" | sed -n 's/.* in \([0-9]*\) ms.*/\1/p')
    log "responder: ${wl:-no warm-up line in its log}"
    J="$J,\"warmup_ms\":${wms:-null}"
    python3 - "$RUNS" <<'PY' | tee -a "$RUN_LOG" >&2
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    print(f'{d.get("phase")}: {d.get("rps")} req/s, errors {d.get("errors", {}).get("total")}, '
          f'server {d.get("server_cpu_us_per_req")} us CPU/answer, util {d.get("server_cpu_util")}, '
          f'runq {d.get("server_runq_wait_fraction")}, '
          f'p50 {d.get("latency_ns", {}).get("p50")} ns, p99 {d.get("latency_ns", {}).get("p99")} ns')
PY
}
if [ -n "$REUSE" ]; then
    D=$REUSE
    N=$(wc -l <"$D/index.txt")
    PORT=$(sed -n 's/^listen = 127.0.0.1://p' "$D/revokd.conf")
    RUNS=$OUT/serve-runs.jsonl
    log "--reuse $D: $N certificates, port $PORT; load $(cut -d' ' -f1-3 /proc/loadavg), busy $(cpu_busy 2)"
    J='{"n":'$N',"reuse":true'
    serve
    J="$J,\"load_end\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"date\":\"$(date -u '+%Y-%m-%d %H:%M UTC')\"}"
    printf '%s\n' "$J" >"$OUT/serve.jsonl"
    log "done: $OUT/serve.jsonl"
    sed -i -e "s|$WORK|\$WORK|g" -e "s|$ROOT/||g" -e "s|$D|\$SCALE|g" "$RUN_LOG" "$COMMANDS"
    exit 0
fi

# ---- PKI: as run.sh's make_pki ----
P=$WORK/pki
make_ec_pki "$P" "$PORT"
D=$WORK/scale
mkdir -p "$D"
cp "$P/ca.pem" "$P/chain.pem" "$P/ocsp-ec.pem" "$P/ocsp-ec.key" "$P/goodreq.der" "$D/"
cat >"$D/revokd.conf" <<EOF
# written by bench/scale10m.sh (run.sh's write_conf, plus the map size spelled out)
[store]
path = store
# 1M certificates take ~1 GB of map; the default 64G is spelled out so the
# assumption is visible: 10M need ~10 GB plus copy-on-write headroom
map_size = 64G
[log]
# info: the indexer's summary line ("N responses signed")
level = info
[responder]
listen = 127.0.0.1:$PORT
backend = io_uring
workers = 1
[issuer bench]
ca_cert     = ca.pem
index       = index.txt
signer_cert = ocsp-ec.pem
signer_key  = ocsp-ec.key
digest      = sha256
EOF

# ---- synth ----
log "synth-index.py --n $N"
note "bench/synth-index.py --n $N --out index.txt --base \$WORK/pki/index.base"
t0=$(now)
"$BENCH/synth-index.py" --n "$N" --out "$D/index.txt" --base "$P/index.base" 2>>"$RUN_LOG"
SYNTH_S=$(since "$t0")
INDEX_BYTES=$(stat -c %s "$D/index.txt")
log "index.txt: $INDEX_BYTES bytes in $SYNTH_S s"

# run_idx NAME ARGS..: revokd-indexer under GNU time in D, RssAnon/RssFile sampled
# every 200 ms; sets WALL CPU USR SYS ANON FILE MAXRSS
run_idx() {
    local name=$1 tpid pid='' t0 a f
    shift
    note "build/revokd-indexer -c revokd.conf $*   # $name; /usr/bin/time -f '%U %S %M'"
    log "revokd-indexer $* ($name)"
    t0=$(now)
    (cd "$D" && exec /usr/bin/time -o "$WORK/time.$name" -f "%U %S %M" "$INDEXER" -c revokd.conf "$@") \
        >>"$WORK/indexer-$name.log" 2>&1 &
    tpid=$!
    ANON=0 FILE=0
    while kill -0 "$tpid" 2>/dev/null; do
        [ -n "$pid" ] || pid=$(cut -d' ' -f1 "/proc/$tpid/task/$tpid/children" 2>/dev/null || true)
        if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
            read -r a f < <(awk '/^RssAnon/ { a = $2 } /^RssFile/ { f = $2 } END { print a + 0, f + 0 }' \
                "/proc/$pid/status" 2>/dev/null || echo "0 0")
            [ "${a:-0}" -le "$ANON" ] || ANON=$a
            [ "${f:-0}" -le "$FILE" ] || FILE=$f
        fi
        sleep 0.2
    done
    wait "$tpid" || { tail -n 5 "$WORK/indexer-$name.log" >&2; die "revokd-indexer $name failed"; }
    WALL=$(since "$t0")
    read -r USR SYS MAXRSS <"$WORK/time.$name"
    CPU=$(awk -v u="$USR" -v s="$SYS" 'BEGIN { printf "%.2f", u + s }')
    log "$name: wall $WALL s, cpu $CPU s (user $USR, sys $SYS), peak RssAnon $((ANON / 1024)) MB, RssFile $((FILE / 1024)) MB, maxrss $((MAXRSS / 1024)) MB"
    cat "$WORK/indexer-$name.log" >>"$RUN_LOG"
}
J='{"n":'$N',"index_bytes":'$INDEX_BYTES',"synth_s":'$SYNTH_S
idx_json() { J="$J,\"${1}_wall_s\":$WALL,\"${1}_cpu_s\":$CPU,\"${1}_user_s\":$USR,\"${1}_sys_s\":$SYS,\"${1}_rss_anon_kb\":$ANON,\"${1}_rss_file_kb\":$FILE,\"${1}_maxrss_kb\":$MAXRSS"; }
run_idx status --once --status-only
idx_json status
rm -rf "$D/store"
run_idx import --once
idx_json import
SIGNED=$(grep -o '[0-9]* responses signed' "$WORK/indexer-import.log" | tail -n 1 | cut -d' ' -f1 || true)
run_idx resync --once
idx_json resync
J="$J,\"signed\":${SIGNED:-null}"

# ---- store ----
DU=$(du -B1 "$D/store/data.mdb" | cut -f1)
APPARENT=$(stat -c %s "$D/store/data.mdb")
mdb_stat -ef "$D/store" >"$OUT/mdb_stat.txt"
mdb_stat -a "$D/store" >>"$OUT/mdb_stat.txt"
PAGES=$(sed -n 's/^ *Number of pages used: //p' "$OUT/mdb_stat.txt" | head -n 1)
PSIZE=$(sed -n 's/^ *Page size: //p' "$OUT/mdb_stat.txt" | head -n 1)
TREE=$(awk '/^Status of/ { f = 1 } f && /(Branch|Leaf|Overflow) pages:/ { s += $3 } END { print s + 0 }' "$OUT/mdb_stat.txt")
log "store: du $DU B ($((DU / N)) B/cert), pages used $PAGES x $PSIZE = $((PAGES * PSIZE / N)) B/cert, B-tree pages $TREE = $((TREE * PSIZE / N)) B/cert"
J="$J,\"du_bytes\":$DU,\"file_bytes\":$APPARENT,\"page_size\":$PSIZE,\"pages_used\":$PAGES,\"tree_pages\":$TREE"
J="$J,\"bytes_per_cert_used\":$((PAGES * PSIZE / N)),\"bytes_per_cert_tree\":$((TREE * PSIZE / N))"

# ---- responder ----
NREQ=$((2 * N < 200000 ? 2 * N : 200000))
note "build-bench/ocspload gen --issuer ca.pem --index index.txt --out reqs.txt --n $NREQ --unknown-fraction 0.1 --sha256-fraction 0.2 --seed 2"
t0=$(now)
"$OCSPLOAD" gen --issuer "$D/ca.pem" --index "$D/index.txt" --out "$D/reqs.txt" --n "$NREQ" \
    --unknown-fraction 0.1 --sha256-fraction 0.2 --seed 2 2>>"$RUN_LOG"
log "request set: $NREQ in $(since "$t0") s"
# drop the page cache's copy of the store? Not as a non-root helper: the store was
# just written, so "first answer" here is with a warm page cache (as after an import)
RUNS=$OUT/runs.jsonl
serve

# ---- openssl ocsp -index ----
log "openssl ocsp -index, start to first answer (cap $OSSL_LIMIT s)"
note "taskset -c $SERVER_CPU openssl ocsp -index index.txt -CA ca.pem -rsigner ocsp-ec.pem -rkey ocsp-ec.key -port PORT -nmin 60 -ignore_err  # + curl POST until it answers, cap $OSSL_LIMIT s"
t0=$(now)
start_bg /dev/null taskset -c "$SERVER_CPU" openssl ocsp -index "$D/index.txt" \
    -CA "$D/ca.pem" -rsigner "$D/ocsp-ec.pem" -rkey "$D/ocsp-ec.key" -port "$PORT" -nmin 60 -ignore_err
OPID=$LAST_PID
OSSL=$(first_answer "$PORT" "$D/goodreq.der" "$OSSL_LIMIT" "$t0") || OSSL=null
OCPU=null ORSS=null
if [ -r "/proc/$OPID/stat" ]; then
    read -r line <"/proc/$OPID/stat"
    read -r -a f <<<"${line##*) }"
    OCPU=$(awk -v t=$((f[11] + f[12])) -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }')
    ORSS=$(awk '/^VmRSS/ { print $2 }' "/proc/$OPID/status")
fi
stop_pid "$OPID"
log "openssl ocsp: first answer ${OSSL} s (null: not within $OSSL_LIMIT s), CPU $OCPU s, RSS $ORSS kB"
J="$J,\"openssl_first_s\":$OSSL,\"openssl_cpu_s\":$OCPU,\"openssl_rss_kb\":$ORSS,\"openssl_limit_s\":$OSSL_LIMIT"
J="$J,\"load_end\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"revokd\":\"$(git -C "$ROOT" rev-parse --short HEAD)\",\"date\":\"$(date -u '+%Y-%m-%d %H:%M UTC')\"}"
printf '%s\n' "$J" >"$OUT/scale10m.jsonl"
log "done: $OUT/scale10m.jsonl"
sed -i -e "s|$WORK|\$WORK|g" -e "s|$ROOT/||g" "$RUN_LOG" "$COMMANDS"
