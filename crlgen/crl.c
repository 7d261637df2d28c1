/*
 * crl — the CRL builder. A CRL is written in one pass into the caller's derw:
 * the CertificateList SEQUENCE is opened, the TBSCertList is written with its
 * revokedCertificates streamed entry by entry from store_cert_foreach() over
 * the issuer's revoked index (serial order, so output is deterministic), then
 * the TBS bytes are signed in place and the signature appended. The pieces are
 * split so the later delta and partitioned CRLs reuse them: crl_write_entry()
 * is the per-entry encoder, crl_walk_entry() the store callback (where a shard
 * filter will go), crl_sign_wrap() the signature trailer. Field choices follow
 * RFC 5280 section 5; each is explained where it is written.
 */
#include "crl.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* Encoded OID contents under id-ce (2.5.29 = 55 1d). */
static const uint8_t crl_oid_number[] = {0x55, 0x1d, 0x14};     /* cRLNumber 2.5.29.20 */
static const uint8_t crl_oid_reason[] = {0x55, 0x1d, 0x15};     /* reasonCode 2.5.29.21 */
static const uint8_t crl_oid_invalidity[] = {0x55, 0x1d, 0x18}; /* invalidityDate 2.5.29.24 */
static const uint8_t crl_oid_aki[] = {0x55, 0x1d, 0x23};        /* authorityKeyId 2.5.29.35 */
static const uint8_t crl_oid_delta[] = {0x55, 0x1d, 0x1b};      /* deltaCRLIndicator 2.5.29.27 */
static const uint8_t crl_oid_freshest[] = {0x55, 0x1d, 0x2e};   /* freshestCRL 2.5.29.46 */
static const uint8_t crl_oid_idp[] = {0x55, 0x1d, 0x1c}; /* issuingDistributionPoint 2.5.29.28 */

/* CRLReason values with a rule attached (RFC 5280 5.3.1). */
enum {
    CRL_REASON_UNSPECIFIED = 0,
    CRL_REASON_HOLD = 6,
    CRL_REASON_UNUSED = 7, /* value 7 is not used */
    CRL_REASON_REMOVE = 8, /* removeFromCRL: delta CRLs only */
    CRL_REASON_MAX = 10,
};

/* State of one walk over the revoked index or the change log. */
struct crl_walk {
    struct derw *w; /* NULL: only find out whether there is any entry */
    struct store_txn *t;
    uint32_t issuer_id;
    const struct crl_params *p; /* shard filter */
    uint64_t n;                 /* entries written (or found) */
};

uint32_t crl_shard_of(const uint8_t *serial, size_t len, uint32_t span, uint32_t shards)
{
    uint64_t r = 0, q = 0; /* remainder mod span; quotient mod shards */
    if (shards == 0 || span == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        uint64_t cur = r * 256 + serial[i]; /* < span * 256 <= 2^38: no overflow */
        r = cur % span;
        q = (q * 256 + cur / span) % shards;
    }
    return (uint32_t)q + 1;
}

/* True if the serial belongs on this CRL (always, unless it is a shard). */
static bool crl_in_shard(const struct crl_params *p, const uint8_t *serial, size_t len)
{
    return p == NULL || p->shard == 0 || crl_shard_of(serial, len, p->span, p->shards) == p->shard;
}

/*
 * Picks the reasonCode for an entry, or STORE_REASON_NONE for none. These are
 * the rules of the OCSP builder's revocationReason (ocsp_resp_reason()), so both
 * channels say the same thing about every stored entry: entries on hold
 * always say certificateHold, whatever reason byte the store kept, because
 * that is what makes a hold a hold to relying parties; no reason and unspecified (0) are expressed
 * by omission (RFC 5280 5.3.1, BR 7.2.2 and 7.3); 1-6, 9 and 10 are written as stored.
 * removeFromCRL (8) belongs only in delta CRLs; the indexer reads it on an "R" line as a released
 * hold (status good, so the entry leaves the revoked index), and a revoked record that still
 * carries 8 (written by an older indexer and kept revoked, since a revocation is never undone)
 * stays listed without a reason, as OCSP answers it revoked without one. Anything else a CRL cannot
 * carry (7, above 10, a good entry in the revoked index) means the store is inconsistent, and a
 * wrong CRL is worse than a late one, so it is an error rather than a silent omission; the OCSP
 * builder refuses the same values.
 */
