#!/usr/bin/env bash
# End-to-end fault loop (issue 12 item 2): revokd-crlgen killed with -9 at
# random points, at least CRL_KILLS (default 50) times, on a store large
# enough (CRL_REVOKED revoked entries, default 30000) that kills land while a
# full CRL is built, stored and published, and while a delta is. Before each
# kill a few more certificates are revoked (revokctl, so they reach the
# change log and the next delta), and the killed run is `--once` (full, then
# delta) or, one time in three, `--once --delta-only`. After each kill:
#
# - each published file (NAME.crl, NAME.crl.pem, delta/NAME.crl(.pem)) is the
#   previous one byte for byte or a new complete CRL: it parses with
#   `openssl crl` and verifies against the CA certificate, and its number is
#   above the previous file's;
# - no file but the published ones has a name a web server would show
#   (temp files are dot files); after the recovery run none is left at all
#   where the filesystem has O_TMPFILE (crlgen names a temp file only for the
#   instant before its rename, and removes stale ones);
# - a CRL Number never names two different CRLs, across every file seen;
#
# then crlgen --once runs to completion, and: its full CRL's number is above
# every number seen before (full and delta share one sequence, so numbers a
# killed run committed but never published are skipped, not reused), the
# delta's is above it and its Delta CRL Indicator names it, and the revoked
# serials of the full CRL, with the delta applied, are exactly the store's
# revoked set (revokctl list --revoked).
#
# Where each kill landed is told from what it left: the numbers it consumed
# (the recovery run's number minus the last one seen before it) and which
# files it replaced; the summary counts kills per phase and fails if none
# landed during a full CRL's generation, its publication, or a delta's. Kill
# delays are random, counted from crlgen's first log line and drawn from each
# phase's window as the last run's log lines timed it; a phase they all missed
# then gets aimed kills (early in the build, or the moment crlgen replaces the
# published DER file, while the PEM is still being written).
#
#   REVOKD_BUILD=build REVOKD_SRC=. CRL_KILLS=50 bash tests/e2e/test_crl_crash.sh
#   (CRL_SEED=N repeats a run's kill delays and choices)
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

KILLS=${CRL_KILLS:-50}
REVOKED=${CRL_REVOKED:-30000}
SEED=${CRL_SEED:-$(date +%s)}
RANDOM=$SEED
echo "e2e: build $BUILD, temp $T, seed $SEED (re-run with CRL_SEED=$SEED)"

NAME=cc
IDX=$BUILD/revokd-indexer
CRLGEN=$BUILD/revokd-crlgen
CTL=$BUILD/revokctl
need_programs "$IDX" "$CRLGEN" "$CTL"

PORT=$(free_port)
A=$T/pki
make_pki "$A" "$NAME" "a PKI"
OUT=$T/crl
FILES=("$NAME.crl" "$NAME.crl.pem" "delta/$NAME.crl" "delta/$NAME.crl.pem")

# REVOKED revoked lines (and the PKI's own), then KILLS * 9 valid ones that the
# loop revokes three at a time.
base_n=$(wc -l <"$A/index.txt")
if ! "$PY" "$SRC/bench/synth-index.py" --n $((REVOKED + base_n)) --out "$T/rev.txt" --base "$A/index.txt" \
    --revoked-fraction 1.0 --seed "$SEED" 2>"$T/synth.log" >/dev/null ||
    ! "$PY" "$SRC/bench/synth-index.py" --n $((KILLS * 9 + 10)) --out "$T/valid.txt" --revoked-fraction 0 \
        --seed $((SEED + 1)) 2>>"$T/synth.log" >/dev/null; then
    fail "synth-index.py" "$(cat "$T/synth.log")"
    finish
fi
# Serials of the second file must not collide with the first (16 hex digits): 7F + 16.
awk -F'\t' -v OFS='\t' '{ $4 = "7F" $4; print }' "$T/valid.txt" >"$T/valid7f.txt"
cat "$T/rev.txt" "$T/valid7f.txt" >"$A/index.txt"
mapfile -t POOL < <(cut -f4 "$T/valid7f.txt")

CONF=$T/revokd.conf
cat >"$CONF" <<EOF
[store]
path = store

[log]
level = info

[responder]
listen = 127.0.0.1:$PORT
backend = $E2E_BACKEND

[crlgen]
out_dir = crl
url = http://127.0.0.1:$PORT/crl

