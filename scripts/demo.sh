#!/usr/bin/env bash
# demo.sh — a running revokd on a demo PKI, with commands to try it.
#
#   scripts/demo.sh [--dir DIR] [--port PORT] [--build BUILD]
#
# DIR (default ./demo): made with scripts/mkpki.sh unless it already holds a PKI.
# PORT (default 8080): where revokd-responder listens (baked into the leaves' AIA).
# BUILD (default ./build): where the revokd-* programs are.
# Indexes the PKI, writes its CRL, prints ready-to-paste client commands, then runs
# revokd-responder in the foreground with revokd-indexer in the background (so
# revocations made with `openssl ca` are picked up). Ctrl-C stops both.
set -eu

usage() {
    echo "usage: $0 [--dir DIR] [--port PORT] [--build BUILD]" >&2
    exit 2
}

HERE=$(cd "$(dirname "$0")" && pwd)
DIR=./demo
PORT=
BUILD=./build
while [ $# -gt 0 ]; do
    case "$1" in
    --dir) [ $# -ge 2 ] || usage; DIR=$2; shift 2 ;;
    --port) [ $# -ge 2 ] || usage; PORT=$2; shift 2 ;;
    --build) [ $# -ge 2 ] || usage; BUILD=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "demo: unknown argument $1" >&2; usage ;;
    esac
done

for p in revokd-indexer revokd-responder revokd-crlgen; do
    if [ ! -x "$BUILD/$p" ]; then
        echo "demo: $BUILD/$p not found; build first: cmake -S . -B build && cmake --build build -j2" >&2
        exit 1
    fi
done
BUILD=$(cd "$BUILD" && pwd)

if [ -f "$DIR/revokd.conf" ] && [ -f "$DIR/openssl.cnf" ]; then
    DIR=$(cd "$DIR" && pwd)
    made=$(sed -n 's/^listen *= *127\.0\.0\.1:\([0-9]*\)$/\1/p' "$DIR/revokd.conf")
    if [ -n "$PORT" ] && [ "$PORT" != "$made" ]; then
        echo "demo: $DIR was made for port $made (its certificates name it); use --port $made or a new --dir" >&2
        exit 1
    fi
    PORT=$made
    echo "demo: reusing the PKI in $DIR"
else
    PORT=${PORT:-8080}
    "$HERE/mkpki.sh" "$DIR" --name demo --port "$PORT"
    DIR=$(cd "$DIR" && pwd)
    echo "demo: made a demo PKI in $DIR"
fi
# mkpki writes [issuer NAME] first, then [issuer NAME-root]
NAME=$(sed -n 's/^\[issuer \(.*\)\]$/\1/p' "$DIR/revokd.conf" | head -n 1)
ROOTNAME=$(sed -n 's/^\[issuer \(.*\)\]$/\1/p' "$DIR/revokd.conf" | sed -n 2p)
CONF=$DIR/revokd.conf
URL=http://127.0.0.1:$PORT

"$BUILD/revokd-indexer" -c "$CONF" --once
"$BUILD/revokd-crlgen" -c "$CONF" --once

IPID=
RPID=
# shellcheck disable=SC2317 # stop is called from the traps
stop() {
    trap - EXIT INT TERM
    [ -z "$RPID" ] || kill "$RPID" 2>/dev/null || true
    [ -z "$IPID" ] || kill "$IPID" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop EXIT
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM

"$BUILD/revokd-indexer" -c "$CONF" &
IPID=$!
"$BUILD/revokd-responder" -c "$CONF" &
RPID=$!

up=
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then up=1; break; fi
    kill -0 "$RPID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$up" ]; then
    echo "demo: revokd-responder did not start listening on 127.0.0.1:$PORT" >&2
    exit 1
fi

cat <<EOF

=== revokd demo: responder on $URL, PKI in $DIR ===
Files: chain.pem (root + issuing CA), ca.pem (issuing CA "$NAME"), ocsp.pem (its delegated
OCSP signer), good.pem, revoked.pem (revoked: keyCompromise), server.pem (TLS server,
127.0.0.1), index.txt (the CA database); root.pem (root CA "${ROOTNAME:-none}", database
root/index.txt, OCSP signer ocsp-root.pem); revokd.conf; CRLs in $DIR/crl/.
Both CAs are served, so clients that check every certificate of the path (Java PKIX,
nginx ssl_ocsp) work without extra settings.

# OCSP, good and revoked (add -sha256 before -cert for a SHA-256 CertID):
openssl ocsp -issuer $DIR/ca.pem -cert $DIR/good.pem -url $URL -CAfile $DIR/chain.pem
openssl ocsp -issuer $DIR/ca.pem -cert $DIR/revoked.pem -url $URL -CAfile $DIR/chain.pem

# The issuing CA's own status, from the root issuer:
openssl ocsp -issuer $DIR/root.pem -cert $DIR/ca.pem -url $URL -CAfile $DIR/root.pem

# OCSP over RFC 5019 GET:
openssl ocsp -issuer $DIR/ca.pem -cert $DIR/good.pem -no_nonce -reqout /tmp/req.der
curl -s -o /tmp/resp.der "$URL/\$(base64 -w0 /tmp/req.der | sed 's,+,%2B,g; s,/,%2F,g; s,=,%3D,g')"
openssl ocsp -respin /tmp/resp.der -issuer $DIR/ca.pem -cert $DIR/good.pem -CAfile $DIR/chain.pem -no_nonce

# The CRL:
curl -s $URL/crl/$NAME.crl | openssl crl -inform DER -CAfile $DIR/chain.pem -noout -text
openssl verify -crl_check -CAfile $DIR/chain.pem -CRLfile $DIR/crl/$NAME.crl.pem $DIR/revoked.pem
openssl verify -crl_check -CAfile $DIR/chain.pem -CRLfile $DIR/crl/$NAME.crl.pem $DIR/good.pem
# the whole path (leaf and issuing CA) against both CRLs:
openssl verify -crl_check_all -CAfile $DIR/chain.pem -CRLfile $DIR/crl/$NAME.crl.pem -CRLfile $DIR/crl/$ROOTNAME.crl.pem $DIR/good.pem

# Revoke with openssl ca; the running revokd-indexer picks it up within [indexer] interval:
openssl ca -config $DIR/openssl.cnf -revoke $DIR/good.pem -crl_reason superseded
$BUILD/revokd-indexer -c $CONF --once   # re-sync now instead of waiting
$BUILD/revokd-crlgen -c $CONF --once    # publish a new CRL

# Issue a new certificate:
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $DIR/new.key -subj /CN=new.demo -out $DIR/new.csr
openssl ca -config $DIR/openssl.cnf -batch -in $DIR/new.csr -out $DIR/new.pem

# Health and metrics:
curl -s $URL/healthz; curl -s $URL/metrics

revokd-responder runs in the foreground (Ctrl-C stops it and the background indexer).
EOF

rc=0
wait "$RPID" || rc=$?
RPID=
exit "$rc"
