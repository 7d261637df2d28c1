/*
 * Tests for revokctl_change() against a real store and signer: a revocation lands
 * in the store, the change log and both responses (checked with OpenSSL's OCSP
 * verifier) in one transaction; the audit log gets an intent line and a committed
 * line naming the same op and change seq; refusals and no-ops are one line each
 * and change nothing; a hold set by another source is not released; and without
 * a writable audit log nothing is changed at all.
 */
#include <criterion/criterion.h>
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "revokctl.h"

static char dir[64];
static X509 *ca;
static EVP_PKEY *ca_key;
static struct store *store;
static struct config_issuer conf;
static struct sync_issuer si;
static char ca_path[128], key_path[128], store_path[128], audit_path[128];
static const struct sync_params params = {
    .validity = 4 * 86400, .refresh = 86400, .backdate = 3600, .batch = 100};

static void setup(void)
{
    strcpy(dir, "/tmp/revokd-revokctl-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", dir);
    snprintf(key_path, sizeof(key_path), "%s/ca.key", dir);
    snprintf(store_path, sizeof(store_path), "%s/store", dir);
    snprintf(audit_path, sizeof(audit_path), "%s/audit.log", dir);
    ca_key = EVP_EC_gen("P-256");
    ca = X509_new();
    X509_set_version(ca, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(ca), 1);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(ca), "CN", MBSTRING_ASC,
                               (const unsigned char *)"revokctl test CA", -1, -1, 0);
    X509_set_issuer_name(ca, X509_get_subject_name(ca));
    X509_gmtime_adj(X509_getm_notBefore(ca), -3600);
    X509_gmtime_adj(X509_getm_notAfter(ca), 86400 * 30);
    X509_set_pubkey(ca, ca_key);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca, ca, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(ca, e, -1);
    X509_EXTENSION_free(e);
    cr_assert(X509_sign(ca, ca_key, EVP_sha256()) > 0);
    FILE *f = fopen(ca_path, "w");
    PEM_write_X509(f, ca);
    fclose(f);
    f = fopen(key_path, "w");
    fchmod(fileno(f), 0600); /* signer_load refuses a key others may read */
    PEM_write_PrivateKey(f, ca_key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    cr_assert_eq(store_open(&store, store_path, 64u << 20, 0), 0);
    conf = (struct config_issuer){.name = "t",
                                  .ca_cert = ca_path,
                                  .index = "/nonexistent",
                                  .signer_cert = ca_path,
                                  .signer_key = key_path,
                                  .digest = "sha256"};
    cr_assert_eq(sync_issuer_init(&si, &conf, store), 0);
}

