/*
 * Tests for indexer/sync: an index.txt becomes store entries and verifiable
 * responses; a second run with nothing changed signs nothing; a revocation
 * appended by the CA flips exactly that certificate; malformed lines are
 * skipped and counted; and a signer the CA did not delegate is refused.
 */
#include <criterion/criterion.h>
#include <sys/stat.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "sync.h"

static char dir[64];

static char *path_of(const char *file);

/* A certificate valid from now+nb_off to now+na_off (seconds); nocheck adds id-pkix-ocsp-nocheck.
 */
static EVP_PKEY *write_cert_ex(const char *name, X509 *issuer, EVP_PKEY *issuer_key,
                               const char *eku, long nb_off, long na_off, bool nocheck, X509 **out)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), issuer ? 77 : 1);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), nb_off);
    X509_gmtime_adj(X509_getm_notAfter(x), na_off);
    X509_set_pubkey(x, k);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                                            issuer ? "CA:FALSE" : "critical,CA:TRUE");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    if (eku) {
        e = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage, eku);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    if (nocheck) {
        e = X509V3_EXT_conf_nid(NULL, &ctx, NID_id_pkix_OCSP_noCheck, "ignored");
        cr_assert_not_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    cr_assert(X509_sign(x, issuer_key ? issuer_key : k, EVP_sha256()) > 0);
    char path[128];
    snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
    FILE *f = fopen(path, "w");
    PEM_write_X509(f, x);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s.key", dir, name);
    f = fopen(path, "w");
    fchmod(fileno(f), 0600); /* signer_load refuses a key others may read */
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    *out = x;
    return k;
}

static EVP_PKEY *write_cert(const char *name, X509 *issuer, EVP_PKEY *issuer_key, const char *eku,
                            X509 **out)
{
    return write_cert_ex(name, issuer, issuer_key, eku, -3600, 86400 * 30, false, out);
}

static char *path_of(const char *file)
{
    static char bufs[8][128];
    static int i;
    char *p = bufs[i++ % 8];
    snprintf(p, 128, "%s/%s", dir, file);
    return p;
}

static void write_index(const char *text)
{
    FILE *f = fopen(path_of("index.txt"), "w");
    fputs(text, f);
    fclose(f);
}

static X509 *ca;
static EVP_PKEY *ca_key;
static struct store *store;

static void setup(void)
{
    strcpy(dir, "/tmp/revokd-sync-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    ca_key = write_cert("ca", NULL, NULL, NULL, &ca);
    X509 *x;
    EVP_PKEY_free(write_cert("ocsp", ca, ca_key, "OCSPSigning", &x));
    X509_free(x);
    EVP_PKEY_free(write_cert("notocsp", ca, ca_key, "clientAuth", &x));
    X509_free(x);
    cr_assert_eq(store_open(&store, path_of("store"), 64u << 20, 0), 0);
}

static void teardown(void)
{
    store_close(store);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
}

/* Retention long enough that the 2020 expiry below is still answered (the drop after
 * retention has its own test); two signing threads, so the pool is exercised. */
static const struct sync_params params = {.validity = 4 * 86400,
                                          .refresh = 86400,
                                          .backdate = 3600,
                                          .batch = 2,
                                          .refresh_pct = 50,
                                          .retention = 100u * 366 * 86400,
                                          .sign_threads = 2};

static struct config_issuer conf_for(const char *signer)
{
    struct config_issuer c = {.name = "test",
                              .ca_cert = path_of("ca.pem"),
                              .index = path_of("index.txt"),
                              .digest = "sha256"};
    c.signer_cert = path_of(strcmp(signer, "ca") == 0 ? "ca.pem" : signer);
    c.signer_key = path_of(strcmp(signer, "ca") == 0 ? "ca.key" : "ocsp.key");
    /* The test signers lack id-pkix-ocsp-nocheck unless a test makes one with it. */
    c.require_nocheck = false;
    return c;
}

/* CN of the certificate the last response status_of() read carries (its signer). */
static char last_signer_cn[64];

/* Looks up serial's SHA-256 response and returns OpenSSL's view of its status. */
static int status_of(struct sync_issuer *si, long serial, int *reason)
{
    struct store_txn t;
    cr_assert_eq(store_txn_begin(store, &t, true), 0);
    uint8_t s[8];
    size_t n = 0;
    for (int b = 7; b >= 0; b--)
        if (n || (serial >> (8 * b)) & 0xff || b == 0)
            s[n++] = (uint8_t)(serial >> (8 * b));
    struct store_resp r;
    int rc = store_get_response(&t, STORE_HASH_SHA256, si->hashes.name_sha256,
                                si->hashes.key_sha256, s, n, &r);
    if (rc < 0) {
        store_txn_abort(&t);
        return -1;
    }
    /* The bytes a client gets: the stored response, then its signer's block. */
    static uint8_t full[SYNC_RESP_MAX];
    cr_assert_leq(r.der_len + r.tail_len, sizeof(full));
    memcpy(full, r.der, r.der_len);
    if (r.tail_len)
        memcpy(full + r.der_len, r.tail, r.tail_len);
    const unsigned char *p = full;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)(r.der_len + r.tail_len));
    cr_assert_not_null(resp);
    cr_assert_eq(p, full + r.der_len + r.tail_len, "one DER value, nothing after it");
    OCSP_BASICRESP *bs = OCSP_response_get1_basic(resp);
    X509_STORE *xs = X509_STORE_new();
    X509_STORE_add_cert(xs, ca);
    /* Flags 0: the signer is found among the certificates the response carries. */
    cr_assert_eq(OCSP_basic_verify(bs, NULL, xs, 0), 1);
    last_signer_cn[0] = '\0';
    STACK_OF(X509) *certs = (STACK_OF(X509) *)OCSP_resp_get0_certs(bs);
    if (sk_X509_num(certs) > 0)
        X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(certs, 0)), NID_commonName,
                                  last_signer_cn, sizeof(last_signer_cn));
    ASN1_INTEGER *sn = ASN1_INTEGER_new();
    ASN1_INTEGER_set(sn, serial);
    OCSP_CERTID *id =
        OCSP_cert_id_new(EVP_sha256(), X509_get_subject_name(ca), X509_get0_pubkey_bitstr(ca), sn);
    int st = -1;
    cr_assert_eq(OCSP_resp_find_status(bs, id, &st, reason, NULL, NULL, NULL), 1);
    OCSP_CERTID_free(id);
    ASN1_INTEGER_free(sn);
    X509_STORE_free(xs);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    store_txn_abort(&t);
    return st;
}

