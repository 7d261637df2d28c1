#!/usr/bin/env bash
# End-to-end: revokd-indexer follows the CA databases live (inotify), so what
# `openssl ca` writes is what `openssl ocsp` hears within 2 s, although the
# periodic check runs only once an hour ([indexer] interval = 1h): polling cannot
# be what picks the changes up. A second indexer run with --no-inotify shows that
# (the same revocation stays unseen for 3 s).
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_indexer_live.sh   (ctest sets both)
#   E2E_KEEP=1 keeps the temp dir; it is always kept when something failed.
#
# Covered: a revocation and a new issuance under the issuing CA, a revocation under
# the root (second issuer, other directory), the CA directory moved away and back
# (watch lost, polled, re-established; /healthz recovers), index.txt deleted and
# written anew (not renamed), a clean exit on SIGTERM.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=live
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
LIMIT_MS=2000 # what a revocation may take to be answered here (the issue's goal is 100 ms)

echo "e2e: build $BUILD, temp $T"
need_programs "$IDX" "$RSP"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
P=$T/pki
make_pki "$P" "$NAME" "a PKI with two issuers ($NAME, $NAME-root)"

# More certificates to revoke: leaves under the issuing CA, sub-CAs under the root.
# One key and CSR for all of them (the databases allow duplicate subjects).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/x.key" 2>/dev/null
openssl req -new -key "$T/x.key" -subj "/CN=live-extra" -out "$T/x.csr" -config /dev/null 2>/dev/null
# issue_under CNF EXT OUT
issue_under() {
    openssl ca -config "$1" -batch -notext -extensions "$2" -in "$T/x.csr" -out "$3" \
        >>"$T/issue.log" 2>&1
}
ok=1
for n in l1 l3 l4; do issue_under "$P/openssl.cnf" leaf_ext "$P/$n.pem" || ok=; done
for n in sub1 sub2; do issue_under "$P/root/openssl.cnf" intermediate_ext "$P/$n.pem" || ok=; done
if [ -n "$ok" ]; then pass "issued l1 l3 l4 (issuing CA) and sub1 sub2 (root)"; else fail "openssl ca issuing" "$(cat "$T/issue.log")"; finish; fi

CONF=$T/revokd.conf
cat >"$CONF" <<EOF
[store]
path = store

[log]
level = info

[responder]
listen = 127.0.0.1:$PORT
backend = $E2E_BACKEND

# The periodic check once an hour only: every change below must come from inotify.
# (refresh >= 2 x interval and refresh < validity - backdate are required.)
[indexer]
validity = 4d
refresh  = 2h
interval = 1h

[issuer $NAME]
ca_cert     = pki/ca.pem
index       = pki/index.txt
signer_cert = pki/ocsp.pem
signer_key  = pki/ocsp.key
crl_key     = pki/ca.key

[issuer $NAME-root]
ca_cert     = pki/root.pem
index       = pki/root/index.txt
signer_cert = pki/ocsp-root.pem
signer_key  = pki/ocsp-root.key
crl_key     = pki/root.key
EOF
if run_logged check 20 "$IDX" -c "$CONF" --check; then
    pass "revokd-indexer --check accepts interval = 1h"
else
    fail "revokd-indexer --check (exit $?)" "$(cat "$T/check.log")"
    finish
fi

ocsp_q() {
    timeout -k 5 30 openssl ocsp -url "$URL" -timeout 10 -CAfile "$P/chain.pem" -no_nonce "$@" 2>&1
}
now_ms() { date +%s%3N; }

# wait_status ISSUER CERT STATUS MS: polls until openssl ocsp says CERT: STATUS, or MS
# pass. Sets WAITED (ms since the call) and OUT (the last answer).
wait_status() {
    local issuer=$1 cert=$2 status=$3 limit=$4 t0 b
    b=$(basename "$cert")
    t0=$(now_ms)
    while :; do
        OUT=$(ocsp_q -issuer "$issuer" -cert "$cert")
        WAITED=$(($(now_ms) - t0))
        if printf '%s\n' "$OUT" | grep -Eq "(^|/)${b//./\\.}: $status\$"; then return 0; fi
        [ "$WAITED" -lt "$limit" ] || return 1
        sleep 0.02
    done
}

