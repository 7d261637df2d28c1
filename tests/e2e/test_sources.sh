#!/usr/bin/env bash
# End-to-end: the revocation sources other than index.txt (issue 8), each feeding
# its own issuer of one revokd, every answer checked with `openssl ocsp`:
#   dir-ca   cert_dir: a directory of the certificates the CA issued (PEM and DER);
#            good only for what is there (an issued certificate left out, and one
#            naming the CA but signed by another key, are never good)
#   cm-ca    certmate_dir: a CertMate store laid out as its architecture document
#            says (<root>/<usage>/<id>/cert.crt + metadata.json); revoked and on hold
#            from the metadata's revocation block, followed live as it changes
#   crl-ca   crl_file + delta_crl_file: an external CA that only exports CRLs
#            (`openssl ca -gencrl`, a delta made with Python cryptography); a CRL
#            whose signature does not verify is rejected and the last state kept
# Real files from tests/indexer/mk_sources.sh (openssl ca + Python cryptography).
# The [indexer] interval is 1h: the live changes must come from inotify.
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_sources.sh   (ctest sets both)
#   E2E_KEEP=1 keeps the temp dir; it is always kept when something failed.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
LIMIT_MS=2000

echo "e2e: build $BUILD, temp $T"
need_programs "$IDX" "$RSP"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
# Three CAs, one per issuer (same layout, fresh keys each).
for d in dir cm crl; do
    if PY=$PY bash "$SRC/tests/indexer/mk_sources.sh" "$T/$d" >"$T/mk-$d.log" 2>&1; then
        pass "mk_sources.sh made the files of $d-ca"
    else
        fail "mk_sources.sh $d" "$(cat "$T/mk-$d.log")"
        finish
    fi
done

CONF=$T/revokd.conf
cat >"$CONF" <<CONF
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

# Each CA signs its own responses (signer_cert defaults to ca_cert).
[issuer dir-ca]
ca_cert    = dir/ca.pem
signer_key = dir/ca.key
cert_dir   = dir/certdir

[issuer cm-ca]
ca_cert      = cm/ca.pem
signer_key   = cm/ca.key
certmate_dir = cm/certmate

[issuer crl-ca]
ca_cert        = crl/ca.pem
signer_key     = crl/ca.key
crl_file       = crl/full.crl
delta_crl_file = crl/delta.crl
CONF
if run_logged check 20 "$IDX" -c "$CONF" --check; then
    pass "revokd-indexer --check accepts issuers without index"
else
    fail "revokd-indexer --check (exit $?)" "$(cat "$T/check.log")"
    finish
fi

now_ms() { date +%s%3N; }
# ocsp_q CA_DIR CERT: openssl ocsp for CERT issued by CA_DIR/ca.pem
ocsp_q() {
    timeout -k 5 30 openssl ocsp -url "$URL" -timeout 10 -CAfile "$1/ca.pem" -issuer "$1/ca.pem" \
        -no_nonce -cert "$2" 2>&1
}
# wait_status CA_DIR CERT STATUS MS: until openssl ocsp says CERT: STATUS (sets WAITED, OUT)
wait_status() {
    local ca=$1 cert=$2 status=$3 limit=$4 t0 b
    b=$(basename "$cert")
    t0=$(now_ms)
    while :; do
        OUT=$(ocsp_q "$ca" "$cert")
        WAITED=$(($(now_ms) - t0))
        if printf '%s\n' "$OUT" | grep -Eq "(^|/)${b//./\\.}: $status\$"; then return 0; fi
        [ "$WAITED" -lt "$limit" ] || return 1
        sleep 0.05
    done
}
# answered CA_DIR CERT STATUS MSG [+ERE|-ERE]...: the verified answer says STATUS
answered() {
    local ca=$1 cert=$2 status=$3 msg=$4
    shift 4
    if wait_status "$ca" "$cert" "$status" "$LIMIT_MS"; then
        expect "$msg (${WAITED} ms)" "$OUT" '+Response verify OK' "$@"
    else
        fail "$msg (not $status within $LIMIT_MS ms)" "$OUT
--- indexer log:
$(tail -n 20 "$T/indexer.log")"
    fi
}
# never_good CA_DIR CERT MSG: the responder does not say good (unauthorized: not listed)
never_good() {
    OUT=$(ocsp_q "$1" "$2")
    expect "$3" "$OUT" '-: good$' '+unauthorized'
}

start_bg indexer env -C / "$IDX" -c "$CONF"
if ! wait_log indexer "\[issuer crl-ca\] synced" 30; then
    fail "revokd-indexer synced the issuers within 30 s" "$(cat "$T/indexer.log")"
    finish
