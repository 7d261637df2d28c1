/*
 * Tests of the CRL builder and the publisher. Each test makes its own CA (EC
 * P-256 or RSA 2048, generated here with the OpenSSL API) and a fresh LMDB
 * store in a temp directory, writes revoked entries through the real store
 * API, builds the CRL with crl_build_full(), and then judges the result with
 * an independent implementation: OpenSSL's d2i_X509_CRL, X509_CRL_verify and
 * extension decoders, plus a walk of the raw DER where OpenSSL would hide an
 * encoding detail (an empty revokedCertificates, the Time type).
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crl.h"
#include "crl_fixture.h"
#include "der.h"
#include "publish.h"
#include "sign.h"
#include "store.h"

#define T0    1700000000LL /* 2023-11-14T22:13:20Z */
#define HOUR  3600LL
#define DAY   86400LL
#define Y2050 2524608000LL /* 2050-01-01T00:00:00Z */

enum ca_alg { CA_EC, CA_RSA };

/* One CA: its key and certificate, as files and as a loaded signer. */
struct ca {
    EVP_PKEY *key;
    X509 *cert;
    struct signer sg;
};

/* Per-test state: temp dir, open store. */
static char tmpdir[64];
static struct store *st;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    char path[128];
    strcpy(tmpdir, "/tmp/revokd-crl-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(path, sizeof(path), "%s/store", tmpdir);
    cr_assert_eq(store_open(&st, path, 256u << 20, 0), 0);
}

static void teardown(void)
{
    store_close(st);
    st = NULL;
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(crl, .init = setup, .fini = teardown);
TestSuite(publish, .init = setup, .fini = teardown);

/* ---- building a CA ---- */

/*
 * Makes a self-signed CA certificate and writes tag.pem / tag.key into the temp
 * dir, then loads them with signer_load() as crlgen does. with_ski=false leaves
 * out subjectKeyIdentifier, so the signer falls back to the key's SHA-1.
 */
static void ca_make_with_key(struct ca *ca, EVP_PKEY *key, const char *cn, bool with_ski,
                             const char *tag)
{
    char cert_path[160], key_path[160];

    memset(ca, 0, sizeof(*ca));
    ca->key = key;
    cr_assert_not_null(ca->key);
    ca->cert = X509_new();
    cr_assert_not_null(ca->cert);
    cr_assert_eq(X509_set_version(ca->cert, X509_VERSION_3), 1);
    cr_assert_eq(ASN1_INTEGER_set(X509_get_serialNumber(ca->cert), 0x1234), 1);
    X509_NAME *name = X509_get_subject_name(ca->cert);
    cr_assert_eq(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                            (const unsigned char *)"revokd test", -1, -1, 0),
                 1);
    cr_assert_eq(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0),
        1);
    cr_assert_eq(X509_set_issuer_name(ca->cert, name), 1);
    cr_assert_not_null(X509_time_adj_ex(X509_getm_notBefore(ca->cert), 0, 0, NULL));
    cr_assert_not_null(X509_time_adj_ex(X509_getm_notAfter(ca->cert), 3650, 0, NULL));
    cr_assert_eq(X509_set_pubkey(ca->cert, ca->key), 1);
    fx_add_ext(ca->cert, NID_basic_constraints, "critical,CA:TRUE");
    fx_add_ext(ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    /* An explicit SKI, not "hash": OpenSSL's hash is the key's SHA-1, which
     * would not tell the SKI from the fallback. */
    if (with_ski)
        fx_add_ext(ca->cert, NID_subject_key_identifier, "5E:C1:D0:00:01:02:03:04:05:06:07:08");
    cr_assert_gt(X509_sign(ca->cert, ca->key, EVP_sha256()), 0);

    snprintf(cert_path, sizeof(cert_path), "%s/%s.pem", tmpdir, tag);
    snprintf(key_path, sizeof(key_path), "%s/%s.key", tmpdir, tag);
    fx_write_ca(ca->cert, ca->key, cert_path, key_path);
    cr_assert_eq(signer_load(&ca->sg, cert_path, key_path, "sha256"), 0);
}

static void ca_make(struct ca *ca, enum ca_alg alg, const char *cn, bool with_ski, const char *tag)
{
    ca_make_with_key(ca, alg == CA_EC ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048), cn, with_ski, tag);
}

static void ca_free(struct ca *ca)
{
    signer_free(&ca->sg);
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
}

/* ---- test certificates ---- */

struct tcert {
    uint8_t serial[STORE_SERIAL_MAX];
    size_t serial_len;
    uint8_t status, reason;
    int64_t revoked_at, invalidity;
    int want_reason; /* reasonCode expected in the CRL, -1 for none */
};

/* The mix the brief asks for: good, keyCompromise with an invalidity date, a
 * hold (stored without a reason byte: the status alone must make it
 * certificateHold), revoked without reason, unspecified (written as no reason), a 20-byte
 * serial with the high bit set (stored with its 00 sign byte), removeFromCRL
 * (listed without reason), and a two-byte serial. */
