/*
 * storecheck — an independent consistency check of a revokd store, for the
 * crash tests (tests/e2e/test_indexer_crash.sh): opens the store read-only as
 * the responder does and checks, for every issuer, what must hold after any
 * crash if every commit is atomic:
 *   - every certificate has both pre-signed responses (SHA-1 and SHA-256
 *     CertID), and each is a successful OCSP response, parsed by OpenSSL, for
 *     that serial and hash, whose status, revocation time and reason say what
 *     the certificate record says (reason rules of common/ocsp_resp.c), whose
 *     thisUpdate is not before the revocation, and whose signature verifies
 *     with the certificates it carries (the chain is openssl ocsp's job);
 *   - the revoked index holds exactly the revoked and on-hold certificates,
 *     with the same record;
 *   - every certificate's change seq is in the change log, for that issuer and
 *     serial, with its status;
 *   - there are no other responses (2 per certificate in all).
 * For the issuer named on the command line it prints one line per certificate,
 * "SERIALHEX STATUS REVOKED_AT REASON" (V/R/H, Unix seconds, CRLReason or -),
 * for the caller to compare with index.txt. Exit 0 if consistent, 1 with one
 * line per problem on stderr, 2 if the store cannot be opened, 3 if there is
 * no store yet (no directory, an environment whose first transaction never
 * committed, or one without any issuer or certificate: an indexer killed at
 * start-up; the next one carries on).
 *
 *   e2e_storecheck STORE_DIR ISSUER [VERIFY_EVERY]
 *
 * VERIFY_EVERY N checks the signatures of every Nth certificate only (default
 * 1: all), for loops that check a store many times; everything else is always
 * checked for every certificate.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "store.h"

#define PROBLEMS_SHOWN 20

static unsigned long verify_every = 1;

struct check {
    struct store_txn *t;
    const struct store_issuer_rec *rec;
    bool print;
    uint64_t certs, revoked, problems;
};

static void problem(struct check *c, const uint8_t *serial, size_t len, const char *fmt,
                    const char *detail)
{
    if (++c->problems > PROBLEMS_SHOWN)
        return;
    fprintf(stderr, "storecheck: issuer %.*s serial ", STORE_NAME_MAX, c->rec->name);
    for (size_t i = 0; i < len; i++)
        fprintf(stderr, "%02X", serial[i]);
    fprintf(stderr, ": %s%s%s\n", fmt, detail ? ": " : "", detail ? detail : "");
}

static int64_t asn1_unix(const ASN1_GENERALIZEDTIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    return (int64_t)timegm(&tm);
}

/* The reason a response must carry for a stored certificate (common/ocsp_resp.c). */
static int want_reason(const struct store_cert *sc)
{
    if (sc->status == STORE_HOLD || sc->reason == 6)
        return 6;
    if (sc->reason == STORE_REASON_NONE || sc->reason == 0 || sc->reason == 8)
        return -1;
    return sc->reason;
}

