/*
 * src_crl — an external CA's CRL (full + optional delta) as a revocation source
 * (see src_crl.h for the rules). OpenSSL decodes the DER; everything it hands
 * back is checked here before it becomes a src_entry, and any doubt about the
 * CRL as a whole rejects it whole: a CRL we cannot fully trust must not change
 * a single stored status.
 */
#include "src_crl.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "src_x509.h"

#define CRL_REASON_HOLD   6
#define CRL_REASON_UNUSED 7
#define CRL_REASON_REMOVE 8
#define CRL_REASON_MAX    10

static X509_CRL *crl_decode(const uint8_t *buf, size_t len)
{
    size_t i = 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    X509_CRL *crl = NULL;
    if (len - i >= 11 && memcmp(buf + i, "-----BEGIN ", 11) == 0) {
        if (len > INT_MAX)
            return NULL;
        BIO *bio = BIO_new_mem_buf(buf, (int)len);
        if (bio)
            crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else if (len <= LONG_MAX) {
        const unsigned char *p = buf;
        crl = d2i_X509_CRL(NULL, &p, (long)len);
        if (crl && p != buf + len) {
            X509_CRL_free(crl); /* trailing bytes: not one CRL */
            crl = NULL;
        }
    }
    ERR_clear_error();
    return crl;
}

/* Extensions whose meaning we apply or that cannot change an entry's status. */
static bool crl_ext_known(int nid)
{
    return nid == NID_crl_number || nid == NID_delta_crl || nid == NID_issuing_distribution_point ||
           nid == NID_authority_key_identifier || nid == NID_freshest_crl ||
           nid == NID_info_access || nid == NID_issuer_alt_name;
}

static bool crl_entry_ext_known(int nid)
{
    return nid == NID_crl_reason || nid == NID_invalidity_date || nid == NID_hold_instruction_code;
}

/* The CRL as a whole: scope and critical extensions. Returns 0 or -EBADMSG (why in *why). */
static int crl_check_scope(X509_CRL *crl, const char **why)
{
    for (int i = 0; i < X509_CRL_get_ext_count(crl); i++) {
        X509_EXTENSION *ex = X509_CRL_get_ext(crl, i);
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ex));
        if (X509_EXTENSION_get_critical(ex) && !crl_ext_known(nid)) {
            *why = "carries a critical extension revokd does not process (RFC 5280 5.2)";
            return -EBADMSG;
        }
    }
    int crit = -1;
    ISSUING_DIST_POINT *idp =
        X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit, NULL);
    if (!idp && crit != -1) {
        *why = "has an unreadable or repeated Issuing Distribution Point";
        return -EBADMSG;
    }
    int rc = 0;
    if (idp && (idp->indirectCRL || idp->onlysomereasons || idp->onlyattr)) {
        *why = "is indirect, or covers only some reasons or attribute certificates (Issuing "
               "Distribution Point): it does not state every revocation of this CA";
        rc = -EBADMSG;
    }
    ISSUING_DIST_POINT_free(idp);
    return rc;
}

/* A CRL Number-like extension (NID_crl_number, NID_delta_crl) as a BIGNUM; NULL if absent. */
static int crl_number(X509_CRL *crl, int nid, BIGNUM **out)
{
    int crit = -1;
    ASN1_INTEGER *a = X509_CRL_get_ext_d2i(crl, nid, &crit, NULL);
    *out = NULL;
    if (!a)
        return crit == -1 ? 0 : -EBADMSG;
    *out = ASN1_INTEGER_to_BN(a, NULL);
    int neg = *out && BN_is_negative(*out);
    ASN1_INTEGER_free(a);
    if (!*out || neg) {
        BN_free(*out);
        *out = NULL;
        return -EBADMSG;
    }
    return 0;
}

static uint64_t crl_bn_u64(const BIGNUM *bn)
{
    uint64_t v = 0;
    if (!bn || BN_num_bytes(bn) > 8)
        return 0;
    uint8_t b[8];
    int n = BN_bn2bin(bn, b);
    for (int i = 0; i < n; i++)
        v = v << 8 | b[i];
    return v;
}

/*
 * One entry. Returns 0 with *e filled, 1 if the entry is unreadable (counted as
 * malformed by the caller), or -EBADMSG if it makes the whole CRL unusable.
 */
