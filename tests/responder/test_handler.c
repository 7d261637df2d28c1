/*
 * test_handler — the request-to-response path against a real store. Each test
 * builds a temporary LMDB store (an issuer, pre-signed response bytes for a few
 * CertIDs, a CRL), reopens it read-only as the responder does, and drives
 * handler_serve() with requests whose OCSP DER comes from OpenSSL's own OCSP
 * encoder, so the parser and the store key are checked against an independent
 * implementation.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "handler.h"
#include "ocsp.h"
#include "store.h"

#define T0    ((int64_t)1700000000)     /* the handler's "now" in these tests */
#define NS(t) ((int64_t)(t)*1000000000) /* Unix seconds to handler_batch_begin's ns */

static char dir[64];
static struct store *st;
static struct handler h;

/* The CA: a subject name and public key bits (any bytes: only their hashes matter). */
static X509_NAME *ca_name;
static ASN1_BIT_STRING *ca_key;
static const uint8_t key_bits[] = {0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};

static const uint8_t serial_fresh[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09};
static const uint8_t serial_stale[] = {0x4e, 0x11};
static const uint8_t serial_soon[] = {0x77};
static const uint8_t serial_missing[] = {0x12, 0x34};

/* "Pre-signed" bodies: any bytes; the handler must serve them verbatim. */
static const uint8_t resp_fresh[] = {0x30, 0x82, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef};
static const uint8_t resp_fresh_block[] = {0xad, 0xbe, 0xef}; /* its "signer block" */
static const uint8_t resp_fresh256[] = {0x30, 0x02, 0x25, 0x6a};
static const uint8_t resp_stale[] = {0x30, 0x01, 0x00};
static const uint8_t resp_soon[] = {0x30, 0x01, 0x50};
static const uint8_t crl_der[] = {0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x2a};

static const uint8_t err_malformed[] = {0x30, 0x03, 0x0a, 0x01, 0x01};
static const uint8_t err_trylater[] = {0x30, 0x03, 0x0a, 0x01, 0x03};
static const uint8_t err_unauthorized[] = {0x30, 0x03, 0x0a, 0x01, 0x06};

static OCSP_CERTID *make_id(const EVP_MD *md, const uint8_t *serial, size_t serial_len)
{
    BIGNUM *bn = BN_bin2bn(serial, (int)serial_len, NULL);
    ASN1_INTEGER *sn = BN_to_ASN1_INTEGER(bn, NULL);
    OCSP_CERTID *id = OCSP_cert_id_new(md, ca_name, ca_key, sn);
    cr_assert_not_null(id);
    ASN1_INTEGER_free(sn);
    BN_free(bn);
    return id;
}

/* The CertID's issuer hashes, as the store keys them. */
static void id_hashes(const EVP_MD *md, uint8_t *name_hash, uint8_t *key_hash)
{
    OCSP_CERTID *id = make_id(md, serial_missing, sizeof(serial_missing));
    ASN1_OCTET_STRING *nh, *kh;
    cr_assert_eq(OCSP_id_get0_info(&nh, NULL, &kh, NULL, id), 1);
    memcpy(name_hash, ASN1_STRING_get0_data(nh), (size_t)ASN1_STRING_length(nh));
    memcpy(key_hash, ASN1_STRING_get0_data(kh), (size_t)ASN1_STRING_length(kh));
    OCSP_CERTID_free(id);
}

/* DER OCSPRequest for `n` copies of one CertID; returns its length. */
static size_t make_req(uint8_t *out, size_t cap, const EVP_MD *md, const uint8_t *serial,
                       size_t serial_len, int n)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    for (int i = 0; i < n; i++)
        cr_assert_not_null(OCSP_request_add0_id(req, make_id(md, serial, serial_len)));
    unsigned char *der = NULL;
    int len = i2d_OCSP_REQUEST(req, &der);
    cr_assert_gt(len, 0);
    cr_assert_leq((size_t)len, cap);
    memcpy(out, der, (size_t)len);
    OPENSSL_free(der);
    OCSP_REQUEST_free(req);
    return (size_t)len;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void setup(void)
{
    strcpy(dir, "/tmp/revokd-test-handler-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    ca_name = X509_NAME_new();
    X509_NAME_add_entry_by_txt(ca_name, "CN", MBSTRING_ASC, (const unsigned char *)"Test CA", -1,
                               -1, 0);
    ca_key = ASN1_BIT_STRING_new();
    ASN1_BIT_STRING_set(ca_key, (unsigned char *)key_bits, sizeof(key_bits));

    struct store_issuer_rec rec;
    memset(&rec, 0, sizeof(rec));
    strcpy(rec.name, "testca");
    id_hashes(EVP_sha1(), rec.name_sha1, rec.key_sha1);
    id_hashes(EVP_sha256(), rec.name_sha256, rec.key_sha256);

    struct store_txn t;
    uint32_t id;
    cr_assert_eq(store_open(&st, dir, 64ull << 20, 0), 0);
    cr_assert_eq(store_txn_begin(st, &t, false), 0);
    static const uint8_t fake_cert[] = {0x30, 0x00};
    cr_assert_eq(store_put_issuer(&t, &rec, fake_cert, sizeof(fake_cert), &id), 0);
    /* resp_fresh is stored as the indexer stores a delegated signer's responses: without
     * its trailing block, which the store keeps once and the handler appends. */
    uint32_t blk_id;
    cr_assert_eq(store_put_signer(&t, resp_fresh + sizeof(resp_fresh) - sizeof(resp_fresh_block),
                                  sizeof(resp_fresh_block), &blk_id),
                 0);
    cr_assert_eq(store_put_response(&t, STORE_HASH_SHA1, rec.name_sha1, rec.key_sha1, serial_fresh,
                                    sizeof(serial_fresh), T0 - 3600, T0 + 86400, T0 - 60,
                                    resp_fresh, sizeof(resp_fresh), blk_id),
                 0);
    cr_assert_eq(store_put_response(&t, STORE_HASH_SHA256, rec.name_sha256, rec.key_sha256,
                                    serial_fresh, sizeof(serial_fresh), T0 - 3600, T0 + 86400,
                                    T0 - 60, resp_fresh256, sizeof(resp_fresh256), 0),
                 0);
    cr_assert_eq(store_put_response(&t, STORE_HASH_SHA1, rec.name_sha1, rec.key_sha1, serial_stale,
                                    sizeof(serial_stale), T0 - 90000, T0 - 1, T0 - 90000,
                                    resp_stale, sizeof(resp_stale), 0),
                 0);
    cr_assert_eq(store_put_response(&t, STORE_HASH_SHA1, rec.name_sha1, rec.key_sha1, serial_soon,
                                    sizeof(serial_soon), T0 - 3600, T0 + 100, T0 - 3600, resp_soon,
                                    sizeof(resp_soon), 0),
                 0);
    struct store_crl_hdr ch = {.version = 1,
                               .der_len = sizeof(crl_der),
                               .number = 0x2a,
                               .this_update = T0 - 600,
                               .next_update = T0 + 7200};
    cr_assert_eq(store_put_crl(&t, id, STORE_CRL_FULL, 0, &ch, crl_der), 0);
    /* certificate states for the JSON status API */
    struct store_cert good = {.status = STORE_GOOD,
                              .reason = STORE_REASON_NONE,
                              .source = STORE_SRC_INDEX,
                              .not_after = 1767225600}; /* 2026-01-01T00:00:00Z */
    struct store_cert kc = {.status = STORE_REVOKED,
                            .reason = 1,
                            .source = STORE_SRC_INDEX,
                            .revoked_at = 1699999999, /* 2023-11-14T22:13:19Z */
                            .invalidity = 1699990000,
                            .not_after = 1767225600};
    struct store_cert hold = {.status = STORE_HOLD,
                              .reason = 6,
                              .source = STORE_SRC_REVOKCTL,
                              .revoked_at = 1699000000,
                              .not_after = 1767225600};
    struct store_cert unspec = {.status = STORE_REVOKED,
                                .reason = 0,
                                .source = STORE_SRC_CRL,
                                .revoked_at = 1699000000,
                                .not_after = 1767225600};
    static const uint8_t s_good[] = {0x0a}, s_kc[] = {0x00, 0x80}, s_hold[] = {0x01, 0x02, 0x03},
                         s_unspec[] = {0x00},
                         s_long[] = {0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    cr_assert_geq(store_put_cert(&t, id, s_good, sizeof(s_good), &good, T0), 0);
    cr_assert_geq(store_put_cert(&t, id, s_kc, sizeof(s_kc), &kc, T0), 0);
    cr_assert_geq(store_put_cert(&t, id, s_hold, sizeof(s_hold), &hold, T0), 0);
    cr_assert_geq(store_put_cert(&t, id, s_unspec, sizeof(s_unspec), &unspec, T0), 0);
    cr_assert_geq(store_put_cert(&t, id, s_long, sizeof(s_long), &good, T0), 0);
    cr_assert_eq(store_txn_commit(&t), 0);
    store_close(st);

    /* The responder's view: read-only. */
    cr_assert_eq(store_open(&st, dir, 64ull << 20, STORE_RDONLY), 0);
    cr_assert_eq(handler_init(&h, st, 3600), 0);
    handler_batch_begin(&h, NS(T0));
}

static void teardown(void)
{
    handler_batch_end(&h);
    handler_free(&h);
    store_close(st);
    X509_NAME_free(ca_name);
    ASN1_BIT_STRING_free(ca_key);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(handler, .init = setup, .fini = teardown);

/* One served request: the raw bytes it came from and what the handler made of them. */
struct served {
    uint8_t raw[16384];
    uint8_t hdr[HANDLER_HDR_MAX + 1]; /* NUL-terminated copy of the header block */
    struct http_req req;
    struct http_out out;
    int rc;
};

static struct served sv;

/* Parses head (+ body) and serves it; the header block ends up NUL-terminated in sv.hdr. */
static struct served *serve_raw(const char *head, const uint8_t *body, size_t body_len)
{
    size_t hl = strlen(head);
    memset(&sv, 0, sizeof(sv));
    cr_assert_leq(hl + body_len, sizeof(sv.raw));
    memcpy(sv.raw, head, hl);
    if (body_len)
        memcpy(sv.raw + hl, body, body_len);
    int n = http_req_parse(sv.raw, hl + body_len, &sv.req);
    cr_assert_eq(n, (int)hl, "head did not parse: %d", n);
    sv.out.hdr = sv.hdr;
    sv.out.hdr_cap = HANDLER_HDR_MAX;
    sv.rc = handler_serve(&h, &sv.req, body, body_len, &sv.out);
    cr_assert_eq(sv.rc, 0);
    cr_assert_lt(sv.out.hdr_len, sizeof(sv.hdr));
    sv.hdr[sv.out.hdr_len] = '\0';
    return &sv;
}

static struct served *post(const uint8_t *der, size_t len)
{
    char head[256];
    snprintf(head, sizeof(head),
             "POST / HTTP/1.1\r\nHost: ocsp\r\nContent-Type: application/ocsp-request\r\n"
             "Content-Length: %zu\r\n\r\n",
             len);
    return serve_raw(head, der, len);
}

static bool has_hdr(const struct served *s, const char *line)
{
    return strstr((const char *)s->hdr, line) != NULL;
}

static void assert_body(const struct served *s, const uint8_t *want, size_t len)
{
    /* What goes on the wire: body, then tail (a response's signer block). */
    size_t got = s->out.body_len + s->out.tail_len;
    cr_assert_eq(got, len, "body length %zu, want %zu", got, len);
    cr_assert_leq(s->out.body_len, len);
    cr_assert_arr_eq(s->out.body, want, s->out.body_len);
    if (s->out.tail_len)
        cr_assert_arr_eq(s->out.tail, want + s->out.body_len, s->out.tail_len);
    char cl[64];
    snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", len);
    cr_assert(has_hdr(s, cl), "no %s in:\n%s", cl, s->hdr);
}

/* "\r\nETag: \"<hex of the first 16 bytes of SHA-256(der)>\"\r\n" */
static void etag_of(const uint8_t *der, size_t n, char out[64])
{
    uint8_t md[32];
    cr_assert(EVP_Digest(der, n, md, NULL, EVP_sha256(), NULL));
    int o = sprintf(out, "\r\nETag: \"");
    for (int i = 0; i < STORE_ETAG_LEN; i++)
        o += sprintf(out + o, "%02x", md[i]);
    sprintf(out + o, "\"\r\n");
}

static uint64_t count(enum http_method m, enum handler_result r)
{
    return h.requests[m][r];
}

Test(handler, post_hit_serves_stored_bytes)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_fresh, sizeof(serial_fresh), 1);
    struct served *s = post(der, n);
    cr_assert_eq(s->out.status, 200);
    cr_assert(!s->out.close);
    cr_assert(strncmp((const char *)s->hdr, "HTTP/1.1 200 OK\r\n", 17) == 0);
    cr_assert(has_hdr(s, "\r\nContent-Type: application/ocsp-response\r\n"));
    cr_assert(!has_hdr(s, "Cache-Control"), "POST answers are not cacheable");
    cr_assert(!has_hdr(s, "Connection:"));
    cr_assert(strcmp((const char *)s->hdr + s->out.hdr_len - 4, "\r\n\r\n") == 0);
    assert_body(s, resp_fresh, sizeof(resp_fresh));
    cr_assert_eq(s->out.tail_len, sizeof(resp_fresh_block), "the signer block is appended");
    cr_assert_eq(count(HTTP_POST, HANDLER_R_OK), 1);
    cr_assert_eq(h.ocsp_bytes, sizeof(resp_fresh));
}

Test(handler, post_sha256_hit)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha256(), serial_fresh, sizeof(serial_fresh), 1);
    assert_body(post(der, n), resp_fresh256, sizeof(resp_fresh256));
}

