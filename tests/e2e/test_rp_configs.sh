#!/usr/bin/env bash
# End-to-end: the relying-party configurations shipped in conf/ (issue 11, item 5),
# run as shipped (placeholders filled) against a revokd on the mesh PKI
# (scripts/mkpki.sh + scripts/mkmesh.sh), with revocations made by revokctl:
#   - conf/nginx/revokd-relying-party.conf: ssl_ocsp leaf (and on) refuses a client certificate
#     revoked with revokctl at the next handshake (the documented delay: none without
#     ssl_ocsp_cache); ssl_crl refuses one after crlgen and a restart; ssl_stapling +
#     ssl_stapling_verify staple a good answer, read with `openssl s_client -status`;
#   - conf/haproxy/revokd-mtls.cfg: crl-file refuses a revoked client certificate, and
#     a new CRL pushed through the runtime API (set/commit ssl crl-file) refuses the
#     next revocation without a reload; the stapled gateway.pem.ocsp is replaced
#     through `set ssl ocsp-response`, and s_client sees the new (revoked) staple;
#   - conf/kong/kong.yml and conf/envoy/envoy-crl.yaml parse as YAML and carry the
#     CA / CRL settings they document (no Kong or Envoy on Debian 12).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${REVOKD_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${REVOKD_BUILD:-$SRC/build}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
e2e_init

NAME=rpc
IDX=$BUILD/revokd-indexer
RSP=$BUILD/revokd-responder
CRLGEN=$BUILD/revokd-crlgen
RCTL=$BUILD/revokctl
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
echo "e2e: build $BUILD, temp $T"
need_programs "$IDX" "$RSP" "$CRLGEN" "$RCTL" "$NGINX" "$HAPROXY"

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
P=$T/pki
M=$P/mesh
make_pki "$P" "$NAME" "the PKI"
if run_logged mkmesh 60 "$SRC/scripts/mkmesh.sh" "$P"; then
    pass "mkmesh.sh issued gateway, frontend, mobile, partner, admin"
else
    fail "mkmesh.sh" "$(cat "$T/mkmesh.log")"
    finish
fi
out=$(openssl x509 -in "$M/gateway.pem" -noout -ext subjectAltName,authorityInfoAccess,crlDistributionPoints,extendedKeyUsage)
expect "gateway.pem: SANs, serverAuth, AIA and CDP naming revokd" "$out" '+DNS:gateway.rpc.revokd.test' \
    '+IP Address:127.0.0.1' '+TLS Web Server Authentication' "+OCSP - URI:$URL\$" "+URI:$URL/crl/$NAME.crl\$"
out=$(openssl x509 -in "$M/partner.pem" -noout -ext subjectAltName,authorityInfoAccess,crlDistributionPoints,extendedKeyUsage)
expect "partner.pem: clientAuth only, SPIFFE SAN, AIA and CDP" "$out" '+TLS Web Client Authentication' \
    '-Server' '+URI:spiffe://rpc.revokd.test/partner' "+OCSP - URI:$URL\$" "+URI:$URL/crl/$NAME.crl\$"

crls() { # crls: both CRLs from crlgen, concatenated as relying parties take them
    run_logged crlgen 60 "$CRLGEN" -c "$P/revokd.conf" --once &&
        cat "$P/crl/$NAME.crl.pem" "$P/crl/$NAME-root.crl.pem" >"$T/crls.pem"
}
run_logged indexer 60 "$IDX" -c "$P/revokd.conf" --once || fail "indexer --once" "$(cat "$T/indexer.log")"
crls || fail "crlgen --once" "$(cat "$T/crlgen.log")"
start_bg responder "$RSP" -c "$P/revokd.conf"
wait_port "$PORT" 15 || { fail "responder listens" "$(cat "$T/responder.log")"; finish; }
revoke() { # revoke ROLE: revokctl revoke of mesh/ROLE.pem
    if run_logged "revoke-$1" 30 "$RCTL" -c "$P/revokd.conf" revoke --issuer "$NAME" \
        --serial "$(serial_of "$M/$1.pem")" --reason keyCompromise; then
        pass "revokctl revoke $1.pem"
    else
        fail "revokctl revoke $1.pem" "$(cat "$T/revoke-$1.log")"
    fi
}
# tls PORT ROLE: "CODE body" of GET / with mesh/ROLE.pem as client certificate
tls() {
    curl -s --max-time 20 --cacert "$P/chain.pem" --cert "$M/$2.pem" --key "$M/$2.key" \
        -o "$T/tls.body" -w '%{http_code}' "https://127.0.0.1:$1/" 2>&1
    printf ' %s' "$(head -c 200 "$T/tls.body" 2>/dev/null | tr '\n' ' ')"
    rm -f "$T/tls.body"
}
# staple PORT: what openssl s_client -status prints about the stapled response
staple() {
    openssl s_client -connect "127.0.0.1:$1" -servername gateway.rpc.revokd.test -status \
        -CAfile "$P/chain.pem" </dev/null 2>&1 | sed -n '/OCSP response:/,/^---/p'
}