static const struct tcert mix[] = {
    {{0x01}, 1, STORE_GOOD, STORE_REASON_NONE, 0, 0, -1},
    {{0x02}, 1, STORE_REVOKED, 1, T0 - DAY, T0 - 2 * DAY, 1},
    {{0x03}, 1, STORE_HOLD, STORE_REASON_NONE, T0 - HOUR, 0, 6},
    {{0x04}, 1, STORE_REVOKED, STORE_REASON_NONE, T0 - 2 * HOUR, 0, -1},
    {{0x05}, 1, STORE_REVOKED, 0, T0 - 3 * HOUR, 0, -1},
    {{0x00, 0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
      0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13},
     21,
     STORE_REVOKED,
     4,
     T0 - 4 * HOUR,
     0,
     4},
    {{0x06}, 1, STORE_GOOD, STORE_REASON_NONE, 0, 0, -1},
    {{0x07}, 1, STORE_REVOKED, 8, T0 - 5 * HOUR, 0, -1},
    {{0x01, 0x00}, 2, STORE_REVOKED, 5, T0 - 6 * HOUR, T0 - 7 * HOUR, 5},
};
#define N_MIX     (sizeof(mix) / sizeof(mix[0]))
#define N_MIX_REV 7 /* entries of mix that are not GOOD */

static void put_certs(uint32_t id, const struct tcert *c, size_t n)
{
    struct store_txn t;
    cr_assert_eq(store_txn_begin(st, &t, false), 0);
    for (size_t i = 0; i < n; i++) {
        struct store_cert sc;
        memset(&sc, 0, sizeof(sc));
        sc.status = c[i].status;
        sc.reason = c[i].reason;
        sc.source = STORE_SRC_INDEX;
        sc.revoked_at = c[i].revoked_at;
        sc.invalidity = c[i].invalidity;
        sc.not_after = T0 + 365 * DAY;
        cr_assert_geq(store_put_cert(&t, id, c[i].serial, c[i].serial_len, &sc, T0), 0);
    }
    cr_assert_eq(store_txn_commit(&t), 0);
}

/* Builds a CRL in a read txn; returns crl_build_full's result, DER in *w. */
static int build(struct derw *w, const struct ca *ca, uint32_t id, uint64_t number,
                 int64_t this_update, int64_t next_update, uint64_t *n_entries)
{
    struct store_txn t;
    struct crl_params p = {
        .issuer_id = id,
        .number = number,
        .this_update = this_update,
        .next_update = next_update,
    };
    cr_assert_eq(derw_init_alloc(w, 256), 0);
    cr_assert_eq(store_txn_begin(st, &t, true), 0);
    int rc = crl_build_full(w, &ca->sg, &t, &p, n_entries);
    store_txn_abort(&t);
    return rc;
}

static X509_CRL *parse_crl(const struct derw *w)
{
    const unsigned char *p = w->buf;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)w->len);
    cr_assert_not_null(crl, "OpenSSL cannot parse the CRL");
    cr_assert_eq(p, w->buf + w->len, "trailing bytes after the CRL");
    return crl;
}

static ASN1_INTEGER *serial_of(const struct tcert *c)
{
    uint8_t der[2 + STORE_SERIAL_MAX];
    der[0] = DER_INTEGER;
    der[1] = (uint8_t)c->serial_len;
    memcpy(der + 2, c->serial, c->serial_len);
    const unsigned char *p = der;
    ASN1_INTEGER *ai = d2i_ASN1_INTEGER(NULL, &p, (long)(2 + c->serial_len));
    cr_assert_not_null(ai);
    return ai;
}

/* The expected key identifier: the SKI, or SHA-1 of the key bits without one. */
static void expected_keyid(X509 *cert, uint8_t *out, size_t *len)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);
    if (ski != NULL) {
        memcpy(out, ski->data, (size_t)ski->length);
        *len = (size_t)ski->length;
        return;
    }
    unsigned int n;
    cr_assert_eq(X509_pubkey_digest(cert, EVP_sha1(), out, &n), 1);
    *len = n;
}

/* Everything that must hold of any CRL we issue, whatever its entries. */
static void check_common(X509_CRL *crl, const struct ca *ca, uint64_t number, int64_t this_update,
                         int64_t next_update, int sig_nid)
{
    int crit;

    cr_assert_eq(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
    cr_assert_eq(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca->cert)), 0);
    cr_assert_eq(X509_CRL_verify(crl, ca->key), 1, "signature does not verify");
    cr_assert_eq(X509_CRL_get_signature_nid(crl), sig_nid);
    cr_assert_eq(ASN1_TIME_cmp_time_t(X509_CRL_get0_lastUpdate(crl), (time_t)this_update), 0);
    cr_assert_not_null(X509_CRL_get0_nextUpdate(crl));
    cr_assert_eq(ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(crl), (time_t)next_update), 0);

    ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
    cr_assert_not_null(num, "no CRL Number");
    cr_assert_eq(crit, 0);
    uint64_t got;
    cr_assert_eq(ASN1_INTEGER_get_uint64(&got, num), 1);
    cr_assert_eq(got, number);
    ASN1_INTEGER_free(num);

    AUTHORITY_KEYID *aki = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, &crit, NULL);
    cr_assert_not_null(aki, "no Authority Key Identifier");
    cr_assert_eq(crit, 0);
    cr_assert_not_null(aki->keyid);
    cr_assert_null(aki->issuer);
    cr_assert_null(aki->serial);
    uint8_t want[64];
    size_t want_len;
    expected_keyid(ca->cert, want, &want_len);
    cr_assert_eq((size_t)aki->keyid->length, want_len);
    cr_assert_arr_eq(aki->keyid->data, want, want_len);
    AUTHORITY_KEYID_free(aki);
    cr_assert_eq(X509_CRL_get_ext_count(crl), 2);
}

