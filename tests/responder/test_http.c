/*
 * test_http — the request-head parser and the RFC 5019 path decoder on
 * complete, truncated, pipelined and hostile input. The truncation tests feed
 * every prefix of valid heads, which is how a backend sees bytes arrive.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http.h"

static int parse(const char *s, struct http_req *req)
{
    return http_req_parse((const uint8_t *)s, strlen(s), req);
}

static bool str_is(const char *p, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(p, want, n) == 0;
}

Test(http, get_complete)
{
    const char *s = "GET /healthz HTTP/1.1\r\nHost: ocsp.example\r\nUser-Agent: t\r\n\r\n";
    struct http_req r;
    cr_assert_eq(parse(s, &r), (int)strlen(s));
    cr_assert_eq(r.method, HTTP_GET);
    cr_assert(str_is(r.method_str, r.method_len, "GET"));
    cr_assert(str_is(r.path, r.path_len, "/healthz"));
    cr_assert_eq(r.minor, 1);
    cr_assert_eq(r.n_headers, 2);
    cr_assert(!r.has_content_length);
    cr_assert(r.keep_alive);
    /* zero-copy: the path points into the input */
    cr_assert_eq(r.path, s + 4);
}

Test(http, post_complete)
{
    const char *s = "POST /ocsp HTTP/1.1\r\nHost: a\r\nContent-Type: application/ocsp-request\r\n"
                    "Content-Length: 83\r\n\r\nBODY";
    struct http_req r;
    int n = parse(s, &r);
    cr_assert_eq(n, (int)(strlen(s) - 4), "head only: got %d", n);
    cr_assert_eq(r.method, HTTP_POST);
    cr_assert(r.has_content_length);
    cr_assert_eq(r.content_length, 83);
    cr_assert(str_is(r.content_type, r.content_type_len, "application/ocsp-request"));
}

