#!/usr/bin/env bash
# End-to-end: expiry monitoring (issue 8 items 5 and 6) with a PKI made by
# scripts/mkpki.sh and leaves issued by `openssl ca` that expire in 5, 20, 60 and
# 200 days, one already expired (-startdate/-enddate) and one revoked that
# expires in 5 days:
#   - after `revokd-indexer --once`, /metrics counts per issuer and cumulative
#     window: within 7d 1, 30d 2, 90d 3, expired 1 (revoked ones never count),
#     and the other issuer (the root) its own;
#   - /healthz stays 200: expiring certificates are not unhealthy;
#   - the indexer logs a warning per window whose count went up, and not again
#     on the next start when nothing changed;
#   - the following indexer picks a new leaf expiring in 3 days up at once:
#     within 7d becomes 2 without waiting for the hourly recount;
#   - [indexer] signer_warn = 366d flags a delegated OCSP signer issued for 100
#     days and not the CA or the CRL signer (the CA, 1825 days); the notAfter
#     gauges match openssl's.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_expiry.sh   (ctest sets both)
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=exp
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
echo "e2e: build $BUILD, temp $T"
need_programs "$IDX" "$RSP" /usr/bin/curl

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
A=$T/pki
make_pki "$A" "$NAME" "a PKI"
CNF=$A/openssl.cnf
CONF=$T/revokd.conf
cat >"$CONF" <<EOC
[store]
path = store

[log]
level = info

[responder]
listen = 127.0.0.1:$PORT
backend = $E2E_BACKEND

[indexer]
signer_warn = 366d
# The leaf that expired in 2021 is still answered (and counted as expired) for
# the retention; with the default 365 days it would have been dropped.
expired_retention = 3650d

[issuer $NAME]
ca_cert     = pki/ca.pem
index       = pki/index.txt
signer_cert = pki/sig.pem
signer_key  = pki/sig.key
crl_key     = pki/ca.key

[issuer $NAME-root]
ca_cert     = pki/root.pem
index       = pki/root/index.txt
signer_cert = pki/ocsp-root.pem
signer_key  = pki/ocsp-root.key
EOC

# issue NAME [openssl ca args...]: a leaf (extensions $EXT) from the intermediate's `openssl ca`
EXT=leaf_ext
issue() {
    local n=$1
    shift
    openssl req -new -config "$CNF" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$A/$n.key" -subj "/O=revokd e2e/CN=$n.$NAME.revokd.test" -out "$A/$n.csr" \
        >>"$T/issue.log" 2>&1 &&
        openssl ca -config "$CNF" -batch -notext -extensions "$EXT" -in "$A/$n.csr" \
            -out "$A/$n.pem" "$@" >>"$T/issue.log" 2>&1
}

ok=1
EXT=ocsp_ext issue sig -days 100 || ok=0
for d in 5 20 60 200; do issue "d$d" -days "$d" || ok=0; done
issue old -startdate 20200101000000Z -enddate 20210101000000Z || ok=0
issue gone -days 5 || ok=0
openssl ca -config "$CNF" -revoke "$A/gone.pem" -crl_reason superseded >>"$T/issue.log" 2>&1 || ok=0
if [ "$ok" = 1 ]; then
    pass "openssl ca issued a 100-day OCSP signer and leaves expiring in 5, 20, 60, 200 days, one expired, one revoked"
else
    fail "issue leaves" "$(tail -n 20 "$T/issue.log")"
    finish
fi
# Control: the dates openssl wrote are the ones the counts below rely on.
expect "index.txt has the expired leaf's end date" "$(cat "$A/index.txt")" '+^V	210101000000Z	'

metrics() { curl -s --max-time 5 "$URL/metrics"; }
# metric_line NAME LABELS: the sample's value, empty if there is none
metric() { metrics | awk -v k="$1$2" '$1 == k { print $2 }'; }

if run_logged idx-1 120 env -C "$T" "$IDX" -c "$CONF" --once; then
    pass "revokd-indexer --once exits 0"
else
    fail "revokd-indexer --once exits 0 (exit $?)" "$(cat "$T/idx-1.log")"
fi
L=$(cat "$T/idx-1.log")
expect "indexer warns per window whose count went up" "$L" \
    "+\[issuer $NAME\] 1 certificate\(s\) expire within 7 days \(was 0\), the first at " \
    "+\[issuer $NAME\] 2 certificate\(s\) expire within 30 days \(was 0\)" \
    "+\[issuer $NAME\] 3 certificate\(s\) expire within 90 days \(was 0\)" \
    "-\[issuer $NAME-root\] .* expire within"
