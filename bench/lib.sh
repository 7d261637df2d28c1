# shellcheck shell=bash
# lib.sh — helpers for bench/run.sh and the scripts that share its setup (ab.sh,
# steady.sh, scale10m.sh): logging, process tracking and cleanup, the scratch
# directory, the build, the side-by-side PKI and its revokd config, free ports,
# bounded runs of ocspload and wrk that append one JSON object per run to a JSONL
# file, and the Python that turns those files into CSVs, tables and
# docs/benchmarks.md. Sourced, never run; expects `set -euo pipefail` from the caller.

# ---- logging and time ----------------------------------------------------------------------

# RUN_LOG: file that keeps a copy of every log line (set by run.sh once OUT exists).
RUN_LOG=${RUN_LOG:-/dev/null}

log() { # log MSG...: timestamped progress on stderr and in RUN_LOG
    local line
    line="[$(date +%H:%M:%S)] $*"
    printf '%s\n' "$line" >&2
    printf '%s\n' "$line" >>"$RUN_LOG"
}

warn() { log "WARNING: $*"; }

die() {
    log "ERROR: $*"
    exit 1
}

# Seconds since the epoch with microseconds, from bash itself (no fork per sample).
now() { printf '%s' "$EPOCHREALTIME"; }

# since START: seconds elapsed since START (from now), 3 decimals.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }

need_cmd() { # need_cmd CMD...: stop early, naming the package script, if a tool is missing
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 ||
            die "$c not found; install the benchmark dependencies with docker/install-deps.sh (as root)"
    done
}

# cpu_busy SECONDS: how busy each CPU was over SECONDS, from /proc/stat, as
# "cpu0 3%, cpu1 1%". Taken before and after the run: another benchmark on a
# 2-core machine would skew every number, and this makes it visible.
cpu_busy() {
    local a b
    a=$(grep '^cpu[0-9]' /proc/stat)
    sleep "$1"
    b=$(grep '^cpu[0-9]' /proc/stat)
    paste <(printf '%s\n' "$a") <(printf '%s\n' "$b") | awk '{
        n = (NF - 2) / 2; t0 = t1 = 0
        for (i = 2; i <= n + 1; i++) t0 += $i
        for (i = n + 3; i <= NF; i++) t1 += $i
        idle0 = $5 + $6; idle1 = $(n + 6) + $(n + 7)
        dt = t1 - t0; busy = dt > 0 ? 100 * (dt - (idle1 - idle0)) / dt : 0
        printf "%s%s %.0f%%", (NR > 1 ? ", " : ""), $1, busy
    }'
}

cpu_busy_max() { # cpu_busy_max "cpu0 3%, cpu1 1%": the largest percentage, as an integer
    printf '%s\n' "$1" | grep -o '[0-9]*%' | tr -d % | sort -n | tail -n 1
}

# ---- processes -------------------------------------------------------------------------------
# Every server the run starts is recorded here and stopped by lib_cleanup (run.sh
# traps EXIT), by its own pid: other people's servers on this machine stay up.

BG_PIDS=()
NGINX_DIRS=()
LAST_PID=

start_bg() { # start_bg LOGFILE CMD...: start CMD in the background, record its pid in LAST_PID
    local logf=$1
    shift
    "$@" >"$logf" 2>&1 &
    LAST_PID=$!
    BG_PIDS+=("$LAST_PID")
}

