#!/usr/bin/env bash
# mkpki.sh — makes a small demo PKI for revokd with the openssl CLI only.
#
#   scripts/mkpki.sh DIR [--name NAME] [--serial-start HEX] [--port PORT] [--backend NAME]
#
# Two CAs, both managed with `openssl ca` and both served by one revokd, so a strict
# relying party (Java's default PKIX revocation checking, nginx `ssl_ocsp on`) can
# check every certificate of the path over OCSP or CRL. Into DIR (created if absent,
# must not already hold a PKI):
#   root.pem root.key        self-signed root CA (RSA 2048); revokd issuer NAME-root
#   root/openssl.cnf         the root's `openssl ca` config, with its database
#                            root/index.txt (lists the issuing CA and ocsp-root.pem),
#                            root/serial, root/crlnumber and root/newcerts/
#   ocsp-root.pem .key       the root's delegated OCSP signer (RSA 2048)
#   ca.pem ca.key            issuing (intermediate) CA (EC P-256), signed by the root;
#                            revokd issuer NAME
#   chain.pem                root + intermediate, the trust file for clients
#   openssl.cnf              the `openssl ca` config of the intermediate, with its
#                            database index.txt, serial, crlnumber and newcerts/
#   ocsp.pem ocsp.key        the intermediate's delegated OCSP signer (RSA 2048)
#   good.pem good.key        leaf (serverAuth+clientAuth), valid
#   revoked.pem revoked.key  leaf, revoked with reason keyCompromise
#   server.pem server.key    TLS server leaf (serverAuth), SAN IP:127.0.0.1, DNS:localhost
#   revokd.conf              a revokd config for both CAs ([issuer NAME], [issuer NAME-root])
#
# Both OCSP signers: EKU OCSPSigning, keyUsage digitalSignature, id-pkix-ocsp-nocheck.
# Every certificate but the root carries authorityInfoAccess OCSP;URI:http://127.0.0.1:PORT
# and a crlDistributionPoint: leaves URI:http://127.0.0.1:PORT/crl/NAME.crl, the issuing
# CA URI:http://127.0.0.1:PORT/crl/NAME-root.crl.
# Serials: the OCSP signer gets HEX, good HEX+1, revoked HEX+2, server HEX+3 (openssl
# ca's serial file), so two PKIs made with the same --serial-start share serials on
# purpose; under the root the issuing CA is 02 and ocsp-root.pem 03.
# Keys are fresh each run; names, serials and layout are always the same.
set -eu

usage() {
    echo "usage: $0 DIR [--name NAME] [--serial-start HEX] [--port PORT] [--backend auto|io_uring|libev]" >&2
    exit 2
}

DIR=
NAME=demo
SERIAL_START=1000
PORT=8080
BACKEND=auto # [responder] backend in the written revokd.conf
while [ $# -gt 0 ]; do
    case "$1" in
    --name) [ $# -ge 2 ] || usage; NAME=$2; shift 2 ;;
    --serial-start) [ $# -ge 2 ] || usage; SERIAL_START=$2; shift 2 ;;
    --port) [ $# -ge 2 ] || usage; PORT=$2; shift 2 ;;
    --backend) [ $# -ge 2 ] || usage; BACKEND=$2; shift 2 ;;
    -h | --help) usage ;;
    -*) echo "mkpki: unknown option $1" >&2; usage ;;
    *) [ -z "$DIR" ] || usage; DIR=$1; shift ;;
    esac
done
[ -n "$DIR" ] || usage
# 58: the root's issuer name NAME-root must fit revokd's 63
if ! printf '%s' "$NAME" | grep -Eq '^[A-Za-z0-9._-]{1,58}$'; then
    echo "mkpki: --name must be 1-58 characters of [A-Za-z0-9._-]" >&2
    exit 2
fi
SERIAL_START=$(printf '%s' "$SERIAL_START" | sed 's/^0[xX]//' | tr 'a-f' 'A-F')
if ! printf '%s' "$SERIAL_START" | grep -Eq '^[0-9A-F]{1,40}$'; then
    echo "mkpki: --serial-start must be hex (at most 40 digits)" >&2
    exit 2
