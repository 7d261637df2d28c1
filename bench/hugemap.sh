#!/usr/bin/env bash
# hugemap.sh — does mapping the store with 2 MiB entries close the 1M-vs-10k gap?
#
#   bench/hugemap.sh [--rounds R] [--dur S] [--depth D] [--backend B] [--perf]
#                    [--tmpfs DIR] [--variants "LABEL:N:PLACE[:REQS] ..."] [RESPONDER]
#
# Server CPU per answer and req/s of revokd-responder (default build/revokd-responder)
# over stores of N certificates, warm, with the store's pages mapped in different
# ways, all responders running at once (workers = 1, pinned to CPU 0) and measured
# in interleaved rounds (the order rotates every round), so whatever else runs on
# the machine hits every variant alike. ocspload runs on CPU 1 as in bench/run.sh's
# scale rows: 32 connections x depth D (4), POST, a 1 s warm-up invocation, then
# S s measured; requests drawn across the whole store (bench/ab.sh's set: 2 per
# certificate, at most 200k; 10% unknown, 10% revoked, 20% SHA-256 CertIDs).
#
# A variant is LABEL:N:PLACE[:REQS]:
#   N      store size; the PKI, store and request set come from bench/ab.sh's
#          set-up ($TMPDIR/revokd-ab-N, made on first use)
#   PLACE  asis: the store as revokd-indexer left it (its page cache in the small
#          folios the indexer's 4 KiB writes made: mapped with 4 KiB entries);
#          reread: a copy in $TMPDIR/hugemap/LABEL whose page cache was dropped and
#          read back through a MADV_HUGEPAGE map (bench/hugemap_prep.c reread):
#          2 MiB folios, which any map of the file, the responder's included, then
#          maps with 2 MiB entries; copy: a plain copy; tmpfs: a copy in the
#          --tmpfs directory (as root: mount -t tmpfs -o size=4g,huge=always tmpfs
#          DIR: shmem's own 2 MiB pages); /ABS/PATH: that store directory as it is
#   REQS   all (default): the store's request set; hotK: requests for the K
#          certificates adjacent in the middle of the store's key order (same
#          fractions), to tell the working set from the B-tree's depth
# Default variants: 10k and 1M as left, 1M reread, 1M hot10k, and 1M on tmpfs
# when --tmpfs is given.
#
# First it runs `hugemap_prep claims` (the kernel behaviour it relies on, on a
# scratch file). Before the rounds it prints each responder's warm-up log line and
# FilePmdMapped + ShmemPmdMapped of its /proc/PID/smaps_rollup (bytes of the store
# mapped with 2 MiB entries), and again after them. Output: one line per run on
# stderr, the JSONL in $TMPDIR/hugemap/hugemap.jsonl, a Markdown table of medians
# on stdout (the first variant is the reference of the ratio columns), with the
# server CPU split into user and system time (/proc/PID/stat utime, stime). --perf:
# after the rounds, one more run per variant under `perf record -e cpu-clock -g`
# ($TMPDIR/hugemap/perf-LABEL.data) and its top symbols.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$BENCH/lib.sh"

ROUNDS=5 DUR=4 DEPTH=4 BACKEND=io_uring TMPFS='' VARIANTS='' PERF=0
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --dur) DUR=$2; shift 2 ;;
    --depth) DEPTH=$2; shift 2 ;;
    --backend) BACKEND=$2; shift 2 ;;
    --tmpfs) TMPFS=$2; shift 2 ;;
    --variants) VARIANTS=$2; shift 2 ;;
    --perf) PERF=1; shift ;;
    -h | --help) sed -n '2,42p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "hugemap.sh: unknown argument $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
RESPONDER=$(realpath "${1:-$ROOT/build/revokd-responder}")
BASE=${TMPDIR:-/tmp}
WORK=$BASE/hugemap
mkdir -p "$WORK"
OCSPLOAD=$ROOT/build-bench/ocspload
CLK_TCK=$(getconf CLK_TCK)
RUN_LOG=$WORK/hugemap.log
COMMANDS=$WORK/commands.txt
SECTION=hugemap
ROUND=-
SERVER_PID=
: >"$COMMANDS"
trap 'lib_cleanup' EXIT
trap 'exit 130' INT TERM

