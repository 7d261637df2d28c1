/*
 * Tests for common/ocsp. Requests are built with OpenSSL's own OCSP API (an
 * independent encoder) and then mutated: every truncation, wrong tags, BER
 * lengths, trailing bytes. Responses we build are parsed and verified by
 * OpenSSL's OCSP code, which is what `openssl ocsp` and many clients run.
 */
#include <criterion/criterion.h>
#include <sys/stat.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ocsp.h"
#include "sign.h"

/* Builds a DER OCSPRequest for `ncerts` CertIDs with serials 0x1001.. via OpenSSL. */
static size_t make_req(const EVP_MD *md, int ncerts, int nonce, uint8_t *out, size_t cap)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    X509_NAME *name = X509_NAME_new();
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"Test CA", -1, -1,
                               0);
    ASN1_BIT_STRING *key = ASN1_BIT_STRING_new();
    ASN1_BIT_STRING_set(key, (unsigned char *)"0123456789abcdef", 16);
    for (int i = 0; i < ncerts; i++) {
        ASN1_INTEGER *serial = ASN1_INTEGER_new();
        ASN1_INTEGER_set(serial, 0x1001 + i);
        OCSP_CERTID *id = OCSP_cert_id_new(md, name, key, serial);
        cr_assert_not_null(OCSP_request_add0_id(req, id));
        ASN1_INTEGER_free(serial);
    }
    if (nonce)
        OCSP_request_add1_nonce(req, NULL, 16);
    int n = i2d_OCSP_REQUEST(req, NULL);
    cr_assert(n > 0 && (size_t)n <= cap);
    unsigned char *p = out;
    i2d_OCSP_REQUEST(req, &p);
    OCSP_REQUEST_free(req);
    X509_NAME_free(name);
    ASN1_BIT_STRING_free(key);
    return (size_t)n;
}

Test(ocsp_req, parses_sha1_request)
{
    uint8_t buf[512];
    size_t n = make_req(EVP_sha1(), 1, 0, buf, sizeof(buf));
    struct ocsp_req r;
    cr_assert_eq(ocsp_req_parse(buf, n, &r), 0);
    cr_assert_eq(r.id.hash, STORE_HASH_SHA1);
    cr_assert_eq(r.id.hash_len, 20);
    cr_assert_eq(r.n_certs, 1);
    cr_assert_eq(r.id.serial_len, 2);
    cr_assert_eq(r.id.serial[0], 0x10);
    cr_assert_eq(r.id.serial[1], 0x01);
    cr_assert_null(r.nonce);
    /* Pointers are into the caller's buffer: nothing copied. */
    cr_assert(r.id.serial > buf && r.id.serial < buf + n);
}

Test(ocsp_req, parses_sha256_request_with_nonce)
{
    uint8_t buf[512];
    size_t n = make_req(EVP_sha256(), 1, 1, buf, sizeof(buf));
    struct ocsp_req r;
    cr_assert_eq(ocsp_req_parse(buf, n, &r), 0);
    cr_assert_eq(r.id.hash, STORE_HASH_SHA256);
    cr_assert_eq(r.id.hash_len, 32);
    cr_assert_not_null(r.nonce);
    cr_assert_eq(r.nonce_len, 18); /* OCTET STRING { 16 random bytes } */
}

Test(ocsp_req, unserved_hash_is_not_malformed)
{
    uint8_t buf[512];
    size_t n = make_req(EVP_sha384(), 1, 0, buf, sizeof(buf));
    struct ocsp_req r;
    cr_assert_eq(ocsp_req_parse(buf, n, &r), 0);
    cr_assert_eq(r.id.hash, 0);
    cr_assert_eq(r.id.hash_len, 48);
}

Test(ocsp_req, counts_multiple_certids)
{
    uint8_t buf[1024];
    size_t n = make_req(EVP_sha1(), 3, 0, buf, sizeof(buf));
    struct ocsp_req r;
    cr_assert_eq(ocsp_req_parse(buf, n, &r), 0);
    cr_assert_eq(r.n_certs, 3);
    cr_assert_eq(r.id.serial[1], 0x01); /* the first one is kept */
}

Test(ocsp_req, every_truncation_is_malformed)
{
    uint8_t buf[512];
    for (int nonce = 0; nonce <= 1; nonce++) {
        size_t n = make_req(nonce ? EVP_sha256() : EVP_sha1(), 1, nonce, buf, sizeof(buf));
        for (size_t k = 0; k < n; k++) {
            struct ocsp_req r;
            cr_assert_eq(ocsp_req_parse(buf, k, &r), -EBADMSG, "prefix of %zu/%zu accepted", k, n);
        }
    }
}

Test(ocsp_req, trailing_garbage_is_malformed)
{
    uint8_t buf[512];
    size_t n = make_req(EVP_sha1(), 1, 0, buf, sizeof(buf));
    buf[n] = 0x00;
    struct ocsp_req r;
    cr_assert_eq(ocsp_req_parse(buf, n + 1, &r), -EBADMSG);
}

Test(ocsp_req, inner_trailing_bytes_are_malformed)
{
    /* Grow the outer SEQUENCE by one byte that sits after the TBSRequest. */
    uint8_t buf[512];
    size_t n = make_req(EVP_sha1(), 1, 0, buf, sizeof(buf));
    cr_assert(buf[1] < 0x7f);
    buf[1]++;
    buf[n] = 0x05;
    struct ocsp_req r;
    cr_assert_eq(ocsp_req_parse(buf, n + 1, &r), -EBADMSG);
}