TestSuite(sync, .init = setup, .fini = teardown);

Test(sync, index_to_verified_responses_and_incremental_resync)
{
    write_index("V\t301231000000Z\t\t1001\tunknown\t/CN=good\n"
                "R\t301231000000Z\t261101120000Z,keyCompromise\t1002\tunknown\t/CN=bad\n"
                "E\t200101000000Z\t\t1003\tunknown\t/CN=old\n"
                "R\t301231000000Z\t261101120000Z,certificateHold\t1004\tunknown\t/CN=hold\n");
    struct config_issuer c = conf_for("ocsp.pem");
    struct sync_issuer si;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    struct sync_stats st = {0};
    int64_t now = time(NULL);
    cr_assert_eq(sync_issuer_run(&si, store, &params, now, 0, &st), 0);
    cr_assert_eq(st.entries, 4);
    cr_assert_eq(st.changed, 4);
    cr_assert_eq(st.signed_, 8, "two CertID hashes per certificate");
    int reason;
    cr_assert_eq(status_of(&si, 0x1001, &reason), V_OCSP_CERTSTATUS_GOOD);
    cr_assert_eq(status_of(&si, 0x1002, &reason), V_OCSP_CERTSTATUS_REVOKED);
    cr_assert_eq(reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
    cr_assert_eq(status_of(&si, 0x1003, &reason), V_OCSP_CERTSTATUS_GOOD);
    cr_assert_eq(status_of(&si, 0x1004, &reason), V_OCSP_CERTSTATUS_REVOKED);
    cr_assert_eq(reason, OCSP_REVOKED_STATUS_CERTIFICATEHOLD);
    cr_assert_eq(status_of(&si, 0x1005, &reason), -1, "unlisted serial has no response");

    /* Unchanged file: nothing parsed, nothing signed. Forced: parsed, still nothing signed. */
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now + 1, 0, &st), 0);
    cr_assert_eq(st.entries, 0);
    cr_assert_eq(sync_issuer_run(&si, store, &params, now + 1, 1, &st), 0);
    cr_assert_eq(st.entries, 4);
    cr_assert_eq(st.signed_, 0);

    /* The CA revokes 1001 (as `openssl ca -revoke` rewrites index.txt). */
    write_index("R\t301231000000Z\t261123120000Z,superseded\t1001\tunknown\t/CN=good\n"
                "R\t301231000000Z\t261101120000Z,keyCompromise\t1002\tunknown\t/CN=bad\n"
                "E\t200101000000Z\t\t1003\tunknown\t/CN=old\n"
                "R\t301231000000Z\t261101120000Z,certificateHold\t1004\tunknown\t/CN=hold\n"
                "V\t301231000000Z\t\t1005\tunknown\t/CN=new\n");
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now + 2, 0, &st), 0);
    cr_assert_eq(st.changed, 2);
    cr_assert_eq(st.signed_, 4);
    cr_assert_eq(status_of(&si, 0x1001, &reason), V_OCSP_CERTSTATUS_REVOKED);
    cr_assert_eq(reason, OCSP_REVOKED_STATUS_SUPERSEDED);
    cr_assert_eq(status_of(&si, 0x1005, &reason), V_OCSP_CERTSTATUS_GOOD);

    /* Responses nearing nextUpdate are re-signed even if nothing changed. */
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now + 3 * 86400, 0, &st), 0);
    cr_assert_eq(st.signed_, 10);
    sync_issuer_free(&si);
}

Test(sync, malformed_lines_are_skipped_and_counted)
{
    write_index("V\t301231000000Z\t\t1001\tunknown\t/CN=good\n"
                "X\tgarbage\n"
                "R\t301231000000Z\t\t1002\tunknown\t/CN=no-date\n");
    struct config_issuer c = conf_for("ca");
    struct sync_issuer si;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    struct sync_stats st = {0};
    cr_assert_eq(sync_issuer_run(&si, store, &params, time(NULL), 0, &st), 0);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.malformed, 2);
    int reason;
    cr_assert_eq(status_of(&si, 0x1001, &reason), V_OCSP_CERTSTATUS_GOOD);
    cr_assert_eq(status_of(&si, 0x1002, &reason), -1, "a line we cannot read is never good");
    sync_issuer_free(&si);
}

Test(sync, refuses_signer_without_ocsp_delegation)
{
    write_index("");
    struct config_issuer c = conf_for("notocsp.pem");
    c.signer_key = path_of("notocsp.key");
    struct sync_issuer si;
    cr_assert_eq(sync_issuer_init(&si, &c, store), -EINVAL);
    /* A signer the CA never issued is refused too. */
    X509 *other;
    EVP_PKEY *ok = write_cert("stranger", NULL, NULL, NULL, &other);
    c.signer_cert = path_of("stranger.pem");
    c.signer_key = path_of("stranger.key");
    cr_assert_eq(sync_issuer_init(&si, &c, store), -EINVAL);
    X509_free(other);
    EVP_PKEY_free(ok);
}

Test(sync, missing_index_is_an_error)
{
    struct config_issuer c = conf_for("ca");
    c.index = path_of("nope.txt");
    struct sync_issuer si;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    struct sync_stats st = {0};
    cr_assert_eq(sync_issuer_run(&si, store, &params, time(NULL), 0, &st), -ENOENT);
    sync_issuer_free(&si);
}

/* ---- issue 13: health record, never undo, reasons, thisUpdate, signer lifecycle ---- */

static void serial_bytes(long serial, uint8_t s[8], size_t *n)
{
    *n = 0;
    for (int b = 7; b >= 0; b--)
        if (*n || (serial >> (8 * b)) & 0xff || b == 0)
            s[(*n)++] = (uint8_t)(serial >> (8 * b));
}