static int crl_map_entry(X509_REVOKED *r, struct src_entry *e)
{
    memset(e, 0, sizeof(*e));
    for (int i = 0; i < X509_REVOKED_get_ext_count(r); i++) {
        X509_EXTENSION *ex = X509_REVOKED_get_ext(r, i);
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ex));
        /* certificateIssuer: the entry (and all after it) are another CA's. */
        if (nid == NID_certificate_issuer ||
            (X509_EXTENSION_get_critical(ex) && !crl_entry_ext_known(nid)))
            return -EBADMSG;
    }
    if (src_serial(X509_REVOKED_get0_serialNumber(r), e->serial, &e->serial_len) < 0)
        return 1;
    if (src_asn1_time(X509_REVOKED_get0_revocationDate(r), &e->revoked_at) < 0)
        return 1;
    int crit = -1;
    ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, NULL);
    e->reason = STORE_REASON_NONE;
    if (reason) {
        long v = ASN1_ENUMERATED_get(reason);
        ASN1_ENUMERATED_free(reason);
        if (v < 0 || v > CRL_REASON_MAX || v == CRL_REASON_UNUSED)
            return 1;
        e->reason = (uint8_t)v;
    } else if (crit != -1) {
        return 1; /* repeated or undecodable reasonCode */
    }
    crit = -1;
    ASN1_GENERALIZEDTIME *inv = X509_REVOKED_get_ext_d2i(r, NID_invalidity_date, &crit, NULL);
    if (inv) {
        int rc = src_asn1_time(inv, &e->invalidity);
        ASN1_GENERALIZEDTIME_free(inv);
        if (rc < 0)
            return 1;
    } else if (crit != -1) {
        return 1;
    }
    if (e->reason == CRL_REASON_REMOVE) {
        /* RFC 5280 5.3.1: removeFromCRL (deltas; OpenSSL also writes it in full CRLs)
         * means no longer revoked: a released hold. The store refuses it for a real
         * revocation and alarms. */
        e->status = STORE_GOOD;
        e->reason = STORE_REASON_NONE;
        e->revoked_at = 0;
        e->invalidity = 0;
    } else {
        e->status = e->reason == CRL_REASON_HOLD ? STORE_HOLD : STORE_REVOKED;
    }
    return 0;
}

static int crl_map(X509_CRL *crl, struct src_snapshot *out)
{
    STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
    int n = revs ? sk_X509_REVOKED_num(revs) : 0;
    for (int i = 0; i < n; i++) {
        struct src_entry e;
        int r = crl_map_entry(sk_X509_REVOKED_value(revs, i), &e);
        if (r < 0)
            return r;
        if (r > 0) {
            out->malformed++;
            continue;
        }
        e.origin = (uint32_t)i + 1;
        if ((r = src_snapshot_push(out, &e)) < 0)
            return r;
    }
    return 0;
}

int src_crl_parse(const uint8_t *buf, size_t len, bool delta, struct src_snapshot *out)
{
    X509_CRL *crl = crl_decode(buf, len);
    const char *why;
    if (!crl)
        return -EBADMSG;
    int rc = crl_check_scope(crl, &why);
    BIGNUM *base = NULL;
    /* The same structural rule as src_crl_read(): a delta has a Delta CRL Indicator,
     * a full CRL has none. */
    if (rc == 0 && (crl_number(crl, NID_delta_crl, &base) < 0 || (base != NULL) != delta))
        rc = -EBADMSG;
    BN_free(base);
    if (rc == 0)
        rc = crl_map(crl, out);
    X509_CRL_free(crl);
    return rc;
}

/* Reads, decodes and checks one CRL. Returns it, or NULL with *rc set (logged). */
static X509_CRL *crl_load(const char *name, const char *path, const char *what, X509 *ca,
                          int64_t now, int *rc)
{
    uint8_t *buf = NULL;
    size_t len;
    struct stat st;
    X509_CRL *crl = NULL;
    const char *why = NULL;
    int64_t next = 0;
    char tb[32];

    if ((*rc = src_read_file(path, SRC_CRL_FILE_MAX, &buf, &len, &st)) < 0) {
        log_err("[issuer %s] %s %s: %s", name, what, path, strerror(-*rc));
        return NULL;
    }
    *rc = -EBADMSG;
    if (!(crl = crl_decode(buf, len))) {
        why = "is not a CRL (PEM or DER)";
        goto fail;
    }
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) != 0) {
        why = "is issued by another CA than ca_cert";
        goto fail;
    }
    EVP_PKEY *pk = X509_get0_pubkey(ca);
    if (!pk || X509_CRL_verify(crl, pk) != 1) {
        why = "has a signature that ca_cert's key does not verify";
        goto fail;
    }
    if (crl_check_scope(crl, &why) < 0)
        goto fail;
    const ASN1_TIME *nu = X509_CRL_get0_nextUpdate(crl);
    if (!nu || src_asn1_time(nu, &next) < 0) {
        why = "has no nextUpdate: its freshness cannot be judged";
        *rc = -ESTALE;
        goto fail;
    }
    if (next <= now) {
        struct tm tm;
        time_t tt = (time_t)next;
        if (!gmtime_r(&tt, &tm) || !strftime(tb, sizeof(tb), "%Y-%m-%d %H:%M:%S UTC", &tm))
            snprintf(tb, sizeof(tb), "@%lld", (long long)next);
        log_err("[issuer %s] %s %s expired at %s (nextUpdate): rejected, the last good state is "
                "kept until the CA publishes a current one",
                name, what, path, tb);
        *rc = -ESTALE;
        goto out_fail;
    }
    free(buf);
    *rc = 0;
    return crl;
fail:
    log_err("[issuer %s] %s %s %s: rejected whole, the last good state is kept", name, what, path,
            why);