static void check_response(struct check *c, const uint8_t *serial, size_t len,
                           const struct store_cert *sc, enum store_hash hash, bool verify)
{
    const struct store_issuer_rec *r = c->rec;
    const uint8_t *nh = hash == STORE_HASH_SHA1 ? r->name_sha1 : r->name_sha256;
    const uint8_t *kh = hash == STORE_HASH_SHA1 ? r->key_sha1 : r->key_sha256;
    const char *hn = hash == STORE_HASH_SHA1 ? "SHA-1" : "SHA-256";
    struct store_resp resp;
    int rc = store_get_response(c->t, hash, nh, kh, serial, len, &resp);
    if (rc < 0) {
        problem(c, serial, len, "no response for the CertID hash", hn);
        return;
    }
    /* What the responder sends: the stored bytes, then the signer's certificate block. */
    uint8_t full[16384];
    size_t full_len = resp.der_len + resp.tail_len;
    if (full_len > sizeof(full)) {
        problem(c, serial, len, "response larger than any revokd signs", hn);
        return;
    }
    memcpy(full, resp.der, resp.der_len);
    if (resp.tail_len)
        memcpy(full + resp.der_len, resp.tail, resp.tail_len);
    const unsigned char *p = full;
    OCSP_RESPONSE *o = d2i_OCSP_RESPONSE(NULL, &p, (long)full_len);
    OCSP_BASICRESP *bs = NULL;
    if (!o || p != full + full_len || OCSP_response_status(o) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
        !(bs = OCSP_response_get1_basic(o)) || OCSP_resp_count(bs) != 1) {
        problem(c, serial, len, "response is not one successful basic response", hn);
        goto out;
    }
    OCSP_SINGLERESP *single = OCSP_resp_get0(bs, 0);
    const OCSP_CERTID *id = OCSP_SINGLERESP_get0_id(single);
    ASN1_OBJECT *md = NULL;
    ASN1_INTEGER *sn = NULL;
    OCSP_id_get0_info(NULL, &md, NULL, &sn, (OCSP_CERTID *)id);
    int want_nid = hash == STORE_HASH_SHA1 ? NID_sha1 : NID_sha256;
    unsigned char *snder = NULL;
    int snlen = sn ? i2d_ASN1_INTEGER(sn, &snder) : -1;
    /* DER INTEGER: tag, short length, then the content the store keys by */
    if (!md || OBJ_obj2nid(md) != want_nid || snlen < 2 || (size_t)(snlen - 2) != len ||
        memcmp(snder + 2, serial, len) != 0)
        problem(c, serial, len, "response CertID is for another serial or hash", hn);
    OPENSSL_free(snder);
    int reason = -1;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
    int st = OCSP_single_get0_status(single, &reason, &rev, &thisupd, &nextupd);
    int want_st = sc->status == STORE_GOOD ? V_OCSP_CERTSTATUS_GOOD : V_OCSP_CERTSTATUS_REVOKED;
    if (st != want_st) {
        problem(c, serial, len, "response status contradicts the certificate record", hn);
        goto out;
    }
    if (st == V_OCSP_CERTSTATUS_REVOKED) {
        if (asn1_unix(rev) != sc->revoked_at)
            problem(c, serial, len, "response revocationTime differs from the record", hn);
        if (reason != want_reason(sc))
            problem(c, serial, len, "response reason differs from the record", hn);
        if (asn1_unix(thisupd) < sc->revoked_at)
            problem(c, serial, len, "response thisUpdate is before the revocation", hn);
    }
    if (resp.hdr->this_update != asn1_unix(thisupd) || resp.hdr->next_update != asn1_unix(nextupd))
        problem(c, serial, len, "stored header times differ from the response", hn);
    /* Signature only (OCSP_NOVERIFY): the signer comes from the response's certs. */
    if (verify) {
        X509_STORE *xs = X509_STORE_new();
        if (!xs || OCSP_basic_verify(bs, NULL, xs, OCSP_NOVERIFY) != 1)
            problem(c, serial, len, "response signature does not verify", hn);
        X509_STORE_free(xs);
    }
out:
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(o);
}

struct change_find {
    uint64_t seq;
    bool found;
    struct store_change_hdr h;
    uint8_t serial[STORE_SERIAL_MAX];
};

static int change_cb(void *arg, uint64_t seq, const struct store_change_hdr *h,
                     const uint8_t *serial)
{
    struct change_find *f = arg;
    if (seq != f->seq)
        return 1; /* not there: the walk started past it */
    memcpy(&f->h, h, sizeof(f->h));
    memcpy(f->serial, serial, f->h.serial_len <= STORE_SERIAL_MAX ? f->h.serial_len : 0);
    f->found = true;
    return 1;
}

static int cert_cb(void *arg, const uint8_t *serial, size_t len, const struct store_cert *sc)
{
    struct check *c = arg;
    c->certs++;
    if (sc->status != STORE_GOOD && sc->status != STORE_REVOKED && sc->status != STORE_HOLD) {
        problem(c, serial, len, "unknown status", NULL);
        return 0;
    }
    if (sc->status != STORE_GOOD)
        c->revoked++; /* revoked_cb takes one off per revoked-index entry: must end at 0 */
    bool verify = c->certs % verify_every == 1 % verify_every;
    check_response(c, serial, len, sc, STORE_HASH_SHA1, verify);
    check_response(c, serial, len, sc, STORE_HASH_SHA256, verify);
    struct change_find f = {.seq = sc->seq};
    if (sc->seq == 0 || store_changes_foreach(c->t, sc->seq - 1, change_cb, &f) < 0 || !f.found ||
        f.h.issuer_id != c->rec->id || f.h.serial_len != len ||
        memcmp(f.serial, serial, len) != 0 || f.h.new_status != sc->status)
        problem(c, serial, len, "its change seq is not a change record of this certificate", NULL);
    if (c->print) {
        size_t skip = len > 1 && serial[0] == 0 ? 1 : 0;
        for (size_t i = skip; i < len; i++)
            printf("%02X", serial[i]);
        if (sc->reason == STORE_REASON_NONE)
            printf(" %c %lld -\n", "VRH"[sc->status], (long long)sc -> revoked_at);
        else
            printf(" %c %lld %u\n", "VRH"[sc->status], (long long)sc -> revoked_at, sc -> reason);
    }
    return 0;
}