Test(ocsp_req, wrong_tags_are_malformed)
{
    uint8_t buf[512];
    size_t n = make_req(EVP_sha1(), 1, 0, buf, sizeof(buf));
    struct ocsp_req r;
    /* Every constructed SEQUENCE turned into a SET must be refused. */
    int seen = 0;
    for (size_t k = 0; k < n; k++) {
        if (buf[k] != DER_SEQUENCE)
            continue;
        uint8_t copy[512];
        memcpy(copy, buf, n);
        copy[k] = DER_SET;
        struct ocsp_req tmp;
        if (ocsp_req_parse(buf, n, &tmp) == 0 && ocsp_req_parse(copy, n, &r) == 0) {
            /* A 0x30 byte inside a hash is data, not a tag: that may still parse. */
            cr_assert(k > 20, "SET at structural offset %zu accepted", k);
        } else {
            seen++;
        }
    }
    cr_assert(seen >= 5);
    /* The serial INTEGER retagged as OCTET STRING. */
    uint8_t copy[512];
    memcpy(copy, buf, n);
    cr_assert_eq(copy[n - 4], DER_INTEGER);
    copy[n - 4] = DER_OCTET_STRING;
    cr_assert_eq(ocsp_req_parse(copy, n, &r), -EBADMSG);
}

Test(ocsp_req, indefinite_and_overlong_lengths_are_malformed)
{
    uint8_t buf[512], ber[520];
    size_t n = make_req(EVP_sha1(), 1, 0, buf, sizeof(buf));
    struct ocsp_req r;
    /* Outer length in long form although it fits in one byte (BER, not DER). */
    ber[0] = buf[0];
    ber[1] = 0x81;
    memcpy(ber + 2, buf + 1, n - 1);
    cr_assert_eq(ocsp_req_parse(ber, n + 1, &r), -EBADMSG);
    /* Indefinite outer length with end-of-contents. */
    ber[0] = 0x30;
    ber[1] = 0x80;
    memcpy(ber + 2, buf + 2, n - 2);
    ber[n] = 0;
    ber[n + 1] = 0;
    cr_assert_eq(ocsp_req_parse(ber, n + 2, &r), -EBADMSG);
    /* A length larger than the buffer. */
    memcpy(ber, buf, n);
    ber[1] = 0x7f;
    cr_assert_eq(ocsp_req_parse(ber, n, &r), -EBADMSG);
}

/* A request built by hand with our writer: one CertID with the given algorithm and hash sizes. */
static size_t make_raw_req(const uint8_t *oid, size_t oid_len, size_t name_len, size_t key_len,
                           uint8_t *out, size_t cap)
{
    static const uint8_t h[64] = {0};
    static const uint8_t serial[] = {0x10, 0x01};
    struct derw w;
    derw_init_fixed(&w, out, cap);
    derw_open(&w, DER_SEQUENCE);
    derw_open(&w, DER_SEQUENCE);
    derw_open(&w, DER_SEQUENCE);
    derw_open(&w, DER_SEQUENCE);
    derw_open(&w, DER_SEQUENCE);
    derw_open(&w, DER_SEQUENCE);
    derw_oid(&w, oid, oid_len);
    derw_null(&w);
    derw_close(&w);
    derw_tlv(&w, DER_OCTET_STRING, h, name_len);
    derw_tlv(&w, DER_OCTET_STRING, h, key_len);
    derw_integer_raw(&w, serial, sizeof(serial));
    for (int i = 0; i < 5; i++)
        derw_close(&w);
    cr_assert_eq(w.err, 0);
    return w.len;
}

Test(ocsp_req, hash_length_must_match_algorithm)
{
    uint8_t buf[256];
    struct ocsp_req r;
    size_t n = make_raw_req(OID_SHA256, sizeof(OID_SHA256), 32, 32, buf, sizeof(buf));
    cr_assert_eq(ocsp_req_parse(buf, n, &r), 0, "hand-built baseline must parse");
    n = make_raw_req(OID_SHA256, sizeof(OID_SHA256), 20, 20, buf, sizeof(buf));
    cr_assert_eq(ocsp_req_parse(buf, n, &r), -EBADMSG);
    n = make_raw_req(OID_SHA1, sizeof(OID_SHA1), 20, 19, buf, sizeof(buf));
    cr_assert_eq(ocsp_req_parse(buf, n, &r), -EBADMSG);
    n = make_raw_req(OID_SHA1, sizeof(OID_SHA1), 0, 0, buf, sizeof(buf));
    cr_assert_eq(ocsp_req_parse(buf, n, &r), -EBADMSG);
    /* An algorithm we do not serve is answered (unauthorized), not called malformed. */
    static const uint8_t oid_sha512[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03};
    n = make_raw_req(oid_sha512, sizeof(oid_sha512), 64, 64, buf, sizeof(buf));
    cr_assert_eq(ocsp_req_parse(buf, n, &r), 0);
    cr_assert_eq(r.id.hash, 0);
}

