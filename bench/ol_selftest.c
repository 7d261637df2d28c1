/*
 * ol_selftest — checks of ocspload's building blocks that need no server:
 * histogram quantile accuracy, the HTTP response-head parser (split input,
 * malformed heads), base64 and the RFC 5019 path encoding, and the fast OCSP
 * check against responses OpenSSL builds and signs in-process — including
 * every truncation of them, which must be rejected without reading out of
 * bounds (run it under ASan to make that meaningful). Prints failures and
 * exits non-zero if any.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ol_hist.h"
#include "ol_http.h"
#include "ol_ocsp.h"

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static struct ol_hist hist;

static void test_hist(void)
{
    ol_hist_reset(&hist);
    CHECK(ol_hist_quantile(&hist, 0.5) == 0);
    for (uint64_t v = 1; v <= 1000000; v++)
        ol_hist_add(&hist, v * 1000);
    const double qs[] = {0.5, 0.9, 0.99, 0.999};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        double want = qs[i] * 1e9;
        double got = (double)ol_hist_quantile(&hist, qs[i]);
        CHECK(got >= want && got <= want * (1 + 1.0 / 64) + 1);
    }
    CHECK(ol_hist_quantile(&hist, 1.0) == 1000000000ull);
    CHECK(hist.min == 1000);
    /* buckets tile the range with no gaps */
    for (size_t i = 0; i + 1 < OL_HIST_BUCKETS; i++)
        CHECK(ol_hist_bucket_high(i) + 1 == ol_hist_bucket_low(i + 1));
    for (uint64_t v = 1; v < ((uint64_t)1 << 40); v = v * 3 + 1) {
        size_t b = ol_hist_index(v);
        CHECK(ol_hist_bucket_low(b) <= v && v <= ol_hist_bucket_high(b));
    }
    ol_hist_reset(&hist);
    ol_hist_add(&hist, UINT64_MAX / 2);
    CHECK(ol_hist_quantile(&hist, 0.5) == UINT64_MAX / 2);
}

static int parse(const char *s, struct ol_http_resp *r)
{
    size_t scan = 0, len = strlen(s);
    size_t hl = ol_http_head_end((const uint8_t *)s, len, &scan);
    if (hl == 0)
        return -2;
    return ol_http_parse_head((const uint8_t *)s, hl, r);
}

static void test_http(void)
{
    struct ol_http_resp r;
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n"
                "Content-Length: 1234\r\n\r\nBODY",
                &r) == 0);
    CHECK(r.status == 200 && r.content_length == 1234 && r.ctype_ocsp && !r.close);
    CHECK(parse("HTTP/1.0 200 OK\r\nContent-type: application/ocsp-response\r\n"
                "Content-Length: 5\r\n\r\n",
                &r) == 0);
    CHECK(r.minor == 0 && r.close && r.ctype_ocsp);
    CHECK(parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 5\r\n\r\n", &r) == 0);
    CHECK(!r.close && !r.ctype_ocsp);
    CHECK(parse("HTTP/1.1 404 Not Found\r\nConnection: foo, close\r\nContent-Length: 0\r\n\r\n",
                &r) == 0);
    CHECK(r.status == 404 && r.close && r.content_length == 0);
    CHECK(parse("HTTP/1.1 304 Not Modified\r\n\r\n", &r) == 0 && r.content_length == 0);
    CHECK(parse("HTTP/1.1 100 Continue\r\n\r\n", &r) == 0 && r.status == 100);
    CHECK(parse("HTTP/1.1 200\r\nContent-Length: 3\r\n\r\n", &r) == 0);
    /* malformed or unsupported */
    CHECK(parse("HTTP/1.1 200 OK\r\n\r\n", &r) == -1); /* no length */
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &r) == -1);
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", &r) == -1);
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &r) == -1);
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n", &r) == -1);
    CHECK(parse("HTTP/2.0 200 OK\r\nContent-Length: 1\r\n\r\n", &r) == -1);
    CHECK(parse("HTTP/1.1 20 OK\r\nContent-Length: 1\r\n\r\n", &r) == -1);
    CHECK(parse("HTTP/1.1 200 OK\r\nX\r\n\r\n", &r) == -1);
    CHECK(parse("HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n", &r) == -1);
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n", &r) == -1);
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", &r) == -2);

    /* the terminator found across every split of the input */
    const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    size_t full = strlen(h) - 2;
    for (size_t cut = 0; cut <= strlen(h); cut++) {
        size_t scan = 0;
        size_t a = ol_http_head_end((const uint8_t *)h, cut, &scan);
        size_t b = a ? a : ol_http_head_end((const uint8_t *)h, strlen(h), &scan);
        CHECK(b == full);
        CHECK(a == 0 || cut >= full);
    }
}