# --- nginx -----------------------------------------------------------------------------
NG=$T/nginx
mkdir -p "$NG/tmp"
NG_OCSP=$(free_port)
NG_OCSP_ALL=$(free_port)
NG_CRL=$(free_port)
NG_STAPLE=$(free_port)
sed -e "s|@PORT_OCSP@|$NG_OCSP|" -e "s|@PORT_OCSP_ALL@|$NG_OCSP_ALL|" -e "s|@PORT_CRL@|$NG_CRL|" -e "s|@PORT_STAPLE@|$NG_STAPLE|" \
    -e "s|@MESH@|$M|g" -e "s|@PKI@|$P|g" -e "s|@CRLS@|$T/crls.pem|" \
    "$SRC/conf/nginx/revokd-relying-party.conf" >"$NG/revokd.conf"
cat >"$NG/nginx.conf" <<NGINX_EOF
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
    include $NG/revokd.conf;
}
NGINX_EOF
nginx_start() {
    start_bg nginx "$NGINX" -c "$NG/nginx.conf" -p "$NG" -e "$NG/error.log"
    if wait_port "$NG_OCSP" 15 && wait_port "$NG_CRL" 15 && wait_port "$NG_STAPLE" 15; then
        pass "nginx runs conf/nginx/revokd-relying-party.conf ($1)"
    else
        fail "nginx starts" "$(cat "$T/nginx.log" "$NG/error.log" 2>&1 | tail -n 20)"
        finish
    fi
}
nginx_start "first start"
expect "nginx ssl_ocsp leaf: frontend.pem -> 200" "$(tls "$NG_OCSP" frontend)" '+^200 hello'
expect "nginx ssl_ocsp on (leaf and issuing CA over OCSP): frontend.pem -> 200" "$(tls "$NG_OCSP_ALL" frontend)" '+^200 hello'
expect "nginx ssl_crl: mobile.pem -> 200" "$(tls "$NG_CRL" mobile)" '+^200 hello'
# nginx fetches the staple on the first handshake and sends it from the next on.
out=
for ((i = 0; i < 50; i++)); do
    out=$(staple "$NG_STAPLE")
    printf '%s\n' "$out" | grep -q 'Cert Status: good' && break
    sleep 0.2
done
expect "nginx ssl_stapling + ssl_stapling_verify: s_client -status sees a good staple from revokd" "$out" \
    '+OCSP Response Status: successful' '+Cert Status: good' '+Next Update:'

t0=$(date +%s)
revoke frontend
out=$(tls "$NG_OCSP" frontend)
expect "nginx ssl_ocsp leaf: frontend.pem refused at the next handshake after revokctl ($(($(date +%s) - t0)) s)" \
    "$out" '+^400 ' '-hello'
expect "nginx ssl_ocsp on: frontend.pem refused too" "$(tls "$NG_OCSP_ALL" frontend)" '+^400 ' '-hello'
expect "nginx error log: frontend.pem refused as revoked" "$(cat "$NG/error.log")" '+certificate revoked'
expect "nginx ssl_ocsp leaf: admin.pem (not revoked) still 200" "$(tls "$NG_OCSP" admin)" '+^200 hello'

revoke mobile
expect "nginx ssl_crl: mobile.pem still 200 until the CRL is refreshed (documented)" "$(tls "$NG_CRL" mobile)" '+^200 hello'
crls || fail "crlgen --once" "$(cat "$T/crlgen.log")"
stop_bg nginx
nginx_start "restarted with the new CRL"
expect "nginx ssl_crl: mobile.pem refused with the new CRL" "$(tls "$NG_CRL" mobile)" '+^400 ' '-hello'
stop_bg nginx

# --- HAProxy -----------------------------------------------------------------------------
HA=$T/haproxy
mkdir -p "$HA"
HA_PORT=$(free_port)
cat "$M/gateway.pem" "$M/gateway.key" "$P/ca.pem" >"$HA/gateway.pem"
fetch_ocsp() { # fetch_ocsp OUT: the gateway's OCSP response from revokd
    openssl ocsp -issuer "$P/ca.pem" -cert "$M/gateway.pem" -url "$URL" -CAfile "$P/chain.pem" \
        -no_nonce -respout "$1" >"$T/fetch-ocsp.log" 2>&1
}
fetch_ocsp "$HA/gateway.pem.ocsp" || fail "fetch the gateway's OCSP response" "$(cat "$T/fetch-ocsp.log")"
sed -e "s|@PORT@|$HA_PORT|" -e "s|@CRT@|$HA/gateway.pem|" -e "s|@CA@|$P/chain.pem|" \
    -e "s|@CRLS@|$T/crls.pem|g" -e "s|@RUN@|$HA|g" "$SRC/conf/haproxy/revokd-mtls.cfg" >"$HA/haproxy.cfg"
