/*
 * ol_ocsp — what ocspload knows about OCSP bytes. Two checks of a response
 * against the request that asked for it: a fast one run on every response in
 * the hot path (a bounds-checked DER walk, no allocation, no crypto: response
 * status, response type, the SingleResponse whose CertID matches the request's
 * serial and issuer key hash, and its certStatus), and a full one run on a
 * sample off the hot path (OpenSSL: d2i_OCSP_RESPONSE, OCSP_resp_find_status,
 * thisUpdate/nextUpdate validity and OCSP_basic_verify against trust anchors).
 * Also the small codecs both the request generator and the load loop share:
 * base64 and the RFC 5019 GET path encoding.
 */
#ifndef OL_OCSP_H
#define OL_OCSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the responder should say about a request. */
enum ol_expect { OL_EXPECT_GOOD = 0, OL_EXPECT_REVOKED = 1, OL_EXPECT_UNKNOWN = 2 };

/*
 * What an "unknown" request (serial or issuer the responder does not serve)
 * should get: an unauthorized error (RFC 5019, revokd), a successful response
 * with certStatus unknown (what `openssl ocsp` answers), or either.
 */
enum ol_unknown_policy { OL_UNKNOWN_UNAUTHORIZED = 0, OL_UNKNOWN_CERTSTATUS, OL_UNKNOWN_ANY };

/* Outcome of the fast check. */
enum ol_fast {
    OL_FAST_OK = 0,
    OL_FAST_MALFORMED,      /* not the DER of an OCSPResponse we can walk */
    OL_FAST_WRONG_RESPONSE, /* responseStatus/type not what was expected */
    OL_FAST_NO_MATCH,       /* no SingleResponse for the requested CertID */
    OL_FAST_WRONG_STATUS,   /* certStatus differs from the expected one */
};

/* Where a CertID's identifying fields lie, as offsets into the DER holding it. */
struct ol_certid {
    uint32_t key_off, key_len;       /* issuerKeyHash contents */
    uint32_t serial_off, serial_len; /* serialNumber contents */
};

/* Finds the (first) CertID of a DER OCSPRequest. Returns 0 or -1. */
int ol_request_certid(const uint8_t *der, size_t len, struct ol_certid *id);

/*
 * Fast check of a response body against the request it answers (req_der with
 * its CertID id) and the expected status.
 */
enum ol_fast ol_fast_check(const uint8_t *body, size_t len, const uint8_t *req_der,
                           const struct ol_certid *id, enum ol_expect expect,
                           enum ol_unknown_policy unknown);

const char *ol_fast_str(enum ol_fast f);

/* Full verification state: trust anchors and extra untrusted certs. */
struct ol_verifier;

/*
 * Loads trust anchors from ca_file (PEM, one or more certs: the root and the
 * issuing CA) and optional untrusted certs (e.g. a delegated signer that
 * responses do not carry) from extra_file (may be NULL). On failure returns
 * NULL and writes a reason to err.
 */
struct ol_verifier *ol_verifier_new(const char *ca_file, const char *extra_file, char *err,
                                    size_t errlen);
void ol_verifier_free(struct ol_verifier *v);

/*
 * Fully verifies one response. Returns 0 if it is the right answer, correctly
 * signed by an authorized responder and currently valid; -1 otherwise with the
 * reason in why.
 */
int ol_verify(struct ol_verifier *v, const uint8_t *body, size_t len, const uint8_t *req_der,
              size_t req_len, enum ol_expect expect, enum ol_unknown_policy unknown, char *why,
              size_t whylen);

/* Standard base64 with padding. out must hold 4 * ceil(len / 3) bytes; returns the length. */
size_t ol_b64_encode(const uint8_t *in, size_t len, char *out);
/* Decodes standard base64 (padding optional). Returns the length or -1. */
long ol_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/*
 * RFC 5019 GET path component: base64, then '+', '/' and '=' percent-encoded.
 * out must hold 3 * 4 * ceil(len / 3) bytes; returns the length.
 */
size_t ol_get_path_encode(const uint8_t *der, size_t len, char *out);

#endif
