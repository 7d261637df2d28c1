/*
 * Tests for indexer/sync: an index.txt becomes store entries and verifiable
 * responses; a second run with nothing changed signs nothing; a revocation
 * appended by the CA flips exactly that certificate; malformed lines are
 * skipped and counted; and a signer the CA did not delegate is refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
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

static EVP_PKEY *write_cert(const char *name, X509 *issuer, EVP_PKEY *issuer_key, const char *eku,
                            X509 **out)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), issuer ? 77 : 1);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400 * 30);
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
    cr_assert(X509_sign(x, issuer_key ? issuer_key : k, EVP_sha256()) > 0);
    char path[128];
    snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
    FILE *f = fopen(path, "w");
    PEM_write_X509(f, x);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s.key", dir, name);
    f = fopen(path, "w");
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    *out = x;
    return k;
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

static const struct sync_params params = {
    .validity = 4 * 86400, .refresh = 86400, .backdate = 3600, .batch = 2};

static struct config_issuer conf_for(const char *signer)
{
    struct config_issuer c = {.name = "test",
                              .ca_cert = path_of("ca.pem"),
                              .index = path_of("index.txt"),
                              .digest = "sha256"};
    c.signer_cert = path_of(strcmp(signer, "ca") == 0 ? "ca.pem" : signer);
    c.signer_key = path_of(strcmp(signer, "ca") == 0 ? "ca.key" : "ocsp.key");
    return c;
}

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
    const unsigned char *p = r.der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)r.der_len);
    OCSP_BASICRESP *bs = OCSP_response_get1_basic(resp);
    X509_STORE *xs = X509_STORE_new();
    X509_STORE_add_cert(xs, ca);
    cr_assert_eq(OCSP_basic_verify(bs, NULL, xs, 0), 1);
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