/* Found by fuzz_ocsp_req_diff: OIDs OpenSSL refuses (X.690 8.19.2) were accepted. */
Test(ocsp_req, malformed_oid_is_malformed)
{
    uint8_t buf[256];
    struct ocsp_req r;
    /* SHA-256 with the last octet's continuation bit set: the subidentifier never ends. */
    static const uint8_t open_end[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0xa7};
    /* A subidentifier padded with a leading 0x80 octet. */
    static const uint8_t padded[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x80, 0x02, 0x01};
    static const uint8_t padded_first[] = {0x80, 0x2b, 0x0e, 0x03, 0x02, 0x1a};
    size_t n = make_raw_req(open_end, sizeof(open_end), 64, 64, buf, sizeof(buf));
    cr_assert_eq(ocsp_req_parse(buf, n, &r), -EBADMSG);
    n = make_raw_req(padded, sizeof(padded), 64, 64, buf, sizeof(buf));
    cr_assert_eq(ocsp_req_parse(buf, n, &r), -EBADMSG);
    n = make_raw_req(padded_first, sizeof(padded_first), 20, 20, buf, sizeof(buf));
    cr_assert_eq(ocsp_req_parse(buf, n, &r), -EBADMSG);
    /* A well-formed multi-octet subidentifier is fine (0x80 inside one, not leading). */
    static const uint8_t inner_80[] = {0x2b, 0x81, 0x80, 0x01};
    n = make_raw_req(inner_80, sizeof(inner_80), 64, 64, buf, sizeof(buf));
    cr_assert_eq(ocsp_req_parse(buf, n, &r), 0);
    cr_assert_eq(r.id.hash, 0);
}

Test(ocsp_req, non_minimal_serial_is_malformed)
{
    uint8_t buf[512];
    size_t n = make_req(EVP_sha1(), 1, 0, buf, sizeof(buf));
    /* Serial 02 02 10 01 -> 02 02 00 10 (a zero-padded positive integer). */
    cr_assert_eq(buf[n - 4], 0x02);
    buf[n - 2] = 0x00;
    buf[n - 1] = 0x10;
    struct ocsp_req r;
    cr_assert_eq(ocsp_req_parse(buf, n, &r), -EBADMSG);
}

Test(ocsp_req, single_byte_mutations_never_crash)
{
    uint8_t buf[512], m[512];
    size_t n = make_req(EVP_sha256(), 2, 1, buf, sizeof(buf));
    static const uint8_t vals[] = {0x00, 0x01, 0x30, 0x7f, 0x80, 0x81, 0x82, 0x84, 0xff};
    for (size_t k = 0; k < n; k++) {
        for (size_t v = 0; v < sizeof(vals); v++) {
            memcpy(m, buf, n);
            m[k] = vals[v];
            struct ocsp_req r;
            int rc = ocsp_req_parse(m, n, &r);
            cr_assert(rc == 0 || rc == -EBADMSG);
            if (rc == 0) {
                cr_assert(r.id.serial >= m && r.id.serial + r.id.serial_len <= m + n);
                cr_assert(r.id.name_hash >= m && r.id.name_hash + r.id.hash_len <= m + n);
            }
        }
    }
}

Test(ocsp_req, oversized_request_is_malformed)
{
    static uint8_t big[OCSP_REQ_MAX + 1];
    struct ocsp_req r;
    cr_assert_eq(ocsp_req_parse(big, sizeof(big), &r), -EBADMSG);
    cr_assert_eq(ocsp_req_parse(big, 0, &r), -EBADMSG);
}

/*
 * A SHA-1 request for serial 0x1001 whose nonce value is `len` bytes, built by
 * OpenSSL: OCSP_request_add1_nonce() wraps the value in an OCTET STRING inside
 * extnValue (RFC 8954), as `openssl ocsp` sends it. It cannot make an empty
 * value (len 0 means its default of 16), so for `len` 0 the extension is made
 * with X509_EXTENSION_create_by_NID() around the DER of an empty OCTET STRING.
 * raw: the value goes into extnValue unwrapped, as some older clients send it.
 */
static size_t make_nonce_req(int len, bool raw, uint8_t *out, size_t cap)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    X509_NAME *name = X509_NAME_new();
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"Test CA", -1, -1,
                               0);
    ASN1_BIT_STRING *key = ASN1_BIT_STRING_new();
    ASN1_BIT_STRING_set(key, (unsigned char *)"0123456789abcdef", 16);
    ASN1_INTEGER *serial = ASN1_INTEGER_new();
    ASN1_INTEGER_set(serial, 0x1001);
    cr_assert_not_null(OCSP_request_add0_id(req, OCSP_cert_id_new(EVP_sha1(), name, key, serial)));
    unsigned char val[256];
    memset(val, 0x5a, sizeof(val));
    cr_assert((size_t)len <= sizeof(val));
    if (raw || len == 0) {
        /* extnValue contents as given: the raw value, or the empty OCTET STRING 04 00. */
        static const unsigned char empty_os[] = {0x04, 0x00};
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        cr_assert(raw ? ASN1_OCTET_STRING_set(os, val, len)
                      : ASN1_OCTET_STRING_set(os, empty_os, sizeof(empty_os)));
        X509_EXTENSION *ext = X509_EXTENSION_create_by_NID(NULL, NID_id_pkix_OCSP_Nonce, 0, os);
        cr_assert_not_null(ext);
        cr_assert(OCSP_REQUEST_add_ext(req, ext, -1));
        X509_EXTENSION_free(ext);
        ASN1_OCTET_STRING_free(os);
    } else {
        cr_assert(OCSP_request_add1_nonce(req, val, len));
    }
    int n = i2d_OCSP_REQUEST(req, NULL);
    cr_assert(n > 0 && (size_t)n <= cap);
    unsigned char *p = out;
    i2d_OCSP_REQUEST(req, &p);
    OCSP_REQUEST_free(req);
    ASN1_INTEGER_free(serial);
    X509_NAME_free(name);
    ASN1_BIT_STRING_free(key);
    return (size_t)n;
}