# The CA signs its own OCSP responses: its key is EC, quick to load a large store with.
[issuer $NAME]
ca_cert     = pki/ca.pem
index       = pki/index.txt
signer_cert = pki/ca.pem
signer_key  = pki/ca.key
crl_key     = pki/ca.key
crlnumber   = pki/crlnumber
digest      = sha256
EOF

run_logged indexer 600 env -C / "$IDX" -c "$CONF" --once ||
    { fail "revokd-indexer --once" "$(tail "$T/indexer.log")"; finish; }
pass "store loaded: $(grep -o 'synced [0-9]* entries' "$T/indexer.log" | tail -1)"

ms_now() { date +%s%3N; }
# num FILE: the CRL Number of a DER or PEM CRL in decimal ("" if none);
# base FILE: a delta's BaseCRLNumber (openssl prints small ones in decimal, large in 0x hex).
form_of() { case "$1" in *.pem) echo PEM ;; *) echo DER ;; esac; }
num() {
    local v
    v=$(openssl crl -inform "$(form_of "$1")" -in "$1" -noout -crlnumber 2>/dev/null | sed -n 's/^crlNumber=0x\([0-9A-Fa-f]*\)$/\1/p')
    [ -n "$v" ] && echo $((16#$v))
}
base() {
    local v
    v=$(openssl crl -inform "$(form_of "$1")" -in "$1" -noout -text 2>/dev/null |
        sed -n '/X509v3 Delta CRL Indicator: critical/{n;s/^ *//;p}' | head -1)
    case "$v" in 0x*) echo $((v)) ;; [0-9]*) echo "$v" ;; esac
}
# crl_ok FILE: parses and verifies against the CA (or crl_cert) with openssl crl.
crl_ok() {
    openssl crl -inform "$(form_of "$1")" -in "$1" -CAfile "$A/ca.pem" -noout 2>&1 | grep -qx 'verify OK'
}
crlgen_once() { run_logged "crlgen-$1" 300 env -C "$T" "$CRLGEN" -c "$CONF" --once; }

# Calibration: a whole --once (full + delta) and a --delta-only on this store.
# Kill delays count from crlgen's first log line (start-up done: config read,
# store open), not from exec: process start-up (and, under ASan, the leak check
# at exit) varies by more than a publication lasts. From there the log lines
# time each phase: "..., T ms (build and sign B ms)" for the full CRL and the
# delta, so the full CRL is built and signed in [0, B), stored, committed and
# published in [B, T), and the delta follows. Set from the calibration, then
# again from every recovery run (also a whole --once): they follow the load.
t0=$(ms_now)
crlgen_once calibrate || { fail "crlgen --once" "$(tail "$T/crlgen-calibrate.log")"; finish; }
RUN_MS=$(($(ms_now) - t0))
t0=$(ms_now)
run_logged crlgen-calibrate-delta 300 env -C "$T" "$CRLGEN" -c "$CONF" --once --delta-only ||
    { fail "crlgen --once --delta-only" "$(tail "$T/crlgen-calibrate-delta.log")"; finish; }
DELTA_MS=$(($(ms_now) - t0))
ms_line() { sed -n "s/.*issuer $NAME: $2.*, \([0-9]*\)\.[0-9] ms (build and sign \([0-9]*\)\.[0-9] ms)$/\1 \2/p" "$1" | head -1; }
windows() { # windows LOG: W_GEN, W_PUB, W_DLT (after the full) and W_DONLY (--delta-only), in ms
    local log=$1 full_total full_build dlt_total
    read -r full_total full_build < <(ms_line "$log" 'CRL [0-9]*,')
    read -r dlt_total _ < <(ms_line "$log" 'delta CRL')
    [ -n "$full_total" ] && [ -n "$dlt_total" ] || return 1
    W_GEN=(0 "$full_build")
    W_PUB=("$full_build" $((full_total + 1)))
    W_DLT=("$full_total" $((full_total + dlt_total + 1)))
    W_DONLY=(0 $((dlt_total + 1)))
    WIN="full CRL $full_total ms after start-up, of which build and sign $full_build, delta $dlt_total"
}
windows "$T/crlgen-calibrate.log" || { fail "calibration log lines" "$(cat "$T/crlgen-calibrate.log")"; finish; }
pass "a whole crlgen --once takes $RUN_MS ms here ($WIN), --delta-only $DELTA_MS ms: $(grep -o 'CRL [0-9]*, [0-9]* entries, [0-9]* bytes' "$T/crlgen-calibrate.log" | head -1)"
# draw LO HI: a delay in [LO, HI) ms.
draw() { echo $(($1 + RANDOM * ($2 - $1) / 32768)); }

