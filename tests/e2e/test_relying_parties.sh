#!/usr/bin/env bash
# End-to-end: strict relying parties accept the demo PKI whole (issue 13, item 10).
#
#   REVOKD_BUILD=build REVOKD_SRC=. bash tests/e2e/test_relying_parties.sh   (ctest sets both)
#   E2E_KEEP=1 keeps the temp dir; it is always kept when something failed.
#
# A mkpki PKI served by the real revokd (both issuers: the issuing CA and the root),
# then clients that check EVERY certificate of the path, with no settings beyond
# turning revocation checking on; they find revokd through the certificates' AIA and
# CRL Distribution Points:
#   - nginx (nginx-light, own config, free loopback ports): client certificates with
#     ssl_verify_client on, ssl_verify_depth 2 and `ssl_ocsp on`; and with `ssl_crl`
#     holding both published CRLs;
#   - Java's PKIX CertPathValidator (tests/e2e/PkixCheck.java, single-file launch): the
#     default checker, OCSP only, CRLs only.
# Negative controls: a certificate revokd does not know, revokd stopped, and finally the
# issuing CA itself revoked in the root's database, which only a client that checks the
# intermediate through revokd's root issuer can notice.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=rp
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
CRLGEN=$BUILD/revokd-crlgen
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
JAVA=${JAVA:-$(command -v java || echo java)}

echo "e2e: build $BUILD, temp $T"
need_programs "$IDX" "$RSP" "$CRLGEN" "$NGINX" "$JAVA"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
P=$T/pki
make_pki "$P" "$NAME" "the PKI (issuers $NAME and $NAME-root)"
out=$(openssl x509 -in "$P/ca.pem" -noout -ext authorityInfoAccess,crlDistributionPoints 2>&1)
expect "the issuing CA names revokd for its own status (AIA OCSP, CDP /crl/$NAME-root.crl)" "$out" \
    "+OCSP - URI:$URL\$" "+URI:$URL/crl/$NAME-root.crl\$"

sync_all() { # sync_all TAG: indexer and crlgen once, over both issuers
    if run_logged "indexer-$1" 120 "$IDX" -c "$P/revokd.conf" --once; then
        pass "revokd-indexer --once ($1)"
    else
        fail "revokd-indexer --once ($1, exit $?)" "$(cat "$T/indexer-$1.log")"
    fi
    if run_logged "crlgen-$1" 120 "$CRLGEN" -c "$P/revokd.conf" --once; then
        pass "revokd-crlgen --once ($1)"
    else
        fail "revokd-crlgen --once ($1, exit $?)" "$(cat "$T/crlgen-$1.log")"
    fi
    # nginx's ssl_crl: both CRLs, as a deployment would concatenate them
    cat "$P/crl/$NAME.crl.pem" "$P/crl/$NAME-root.crl.pem" >"$T/crls.pem" 2>/dev/null
}
sync_all initial

# A certificate issued after indexing: revokd answers unauthorized for it.
if openssl req -new -config "$P/openssl.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$P/late.key" -subj "/O=revokd demo/CN=late.$NAME.revokd.test" -out "$P/late.csr" \
    >"$T/late.log" 2>&1 &&
    openssl ca -config "$P/openssl.cnf" -batch -notext -in "$P/late.csr" -out "$P/late.pem" \
        >>"$T/late.log" 2>&1; then
    pass "issued late.pem after indexing (unknown to revokd)"
else
    fail "issue late.pem" "$(cat "$T/late.log")"
fi

start_bg responder "$RSP" -c "$P/revokd.conf"
listens responder "revokd-responder listens on 127.0.0.1:$PORT"