# revoke_and_time WHAT CNF ISSUER CERT REASON: openssl ca -revoke, then the time until
# the responder answers revoked (from when openssl ca returned), within LIMIT_MS.
revoke_and_time() {
    local what=$1 cnf=$2 issuer=$3 cert=$4 reason=$5
    if ! openssl ca -config "$cnf" -revoke "$cert" -crl_reason "$reason" >"$T/revoke.log" 2>&1; then
        fail "$what: openssl ca -revoke" "$(cat "$T/revoke.log")"
        return
    fi
    if wait_status "$issuer" "$cert" revoked "$LIMIT_MS"; then
        expect "$what: answered revoked ($reason) ${WAITED} ms after openssl ca -revoke returned" \
            "$OUT" '+Response verify OK' "+Reason: $reason" '+Next Update:'
    else
        fail "$what: not answered revoked within $LIMIT_MS ms" "$OUT
--- indexer log:
$(tail -n 15 "$T/indexer.log")"
    fi
}

# --- start: the indexer follows, the responder serves ---------------------------
start_bg indexer env -C / "$IDX" -c "$CONF"
# The responder needs the store the first sync creates.
if ! wait_log indexer "\[issuer $NAME-root\] synced" 30; then
    fail "revokd-indexer synced both issuers within 30 s" "$(cat "$T/indexer.log")"
    finish
fi
start_bg responder env -C / "$RSP" -c "$CONF"
listens responder "revokd-responder listens on $URL"
if wait_status "$P/ca.pem" "$P/good.pem" good 15000; then
    pass "first sync done: good.pem good"
else
    fail "first sync: good.pem good within 15 s" "$OUT
$(cat "$T/indexer.log")"
    finish
fi
expect "indexer follows with inotify, periodic check every 3600 s" "$(cat "$T/indexer.log")" \
    '+following 2 issuer\(s\) with inotify, checking all every 3600 s'
code=$(healthz)
expect "/healthz 200 after the first sync" "$code $(cat "$T/healthz.body")" '+^200 ok'

# --- changes under the issuing CA -------------------------------------------------
revoke_and_time "issuing CA, good.pem" "$P/openssl.cnf" "$P/ca.pem" "$P/good.pem" keyCompromise
issue_under "$P/openssl.cnf" leaf_ext "$P/l2.pem"
if wait_status "$P/ca.pem" "$P/l2.pem" good "$LIMIT_MS"; then
    expect "newly issued l2.pem answered good ${WAITED} ms after openssl ca returned" "$OUT" \
        '+Response verify OK'
else
    fail "newly issued l2.pem answered good within $LIMIT_MS ms" "$OUT"
fi

# --- the root: its own database in its own directory ----------------------------------
revoke_and_time "root, sub1.pem" "$P/root/openssl.cnf" "$P/root.pem" "$P/sub1.pem" cACompromise

# --- the CA directory moved away and back -------------------------------------------
mv "$P" "$T/pki.away"
if wait_log indexer "\[issuer $NAME\] directory .*/pki was moved or deleted" 3; then
    pass "moving the CA directory away is noticed (indexer polls it meanwhile)"
else
    fail "indexer noticed the CA directory moved away within 3 s" "$(tail -n 10 "$T/indexer.log")"
fi
sleep 0.3
mv "$T/pki.away" "$P"
if wait_log indexer "\[issuer $NAME\] watching directory .*/pki again" 3; then
    pass "watch on the CA directory re-established after it was moved back"
else
    fail "watch re-established within 3 s" "$(tail -n 10 "$T/indexer.log")"
fi
ok=
for _ in $(seq 30); do
    code=$(healthz)
    [ "$code" = 200 ] && { ok=1; break; }
    sleep 0.1
done
if [ -n "$ok" ]; then
    pass "/healthz back to 200 once the directory is back (the failed syncs meanwhile cleared)"
else
    fail "/healthz back to 200 within 3 s (got $code)" "$(cat "$T/healthz.body")"
fi
revoke_and_time "issuing CA after the move, l1.pem" "$P/openssl.cnf" "$P/ca.pem" "$P/l1.pem" superseded
revoke_and_time "root after the move, sub2.pem" "$P/root/openssl.cnf" "$P/root.pem" "$P/sub2.pem" affiliationChanged

