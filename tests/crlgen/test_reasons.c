/*
 * OCSP and the CRL say the same thing about every stored revocation (issue 13
 * item 3): for each status and reason byte the store can hold, the
 * revocationReason OpenSSL decodes from the OCSP response the indexer would
 * sign (common/ocsp.c) equals the reasonCode it decodes from the CRL entry
 * crlgen writes (crlgen/crl.c), absent on both or the same value on both; and
 * a byte neither may carry is refused by both builders.
 */
#include <criterion/criterion.h>

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crl.h"
#include "crl_fixture.h"
#include "der.h"
#include "ocsp.h"
#include "sign.h"
#include "store.h"

#define T0 1700000000LL

static char tmpdir[64];
static struct store *st;
static struct signer sg;
static uint32_t issuer_id;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    char path[128], cert_path[128], key_path[128];
    strcpy(tmpdir, "/tmp/revokd-reasons-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(path, sizeof(path), "%s/store", tmpdir);
    cr_assert_eq(store_open(&st, path, 16u << 20, 0), 0);

    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    cr_assert_eq(X509_set_version(cert, X509_VERSION_3), 1);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"reasons CA", -1,
                               -1, 0);
    X509_set_issuer_name(cert, name);
    X509_time_adj_ex(X509_getm_notBefore(cert), -1, 0, NULL);
    X509_time_adj_ex(X509_getm_notAfter(cert), 365, 0, NULL);
    X509_set_pubkey(cert, key);
    cr_assert_gt(X509_sign(cert, key, EVP_sha256()), 0);
    snprintf(cert_path, sizeof(cert_path), "%s/ca.pem", tmpdir);
    snprintf(key_path, sizeof(key_path), "%s/ca.key", tmpdir);
    fx_write_ca(cert, key, cert_path, key_path);
    cr_assert_eq(signer_load(&sg, cert_path, key_path, "sha256"), 0);

    struct store_issuer_rec rec;
    struct ocsp_issuer_hashes h;
    memset(&rec, 0, sizeof(rec));
    snprintf(rec.name, sizeof(rec.name), "reasons");
    cr_assert_eq(ocsp_issuer_hashes(sg.cert_der, sg.cert_len, &h), 0);
    memcpy(rec.name_sha1, h.name_sha1, 20);
    memcpy(rec.key_sha1, h.key_sha1, 20);
    memcpy(rec.name_sha256, h.name_sha256, 32);
    memcpy(rec.key_sha256, h.key_sha256, 32);
    struct store_txn t;
    cr_assert_eq(store_txn_begin(st, &t, false), 0);
    cr_assert_eq(store_put_issuer(&t, &rec, sg.cert_der, sg.cert_len, &issuer_id), 0);
    cr_assert_eq(store_txn_commit(&t), 0);
    X509_free(cert);
    EVP_PKEY_free(key);
}

static void teardown(void)
{
    signer_free(&sg);
    store_close(st);
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(reasons, .init = setup, .fini = teardown);

/* The OCSP answer for one stored entry: reason decoded by OpenSSL, -1 if
 * absent; returns ocsp_resp_build's result. */
static int ocsp_reason_of(uint8_t status, uint8_t reason, int *out)
{
    static const uint8_t zeros[20];
    uint8_t serial = 0x05;
    struct ocsp_single s = {
        .hash = STORE_HASH_SHA1,
        .name_hash = zeros,
        .key_hash = zeros,
        .serial = &serial,
        .serial_len = 1,
        .status = (enum store_status)status,
        .revoked_at = T0 - 100,
        .reason = reason,
        .this_update = T0,
        .next_update = T0 + 3600,
    };
    struct derw w;
    cr_assert_eq(derw_init_alloc(&w, 1024), 0);
    int rc = ocsp_resp_build(&w, &s, T0, &sg);
    if (rc == 0) {
        const unsigned char *p = w.buf;
        OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)w.len);
        cr_assert_not_null(resp);
        OCSP_BASICRESP *bs = OCSP_response_get1_basic(resp);
        cr_assert_not_null(bs);
        OCSP_SINGLERESP *single = OCSP_resp_get0(bs, 0);
        cr_assert_not_null(single);
        int r = -2;
        int st_ = OCSP_single_get0_status(single, &r, NULL, NULL, NULL);
        cr_assert_eq(st_, V_OCSP_CERTSTATUS_REVOKED);
        *out = r;
        OCSP_BASICRESP_free(bs);
        OCSP_RESPONSE_free(resp);
    }
    derw_free(&w);
    return rc;
}