if [ -z "$VARIANTS" ]; then
    VARIANTS="10k:10000:asis 1M:1000000:asis 1M-reread:1000000:reread 1M-hot10k:1000000:asis:hot10000"
    [ -z "$TMPFS" ] || VARIANTS+=" 1M-tmpfs:1000000:tmpfs"
fi
if [ -n "$TMPFS" ]; then
    grep -q " $(realpath "$TMPFS") tmpfs .*huge=" /proc/mounts ||
        warn "$TMPFS is not a tmpfs mounted with huge=: its pages will be 4 KiB"
fi

PREP=$ROOT/build-bench/hugemap_prep
if [ ! -x "$PREP" ] || [ "$BENCH/hugemap_prep.c" -nt "$PREP" ]; then
    mkdir -p "$ROOT/build-bench"
    gcc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE "$BENCH/hugemap_prep.c" -o "$PREP" || die "cannot build $PREP"
fi
log "kernel $(uname -r); THP enabled: $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
[ ! -r /proc/config.gz ] || log "$(zcat /proc/config.gz | grep -E 'READ_ONLY_THP_FOR_FS' | tr '\n' ' ')"
log "hugemap_prep claims $WORK (a 256 MB scratch file written in 4 KiB pwrites + fsync):"
"$PREP" claims "$WORK" | tee -a "$RUN_LOG" >&2

# a store of N certificates, its PKI and request set: bench/ab.sh's, made once
setup() { # setup N -> the PKI directory
    local p=$BASE/revokd-ab-$1/pki
    if [ ! -s "$p/reqs.txt" ]; then
        log "making a store of $1 certificates (bench/ab.sh --certs $1 --rounds 0)"
        "$BENCH/ab.sh" --certs "$1" --rounds 0 "$RESPONDER" "$RESPONDER" >>"$RUN_LOG" 2>&1 ||
            die "bench/ab.sh could not make the store of $1 (see $RUN_LOG)"
    fi
    printf '%s' "$p"
}