# Whether out_dir's filesystem has O_TMPFILE (crlgen's temp files are then unnamed).
if "$PY" -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_TMPFILE | os.O_WRONLY, 0o600))' "$OUT" 2>/dev/null; then
    TMPFILE=1
else
    TMPFILE=
    echo "e2e: no O_TMPFILE on $OUT: temp files of killed runs may stay (dot files)"
fi

# setcheck: the full CRL's revoked serials with the delta applied == the store's revoked set.
setcheck() {
    "$CTL" -c "$CONF" list --issuer "$NAME" --revoked --json >"$T/store.json" 2>"$T/ctl.err" ||
        { echo "revokctl list failed: $(cat "$T/ctl.err")"; return; }
    "$PY" - "$OUT/$NAME.crl" "$OUT/delta/$NAME.crl" "$T/store.json" <<'PYEOF'
import json, sys
from cryptography import x509
full = x509.load_der_x509_crl(open(sys.argv[1], "rb").read())
delta = x509.load_der_x509_crl(open(sys.argv[2], "rb").read())
listed = {r.serial_number for r in full}
for r in delta:
    try:
        reason = r.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        reason = None
    if reason == x509.ReasonFlags.remove_from_crl:
        listed.discard(r.serial_number)
    else:
        listed.add(r.serial_number)
raw = json.load(open(sys.argv[3]))
rows = raw if isinstance(raw, list) else raw.get("certificates", raw.get("certs", []))
store = {int(str(c["serial"]).replace(":", ""), 16) for c in rows}
if listed == store:
    print("OK %d" % len(store))
else:
    print("FAIL: %d listed, %d in store; only listed %s; only in store %s" % (
        len(listed), len(store), sorted(listed - store)[:5], sorted(store - listed)[:5]))
PYEOF
}

out=$(setcheck 2>&1)
expect "after the calibration run, full + delta list exactly the store's revoked set" "$out" '+^OK [0-9]+$'

declare -A SEEN # CRL Number -> sha256 of the DER CRL that carried it
remember() {    # remember FILE: records its number and bytes; echoes a clash
    local f=$1 n der
    n=$(num "$f") || return 0
    [ -n "$n" ] || return 0
    case "$f" in
    *.pem) der=$(openssl crl -in "$f" -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1) ;;
    *) der=$(sha256sum <"$f" | cut -d' ' -f1) ;;
    esac
    if [ -n "${SEEN[$n]:-}" ] && [ "${SEEN[$n]}" != "$der" ]; then
        echo "CRL Number $n names two different CRLs ($f)"
    fi
    SEEN[$n]=$der
}
for f in "${FILES[@]}"; do remember "$OUT/$f" >/dev/null; done

declare -A PHASES
bad=0
kills=0
next=0
MAX_RUNS=$((KILLS * 6))

# aim.py LOG HOW ARG CMD...: runs CMD with its output in LOG and kills it -9
# ARG ms after its first log line (HOW = after), or the moment it replaces the
# file ARG, i.e. its inode changes (HOW = watch: while crlgen publishes, the
# DER renamed in and the PEM still being written). Exits with CMD's status
# (137 when killed). A kill on an exited but unreaped child is harmless.
cat >"$T/aim.py" <<'PYEOF'
import os, signal, subprocess, sys, time
log, how, arg, argv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def ident(path):
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except FileNotFoundError:
        return None
with open(log, "wb") as out:
    before = ident(arg) if how == "watch" else None
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    if how == "watch":
        while p.poll() is None and ident(arg) == before:
            pass
    else:
        while p.poll() is None and os.fstat(out.fileno()).st_size == 0:
            time.sleep(0.0002)
        time.sleep(int(arg) / 1000)
    if p.poll() is None:
        os.kill(p.pid, signal.SIGKILL)
    rc = p.wait()
sys.exit(128 - rc if rc < 0 else rc)
PYEOF