out_fail:
    ERR_clear_error();
    X509_CRL_free(crl);
    free(buf);
    return NULL;
}

/* Merges delta's entries over full's (both sorted, one per serial) into out. */
static int crl_merge(struct src_snapshot *full, struct src_snapshot *delta,
                     struct src_snapshot *out)
{
    size_t i = 0, j = 0;
    int rc = 0;
    while (rc == 0 && (i < full->n || j < delta->n)) {
        int c = i == full->n    ? 1
                : j == delta->n ? -1
                                : src_serial_cmp(full->v[i].serial, full->v[i].serial_len,
                                                 delta->v[j].serial, delta->v[j].serial_len);
        if (c < 0)
            rc = src_snapshot_push(out, &full->v[i++]);
        else {
            rc = src_snapshot_push(out, &delta->v[j++]);
            if (c == 0)
                i++; /* the delta is newer: its entry replaces the full CRL's */
        }
    }
    return rc;
}

int src_crl_read(const char *name, const char *full_path, const char *delta_path, X509 *ca,
                 int64_t now, struct src_snapshot *out, struct src_crl_info *info)
{
    X509_CRL *full = NULL, *delta = NULL;
    BIGNUM *fnum = NULL, *dnum = NULL, *base = NULL, *fbase = NULL;
    struct src_snapshot fs, ds;
    struct src_crl_info inf = {0};
    int rc;

    src_snapshot_init(&fs, STORE_SRC_CRL);
    src_snapshot_init(&ds, STORE_SRC_CRL);
    if (!(full = crl_load(name, full_path, "crl_file", ca, now, &rc)))
        goto fail;
    rc = -EBADMSG;
    if (crl_number(full, NID_crl_number, &fnum) < 0 ||
        crl_number(full, NID_delta_crl, &fbase) < 0 || fbase) {
        log_err("[issuer %s] crl_file %s is a delta CRL or has an unreadable CRL Number: "
                "rejected (set it as delta_crl_file, beside the full CRL)",
                name, full_path);
        goto fail;
    }
    if (delta_path) {
        if (!(delta = crl_load(name, delta_path, "delta_crl_file", ca, now, &rc)))
            goto fail;
        rc = -EBADMSG;
        if (crl_number(delta, NID_delta_crl, &base) < 0 || !base ||
            crl_number(delta, NID_crl_number, &dnum) < 0 || !dnum || !fnum ||
            BN_cmp(base, fnum) > 0 || BN_cmp(dnum, fnum) <= 0) {
            log_err("[issuer %s] delta_crl_file %s does not apply to crl_file %s: its Delta CRL "
                    "Indicator (BaseCRLNumber) must be at most the full CRL's number and its own "
                    "CRL Number above it (RFC 5280 5.2.4): both rejected, the last good state "
                    "is kept",
                    name, delta_path, full_path);
            goto fail;
        }
    }
    const char *mapping = full_path;
    if ((rc = crl_map(full, &fs)) == 0 && delta) {
        mapping = delta_path;
        rc = crl_map(delta, &ds);
    }
    if (rc < 0) {
        if (rc == -EBADMSG)
            log_err("[issuer %s] %s has an indirect-CRL entry (certificateIssuer) or a critical "
                    "entry extension revokd does not process: rejected whole",
                    name, mapping);
        goto fail;
    }
    if (fs.malformed + ds.malformed)
        log_err("[issuer %s] %llu CRL entr%s unreadable (serial, date or reason): those "
                "certificates keep their stored state and the sync is partial",
                name, (unsigned long long)(fs.malformed + ds.malformed),
                fs.malformed + ds.malformed == 1 ? "y is" : "ies are");
    inf.entries = fs.n + ds.n;
    src_snapshot_fold(&fs);
    src_snapshot_fold(&ds);
    src_snapshot_free(out);
    src_snapshot_init(out, STORE_SRC_CRL);
    out->malformed = fs.malformed + ds.malformed;
    if ((rc = crl_merge(&fs, &ds, out)) < 0)
        goto fail;
    inf.number = crl_bn_u64(fnum);
    inf.delta_number = crl_bn_u64(dnum);
    inf.delta_base = crl_bn_u64(base);
    src_asn1_time(X509_CRL_get0_lastUpdate(full), &inf.this_update);
    src_asn1_time(X509_CRL_get0_nextUpdate(full), &inf.next_update);
    if (delta) {
        int64_t dn = 0;
        if (src_asn1_time(X509_CRL_get0_nextUpdate(delta), &dn) == 0 && dn < inf.next_update)
            inf.next_update = dn;
    }
    if (info)
        *info = inf;
    rc = 0;
    goto out;
fail:
    src_snapshot_free(out);
out:
    src_snapshot_free(&fs);
    src_snapshot_free(&ds);
    BN_free(fnum);
    BN_free(fbase);
    BN_free(dnum);
    BN_free(base);
    X509_CRL_free(full);
    X509_CRL_free(delta);
    return rc;
}
