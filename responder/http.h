/*
 * http — the responder's HTTP/1.1 wire format, with no I/O: an incremental,
 * zero-copy request-head parser (picohttpparser style: call it again on the
 * whole buffer when more bytes arrive), the RFC 5019 GET path decoder, and the
 * struct a handler fills with a response for a backend to send. Every byte comes
 * from an untrusted peer, so both parsers walk their input with bounds-checked
 * cursors and reject what they do not understand rather than guess.
 */
#ifndef REVOKD_HTTP_H
#define REVOKD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest request head (request line + headers + empty line) accepted. */
#define HTTP_HEAD_MAX 8192
/* Most header fields in one request. */
#define HTTP_HEADERS_MAX 64
/* Longest request-target: a GET of the largest OCSP request, base64 then
 * fully percent-encoded, would not fit anyway; 4 KiB covers any real client. */
#define HTTP_PATH_MAX 4096
/* Longest method token accepted: longer than any method there is, so a longer
 * one is garbage and refused (400) at once rather than read up to the head limit. */
#define HTTP_METHOD_MAX 32
/* Empty lines skipped before the request line (RFC 9112 2.2 asks for at least one). */
#define HTTP_LEADING_EOL_MAX 8

/* If-None-Match field lines kept per request; a request with more is answered in
 * full (never 304), which is always correct. */
#define HTTP_INM_MAX 4

/* Interim response for "Expect: 100-continue"; a backend writes it verbatim. */
#define HTTP_100_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

enum http_method { HTTP_OTHER = 0, HTTP_GET, HTTP_POST, HTTP_HEAD };

/*
 * A parsed request head. Every pointer points into the buffer given to
 * http_req_parse() and is valid as long as those bytes are. Strings are not
 * NUL-terminated.
 */
struct http_req {
    enum http_method method;
    const char *method_str; /* the method token as sent */
    size_t method_len;
    const char *path; /* origin-form target "/..." (absolute-form is reduced to it;
                       * "http://host" alone gives a static "/"), or "*" */
    size_t path_len;
    int minor;          /* HTTP/1.<minor>: 0 or 1 */
    unsigned n_headers; /* header fields seen (bounded by HTTP_HEADERS_MAX) */
    bool has_content_length;
    uint64_t content_length;  /* 0 when absent */
    const char *content_type; /* first Content-Type value, or NULL */
    size_t content_type_len;
    bool conn_close;            /* "close" token in Connection */
    bool conn_keep_alive;       /* "keep-alive" token in Connection */
    bool keep_alive;            /* the connection may carry another request after this one */
    bool has_transfer_encoding; /* any Transfer-Encoding: we do not do chunked */
    bool expect_continue;       /* "Expect: 100-continue" (HTTP/1.1 only; ignored in 1.0) */
    bool expect_other;          /* an Expect we cannot meet (answer 417) */
    unsigned n_host;            /* Host field lines seen */
    /* Conditional GET (RFC 9110 13.1.2, 13.1.3): the raw field values, evaluated by
     * the handler against the representation it is about to send. */
    const char *if_none_match[HTTP_INM_MAX]; /* each line's value (a list, or "*") */
    size_t if_none_match_len[HTTP_INM_MAX];
    unsigned n_if_none_match;      /* lines seen; > HTTP_INM_MAX: not all kept */
    const char *if_modified_since; /* first line's value, or NULL */
    size_t if_modified_since_len;
    unsigned n_if_modified_since; /* lines seen: more than one makes it invalid */
    int err_status;               /* on -1: the HTTP status to answer (400, 414, 431, 505) */
};

/*
 * Parses the request head at the start of buf[0..len). Returns the number of
 * bytes the head takes (through the empty line that ends it; the body, if any,
 * follows), -2 if buf holds a valid prefix of a head and more bytes are needed,
 * or -1 if it is malformed or over the limits (req->err_status says how to
 * answer). Empty lines before the request line are skipped (RFC 9112 2.2) and
 * counted in the return value, up to HTTP_LEADING_EOL_MAX of them. Lines may
 * end in CRLF or a bare LF; a bare CR, NUL or any other control byte in the
 * request line or a header is malformed, as are obsolete line folding,
 * whitespace before a header's colon, a Content-Length that is not plain digits
 * or does not fit 64 bits, two Content-Length fields (even equal ones, as nginx
 * refuses them: a peer that sends two is confused or smuggling), a method over
 * HTTP_METHOD_MAX, an HTTP/1.1 request without Host, and any request with more
 * than one Host (RFC 9112 3.2). All of those answer 400; a head that does not
 * end within HTTP_HEAD_MAX answers 414 if the request-target is what overran,
 * 431 if the header fields did, 400 if the method or the leading empty lines did.
 */
int http_req_parse(const uint8_t *buf, size_t len, struct http_req *req);

/*
 * RFC 5019 GET: decodes the request-target segment that carries an OCSP request
 * (the path without its leading '/'): percent-decoding first (%2F, %2B, %3D, any
 * hex case), then standard base64 ('+' stays '+', never a space; padding
 * optional but correct when present). Writes at most cap bytes to out. Returns
 * the decoded length, or -1 on a character outside the alphabet, a bad escape,
 * a length that cannot be base64, or output over cap.
 */
ssize_t http_b64_path_decode(const char *path, size_t len, uint8_t *out, size_t cap);

/*
 * Parses an HTTP-date (RFC 9110 5.6.7): IMF-fixdate, and the obsolete RFC 850
 * and asctime forms recipients must still accept (a two-digit RFC 850 year is
 * read as 1970-2069). Returns 0 and Unix seconds in *out, or -1 if s is not one
 * of those forms or names no real date.
 */
int http_date_parse(const char *s, size_t n, int64_t *out);

/*
 * Evaluates one If-None-Match field value against the current representation's
 * entity tag, given as its opaque-tag without quotes. Returns true if the value
 * is "*" or its comma-separated list holds a tag that matches by the weak
 * comparison RFC 9110 13.1.2 prescribes for If-None-Match ("W/" ignored on
 * either side, the quoted strings equal octet for octet). A malformed list
 * matches nothing from the first malformed member on, so it never yields a 304
 * the client did not ask for.
 */
bool http_etag_list_match(const char *v, size_t n, const char *tag, size_t tag_len);

/*
 * True if a Content-Type field value names media type `type` ("a/b"): type and
 * subtype compared case-insensitively, parameters (after ';') and surrounding
 * whitespace ignored (RFC 9110 8.3.1).
 */
bool http_media_type_is(const char *v, size_t n, const char *type);

/*
 * A response ready to send: the caller points hdr at hdr_cap bytes it owns, the
 * handler writes the status line and header fields there and sets body. Send
 * hdr[0..hdr_len), body[0..body_len), then tail[0..tail_len) (a pre-signed OCSP
 * response is stored without its signer's certificate block, which follows it).
 */
struct http_out {
    uint8_t *hdr;
    size_t hdr_cap;
    size_t hdr_len;
    const uint8_t *body; /* not owned: see the handler for how long it is valid */
    size_t body_len;     /* 0 for HEAD (Content-Length still gives the GET length) */
    const uint8_t *tail; /* the rest of the body, valid as long as body; or NULL */
    size_t tail_len;     /* 0 when none, and for HEAD */
    /* STORE_ETAG_LEN bytes naming body + tail (equal keys, equal bytes), or NULL */
    const uint8_t *body_key;
    int status;
    bool close; /* close the connection once this response is sent */
};

#endif