/* Checks the CRL lists exactly the revoked entries of c[0..n), correctly. */
static void check_entries(X509_CRL *crl, const struct tcert *c, size_t n, size_t n_revoked)
{
    STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
    cr_assert_eq((size_t)sk_X509_REVOKED_num(revs), n_revoked);
    for (size_t i = 0; i < n; i++) {
        X509_REVOKED *rev = NULL;
        ASN1_INTEGER *serial = serial_of(&c[i]);
        int found = X509_CRL_get0_by_serial(crl, &rev, serial);
        ASN1_INTEGER_free(serial);
        if (c[i].status == STORE_GOOD) {
            cr_assert_eq(found, 0, "good certificate %zu is on the CRL", i);
            continue;
        }
        cr_assert_eq(found, 1, "revoked certificate %zu is not on the CRL", i);
        cr_assert_eq(
            ASN1_TIME_cmp_time_t(X509_REVOKED_get0_revocationDate(rev), (time_t)c[i].revoked_at), 0,
            "revocationDate of %zu", i);

        int crit;
        ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
        if (c[i].want_reason < 0) {
            cr_assert_null(reason, "entry %zu has a reasonCode", i);
            cr_assert_eq(crit, -1);
        } else {
            cr_assert_not_null(reason, "entry %zu has no reasonCode", i);
            cr_assert_eq(crit, 0);
            cr_assert_eq(ASN1_ENUMERATED_get(reason), c[i].want_reason, "reason of %zu", i);
            ASN1_ENUMERATED_free(reason);
        }

        ASN1_GENERALIZEDTIME *inv = X509_REVOKED_get_ext_d2i(rev, NID_invalidity_date, &crit, NULL);
        if (c[i].invalidity == 0) {
            cr_assert_null(inv, "entry %zu has an invalidityDate", i);
        } else {
            cr_assert_not_null(inv, "entry %zu has no invalidityDate", i);
            cr_assert_eq(ASN1_STRING_type(inv), V_ASN1_GENERALIZEDTIME);
            cr_assert_eq(ASN1_TIME_cmp_time_t(inv, (time_t)c[i].invalidity), 0);
            ASN1_GENERALIZEDTIME_free(inv);
        }
        /* An entry carries extensions only when it has something to say. */
        int n_ext = (c[i].want_reason >= 0) + (c[i].invalidity != 0);
        cr_assert_eq(X509_REVOKED_get_ext_count(rev), n_ext, "extensions of %zu", i);
    }
}

/*
 * Walks the TBSCertList with the der.h reader and returns the tag of the
 * element after nextUpdate (revokedCertificates or crlExtensions), plus the
 * tags of thisUpdate and nextUpdate.
 */
static uint8_t tbs_after_times(const struct derw *w, uint8_t *this_tag, uint8_t *next_tag)
{
    struct cur c, crl, tbs, v;
    uint8_t tag;
    cur_init(&c, w->buf, w->len);
    cr_assert_eq(der_get(&c, DER_SEQUENCE, &crl), 0);
    cr_assert(cur_done(&c));
    cr_assert_eq(der_get(&crl, DER_SEQUENCE, &tbs), 0);
    cr_assert_eq(der_get(&tbs, DER_INTEGER, &v), 0);
    cr_assert_eq(der_get(&tbs, DER_SEQUENCE, &v), 0);
    cr_assert_eq(der_get(&tbs, DER_SEQUENCE, &v), 0);
    cr_assert_eq(der_get_any(&tbs, this_tag, &v), 0);
    cr_assert_eq(der_get_any(&tbs, next_tag, &v), 0);
    cr_assert_eq(der_get_any(&tbs, &tag, &v), 0);
    return tag;
}

static void full_mix(enum ca_alg alg, bool with_ski, int sig_nid)
{
    struct ca ca;
    struct derw w;
    uint64_t n = 0;

    ca_make(&ca, alg, "Mix CA", with_ski, "ca");
    uint32_t id = fx_put_issuer(st, "mix", ca.cert);
    put_certs(id, mix, N_MIX);

    cr_assert_eq(build(&w, &ca, id, 42, T0, T0 + 7 * DAY, &n), 0);
    cr_assert_eq(n, N_MIX_REV);
    X509_CRL *crl = parse_crl(&w);
    check_common(crl, &ca, 42, T0, T0 + 7 * DAY, sig_nid);
    check_entries(crl, mix, N_MIX, N_MIX_REV);

    uint8_t this_tag, next_tag;
    cr_assert_eq(tbs_after_times(&w, &this_tag, &next_tag), DER_SEQUENCE);
    cr_assert_eq(this_tag, DER_UTCTIME);
    cr_assert_eq(next_tag, DER_UTCTIME);

    X509_CRL_free(crl);
    derw_free(&w);
    ca_free(&ca);
}

Test(crl, ec_p256_full)
{
    full_mix(CA_EC, true, NID_ecdsa_with_SHA256);
}

