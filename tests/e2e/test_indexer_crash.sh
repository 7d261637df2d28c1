#!/usr/bin/env bash
# End-to-end: crash safety of revokd-indexer (issue 8 item 7, issue 12 item 2).
# kill -9 at random points of an import, at least CRASH_KILLS (default 50) times,
# and after every kill:
#   - the store opens and is consistent (tests/e2e/storecheck.c, read-only, as
#     the responder): every certificate has both responses, each parsed by
#     OpenSSL, for its serial, saying its status, time and reason, signed; the
#     revoked index and the change log agree with the certificates; no stray
#     responses;
#   - every certificate in the store has the state index.txt gives it (a
#     revocation written since the last complete sync may still be pending,
#     never anything else) (tests/e2e/crash_index.py);
#   - the running responder agrees: its JSON status view for sampled serials
#     says what the store says, and `openssl ocsp -serial` gets a verified
#     response with that status;
# and at the end of each round a run that is not killed resumes, signing only
# what was still missing (2 responses per pending certificate, not a rebuild;
# up to one batch fewer, see below), after which store and index.txt are equal
# and a further run signs nothing.
#
# A kill during the write of a commit's meta page leaves that commit durable
# and seen by the next writer, while readers keep the previous snapshot until a
# writer takes LMDB's write lock again (LMDB then repairs the readers' txnid).
# So after a kill the readers' view may lack the last batch: consistent, one
# commit behind; the next indexer start brings them up to date.
#
# Rounds (CRASH_ROUNDS, default 5) start from an empty store; the first run of a
# round imports CRASH_LINES (default 6000) synthetic index.txt lines
# (bench/synth-index.py) and is killed somewhere in it; between later runs the
# "CA" appends 1000 certificates and revokes 200 (rewritten and renamed as
# `openssl ca` does), so every run has work to be killed in. Kill delays are
# uniform over the expected length of the run (a whole import is timed first,
# then scaled by what is pending). Only kills that found the
# indexer still running count. CRASH_SEED makes a run repeatable (printed).
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_indexer_crash.sh   (ctest sets both)
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

KILLS=${CRASH_KILLS:-50}
ROUNDS=${CRASH_ROUNDS:-5}
LINES=${CRASH_LINES:-6000}
SEED=${CRASH_SEED:-$(date +%s)}
RANDOM=$SEED
echo "e2e: build $BUILD, temp $T, seed $SEED (re-run with CRASH_SEED=$SEED)"

NAME=crash
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
CHECK=$BUILD/tests/e2e_storecheck
need_programs "$IDX" "$RSP" "$CHECK" /usr/bin/curl

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
A=$T/pki
make_pki "$A" "$NAME" "a PKI"
# An EC P-256 delegated signer: mkpki's is RSA, 20 times slower to sign with.
openssl req -new -config "$A/openssl.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$A/sig.key" -subj "/O=revokd e2e/CN=ocsp-ec.$NAME.revokd.test" -out "$A/sig.csr" \
    >"$T/sig.log" 2>&1 &&
    openssl ca -config "$A/openssl.cnf" -batch -notext -extensions ocsp_ext -in "$A/sig.csr" \
        -out "$A/sig.pem" >>"$T/sig.log" 2>&1 ||
    { fail "issue an EC OCSP signer" "$(cat "$T/sig.log")"; finish; }
"$PY" "$SRC/bench/synth-index.py" --n "$LINES" --out "$T/base.txt" --base "$A/index.txt" \
    --revoked-fraction 0.05 --seed "$SEED" 2>"$T/synth.log" ||
    { fail "synth-index.py" "$(cat "$T/synth.log")"; finish; }
pass "$(cat "$T/synth.log")"

CONF=$T/revokd.conf
BATCH=300
cat >"$CONF" <<EOC
[store]
path = store

[log]
level = info

[responder]
listen = 127.0.0.1:$PORT
backend = $E2E_BACKEND

# Small batches: many commits per import, so kills land between and inside them.
[indexer]
batch = $BATCH

[issuer $NAME]
ca_cert     = pki/ca.pem
index       = pki/index.txt
signer_cert = pki/sig.pem
signer_key  = pki/sig.key
EOC

INDEX=$A/index.txt
LAG=$T/lag.txt
PENDING=0
LAST_OUT=
ms_now() { date +%s%3N; }
# signed NAME: responses signed by the run logged in $T/NAME.log (empty if none logged)
signed() { sed -n "s/.*\[issuer $NAME\] synced [0-9]* entries ([0-9]* changed, \([0-9]*\) responses signed.*/\1/p" "$T/$1.log" | tail -n 1; }

# Calibration: how long a whole import takes here, on a scratch store.
cp "$T/base.txt" "$INDEX"
t0=$(ms_now)
run_logged calibrate 300 env -C "$T" "$IDX" -c "$CONF" --once ||
    { fail "calibration import" "$(tail "$T/calibrate.log")"; finish; }
