#!/usr/bin/env bash
# End-to-end: an operator revokes, holds and releases certificates with revokctl
# while revokd-indexer and revokd-responder run, and every client sees it at once:
# the first `openssl ocsp` query after revokctl returns already answers the new
# status (no waiting for a sync), with reason and time, verified; the next
# `revokd-crlgen --once` lists it and `openssl verify -crl_check` refuses the
# certificate. The audit log is JSON lines with before/after, and every change
# has an intent line and a committed line with the same op and change seq.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_revokctl.sh   (ctest sets both)
#   E2E_KEEP=1 keeps the temp dir; it is always kept when something failed.
#
# Covered: revoke (with --time, --invalidity-date, --by, --comment), the same
# revoke again (no-op, exit 0), a reason change other than to keyCompromise
# (refused), hold + release, release/hold of a revoked certificate (refused), a
# release of a hold index.txt set (refused, naming the source), usage errors
# (future time, bad reason, certificateHold as a reason, unknown issuer, bad
# serial: exit 2, nothing audited), a serial the store does not know (revoked
# anyway; status of another unknown serial exits 3), status/list in text and
# JSON, no writable audit log (nothing changes), and what the indexer does at its
# next index.txt sync: the store's precedence rule must keep revokctl's
# revocation and hold (revoked wins; a hold is released only by the source that
# set it) and stay healthy.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=rctl
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
CRLGEN=$BUILD/revokd-crlgen
RCTL=$BUILD/revokctl
CHECK=("$PY" "$HERE/check_ocsp.py")

echo "e2e: build $BUILD, temp $T"
need_programs "$IDX" "$RSP" "$CRLGEN" "$RCTL"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
P=$T/pki
make_pki "$P" "$NAME" "a PKI (issuer $NAME)"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/x.key" 2>/dev/null
openssl req -new -key "$T/x.key" -subj "/CN=rctl-extra" -out "$T/x.csr" -config /dev/null 2>/dev/null
issue() { # issue NAME: a leaf from the issuing CA's openssl ca
    openssl ca -config "$P/openssl.cnf" -batch -notext -extensions leaf_ext -in "$T/x.csr" \
        -out "$P/$1.pem" >>"$T/issue.log" 2>&1
}
ok=1
for n in h1 h2 ih; do issue "$n" || ok=; done
if [ -n "$ok" ]; then pass "issued h1 h2 ih"; else fail "openssl ca issuing" "$(cat "$T/issue.log")"; finish; fi
GOOD=$(serial_of "$P/good.pem")
REV=$(serial_of "$P/revoked.pem")
H1=$(serial_of "$P/h1.pem")
H2=$(serial_of "$P/h2.pem")
IH=$(serial_of "$P/ih.pem")
UNK=7A7A7A01 # issued elsewhere (say), never seen by the indexer

# [indexer] audit_log unset: the default is audit.log beside the store directory.
CONF=$T/revokd.conf
cat >"$CONF" <<EOF
[store]
path = store
[log]
level = info
[responder]
listen = 127.0.0.1:$PORT
backend = $E2E_BACKEND
[indexer]
validity = 4d
refresh  = 2h
interval = 1h
[crlgen]
out_dir = crl
[issuer $NAME]
ca_cert     = pki/ca.pem
index       = pki/index.txt
signer_cert = pki/ocsp.pem
signer_key  = pki/ocsp.key
crl_key     = pki/ca.key
crlnumber   = pki/crlnumber
EOF
AUDIT=$T/audit.log