fi
start_bg responder env -C / "$RSP" -c "$CONF"
listens responder "revokd-responder listens on $URL"

D=$T/dir
M=$T/cm
C=$T/crl
# --- cert_dir ------------------------------------------------------------------------
answered "$D" "$D/l4.pem" good "cert_dir: l4.pem (PEM in the directory) good"
answered "$D" "$D/l2.pem" good "cert_dir: l2.pem (DER in the directory) good"
never_good "$D" "$D/l6.pem" "cert_dir: l6.pem, issued but not in the directory, is not good"
never_good "$D" "$D/impostor.pem" "cert_dir: impostor.pem (our CA's name, another key) is not good"
cp "$D/l6.pem" "$D/certdir/1006.pem"
answered "$D" "$D/l6.pem" good "cert_dir: l6.pem good once copied into the directory"

# --- certmate_dir --------------------------------------------------------------------
answered "$M" "$M/l4.pem" good "certmate: api-mtls/cert-001 (revoked false) good"
answered "$M" "$M/l5.pem" revoked "certmate: vpn/cert-002 revoked keyCompromise" \
    '+Reason: keyCompromise' '+Revocation Time: Nov  2 10:20:30 2024 GMT'
answered "$M" "$M/l6.pem" revoked "certmate: vpn/cert-003 on hold" '+Reason: certificateHold'
never_good "$M" "$M/l1.pem" "certmate: metadata naming another serial: l1.pem not good"
# CertMate revokes by rewriting metadata.json in place.
meta=$M/certmate/api-mtls/cert-001/metadata.json
sed -i 's/"revocation": {[^}]*}/"revocation": {"revoked": true, "revoked_at": "2025-01-02T03:04:05Z", "reason_revoked": "superseded"}/' "$meta"
answered "$M" "$M/l4.pem" revoked "certmate: cert-001 revoked live (metadata.json rewritten)" \
    '+Reason: superseded' '+Revocation Time: Jan  2 03:04:05 2025 GMT'
# A new certificate directory appears, as CertMate creates one.
mkdir -p "$M/certmate/vpn/cert-008"
cp "$M/l3.pem" "$M/certmate/vpn/cert-008/cert.crt"
printf '{"serial_number": null, "revocation": {"revoked": false, "revoked_at": null, "reason_revoked": null}}\n' \
    >"$M/certmate/vpn/cert-008/metadata.json"
answered "$M" "$M/l3.pem" good "certmate: new directory vpn/cert-008 followed: l3.pem good"

# --- crl_file + delta_crl_file -------------------------------------------------------
answered "$C" "$C/l1.pem" revoked "CRL: l1.pem revoked keyCompromise (full CRL)" '+Reason: keyCompromise'
answered "$C" "$C/l3.pem" revoked "CRL: l3.pem revoked keyCompromise (full CRL, keyTime)" \
    '+Reason: keyCompromise'
answered "$C" "$C/l4.pem" revoked "CRL: l4.pem revoked superseded (delta CRL)" '+Reason: superseded'
answered "$C" "$C/l6.pem" revoked "CRL: l6.pem revoked keyCompromise (delta CRL)" '+Reason: keyCompromise'
OUT=$(ocsp_q "$C" "$C/l2.pem")
expect "CRL: l2.pem, held in the full CRL and released by the delta, is not revoked" "$OUT" \
    '-: revoked$' '-certificateHold'
never_good "$C" "$C/l5.pem" "CRL: l5.pem, on no CRL and in no other source, is not good"
# A CRL whose signature does not verify replaces the full CRL: rejected, state kept.
cp "$C/fakesig.crl" "$C/full.crl.new" && mv "$C/full.crl.new" "$C/full.crl"
if wait_log indexer "crl_file .*full.crl has a signature that ca_cert's key does not verify" 3; then
    pass "CRL: a CRL signed by another key is rejected (logged)"
else
    fail "CRL: rejection of the forged CRL logged within 3 s" "$(tail -n 10 "$T/indexer.log")"
fi
answered "$C" "$C/l1.pem" revoked "CRL: l1.pem still revoked after the forged CRL" '+Reason: keyCompromise'
code=$(healthz)
expect "/healthz 503 while the CRL source is rejected" "$code $(cat "$T/healthz.body")" '+^503'

stop_bg indexer
expect "revokd-indexer exits 0 on SIGTERM" "$STOP_RC" '+^0$'
stop_bg responder
finish
