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

/* CRLReason values with a rule attached (RFC 5280 5.3.1). */
enum {
    CRL_REASON_UNSPECIFIED = 0,
    CRL_REASON_HOLD = 6,
    CRL_REASON_UNUSED = 7, /* value 7 is not used */
    CRL_REASON_REMOVE = 8, /* removeFromCRL: delta CRLs only */
    CRL_REASON_MAX = 10,
};

/* State of one walk over the revoked index. */
struct crl_walk {
    struct derw *w;
    uint64_t n; /* entries written */
};

/*
 * Picks the reasonCode for an entry, or STORE_REASON_NONE for none. These are
 * the rules of the OCSP builder's revocationReason (common/ocsp.c), so both
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
 * DEFAULT FALSE and every extension here is non-critical, so DER omits it. */
static void crl_ext_open(struct derw *w, const uint8_t *oid, size_t oid_len)
{
    derw_open(w, DER_SEQUENCE);
    derw_oid(w, oid, oid_len);
    derw_open(w, DER_OCTET_STRING);
}

static void crl_ext_close(struct derw *w)
{
    derw_close(w); /* extnValue */
    derw_close(w); /* Extension */
}

/* Appends one revokedCertificates entry. */
static int crl_write_entry(struct derw *w, const uint8_t *serial, size_t serial_len,
                           const struct store_cert *c)
{
    unsigned reason;
    int rc = crl_entry_reason(c, &reason);
    if (rc < 0)
        return rc;
    /* The stored bytes go on the wire as the INTEGER contents unchanged, so
     * they must already be minimal DER or the whole CRL would be invalid. */
    if (der_serial_check(serial, serial_len) != 0)
        return -EBADMSG;

    derw_open(w, DER_SEQUENCE);
    derw_integer_raw(w, serial, serial_len);
    derw_time(w, c->revoked_at);
    /* crlEntryExtensions must be absent, not empty, when there is nothing. */
    if (reason != STORE_REASON_NONE || c->invalidity != 0) {
        derw_open(w, DER_SEQUENCE);
        if (reason != STORE_REASON_NONE) {
            crl_ext_open(w, crl_oid_reason, sizeof(crl_oid_reason));
            derw_enum(w, reason);
            crl_ext_close(w);
        }
        if (c->invalidity != 0) {
            /* invalidityDate is GeneralizedTime at any date (5.3.2), unlike
             * revocationDate which is a Time. */
            crl_ext_open(w, crl_oid_invalidity, sizeof(crl_oid_invalidity));
            derw_gentime(w, c->invalidity);
            crl_ext_close(w);
        }
        derw_close(w);
    }
    derw_close(w);
    return w->err;
}

/* store_cert_foreach callback: one revoked entry in. A partitioned CRL will
 * skip serials outside its shard here; nothing else in the loop changes. */
static int crl_walk_entry(void *arg, const uint8_t *serial, size_t serial_len,
                          const struct store_cert *c)
{
    struct crl_walk *wk = arg;
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
    (void)serial;
    (void)serial_len;
    (void)c;
    *(bool *)arg = true;
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
 * renewed but the indexer not yet rerun, or a wrong [issuer] path).
 */
static int crl_check_ca(const struct signer *ca, struct store_txn *t, uint32_t issuer_id)
{
    const struct store_issuer_rec *rec;
    const uint8_t *cert;
    struct cur st_subject, st_spki, ca_subject, ca_spki;

    int rc = store_get_issuer(t, issuer_id, &rec, &cert);
    if (rc < 0)
        return rc;
    if (crl_cert_parts(cert, rec->cert_len, &st_subject, &st_spki) < 0 ||
        crl_cert_parts(ca->cert_der, ca->cert_len, &ca_subject, &ca_spki) < 0)
        return -EBADMSG;
    if (!crl_cur_eq(&st_subject, ca->subject_der, ca->subject_len) ||
        !crl_cur_eq(&st_spki, ca_spki.p, cur_left(&ca_spki)))
        return -EKEYREJECTED;
    return 0;
}

/* Writes crlExtensions [0]: authorityKeyIdentifier then cRLNumber. */
static void crl_write_extensions(struct derw *w, const struct signer *ca, uint64_t number)
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
    derw_uint64(w, number);
    crl_ext_close(w);

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

int crl_build_full(struct derw *w, const struct signer *ca, struct store_txn *t,
                   const struct crl_params *p, uint64_t *n_entries)
{
    struct crl_walk wk = {.w = w, .n = 0};
    bool any = false;
    size_t tbs_at;
    int rc;

    if (p->next_update <= p->this_update || ca->ski_len == 0 || ca->ski_len > sizeof(ca->ski) ||
        ca->alg_len == 0 || ca->subject_len == 0)
        return -EINVAL;
    rc = crl_check_ca(ca, t, p->issuer_id);
    if (rc < 0)
        return rc;
    /* revokedCertificates must be absent, not an empty SEQUENCE, when nothing
     * is revoked; one cursor step answers that before anything is written. */
    rc = store_cert_foreach(t, p->issuer_id, true, crl_walk_any, &any);
    if (rc < 0)
        return rc;

    derw_open(w, DER_SEQUENCE); /* CertificateList */
    tbs_at = w->len;
    derw_open(w, DER_SEQUENCE); /* TBSCertList */
    derw_uint64(w, 1);          /* version v2: required once any extension is present */
    derw_raw(w, ca->alg, ca->alg_len);
    derw_raw(w, ca->subject_der, ca->subject_len);
    /* Time picks UTCTime through 2049 and GeneralizedTime after (5.1.2.4). */
    derw_time(w, p->this_update);
    derw_time(w, p->next_update);
    if (any) {
        derw_open(w, DER_SEQUENCE);
        rc = store_cert_foreach(t, p->issuer_id, true, crl_walk_entry, &wk);
        if (rc < 0)
            return rc;
        derw_close(w);
    }
    crl_write_extensions(w, ca, p->number);
    derw_close(w); /* TBSCertList */

    rc = crl_sign_wrap(w, ca, tbs_at);
    if (rc < 0)
        return rc;
    if (n_entries)
        *n_entries = wk.n;
    return 0;
}