# the first at: d5's notAfter, as openssl prints it
D5=$(date -u -d "$(openssl x509 -in "$A/d5.pem" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
expect "the 7-day warning names the first expiry ($D5)" "$L" "+within 7 days \(was 0\), the first at $D5"

start_bg responder env -C "$T" "$RSP" -c "$CONF"
wait_port "$PORT" 15 || { fail "responder listens" "$(cat "$T/responder.log")"; finish; }
M=$(metrics)
expect "/metrics: counts per window for $NAME" "$M" \
    "+^revokd_certs_expiring\{issuer=\"$NAME\",within=\"7d\"\} 1$" \
    "+^revokd_certs_expiring\{issuer=\"$NAME\",within=\"30d\"\} 2$" \
    "+^revokd_certs_expiring\{issuer=\"$NAME\",within=\"90d\"\} 3$" \
    "+^revokd_certs_expired\{issuer=\"$NAME\"\} 1$" \
    "+^revokd_certs_expiring\{issuer=\"$NAME-root\",within=\"90d\"\} 0$" \
    "+^revokd_certs_expired\{issuer=\"$NAME-root\"\} 0$" \
    "+^revokd_certs_expiry_timestamp_seconds\{issuer=\"$NAME\"\} [0-9]+$"
code=$(curl -s --max-time 5 -o "$T/healthz.body" -w '%{http_code}' "$URL/healthz")
if [ "$code" = 200 ]; then
    pass "/healthz is 200 although certificates expire soon"
else
    fail "/healthz is 200 (got $code)" "$(cat "$T/healthz.body")"
fi

# Signer and CA expiry: gauges equal to openssl's notAfter; warning only for the signer.
na() { date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s; }
expect "/metrics: notAfter gauges and signer_warn = 366d flags the 100-day OCSP signer only" "$M" \
    "+^revokd_issuer_signer_not_after_timestamp_seconds\{issuer=\"$NAME\"\} $(na "$A/sig.pem")$" \
    "+^revokd_issuer_ca_not_after_timestamp_seconds\{issuer=\"$NAME\"\} $(na "$A/ca.pem")$" \
    "+^revokd_issuer_crl_signer_not_after_timestamp_seconds\{issuer=\"$NAME\"\} $(na "$A/ca.pem")$" \
    "+^revokd_issuer_cert_expiry_warning\{issuer=\"$NAME\",cert=\"signer\"\} 1$" \
    "+^revokd_issuer_cert_expiry_warning\{issuer=\"$NAME\",cert=\"ca\"\} 0$" \
    "+^revokd_issuer_cert_expiry_warning\{issuer=\"$NAME\",cert=\"crl_signer\"\} 0$" \
    "-revokd_issuer_crl_signer_not_after_timestamp_seconds\{issuer=\"$NAME-root\"\}"

# A second start with nothing changed: the counts did not go up, so no warning.
if run_logged idx-2 120 env -C "$T" "$IDX" -c "$CONF" --once; then
    pass "second revokd-indexer --once exits 0"
else
    fail "second revokd-indexer --once exits 0 (exit $?)" "$(cat "$T/idx-2.log")"
fi
expect "no repeated expiry warning when the counts did not go up" "$(cat "$T/idx-2.log")" \
    "-expire within"

# Following: a new leaf expiring in 3 days is counted after the sync that adds it.
start_bg indexer env -C "$T" "$IDX" -c "$CONF"
sleep 1
issue d3 -days 3 || fail "issue d3" "$(tail "$T/issue.log")"
got=
for ((i = 0; i < 100; i++)); do
    got=$(metric revokd_certs_expiring "{issuer=\"$NAME\",within=\"7d\"}")
    [ "$got" = 2 ] && break
    sleep 0.1
done
if [ "$got" = 2 ]; then
    pass "following indexer: within 7d went from 1 to 2 after the new leaf ($((i * 100)) ms)"
else
    fail "following indexer: within 7d is 2 after the new leaf (got '$got')" "$(cat "$T/indexer.log")"
fi
expect "following indexer warns that the 7-day count went up" "$(cat "$T/indexer.log")" \
    "+2 certificate\(s\) expire within 7 days \(was 1\)"
stop_bg indexer
stop_bg responder
finish