if out=$("$HAPROXY" -c -f "$HA/haproxy.cfg" 2>&1); then
    pass "haproxy -c: conf/haproxy/revokd-mtls.cfg is valid"
else
    fail "haproxy -c" "$out"
fi
start_bg haproxy "$HAPROXY" -db -f "$HA/haproxy.cfg"
wait_port "$HA_PORT" 15 || { fail "haproxy starts" "$(cat "$T/haproxy.log")"; finish; }
haproxy_cmd() { # haproxy_cmd TEXT: the runtime API's answer
    "$PY" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
d = b""
while True:
    x = s.recv(65536)
    if not x:
        break
    d += x
sys.stdout.write(d.decode())' "$HA/haproxy-rp.sock" "$1"
}
expect "HAProxy crl-file: partner.pem (good) -> 200" "$(tls "$HA_PORT" partner)" '+^200 hello'
expect "HAProxy crl-file: mobile.pem (revoked, in the CRL) refused" "$(tls "$HA_PORT" mobile)" '-^200'
expect "HAProxy staples gateway.pem.ocsp: good" "$(staple "$HA_PORT")" \
    '+OCSP Response Status: successful' '+Cert Status: good'

revoke partner
crls || fail "crlgen --once" "$(cat "$T/crlgen.log")"
out=$(haproxy_cmd "set ssl crl-file $T/crls.pem <<
$(cat "$T/crls.pem")
")
expect "runtime API: set ssl crl-file" "$out" '+(transaction created|transaction updated)'
expect "runtime API: commit ssl crl-file" "$(haproxy_cmd "commit ssl crl-file $T/crls.pem")" '+Success'
expect "HAProxy crl-file: partner.pem refused after the CRL pushed through the runtime API" \
    "$(tls "$HA_PORT" partner)" '-^200'
expect "HAProxy: admin.pem still 200" "$(tls "$HA_PORT" admin)" '+^200 hello'

revoke gateway
fetch_ocsp "$T/gateway-new.ocsp" || fail "fetch the new OCSP response" "$(cat "$T/fetch-ocsp.log")"
out=$(haproxy_cmd "set ssl ocsp-response $(base64 -w0 "$T/gateway-new.ocsp")")
expect "runtime API: set ssl ocsp-response" "$out" '+OCSP Response updated'
expect "HAProxy now staples the new answer: revoked" "$(staple "$HA_PORT")" \
    '+OCSP Response Status: successful' '+Cert Status: revoked'
stop_bg haproxy

# --- Kong and Envoy/Istio: syntax and content --------------------------------------------
out=$("$PY" - "$SRC/conf/kong/kong.yml" "$SRC/conf/envoy/envoy-crl.yaml" <<'PYEOF' 2>&1
import sys, yaml
kong = yaml.safe_load(open(sys.argv[1]))
assert kong["_format_version"] == "3.0", "kong: _format_version"
ca_ids = {c["id"] for c in kong["ca_certificates"]}
plugins = [p for s in kong["services"] for p in s.get("plugins", [])]
mtls = [p for p in plugins if p["name"] == "mtls-auth"]
assert mtls, "kong: no mtls-auth plugin"
cfg = mtls[0]["config"]
assert set(cfg["ca_certificates"]) <= ca_ids, "kong: plugin names an unknown CA id"
assert cfg["revocation_check_mode"] == "STRICT", "kong: revocation_check_mode is not STRICT"
print("kong ok")
env = yaml.safe_load(open(sys.argv[2]))
l = env["static_resources"]["listeners"][0]
tls = l["filter_chains"][0]["transport_socket"]["typed_config"]
assert tls["@type"].endswith("tls.v3.DownstreamTlsContext"), "envoy: transport socket type"
assert tls["require_client_certificate"] is True, "envoy: client certificates not required"
vc = tls["common_tls_context"]["validation_context"]
assert vc["crl"]["filename"].endswith(".pem"), "envoy: no CRL in the validation context"
assert "trusted_ca" in vc, "envoy: no trusted_ca"
print("envoy ok")
PYEOF
)
expect "conf/kong/kong.yml and conf/envoy/envoy-crl.yaml parse and carry CA + revocation settings" "$out" \
    '+kong ok' '+envoy ok'

finish