Test(handler, post_miss_is_unauthorized)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_missing, sizeof(serial_missing), 1);
    struct served *s = post(der, n);
    cr_assert_eq(s->out.status, 200);
    assert_body(s, err_unauthorized, sizeof(err_unauthorized));
    cr_assert_eq(count(HTTP_POST, HANDLER_R_UNAUTHORIZED), 1);
}

Test(handler, post_unserved_hash_is_unauthorized)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha512(), serial_fresh, sizeof(serial_fresh), 1);
    assert_body(post(der, n), err_unauthorized, sizeof(err_unauthorized));
}

Test(handler, post_garbage_is_malformed)
{
    static const uint8_t junk[] = "this is not DER";
    assert_body(post(junk, sizeof(junk) - 1), err_malformed, sizeof(err_malformed));
    assert_body(post(NULL, 0), err_malformed, sizeof(err_malformed)); /* empty body */
    cr_assert_eq(count(HTTP_POST, HANDLER_R_MALFORMED), 2);
}

Test(handler, post_two_certids_is_malformed)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_fresh, sizeof(serial_fresh), 2);
    assert_body(post(der, n), err_malformed, sizeof(err_malformed));
}

Test(handler, stale_is_trylater)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_stale, sizeof(serial_stale), 1);
    assert_body(post(der, n), err_trylater, sizeof(err_trylater));
    cr_assert_eq(h.stale, 1);
    cr_assert_eq(count(HTTP_POST, HANDLER_R_TRYLATER), 1);
    /* one second earlier it was still valid (now == nextUpdate is fine) */
    handler_batch_begin(&h, NS(T0 - 1));
    assert_body(post(der, n), resp_stale, sizeof(resp_stale));
}

static void b64(const uint8_t *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        for (size_t j = 0; j < 4; j++)
            out[o++] = j <= n - i ? a[(v >> (18 - 6 * j)) & 63] : '=';
    }
    out[o] = '\0';
}

static struct served *get_req(const char *prefix, const uint8_t *der, size_t n, bool escape,
                              const char *method)
{
    char enc[1024], path[2048], head[2300];
    b64(der, n, enc);
    size_t o = 0;
    for (const char *p = enc; *p; p++) {
        if (escape && (*p == '/' || *p == '+' || *p == '=')) {
            o += (size_t)sprintf(path + o, "%%%02X", *p);
        } else {
            path[o++] = *p;
        }
    }
    path[o] = '\0';
    snprintf(head, sizeof(head), "%s %s/%s HTTP/1.1\r\nHost: ocsp\r\n\r\n", method, prefix, path);
    return serve_raw(head, NULL, 0);
}

Test(handler, get_b64_hit_with_cache_headers)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_fresh, sizeof(serial_fresh), 1);
    for (int escape = 0; escape < 2; escape++) {
        struct served *s = get_req("", der, n, escape, "GET");
        cr_assert_eq(s->out.status, 200);
        assert_body(s, resp_fresh, sizeof(resp_fresh));
        /* nextUpdate is a day away: the configured cap (3600) wins */
        cr_assert(has_hdr(s, "\r\nCache-Control: max-age=3600, public, no-transform, "
                             "must-revalidate\r\n"),
                  "%s", s->hdr);
        cr_assert(has_hdr(s, "\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\n"), "%s", s->hdr);
        cr_assert(has_hdr(s, "\r\nLast-Modified: Tue, 14 Nov 2023 21:13:20 GMT\r\n"), "%s", s->hdr);
        cr_assert(has_hdr(s, "\r\nExpires: Wed, 15 Nov 2023 22:13:20 GMT\r\n"), "%s", s->hdr);
        cr_assert(has_hdr(s, "\r\nETag: \""), "%s", s->hdr);
    }
    cr_assert_eq(count(HTTP_GET, HANDLER_R_OK), 2);
}

Test(handler, get_etag_is_stable_and_distinct)
{
    uint8_t der[512];
    char a[256], b[256];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_fresh, sizeof(serial_fresh), 1);
    struct served *s = get_req("", der, n, false, "GET");
    const char *e = strstr((const char *)s->hdr, "ETag: ");
    cr_assert_not_null(e);
    snprintf(a, sizeof(a), "%.*s", (int)strcspn(e, "\r"), e);
    s = get_req("", der, n, true, "GET");
    e = strstr((const char *)s->hdr, "ETag: ");
    snprintf(b, sizeof(b), "%.*s", (int)strcspn(e, "\r"), e);
    cr_assert_str_eq(a, b);
    n = make_req(der, sizeof(der), EVP_sha1(), serial_soon, sizeof(serial_soon), 1);
    s = get_req("", der, n, false, "GET");
    e = strstr((const char *)s->hdr, "ETag: ");
    snprintf(b, sizeof(b), "%.*s", (int)strcspn(e, "\r"), e);
    cr_assert_str_neq(a, b);
}

Test(handler, get_max_age_capped_by_next_update)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_soon, sizeof(serial_soon), 1);
    struct served *s = get_req("", der, n, false, "GET");
    assert_body(s, resp_soon, sizeof(resp_soon));
    cr_assert(has_hdr(s, "Cache-Control: max-age=100,"), "%s", s->hdr);
}

Test(handler, get_behind_path_prefix)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_fresh, sizeof(serial_fresh), 1);
    assert_body(get_req("/ocsp/v1", der, n, false, "GET"), resp_fresh, sizeof(resp_fresh));
}

Test(handler, get_errors_are_not_cached)
{
    struct served *s = serve_raw("GET /not-base64! HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    assert_body(s, err_malformed, sizeof(err_malformed));
    cr_assert(has_hdr(s, "Cache-Control: no-store\r\n"));
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_missing, sizeof(serial_missing), 1);
    s = get_req("", der, n, false, "GET");
    assert_body(s, err_unauthorized, sizeof(err_unauthorized));
    cr_assert(has_hdr(s, "Cache-Control: no-store\r\n"));
    cr_assert_eq(count(HTTP_GET, HANDLER_R_MALFORMED), 1);
    cr_assert_eq(count(HTTP_GET, HANDLER_R_UNAUTHORIZED), 1);
}

