#!/usr/bin/env bash
# run.sh — every speed claim of revokd, from one command, beside its peers on
# the same machine.
#
#   bench/run.sh [--quick] [--full] [--sizes N,N,..] [--rounds R] [--backends "B .."] [--out DIR]
#                [--doc FILE] [--keep] [--workdir DIR]
#
#   --quick     shorter runs (on 2 cores: default mode ~11.5 min, quick ~9.5; the 1M store dominates)
#   --full      also the 10M-certificate store (~12 GB of disk; well over 25 min: the
#               import alone is ~430 CPU-s; bench/scale10m.sh runs just that step)
#   --sizes L   store sizes of the scale runs (default 1000,10000,100000,1000000)
#   --rounds R  side-by-side rounds (default 3)
#   --backends L  revokd-responder backends to run, each as its own server with
#               workers = 1 on the server CPU (default "libev io_uring", or
#               $REVOKD_BACKENDS); one the responder refuses to start is logged
#               and skipped
#   --out DIR   raw results, CSVs, tables, PNGs (default bench/results; the run
#               replaces the files it writes there)
#   --doc FILE  the page to regenerate (default docs/benchmarks.md; a trial run
#               can write elsewhere and leave the committed page alone)
#   --keep      keep the scratch directory (PKIs, stores, logs) for a look afterwards
#   --workdir D where the scratch directory goes (default $TMPDIR or /tmp)
#
# What it does, in order:
#   1. builds revokd (build/), ocspload (build-bench/) and uring_ceiling;
#   2. makes a demo PKI (scripts/mkpki.sh) with an EC P-256 delegated OCSP signer,
#      10k certificates, a request set (good / revoked / unknown), and starts on
#      CPU 0: revokd-responder once per backend (workers = 1), nginx serving one
#      pre-signed response as a static file (bench/nginx-static.sh), `openssl
#      ocsp` signing live, uring_ceiling;
#   3. side by side: R rounds, each running every target once in the same order
#      (interleaved, so drift hits all alike), ocspload pinned to CPU 1, plus wrk
#      against the fixed-response servers to tell generator limits from server ones;
#   4. throughput vs connections, and latency percentiles in open loop at 50% and
#      90% of revokd's measured peak;
#   5. scale: synthetic stores of 1k..1M certificates: import + pre-sign time,
#      `openssl ocsp` index load time, responder throughput, store bytes/cert, and
#      signing rate beside `openssl speed`;
#   6. writes bench/results/ and regenerates docs/benchmarks.md (the intro above
#      its marker line is kept), renders the plots with gnuplot.
# Every load run also records the server's CPU time per answer (lib.sh: ol_run,
# server_sample; bench/README.md). Every load run is bounded by `timeout`; every
# server started is stopped on exit.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$BENCH/lib.sh"