FULL_MS=$(($(ms_now) - t0))
rm -rf "$T/store"
pass "a whole import of $LINES lines takes $FULL_MS ms here (kill delays are drawn from it)"

# check_store TAG [--exact [EVERY]]: storecheck (signatures of 1 in EVERY certificates,
# default 50) + compare with index.txt; sets PENDING and LAST_OUT.
check_store() {
    local tag=$1 exact=${2:-} every=${3:-50} out
    "$CHECK" "$T/store" "$NAME" "$every" >"$T/store.lines" 2>"$T/check.err"
    case $? in
    0) ;;
    3) # killed at start-up: no store, or no issuer, yet; nothing half-written
        [ -z "$exact" ] || { fail "$tag: a complete run left a store" "$(cat "$T/check.err")"; return 1; }
        : >"$T/store.lines" ;;
    *)
        fail "$tag: store opens and is consistent" "$(cat "$T/check.err")"
        return 1 ;;
    esac
    if ! out=$("$PY" "$HERE/crash_index.py" compare "$INDEX" "$T/store.lines" "$LAG" $exact 2>&1); then
        fail "$tag: store matches index.txt" "$out"
        return 1
    fi
    PENDING=$(printf '%s\n' "$out" | sed -n 's/.*pending \([0-9]*\)$/\1/p')
    LAST_OUT=$out
    return 0
}

# sample_responder TAG: JSON status and openssl ocsp of random stored serials agree with the store.
sample_responder() {
    local tag=$1 n line hex st at want body got o
    n=$(wc -l <"$T/store.lines")
    [ "$n" -gt 0 ] || return 0
    for _ in 1 2 3; do
        line=$(sed -n "$(((RANDOM * 32768 + RANDOM) % n + 1))p" "$T/store.lines")
        read -r hex st at _ <<<"$line"
        case $st in V) want=good ;; R) want=revoked ;; H) want=on_hold ;; esac
        body=$(curl -s --max-time 5 "$URL/api/v1/status/$NAME/$hex")
        got=$(printf '%s' "$body" | sed -n 's/.*"status":"\([a-z_]*\)".*/\1/p')
        if [ "$got" != "$want" ]; then
            fail "$tag: responder JSON status of $hex is $want" "$body"
            return 1
        fi
    done
    # one OCSP answer, verified with the chain, per check
    case $st in V) want=': good' ;; *) want=': revoked' ;; esac
    o=$(timeout -k 5 30 openssl ocsp -url "$URL" -timeout 10 -CAfile "$A/chain.pem" -no_nonce \
        -issuer "$A/ca.pem" -serial "0x$hex" 2>&1)
    if ! printf '%s\n' "$o" | grep -q 'Response verify OK' || ! printf '%s\n' "$o" | grep -q "$want"; then
        fail "$tag: openssl ocsp for $hex says${want} and verifies" "$o"
        return 1
    fi
    return 0
}