# --- nginx ------------------------------------------------------------------------
NG=$T/nginx
mkdir -p "$NG/tmp"
cat "$P/server.pem" "$P/ca.pem" >"$NG/fullchain.pem"
NG_OCSP=$(free_port)
NG_CRL=$(free_port)
# Only what a site needs for client certificates; revocation settings: `ssl_ocsp on`
# in one server, `ssl_crl` in the other. Single process, so it runs as us.
cat >"$NG/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/error.log info;
events { worker_connections 64; }
http {
    access_log $NG/access.log;
    client_body_temp_path $NG/tmp/body;
    proxy_temp_path $NG/tmp/proxy;
    fastcgi_temp_path $NG/tmp/fastcgi;
    uwsgi_temp_path $NG/tmp/uwsgi;
    scgi_temp_path $NG/tmp/scgi;
    server {
        listen 127.0.0.1:$NG_OCSP ssl;
        ssl_certificate $NG/fullchain.pem;
        ssl_certificate_key $P/server.key;
        ssl_client_certificate $P/chain.pem;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_ocsp on;
        location / { return 200 "hello \$ssl_client_s_dn\n"; }
    }
    server {
        listen 127.0.0.1:$NG_CRL ssl;
        ssl_certificate $NG/fullchain.pem;
        ssl_certificate_key $P/server.key;
        ssl_client_certificate $P/chain.pem;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_crl $T/crls.pem;
        location / { return 200 "hello \$ssl_client_s_dn\n"; }
    }
}
EOF
nginx_start() {
    start_bg nginx "$NGINX" -c "$NG/nginx.conf" -p "$NG" -e "$NG/error.log"
    if wait_port "$NG_OCSP" 15 && wait_port "$NG_CRL" 15; then
        pass "nginx listens on 127.0.0.1:$NG_OCSP (ssl_ocsp on) and :$NG_CRL (ssl_crl)"
    else
        fail "nginx starts" "$(cat "$T/nginx.log" "$NG/error.log" 2>&1 | tail -n 20)"
        finish
    fi
}
# tls LEAF PORT: "CODE body" of GET / with LEAF as client certificate ("-" for none)
tls() {
    local c=()
    [ "$1" = - ] || c=(--cert "$P/$1.pem" --key "$P/$1.key")
    curl -s --max-time 20 --cacert "$P/chain.pem" "${c[@]}" -o "$T/tls.body" -w '%{http_code}' \
        "https://127.0.0.1:$2/" 2>&1
    printf ' %s' "$(head -c 200 "$T/tls.body" | tr '\n' ' ')"
}
nginx_start
out=$(tls good "$NG_OCSP")
expect "nginx ssl_ocsp on: good.pem -> 200 (leaf and issuing CA both good over OCSP)" "$out" '+^200 hello'
out=$(tls revoked "$NG_OCSP")
expect "nginx ssl_ocsp on: revoked.pem -> 400 (certificate error)" "$out" '+^400 ' '-hello'
expect "nginx error log: revoked.pem refused as revoked" "$(cat "$NG/error.log")" '+certificate revoked'
out=$(tls late "$NG_OCSP")
expect "negative control: nginx ssl_ocsp on, late.pem (revokd: unauthorized) -> 400" "$out" '+^400 ' '-hello'
out=$(tls - "$NG_OCSP")
expect "negative control: nginx without a client certificate -> 400" "$out" '+^400 ' '-hello'
out=$(tls good "$NG_CRL")
expect "nginx ssl_crl (both CRLs): good.pem -> 200" "$out" '+^200 hello'
out=$(tls revoked "$NG_CRL")
expect "nginx ssl_crl (both CRLs): revoked.pem -> 400" "$out" '+^400 ' '-hello'

# --- Java PKIX ----------------------------------------------------------------------
# pkix MODE LEAF: PkixCheck's one line, validating [LEAF, ca.pem] against root.pem
pkix() {
    timeout -k 5 120 "$JAVA" "$HERE/PkixCheck.java" "$1" "$P/root.pem" "$P/$2.pem" "$P/ca.pem" 2>&1
}
OCSP_AUTH="authority: CN=ocsp\.$NAME\.revokd\.test"
CRL_AUTH="authority: CN=revokd demo issuing CA"
for mode in default ocsp crl; do
    out=$(pkix "$mode" good)
    expect "Java PKIX ($mode): [good.pem, ca.pem] -> VALID" "$out" '+^VALID$'
    auth=$OCSP_AUTH
    [ "$mode" = crl ] && auth=$CRL_AUTH
    out=$(pkix "$mode" revoked)
    expect "Java PKIX ($mode): revoked.pem -> REVOKED at index 0, KEY_COMPROMISE, from the $([ "$mode" = crl ] && echo CRL || echo OCSP signer)" \
        "$out" '+^INVALID reason=REVOKED index=0:' '+KEY_COMPROMISE' "+$auth"
done
out=$(pkix ocsp late)
expect "negative control: Java PKIX (ocsp): late.pem (revokd: unauthorized) -> not VALID" "$out" \
    '+^INVALID reason=[A-Z_]+ index=0: OCSP response error: UNAUTHORIZED' '-^VALID$'

# --- the issuing CA revoked in the root's database -----------------------------------
# Only a client that checks the intermediate, via revokd's root issuer, refuses good.pem now.
if openssl ca -config "$P/root/openssl.cnf" -revoke "$P/ca.pem" -crl_reason CACompromise \
    >"$T/revoke-ca.log" 2>&1; then
    pass "openssl ca (root) -revoke ca.pem -crl_reason CACompromise"
else
    fail "revoke ca.pem in root/index.txt" "$(cat "$T/revoke-ca.log")"
fi
sync_all ca-revoked
for mode in default ocsp crl; do
    out=$(pkix "$mode" good)
    expect "Java PKIX ($mode), issuing CA revoked: good.pem -> REVOKED at index 1, CA_COMPROMISE" \
        "$out" '+^INVALID reason=REVOKED index=1:' '+CA_COMPROMISE'
done
out=$(tls good "$NG_OCSP")
expect "nginx ssl_ocsp on, issuing CA revoked: good.pem -> 400" "$out" '+^400 ' '-hello'
stop_bg nginx # ssl_crl is read at start
nginx_start
out=$(tls good "$NG_CRL")
expect "nginx ssl_crl (new CRLs), issuing CA revoked: good.pem -> 400" "$out" '+^400 ' '-hello'

# --- revokd gone: the checks fail closed --------------------------------------------
stop_bg responder
out=$(pkix crl good)
expect "negative control: Java PKIX (crl) with revokd stopped -> not VALID" "$out" \
    '+^INVALID reason=UNDETERMINED_REVOCATION_STATUS' '-^VALID$'
stop_bg nginx

mapfile -t reports < <(grep -lE 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:' "$T"/*.log)
if [ "${#reports[@]}" -eq 0 ]; then
    pass "no sanitizer reports in any program log"
else
    fail "sanitizer reports in: ${reports[*]}" "$(grep -hE -A 20 'Sanitizer|runtime error:' "${reports[@]}" | head -n 60)"
fi

finish