/* RFC 9654 2.1: a nonce value of 1..128 octets is answered; 0 or over 128 is malformedRequest. */
Test(ocsp_req, nonce_length_bounds)
{
    static const struct {
        int len;
        bool raw;
        int want;
    } cases[] = {
        {0, false, -EBADMSG},
        {1, false, 0},
        {16, false, 0},
        {32, false, 0},
        {128, false, 0},
        {129, false, -EBADMSG},
        {200, false, -EBADMSG},
        /* Unwrapped values are measured whole. */
        {0, true, -EBADMSG},
        {1, true, 0},
        {128, true, 0},
        {129, true, -EBADMSG},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t buf[1024];
        size_t n = make_nonce_req(cases[i].len, cases[i].raw, buf, sizeof(buf));
        /* OpenSSL reads back the nonce we meant (an independent decoder agrees on the shape). */
        const unsigned char *q = buf;
        OCSP_REQUEST *oreq = d2i_OCSP_REQUEST(NULL, &q, (long)n);
        cr_assert_not_null(oreq);
        int at = OCSP_REQUEST_get_ext_by_NID(oreq, NID_id_pkix_OCSP_Nonce, -1);
        cr_assert_geq(at, 0);
        const ASN1_OCTET_STRING *ev = X509_EXTENSION_get_data(OCSP_REQUEST_get_ext(oreq, at));
        int outer = ASN1_STRING_length(ev);
        cr_assert_eq(outer,
                     cases[i].raw ? cases[i].len : cases[i].len + (cases[i].len < 128 ? 2 : 3));
        OCSP_REQUEST_free(oreq);

        struct ocsp_req r;
        int rc = ocsp_req_parse(buf, n, &r);
        cr_assert_eq(rc, cases[i].want, "nonce of %d octets (%s): rc %d, want %d", cases[i].len,
                     cases[i].raw ? "raw" : "wrapped", rc, cases[i].want);
        if (rc == 0) {
            /* The span stays the whole extnValue contents, as a live signer would echo it. */
            cr_assert_not_null(r.nonce);
            cr_assert_eq(r.nonce_len, (size_t)outer);
            cr_assert(r.nonce > buf && r.nonce + r.nonce_len <= buf + n);
        }
    }
}

/* Only the nonce is bounded: other extensions with empty values are untouched. */
Test(ocsp_req, nonce_rule_is_nonce_only)
{
    uint8_t buf[512];
    size_t n = make_nonce_req(1, false, buf, sizeof(buf));
    struct ocsp_req r;
    cr_assert_eq(ocsp_req_parse(buf, n, &r), 0);
    /* The 1-byte nonce is the last 3 bytes (04 01 5a); 0x5a -> a 2-byte outer value that is not
     * an OCTET STRING: raw, measured whole (2 octets), still accepted. */
    cr_assert_eq(buf[n - 3], 0x04);
    cr_assert_eq(buf[n - 2], 0x01);
    buf[n - 3] = 0x05; /* NULL tag: not an OCTET STRING, so raw, 3 bytes long */
    cr_assert_eq(ocsp_req_parse(buf, n, &r), 0);
    cr_assert_eq(r.nonce_len, 3);
}

Test(ocsp_resp, error_responses)
{
    size_t n;
    const uint8_t *p = ocsp_error_response(OCSP_UNAUTHORIZED, &n);
    static const uint8_t want[] = {0x30, 0x03, 0x0a, 0x01, 0x06};
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(p, want, 5), 0);
    const unsigned char *q = ocsp_error_response(OCSP_MALFORMED_REQUEST, &n);
    OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &q, (long)n);
    cr_assert_not_null(r);
    cr_assert_eq(OCSP_response_status(r), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
    OCSP_RESPONSE_free(r);
}

