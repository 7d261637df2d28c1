#!/usr/bin/env bash
# indexer_scale.sh — the indexer at CA scale (issue 8 items 2-4), from one command,
# each size beside `openssl ocsp -index` loading the same index.txt.
#
#   bench/indexer_scale.sh [--quick] [--sizes N,N,..] [--rsa-sizes N,..] [--threads T]
#                          [--workdir DIR] [--keep]
#
#   --quick      10k and 100k (RSA 2048 at 10k); default 10k, 100k, 1M (RSA at 10k, 100k)
#   --sizes L    certificate counts of the ECDSA P-256 runs
#   --rsa-sizes L  certificate counts of the RSA 2048 runs ("" for none)
#   --threads T  [indexer] sign_threads (default: 0 = one per CPU)
#   --workdir D  scratch directory parent (default $TMPDIR or /tmp)
#   --keep       keep the scratch directory
#
# Per size and signer key type, fresh store each time (build/revokd-indexer --once):
#   status     import with --status-only (status, change log, no signature)
#   import     the whole import: status, 2 signed responses per certificate, durable commit
#   resync     the same again with nothing changed (a restart)
#   sig/s      responses signed / wall time of the import, beside `openssl speed
#              -seconds 3 -multi CPUS` for that key type (the same cores); and
#              responses signed per CPU-second of the indexer beside `openssl speed`
#              without -multi (its rate is per CPU-second of user time): what a
#              busy machine distorts least
#   peak RSS   of the indexer: RssAnon and RssFile (file-backed: the store map and
#              the mapped index.txt) sampled from /proc/PID/status every 50 ms, and
#              the kernel's maximum RSS (GNU time %M) in the JSON
#   openssl    `openssl ocsp -index` from start to its first answer to one request
# Every time is wall and CPU (user+sys of the process, all threads): on a busy
# machine trust the CPU column. Results: a table on stdout and
# $WORK/indexer_scale.jsonl.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
INDEXER=${REVOKD_INDEXER:-}
SIZES=10000,100000,1000000
RSA_SIZES=10000,100000
THREADS=0
KEEP=0
WORK_PARENT=${TMPDIR:-/tmp}
while [ $# -gt 0 ]; do
    case $1 in
    --quick) SIZES=10000,100000 RSA_SIZES=10000 ;;
    --sizes) SIZES=$2; shift ;;
    --rsa-sizes) RSA_SIZES=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --workdir) WORK_PARENT=$2; shift ;;
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ -z "$INDEXER" ]; then
    # An optimised build of its own (the default build type), whatever build/ is.
    cmake -S "$ROOT" -B "$ROOT/build-scale" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
        cmake --build "$ROOT/build-scale" -j"$(nproc)" --target revokd-indexer >/dev/null ||
        { echo "building revokd-indexer failed" >&2; exit 1; }
    INDEXER=$ROOT/build-scale/revokd-indexer
fi
for p in openssl curl python3 /usr/bin/time; do command -v $p >/dev/null || { echo "needs $p" >&2; exit 1; }; done