/* The stored SHA-1 response header of serial; false if there is none. */
static bool resp_hdr(struct sync_issuer *si, long serial, struct store_resp_hdr *out)
{
    struct store_txn t;
    cr_assert_eq(store_txn_begin(store, &t, true), 0);
    uint8_t s[8];
    size_t n;
    serial_bytes(serial, s, &n);
    struct store_resp r;
    int rc = store_get_response(&t, STORE_HASH_SHA1, si->hashes.name_sha1, si->hashes.key_sha1, s,
                                n, &r);
    if (rc == 0)
        memcpy(out, r.hdr, sizeof(*out));
    store_txn_abort(&t);
    return rc == 0;
}

static struct store_issuer_rec issuer_rec(struct sync_issuer *si)
{
    struct store_txn t;
    const struct store_issuer_rec *rec;
    const uint8_t *cert;
    struct store_issuer_rec copy;
    cr_assert_eq(store_txn_begin(store, &t, true), 0);
    cr_assert_eq(store_get_issuer(&t, si->id, &rec, &cert), 0);
    memcpy(&copy, rec, sizeof(copy));
    store_txn_abort(&t);
    return copy;
}

/* UTCTime as index.txt has it. */
static const char *utc(int64_t t)
{
    static char bufs[4][80];
    static int i;
    char *b = bufs[i++ % 4];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    snprintf(b, 80, "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    return b;
}

static void write_indexf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void write_indexf(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    write_index(buf);
}

Test(sync, serial_zero_is_served_and_sync_complete)
{
    write_index("V\t301231000000Z\t\t00\tunknown\t/CN=zero\n"
                "R\t301231000000Z\t261101120000Z,keyCompromise\t-0A\tunknown\t/CN=negative\n");
    struct config_issuer c = conf_for("ocsp.pem");
    struct sync_issuer si;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    struct sync_stats st = {0};
    int64_t now = time(NULL);
    cr_assert_eq(sync_issuer_run(&si, store, &params, now, 0, &st), 0);
    cr_assert_eq(st.entries, 2);
    cr_assert_eq(st.malformed, 0);
    int reason;
    cr_assert_eq(status_of(&si, 0, &reason), V_OCSP_CERTSTATUS_GOOD);
    struct store_issuer_rec rec = issuer_rec(&si);
    cr_assert_eq(rec.sync.failed_at, 0);
    cr_assert_eq(rec.synced_at, now);
    cr_assert(store_issuer_healthy(&rec));
    /* The negative serial is stored as its DER two's complement, 0xF6. */
    struct store_txn t;
    struct store_cert sc;
    cr_assert_eq(store_txn_begin(store, &t, true), 0);
    cr_assert_eq(store_get_cert(&t, si.id, (const uint8_t[]){0xf6}, 1, &sc), 0);
    cr_assert_eq(sc.status, STORE_REVOKED);
    store_txn_abort(&t);
    sync_issuer_free(&si);
}

Test(sync, partial_sync_applies_good_lines_and_records_health)
{
    struct config_issuer c = conf_for("ocsp.pem");
    struct sync_issuer si;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    int64_t now = time(NULL);
    write_index("V\t301231000000Z\t\t1001\tunknown\t/CN=a\n"
                "V\t301231000000Z\t\t1002\tunknown\t/CN=b\n");
    struct sync_stats st = {0};
    cr_assert_eq(sync_issuer_run(&si, store, &params, now, 0, &st), 0);
    cr_assert_eq(issuer_rec(&si).synced_at, now);

    /* 1001 revoked; 1002's line is damaged; a new good line. */
    write_index("R\t301231000000Z\t261101120000Z,superseded\t1001\tunknown\t/CN=a\n"
                "R\t301231000000Z\t2611011200Z!\t1002\tunknown\t/CN=b\n"
                "V\t301231000000Z\t\t1003\tunknown\t/CN=c\n");
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now + 5, 0, &st), 0);
    cr_assert_eq(st.malformed, 1);
    int reason;
    cr_assert_eq(status_of(&si, 0x1001, &reason), V_OCSP_CERTSTATUS_REVOKED,
                 "well-formed lines are applied");
    cr_assert_eq(status_of(&si, 0x1002, &reason), V_OCSP_CERTSTATUS_GOOD, "keeps stored state");
    cr_assert_eq(status_of(&si, 0x1003, &reason), V_OCSP_CERTSTATUS_GOOD);
    struct store_issuer_rec rec = issuer_rec(&si);
    cr_assert_eq(rec.sync.failed_at, now + 5);
    cr_assert_eq(rec.sync.malformed, 1);
    cr_assert_eq(rec.sync.error, EBADMSG);
    cr_assert_eq(rec.synced_at, now, "synced_at not advanced by a partial sync");
    cr_assert_not(store_issuer_healthy(&rec));

    /* Fixed: complete again. */
    write_index("R\t301231000000Z\t261101120000Z,superseded\t1001\tunknown\t/CN=a\n"
                "R\t301231000000Z\t261101120000Z\t1002\tunknown\t/CN=b\n"
                "V\t301231000000Z\t\t1003\tunknown\t/CN=c\n");
    cr_assert_eq(sync_issuer_run(&si, store, &params, now + 9, 0, &st), 0);
    rec = issuer_rec(&si);
    cr_assert_eq(rec.sync.failed_at, 0);
    cr_assert_eq(rec.sync.malformed, 0);
    cr_assert_eq(rec.sync.error, 0);
    cr_assert_eq(rec.synced_at, now + 9);
    cr_assert_eq(status_of(&si, 0x1002, &reason), V_OCSP_CERTSTATUS_REVOKED);
    sync_issuer_free(&si);
}