Test(http, head_and_other_methods)
{
    struct http_req r;
    cr_assert_gt(parse("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    cr_assert_eq(r.method, HTTP_HEAD);
    cr_assert_gt(parse("DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    cr_assert_eq(r.method, HTTP_OTHER);
    cr_assert(str_is(r.method_str, r.method_len, "DELETE"));
    cr_assert_gt(parse("get / HTTP/1.1\r\nHost: h\r\n\r\n", &r),
                 0); /* methods are case-sensitive */
    cr_assert_eq(r.method, HTTP_OTHER);
    cr_assert_gt(parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    cr_assert(str_is(r.path, r.path_len, "*"));
}

static void every_prefix_needs_more(const char *s)
{
    size_t len = strlen(s);
    struct http_req r;
    for (size_t i = 0; i < len; i++) {
        int n = http_req_parse((const uint8_t *)s, i, &r);
        cr_assert_eq(n, -2, "prefix %zu of %zu of \"%s\" gave %d", i, len, s, n);
    }
    cr_assert_eq(http_req_parse((const uint8_t *)s, len, &r), (int)len);
}

Test(http, every_truncation_needs_more)
{
    every_prefix_needs_more("GET /MFYwVKADAgEAME0wSzBJMAkGBSsOAwIaBQAEFA%3D%3D HTTP/1.1\r\n"
                            "Host: ocsp.example.com\r\nConnection: keep-alive\r\n\r\n");
    every_prefix_needs_more(
        "POST / HTTP/1.0\r\nContent-Length: 120\r\n"
        "Content-Type: application/ocsp-request\r\nExpect: 100-continue\r\n\r\n");
    every_prefix_needs_more("GET / HTTP/1.1\nHost: x\n\n");
    every_prefix_needs_more(
        "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Tab:\tv \t\r\n\r\n");
    every_prefix_needs_more("GET http://ocsp.example.com/abc HTTP/1.1\r\nHost: h\r\n\r\n");
}

Test(http, malformed_request_lines)
{
    static const char *const bad[] = {
        "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", /* two spaces */
        " GET / HTTP/1.1\r\nHost: h\r\n\r\n", /* leading space */
        "GET / HTTP/1.1 \r\n\r\n",            /* trailing space */
        "GET / http/1.1\r\n\r\n",             /* protocol name is case-sensitive */
        "GET / HTTP/1.x\r\n\r\n",
        "GET / HTTP/11\r\n\r\n",
        "GET /\r\n\r\n",             /* HTTP/0.9 */
        "GET / HTTP/1.1\rX\r\n\r\n", /* bare CR */
        "GET / HTTP/1.1\r\r\n\r\n",
        "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",         /* not a token */
        "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n",     /* control char in target */
        "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n",    /* DEL */
        "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", /* non-ASCII target */
        "GET x HTTP/1.1\r\nHost: h\r\n\r\n",         /* not origin-form */
        "GET *x HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET hxx HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
        " / HTTP/1.1\r\nHost: h\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct http_req r;
        cr_assert_eq(parse(bad[i], &r), -1, "accepted bad request line %zu", i);
        cr_assert_eq(r.err_status, 400, "line %zu: status %d", i, r.err_status);
    }
    /* NUL in the request line: strlen() would stop at it, so give the length. */
    static const char nul[] = "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n";
    struct http_req r;
    cr_assert_eq(http_req_parse((const uint8_t *)nul, sizeof(nul) - 1, &r), -1);
    static const char nul2[] = "G\0T / HTTP/1.1\r\nHost: h\r\n\r\n";
    cr_assert_eq(http_req_parse((const uint8_t *)nul2, sizeof(nul2) - 1, &r), -1);
}

Test(http, unsupported_version_is_505)
{
    struct http_req r;
    cr_assert_eq(parse("GET / HTTP/2.0\r\n\r\n", &r), -1);
    cr_assert_eq(r.err_status, 505);
    cr_assert_eq(parse("GET / HTTP/1.2\r\n\r\n", &r), -1);
    cr_assert_eq(r.err_status, 505);
    cr_assert_gt(parse("GET / HTTP/1.0\r\n\r\n", &r), 0);
    cr_assert_eq(r.minor, 0);
}

Test(http, malformed_headers)
{
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\nHost x\r\n\r\n",                /* no colon (space is not a tchar) */
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",              /* space before colon */
        "GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n",        /* empty name */
        "GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n c\r\n\r\n", /* obs-fold */
        "GET / HTTP/1.1\r\nHost: h\r\nA: b\rc\r\n\r\n",    /* bare CR in value */
        "GET / HTTP/1.1\r\nHost: h\r\nA: b\x01\r\n\r\n",   /* control in value */
        "GET / HTTP/1.1\r\nHost: h\r\nA: b\x7f\r\n\r\n",   /* DEL in value */
        "GET / HTTP/1.1\r\nHost: h\r\nA(b: c\r\n\r\n",     /* bad name char */
        "GET / HTTP/1.1\r\nHost: x\r\n\r\r\n",             /* bad end of head */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct http_req r;
        cr_assert_eq(parse(bad[i], &r), -1, "accepted bad header %zu", i);
    }
    static const char nul[] = "GET / HTTP/1.1\r\nHost: h\r\nA: b\0c\r\n\r\n";
    struct http_req r;
    cr_assert_eq(http_req_parse((const uint8_t *)nul, sizeof(nul) - 1, &r), -1);
    /* obs-text (bytes >= 0x80) is allowed in values */
    cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n", &r), 0);
}

Test(http, header_count_limit)
{
    char buf[HTTP_HEAD_MAX];
    struct http_req r;
    size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 1; i < HTTP_HEADERS_MAX; i++) /* Host is the first */
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
    snprintf(buf + n, sizeof(buf) - n, "\r\n");
    cr_assert_eq(parse(buf, &r), (int)(n + 2));
    cr_assert_eq(r.n_headers, HTTP_HEADERS_MAX);
    snprintf(buf + n, sizeof(buf) - n, "X-last: v\r\n\r\n");
    cr_assert_eq(parse(buf, &r), -1);
    cr_assert_eq(r.err_status, 431);
}

/* A head of exactly `total` bytes: one padding header sized to fit. */
static size_t make_head(char *buf, size_t total)
{
    const char *pre = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
    size_t pl = strlen(pre);
    memcpy(buf, pre, pl);
    size_t pad = total - pl - 4;
    memset(buf + pl, 'a', pad);
    memcpy(buf + pl + pad, "\r\n\r\n", 4);
    return total;
}

Test(http, head_size_limit)
{
    static char buf[HTTP_HEAD_MAX * 2];
    struct http_req r;
    size_t n = make_head(buf, HTTP_HEAD_MAX);
    cr_assert_eq(http_req_parse((const uint8_t *)buf, n, &r), HTTP_HEAD_MAX);
    /* followed by more bytes (pipelining): still fine */
    cr_assert_eq(http_req_parse((const uint8_t *)buf, sizeof(buf), &r), HTTP_HEAD_MAX);
    n = make_head(buf, HTTP_HEAD_MAX + 1);
    cr_assert_eq(http_req_parse((const uint8_t *)buf, n, &r), -1);
    cr_assert_eq(r.err_status, 431);
    /* one byte short of the limit and no end yet: wait */
    cr_assert_eq(http_req_parse((const uint8_t *)buf, HTTP_HEAD_MAX - 1, &r), -2);
    /* at the limit without an end: refuse rather than wait forever */
    cr_assert_eq(http_req_parse((const uint8_t *)buf, HTTP_HEAD_MAX, &r), -1);
}

Test(http, path_limit)
{
    static char buf[HTTP_PATH_MAX + 64];
    struct http_req r;
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'A', HTTP_PATH_MAX - 1);
    strcpy(buf + 4 + HTTP_PATH_MAX, " HTTP/1.1\r\nHost: h\r\n\r\n");
    cr_assert_gt(parse(buf, &r), 0);
    cr_assert_eq(r.path_len, HTTP_PATH_MAX);
    memset(buf + 5, 'A', HTTP_PATH_MAX);
    strcpy(buf + 5 + HTTP_PATH_MAX, " HTTP/1.1\r\nHost: h\r\n\r\n");
    cr_assert_eq(parse(buf, &r), -1);
    cr_assert_eq(r.err_status, 414);
}

Test(http, content_length_rules)
{
    struct http_req r;
    /* two lengths, even equal ones, are refused (as nginx does): issue 13 */
    cr_assert_eq(
        parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", &r),
        -1);
    cr_assert_eq(r.err_status, 400);
    cr_assert_gt(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", &r), 0);
    cr_assert_eq(r.content_length, 5);
    cr_assert_eq(
        parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", &r),
        -1);
    cr_assert_gt(
        parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n", &r), 0);
    cr_assert_eq(r.content_length, UINT64_MAX);
    cr_assert_gt(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0007 \r\n\r\n", &r), 0);
    cr_assert_eq(r.content_length, 7);
    static const char *const bad[] = {"18446744073709551616",
                                      "99999999999999999999999",
                                      "",
                                      "+5",
                                      "-1",
                                      "0x10",
                                      "5 5",
                                      "5, 5",
                                      "5a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char buf[256];
        snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %s\r\n\r\n",
                 bad[i]);
        cr_assert_eq(parse(buf, &r), -1, "accepted Content-Length \"%s\"", bad[i]);
    }
}

Test(http, pipelined)
{
    const char *a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *b = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
    const char *c = "GET /c HTTP/1.1\r\nHost: h\r\n\r\n";
    char buf[512];
    snprintf(buf, sizeof(buf), "%s%sXYZ%s", a, b, c);
    struct http_req r;
    const uint8_t *p = (const uint8_t *)buf;
    size_t len = strlen(buf);
    int n = http_req_parse(p, len, &r);
    cr_assert_eq(n, (int)strlen(a));
    cr_assert(str_is(r.path, r.path_len, "/a"));
    p += n, len -= (size_t)n;
    n = http_req_parse(p, len, &r);
    cr_assert_eq(n, (int)strlen(b));
    cr_assert(str_is(r.path, r.path_len, "/b"));
    cr_assert_eq(r.content_length, 3);
    p += (size_t)n + 3, len -= (size_t)n + 3;
    n = http_req_parse(p, len, &r);
    cr_assert_eq(n, (int)strlen(c));
    cr_assert(str_is(r.path, r.path_len, "/c"));
    cr_assert_eq(len, strlen(c));
}

Test(http, lf_only_and_leading_empty_lines)
{
    struct http_req r;
    const char *s = "GET /x HTTP/1.1\nHost: y\nContent-Length: 2\n\n";
    cr_assert_eq(parse(s, &r), (int)strlen(s));
    cr_assert_eq(r.content_length, 2);
    s = "\r\n\nGET /x HTTP/1.1\r\nHost: y\n\r\n";
    cr_assert_eq(parse(s, &r), (int)strlen(s));
    cr_assert(str_is(r.path, r.path_len, "/x"));
}

Test(http, connection_semantics)
{
    struct http_req r;
    parse("GET / HTTP/1.0\r\n\r\n", &r);
    cr_assert(!r.keep_alive);
    parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r);
    cr_assert(r.keep_alive);
    parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &r);
    cr_assert(!r.keep_alive);
    cr_assert(r.conn_close);
    parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n", &r);
    cr_assert(!r.keep_alive);
    parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive,closed\r\n\r\n", &r);
    cr_assert(r.keep_alive); /* "closed" is not "close" */
}

Test(http, te_and_expect)
{
    struct http_req r;
    cr_assert_gt(parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &r), 0);
    cr_assert(r.has_transfer_encoding);
    cr_assert_gt(
        parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nExpect: 100-Continue\r\n\r\n",
              &r),
        0);
    cr_assert(r.expect_continue);
    cr_assert(!r.expect_other);
    cr_assert_gt(parse("POST / HTTP/1.1\r\nHost: h\r\nExpect: the-unexpected\r\n\r\n", &r), 0);
    cr_assert(r.expect_other);
    cr_assert(!r.expect_continue);
}