Test(handler, head_has_length_but_no_body)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_fresh, sizeof(serial_fresh), 1);
    struct served *s = get_req("", der, n, false, "HEAD");
    cr_assert_eq(s->out.status, 200);
    cr_assert_eq(s->out.body_len, 0);
    cr_assert_eq(s->out.tail_len, 0);
    char cl[64];
    snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", sizeof(resp_fresh));
    cr_assert(has_hdr(s, cl), "%s", s->hdr);
    cr_assert_eq(h.ocsp_bytes, 0);
}

Test(handler, healthz)
{
    struct served *s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 200);
    assert_body(s, (const uint8_t *)"ok\n", 3);
    s = serve_raw("GET /healthz?probe=1 HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 200);
}

Test(handler, healthz_without_store_is_503)
{
    struct handler h2;
    cr_assert_eq(handler_init(&h2, NULL, 60), 0);
    handler_batch_begin(&h2, NS(T0));
    uint8_t hdr[HANDLER_HDR_MAX];
    struct http_req req;
    const char *raw = "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n";
    cr_assert_gt(http_req_parse((const uint8_t *)raw, strlen(raw), &req), 0);
    struct http_out out = {.hdr = hdr, .hdr_cap = sizeof(hdr)};
    cr_assert_eq(handler_serve(&h2, &req, NULL, 0, &out), 0);
    cr_assert_eq(out.status, 503);
    /* and OCSP without a store is tryLater, never a wrong answer */
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_fresh, sizeof(serial_fresh), 1);
    char head[128];
    snprintf(head, sizeof(head),
             "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/ocsp-request\r\n"
             "Content-Length: %zu\r\n\r\n",
             n);
    cr_assert_gt(http_req_parse((const uint8_t *)head, strlen(head), &req), 0);
    cr_assert_eq(handler_serve(&h2, &req, der, n, &out), 0);
    cr_assert_eq(out.body_len, sizeof(err_trylater));
    cr_assert_arr_eq(out.body, err_trylater, sizeof(err_trylater));
    handler_batch_end(&h2);
    handler_free(&h2);
}

Test(handler, metrics)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_fresh, sizeof(serial_fresh), 1);
    post(der, n);
    post(der, n);
    struct served *s = serve_raw("GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 200);
    cr_assert(has_hdr(s, "Content-Type: text/plain; version=0.0.4"));
    char body[HANDLER_SCRATCH_MAX + 1];
    memcpy(body, s->out.body, s->out.body_len);
    body[s->out.body_len] = '\0';
    cr_assert_not_null(strstr(body, "\nrevokd_up 1\n"), "%s", body);
    cr_assert_not_null(strstr(body, "revokd_requests_total{method=\"post\",result=\"ok\"} 2\n"),
                       "%s", body);
    cr_assert_not_null(strstr(body, "revokd_requests_total{method=\"get\",result=\"meta\"} 1\n"));
    cr_assert_not_null(strstr(body, "\nrevokd_store_responses 4\n"), "%s", body);
    cr_assert_not_null(strstr(body, "\nrevokd_store_issuers 1\n"), "%s", body);
    cr_assert_not_null(strstr(body, "\nrevokd_store_certs 5\n"), "%s", body);
    cr_assert_not_null(strstr(body, "\nrevokd_store_ok 1\n"), "%s", body);
}