Test(sync, outright_failure_records_health)
{
    struct config_issuer c = conf_for("ca");
    c.index = path_of("nope.txt");
    struct sync_issuer si;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    struct sync_stats st = {0};
    int64_t now = time(NULL);
    cr_assert_eq(sync_issuer_run(&si, store, &params, now, 0, &st), -ENOENT);
    struct store_issuer_rec rec = issuer_rec(&si);
    cr_assert_eq(rec.sync.failed_at, now);
    cr_assert_eq(rec.sync.error, ENOENT);
    cr_assert_gt(rec.sync.signer_not_after, now, "signer dates recorded on failure too");
    cr_assert_gt(rec.sync.ca_not_after, now);
    /* The same failure a second later is not rewritten: failed_at keeps its first time. */
    cr_assert_eq(sync_issuer_run(&si, store, &params, now + 1, 0, &st), -ENOENT);
    cr_assert_eq(issuer_rec(&si).sync.failed_at, now);
    sync_issuer_free(&si);
}

Test(sync, never_undo_a_revocation)
{
    struct config_issuer c = conf_for("ocsp.pem");
    struct sync_issuer si;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    int64_t now = time(NULL);
    write_index("R\t301231000000Z\t261101120000Z,keyCompromise\t1001\tunknown\t/CN=a\n"
                "R\t301231000000Z\t261101120000Z,certificateHold\t1002\tunknown\t/CN=held\n"
                "R\t301231000000Z\t261101120000Z,superseded\t1003\tunknown\t/CN=c\n");
    struct sync_stats st = {0};
    cr_assert_eq(sync_issuer_run(&si, store, &params, now, 0, &st), 0);
    struct store_resp_hdr h1;
    cr_assert(resp_hdr(&si, 0x1001, &h1));

    /* Someone edits R back to V for 1001, releases the hold on 1002 (removeFromCRL), and
     * "releases" 1003, which was never on hold. */
    write_index("V\t301231000000Z\t\t1001\tunknown\t/CN=a\n"
                "R\t301231000000Z\t261102120000Z,removeFromCRL\t1002\tunknown\t/CN=held\n"
                "R\t301231000000Z\t261102120000Z,removeFromCRL\t1003\tunknown\t/CN=c\n");
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now + 1, 0, &st), 0);
    cr_assert_eq(st.unrevoke_refused, 2);
    cr_assert_eq(st.changed, 1, "only the hold was released");
    int reason;
    cr_assert_eq(status_of(&si, 0x1001, &reason), V_OCSP_CERTSTATUS_REVOKED);
    cr_assert_eq(reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
    cr_assert_eq(status_of(&si, 0x1002, &reason), V_OCSP_CERTSTATUS_GOOD);
    cr_assert_eq(status_of(&si, 0x1003, &reason), V_OCSP_CERTSTATUS_REVOKED);
    cr_assert_eq(reason, OCSP_REVOKED_STATUS_SUPERSEDED);
    struct store_resp_hdr h2;
    cr_assert(resp_hdr(&si, 0x1001, &h2));
    cr_assert_eq(h2.produced_at, h1.produced_at, "kept response not re-signed needlessly");
    struct store_issuer_rec rec = issuer_rec(&si);
    cr_assert_eq(rec.sync.unrevoke_refused, 2);
    cr_assert_eq(rec.sync.failed_at, 0);
    cr_assert_not(store_issuer_healthy(&rec));

    /* Refreshing near nextUpdate re-signs the kept revocation from the stored state. */
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now + 3 * 86400, 0, &st), 0);
    cr_assert_eq(status_of(&si, 0x1001, &reason), V_OCSP_CERTSTATUS_REVOKED);
    cr_assert(resp_hdr(&si, 0x1001, &h2));
    cr_assert_eq(h2.produced_at, now + 3 * 86400);

    /* --unrevoke: refused for what the source still lists as revoked (1003's line is
     * removeFromCRL, i.e. good, so it may be corrected; 1001 is valid). */
    struct sync_unrevoke_result res;
    cr_assert_eq(
        sync_unrevoke(&si, store, &params, (const uint8_t[]){0x10, 0x01}, 2, now + 10, &res), 0);
    cr_assert_eq(res.before.status, STORE_REVOKED);
    cr_assert_eq(res.after.status, STORE_GOOD);
    cr_assert_eq(res.line, 1);
    cr_assert_eq(status_of(&si, 0x1001, &reason), V_OCSP_CERTSTATUS_GOOD);
    /* Nothing left to correct for 1001 now; 1002 was never revoked; 9999 unknown. */
    cr_assert_eq(
        sync_unrevoke(&si, store, &params, (const uint8_t[]){0x10, 0x01}, 2, now + 11, &res),
        -EPERM);
    cr_assert_eq(
        sync_unrevoke(&si, store, &params, (const uint8_t[]){0x10, 0x02}, 2, now + 11, &res),
        -EPERM);
    cr_assert_eq(
        sync_unrevoke(&si, store, &params, (const uint8_t[]){0x99, 0x99}, 2, now + 11, &res),
        -ENOENT);
    /* The source lists 1003 as revoked again: refused, the store keeps it revoked. */
    write_index("V\t301231000000Z\t\t1001\tunknown\t/CN=a\n"
                "R\t301231000000Z\t261102120000Z,removeFromCRL\t1002\tunknown\t/CN=held\n"
                "R\t301231000000Z\t261101120000Z,superseded\t1003\tunknown\t/CN=c\n");
    cr_assert_eq(
        sync_unrevoke(&si, store, &params, (const uint8_t[]){0x10, 0x03}, 2, now + 12, &res),
        -EPERM);
    cr_assert(strstr(res.why, "still lists the certificate as revoked"), "%s", res.why);
    cr_assert_eq(status_of(&si, 0x1003, &reason), V_OCSP_CERTSTATUS_REVOKED);
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now + 13, 0, &st), 0);
    cr_assert_eq(st.unrevoke_refused, 0);
    rec = issuer_rec(&si);
    cr_assert(store_issuer_healthy(&rec));
    sync_issuer_free(&si);
}