Test(crl, rsa2048_full)
{
    full_mix(CA_RSA, true, NID_sha256WithRSAEncryption);
}

Test(crl, aki_without_ski_uses_key_sha1)
{
    full_mix(CA_EC, false, NID_ecdsa_with_SHA256);
}

Test(crl, empty_omits_revoked_certificates)
{
    struct ca ca;
    struct derw w;
    uint64_t n = 99;

    ca_make(&ca, CA_EC, "Empty CA", true, "ca");
    uint32_t id = fx_put_issuer(st, "empty", ca.cert);
    /* Only good certificates: the revoked index has nothing for this issuer. */
    put_certs(id, mix, 1);

    cr_assert_eq(build(&w, &ca, id, 1, T0, T0 + DAY, &n), 0);
    cr_assert_eq(n, 0);
    uint8_t this_tag, next_tag;
    cr_assert_eq(tbs_after_times(&w, &this_tag, &next_tag), DER_CTX_CONS(0),
                 "revokedCertificates present in an empty CRL");
    X509_CRL *crl = parse_crl(&w);
    check_common(crl, &ca, 1, T0, T0 + DAY, NID_ecdsa_with_SHA256);
    /* OpenSSL has no stack at all when the field is absent (num gives -1). */
    cr_assert_leq(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 0);
    X509_CRL_free(crl);
    derw_free(&w);
    ca_free(&ca);
}

Test(crl, other_issuers_entries_are_not_listed)
{
    struct ca a, b;
    struct derw w;
    uint64_t n;
    static const struct tcert b_certs[] = {
        {{0x02}, 1, STORE_REVOKED, 1, T0, 0, 1},
        {{0x7f}, 1, STORE_REVOKED, 3, T0, 0, 3},
    };

    ca_make(&a, CA_EC, "A CA", true, "a");
    ca_make(&b, CA_EC, "B CA", true, "b");
    uint32_t ida = fx_put_issuer(st, "a", a.cert);
    uint32_t idb = fx_put_issuer(st, "b", b.cert);
    put_certs(ida, mix, N_MIX);
    put_certs(idb, b_certs, 2);

    cr_assert_eq(build(&w, &a, ida, 7, T0, T0 + DAY, &n), 0);
    cr_assert_eq(n, N_MIX_REV);
    X509_CRL *crl = parse_crl(&w);
    check_entries(crl, mix, N_MIX, N_MIX_REV);
    X509_CRL_free(crl);
    derw_free(&w);

    cr_assert_eq(build(&w, &b, idb, 1, T0, T0 + DAY, &n), 0);
    cr_assert_eq(n, 2);
    crl = parse_crl(&w);
    check_common(crl, &b, 1, T0, T0 + DAY, NID_ecdsa_with_SHA256);
    check_entries(crl, b_certs, 2, 2);
    X509_CRL_free(crl);
    derw_free(&w);
    ca_free(&b);
    ca_free(&a);
}

Test(crl, times_after_2049_are_generalized)
{
    struct ca ca;
    struct derw w;

    ca_make(&ca, CA_EC, "Late CA", true, "ca");
    uint32_t id = fx_put_issuer(st, "late", ca.cert);
    static const struct tcert late[] = {
        {{0x09}, 1, STORE_REVOKED, 1, Y2050 + HOUR, Y2050 - HOUR, 1},
    };
    put_certs(id, late, 1);
    cr_assert_eq(build(&w, &ca, id, 3, Y2050 - DAY, Y2050 + DAY, NULL), 0);
    uint8_t this_tag, next_tag;
    cr_assert_eq(tbs_after_times(&w, &this_tag, &next_tag), DER_SEQUENCE);
    cr_assert_eq(this_tag, DER_UTCTIME);
    cr_assert_eq(next_tag, DER_GENTIME);
    X509_CRL *crl = parse_crl(&w);
    check_common(crl, &ca, 3, Y2050 - DAY, Y2050 + DAY, NID_ecdsa_with_SHA256);
    check_entries(crl, late, 1, 1);
    X509_CRL_free(crl);
    derw_free(&w);
    ca_free(&ca);
}

Test(crl, many_entries)
{
    enum { N = 5000 };
    struct ca ca;
    struct derw w;
    struct store_txn t;
    uint64_t n;

    ca_make(&ca, CA_RSA, "Big CA", true, "ca");
    uint32_t id = fx_put_issuer(st, "big", ca.cert);
    cr_assert_eq(store_txn_begin(st, &t, false), 0);
    for (unsigned i = 0; i < N; i++) {
        /* 16-byte serials like a real CA's random ones; first byte < 0x80. */
        uint8_t serial[16];
        memset(serial, 0x5a, sizeof(serial));
        serial[0] = 0x40;
        serial[14] = (uint8_t)(i >> 8);
        serial[15] = (uint8_t)i;
        struct store_cert sc = {.status = STORE_REVOKED,
                                .reason = (uint8_t)(1 + i % 5),
                                .source = STORE_SRC_INDEX,
                                .revoked_at = T0 - (int64_t)i};
        cr_assert_geq(store_put_cert(&t, id, serial, sizeof(serial), &sc, T0), 0);
    }
    cr_assert_eq(store_txn_commit(&t), 0);

    cr_assert_eq(build(&w, &ca, id, 1000, T0, T0 + DAY, &n), 0);
    cr_assert_eq(n, N);
    cr_assert_gt(w.len, 65536, "expected a multi-byte length CRL");
    X509_CRL *crl = parse_crl(&w);
    check_common(crl, &ca, 1000, T0, T0 + DAY, NID_sha256WithRSAEncryption);
    STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
    cr_assert_eq(sk_X509_REVOKED_num(revs), N);
    X509_REVOKED *rev = sk_X509_REVOKED_value(revs, 1234);
    int crit;
    ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
    cr_assert_not_null(reason);
    /* Entries come in serial order, so entry 1234 is the 1234th serial. */
    cr_assert_eq(ASN1_ENUMERATED_get(reason), 1 + 1234 % 5);
    ASN1_ENUMERATED_free(reason);
    X509_CRL_free(crl);
    derw_free(&w);
    ca_free(&ca);
}