Test(handler, crl)
{
    struct served *s = serve_raw("GET /crl/testca.crl HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 200);
    cr_assert(has_hdr(s, "\r\nContent-Type: application/pkix-crl\r\n"));
    char etag[64];
    etag_of(crl_der, sizeof(crl_der), etag);
    cr_assert(has_hdr(s, etag), "want %s in %s", etag, s->hdr);
    cr_assert(has_hdr(s, "Cache-Control: max-age=3600,"), "%s", s->hdr);
    assert_body(s, crl_der, sizeof(crl_der));
    cr_assert_eq(h.crl_bytes, sizeof(crl_der));

    static const char *const missing[] = {"/crl/other.crl",    "/crl/testca",
                                          "/crl/.crl",         "/crl/../testca.crl",
                                          "/crl/testca.crl/x", "/crl/test%63a.crl"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        char head[128];
        snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", missing[i]);
        s = serve_raw(head, NULL, 0);
        cr_assert_eq(s->out.status, 404, "%s: %d", missing[i], s->out.status);
        cr_assert(!s->out.close);
    }
}

Test(handler, methods)
{
    struct served *s = serve_raw("DELETE / HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 405);
    cr_assert(has_hdr(s, "\r\nAllow: GET, HEAD, POST\r\n"), "%s", s->hdr);
    s = serve_raw("POST /healthz HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 405);
    cr_assert(has_hdr(s, "\r\nAllow: GET, HEAD\r\n"), "%s", s->hdr);
    s = serve_raw("POST / HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 411);
    cr_assert_eq(count(HTTP_OTHER, HANDLER_R_HTTP_ERROR), 1);
    cr_assert_eq(count(HTTP_POST, HANDLER_R_HTTP_ERROR), 2);
}

Test(handler, refused_heads)
{
    struct http_req req;
    const char *big = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4097\r\n\r\n";
    cr_assert_gt(http_req_parse((const uint8_t *)big, strlen(big), &req), 0);
    cr_assert_eq(handler_head_check(&req), 413);
    const char *te = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    cr_assert_gt(http_req_parse((const uint8_t *)te, strlen(te), &req), 0);
    cr_assert_eq(handler_head_check(&req), 501);
    const char *ex = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 200-ok\r\n\r\n";
    cr_assert_gt(http_req_parse((const uint8_t *)ex, strlen(ex), &req), 0);
    cr_assert_eq(handler_head_check(&req), 417);
    const char *ok =
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4096\r\nExpect: 100-continue\r\n\r\n";
    cr_assert_gt(http_req_parse((const uint8_t *)ok, strlen(ok), &req), 0);
    cr_assert_eq(handler_head_check(&req), 0);

    /* handler_serve refuses them too, and closes */
    struct served *s = serve_raw(big, NULL, 0);
    cr_assert_eq(s->out.status, 413);
    cr_assert(s->out.close);
    cr_assert(has_hdr(s, "\r\nConnection: close\r\n"));
    s = serve_raw(te, NULL, 0);
    cr_assert_eq(s->out.status, 501);
    cr_assert(s->out.close);
}

Test(handler, error_for_malformed_head)
{
    uint8_t hdr[HANDLER_HDR_MAX + 1];
    struct http_out out = {.hdr = hdr, .hdr_cap = HANDLER_HDR_MAX};
    struct http_req req;
    const char *bad = "GET / HTTP/3.0\r\n\r\n";
    cr_assert_eq(http_req_parse((const uint8_t *)bad, strlen(bad), &req), -1);
    cr_assert_eq(handler_error(&h, &req, req.err_status, &out), 0);
    hdr[out.hdr_len] = '\0';
    cr_assert_eq(out.status, 505);
    cr_assert(out.close);
    cr_assert(strncmp((char *)hdr, "HTTP/1.1 505 HTTP Version Not Supported\r\n", 41) == 0, "%s",
              hdr);
    cr_assert_not_null(strstr((char *)hdr, "\r\nConnection: close\r\n"));
    cr_assert_eq(handler_error(&h, NULL, 400, &out), 0);
    cr_assert_eq(out.status, 400);
    cr_assert_eq(out.body_len, strlen("Bad Request\n"));
}

Test(handler, keep_alive_headers)
{
    struct served *s = serve_raw("GET /healthz HTTP/1.0\r\n\r\n", NULL, 0);
    cr_assert(s->out.close);
    cr_assert(has_hdr(s, "\r\nConnection: close\r\n"));
    s = serve_raw("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", NULL, 0);
    cr_assert(!s->out.close);
    cr_assert(has_hdr(s, "\r\nConnection: keep-alive\r\n"));
    s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", NULL, 0);
    cr_assert(s->out.close);
    cr_assert(has_hdr(s, "\r\nConnection: close\r\n"));
}

Test(handler, imf_fixdate)
{
    /* RFC 9110's example date */
    handler_batch_begin(&h, NS(784111777));
    struct served *s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert(has_hdr(s, "\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), "%s", s->hdr);
    handler_batch_begin(&h, NS(951782400)); /* 2000-02-29, a leap day */
    s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert(has_hdr(s, "\r\nDate: Tue, 29 Feb 2000 00:00:00 GMT\r\n"), "%s", s->hdr);
    /* The Date is formatted once per second: it must still follow the clock, also back. */
    handler_batch_begin(&h, NS(951782400) + 999999999);
    s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert(has_hdr(s, "\r\nDate: Tue, 29 Feb 2000 00:00:00 GMT\r\n"), "%s", s->hdr);
    handler_batch_begin(&h, NS(951782401));
    s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert(has_hdr(s, "\r\nDate: Tue, 29 Feb 2000 00:00:01 GMT\r\n"), "%s", s->hdr);
    handler_batch_begin(&h, NS(784111777)); /* a clock stepped back */
    s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert(has_hdr(s, "\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), "%s", s->hdr);
}

Test(handler, header_buffer_too_small)
{
    uint8_t hdr[32];
    struct http_req req;
    const char *raw = "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n";
    cr_assert_gt(http_req_parse((const uint8_t *)raw, strlen(raw), &req), 0);
    struct http_out out = {.hdr = hdr, .hdr_cap = sizeof(hdr)};
    cr_assert_eq(handler_serve(&h, &req, NULL, 0, &out), -ENOSPC);
}

Test(handler, batches_renew_the_txn)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_fresh, sizeof(serial_fresh), 1);
    for (int i = 0; i < 3; i++) {
        handler_batch_begin(&h, NS(T0));
        assert_body(post(der, n), resp_fresh, sizeof(resp_fresh));
        cr_assert(h.txn_live);
        handler_batch_end(&h);
        cr_assert(!h.txn_live);
    }
}

/*
 * The read txn is one snapshot per batch: a commit made meanwhile (by another
 * process, as the indexer is) is invisible until the batch ends, then visible.
 */
Test(handler, snapshot_per_batch)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_missing, sizeof(serial_missing), 1);
    assert_body(post(der, n), err_unauthorized, sizeof(err_unauthorized));

    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* The child is the writer; it must not touch the parent's environment. */
        struct store *w;
        struct store_txn t;
        uint8_t nh[20], kh[20];
        id_hashes(EVP_sha1(), nh, kh);
        int ok =
            store_open(&w, dir, 64ull << 20, 0) == 0 && store_txn_begin(w, &t, false) == 0 &&
            store_put_response(&t, STORE_HASH_SHA1, nh, kh, serial_missing, sizeof(serial_missing),
                               T0 - 10, T0 + 1000, T0 - 10, resp_soon, sizeof(resp_soon), 0) == 0 &&
            store_txn_commit(&t) == 0;
        _exit(ok ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* same batch: same snapshot */
    assert_body(post(der, n), err_unauthorized, sizeof(err_unauthorized));
    handler_batch_end(&h);
    handler_batch_begin(&h, NS(T0));
    assert_body(post(der, n), resp_soon, sizeof(resp_soon));
}

/* Runs fn in a child with the store open read-write (one LMDB env per process). */
static void child_write(void (*fn)(struct store_txn *t))
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct store *w;
        struct store_txn t;
        if (store_open(&w, dir, 64ull << 20, 0) < 0 || store_txn_begin(w, &t, false) < 0)
            _exit(1);
        fn(&t);
        _exit(store_txn_commit(&t) == 0 ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    handler_batch_end(&h); /* the next batch sees the commit */
    handler_batch_begin(&h, NS(T0));
}

/* Issue 13 item 8: served iff now <= nextUpdate, to the nanosecond. */
Test(handler, never_served_past_next_update)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_soon, sizeof(serial_soon), 1);
    int64_t nu = NS(T0 + 100); /* serial_soon's nextUpdate */
    handler_batch_begin(&h, nu - 1);
    assert_body(post(der, n), resp_soon, sizeof(resp_soon));
    handler_batch_begin(&h, nu);
    assert_body(post(der, n), resp_soon, sizeof(resp_soon));
    cr_assert_eq(h.stale, 0);
    handler_batch_begin(&h, nu + 1);
    assert_body(post(der, n), err_trylater, sizeof(err_trylater));
    handler_batch_begin(&h, nu + 500000000);
    assert_body(post(der, n), err_trylater, sizeof(err_trylater));
    handler_batch_begin(&h, nu + 999999999);
    struct served *s = get_req("", der, n, false, "GET");
    assert_body(s, err_trylater, sizeof(err_trylater));
    cr_assert(has_hdr(s, "Cache-Control: no-store\r\n"));
    cr_assert_eq(h.stale, 3);
}

static const uint8_t resp_resigned[] = {0x30, 0x82, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xee};

/* The same CertID re-signed in the same second (say good -> revoked), and the
 * same bytes stored under another serial. */
static void write_resigned(struct store_txn *t)
{
    uint8_t nh[20], kh[20];
    id_hashes(EVP_sha1(), nh, kh);
    if (store_put_response(t, STORE_HASH_SHA1, nh, kh, serial_fresh, sizeof(serial_fresh),
                           T0 - 3600, T0 + 86400, T0 - 60, resp_resigned, sizeof(resp_resigned),
                           0) < 0 ||
        store_put_response(t, STORE_HASH_SHA1, nh, kh, serial_missing, sizeof(serial_missing),
                           T0 - 3600, T0 + 86400, T0 - 60, resp_resigned, sizeof(resp_resigned),
                           0) < 0)
        _exit(1);
}

static void etag_line(const struct served *s, char out[64])
{
    const char *e = strstr((const char *)s->hdr, "\r\nETag: ");
    cr_assert_not_null(e, "%s", s->hdr);
    snprintf(out, 64, "%.*s\r\n", (int)strcspn(e + 2, "\r") + 2, e);
}

/* Issue 13 item 9: the ETag is a hash of the bytes, so it changes when they do. */
Test(handler, etag_is_derived_from_the_bytes)
{
    uint8_t der[512], der2[512];
    char want[64], first[64], second[64], other[64];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_fresh, sizeof(serial_fresh), 1);
    size_t n2 = make_req(der2, sizeof(der2), EVP_sha1(), serial_missing, sizeof(serial_missing), 1);
    etag_line(get_req("", der, n, false, "GET"), first);
    etag_of(resp_fresh, sizeof(resp_fresh), want);
    cr_assert_str_eq(first, want);

    child_write(write_resigned);
    struct served *s = get_req("", der, n, false, "GET");
    assert_body(s, resp_resigned, sizeof(resp_resigned));
    etag_line(s, second);
    cr_assert_str_neq(first, second, "same producedAt and serial, other bytes, same ETag");
    etag_of(resp_resigned, sizeof(resp_resigned), want);
    cr_assert_str_eq(second, want);
    etag_line(get_req("", der2, n2, false, "GET"), other);
    cr_assert_str_eq(second, other, "identical bytes, different ETags");
}

static void write_unhealthy(struct store_txn *t)
{
    const struct store_issuer_rec *r;
    const uint8_t *cert;
    struct store_issuer_rec other;
    uint32_t id, oid;
    memset(&other, 0, sizeof(other));
    strcpy(other.name, "other");
    memset(other.name_sha1, 0x11, sizeof(other.name_sha1));
    memset(other.name_sha256, 0x22, sizeof(other.name_sha256));
    static const uint8_t fake_cert[] = {0x30, 0x00};
    struct store_issuer_sync sy = {.failed_at = T0 - 100,
                                   .malformed = 2,
                                   .unrevoke_refused = 1,
                                   .error = EBADMSG,
                                   .signer_problem = STORE_SIGNER_EXPIRED,
                                   .signer_not_after = T0 - 10,
                                   .ca_not_after = T0 + 100000000};
    struct store_issuer_crlstat cs = {.skipped = 3, .failures = 1, .failed_at = T0 - 50};
    struct store_issuer_sync osy = {.signer_not_after = T0 + 5000, .ca_not_after = T0 + 6000};
    if (store_get_issuer_by_name(t, "testca", &r, &cert) < 0)
        _exit(1);
    id = r->id;
    if (store_set_issuer_sync(t, id, &sy) < 0 || store_set_issuer_crlstat(t, id, &cs) < 0 ||
        store_set_issuer_synced(t, id, T0 - 3600) < 0 ||
        store_put_issuer(t, &other, fake_cert, sizeof(fake_cert), &oid) < 0 ||
        store_set_issuer_sync(t, oid, &osy) < 0 || store_set_issuer_synced(t, oid, T0 - 5) < 0)
        _exit(1);
}

static const char *body_str(const struct served *s)
{
    static char body[HANDLER_SCRATCH_MAX + 1];
    memcpy(body, s->out.body, s->out.body_len);
    body[s->out.body_len] = '\0';
    return body;
}

/* /healthz and /metrics per the brief's contract, from the issuers' health records. */
Test(handler, health_and_metrics_from_issuer_records)
{
    child_write(write_unhealthy);
    struct served *s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 503);
    cr_assert(has_hdr(s, "Cache-Control: no-store\r\n"));
    cr_assert_str_eq(body_str(s),
                     "issuer testca: last sync failed at 1699999900 (2 malformed lines)\n"
                     "issuer testca: 1 revocation(s) the source no longer lists kept revoked\n"
                     "issuer testca: OCSP signer expired\n"
                     "issuer testca: CRL not issued since 1699999950 (sync incomplete)\n");
    cr_assert_eq(count(HTTP_GET, HANDLER_R_HTTP_ERROR), 1);

    h.send_timeouts = 7;
    s = serve_raw("GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 200);
    const char *b = body_str(s);
    static const char *const want[] = {
        "\n# TYPE revokd_issuer_healthy gauge\n",
        "\nrevokd_issuer_healthy{issuer=\"testca\"} 0\n",
        "\nrevokd_issuer_healthy{issuer=\"other\"} 1\n",
        "\nrevokd_issuer_sync_complete{issuer=\"testca\"} 0\n",
        "\nrevokd_issuer_sync_complete{issuer=\"other\"} 1\n",
        "\nrevokd_issuer_last_sync_timestamp_seconds{issuer=\"testca\"} 1699996400\n",
        "\nrevokd_issuer_last_sync_timestamp_seconds{issuer=\"other\"} 1699999995\n",
        "\nrevokd_issuer_malformed_lines{issuer=\"testca\"} 2\n",
        "\nrevokd_issuer_malformed_lines{issuer=\"other\"} 0\n",
        "\nrevokd_issuer_unrevoke_refused{issuer=\"testca\"} 1\n",
        "\nrevokd_issuer_signer_problem{issuer=\"testca\"} 2\n",
        "\nrevokd_issuer_signer_not_after_timestamp_seconds{issuer=\"testca\"} 1699999990\n",
        "\nrevokd_issuer_signer_not_after_timestamp_seconds{issuer=\"other\"} 1700005000\n",
        "\nrevokd_issuer_ca_not_after_timestamp_seconds{issuer=\"testca\"} 1800000000\n",
        "\n# TYPE revokd_crl_skipped_total counter\n",
        "\nrevokd_crl_skipped_total{issuer=\"testca\"} 3\n",
        "\nrevokd_crl_failures_total{issuer=\"testca\"} 1\n",
        "\nrevokd_crl_number{issuer=\"testca\"} 0\n",
        "\nrevokd_crl_next_update_timestamp_seconds{issuer=\"testca\"} 1700007200\n",
        "\nrevokd_send_timeouts_total 7\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert_not_null(strstr(b, want[i]), "no %s in:\n%s", want[i], b);
    /* no full CRL for "other": no nextUpdate sample rather than a made-up one */
    cr_assert_null(strstr(b, "revokd_crl_next_update_timestamp_seconds{issuer=\"other\"}"));
}

static void write_other_problems(struct store_txn *t)
{
    const struct store_issuer_rec *r;
    const uint8_t *cert;
    if (store_get_issuer_by_name(t, "testca", &r, &cert) < 0)
        _exit(1);
    uint32_t id = r->id;
    struct store_issuer_sync sy = {.failed_at = T0 - 7,
                                   .error = EIO,
                                   .signer_problem =
                                       STORE_SIGNER_NOT_YET_VALID | STORE_SIGNER_NO_NOCHECK};
    struct store_issuer_crlstat cs = {.failures = 4, .failed_at = T0 - 8};
    if (store_set_issuer_sync(t, id, &sy) < 0 || store_set_issuer_crlstat(t, id, &cs) < 0 ||
        store_set_issuer_synced(t, id, T0 - 9) < 0)
        _exit(1);
}

static void write_crl_failed_only(struct store_txn *t)
{
    const struct store_issuer_rec *r;
    const uint8_t *cert;
    if (store_get_issuer_by_name(t, "testca", &r, &cert) < 0)
        _exit(1);
    uint32_t id = r->id;
    struct store_issuer_sync sy = {0};
    struct store_issuer_crlstat cs = {.failures = 1, .failed_at = T0 - 8};
    if (store_set_issuer_sync(t, id, &sy) < 0 || store_set_issuer_crlstat(t, id, &cs) < 0 ||
        store_set_issuer_synced(t, id, T0 - 9) < 0)
        _exit(1);
}

static void write_healthy_again(struct store_txn *t)
{
    const struct store_issuer_rec *r;
    const uint8_t *cert;
    if (store_get_issuer_by_name(t, "testca", &r, &cert) < 0)
        _exit(1);
    uint32_t id = r->id;
    struct store_issuer_sync sy = {0};
    struct store_issuer_crlstat cs = {.failures = 1};
    if (store_set_issuer_sync(t, id, &sy) < 0 || store_set_issuer_crlstat(t, id, &cs) < 0)
        _exit(1);
}

Test(handler, health_lines_for_each_problem)
{
    child_write(write_other_problems);
    struct served *s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 503);
    char want[512];
    snprintf(want, sizeof(want),
             "issuer testca: last sync failed at 1699999993 (%s)\n"
             "issuer testca: OCSP signer not yet valid\n"
             "issuer testca: OCSP signer lacks id-pkix-ocsp-nocheck\n"
             "issuer testca: CRL not issued since 1699999992 (sync incomplete)\n",
             strerror(EIO));
    cr_assert_str_eq(body_str(s), want);

    child_write(write_crl_failed_only);
    s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 503);
    cr_assert_str_eq(body_str(s),
                     "issuer testca: CRL not issued since 1699999992 (CRL generation failed)\n");

    child_write(write_healthy_again);
    s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 200);
    cr_assert_str_eq(body_str(s), "ok\n");
}

