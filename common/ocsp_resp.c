/*
 * ocsp_resp — RFC 6960 response building. Writes an OCSPResponse for one
 * SingleResponse with the der.h writer and signs the ResponseData with a struct
 * signer; the indexer calls it once per certificate and CertID hash algorithm,
 * ahead of any request. Kept apart from ocsp_req.c so the responder, which only
 * parses requests, links no signing code.
 */
#include "ocsp_resp.h"

#include <errno.h>
#include <string.h>

#include "sign.h"

/* CRLReason values with a rule attached (RFC 5280 5.3.1). */
#define OCSP_REASON_UNSPECIFIED 0
#define OCSP_REASON_HOLD        6
#define OCSP_REASON_UNUSED      7
#define OCSP_REASON_REMOVE      8
#define OCSP_REASON_MAX         10

/* ResponseData bound: responderID 24, producedAt 17, CertID with SHA-256 hashes and
 * a 20-byte serial about 110, status and times under 60, nesting headers: well
 * under 512; derw fails with -ENOSPC rather than write past it. */
#define OCSP_TBS_MAX 512

void ocsp_resp_certid(struct derw *w, enum store_hash hash, const uint8_t *name_hash,
                      const uint8_t *key_hash, const uint8_t *serial, size_t serial_len)
{
    size_t hl = store_hash_len(hash);
    derw_open(w, DER_SEQUENCE);
    derw_open(w, DER_SEQUENCE);
    if (hash == STORE_HASH_SHA1)
        derw_oid(w, OID_SHA1, sizeof(OID_SHA1));
    else
        derw_oid(w, OID_SHA256, sizeof(OID_SHA256));
    derw_null(w);
    derw_close(w);
    derw_tlv(w, DER_OCTET_STRING, name_hash, hl);
    derw_tlv(w, DER_OCTET_STRING, key_hash, hl);
    derw_integer_raw(w, serial, serial_len);
    derw_close(w);
}

/* The rules are in ocsp_resp.h; crlgen's reasonCode follows the same ones. */
int ocsp_resp_reason(enum store_status status, uint8_t stored, uint8_t *reason)
{
    if (status == STORE_HOLD || stored == OCSP_REASON_HOLD) {
        *reason = OCSP_REASON_HOLD;
        return 0;
    }
    if (stored == STORE_REASON_NONE || stored == OCSP_REASON_UNSPECIFIED ||
        stored == OCSP_REASON_REMOVE) {
        *reason = STORE_REASON_NONE;
        return 0;
    }
    if (stored == OCSP_REASON_UNUSED || stored > OCSP_REASON_MAX)
        return -EINVAL;
    *reason = stored;
    return 0;
}

void ocsp_resp_certs(struct derw *w, const struct signer *sg)
{
    derw_open(w, DER_CTX_CONS(0)); /* certs: the signer, so clients can verify */
    derw_open(w, DER_SEQUENCE);
    derw_raw(w, sg->cert_der, sg->cert_len);
    derw_close(w);
    derw_close(w);
}