/* A self-signed CA with key type `kt` written to dir; returns the paths. */
static void make_ca(const char *kt, char *cert_path, char *key_path)
{
    EVP_PKEY *k = strcmp(kt, "rsa") == 0       ? EVP_RSA_gen(2048)
                  : strcmp(kt, "ed25519") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
                  : strcmp(kt, "p384") == 0    ? EVP_EC_gen("P-384")
                  : strcmp(kt, "p521") == 0    ? EVP_EC_gen("P-521")
                                               : EVP_EC_gen("P-256");
    cr_assert_not_null(k);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"ocsp test CA", -1, -1,
                               0);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    cr_assert(X509_sign(x, k, strcmp(kt, "ed25519") == 0 ? NULL : EVP_sha256()) > 0);
    char dir[] = "/tmp/revokd-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    sprintf(cert_path, "%s/ca.pem", dir);
    sprintf(key_path, "%s/ca.key", dir);
    FILE *f = fopen(cert_path, "w");
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key_path, "w");
    fchmod(fileno(f), 0600); /* signer_load refuses a key others may read */
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void check_built_response(const char *kt, enum store_hash hash, enum store_status st,
                                 uint8_t reason)
{
    char cert_path[256], key_path[256];
    make_ca(kt, cert_path, key_path);
    struct signer sg;
    cr_assert_eq(signer_load(&sg, cert_path, key_path, "sha256"), 0);
    struct ocsp_issuer_hashes ih;
    cr_assert_eq(ocsp_issuer_hashes(sg.cert_der, sg.cert_len, &ih), 0);

    static const uint8_t serial[] = {0x00, 0x9a, 0xbc};
    struct ocsp_single s = {
        .hash = hash,
        .name_hash = hash == STORE_HASH_SHA1 ? ih.name_sha1 : ih.name_sha256,
        .key_hash = hash == STORE_HASH_SHA1 ? ih.key_sha1 : ih.key_sha256,
        .serial = serial,
        .serial_len = sizeof(serial),
        .status = st,
        .revoked_at = 1700000000,
        .reason = reason,
        .this_update = 1800000000,
        .next_update = 1800345600,
    };
    struct derw w;
    cr_assert_eq(derw_init_alloc(&w, 256), 0);
    cr_assert_eq(ocsp_resp_build(&w, &s, 1800003600, &sg), 0);

    const unsigned char *p = w.buf;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)w.len);
    cr_assert_not_null(resp);
    cr_assert_eq((size_t)(p - w.buf), w.len, "trailing bytes after OCSPResponse");
    cr_assert_eq(OCSP_response_status(resp), OCSP_RESPONSE_STATUS_SUCCESSFUL);
    OCSP_BASICRESP *bs = OCSP_response_get1_basic(resp);
    cr_assert_not_null(bs);

    /* Signature and signer: verified by OpenSSL against the CA as trust anchor. */
    const unsigned char *cp = sg.cert_der;
    X509 *ca = d2i_X509(NULL, &cp, (long)sg.cert_len);
    X509_STORE *xs = X509_STORE_new();
    X509_STORE_add_cert(xs, ca);
    cr_assert_eq(OCSP_basic_verify(bs, NULL, xs, 0), 1, "OpenSSL rejects our signature (%s)", kt);
    /* The signer's certificate travels in `certs` (GnuTLS needs it). */
    cr_assert_eq(sk_X509_num(OCSP_resp_get0_certs(bs)), 1);

    /* The CertID must be found by OpenSSL's own CertID for that hash. */
    ASN1_INTEGER *sn = ASN1_INTEGER_new();
    ASN1_INTEGER_set(sn, 0x9abc);
    OCSP_CERTID *id = OCSP_cert_id_new(hash == STORE_HASH_SHA1 ? EVP_sha1() : EVP_sha256(),
                                       X509_get_subject_name(ca), X509_get0_pubkey_bitstr(ca), sn);
    int status, rsn;
    ASN1_GENERALIZEDTIME *rev, *thisu, *nextu;
    cr_assert_eq(OCSP_resp_find_status(bs, id, &status, &rsn, &rev, &thisu, &nextu), 1);
    int want = st == STORE_GOOD ? V_OCSP_CERTSTATUS_GOOD : V_OCSP_CERTSTATUS_REVOKED;
    cr_assert_eq(status, want);
    if (st == STORE_HOLD)
        cr_assert_eq(rsn, OCSP_REVOKED_STATUS_CERTIFICATEHOLD);
    else if (st == STORE_REVOKED)
        cr_assert_eq(rsn, reason == STORE_REASON_NONE || reason == 0 ? -1 : reason);
    cr_assert_eq(OCSP_check_validity(thisu, nextu, 0, -1), 0, "validity in the past accepted?");
    int day, sec;
    ASN1_TIME_diff(&day, &sec, thisu, nextu);
    cr_assert_eq(day, 4);
    cr_assert_eq(sec, 0);

    OCSP_CERTID_free(id);
    ASN1_INTEGER_free(sn);
    X509_STORE_free(xs);
    X509_free(ca);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    derw_free(&w);
    signer_free(&sg);
}

Test(ocsp_resp, good_sha1_ec)
{
    check_built_response("ec", STORE_HASH_SHA1, STORE_GOOD, STORE_REASON_NONE);
}

Test(ocsp_resp, revoked_sha256_rsa_with_reason)
{
    check_built_response("rsa", STORE_HASH_SHA256, STORE_REVOKED, 1);
}

Test(ocsp_resp, revoked_without_reason)
{
    check_built_response("ec", STORE_HASH_SHA1, STORE_REVOKED, STORE_REASON_NONE);
}

Test(ocsp_resp, hold_is_revoked_certificate_hold)
{
    check_built_response("ec", STORE_HASH_SHA256, STORE_HOLD, STORE_REASON_NONE);
}

Test(ocsp_resp, ed25519_signer)
{
    check_built_response("ed25519", STORE_HASH_SHA1, STORE_GOOD, STORE_REASON_NONE);
}

/*
 * Builds one response for (status, reason) and decodes it with OpenSSL's
 * OCSP_single_get0_status(): returns the rc of ocsp_resp_build(), and on 0 the
 * status and reason (-1 = no revocationReason) a client sees.
 */
static int built_status(const struct signer *sg, const struct ocsp_issuer_hashes *ih,
                        enum store_status st, uint8_t reason, int *status, int *rsn)
{
    static const uint8_t serial[] = {0x42};
    struct ocsp_single s = {
        .hash = STORE_HASH_SHA256,
        .name_hash = ih->name_sha256,
        .key_hash = ih->key_sha256,
        .serial = serial,
        .serial_len = sizeof(serial),
        .status = st,
        .revoked_at = 1700000000,
        .reason = reason,
        .this_update = 1700000000,
        .next_update = 1700345600,
    };
    struct derw w;
    cr_assert_eq(derw_init_alloc(&w, 256), 0);
    int rc = ocsp_resp_build(&w, &s, 1700000000, sg);
    if (rc == 0) {
        const unsigned char *p = w.buf;
        OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)w.len);
        cr_assert_not_null(resp);
        OCSP_BASICRESP *bs = OCSP_response_get1_basic(resp);
        cr_assert_not_null(bs);
        cr_assert_eq(OCSP_resp_count(bs), 1);
        ASN1_GENERALIZEDTIME *rev = NULL, *tu = NULL, *nu = NULL;
        *rsn = -1;
        *status = OCSP_single_get0_status(OCSP_resp_get0(bs, 0), rsn, &rev, &tu, &nu);
        OCSP_BASICRESP_free(bs);
        OCSP_RESPONSE_free(resp);
    }
    derw_free(&w);
    return rc;
}