/* The CRL entry for the same stored entry: reasonCode, -1 if absent. */
static int crl_reason_of(uint8_t status, uint8_t reason, int *out)
{
    uint8_t serial = 0x05;
    struct store_cert c = {.status = status,
                           .reason = reason,
                           .source = STORE_SRC_INDEX,
                           .revoked_at = T0 - 100,
                           .not_after = T0 + 86400};
    struct store_txn t;
    cr_assert_eq(store_txn_begin(st, &t, false), 0);
    /* The guard against undoing revocations is not under test here. */
    cr_assert_geq(store_correct_cert(&t, issuer_id, &serial, 1, &c, T0), 0);
    struct derw w;
    cr_assert_eq(derw_init_alloc(&w, 1024), 0);
    struct crl_params p = {
        .issuer_id = issuer_id, .number = 1, .this_update = T0, .next_update = T0 + 3600};
    int rc = crl_build_full(&w, &sg, &t, &p, NULL);
    store_txn_abort(&t);
    if (rc == 0) {
        const unsigned char *q = w.buf;
        X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)w.len);
        cr_assert_not_null(crl);
        STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
        cr_assert_eq(sk_X509_REVOKED_num(revs), 1);
        int crit = -1;
        ASN1_ENUMERATED *e =
            X509_REVOKED_get_ext_d2i(sk_X509_REVOKED_value(revs, 0), NID_crl_reason, &crit, NULL);
        *out = e != NULL ? (int)ASN1_ENUMERATED_get(e) : -1;
        cr_assert(e != NULL || crit == -1, "undecodable reasonCode");
        ASN1_ENUMERATED_free(e);
        X509_CRL_free(crl);
    }
    derw_free(&w);
    return rc;
}

/* Every reason openssl ca can write (its crl_reasons plus "no reason"), as
 * revoked and as on hold, with what the contract says both channels carry. */
Test(reasons, ocsp_and_crl_agree_for_every_stored_reason)
{
    static const struct {
        uint8_t status, reason;
        int want;
    } cases[] = {
        {STORE_REVOKED, STORE_REASON_NONE, -1},
        {STORE_REVOKED, 0, -1}, /* unspecified: by omission */
        {STORE_REVOKED, 1, 1},
        {STORE_REVOKED, 2, 2},
        {STORE_REVOKED, 3, 3},
        {STORE_REVOKED, 4, 4},
        {STORE_REVOKED, 5, 5},
        {STORE_REVOKED, 6, 6},
        {STORE_REVOKED, 8, -1}, /* removeFromCRL: only in delta CRLs */
        {STORE_REVOKED, 9, 9},
        {STORE_REVOKED, 10, 10},
        {STORE_HOLD, STORE_REASON_NONE, 6},
        {STORE_HOLD, 6, 6},
        {STORE_HOLD, 1, 6}, /* a hold is a hold, whatever byte was kept */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int o = -2, c = -2;
        cr_assert_eq(ocsp_reason_of(cases[i].status, cases[i].reason, &o), 0, "case %zu", i);
        cr_assert_eq(crl_reason_of(cases[i].status, cases[i].reason, &c), 0, "case %zu", i);
        cr_expect_eq(o, cases[i].want, "status %u reason %u: OCSP says %d, contract %d",
                     cases[i].status, cases[i].reason, o, cases[i].want);
        cr_expect_eq(c, cases[i].want, "status %u reason %u: CRL says %d, contract %d",
                     cases[i].status, cases[i].reason, c, cases[i].want);
    }
}

/* 7 is unused and nothing above 10 is a CRLReason: both builders refuse. */
Test(reasons, both_refuse_bytes_that_are_no_reason)
{
    static const uint8_t bad[] = {7, 11, 0x80, 0xfe};
    for (size_t i = 0; i < sizeof(bad); i++) {
        int o, c;
        cr_expect_lt(ocsp_reason_of(STORE_REVOKED, bad[i], &o), 0, "OCSP signed reason %u", bad[i]);
        cr_expect_lt(crl_reason_of(STORE_REVOKED, bad[i], &c), 0, "CRL carries reason %u", bad[i]);
    }
}