stop_pid() { # stop_pid PID: TERM, then KILL after 3 s; reaps it
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

nginx_start() { # nginx_start DIR PORT CPU FILE: the static baseline, stopped on exit
    NGINX_DIRS+=("$1")
    "$BENCH/nginx-static.sh" start "$1" "$2" "$3" "$4" >>"$RUN_LOG" 2>&1 ||
        die "nginx did not start (see $1/error.log)"
}

lib_cleanup() { # stops everything started through start_bg / nginx_start
    local pid d
    for pid in "${BG_PIDS[@]}"; do stop_pid "$pid"; done
    BG_PIDS=()
    for d in "${NGINX_DIRS[@]}"; do "$BENCH/nginx-static.sh" stop "$d" >/dev/null 2>&1 || true; done
    NGINX_DIRS=()
}

# ---- scratch directory, build, PKI ------------------------------------------------------------

# scratch_traps: on exit, stop everything lib_cleanup knows and remove the scratch
# directory WORK, unless KEEP is 1 or the script failed (then say where it is, for
# a look at the logs in it); INT and TERM exit 130 / 143 through the same path.
scratch_traps() {
    trap scratch_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# shellcheck disable=SC2317 # run by the EXIT trap
scratch_exit() {
    local rc=$?
    trap - EXIT INT TERM
    lib_cleanup
    if [ "$KEEP" -eq 1 ] || [ "$rc" -ne 0 ]; then
        [ -z "${WORK:-}" ] || log "scratch kept: $WORK"
    else
        [ -z "${WORK:-}" ] || rm -rf "$WORK"
    fi
    exit "$rc"
}

# build_servers: revokd-indexer and revokd-responder (build/, RelWithDebInfo) and
# ocspload (build-bench/), output in WORK/build.log (its tail on failure); sets
# INDEXER, RESPONDER and OCSPLOAD.
# shellcheck disable=SC2034 # the variables are for the caller
build_servers() {
    { cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build "$ROOT/build" -j"$(nproc)" \
        --target revokd-indexer revokd-responder && cmake -S "$BENCH" -B "$ROOT/build-bench" &&
        cmake --build "$ROOT/build-bench" --target ocspload; } >"$WORK/build.log" 2>&1 ||
        { tail -n 20 "$WORK/build.log" >&2; die "build failed"; }
    INDEXER=$ROOT/build/revokd-indexer
    RESPONDER=$ROOT/build/revokd-responder
    OCSPLOAD=$ROOT/build-bench/ocspload
}

# make_ec_pki DIR [PORT]: the side-by-side PKI in DIR: mkpki's demo PKI (name
# "bench"; its AIA and CRL URLs on PORT, mkpki's default without), plus an EC
# P-256 delegated OCSP signer ocsp-ec.pem / ocsp-ec.key (mkpki's ocsp.pem is RSA
# 2048; revokd's production default and the brief's reference point is P-256),
# goodreq.der (an OCSP request for good.pem: the probe for "is it answering yet")
# and index.base (mkpki's index.txt, for synth-index.py --base).
make_ec_pki() {
    "$ROOT/scripts/mkpki.sh" "$1" --name bench ${2:+--port "$2"} >/dev/null
    OPENSSL_CONF=/dev/null ec_signer "$1" || die "could not add the EC OCSP signer to the PKI"
}

# ec_signer DIR: make_ec_pki's additions to mkpki's PKI in DIR. Chained with &&:
# errexit does not apply inside a function called before `||`.
ec_signer() (
    cd "$1" &&
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ocsp-ec.key 2>/dev/null &&
        openssl req -new -config openssl.cnf -key ocsp-ec.key \
            -subj "/O=revokd demo/CN=ocsp-ec.bench.revokd.test" -out ocsp-ec.csr &&
        openssl ca -config openssl.cnf -batch -notext -extensions ocsp_ext -in ocsp-ec.csr \
            -out ocsp-ec.pem >/dev/null 2>&1 &&
        openssl verify -CAfile chain.pem -purpose ocsphelper ocsp-ec.pem >/dev/null &&
        openssl ocsp -issuer ca.pem -cert good.pem -no_nonce -reqout goodreq.der >/dev/null &&
        cp index.txt index.base
)

# write_conf FILE STORE PORT SIGNER [BACKEND [WORKERS]]: a revokd config for the
# PKI files next to FILE; with BACKEND, the responder runs that backend with
# WORKERS workers (default 1).
write_conf() {
    cat >"$1" <<EOF
# written by bench/${0##*/}
[store]
path = $2
[log]
level = warn
[responder]
listen = 127.0.0.1:$3
${5:+backend = $5
workers = ${6:-1}}
[issuer bench]
ca_cert     = ca.pem
index       = index.txt
signer_cert = $4.pem
signer_key  = $4.key
digest      = sha256
EOF
}

# ---- ports ------------------------------------------------------------------------------------

# pick_ports N: prints N TCP ports on 127.0.0.1 that nothing listens on, from a
# range below the kernel's ephemeral ports so the generator's own client ports
# never collide with them. Another benchmark may run on this machine: don't guess.
pick_ports() {
    python3 - "$1" <<'PY'
import random, socket, sys
n, got = int(sys.argv[1]), []
cands = list(range(21000, 32000))
random.shuffle(cands)
for p in cands:
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", p))
        got.append(p)
    except OSError:
        pass
    finally:
        s.close()
    if len(got) == n:
        break
print(" ".join(map(str, got)))
PY
}

wait_port() { # wait_port PORT SECONDS: until something accepts on 127.0.0.1:PORT
    local deadline
    deadline=$(awk -v a="$EPOCHREALTIME" -v s="$2" 'BEGIN { printf "%d", a + s }')
    while ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        [ "${EPOCHREALTIME%.*}" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# first_answer PORT REQ.DER SECONDS START: polls with an OCSP POST of REQ.DER until
# a 200 comes back, then prints the seconds from START (a `now` taken just before
# the server was started). A connect that succeeds before the server is ready
# simply waits (openssl ocsp binds first and loads its index after), so this is
# the time a client waits for its first answer. Fails after SECONDS.
first_answer() {
    local port=$1 req=$2 limit=$3 start=$4 left
    while :; do
        left=$(awk -v a="$start" -v b="$EPOCHREALTIME" -v l="$limit" 'BEGIN { printf "%d", l - (b - a) }')
        [ "$left" -gt 0 ] || return 1
        if curl -sf --max-time "$left" -o /dev/null -H 'Content-Type: application/ocsp-request' \
            --data-binary "@$req" "http://127.0.0.1:$port/"; then
            since "$start"
            return 0
        fi
        sleep 0.02
    done
}

# ---- server CPU -------------------------------------------------------------------------------
# SERVER_PID: the server under load (run.sh sets it before each target's runs).
# Before and after every measured run, server_sample reads the CPU time of that
# process and of every process below it (nginx: master + workers; a forking
# server's children) from /proc/PID/stat (utime + stime, fields 14-15: the
# process's total over all its threads, in clock ticks), and the run-queue wait
# of each of their threads (/proc/PID/task/TID/schedstat, 2nd field: ns spent
# runnable but not running). Checked by hand when this was written: a lone
# revokd-responder under full load waited 1-5% of the time (kernel threads), and
# ~50% with one busy loop pinned to the same CPU.
SERVER_PID=
CLK_TCK=$(getconf CLK_TCK)

proc_tree() { # proc_tree PID: PID and its descendants, one per line
    local c t kids
    [ -d "/proc/$1" ] || return 0
    printf '%s\n' "$1"
    for t in /proc/"$1"/task/*/children; do
        read -r -a kids 2>/dev/null <"$t" || true # one line of space-separated pids
        for c in "${kids[@]}"; do proc_tree "$c"; done
    done
}

# server_sample: prints "WALL TICKS RUNQ_NS PIDS" (PIDS comma-separated) for
# SERVER_PID's process tree, or nothing when no server is set or it is gone.
server_sample() {
    [ -n "$SERVER_PID" ] && [ -d "/proc/$SERVER_PID" ] || return 0
    local p t line w ticks=0 wait=0 pids=() f
    for p in $(proc_tree "$SERVER_PID"); do
        read -r line 2>/dev/null <"/proc/$p/stat" || continue
        # comm (field 2) may hold spaces: fields counted after its closing paren
        read -r -a f <<<"${line##*) }"
        ticks=$((ticks + f[11] + f[12]))
        pids+=("$p")
        for t in /proc/"$p"/task/*/schedstat; do
            read -r _ w _ 2>/dev/null <"$t" && wait=$((wait + w))
        done
    done
    [ "${#pids[@]}" -gt 0 ] || return 0
    local IFS=,
    printf '%s %s %s %s' "$EPOCHREALTIME" "$ticks" "$wait" "${pids[*]}"
}

# SERVER_CPU_PY: Python that adds the server_* fields to a run's JSON object d,
# given the samples before (s0) and after (s1) the run, the number of answers
# the server gave in between and the wall time the load ran. Fields (absent when
# no server was sampled): server_cpu_s, server_cpu_us_per_req (CPU µs / answers),
# server_cpu_util (CPU s / wall s: 1.0 = one core busy), server_runq_wait_fraction
# (run-queue wait of all its threads / wall s), server_procs, and
# server_cpu_valid = false when a process of the tree came or went meanwhile
# (its CPU time would be missing from one of the two samples).
SERVER_CPU_PY='
def server_cpu(d, s0, s1, answered, wall, clk_tck):
    if not s0 or not s1:
        return
    t0, ticks0, w0, p0 = s0.split()
    t1, ticks1, w1, p1 = s1.split()
    cpu = (int(ticks1) - int(ticks0)) / clk_tck
    d["server_cpu_s"] = round(cpu, 3)
    d["server_answered"] = answered
    d["server_wall_s"] = round(wall, 4) if wall else None
    d["server_cpu_us_per_req"] = round(cpu * 1e6 / answered, 3) if answered else None
    d["server_cpu_util"] = round(cpu / wall, 4) if wall else None
    d["server_runq_wait_fraction"] = round(max(0, int(w1) - int(w0)) / 1e9 / wall, 4) if wall else None
    d["server_procs"] = len(p1.split(","))
    d["server_cpu_valid"] = p0 == p1
'

# ---- load runs ----------------------------------------------------------------------------------

# COMMANDS: every command as run, one per line: SECTION TAB ROUND TAB command
# (set by run.sh, which also sets SECTION and ROUND as it goes).
COMMANDS=${COMMANDS:-/dev/null}
SECTION=${SECTION:--}
ROUND=${ROUND:--}
FAILED_RUNS=0

# ol_run JSONL TAGS LIMIT ARGS...: runs `ocspload ARGS --json` (bounded by LIMIT
# seconds), tags the JSON with TAGS (a JSON object: target, method, round ...) and
# appends it to JSONL. A run that produced no JSON is appended as {"failed": true}
# so tables show it instead of silently dropping it; rc 1 (wrong answers) and 3
# (errors) still have JSON and keep their error counts.
#
# The warm-up (`-w W` in ARGS, W > 0) runs as its own ocspload invocation first
# (`-t W -w 0 --no-verify`, output to the run log), then the measured one with
# `-w 0`: the server's CPU is sampled right before and after the measured
# invocation, which then counts every answer it received (`responses`), so CPU
# and answers cover the same stretch. ocspload's window (`window_s`, `rps`)
# starts when it opens its connections; the CPU stretch adds only their accept
# and the drain of the <= conns x depth requests in flight at the end.
# server_cpu_util divides by ocspload's `generator.wall_s` (connect to end of
# drain), not by the process's lifetime, which also holds its off-the-clock
# verification while the server idles.
ol_run() {
    local jsonl=$1 tags=$2 limit=$3 out err rc=0 warm=0 i s0 s1
    shift 3
    local args=("$@") wargs=()
    for ((i = 0; i + 1 < ${#args[@]}; i++)); do
        if [ "${args[i]}" = -w ]; then
            warm=${args[i + 1]}
            args[i + 1]=0
        fi
    done
    out=$(mktemp "$WORK/ol.XXXXXX")
    err=$out.err
    if awk -v w="$warm" 'BEGIN { exit !(w > 0) }'; then
        wargs=("${args[@]}")
        for ((i = 0; i + 1 < ${#wargs[@]}; i++)); do
            [ "${wargs[i]}" != -t ] || wargs[i + 1]=$warm
        done
        # the measured run verifies; the warm-up only loads
        printf '%s' " ${wargs[*]} " | grep -q -- ' --no-ocsp-check ' || wargs+=(--no-verify)
        printf '%s\t%s\tbuild-bench/ocspload %s  # warm-up\n' "$SECTION" "$ROUND" "${wargs[*]}" >>"$COMMANDS"
        timeout -k 5 "$limit" "$OCSPLOAD" "${wargs[@]}" >/dev/null 2>>"$RUN_LOG" ||
            warn "ocspload warm-up exited $?: ${wargs[*]}"
    fi
    printf '%s\t%s\tbuild-bench/ocspload %s --json\n' "$SECTION" "$ROUND" "${args[*]}" >>"$COMMANDS"
    s0=$(server_sample)
    timeout -k 5 "$limit" "$OCSPLOAD" "${args[@]}" --json >"$out" 2>"$err" || rc=$?
    s1=$(server_sample)
    cat "$err" >>"$RUN_LOG"
    if [ "$rc" -ne 0 ]; then
        warn "ocspload exited $rc: ${args[*]} (summary in the run log)"
        FAILED_RUNS=$((FAILED_RUNS + 1))
    fi
    SERVER_CPU_PY=$SERVER_CPU_PY python3 - "$out" "$tags" "$rc" "$warm" "$s0" "$s1" "$CLK_TCK" >>"$jsonl" <<'PY'
import json, os, sys
exec(os.environ["SERVER_CPU_PY"])
path, tags, rc = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
try:
    with open(path) as f:
        d = json.loads(f.read())
except (OSError, ValueError):
    d = {"failed": True}
d.update(tags)
d["rc"] = rc
d["tool"] = "ocspload"
d["warmup_separate_s"] = float(sys.argv[4])
if not d.get("failed"):
    server_cpu(d, sys.argv[5], sys.argv[6], d.get("responses"), (d.get("generator") or {}).get("wall_s"),
               int(sys.argv[7]))
print(json.dumps(d, separators=(",", ":")))
PY
    rm -f "$out" "$err"
}

# wrk_run JSONL TAGS CONNS SECONDS URL: one wrk thread pinned to the generator's
# CPU, keep-alive, depth 1 (wrk cannot pipeline without a script). Its text report
# is parsed into the same JSON shape as ocspload's (rps, latency_ns p50/p90/p99,
# errors) and appended to JSONL; the raw text goes to OUT/wrk-raw.txt.
wrk_run() {
    local jsonl=$1 tags=$2 conns=$3 secs=$4 url=$5 out rc=0
    out=$(mktemp "$WORK/wrk.XXXXXX")
    printf '%s\t%s\ttaskset -c %s wrk -t1 -c%s -d%ss --latency %s\n' "$SECTION" "$ROUND" "$GEN_CPU" "$conns" "$secs" "$url" >>"$COMMANDS"
    local s0 s1
    s0=$(server_sample)
    timeout -k 5 $((secs + 30)) taskset -c "$GEN_CPU" wrk -t1 -c"$conns" -d"${secs}s" --latency "$url" \
        >"$out" 2>&1 || rc=$?
    s1=$(server_sample)
    { printf '### %s\n' "$tags"; cat "$out"; } >>"$OUT/wrk-raw.txt"
    if [ "$rc" -ne 0 ]; then
        warn "wrk exited $rc against $url"
        FAILED_RUNS=$((FAILED_RUNS + 1))
    fi
    SERVER_CPU_PY=$SERVER_CPU_PY python3 - "$out" "$tags" "$rc" "$conns" "$s0" "$s1" "$CLK_TCK" >>"$jsonl" <<'PY'
import json, os, re, sys
exec(os.environ["SERVER_CPU_PY"])
path, tags, rc, conns = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
text = open(path).read()
unit = {"us": 1e3, "ms": 1e6, "s": 1e9}
def lat(pct):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % pct, text, re.M)
    return int(float(m.group(1)) * unit[m.group(2)]) if m else None
d = {"tool": "wrk", "connections": conns, "depth": 1, "rc": rc}
m = re.search(r"Requests/sec:\s+([\d.]+)", text)
if m:
    d["rps"] = float(m.group(1))
    d["latency_ns"] = {"p50": lat(50), "p90": lat(90), "p99": lat(99), "p999": None}
    errs = 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errs += int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errs += sum(map(int, m.groups())) if m else 0
    d["errors"] = {"total": errs}
    # "N requests in 4.00s": what wrk counted and over how long, for the server's CPU per answer
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", text)
    if m:
        wall = float(m.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[m.group(3)]
        server_cpu(d, sys.argv[5], sys.argv[6], int(m.group(1)), wall, int(sys.argv[7]))
else:
    d["failed"] = True
d.update(tags)
print(json.dumps(d, separators=(",", ":")))
PY
    rm -f "$out"
}

# json_get FILE.jsonl FILTER_JSON FIELD: the median of FIELD (dotted path) over the
# lines matching every key of FILTER_JSON, or nothing. Used to size open-loop rates.
json_median() {
    python3 - "$@" <<'PY'
import json, statistics, sys
path, flt, field = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
vals = []
for line in open(path):
    d = json.loads(line)
    if d.get("failed") or any(d.get(k) != v for k, v in flt.items()):
        continue
    for part in field.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    if isinstance(d, (int, float)):
        vals.append(d)
if vals:
    print(round(statistics.median(vals)))
PY
}

# ---- report: CSVs, tables, docs/benchmarks.md ----------------------------------------------------

# report OUT DOC: reads OUT/*.jsonl and OUT/machine.json (facts and parameters of
# the run); writes OUT/*.csv (what plot.gp reads), OUT/*.md (the tables) and DOC:
# the hand-written intro above its marker line is kept, the rest is regenerated,
# including the "reading" paragraphs, which are computed from the numbers so they
# cannot drift from them.
report() {
    python3 - "$@" <<'PY'
import csv, json, os, statistics, sys

out, doc = sys.argv[1], sys.argv[2]
MARK = "<!-- generated by bench/run.sh: everything below this line is replaced on each run -->"
DEFAULT_INTRO = """# Benchmarks

Every speed claim about revokd comes from this page, and every number on this page
comes from one command, `bench/run.sh`, which runs revokd beside its peers on the
same machine in the same run and regenerates everything below the marker line
(tables, plots, the machine description and the reading of the numbers). Edit
only this introduction by hand. `bench/README.md` explains the tools and options.
"""
m = json.load(open(os.path.join(out, "machine.json")))
docdir = os.path.dirname(os.path.abspath(doc))

def load(name):
    p = os.path.join(out, name)
    return [json.loads(l) for l in open(p) if l.strip()] if os.path.exists(p) else []

def lat_us(d, key):
    v = (d.get("latency_ns") or {}).get(key)
    return v / 1e3 if isinstance(v, (int, float)) else None

def med(vals):
    vals = [v for v in vals if isinstance(v, (int, float))]
    return statistics.median(vals) if vals else None

def fnum(v, nd=0):
    return "-" if v is None else f"{v:,.{nd}f}"

def fus(v):
    if v is None:
        return "-"
    return f"{v / 1e3:.2f} ms" if v >= 1000 else f"{v:.0f} µs"

def fcpu(v):
    return "-" if v is None else f"{v:.2f} µs" if v < 10 else f"{v:.1f} µs"

def futil(v):
    return "-" if v is None else f"{v:.2f}"

def srv(d, key):
    """A server_* field of one run, or None when its CPU samples are not trustworthy."""
    return d.get(key) if d.get("server_cpu_valid", True) else None

WAIT_BAD = 0.15  # run-queue wait share that means another process shared the server's CPU (clean: <= 0.05)

def fs(v):
    return "-" if v is None else (f"{v:.3f} s" if v < 1 else f"{v:.1f} s" if v < 100 else f"{v:.0f} s")

def rel(p):
    return os.path.relpath(os.path.join(out, p), docdir)

def write_csv(name, header, rows):
    with open(os.path.join(out, name), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([["" if v is None else v for v in r] for r in rows])

def cmds(section, rnd=None):
    seen, lines = set(), []
    for sec, r, c in m.get("commands", []):
        if sec == section and (rnd is None or r in (rnd, "-")) and c not in seen:
            seen.add(c)
            lines.append(c)
    return lines

def block(section, rnd=None, what="first round"):
    c = cmds(section, rnd)
    if not c:
        return []
    return ["", f"Exact commands ({what}; `$WORK` is the run's scratch directory, paths relative to the repository):",
            "", "```sh", *c, "```"]

# --- side by side -----------------------------------------------------------------------------
side = load("sidebyside.jsonl")
groups = {}
for d in side:
    groups.setdefault((d["order"], d["depth"] * -1, d["target"], d["tool"], d["method"], d["conns"], d["depth"]), []).append(d)
rows = []
for key in sorted(groups, key=lambda k: (k[3] == "wrk", -k[6], k[0], k[4] != "POST")):
    _, _, target, tool, method, conns, depth = key
    runs = groups[key]
    ok = [r for r in runs if not r.get("failed")]
    lim = [r for r in ok if (r.get("generator") or {}).get("limited")]
    rows.append({
        "target": target, "tool": tool, "method": method, "conns": conns, "depth": depth,
        "rounds": len(runs), "failed": len(runs) - len(ok),
        "rps": med([r.get("rps") for r in ok]),
        "rps_min": min((r.get("rps", 0) for r in ok), default=None),
        "rps_max": max((r.get("rps", 0) for r in ok), default=None),
        "p50": med([lat_us(r, "p50") for r in ok]), "p99": med([lat_us(r, "p99") for r in ok]),
        "p999": med([lat_us(r, "p999") for r in ok]),
        "errors": sum((r.get("errors") or {}).get("total", 0) for r in ok),
        "n_lim": len(lim), "n_ok": len(ok),
        "gen_cpu": med([(r.get("generator") or {}).get("cpu_fraction") for r in ok]),
        "cpu": med([srv(r, "server_cpu_us_per_req") for r in ok]),
        "util": med([srv(r, "server_cpu_util") for r in ok]),
        "srv_wait": med([r.get("server_runq_wait_fraction") for r in ok]),
    })
write_csv("sidebyside.csv",
          ["target", "generator", "method", "conns", "depth", "rounds", "failed_runs", "rps_median", "rps_min",
           "rps_max", "p50_us", "p99_us", "p999_us", "errors", "generator_limited_rounds", "generator_cpu_fraction",
           "server_cpu_us_per_req", "server_cpu_util", "server_runq_wait_fraction"],
          [[r["target"], r["tool"], r["method"], r["conns"], r["depth"], r["rounds"], r["failed"], r["rps"],
            r["rps_min"], r["rps_max"], r["p50"], r["p99"], r["p999"], r["errors"],
            "" if r["tool"] == "wrk" else r["n_lim"], r["gen_cpu"], r["cpu"], r["util"], r["srv_wait"]]
           for r in rows])
# revokd's rows, one target per backend ("revokd (libev)", ...; "revokd" in results from before backends)
RT = []
for r in rows:
    if r["target"].startswith("revokd") and r["target"] not in RT:
        RT.append(r["target"])

def find(target, method, conns, depth, tool="ocspload"):
    for r in rows:
        if (r["target"], r["method"], r["conns"], r["depth"], r["tool"]) == (target, method, conns, depth, tool) and r["rps"]:
            return r
    return None

def limited(r):
    if r["tool"] == "wrk":
        return "n/a (wrk)"
    return f"{'**yes**' if r['n_lim'] * 2 > r['n_ok'] else 'no'} ({r['n_lim']}/{r['n_ok']})"

side_md = ["| target | method | conns x depth | generator | req/s (median) | min..max of rounds | server CPU per answer | server CPU (cores busy) | p50 | p99 | p99.9 | errors | generator-limited? |",
           "|---|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
for r in rows:
    rng = f"{fnum(r['rps_min'])}..{fnum(r['rps_max'])}" if r["rps"] is not None else "all runs FAILED"
    fail = f" ({r['failed']} runs failed)" if r["failed"] else ""
    mark = " ‡" if (r["srv_wait"] or 0) >= WAIT_BAD else ""
    side_md.append(f"| {r['target']} | {r['method']} | {r['conns']} x {r['depth']} | {r['tool']} | **{fnum(r['rps'])}**{mark} | "
                   f"{rng} | **{fcpu(r['cpu'])}** | {futil(r['util'])} | {fus(r['p50'])} | {fus(r['p99'])} | "
                   f"{fus(r['p999'])} | {r['errors']}{fail} | {limited(r)} |")

SC, SD = m["side_conns"], m["side_depth"]
ratios = []
def ratio(label, a, b):
    if a and b:
        ratios.append((label, a["rps"] / b["rps"],
                       a["cpu"] / b["cpu"] if a["cpu"] is not None and b["cpu"] else None))
for d in (SD, 1):
    for t in RT:
        ratio(f"{t} POST / nginx GET, {SC} x {d}", find(t, "POST", SC, d), find("nginx", "GET", SC, d))
        ratio(f"{t} GET / nginx GET, {SC} x {d}", find(t, "GET", SC, d), find("nginx", "GET", SC, d))
        ratio(f"{t} POST / ceiling GET, {SC} x {d}", find(t, "POST", SC, d), find("ceiling", "GET", SC, d))
        ratio(f"{t} GET / ceiling GET, {SC} x {d}", find(t, "GET", SC, d), find("ceiling", "GET", SC, d))
    for t in RT[1:]:
        for me in ("POST", "GET"):
            ratio(f"{t} {me} / {RT[0]} {me}, {SC} x {d}", find(t, me, SC, d), find(RT[0], me, SC, d))
for t in RT:
    ratio(f"{t} POST {SC} x 1 / openssl ocsp POST {m['ossl_conns']} x 1", find(t, "POST", SC, 1),
          find("openssl ocsp", "POST", m["ossl_conns"], 1))
for t in RT + ["nginx", "ceiling"]:
    ratio(f"{t} GET {SC} x 1: wrk / ocspload", find(t, "GET", SC, 1, "wrk"), find(t, "GET", SC, 1))
ratio_md = (["| ratio (of medians) | req/s | server CPU per answer |", "|---|---:|---:|"] +
            [f"| {l} | {v:.2f} | {'-' if c is None else f'{c:.2f}'} |" for l, v, c in ratios])
write_csv("ratios.csv", ["ratio", "rps_ratio", "server_cpu_per_req_ratio"],
          [[l, f"{v:.4f}", None if c is None else f"{c:.4f}"] for l, v, c in ratios])

ran = m.get("ran") or []
revokd_desc = (f"revokd: one `revokd-responder` per backend ({', '.join(ran)}), `workers = 1`, pinned to CPU 0, "
               f"all serving the same store." if ran else "")
if m.get("skipped"):
    revokd_desc += " Not run: " + "; ".join(f"backend {x}" for x in m["skipped"]) + "."
CPU_DESC = (
    "*Server CPU per answer*: the server's user + system CPU time (utime + stime from /proc/PID/stat of the server "
    "process and every process below it, i.e. all its threads, nginx's master and worker) read right before and "
    "right after the measured run, divided by the answers it gave in that run; this compares servers, while req/s "
    "on this machine often compares what one generator core can drive. *Cores busy*: that CPU time / the run's "
    "wall time (1.00 = the server's core never idle).")
side_desc = (
    f"Closed loop: each connection keeps `depth` requests in flight. Rounds: {m['rounds']}; a round runs every "
    f"ocspload row once in table order, then the wrk rows, so machine drift hits all targets alike; the table "
    f"gives the median of the rounds (each column separately) and the range of req/s. Runs: {m['dur']} s measured "
    f"after a separate {m['warm']} s warm-up run (`openssl ocsp`: {m['ossl_dur']} s after 0.5 s, {m['ossl_conns']} "
    f"connections, because it serves one connection at a time and closes it after every answer). "
    f"{revokd_desc} "
    f"Same PKI for all: an EC P-256 issuing CA, a delegated EC P-256 OCSP signer, {m['side_certs']:,} certificates "
    f"in index.txt. revokd and `openssl ocsp` get the same request set ({m['side_reqs']:,} requests: {m['set_mix']}), "
    f"as POST bodies or RFC 5019 GET paths; ocspload checks every answer's status against the set and fully verifies "
    f"1% of them plus the first answer to each distinct request. nginx (one worker, sendfile) and uring_ceiling "
    f"serve one fixed file, revokd's own {m['resp_bytes']}-byte response for good.pem, fetched with `openssl ocsp "
    f"-respout` and verified; ocspload sends them one fixed `GET /good.der` and checks 200 + Content-Length "
    f"(`--no-ocsp-check`). wrk 4.1 rows: 1 thread, same CPU and connections, depth 1 (wrk does not pipeline), one "
    f"fixed URL (for revokd: the RFC 5019 GET of good.pem); wrk reports no p99.9. Servers on CPU 0, generators on "
    f"CPU 1. *generator-limited?*: ocspload's own verdict per run (its CPU ≥ 95% busy, counting time it waited for "
    f"the CPU, or its event loop idle < 5%), rounds flagged / rounds. {CPU_DESC} ‡ = the server waited for its CPU "
    f"{WAIT_BAD * 100:.0f}% of the run or more (median of the rounds): something else ran on CPU 0.")

notes = []
def pct(a, b):
    return f"{100 * a / b:.0f}%"
def cpu_vs(a, b):
    if a["cpu"] is None or not b["cpu"]:
        return ""
    return f"; server CPU per answer {fcpu(a['cpu'])} vs {fcpu(b['cpu'])} ({a['cpu'] / b['cpu']:.2f} x)"
for d in (SD, 1):
    ng, cg = find("nginx", "GET", SC, d), find("ceiling", "GET", SC, d)
    for t in RT:
        rp, rg = find(t, "POST", SC, d), find(t, "GET", SC, d)
        if rp and ng:
            notes.append(f"- **{t}, {SC} x {d}**: {fnum(rp['rps'])} POST and {fnum(rg['rps']) if rg else '-'} GET "
                         f"req/s, looking up and checking a different certificate each time; nginx served one static "
                         f"file at {fnum(ng['rps'])} req/s (revokd POST = {rp['rps'] / ng['rps']:.2f} x nginx"
                         f"{cpu_vs(rp, ng)}).")
        if rp and cg:
            notes.append(f"- **{t}, {SC} x {d}**: POST vs uring_ceiling (fixed bytes, no parsing): "
                         f"{pct(rp['rps'], cg['rps'])} of its req/s{cpu_vs(rp, cg)}"
                         + (f", i.e. {pct(cg['cpu'], rp['cpu'])} of its efficiency" if rp["cpu"] and cg["cpu"] else "")
                         + ".")
        if rg and cg and cg["rps"] < rg["rps"]:
            notes.append(f"- **{SC} x {d}**: uring_ceiling answered *fewer* requests than {t} ({fnum(cg['rps'])} vs "
                         f"{fnum(rg['rps'])} GET req/s): in req/s it is not an upper bound on this machine; compare "
                         f"CPU per answer instead.")
    for t in RT[1:]:
        a, b = find(t, "POST", SC, d), find(RT[0], "POST", SC, d)
        if a and b:
            notes.append(f"- **{SC} x {d}**: {t} POST {fnum(a['rps'])} req/s vs {RT[0]} {fnum(b['rps'])}"
                         f"{cpu_vs(a, b)}.")
# idle = neither running nor waiting for the CPU (run-queue wait is CPU taken by others, not idleness)
def idle(r):
    return None if r["util"] is None else 1 - r["util"] - (r["srv_wait"] or 0)
busy = [r for r in rows if r["tool"] == "ocspload" and r["target"] != "openssl ocsp" and (idle(r) or 0) > 0.1]
if busy:
    notes.append("- Servers idle more than 10% of a run (neither running nor waiting for their CPU): " +
                 ", ".join(f"{r['target']} {r['method']} {r['conns']} x {r['depth']} ({100 * idle(r):.0f}%)" for r in busy) +
                 ". There the generator, not the server, set the rate: their req/s says little about the server, "
                 "their CPU per answer still does (though a server that waits between requests handles fewer per "
                 "wake-up, so its CPU per answer is higher than at saturation).")
lim_rows = [r for r in rows if r["tool"] == "ocspload" and r["n_lim"] * 2 > r["n_ok"]]
if lim_rows:
    notes.append("- ocspload reported itself the bottleneck (CPU 1 saturated) for: " +
                 ", ".join(f"{r['target']} {r['method']} {r['conns']} x {r['depth']}" for r in lim_rows) +
                 ". On a 2-core machine the generator's CPU also carries the kernel's loopback work for every "
                 "request it sends, so these numbers are what one generator core can drive, a floor for the server, "
                 "not its capacity.")
else:
    notes.append("- ocspload did not report itself CPU-bound in any side-by-side row.")
for t in RT + ["nginx", "ceiling"]:
    a, b = find(t, "GET", SC, 1), find(t, "GET", SC, 1, "wrk")
    if a and b:
        r = b["rps"] / a["rps"]
        verdict = ("about the same, so at depth 1 the two generators agree" if 0.9 <= r <= 1.1 else
                   "more: ocspload was the limit of this row" if r > 1.1 else
                   "less: wrk is the slower generator here, so this comparison cannot tell whether ocspload "
                   "was the limit (its own verdict is in the table)")
        notes.append(f"- {t} GET {SC} x 1: wrk got {fnum(b['rps'])} req/s, ocspload {fnum(a['rps'])} "
                     f"(wrk/ocspload {r:.2f}): {verdict}.")
op, og = find("openssl ocsp", "POST", m["ossl_conns"], 1), find("openssl ocsp", "GET", m["ossl_conns"], 1)
if op:
    notes.append(f"- `openssl ocsp` signed every answer live and closed the connection after it: {fnum(op['rps'])} "
                 f"POST / {fnum(og['rps']) if og else '-'} GET req/s with {m['ossl_conns']} connections; "
                 f"it is a test tool, shown for scale, and its rows are not comparable connection for connection.")
# Interference: how long the server (its threads' schedstat) and ocspload (its own
# report) waited on their CPUs' run queues. Alone on its CPU under full load a
# process waits a few percent (kernel threads); a busy neighbour makes it ~50%.
every = side + load("conns.jsonl") + load("latency.jsonl") + load("scale-runs.jsonl")
sw = [d.get("server_runq_wait_fraction") for d in every]
sw = [v for v in sw if isinstance(v, (int, float)) and v >= 0]
gw = [(d.get("generator") or {}).get("runq_wait_fraction") for d in every]
gw = [v for v in gw if isinstance(v, (int, float)) and v >= 0]
def waits(name, cpu, vals):
    if not vals:
        return f"{name}: not recorded"
    bad = sum(1 for v in vals if v >= WAIT_BAD)
    return (f"the {name} (CPU {cpu}) waited for its CPU at most {100 * max(vals):.1f}% of a run's time (median "
            f"{100 * statistics.median(vals):.1f}%), {bad} of {len(vals)} runs {WAIT_BAD * 100:.0f}% or more")
bad_any = any(v >= WAIT_BAD for v in sw + gw)
notes.append(f"- Interference, over every load run of this page: {waits('server', 0, sw)}; "
             f"{waits('generator', 1, gw)}. Alone on its CPU a process under this load waits a few percent at most "
             f"(kernel threads); with one busy loop pinned beside it, ~50% (checked by hand); "
             + ("runs at or above the threshold shared their CPU with something else and read low "
                "(side-by-side medians marked ‡)." if bad_any else "no run shows another process on its CPU."))
invalid = sum(1 for d in every if d.get("server_cpu_valid") is False)
if invalid:
    notes.append(f"- {invalid} runs left out of the server CPU columns: a server process started or ended during "
                 f"the run, so its CPU time was missing from one of the two samples.")
err_rows = [r for r in rows if r["errors"] or r["failed"]]
notes.append("- Errors: " + ("none in any run." if not err_rows else
             "; ".join(f"{r['target']} {r['method']} {r['conns']} x {r['depth']} ({r['tool']}): {r['errors']} errors, "
                       f"{r['failed']} failed runs" for r in err_rows) + ". Details in run.log."))

# --- throughput vs connections ----------------------------------------------------------------
cj = load("conns.jsonl")
series = sorted({(d["order"], d["target"], d["method"]) for d in cj})
levels = sorted({d["conns"] for d in cj})
conns_md = ["| connections (depth 1) | " + " | ".join(f"{t} {me}: req/s (p99; server CPU per answer)" for _, t, me in series) + " |",
            "|---:|" + "---:|" * len(series)]
crow, cells_lim = [], []
for c in levels:
    cells, md = [c], []
    for _, t, me in series:
        rs = [d for d in cj if (d["target"], d["method"], d["conns"]) == (t, me, c) and not d.get("failed")]
        rps, p99 = med([d.get("rps") for d in rs]), med([lat_us(d, "p99") for d in rs])
        cpu, util = med([srv(d, "server_cpu_us_per_req") for d in rs]), med([srv(d, "server_cpu_util") for d in rs])
        lim = any((d.get("generator") or {}).get("limited") for d in rs)
        shared = any((d.get("server_runq_wait_fraction") or 0) >= WAIT_BAD for d in rs)
        if lim:
            cells_lim.append(f"{t} {me} at {c}")
        cells += [rps, p99, cpu, util]
        md.append(f"{fnum(rps)}{'†' if lim else ''}{'‡' if shared else ''} ({fus(p99)}; {fcpu(cpu)})")
    crow.append(cells)
    conns_md.append(f"| {c} | " + " | ".join(md) + " |")
write_csv("conns.csv", ["conns"] + [x for _, t, me in series for x in (
    f"{t} {me} req/s", f"{t} {me} p99 us", f"{t} {me} server cpu us/req", f"{t} {me} server cpu util")], crow)
conns_desc = (f"Closed loop, depth 1, {', '.join(map(str, levels))} connections, one run per point of {m['curve_dur']} s "
              f"after a short warm-up, points interleaved (all targets at 1 connection, then at 4, ...). revokd gets the "
              f"request set as POST (one series per backend; GET vs POST is in the side-by-side table), nginx the "
              f"fixed GET of the same response. Server CPU per answer as in the side-by-side table. † = ocspload "
              f"reported itself CPU-bound in that run; ‡ = the server waited for its CPU {WAIT_BAD * 100:.0f}% of the "
              f"time or more (something else ran on CPU 0).")
conns_notes = []
for i, (_, t, me) in enumerate(series):
    vals = [(row[0], row[1 + 4 * i]) for row in crow if row[1 + 4 * i]]
    if vals:
        c, v = max(vals, key=lambda x: x[1])
        conns_notes.append(f"{t} {me} peaked at {fnum(v)} req/s with {c} connections")
conns_read = ["- " + "; ".join(conns_notes) + "." if conns_notes else "- no data."]
if cells_lim:
    conns_read.append("- Generator-limited points: " + ", ".join(cells_lim) + ".")

# --- latency under open loop --------------------------------------------------------------------
lj = load("latency.jsonl")
lat_md = ["| offered load | req/s achieved | server CPU per answer | server CPU (cores busy) | p50 | p90 | p99 | p99.9 | max | send lag p99 | p99 from actual send | errors | generator-limited? |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
with open(os.path.join(out, "latency-cdf.csv"), "w") as f:
    f.write("# one block per open-loop run: quantile, latency in µs (plot.gp puts it at x = 1/(1-quantile))\n")
    blocks = 0
    for d in lj:
        if d.get("failed"):
            lat_md.append(f"| {d['share']}% of peak | FAILED | | | | | | | | | | | |")
            continue
        h, lag = d["latency_ns"], (d.get("send_lag_ns") or {}).get("p99")
        sent99 = (d.get("latency_from_send_ns") or {}).get("p99")
        lat_md.append(f"| {d['share']}% of peak ({d['rate_target']:,.0f}/s) | {d['rps']:,.0f} | "
                      f"{fcpu(srv(d, 'server_cpu_us_per_req'))} | {futil(srv(d, 'server_cpu_util'))} | {fus(h['p50'] / 1e3)} | "
                      f"{fus(h['p90'] / 1e3)} | {fus(h['p99'] / 1e3)} | {fus(h['p999'] / 1e3)} | {fus(h['max'] / 1e3)} | "
                      f"{fus(lag / 1e3) if lag is not None else '-'} | {fus(sent99 / 1e3) if sent99 is not None else '-'} | "
                      f"{d['errors']['total']} | "
                      f"{'yes' if d['generator']['limited'] else 'no'} |")
        # blocks are separated by two blank lines (gnuplot's "index"), none after the last
        f.write(("\n\n" if blocks else "") +
                f"quantile \"{d['share']}% of peak ({d['rate_target']:,.0f} req/s offered)\"\n")
        blocks += 1
        for qq, k in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p999")):
            f.write(f"{qq} {h[k] / 1e3:.2f}\n")
lat_target = lj[0].get("target", "revokd") if lj else "revokd"
lat_desc = (f"Open loop (`ocspload --rate`): requests leave on a fixed schedule, round-robin over {lj[0].get('conns', SC) if lj else SC} connections x "
            f"depth {SD}, at 50% and 90% of {lat_target}'s peak (its median POST {SC} x {SD} rate of the side-by-side table: "
            f"{fnum(m['peak'])} req/s), {m['lat_dur']} s after 1 s warm-up, POST, the same request set. Latency counts "
            f"from each request's intended send time, so a stall anywhere shows up as latency rather than as fewer "
            f"requests. ocspload reports quantiles (p50, p90, p99, p99.9, max), not a full histogram: the plot draws "
            f"those points (max is in the table). In open loop the schedule, not the server, sets the pace: the "
            f"send-lag column says how far behind schedule ocspload fell, and the last latency column counts from when each "
            f"request was actually written, i.e. the server and the loopback alone.")
lat_read = []
for d in lj:
    if not d.get("failed"):
        short = d["rps"] < 0.97 * d["rate_target"]
        lat_read.append(f"- at {d['share']}% of peak: {d['rps']:,.0f} of {d['rate_target']:,.0f} req/s offered were "
                        f"answered in the window{' (the offered rate was **not** sustained)' if short else ''}; "
                        f"p50 {fus(d['latency_ns']['p50'] / 1e3)}, p99 {fus(d['latency_ns']['p99'] / 1e3)}, "
                        f"p99.9 {fus(d['latency_ns']['p999'] / 1e3)}.")

# --- scale -------------------------------------------------------------------------------------------
runs = {}
for d in load("scale-runs.jsonl"):
    runs[(d["n"], d["phase"])] = d
scale = []
for s in sorted(load("scale.jsonl"), key=lambda s: s["n"]):
    n = s["n"]
    cold, warm = runs.get((n, "cold"), {}), runs.get((n, "warm"), {})
    s.update({
        "rps_cold": None if cold.get("failed") else cold.get("rps"),
        "rps_warm": None if warm.get("failed") else warm.get("rps"),
        "p50_warm": lat_us(warm, "p50"), "p99_warm": lat_us(warm, "p99"), "p999_warm": lat_us(warm, "p999"),
        "errors": sum((r.get("errors") or {}).get("total", 0) for r in (cold, warm)),
        "signs_per_s": 2 * n / s["indexer_s"] if s.get("indexer_s") else None,
        "bpc_du": s["du_bytes"] / n, "bpc_tree": s["tree_pages"] * 4096 / n if s.get("tree_pages") else None,
        "per_leaf": 2 * n / s["resp_leaf_pages"] if s.get("resp_leaf_pages") else None,
        "lim_warm": (warm.get("generator") or {}).get("limited"),
        "shared_warm": (warm.get("server_runq_wait_fraction") or 0) >= WAIT_BAD,
        "cpu_cold": None if cold.get("failed") else srv(cold, "server_cpu_us_per_req"),
        "cpu_warm": None if warm.get("failed") else srv(warm, "server_cpu_us_per_req"),
        "util_warm": None if warm.get("failed") else srv(warm, "server_cpu_util"),
    })
    scale.append(s)
write_csv("scale.csv", ["n", "indexer_s", "resync_s", "responder_first_s", "openssl_first_s", "rps_cold", "rps_warm",
                        "p50_warm_us", "p99_warm_us", "p999_warm_us", "errors", "responses_signed_per_s",
                        "bytes_per_cert_du", "bytes_per_cert_btrees", "responses_per_leaf_page",
                        "server_cpu_us_per_req_cold", "server_cpu_us_per_req_warm", "server_cpu_util_warm"],
          [[s["n"], s.get("indexer_s"), s.get("resync_s"), s.get("responder_first_s"), s.get("openssl_first_s"),
            s["rps_cold"], s["rps_warm"], s["p50_warm"], s["p99_warm"], s["p999_warm"], s["errors"],
            s["signs_per_s"], s["bpc_du"], s["bpc_tree"], s["per_leaf"], s["cpu_cold"], s["cpu_warm"],
            s["util_warm"]] for s in scale])
scale_a = ["| certificates | requests in set (distinct) | req/s, first run after start | req/s, warm | server CPU per answer, first run | server CPU per answer, warm | server CPU (cores busy), warm | p50 | p99 | p99.9 | errors | generator-limited? |",
           "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
scale_b = ["| certificates | revokd-indexer --once (import + pre-sign) | again, index unchanged | revokd-responder: start to first answer | `openssl ocsp -index`: start to first answer |",
           "|---:|---:|---:|---:|---:|"]
scale_c = ["| certificates | responses signed | indexer wall time | responses/s (wall: parse + sign + LMDB) |",
           "|---:|---:|---:|---:|"]
scale_d = ["| certificates | data.mdb (du) | bytes/cert (du) | bytes/cert in B-tree pages (all databases, 4 KiB pages) | responses per `responses` leaf page |",
           "|---:|---:|---:|---:|---:|"]
for s in scale:
    n = s["n"]
    scale_a.append(f"| {n:,} | {s['set_n']:,} ({s['set_distinct']:,}) | {fnum(s['rps_cold'])} | "
                   f"**{fnum(s['rps_warm'])}**{' ‡' if s['shared_warm'] else ''} | {fcpu(s['cpu_cold'])} | "
                   f"**{fcpu(s['cpu_warm'])}** | {futil(s['util_warm'])} | {fus(s['p50_warm'])} | {fus(s['p99_warm'])} | {fus(s['p999_warm'])} | {s['errors']} | "
                   f"{'yes' if s['lim_warm'] else 'no'} |")
    scale_b.append(f"| {n:,} | {fs(s.get('indexer_s'))} | {fs(s.get('resync_s'))} | {fs(s.get('responder_first_s'))} | "
                   f"{fs(s.get('openssl_first_s'))} |")
    scale_c.append(f"| {n:,} | {2 * n:,} | {fs(s.get('indexer_s'))} | {fnum(s['signs_per_s'])} |")
    scale_d.append(f"| {n:,} | {s['du_bytes'] / 2**20:,.1f} MiB | {fnum(s['bpc_du'])} | {fnum(s['bpc_tree'])} | "
                   f"{fnum(s['per_leaf'], 2)} |")
sign = load("signing.jsonl")
sign_md = ["| what | signatures/s | notes |", "|---|---:|---|"]
for d in sign:
    sign_md.append(f"| {d['what']} | {fnum(d.get('per_s'))} | {d.get('note', '')} |")
sizes = [s["n"] for s in scale]
scale_desc = (
    f"One store per size ({', '.join(f'{n:,}' for n in sizes)} certificates). index.txt = the demo PKI's own "
    f"certificates plus synthetic ones up to N (`bench/synth-index.py`: distinct random-looking 63-bit serials, ~2% "
    f"revoked with a reason, expiry two years ahead); EC P-256 delegated signer; store on the local disk. Per size: "
    f"`revokd-indexer --once` pinned to CPU 0, wall time from start to exit (parse, 2 signed responses per "
    f"certificate, LMDB commits), then once more with nothing changed (what a restart costs); `revokd-responder` "
    f"start to its first answer (a curl POST for good.pem, repeated until it answers); two POST runs, {SC} x {SD}, "
    f"{m['scale_dur']} s each: the first right after the start (no load warm-up; the responder faults its map of "
    f"the store in on a thread of its own meanwhile, `store_warm()`), then a warm one after 1 s of warm-up. Requests: 2 per certificate up to 200,000, drawn uniformly "
    f"from the whole index, 10% unknown serials, statuses checked, signatures not verified (`--no-verify`: with "
    f"that many distinct answers the verifier, not the server, would set the pace; the side-by-side runs verify). "
    f"Then `openssl ocsp -index` on the same index.txt: wall time from start to its first answer to the same POST. "
    f"The responder runs the {m.get('primary') or 'default'} backend with one worker; server CPU per answer as in the "
    f"side-by-side table. ‡ = the server waited for its CPU {WAIT_BAD * 100:.0f}% of the warm run or more.")
scale_read = []
if len(scale) >= 2 and scale[0]["rps_warm"] and scale[-1]["rps_warm"]:
    a, b = scale[0], scale[-1]
    scale_read.append(f"- Warm throughput went from {fnum(a['rps_warm'])} req/s at {a['n']:,} certificates to "
                      f"{fnum(b['rps_warm'])} at {b['n']:,} ({100 * (b['rps_warm'] / a['rps_warm'] - 1):+.0f}%); "
                      f"p99 from {fus(a['p99_warm'])} to {fus(b['p99_warm'])}"
                      + (f"; server CPU per answer from {fcpu(a['cpu_warm'])} to {fcpu(b['cpu_warm'])} "
                         f"({100 * (b['cpu_warm'] / a['cpu_warm'] - 1):+.0f}%)" if a["cpu_warm"] and b["cpu_warm"] else "")
                      + ".")
    if b["rps_cold"] and b["rps_cold"] < 0.8 * b["rps_warm"]:
        scale_read.append(f"- The first run after start at {b['n']:,} certificates managed {fnum(b['rps_cold'])} req/s, "
                          f"the warm one {fnum(b['rps_warm'])}. The likely cause (not measured separately) is the "
                          f"responder faulting in its new memory map of the {b['du_bytes'] / 2**30:.1f} GiB store page "
                          f"by page as requests touch it, while the data itself is already in the page cache; whether "
                          f"the map was fully faulted in by the warm run was not measured either, so the warm number "
                          f"may still be low. Plan a warm-up pass after a restart.")
    ossl = [s for s in scale if s.get("openssl_first_s")]
    if ossl:
        o = ossl[-1]
        scale_read.append(f"- `openssl ocsp` answered {fs(o['openssl_first_s'])} after start with {o['n']:,} certificates "
                          f"(it only loads the index and signs each answer live, at the throughput in the side-by-side "
                          f"table); revokd signs everything up front: {fs(o.get('indexer_s'))} of indexer time at that "
                          f"size, once per import, after which a responder (re)start answers in "
                          f"{fs(o.get('responder_first_s'))}, and an unchanged index re-syncs in {fs(o.get('resync_s'))}.")
    ec = next((d for d in sign if "ecdsap256" in d["what"]), None)
    if ec and ec.get("per_s") and b["signs_per_s"]:
        scale_read.append(f"- The indexer produced {fnum(b['signs_per_s'])} signed responses/s at {b['n']:,} certificates "
                          f"(wall time, everything included) = {pct(b['signs_per_s'], ec['per_s'])} of the "
                          f"`openssl speed` ECDSA P-256 sign rate on one core.")
    scale_read.append(f"- Store: {fnum(b['bpc_du'])} bytes per certificate at {b['n']:,} "
                      f"({fnum(b['per_leaf'], 2)} responses per 4 KiB leaf page of `responses`: each value is a "
                      f"{m['resp_bytes']}-byte response carrying the signer certificate, so after inserts in random "
                      f"key order a page holds few of them), vs {fnum(a['bpc_du'])} at {a['n']:,}. The file (du) "
                      f"also holds pages freed by earlier copy-on-write commits, which LMDB reuses for later writes; "
                      f"the B-tree column is what the data itself occupies ({fnum(b['bpc_tree'])} bytes/cert at "
                      f"{b['n']:,}).")

# --- the document ------------------------------------------------------------------------------------------
intro = DEFAULT_INTRO
if os.path.exists(doc):
    text = open(doc).read()
    if MARK in text:
        intro = text.split(MARK)[0].rstrip() + "\n"
not_done = []
if not m["full"]:
    not_done.append("- The 10M-certificate store: only with `bench/run.sh --full` (~40 GB of disk; at the 1M import "
                    "rate at least ~25 min of import alone, an estimate: it has never been run); not part of this run.")
not_done += [
    "- Other OCSP responders (cfssl, EJBCA, ...): not measured; `openssl ocsp` is the only live-signing peer.",
    *(f"- revokd with backend {x}" for x in m.get("skipped", [])),
    *([] if m.get("ran") else ["- revokd's backends: this run predates per-backend runs (one revokd, its default backend)."]),
    "- More than one server core, TLS, and non-loopback networks: not measured (2-core machine, loopback only).",
]
total = m["total_s"]
L = [intro.rstrip(), "", MARK, "",
     f"_Generated by `{m['command']}` ({m['mode']} mode) on {m['date']}; the whole run took "
     f"{int(total // 60)} min {int(total % 60):02d} s. Raw results (JSONL per run, CSVs, tables, mdb_stat, the "
     f"exact commands, the run log): [{rel('.').rstrip('/.') or '.'}/]({rel('.')}/). Machine: {m['nproc']} CPUs "
     f"({m['cpu'].split(' ', 1)[-1]}), {m['kernel']}, {m['os']}; details [below](#machine)._", ""]
L += ["## Side by side", "", side_desc, "", *side_md, "", *ratio_md, "", "Reading:", "", *notes,
      *block("side", "1"), ""]
L += ["## Machine", "", "| | |", "|---|---|"]
for k, label in (("nproc", "CPUs (`nproc`)"), ("cpu", "CPU model (/proc/cpuinfo)"), ("kernel", "kernel"),
                 ("os", "OS"), ("mem", "memory"), ("pkgs", "packages"), ("revokd", "revokd"),
                 ("busy", "CPU busy, 2 s sampled before / after the run"), ("load", "load average at start / end"),
                 ("pinning", "pinning")):
    L.append(f"| {label} | {m.get(k, '-')} |")
L += ["", "Loopback only. Other processes on the machine were not stopped: CPUs busy before the run, or a "
      "generator waiting for its CPU (see the readings), mean something else competed for the two CPUs.", ""]
L += ["## Throughput vs connections", "", conns_desc, "", f"![throughput vs connections]({rel('conns.png')})", "",
      *conns_md, "", "Reading:", "", *conns_read, *block("conns", None, "every point"), ""]
L += ["## Latency under open-loop load", "", lat_desc, "", f"![latency percentiles]({rel('latency-cdf.png')})", "",
      *lat_md, "", "Reading:", "", *(lat_read or ["- no data."]), *block("latency", None, "both runs"), ""]
L += ["## Cost vs store size", "", scale_desc, "", f"![cost vs store size]({rel('scale.png')})", "",
      "### (a) Responder throughput and latency vs store size (POST, " + f"{SC} x {SD}" + ")", "", *scale_a, "",
      "### (b) Time until answers: revokd import + pre-sign vs `openssl ocsp` index load", "", *scale_b, "",
      "### (c) Signing throughput", "", *scale_c, "", *sign_md, "",
      "### (d) Store bytes per certificate", "", *scale_d, "",
      "`mdb_stat -e` / `-a` of each store: `" + rel("mdb_stat-N.txt") + "`.", "",
      "Reading:", "", *(scale_read or ["- no data."]),
      *block("scale", str(sizes[-1]) if sizes else None, f"the {sizes[-1]:,}-certificate store and the signing baselines" if sizes else "scale"), ""]
L += ["## Not measured here", "", *not_done, ""]
with open(doc, "w") as f:
    f.write("\n".join(L))
for name, md in (("sidebyside.md", side_md + [""] + ratio_md), ("conns.md", conns_md), ("latency.md", lat_md),
                 ("scale.md", scale_a + [""] + scale_b + [""] + scale_c + [""] + sign_md + [""] + scale_d)):
    with open(os.path.join(out, name), "w") as f:
        f.write("\n".join(md) + "\n")
print(f"report: wrote {doc} and the tables in {out}")
PY
}