read -r -a VS <<<"$VARIANTS"
J=$WORK/hugemap.jsonl
SETUP=$WORK/hugemap-setup.jsonl
SPLIT=$WORK/hugemap-split.jsonl
: >"$J"
: >"$SETUP"
: >"$SPLIT"
read -r -a PORTS <<<"$(pick_ports ${#VS[@]})"
declare -A PORT PID REQS
i=0
for v in "${VS[@]}"; do
    IFS=: read -r label n place reqs <<<"$v"
    p=$(setup "$n")
    case "${reqs:-all}" in
    all) REQS[$label]=$p/reqs.txt ;;
    hot[0-9]*)
        k=${reqs#hot}
        REQS[$label]=$WORK/$label-reqs.txt
        # K certificates adjacent in key order (CertID keys sort by serial)
        python3 -c '
import sys
rows = sorted((int(l.split("\t")[3], 16), l) for l in open(sys.argv[1]))
k = int(sys.argv[2]); m = max(0, len(rows) // 2 - k // 2)
sys.stdout.writelines(l for _, l in rows[m:m + k])' "$p/index.txt" "$k" >"$WORK/$label-index.txt"
        "$OCSPLOAD" gen --issuer "$p/ca.pem" --index "$WORK/$label-index.txt" --out "${REQS[$label]}" \
            --n $((2 * k)) --unknown-fraction 0.1 --revoked-fraction 0.1 --sha256-fraction 0.2 --seed 1 2>>"$RUN_LOG"
        ;;
    *) die "variant $v: REQS is all or hotK" ;;
    esac
    case "$place" in
    asis) store=$p/store ;;
    copy | reread | tmpfs)
        if [ "$place" = tmpfs ]; then store=$TMPFS/$label/store; else store=$WORK/$label/store; fi
        rm -rf "$(dirname "$store")"
        mkdir -p "$store"
        cp "$p/store/data.mdb" "$store/"
        sync -f "$store/data.mdb" # written back: its pages can leave the page cache
        if [ "$place" = reread ]; then
            log "$label: hugemap_prep reread $store/data.mdb:"
            "$PREP" reread "$store/data.mdb" | tee -a "$RUN_LOG" >&2
        fi
        ;;
    /*) store=$place ;;
    *) die "variant $v: PLACE is asis, copy, reread, tmpfs or a path" ;;
    esac
    PORT[$label]=${PORTS[i]}
    i=$((i + 1))
    conf=$WORK/$label.conf
    cat >"$conf" <<EOF
[store]
path = $store
[log]
level = info
[responder]
listen = 127.0.0.1:${PORT[$label]}
backend = $BACKEND
workers = 1
[issuer bench]
ca_cert     = $p/ca.pem
index       = $p/index.txt
signer_cert = $p/ocsp-ec.pem
signer_key  = $p/ocsp-ec.key
digest      = sha256
EOF
    t0=$(now)
    start_bg "$WORK/$label.log" taskset -c 0 "$RESPONDER" -c "$conf"
    PID[$label]=$LAST_PID
    wait_port "${PORT[$label]}" 30 || die "responder $label did not listen (see $WORK/$label.log)"
    for _ in $(seq 300); do # the warm-up runs on a thread of its own: wait for its line
        grep -q "warm-up" "$WORK/$label.log" && break
        sleep 0.1
    done
    pmd=$(awk '/^(File|Shmem)PmdMapped:/ { s += $2 } END { print s + 0 }' "/proc/${PID[$label]}/smaps_rollup")
    log "$label: $store, pid ${PID[$label]}, up in $(since "$t0") s;" \
        "$(grep -h "warm-up" "$WORK/$label.log" | tail -n 1 | sed 's/^.*store warm-up/warm-up/')"
    log "$label: FilePmdMapped + ShmemPmdMapped $((pmd / 1024)) MB"
    printf '{"label":"%s","n":%s,"place":"%s","reqs":"%s","pmd_kb":%s}\n' "$label" "$n" "$place" "${reqs:-all}" "$pmd" >>"$SETUP"
done

nv=${#VS[@]}
for r in $(seq "$ROUNDS"); do
    ROUND=$r
    for k in $(seq 0 $((nv - 1))); do
        v=${VS[$(((k + r) % nv))]}
        IFS=: read -r label n place _ <<<"$v"
        SERVER_PID=${PID[$label]}
        args=(run --cpu 1 -c 32 -d "$DEPTH" -r "${REQS[$label]}" --no-verify -m post "127.0.0.1:${PORT[$label]}")
        # the 1 s warm-up as its own invocation here (ol_run's would fall inside the
        # utime/stime samples below)
        printf '%s\t%s\tbuild-bench/ocspload %s -t 1 -w 0  # warm-up\n' "$SECTION" "$ROUND" "${args[*]}" >>"$COMMANDS"
        timeout 120 "$OCSPLOAD" "${args[@]}" -t 1 -w 0 >/dev/null 2>>"$RUN_LOG" || warn "warm-up of $label failed"
        read -r u0 s0 < <(cut -d' ' -f14,15 "/proc/$SERVER_PID/stat")
        ol_run "$J" "{\"label\":\"$label\",\"n\":$n,\"place\":\"$place\",\"round\":$r}" 120 \
            "${args[@]}" -t "$DUR" -w 0
        read -r u1 s1 < <(cut -d' ' -f14,15 "/proc/$SERVER_PID/stat")
        # the same window as ol_run's samples, within a fork: user and system apart
        tail -n 1 "$J" | python3 -c 'import json,sys; d=json.load(sys.stdin); n=d.get("server_answered") or 0
print(json.dumps({"label": d["label"], "round": d["round"], "user_us": (int(sys.argv[1]) * 1e6 / int(sys.argv[3]) / n) if n else None, "sys_us": (int(sys.argv[2]) * 1e6 / int(sys.argv[3]) / n) if n else None}))' \
            $((u1 - u0)) $((s1 - s0)) "$CLK_TCK" >>"$SPLIT"
        tail -n 1 "$J" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("round %s %-9s %8.0f req/s  %.3f us/answer  util %.2f  runq %.3f errors %s" % (d["round"], d["label"], d.get("rps") or 0, d.get("server_cpu_us_per_req") or 0, d.get("server_cpu_util") or 0, d.get("server_runq_wait_fraction") or 0, (d.get("errors") or {}).get("total")))' >&2
    done
done
for v in "${VS[@]}"; do
    IFS=: read -r label _ <<<"$v"
    pmd=$(awk '/^(File|Shmem)PmdMapped:/ { s += $2 } END { print s + 0 }' "/proc/${PID[$label]}/smaps_rollup")
    log "$label after the rounds: FilePmdMapped + ShmemPmdMapped $((pmd / 1024)) MB"
done

if [ "$PERF" -eq 1 ]; then
    for v in "${VS[@]}"; do
        IFS=: read -r label _ <<<"$v"
        perf record -q -e cpu-clock -F 2000 -g -p "${PID[$label]}" -o "$WORK/perf-$label.data" -- sleep "$DUR" \
            >>"$RUN_LOG" 2>&1 &
        ppid=$!
        timeout 120 "$OCSPLOAD" run --cpu 1 -t "$DUR" -w 0 -c 32 -d "$DEPTH" -r "${REQS[$label]}" --no-verify \
            -m post "127.0.0.1:${PORT[$label]}" >/dev/null 2>>"$RUN_LOG" || warn "ocspload under perf failed"
        wait "$ppid" || warn "perf record failed for $label"
        log "$label: perf report --no-children -g none --sort dso,sym (top), $WORK/perf-$label.data"
        perf report -i "$WORK/perf-$label.data" --no-children -g none --sort dso,sym -q --percent-limit 1.5 2>/dev/null |
            grep -v '^$' | head -n 12 >&2 || true
    done
fi

python3 - "$J" "$SETUP" "$RESPONDER" "$BACKEND" "$DEPTH" "$SPLIT" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
split = [json.loads(l) for l in open(sys.argv[6]) if l.strip()]
setup = {}
for l in open(sys.argv[2]):
    if l.strip():
        d = json.loads(l)
        setup[d["label"]] = d
labels = list(setup)  # the order the variants were given: the first is the reference
print("responder %s, backend %s, 32 x %s POST, warm\n" % (sys.argv[3], sys.argv[4], sys.argv[5]))
print("| variant | certificates | pages | requests | mapped with 2 MiB entries | µs/answer (median) | user | system | req/s (median) | µs/answer vs the first row | per-round ratio (median) | runq (max) |")
print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
def med(sel, f):
    v = [d[f] for d in sel if d.get(f)]
    return statistics.median(v) if v else float("nan")
first = None
for lb in labels:
    sel = [d for d in runs if d["label"] == lb]
    m = med(sel, "server_cpu_us_per_req")
    if first is None:
        first = (lb, m, {d["round"]: d.get("server_cpu_us_per_req") for d in sel})
    rat = [d["server_cpu_us_per_req"] / first[2][d["round"]] for d in sel
           if d.get("server_cpu_us_per_req") and first[2].get(d["round"])]
    s = setup.get(lb, {})
    sp = [d for d in split if d["label"] == lb]
    print("| %s | %s | %s | %s | %d MB | %.3f | %.2f | %.2f | %.0f | %.2fx | %.2fx | %.3f |" % (
        lb, s.get("n", "?"), s.get("place", "?"), s.get("reqs", "?"), s.get("pmd_kb", 0) // 1024, m,
        med(sp, "user_us"), med(sp, "sys_us"), med(sel, "rps"),
        m / first[1], statistics.median(rat) if rat else float("nan"),
        max((d.get("server_runq_wait_fraction") or 0) for d in sel)))
bad = [d for d in runs if d.get("failed") or (d.get("errors") or {}).get("total") or d.get("rc")]
if bad:
    print("\nruns with errors or failures: %d" % len(bad))
PY