static void teardown(void)
{
    sync_issuer_free(&si);
    store_close(store);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(revokctl_store, .init = setup, .fini = teardown);

static struct revokctl_who who(void)
{
    struct revokctl_who w = {.uid = 4242, .comment = "unit test"};
    strcpy(w.user, "tester");
    return w;
}

/* Runs one change; captures both streams. */
static int change(enum revokctl_cmd cmd, uint8_t reason, uint16_t serial, const char *audit,
                  char **out, char **err)
{
    struct revokctl_req rq = {.cmd = cmd, .reason = reason};
    uint8_t s[2] = {(uint8_t)(serial >> 8), (uint8_t)serial};
    struct revokctl_who w = who();
    size_t n1, n2;
    FILE *fo = open_memstream(out, &n1), *fe = open_memstream(err, &n2);
    int rc = revokctl_change(&si, store, &params, audit, &w, &rq, s, 2, fo, fe);
    fclose(fo);
    fclose(fe);
    return rc;
}

static int stored(uint16_t serial, struct store_cert *c)
{
    struct store_txn t;
    uint8_t s[2] = {(uint8_t)(serial >> 8), (uint8_t)serial};
    cr_assert_eq(store_txn_begin(store, &t, true), 0);
    int rc = store_get_cert(&t, si.id, s, 2, c);
    store_txn_abort(&t);
    return rc;
}

/* OpenSSL's reading of the stored SHA-256 response, verified against the CA. */
static int ocsp_status(uint16_t serial, int *reason)
{
    struct store_txn t;
    uint8_t s[2] = {(uint8_t)(serial >> 8), (uint8_t)serial};
    struct store_resp r;
    cr_assert_eq(store_txn_begin(store, &t, true), 0);
    if (store_get_response(&t, STORE_HASH_SHA256, si.hashes.name_sha256, si.hashes.key_sha256, s, 2,
                           &r) < 0) {
        store_txn_abort(&t);
        return -1;
    }
    /* The stored bytes and the signer's certificate block are one DER value on the wire. */
    uint8_t full[SYNC_RESP_MAX];
    cr_assert_leq(r.der_len + r.tail_len, sizeof(full));
    memcpy(full, r.der, r.der_len);
    if (r.tail_len)
        memcpy(full + r.der_len, r.tail, r.tail_len);
    const unsigned char *p = full;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)(r.der_len + r.tail_len));
    cr_assert_not_null(resp);
    OCSP_BASICRESP *bs = OCSP_response_get1_basic(resp);
    X509_STORE *xs = X509_STORE_new();
    X509_STORE_add_cert(xs, ca);
    STACK_OF(X509) *certs = sk_X509_new_null();
    sk_X509_push(certs, ca);
    cr_assert_eq(OCSP_basic_verify(bs, certs, xs, OCSP_TRUSTOTHER), 1);
    ASN1_INTEGER *sn = ASN1_INTEGER_new();
    ASN1_INTEGER_set(sn, serial);
    OCSP_CERTID *id =
        OCSP_cert_id_new(EVP_sha256(), X509_get_subject_name(ca), X509_get0_pubkey_bitstr(ca), sn);
    int st = -1;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL;
    cr_assert_eq(OCSP_resp_find_status(bs, id, &st, reason, &rev, &thisupd, NULL), 1);
    if (rev) {
        /* RFC 6960 2.4: thisUpdate never before the revocation it reports. */
        int day, sec;
        cr_assert(ASN1_TIME_diff(&day, &sec, rev, thisupd));
        cr_assert_geq(day * 86400 + sec, 0, "thisUpdate before revocationTime");
    }
    OCSP_CERTID_free(id);
    ASN1_INTEGER_free(sn);
    sk_X509_free(certs);
    X509_STORE_free(xs);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    store_txn_abort(&t);
    return st;
}