ocsp_q() { # ocsp_q CERT: one openssl ocsp query, verified against chain.pem
    timeout -k 5 30 openssl ocsp -url "$URL" -timeout 10 -CAfile "$P/chain.pem" -no_nonce \
        -issuer "$P/ca.pem" -cert "$1" 2>&1
}
ocsp_until() { # ocsp_until CERT REGEX: query until the answer matches; the last one in $out
    # Up to 15 s in all, not a count of tries: each may wait 10 s for a responder that is gone.
    local end=$((SECONDS + 15))
    while :; do
        out=$(ocsp_q "$1")
        grep -q -- "$2" <<<"$out" && return 0
        ((SECONDS < end)) || return 1
        sleep 0.05
    done
}
pycheck() { # pycheck MSG ARGS...
    local msg=$1 out rc
    shift
    out=$(timeout -k 5 30 "${CHECK[@]}" "$@" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then pass "$msg: $out"; else fail "$msg (exit $rc)" "$out"; fi
}
# rctl NAME ARGS...: runs revokctl; RC, OUT (stdout), ERR (stderr)
rctl() {
    local name=$1
    shift
    timeout -k 5 60 "$RCTL" -c "$CONF" "$@" >"$T/rctl-$name.out" 2>"$T/rctl-$name.err"
    RC=$?
    OUT=$(cat "$T/rctl-$name.out")
    ERR=$(cat "$T/rctl-$name.err")
}
# openssl's "Revocation Time: Nov 30 12:00:00 2026 GMT" for Unix seconds
ossl_time() { LC_ALL=C date -u -d "@$1" '+%b %e %H:%M:%S %Y GMT'; }

# --- start --------------------------------------------------------------------------------
start_bg indexer env -C / "$IDX" -c "$CONF"
if ! wait_log indexer "\[issuer $NAME\] synced" 30; then
    fail "revokd-indexer synced within 30 s" "$(cat "$T/indexer.log")"
    finish
fi
start_bg responder env -C / "$RSP" -c "$CONF"
listens responder "revokd-responder listens"
out=$(ocsp_q "$P/good.pem")
expect "before: good.pem good" "$out" '+good\.pem: good$' '+Response verify OK'

# --- revoke a good certificate: answered at once ------------------------------------------
now=$(date +%s)
rt=$((now - 300))
it=$((now - 3600))
RT3339=$(date -u -d "@$rt" +%Y-%m-%dT%H:%M:%SZ)
ITGEN=$(date -u -d "@$it" +%Y%m%d%H%M%SZ)
rctl revoke revoke --issuer "$NAME" --serial "$GOOD" --reason keyCompromise --time "$RT3339" \
    --invalidity-date "$ITGEN" --by "ticket RCTL-1" --comment 'key "leaked" on a pastebin'
expect "revokctl revoke good.pem: exit 0, says what it did" "rc=$RC
$OUT" '+^rc=0$' '+now revoked at' '+change seq [0-9]+'
out=$(ocsp_q "$P/good.pem") # the very first query after revokctl returned: no waiting
expect "first openssl ocsp after revokctl returned: revoked, keyCompromise, its time, verified" \
    "$out" '+good\.pem: revoked$' '+Reason: keyCompromise' \
    "+Revocation Time: $(ossl_time "$rt")" '+Response verify OK'
thu=$(printf '%s\n' "$out" | sed -n 's/^[[:space:]]*This Update: //p' | head -n 1)
if [ -n "$thu" ] && [ "$(date -u -d "$thu" +%s)" -ge "$rt" ]; then
    pass "thisUpdate ($thu) not before the revocation time"
else
    fail "thisUpdate not before the revocation time" "$out"
fi
pycheck "python: good.pem revoked (keyCompromise), signature checked" ocsp --url "$URL" \
    --issuer "$P/ca.pem" --cert "$P/good.pem" --expect revoked --reason key_compromise --hash sha256
out=$(timeout -k 5 30 ocsptool --ask="$URL" --no-nonce --load-issuer "$P/ca.pem" \
    --load-cert "$P/good.pem" --outfile "$T/gnutls-good.der" 2>&1)
rc=$?
out2=$(timeout 20 ocsptool -e --load-trust "$P/chain.pem" --load-response "$T/gnutls-good.der" 2>&1)
expect "GnuTLS ocsptool: good.pem revoked, response verified against chain.pem" "rc=$rc
$out
$out2" '+^rc=0$' '+Certificate Status: revoked' '+Verifying OCSP Response: Success' '-Failure'

rctl again revoke --issuer "$NAME" --serial "$GOOD" --reason keyCompromise
expect "the same revoke again: exit 0, nothing changed" "rc=$RC
$OUT" '+^rc=0$' '+already revoked.*nothing changed'
rctl reason revoke --issuer "$NAME" --serial "$GOOD" --reason superseded
expect "changing the reason to superseded: refused (exit 1)" "rc=$RC
$ERR" '+^rc=1$' '+only ever changed to keyCompromise'

# --- hold, release ------------------------------------------------------------------------
rctl hold1 hold --issuer "$NAME" --serial "$H1" --by ops
expect "revokctl hold h1: exit 0" "rc=$RC
$OUT" '+^rc=0$' '+now on hold'
out=$(ocsp_q "$P/h1.pem")
expect "h1 answered on hold at once" "$out" '+h1\.pem: revoked$' '+Reason: certificateHold' '+Response verify OK'
rctl release1 release --issuer "$NAME" --serial "$H1" --by ops
expect "revokctl release h1: exit 0" "rc=$RC
$OUT" '+^rc=0$' '+now good'
out=$(ocsp_q "$P/h1.pem")
expect "h1 answered good at once after the release" "$out" '+h1\.pem: good$' '+Response verify OK'
pycheck "python: h1 good" ocsp --url "$URL" --issuer "$P/ca.pem" --cert "$P/h1.pem" --expect good
rctl hold2 hold --issuer "$NAME" --serial "0x$H2"
expect "revokctl hold h2 (serial given as 0x...): exit 0" "rc=$RC" '+^rc=0$'

# --- what the rules refuse ----------------------------------------------------------------
rctl relrev release --issuer "$NAME" --serial "$REV"
expect "release of revoked.pem (index.txt, keyCompromise): refused" "rc=$RC
$ERR" '+^rc=1$' '+never undone'
rctl holdrev hold --issuer "$NAME" --serial "$REV"
expect "hold of revoked.pem: refused" "rc=$RC
$ERR" '+^rc=1$' '+cannot become a hold'
out=$(ocsp_q "$P/revoked.pem")
expect "revoked.pem still revoked" "$out" '+revoked\.pem: revoked$' '+Reason: keyCompromise'

openssl ca -config "$P/openssl.cnf" -revoke "$P/ih.pem" -crl_reason certificateHold >"$T/ih.log" 2>&1
if ocsp_until "$P/ih.pem" 'Reason: certificateHold'; then pass "ih put on hold in index.txt (openssl ca), answered so"; else fail "ih on hold via index.txt" "$out"; fi
rctl relih release --issuer "$NAME" --serial "$IH"
expect "release of a hold index.txt set: refused, naming the source" "rc=$RC
$ERR" '+^rc=1$' '+set by index' '+only by the source that set it'

# --- usage errors: exit 2, nothing audited ---------------------------------------------------
lines_before=$(wc -l <"$AUDIT")
future=$(date -u -d "@$((now + 3600))" +%Y-%m-%dT%H:%M:%SZ)
rctl future revoke --issuer "$NAME" --serial "$H1" --reason keyCompromise --time "$future"
expect "revocation time in the future: exit 2" "rc=$RC
$ERR" '+^rc=2$' '+in the future'
rctl badreason revoke --issuer "$NAME" --serial "$H1" --reason compromised
expect "unknown reason name: exit 2, lists the names" "rc=$RC
$ERR" '+^rc=2$' '+not an RFC 5280 CRLReason name' '+keyCompromise'
rctl holdreason revoke --issuer "$NAME" --serial "$H1" --reason certificateHold
expect "certificateHold as a revoke reason: exit 2, points to hold" "rc=$RC
$ERR" '+^rc=2$' '+revokctl hold'
rctl noreason revoke --issuer "$NAME" --serial "$H1"
expect "revoke without --reason: exit 2" "rc=$RC
$ERR" '+^rc=2$' '+needs --reason'
rctl badissuer revoke --issuer nosuch --serial "$H1" --reason keyCompromise
expect "unknown issuer: exit 2" "rc=$RC
$ERR" '+^rc=2$' '+no \[issuer nosuch\]'
rctl badserial revoke --issuer "$NAME" --serial 12zz --reason keyCompromise
expect "bad serial: exit 2" "rc=$RC
$ERR" '+^rc=2$' '+expected a hex serial'
rctl badtime hold --issuer "$NAME" --serial "$H1" --time 2026-02-30T00:00:00Z
expect "impossible date: exit 2" "rc=$RC
$ERR" '+^rc=2$' '+expected RFC 3339'
if [ "$(wc -l <"$AUDIT")" = "$lines_before" ]; then pass "usage errors are not audited (nothing was attempted)"; else fail "usage errors wrote audit lines"; fi
out=$(ocsp_q "$P/h1.pem")
expect "h1 still good after the refused commands" "$out" '+h1\.pem: good$'

# --- a serial the store does not know ---------------------------------------------------------
rctl unk revoke --issuer "$NAME" --serial "$UNK" --reason cessationOfOperation
expect "revoke of an unknown serial: exit 0 with a warning" "rc=$RC
$ERR" '+^rc=0$' '+not in the store'
rctl unkstatus status --issuer "$NAME" --serial "$UNK"
expect "status of it: revoked, set by revokctl" "rc=$RC
$OUT" '+^rc=0$' '+status +revoked' '+reason +cessationOfOperation' '+set by +revokctl'
rctl unk2 status --issuer "$NAME" --serial 7A7A7A02
expect "status of a serial nobody knows: exit 3" "rc=$RC
$OUT" '+^rc=3$' '+not in the store'

# --- status and list as JSON -------------------------------------------------------------------
rctl sjson status --issuer "$NAME" --serial "$GOOD" --json
out=$("$PY" - "$T/rctl-sjson.out" "$rt" "$it" <<'EOF' 2>&1
import json, sys, datetime
d = json.load(open(sys.argv[1]))
c = d["cert"]
ts = lambda s: int(datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp())
assert d["known"] is True, d
assert c["status"] == "revoked" and c["reason"] == "keyCompromise", c
# "sources" are the sources that list it as issued: an operator's statement is not one.
assert c["source"] == "revokctl" and c["sources"] == ["index"], c
assert ts(c["revocation_time"]) == int(sys.argv[2]), c
assert ts(c["invalidity_date"]) == int(sys.argv[3]), c
assert d["responses"]["sha1"] and d["responses"]["sha256"], d
assert ts(d["responses"]["sha256"]["this_update"]) >= int(sys.argv[2]), d
print("OK")
EOF
)
expect "status --json good.pem: revoked, keyCompromise, times, source, both responses" "rc=$RC
$out" '+^rc=0$' '+^OK$'
rctl list list --issuer "$NAME" --revoked
expect "list --revoked: good, h2, revoked, ih, the unknown serial; not h1" "rc=$RC
$OUT" '+^rc=0$' "+^$GOOD	revoked	keyCompromise	" "+^$H2	hold	certificateHold	" \
    "+^$REV	revoked	" "+^$IH	hold	" "+^$UNK	revoked	cessationOfOperation	" "-^$H1	"
rctl ljson list --issuer "$NAME" --revoked --json
out=$("$PY" -c 'import json, sys
l = json.load(open(sys.argv[1]))
print(len(l), sorted(e["serial"] for e in l))' "$T/rctl-ljson.out" 2>&1)
expect "list --revoked --json parses: 5 entries" "$out" '+^5 '

# --- the audit log -------------------------------------------------------------------------------
out=$("$PY" - "$AUDIT" "$(id -un)" "$GOOD" "$H1" <<'EOF' 2>&1
import json, sys
path, user, good, h1 = sys.argv[1:5]
lines = [json.loads(l) for l in open(path)]
phases = [l["phase"] for l in lines]
intents = {l["op"]: l for l in lines if l["phase"] == "intent"}
done = {l["op"]: l for l in lines if l["phase"] == "committed"}
assert set(intents) == set(done), "every intent has its committed line"
for op, l in done.items():
    assert l["seq"] and l["seq"] == intents[op]["seq"] == l["after"]["seq"], l
    assert "before" in l and l["after"], l
    assert l["who"]["user"] == user and l["who"]["uid"] >= 0, l["who"]
    assert l["when"].endswith("Z"), l
first = lines[0]
assert first["phase"] == "intent" and first["what"]["command"] == "revoke", first
assert first["what"]["serial"] == good and first["what"]["reason"] == "keyCompromise", first
assert first["before"]["status"] == "good" and first["after"]["status"] == "revoked", first
assert first["who"]["by"] == "ticket RCTL-1", first["who"]
assert first["who"]["comment"] == 'key "leaked" on a pastebin', first["who"]
rel = [l for l in done.values() if l["what"]["command"] == "release"]
assert len(rel) == 1 and rel[0]["what"]["serial"] == h1, rel
assert rel[0]["before"]["status"] == "hold" and rel[0]["after"]["status"] == "good", rel
unk = [l for l in done.values() if l["before"] is None]
assert len(unk) == 1 and unk[0]["after"]["status"] == "revoked", unk
print("OK", len(done), "changes,", phases.count("unchanged"), "unchanged,",
      phases.count("refused"), "refused")
EOF
)
expect "audit log: JSON lines; intent+committed per change with before/after, who, seq" "$out" \
    '+^OK 5 changes, 1 unchanged, 4 refused$'
mode=$(stat -c %a "$AUDIT")
expect "audit log is not world-readable" "$mode" '+^640$'

# --- ten revokctl at once: the flock keeps each intent next to its outcome -------------------
pids=()
for i in $(seq 10); do
    "$RCTL" -c "$CONF" revoke --issuer "$NAME" --serial "$(printf '7B0000%02X' "$i")" \
        --reason superseded >"$T/rctl-par$i.out" 2>"$T/rctl-par$i.err" &
    pids+=("$!")
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
if [ "$bad" -eq 0 ]; then pass "10 concurrent revokctl revoke: all exit 0"; else fail "concurrent revokctl: $bad failed" "$(cat "$T"/rctl-par*.err)"; fi
out=$("$PY" - "$AUDIT" <<'EOF2' 2>&1
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])][-20:]
seqs = []
for i in range(0, 20, 2):
    a, b = lines[i], lines[i + 1]
    assert a["phase"] == "intent" and b["phase"] == "committed" and a["op"] == b["op"], (a, b)
    assert a["what"]["serial"].startswith("7B0000"), a
    seqs.append(b["seq"])