# kill_run I MODE HOW ARG: one round. More revocations, then crlgen MODE killed
# -9 as aim.py HOW ARG says; then the checks on what the kill left, a recovery
# run and the checks after it.
kill_run() {
    local i=$1 mode=$2 how=$3 arg=$4 k f p n clash out prev_max rc tag problems
    local changed strays temps f_n d_n d_b consumed logged_full logged_delta nfull ndelta phase
    # More revocations for this round (the killed run's CRLs then differ from the last ones).
    for ((k = 0; k < 3; k++)); do
        "$CTL" -c "$CONF" revoke --issuer "$NAME" --serial "${POOL[next]}" --reason keyCompromise \
            >>"$T/ctl.log" 2>&1 || echo "e2e: revokctl revoke ${POOL[next]} failed" >&2
        next=$((next + 1))
    done
    declare -A PRE_SUM=() PRE_NUM=()
    prev_max=0
    for f in "${FILES[@]}"; do
        PRE_SUM[$f]=$(sha256sum <"$OUT/$f" | cut -d' ' -f1)
        PRE_NUM[$f]=$(num "$OUT/$f")
        [ "${PRE_NUM[$f]}" -gt "$prev_max" ] && prev_max=${PRE_NUM[$f]}
    done
    [ "$how" = watch ] && arg=$OUT/$arg
    # shellcheck disable=SC2086 # mode is two words on purpose
    "$PY" "$T/aim.py" "$T/killed-$i.log" "$how" "$arg" env -C "$T" "$CRLGEN" -c "$CONF" $mode
    rc=$?
    case $how in
    watch) tag="run $i ($mode, killed when it replaced ${arg#"$OUT"/})" ;;
    *) tag="run $i ($mode, kill $arg ms after start-up)" ;;
    esac
    problems=

    # The published files: previous or new and complete; numbers only grow.
    changed=()
    for f in "${FILES[@]}"; do
        p=$OUT/$f
        if [ ! -s "$p" ]; then
            problems="$problems
$f: missing or empty"
            continue
        fi
        if [ "$(sha256sum <"$p" | cut -d' ' -f1)" = "${PRE_SUM[$f]}" ]; then
            continue
        fi
        changed+=("$f")
        n=$(num "$p")
        if ! crl_ok "$p"; then
            problems="$problems
$f: replaced by a file that does not verify against the CA"
        elif [ -z "$n" ] || [ "$n" -le "${PRE_NUM[$f]}" ]; then
            problems="$problems
$f: new file's number ${n:-none} is not above ${PRE_NUM[$f]}"
        fi
        clash=$(remember "$p")
        [ -z "$clash" ] || problems="$problems
$clash"
    done
    # Nothing a web server would list but the published files.
    strays=$(cd "$OUT" && find . -type f ! -name '.*' | sed 's|^\./||' | grep -vxF -f <(printf '%s\n' "${FILES[@]}"))
    [ -z "$strays" ] || problems="$problems
stray files: $strays"
    temps=$(find "$OUT" -type f -name '.*' | wc -l)

    # Recovery: a run not killed (and timed: the next kill windows).
    if ! crlgen_once "recover-$i"; then
        problems="$problems
recovery run failed: $(tail -3 "$T/crlgen-recover-$i.log")"
    else
        windows "$T/crlgen-recover-$i.log" || true
    fi
    f_n=$(num "$OUT/$NAME.crl")
    d_n=$(num "$OUT/delta/$NAME.crl")
    d_b=$(base "$OUT/delta/$NAME.crl")
    for f in "${FILES[@]}"; do
        crl_ok "$OUT/$f" || problems="$problems
after recovery: $f does not verify"
        clash=$(remember "$OUT/$f")
        [ -z "$clash" ] || problems="$problems
$clash"
    done
    if [ -z "$f_n" ] || [ -z "$d_n" ] || [ "$f_n" -le "$prev_max" ] || [ "$d_n" -le "$f_n" ] ||
        [ "${d_b:-0}" -ne "$f_n" ]; then
        problems="$problems
after recovery: full ${f_n:-none}, delta ${d_n:-none} on base ${d_b:-none}, last before the kill $prev_max"
    fi
    if [ -n "$TMPFILE" ] && [ -n "$(find "$OUT" -type f -name '.*')" ]; then
        problems="$problems
after recovery: temp files left: $(find "$OUT" -type f -name '.*')"
    fi
    out=$(setcheck 2>&1)
    case "$out" in OK*) ;; *) problems="$problems
