#!/usr/bin/env bash
# End-to-end, least privilege (issue 7 item 5): the real revokd-responder started
# as root with `[responder] user = nobody` must run as nobody once it listens
# (every Uid/Gid in /proc/PID/status is nobody's, no supplementary group, CapEff,
# CapPrm and CapInh 0, NoNewPrivs 1) and still answer OCSP, checked with
# `openssl ocsp` against the CA. A request whose nonce is 129 octets is answered
# malformedRequest (RFC 9654 2.1). The program itself has no signing code:
# tests/responder/check_no_signing.sh.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_privileges.sh   (ctest sets both)
#
# Needs root to have something to drop; as another user it says SKIP and exits 0.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: test_privileges needs root (running as uid $(id -u)); nothing to drop"
    exit 0
fi
e2e_init

NAME=priv
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
need_programs "$IDX" "$RSP"
if ! NOBODY_UID=$(id -u nobody) || ! NOBODY_GID=$(id -g nobody); then
    fail "user nobody exists"
    finish
fi
if [ "$NOBODY_UID" -eq 0 ] || [ "$NOBODY_GID" -eq 0 ]; then
    fail "nobody must not be uid/gid 0"
    finish
fi

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
A=$T/pki
make_pki "$A" "$NAME" "a PKI"

CONF=$T/revokd.conf
cat >"$CONF" <<CONF
[store]
path = store

[log]
level = info

[responder]
listen = 127.0.0.1:$PORT
backend = $E2E_BACKEND
user = nobody

[crlgen]
out_dir = crl

[issuer $NAME]
ca_cert     = pki/ca.pem
index       = pki/index.txt
signer_cert = pki/ocsp.pem
signer_key  = pki/ocsp.key
crl_key     = pki/ca.key
digest      = sha256
CONF

if run_logged indexer 120 "$IDX" -c "$CONF" --once; then
    pass "revokd-indexer --once (as root, which owns the store)"
else
    fail "revokd-indexer --once (exit $?)" "$(cat "$T/indexer.log")"
    finish
fi

# The responder starts as root: binding and opening the store happen before the drop.
# The test hook makes each io_uring worker try one opcode it never uses (checked below).
REVOKD_TEST_URING_FORBIDDEN_OP=1 start_bg responder "$RSP" -c "$CONF"
listens responder "revokd-responder (user = nobody) listens on 127.0.0.1:$PORT"
PID=$(_pid_of responder)
PID=${PID#* }

# The answers first, so the status below is read from a process that has served.
ocsp_q() {
    timeout -k 5 30 openssl ocsp -url "$URL" -timeout 10 -CAfile "$A/chain.pem" "$@" 2>&1
}
out=$(ocsp_q -issuer "$A/ca.pem" -cert "$A/good.pem" -no_nonce)
expect "as nobody: openssl ocsp good.pem -> good, Response verify OK" "$out" \
    '+good\.pem: good$' '+Response verify OK' '-Responder Error'
out=$(ocsp_q -issuer "$A/ca.pem" -cert "$A/revoked.pem")
expect "as nobody: openssl ocsp revoked.pem (with a 16-octet nonce) -> revoked" "$out" \
    '+revoked\.pem: revoked$' '+Response verify OK' '-Responder Error'

# A 129-octet nonce: the same request otherwise, answered malformedRequest.
python3 - "$T/nonce129.der" <<'PY'
import sys
def L(n):
    if n < 128: return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big"); return bytes([0x80 | len(b)]) + b
def T(tag, c): return bytes([tag]) + L(len(c)) + c
certid = T(0x30, T(0x30, T(0x06, bytes.fromhex("2b0e03021a")) + b"\x05\x00")
           + T(0x04, bytes(20)) + T(0x04, bytes(20)) + T(0x02, b"\x01"))
ext = T(0x30, T(0x06, bytes.fromhex("2b0601050507300102")) + T(0x04, T(0x04, b"\xa5" * 129)))
open(sys.argv[1], "wb").write(T(0x30, T(0x30, T(0x30, T(0x30, certid)) + T(0xa2, T(0x30, ext)))))
PY
code=$(curl -s --max-time 10 -o "$T/nonce129.resp" -w '%{http_code}' \
    -H 'Content-Type: application/ocsp-request' --data-binary "@$T/nonce129.der" "$URL/")
out="HTTP $code; $(openssl ocsp -respin "$T/nonce129.resp" -resp_text 2>&1 | head -5)"
expect "as nobody: a 129-octet nonce -> malformedRequest" "$out" \
    '+^HTTP 200' '+malformedrequest \(1\)'

status=$(cat "/proc/$PID/status" 2>/dev/null)
if [ -z "$status" ]; then
    fail "/proc/$PID/status readable (responder still running?)" "$(cat "$T/responder.log")"
    finish
fi
U="$NOBODY_UID"$'\t'"$NOBODY_UID"$'\t'"$NOBODY_UID"$'\t'"$NOBODY_UID"
G="$NOBODY_GID"$'\t'"$NOBODY_GID"$'\t'"$NOBODY_GID"$'\t'"$NOBODY_GID"
expect "/proc/PID/status: real, effective, saved and fs uid are nobody's ($NOBODY_UID)" \
    "$status" "+^Uid:	$U\$"
expect "/proc/PID/status: real, effective, saved and fs gid are nobody's ($NOBODY_GID)" \
    "$status" "+^Gid:	$G\$"
expect "/proc/PID/status: no supplementary groups" "$status" '+^Groups:[[:space:]]*$'
expect "/proc/PID/status: CapEff, CapPrm, CapInh, CapAmb all 0" "$status" \
    '+^CapEff:	0+$' '+^CapPrm:	0+$' '+^CapInh:	0+$' '-^CapAmb:	0*[1-9a-f]'
expect "/proc/PID/status: NoNewPrivs 1" "$status" '+^NoNewPrivs:	1$'
# Every thread (workers, if any) dropped too.
bad=
for t in /proc/"$PID"/task/*/status; do
    grep -q "^Uid:	$U\$" "$t" && grep -q '^CapEff:	0*$' "$t" || bad="$bad $t"
done
if [ -z "$bad" ]; then pass "every thread of the responder runs as nobody without capabilities"
else fail "threads still privileged:$bad"; fi

stop_bg responder
if [ "$STOP_RC" = 0 ]; then pass "SIGTERM: the dropped responder exits 0"
else fail "SIGTERM: responder exit status $STOP_RC" "$(tail -20 "$T/responder.log")"; fi

# io_uring rings are restricted to the opcodes the backend submits (issue 12): the
# answers above came through them, and an opcode outside the list is refused.
log=$(cat "$T/responder.log")
if printf '%s\n' "$log" | grep -q 'info: backend io_uring, '; then
    expect "io_uring: the rings are restricted" "$log" '+opcodes restricted'
    expect "io_uring: IORING_OP_NOP on a restricted ring is refused (EACCES), on every worker" \
        "$log" '+IORING_OP_NOP on the restricted ring: Permission denied' \
        '-IORING_OP_NOP on the restricted ring: allowed'
fi
finish