/* Each revoked-index entry must be a revoked or held certificate with the same record. */
static int revoked_cb(void *arg, const uint8_t *serial, size_t len, const struct store_cert *rc)
{
    struct check *c = arg;
    struct store_cert sc;
    if (store_get_cert(c->t, c->rec->id, serial, len, &sc) < 0 || sc.status == STORE_GOOD ||
        memcmp(&sc, rc, sizeof(sc)) != 0)
        problem(c, serial, len, "revoked index entry differs from the certificate record", NULL);
    c->revoked--;
    return 0;
}

struct all {
    struct store_txn *t;
    const char *name;
    bool found;
    uint64_t certs, problems;
};

static int issuer_cb(void *arg, const struct store_issuer_rec *rec, const uint8_t *cert)
{
    struct all *a = arg;
    (void)cert;
    struct check c = {.t = a->t, .rec = rec};
    c.print = strncmp(rec->name, a->name, STORE_NAME_MAX) == 0;
    a->found |= c.print;
    int rc = store_cert_foreach(a->t, rec->id, false, cert_cb, &c);
    if (rc == 0)
        rc = store_cert_foreach(a->t, rec->id, true, revoked_cb, &c);
    if (rc < 0) {
        fprintf(stderr, "storecheck: issuer %.*s: walking the store failed: %s\n", STORE_NAME_MAX,
                rec->name, strerror(-rc));
        c.problems++;
    }
    if (c.revoked != 0) {
        fprintf(stderr, "storecheck: issuer %.*s: the revoked index and the certificates differ\n",
                STORE_NAME_MAX, rec->name);
        c.problems++;
    }
    a->certs += c.certs;
    a->problems += c.problems;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 || (argc == 4 && (verify_every = strtoul(argv[3], NULL, 10)) == 0)) {
        fprintf(stderr, "usage: e2e_storecheck STORE_DIR ISSUER [VERIFY_EVERY]\n");
        return 2;
    }
    struct store *s;
    struct store_txn t;
    int rc = store_open(&s, argv[1], 0, STORE_RDONLY);
    if (rc == -ENOENT) {
        fprintf(stderr, "storecheck: no store at %s yet\n", argv[1]);
        return 3;
    }
    if (rc < 0) {
        fprintf(stderr, "storecheck: cannot open store %s: %s\n", argv[1], strerror(-rc));
        return 2;
    }
    if ((rc = store_txn_begin(s, &t, true)) < 0) {
        fprintf(stderr, "storecheck: read transaction: %s\n", strerror(-rc));
        store_close(s);
        return 2;
    }
    struct all a = {.t = &t, .name = argv[2]};
    struct store_stats st;
    rc = store_issuer_foreach(&t, issuer_cb, &a);
    if (rc < 0) {
        fprintf(stderr, "storecheck: walking the issuers failed: %s\n", strerror(-rc));
        a.problems++;
    }
    if (!a.found && a.certs == 0 && a.problems == 0) {
        /* killed between creating the store and registering the issuer: nothing half-done */
        fprintf(stderr, "storecheck: no issuer %s in the store yet\n", argv[2]);
        store_txn_abort(&t);
        store_close(s);
        return 3;
    }
    if (!a.found) {
        fprintf(stderr, "storecheck: no issuer %s in the store\n", argv[2]);
        a.problems++;
    }
    if (store_stats(&t, &st) < 0 || st.responses != 2 * a.certs) {
        fprintf(stderr, "storecheck: %llu responses for %llu certificates (want 2 each)\n",
                (unsigned long long)st.responses, (unsigned long long)a.certs);
        a.problems++;
    }
    store_txn_abort(&t);
    store_close(s);
    if (a.problems)
        fprintf(stderr, "storecheck: %llu problem(s)\n", (unsigned long long)a.problems);
    return a.problems ? 1 : 0;
}