static int crl_entry_reason(const struct store_cert *c, unsigned *reason)
{
    if (c->status == STORE_HOLD) {
        *reason = CRL_REASON_HOLD;
        return 0;
    }
    if (c->status != STORE_REVOKED)
        return -EBADMSG;
    if (c->reason == STORE_REASON_NONE || c->reason == CRL_REASON_UNSPECIFIED ||
        c->reason == CRL_REASON_REMOVE) {
        *reason = STORE_REASON_NONE;
        return 0;
    }
    if (c->reason > CRL_REASON_MAX || c->reason == CRL_REASON_UNUSED)
        return -EBADMSG;
    *reason = c->reason;
    return 0;
}

/* Opens Extension { extnID, extnValue OCTET STRING { ... } }; critical is
 * DEFAULT FALSE and most extensions here are non-critical, so DER omits it. */
static void crl_ext_open(struct derw *w, const uint8_t *oid, size_t oid_len)
{
    derw_open(w, DER_SEQUENCE);
    derw_oid(w, oid, oid_len);
    derw_open(w, DER_OCTET_STRING);
}

/* The same with critical TRUE (the Delta CRL Indicator: a relying party that
 * does not know deltas must not take a delta for a complete CRL). */
static void crl_ext_open_critical(struct derw *w, const uint8_t *oid, size_t oid_len)
{
    derw_open(w, DER_SEQUENCE);
    derw_oid(w, oid, oid_len);
    derw_bool(w, true);
    derw_open(w, DER_OCTET_STRING);
}

static void crl_ext_close(struct derw *w)
{
    derw_close(w); /* extnValue */
    derw_close(w); /* Extension */
}

/* Appends one revokedCertificates entry with the given date, reason
 * (STORE_REASON_NONE: none) and invalidity date (0: none). */
static int crl_write_entry_as(struct derw *w, const uint8_t *serial, size_t serial_len,
                              int64_t revoked_at, unsigned reason, int64_t invalidity)
{
    /* The stored bytes go on the wire as the INTEGER contents unchanged, so
     * they must already be minimal DER or the whole CRL would be invalid. */
    if (der_serial_check(serial, serial_len) != 0)
        return -EBADMSG;

    derw_open(w, DER_SEQUENCE);
    derw_integer_raw(w, serial, serial_len);
    derw_time(w, revoked_at);
    /* crlEntryExtensions must be absent, not empty, when there is nothing. */
    if (reason != STORE_REASON_NONE || invalidity != 0) {
        derw_open(w, DER_SEQUENCE);
        if (reason != STORE_REASON_NONE) {
            crl_ext_open(w, crl_oid_reason, sizeof(crl_oid_reason));
            derw_enum(w, reason);
            crl_ext_close(w);
        }
        if (invalidity != 0) {
            /* invalidityDate is GeneralizedTime at any date (5.3.2), unlike
             * revocationDate which is a Time. */
            crl_ext_open(w, crl_oid_invalidity, sizeof(crl_oid_invalidity));
            derw_gentime(w, invalidity);
            crl_ext_close(w);
        }
        derw_close(w);
    }
    derw_close(w);
    return w->err;
}

/* Appends one revokedCertificates entry. */
static int crl_write_entry(struct derw *w, const uint8_t *serial, size_t serial_len,
                           const struct store_cert *c)
{
    unsigned reason;
    int rc = crl_entry_reason(c, &reason);
    if (rc < 0)
        return rc;
    return crl_write_entry_as(w, serial, serial_len, c->revoked_at, reason, c->invalidity);
}

/* store_cert_foreach callback: one revoked entry in. A partitioned CRL will
 * skip serials outside its shard here; nothing else in the loop changes. */
static int crl_walk_entry(void *arg, const uint8_t *serial, size_t serial_len,
                          const struct store_cert *c)
{
    struct crl_walk *wk = arg;
    if (!crl_in_shard(wk->p, serial, serial_len))
        return 0;
    int rc = crl_write_entry(wk->w, serial, serial_len, c);
    if (rc < 0)
        return rc;
    wk->n++;
    return 0;
}

/* store_cert_foreach callback that stops at the first entry: "is there any?" */
static int crl_walk_any(void *arg, const uint8_t *serial, size_t serial_len,
                        const struct store_cert *c)
{
    struct crl_walk *wk = arg;
    (void)c;
    if (!crl_in_shard(wk->p, serial, serial_len))
        return 0;
    wk->n++;
    return 1;
}

/*
 * Splits a Certificate into the whole TLVs of its subject Name and its
 * SubjectPublicKeyInfo. The serial is skipped with der_get_any because some
 * deployed CA certificates carry non-minimal serials, and only name and key
 * matter here.
 */