/*
 * Every revocation `openssl ca` can write, as the indexer stores it (cadb maps the
 * words; keyTime/CAkeyTime are keyCompromise/cACompromise with a date; removeFromCRL
 * is a released hold, stored good), and what a client must read: the same reasons
 * crlgen writes as reasonCode. unspecified and no reason are expressed by omission.
 */
Test(ocsp_resp, reasons_as_openssl_ca_writes_them)
{
    static const struct {
        const char *word; /* index.txt reason */
        enum store_status st;
        uint8_t stored;
        int want_status, want_reason;
    } cases[] = {
        {"(no reason)", STORE_REVOKED, STORE_REASON_NONE, V_OCSP_CERTSTATUS_REVOKED, -1},
        {"unspecified", STORE_REVOKED, 0, V_OCSP_CERTSTATUS_REVOKED, -1},
        {"keyCompromise", STORE_REVOKED, 1, V_OCSP_CERTSTATUS_REVOKED, 1},
        {"CACompromise", STORE_REVOKED, 2, V_OCSP_CERTSTATUS_REVOKED, 2},
        {"affiliationChanged", STORE_REVOKED, 3, V_OCSP_CERTSTATUS_REVOKED, 3},
        {"superseded", STORE_REVOKED, 4, V_OCSP_CERTSTATUS_REVOKED, 4},
        {"cessationOfOperation", STORE_REVOKED, 5, V_OCSP_CERTSTATUS_REVOKED, 5},
        {"certificateHold", STORE_HOLD, 6, V_OCSP_CERTSTATUS_REVOKED, 6},
        {"holdInstruction,OID", STORE_HOLD, 6, V_OCSP_CERTSTATUS_REVOKED, 6},
        {"on hold, no reason byte", STORE_HOLD, STORE_REASON_NONE, V_OCSP_CERTSTATUS_REVOKED, 6},
        {"removeFromCRL", STORE_GOOD, STORE_REASON_NONE, V_OCSP_CERTSTATUS_GOOD, -1},
        {"keyTime,TIME", STORE_REVOKED, 1, V_OCSP_CERTSTATUS_REVOKED, 1},
        {"CAkeyTime,TIME", STORE_REVOKED, 2, V_OCSP_CERTSTATUS_REVOKED, 2},
        {"privilegeWithdrawn", STORE_REVOKED, 9, V_OCSP_CERTSTATUS_REVOKED, 9},
        {"AACompromise", STORE_REVOKED, 10, V_OCSP_CERTSTATUS_REVOKED, 10},
        /* A store written before removeFromCRL meant "released": never sent as a reason. */
        {"stored removeFromCRL", STORE_REVOKED, 8, V_OCSP_CERTSTATUS_REVOKED, -1},
    };
    char cert_path[256], key_path[256];
    make_ca("ec", cert_path, key_path);
    struct signer sg;
    cr_assert_eq(signer_load(&sg, cert_path, key_path, "sha256"), 0);
    struct ocsp_issuer_hashes ih;
    cr_assert_eq(ocsp_issuer_hashes(sg.cert_der, sg.cert_len, &ih), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int status = -2, rsn = -2;
        cr_assert_eq(built_status(&sg, &ih, cases[i].st, cases[i].stored, &status, &rsn), 0, "%s",
                     cases[i].word);
        cr_assert_eq(status, cases[i].want_status, "%s: status %d", cases[i].word, status);
        if (status == V_OCSP_CERTSTATUS_REVOKED)
            cr_assert_eq(rsn, cases[i].want_reason, "%s: reason %d, want %d", cases[i].word, rsn,
                         cases[i].want_reason);
    }
    /* Not CRLReasons: refused rather than signed. */
    int status, rsn;
    cr_assert_eq(built_status(&sg, &ih, STORE_REVOKED, 7, &status, &rsn), -EINVAL);
    cr_assert_eq(built_status(&sg, &ih, STORE_REVOKED, 11, &status, &rsn), -EINVAL);
    cr_assert_eq(built_status(&sg, &ih, (enum store_status)3, 1, &status, &rsn), -EINVAL);
    signer_free(&sg);
}

Test(ocsp_resp, fixed_buffer_too_small_fails_cleanly)
{
    char cert_path[256], key_path[256];
    make_ca("ec", cert_path, key_path);
    struct signer sg;
    cr_assert_eq(signer_load(&sg, cert_path, key_path, "sha256"), 0);
    uint8_t small[200], h[32] = {0}, serial[1] = {1};
    struct ocsp_single s = {.hash = STORE_HASH_SHA1,
                            .name_hash = h,
                            .key_hash = h,
                            .serial = serial,
                            .serial_len = 1,
                            .status = STORE_GOOD};
    struct derw w;
    derw_init_fixed(&w, small, sizeof(small));
    cr_assert_eq(ocsp_resp_build(&w, &s, 0, &sg), -ENOSPC);
    signer_free(&sg);
}