Test(sync, this_update_never_before_revocation_time)
{
    struct config_issuer c = conf_for("ocsp.pem");
    struct sync_issuer si;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    int64_t now = time(NULL);
    /* Revoked 10 s ago (backdate is 1 h), on hold 2 h ago, and one dated tomorrow. */
    write_indexf("R\t301231000000Z\t%s,keyCompromise\t1001\tunknown\t/CN=fresh\n"
                 "R\t301231000000Z\t%s,certificateHold\t1002\tunknown\t/CN=held\n"
                 "V\t301231000000Z\t\t1003\tunknown\t/CN=good\n"
                 "R\t301231000000Z\t%s,superseded\t1004\tunknown\t/CN=future\n",
                 utc(now - 10), utc(now - 7200), utc(now + 86400));
    struct sync_stats st = {0};
    cr_assert_eq(sync_issuer_run(&si, store, &params, now, 0, &st), 0);
    struct store_resp_hdr h;
    cr_assert(resp_hdr(&si, 0x1001, &h));
    cr_assert_eq(h.this_update, now - 10, "thisUpdate = revocationTime for a fresh revocation");
    cr_assert_eq(h.next_update, now - 10 + params.validity);
    cr_assert(resp_hdr(&si, 0x1002, &h));
    cr_assert_eq(h.this_update, now - 3600);
    cr_assert(resp_hdr(&si, 0x1003, &h));
    cr_assert_eq(h.this_update, now - 3600);
    /* A future revocation: applied (fail closed), thisUpdate = now, sync partial. */
    cr_assert(resp_hdr(&si, 0x1004, &h));
    cr_assert_eq(h.this_update, now);
    int reason;
    cr_assert_eq(status_of(&si, 0x1004, &reason), V_OCSP_CERTSTATUS_REVOKED);
    cr_assert_eq(st.doubtful, 1);
    struct store_issuer_rec rec = issuer_rec(&si);
    cr_assert_eq(rec.sync.failed_at, now);
    cr_assert_eq(rec.sync.error, EBADMSG);
    /* Once the date has passed, the unchanged file is read again and the sync completes,
     * and the response is re-signed so that thisUpdate >= revocationTime. */
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now + 86401, 0, &st), 0);
    cr_assert_eq(st.doubtful, 0);
    cr_assert_eq(issuer_rec(&si).sync.failed_at, 0);
    cr_assert(resp_hdr(&si, 0x1004, &h));
    cr_assert_geq(h.this_update, now + 86400);
    sync_issuer_free(&si);
}

Test(sync, signer_outside_validity_or_without_nocheck_is_refused)
{
    write_index("");
    X509 *x;
    EVP_PKEY_free(
        write_cert_ex("expired", ca, ca_key, "OCSPSigning", -86400 * 10, -86400, true, &x));
    X509_free(x);
    EVP_PKEY_free(write_cert_ex("future", ca, ca_key, "OCSPSigning", 86400, 86400 * 10, true, &x));
    X509_free(x);
    EVP_PKEY_free(write_cert_ex("nocheck", ca, ca_key, "OCSPSigning", -3600, 86400 * 30, true, &x));
    X509_free(x);
    struct sync_issuer si;
    static const char *const refused[] = {"expired", "future"};
    for (int i = 0; i < 2; i++) {
        struct config_issuer c = conf_for("ocsp.pem");
        char cert[32], key[32];
        snprintf(cert, sizeof(cert), "%s.pem", refused[i]);
        snprintf(key, sizeof(key), "%s.key", refused[i]);
        c.signer_cert = path_of(cert);
        c.signer_key = path_of(key);
        cr_assert_eq(sync_issuer_init(&si, &c, store), -EINVAL, "%s signer accepted", refused[i]);
    }
    /* No id-pkix-ocsp-nocheck: refused by default, accepted with require_nocheck = no. */
    struct config_issuer c = conf_for("ocsp.pem");
    c.require_nocheck = true;
    cr_assert_eq(sync_issuer_init(&si, &c, store), -EINVAL);
    c.require_nocheck = false;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    sync_issuer_free(&si);
    c.signer_cert = path_of("nocheck.pem");
    c.signer_key = path_of("nocheck.key");
    c.require_nocheck = true;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    sync_issuer_free(&si);
    /* The CA itself needs no nocheck. */
    c = conf_for("ca");
    c.require_nocheck = true;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    sync_issuer_free(&si);
}

Test(sync, signer_expiry_caps_next_update_then_stops_signing)
{
    X509 *x;
    /* Expires in two days, before the four-day validity runs out. */
    EVP_PKEY_free(write_cert_ex("short", ca, ca_key, "OCSPSigning", -3600, 2 * 86400, true, &x));
    int64_t not_after;
    {
        ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
        int d, sec;
        ASN1_TIME_diff(&d, &sec, epoch, X509_get0_notAfter(x));
        not_after = (int64_t)d * 86400 + sec;
        ASN1_TIME_free(epoch);
    }
    X509_free(x);
    struct config_issuer c = conf_for("ocsp.pem");
    c.signer_cert = path_of("short.pem");
    c.signer_key = path_of("short.key");
    c.require_nocheck = true;
    struct sync_issuer si;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    int64_t now = time(NULL);
    write_index("V\t301231000000Z\t\t1001\tunknown\t/CN=a\n"
                "V\t301231000000Z\t\t1002\tunknown\t/CN=b\n");
    struct sync_params pw = params;
    pw.signer_warn = 30 * 86400;
    struct sync_stats st = {0};
    cr_assert_eq(sync_issuer_run(&si, store, &pw, now, 0, &st), 0);
    struct store_resp_hdr h;
    cr_assert(resp_hdr(&si, 0x1001, &h));
    cr_assert_eq(h.next_update, not_after, "nextUpdate capped at the signer's notAfter");
    struct store_issuer_rec rec = issuer_rec(&si);
    cr_assert_eq(rec.sync.signer_not_after, not_after);
    cr_assert_eq(rec.sync.signer_problem, 0);

    /* Inside the refresh window, capped: no re-sign burst on every run. */
    for (int i = 1; i <= 3; i++) {
        memset(&st, 0, sizeof(st));
        cr_assert_eq(sync_issuer_run(&si, store, &pw, not_after - 3600 * i, 1, &st), 0);
        cr_assert_eq(st.signed_, 0, "capped responses re-signed at run %d", i);
    }

    /* The signer expires while running: nothing is signed, the problem is recorded even
     * though the file did not change, and a certificate whose status changes loses its
     * (now wrong) good response; an unchanged one keeps its own. */
    cr_assert_eq(sync_issuer_run(&si, store, &pw, not_after + 10, 0, &st), 0);
    rec = issuer_rec(&si);
    cr_assert_eq(rec.sync.signer_problem, STORE_SIGNER_EXPIRED);
    cr_assert_not(store_issuer_healthy(&rec));
    write_index("R\t301231000000Z\t261101120000Z,keyCompromise\t1001\tunknown\t/CN=a\n"
                "V\t301231000000Z\t\t1002\tunknown\t/CN=b\n");
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &pw, not_after + 20, 0, &st), 0);
    cr_assert_eq(st.signed_, 0);
    cr_assert_eq(st.withdrawn, 1);
    cr_assert_eq(st.signer_problem, STORE_SIGNER_EXPIRED);
    cr_assert_not(resp_hdr(&si, 0x1001, &h), "stale good response left behind");
    cr_assert(resp_hdr(&si, 0x1002, &h));
    struct store_txn t;
    struct store_cert sc;
    cr_assert_eq(store_txn_begin(store, &t, true), 0);
    cr_assert_eq(store_get_cert(&t, si.id, (const uint8_t[]){0x10, 0x01}, 2, &sc), 0);
    cr_assert_eq(sc.status, STORE_REVOKED, "the status itself still reaches the store (CRL)");
    store_txn_abort(&t);
    sync_issuer_free(&si);
}