assert len(set(seqs)) == 10 and seqs == sorted(seqs), seqs
print("OK", len(set(l["what"]["serial"] for l in lines)), "serials")
EOF2
)
expect "audit log after 10 concurrent runs: intent then committed per op, seqs in commit order" \
    "$out" '+^OK 10 serials$'
n=0
for i in $(seq 10); do
    "$RCTL" -c "$CONF" status --issuer "$NAME" --serial "$(printf '7B0000%02X' "$i")" --json \
        | grep -q '"status":"revoked","reason":"superseded"' && n=$((n + 1))
done
expect "all 10 stored revoked (superseded)" "$n" '+^10$'

# --- the indexer's next sync of index.txt keeps revokctl's state ----------------------------
issue n1 # openssl ca rewrites index.txt: the indexer re-reads all of it
if ocsp_until "$P/n1.pem" 'n1\.pem: good$'; then pass "indexer synced index.txt again (n1 answered good)"; else fail "indexer sync after issuing n1" "$out"; fi
out=$(ocsp_q "$P/good.pem")
expect "after the sync: good.pem still revoked (revoked wins over index.txt's V)" "$out" \
    '+good\.pem: revoked$' '+Reason: keyCompromise'
out=$(ocsp_q "$P/h2.pem")
expect "after the sync: h2 still on hold (a hold is released only by the source that set it)" \
    "$out" '+h2\.pem: revoked$' '+Reason: certificateHold'