Test(crl, rejects_a_signer_that_is_not_the_issuers_ca)
{
    struct ca ca, other_name, same_name, same_key;
    struct derw w;

    ca_make(&ca, CA_EC, "Real CA", true, "ca");
    ca_make(&other_name, CA_EC, "Other CA", true, "other");
    /* Same subject, different key: a rekeyed CA the indexer has not seen. */
    ca_make(&same_name, CA_EC, "Real CA", true, "same");
    /* Same key, different subject: a renamed CA the indexer has not seen. */
    cr_assert_eq(EVP_PKEY_up_ref(ca.key), 1);
    ca_make_with_key(&same_key, ca.key, "Renamed CA", true, "renamed");
    uint32_t id = fx_put_issuer(st, "real", ca.cert);
    put_certs(id, mix, N_MIX);

    cr_assert_eq(build(&w, &other_name, id, 1, T0, T0 + DAY, NULL), -EKEYREJECTED);
    derw_free(&w);
    cr_assert_eq(build(&w, &same_name, id, 1, T0, T0 + DAY, NULL), -EKEYREJECTED);
    derw_free(&w);
    cr_assert_eq(build(&w, &same_key, id, 1, T0, T0 + DAY, NULL), -EKEYREJECTED);
    derw_free(&w);
    cr_assert_eq(build(&w, &ca, id, 1, T0, T0 + DAY, NULL), 0);
    derw_free(&w);
    ca_free(&same_key);
    ca_free(&same_name);
    ca_free(&other_name);
    ca_free(&ca);
}

Test(crl, rejects_bad_params_and_unknown_issuer)
{
    struct ca ca;
    struct derw w;

    ca_make(&ca, CA_EC, "Param CA", true, "ca");
    uint32_t id = fx_put_issuer(st, "param", ca.cert);
    cr_assert_eq(build(&w, &ca, id, 1, T0, T0, NULL), -EINVAL);
    derw_free(&w);
    cr_assert_eq(build(&w, &ca, id, 1, T0, T0 - 1, NULL), -EINVAL);
    derw_free(&w);
    cr_assert_eq(build(&w, &ca, id + 100, 1, T0, T0 + DAY, NULL), -ENOENT);
    derw_free(&w);
    ca_free(&ca);
}

Test(crl, rejects_records_no_crl_can_carry)
{
    struct ca ca;
    struct derw w;
    static const struct tcert bad_reason[] = {
        {{0x01}, 1, STORE_REVOKED, 7, T0, 0, -1}, /* CRLReason 7 is unassigned */
    };
    static const struct tcert bad_serial[] = {
        {{0x00, 0x01}, 2, STORE_REVOKED, 1, T0, 0, 1}, /* not minimal: invalid DER */
    };

    ca_make(&ca, CA_EC, "Bad CA", true, "ca");
    uint32_t id = fx_put_issuer(st, "bad", ca.cert);
    put_certs(id, bad_reason, 1);
    cr_assert_eq(build(&w, &ca, id, 1, T0, T0 + DAY, NULL), -EBADMSG);
    derw_free(&w);

    /* A second issuer record for the same CA certificate, holding the bad serial. */
    id = fx_put_issuer(st, "bad2", ca.cert);
    put_certs(id, bad_serial, 1);
    cr_assert_eq(build(&w, &ca, id, 1, T0, T0 + DAY, NULL), -EBADMSG);
    derw_free(&w);
    ca_free(&ca);
}

/* ---- publishing ---- */

