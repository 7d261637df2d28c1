/*
 * Tests of one issuer's CRL run (crlgen/run.c) and the CRL Number witnesses
 * (crlgen/crlnum.c), driven against a fresh LMDB store in a temp directory
 * with a CA generated here. They check what a relying party or an operator
 * would see: the published files (byte for byte, and the CRL Number OpenSSL
 * decodes from them), the CRL the store hands the responder, and the crlstat
 * record /healthz and /metrics report.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crl_fixture.h"
#include "crlnum.h"
#include "log.h"
#include "run.h"
#include "store.h"

#define T0   1700000000LL /* 2023-11-14T22:13:20Z */
#define DAY  86400LL
#define NAME "demo"

static char tmpdir[64];
static char store_dir[128], out_dir[128], ca_dir[128];
static char ca_cert[160], ca_key[160], index_path[160], crlnumber_path[160];
static struct store *st;
static struct config_issuer ci;
static struct crl_run run;
static struct crl_issuer is;

struct ca {
    EVP_PKEY *key;
    X509 *cert;
};
static struct ca ca_a;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A self-signed EC CA named CN=cn, written to cert_path / key_path. */
static void ca_make(struct ca *ca, const char *cn, const char *cert_path, const char *key_path)
{
    ca->key = EVP_EC_gen("P-256");
    cr_assert_not_null(ca->key);
    ca->cert = X509_new();
    cr_assert_eq(X509_set_version(ca->cert, X509_VERSION_3), 1);
    cr_assert_eq(ASN1_INTEGER_set(X509_get_serialNumber(ca->cert), 0x42), 1);
    X509_NAME *name = X509_get_subject_name(ca->cert);
    cr_assert_eq(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0),
        1);
    cr_assert_eq(X509_set_issuer_name(ca->cert, name), 1);
    cr_assert_not_null(X509_time_adj_ex(X509_getm_notBefore(ca->cert), -1, 0, NULL));
    cr_assert_not_null(X509_time_adj_ex(X509_getm_notAfter(ca->cert), 3650, 0, NULL));
    cr_assert_eq(X509_set_pubkey(ca->cert, ca->key), 1);
    fx_add_ext(ca->cert, NID_basic_constraints, "critical,CA:TRUE");
    fx_add_ext(ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    fx_add_ext(ca->cert, NID_subject_key_identifier, "hash");
    cr_assert_gt(X509_sign(ca->cert, ca->key, EVP_sha256()), 0);
    fx_write_ca(ca->cert, ca->key, cert_path, key_path);
}

static void ca_free(struct ca *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
}

/* The indexer's record of a sync: complete at `at`, or failed at `failed_at`. */
static void set_synced(uint32_t id, int64_t at)
{
    struct store_txn t;
    cr_assert_eq(store_txn_begin(st, &t, false), 0);
    cr_assert_eq(store_set_issuer_synced(&t, id, at), 0);
    cr_assert_eq(store_txn_commit(&t), 0);
}

static void set_sync(uint32_t id, int64_t failed_at, uint32_t malformed, int32_t error)
{
    struct store_issuer_sync s = {.failed_at = failed_at, .malformed = malformed, .error = error};
    struct store_txn t;
    cr_assert_eq(store_txn_begin(st, &t, false), 0);
    cr_assert_eq(store_set_issuer_sync(&t, id, &s), 0);
    cr_assert_eq(store_txn_commit(&t), 0);
}

static void put_revoked(uint32_t id, uint8_t serial, int64_t at)
{
    struct store_cert c = {.status = STORE_REVOKED,
                           .reason = 1,
                           .source = STORE_SRC_INDEX,
                           .revoked_at = at,
                           .not_after = T0 + 365 * DAY};
    struct store_txn t;
    cr_assert_eq(store_txn_begin(st, &t, false), 0);
    cr_assert_geq(store_put_cert(&t, id, &serial, 1, &c, at), 0);
    cr_assert_eq(store_txn_commit(&t), 0);
}