code=$(healthz)
expect "/healthz 200 after the sync: a revokctl revocation is not an un-revocation alarm" \
    "$code $(cat "$T/healthz.body")" '+^200'

# --- CRL ------------------------------------------------------------------------------------------
if run_logged crlgen 120 env -C / "$CRLGEN" -c "$CONF" --once; then
    pass "revokd-crlgen --once"
else
    fail "revokd-crlgen --once (exit $?)" "$(cat "$T/crlgen.log")"
fi
out=$(openssl crl -inform DER -in "$T/crl/$NAME.crl" -CAfile "$P/chain.pem" -noout -text 2>&1)
expect "openssl crl: verified; lists good.pem (Key Compromise, Invalidity Date), h2 (hold), the unknown serial; not h1" \
    "$out" '+verify OK' "+Serial Number: $GOOD" '+Key Compromise' '+Invalidity Date' \
    "+Serial Number: $H2" '+Certificate Hold' "+Serial Number: $UNK" "-Serial Number: $H1"
out=$(openssl verify -crl_check -CAfile "$P/chain.pem" -CRLfile "$T/crl/$NAME.crl.pem" "$P/good.pem" 2>&1)
rc=$?
expect "openssl verify -crl_check good.pem -> certificate revoked" "rc=$rc
$out" '+certificate revoked' '-^rc=0$'
out=$(openssl verify -crl_check -CAfile "$P/chain.pem" -CRLfile "$T/crl/$NAME.crl.pem" "$P/h1.pem" 2>&1)
rc=$?
expect "openssl verify -crl_check h1.pem (released) -> OK" "rc=$rc
$out" '+h1\.pem: OK' '+^rc=0$'
pycheck "python crl: good.pem key_compromise, h1 not revoked" crl --crl "$T/crl/$NAME.crl" \
    --issuer "$P/ca.pem" --revoked "$P/good.pem:key_compromise" --not-revoked "$P/h1.pem"