static int crl_cert_parts(const uint8_t *der, size_t len, struct cur *subject, struct cur *spki)
{
    struct cur c, cert, tbs, skip;
    uint8_t tag;

    cur_init(&c, der, len);
    if (der_get(&c, DER_SEQUENCE, &cert) < 0 || der_get(&cert, DER_SEQUENCE, &tbs) < 0)
        return -EBADMSG;
    if (der_get_optional(&tbs, DER_CTX_CONS(0), &skip) < 0 || /* version */
        der_get_any(&tbs, &tag, &skip) < 0 ||                 /* serialNumber */
        der_get(&tbs, DER_SEQUENCE, &skip) < 0 ||             /* signature */
        der_get(&tbs, DER_SEQUENCE, &skip) < 0 ||             /* issuer */
        der_get(&tbs, DER_SEQUENCE, &skip) < 0)               /* validity */
        return -EBADMSG;
    if (der_get_raw(&tbs, &tag, subject) < 0 || tag != DER_SEQUENCE)
        return -EBADMSG;
    if (der_get_raw(&tbs, &tag, spki) < 0 || tag != DER_SEQUENCE)
        return -EBADMSG;
    return 0;
}

static bool crl_cur_eq(const struct cur *a, const void *p, size_t n)
{
    return cur_left(a) == n && memcmp(a->p, p, n) == 0;
}

/*
 * Checks ca may sign the CRL of the store's issuer: the CRL issuer field is
 * ca's subject, and relying parties find the CRL's CA by that name and verify
 * with that CA's key, so both must match the CA certificate the indexer
 * recorded. Catches a crl_key/ca_cert pair that drifted from the store (CA
 * renewed but the indexer not yet rerun, or a wrong [issuer] path). With a
 * dedicated CRL signer (p->ca_der set) the name is still the signer's (it
 * carries the CA's name, run.c checked), the key is the CA certificate's.
 */
static int crl_check_ca(const struct signer *ca, struct store_txn *t, const struct crl_params *p)
{
    const uint32_t issuer_id = p->issuer_id;
    const struct store_issuer_rec *rec;
    const uint8_t *cert;
    struct cur st_subject, st_spki, ca_subject, ca_spki;

    int rc = store_get_issuer(t, issuer_id, &rec, &cert);
    if (rc < 0)
        return rc;
    if (crl_cert_parts(cert, rec->cert_len, &st_subject, &st_spki) < 0 ||
        crl_cert_parts(p->ca_der ? p->ca_der : ca->cert_der, p->ca_der ? p->ca_len : ca->cert_len,
                       &ca_subject, &ca_spki) < 0)
        return -EBADMSG;
    if (!crl_cur_eq(&st_subject, ca->subject_der, ca->subject_len) ||
        !crl_cur_eq(&st_spki, ca_spki.p, cur_left(&ca_spki)))
        return -EKEYREJECTED;
    return 0;
}

/*
 * Writes crlExtensions [0]: authorityKeyIdentifier, cRLNumber, then for a
 * delta the Delta CRL Indicator, then Freshest CRL when a delta URL is known.
 * The AKI is the same bytes on full and delta, which is what lets a relying
 * party pair them (OpenSSL's check_delta_base compares it).
 */