set check: $out" ;; esac

    # Where it landed: numbers the killed run consumed, files it replaced, lines it logged.
    consumed=$((f_n - 1 - prev_max))
    logged_full=$(grep -c "issuer $NAME: CRL [0-9]*," "$T/killed-$i.log")
    logged_delta=$(grep -c "issuer $NAME: delta CRL [0-9]* on base" "$T/killed-$i.log")
    nfull=0
    ndelta=0
    for f in "${changed[@]}"; do
        case "$f" in delta/*) ndelta=$((ndelta + 1)) ;; *) nfull=$((nfull + 1)) ;; esac
    done
    if [ "$mode" = --once ]; then
        if [ "$rc" -ne 137 ]; then
            phase="finished before the kill (exit $rc)"
        elif [ "$consumed" -le 0 ]; then
            phase="full: start-up or generation (nothing committed)"
        elif [ "$logged_full" -eq 0 ]; then
            phase="full: publication ($nfull of 2 files replaced)"
        elif [ "$consumed" -le 1 ]; then
            phase="delta: generation (full published, delta not committed)"
        elif [ "$logged_delta" -eq 0 ]; then
            phase="delta: publication ($ndelta of 2 files replaced)"
        else
            phase="after the delta's publication"
        fi
    else
        if [ "$rc" -ne 137 ]; then
            phase="finished before the kill (exit $rc)"
        elif [ "$consumed" -le 0 ]; then
            phase="delta-only: start-up or generation (nothing committed)"
        elif [ "$logged_delta" -eq 0 ]; then
            phase="delta-only: publication ($ndelta of 2 files replaced)"
        else
            phase="delta-only: after publication"
        fi
    fi
    PHASES[$phase]=$((${PHASES[$phase]:-0} + 1))
    [ "$rc" -eq 137 ] && kills=$((kills + 1))
    echo "e2e: $tag: $phase; consumed $consumed number(s), temp files after kill $temps; now full $f_n, delta $d_n"
    if [ -n "$problems" ]; then
        bad=$((bad + 1))
        fail "$tag: $phase" "$problems"
    fi
}

# Random kills: delays drawn from each window in turn.
for ((i = 1; kills < KILLS && i <= MAX_RUNS; i++)); do
    case $((i % 4)) in
    0) kill_run "$i" --once after "$(draw "${W_GEN[@]}")" ;;
    1) kill_run "$i" --once after "$(draw "${W_PUB[@]}")" ;;
    2) kill_run "$i" --once after "$(draw "${W_DLT[@]}")" ;;
    3) kill_run "$i" "--once --delta-only" after "$(draw "${W_DONLY[@]}")" ;;
    esac
done
# Aimed kills for a phase the random ones missed (a window is a few ms, and one
# run's timing differs from the last one's): in the first half of the build, and
# on the replacement of the published full CRL or delta.
hit() { for p in "${!PHASES[@]}"; do [[ $p =~ $1 ]] && return 0; done; return 1; }
if [ "$KILLS" -ge 20 ]; then
    for ((a = 0; a < 8; a++)); do
        if ! hit '^full: start-up or generation'; then
            kill_run "$i" --once after "$(draw 0 $((W_GEN[1] / 2 + 1)))"
        elif ! hit '^full: publication'; then
            kill_run "$i" --once watch "$NAME.crl"
        elif ! hit '^delta(-only)?: (generation|publication|start-up)'; then
            kill_run "$i" --once watch "delta/$NAME.crl"
        else
            break
        fi
        i=$((i + 1))
    done
fi

summary=$(for p in "${!PHASES[@]}"; do echo "${PHASES[$p]} x $p"; done | sort -t' ' -k3)
echo "e2e: where the kills landed:"
while IFS= read -r line; do echo "e2e:   $line"; done <<<"$summary"
runs=$((i - 1))
if [ "$bad" -eq 0 ] && [ "$kills" -ge "$KILLS" ]; then
    pass "$kills kill -9 of revokd-crlgen in $runs runs (the rest finished first): published files previous or new and verified, numbers only grow and never name two CRLs, full + delta = the store's revoked set after each recovery"
else
    fail "$KILLS kills of revokd-crlgen, each checked: $kills kills in $runs runs, $bad with problems"
fi
# With 20 or more kills each window was drawn from several times, and a phase
# they missed was aimed at: all three must have been hit.
if [ "$KILLS" -ge 20 ]; then
    expect "kills landed during a full CRL's generation, its publication, and a delta's" "$summary" \
        '+full: start-up or generation' '+full: publication' '+delta(-only)?: (generation|publication|start-up)'
fi

finish