usage() {
    sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

QUICK=0
FULL=0
KEEP=0
OUT=$BENCH/results
WORK_PARENT=${TMPDIR:-/tmp}
SIZES_ARG=
ROUNDS_ARG=
BACKENDS=${REVOKD_BACKENDS:-libev io_uring}
DOC=$ROOT/docs/benchmarks.md
ARGS=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1; shift ;;
    --full) FULL=1; shift ;;
    --keep) KEEP=1; shift ;;
    --sizes) [ $# -ge 2 ] || usage; SIZES_ARG=$2; shift 2 ;;
    --rounds) [ $# -ge 2 ] || usage; ROUNDS_ARG=$2; shift 2 ;;
    --backends) [ $# -ge 2 ] || usage; BACKENDS=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; OUT=$2; shift 2 ;;
    --doc) [ $# -ge 2 ] || usage; DOC=$2; shift 2 ;;
    --workdir) [ $# -ge 2 ] || usage; WORK_PARENT=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "run.sh: unknown argument $1" >&2; usage ;;
    esac
done

START=$(now)
# The server under test gets CPU 0, the load generator CPU 1: on a 2-core machine
# they never share a core, and the kernel's loopback work lands on both.
SERVER_CPU=0
GEN_CPU=1

# Durations in seconds. Rounds are interleaved (A B C D, A B C D, ...) and the
# median is reported, so a slow moment of the machine hits every target alike.
if [ "$QUICK" -eq 1 ]; then
    MODE=quick
    ROUNDS=3 DUR=4 WARM=1 OSSL_DUR=2 CURVE_DUR=2 CURVE_WARM=0.5 LAT_DUR=4 SCALE_DUR=3 SPEED_S=3
else
    MODE=default
    ROUNDS=3 DUR=6 WARM=1 OSSL_DUR=3 CURVE_DUR=3 CURVE_WARM=1 LAT_DUR=6 SCALE_DUR=4 SPEED_S=3
fi
SIZES=(1000 10000 100000 1000000)
if [ -n "$SIZES_ARG" ]; then
    printf '%s' "$SIZES_ARG" | grep -Eq '^[0-9]+(,[0-9]+)*$' || { echo "run.sh: --sizes wants N,N,..." >&2; exit 2; }
    IFS=, read -r -a SIZES <<<"$SIZES_ARG"
fi
if [ -n "$ROUNDS_ARG" ]; then
    printf '%s' "$ROUNDS_ARG" | grep -Eq '^[1-9][0-9]?$' || { echo "run.sh: --rounds wants 1..99" >&2; exit 2; }
    ROUNDS=$ROUNDS_ARG
fi
read -r -a BACKENDS <<<"$BACKENDS"
[ "${#BACKENDS[@]}" -gt 0 ] || { echo "run.sh: --backends wants at least one of libev, io_uring, auto" >&2; exit 2; }
if [ "$FULL" -eq 1 ]; then
    MODE="$MODE+full"
    SIZES+=(10000000)
fi
SIDE_CONNS=32     # closed loop: 32 connections ...
# Open loop: the closed-loop shape (32 x 4). bench/steady.sh --only openloop measured
# 128 x 4 and 256 x 1 too: more connections cost ocspload more per request and made
# its lag behind schedule worse, not better (docs/benchmarks.md).
LAT_CONNS=32
SIDE_DEPTH=4      # ... x 4 pipelined requests each, plus a depth-1 row
OSSL_CONNS=4      # openssl ocsp serves one connection at a time and closes it
CURVE_LEVELS=(1 4 16 64)
SIDE_CERTS=10000  # certificates in the side-by-side PKI
SIDE_REQS=20000   # requests in its set

# ---- setup -------------------------------------------------------------------------------------

check_machine() {
    need_cmd cmake gcc python3 openssl curl nginx wrk gnuplot taskset timeout mdb_stat du awk
    [ -e /usr/include/liburing.h ] || die "liburing headers missing (liburing-dev); run docker/install-deps.sh"
    [ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (server on CPU $SERVER_CPU, generator on CPU $GEN_CPU)"
}

# Output and scratch directories. OUT is replaced file by file (only what this
# script writes there), so a stale plot never outlives the data it came from.
prepare_dirs() {
    mkdir -p "$OUT"
    OUT=$(cd "$OUT" && pwd)
    # Only the files this script writes: the other bench scripts keep their raw
    # results in the same directory (indexer_scale*, crl_scale*, livesign.md, ...).
    rm -f "$OUT"/{sidebyside,conns,latency,scale,scale-runs,signing,ratios,machine}.{jsonl,csv,md,json} \
        "$OUT"/{conns,latency-cdf,scale}.png "$OUT"/latency-cdf.csv "$OUT"/mdb_stat-*.txt \
        "$OUT"/wrk-raw.txt "$OUT"/commands.txt "$OUT"/run.log
    WORK=$(mktemp -d "$WORK_PARENT/revokd-bench.XXXXXX")
    # nginx's worker runs as another user and must traverse WORK to its document root
    chmod 711 "$WORK"
    RUN_LOG=$OUT/run.log
    COMMANDS=$WORK/commands.tsv
    : >"$RUN_LOG"
    : >"$COMMANDS"
}

build_all() {
    log "building revokd (build/), ocspload (build-bench/), uring_ceiling"
    local blog=$WORK/build.log
    { cmake -S "$ROOT" -B "$ROOT/build" && cmake --build "$ROOT/build" -j"$(nproc)"; } >"$blog" 2>&1 ||
        { tail -n 30 "$blog" >&2; die "revokd build failed"; }
    { cmake -S "$BENCH" -B "$ROOT/build-bench" && cmake --build "$ROOT/build-bench"; } >>"$blog" 2>&1 ||
        { tail -n 30 "$blog" >&2; die "ocspload build failed"; }
    gcc -O2 -D_GNU_SOURCE "$BENCH/uring_ceiling.c" -o "$ROOT/build-bench/uring_ceiling" -luring >>"$blog" 2>&1 ||
        { tail -n 30 "$blog" >&2; die "uring_ceiling build failed"; }
    INDEXER=$ROOT/build/revokd-indexer
    RESPONDER=$ROOT/build/revokd-responder
    OCSPLOAD=$ROOT/build-bench/ocspload
    CEILING=$ROOT/build-bench/uring_ceiling
}

pkg_version() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo "not installed"; }

# Facts about the machine for the report; finished (end load, total time) in finish().
machine_facts() {
    local build_type dirty
    build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$ROOT/build/CMakeCache.txt")
    dirty=
    if git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q .; then
        dirty=", uncommitted changes"
    fi
    M_NPROC=$(nproc)
    M_CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sort | uniq -c | sed 's/^ *//' | paste -sd ';')
    M_KERNEL=$(uname -srm)
    M_OS="Debian $(cat /etc/debian_version 2>/dev/null || echo '?')"
    M_MEM=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    M_PKGS="nginx-light $(pkg_version nginx-light), openssl $(pkg_version openssl), wrk $(pkg_version wrk), gnuplot-nox $(pkg_version gnuplot-nox), liblmdb0 $(pkg_version liblmdb0), libev4 $(pkg_version libev4), liburing2 $(pkg_version liburing2), gcc $(gcc -dumpfullversion)"
    M_REVOKD="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')${dirty}, build type $build_type (build/), ocspload -O2 (build-bench/)"
    M_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
    M_BUSY_START=$(cpu_busy 2)
    M_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
    log "CPU busy over 2 s before the run: $M_BUSY_START; load average $M_LOAD_START"
    if [ "$(cpu_busy_max "$M_BUSY_START")" -gt 10 ]; then
        warn "something else is using the CPUs ($M_BUSY_START busy before the run): numbers will be lower and noisier"
    fi
}