fi
# openssl ca wants an even number of hex digits in its serial file
if [ $((${#SERIAL_START} % 2)) -eq 1 ]; then SERIAL_START=0$SERIAL_START; fi
if ! printf '%s' "$PORT" | grep -Eq '^[0-9]{1,5}$' || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
    echo "mkpki: --port must be 1-65535" >&2
    exit 2
fi

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
if [ -e "$DIR/index.txt" ] || [ -e "$DIR/ca.pem" ]; then
    echo "mkpki: $DIR already holds a PKI (index.txt/ca.pem); use an empty directory" >&2
    exit 1
fi

LOG=$DIR/mkpki.log
: >"$LOG"
# Runs a command with its chatter in mkpki.log; on failure shows the log and stops.
run() {
    if ! "$@" >>"$LOG" 2>&1; then
        echo "mkpki: FAILED: $*" >&2
        tail -n 30 "$LOG" >&2
        exit 1
    fi
}

export OPENSSL_CONF=/dev/null # no surprises from the system openssl.cnf
umask 022 # openssl writes private keys 0600 itself
mkdir -p "$DIR/newcerts" "$DIR/root/newcerts"
: >"$DIR/index.txt"
printf 'unique_subject = no\n' >"$DIR/index.txt.attr"
printf '%s\n' "$SERIAL_START" >"$DIR/serial"
printf '1000\n' >"$DIR/crlnumber"
: >"$DIR/root/index.txt"
printf 'unique_subject = no\n' >"$DIR/root/index.txt.attr"
printf '02\n' >"$DIR/root/serial"
printf '1000\n' >"$DIR/root/crlnumber"

URL=http://127.0.0.1:$PORT
ROOTNAME=$NAME-root

# ca_cnf WHAT CADIR CERT KEY DAYS EXT: the [ca] part of an `openssl ca` config whose
# database lives in CADIR; the caller appends its extension sections.
ca_cnf() {
    cat <<EOF
# openssl ca config of the "$1" CA (written by revokd scripts/mkpki.sh).
#   issue:  openssl ca -config $2/openssl.cnf -batch -in X.csr -out X.pem
#   revoke: openssl ca -config $2/openssl.cnf -revoke X.pem -crl_reason keyCompromise
# then let revokd re-read $2/index.txt: revokd-indexer -c $DIR/revokd.conf --once
[ ca ]
default_ca = CA_default

[ CA_default ]
dir              = $2
database         = \$dir/index.txt
new_certs_dir    = \$dir/newcerts
certificate      = $3
private_key      = $4
serial           = \$dir/serial
crlnumber        = \$dir/crlnumber
default_md       = sha256
default_days     = $5
default_crl_days = 7
policy           = policy_anything
copy_extensions  = copy
unique_subject   = no
preserve         = no
email_in_dn      = no
name_opt         = ca_default
cert_opt         = ca_default
x509_extensions  = $6
crl_extensions   = crl_ext

[ policy_anything ]
countryName            = optional
stateOrProvinceName    = optional
localityName           = optional
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied
emailAddress           = optional

[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]

[ crl_ext ]
authorityKeyIdentifier = keyid:always

[ ocsp_ext ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = critical, OCSPSigning
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
noCheck                = ignored
EOF
}

# --- the root's `openssl ca` config: it issues the intermediate and its OCSP signer
{
    ca_cnf "$ROOTNAME" "$DIR/root" "$DIR/root.pem" "$DIR/root.key" 1825 intermediate_ext
    cat <<EOF

[ root_ext ]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

# The issuing CA names where its own status is served (revokd issuer $ROOTNAME), so
# clients that check every certificate of the path find it without configuration.
[ intermediate_ext ]
basicConstraints       = critical, CA:true, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
authorityInfoAccess    = OCSP;URI:$URL
crlDistributionPoints  = URI:$URL/crl/$ROOTNAME.crl
EOF
} >"$DIR/root/openssl.cnf"

# --- the intermediate's `openssl ca` config ------------------------------------
{
    ca_cnf "$NAME" "$DIR" "$DIR/ca.pem" "$DIR/ca.key" 825 leaf_ext
    cat <<EOF

[ leaf_ext ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
authorityInfoAccess    = OCSP;URI:$URL
crlDistributionPoints  = URI:$URL/crl/$NAME.crl

[ server_ext ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
authorityInfoAccess    = OCSP;URI:$URL
crlDistributionPoints  = URI:$URL/crl/$NAME.crl
EOF
} >"$DIR/openssl.cnf"

cd "$DIR"

# root CA (self-signed: not in its own database, as with any root)
run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out root.key
run openssl req -new -x509 -config root/openssl.cnf -extensions root_ext -key root.key \
    -subj "/O=revokd demo/CN=revokd demo root ($NAME)" -days 3650 -sha256 \
    -set_serial 0x01 -out root.pem

# newkey FILE rsa|ec
newkey() {
    if [ "$2" = rsa ]; then
        run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1"
    else
        run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
    fi
}

# intermediate (issuing) CA, serial 02 of the root's database
newkey ca.key ec
run openssl req -new -config root/openssl.cnf -key ca.key \
    -subj "/O=revokd demo/CN=revokd demo issuing CA ($NAME)" -out ca.csr
run openssl ca -config root/openssl.cnf -batch -notext -extensions intermediate_ext \
    -days 1825 -in ca.csr -out ca.pem
cat root.pem ca.pem >chain.pem

# the root's delegated OCSP signer, serial 03
newkey ocsp-root.key rsa
run openssl req -new -config root/openssl.cnf -key ocsp-root.key \
    -subj "/O=revokd demo/CN=ocsp.$ROOTNAME.revokd.test" -out ocsp-root.csr
run openssl ca -config root/openssl.cnf -batch -notext -extensions ocsp_ext \
    -days 825 -in ocsp-root.csr -out ocsp-root.pem

# issue NAME KEYALG EXT [SAN]: DIR/NAME.pem from the intermediate via openssl ca.
issue() {
    local name=$1 keyalg=$2 ext=$3 san=${4:-DNS:$1.$NAME.revokd.test}
    newkey "$name.key" "$keyalg"
    run openssl req -new -config openssl.cnf -key "$name.key" \
        -subj "/O=revokd demo/CN=$name.$NAME.revokd.test" \
        -addext "subjectAltName = $san" -out "$name.csr"
    run openssl ca -config openssl.cnf -batch -notext -extensions "$ext" \
        -in "$name.csr" -out "$name.pem"
}

issue ocsp rsa ocsp_ext
issue good ec leaf_ext
issue revoked ec leaf_ext
run openssl ca -config openssl.cnf -revoke revoked.pem -crl_reason keyCompromise
issue server ec server_ext "IP:127.0.0.1, DNS:localhost"

# sanity: the chain verifies, the signers are what OCSP clients require
run openssl verify -CAfile chain.pem good.pem revoked.pem ocsp.pem
run openssl verify -CAfile chain.pem -purpose sslserver server.pem
run openssl verify -CAfile chain.pem -purpose ocsphelper ocsp.pem
run openssl verify -CAfile root.pem -purpose ocsphelper ocsp-root.pem
grep -q '^R' index.txt || { echo "mkpki: revocation did not reach index.txt" >&2; exit 1; }
[ "$(grep -c '^V' root/index.txt)" -eq 2 ] || { echo "mkpki: root/index.txt does not list ca.pem and ocsp-root.pem" >&2; exit 1; }
rm -f ./*.csr

cat >revokd.conf <<EOF
# revokd config for the "$NAME" demo PKI (written by revokd scripts/mkpki.sh).
# Relative paths resolve against this file's directory.
[store]
path = store

[log]
level = info

[responder]
listen = 127.0.0.1:$PORT
backend = $BACKEND

[crlgen]
out_dir = crl
# delta CRLs at url/delta/NAME.crl, named in every CRL's Freshest CRL extension
url = $URL/crl

# the issuing CA: leaves' OCSP at $URL, CRL at $URL/crl/$NAME.crl
[issuer $NAME]
ca_cert     = ca.pem
index       = index.txt
signer_cert = ocsp.pem
signer_key  = ocsp.key
crl_key     = ca.key
crlnumber   = crlnumber
digest      = sha256

# the root: the issuing CA's own status, OCSP at $URL, CRL at $URL/crl/$ROOTNAME.crl
[issuer $ROOTNAME]
ca_cert     = root.pem
index       = root/index.txt
signer_cert = ocsp-root.pem
signer_key  = ocsp-root.key
crl_key     = root.key
crlnumber   = root/crlnumber
digest      = sha256
EOF
chmod 644 ./*.pem index.txt openssl.cnf root/index.txt root/openssl.cnf revokd.conf
chmod 600 ./*.key