static void test_codecs(void)
{
    uint8_t in[256], out[256];
    char b64[400], path[1200];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n < 40; n++) {
        size_t e = ol_b64_encode(in, n, b64);
        CHECK(e == 4 * ((n + 2) / 3));
        CHECK(ol_b64_decode(b64, e, out, sizeof(out)) == (long)n);
        CHECK(memcmp(in, out, n) == 0);
    }
    CHECK(ol_b64_decode("a", 1, out, sizeof(out)) == -1);
    CHECK(ol_b64_decode("a*==", 4, out, sizeof(out)) == -1);
    const uint8_t tricky[] = {0xfb, 0xff, 0xbf, 0x01};
    size_t pl = ol_get_path_encode(tricky, sizeof(tricky), path);
    path[pl] = '\0';
    CHECK(strcmp(path, "%2B%2F%2B%2FAQ%3D%3D") == 0);
}

/* ---- OCSP ------------------------------------------------------------------------ */

static EVP_PKEY *key;
static X509 *ca;

static void make_ca(void)
{
    key = EVP_EC_gen("P-256");
    ca = X509_new();
    X509_set_version(ca, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(ca), 1);
    X509_gmtime_adj(X509_getm_notBefore(ca), -3600);
    X509_gmtime_adj(X509_getm_notAfter(ca), 3600);
    X509_NAME *n = X509_get_subject_name(ca);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"selftest CA", -1, -1,
                               0);
    X509_set_issuer_name(ca, n);
    X509_set_pubkey(ca, key);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca, ca, NULL, NULL, 0);
    X509_EXTENSION *ext =
        X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(ca, ext, -1);
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign,digitalSignature");
    X509_add_ext(ca, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(ca, key, EVP_sha256());
}

static OCSP_CERTID *certid(long serial, const EVP_MD *md)
{
    ASN1_INTEGER *s = ASN1_INTEGER_new();
    ASN1_INTEGER_set(s, serial);
    OCSP_CERTID *id =
        OCSP_cert_id_new(md, X509_get_subject_name(ca), X509_get0_pubkey_bitstr(ca), s);
    ASN1_INTEGER_free(s);
    return id;
}

static int request_der(long serial, const EVP_MD *md, unsigned char **der)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    OCSP_request_add0_id(req, certid(serial, md));
    *der = NULL;
    int len = i2d_OCSP_REQUEST(req, der);
    OCSP_REQUEST_free(req);
    return len;
}

/* A signed response for serial with status (V_OCSP_CERTSTATUS_*). */
static int response_der(long serial, const EVP_MD *md, int status, unsigned char **der)
{
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    OCSP_CERTID *id = certid(serial, md);
    ASN1_TIME *now = X509_gmtime_adj(NULL, 0);
    ASN1_TIME *next = X509_gmtime_adj(NULL, 3600);
    ASN1_TIME *rev = X509_gmtime_adj(NULL, -60);
    OCSP_basic_add1_status(bs, id, status, status == V_OCSP_CERTSTATUS_REVOKED ? 1 : -1,
                           status == V_OCSP_CERTSTATUS_REVOKED ? rev : NULL, now, next);
    OCSP_basic_sign(bs, ca, key, EVP_sha256(), NULL, 0);
    OCSP_RESPONSE *resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
    *der = NULL;
    int len = i2d_OCSP_RESPONSE(resp, der);
    OCSP_RESPONSE_free(resp);
    OCSP_BASICRESP_free(bs);
    OCSP_CERTID_free(id);
    ASN1_TIME_free(now);
    ASN1_TIME_free(next);
    ASN1_TIME_free(rev);
    return len;
}

