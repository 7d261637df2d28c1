#!/usr/bin/env bash
# End-to-end, least privilege (issue 12, item 4): the real revokd-responder runs
# under its seccomp filter (responder/sandbox.c; [responder] seccomp, on by
# default) on the backend under test. The log says the filter is installed and
# for which backend; the kernel says so for every thread (/proc/PID/task/*/status
# "Seccomp: 2", NoNewPrivs 1); /metrics says revokd_seccomp 1; under the filter
# it answers OCSP (openssl ocsp verifies), reopens a rebuilt store on SIGHUP and
# serves the revocation it holds, answers /healthz with a live signer configured,
# and exits 0 on SIGTERM. With seccomp = off: "Seccomp: 0", revokd_seccomp 0.
# That the filter refuses what it should (execve, raw sockets, ptrace, opening
# for writing...) is tests/responder/test_sandbox.c, with the same filter.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_sandbox.sh   (ctest sets both)
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=sbx
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
need_programs "$IDX" "$RSP"
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
A=$T/pki
make_pki "$A" "$NAME" "a PKI"
CONF=$A/revokd.conf
# Two workers (threads the filter must cover), and a live signer socket nobody
# listens on: /healthz probes it with socket(AF_UNIX) + connect under the filter.
sed -i "s|^\[responder\]|[responder]\nworkers = 2|" "$CONF"
printf '\n[signer]\nsocket = %s/nosigner.sock\n' "$T" >>"$CONF"
sed "s|^\[responder\]|[responder]\nseccomp = off|" "$CONF" >"$A/off.conf"

if run_logged indexer 120 "$IDX" -c "$CONF" --once; then
    pass "revokd-indexer --once"
else
    fail "revokd-indexer --once" "$(cat "$T/indexer.log")"
    finish
fi

ocsp_q() {
    timeout -k 5 30 openssl ocsp -url "$URL" -timeout 10 -CAfile "$A/chain.pem" -issuer "$A/ca.pem" "$@" 2>&1
}

start_bg responder "$RSP" -c "$CONF"
listens responder "revokd-responder listens"
PID=$(pid_of responder)
be=$(sed -n 's/.*revokd-responder info: backend \([a-z_]*\), .*/\1/p' "$T/responder.log" | head -1)
expect "the log: filter installed for the backend that runs ($be), after the set-up" "$(cat "$T/responder.log")" \
    "+seccomp: filter installed \([0-9]+ syscalls allowed, backend $be\)" '-seccomp: off'
n=$(grep -c . <(ls -d /proc/"$PID"/task/*))
bad=
for t in /proc/"$PID"/task/*/status; do
    grep -q '^Seccomp:	2$' "$t" && grep -q '^NoNewPrivs:	1$' "$t" || bad="$bad $t"
done
if [ "$n" -ge 3 ] && [ -z "$bad" ]; then
    pass "/proc: all $n threads (main + 2 workers) say Seccomp: 2 and NoNewPrivs: 1"
else
    fail "/proc: threads not filtered ($n threads):$bad" "$(grep -H Seccomp /proc/"$PID"/task/*/status)"
fi

out=$(ocsp_q -cert "$A/good.pem")
expect "under the filter: openssl ocsp good.pem -> good, verified" "$out" '+good\.pem: good$' '+Response verify OK'
out=$(curl -s --max-time 10 "$URL/metrics")
expect "/metrics: revokd_seccomp 1" "$out" '+^revokd_seccomp 1$'
# /healthz probes the signer socket (socket(AF_UNIX) + connect under the filter): a
# listener there is seen up, and down once it is gone.
out=$(curl -s --max-time 10 "$URL/healthz")
expect "/healthz with nothing on the signer socket: signer down" "$out" '+live signer down'
start_bg listener "$PY" -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(16); time.sleep(60)' "$T/nosigner.sock"
for ((i = 0; i < 50; i++)); do [ -S "$T/nosigner.sock" ] && break; sleep 0.1; done
out=$(curl -s --max-time 10 "$URL/healthz")
expect "/healthz with a listener on the signer socket: connect() worked under the filter" "$out" \
    '+^ok' '-live signer down'
stop_bg listener

# SIGHUP after a rebuild: mdb_env_open, the warm-up and the switch all run under the filter.
openssl ca -config "$A/openssl.cnf" -revoke "$A/good.pem" -crl_reason keyCompromise >"$T/revoke.log" 2>&1 ||
    fail "openssl ca -revoke good.pem" "$(cat "$T/revoke.log")"
mv "$A/store" "$A/store.old"
if run_logged indexer-2 120 "$IDX" -c "$CONF" --once; then pass "store rebuilt beside the running responder"; else fail "rebuild" "$(cat "$T/indexer-2.log")"; fi
kill -HUP "$PID"
for ((i = 0; i < 100; i++)); do grep -q 'SIGHUP: store .* reopened' "$T/responder.log" && break; sleep 0.1; done
expect "under the filter: SIGHUP reopened the rebuilt store" "$(cat "$T/responder.log")" \
    '+SIGHUP: store .* reopened' '+store warm-up: [0-9]+ MB mapped' '-cannot open read-only' '-warm-up: Operation not permitted'
out=$(ocsp_q -cert "$A/good.pem")
expect "after the reopen: good.pem -> revoked (keyCompromise), verified" "$out" '+good\.pem: revoked$' \
    '+Reason: keyCompromise' '+Response verify OK'
stop_bg responder
if [ "$STOP_RC" = 0 ]; then pass "exit 0 on SIGTERM under the filter"; else fail "SIGTERM exit $STOP_RC" "$(cat "$T/responder.log")"; fi
expect "no refused call reached the log" "$(cat "$T/responder.log")" '-Operation not permitted' '-Fatal glibc error'

# seccomp = off: nothing installed.
start_bg off "$RSP" -c "$A/off.conf"
if wait_port "$PORT" 15; then
    PID=$(pid_of off)
    expect "seccomp = off: Seccomp: 0" "$(cat /proc/"$PID"/status)" '+^Seccomp:	0$'
    expect "seccomp = off: the log says so" "$(cat "$T/off.log")" '+seccomp: off' '-filter installed'
    expect "seccomp = off: /metrics revokd_seccomp 0" "$(curl -s --max-time 10 "$URL/metrics")" '+^revokd_seccomp 0$'
    expect "seccomp = off: still answers" "$(ocsp_q -cert "$A/revoked.pem")" '+revoked\.pem: revoked$' '+Response verify OK'
else
    fail "responder with seccomp = off listens" "$(cat "$T/off.log")"
fi
stop_bg off
finish