/* OCSPRequest for serial_fresh with one extension (oid, critical) in the request or the single. */
static size_t make_req_ext(uint8_t *out, size_t cap, const char *oid, int crit, bool single)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    OCSP_ONEREQ *one =
        OCSP_request_add0_id(req, make_id(EVP_sha1(), serial_fresh, sizeof(serial_fresh)));
    cr_assert_not_null(one);
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
    cr_assert(ASN1_OCTET_STRING_set(v, (const unsigned char *)"\x04\x02\xab\xcd", 4));
    X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, obj, crit, v);
    cr_assert_not_null(ext);
    cr_assert(single ? OCSP_ONEREQ_add_ext(one, ext, -1) : OCSP_REQUEST_add_ext(req, ext, -1));
    unsigned char *der = NULL;
    int len = i2d_OCSP_REQUEST(req, &der);
    cr_assert_gt(len, 0);
    cr_assert_leq((size_t)len, cap);
    memcpy(out, der, (size_t)len);
    OPENSSL_free(der);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(v);
    ASN1_OBJECT_free(obj);
    OCSP_REQUEST_free(req);
    return (size_t)len;
}

/* Issue 13 item 13, RFC 6960 4.1.2/4.4: an unrecognized critical extension is refused. */
Test(handler, critical_extensions)
{
    static const struct {
        const char *oid;
        int crit;
        bool single, served;
    } cases[] = {
        {"1.2.3.4", 1, false, false},              /* unknown, critical, request */
        {"1.2.3.4", 1, true, false},               /* unknown, critical, single */
        {"1.2.3.4", 0, false, true},               /* unknown, not critical: ignored */
        {"1.2.3.4", 0, true, true},                /* likewise */
        {"1.3.6.1.5.5.7.48.1.2", 0, false, true},  /* nonce */
        {"1.3.6.1.5.5.7.48.1.2", 1, false, true},  /* nonce marked critical: recognized */
        {"1.3.6.1.5.5.7.48.1.4", 1, false, true},  /* acceptable responses */
        {"1.3.6.1.5.5.7.48.1.7", 1, true, true},   /* service locator */
        {"1.3.6.1.5.5.7.48.1.2", 1, true, false},  /* a nonce is no single extension */
        {"1.3.6.1.5.5.7.48.1.8", 1, false, false}, /* preferred sig algs: not implemented */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t der[512];
        size_t n = make_req_ext(der, sizeof(der), cases[i].oid, cases[i].crit, cases[i].single);
        struct served *s = post(der, n);
        if (cases[i].served)
            assert_body(s, resp_fresh, sizeof(resp_fresh));
        else
            assert_body(s, err_malformed, sizeof(err_malformed));
    }
}

/* --- issue 7 item 4: Content-Type, methods, conditional GET ------------------------- */

static struct served *post_ct(const char *ctype_line, const uint8_t *der, size_t len)
{
    char head[512];
    snprintf(head, sizeof(head), "POST / HTTP/1.1\r\nHost: ocsp\r\n%sContent-Length: %zu\r\n\r\n",
             ctype_line, len);
    return serve_raw(head, der, len);
}

Test(handler, post_needs_ocsp_request_content_type)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_fresh, sizeof(serial_fresh), 1);
    static const char *const refused[] = {
        "",                                                    /* none: curl -d without -H */
        "Content-Type: application/x-www-form-urlencoded\r\n", /* curl's default */
        "Content-Type: application/ocsp-response\r\n",
        "Content-Type: application/ocsp-request-x\r\n",
        "Content-Type: application/json\r\n",
        "Content-Type: \r\n",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        struct served *s = post_ct(refused[i], der, n);
        cr_assert_eq(s->out.status, 415, "%s: %d", refused[i], s->out.status);
        cr_assert(has_hdr(s, "\r\nAccept-Post: application/ocsp-request\r\n"), "%s", s->hdr);
        cr_assert(!s->out.close, "the body was read: the connection goes on");
        static const char line[] = "HTTP/1.1 415 Unsupported Media Type\r\n";
        cr_assert(strncmp((const char *)s->hdr, line, sizeof(line) - 1) == 0, "%s", s->hdr);
    }
    cr_assert_eq(count(HTTP_POST, HANDLER_R_HTTP_ERROR), sizeof(refused) / sizeof(refused[0]));
    cr_assert_eq(count(HTTP_POST, HANDLER_R_OK), 0);
    /* type and subtype are case-insensitive, parameters and whitespace ignored */
    static const char *const accepted[] = {
        "Content-Type: application/ocsp-request\r\n",
        "Content-Type: Application/OCSP-Request\r\n",
        "Content-Type: application/ocsp-request; charset=binary\r\n",
        "Content-Type:   application/ocsp-request  \r\n",
    };
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
        assert_body(post_ct(accepted[i], der, n), resp_fresh, sizeof(resp_fresh));
}

/* Every route refuses the methods it does not serve with 405 and its Allow list. */
Test(handler, every_route_405_with_allow)
{
    static const struct {
        const char *path, *allow;
    } routes[] = {
        {"/", "GET, HEAD, POST"},
        {"/ocsp/MEIw", "GET, HEAD, POST"},
        {"/healthz", "GET, HEAD"},
        {"/metrics", "GET, HEAD"},
        {"/crl/testca.crl", "GET, HEAD"},
        {"/crl/nosuch.crl", "GET, HEAD"},
        {"/api/v1/status/testca/0A", "GET, HEAD"},
    };
    static const char *const methods[] = {"PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "get"};
    for (size_t r = 0; r < sizeof(routes) / sizeof(routes[0]); r++) {
        for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
            char head[256], allow[64];
            snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: h\r\n\r\n", methods[m],
                     routes[r].path);
            struct served *s = serve_raw(head, NULL, 0);
            cr_assert_eq(s->out.status, 405, "%s %s: %d", methods[m], routes[r].path,
                         s->out.status);
            snprintf(allow, sizeof(allow), "\r\nAllow: %s\r\n", routes[r].allow);
            cr_assert(has_hdr(s, allow), "%s %s: %s", methods[m], routes[r].path, s->hdr);
            cr_assert(!s->out.close);
        }
        if (strcmp(routes[r].allow, "GET, HEAD") == 0) { /* POST is refused there too */
            char head[256];
            snprintf(head, sizeof(head),
                     "POST %s HTTP/1.1\r\nHost: h\r\nContent-Type: application/ocsp-request\r\n"
                     "Content-Length: 0\r\n\r\n",
                     routes[r].path);
            struct served *s = serve_raw(head, NULL, 0);
            cr_assert_eq(s->out.status, 405, "POST %s", routes[r].path);
            cr_assert(has_hdr(s, "\r\nAllow: GET, HEAD\r\n"), "POST %s: %s", routes[r].path,
                      s->hdr);
        }
    }
    /* OPTIONS * is a method we do not serve either */
    struct served *s = serve_raw("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 405);
}

/* The quoted ETag of a served answer, e.g. "\"0123...\"" (with the quotes). */
static void etag_value(const struct served *s, char out[64])
{
    const char *e = strstr((const char *)s->hdr, "\r\nETag: ");
    cr_assert_not_null(e, "%s", s->hdr);
    e += 8;
    snprintf(out, 64, "%.*s", (int)strcspn(e, "\r"), e);
    cr_assert_eq(strlen(out), 2 + 2 * STORE_ETAG_LEN, "%s", out);
}

