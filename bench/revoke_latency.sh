#!/usr/bin/env bash
# revoke_latency.sh — how long a revocation takes to reach OCSP clients: from
# the revoking command returning (`openssl ca -revoke`: index.txt rewritten;
# `revokctl revoke`: store committed) to revokd-responder answering `revoked` for
# that certificate, over N revocations, per mode:
#
#   inotify   revokd-indexer as shipped, with [indexer] interval = 1h so the
#             periodic check cannot be what picks a change up
#   poll      revokd-indexer --no-inotify with interval = 1s: the pre-inotify
#             behaviour (a stat() per issuer per second)
#   revokctl  `revokctl revoke` (the operator's command writes the store and both
#             responses itself) while revokd-indexer runs as in inotify mode; also
#             reports how long the command itself takes (cmd_p50/p99: config, key
#             load, one write transaction with two signatures, two fsync'd audit
#             lines), and how many revocations the very first query after the
#             command returned already saw (first_query_revoked; should be all)
#
#   bench/revoke_latency.sh [-n N] [--modes inotify,poll,revokctl] [--size S]
#                           [--build DIR] [--workdir DIR] [--out FILE] [--keep]
#
#   -n N          revocations per mode (default 100)
#   --size S      a store of S certificates (e.g. 1000000) instead of the small one:
#                 index.txt is bench/synth-index.py's (the PKI's own lines first),
#                 imported once with `revokd-indexer --once` (timed) before the
#                 modes run, and the revoked certificates are synthetic V lines, so
#                 in inotify/poll mode the revocation is the same file operations
#                 `openssl ca -revoke` does (the whole database written to
#                 index.txt.new, index.txt renamed to index.txt.old, index.txt.new
#                 to index.txt; `openssl ca` itself needs the certificate file and
#                 takes seconds to load 1M lines), done by the client in Python;
#                 the delegated signer is EC P-256 (mkpki's RSA 2048 one would
#                 spend ~10 CPU-minutes on the 2M signatures of the import)
#   --modes LIST  comma-separated, default inotify,poll,revokctl
#   --build DIR   where revokd-indexer/-responder are (default build/, built if absent)
#   --workdir DIR scratch directory parent (default $TMPDIR or /tmp)
#   --out FILE    append one JSON object per mode (latencies in ms, and the summary)
#   --keep        keep the scratch directory (PKI, store, logs)
#
# The PKI is scripts/mkpki.sh's, plus N x modes leaves issued up front from one
# CSR, so the store is small (the issue's "small store" case), unless --size. One responder
# serves throughout; one indexer per mode. The client is a Python loop
# (python3-cryptography) that POSTs a prepared OCSP request over one keep-alive
# connection, parses the answer, and sleeps POLL_SLEEP_S (1 ms) between requests:
# the resolution of each sample is one request round trip plus that sleep
# (printed as "resolution"). Before each revocation it waits a random time (up to
# the indexer's polling period in poll mode, up to 50 ms with inotify) so the
# revocations do not fall in step with the indexer's timer, and checks the
# certificate is still answered good. Latencies are nearest-rank percentiles.
#
# Indicative on a shared machine: the numbers include the scheduling delays of
# whatever else runs. Nothing is pinned to a CPU. Per mode it also reports the
# indexer's CPU time (utime + stime from /proc, all threads) over the run divided
# by the revocations (idx_cpu_ms_per_rev): what one revocation costs the indexer.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=100
MODES=inotify,poll,revokctl
BUILD=$ROOT/build
WORKDIR=${TMPDIR:-/tmp}
OUTFILE=
KEEP=
SIZE=0
usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit "${1:-2}"
}
while [ $# -gt 0 ]; do
    case "$1" in
    -n) N=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --workdir) WORKDIR=$2; shift 2 ;;
    --out) OUTFILE=$(realpath -m "$2"); shift 2 ;;
    --keep) KEEP=1; shift ;;
    --size) SIZE=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "revoke_latency: unknown argument $1" >&2; usage ;;
    esac
done
if ! [[ "$N" =~ ^[0-9]+$ ]] || [ "$N" -lt 1 ]; then
    echo "revoke_latency: -n must be >= 1" >&2
    exit 2
fi
if ! [[ "$SIZE" =~ ^[0-9]+$ ]]; then
    echo "revoke_latency: --size must be a number" >&2
    exit 2
fi
PY=/usr/bin/python3 # Debian's, with python3-cryptography
export OPENSSL_CONF=/dev/null

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ ! -x "$BUILD/revokd-indexer" ] || [ ! -x "$BUILD/revokd-responder" ] || [ ! -x "$BUILD/revokctl" ]; then
    log "building revokd in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j2 --target revokd-indexer revokd-responder revokctl >/dev/null
