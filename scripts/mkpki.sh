#!/usr/bin/env bash
# mkpki.sh — makes a small demo PKI for revokd with the openssl CLI only.
#
#   scripts/mkpki.sh DIR [--name NAME] [--serial-start HEX] [--port PORT]
#
# Into DIR (created if absent, must not already hold a PKI):
#   root.pem root.key        self-signed root CA (RSA 2048)
#   ca.pem ca.key            issuing (intermediate) CA (EC P-256), signed by the root
#   chain.pem                root + intermediate, the trust file for clients
#   openssl.cnf              the `openssl ca` config of the intermediate, with its
#                            database index.txt, serial, crlnumber and newcerts/
#   ocsp.pem ocsp.key        delegated OCSP signer (RSA 2048): EKU OCSPSigning,
#                            keyUsage digitalSignature, id-pkix-ocsp-nocheck
#   good.pem good.key        leaf (serverAuth+clientAuth), valid
#   revoked.pem revoked.key  leaf, revoked with reason keyCompromise
#   revokd.conf              a revokd config for this PKI ([issuer NAME])
#
# Leaves carry authorityInfoAccess OCSP;URI:http://127.0.0.1:PORT and
# crlDistributionPoints URI:http://127.0.0.1:PORT/crl/NAME.crl.
# Serials: the OCSP signer gets HEX, good HEX+1, revoked HEX+2 (openssl ca's serial
# file), so two PKIs made with the same --serial-start share serials on purpose.
# Keys are fresh each run; names, serials and layout are always the same.
set -eu

usage() {
    echo "usage: $0 DIR [--name NAME] [--serial-start HEX] [--port PORT]" >&2
    exit 2
}

DIR=
NAME=demo
SERIAL_START=1000
PORT=8080
while [ $# -gt 0 ]; do
    case "$1" in
    --name) [ $# -ge 2 ] || usage; NAME=$2; shift 2 ;;
    --serial-start) [ $# -ge 2 ] || usage; SERIAL_START=$2; shift 2 ;;
    --port) [ $# -ge 2 ] || usage; PORT=$2; shift 2 ;;
    -h | --help) usage ;;
    -*) echo "mkpki: unknown option $1" >&2; usage ;;
    *) [ -z "$DIR" ] || usage; DIR=$1; shift ;;
    esac
done
[ -n "$DIR" ] || usage
if ! printf '%s' "$NAME" | grep -Eq '^[A-Za-z0-9._-]{1,63}$'; then
    echo "mkpki: --name must be 1-63 characters of [A-Za-z0-9._-]" >&2
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
mkdir -p "$DIR/newcerts"
: >"$DIR/index.txt"
printf 'unique_subject = no\n' >"$DIR/index.txt.attr"
printf '%s\n' "$SERIAL_START" >"$DIR/serial"
printf '1000\n' >"$DIR/crlnumber"

URL=http://127.0.0.1:$PORT

# --- root CA: extensions for `openssl req -x509` -----------------------------
cat >"$DIR/root-ext.cnf" <<EOF
[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
[ root_ext ]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
[ intermediate_ext ]
basicConstraints       = critical, CA:true, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
EOF

# --- the intermediate's `openssl ca` config ------------------------------------
cat >"$DIR/openssl.cnf" <<EOF
# openssl ca config of the "$NAME" issuing CA (written by revokd scripts/mkpki.sh).
#   issue:  openssl ca -config $DIR/openssl.cnf -batch -in X.csr -out X.pem
#   revoke: openssl ca -config $DIR/openssl.cnf -revoke X.pem -crl_reason keyCompromise
# then let revokd re-read index.txt: revokd-indexer -c $DIR/revokd.conf --once
[ ca ]
default_ca = CA_default

[ CA_default ]
dir              = $DIR
database         = \$dir/index.txt
new_certs_dir    = \$dir/newcerts
certificate      = \$dir/ca.pem
private_key      = \$dir/ca.key
serial           = \$dir/serial
crlnumber        = \$dir/crlnumber
default_md       = sha256
default_days     = 825
default_crl_days = 7
policy           = policy_anything
copy_extensions  = copy
unique_subject   = no
preserve         = no
email_in_dn      = no
name_opt         = ca_default
cert_opt         = ca_default
x509_extensions  = leaf_ext
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

[ leaf_ext ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
authorityInfoAccess    = OCSP;URI:$URL
crlDistributionPoints  = URI:$URL/crl/$NAME.crl

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

cd "$DIR"

# root CA
run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out root.key
run openssl req -new -x509 -config root-ext.cnf -extensions root_ext -key root.key \
    -subj "/O=revokd demo/CN=revokd demo root ($NAME)" -days 3650 -sha256 \
    -set_serial 0x01 -out root.pem

# intermediate (issuing) CA, signed by the root
run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
run openssl req -new -config root-ext.cnf -key ca.key \
    -subj "/O=revokd demo/CN=revokd demo issuing CA ($NAME)" -out ca.csr
run openssl x509 -req -in ca.csr -CA root.pem -CAkey root.key -set_serial 0x02 \
    -days 1825 -sha256 -extfile root-ext.cnf -extensions intermediate_ext -out ca.pem
cat root.pem ca.pem >chain.pem

# Issues DIR/$1.pem with key type $2 and extension section $3 via openssl ca.
issue() {
    local name=$1 keyalg=$2 ext=$3
    if [ "$keyalg" = rsa ]; then
        run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$name.key"
    else
        run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name.key"
    fi
    run openssl req -new -config openssl.cnf -key "$name.key" \
        -subj "/O=revokd demo/CN=$name.$NAME.revokd.test" \
        -addext "subjectAltName = DNS:$name.$NAME.revokd.test" -out "$name.csr"
    run openssl ca -config openssl.cnf -batch -notext -extensions "$ext" \
        -in "$name.csr" -out "$name.pem"
}

issue ocsp rsa ocsp_ext
issue good ec leaf_ext
issue revoked ec leaf_ext
run openssl ca -config openssl.cnf -revoke revoked.pem -crl_reason keyCompromise

# sanity: the chain verifies, the signer is what OCSP clients require
run openssl verify -CAfile chain.pem good.pem revoked.pem ocsp.pem
run openssl verify -CAfile chain.pem -purpose ocsphelper ocsp.pem
grep -q '^R' index.txt || { echo "mkpki: revocation did not reach index.txt" >&2; exit 1; }
rm -f ca.csr ocsp.csr good.csr revoked.csr root-ext.cnf

cat >revokd.conf <<EOF
# revokd config for the "$NAME" demo PKI (written by revokd scripts/mkpki.sh).
# Relative paths resolve against this file's directory.
[store]
path = store

[log]
level = info

[responder]
listen = 127.0.0.1:$PORT

[crlgen]
out_dir = crl

[issuer $NAME]
ca_cert     = ca.pem
index       = index.txt
signer_cert = ocsp.pem
signer_key  = ocsp.key
crl_key     = ca.key
digest      = sha256
EOF
chmod 644 ./*.pem index.txt openssl.cnf revokd.conf
chmod 600 ./*.key
