/*
 * fuzz_http — libFuzzer target for the responder's untrusted-input front end:
 * http_req_parse() on the raw bytes, http_b64_path_decode() on both the raw
 * bytes and a parsed GET path, and ocsp_req_parse() on whatever decodes, which
 * is exactly the chain an RFC 5019 GET travels. Besides memory safety (ASan,
 * UBSan) it checks the parser's own contract: the consumed count stays inside
 * the input and the head limit, the zero-copy pointers point into the input,
 * re-parsing exactly the head gives the same count, a head cut short by one
 * byte asks for more instead of succeeding or failing, and an accepted head
 * obeys the Host, Expect and method-length rules. The conditional-request and
 * media-type helpers (http_date_parse, http_etag_list_match, http_media_type_is)
 * run on the parsed field values and on the raw bytes, and a store-less handler
 * serves every accepted head, which walks the routing, the 405/411/415 answers
 * and the JSON status API's path and serial parsing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"
#include "http.h"
#include "ocsp.h"

#define FUZZ_CHECK(x)                                                                              \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

static bool fuzz_inside(const void *p, size_t n, const uint8_t *data, size_t size)
{
    const uint8_t *q = p;
    return q >= data && q + n <= data + size;
}

static void fuzz_decode(const char *s, size_t n)
{
    uint8_t der[OCSP_REQ_MAX];
    ssize_t m = http_b64_path_decode(s, n, der, sizeof(der));
    FUZZ_CHECK(m >= -1 && m <= (ssize_t)sizeof(der));
    /* base64 never grows: at most 3 bytes per 4 symbols, symbols at least 1 byte each */
    FUZZ_CHECK(m <= (ssize_t)(n / 4 * 3 + 2));
    if (m > 0) {
        struct ocsp_req o;
        if (ocsp_req_parse(der, (size_t)m, &o) == 0) {
            FUZZ_CHECK(o.n_certs >= 1);
            FUZZ_CHECK(fuzz_inside(o.id.serial, o.id.serial_len, der, (size_t)m));
        }
    }
}

static void fuzz_date(const char *s, size_t n)
{
    int64_t t = -1;
    if (http_date_parse(s, n, &t) == 0)
        FUZZ_CHECK(t >= -62167219200 && t <= 253402300799); /* years 0000 to 9999 */
}

/* What the handler makes of an accepted head; h has no store, so nothing is found. */
static void fuzz_serve(const struct http_req *req, const uint8_t *body, size_t avail)
{
    static struct handler h;
    static bool init;
    static uint8_t hdr[HANDLER_HDR_MAX];
    if (!init) {
        FUZZ_CHECK(handler_init(&h, NULL, 3600) == 0);
        init = true;
    }
    if (handler_head_check(req) != 0 || req->content_length > avail)
        return;
    handler_batch_begin(&h, (int64_t)1700000000 * 1000000000);
    struct http_out out = {.hdr = hdr, .hdr_cap = sizeof(hdr)};
    FUZZ_CHECK(handler_serve(&h, req, body, (size_t)req->content_length, &out) == 0);
    FUZZ_CHECK(out.hdr_len > 12 && out.hdr_len <= sizeof(hdr));
    FUZZ_CHECK(memcmp(out.hdr, "HTTP/1.1 ", 9) == 0);
    FUZZ_CHECK(out.status >= 200 && out.status <= 599);
    FUZZ_CHECK(memcmp(out.hdr + out.hdr_len - 4, "\r\n\r\n", 4) == 0);
    if (req->method == HTTP_HEAD || out.status == 304)
        FUZZ_CHECK(out.body_len == 0);
    static const char allow[] = "\r\nAllow: GET, HEAD";
    if (out.status == 405)
        FUZZ_CHECK(memmem(out.hdr, out.hdr_len, allow, sizeof(allow) - 1) != NULL);
    if (req->method == HTTP_POST && out.status == 200)
        FUZZ_CHECK(req->content_type && http_media_type_is(req->content_type, req->content_type_len,
                                                           "application/ocsp-request"));
    FUZZ_CHECK(out.body_len <= HANDLER_SCRATCH_MAX);
    handler_batch_end(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_req req;
    int n = http_req_parse(data, size, &req);
    FUZZ_CHECK(n >= -2);
    if (n == -1)
        FUZZ_CHECK(req.err_status >= 400 && req.err_status <= 505);
    if (n > 0) {
        FUZZ_CHECK((size_t)n <= size && n <= HTTP_HEAD_MAX);
        FUZZ_CHECK(fuzz_inside(req.method_str, req.method_len, data, (size_t)n));
        FUZZ_CHECK(req.path_len >= 1 && req.path_len <= HTTP_PATH_MAX);
        FUZZ_CHECK(fuzz_inside(req.path, req.path_len, data, (size_t)n) ||
                   (req.path_len == 1 && req.path[0] == '/'));
        FUZZ_CHECK(req.path[0] == '/' || req.path[0] == '*');
        if (req.content_type)
            FUZZ_CHECK(fuzz_inside(req.content_type, req.content_type_len, data, (size_t)n));
        FUZZ_CHECK(req.minor == 0 || req.minor == 1);
        FUZZ_CHECK(req.n_headers <= HTTP_HEADERS_MAX);
        /* RFC 9112 3.2: one Host, required in 1.1; RFC 9110 10.1.1: no 100-continue in 1.0 */
        FUZZ_CHECK(req.n_host <= 1 && (req.minor == 0 || req.n_host == 1));
        FUZZ_CHECK(!req.expect_continue || req.minor == 1);
        FUZZ_CHECK(req.method_len >= 1 && req.method_len <= HTTP_METHOD_MAX);

        FUZZ_CHECK(req.n_if_modified_since == 0 ||
                   fuzz_inside(req.if_modified_since, req.if_modified_since_len, data, (size_t)n));
        for (unsigned i = 0; i < req.n_if_none_match && i < HTTP_INM_MAX; i++) {
            FUZZ_CHECK(
                fuzz_inside(req.if_none_match[i], req.if_none_match_len[i], data, (size_t)n));
            bool any = http_etag_list_match(req.if_none_match[i], req.if_none_match_len[i],
                                            "0123456789abcdef0123456789abcdef", 32);
            /* "*" matches every tag; a tag matches only if it occurs in the value */
            if (any && !memmem(req.if_none_match[i], req.if_none_match_len[i], "*", 1))
                FUZZ_CHECK(memmem(req.if_none_match[i], req.if_none_match_len[i],
                                  "\"0123456789abcdef0123456789abcdef\"", 34) != NULL);
        }
        if (req.if_modified_since)
            fuzz_date(req.if_modified_since, req.if_modified_since_len);
        if (req.content_type)
            (void)http_media_type_is(req.content_type, req.content_type_len,
                                     "application/ocsp-request");
        fuzz_serve(&req, data + n, size - (size_t)n);

        struct http_req again;
        FUZZ_CHECK(http_req_parse(data, (size_t)n, &again) == n);
        FUZZ_CHECK(http_req_parse(data, (size_t)n - 1, &again) == -2);

        if (req.path[0] == '/' && req.path_len > 1)
            fuzz_decode(req.path + 1, req.path_len - 1);
    }
    fuzz_decode((const char *)data, size);
    fuzz_date((const char *)data, size);
    (void)http_etag_list_match((const char *)data, size, "abc", 3);
    return 0;
}