static void crl_write_extensions(struct derw *w, const struct signer *ca,
                                 const struct crl_params *p)
{
    derw_open(w, DER_CTX_CONS(0));
    derw_open(w, DER_SEQUENCE);

    /* AKI with keyIdentifier only: RFC 5280 5.2.1 requires it in CRLs, and
     * the key id is what clients use to pick among CA certificates that share
     * a name after a rekey. */
    crl_ext_open(w, crl_oid_aki, sizeof(crl_oid_aki));
    derw_open(w, DER_SEQUENCE);
    derw_tlv(w, DER_CTX(0), ca->ski, ca->ski_len);
    derw_close(w);
    crl_ext_close(w);

    crl_ext_open(w, crl_oid_number, sizeof(crl_oid_number));
    derw_uint64(w, p->number);
    crl_ext_close(w);

    /* 5.2.4: critical, BaseCRLNumber. */
    if (p->base != 0) {
        crl_ext_open_critical(w, crl_oid_delta, sizeof(crl_oid_delta));
        derw_uint64(w, p->base);
        crl_ext_close(w);
    }

    /* 5.2.5: a shard's scope. Critical, distributionPoint fullName URI only
     * (no onlySome/indirect flags: every reason, every certificate kind of
     * this CA, in this shard). The same bytes go on the shard's delta, which
     * relying parties check (a delta's scope must equal its base's). */
    if (p->shard != 0 && p->idp_url != NULL) {
        crl_ext_open_critical(w, crl_oid_idp, sizeof(crl_oid_idp));
        derw_open(w, DER_SEQUENCE);    /* IssuingDistributionPoint */
        derw_open(w, DER_CTX_CONS(0)); /* distributionPoint */
        derw_open(w, DER_CTX_CONS(0)); /* fullName */
        derw_tlv(w, DER_CTX(6), p->idp_url, strlen(p->idp_url));
        derw_close(w);
        derw_close(w);
        derw_close(w);
        crl_ext_close(w);
    }

    /* 5.2.6: FreshestCRL ::= CRLDistributionPoints, one DistributionPoint
     * with distributionPoint fullName uniformResourceIdentifier. OpenSSL looks
     * for a delta only when the base CRL (or the certificate) carries it. */
    if (p->freshest_url != NULL) {
        crl_ext_open(w, crl_oid_freshest, sizeof(crl_oid_freshest));
        derw_open(w, DER_SEQUENCE);    /* CRLDistributionPoints */
        derw_open(w, DER_SEQUENCE);    /* DistributionPoint */
        derw_open(w, DER_CTX_CONS(0)); /* distributionPoint */
        derw_open(w, DER_CTX_CONS(0)); /* fullName GeneralNames */
        derw_tlv(w, DER_CTX(6), p->freshest_url, strlen(p->freshest_url)); /* URI */
        derw_close(w);
        derw_close(w);
        derw_close(w);
        derw_close(w);
        crl_ext_close(w);
    }

    derw_close(w);
    derw_close(w);
}

/*
 * Finishes a CertificateList whose SEQUENCE is open and whose TBS, just closed,
 * starts at tbs_at: signs the TBS bytes where they lie (no copy, which matters
 * for a CRL of tens of megabytes), then appends signatureAlgorithm and the
 * signature and closes the SEQUENCE. ca->alg is the same AlgorithmIdentifier
 * the TBS carries, as 5.1.1.2 requires.
 */
static int crl_sign_wrap(struct derw *w, const struct signer *ca, size_t tbs_at)
{
    uint8_t sig[SIGN_SIG_MAX];
    size_t sig_len;

    if (w->err)
        return w->err;
    int rc = signer_sign(ca, w->buf + tbs_at, w->len - tbs_at, sig, sizeof(sig), &sig_len);
    if (rc < 0)
        return rc;
    derw_raw(w, ca->alg, ca->alg_len);
    derw_bitstring(w, sig, sig_len);
    derw_close(w);
    return w->err;
}

static bool crl_url_ok(const char *u)
{
    if (u == NULL)
        return true;
    size_t n = strlen(u);
    if (n == 0 || n > CRL_URL_MAX)
        return false;
    for (size_t i = 0; i < n; i++) /* IA5String: 7-bit, and no controls in a URI */
        if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7f)
            return false;
    return true;
}

static bool crl_params_ok(const struct signer *ca, const struct crl_params *p)
{
    if (!crl_url_ok(p->freshest_url) || !crl_url_ok(p->idp_url))
        return false;
    if (p->shard != 0 && (p->shard > p->shards || p->span == 0 || p->idp_url == NULL))
        return false;
    return p->next_update > p->this_update && ca->ski_len != 0 && ca->ski_len <= sizeof(ca->ski) &&
           ca->alg_len != 0 && ca->subject_len != 0;
}

/* Writes the TBSCertList up to and including thisUpdate/nextUpdate. */
static void crl_write_head(struct derw *w, const struct signer *ca, const struct crl_params *p)
{
    derw_open(w, DER_SEQUENCE); /* TBSCertList */
    derw_uint64(w, 1);          /* version v2: required once any extension is present */
    derw_raw(w, ca->alg, ca->alg_len);
    derw_raw(w, ca->subject_der, ca->subject_len);
    /* Time picks UTCTime through 2049 and GeneralizedTime after (5.1.2.4). */
    derw_time(w, p->this_update);
    derw_time(w, p->next_update);
}

/*
 * store_changes_foreach callback of a delta: one change record in. The log
 * has one record per change, so a certificate changed three times since the
 * base appears three times; only the record that is its latest change (the
 * seq stamped on the certificate) writes it, which lists each certificate
 * once, in the order of its last change, without remembering anything.
 */