static struct store_issuer_rec get_rec(void)
{
    const struct store_issuer_rec *rec;
    const uint8_t *cert;
    struct store_issuer_rec copy;
    struct store_txn t;
    cr_assert_eq(store_txn_begin(st, &t, true), 0);
    cr_assert_eq(store_get_issuer_by_name(&t, NAME, &rec, &cert), 0);
    memcpy(&copy, rec, sizeof(copy));
    store_txn_abort(&t);
    return copy;
}

/* The stored full CRL (malloc'd copy), or NULL if there is none. */
static uint8_t *get_stored_crl(uint32_t id, size_t *len, uint64_t *number)
{
    const struct store_crl_hdr *hdr;
    const uint8_t *der;
    struct store_txn t;
    uint8_t *copy = NULL;
    cr_assert_eq(store_txn_begin(st, &t, true), 0);
    int rc = store_get_crl(&t, id, STORE_CRL_FULL, 0, &hdr, &der);
    if (rc == 0) {
        *len = hdr->der_len;
        *number = hdr->number;
        copy = malloc(*len);
        cr_assert_not_null(copy);
        memcpy(copy, der, *len);
    } else {
        cr_assert_eq(rc, -ENOENT);
    }
    store_txn_abort(&t);
    return copy;
}

/* Whole file (malloc'd), or NULL if absent. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        cr_assert_eq(errno, ENOENT, "%s: %s", path, strerror(errno));
        return NULL;
    }
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    cr_assert_geq(n, 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fputs(text, f) >= 0, 1);
    cr_assert_eq(fclose(f), 0);
}

static const char *published(void)
{
    static char path[192];
    snprintf(path, sizeof(path), "%s/%s.crl", out_dir, NAME);
    return path;
}

/*
 * The CRL Number OpenSSL reads from the published DER CRL, after checking its
 * signature with ca's key and its issuer name; -1 if there is no file.
 */
static long long published_number(const struct ca *ca)
{
    size_t len;
    uint8_t *der = slurp(published(), &len);
    if (der == NULL)
        return -1;
    const unsigned char *p = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
    cr_assert_not_null(crl, "published CRL does not parse");
    cr_assert_eq(X509_CRL_verify(crl, ca->key), 1, "published CRL signature does not verify");
    cr_assert_eq(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca->cert)), 0);
    ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    cr_assert_not_null(num);
    uint64_t v;
    cr_assert_eq(ASN1_INTEGER_get_uint64(&v, num), 1);
    ASN1_INTEGER_free(num);
    X509_CRL_free(crl);
    free(der);
    return (long long)v;
}

static bool published_lists(uint8_t serial)
{
    size_t len;
    uint8_t *der = slurp(published(), &len);
    cr_assert_not_null(der);
    const unsigned char *p = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
    cr_assert_not_null(crl);
    ASN1_INTEGER *s = ASN1_INTEGER_new();
    ASN1_INTEGER_set(s, serial);
    X509_REVOKED *rev = NULL;
    int found = X509_CRL_get0_by_serial(crl, &rev, s);
    ASN1_INTEGER_free(s);
    X509_CRL_free(crl);
    free(der);
    return found == 1;
}