/* A GET (or HEAD) of the fresh OCSP response with extra header lines. */
static struct served *get_fresh_with(const char *method, const char *extra)
{
    static uint8_t der[512];
    static char enc[1024], head[2300];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_fresh, sizeof(serial_fresh), 1);
    b64(der, n, enc); /* plain base64; a '/' in it is fine (the handler tries suffixes) */
    snprintf(head, sizeof(head), "%s /%s HTTP/1.1\r\nHost: ocsp\r\n%s\r\n", method, enc, extra);
    return serve_raw(head, NULL, 0);
}

static void assert_304(const struct served *s, const char *etag)
{
    char line[128];
    cr_assert_eq(s->out.status, 304, "%d:\n%s", s->out.status, s->hdr);
    cr_assert(strncmp((const char *)s->hdr, "HTTP/1.1 304 Not Modified\r\n", 27) == 0, "%s",
              s->hdr);
    cr_assert_eq(s->out.body_len, 0);
    cr_assert_null(s->out.body);
    cr_assert_null(s->out.body_key);
    cr_assert(!has_hdr(s, "Content-Length"), "%s", s->hdr);
    cr_assert(!has_hdr(s, "Content-Type"), "%s", s->hdr);
    snprintf(line, sizeof(line), "\r\nETag: %s\r\n", etag);
    cr_assert(has_hdr(s, line), "%s", s->hdr);
    cr_assert(has_hdr(s, "\r\nCache-Control: max-age="), "%s", s->hdr);
    cr_assert(has_hdr(s, "\r\nExpires: "), "%s", s->hdr);
    cr_assert(has_hdr(s, "\r\nLast-Modified: "), "%s", s->hdr);
    cr_assert(has_hdr(s, "\r\nDate: "), "%s", s->hdr);
    cr_assert(!s->out.close);
}

Test(handler, if_none_match_304)
{
    char etag[64], line[256], weak[80];
    struct served *s = get_fresh_with("GET", "");
    assert_body(s, resp_fresh, sizeof(resp_fresh));
    etag_value(s, etag);
    uint64_t bytes = h.ocsp_bytes;

    snprintf(line, sizeof(line), "If-None-Match: %s\r\n", etag);
    assert_304(get_fresh_with("GET", line), etag);
    assert_304(get_fresh_with("HEAD", line), etag);
    cr_assert_eq(h.ocsp_bytes, bytes, "a 304 carries no body bytes");
    /* weak comparison (RFC 9110 13.1.2), lists, several lines, "*" */
    snprintf(weak, sizeof(weak), "W/%s", etag);
    snprintf(line, sizeof(line), "If-None-Match: %s\r\n", weak);
    assert_304(get_fresh_with("GET", line), etag);
    snprintf(line, sizeof(line), "If-None-Match: \"x\", W/\"y\" ,%s\r\n", etag);
    assert_304(get_fresh_with("GET", line), etag);
    snprintf(line, sizeof(line), "If-None-Match: \"x\"\r\nIf-None-Match: %s\r\n", etag);
    assert_304(get_fresh_with("GET", line), etag);
    assert_304(get_fresh_with("GET", "If-None-Match: *\r\n"), etag);

    /* anything else is the full answer */
    static const char *const full[] = {
        "If-None-Match: \"00000000000000000000000000000000\"\r\n", "If-None-Match: *x\r\n",
        "If-None-Match: \r\n",
        "If-None-Match: \"a\"\r\nIf-None-Match: \"b\"\r\nIf-None-Match: \"c\"\r\n"
        "If-None-Match: \"d\"\r\nIf-None-Match: *\r\n", /* more lines than kept */
    };
    for (size_t i = 0; i < sizeof(full) / sizeof(full[0]); i++) {
        s = get_fresh_with("GET", full[i]);
        cr_assert_eq(s->out.status, 200, "%s", full[i]);
        assert_body(s, resp_fresh, sizeof(resp_fresh));
    }
    /* the tag without its quotes, or cut short, is malformed: full answer */
    snprintf(line, sizeof(line), "If-None-Match: %.*s\r\n", (int)strlen(etag) - 2, etag + 1);
    cr_assert_eq(get_fresh_with("GET", line)->out.status, 200);
    snprintf(line, sizeof(line), "If-None-Match: %.*s\r\n", (int)strlen(etag) - 1, etag);
    cr_assert_eq(get_fresh_with("GET", line)->out.status, 200);
}

Test(handler, if_modified_since_304)
{
    char etag[64], line[256];
    etag_value(get_fresh_with("GET", ""), etag);
    /* thisUpdate of resp_fresh is T0 - 3600 = Tue, 14 Nov 2023 21:13:20 GMT */
    static const char *const fresh[] = {
        "If-Modified-Since: Tue, 14 Nov 2023 21:13:20 GMT\r\n",
        "If-Modified-Since: Tue, 14 Nov 2023 22:00:00 GMT\r\n",
        "If-Modified-Since: Tuesday, 14-Nov-23 21:13:20 GMT\r\n", /* RFC 850 */
        "If-Modified-Since: Tue Nov 14 21:13:20 2023\r\n",        /* asctime */
    };
    for (size_t i = 0; i < sizeof(fresh) / sizeof(fresh[0]); i++)
        assert_304(get_fresh_with("GET", fresh[i]), etag);
    static const char *const full[] = {
        "If-Modified-Since: Tue, 14 Nov 2023 21:13:19 GMT\r\n", /* one second before */
        "If-Modified-Since: Tue, 14 Nov 2023 22:13:21 GMT\r\n", /* after now: invalid */
        "If-Modified-Since: yesterday\r\n",
        "If-Modified-Since: Tue, 31 Nov 2023 21:13:20 GMT\r\n",
        "If-Modified-Since: Tue, 14 Nov 2023 21:13:20 GMT\r\n"
        "If-Modified-Since: Tue, 14 Nov 2023 21:13:20 GMT\r\n", /* two: invalid */
        /* If-None-Match takes precedence (RFC 9110 13.2.2) */
        "If-None-Match: \"nope\"\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:00:00 GMT\r\n",
    };
    for (size_t i = 0; i < sizeof(full) / sizeof(full[0]); i++) {
        struct served *s = get_fresh_with("GET", full[i]);
        cr_assert_eq(s->out.status, 200, "%s", full[i]);
        assert_body(s, resp_fresh, sizeof(resp_fresh));
    }
    snprintf(line, sizeof(line),
             "If-None-Match: %s\r\nIf-Modified-Since: Tue, 14 Nov 2023 21:00:00 GMT\r\n", etag);
    assert_304(get_fresh_with("GET", line), etag);
}

Test(handler, conditional_crl_304)
{
    char etag[64], line[256];
    struct served *s = serve_raw("GET /crl/testca.crl HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    etag_value(s, etag);
    snprintf(line, sizeof(line),
             "GET /crl/testca.crl HTTP/1.1\r\nHost: h\r\nIf-None-Match: %s\r\n\r\n", etag);
    uint64_t bytes = h.crl_bytes;
    assert_304(serve_raw(line, NULL, 0), etag);
    cr_assert_eq(h.crl_bytes, bytes);
    /* CRL thisUpdate is T0 - 600 = Tue, 14 Nov 2023 22:03:20 GMT */
    assert_304(serve_raw("GET /crl/testca.crl HTTP/1.1\r\nHost: h\r\n"
                         "If-Modified-Since: Tue, 14 Nov 2023 22:03:20 GMT\r\n\r\n",
                         NULL, 0),
               etag);
    s = serve_raw("GET /crl/testca.crl HTTP/1.1\r\nHost: h\r\n"
                  "If-Modified-Since: Tue, 14 Nov 2023 22:03:19 GMT\r\n\r\n",
                  NULL, 0);
    assert_body(s, crl_der, sizeof(crl_der));
    /* HTTP/1.0 keep-alive survives a 304 too */
    snprintf(line, sizeof(line),
             "GET /crl/testca.crl HTTP/1.0\r\nConnection: keep-alive\r\nIf-None-Match: %s\r\n\r\n",
             etag);
    s = serve_raw(line, NULL, 0);
    assert_304(s, etag);
    cr_assert(has_hdr(s, "\r\nConnection: keep-alive\r\n"));
}

Test(handler, conditionals_only_for_cacheable_answers)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_fresh, sizeof(serial_fresh), 1);
    /* POST: no validators, so no 304 */
    char head[512];
    snprintf(head, sizeof(head),
             "POST / HTTP/1.1\r\nHost: ocsp\r\nContent-Type: application/ocsp-request\r\n"
             "If-None-Match: *\r\nContent-Length: %zu\r\n\r\n",
             n);
    assert_body(serve_raw(head, der, n), resp_fresh, sizeof(resp_fresh));
    /* an OCSP error over GET is not cacheable: never a 304 */
    struct served *s =
        serve_raw("GET /not-base64! HTTP/1.1\r\nHost: h\r\nIf-None-Match: *\r\n\r\n", NULL, 0);
    assert_body(s, err_malformed, sizeof(err_malformed));
    handler_batch_begin(&h, NS(T0 + 86401)); /* past nextUpdate: tryLater, not 304 */
    s = get_fresh_with("GET", "If-None-Match: *\r\n");
    assert_body(s, err_trylater, sizeof(err_trylater));
    s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\nIf-None-Match: *\r\n\r\n", NULL, 0);
    cr_assert_neq(s->out.status, 304);
}

/* --- issue 7 item 7: JSON status API ------------------------------------------------ */

static struct served *api(const char *method, const char *path)
{
    static char head[512];
    snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: h\r\n\r\n", method, path);
    return serve_raw(head, NULL, 0);
}

static void assert_json(const struct served *s, int status, const char *want)
{
    cr_assert_eq(s->out.status, status, "%d:\n%s", s->out.status, s->hdr);
    cr_assert(has_hdr(s, "\r\nContent-Type: application/json\r\n"), "%s", s->hdr);
    cr_assert(has_hdr(s, "\r\nCache-Control: no-store\r\n"), "%s", s->hdr);
    cr_assert_eq(s->out.body_len, strlen(want), "got %.*s", (int)s->out.body_len, s->out.body);
    cr_assert(memcmp(s->out.body, want, strlen(want)) == 0, "got %.*s\nwant %s",
              (int)s->out.body_len, s->out.body, want);
}