# note_cmd CMD...: records a command for the report's "exact commands" blocks.
note_cmd() { printf '%s\t%s\t%s\n' "$SECTION" "$ROUND" "$*" >>"$COMMANDS"; }
SECTION=setup
ROUND=-

# The side-by-side PKI: mkpki's demo PKI, plus an EC P-256 delegated OCSP signer
# (mkpki's ocsp.pem is RSA 2048; revokd's production default and the brief's
# reference point is P-256), plus synthetic certificates up to SIDE_CERTS.
make_pki() {
    local P=$WORK/pki
    log "making the PKI in $P"
    make_ec_pki "$P" "$P_REVOKD"
    "$BENCH/synth-index.py" --n "$SIDE_CERTS" --out "$P/index.txt" --base "$P/index.base" 2>>"$RUN_LOG"
    write_conf "$P/revokd.conf" store "$P_REVOKD" ocsp-ec
    note_cmd "scripts/mkpki.sh \$WORK/pki --name bench --port $P_REVOKD  # + EC P-256 signer ocsp-ec.pem via its openssl ca"
    note_cmd "bench/synth-index.py --n $SIDE_CERTS --out \$WORK/pki/index.txt --base \$WORK/pki/index.base"
    note_cmd "taskset -c $SERVER_CPU build/revokd-indexer -c \$WORK/pki/revokd.conf --once"
    timeout 600 taskset -c "$SERVER_CPU" "$INDEXER" -c "$P/revokd.conf" --once >>"$RUN_LOG" 2>&1 ||
        die "revokd-indexer failed on the side-by-side PKI"
    # good ~80%, revoked ~10%, unknown ~10% (serials the CA never issued); 20% SHA-256 CertIDs
    note_cmd "build-bench/ocspload gen --issuer ca.pem --index index.txt --out reqs.txt --n $SIDE_REQS --unknown-fraction 0.1 --revoked-fraction 0.1 --sha256-fraction 0.2 --seed 1"
    "$OCSPLOAD" gen --issuer "$P/ca.pem" --index "$P/index.txt" --out "$P/reqs.txt" --n "$SIDE_REQS" \
        --unknown-fraction 0.1 --revoked-fraction 0.1 --sha256-fraction 0.2 --seed 1 2>>"$RUN_LOG"
    SET_MIX=$(sed -n 's/^ocspload gen: wrote [0-9]* requests to [^:]*: \(.*\)$/\1/p' "$RUN_LOG" | tail -n 1)
}

# start_revokd BACKEND PORT CONF LOG: starts revokd-responder on the server CPU and
# returns 0 once it listens (pid in LAST_PID), or 1 with the reason in
# REVOKD_WHY when it exits first (a backend not built in or that cannot run here
# is a start-up error: exit status non-zero, a message about the backend), does
# not listen within 10 s, or says on /metrics (revokd_backend_info, where the
# responder reports it) that another backend runs than the one asked for.
start_revokd() {
    local b=$1 port=$2 conf=$3 logf=$4 pid rc=0 deadline said
    start_bg "$logf" taskset -c "$SERVER_CPU" "$RESPONDER" -c "$conf"
    pid=$LAST_PID
    deadline=$(awk -v a="$EPOCHREALTIME" 'BEGIN { printf "%d", a + 10 }')
    while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null || grep -q '^[0-9]* (.*) Z ' "/proc/$pid/stat" 2>/dev/null; then
            wait "$pid" 2>/dev/null || rc=$?
            REVOKD_WHY="exited with status $rc: $(tail -n 3 "$logf" | tr '\n' ' ')"
            return 1
        fi
        if [ "${EPOCHREALTIME%.*}" -ge "$deadline" ]; then
            stop_pid "$pid"
            REVOKD_WHY="did not listen within 10 s: $(tail -n 3 "$logf" | tr '\n' ' ')"
            return 1
        fi
        sleep 0.05
    done
    said=$(curl -sf --max-time 5 "http://127.0.0.1:$port/metrics" |
        sed -n 's/^revokd_backend_info{backend="\([^"]*\)".*/\1/p' | head -n 1) || true
    if [ -n "$said" ] && [ "$b" != auto ] && [ "$said" != "$b" ]; then
        stop_pid "$pid"
        REVOKD_WHY="asked for backend $b, but /metrics says $said runs"
        return 1
    fi
    REVOKD_SAID=${said:-not reported}
    LAST_PID=$pid
}