static void read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    cr_assert_geq(n, 0);
    rewind(f);
    *data = malloc((size_t)n + 1);
    cr_assert_not_null(*data);
    cr_assert_eq(fread(*data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
}

/* Number of entries in dir whose name starts with '.' (other than . and ..). */
static int count_dotfiles(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

Test(publish, atomic_replace_leaves_no_temp)
{
    char path[160];
    uint8_t *got;
    size_t len;
    struct stat sb;
    static const char first[] = "first version", second[] = "second, longer version";

    snprintf(path, sizeof(path), "%s/x.crl", tmpdir);
    cr_assert_eq(publish_atomic(tmpdir, "x.crl", first, sizeof(first)), 0);
    read_file(path, &got, &len);
    cr_assert_eq(len, sizeof(first));
    cr_assert_arr_eq(got, first, len);
    free(got);

    cr_assert_eq(publish_atomic(tmpdir, "x.crl", second, sizeof(second)), 0);
    read_file(path, &got, &len);
    cr_assert_eq(len, sizeof(second));
    cr_assert_arr_eq(got, second, len);
    free(got);

    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 07777, 0644);
    cr_assert_eq(count_dotfiles(tmpdir), 0);
}

/* A temp file left by a crlgen killed between naming and renaming it is
 * removed by the next publication of that name (on filesystems with
 * O_TMPFILE, where a named temp file exists only for that instant); other
 * dot files are not touched. */
Test(publish, stale_temp_of_a_killed_run_removed)
{
    char path[200], keep[200];
    static const char data[] = "data";

    snprintf(path, sizeof(path), "%s/.x.crl.tmpAbC123", tmpdir);
    snprintf(keep, sizeof(keep), "%s/.x.crl.tmpAbC1234", tmpdir);
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(i ? keep : path, "w");
        cr_assert_not_null(f);
        fputs("half a CRL", f);
        fclose(f);
    }
    int tfd = open(tmpdir, O_TMPFILE | O_WRONLY, 0600);
    bool has_tmpfile = tfd >= 0;
    if (tfd >= 0)
        close(tfd);
    cr_assert_eq(publish_atomic(tmpdir, "x.crl", data, sizeof(data)), 0);
    if (has_tmpfile)
        cr_assert_eq(access(path, F_OK), -1, "stale temp file kept");
    cr_assert_eq(access(keep, F_OK), 0, "a file not of publish's pattern was removed");
    unlink(path);
    unlink(keep);
    cr_assert_eq(count_dotfiles(tmpdir), 0);
}

