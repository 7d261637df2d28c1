/*
 * fuzz_http — libFuzzer target for the responder's untrusted-input front end:
 * http_req_parse() on the raw bytes, http_b64_path_decode() on both the raw
 * bytes and a parsed GET path, and ocsp_req_parse() on whatever decodes, which
 * is exactly the chain an RFC 5019 GET travels. Besides memory safety (ASan,
 * UBSan) it checks the parser's own contract: the consumed count stays inside
 * the input and the head limit, the zero-copy pointers point into the input,
 * re-parsing exactly the head gives the same count, a head cut short by one
 * byte asks for more instead of succeeding or failing, and an accepted head
 * obeys the Host, Expect and method-length rules.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

        struct http_req again;
        FUZZ_CHECK(http_req_parse(data, (size_t)n, &again) == n);
        FUZZ_CHECK(http_req_parse(data, (size_t)n - 1, &again) == -2);

        if (req.path[0] == '/' && req.path_len > 1)
            fuzz_decode(req.path + 1, req.path_len - 1);
    }
    fuzz_decode((const char *)data, size);
    return 0;
}