kills=0
runs=0
bad=0
for ((round = 1; round <= ROUNDS; round++)); do
    rm -rf "$T/store" "$LAG"
    cp "$T/base.txt" "$INDEX"
    : >"$LAG"
    per_round=$(((KILLS - kills + ROUNDS - round) / (ROUNDS - round + 1)))
    [ "$per_round" -gt 0 ] || per_round=1
    rkills=0
    tries=0
    started=0
    while [ "$rkills" -lt "$per_round" ] && [ "$tries" -lt $((per_round * 4)) ]; do
        tries=$((tries + 1))
        runs=$((runs + 1))
        if [ "$rkills" -gt 0 ] || [ "$tries" -gt 1 ]; then
            "$PY" "$HERE/crash_index.py" mutate "$INDEX" "$LAG" --seed "$((SEED + runs))" \
                >>"$T/mutate.log" 2>&1 || { fail "mutate index.txt" "$(tail "$T/mutate.log")"; break 2; }
            # the length of this run: what is pending, the 1200 lines just changed, start-up
            max=$((50 + FULL_MS * (PENDING + 1200) / LINES))
        else
            max=$FULL_MS # the import itself
        fi
        delay=$(((RANDOM * 32768 + RANDOM) % max))
        env -C "$T" "$IDX" -c "$CONF" --once >"$T/run.log" 2>&1 &
        pid=$!
        sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
        kill -KILL "$pid" 2>/dev/null
        { wait "$pid"; } 2>/dev/null # no "Killed" job notice
        rc=$?
        if [ "$rc" -eq 137 ]; then
            rkills=$((rkills + 1))
            kills=$((kills + 1))
            tag="round $round kill $rkills (after $delay ms)"
        else
            tag="round $round run $tries (finished before the kill at $delay ms, exit $rc)"
            : >"$LAG" # a complete sync: nothing may lag any more
        fi
        if ! check_store "$tag"; then
            bad=$((bad + 1))
            break 2
        fi
        if [ "$started" = 0 ] && [ -s "$T/store.lines" ]; then # the responder needs a store
            start_bg "responder-$round" env -C "$T" "$RSP" -c "$CONF"
            wait_port "$PORT" 15 || { fail "responder listens" "$(cat "$T/responder-$round.log")"; break 2; }
            started=1
        fi
        if [ "$started" = 1 ] && ! sample_responder "$tag"; then
            bad=$((bad + 1))
            break 2
        fi
        echo "ok: $tag: $LAST_OUT"
    done
    # Resume, not rebuild: the first run not killed signs what is pending, no more.
    want=$((2 * PENDING))
    run_logged "final-$round" 300 env -C "$T" "$IDX" -c "$CONF" --once
    rc=$?
    got=$(signed "final-$round")
    # Up to one commit fewer: a kill during the last commit's meta-page write leaves
    # that commit durable, and seen by the next writer, while readers (storecheck,
    # the responder) keep the one before until that writer takes the lock (LMDB
    # then repairs the readers' txnid: docs/operations.md, "Crash recovery").
    # One commit is at least one signing chunk (up to 1024 certificates that need
    # work, indexer/sync.c SYNC_CHUNK), so up to that many may lag.
    lag=$((BATCH > 1024 ? BATCH : 1024))
    least=$((want > 2 * lag ? want - 2 * lag : 0))
    if [ "$rc" -eq 0 ] && [ -n "$got" ] && [ "$got" -le "$want" ] && [ "$got" -ge "$least" ]; then
        pass "round $round: $rkills kills, then a complete run signed $got responses (2 x $PENDING pending seen by readers; a rebuild would sign $((2 * $(grep -c . "$INDEX"))))"
    else
        fail "round $round: the complete run exits 0 and signs $least..$want responses (2 x $PENDING pending; exit $rc, signed '$got')" "$(cat "$T/final-$round.log")"
    fi
    : >"$LAG"
    every=10
    [ "$round" -eq "$ROUNDS" ] && every=1 # the last round: every signature
    check_store "round $round after the complete run" --exact "$every" &&
        pass "round $round: after the complete run the store equals index.txt ($LAST_OUT), signatures of 1 in $every certificates verified"
    run_logged "again-$round" 300 env -C "$T" "$IDX" -c "$CONF" --once
    got=$(signed "again-$round")
    if [ "$got" = 0 ]; then
        pass "round $round: another run signs nothing"
    else
        fail "round $round: another run signs nothing (signed '$got')" "$(cat "$T/again-$round.log")"
    fi
    stop_bg "responder-$round"
done

if [ "$bad" -eq 0 ] && [ "$kills" -ge "$KILLS" ]; then
    pass "$kills kill -9 of revokd-indexer in $runs runs: store consistent and matching index.txt after each"
else
    fail "$KILLS kills with a consistent store after each ($kills kills in $runs runs, $bad failed)"
fi

# Negative controls: the checks above can fail.
cp -r "$T/store" "$T/store-tampered"
mdb_dump -s responses "$T/store" >"$T/responses.dump" 2>&1
"$PY" - "$T/responses.dump" "$T/responses.swapped" <<'EOF'
import sys
# mdb_dump's text: header, then " key" / " value" line pairs, then DATA=END.
lines = open(sys.argv[1]).read().split("\n")
start = lines.index("HEADER=END") + 1
end = lines.index("DATA=END")
vals = list(range(start + 1, end, 2))
a, b = vals[0], vals[len(vals) // 2]
lines[a], lines[b] = lines[b], lines[a]  # two certificates' responses swapped
open(sys.argv[2], "w").write("\n".join(lines))
EOF
mdb_load -s responses -f "$T/responses.swapped" "$T/store-tampered" >"$T/load.log" 2>&1 ||
    fail "mdb_load the tampered responses" "$(cat "$T/load.log")"
if "$CHECK" "$T/store-tampered" "$NAME" >/dev/null 2>"$T/tampered.err"; then
    fail "control: storecheck rejects a store with two responses swapped"
else
    expect "control: storecheck rejects a store with two responses swapped" \
        "$(cat "$T/tampered.err")" '+another serial|contradicts'
fi
"$CHECK" "$T/store" "$NAME" 50 >"$T/store.lines" 2>/dev/null
sed '0,/^V/s/^V\t\([^\t]*\)\t\t/R\t\1\t250101000000Z,keyCompromise\t/' "$INDEX" >"$T/index-tampered.txt"
: >"$LAG"
if "$PY" "$HERE/crash_index.py" compare "$T/index-tampered.txt" "$T/store.lines" "$LAG" >/dev/null 2>&1; then
    fail "control: compare rejects an index.txt that revokes a certificate the store has good"
else
    pass "control: compare rejects an index.txt that revokes a certificate the store has good"
fi
finish