Test(publish, failure_removes_temp_and_keeps_target)
{
    char sub[160];
    static const char data[] = "data";

    /* The target name is a non-empty directory: rename() must fail. */
    snprintf(sub, sizeof(sub), "%s/y.crl", tmpdir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    snprintf(sub, sizeof(sub), "%s/y.crl/keep", tmpdir);
    FILE *f = fopen(sub, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_lt(publish_atomic(tmpdir, "y.crl", data, sizeof(data)), 0);
    cr_assert_eq(count_dotfiles(tmpdir), 0);
    cr_assert_eq(access(sub, F_OK), 0);

    /* A missing directory, and a name that is a path. */
    snprintf(sub, sizeof(sub), "%s/missing", tmpdir);
    cr_assert_eq(publish_atomic(sub, "z.crl", data, sizeof(data)), -ENOENT);
    cr_assert_eq(publish_atomic(tmpdir, "a/b", data, sizeof(data)), -EINVAL);
    cr_assert_eq(publish_atomic(tmpdir, "", data, sizeof(data)), -EINVAL);
}

Test(publish, crl_files_der_and_pem_round_trip)
{
    struct ca ca;
    struct derw w;
    char out[160], path[200];
    uint8_t *got;
    size_t len;

    ca_make(&ca, CA_RSA, "Pub CA", true, "ca");
    uint32_t id = fx_put_issuer(st, "pub", ca.cert);
    put_certs(id, mix, N_MIX);
    cr_assert_eq(build(&w, &ca, id, 5, T0, T0 + DAY, NULL), 0);

    /* out_dir does not exist yet, two levels deep: mkdir -p. */
    snprintf(out, sizeof(out), "%s/out/crl", tmpdir);
    cr_assert_eq(publish_crl(out, "pub", w.buf, w.len), 0);
    /* Publishing again over existing files works the same. */
    cr_assert_eq(publish_crl(out, "pub", w.buf, w.len), 0);
    cr_assert_eq(count_dotfiles(out), 0);

    snprintf(path, sizeof(path), "%s/pub.crl", out);
    read_file(path, &got, &len);
    cr_assert_eq(len, w.len);
    cr_assert_arr_eq(got, w.buf, len);
    free(got);

    snprintf(path, sizeof(path), "%s/pub.crl.pem", out);
    read_file(path, &got, &len);
    got[len] = '\0';
    cr_assert_eq(strncmp((char *)got, "-----BEGIN X509 CRL-----\n", 25), 0);
    cr_assert_eq(strcmp((char *)got + len - 23, "-----END X509 CRL-----\n"), 0);
    for (char *line = (char *)got, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1)
        cr_assert_leq(nl - line, 64, "PEM line longer than 64 columns");
    BIO *bio = BIO_new_mem_buf(got, (int)len);
    cr_assert_not_null(bio);
    X509_CRL *crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
    cr_assert_not_null(crl, "PEM does not parse");
    unsigned char *der = NULL;
    int der_len = i2d_X509_CRL(crl, &der);
    cr_assert_eq((size_t)der_len, w.len);
    cr_assert_arr_eq(der, w.buf, w.len);
    check_common(crl, &ca, 5, T0, T0 + DAY, NID_sha256WithRSAEncryption);
    OPENSSL_free(der);
    X509_CRL_free(crl);
    BIO_free(bio);
    free(got);
    derw_free(&w);
    ca_free(&ca);
}

Test(publish, pem_of_every_tail_length)
{
    /* 48 input bytes per line: exercise full, partial and 1-2 byte tails. */
    char path[200];
    uint8_t data[200];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 1; n <= 100; n++) {
        uint8_t *got;
        size_t len;
        cr_assert_eq(publish_crl(tmpdir, "t", data, n), 0);
        snprintf(path, sizeof(path), "%s/t.crl.pem", tmpdir);
        read_file(path, &got, &len);
        BIO *bio = BIO_new_mem_buf(got, (int)len);
        char *name = NULL, *header = NULL;
        unsigned char *body = NULL;
        long body_len = 0;
        cr_assert_eq(PEM_read_bio(bio, &name, &header, &body, &body_len), 1, "n=%zu", n);
        cr_assert_str_eq(name, "X509 CRL");
        cr_assert_eq((size_t)body_len, n);
        cr_assert_arr_eq(body, data, n);
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(body);
        BIO_free(bio);
        free(got);
    }
}

/* ---- delta CRLs ---- */

/* Reason code of a CRL entry, -1 for none. */
static int entry_reason(X509_REVOKED *r)
{
    ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
    if (e == NULL)
        return -1;
    int v = (int)ASN1_ENUMERATED_get(e);
    ASN1_ENUMERATED_free(e);
    return v;
}

static X509_REVOKED *find_entry(X509_CRL *crl, uint8_t serial)
{
    ASN1_INTEGER *s = ASN1_INTEGER_new();
    cr_assert_eq(ASN1_INTEGER_set(s, serial), 1);
    X509_REVOKED *r = NULL;
    int rc = X509_CRL_get0_by_serial(crl, &r, s);
    ASN1_INTEGER_free(s);
    return rc == 0 ? NULL : r;
}

static int build_delta(struct derw *w, const struct ca *ca, uint32_t id, uint64_t number,
                       uint64_t base, uint64_t base_seq, const char *url, uint64_t *n)
{
    struct store_txn t;
    struct crl_params p = {
        .issuer_id = id,
        .number = number,
        .this_update = T0,
        .next_update = T0 + HOUR,
        .freshest_url = url,
        .base = base,
        .base_seq = base_seq,
    };
    cr_assert_eq(derw_init_alloc(w, 256), 0);
    cr_assert_eq(store_txn_begin(st, &t, true), 0);
    int rc = crl_build_delta(w, &ca->sg, &t, &p, n);
    store_txn_abort(&t);
    return rc;
}

static uint64_t last_seq(void)
{
    struct store_txn t;
    uint64_t seq;
    cr_assert_eq(store_txn_begin(st, &t, true), 0);
    cr_assert_eq(store_last_seq(&t, &seq), 0);
    store_txn_abort(&t);
    return seq;
}

/*
 * The delta lists exactly what changed after the base seq, each serial once in
 * its current state: a new revocation, a hold turned into keyCompromise
 * (listed once although it changed twice), a released hold as removeFromCRL,
 * and not a newly issued good certificate nor anything unchanged or of
 * another issuer. The Delta CRL Indicator is critical and names the base; the
 * Freshest CRL names the URL.
 */
Test(crl, delta_lists_changes_since_base)
{
    static const char url[] = "http://crl.example/crl/delta/d.crl";
    static const struct tcert base_set[] = {
        {{0x01}, 1, STORE_REVOKED, 1, T0 - DAY, 0, 1},              /* unchanged */
        {{0x02}, 1, STORE_HOLD, STORE_REASON_NONE, T0 - DAY, 0, 6}, /* released later */
        {{0x03}, 1, STORE_HOLD, STORE_REASON_NONE, T0 - DAY, 0, 6}, /* -> revoked */
        {{0x04}, 1, STORE_GOOD, STORE_REASON_NONE, 0, 0, -1},       /* -> revoked */
    };
    static const struct tcert after[] = {
        {{0x02}, 1, STORE_GOOD, STORE_REASON_NONE, 0, 0, -1},
        {{0x03}, 1, STORE_REVOKED, 1, T0 - HOUR, 0, 1},
        {{0x04}, 1, STORE_REVOKED, 4, T0 - HOUR, T0 - 2 * HOUR, 4},
        {{0x05}, 1, STORE_GOOD, STORE_REASON_NONE, 0, 0, -1}, /* new, good */
    };
    static const struct tcert later[] = {
        {{0x03}, 1, STORE_REVOKED, 1, T0 - HOUR, T0 - 3 * HOUR, 1}, /* changed again */
    };
    struct ca ca, other;
    struct derw w;
    uint64_t n = 0;

    ca_make(&ca, CA_EC, "Delta CA", true, "ca");
    ca_make(&other, CA_EC, "Other CA", true, "other");
    uint32_t id = fx_put_issuer(st, "d", ca.cert);
    uint32_t oid = fx_put_issuer(st, "o", other.cert);
    put_certs(id, base_set, 4);
    uint64_t base_seq = last_seq();
    put_certs(id, after, 4);
    put_certs(oid, after + 2, 1); /* another issuer's change: not listed */
    put_certs(id, later, 1);

    cr_assert_eq(build_delta(&w, &ca, id, 8, 7, base_seq, url, &n), 0);
    cr_assert_eq(n, 3, "entries: %llu", (unsigned long long)n);
    X509_CRL *crl = parse_crl(&w);
    cr_assert_eq(X509_CRL_verify(crl, ca.key), 1, "delta signature");
    cr_assert_eq(X509_CRL_get_ext_count(crl), 4); /* AKI, CRL Number, Delta, Freshest */
    ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    cr_assert_not_null(num);
    cr_assert_eq(ASN1_INTEGER_get(num), 8);
    ASN1_INTEGER_free(num);
    cr_assert_eq(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 3);

    int crit = -1;
    ASN1_INTEGER *b = X509_CRL_get_ext_d2i(crl, NID_delta_crl, &crit, NULL);
    cr_assert_not_null(b, "no Delta CRL Indicator");
    cr_assert_eq(crit, 1, "Delta CRL Indicator not critical");
    cr_assert_eq(ASN1_INTEGER_get(b), 7);
    ASN1_INTEGER_free(b);
    STACK_OF(DIST_POINT) *fr = X509_CRL_get_ext_d2i(crl, NID_freshest_crl, &crit, NULL);
    cr_assert_not_null(fr, "no Freshest CRL");
    cr_assert_eq(crit, 0);
    GENERAL_NAMES *gn = sk_DIST_POINT_value(fr, 0)->distpoint->name.fullname;
    const ASN1_IA5STRING *uri = sk_GENERAL_NAME_value(gn, 0)->d.uniformResourceIdentifier;
    cr_assert_eq((size_t)ASN1_STRING_length(uri), strlen(url));
    cr_assert_eq(memcmp(ASN1_STRING_get0_data(uri), url, strlen(url)), 0);
    sk_DIST_POINT_pop_free(fr, DIST_POINT_free);

    cr_assert_null(find_entry(crl, 0x01), "unchanged entry listed");
    cr_assert_null(find_entry(crl, 0x05), "new good certificate listed");
    X509_REVOKED *r = find_entry(crl, 0x02);
    cr_assert_not_null(r, "released hold not listed");
    cr_assert_eq(entry_reason(r), 8, "released hold: removeFromCRL expected");
    r = find_entry(crl, 0x03);
    cr_assert_not_null(r);
    cr_assert_eq(entry_reason(r), 1);
    ASN1_GENERALIZEDTIME *inv = X509_REVOKED_get_ext_d2i(r, NID_invalidity_date, NULL, NULL);
    cr_assert_not_null(inv, "the latest state (with invalidity date) is listed");
    ASN1_GENERALIZEDTIME_free(inv);
    r = find_entry(crl, 0x04);
    cr_assert_not_null(r);
    cr_assert_eq(entry_reason(r), 4);
    X509_CRL_free(crl);
    derw_free(&w);

    /* Nothing after the last seq: a valid empty delta, revokedCertificates absent. */
    cr_assert_eq(build_delta(&w, &ca, id, 9, 7, last_seq(), NULL, &n), 0);
    cr_assert_eq(n, 0);
    crl = parse_crl(&w);
    cr_assert_leq(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 0);
    cr_assert_null(X509_CRL_get_ext_d2i(crl, NID_freshest_crl, NULL, NULL));
    X509_CRL_free(crl);
    derw_free(&w);

    /* A delta must name a base below its own number. */
    cr_assert_eq(build_delta(&w, &ca, id, 7, 7, base_seq, NULL, &n), -EINVAL);
    derw_free(&w);
    cr_assert_eq(build_delta(&w, &ca, id, 7, 0, base_seq, NULL, &n), -EINVAL);
    derw_free(&w);
    cr_assert_eq(build_delta(&w, &ca, id, 9, 7, base_seq, "http://bad url", &n), -EINVAL);
    derw_free(&w);
    ca_free(&ca);
    ca_free(&other);
}

/* The shard formula, against values computed by hand: (serial / span) mod N + 1
 * over the serial's unsigned value, whatever its length (a 00 sign byte
 * included). */
Test(crl, shard_of_serial)
{
    static const uint8_t s1000[] = {0x10, 0x00}; /* 4096 */
    static const uint8_t s1001[] = {0x10, 0x01}; /* 4097 */
    static const uint8_t s00ff[] = {0x00, 0xff}; /* 255, with its sign byte */
    static const uint8_t big[] = {0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}; /* 2^64 */
    cr_assert_eq(crl_shard_of(s1000, 2, 1, 4), 4096 % 4 + 1);
    cr_assert_eq(crl_shard_of(s1001, 2, 1, 4), 4097 % 4 + 1);
    cr_assert_eq(crl_shard_of(s1001, 2, 2, 4), (4097 / 2) % 4 + 1);
    cr_assert_eq(crl_shard_of(s1001, 2, 4096, 16), 1 + 1);
    cr_assert_eq(crl_shard_of(s00ff, 2, 10, 7), (255 / 10) % 7 + 1);
    /* 2^64 / 3 = 6148914691236517205 (remainder 1); mod 5 = 0 -> shard 1. */
    cr_assert_eq(crl_shard_of(big, sizeof(big), 3, 5), 6148914691236517205ULL % 5 + 1);
    /* 2^64 / 1000 = 18446744073709551, mod 256 = 0x0f -> 16. */
    cr_assert_eq(crl_shard_of(big, sizeof(big), 1000, 256), 18446744073709551ULL % 256 + 1);
    cr_assert_eq(crl_shard_of(s1000, 2, 1, 0), 0);
}
