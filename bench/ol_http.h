/*
 * ol_http — the HTTP/1.x response-head parser of ocspload, with no I/O and no
 * allocation. The load loop keeps bytes in a fixed per-connection buffer; it
 * asks ol_http_head_end() where the head ends (resuming the scan where the last
 * call stopped, so a head that arrives in pieces is not rescanned), then
 * ol_http_parse_head() for the few fields a load generator needs: status,
 * version, Content-Length, whether the server will close, and whether the body
 * is declared as an OCSP response. Every access is bounds-checked against the
 * given length; anything outside the subset (chunked bodies, a missing or
 * non-numeric Content-Length on a status that has a body, bare LF line ends) is
 * reported as malformed rather than guessed at.
 */
#ifndef OL_HTTP_H
#define OL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest Content-Length accepted (a sanity bound, not a buffer size). */
#define OL_HTTP_MAX_BODY ((uint64_t)1 << 40)

struct ol_http_resp {
    int status;              /* 100..999 */
    int minor;               /* HTTP/1.<minor> */
    bool has_length;         /* Content-Length present */
    uint64_t content_length; /* body bytes to read (0 for 1xx, 204, 304) */
    bool close;              /* the server closes the connection after this response */
    bool ctype_ocsp;         /* Content-Type is application/ocsp-response */
};

/*
 * Looks for the CRLF CRLF that ends a head in buf[0..len). *scan is where to
 * resume (0 for a new head; updated on return). Returns the head's length
 * including the empty line, or 0 if it is not complete yet.
 */
size_t ol_http_head_end(const uint8_t *buf, size_t len, size_t *scan);

/* Parses a complete head of head_len bytes. Returns 0, or -1 if malformed. */
int ol_http_parse_head(const uint8_t *buf, size_t head_len, struct ol_http_resp *r);

#endif
