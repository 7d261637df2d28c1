/*
 * ocsp — RFC 6960 on the wire: the strict request parser the responder runs on
 * untrusted bytes, the response builder the indexer uses to pre-sign, the fixed
 * error responses, and the CertID issuer hashes both sides must agree on.
 *
 * ocsp_req_parse() never copies: struct ocsp_req points into the caller's buffer.
 * ocsp_resp_build() writes into a struct derw the caller owns.
 */
#ifndef REVOKD_OCSP_H
#define REVOKD_OCSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "der.h"
#include "store.h"

struct signer;

/* Largest OCSP request accepted (RFC 5019 requests are ~100 bytes). */
#define OCSP_REQ_MAX 4096
/* Bound on requestList entries walked (RFC 5019 clients send exactly one). */
#define OCSP_REQ_CERTS_MAX 64

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
    bool is_signed; /* optionalSignature present (accepted, not verified) */
};

/*
 * Parses a DER OCSPRequest. Returns 0; -EBADMSG if the bytes are not a strict
 * DER OCSPRequest (wrong tags, bad lengths, trailing bytes, non-minimal
 * integers, hash lengths that do not match the algorithm, empty requestList,
 * a serial over DER_SERIAL_MAX bytes, more than OCSP_REQ_CERTS_MAX CertIDs, an
 * extension marked critical that we do not recognize: see ocsp.c). A CertID hash
 * algorithm we do not serve is not malformed: id.hash is 0 and the caller answers unauthorized.
 */
int ocsp_req_parse(const uint8_t *der, size_t len, struct ocsp_req *out);

/* The complete DER of an OCSPResponse carrying only an error status (5 bytes). */
const uint8_t *ocsp_error_response(enum ocsp_resp_status st, size_t *len);

/* Issuer hashes for both CertID algorithms, computed from the issuer's certificate DER. */
struct ocsp_issuer_hashes {
    uint8_t name_sha1[20], key_sha1[20];
    uint8_t name_sha256[32], key_sha256[32];
};
int ocsp_issuer_hashes(const uint8_t *cert_der, size_t cert_len, struct ocsp_issuer_hashes *out);

/* One SingleResponse to pre-sign. */
struct ocsp_single {
    enum store_hash hash;
    const uint8_t *name_hash, *key_hash; /* store_hash_len(hash) bytes each */
    const uint8_t *serial;               /* INTEGER contents */
    size_t serial_len;
    enum store_status status;
    int64_t revoked_at; /* for revoked / on hold */
    uint8_t reason;     /* CRLReason or STORE_REASON_NONE; see ocsp_resp_build() */
    int64_t this_update, next_update;
};

/*
 * Builds a signed OCSPResponse (status successful, id-pkix-ocsp-basic) for one
 * SingleResponse: responderID byKey, producedAt, and the signer's certificate in
 * `certs`. Appends to w; returns 0 or a negative errno (w->err, or a signing error).
 * revocationReason follows the rules crlgen applies to reasonCode: on hold is
 * certificateHold; unspecified (0), removeFromCRL (8) and none are omitted; 1-5,
 * 9 and 10 as given; 7 or past 10 is -EINVAL. The caller picks this_update (the
 * indexer never sets it before revoked_at).
 */
int ocsp_resp_build(struct derw *w, const struct ocsp_single *s, int64_t produced_at,
                    const struct signer *sg);

/* Encoded OID contents shared by the builders. */
extern const uint8_t OID_SHA1[5], OID_SHA256[9];
extern const uint8_t OID_PKIX_OCSP_BASIC[9], OID_PKIX_OCSP_NONCE[9];

#endif
