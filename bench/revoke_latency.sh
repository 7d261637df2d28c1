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
#   bench/revoke_latency.sh [-n N] [--modes inotify,poll,revokctl] [--build DIR]
#                           [--workdir DIR] [--out FILE] [--keep]
#
#   -n N          revocations per mode (default 100)
#   --modes LIST  comma-separated, default inotify,poll,revokctl
#   --build DIR   where revokd-indexer/-responder are (default build/, built if absent)
#   --workdir DIR scratch directory parent (default $TMPDIR or /tmp)
#   --out FILE    append one JSON object per mode (latencies in ms, and the summary)
#   --keep        keep the scratch directory (PKI, store, logs)
#
# The PKI is scripts/mkpki.sh's, plus N x modes leaves issued up front from one
# CSR, so the store is small (the issue's "small store" case). One responder
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
# whatever else runs. Nothing is pinned to a CPU.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=100
MODES=inotify,poll,revokctl
BUILD=$ROOT/build
WORKDIR=${TMPDIR:-/tmp}
OUTFILE=
KEEP=
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
    -h | --help) usage 0 ;;
    *) echo "revoke_latency: unknown argument $1" >&2; usage ;;
    esac
done
if ! [[ "$N" =~ ^[0-9]+$ ]] || [ "$N" -lt 1 ]; then
    echo "revoke_latency: -n must be >= 1" >&2
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
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/x.key" 2>/dev/null
openssl req -new -key "$W/x.key" -subj "/CN=latency" -out "$W/x.csr" -config /dev/null 2>/dev/null
mkdir -p "$W/certs"
log "issuing $TOTAL leaves"
for ((i = 0; i < TOTAL; i++)); do
    openssl ca -config "$P/openssl.cnf" -batch -notext -extensions leaf_ext -in "$W/x.csr" \
        -out "$W/certs/c$i.pem" >>"$W/issue.log" 2>&1 || die "openssl ca failed: $W/issue.log"
done

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
[log]
level = warn
[responder]
listen = 127.0.0.1:$PORT
[indexer]
interval = $interval
$extra
[issuer lat]
ca_cert     = $P/ca.pem
index       = $P/index.txt
signer_cert = $P/ocsp.pem
signer_key  = $P/ocsp.key
crl_key     = $P/ca.key
EOF
}

# The client: revoke each certificate, then poll until it is answered revoked.
cat >"$W/client.py" <<'EOF'
import json, random, subprocess, sys, time, http.client
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

POLL_SLEEP_S = 0.001
TIMEOUT_S = 10.0
mode, port, cnf, ca_pem, gap_s, out, rctl, rconf = sys.argv[1:9]
certs = sys.argv[9:]
gap_s = float(gap_s)
issuer = x509.load_pem_x509_certificate(open(ca_pem, "rb").read())
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)

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
    cert = x509.load_pem_x509_certificate(open(path, "rb").read())
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
               format(cert.serial_number, "X"), "--reason", "keyCompromise", "--by", "bench"]
    else:
        cmd = ["openssl", "ca", "-config", cnf, "-revoke", path, "-crl_reason", "keyCompromise"]
    c0 = time.perf_counter()
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
    for _ in $(seq 300); do [ -e "$W/store" ] && break; sleep 0.1; done
    sleep 1 # the first sync of a small store takes milliseconds
    if [ -z "$started_rsp" ]; then
        "$RSP" -c "$W/$mode.conf" >"$W/responder.log" 2>&1 &
        PIDS+=("$!")
        started_rsp=1
        for _ in $(seq 100); do
            "$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$PORT" 2>/dev/null && break
            sleep 0.1
        done
    fi
    certs=()
    for ((i = off; i < off + N; i++)); do certs+=("$W/certs/c$i.pem"); done
    off=$((off + N))
    log "mode $mode: $N revocations (indexer ${flags[*]:-with inotify}, interval $([ "$mode" = poll ] && echo 1s || echo 1h))"
    "$PY" "$W/client.py" "$mode" "$PORT" "$P/openssl.cnf" "$P/ca.pem" "$gap" "$RESULTS" \
        "$RCTL" "$W/$mode.conf" "${certs[@]}" || rc=1
    kill -TERM "$ipid"
    wait "$ipid" || log "indexer ($mode) exited $?"
done
[ -z "$OUTFILE" ] || cat "$RESULTS" >>"$OUTFILE"
"$PY" - "$RESULTS" <<'EOF'
import json, sys
print("\nrevocation -> answered 'revoked' (ms; from openssl ca -revoke / revokctl revoke returning)")
print(f"{'mode':<9} {'n':>4} {'p50':>8} {'p99':>8} {'max':>8} {'mean':>8} {'resolution':>11} "
      f"{'cmd_p50':>8} {'cmd_p99':>8}")
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"{r['mode']:<9} {r['n']:>4} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['max_ms']:>8} "
          f"{r['mean_ms']:>8} {r['resolution_ms']:>11} {r['cmd_p50_ms']:>8} {r['cmd_p99_ms']:>8}"
          + (f"  ({r['failed']} failed)" if r['failed'] else ""))
EOF
exit "$rc"