Test(handler, status_api_states)
{
    assert_json(api("GET", "/api/v1/status/testca/0A"), 200,
                "{\"issuer\":\"testca\",\"serial\":\"0A\",\"status\":\"good\",\"reason\":null,"
                "\"revocation_time\":null,\"invalidity_date\":null,"
                "\"not_after\":\"2026-01-01T00:00:00Z\",\"source\":\"index\"}\n");
    assert_json(api("GET", "/api/v1/status/testca/80"), 200,
                "{\"issuer\":\"testca\",\"serial\":\"80\",\"status\":\"revoked\","
                "\"reason\":\"keyCompromise\",\"revocation_time\":\"2023-11-14T22:13:19Z\","
                "\"invalidity_date\":\"2023-11-14T19:26:40Z\","
                "\"not_after\":\"2026-01-01T00:00:00Z\",\"source\":\"index\"}\n");
    assert_json(api("GET", "/api/v1/status/testca/010203"), 200,
                "{\"issuer\":\"testca\",\"serial\":\"010203\",\"status\":\"on_hold\","
                "\"reason\":\"certificateHold\",\"revocation_time\":\"2023-11-03T08:26:40Z\","
                "\"invalidity_date\":null,\"not_after\":\"2026-01-01T00:00:00Z\","
                "\"source\":\"revokctl\"}\n");
    /* unspecified (0) is no reason at all, as in OCSP and the CRL */
    assert_json(api("GET", "/api/v1/status/testca/00"), 200,
                "{\"issuer\":\"testca\",\"serial\":\"00\",\"status\":\"revoked\",\"reason\":null,"
                "\"revocation_time\":\"2023-11-03T08:26:40Z\",\"invalidity_date\":null,"
                "\"not_after\":\"2026-01-01T00:00:00Z\",\"source\":\"crl\"}\n");
    cr_assert_eq(count(HTTP_GET, HANDLER_R_META), 4);
}

Test(handler, status_api_serial_normalised)
{
    static const char *const same[] = {"0A", "a", "A", "000a", "0000000000000000000000A"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/status/testca/%s", same[i]);
        struct served *s = api("GET", path);
        cr_assert_eq(s->out.status, 200, "%s", same[i]);
        cr_assert(memmem(s->out.body, s->out.body_len, "\"serial\":\"0A\"", 13), "%s", same[i]);
    }
    /* 0x80 is stored as INTEGER content 00 80: "80" and "0080" name it */
    cr_assert_eq(api("GET", "/api/v1/status/testca/0080")->out.status, 200);
    /* zero in any spelling */
    cr_assert_eq(api("GET", "/api/v1/status/testca/0")->out.status, 200);
    cr_assert_eq(api("GET", "/api/v1/status/testca/0000")->out.status, 200);
    /* a 20-octet serial */
    struct served *s = api("GET", "/api/v1/status/testca/7F00000000000000000000000000000000000000");
    cr_assert_eq(s->out.status, 200);
    cr_assert(memmem(s->out.body, s->out.body_len,
                     "\"serial\":\"7F00000000000000000000000000000000000000\"", 51));
}

Test(handler, status_api_errors)
{
    static const char nf_issuer[] = "{\"error\":\"not found\",\"detail\":\"no such issuer\"}\n";
    static const char nf_cert[] = "{\"error\":\"not found\",\"detail\":\"no such certificate\"}\n";
    assert_json(api("GET", "/api/v1/status/testca/0B"), 404, nf_cert);
    assert_json(api("GET", "/api/v1/status/testca/FFFF"), 404, nf_cert);
    assert_json(api("GET", "/api/v1/status/other/0A"), 404, nf_issuer);
    assert_json(api("GET", "/api/v1/status/testca"), 404, nf_issuer);
    assert_json(api("GET", "/api/v1/status/"), 404, nf_issuer);
    assert_json(api("GET", "/api/v1/status/te%73tca/0A"), 404, nf_issuer);
    assert_json(api("GET", "/api/v1/status/../0A"), 404, nf_issuer);
    static const char *const bad[] = {
        "/api/v1/status/testca/",
        "/api/v1/status/testca/0x0A",
        "/api/v1/status/testca/-0A",
        "/api/v1/status/testca/G1",
        "/api/v1/status/testca/0A/",
        "/api/v1/status/testca/%30A",
        /* 33 octets: more than any stored serial */
        "/api/v1/status/testca/"
        "010000000000000000000000000000000000000000000000000000000000000000",
        /* 32 octets with the top bit set need a 33rd for the sign */
        "/api/v1/status/testca/"
        "8000000000000000000000000000000000000000000000000000000000000000",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct served *s = api("GET", bad[i]);
        cr_assert_eq(s->out.status, 400, "%s: %d", bad[i], s->out.status);
        cr_assert(has_hdr(s, "\r\nContent-Type: application/json\r\n"));
        cr_assert(memmem(s->out.body, s->out.body_len, "\"error\":\"bad request\"", 21));
        cr_assert(!s->out.close);
    }
    /* a query string is ignored, as on every route */
    cr_assert_eq(api("GET", "/api/v1/status/testca/0A?x=1")->out.status, 200);
}

Test(handler, status_api_head_and_switch)
{
    struct served *s = api("GET", "/api/v1/status/testca/0A");
    size_t len = s->out.body_len;
    s = api("HEAD", "/api/v1/status/testca/0A");
    cr_assert_eq(s->out.status, 200);
    cr_assert_eq(s->out.body_len, 0);
    char cl[64];
    snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", len);
    cr_assert(has_hdr(s, cl), "%s", s->hdr);
    cr_assert(has_hdr(s, "\r\nContent-Type: application/json\r\n"));

    handler_set_status_api(&h, false);
    s = api("GET", "/api/v1/status/testca/0A");
    cr_assert_eq(s->out.status, 404);
    cr_assert(!has_hdr(s, "application/json"), "%s", s->hdr);
    cr_assert_eq(api("HEAD", "/api/v1/status/testca/0A")->out.status, 404);
    handler_set_status_api(&h, true);
    cr_assert_eq(api("GET", "/api/v1/status/testca/0A")->out.status, 200);
}

/* --- live signing hooks (docs/signer.md) ---------------------------------------- */

static struct handler_live live_pol;

static void live_on(uint8_t unknown, bool echo, int64_t margin_s)
{
    memset(&live_pol, 0, sizeof(live_pol));
    live_pol.margin_ns = margin_s * 1000000000;
    live_pol.n = 1;
    strcpy(live_pol.iss[0].name, "testca");
    live_pol.iss[0].unknown = unknown;
    live_pol.iss[0].nonce_echo = echo;
    live_pol.any_echo = echo;
    handler_set_live(&h, &live_pol);
}

/* POSTs der and returns handler_serve()'s result, without asserting it. */
static int post_rc(const uint8_t *der, size_t len)
{
    char head[256];
    snprintf(head, sizeof(head),
             "POST / HTTP/1.1\r\nHost: ocsp\r\nContent-Type: application/ocsp-request\r\n"
             "Content-Length: %zu\r\n\r\n",
             len);
    size_t hl = strlen(head);
    memset(&sv, 0, sizeof(sv));
    memcpy(sv.raw, head, hl);
    memcpy(sv.raw + hl, der, len);
    cr_assert_eq(http_req_parse(sv.raw, hl + len, &sv.req), (int)hl);
    sv.out.hdr = sv.hdr;
    sv.out.hdr_cap = HANDLER_HDR_MAX;
    sv.rc = handler_serve(&h, &sv.req, sv.raw + hl, len, &sv.out);
    if (sv.rc == 0)
        sv.hdr[sv.out.hdr_len] = '\0';
    return sv.rc;
}

Test(handler, live_off_keeps_every_answer)
{
    uint8_t der[512];
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_missing, sizeof(serial_missing), 1);
    cr_assert_eq(post_rc(der, n), 0);
    assert_body(&sv, err_unauthorized, sizeof(err_unauthorized));
}

Test(handler, live_miss_of_our_issuer_goes_to_the_signer)
{
    uint8_t der[512];
    live_on(HANDLER_UNKNOWN_LIVE, false, 60);
    size_t n = make_req(der, sizeof(der), EVP_sha256(), serial_missing, sizeof(serial_missing), 1);
    cr_assert_eq(post_rc(der, n), HANDLER_LIVE);
    cr_assert_eq(h.live_req.n, 1);
    cr_assert_eq(h.live_req.nonce_len, 0);
    cr_assert_eq(h.live_req.ids[0].hash, STORE_HASH_SHA256);
    cr_assert_eq(h.live_req.ids[0].serial_len, sizeof(serial_missing));
    cr_assert_arr_eq(h.live_req.ids[0].serial, serial_missing, sizeof(serial_missing));
    uint8_t nh[32], kh[32];
    id_hashes(EVP_sha256(), nh, kh);
    cr_assert_arr_eq(h.live_req.ids[0].name_hash, nh, 32);
    cr_assert_arr_eq(h.live_req.ids[0].key_hash, kh, 32);
    /* not counted until answered */
    cr_assert_eq(count(HTTP_POST, HANDLER_R_UNAUTHORIZED), 0);
    cr_assert_eq(count(HTTP_POST, HANDLER_R_OK), 0);
    /* the fresh pre-signed path is untouched */
    n = make_req(der, sizeof(der), EVP_sha1(), serial_fresh, sizeof(serial_fresh), 1);
    cr_assert_eq(post_rc(der, n), 0);
    assert_body(&sv, resp_fresh, sizeof(resp_fresh));
}

Test(handler, live_unauthorized_policy_still_signs_listed_certificates)
{
    uint8_t der[512];
    static const uint8_t s_good[] = {0x0a}; /* listed in certs, no response stored */
    live_on(HANDLER_UNKNOWN_UNAUTHORIZED, false, 60);
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_missing, sizeof(serial_missing), 1);
    cr_assert_eq(post_rc(der, n), 0);
    assert_body(&sv, err_unauthorized, sizeof(err_unauthorized));
    n = make_req(der, sizeof(der), EVP_sha1(), s_good, sizeof(s_good), 1);
    cr_assert_eq(post_rc(der, n), HANDLER_LIVE);
}

