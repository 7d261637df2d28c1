#!/usr/bin/env bash
# crl_scale.sh — revokd-crlgen's full and delta CRLs at scale, beside
# `openssl ca -gencrl` on the same index.txt in the same run (issue 9).
#
#   bench/crl_scale.sh [--sizes 10000,100000,1000000] [--build DIR] [--workdir DIR]
#                      [--out FILE] [--latency N] [--keep]
#
#   --sizes LIST   revoked entries per case (default 10000,100000,1000000)
#   --build DIR    where the revokd programs are (default build/, built if absent)
#   --workdir DIR  scratch parent (default $TMPDIR or /tmp)
#   --out FILE     append one JSON object per size
#   --latency N    also time N revocations from `openssl ca -revoke` to a
#                  published delta that lists them (p50/p99), default 20; 0: skip
#   --keep         keep the scratch directory
#
# Per size S: scripts/mkpki.sh makes a PKI; bench/synth-index.py writes an
# index.txt of S revoked certificates (plus the PKI's own lines) and 1000 valid
# ones; revokd-indexer --once loads it (not timed: it pre-signs OCSP responses).
# Then, each measured in its own process, with wall time, user+sys CPU from
# wait4() and peak memory sampled every 2 ms from /proc/PID/status:
#   openssl  `openssl ca -gencrl` on that index.txt (peak RSS: all of it is
#            anonymous memory, OpenSSL reads the file into a table);
#   full     `revokd-crlgen --once` with delta = no, one issuer: build_ms is the
#            time its log line gives for walking the store, encoding and signing
#            (the CRL's own cost), total_ms adds the store commit and the file
#            fsyncs (disk-bound); peak_kb is the exact peak private memory
#            (anonymous pages; the store's map is file pages and is not
#            counted) from a second run under bench/peakanon.c;
#   delta    the 1000 valid lines revoked in index.txt, revokd-indexer --once
#            (their change records reach the log), then `revokd-crlgen --once
#            --delta-only`: the delta's time from its log line and the process.
# The JSON and a table go to stdout. Numbers taken on a busy machine are noisy:
# prefer the CPU columns, and re-run on a quiet one.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
SIZES=10000,100000,1000000
BUILD=$SRC/build
WORK=${TMPDIR:-/tmp}
OUT=
LAT=20
KEEP=
while [ $# -gt 0 ]; do
    case "$1" in
    --sizes) SIZES=$2; shift 2 ;;
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --latency) LAT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
export OPENSSL_CONF=/dev/null
if [ ! -x "$BUILD/revokd-crlgen" ]; then
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREVOKD_TESTS=OFF >/dev/null
    cmake --build "$BUILD" -j2 >/dev/null
fi
D=$(mktemp -d "$WORK/crl-scale.XXXXXX")
cleanup() { [ -n "$KEEP" ] && echo "kept $D" >&2 || rm -rf "$D"; }
trap cleanup EXIT

# peak CMD...: CMD's exact peak private memory in kB (bench/peakanon.c), from a
# run of its own (the ptrace stops inflate its wall time). The 2 ms samples of
# measure() miss a peak that lasts less than that: at 10,000 entries they read
# 1.16 MB where the peak was 1.84 MB (before the 64 KiB fill chunk).
peak() {
    "$PEAKANON" "$D/peak.out" "$@" >>"$MLOG" 2>&1
    cut -d' ' -f1 "$D/peak.out"
}

# measure NAME CMD...: runs CMD, prints "wall_s cpu_s peak_rss_kb peak_anon_kb exit".
measure() {
    python3 - "$@" <<'PYEOF'
import os, sys, time, subprocess
cmd = sys.argv[2:]
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=open(os.environ["MLOG"], "ab"), stderr=subprocess.STDOUT)
peak_rss = peak_anon = 0
def sample():
    global peak_rss, peak_anon
    try:
        for line in open("/proc/%d/status" % p.pid):
            if line.startswith("VmRSS:"):
                peak_rss = max(peak_rss, int(line.split()[1]))
            elif line.startswith("RssAnon:"):
                peak_anon = max(peak_anon, int(line.split()[1]))
    except OSError:
        pass
while True:
    pid, status, ru = os.wait4(p.pid, os.WNOHANG)
    if pid:
        break
    sample()
    time.sleep(0.002)
wall = time.monotonic() - t0
# VmHWM is gone with the process; ru_maxrss is the kernel's own peak RSS.
peak_rss = max(peak_rss, ru.ru_maxrss)
print("%.3f %.3f %d %d %d" % (wall, ru.ru_utime + ru.ru_stime, peak_rss, peak_anon, os.waitstatus_to_exitcode(status)))
PYEOF
}

PEAKANON=$D/peakanon
cc -O2 -D_GNU_SOURCE -o "$PEAKANON" "$HERE/peakanon.c"

