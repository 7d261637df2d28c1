#!/usr/bin/env bash
# mkmesh.sh — issues the certificates of the service mesh described in the background
# documents from a demo PKI made by scripts/mkpki.sh, with the PKI's own `openssl ca`.
#
#   scripts/mkmesh.sh PKIDIR
#
# Into PKIDIR/mesh/ (each NAME.pem + NAME.key, EC P-256):
#   gateway    TLS server (serverAuth) of the API gateway; SANs DNS:gateway.NAME.revokd.test,
#              DNS:api.NAME.revokd.test, DNS:localhost, IP:127.0.0.1
#   frontend   client certificates (clientAuth only) of the mesh's callers: the web
#   mobile     frontend, the mobile backend, a partner's system and the admin console;
#   partner    SAN URI:spiffe://NAME.revokd.test/<role> (what Istio/Envoy match on)
#   admin      and DNS:<role>.NAME.revokd.test
#
# Every certificate carries the same revocation pointers as the PKI's leaves, taken
# from PKIDIR/openssl.cnf: authorityInfoAccess OCSP;URI:<revokd> and a
# crlDistributionPoint <revokd>/crl/NAME.crl (its shard's, <revokd>/crl/shard/NAME/K.crl,
# when the issuer's CRLs are partitioned), so relying parties find revokd
# without configuration. Re-running issues fresh certificates (new serials) and
# keeps the old ones in the CA database. Revoke one with revokctl:
#   revokctl -c PKIDIR/revokd.conf revoke --issuer NAME --serial HEX --reason keyCompromise
# (its serial: openssl x509 -in PKIDIR/mesh/partner.pem -noout -serial).
set -eu

[ $# -eq 1 ] || { echo "usage: $0 PKIDIR" >&2; exit 2; }
P=$(cd "$1" && pwd)
{ [ -f "$P/openssl.cnf" ] && [ -f "$P/ca.pem" ]; } || { echo "mkmesh: $P is not a mkpki.sh PKI" >&2; exit 1; }
export OPENSSL_CONF=/dev/null
umask 022

# The PKI's name and revocation URLs, exactly as its leaves carry them.
NAME=$(sed -n 's/^\[issuer \([^]]*\)\]$/\1/p' "$P/revokd.conf" | grep -v -- '-root$' | head -n 1)
AIA=$(sed -n '/^\[ leaf_ext \]/,/^\[/s/^authorityInfoAccess *= *//p' "$P/openssl.cnf")
CDP=$(sed -n '/^\[ leaf_ext \]/,/^\[/s/^crlDistributionPoints *= *//p' "$P/openssl.cnf")
{ [ -n "$NAME" ] && [ -n "$AIA" ] && [ -n "$CDP" ]; } || { echo "mkmesh: cannot read name/AIA/CDP of $P" >&2; exit 1; }

M=$P/mesh
mkdir -p "$M"
LOG=$M/mkmesh.log
: >"$LOG"
run() {
    if ! "$@" >>"$LOG" 2>&1; then
        echo "mkmesh: FAILED: $*" >&2
        tail -n 30 "$LOG" >&2
        exit 1
    fi
}

# Partitioned CRLs ([issuer NAME] crl_shards = N): each certificate names its own
# shard's CRL, K = (serial / crl_shard_span) mod N + 1 (docs/operations.md), computed
# from the serial openssl ca is about to use (its serial file).
SHARDS=$(sed -n "/^\[issuer $NAME\]/,/^\[/s/^crl_shards *= *//p" "$P/revokd.conf" | head -n 1)
SPAN=$(sed -n "/^\[issuer $NAME\]/,/^\[/s/^crl_shard_span *= *//p" "$P/revokd.conf" | head -n 1)
cdp_for_next() {
    if [ -z "$SHARDS" ] || [ "$SHARDS" -lt 2 ]; then
        printf '%s' "$CDP"
        return
    fi
    local k
    k=$(python3 -c 'import sys; s=int(open(sys.argv[1]).read().strip(), 16); print((s // int(sys.argv[2])) % int(sys.argv[3]) + 1)' \
        "$P/serial" "${SPAN:-4096}" "$SHARDS")
    printf '%s' "${CDP%/*.crl}/shard/$NAME/$k.crl"
}

# issue ROLE EKU SAN
issue() {
    local role=$1 eku=$2 san=$3 ext=$M/$1.ext cdp
    cdp=$(cdp_for_next)
    cat >"$ext" <<EOT
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = $eku
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = $san
authorityInfoAccess    = $AIA
crlDistributionPoints  = $cdp
EOT
    run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$M/$role.key"
    run openssl req -new -config "$P/openssl.cnf" -key "$M/$role.key" \
        -subj "/O=revokd demo/OU=mesh/CN=$role.$NAME.revokd.test" -out "$M/$role.csr"
    # -extfile replaces the config's extensions (copy_extensions copies none: the CSR has none)
    run openssl ca -config "$P/openssl.cnf" -batch -notext -extfile "$ext" \
        -in "$M/$role.csr" -out "$M/$role.pem"
    rm -f "$M/$role.csr" "$ext"
    chmod 600 "$M/$role.key"
}

D=$NAME.revokd.test
issue gateway serverAuth "DNS:gateway.$D, DNS:api.$D, DNS:localhost, IP:127.0.0.1"
for role in frontend mobile partner admin; do
    issue "$role" clientAuth "URI:spiffe://$D/$role, DNS:$role.$D"
done

run openssl verify -CAfile "$P/chain.pem" -purpose sslserver "$M/gateway.pem"
for role in frontend mobile partner admin; do
    run openssl verify -CAfile "$P/chain.pem" -purpose sslclient "$M/$role.pem"
done
cat "$M/gateway.pem" "$P/ca.pem" >"$M/gateway-fullchain.pem"
echo "mkmesh: issued gateway, frontend, mobile, partner, admin into $M"