Test(handler, live_stale_and_nearly_expired_are_signed_afresh)
{
    uint8_t der[512];
    live_on(HANDLER_UNKNOWN_LIVE, false, 60);
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_stale, sizeof(serial_stale), 1);
    cr_assert_eq(post_rc(der, n), HANDLER_LIVE);
    cr_assert_eq(h.stale, 0, "never served stale, never counted as such");
    /* serial_soon has 100 s left: served with a 60 s margin, signed with 200 s */
    n = make_req(der, sizeof(der), EVP_sha1(), serial_soon, sizeof(serial_soon), 1);
    cr_assert_eq(post_rc(der, n), 0);
    assert_body(&sv, resp_soon, sizeof(resp_soon));
    live_on(HANDLER_UNKNOWN_LIVE, false, 200);
    cr_assert_eq(post_rc(der, n), HANDLER_LIVE);
}

Test(handler, live_two_certids_are_one_signer_request)
{
    uint8_t der[512];
    live_on(HANDLER_UNKNOWN_LIVE, false, 60);
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_fresh, sizeof(serial_fresh), 2);
    cr_assert_eq(post_rc(der, n), HANDLER_LIVE);
    cr_assert_eq(h.live_req.n, 2);
    cr_assert_arr_eq(h.live_req.ids[1].serial, serial_fresh, sizeof(serial_fresh));
}

Test(handler, live_foreign_issuer_is_never_forwarded)
{
    uint8_t der[512];
    live_on(HANDLER_UNKNOWN_LIVE, false, 60);
    /* another CA: same key bits, another name */
    X509_NAME_free(ca_name);
    ca_name = X509_NAME_new();
    X509_NAME_add_entry_by_txt(ca_name, "CN", MBSTRING_ASC, (const unsigned char *)"Other CA", -1,
                               -1, 0);
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_missing, sizeof(serial_missing), 1);
    cr_assert_eq(post_rc(der, n), 0);
    assert_body(&sv, err_unauthorized, sizeof(err_unauthorized));
    n = make_req(der, sizeof(der), EVP_sha1(), serial_missing, sizeof(serial_missing), 2);
    cr_assert_eq(post_rc(der, n), 0);
    assert_body(&sv, err_unauthorized, sizeof(err_unauthorized));
}

Test(handler, live_answer_formats_and_counts)
{
    uint8_t der[512];
    static const uint8_t signed_der[] = {0x30, 0x03, 0x0a, 0x01, 0x00};
    live_on(HANDLER_UNKNOWN_LIVE, false, 60);
    size_t n = make_req(der, sizeof(der), EVP_sha1(), serial_missing, sizeof(serial_missing), 1);
    cr_assert_eq(post_rc(der, n), HANDLER_LIVE);
    cr_assert_eq(handler_live_answer(&h, &sv.req, 0, signed_der, sizeof(signed_der), &sv.out), 0);
    sv.hdr[sv.out.hdr_len] = '\0';
    assert_body(&sv, signed_der, sizeof(signed_der));
    cr_assert_eq(count(HTTP_POST, HANDLER_R_OK), 1);
    cr_assert_eq(handler_live_answer(&h, &sv.req, OCSP_TRY_LATER, NULL, 0, &sv.out), 0);
    assert_body(&sv, err_trylater, sizeof(err_trylater));
    cr_assert_eq(count(HTTP_POST, HANDLER_R_TRYLATER), 1);
}

Test(handler, live_nonce_echo_policy)
{
    uint8_t der[512];
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    cr_assert_not_null(
        OCSP_request_add0_id(req, make_id(EVP_sha1(), serial_fresh, sizeof(serial_fresh))));
    static const unsigned char nonce[16] = "0123456789abcdef";
    cr_assert_eq(OCSP_request_add1_nonce(req, (unsigned char *)nonce, sizeof(nonce)), 1);
    unsigned char *p = NULL;
    int n = i2d_OCSP_REQUEST(req, &p);
    cr_assert_gt(n, 0);
    memcpy(der, p, (size_t)n);
    OPENSSL_free(p);
    OCSP_REQUEST_free(req);
    /* ignore: the pre-signed answer, nonce or not */
    live_on(HANDLER_UNKNOWN_LIVE, false, 60);
    cr_assert_eq(post_rc(der, (size_t)n), 0);
    assert_body(&sv, resp_fresh, sizeof(resp_fresh));
    /* echo: live, carrying the extnValue contents verbatim (04 10 + the 16 bytes) */
    live_on(HANDLER_UNKNOWN_LIVE, true, 60);
    cr_assert_eq(post_rc(der, (size_t)n), HANDLER_LIVE);
    cr_assert_eq(h.live_req.nonce_len, 18);
    cr_assert_eq(h.live_req.nonce[0], 0x04);
    cr_assert_eq(h.live_req.nonce[1], 16);
    cr_assert_arr_eq(h.live_req.nonce + 2, nonce, sizeof(nonce));
}

Test(handler, live_answer_over_get_is_not_cached)
{
    static const char head[] = "GET /MEIwQDA%2B HTTP/1.1\r\nHost: ocsp\r\n\r\n";
    static const uint8_t signed_der[] = {0x30, 0x03, 0x0a, 0x01, 0x00};
    memset(&sv, 0, sizeof(sv));
    memcpy(sv.raw, head, sizeof(head) - 1);
    cr_assert_eq(http_req_parse(sv.raw, sizeof(head) - 1, &sv.req), (int)sizeof(head) - 1);
    sv.out.hdr = sv.hdr;
    sv.out.hdr_cap = HANDLER_HDR_MAX;
    cr_assert_eq(handler_live_answer(&h, &sv.req, 0, signed_der, sizeof(signed_der), &sv.out), 0);
    sv.hdr[sv.out.hdr_len] = '\0';
    cr_assert(has_hdr(&sv, "Cache-Control: no-store"), "%s", sv.hdr);
    cr_assert_not(strstr((char *)sv.hdr, "ETag"), "%s", sv.hdr);
    assert_body(&sv, signed_der, sizeof(signed_der));
}

/* The indexer's expiry census, as the indexer writes it (docs/operations.md). */
static void write_expiry(struct store_txn *t)
{
    const struct store_issuer_rec *r;
    if (store_get_issuer_by_name(t, "testca", &r, NULL) < 0)
        _exit(1);
    uint32_t id = r->id;
    /* signer within the warning period, CA not, CRL signer (the CA) not */
    struct store_issuer_sync sy = {.signer_not_after = T0 + 5 * 86400,
                                   .ca_not_after = T0 + 400 * 86400};
    struct store_issuer_expiry e = {.computed_at = T0 - 30,
                                    .expired = 4,
                                    .within_7d = 1,
                                    .within_30d = 2,
                                    .within_90d = 3,
                                    .crl_signer_not_after = T0 + 400 * 86400,
                                    .warn_before = 30 * 86400};
    if (store_set_issuer_sync(t, id, &sy) < 0 || store_set_issuer_expiry(t, id, &e) < 0)
        _exit(1);
}

/* Expiry counts go to /metrics per issuer and window; they are not health. */
Test(handler, expiry_metrics_and_not_health)
{
    /* Before the indexer counted: no expiry samples rather than zeros that look true. */
    struct served *s = serve_raw("GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 200);
    const char *b = body_str(s);
    cr_assert_not_null(strstr(b, "# TYPE revokd_certs_expiring gauge\n"), "%s", b);
    cr_assert_null(strstr(b, "revokd_certs_expiring{"), "%s", b);
    cr_assert_null(strstr(b, "revokd_issuer_cert_expiry_warning{"), "%s", b);

    child_write(write_expiry);
    s = serve_raw("GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 200);
    b = body_str(s);
    static const char *const want[] = {
        "\nrevokd_certs_expiring{issuer=\"testca\",within=\"7d\"} 1\n",
        "\nrevokd_certs_expiring{issuer=\"testca\",within=\"30d\"} 2\n",
        "\nrevokd_certs_expiring{issuer=\"testca\",within=\"90d\"} 3\n",
        "\nrevokd_certs_expired{issuer=\"testca\"} 4\n",
        "\nrevokd_certs_expiry_timestamp_seconds{issuer=\"testca\"} 1699999970\n",
        "\nrevokd_issuer_crl_signer_not_after_timestamp_seconds{issuer=\"testca\"} 1734560000\n",
        "\nrevokd_issuer_cert_expiry_warning{issuer=\"testca\",cert=\"signer\"} 1\n",
        "\nrevokd_issuer_cert_expiry_warning{issuer=\"testca\",cert=\"ca\"} 0\n",
        "\nrevokd_issuer_cert_expiry_warning{issuer=\"testca\",cert=\"crl_signer\"} 0\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert_not_null(strstr(b, want[i]), "no %s in:\n%s", want[i], b);

    s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 200, "expiring certificates are not unhealthy: %s", body_str(s));
}

/* main.c's store watch: a store removed or replaced under us is a health problem. */
Test(handler, store_removed_or_replaced_is_reported)
{
    static atomic_int moved = HANDLER_STORE_REPLACED;
    h.store_moved = &moved;
    struct served *s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 503);
    cr_assert_not_null(strstr(body_str(s), "store at [store] path replaced"), "%s", body_str(s));
    s = serve_raw("GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_not_null(strstr(body_str(s), "\nrevokd_store_current 0\n"));
    atomic_store(&moved, HANDLER_STORE_REMOVED);
    s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 503);
    cr_assert_not_null(strstr(body_str(s), "store removed"), "%s", body_str(s));
    atomic_store(&moved, HANDLER_STORE_CURRENT);
    s = serve_raw("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_eq(s->out.status, 200, "%s", body_str(s));
    s = serve_raw("GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    cr_assert_not_null(strstr(body_str(s), "\nrevokd_store_current 1\n"));
    h.store_moved = NULL;
}