static int crl_walk_change(void *arg, uint64_t seq, const struct store_change_hdr *h,
                           const uint8_t *serial)
{
    struct crl_walk *wk = arg;
    struct store_cert c;
    unsigned reason;
    int rc;

    if (h->issuer_id != wk->issuer_id || !crl_in_shard(wk->p, serial, h->serial_len))
        return 0;
    rc = store_get_cert(wk->t, wk->issuer_id, serial, h->serial_len, &c);
    if (rc == -ENOENT) /* no longer listed at all: nothing a CRL can say */
        return 0;
    if (rc < 0)
        return rc;
    if (c.seq != seq)
        return 0; /* a later record covers it */
    if (c.status == STORE_GOOD) {
        /* Released from hold (or a revocation corrected on purpose): it may be
         * on the base CRL, and removeFromCRL is how a delta takes it off
         * (5.3.1). Good before and after (a new certificate): not listed. */
        if (h->old_status != STORE_HOLD && h->old_status != STORE_REVOKED)
            return 0;
        if (wk->w == NULL) {
            wk->n++;
            return 1;
        }
        rc = crl_write_entry_as(wk->w, serial, h->serial_len, h->at, CRL_REASON_REMOVE, 0);
    } else {
        rc = crl_entry_reason(&c, &reason);
        if (rc < 0)
            return rc;
        if (wk->w == NULL) {
            wk->n++;
            return 1;
        }
        rc = crl_write_entry(wk->w, serial, h->serial_len, &c);
    }
    if (rc < 0)
        return rc;
    wk->n++;
    return 0;
}

/* A full CRL's entries: the issuer's revoked index; the probe stops at the first one. */
static int crl_walk_full(struct crl_walk *wk)
{
    return store_cert_foreach(wk->t, wk->issuer_id, true, wk->w ? crl_walk_entry : crl_walk_any,
                              wk);
}

/* A delta's entries: the change log since the base (crl_walk_change). */
static int crl_walk_delta(struct crl_walk *wk)
{
    return store_changes_foreach(wk->t, wk->p->base_seq, crl_walk_change, wk);
}

/*
 * The CertificateList around a full CRL's or a delta's entries, which walk()
 * streams: once as a probe (wk->w NULL), because revokedCertificates must be
 * absent, not an empty SEQUENCE, when there is nothing to list, and one cursor
 * step answers that before anything is written; then for real.
 */
static int crl_build(struct derw *w, const struct signer *ca, struct store_txn *t,
                     const struct crl_params *p, int (*walk)(struct crl_walk *),
                     uint64_t *n_entries)
{
    struct crl_walk probe = {.w = NULL, .t = t, .issuer_id = p->issuer_id, .p = p, .n = 0};
    struct crl_walk wk = {.w = w, .t = t, .issuer_id = p->issuer_id, .p = p, .n = 0};
    size_t tbs_at;
    int rc;

    rc = crl_check_ca(ca, t, p);
    if (rc < 0)
        return rc;
    rc = walk(&probe);
    if (rc < 0)
        return rc;

    derw_open(w, DER_SEQUENCE); /* CertificateList */
    tbs_at = w->len;
    crl_write_head(w, ca, p);
    if (probe.n > 0) {
        derw_open(w, DER_SEQUENCE);
        rc = walk(&wk);
        if (rc < 0)
            return rc;
        derw_close(w);
    }
    crl_write_extensions(w, ca, p);
    derw_close(w); /* TBSCertList */

    rc = crl_sign_wrap(w, ca, tbs_at);
    if (rc < 0)
        return rc;
    if (n_entries)
        *n_entries = wk.n;
    return 0;
}

int crl_build_full(struct derw *w, const struct signer *ca, struct store_txn *t,
                   const struct crl_params *p, uint64_t *n_entries)
{
    if (!crl_params_ok(ca, p) || p->base != 0)
        return -EINVAL;
    return crl_build(w, ca, t, p, crl_walk_full, n_entries);
}

int crl_build_delta(struct derw *w, const struct signer *ca, struct store_txn *t,
                    const struct crl_params *p, uint64_t *n_entries)
{
    if (!crl_params_ok(ca, p) || p->base == 0 || p->base >= p->number)
        return -EINVAL;
    return crl_build(w, ca, t, p, crl_walk_delta, n_entries);
}

struct crl_changed {
    uint32_t issuer_id;
};

static int crl_walk_changed(void *arg, uint64_t seq, const struct store_change_hdr *h,
                            const uint8_t *serial)
{
    (void)seq;
    (void)serial;
    return h->issuer_id == ((const struct crl_changed *)arg)->issuer_id ? 1 : 0;
}

int crl_issuer_changed(struct store_txn *t, uint32_t issuer_id, uint64_t after)
{
    struct crl_changed c = {issuer_id};
    return store_changes_foreach(t, after, crl_walk_changed, &c);
}