# --- no audit log, no change ------------------------------------------------------------------------
sed "s#^\[indexer\]#[indexer]\naudit_log = $T/no/such/dir/audit.log#" "$CONF" >"$T/noaudit.conf"
timeout -k 5 60 "$RCTL" -c "$T/noaudit.conf" hold --issuer "$NAME" --serial "$H1" \
    >"$T/rctl-noaudit.out" 2>"$T/rctl-noaudit.err"
rc=$?
expect "audit log not writable: refused, nothing changed" "rc=$rc
$(cat "$T/rctl-noaudit.err")" '+^rc=1$' '+audit log .*no/such/dir.*nothing changed'
out=$(ocsp_q "$P/h1.pem")
expect "h1 still good" "$out" '+h1\.pem: good$'

# --- shutdown --------------------------------------------------------------------------------------
if alive indexer; then pass "revokd-indexer still running"; else fail "revokd-indexer died" "$(tail -n 20 "$T/indexer.log")"; fi
if alive responder; then pass "revokd-responder still running"; else fail "revokd-responder died" "$(tail -n 20 "$T/responder.log")"; fi
stop_bg indexer
stop_bg responder
mapfile -t reports < <(grep -lE 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:' "$T"/*.log "$T"/rctl-*.err)
if [ "${#reports[@]}" -eq 0 ]; then
    pass "no sanitizer reports in any program log"
else
    fail "sanitizer reports in: ${reports[*]}" "$(grep -hE -A 20 'Sanitizer|runtime error:' "${reports[@]}" | head -n 60)"
fi

finish
