/*
 * ocsp_req — the request side of RFC 6960, and all the responder links of OCSP:
 * the strict parser it runs on untrusted bytes, the fixed error responses, and
 * the CertID issuer hashes the indexer and the responder must agree on. Nothing
 * here signs or touches a key (that is ocsp_resp.h), so the responder binary
 * carries no signing code; tests/responder/check_no_signing.sh holds it to that.
 *
 * ocsp_req_parse() never copies: struct ocsp_req points into the caller's buffer.
 */
#ifndef REVOKD_OCSP_REQ_H
#define REVOKD_OCSP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "der.h"
#include "store.h"

/* Largest OCSP request accepted (RFC 5019 requests are ~100 bytes). */
#define OCSP_REQ_MAX 4096
/* Bound on requestList entries walked (RFC 5019 clients send exactly one). */
#define OCSP_REQ_CERTS_MAX 64
/* Nonce value length accepted, in octets (RFC 9654 2.1: 1..128); see ocsp_req_parse(). */
#define OCSP_NONCE_MIN 1
#define OCSP_NONCE_MAX 128

/* OCSPResponseStatus values. */
enum ocsp_resp_status {
    OCSP_SUCCESSFUL = 0,
    OCSP_MALFORMED_REQUEST = 1,
    OCSP_INTERNAL_ERROR = 2,
    OCSP_TRY_LATER = 3,
    OCSP_SIG_REQUIRED = 5,
    OCSP_UNAUTHORIZED = 6,
};

/* The CertID of a request; pointers into the request bytes. */
struct ocsp_certid {
    int hash;                 /* enum store_hash, or 0 for an algorithm we do not serve */
    const uint8_t *name_hash; /* issuerNameHash contents */
    const uint8_t *key_hash;  /* issuerKeyHash contents */
    size_t hash_len;          /* length of both */
    const uint8_t *serial;    /* serialNumber INTEGER contents */
    size_t serial_len;
};

struct ocsp_req {
    struct ocsp_certid id; /* the first (and, for RFC 5019, only) request */
    unsigned n_certs;      /* number of entries in requestList */
    const uint8_t
        *nonce; /* nonce extension's extnValue contents (a live signer echoes it), or NULL */
    size_t nonce_len;
    bool is_signed;      /* optionalSignature present (accepted, not verified) */
    const uint8_t *list; /* requestList contents, for ocsp_req_certids() */
    size_t list_len;
};

/*
 * Parses a DER OCSPRequest. Returns 0; -EBADMSG if the bytes are not a strict
 * DER OCSPRequest (wrong tags, bad lengths, trailing bytes, non-minimal
 * integers, hash lengths that do not match the algorithm, empty requestList,
 * a serial over DER_SERIAL_MAX bytes, more than OCSP_REQ_CERTS_MAX CertIDs, an
 * extension marked critical that we do not recognize, a nonce extension twice,
 * a nonce value shorter than OCSP_NONCE_MIN or longer than OCSP_NONCE_MAX
 * octets: see ocsp_req.c). A CertID hash algorithm we do not serve is not
 * malformed: id.hash is 0 and the caller answers unauthorized.
 *
 * The nonce value is measured as RFC 8954 defines it: extnValue holds the DER
 * of Nonce ::= OCTET STRING, so when extnValue's contents are exactly one DER
 * OCTET STRING, its contents are the nonce; otherwise (clients that put the raw
 * bytes in extnValue) the whole extnValue contents are. req->nonce always spans
 * the extnValue contents, whichever way the value was measured.
 */
int ocsp_req_parse(const uint8_t *der, size_t len, struct ocsp_req *out);

/*
 * Every CertID of a request ocsp_req_parse() accepted, in order, into ids (at
 * most cap; the parser allows OCSP_REQ_CERTS_MAX). Returns the count, or
 * -EBADMSG if r was not filled by a successful parse.
 */
int ocsp_req_certids(const struct ocsp_req *r, struct ocsp_certid *ids, unsigned cap);

/* The complete DER of an OCSPResponse carrying only an error status (5 bytes). */
const uint8_t *ocsp_error_response(enum ocsp_resp_status st, size_t *len);

/* Issuer hashes for both CertID algorithms, computed from the issuer's certificate DER. */
struct ocsp_issuer_hashes {
    uint8_t name_sha1[20], key_sha1[20];
    uint8_t name_sha256[32], key_sha256[32];
};
int ocsp_issuer_hashes(const uint8_t *cert_der, size_t cert_len, struct ocsp_issuer_hashes *out);

/* Encoded OID contents shared by the parser and the builder. */
extern const uint8_t OID_SHA1[5], OID_SHA256[9];
extern const uint8_t OID_PKIX_OCSP_BASIC[9], OID_PKIX_OCSP_NONCE[9];

#endif