fi
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
RCTL=$BUILD/revokctl

W=$(mktemp -d "$WORKDIR/revoke-latency.XXXXXX")
PIDS=()
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "$KEEP" ]; then log "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
P=$W/pki
log "PKI in $P (port $PORT)"
"$ROOT/scripts/mkpki.sh" "$P" --name lat --port "$PORT" >"$W/mkpki.log" 2>&1 || die "mkpki.sh failed: $W/mkpki.log"
IFS=, read -r -a MODE_LIST <<<"$MODES"
TOTAL=$((N * ${#MODE_LIST[@]}))
TARGETS=()
SIGNER_CERT=$P/ocsp.pem SIGNER_KEY=$P/ocsp.key
if [ "$SIZE" -gt 0 ]; then
    [ "$SIZE" -gt "$((TOTAL + 100))" ] || die "--size must exceed -n x modes + 100"
    # mkpki's delegated signer is RSA 2048: 2M signatures would take ~10 CPU-minutes.
    # The import gets an EC P-256 one, as bench/indexer_scale.sh uses.
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/ocsp-ec.key" 2>/dev/null
    openssl req -new -key "$W/ocsp-ec.key" -subj "/CN=latency OCSP EC" -out "$W/ocsp-ec.csr" \
        -config /dev/null 2>/dev/null
    openssl ca -config "$P/openssl.cnf" -batch -notext -extensions ocsp_ext -in "$W/ocsp-ec.csr" \
        -out "$W/ocsp-ec.pem" >>"$W/issue.log" 2>&1 || die "openssl ca failed: $W/issue.log"
    SIGNER_CERT=$W/ocsp-ec.pem SIGNER_KEY=$W/ocsp-ec.key
    log "synthetic index.txt of $SIZE certificates"
    "$PY" "$ROOT/bench/synth-index.py" --n "$SIZE" --base "$P/index.txt" --out "$W/index.big" >/dev/null
    mv "$W/index.big" "$P/index.txt"
    # TOTAL good synthetic serials spread over the file (not the PKI's own lines)
    mapfile -t TARGETS < <(awk -F'\t' -v n="$TOTAL" -v s="$SIZE" \
        'NR > 100 && $1 == "V" && NR % int(s / (n + 10)) == 0 && c < n { print "serial:" $4; c++ }' "$P/index.txt")
    [ "${#TARGETS[@]}" -eq "$TOTAL" ] || die "found ${#TARGETS[@]} of $TOTAL good serials"
else
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/x.key" 2>/dev/null
    openssl req -new -key "$W/x.key" -subj "/CN=latency" -out "$W/x.csr" -config /dev/null 2>/dev/null
    mkdir -p "$W/certs"
    log "issuing $TOTAL leaves"
    for ((i = 0; i < TOTAL; i++)); do
        openssl ca -config "$P/openssl.cnf" -batch -notext -extensions leaf_ext -in "$W/x.csr" \
            -out "$W/certs/c$i.pem" >>"$W/issue.log" 2>&1 || die "openssl ca failed: $W/issue.log"
        TARGETS+=("$W/certs/c$i.pem")
    done
fi

# conf MODE: the revokd config of that mode
conf() {
    local interval=1s extra=""
    if [ "$1" = inotify ] || [ "$1" = revokctl ]; then
        interval=1h
        extra=$'validity = 4d\nrefresh = 2h'
    fi
    cat <<EOF
[store]
path = $W/store
$([ "$SIZE" -gt 0 ] && echo "map_size = 16G")
[log]
level = info
[responder]
listen = 127.0.0.1:$PORT
[indexer]
interval = $interval
$extra
[issuer lat]
ca_cert     = $P/ca.pem
index       = $P/index.txt
signer_cert = $SIGNER_CERT
signer_key  = $SIGNER_KEY
crl_key     = $P/ca.key
EOF
}

# The client: revoke each certificate, then poll until it is answered revoked.
cat >"$W/client.py" <<'EOF'
import json, os, random, subprocess, sys, time, http.client
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

POLL_SLEEP_S = 0.001
TIMEOUT_S = 10.0
mode, port, cnf, ca_pem, gap_s, out, rctl, rconf, index = sys.argv[1:10]
certs = sys.argv[10:]
gap_s = float(gap_s)
issuer = x509.load_pem_x509_certificate(open(ca_pem, "rb").read())
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
# For synthetic serials (--size): the CertID by hash, and index.txt in memory.
name_sha1 = hashes.Hash(hashes.SHA1())
name_sha1.update(issuer.subject.public_bytes())
name_sha1 = name_sha1.finalize()
key_sha1 = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest
lines, line_of = None, {}
if any(c.startswith("serial:") for c in certs) and mode != "revokctl":
    lines = open(index, encoding="ascii").read().split("\n")
    for i, ln in enumerate(lines):
        f = ln.split("\t")
        if len(f) == 6:
            line_of[f[3].upper()] = i

def tlv(tag, body):
    n = len(body)
    ln = bytes([n]) if n < 128 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + ln + body

def request_by_hash(serial):
    # OCSPRequest { tbsRequest { requestList { Request { CertID (SHA-1) } } } }
    alg = tlv(0x30, tlv(0x06, bytes.fromhex("2b0e03021a")) + b"\x05\x00")
    ser = tlv(0x02, serial.to_bytes(serial.bit_length() // 8 + 1, "big"))
    certid = tlv(0x30, alg + tlv(0x04, name_sha1) + tlv(0x04, key_sha1) + ser)
    return tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, certid))))

def rewrite_index(serial_hex):
    """What `openssl ca -revoke` does to the database: the line becomes R with
    the revocation time and reason, the whole file is written to index.txt.new,
    then index.txt -> index.txt.old and index.txt.new -> index.txt (rotate_index)."""
    i = line_of[serial_hex]
    f = lines[i].split("\t")
    f[0] = "R"
    f[2] = time.strftime("%y%m%d%H%M%SZ", time.gmtime()) + ",keyCompromise"
    lines[i] = "\t".join(f)
    with open(index + ".new", "w", encoding="ascii") as o:
        o.write("\n".join(lines))
    os.rename(index, index + ".old")
    os.rename(index + ".new", index)

def status(req):
    conn.request("POST", "/", body=req, headers={"Content-Type": "application/ocsp-request"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        return "http-%d" % r.status
    o = ocsp.load_der_ocsp_response(body)
    if o.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return o.response_status.name
    return o.certificate_status.name

lat, rtts, cmd_ms, failed, first = [], [], [], 0, 0
for path in certs:
    if path.startswith("serial:"):
        serial_hex = path[7:].upper()
        serial = int(serial_hex, 16)
        req = request_by_hash(serial)
    else:
        cert = x509.load_pem_x509_certificate(open(path, "rb").read())
        serial = cert.serial_number
        req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build() \
            .public_bytes(serialization.Encoding.DER)
    time.sleep(random.uniform(0, gap_s))
    st = status(req)
    if st != "GOOD":
        print(f"{path}: answered {st} before its revocation", file=sys.stderr)
        failed += 1
        continue
    if mode == "revokctl":
        cmd = [rctl, "-c", rconf, "revoke", "--issuer", "lat", "--serial",
               format(serial, "X"), "--reason", "keyCompromise", "--by", "bench"]
    elif path.startswith("serial:"):
        cmd = None
    else:
        cmd = ["openssl", "ca", "-config", cnf, "-revoke", path, "-crl_reason", "keyCompromise"]
    c0 = time.perf_counter()
    if cmd is None:
        rewrite_index(serial_hex)
    else:
        subprocess.run(cmd, check=True, capture_output=True)
    t0 = time.perf_counter()
    cmd_ms.append((t0 - c0) * 1e3)
    tries = 0
    while True:
        tries += 1
        a = time.perf_counter()
        st = status(req)
        b = time.perf_counter()
        rtts.append(b - a)
        if st == "REVOKED":
            lat.append((b - t0) * 1e3)
            first += tries == 1
            break
        if b - t0 > TIMEOUT_S:
            print(f"{path}: not revoked after {TIMEOUT_S} s (last answer {st})", file=sys.stderr)
            failed += 1
            break
        time.sleep(POLL_SLEEP_S)

def pct(v, q):
    s = sorted(v)
    return s[max(0, -(-len(s) * q // 100) - 1)] if s else float("nan")

rtts.sort()
res = {"mode": mode, "n": len(lat), "failed": failed,
       "p50_ms": round(pct(lat, 50), 1), "p99_ms": round(pct(lat, 99), 1),
       "max_ms": round(max(lat), 1) if lat else None,
       "mean_ms": round(sum(lat) / len(lat), 1) if lat else None,
       "resolution_ms": round(rtts[len(rtts) // 2] * 1e3 + POLL_SLEEP_S * 1e3, 2) if rtts else None,
       "cmd_p50_ms": round(pct(cmd_ms, 50), 1), "cmd_p99_ms": round(pct(cmd_ms, 99), 1),
       "first_query_revoked": first,
       "latencies_ms": [round(x, 2) for x in lat]}
if out:
    with open(out, "a") as f:
        f.write(json.dumps(res) + "\n")
summary = {k: v for k, v in res.items() if k != "latencies_ms"}
print(json.dumps(summary))
sys.exit(1 if failed else 0)
EOF

RESULTS=$W/results.jsonl
: >"$RESULTS"
# cpu_ticks PID: utime + stime of all its threads, in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
IMPORT_S=null
if [ "$SIZE" -gt 0 ]; then
    conf inotify >"$W/import.conf"
    log "importing $SIZE certificates (revokd-indexer --once)"
    t0=$EPOCHREALTIME
    "$IDX" -c "$W/import.conf" --once >"$W/import.log" 2>&1 || die "import failed: $W/import.log"
    IMPORT_S=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    log "imported in $IMPORT_S s"
fi
off=0
started_rsp=
rc=0
for mode in "${MODE_LIST[@]}"; do
    case "$mode" in
    inotify | revokctl) flags=(); gap=0.05 ;;
    poll) flags=(--no-inotify); gap=1.0 ;;
    *) die "unknown mode $mode (inotify, poll, revokctl)" ;;
    esac
    conf "$mode" >"$W/$mode.conf"
    "$IDX" -c "$W/$mode.conf" --check >/dev/null || die "config of mode $mode refused"
    "$IDX" -c "$W/$mode.conf" "${flags[@]}" >"$W/indexer-$mode.log" 2>&1 &
    ipid=$!
    PIDS+=("$ipid")
    # until its first pass (an unchanged re-sync; 1M lines take about a second) is done
    for _ in $(seq 600); do grep -q 'synced' "$W/indexer-$mode.log" 2>/dev/null && break; sleep 0.1; done
    grep -q 'synced' "$W/indexer-$mode.log" || die "indexer ($mode) did not sync: $W/indexer-$mode.log"
    sleep 0.5
    if [ -z "$started_rsp" ]; then
        "$RSP" -c "$W/$mode.conf" >"$W/responder.log" 2>&1 &
        PIDS+=("$!")
        started_rsp=1
        for _ in $(seq 100); do
            "$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$PORT" 2>/dev/null && break
            sleep 0.1
        done
    fi
    certs=("${TARGETS[@]:off:N}")
    off=$((off + N))
    c0=$(cpu_ticks "$ipid")
    log "mode $mode: $N revocations (indexer ${flags[*]:-with inotify}, interval $([ "$mode" = poll ] && echo 1s || echo 1h))"
    "$PY" "$W/client.py" "$mode" "$PORT" "$P/openssl.cnf" "$P/ca.pem" "$gap" "$RESULTS" \
        "$RCTL" "$W/$mode.conf" "$P/index.txt" "${certs[@]}" || rc=1
    sleep 1 # a pass still running after the last answer counts too
    c1=$(cpu_ticks "$ipid")
    "$PY" - "$RESULTS" "$(((c1 - c0) * 1000 / TCK))" "$N" "$SIZE" "$IMPORT_S" <<'EOF'
import json, sys
path, cpu_ms, n, size, imp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rows = [json.loads(l) for l in open(path)]
rows and rows[-1].update(idx_cpu_ms=cpu_ms, idx_cpu_ms_per_rev=round(cpu_ms / n, 1),
                store_size=size or None, import_s=None if imp == "null" else float(imp))
open(path, "w").write("".join(json.dumps(r) + "\n" for r in rows))
EOF
    kill -TERM "$ipid"
    wait "$ipid" || log "indexer ($mode) exited $?"
done
[ -z "$OUTFILE" ] || cat "$RESULTS" >>"$OUTFILE"
"$PY" - "$RESULTS" <<'EOF'
import json, sys
print("\nrevocation -> answered 'revoked' (ms; from openssl ca -revoke / revokctl revoke returning)")
print(f"{'mode':<9} {'n':>4} {'p50':>8} {'p99':>8} {'max':>8} {'mean':>8} {'resolution':>11} "
      f"{'cmd_p50':>8} {'cmd_p99':>8} {'idx_cpu/rev':>11}")
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"{r['mode']:<9} {r['n']:>4} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['max_ms']:>8} "
          f"{r['mean_ms']:>8} {r['resolution_ms']:>11} {r['cmd_p50_ms']:>8} {r['cmd_p99_ms']:>8} "
          f"{r.get('idx_cpu_ms_per_rev', '-'):>11}"
          + (f"  ({r['failed']} failed)" if r['failed'] else ""))
EOF
exit "$rc"