/* The audit log's lines, NUL-separated in one static buffer; returns the count. */
static int audit_lines(char *lines[16])
{
    static char buf[65536];
    FILE *f = fopen(audit_path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    int k = 0;
    for (char *p = buf, *nl; *p && k < 16; p = nl + 1) {
        cr_assert_not_null(nl = strchr(p, '\n'), "every line ends in a newline");
        *nl = '\0';
        lines[k++] = p;
    }
    return k;
}

/* The value of "key": in a flat part of a line, up to the next ',' or '}'. */
static void field(const char *line, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(line, pat);
    cr_assert_not_null(p, "%s in %s", key, line);
    p += strlen(pat);
    size_t n = strcspn(p, ",}");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
}

Test(revokctl_store, revoke_unknown_serial_audited_and_signed)
{
    char *out, *err, *l[16], op1[32], op2[32];
    int reason;
    cr_assert_eq(change(REVOKCTL_REVOKE, 1, 0x1001, audit_path, &out, &err), REVOKCTL_EXIT_OK, "%s",
                 err);
    cr_assert(strstr(err, "not in the store"), "a warning says the serial was unknown: %s", err);
    cr_assert(strstr(out, "now revoked"), "%s", out);
    free(out);
    free(err);

    struct store_cert c;
    cr_assert_eq(stored(0x1001, &c), 0);
    cr_assert_eq(c.status, STORE_REVOKED);
    cr_assert_eq(c.reason, 1);
    cr_assert_eq(c.source, STORE_SRC_REVOKCTL);
    cr_assert_eq(ocsp_status(0x1001, &reason), V_OCSP_CERTSTATUS_REVOKED);
    cr_assert_eq(reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);

    /* The change log holds it (crlgen follows the log). */
    struct store_txn t;
    uint64_t last;
    cr_assert_eq(store_txn_begin(store, &t, true), 0);
    cr_assert_eq(store_last_seq(&t, &last), 0);
    store_txn_abort(&t);
    cr_assert_eq(last, c.seq);

    cr_assert_eq(audit_lines(l), 2);
    cr_assert(strstr(l[0], "\"phase\":\"intent\""), "%s", l[0]);
    cr_assert(strstr(l[1], "\"phase\":\"committed\""), "%s", l[1]);
    field(l[0], "op", op1, sizeof(op1));
    field(l[1], "op", op2, sizeof(op2));
    cr_assert_str_eq(op1, op2, "intent and outcome share the op id");
    char want[64];
    snprintf(want, sizeof(want), "\"seq\":%llu,\"message\"", (unsigned long long)c.seq);
    cr_assert(strstr(l[0], want), "intent names the change seq %s: %s", want, l[0]);
    cr_assert(strstr(l[1], want), "%s", l[1]);
    cr_assert(strstr(l[0], "\"before\":null"), "unknown before: %s", l[0]);
    cr_assert(strstr(l[0], "\"uid\":4242,\"user\":\"tester\""), "%s", l[0]);

    /* Again: a no-op, one line, nothing written to the store. */
    cr_assert_eq(change(REVOKCTL_REVOKE, 1, 0x1001, audit_path, &out, &err), REVOKCTL_EXIT_OK);
    cr_assert(strstr(out, "already revoked"), "%s", out);
    free(out);
    free(err);
    cr_assert_eq(audit_lines(l), 3);
    cr_assert(strstr(l[2], "\"phase\":\"unchanged\""), "%s", l[2]);
    struct store_cert c2;
    cr_assert_eq(stored(0x1001, &c2), 0);
    cr_assert_eq(c2.seq, c.seq);

    /* Release and hold of a revoked certificate: refused, one line each. */
    cr_assert_eq(change(REVOKCTL_RELEASE, 0, 0x1001, audit_path, &out, &err),
                 REVOKCTL_EXIT_REFUSED);
    cr_assert(strstr(err, "never undone"), "%s", err);
    free(out);
    free(err);
    cr_assert_eq(change(REVOKCTL_HOLD, 0, 0x1001, audit_path, &out, &err), REVOKCTL_EXIT_REFUSED);
    free(out);
    free(err);
    cr_assert_eq(audit_lines(l), 5);
    cr_assert(strstr(l[3], "\"phase\":\"refused\""), "%s", l[3]);
    cr_assert(strstr(l[4], "\"phase\":\"refused\""), "%s", l[4]);
    cr_assert_eq(ocsp_status(0x1001, &reason), V_OCSP_CERTSTATUS_REVOKED);
}

Test(revokctl_store, hold_release_and_foreign_hold)
{
    char *out, *err, *l[16];
    int reason;
    /* A certificate index.txt put on hold. */
    struct store_txn t;
    uint8_t s2[2] = {0x10, 0x02};
    struct store_cert h = {.status = STORE_HOLD,
                           .reason = REVOKCTL_REASON_HOLD,
                           .source = STORE_SRC_INDEX,
                           .listed = STORE_SRC_BIT(STORE_SRC_INDEX),
                           .revoked_at = time(NULL) - 60};
    cr_assert_eq(store_txn_begin(store, &t, false), 0);
    cr_assert_eq(store_put_cert(&t, si.id, s2, 2, &h, time(NULL)), 1);
    cr_assert_eq(store_txn_commit(&t), 0);
    cr_assert_eq(change(REVOKCTL_RELEASE, 0, 0x1002, audit_path, &out, &err),
                 REVOKCTL_EXIT_REFUSED);
    cr_assert(strstr(err, "set by index") && strstr(err, "only by the source that set it"), "%s",
              err);
    free(out);
    free(err);
    struct store_cert c;
    cr_assert_eq(stored(0x1002, &c), 0);
    cr_assert_eq(c.status, STORE_HOLD, "kept on hold");

    /* revokctl's own hold: set, answered, released, answered good. */
    cr_assert_eq(change(REVOKCTL_HOLD, 0, 0x1003, audit_path, &out, &err), REVOKCTL_EXIT_OK, "%s",
                 err);
    free(out);
    free(err);
    cr_assert_eq(ocsp_status(0x1003, &reason), V_OCSP_CERTSTATUS_REVOKED);
    cr_assert_eq(reason, OCSP_REVOKED_STATUS_CERTIFICATEHOLD);
    cr_assert_eq(change(REVOKCTL_RELEASE, 0, 0x1003, audit_path, &out, &err), REVOKCTL_EXIT_OK,
                 "%s", err);
    free(out);
    free(err);
    cr_assert_eq(ocsp_status(0x1003, &reason), V_OCSP_CERTSTATUS_GOOD);
    cr_assert_eq(stored(0x1003, &c), 0);
    cr_assert_eq(c.status, STORE_GOOD);

    int n = audit_lines(l);
    cr_assert_eq(n, 5, "refused + (intent, committed) x 2");
    cr_assert(strstr(l[4], "\"before\":{\"status\":\"hold\""), "%s", l[4]);
    cr_assert(strstr(l[4], "\"after\":{\"status\":\"good\""), "%s", l[4]);
}

Test(revokctl_store, no_audit_log_no_change)
{
    char *out, *err;
    char bad[200];
    snprintf(bad, sizeof(bad), "%s/no/such/dir/audit.log", dir);
    cr_assert_eq(change(REVOKCTL_REVOKE, 1, 0x1004, bad, &out, &err), REVOKCTL_EXIT_REFUSED);
    cr_assert(strstr(err, "nothing changed"), "%s", err);
    free(out);
    free(err);
    struct store_cert c;
    cr_assert_eq(stored(0x1004, &c), -ENOENT, "no change without its audit line");
    int reason;
    cr_assert_eq(ocsp_status(0x1004, &reason), -1);
}

/* Puts a certificate in the store as a source sync would, with both responses signed. */
static void put_as_source(uint16_t serial, uint8_t status, uint8_t source, int64_t now)
{
    struct store_txn t;
    uint8_t s[2] = {(uint8_t)(serial >> 8), (uint8_t)serial};
    struct store_cert c = {.status = status,
                           .reason = status == STORE_GOOD ? STORE_REASON_NONE : 4,
                           .source = source,
                           .listed = STORE_SRC_BIT(source),
                           .revoked_at = status == STORE_GOOD ? 0 : now - 60};
    uint8_t *buf = malloc(SYNC_RESP_MAX);
    cr_assert_eq(store_txn_begin(store, &t, false), 0);
    cr_assert_eq(store_put_cert(&t, si.id, s, 2, &c, now), 1);
    cr_assert_eq(sync_sign_cert(&si, &t, s, 2, &c, now, &params, buf), 0);
    cr_assert_eq(store_txn_commit(&t), 0);
    free(buf);
}

static int64_t next_update_of(uint16_t serial)
{
    struct store_txn t;
    uint8_t s[2] = {(uint8_t)(serial >> 8), (uint8_t)serial};
    struct store_resp r;
    cr_assert_eq(store_txn_begin(store, &t, true), 0);
    cr_assert_eq(
        store_get_response(&t, STORE_HASH_SHA1, si.hashes.name_sha1, si.hashes.key_sha1, s, 2, &r),
        0);
    int64_t nu = r.hdr->next_update;
    store_txn_abort(&t);
    return nu;
}

Test(revokctl_store, indexer_refreshes_what_only_revokctl_holds)
{
    char *out, *err;
    int64_t now = time(NULL);
    cr_assert_eq(change(REVOKCTL_REVOKE, 1, 0x2001, audit_path, &out, &err), REVOKCTL_EXIT_OK);
    free(out);
    free(err);
    put_as_source(0x2002, STORE_REVOKED, STORE_SRC_INDEX, now); /* the source sync's job */
    int64_t nu1 = next_update_of(0x2001), nu2 = next_update_of(0x2002);

    si.oldest_next_update = 0;
    cr_assert_eq(revokctl_refresh(&si, store, &params, now), 0, "fresh: nothing to sign");
    cr_assert_eq(si.oldest_next_update, nu1, "the refresh clock knows the revokctl entry");

    /* Within `refresh` of nextUpdate: re-signed, the index.txt entry left to its sync. */
    int64_t later = nu1 - (int64_t)params.refresh + 60;
    cr_assert_eq(revokctl_refresh(&si, store, &params, later), 2);
    cr_assert_gt(next_update_of(0x2001), nu1);
    cr_assert_eq(next_update_of(0x2002), nu2, "not revokctl's: untouched");
    cr_assert_eq(revokctl_refresh(&si, store, &params, later), 0, "done once");
    int reason;
    cr_assert_eq(ocsp_status(0x2001, &reason), V_OCSP_CERTSTATUS_REVOKED);
    cr_assert_eq(reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
}