IFS=, read -r -a sizes <<<"$SIZES"
printf '%-9s %-8s %9s %9s %10s %10s %10s %10s\n' size what wall_s cpu_s build_ms total_ms peak_kb crl_kb
for S in "${sizes[@]}"; do
    C=$D/$S
    mkdir -p "$C"
    "$SRC/scripts/mkpki.sh" "$C/pki" --name sc --port 18999 >"$C/mkpki.log" 2>&1
    P=$C/pki
    # S revoked + 1000 valid synthetic lines after the PKI's own.
    base_n=$(wc -l <"$P/index.txt")
    python3 "$HERE/synth-index.py" --n $((S + base_n)) --out "$C/rev.txt" --base "$P/index.txt" --revoked-fraction 1.0 >/dev/null
    python3 "$HERE/synth-index.py" --n 1000 --out "$C/valid.txt" --revoked-fraction 0 --seed 7 >/dev/null
    # Serials of the second file must not collide with the first (16 hex digits): 7F + 16.
    awk -F'\t' -v OFS='\t' '{ $4 = "7F" $4; print }' "$C/valid.txt" >>"$C/rev.txt"
    cp "$C/rev.txt" "$P/index.txt"
    # One issuer (the root's CRL aside), full CRLs only for the first measurement.
    CONF=$P/bench.conf
    awk '/^\[issuer sc-root\]/ { skip = 1 } /^\[issuer sc\]/ { skip = 0 } !skip' "$P/revokd.conf" >"$CONF"
    sed -i 's/^\[crlgen\]/[crlgen]\ndelta = no/' "$CONF"
    sed -i 's/^\[store\]/[store]\nmap_size = 32G/' "$CONF"
    # The untimed load signs two OCSP responses per certificate: with the CA's EC
    # key rather than mkpki's RSA delegated signer (about 20 times faster to sign
    # with; the CRLs are signed by crl_key either way).
    sed -i 's/^signer_cert *= *ocsp.pem$/signer_cert = ca.pem/; s/^signer_key *= *ocsp.key$/signer_key = ca.key/' "$CONF"
    export MLOG=$C/run.log
    (cd "$P" && "$BUILD/revokd-indexer" -c "$CONF" --once) >>"$MLOG" 2>&1

    # openssl ca -gencrl, same index.txt.
    read -r ow oc orss oanon orc < <(cd "$P" && measure openssl openssl ca -config openssl.cnf -gencrl -out "$C/openssl.crl")
    okb=$(( $(stat -c %s "$C/openssl.crl") / 1024 ))
    printf '%-9s %-8s %9s %9s %10s %10s %10s %10s\n' "$S" openssl "$ow" "$oc" - - "$orss" "$okb"

    # revokd-crlgen full.
    read -r fw fc frss fanon frc < <(cd "$P" && measure full "$BUILD/revokd-crlgen" -c "$CONF" --once)
    fline=$(grep 'issuer sc: CRL [0-9]*, ' "$MLOG" | tail -1)
    fms=$(echo "$fline" | sed -n 's/.*, \([0-9.]*\) ms (build and sign \([0-9.]*\) ms)$/\2/p')
    ftot=$(echo "$fline" | sed -n 's/.*, \([0-9.]*\) ms (build and sign .*/\1/p')
    fkb=$(( $(stat -c %s "$P/crl/sc.crl") / 1024 ))
    fpeak=$(cd "$P" && peak "$BUILD/revokd-crlgen" -c "$CONF" --once)
    printf '%-9s %-8s %9s %9s %10s %10s %10s %10s   (exact peak private; RssAnon sampled %s, RSS %s)\n' "$S" full "$fw" "$fc" "$fms" "$ftot" "$fpeak" "$fkb" "$fanon" "$frss"

    # delta after 1000 new revocations (deltas on from here).
    sed -i 's/^delta = no/delta = yes\ndelta_debounce = 1s/' "$CONF"
    awk -F'\t' -v OFS='\t' -v now="$(date -u +%y%m%d%H%M%SZ)" '$1 == "V" && length($4) == 18 && substr($4, 1, 2) == "7F" { $1 = "R"; $3 = now ",keyCompromise" } { print }' \
        "$P/index.txt" >"$C/idx.new" && cat "$C/idx.new" >"$P/index.txt"
    (cd "$P" && "$BUILD/revokd-indexer" -c "$CONF" --once) >>"$MLOG" 2>&1
    read -r dw dc drss danon drc < <(cd "$P" && measure delta "$BUILD/revokd-crlgen" -c "$CONF" --once --delta-only)
    dline=$(grep 'issuer sc: delta CRL' "$MLOG" | tail -1)
    dms=$(echo "$dline" | sed -n 's/.*, \([0-9.]*\) ms (build and sign \([0-9.]*\) ms)$/\2/p')
    dtot=$(echo "$dline" | sed -n 's/.*, \([0-9.]*\) ms (build and sign .*/\1/p')
    dn=$(echo "$dline" | sed 's/.*, \([0-9]*\) entries.*/\1/')
    dkb=$(( $(stat -c %s "$P/crl/delta/sc.crl") / 1024 ))
    dpeak=$(cd "$P" && peak "$BUILD/revokd-crlgen" -c "$CONF" --once --delta-only)
    printf '%-9s %-8s %9s %9s %10s %10s %10s %10s   (%s entries; RssAnon sampled %s)\n' "$S" delta "$dw" "$dc" "$dms" "$dtot" "$dpeak" "$dkb" "$dn" "$danon"
    if [ -n "$OUT" ]; then
        printf '{"size":%s,"openssl":{"wall_s":%s,"cpu_s":%s,"peak_rss_kb":%s,"crl_bytes":%s,"exit":%s},"full":{"wall_s":%s,"cpu_s":%s,"build_ms":%s,"total_ms":%s,"peak_anon_kb":%s,"sampled_rss_anon_kb":%s,"peak_rss_kb":%s,"crl_bytes":%s,"exit":%s},"delta":{"wall_s":%s,"cpu_s":%s,"build_ms":%s,"total_ms":%s,"entries":%s,"peak_anon_kb":%s,"sampled_rss_anon_kb":%s,"exit":%s}}\n' \
            "$S" "$ow" "$oc" "$orss" "$(stat -c %s "$C/openssl.crl")" "$orc" "$fw" "$fc" "${fms:-null}" "${ftot:-null}" "$fpeak" "$fanon" "$frss" "$(stat -c %s "$P/crl/sc.crl")" "$frc" \
            "$dw" "$dc" "${dms:-null}" "${dtot:-null}" "${dn:-null}" "$dpeak" "$danon" "$drc" >>"$OUT"
    fi
    [ -n "$KEEP" ] || rm -rf "$C/store" "$P/store"