/*
 * Issue 8 item 5: a new signer in the config re-signs every response, and until
 * then each stored response is served with the certificate of the signer that
 * signed it (never another's), so clients verify every answer throughout.
 */
Test(sync, signer_rotation_resigns_without_a_gap)
{
    write_index("V\t301231000000Z\t\t1001\tunknown\t/CN=good\n"
                "R\t301231000000Z\t261101120000Z,keyCompromise\t1002\tunknown\t/CN=bad\n"
                "V\t301231000000Z\t\t1003\tunknown\t/CN=three\n");
    X509 *x;
    EVP_PKEY_free(write_cert("ocsp2", ca, ca_key, "OCSPSigning", &x));
    X509_free(x);
    /* path_of() reuses 8 buffers: keep copies of what the configs point at. */
    char ca_pem[128], index[128], a_pem[128], a_key[128], b_pem[128], b_key[128];
    snprintf(ca_pem, sizeof(ca_pem), "%s", path_of("ca.pem"));
    snprintf(index, sizeof(index), "%s", path_of("index.txt"));
    snprintf(a_pem, sizeof(a_pem), "%s", path_of("ocsp.pem"));
    snprintf(a_key, sizeof(a_key), "%s", path_of("ocsp.key"));
    snprintf(b_pem, sizeof(b_pem), "%s", path_of("ocsp2.pem"));
    snprintf(b_key, sizeof(b_key), "%s", path_of("ocsp2.key"));
    struct config_issuer ca_a = {.name = "test",
                                 .ca_cert = ca_pem,
                                 .index = index,
                                 .digest = "sha256",
                                 .signer_cert = a_pem,
                                 .signer_key = a_key,
                                 .require_nocheck = false};
    struct config_issuer ca_b = ca_a;
    ca_b.signer_cert = b_pem;
    ca_b.signer_key = b_key;
    struct sync_issuer a, b, a2;
    struct sync_stats st = {0};
    int64_t now = time(NULL);
    int reason;
    cr_assert_eq(sync_issuer_init(&a, &ca_a, store), 0);
    cr_assert_eq(sync_issuer_run(&a, store, &params, now, 0, &st), 0);
    cr_assert_eq(st.signed_, 6);
    cr_assert_eq(status_of(&a, 0x1001, &reason), V_OCSP_CERTSTATUS_GOOD);
    cr_assert_str_eq(last_signer_cn, "ocsp");

    /* The operator configures signer B; the indexer restarts with it. Before its first
     * sync every response still verifies, carrying A's certificate. */
    cr_assert_eq(sync_issuer_init(&b, &ca_b, store), 0);
    cr_assert_neq(b.signer_id, a.signer_id);
    struct store_resp_hdr h;
    cr_assert(resp_hdr(&b, 0x1002, &h));
    cr_assert_eq(h.signer, a.signer_id);
    cr_assert_eq(status_of(&b, 0x1002, &reason), V_OCSP_CERTSTATUS_REVOKED);
    cr_assert_str_eq(last_signer_cn, "ocsp");

    /* Its first sync re-signs everything with B, though nothing else changed. */
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&b, store, &params, now + 1, 0, &st), 0);
    cr_assert_eq(st.changed, 0);
    cr_assert_eq(st.signed_, 6, "every response re-signed by the new signer");
    for (long s = 0x1001; s <= 0x1003; s++) {
        cr_assert(resp_hdr(&b, s, &h));
        cr_assert_eq(h.signer, b.signer_id);
        cr_assert_eq(status_of(&b, s, &reason),
                     s == 0x1002 ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD);
        cr_assert_str_eq(last_signer_cn, "ocsp2");
    }
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&b, store, &params, now + 2, 1, &st), 0);
    cr_assert_eq(st.signed_, 0, "once re-signed, nothing more to do");

    /* Back to A (a rollback): its block is found again by content, same id. */
    cr_assert_eq(sync_issuer_init(&a2, &ca_a, store), 0);
    cr_assert_eq(a2.signer_id, a.signer_id);
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&a2, store, &params, now + 3, 0, &st), 0);
    cr_assert_eq(st.signed_, 6);
    cr_assert_eq(status_of(&a2, 0x1003, &reason), V_OCSP_CERTSTATUS_GOOD);
    cr_assert_str_eq(last_signer_cn, "ocsp");
    sync_issuer_free(&a);
    sync_issuer_free(&b);
    sync_issuer_free(&a2);
}

/* ---- the merge-walk engine: removal, retention, refresh spread, many chunks ---- */