Test(sign, rejects_mismatched_key)
{
    char c1[256], k1[256], c2[256], k2[256];
    make_ca("ec", c1, k1);
    make_ca("ec", c2, k2);
    struct signer sg;
    cr_assert_lt(signer_load(&sg, c1, k2, "sha256"), 0);
    cr_assert_lt(signer_load(&sg, c1, k1, "md-nonsense"), 0);
    cr_assert_lt(signer_load(&sg, "/nonexistent/ca.pem", k1, "sha256"), 0);
}

/*
 * ECDSA signs through ECDSA_do_sign() and writes Ecdsa-Sig-Value itself: every
 * signature must verify with the EVP key and be byte for byte what OpenSSL's own
 * encoder makes of it (minimal INTEGERs: about half of all r and s need a leading
 * 0x00, one in 256 is a byte shorter; P-521's SEQUENCE needs a long-form length),
 * from the loaded signer and from a signing thread's copy alike.
 */
static void check_ecdsa_encoding(const char *kt, int n)
{
    char cert_path[256], key_path[256];
    make_ca(kt, cert_path, key_path);
    struct signer sg, th;
    cr_assert_eq(signer_load(&sg, cert_path, key_path, "sha256"), 0);
    cr_assert_not_null(sg.eckey, "%s: ECDSA_do_sign path not taken", kt);
    cr_assert_eq(signer_thread_init(&th, &sg), 0);
    cr_assert_null(th.libctx, "%s: a fresh thread copy has its own context already", kt);
    cr_assert_eq(signer_thread_own_context(&th, &sg), 0);
    cr_assert_not_null(th.libctx, "%s: the thread copy shares the library context", kt);
    cr_assert_not_null(th.eckey, "%s: the thread copy does not use ECDSA_do_sign", kt);
    cr_assert_neq(th.eckey, sg.eckey);
    int padded = 0, short_int = 0;
    for (int i = 0; i < n; i++) {
        uint8_t tbs[64], sig[SIGN_SIG_MAX];
        memset(tbs, i & 0xff, sizeof(tbs));
        tbs[0] = (uint8_t)(i >> 8);
        size_t sig_len = 0;
        cr_assert_eq(signer_sign(i % 2 ? &th : &sg, tbs, sizeof(tbs), sig, sizeof(sig), &sig_len),
                     0);
        cr_assert_leq(sig_len, sg.sig_max);
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
        cr_assert_not_null(es, "%s: OpenSSL cannot decode signature %d", kt, i);
        cr_assert_eq((size_t)(p - sig), sig_len, "trailing bytes");
        unsigned char *again = NULL;
        int again_len = i2d_ECDSA_SIG(es, &again);
        cr_assert_eq((size_t)again_len, sig_len);
        cr_assert_arr_eq(again, sig, sig_len, "%s: not OpenSSL's DER for signature %d", kt, i);
        const BIGNUM *r, *s;
        ECDSA_SIG_get0(es, &r, &s);
        int bits = EVP_PKEY_get_bits(sg.pkey);
        padded += BN_num_bits(r) % 8 == 0;
        short_int += BN_num_bytes(r) < (bits + 7) / 8;
        OPENSSL_free(again);
        ECDSA_SIG_free(es);
        EVP_MD_CTX *v = EVP_MD_CTX_new();
        cr_assert_eq(EVP_DigestVerifyInit(v, NULL, EVP_sha256(), NULL, sg.pkey), 1);
        cr_assert_eq(EVP_DigestVerify(v, sig, sig_len, tbs, sizeof(tbs)), 1,
                     "%s: signature %d does not verify", kt, i);
        EVP_MD_CTX_free(v);
    }
    if (n >= 1000) {
        cr_assert_gt(padded, 0, "no r with its top bit set: the padding case was not tried");
        cr_assert_gt(short_int, 0, "no short r: the short case was not tried");
    }
    signer_thread_free(&th);
    signer_free(&sg);
}

/*
 * A signing thread's copy starts over the loaded key (cheap: a sync pass that
 * signs two responses pays nothing more); moved into its own library context, an
 * ECDSA or RSA key of the default provider gets its own copy of the key (nothing
 * shared between signing threads). Signatures of the copies, before and after the
 * move, and of the signer itself, interleaved, all verify with the loaded key. An
 * Ed25519 key (no digest-then-sign context) cannot move and keeps the shared key.
 * A copy with its own context may outlive the signer (the ASan build checks that
 * and for leaks).
 */