# Every backend in BACKENDS as its own revokd-responder (same store, own port,
# workers = 1, pinned to the server CPU; an idle one costs nothing), then the
# peers. R_BACKENDS: the backends that started, in BACKENDS order; R_PORT / R_PID
# by backend; PRIMARY: the last of them (io_uring once it is built in), which the
# open-loop latency and the scale runs use.
start_servers() {
    local P=$WORK/pki b i=0
    SECTION=side
    R_BACKENDS=()
    SKIPPED=()
    declare -gA R_PORT R_PID
    for b in "${BACKENDS[@]}"; do
        write_conf "$P/revokd-$b.conf" store "${P_REVOKD_ALL[i]}" ocsp-ec "$b"
        log "starting revokd-responder (backend $b, 1 worker) :${P_REVOKD_ALL[i]} on CPU $SERVER_CPU"
        if start_revokd "$b" "${P_REVOKD_ALL[i]}" "$P/revokd-$b.conf" "$WORK/responder-$b.log"; then
            note_cmd "taskset -c $SERVER_CPU build/revokd-responder -c \$WORK/pki/revokd-$b.conf  # [responder] backend = $b, workers = 1"
            log "revokd-responder backend $b: pid $LAST_PID (its /metrics names the backend: $REVOKD_SAID)"
            R_BACKENDS+=("$b")
            R_PORT[$b]=${P_REVOKD_ALL[i]}
            R_PID[$b]=$LAST_PID
        else
            warn "revokd-responder with backend = $b: $REVOKD_WHY; skipping that backend"
            REVOKD_WHY=${REVOKD_WHY//$WORK/\$WORK}
            SKIPPED+=("$b: ${REVOKD_WHY% }")
        fi
        i=$((i + 1))
    done
    [ "${#R_BACKENDS[@]}" -gt 0 ] || die "revokd-responder started with none of the backends ${BACKENDS[*]}"
    PRIMARY=${R_BACKENDS[${#R_BACKENDS[@]} - 1]}
    P_REVOKD=${R_PORT[$PRIMARY]}
    log "starting nginx :$P_NGINX, openssl ocsp :$P_OSSL, uring_ceiling :$P_CEIL on CPU $SERVER_CPU"
    # the bytes nginx and the ceiling serve: revokd's own answer for good.pem, verified
    OPENSSL_CONF=/dev/null openssl ocsp -issuer "$P/ca.pem" -cert "$P/good.pem" -no_nonce \
        -url "http://127.0.0.1:$P_REVOKD" -CAfile "$P/chain.pem" -respout "$P/good.der" >>"$RUN_LOG" 2>&1 ||
        die "could not fetch a verified response from revokd"
    RESP_BYTES=$(stat -c %s "$P/good.der")
    note_cmd "bench/nginx-static.sh start \$WORK/nginx $P_NGINX $SERVER_CPU \$WORK/pki/good.der"
    nginx_start "$WORK/nginx" "$P_NGINX" "$SERVER_CPU" "$P/good.der"
    # the master; server_sample adds its worker(s), which do the serving
    PID_NGINX=$(cat "$WORK/nginx/nginx.pid")
    # -ignore_err: keep answering after a client hangs up mid-request; its per-request log goes nowhere
    note_cmd "taskset -c $SERVER_CPU openssl ocsp -index index.txt -CA ca.pem -rsigner ocsp-ec.pem -rkey ocsp-ec.key -port $P_OSSL -nmin 60 -ignore_err"
    start_bg /dev/null env OPENSSL_CONF=/dev/null taskset -c "$SERVER_CPU" openssl ocsp -index "$P/index.txt" \
        -CA "$P/ca.pem" -rsigner "$P/ocsp-ec.pem" -rkey "$P/ocsp-ec.key" -port "$P_OSSL" -nmin 60 -ignore_err
    PID_OSSL=$LAST_PID # env and taskset exec: this is openssl itself
    first_answer "$P_OSSL" "$P/goodreq.der" 30 "$(now)" >/dev/null || die "openssl ocsp did not answer"
    note_cmd "build-bench/uring_ceiling --port $P_CEIL --body \$WORK/pki/good.der --cpu $SERVER_CPU"
    start_bg "$WORK/ceiling.log" "$CEILING" --port "$P_CEIL" --body "$P/good.der" --cpu "$SERVER_CPU"
    PID_CEIL=$LAST_PID
    wait_port "$P_CEIL" 10 || die "uring_ceiling did not listen (see $WORK/ceiling.log)"
    # one fixed RFC 5019 GET of good.pem, for wrk against revokd (wrk sends one URL)
    GOOD_GET=/$(base64 -w0 "$P/goodreq.der" | sed 's,+,%2B,g; s,/,%2F,g; s,=,%3D,g')
    for b in "${R_BACKENDS[@]}"; do
        curl -sf -o /dev/null "http://127.0.0.1:${R_PORT[$b]}$GOOD_GET" || die "revokd ($b) did not answer the GET probe"
    done
}

# ---- 1. side by side -----------------------------------------------------------------------------

tags() { # tags ORDER TARGET METHOD CONNS DEPTH ROUND: the JSON every run is labelled with
    printf '{"order":%d,"target":"%s","method":"%s","conns":%d,"depth":%d,"round":%d}' "$@"
}

side_by_side() {
    local P=$WORK/pki J=$OUT/sidebyside.jsonl r d b k lim=$((DUR + WARM + 120))
    local OCSP=(-r "$P/reqs.txt" --ca "$P/chain.pem" --cpu "$GEN_CPU" -t "$DUR" -w "$WARM")
    local FIXED=(--no-ocsp-check --cpu "$GEN_CPU" -t "$DUR" -w "$WARM")
    SECTION=side
    for r in $(seq "$ROUNDS"); do
        ROUND=$r
        log "side by side: round $r of $ROUNDS"
        for d in "$SIDE_DEPTH" 1; do
            k=0
            for b in "${R_BACKENDS[@]}"; do
                SERVER_PID=${R_PID[$b]}
                ol_run "$J" "$(tags $k "revokd ($b)" POST "$SIDE_CONNS" "$d" "$r")" "$lim" run "${OCSP[@]}" \
                    -c "$SIDE_CONNS" -d "$d" -m post --label "revokd-$b" "127.0.0.1:${R_PORT[$b]}"
                ol_run "$J" "$(tags $k "revokd ($b)" GET "$SIDE_CONNS" "$d" "$r")" "$lim" run "${OCSP[@]}" \
                    -c "$SIDE_CONNS" -d "$d" -m get --label "revokd-$b" "127.0.0.1:${R_PORT[$b]}"
                k=$((k + 1))
            done
            SERVER_PID=$PID_NGINX
            ol_run "$J" "$(tags 10 nginx GET "$SIDE_CONNS" "$d" "$r")" "$lim" run "${FIXED[@]}" \
                -c "$SIDE_CONNS" -d "$d" -m get --label nginx "http://127.0.0.1:$P_NGINX/good.der"
            SERVER_PID=$PID_CEIL
            ol_run "$J" "$(tags 12 ceiling GET "$SIDE_CONNS" "$d" "$r")" "$lim" run "${FIXED[@]}" \
                -c "$SIDE_CONNS" -d "$d" -m get --label ceiling "http://127.0.0.1:$P_CEIL/good.der"
        done
        # openssl ocsp signs live and closes after every answer: fewer connections, shorter
        SERVER_PID=$PID_OSSL
        ol_run "$J" "$(tags 11 'openssl ocsp' POST "$OSSL_CONNS" 1 "$r")" "$lim" run -r "$P/reqs.txt" \
            --ca "$P/chain.pem" --cpu "$GEN_CPU" -t "$OSSL_DUR" -w 0.5 -c "$OSSL_CONNS" -d 1 -m post \
            --unknown-expect unknown --label openssl-ocsp "127.0.0.1:$P_OSSL"
        ol_run "$J" "$(tags 11 'openssl ocsp' GET "$OSSL_CONNS" 1 "$r")" "$lim" run -r "$P/reqs.txt" \
            --ca "$P/chain.pem" --cpu "$GEN_CPU" -t "$OSSL_DUR" -w 0.5 -c "$OSSL_CONNS" -d 1 -m get \
            --unknown-expect unknown --label openssl-ocsp "127.0.0.1:$P_OSSL"
        # a second generator on the same connections: if wrk gets much more from a server
        # than ocspload did, ocspload was the limit there
        SERVER_PID=$PID_NGINX
        wrk_run "$J" "$(tags 13 nginx GET "$SIDE_CONNS" 1 "$r")" "$SIDE_CONNS" "$DUR" "http://127.0.0.1:$P_NGINX/good.der"
        SERVER_PID=$PID_CEIL
        wrk_run "$J" "$(tags 14 ceiling GET "$SIDE_CONNS" 1 "$r")" "$SIDE_CONNS" "$DUR" "http://127.0.0.1:$P_CEIL/good.der"
        k=15
        for b in "${R_BACKENDS[@]}"; do
            SERVER_PID=${R_PID[$b]}
            wrk_run "$J" "$(tags $k "revokd ($b)" GET "$SIDE_CONNS" 1 "$r")" "$SIDE_CONNS" "$DUR" \
                "http://127.0.0.1:${R_PORT[$b]}$GOOD_GET"
            k=$((k + 1))
        done
    done
    SERVER_PID=
}

# ---- 2. throughput vs connections, latency at fractions of the peak ------------------------------

# revokd: POST only, per backend (GET vs POST is in the side-by-side table; this
# keeps the curve's length when a second backend runs)
conns_curve() {
    local P=$WORK/pki J=$OUT/conns.jsonl c b k
    local COMMON=(--cpu "$GEN_CPU" -t "$CURVE_DUR" -w "$CURVE_WARM" -d 1)
    SECTION=conns
    ROUND=1
    log "throughput vs connections: ${CURVE_LEVELS[*]} x depth 1"
    for c in "${CURVE_LEVELS[@]}"; do
        k=0
        for b in "${R_BACKENDS[@]}"; do
            SERVER_PID=${R_PID[$b]}
            ol_run "$J" "$(tags $k "revokd ($b)" POST "$c" 1 1)" 120 run "${COMMON[@]}" -r "$P/reqs.txt" \
                --ca "$P/chain.pem" -c "$c" -m post "127.0.0.1:${R_PORT[$b]}"
            k=$((k + 1))
        done
        SERVER_PID=$PID_NGINX
        ol_run "$J" "$(tags 10 nginx GET "$c" 1 1)" 120 run "${COMMON[@]}" --no-ocsp-check \
            -c "$c" -m get "http://127.0.0.1:$P_NGINX/good.der"
    done
    SERVER_PID=
}

latency_open_loop() {
    local P=$WORK/pki J=$OUT/latency.jsonl peak share rate
    SECTION=latency
    ROUND=1
    peak=$(json_median "$OUT/sidebyside.jsonl" \
        "{\"target\":\"revokd ($PRIMARY)\",\"method\":\"POST\",\"depth\":$SIDE_DEPTH,\"tool\":\"ocspload\"}" rps)
    if [ -z "$peak" ] || [ "$peak" -le 0 ]; then
        warn "no revokd peak measured; skipping the open-loop runs"
        return 0
    fi
    PEAK=$peak
    SERVER_PID=${R_PID[$PRIMARY]}
    for share in 50 90; do
        rate=$((peak * share / 100))
        log "open loop at $share% of the peak ($rate req/s), revokd ($PRIMARY)"
        ol_run "$J" "{\"target\":\"revokd ($PRIMARY)\",\"share\":$share,\"peak\":$peak,\"conns\":$LAT_CONNS}" 120 run -r "$P/reqs.txt" \
            --ca "$P/chain.pem" --cpu "$GEN_CPU" -t "$LAT_DUR" -w 1 -c "$LAT_CONNS" -d "$SIDE_DEPTH" \
            -m post -R "$rate" "127.0.0.1:$P_REVOKD"
    done
    SERVER_PID=
}

stop_servers() {
    lib_cleanup
}

# ---- 3. scale ------------------------------------------------------------------------------------

# openssl speed: single-core sign/s of the two signer key types, pinned like the indexer.
signing_baselines() {
    local J=$OUT/signing.jsonl alg v P=$WORK/pki t0 secs
    SECTION=scale
    ROUND=-
    for alg in ecdsap256 rsa2048; do
        log "openssl speed -seconds $SPEED_S $alg (CPU $SERVER_CPU)"
        note_cmd "taskset -c $SERVER_CPU openssl speed -seconds $SPEED_S $alg"
        v=$(timeout 120 taskset -c "$SERVER_CPU" openssl speed -seconds "$SPEED_S" "$alg" 2>/dev/null |
            tail -n 1 | awk '{ print $(NF - 1) }')
        # shellcheck disable=SC2016 # the backquotes are Markdown
        printf '{"what":"`openssl speed -seconds %s %s`, sign/s, one core","per_s":%s,"note":"raw signature over a digest, no DER or I/O"}\n' \
            "$SPEED_S" "$alg" "${v:-null}" >>"$J"
    done
    # the same indexer with mkpki's RSA 2048 signer, on the side-by-side index
    write_conf "$P/revokd-rsa.conf" store-rsa "$P_REVOKD" ocsp
    note_cmd "taskset -c $SERVER_CPU build/revokd-indexer -c \$WORK/pki/revokd-rsa.conf --once  # signer ocsp.pem (RSA 2048), $SIDE_CERTS certs"
    log "revokd-indexer with the RSA 2048 signer, $SIDE_CERTS certificates"
    t0=$(now)
    timeout 1200 taskset -c "$SERVER_CPU" "$INDEXER" -c "$P/revokd-rsa.conf" --once >>"$RUN_LOG" 2>&1 ||
        die "revokd-indexer failed with the RSA signer"
    secs=$(since "$t0")
    printf '{"what":"revokd-indexer --once, RSA 2048 signer (mkpki default), %s certs","per_s":%s,"note":"responses/s, wall time %s s incl. parse + LMDB"}\n' \
        "$SIDE_CERTS" "$(awk -v n="$SIDE_CERTS" -v s="$secs" 'BEGIN { printf "%.0f", 2 * n / s }')" "$secs" >>"$J"
    rm -rf "$P/store-rsa"
}

# scale_one N: one store of N certificates, measured every way, then deleted.
scale_one() {
    local n=$1
    local d=$WORK/scale-$n P=$WORK/pki t0 idx_s resync_s resp_s ossl_s du pages tree leaf nreq distinct
    SECTION=scale
    ROUND=$n
    mkdir -p "$d"
    cp "$P/ca.pem" "$P/chain.pem" "$P/ocsp-ec.pem" "$P/ocsp-ec.key" "$P/goodreq.der" "$d/"
    log "scale $n: synthesizing index.txt"
    note_cmd "bench/synth-index.py --n $n --out index.txt --base \$WORK/pki/index.base"
    "$BENCH/synth-index.py" --n "$n" --out "$d/index.txt" --base "$P/index.base" 2>>"$RUN_LOG"
    write_conf "$d/revokd.conf" store "$P_SCALE" ocsp-ec "$PRIMARY"

    # (b) import + pre-sign, then the same run again with nothing changed (a restart)
    log "scale $n: revokd-indexer --once"
    note_cmd "taskset -c $SERVER_CPU build/revokd-indexer -c revokd.conf --once   # twice: import, then re-sync unchanged"
    t0=$(now)
    timeout "$INDEXER_LIMIT" taskset -c "$SERVER_CPU" "$INDEXER" -c "$d/revokd.conf" --once >>"$RUN_LOG" 2>&1 ||
        die "revokd-indexer failed or timed out at $n certificates"
    idx_s=$(since "$t0")
    t0=$(now)
    timeout "$INDEXER_LIMIT" taskset -c "$SERVER_CPU" "$INDEXER" -c "$d/revokd.conf" --once >>"$RUN_LOG" 2>&1 ||
        die "revokd-indexer re-sync failed at $n certificates"
    resync_s=$(since "$t0")
    log "scale $n: import $idx_s s, re-sync $resync_s s"

    # (d) store size
    du=$(du -B1 "$d/store/data.mdb" | cut -f1)
    mdb_stat -ef "$d/store" >"$OUT/mdb_stat-$n.txt"
    mdb_stat -a "$d/store" >"$WORK/mdb_stat-a"
    cat "$WORK/mdb_stat-a" >>"$OUT/mdb_stat-$n.txt"
    # the file's high-water mark includes pages that copy-on-write commits freed
    # (LMDB reuses them later); the B-trees themselves are what the data needs
    pages=$(sed -n 's/^ *Number of pages used: //p' "$OUT/mdb_stat-$n.txt" | head -n 1)
    tree=$(awk '/(Branch|Leaf|Overflow) pages:/ { s += $3 } END { print s + 0 }' "$WORK/mdb_stat-a")
    leaf=$(awk '/^Status of responses/ { f = 1 } f && /Leaf pages:/ { print $3; exit }' "$WORK/mdb_stat-a")

    # (a) requests drawn uniformly across the whole set: 2 per certificate, at most 200k
    nreq=$((2 * n < 200000 ? 2 * n : 200000))
    note_cmd "build-bench/ocspload gen --issuer ca.pem --index index.txt --out reqs.txt --n $nreq --unknown-fraction 0.1 --sha256-fraction 0.2 --seed 2"
    "$OCSPLOAD" gen --issuer "$d/ca.pem" --index "$d/index.txt" --out "$d/reqs.txt" --n "$nreq" \
        --unknown-fraction 0.1 --sha256-fraction 0.2 --seed 2 2>>"$RUN_LOG"
    note_cmd "taskset -c $SERVER_CPU build/revokd-responder -c revokd.conf  # [responder] backend = $PRIMARY, workers = 1"
    t0=$(now)
    start_bg "$d/responder.log" taskset -c "$SERVER_CPU" "$RESPONDER" -c "$d/revokd.conf"
    local rpid=$LAST_PID
    SERVER_PID=$rpid
    resp_s=$(first_answer "$P_SCALE" "$d/goodreq.der" 60 "$t0") || die "revokd-responder did not answer at $n"
    # signatures are checked by the side-by-side runs; here 180k distinct answers
    # would make ocspload verify (and stall) instead of load: status checks only
    local RUNARGS=(run -r "$d/reqs.txt" --no-verify --cpu "$GEN_CPU" -c "$SIDE_CONNS" -d "$SIDE_DEPTH" -m post)
    ol_run "$OUT/scale-runs.jsonl" "{\"n\":$n,\"phase\":\"cold\"}" 120 "${RUNARGS[@]}" -t "$SCALE_DUR" -w 0 "127.0.0.1:$P_SCALE"
    ol_run "$OUT/scale-runs.jsonl" "{\"n\":$n,\"phase\":\"warm\"}" 120 "${RUNARGS[@]}" -t "$SCALE_DUR" -w 1 "127.0.0.1:$P_SCALE"
    stop_pid "$rpid"
    SERVER_PID=

    # (b) openssl ocsp: from start to its first answer, with the same index.txt
    log "scale $n: openssl ocsp -index, time to first answer"
    note_cmd "taskset -c $SERVER_CPU openssl ocsp -index index.txt -CA ca.pem -rsigner ocsp-ec.pem -rkey ocsp-ec.key -port $P_SCALE -nmin 60  # + curl POST until it answers"
    t0=$(now)
    start_bg /dev/null env OPENSSL_CONF=/dev/null taskset -c "$SERVER_CPU" openssl ocsp -index "$d/index.txt" \
        -CA "$d/ca.pem" -rsigner "$d/ocsp-ec.pem" -rkey "$d/ocsp-ec.key" -port "$P_SCALE" -nmin 60 -ignore_err
    local opid=$LAST_PID
    ossl_s=$(first_answer "$P_SCALE" "$d/goodreq.der" "$INDEXER_LIMIT" "$t0") || { warn "openssl ocsp never answered at $n"; ossl_s=null; }
    stop_pid "$opid"

    distinct=$(grep -v '^#' "$d/reqs.txt" | cut -d' ' -f4 | sort -u | wc -l)
    printf '{"n":%d,"indexer_s":%s,"resync_s":%s,"responder_first_s":%s,"openssl_first_s":%s,"du_bytes":%d,"pages_used":%d,"tree_pages":%d,"resp_leaf_pages":%d,"set_n":%d,"set_distinct":%d}\n' \
        "$n" "$idx_s" "$resync_s" "$resp_s" "$ossl_s" "$du" "$pages" "$tree" "$leaf" "$nreq" "$distinct" >>"$OUT/scale.jsonl"
    [ "$KEEP" -eq 1 ] || rm -rf "$d"
}

# ---- report --------------------------------------------------------------------------------------

finish() {
    local total
    total=$(since "$START")
    # The facts and parameters the report needs, in one file. Values go through the
    # environment so no quoting in them can break the Python.
    M_TOTAL=$total M_LOAD="$M_LOAD_START / $(cut -d' ' -f1-3 /proc/loadavg)" M_MODE=$MODE \
        M_BUSY="$M_BUSY_START / $(cpu_busy 2)" \
        M_COMMAND="bench/run.sh ${ARGS[*]}" M_SET_MIX=${SET_MIX:-?} M_CPU=$M_CPU M_PKGS=$M_PKGS \
        M_REVOKD=$M_REVOKD M_DATE=$M_DATE M_KERNEL=$M_KERNEL M_OS=$M_OS M_MEM=$M_MEM M_NPROC=$M_NPROC \
        M_PINNING="server on CPU $SERVER_CPU (taskset; nginx: worker_cpu_affinity), generator on CPU $GEN_CPU" \
        M_BACKENDS="${BACKENDS[*]}" M_RAN="${R_BACKENDS[*]}" M_PRIMARY=${PRIMARY:-} \
        M_SKIPPED="$(printf '%s\n' "${SKIPPED[@]}")" M_CLK_TCK=$CLK_TCK \
        M_NUM="rounds=$ROUNDS dur=$DUR warm=$WARM ossl_dur=$OSSL_DUR ossl_conns=$OSSL_CONNS side_conns=$SIDE_CONNS side_depth=$SIDE_DEPTH side_certs=$SIDE_CERTS side_reqs=$SIDE_REQS resp_bytes=${RESP_BYTES:-0} curve_dur=$CURVE_DUR lat_dur=$LAT_DUR peak=${PEAK:-0} scale_dur=$SCALE_DUR full=$FULL" \
        python3 - "$OUT/machine.json" "$COMMANDS" "$WORK" "$ROOT" <<'PY'
import json, os, sys
out, cmds, work, root = sys.argv[1:5]
e = os.environ
m = {k: e["M_" + k.upper()] for k in ("date", "mode", "command", "cpu", "kernel", "os", "mem", "pkgs",
                                      "revokd", "load", "busy", "pinning", "set_mix", "nproc")}
m["command"] = m["command"].strip()
m["backends"], m["ran"], m["primary"] = e["M_BACKENDS"].split(), e["M_RAN"].split(), e["M_PRIMARY"]
m["skipped"] = [l for l in e["M_SKIPPED"].split("\n") if l.strip()]
m["clk_tck"] = int(e["M_CLK_TCK"])
m["total_s"] = float(e["M_TOTAL"])
for kv in e["M_NUM"].split():
    k, v = kv.split("=")
    m[k] = float(v) if "." in v else int(v)
m["commands"] = []
for line in open(cmds):
    sec, rnd, cmd = line.rstrip("\n").split("\t", 2)
    m["commands"].append([sec, rnd, cmd.replace(work, "$WORK").replace(root + "/", "")])
json.dump(m, open(out, "w"), indent=1)
PY
    report "$OUT" "$DOC" >>"$RUN_LOG"
    gnuplot -e "dir='$OUT'" "$BENCH/plot.gp" >>"$RUN_LOG" 2>&1 || warn "gnuplot failed (see $RUN_LOG)"
    sed -e "s|$WORK|\$WORK|g" -e "s|$ROOT/||g" "$COMMANDS" >"$OUT/commands.txt"
    log "results in $OUT; $DOC regenerated"
    cat "$OUT/sidebyside.md" >&2
    log "total time: $(awk -v t="$total" 'BEGIN { printf "%d min %02d s", t / 60, t % 60 }') ($MODE mode)"
    sed -i -e "s|$WORK|\$WORK|g" -e "s|$ROOT/||g" "$RUN_LOG"
    [ "$FAILED_RUNS" -eq 0 ] || warn "$FAILED_RUNS load runs exited non-zero; see the errors columns and $RUN_LOG"
}

main() {
    check_machine
    prepare_dirs
    scratch_traps
    log "bench/run.sh ${ARGS[*]} ($MODE mode), scratch $WORK, results $OUT"
    build_all
    machine_facts
    local ports nb=${#BACKENDS[@]}
    read -r -a ports <<<"$(pick_ports $((4 + nb)))"
    [ "${#ports[@]}" -eq $((4 + nb)) ] || die "could not find $((4 + nb)) free ports"
    P_NGINX=${ports[0]} P_OSSL=${ports[1]} P_CEIL=${ports[2]} P_SCALE=${ports[3]}
    P_REVOKD_ALL=("${ports[@]:4}")
    P_REVOKD=${P_REVOKD_ALL[0]} # the PKI's AIA URL; each backend's own port once started
    INDEXER_LIMIT=$([ "$FULL" -eq 1 ] && echo 21600 || echo 1800)
    make_pki
    start_servers
    side_by_side
    conns_curve
    latency_open_loop
    stop_servers
    signing_baselines
    local n
    for n in "${SIZES[@]}"; do scale_one "$n"; done
    finish
}

main