Test(sync, certificate_no_source_lists_is_no_longer_good)
{
    write_index("V\t301231000000Z\t\t1001\tunknown\t/CN=a\n"
                "V\t301231000000Z\t\t1002\tunknown\t/CN=b\n"
                "R\t301231000000Z\t261101120000Z,keyCompromise\t1003\tunknown\t/CN=c\n");
    struct config_issuer c = conf_for("ocsp.pem");
    struct sync_issuer si;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    struct sync_stats st = {0};
    int64_t now = time(NULL);
    int reason;
    cr_assert_eq(sync_issuer_run(&si, store, &params, now, 0, &st), 0);
    cr_assert_eq(status_of(&si, 0x1002, &reason), V_OCSP_CERTSTATUS_GOOD);

    /* A malformed line might be 1002: nothing is removed while the read is partial. */
    write_index("V\t301231000000Z\t\t1001\tunknown\t/CN=a\n"
                "V\tgarbage\n");
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now, 1, &st), 0);
    cr_assert_eq(st.removed, 0);
    cr_assert_eq(status_of(&si, 0x1002, &reason), V_OCSP_CERTSTATUS_GOOD);
    cr_assert_eq(status_of(&si, 0x1003, &reason), V_OCSP_CERTSTATUS_REVOKED);

    /* Read whole: the good one no source lists is removed (unauthorized, never good);
     * the revoked one stays revoked. */
    write_index("V\t301231000000Z\t\t1001\tunknown\t/CN=a\n");
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now, 1, &st), 0);
    cr_assert_eq(st.removed, 1);
    cr_assert_eq(status_of(&si, 0x1002, &reason), -1, "removed: no response at all");
    cr_assert_eq(status_of(&si, 0x1003, &reason), V_OCSP_CERTSTATUS_REVOKED);
    cr_assert_eq(status_of(&si, 0x1001, &reason), V_OCSP_CERTSTATUS_GOOD);
    struct store_txn t;
    struct store_cert cert;
    cr_assert_eq(store_txn_begin(store, &t, true), 0);
    cr_assert_eq(store_get_cert(&t, si.id, (const uint8_t *)"\x10\x02", 2, &cert), -ENOENT);
    cr_assert_eq(store_get_cert(&t, si.id, (const uint8_t *)"\x10\x03", 2, &cert), 0);
    cr_assert_eq(cert.listed, 0, "no source lists it, kept because revoked");
    store_txn_abort(&t);

    /* Listed again: answered again. */
    write_index("V\t301231000000Z\t\t1001\tunknown\t/CN=a\n"
                "V\t301231000000Z\t\t1002\tunknown\t/CN=b\n");
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now, 1, &st), 0);
    cr_assert_eq(status_of(&si, 0x1002, &reason), V_OCSP_CERTSTATUS_GOOD);
    cr_assert_eq(st.unrevoke_refused, 0, "1003 merely unlisted is no un-revocation");
    sync_issuer_free(&si);
}

Test(sync, expired_certificates_are_dropped_after_retention)
{
    int64_t now = time(NULL);
    /* 1001 expired two days ago, 1002 (revoked) ten days ago, 1003 valid. */
    char buf[512], e1[20], e2[20];
    time_t x1 = (time_t)(now - 2 * 86400), x2 = (time_t)(now - 10 * 86400);
    strftime(e1, sizeof(e1), "%Y%m%d%H%M%SZ", gmtime(&x1));
    strftime(e2, sizeof(e2), "%Y%m%d%H%M%SZ", gmtime(&x2));
    snprintf(buf, sizeof(buf),
             "E\t%s\t\t1001\tunknown\t/CN=a\n"
             "R\t%s\t200101000000Z,keyCompromise\t1002\tunknown\t/CN=b\n"
             "V\t301231000000Z\t\t1003\tunknown\t/CN=c\n",
             e1, e2);
    write_index(buf);
    struct config_issuer c = conf_for("ocsp.pem");
    struct sync_issuer si;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    struct sync_params p = params;
    p.retention = 5 * 86400;
    struct sync_stats st = {0};
    int reason;
    cr_assert_eq(sync_issuer_run(&si, store, &p, now, 0, &st), 0);
    cr_assert_eq(status_of(&si, 0x1001, &reason), V_OCSP_CERTSTATUS_GOOD,
                 "expired within retention: still answered");
    cr_assert_eq(status_of(&si, 0x1002, &reason), -1, "expired past retention: never stored");
    /* Four days later 1001 is past retention too: dropped. */
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &p, now + 4 * 86400, 1, &st), 0);
    cr_assert_eq(st.removed, 1);
    cr_assert_eq(status_of(&si, 0x1001, &reason), -1);
    cr_assert_eq(status_of(&si, 0x1003, &reason), V_OCSP_CERTSTATUS_GOOD);
    sync_issuer_free(&si);
}

/* Writes an index of n good certificates with serials 0x10000 + i. */
static void write_big_index(int n)
{
    FILE *f = fopen(path_of("index.txt"), "w");
    for (int i = 0; i < n; i++)
        fprintf(f, "V\t301231000000Z\t\t%X\tunknown\t/CN=%d\n", 0x10000 + i, i);
    fclose(f);
}

Test(sync, refresh_is_spread_over_the_window)
{
    enum { N = 400 };
    write_big_index(N);
    struct config_issuer c = conf_for("ocsp.pem");
    struct sync_issuer si;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    struct sync_stats st = {0};
    int64_t now = time(NULL);
    cr_assert_eq(sync_issuer_run(&si, store, &params, now, 0, &st), 0);
    cr_assert_eq(st.signed_, 2 * N);
    /* thisUpdate = now - 1h; validity 4d, refresh_at 50%, refresh 1d: each response is
     * due somewhere in [tu + 2d, tu + 3d]. Before the window: nothing. */
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now + 2 * 86400 - 7200, 1, &st), 0);
    cr_assert_eq(st.signed_, 0);
    /* Half way through it: some, not all (no burst). */
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now + 2 * 86400 + 43200, 1, &st), 0);
    cr_assert_gt(st.signed_, 2 * N / 4);
    cr_assert_lt(st.signed_, 2 * N * 3 / 4);
    /* The follow loop's next_due points inside the window, not at its end. */
    cr_assert_gt(si.next_due, now + 2 * 86400 + 43200 - 3600);
    cr_assert_lt(si.next_due, now + 3 * 86400);
    /* At the hard margin: the rest, and only the rest. */
    uint64_t first = st.signed_;
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now + 3 * 86400, 1, &st), 0);
    cr_assert_eq(st.signed_ + first, 2 * N);
    sync_issuer_free(&si);
}