Test(http, absolute_form)
{
    struct http_req r;
    cr_assert_gt(parse("GET http://ocsp.example.com/MEow HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    cr_assert(str_is(r.path, r.path_len, "/MEow"));
    cr_assert_gt(parse("GET HTTPS://ocsp.example.com:8080 HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    cr_assert(str_is(r.path, r.path_len, "/"));
}

/* ---- RFC 5019 path decoding ---- */

static ssize_t dec(const char *s, uint8_t *out, size_t cap)
{
    return http_b64_path_decode(s, strlen(s), out, cap);
}

static size_t b64enc(const uint8_t *in, size_t n, char *out, bool pad)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        size_t k = n - i >= 3 ? 4 : n - i + 1;
        for (size_t j = 0; j < 4; j++) {
            if (j < k)
                out[o++] = a[(v >> (18 - 6 * j)) & 63];
            else if (pad)
                out[o++] = '=';
        }
    }
    out[o] = '\0';
    return o;
}

Test(b64, known_vector)
{
    uint8_t out[16];
    static const uint8_t want[] = {0x30, 0x03, 0x0a, 0x01, 0x06};
    cr_assert_eq(dec("MAMKAQY=", out, sizeof(out)), 5);
    cr_assert_arr_eq(out, want, 5);
    cr_assert_eq(dec("MAMKAQY", out, sizeof(out)), 5); /* padding optional */
    cr_assert_eq(dec("MAMKAQY%3D", out, sizeof(out)), 5);
    cr_assert_eq(dec("MAMKAQY%3d", out, sizeof(out)), 5);
    cr_assert_arr_eq(out, want, 5);
    cr_assert_eq(dec("", out, sizeof(out)), 0);
}

Test(b64, roundtrip_all_lengths)
{
    uint8_t in[64], out[64];
    char enc[128];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 37 + 251); /* hits '+' and '/' */
    for (size_t n = 0; n <= sizeof(in); n++) {
        for (int pad = 0; pad < 2; pad++) {
            size_t el = b64enc(in, n, enc, pad);
            cr_assert_eq(http_b64_path_decode(enc, el, out, sizeof(out)), (ssize_t)n,
                         "len %zu pad %d: %s", n, pad, enc);
            cr_assert_arr_eq(out, in, n);
        }
    }
}

Test(b64, slash_plus_raw_and_escaped)
{
    uint8_t out[8];
    /* "+/+/" is 0xfb 0xff 0xbf; '+' is not a space here */
    static const uint8_t want[] = {0xfb, 0xff, 0xbf};
    cr_assert_eq(dec("+/+/", out, sizeof(out)), 3);
    cr_assert_arr_eq(out, want, 3);
    cr_assert_eq(dec("%2B%2F%2b%2f", out, sizeof(out)), 3);
    cr_assert_arr_eq(out, want, 3);
    cr_assert_eq(dec("+%2F+/", out, sizeof(out)), 3); /* mixed raw and escaped */
    cr_assert_arr_eq(out, want, 3);
}

Test(b64, rejects)
{
    uint8_t out[64];
    static const char *const bad[] = {
        "AB-_",            /* URL-safe alphabet is not RFC 5019 */
        "AB C",            /* space */
        "AB%20C",          /* escaped space */
        "AB%2",            /* short escape */
        "AB%",             /* escape at end */
        "AB%zz",           /* not hex */
        "AB%00CD",         /* NUL */
        "A",               /* one symbol cannot carry a byte */
        "AAAAA",    "AB=", /* padding must complete the group */
        "AB===",    "ABC==",    "A===",
        "====",     "AB======", /* a multiple of 4, but too much padding */
        "ABC=====", "AB=C",     /* data after padding */
        "AB==CD==", "AAAA=",    "AB\nCD",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(dec(bad[i], out, sizeof(out)), -1, "accepted \"%s\"", bad[i]);
}

Test(b64, output_cap)
{
    uint8_t out[8];
    cr_assert_eq(dec("AAECAwQF", out, 6), 6);
    cr_assert_eq(dec("AAECAwQF", out, 5), -1);
    cr_assert_eq(dec("AAECAwQ", out, 5), 5);
    cr_assert_eq(dec("AAECAwQ", out, 4), -1);
    cr_assert_eq(dec("AAECAw", out, 4), 4);
    cr_assert_eq(dec("AAECAw", out, 3), -1);
    cr_assert_eq(dec("AA", out, 0), -1);
    cr_assert_eq(dec("", out, 0), 0);
}

/* RFC 9112 3.2: Host is required in HTTP/1.1 and may appear only once (issue 13). */
Test(http, host_rules)
{
    struct http_req r;
    cr_assert_eq(parse("GET / HTTP/1.1\r\n\r\n", &r), -1);
    cr_assert_eq(r.err_status, 400);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", &r), -1);
    cr_assert_eq(r.err_status, 400);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nhost: a\r\nX: y\r\nHOST: b\r\n\r\n", &r), -1);
    cr_assert_eq(parse("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", &r), -1);
    /* 1.0 may omit it; an empty value is a valid (empty) authority */
    cr_assert_gt(parse("GET / HTTP/1.0\r\n\r\n", &r), 0);
    cr_assert_gt(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n", &r), 0);
    cr_assert_eq(r.n_host, 1);
    /* an incomplete head still asks for more: the check runs once it ends */
    cr_assert_eq(parse("GET / HTTP/1.1\r\nX: y\r\n", &r), -2);
}

/* RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored. */
Test(http, expect_continue_only_in_1_1)
{
    struct http_req r;
    cr_assert_gt(parse("POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", &r),
                 0);
    cr_assert(!r.expect_continue);
    cr_assert(!r.expect_other);
    cr_assert_gt(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                       "Expect: 100-continue\r\n\r\n",
                       &r),
                 0);
    cr_assert(r.expect_continue);
}

/* A long method or a flood of empty lines is garbage (400), not a long URI (414). */
Test(http, long_method_and_blank_lines_are_400)
{
    static char buf[HTTP_HEAD_MAX + 64];
    struct http_req r;
    memset(buf, 'A', HTTP_METHOD_MAX);
    strcpy(buf + HTTP_METHOD_MAX, " / HTTP/1.1\r\nHost: h\r\n\r\n");
    cr_assert_gt(parse(buf, &r), 0); /* the longest accepted */
    cr_assert_eq(r.method, HTTP_OTHER);
    memset(buf, 'A', HTTP_METHOD_MAX + 1);
    strcpy(buf + HTTP_METHOD_MAX + 1, " / HTTP/1.1\r\nHost: h\r\n\r\n");
    cr_assert_eq(parse(buf, &r), -1);
    cr_assert_eq(r.err_status, 400);
    /* a method running to the head limit: 400 at once, never 414 */
    memset(buf, 'A', HTTP_HEAD_MAX + 10);
    buf[HTTP_HEAD_MAX + 10] = '\0';
    cr_assert_eq(parse(buf, &r), -1);
    cr_assert_eq(r.err_status, 400);
    cr_assert_eq(http_req_parse((const uint8_t *)buf, HTTP_METHOD_MAX, &r), -2);

    /* empty lines: up to HTTP_LEADING_EOL_MAX skipped, more refused */
    size_t n = 0;
    for (int i = 0; i < HTTP_LEADING_EOL_MAX; i++)
        n += (size_t)sprintf(buf + n, "\r\n");
    strcpy(buf + n, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    cr_assert_eq(parse(buf, &r), (int)strlen(buf));
    memmove(buf + 1, buf, strlen(buf) + 1);
    buf[0] = '\n';
    cr_assert_eq(parse(buf, &r), -1);
    cr_assert_eq(r.err_status, 400);
    for (n = 0; n < HTTP_HEAD_MAX + 10; n += 2)
        memcpy(buf + n, "\r\n", 2);
    buf[n] = '\0';
    cr_assert_eq(parse(buf, &r), -1);
    cr_assert_eq(r.err_status, 400);
    /* still 431 for fields that overrun, 414 for a target that does */
    n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nX: ");
    memset(buf + n, 'v', HTTP_HEAD_MAX);
    buf[n + HTTP_HEAD_MAX] = '\0';
    cr_assert_eq(parse(buf, &r), -1);
    cr_assert_eq(r.err_status, 431);
}

/* --- issue 7 item 4: conditional-request fields, dates, entity tags, media types --- */

Test(http, conditional_fields_kept)
{
    const char *raw =
        "GET /x HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"a\", \"b\"\r\n"
        "if-none-match: W/\"c\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        "\r\n";
    struct http_req req;
    cr_assert_eq(http_req_parse((const uint8_t *)raw, strlen(raw), &req), (int)strlen(raw));
    cr_assert_eq(req.n_if_none_match, 2);
    cr_assert_eq(req.if_none_match_len[0], 8);
    cr_assert(memcmp(req.if_none_match[0], "\"a\", \"b\"", 8) == 0);
    cr_assert(memcmp(req.if_none_match[1], "W/\"c\"", 5) == 0);
    cr_assert_eq(req.n_if_modified_since, 1);
    cr_assert_eq(req.if_modified_since_len, 29);
    const char *none = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
    cr_assert_gt(http_req_parse((const uint8_t *)none, strlen(none), &req), 0);
    cr_assert_eq(req.n_if_none_match, 0);
    cr_assert_null(req.if_modified_since);
    /* more lines than kept: counted, only the first HTTP_INM_MAX kept */
    char big[1024];
    size_t o = (size_t)sprintf(big, "GET /x HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < HTTP_INM_MAX + 2; i++)
        o += (size_t)sprintf(big + o, "If-None-Match: \"%d\"\r\n", i);
    o += (size_t)sprintf(big + o, "\r\n");
    cr_assert_eq(http_req_parse((const uint8_t *)big, o, &req), (int)o);
    cr_assert_eq(req.n_if_none_match, HTTP_INM_MAX + 2);
}

static int64_t date_of(const char *s)
{
    int64_t t = -12345;
    int rc = http_date_parse(s, strlen(s), &t);
    return rc == 0 ? t : -1;
}

Test(http, http_dates)
{
    /* RFC 9110 5.6.7's example in its three forms */
    cr_assert_eq(date_of("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    cr_assert_eq(date_of("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    cr_assert_eq(date_of("Sun Nov  6 08:49:37 1994"), 784111777);
    cr_assert_eq(date_of("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    cr_assert_eq(date_of("Tue, 29 Feb 2000 00:00:00 GMT"), 951782400);
    cr_assert_eq(date_of("Fri, 31 Dec 9999 23:59:59 GMT"), 253402300799);
    cr_assert_eq(date_of("Monday, 01-Jan-01 00:00:00 GMT"), 978307200); /* 2001 */
    cr_assert_eq(date_of("Sun Nov 16 08:49:37 1994"), 784111777 + 10 * 86400);
    static const char *const bad[] = {
        "",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 GMT ",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 19a4 08:49:37 GMT",
        "Sun,06 Nov 1994 08:49:37 GMT ",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sundae, 06-Nov-94 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov  6 08:49:37 94",
        "1994-11-06T08:49:37Z",
        "784111777",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(date_of(bad[i]), -1, "accepted \"%s\"", bad[i]);
}

static bool inm(const char *v, const char *tag)
{
    return http_etag_list_match(v, strlen(v), tag, strlen(tag));
}

Test(http, etag_lists)
{
    cr_assert(inm("\"abc\"", "abc"));
    cr_assert(inm("W/\"abc\"", "abc"));
    cr_assert(inm("  \"x\" , \"abc\"  ", "abc"));
    cr_assert(inm("\"x\",W/\"abc\"", "abc"));
    cr_assert(inm(",,\"abc\",", "abc"));
    cr_assert(inm("*", "abc"));
    cr_assert(inm(" * ", "abc"));
    cr_assert(!inm("\"ABC\"", "abc"), "octet for octet");
    cr_assert(!inm("\"abcd\"", "abc"));
    cr_assert(!inm("\"ab\"", "abc"));
    cr_assert(!inm("abc", "abc"), "unquoted");
    cr_assert(!inm("\"abc", "abc"), "unterminated");
    cr_assert(!inm("w/\"abc\"", "abc"), "W/ is case-sensitive");
    cr_assert(!inm("\"x\"y, \"abc\"", "abc"), "malformed member stops the list");
    cr_assert(!inm("*, \"abc\"", "abc"));
    cr_assert(!inm("", "abc"));
    cr_assert(!inm("\"a\"bc\"", "abc"));
}

Test(http, media_types)
{
    static const char t[] = "application/ocsp-request";
    cr_assert(http_media_type_is("application/ocsp-request", 24, t));
    cr_assert(http_media_type_is("APPLICATION/OCSP-REQUEST", 24, t));
    cr_assert(http_media_type_is(" application/ocsp-request ;q=1", 30, t));
    cr_assert(http_media_type_is("application/ocsp-request;charset=x", 34, t));
    cr_assert(!http_media_type_is("application/ocsp-requests", 25, t));
    cr_assert(!http_media_type_is("application/ocsp", 16, t));
    cr_assert(!http_media_type_is("", 0, t));
    cr_assert(!http_media_type_is("application/ ocsp-request", 25, t));
    cr_assert(!http_media_type_is("text/plain", 10, t));
}
