#!/usr/bin/env bash
# soak.sh — the responder under full load for minutes (issue 12 item 5; not CI):
# ocspload mixes POST and GET (RFC 5019) over the whole duration, a second client
# sends bad requests (garbage DER, bad heads, unknown paths) and revokctl revokes
# a certificate every 2 s (serials outside ocspload's request set, so every
# answer ocspload checks stays right), while revokd-indexer runs. Every second
# one row goes to a CSV: responder RSS (kB), open fds, threads, ocspload
# requests/s, errors and wrong answers, latency p50/p99/max (us), bad requests
# sent and revocations done. A gnuplot PNG plots the series; flat lines are
# what the responder should show, anything else is a bug.
#
#   bench/soak.sh [-m MINUTES] [--build DIR] [--out DIR] [--backend io_uring|libev]
#
#   -m MINUTES   duration (default 10)
#   --build DIR  where the programs are (default build/)
#   --out DIR    where soak.csv, soak.png and the logs go (default bench/results/soak-DATE)
#
# ocspload runs in 1-second slices back to back (each a fresh closed-loop run
# with --json, 16 connections, half POST half GET over 2,000 distinct requests,
# every answer's status checked), which is what gives per-second latency and
# error counts; the reconnect at each slice boundary is part of the load. One
# second with full signature verification runs before and after. At the end it prints the
# first and last minute's medians and the RSS and fd drift. Needs gnuplot
# (gnuplot-nox), python3, openssl.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
MIN=10
BUILD=$SRC/build
OUT=
BACKEND=io_uring
while [ $# -gt 0 ]; do
    case $1 in
    -m) MIN=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --backend) BACKEND=$2; shift 2 ;;
    *) echo "usage: $0 [-m MINUTES] [--build DIR] [--out DIR] [--backend io_uring|libev]" >&2; exit 2 ;;
    esac
