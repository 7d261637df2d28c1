#!/usr/bin/env bash
# End-to-end, least privilege (issue 12, item 4): a private key file others may
# read is refused, as ssh refuses one. Each program that loads a key
# (revokd-indexer: signer_key, revokd-crlgen: crl_key, revokd-signer: signer_key)
# exits non-zero naming the file and the fix (chmod 600) when the key is 0644,
# group-writable, or owned by another non-root user, and starts with the same
# key at 0600. The responder holds no key: it serves with every key file of
# its config gone, and strace shows it opening none.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_key_perms.sh   (ctest sets both)
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=keys
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
CRLGEN=$BUILD/revokd-crlgen
SGN=$BUILD/revokd-signer
need_programs "$IDX" "$RSP" "$CRLGEN" "$SGN"
PORT=$(free_port)
A=$T/pki
make_pki "$A" "$NAME" "a PKI"
expect "mkpki.sh writes every private key 0600" "$(stat -c '%a %n' "$A"/*.key)" '+^600 ' '-^[0-57-9][0-9]* ' \
    '-^6[1-7][0-9] ' '-^60[1-7] '

CONF=$A/revokd.conf
printf '\n[signer]\nsocket = %s/signer.sock\n' "$T" >>"$CONF"

# refused LABEL KEY LOGNAME CMD...: CMD must exit non-zero, its log naming KEY and chmod 600.
refused() {
    local label=$1 key=$2 log=$3 rc
    shift 3
    run_logged "$log" 60 "$@"
    rc=$?
    if [ "$rc" -ge 1 ] && [ "$rc" -le 2 ]; then # a refusal, not a crash (>= 128) or a timeout
        expect "$label: exit $rc, the log names $(basename "$key") and the fix" "$(cat "$T/$log.log")" \
            "+private key .*$(basename "$key").* refusing to use it" "+chmod 600 .*$(basename "$key")"
    else
        fail "$label: exit $rc, want 1 or 2 (a refusal)" "$(cat "$T/$log.log")"
    fi
}

# --- too open: each key holder refuses ------------------------------------------------------
for mode in 644 640 620 604; do
    chmod "$mode" "$A/ocsp.key"
    refused "revokd-indexer, signer_key $mode" "$A/ocsp.key" "idx-$mode" "$IDX" -c "$CONF" --once
    refused "revokd-signer, signer_key $mode" "$A/ocsp.key" "sgn-$mode" "$SGN" -c "$CONF"
    chmod 600 "$A/ocsp.key"
done

# --- 0600: the indexer starts (and builds the store crlgen needs) ----------------------------
if run_logged idx-600 120 "$IDX" -c "$CONF" --once; then
    pass "revokd-indexer --once with every key 0600"
else
    fail "revokd-indexer --once with 0600 keys" "$(cat "$T/idx-600.log")"
    finish
fi

chmod 644 "$A/ca.key"
refused "revokd-crlgen, crl_key 644" "$A/ca.key" crlgen-644 "$CRLGEN" -c "$CONF" --once
chmod 600 "$A/ca.key"
if run_logged crlgen-600 120 "$CRLGEN" -c "$CONF" --once; then
    pass "revokd-crlgen --once with every key 0600"
else
    fail "revokd-crlgen --once with 0600 keys" "$(cat "$T/crlgen-600.log")"
fi

# --- another user's key: refused even at 0600 ------------------------------------------------
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
    chown nobody "$A/ocsp.key"
    run_logged sgn-nobody 60 "$SGN" -c "$CONF"
    rc=$?
    if [ "$rc" -ge 1 ] && [ "$rc" -le 2 ]; then
        expect "revokd-signer, signer_key owned by nobody: exit $rc, the log names the owner and the fix" \
            "$(cat "$T/sgn-nobody.log")" "+private key .*ocsp\.key belongs to uid $(id -u nobody)" '+chown 0 '
    else
        fail "revokd-signer with a key owned by nobody: exit $rc, want 1 or 2" "$(cat "$T/sgn-nobody.log")"
    fi
    chown 0 "$A/ocsp.key"
else
    echo "SKIP: another user's key (needs root and user nobody)"
fi

start_bg signer "$SGN" -c "$CONF"
for ((i = 0; i < 100; i++)); do [ -S "$T/signer.sock" ] && break; sleep 0.1; done
if [ -S "$T/signer.sock" ] && alive signer; then
    pass "revokd-signer starts with its key 0600 (listens on its socket)"
else
    fail "revokd-signer with a 0600 key" "$(cat "$T/signer.log")"
fi
stop_bg signer

# --- the responder holds no key -------------------------------------------------------------
mkdir -p "$T/away"
mv "$A"/*.key "$T/away/"
if command -v strace >/dev/null; then
    start_bg responder strace -D -f -qq -e trace=open,openat,openat2 -o "$T/responder.strace" "$RSP" -c "$CONF"
else
    start_bg responder "$RSP" -c "$CONF"
fi
if wait_port "$PORT" 20; then
    out=$(openssl ocsp -issuer "$A/ca.pem" -cert "$A/good.pem" -url "http://127.0.0.1:$PORT" \
        -CAfile "$A/chain.pem" 2>&1)
    expect "the responder answers with every key file of its config gone (openssl ocsp)" "$out" \
        '+Response verify OK' '+good\.pem: good'
else
    fail "responder without key files listens" "$(cat "$T/responder.log")"
fi
stop_bg responder
if [ -s "$T/responder.strace" ]; then
    expect "strace: the responder opened no .key file" "$(cat "$T/responder.strace")" '+openat\(' '-\.key"'
fi
mv "$T/away"/*.key "$A/"
finish