static int ocsp_resp_build_at(struct derw *w, const struct ocsp_single *s, int64_t produced_at,
                              const struct signer *sg, bool certs)
{
    uint8_t reason = STORE_REASON_NONE;
    if (store_hash_len(s->hash) == 0)
        return -EINVAL;
    if (s->status != STORE_GOOD && s->status != STORE_REVOKED && s->status != STORE_HOLD)
        return -EINVAL;
    if (s->status != STORE_GOOD && ocsp_resp_reason(s->status, s->reason, &reason) < 0)
        return -EINVAL;
    /* The ResponseData goes to a small buffer of its own first: once it is signed,
     * every length of the envelope is known, and the envelope is written front to
     * back with no derw_close() moving the body (signer certificate included) once
     * per enclosing level, the bulk of this function's cost otherwise. */
    uint8_t tbs_buf[OCSP_TBS_MAX];
    struct derw tw, *t = &tw;
    derw_init_fixed(t, tbs_buf, sizeof(tbs_buf));
    derw_open(t, DER_SEQUENCE);    /* ResponseData; version v1 is DEFAULT, so omitted */
    derw_open(t, DER_CTX_CONS(2)); /* responderID byKey */
    derw_tlv(t, DER_OCTET_STRING, sg->key_sha1, sizeof(sg->key_sha1));
    derw_close(t);
    derw_gentime(t, produced_at);
    derw_open(t, DER_SEQUENCE); /* responses */
    derw_open(t, DER_SEQUENCE); /* SingleResponse */
    ocsp_resp_certid(t, s->hash, s->name_hash, s->key_hash, s->serial, s->serial_len);
    if (s->status == STORE_GOOD) {
        derw_tlv(t, DER_CTX(0), NULL, 0);
    } else {
        derw_open(t, DER_CTX_CONS(1)); /* RevokedInfo, IMPLICIT */
        derw_gentime(t, s->revoked_at);
        if (reason != STORE_REASON_NONE) {
            derw_open(t, DER_CTX_CONS(0));
            derw_enum(t, reason);
            derw_close(t);
        }
        derw_close(t);
    }
    derw_gentime(t, s->this_update);
    derw_open(t, DER_CTX_CONS(0));
    derw_gentime(t, s->next_update);
    derw_close(t);
    derw_close(t); /* SingleResponse */
    derw_close(t); /* responses */
    derw_close(t); /* ResponseData */
    if (t->err)
        return t->err;

    uint8_t sig[SIGN_SIG_MAX];
    size_t sig_len;
    int rc = signer_sign(sg, t->buf, t->len, sig, sizeof(sig), &sig_len);
    if (rc < 0)
        return rc;
    size_t cert_seq = der_tlv_size(sg->cert_len); /* SEQUENCE OF Certificate */
    size_t basic = t->len + sg->alg_len + der_tlv_size(sig_len + 1) + der_tlv_size(cert_seq);
    size_t octets = der_tlv_size(basic); /* BasicOCSPResponse */
    size_t bytes = der_tlv_size(sizeof(OID_PKIX_OCSP_BASIC)) + der_tlv_size(octets);
    size_t outer = 3 /* ENUMERATED */ + der_tlv_size(der_tlv_size(bytes));
    derw_header(w, DER_SEQUENCE, outer); /* OCSPResponse */
    derw_enum(w, OCSP_SUCCESSFUL);
    derw_header(w, DER_CTX_CONS(0), der_tlv_size(bytes));
    derw_header(w, DER_SEQUENCE, bytes); /* ResponseBytes */
    derw_oid(w, OID_PKIX_OCSP_BASIC, sizeof(OID_PKIX_OCSP_BASIC));
    derw_header(w, DER_OCTET_STRING, octets);
    derw_header(w, DER_SEQUENCE, basic); /* BasicOCSPResponse */
    derw_raw(w, t->buf, t->len);
    derw_raw(w, sg->alg, sg->alg_len);
    derw_bitstring(w, sig, sig_len);
    /* certs last: the store splits it off (store_put_response), or keeps it from
     * the start (store_put_response_head) */
    if (certs) {
        derw_header(w, DER_CTX_CONS(0), cert_seq);
        derw_header(w, DER_SEQUENCE, sg->cert_len);
        derw_raw(w, sg->cert_der, sg->cert_len);
    }
    return w->err;
}

int ocsp_resp_build(struct derw *w, const struct ocsp_single *s, int64_t produced_at,
                    const struct signer *sg)
{
    return ocsp_resp_build_at(w, s, produced_at, sg, true);
}

size_t ocsp_resp_head_max(const struct signer *sg)
{
    /* ResponseData at most OCSP_TBS_MAX, the signature's BIT STRING, and five
     * enclosing headers plus the status ENUMERATED and the OID (under 40 bytes). */
    return OCSP_TBS_MAX + sg->alg_len + der_tlv_size(sg->sig_max + 1) + 64;
}

int ocsp_resp_build_head(struct derw *w, const struct ocsp_single *s, int64_t produced_at,
                         const struct signer *sg)
{
    return ocsp_resp_build_at(w, s, produced_at, sg, false);
}