done
OUT=${OUT:-$SRC/bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
for p in revokd-indexer revokd-responder revokctl bench/ocspload; do
    [ -x "$BUILD/$p" ] || { echo "soak.sh: $BUILD/$p missing (build first)" >&2; exit 2; }
done
command -v gnuplot >/dev/null || { echo "soak.sh: gnuplot missing (apt-get install gnuplot-nox)" >&2; exit 2; }

W=$(mktemp -d "${TMPDIR:-/tmp}/revokd-soak.XXXXXX")
PIDS=()
# shellcheck disable=SC2317 # run by the trap
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$SRC/scripts/mkpki.sh" "$W/pki" --name soak --port "$PORT" --backend "$BACKEND" >"$OUT/mkpki.log" 2>&1
# 40,000 synthetic certificates: ocspload asks about the first 20,000, revokctl
# revokes valid ones from the rest.
mv "$W/pki/index.txt" "$W/pki/index.base"
python3 "$SRC/bench/synth-index.py" --n 40000 --base "$W/pki/index.base" --out "$W/pki/index.txt" \
    --revoked-fraction 0.05 >>"$OUT/mkpki.log"
head -n 20000 "$W/pki/index.txt" >"$W/asked.txt"
tail -n +20001 "$W/pki/index.txt" | awk -F'\t' '$1 == "V" { print $4 }' >"$W/to-revoke"
CONF=$W/pki/revokd.conf
"$BUILD/bench/ocspload" gen --issuer "$W/pki/ca.pem" --index "$W/asked.txt" --out "$W/reqs" \
    --n 2000 --unknown-fraction 0.05 >>"$OUT/mkpki.log" 2>&1

(cd "$W/pki" && "$BUILD/revokd-indexer" -c "$CONF" --once) >"$OUT/indexer-once.log" 2>&1
(cd "$W/pki" && exec "$BUILD/revokd-indexer" -c "$CONF") >"$OUT/indexer.log" 2>&1 &
PIDS+=($!)
(cd "$W/pki" && exec "$BUILD/revokd-responder" -c "$CONF") >"$OUT/responder.log" 2>&1 &
RPID=$!
PIDS+=("$RPID")
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.2
done

# bad requests: ~20/s of garbage DER, broken heads and unknown paths, each checked
# for an answer (a status or a close) by the client itself
python3 - "$PORT" "$W/bad.count" 2>"$OUT/bad.log" <<'EOF' &
import os, socket, sys, time
port = int(sys.argv[1])
bad = [b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/ocsp-request\r\nContent-Length: 5\r\n\r\n\x30\x03\x02\x01\x01",
       b"GET /MAo= HTTP/1.1\r\nHost: t\r\n\r\n", b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n",
       b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
       b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\n Host: t\r\n\r\n"]
n = 0
while True:
    for raw in bad:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
            s.close()
        except OSError as e:
            print("bad request:", e, file=sys.stderr, flush=True)
        n += 1
        with open(sys.argv[2], "w") as f:
            f.write("%d\n" % n)
    time.sleep(0.25)
EOF
PIDS+=($!)

# revocations: one every 2 s
(
    n=0
    while read -r serial; do
        if "$BUILD/revokctl" -c "$CONF" revoke --issuer soak --serial "$serial" \
            --reason superseded --by soak >>"$OUT/revokctl.log" 2>&1; then
            n=$((n + 1))
            echo $n >"$W/revoked.count"
        fi
        sleep 2
    done <"$W/to-revoke"
) &
PIDS+=($!)

verified() { # one verified second: every distinct answer's signature checked
    if "$BUILD/bench/ocspload" run -r "$W/reqs" -c 4 -t 1 -m mix --ca "$W/pki/chain.pem" \
        "127.0.0.1:$PORT" >>"$OUT/ocspload-verified.log" 2>&1; then
        echo "soak.sh: $1: every distinct answer verified"
    else
        echo "soak.sh: $1: verification FAILED, see $OUT/ocspload-verified.log"
        VERIFY_FAILED=1
    fi
}
VERIFY_FAILED=0
verified "before"
CSV=$OUT/soak.csv
echo "t,rss_kb,fds,threads,rps,errors,wrong,lat_p50_us,lat_p99_us,lat_max_us,bad_sent,revoked" >"$CSV"
end=$(($(date +%s) + MIN * 60))
t0=$(date +%s)
while [ "$(date +%s)" -lt "$end" ]; do
    # fast check only (status, serial, CertID of every answer); full signature
    # verification costs a second per slice, so it runs once before and after
    "$BUILD/bench/ocspload" run -r "$W/reqs" -c 16 -t 1 -m mix --get-fraction 0.5 \
        --no-verify --json "127.0.0.1:$PORT" \
        >"$W/slice.json" 2>>"$OUT/ocspload.log" || true
    kill -0 "$RPID" 2>/dev/null || { echo "soak.sh: the responder died" >&2; tail "$OUT/responder.log" >&2; exit 1; }
    python3 - "$W/slice.json" "$RPID" "$(($(date +%s) - t0))" "$W" >>"$CSV" <<'EOF'
import json, os, sys
j = json.load(open(sys.argv[1])) if os.path.getsize(sys.argv[1]) else {}
pid, w = sys.argv[2], sys.argv[4]
st = dict(l.split(":", 1) for l in open("/proc/%s/status" % pid) if ":" in l)
rd = lambda f: open(os.path.join(w, f)).read().split()[-1] if os.path.exists(os.path.join(w, f)) and open(os.path.join(w, f)).read().split() else "0"
lat = j.get("latency_ns", {})
err = j.get("errors", {})
print("%s,%s,%d,%s,%.0f,%d,%d,%.0f,%.0f,%.0f,%s,%s" % (
    sys.argv[3], st["VmRSS"].split()[0], len(os.listdir("/proc/%s/fd" % pid)), st["Threads"].strip(),
    j.get("rps", 0), err.get("total", -1), err.get("wrong_answer", 0) + err.get("verify_fail", 0),
    lat.get("p50", 0) / 1e3, lat.get("p99", 0) / 1e3, lat.get("max", 0) / 1e3,
    rd("bad.count"), rd("revoked.count")))
EOF
done

verified "after"
gnuplot <<EOF
set terminal pngcairo size 1200,900 noenhanced
set output "$OUT/soak.png"
set datafile separator ","
set key autotitle columnhead
set multiplot layout 3,1 title "revokd-responder soak ($BACKEND, $MIN min)"
set xlabel "s"
set ylabel "RSS kB / fds"
set y2label "fds"
set y2tics
plot "$CSV" using 1:2 with lines title "RSS kB", "" using 1:3 axes x1y2 with lines title "open fds"
set ylabel "requests/s"
set y2label "errors"
plot "$CSV" using 1:5 with lines title "requests/s", "" using 1:6 axes x1y2 with lines title "errors", "" using 1:7 axes x1y2 with lines title "wrong answers"
set ylabel "latency us"
unset y2label
unset y2tics
set logscale y
plot "$CSV" using 1:8 with lines title "p50", "" using 1:9 with lines title "p99"
unset multiplot
EOF

python3 - "$CSV" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
if len(rows) < 4:
    sys.exit("soak.sh: too few samples")
k = max(1, min(60, len(rows) // 4))
first, last = rows[:k], rows[-k:]
med = lambda rs, c: statistics.median(float(r[c]) for r in rs)
print("samples %d; first/last %d s medians:" % (len(rows), k))
for c in ("rss_kb", "fds", "rps", "lat_p50_us", "lat_p99_us"):
    print("  %-11s %10.0f -> %10.0f" % (c, med(first, c), med(last, c)))
print("  errors total %d, wrong answers %d, bad requests sent %s, revocations %s" % (
    sum(int(r["errors"]) for r in rows), sum(int(r["wrong"]) for r in rows),
    rows[-1]["bad_sent"], rows[-1]["revoked"]))
EOF
echo "soak.sh: $CSV and $OUT/soak.png"
exit $VERIFY_FAILED
