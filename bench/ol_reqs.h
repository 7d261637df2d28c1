/*
 * ol_reqs — ocspload's request set: generating it (`ocspload gen`: DER
 * OCSPRequests built with OpenSSL's OCSP API for an issuer's certificate and
 * the serials of its openssl-ca index.txt, plus unknown serials and issuers, in
 * configurable proportions, each stored with the status a correct responder
 * gives it) and loading it for a run, where every distinct request is turned
 * once into the exact HTTP/1.1 bytes to send — a POST and an RFC 5019 GET — so
 * the load loop only copies prebuilt bytes.
 *
 * The file is text, one request per line, so sets can be inspected, filtered
 * with grep and concatenated across issuers:
 *
 *   # comment
 *   <good|revoked|unknown> <sha1|sha256> <serial hex> <base64 DER OCSPRequest>
 */
#ifndef OL_REQS_H
#define OL_REQS_H

#include <stddef.h>
#include <stdint.h>

#include "ol_ocsp.h"

/* Largest DER request accepted from a set file. */
#define OL_REQ_DER_MAX 2048
/* Most extra header lines added to every request. */
#define OL_EXTRA_HEADERS_MAX 8

struct ol_req {
    uint32_t der_off, der_len; /* DER OCSPRequest in set->der (0, 0 for a fixed request) */
    uint32_t distinct;         /* which distinct DER this is (0 .. n_distinct-1) */
    uint8_t expect;            /* enum ol_expect */
    uint8_t sha256;            /* CertID hash is SHA-256 (else SHA-1) */
    struct ol_certid id;       /* offsets relative to der_off */
};

/* Prebuilt HTTP request bytes of one distinct request. */
struct ol_http_req {
    uint32_t post_off, post_len; /* in set->http */
    uint32_t get_off, get_len;
};

struct ol_reqset {
    struct ol_req *req;
    size_t n;
    size_t n_distinct;
    uint32_t *first_of; /* first_of[d]: index of a request whose DER is distinct d */
    uint8_t *der;
    size_t der_len;
    struct ol_http_req *http_of; /* per distinct */
    uint8_t *http;
    size_t http_len;
    size_t max_http_len; /* longest request, for sizing write buffers */
    size_t count[3];     /* requests per enum ol_expect */
    size_t n_sha256;
};

/* What `ocspload gen` does. */
struct ol_gen_opts {
    const char *issuer; /* PEM certificate of the issuing CA */
    const char *index;  /* its openssl-ca index.txt */
    const char *out;
    size_t n;
    double sha256_fraction;
    double unknown_fraction;        /* of all requests */
    double unknown_issuer_fraction; /* of the unknown ones: known serial, bogus issuer */
    double revoked_fraction;        /* of the known ones; < 0: as in index.txt */
    uint64_t seed;
};

/* Writes a request set. 0, or -1 with the reason in err. */
int ol_gen(const struct ol_gen_opts *o, char *err, size_t errlen);

/* Loads a set file. 0, or -1 with the reason in err. */
int ol_reqset_load(struct ol_reqset *s, const char *path, char *err, size_t errlen);

/* A set of one request with no OCSP payload (for --no-ocsp-check runs). */
int ol_reqset_fixed(struct ol_reqset *s, char *err, size_t errlen);

/*
 * Builds the HTTP bytes of every distinct request: POST path with the DER as
 * body, and GET path/<encoded DER> (just GET path for a fixed request), with
 * Host: host and the extra header lines ("Name: value"). 0, or -1.
 */
int ol_reqset_build_http(struct ol_reqset *s, const char *host, const char *path,
                         const char *const *extra, size_t n_extra, char *err, size_t errlen);

void ol_reqset_free(struct ol_reqset *s);

const char *ol_expect_str(enum ol_expect e);

#endif
