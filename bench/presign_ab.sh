#!/usr/bin/env bash
# presign_ab.sh — pre-signing cost of two revokd-indexer builds against
# `openssl speed`, interleaved so that whatever else runs on the machine hits all
# three alike (issue 8: signing >= 90% of openssl speed per core).
#
#   bench/presign_ab.sh [--n N] [--rounds R] [--key ec|rsa] [--threads T] [--no-wall] OLD NEW
#
#   OLD, NEW    revokd-indexer binaries (e.g. one built from main, one from a branch)
#   --n N       certificates in the synthetic index.txt (default 100000)
#   --rounds R  rounds of (OLD import, NEW import, openssl speed) (default 3)
#   --key K     delegated signer key: ec (P-256, default) or rsa (2048)
#   --threads T [indexer] sign_threads (default 0: one per CPU)
#   --no-wall   skip `openssl speed -multi` (the wall-clock comparison)
#
# Each import is a fresh store (`revokd-indexer --once`: status, 2 signed responses
# per certificate, durable commit) under GNU time. Printed per run: responses signed
# per CPU-second of the indexer, counting user+sys and user time only, beside
# `openssl speed -seconds 3` on one core in the same round (which divides by its
# user time). The ratio to compare is user+sys; user-only shows how much of the
# gap is the kernel (the store's writes, scheduling). Wall: responses signed per
# second of the import's wall time beside `openssl speed -multi C` (C = the
# signing threads), meaningful on a quiet machine only. The last lines are the
# means over the rounds.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
N=100000 ROUNDS=3 KEY=ec THREADS=0 WALL=1
while [ $# -gt 2 ]; do
    case $1 in
    --n) N=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --key) KEY=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --no-wall) WALL=0 ;;
    -h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ $# -eq 2 ] || { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
OLD=$(realpath "$1") NEW=$(realpath "$2")
export OPENSSL_CONF=/dev/null
W=$(mktemp -d "${TMPDIR:-/tmp}/presign-ab.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -subj "/CN=ab CA" -days 3650 -out ca.pem \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
if [ "$KEY" = rsa ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out s.key 2>/dev/null
    ALG=rsa2048
else
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out s.key 2>/dev/null
    ALG=ecdsap256
fi
printf 'extendedKeyUsage=OCSPSigning\nkeyUsage=critical,digitalSignature\nnoCheck=ignored\n' >s.ext
openssl req -new -key s.key -subj "/CN=ab OCSP" -out s.csr 2>/dev/null
openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -set_serial 4242 -days 365 -extfile s.ext \
    -out s.pem 2>/dev/null
python3 "$BENCH/synth-index.py" --n "$N" --out index.txt >/dev/null
cat >revokd.conf <<C
[store]
path = $W/store
map_size = 16G
[log]
level = info
[indexer]
sign_threads = $THREADS
[issuer ab]
ca_cert     = $W/ca.pem
index       = $W/index.txt
signer_cert = $W/s.pem
signer_key  = $W/s.key
digest      = sha256
C
# openssl speed's sign/s for ALG: its own figure, per user-second on one core, or
# summed over the -multi children
speed_sign() {
    awk -v alg="$ALG" '
        alg ~ /ecdsa/ && /256 bits ecdsa/ { print $(NF-1); exit }
        alg ~ /rsa/ && /^rsa 2048 bits/ { print $(NF-1); exit }'
}
speed1() { openssl speed -seconds 3 "$ALG" 2>/dev/null | speed_sign; }
CORES=$THREADS
[ "$CORES" -gt 0 ] || CORES=$(nproc)
speedm() { openssl speed -multi "$CORES" -seconds 3 "$ALG" 2>/dev/null | speed_sign; }
imp() { # BIN LABEL
    rm -rf store
    /usr/bin/time -o time.out -f "%U %S %e" "$1" -c revokd.conf --once >log 2>&1
    local signed
    signed=$(grep -o '[0-9]* responses signed' log | tail -1 | cut -d' ' -f1)
    read -r u s e <time.out
    awk -v l="$2" -v n="$signed" -v u="$u" -v s="$s" -v e="$e" -v sp="$SPEED" -v sm="$SPEEDM" -v c="$CORES" 'BEGIN {
        printf "%-4s signed %d  wall %6.2f s  user %6.2f s  sys %5.2f s  per cpu-s %6.0f (%4.1f%%)  per user-s %6.0f (%4.1f%%)  openssl %6.0f",
            l, n, e, u, s, n / (u + s), 100 * n / (u + s) / sp, n / u, 100 * n / u / sp, sp
        if (sm > 0)
            printf "  per wall-s %6.0f (%4.1f%% of -multi %.0f)  per cpu-s %4.1f%% of -multi/core", n / e, 100 * n / e / sm, sm,
                100 * n / (u + s) / (sm / c)
        printf "\n" }' | tee -a results.txt
}
echo "n=$N key=$KEY threads=$THREADS cpus=$(nproc) load: $(cut -d' ' -f1-3 /proc/loadavg)"
: >results.txt
for ((r = 1; r <= ROUNDS; r++)); do
    SPEED=$(speed1)
    SPEEDM=0
    if [ "$WALL" = 1 ]; then SPEEDM=$(speedm); fi
    imp "$OLD" old
    imp "$NEW" new
    echo "     (round $r; load $(cut -d' ' -f1-3 /proc/loadavg))"
done
# Means and medians over the rounds of the percentages (the figures in
# parentheses; "core" is the ratio to openssl's own per-core rate when it signs on
# as many cores at once, the comparable figure when two threads share the caches
# and the host the way two openssl processes do).
awk '{
        k = $1; n[k]++
        for (i = 1; i < NF; i++) {
            v = $(i + 2); gsub(/[(%)]/, "", v)
            if ($i == "cpu-s" && $(i + 1) !~ /%/) { pc[k] += v; c[k, n[k]] = v }
            if ($i == "user-s") pu[k] += v
            if ($i == "of" && $(i + 1) == "-multi/core") { v = $(i - 1); gsub(/%/, "", v); pm[k] += v; m[k, n[k]] = v; hm[k] = 1 }
        }
     }
     function median(a, k, cnt,   i, j, t, b) {
        for (i = 1; i <= cnt; i++) b[i] = a[k, i] + 0
        for (i = 2; i <= cnt; i++) for (j = i; j > 1 && b[j - 1] > b[j]; j--) { t = b[j]; b[j] = b[j - 1]; b[j - 1] = t }
        return cnt % 2 ? b[(cnt + 1) / 2] : (b[cnt / 2] + b[cnt / 2 + 1]) / 2
     }
     END { for (k in n) {
             printf "mean %-4s over %d rounds: per cpu-s %.1f%% (median %.1f%%), per user-s %.1f%% of openssl speed", k, n[k], pc[k] / n[k], median(c, k, n[k]), pu[k] / n[k]
             if (hm[k]) printf "; per cpu-s %.1f%% (median %.1f%%) of -multi per core", pm[k] / n[k], median(m, k, n[k])
             printf "\n" } }' results.txt | sort
