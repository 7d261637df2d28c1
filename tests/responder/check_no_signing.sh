#!/usr/bin/env bash
# check_no_signing.sh — the responder binary carries no signing code (issue 7,
# least privilege): no revokd signer or response builder, and no OpenSSL entry
# point that loads a private key or signs. Read from the built binaries' symbol
# tables with nm; nothing is run.
#
#   check_no_signing.sh BUILD_DIR
#
# Positive controls keep the check honest: the same patterns must be found in
# revokd-indexer and revokd-crlgen (which do sign), and the responder's symbol
# table must be readable at all (ocsp_req_parse present), so that a stripped
# binary or a broken pattern cannot make the check pass by seeing nothing.
set -u

BUILD=${1:-${REVOKD_BUILD:-build}}
RSP=$BUILD/revokd-responder
IDX=$BUILD/revokd-indexer
CRLGEN=$BUILD/revokd-crlgen

# Our own signing code, defined in common/sign.c and common/ocsp_resp.c.
OURS='^(signer_load|signer_sign|signer_free|ocsp_resp_build|ocsp_resp_build_head)$'
# OpenSSL: private-key loading and every signing API family.
SSL='^(EVP_DigestSign.*|EVP_Sign.*|EVP_PKEY_sign.*|EVP_PKEY_CTX_set_signature.*'
SSL+='|PEM_read.*PrivateKey.*|d2i_.*PrivateKey.*|d2i_AutoPrivateKey.*|OSSL_DECODER_CTX_new_for_pkey'
SSL+='|X509_sign.*|X509_CRL_sign.*|X509_REQ_sign.*|OCSP_basic_sign.*|PKCS7_sign.*|CMS_sign.*'
SSL+='|ASN1_item_sign.*|(RSA|DSA|ECDSA)_(do_)?sign.*|RSA_private_encrypt|X509_check_private_key)$'

passes=0
fails=0
ok() {
    echo "PASS: $1"
    passes=$((passes + 1))
}
bad() {
    echo "FAIL: $1"
    [ $# -ge 2 ] && printf '%s\n' "$2" | sed 's/^/    | /'
    fails=$((fails + 1))
}

# symbols BIN: every symbol name, defined or imported, version suffix removed.
# nm -D as well: a stripped binary still lists its dynamic imports.
symbols() {
    { nm "$1" 2>/dev/null; nm -D "$1" 2>/dev/null; } |
        awk '{ print $NF }' | sed 's/@.*//' | sort -u
}

for p in "$RSP" "$IDX" "$CRLGEN"; do
    if [ ! -x "$p" ]; then
        bad "program missing: $p"
        echo "0 passed, $fails failed"
        exit 1
    fi
done

rsp=$(symbols "$RSP")
if grep -qx 'ocsp_req_parse' <<<"$rsp" && grep -qx 'ocsp_error_response' <<<"$rsp"; then
    ok "responder symbol table readable (ocsp_req_parse, ocsp_error_response present)"
else
    bad "responder symbol table has no ocsp_req_parse: stripped, or nm failed; cannot check"
fi

found=$(grep -E "$OURS" <<<"$rsp")
if [ -z "$found" ]; then
    ok "responder has no signer_load/signer_sign/signer_free/ocsp_resp_build"
else
    bad "responder links revokd signing code" "$found"
fi
found=$(grep -E "$SSL" <<<"$rsp")
if [ -z "$found" ]; then
    ok "responder imports no OpenSSL private-key or signing entry point"
else
    bad "responder imports OpenSSL private-key or signing entry points" "$found"
fi

# Positive controls: the programs that do sign must be caught by the same patterns.
idx=$(symbols "$IDX")
for s in signer_load signer_sign ocsp_resp_build; do
    if grep -E "$OURS" <<<"$idx" | grep -qx "$s"; then
        ok "control: the check finds $s in revokd-indexer"
    else
        bad "control: $s not found in revokd-indexer: the check would miss it"
    fi
done
for s in EVP_DigestSign PEM_read_bio_PrivateKey; do
    if grep -E "$SSL" <<<"$idx" | grep -qx "$s"; then
        ok "control: the check finds $s in revokd-indexer"
    else
        bad "control: $s not found in revokd-indexer: the check would miss it"
    fi
done
crl=$(symbols "$CRLGEN")
if grep -E "$OURS" <<<"$crl" | grep -qx signer_sign && grep -qE "$SSL" <<<"$crl"; then
    ok "control: the check finds signer_sign and OpenSSL signing in revokd-crlgen"
else
    bad "control: revokd-crlgen's signing code not found: the check would miss it"
fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ] && [ "$passes" -gt 0 ]