static void test_ocsp(void)
{
    make_ca();
    CHECK(key && ca);
    char path[] = "/tmp/ocspload-selftest-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    PEM_write_X509(f, ca);
    fclose(f);
    char err[256];
    struct ol_verifier *v = ol_verifier_new(path, NULL, err, sizeof(err));
    CHECK(v != NULL);
    unlink(path);

    const EVP_MD *mds[2] = {EVP_sha1(), EVP_sha256()};
    for (int m = 0; m < 2; m++) {
        unsigned char *req = NULL, *other = NULL, *good = NULL, *revoked = NULL;
        int rl = request_der(0x1001, mds[m], &req);
        int ol = request_der(0x1002, mds[m], &other);
        int gl = response_der(0x1001, mds[m], V_OCSP_CERTSTATUS_GOOD, &good);
        int vl = response_der(0x1001, mds[m], V_OCSP_CERTSTATUS_REVOKED, &revoked);
        CHECK(rl > 0 && ol > 0 && gl > 0 && vl > 0);
        struct ol_certid id, oid;
        CHECK(ol_request_certid(req, (size_t)rl, &id) == 0);
        CHECK(ol_request_certid(other, (size_t)ol, &oid) == 0);
        const enum ol_unknown_policy P = OL_UNKNOWN_UNAUTHORIZED;

        CHECK(ol_fast_check(good, (size_t)gl, req, &id, OL_EXPECT_GOOD, P) == OL_FAST_OK);
        CHECK(ol_fast_check(good, (size_t)gl, req, &id, OL_EXPECT_REVOKED, P) ==
              OL_FAST_WRONG_STATUS);
        CHECK(ol_fast_check(revoked, (size_t)vl, req, &id, OL_EXPECT_REVOKED, P) == OL_FAST_OK);
        CHECK(ol_fast_check(good, (size_t)gl, other, &oid, OL_EXPECT_GOOD, P) == OL_FAST_NO_MATCH);
        CHECK(ol_fast_check(good, (size_t)gl, req, &id, OL_EXPECT_UNKNOWN, P) ==
              OL_FAST_WRONG_RESPONSE);
        const uint8_t unauth[] = {0x30, 0x03, 0x0a, 0x01, 0x06};
        CHECK(ol_fast_check(unauth, 5, req, &id, OL_EXPECT_UNKNOWN, P) == OL_FAST_OK);
        CHECK(ol_fast_check(unauth, 5, req, &id, OL_EXPECT_GOOD, P) == OL_FAST_WRONG_RESPONSE);
        CHECK(ol_fast_check(unauth, 5, req, &id, OL_EXPECT_UNKNOWN, OL_UNKNOWN_CERTSTATUS) ==
              OL_FAST_WRONG_RESPONSE);
        for (int cut = 0; cut < gl; cut++) {
            /* a heap copy of exactly cut bytes, so ASan sees any overread */
            uint8_t *t = malloc((size_t)cut + 1);
            memcpy(t, good, (size_t)cut);
            CHECK(ol_fast_check(t, (size_t)cut, req, &id, OL_EXPECT_GOOD, P) != OL_FAST_OK);
            free(t);
        }
        for (int cut = 0; cut < rl; cut++) {
            uint8_t *t = malloc((size_t)cut + 1);
            memcpy(t, req, (size_t)cut);
            struct ol_certid x;
            CHECK(ol_request_certid(t, (size_t)cut, &x) != 0);
            free(t);
        }

        char why[300];
        CHECK(ol_verify(v, good, (size_t)gl, req, (size_t)rl, OL_EXPECT_GOOD, P, why,
                        sizeof(why)) == 0);
        CHECK(ol_verify(v, revoked, (size_t)vl, req, (size_t)rl, OL_EXPECT_GOOD, P, why,
                        sizeof(why)) == -1);
        CHECK(strstr(why, "certStatus revoked") != NULL);
        CHECK(ol_verify(v, revoked, (size_t)vl, req, (size_t)rl, OL_EXPECT_REVOKED, P, why,
                        sizeof(why)) == 0);
        CHECK(ol_verify(v, unauth, 5, req, (size_t)rl, OL_EXPECT_UNKNOWN, P, why, sizeof(why)) ==
              0);
        CHECK(ol_verify(v, good, (size_t)gl, other, (size_t)ol, OL_EXPECT_GOOD, P, why,
                        sizeof(why)) == -1);
        /* a flipped signature byte must fail verification but not the fast check */
        good[gl - 5] ^= 1;
        CHECK(ol_fast_check(good, (size_t)gl, req, &id, OL_EXPECT_GOOD, P) == OL_FAST_OK);
        CHECK(ol_verify(v, good, (size_t)gl, req, (size_t)rl, OL_EXPECT_GOOD, P, why,
                        sizeof(why)) == -1);
        OPENSSL_free(req);
        OPENSSL_free(other);
        OPENSSL_free(good);
        OPENSSL_free(revoked);
    }
    ol_verifier_free(v);
    X509_free(ca);
    EVP_PKEY_free(key);
}

int main(void)
{
    test_hist();
    test_http();
    test_codecs();
    test_ocsp();
    if (failures) {
        fprintf(stderr, "ocspload-selftest: %d failures\n", failures);
        return 1;
    }
    printf("ocspload-selftest: ok\n");
    return 0;
}