static void setup(void)
{
    log_init("test_run", LOG_DEBUG);
    strcpy(tmpdir, "/tmp/revokd-crlrun-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(store_dir, sizeof(store_dir), "%s/store", tmpdir);
    snprintf(out_dir, sizeof(out_dir), "%s/crl", tmpdir);
    snprintf(ca_dir, sizeof(ca_dir), "%s/ca", tmpdir);
    snprintf(ca_cert, sizeof(ca_cert), "%s/ca.pem", ca_dir);
    snprintf(ca_key, sizeof(ca_key), "%s/ca.key", ca_dir);
    snprintf(index_path, sizeof(index_path), "%s/index.txt", ca_dir);
    snprintf(crlnumber_path, sizeof(crlnumber_path), "%s/crlnumber", ca_dir);
    cr_assert_eq(mkdir(ca_dir, 0700), 0);
    ca_make(&ca_a, "revokd run test CA", ca_cert, ca_key);
    cr_assert_eq(store_open(&st, store_dir, 64u << 20, 0), 0);
    memset(&ci, 0, sizeof(ci));
    ci.name = (char *)NAME;
    ci.ca_cert = ca_cert;
    ci.index = index_path;
    ci.crl_key = ca_key;
    ci.digest = (char *)"sha256";
    cr_assert_eq(crl_run_init(&run, st, out_dir, (uint32_t)DAY), 0);
    crl_issuer_init(&is, &ci);
}

static void teardown(void)
{
    crl_issuer_free(&is);
    crl_run_free(&run);
    store_close(st);
    st = NULL;
    ca_free(&ca_a);
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Throws the store away and makes a new one, as an operator rebuilding it
 * would; the CA database (and so the issuer) is the same. */
static uint32_t rebuild_store(void)
{
    crl_run_free(&run);
    store_close(st);
    nftw(store_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    cr_assert_eq(store_open(&st, store_dir, 64u << 20, 0), 0);
    cr_assert_eq(crl_run_init(&run, st, out_dir, (uint32_t)DAY), 0);
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    return id;
}

TestSuite(run, .init = setup, .fini = teardown);

/* ---- publishing and skipping ---- */

Test(run, publishes_and_counts_up_when_synced)
{
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    put_revoked(id, 0x11, T0 - DAY);

    cr_assert_eq(crl_run_issuer(&run, &is, T0), 0);
    cr_assert_eq(published_number(&ca_a), 1);
    cr_assert(published_lists(0x11));
    cr_assert_eq(crl_run_issuer(&run, &is, T0 + 60), 0);
    cr_assert_eq(published_number(&ca_a), 2);

    struct store_issuer_rec rec = get_rec();
    cr_assert_eq(rec.crl_number, 2);
    cr_assert_eq(rec.crlstat.failed_at, 0);
    cr_assert_eq(rec.crlstat.skipped, 0);
    cr_assert_eq(rec.crlstat.failures, 0);
    cr_assert(store_issuer_healthy(&rec));
}

/* The last sync was partial (a malformed line): the CRL it would make may
 * miss the revocation on that line, so nothing changes but crlstat. */
Test(run, skips_after_a_failed_sync_keeping_store_and_files)
{
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    put_revoked(id, 0x11, T0 - DAY);
    cr_assert_eq(crl_run_issuer(&run, &is, T0), 0);

    size_t der_len, pem_len, st_len;
    uint64_t st_num;
    char pem_path[200];
    snprintf(pem_path, sizeof(pem_path), "%s.pem", published());
    uint8_t *der = slurp(published(), &der_len);
    uint8_t *pem = slurp(pem_path, &pem_len);
    uint8_t *stored = get_stored_crl(id, &st_len, &st_num);
    cr_assert_not_null(der);
    cr_assert_not_null(pem);
    cr_assert_not_null(stored);

    /* A revocation the indexer did apply, then the sync was marked partial. */
    put_revoked(id, 0x22, T0 + 10);
    set_sync(id, T0 + 20, 2, EBADMSG);
    cr_assert_eq(crl_run_issuer(&run, &is, T0 + 30), -EAGAIN);
    cr_assert_eq(crl_run_issuer(&run, &is, T0 + 40), -EAGAIN);

    size_t l2;
    uint64_t n2;
    uint8_t *der2 = slurp(published(), &l2);
    cr_assert_eq(l2, der_len);
    cr_assert_arr_eq(der2, der, der_len, "published DER CRL changed");
    uint8_t *pem2 = slurp(pem_path, &l2);
    cr_assert_eq(l2, pem_len);
    cr_assert_arr_eq(pem2, pem, pem_len, "published PEM CRL changed");
    uint8_t *stored2 = get_stored_crl(id, &l2, &n2);
    cr_assert_eq(l2, st_len);
    cr_assert_eq(n2, st_num);
    cr_assert_arr_eq(stored2, stored, st_len, "stored CRL changed");

    struct store_issuer_rec rec = get_rec();
    cr_assert_eq(rec.crl_number, 1, "a skipped run must not consume a CRL Number");
    cr_assert_eq(rec.crlstat.skipped, 2);
    cr_assert_eq(rec.crlstat.failures, 0);
    cr_assert_eq(rec.crlstat.failed_at, T0 + 40);
    cr_assert_not(store_issuer_healthy(&rec));

    /* The next complete sync: a CRL again, with the new entry and number 2. */
    set_sync(id, 0, 0, 0);
    set_synced(id, T0 + 50);
    cr_assert_eq(crl_run_issuer(&run, &is, T0 + 60), 0);
    cr_assert_eq(published_number(&ca_a), 2);
    cr_assert(published_lists(0x22));
    rec = get_rec();
    cr_assert_eq(rec.crlstat.failed_at, 0);
    cr_assert_eq(rec.crlstat.skipped, 2);
    cr_assert(store_issuer_healthy(&rec));

    free(der);
    free(pem);
    free(stored);
    free(der2);
    free(pem2);
    free(stored2);
}

/* A sync that failed outright (no malformed line: the file was unreadable). */
Test(run, skips_after_a_sync_that_failed_outright)
{
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    set_sync(id, T0 + 5, 0, EACCES);
    cr_assert_eq(crl_run_issuer(&run, &is, T0 + 10), -EAGAIN);
    cr_assert_eq(published_number(&ca_a), -1, "a CRL was published");
    struct store_issuer_rec rec = get_rec();
    cr_assert_eq(rec.crlstat.skipped, 1);
    cr_assert_eq(rec.crlstat.failed_at, T0 + 10);
}

Test(run, skips_an_issuer_never_synced)
{
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    cr_assert_eq(crl_run_issuer(&run, &is, T0), -EAGAIN);
    cr_assert_eq(published_number(&ca_a), -1, "a CRL was published");
    size_t len;
    uint64_t num;
    cr_assert_null(get_stored_crl(id, &len, &num), "a CRL was stored");
    struct store_issuer_rec rec = get_rec();
    cr_assert_eq(rec.crl_number, 0);
    cr_assert_eq(rec.crlstat.skipped, 1);
    cr_assert_eq(rec.crlstat.failures, 0);
    cr_assert_eq(rec.crlstat.failed_at, T0);
}

/* The sync check wins over a bad crlnumber file: the reason to report is the
 * sync, and it is counted as a skip. */
Test(run, incomplete_sync_is_reported_before_number_sources)
{
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    set_sync(id, T0 + 1, 1, EBADMSG);
    write_file(crlnumber_path, "not hex\n");
    cr_assert_eq(crl_run_issuer(&run, &is, T0 + 2), -EAGAIN);
    struct store_issuer_rec rec = get_rec();
    cr_assert_eq(rec.crlstat.skipped, 1);
    cr_assert_eq(rec.crlstat.failures, 0);
}

/* ---- CRL Numbers ---- */

Test(run, number_from_crlnumber_next_to_index)
{
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    write_file(crlnumber_path, "5000\n");
    cr_assert_eq(crl_run_issuer(&run, &is, T0), 0);
    cr_assert_eq(published_number(&ca_a), 0x5000);
    cr_assert_eq(get_rec().crl_number, 0x5000);
    /* The file is openssl ca's, not ours: unchanged, and now below the store. */
    size_t len;
    uint8_t *text = slurp(crlnumber_path, &len);
    cr_assert_eq(len, 5);
    cr_assert_arr_eq(text, "5000\n", 5);
    free(text);
    cr_assert_eq(crl_run_issuer(&run, &is, T0 + 1), 0);
    cr_assert_eq(published_number(&ca_a), 0x5001);
}

Test(run, number_from_configured_crlnumber)
{
    char path[192];
    snprintf(path, sizeof(path), "%s/elsewhere-crlnumber", tmpdir);
    write_file(path, "1a2B\r\n");
    write_file(crlnumber_path, "7000\n"); /* not the configured one: ignored */
    ci.crlnumber = path;
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    cr_assert_eq(crl_run_issuer(&run, &is, T0), 0);
    cr_assert_eq(published_number(&ca_a), 0x1a2b);
}

Test(run, store_number_wins_when_highest)
{
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    write_file(crlnumber_path, "10\n");
    struct store_txn t;
    cr_assert_eq(store_txn_begin(st, &t, false), 0);
    cr_assert_eq(store_set_issuer_crl(&t, id, 0x40, 0), 0);
    cr_assert_eq(store_txn_commit(&t), 0);
    cr_assert_eq(crl_run_issuer(&run, &is, T0), 0);
    cr_assert_eq(published_number(&ca_a), 0x41);
}

/* The store is lost and rebuilt: the published CRL carries the number on. */
Test(run, number_from_published_crl_after_store_rebuild)
{
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(crl_run_issuer(&run, &is, T0 + i), 0);
    cr_assert_eq(published_number(&ca_a), 3);

    rebuild_store();
    /* The same process (the published file is the one it wrote: cached) ... */
    cr_assert_eq(crl_run_issuer(&run, &is, T0 + 10), 0);
    cr_assert_eq(published_number(&ca_a), 4);

    /* ... and a fresh one, which decodes the published CRL. */
    rebuild_store();
    crl_issuer_free(&is);
    crl_issuer_init(&is, &ci);
    cr_assert_eq(crl_run_issuer(&run, &is, T0 + 20), 0);
    cr_assert_eq(published_number(&ca_a), 5);
    cr_assert_eq(get_rec().crl_number, 5);
}

/* Someone else replaced the published CRL with a higher-numbered one of the
 * same CA (openssl ca -gencrl): the cache must not hide it. */
Test(run, published_crl_replaced_behind_our_back)
{
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    cr_assert_eq(crl_run_issuer(&run, &is, T0), 0);

    /* Make a CRL numbered 0x300 with OpenSSL and put it in place. */
    X509_CRL *crl = X509_CRL_new();
    cr_assert_eq(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
    cr_assert_eq(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca_a.cert)), 1);
    ASN1_TIME *tm = ASN1_TIME_set(NULL, (time_t)T0);
    cr_assert_eq(X509_CRL_set1_lastUpdate(crl, tm), 1);
    ASN1_TIME_free(tm);
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    ASN1_INTEGER_set(num, 0x300);
    cr_assert_eq(X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0), 1);
    ASN1_INTEGER_free(num);
    cr_assert_gt(X509_CRL_sign(crl, ca_a.key, EVP_sha256()), 0);
    char tmp[200];
    snprintf(tmp, sizeof(tmp), "%s/other.crl", tmpdir);
    FILE *f = fopen(tmp, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(i2d_X509_CRL_fp(f, crl), 1);
    fclose(f);
    X509_CRL_free(crl);
    cr_assert_eq(rename(tmp, published()), 0);

    cr_assert_eq(crl_run_issuer(&run, &is, T0 + 1), 0);
    cr_assert_eq(published_number(&ca_a), 0x301);
}

/* A CRL of another CA, or garbage, at our file name says nothing about our
 * numbers: ignored (with a warning) and replaced. */
Test(run, published_crl_of_another_issuer_or_garbage_is_ignored)
{
    char cert2[192], key2[192];
    struct ca other;
    snprintf(cert2, sizeof(cert2), "%s/other.pem", tmpdir);
    snprintf(key2, sizeof(key2), "%s/other.key", tmpdir);
    ca_make(&other, "some other CA", cert2, key2);

    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    /* Publish a CRL numbered 0x99 for the other CA at demo.crl. */
    {
        struct config_issuer ci2 = ci;
        ci2.ca_cert = cert2;
        ci2.crl_key = key2;
        ci2.index = cert2; /* no crlnumber next to it */
        struct crl_issuer is2;
        struct store *st2;
        struct crl_run run2;
        char dir2[192];
        snprintf(dir2, sizeof(dir2), "%s/store2", tmpdir);
        cr_assert_eq(store_open(&st2, dir2, 16u << 20, 0), 0);
        struct store *keep = st;
        st = st2;
        uint32_t id2 = fx_put_issuer(st, NAME, other.cert);
        set_synced(id2, T0);
        struct store_txn t;
        cr_assert_eq(store_txn_begin(st, &t, false), 0);
        cr_assert_eq(store_set_issuer_crl(&t, id2, 0x98, 0), 0);
        cr_assert_eq(store_txn_commit(&t), 0);
        st = keep;
        cr_assert_eq(crl_run_init(&run2, st2, out_dir, (uint32_t)DAY), 0);
        crl_issuer_init(&is2, &ci2);
        cr_assert_eq(crl_run_issuer(&run2, &is2, T0), 0);
        cr_assert_eq(published_number(&other), 0x99);
        crl_issuer_free(&is2);
        crl_run_free(&run2);
        store_close(st2);
    }
    cr_assert_eq(crl_run_issuer(&run, &is, T0 + 1), 0);
    cr_assert_eq(published_number(&ca_a), 1);

    write_file(published(), "this is not a CRL");
    cr_assert_eq(crl_run_issuer(&run, &is, T0 + 2), 0);
    cr_assert_eq(published_number(&ca_a), 2);
    ca_free(&other);
}

/* A crlnumber file that exists but says something unclear: no CRL, counted as
 * a failure, nothing published or stored. */
static void expect_number_failure(uint32_t id, int want_rc)
{
    int rc = crl_run_issuer(&run, &is, T0 + 7);
    cr_assert_lt(rc, 0);
    cr_assert_neq(rc, -EAGAIN, "counted as a skip, not a failure");
    if (want_rc != 0)
        cr_assert_eq(rc, want_rc, "rc %d (%s)", rc, strerror(-rc));
    cr_assert_eq(published_number(&ca_a), -1, "a CRL was published");
    size_t len;
    uint64_t num;
    cr_assert_null(get_stored_crl(id, &len, &num), "a CRL was stored");
    struct store_issuer_rec rec = get_rec();
    cr_assert_eq(rec.crl_number, 0);
    cr_assert_eq(rec.crlstat.failures, 1);
    cr_assert_eq(rec.crlstat.skipped, 0);
    cr_assert_eq(rec.crlstat.failed_at, T0 + 7);
    cr_assert_not(store_issuer_healthy(&rec));
}

Test(run, unparsable_crlnumber_is_a_failure)
{
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    write_file(crlnumber_path, "0x1000\n");
    expect_number_failure(id, -EBADMSG);
}

Test(run, empty_crlnumber_is_a_failure)
{
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    write_file(crlnumber_path, "");
    expect_number_failure(id, -EBADMSG);
}

Test(run, unreadable_crlnumber_is_a_failure)
{
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    /* A directory where the file should be: open works, read fails (EISDIR),
     * also for root, who can read a mode 000 file. */
    cr_assert_eq(mkdir(crlnumber_path, 0700), 0);
    expect_number_failure(id, -EISDIR);
}

Test(run, configured_crlnumber_missing_is_a_failure)
{
    char path[192];
    snprintf(path, sizeof(path), "%s/no-such-crlnumber", tmpdir);
    ci.crlnumber = path;
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    expect_number_failure(id, -ENOENT);
}

Test(run, crlnumber_above_2_63_is_a_failure)
{
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    write_file(crlnumber_path, "8000000000000001\n");
    expect_number_failure(id, -ERANGE);
}

Test(run, stored_number_at_the_limit_is_a_failure)
{
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    struct store_txn t;
    cr_assert_eq(store_txn_begin(st, &t, false), 0);
    cr_assert_eq(store_set_issuer_crl(&t, id, CRLNUM_MAX, 0), 0);
    cr_assert_eq(store_txn_commit(&t), 0);
    cr_assert_eq(crl_run_issuer(&run, &is, T0), -ERANGE);
    cr_assert_eq(published_number(&ca_a), -1);
    cr_assert_eq(get_rec().crlstat.failures, 1);
}

/* ---- other failures ---- */

/* Publishing fails after the commit: the number is consumed (never reused
 * for different contents), the failure counted, and the next run recovers. */
Test(run, publish_failure_consumes_the_number_and_counts)
{
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    /* A non-empty directory where demo.crl.pem goes: the rename over it fails
     * after the store commit (and after demo.crl was replaced). */
    char pem_dir[200], inside[220];
    snprintf(pem_dir, sizeof(pem_dir), "%s.pem", published());
    snprintf(inside, sizeof(inside), "%s/x", pem_dir);
    cr_assert_eq(mkdir(out_dir, 0755), 0);
    cr_assert_eq(mkdir(pem_dir, 0755), 0);
    write_file(inside, "x");
    cr_assert_lt(crl_run_issuer(&run, &is, T0), 0);
    struct store_issuer_rec rec = get_rec();
    cr_assert_eq(rec.crl_number, 1);
    cr_assert_eq(rec.crlstat.failures, 1);
    cr_assert_eq(rec.crlstat.failed_at, T0);
    cr_assert_eq(unlink(inside), 0);
    cr_assert_eq(rmdir(pem_dir), 0);
    cr_assert_eq(crl_run_issuer(&run, &is, T0 + 1), 0);
    cr_assert_eq(published_number(&ca_a), 2);
    rec = get_rec();
    cr_assert_eq(rec.crlstat.failed_at, 0);
    cr_assert_eq(rec.crlstat.failures, 1);
}

Test(run, signer_failure_counts)
{
    char path[192];
    snprintf(path, sizeof(path), "%s/no-such.key", tmpdir);
    ci.crl_key = path;
    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    cr_assert_lt(crl_run_issuer(&run, &is, T0), 0);
    struct store_issuer_rec rec = get_rec();
    cr_assert_eq(rec.crlstat.failures, 1);
    cr_assert_eq(rec.crlstat.failed_at, T0);
}

Test(run, issuer_not_in_store_fails)
{
    cr_assert_eq(crl_run_issuer(&run, &is, T0), -ENOENT);
    cr_assert_eq(published_number(&ca_a), -1);
}

/* ---- the crlnumber parser ---- */

Test(crlnum, parse_accepts_what_openssl_ca_writes)
{
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {
        {"00\n", 0},
        {"01\n", 1},
        {"1000\n", 0x1000},
        {"1000", 0x1000},
        {"ABCdef\r\n", 0xabcdef},
        {"1\n", 1},
        {"00000000000000000000000000000000000001\n", 1},
        {"7FFFFFFFFFFFFFFF\n", 0x7fffffffffffffffull},
        {"8000000000000000\n", CRLNUM_MAX},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 12345;
        cr_assert_eq(crlnum_parse(ok[i].s, strlen(ok[i].s), &v), 0, "%s", ok[i].s);
        cr_assert_eq(v, ok[i].v, "%s", ok[i].s);
    }
}

Test(crlnum, parse_refuses_anything_else)
{
    static const char *const bad[] = {
        "",     "\n",     "\r\n", " 10\n",      "10 \n", "0x10\n", "-1\n",
        "+1\n", "10\n\n", "1\n2", "12\\\n34\n", "1g\n",  "\n10",   "10\r",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 7;
        size_t len = strlen(bad[i]);
        cr_assert_eq(crlnum_parse(bad[i], len, &v), -EBADMSG, "\"%s\"", bad[i]);
        cr_assert_eq(v, 7);
    }
    uint64_t v;
    cr_assert_eq(crlnum_parse("1\0002\n", 4, &v), -EBADMSG, "NUL inside");
    cr_assert_eq(crlnum_parse("8000000000000001\n", 17, &v), -ERANGE);
    cr_assert_eq(crlnum_parse("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF\n", 41, &v), -ERANGE);
    cr_assert_eq(crlnum_parse("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFzz\n", 43, &v), -EBADMSG,
                 "malformed wins over too large");
}

Test(crlnum, read_file_bounds_its_size, .init = setup, .fini = teardown)
{
    char big[CRLNUM_FILE_MAX + 8];
    memset(big, '0', sizeof(big) - 2);
    big[sizeof(big) - 2] = '\n';
    big[sizeof(big) - 1] = '\0';
    write_file(crlnumber_path, big);
    uint64_t v;
    cr_assert_eq(crlnum_read_file(crlnumber_path, &v), -EBADMSG);
    big[CRLNUM_FILE_MAX - 1] = '\n';
    big[CRLNUM_FILE_MAX] = '\0';
    write_file(crlnumber_path, big);
    cr_assert_eq(crlnum_read_file(crlnumber_path, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(crlnum_read_file("/nonexistent/crlnumber", &v), -ENOENT);
}

/* ---- delta CRLs ---- */

/* CRL Number and BaseCRLNumber (-1 if absent) of a published DER file. */
static void file_numbers(const char *path, long long *number, long long *base)
{
    size_t len;
    uint8_t *der = slurp(path, &len);
    cr_assert_not_null(der, "%s missing", path);
    const unsigned char *p = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
    cr_assert_not_null(crl);
    cr_assert_eq(X509_CRL_verify(crl, ca_a.key), 1);
    ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    ASN1_INTEGER *b = X509_CRL_get_ext_d2i(crl, NID_delta_crl, NULL, NULL);
    cr_assert_not_null(num);
    *number = ASN1_INTEGER_get(num);
    *base = b != NULL ? ASN1_INTEGER_get(b) : -1;
    ASN1_INTEGER_free(num);
    ASN1_INTEGER_free(b);
    X509_CRL_free(crl);
    free(der);
}

/*
 * Full and delta share one sequence; a delta names the full CRL in the store
 * as its base; without a change since the last delta nothing is issued (no
 * number spent) unless forced; a change makes the next delta; the published
 * delta is a witness for the next number after a store rebuild.
 */
Test(run, delta_shares_the_sequence_and_follows_changes)
{
    char dpath[256];
    long long n, b;
    snprintf(dpath, sizeof(dpath), "%s/delta/%s.crl", out_dir, NAME);
    run.delta = true;
    run.delta_validity = 3600;
    run.url = "http://crl.example/crl";

    uint32_t id = fx_put_issuer(st, NAME, ca_a.cert);
    set_synced(id, T0);
    put_revoked(id, 0x11, T0 - DAY);
    cr_assert_eq(crl_run_delta(&run, &is, T0, true), -ENOENT, "no base yet");
    cr_assert_eq(crl_run_issuer(&run, &is, T0), 0);
    cr_assert_eq(crl_run_delta(&run, &is, T0, true), 0);
    file_numbers(published(), &n, &b);
    cr_assert_eq(n, 1);
    cr_assert_eq(b, -1);
    file_numbers(dpath, &n, &b);
    cr_assert_eq(n, 2);
    cr_assert_eq(b, 1);

    cr_assert_eq(crl_run_delta(&run, &is, T0 + 1, false), CRL_DELTA_NOTHING);
    cr_assert_eq(get_rec().crl_number, 2, "a delta with nothing new spent a number");
    put_revoked(id, 0x22, T0);
    cr_assert_eq(crl_run_delta(&run, &is, T0 + 2, false), 0);
    file_numbers(dpath, &n, &b);
    cr_assert_eq(n, 3);
    cr_assert_eq(b, 1);
    cr_assert_eq(get_rec().crl_number, 3);

    /* The delta file carries the highest number: a rebuilt store goes on above it. */
    crl_issuer_free(&is);
    crl_issuer_init(&is, &ci);
    rebuild_store();
    run.delta = true;
    run.delta_validity = 3600;
    run.url = "http://crl.example/crl";
    cr_assert_eq(crl_run_issuer(&run, &is, T0 + 3), 0);
    file_numbers(published(), &n, &b);
    cr_assert_eq(n, 4);
}