WORK=$(mktemp -d "$WORK_PARENT/revokd-idxscale.XXXXXX")
OPID=
cleanup() {
    [ -n "$OPID" ] && kill "$OPID" 2>/dev/null
    [ "$KEEP" -eq 1 ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
export OPENSSL_CONF=/dev/null
CPUS=$(nproc)
PORT=$((20000 + RANDOM % 20000))
RESULTS=$WORK/indexer_scale.jsonl

# ---- PKI: an EC P-256 CA, delegated OCSP signers with EC P-256 and RSA 2048 keys ----
pki() {
    cd "$WORK"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
    openssl req -x509 -new -key ca.key -subj "/CN=bench CA" -days 3650 -out ca.pem \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    printf 'extendedKeyUsage=OCSPSigning\nkeyUsage=critical,digitalSignature\nnoCheck=ignored\n' >ocsp.ext
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ocsp-ec.key
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ocsp-rsa.key
    for k in ec rsa; do
        openssl req -new -key ocsp-$k.key -subj "/CN=bench OCSP $k" -out ocsp-$k.csr
        openssl x509 -req -in ocsp-$k.csr -CA ca.pem -CAkey ca.key -set_serial 0x$((RANDOM + 1000)) \
            -days 365 -extfile ocsp.ext -out ocsp-$k.pem 2>/dev/null
    done
    cd - >/dev/null
}

conf() { # conf DIR SIGNER
    cat >"$1/revokd.conf" <<EOF
[store]
path = $1/store
map_size = 32G
[log]
level = info
[indexer]
sign_threads = $THREADS
[issuer bench]
ca_cert     = $WORK/ca.pem
index       = $1/index.txt
signer_cert = $WORK/ocsp-$2.pem
signer_key  = $WORK/ocsp-$2.key
digest      = sha256
EOF
}

# run_idx LOG ARGS..: runs the indexer under GNU time (CPU = user + sys of all its
# threads), sampling its RssAnon and RssFile every 50 ms; sets WALL CPU ANON FILE
run_idx() {
    local log=$1 tpid pid= t0 t1 a f
    shift
    t0=$EPOCHREALTIME
    /usr/bin/time -o "$WORK/time.out" -f "%U %S %M" "$INDEXER" "$@" >>"$log" 2>&1 &
    tpid=$!
    ANON=0 FILE=0
    while kill -0 "$tpid" 2>/dev/null; do
        [ -n "$pid" ] || pid=$(cat "/proc/$tpid/task/$tpid/children" 2>/dev/null | cut -d' ' -f1)
        if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
            read -r a f < <(awk '/^RssAnon/ { a = $2 } /^RssFile/ { f = $2 } END { print a + 0, f + 0 }' \
                "/proc/$pid/status" 2>/dev/null || echo "0 0")
            [ "${a:-0}" -gt "$ANON" ] && ANON=$a
            [ "${f:-0}" -gt "$FILE" ] && FILE=$f
        fi
        sleep 0.05
    done
    wait "$tpid" || { echo "revokd-indexer $* failed, see $log" >&2; tail -5 "$log" >&2; exit 1; }
    t1=$EPOCHREALTIME
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    CPU=$(awk '{ printf "%.2f", $1 + $2 }' "$WORK/time.out")
    MAXRSS=$(awk '{ print $3 }' "$WORK/time.out")
}

# openssl ocsp -index: from start to the first answer
ossl_first() { # DIR SIGNER
    local d=$1 t0 serial
    serial=$(awk -F'\t' 'NR == 1 { print $4 }' "$d/index.txt")
    openssl ocsp -issuer "$WORK/ca.pem" -serial "0x$serial" -no_nonce -reqout "$d/req.der" >/dev/null
    t0=$EPOCHREALTIME
    openssl ocsp -index "$d/index.txt" -CA "$WORK/ca.pem" -rsigner "$WORK/ocsp-$2.pem" \
        -rkey "$WORK/ocsp-$2.key" -port "$PORT" -nmin 60 -ignore_err >/dev/null 2>&1 &
    OPID=$!
    until curl -sf --max-time 60 -o /dev/null -H 'Content-Type: application/ocsp-request' \
        --data-binary "@$d/req.der" "http://127.0.0.1:$PORT/"; do
        kill -0 "$OPID" 2>/dev/null || { echo null; OPID=; return; }
        sleep 0.02
    done
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'
    kill "$OPID" 2>/dev/null
    wait "$OPID" 2>/dev/null || true
    OPID=
}

speed() { # ALG [1]: signatures/s over all CPUs (-multi, wall time), or with 1: per
    # CPU-second of one process (openssl speed without -multi counts its user time)
    local multi=(-multi "$CPUS")
    [ "${2:-}" = 1 ] && multi=()
    openssl speed -seconds 3 "${multi[@]}" "$1" 2>/dev/null |
        awk -v alg="$1" '
            alg ~ /ecdsa/ && /256 bits ecdsa/ { print $(NF-1); exit }
            alg ~ /rsa/ && /^rsa 2048 bits/ { print $(NF-1); exit }
            alg ~ /rsa/ && /rsa  *2048/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/ && $(i+1) ~ /^[0-9.]+$/ && $(i+2) ~ /^[0-9.]+$/) { print $(i+2); exit } }'
}

# store_bytes DIR N: bytes of map used (last page + 1, what /metrics calls
# revokd_store_map_used_bytes) per certificate, from `mdb_stat -e` (lmdb-utils)
store_bytes() {
    command -v mdb_stat >/dev/null || { echo null; return; }
    mdb_stat -e "$1" | awk -v n="$2" '/Page size:/ { ps = $3 } /Number of pages used:/ { pg = $5 }
        END { printf "%d", (n > 0 ? ps * pg / n : 0) }'
}