static void check_thread_copies(const char *kt, bool own_ctx)
{
    char cert_path[256], key_path[256];
    make_ca(kt, cert_path, key_path);
    struct signer sg, th[2];
    cr_assert_eq(signer_load(&sg, cert_path, key_path, "sha256"), 0);
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(signer_thread_init(&th[k], &sg), 0);
        cr_assert_null(th[k].libctx, "%s: thread copy %d has its own context from the start", kt,
                       k);
        cr_assert_eq(th[k].pkey, sg.pkey);
    }
    for (int i = 0; i < 60; i++) {
        if (i == 30)
            for (int k = 0; k < 2; k++) {
                cr_assert_eq(signer_thread_own_context(&th[k], &sg), own_ctx ? 0 : -ENOTSUP);
                if (own_ctx) {
                    cr_assert_not_null(th[k].libctx,
                                       "%s: thread copy %d shares the library context", kt, k);
                    cr_assert_neq(th[k].pkey, sg.pkey);
                    cr_assert_not_null(th[k].pctx);
                    cr_assert_eq(signer_thread_own_context(&th[k], &sg), 0, "a second move");
                } else {
                    cr_assert_null(th[k].libctx, "%s: thread copy %d has its own context", kt, k);
                    cr_assert_eq(th[k].pkey, sg.pkey);
                }
            }
        const struct signer *s = i % 3 == 2 ? &sg : &th[i % 3];
        uint8_t tbs[48], sig[SIGN_SIG_MAX];
        memset(tbs, i, sizeof(tbs));
        size_t sig_len = 0;
        cr_assert_eq(signer_sign(s, tbs, sizeof(tbs), sig, sizeof(sig), &sig_len), 0);
        EVP_MD_CTX *v = EVP_MD_CTX_new();
        cr_assert_eq(EVP_DigestVerifyInit(v, NULL, strcmp(kt, "ed25519") ? EVP_sha256() : NULL,
                                          NULL, sg.pkey),
                     1);
        cr_assert_eq(EVP_DigestVerify(v, sig, sig_len, tbs, sizeof(tbs)), 1,
                     "%s: signature %d (signer %d) does not verify", kt, i, i % 3);
        EVP_MD_CTX_free(v);
    }
    if (own_ctx)
        cr_assert_neq(th[0].libctx, th[1].libctx);
    signer_thread_free(&th[0]);
    if (!own_ctx)
        signer_thread_free(&th[1]); /* it borrows sg's key: sg must outlive it */
    signer_free(&sg);
    if (own_ctx)
        signer_thread_free(&th[1]); /* it owns all it uses */
}

Test(sign, thread_copies_have_their_own_library_context)
{
    check_thread_copies("ec", true);
    check_thread_copies("rsa", true);
    check_thread_copies("ed25519", false);
}

Test(sign, ecdsa_p256_signatures_are_openssl_der_and_verify)
{
    check_ecdsa_encoding("ec", 3000);
}

Test(sign, ecdsa_p384_p521_signatures_are_openssl_der_and_verify)
{
    check_ecdsa_encoding("p384", 200);
    check_ecdsa_encoding("p521", 200);
}

/*
 * ocsp_resp_build_head() is ocsp_resp_build() without the trailing certs field:
 * byte for byte with RSA (deterministic; an ECDSA signature's length varies from
 * one signing to the next), and for ECDSA the head plus
 * ocsp_resp_certs() is a response OpenSSL verifies, built in a buffer of exactly
 * ocsp_resp_head_max() for the longest serial and a revocation with a reason.
 */
Test(ocsp_resp, head_is_the_response_without_its_certs)
{
    const char *kts[] = {"rsa", "ec"};
    for (size_t k = 0; k < 2; k++) {
        char cert_path[256], key_path[256];
        make_ca(kts[k], cert_path, key_path);
        struct signer sg;
        cr_assert_eq(signer_load(&sg, cert_path, key_path, "sha256"), 0);
        struct ocsp_issuer_hashes ih;
        cr_assert_eq(ocsp_issuer_hashes(sg.cert_der, sg.cert_len, &ih), 0);
        uint8_t serial[20];
        memset(serial, 0x7f, sizeof(serial));
        struct ocsp_single s = {.hash = STORE_HASH_SHA256,
                                .name_hash = ih.name_sha256,
                                .key_hash = ih.key_sha256,
                                .serial = serial,
                                .serial_len = sizeof(serial),
                                .status = STORE_REVOKED,
                                .revoked_at = 1700000000,
                                .reason = 1,
                                .this_update = 1800000000,
                                .next_update = 1800345600};
        struct derw full, head, certs;
        size_t max = ocsp_resp_head_max(&sg);
        uint8_t *hb = malloc(max);
        cr_assert_not_null(hb);
        cr_assert_eq(derw_init_alloc(&full, 256), 0);
        cr_assert_eq(derw_init_alloc(&certs, 256), 0);
        derw_init_fixed(&head, hb, max);
        cr_assert_eq(ocsp_resp_build(&full, &s, 1800003600, &sg), 0);
        cr_assert_eq(ocsp_resp_build_head(&head, &s, 1800003600, &sg), 0, "%s: head_max too small",
                     kts[k]);
        ocsp_resp_certs(&certs, &sg);
        cr_assert_eq(certs.err, 0);
        if (k == 0) { /* RSA: the same signature both times */
            cr_assert_eq(head.len + certs.len, full.len);
            cr_assert_arr_eq(head.buf, full.buf, head.len);
        }
        cr_assert_gt(full.len, certs.len);
        cr_assert_arr_eq(full.buf + full.len - certs.len, certs.buf, certs.len);
        uint8_t *joined = malloc(head.len + certs.len);
        memcpy(joined, head.buf, head.len);
        memcpy(joined + head.len, certs.buf, certs.len);
        const unsigned char *p = joined;
        OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)(head.len + certs.len));
        cr_assert_not_null(resp);
        cr_assert_eq((size_t)(p - joined), head.len + certs.len);
        OCSP_BASICRESP *bs = OCSP_response_get1_basic(resp);
        cr_assert_not_null(bs);
        const unsigned char *cp = sg.cert_der;
        X509 *ca = d2i_X509(NULL, &cp, (long)sg.cert_len);
        X509_STORE *xs = X509_STORE_new();
        X509_STORE_add_cert(xs, ca);
        cr_assert_eq(OCSP_basic_verify(bs, NULL, xs, 0), 1, "%s: head + certs does not verify",
                     kts[k]);
        X509_STORE_free(xs);
        X509_free(ca);
        OCSP_BASICRESP_free(bs);
        OCSP_RESPONSE_free(resp);
        free(joined);
        free(hb);
        derw_free(&full);
        derw_free(&certs);
        signer_free(&sg);
    }
}