# --- index.txt deleted and written anew (not renamed over) -------------------------------
l3serial=$(serial_of "$P/l3.pem")
revdate=$(date -u +%y%m%d%H%M%SZ)
awk -F'\t' -v OFS='\t' -v s="$l3serial" -v d="$revdate,cessationOfOperation" \
    '$4 == s { $1 = "R"; $3 = d } { print }' "$P/index.txt" >"$T/index.new"
if grep -q "^R.*	$l3serial	" "$T/index.new"; then
    rm "$P/index.txt"
    cat "$T/index.new" >"$P/index.txt"
    if wait_status "$P/ca.pem" "$P/l3.pem" revoked "$LIMIT_MS"; then
        expect "index.txt deleted and rewritten in place: l3.pem revoked after ${WAITED} ms" "$OUT" \
            '+Response verify OK' '+Reason: cessationOfOperation'
    else
        fail "index.txt deleted and rewritten: l3.pem revoked within $LIMIT_MS ms" "$OUT"
    fi
else
    fail "test setup: awk marked l3 ($l3serial) revoked" "$(cat "$T/index.new")"
fi
ok=
for _ in $(seq 30); do
    code=$(healthz)
    [ "$code" = 200 ] && { ok=1; break; }
    sleep 0.1
done
if [ -n "$ok" ]; then pass "/healthz 200 after the rewrite"; else fail "/healthz 200 after the rewrite (got $code)" "$(cat "$T/healthz.body")"; fi
out=$(ocsp_q -issuer "$P/ca.pem" -cert "$P/good.pem")
expect "earlier revocations kept: good.pem still revoked" "$out" '+good\.pem: revoked$' '+Reason: keyCompromise'

if alive indexer; then pass "revokd-indexer still running"; else fail "revokd-indexer still running (it exited)" "$(tail -n 20 "$T/indexer.log")"; fi
stop_bg indexer
if [ "$STOP_RC" = 0 ] && grep -q 'signal 15: stopping' "$T/indexer.log"; then
    pass "revokd-indexer exits 0 on SIGTERM"
else
    fail "revokd-indexer exits 0 on SIGTERM (exit $STOP_RC)" "$(tail -n 10 "$T/indexer.log")"
fi

# --- control: the same setup polling once an hour does NOT see a revocation ------------------
start_bg indexer-poll env -C / "$IDX" -c "$CONF" --no-inotify
if wait_log indexer-poll 'following 2 issuer\(s\), checking every 3600000 ms' 15; then
    sleep 0.5 # let its first sync (nothing changed) finish
    openssl ca -config "$P/openssl.cnf" -revoke "$P/l4.pem" -crl_reason keyCompromise >"$T/revoke-l4.log" 2>&1
    if wait_status "$P/ca.pem" "$P/l4.pem" revoked 3000; then
        fail "control: with --no-inotify and interval 1h, l4.pem was answered revoked after ${WAITED} ms (so the checks above prove nothing)"
    else
        expect "control: with --no-inotify (interval 1h) l4.pem still good 3 s after the revocation" \
            "$OUT" '+l4\.pem: good$'
    fi
else
    fail "control: indexer --no-inotify started" "$(cat "$T/indexer-poll.log")"
fi
stop_bg indexer-poll
if [ "$STOP_RC" = 0 ]; then pass "revokd-indexer --no-inotify exits 0 on SIGTERM"; else fail "revokd-indexer --no-inotify exits 0 on SIGTERM (exit $STOP_RC)"; fi

# --- shutdown, sanitizer reports ------------------------------------------------------
if alive responder; then pass "revokd-responder survived"; else fail "revokd-responder died" "$(tail -n 20 "$T/responder.log")"; fi
stop_bg responder
mapfile -t reports < <(grep -lE 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:' "$T"/*.log)
if [ "${#reports[@]}" -eq 0 ]; then
    pass "no sanitizer reports in any program log"
else
    fail "sanitizer reports in: ${reports[*]}" "$(grep -hE -A 20 'Sanitizer|runtime error:' "${reports[@]}" | head -n 60)"
fi

finish