one() { # one N KEY
    local n=$1 k=$2 d=$WORK/n$1-$2 store_bpc spc st_wall st_cpu st_anon st_file im_wall im_cpu im_anon im_file rs_wall rs_cpu rs_anon rs_file im_max signed sps ossl
    mkdir -p "$d"
    python3 "$BENCH/synth-index.py" --n "$n" --out "$d/index.txt" 2>/dev/null
    conf "$d" "$k"
    run_idx "$d/log" -c "$d/revokd.conf" --once --status-only
    st_wall=$WALL st_cpu=$CPU st_anon=$ANON st_file=$FILE
    rm -rf "$d/store"
    run_idx "$d/log" -c "$d/revokd.conf" --once
    im_wall=$WALL im_cpu=$CPU im_anon=$ANON im_file=$FILE im_max=$MAXRSS
    signed=$(grep -o '[0-9]* responses signed' "$d/log" | tail -1 | cut -d' ' -f1)
    run_idx "$d/log" -c "$d/revokd.conf" --once
    rs_wall=$WALL rs_cpu=$CPU rs_anon=$ANON rs_file=$FILE
    store_bpc=$(store_bytes "$d/store" "$n")
    ossl=$(ossl_first "$d" "$k")
    sps=$(awk -v s="$signed" -v w="$im_wall" 'BEGIN { printf "%d", s / w }')
    spc=$(awk -v s="$signed" -v c="$im_cpu" 'BEGIN { printf "%d", (c > 0 ? s / c : 0) }')
    local ref=$SPEED_EC ref1=$SPEED_EC1
    [ "$k" = rsa ] && ref=$SPEED_RSA ref1=$SPEED_RSA1
    printf '%-8s %-4s | %6s %6s | %6s %6s | %6s %6s | %7s %7s %4s%% | %7s %7s %4s%% | %5s %6s | %6s | %s\n' \
        "$n" "$k" "$st_wall" "$st_cpu" "$im_wall" "$im_cpu" "$rs_wall" "$rs_cpu" "$sps" "${ref%.*}" \
        "$(awk -v a="$sps" -v b="$ref" 'BEGIN { printf "%d", (b ? 100 * a / b : 0) }')" \
        "$spc" "${ref1%.*}" "$(awk -v a="$spc" -v b="$ref1" 'BEGIN { printf "%d", (b ? 100 * a / b : 0) }')" \
        "$((im_anon / 1024))" "$((im_file / 1024))" "$store_bpc" "$ossl"
    printf '{"n":%d,"key":"%s","cpus":%d,"status_wall_s":%s,"status_cpu_s":%s,"import_wall_s":%s,"import_cpu_s":%s,"resync_wall_s":%s,"resync_cpu_s":%s,"signed":%s,"sig_per_s":%s,"openssl_speed_per_s":%s,"sig_per_cpu_s":%s,"openssl_speed_1core":%s,"rss_anon_kb":%d,"rss_file_kb":%d,"maxrss_kb":%d,"status_rss_anon_kb":%d,"resync_rss_anon_kb":%d,"store_bytes_per_cert":%s,"openssl_ocsp_first_s":%s}\n' \
        "$n" "$k" "$CPUS" "$st_wall" "$st_cpu" "$im_wall" "$im_cpu" "$rs_wall" "$rs_cpu" "${signed:-0}" "$sps" "${ref:-0}" "$spc" "${ref1:-0}" \
        "$im_anon" "$im_file" "$im_max" "$st_anon" "$rs_anon" "$store_bpc" "$ossl" >>"$RESULTS"
    [ "$KEEP" -eq 1 ] || rm -rf "$d"
}

pki >/dev/null 2>&1
SPEED_EC=$(speed ecdsap256)
SPEED_EC1=$(speed ecdsap256 1)
SPEED_RSA= SPEED_RSA1=
[ -n "$RSA_SIZES" ] && SPEED_RSA=$(speed rsa2048) && SPEED_RSA1=$(speed rsa2048 1)
echo "revokd-indexer scale ($INDEXER), $CPUS CPUs, sign_threads=$THREADS"
echo "openssl speed -seconds 3: ecdsap256 ${SPEED_EC1} sign/s on 1 core, ${SPEED_EC} with -multi $CPUS; rsa2048 ${SPEED_RSA1:-n/a} / ${SPEED_RSA:-n/a}"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (busy machine: compare the cpu columns)"
printf '%-8s %-4s | %13s | %13s | %13s | %21s | %21s | %12s | %6s | %s\n' n key "status wall/cpu" \
    "import wall/cpu" "resync wall/cpu" "sig/s wall vs -multi" "sig/cpu-s vs 1 core" "RSS anon/file MB" "B/cert" "openssl ocsp -index first answer s"
IFS=, read -ra S <<<"$SIZES"
for n in "${S[@]}"; do one "$n" ec; done
if [ -n "$RSA_SIZES" ]; then
    IFS=, read -ra S <<<"$RSA_SIZES"
    for n in "${S[@]}"; do one "$n" rsa; done
fi
cp "$RESULTS" "${REVOKD_SCALE_OUT:-$BENCH/results/indexer_scale.jsonl}"