Test(sync, many_chunks_on_threads_commit_everything_in_order)
{
    enum { N = 3000 }; /* about three signing chunks, 1500 write transactions of 2 */
    write_big_index(N);
    struct config_issuer c = conf_for("ocsp.pem");
    struct sync_issuer si;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    struct sync_params p = params;
    p.sign_threads = 3;
    struct sync_stats st = {0};
    int64_t now = time(NULL);
    cr_assert_eq(sync_issuer_run(&si, store, &p, now, 0, &st), 0);
    cr_assert_eq(st.entries, N);
    cr_assert_eq(st.signed_, 2 * N);
    int reason;
    for (int i = 0; i < N; i += 97)
        cr_assert_eq(status_of(&si, 0x10000 + i, &reason), V_OCSP_CERTSTATUS_GOOD, "serial %X",
                     0x10000 + i);
    struct store_txn t;
    struct store_stats ss;
    cr_assert_eq(store_txn_begin(store, &t, true), 0);
    cr_assert_eq(store_stats(&t, &ss), 0);
    store_txn_abort(&t);
    cr_assert_eq(ss.certs, N);
    cr_assert_eq(ss.responses, 2 * N);
    /* Unchanged and forced: nothing written, nothing signed. */
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &p, now, 1, &st), 0);
    cr_assert_eq(st.changed + st.signed_ + st.removed, 0);
    /* Status only: a changed certificate loses its responses (never a stale good). */
    FILE *f = fopen(path_of("index.txt"), "a");
    fprintf(f, "R\t301231000000Z\t261101120000Z,keyCompromise\t%X\tunknown\t/CN=x\n", 0x10000);
    fclose(f);
    p.no_sign = true;
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &p, now, 0, &st), 0);
    cr_assert_eq(st.withdrawn, 1);
    cr_assert_eq(status_of(&si, 0x10000, &reason), -1);
    /* The next normal run signs it. */
    p.no_sign = false;
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &p, now, 1, &st), 0);
    cr_assert_eq(st.signed_, 2);
    cr_assert_eq(status_of(&si, 0x10000, &reason), V_OCSP_CERTSTATUS_REVOKED);
    sync_issuer_free(&si);
}

Test(sync, operator_statements_outrank_index_txt_per_precedence)
{
    write_index("V\t301231000000Z\t\t1001\tunknown\t/CN=a\n"
                "V\t301231000000Z\t\t1002\tunknown\t/CN=b\n");
    struct config_issuer c = conf_for("ocsp.pem");
    struct sync_issuer si;
    cr_assert_eq(sync_issuer_init(&si, &c, store), 0);
    struct sync_stats st = {0};
    int64_t now = time(NULL);
    cr_assert_eq(sync_issuer_run(&si, store, &params, now, 0, &st), 0);
    /* revokctl: hold 1001, revoke 1002 (as revokctl does: status, then both responses). */
    struct store_txn t;
    uint8_t *buf = malloc(SYNC_RESP_MAX);
    cr_assert_eq(store_txn_begin(store, &t, false), 0);
    struct store_cert h = {
        .status = STORE_HOLD, .reason = 6, .source = STORE_SRC_REVOKCTL, .revoked_at = now - 60};
    struct store_cert r = {
        .status = STORE_REVOKED, .reason = 1, .source = STORE_SRC_REVOKCTL, .revoked_at = now - 30};
    cr_assert_eq(store_put_cert(&t, si.id, (const uint8_t *)"\x10\x01", 2, &h, now), 1);
    cr_assert_eq(store_put_cert(&t, si.id, (const uint8_t *)"\x10\x02", 2, &r, now), 1);
    cr_assert_eq(sync_sign_cert(&si, &t, (const uint8_t *)"\x10\x01", 2, &h, now, &params, buf), 0);
    cr_assert_eq(sync_sign_cert(&si, &t, (const uint8_t *)"\x10\x02", 2, &r, now, &params, buf), 0);
    cr_assert_eq(store_txn_commit(&t), 0);
    free(buf);
    /* index.txt still says valid for both: neither is released or un-revoked, and it is
     * no alarm (index.txt did not revoke them). */
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now, 1, &st), 0);
    cr_assert_eq(st.unrevoke_refused, 0);
    int reason;
    cr_assert_eq(status_of(&si, 0x1001, &reason), V_OCSP_CERTSTATUS_REVOKED);
    cr_assert_eq(reason, OCSP_REVOKED_STATUS_CERTIFICATEHOLD);
    cr_assert_eq(status_of(&si, 0x1002, &reason), V_OCSP_CERTSTATUS_REVOKED);
    cr_assert_eq(reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
    struct store_issuer_rec rec = issuer_rec(&si);
    cr_assert_eq(rec.sync.unrevoke_refused, 0);
    cr_assert(store_issuer_healthy(&rec));
    /* index.txt revokes 1001 too: revoked wins over the operator's hold. */
    write_index("R\t301231000000Z\t261101120000Z,superseded\t1001\tunknown\t/CN=a\n"
                "V\t301231000000Z\t\t1002\tunknown\t/CN=b\n");
    memset(&st, 0, sizeof(st));
    cr_assert_eq(sync_issuer_run(&si, store, &params, now, 1, &st), 0);
    cr_assert_eq(status_of(&si, 0x1001, &reason), V_OCSP_CERTSTATUS_REVOKED);
    cr_assert_eq(reason, OCSP_REVOKED_STATUS_SUPERSEDED);
    sync_issuer_free(&si);
}