done

# Revocation -> published delta, with the programs as shipped (inotify indexer,
# crlgen's loop, default delta_debounce 5 s), on the last size's PKI.
if [ "$LAT" -gt 0 ]; then
    L=$D/lat
    "$SRC/scripts/mkpki.sh" "$L/pki" --name la --port 18998 >"$L.mkpki.log" 2>&1
    P=$L/pki
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$L/x.key" 2>/dev/null
    openssl req -new -key "$L/x.key" -subj /CN=lat -out "$L/x.csr" -config /dev/null 2>/dev/null
    for ((i = 1; i <= LAT; i++)); do
        openssl ca -config "$P/openssl.cnf" -batch -notext -in "$L/x.csr" -out "$L/c$i.pem" >>"$L/issue.log" 2>&1
    done
    (cd "$P" && "$BUILD/revokd-indexer" -c revokd.conf --once) >"$L/idx0.log" 2>&1
    (cd "$P" && exec "$BUILD/revokd-indexer" -c revokd.conf) >"$L/indexer.log" 2>&1 &
    ipid=$!
    (cd "$P" && exec "$BUILD/revokd-crlgen" -c revokd.conf) >"$L/crlgen.log" 2>&1 &
    cpid=$!
    sleep 2
    lat=()
    for ((i = 1; i <= LAT; i++)); do
        s=$(openssl x509 -in "$L/c$i.pem" -noout -serial | sed 's/serial=//')
        t0=$EPOCHREALTIME
        openssl ca -config "$P/openssl.cnf" -revoke "$L/c$i.pem" >>"$L/revoke.log" 2>&1
        until openssl crl -inform DER -in "$P/crl/delta/la.crl" -noout -text 2>/dev/null | grep -q "Serial Number: $s\$"; do
            sleep 0.01
        done
        lat+=("$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')")
        sleep "0.$((RANDOM % 10))"
    done
    kill "$ipid" "$cpid"
    wait "$ipid" "$cpid" 2>/dev/null || true
    sorted=$(printf '%s\n' "${lat[@]}" | sort -n)
    # nearest rank: the ceil(p * n)-th smallest
    p50=$(echo "$sorted" | awk -v n="$LAT" 'NR == int((n * 50 + 99) / 100)')
    p99=$(echo "$sorted" | awk -v n="$LAT" 'NR == int((n * 99 + 99) / 100)')
    echo "revoke -> delta published (ms, $LAT revocations, debounce 5 s): p50 $p50, p99 $p99, max $(echo "$sorted" | tail -1)"
    [ -z "$OUT" ] || printf '{"revoke_to_delta_ms":{"n":%s,"p50":%s,"p99":%s,"all":[%s]}}\n' "$LAT" "$p50" "$p99" "$(IFS=,; echo "${lat[*]}")" >>"$OUT"
fi
