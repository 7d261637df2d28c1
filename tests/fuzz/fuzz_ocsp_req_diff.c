/*
 * libFuzzer target, differential: common/ocsp_req's parser (ocsp_req_parse,
 * ocsp_req_certids) against OpenSSL's d2i_OCSP_REQUEST on the same bytes.
 *
 * When we accept, OpenSSL must accept the same bytes whole, and agree on the
 * number of CertIDs and on every CertID field (hash algorithm, issuerNameHash,
 * issuerKeyHash, serial number) and on the nonce's extnValue. When OpenSSL
 * accepts and we reject, the rejection must be one of the cases where we are
 * deliberately stricter; each is listed in stricter_reason() with the rule it
 * follows, and any other rejection aborts. OpenSSL is the reference for what a
 * well-formed request is, not for policy: it reads BER and checks no lengths.
 *
 * Deliberately laxer, one case: the two fields the responder does not use,
 * requestorName ([1] GeneralName) and optionalSignature ([0] Signature, which
 * is not verified: RFC 5019 responders need not), are taken as any DER TLV
 * (the signature as a non-empty SEQUENCE); OpenSSL parses their insides. So
 * when we accept and OpenSSL refuses, the target strips those two fields and
 * requires OpenSSL to accept what is left (laxer_only_unused()); any other
 * request we accept and OpenSSL refuses is a finding. Found and fixed so far:
 * malformed OBJECT IDENTIFIERs were accepted (ocsp_req.c oid_valid()).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "ocsp_req.h"

/* One TLV of DER known to be canonical (OpenSSL's own re-encoding); 0 or -1. */
static int tlv(const uint8_t **p, const uint8_t *end, uint8_t *tag, const uint8_t **val,
               size_t *len)
{
    if (end - *p < 2)
        return -1;
    *tag = (*p)[0];
    size_t l = (*p)[1], i = 2;
    if (l & 0x80) {
        size_t n = l & 0x7f;
        if (n == 0 || n > 3 || (size_t)(end - *p) < 2 + n)
            return -1;
        l = 0;
        for (size_t k = 0; k < n; k++)
            l = (l << 8) | (*p)[2 + k];
        i += n;
    }
    if ((size_t)(end - *p) - i < l)
        return -1;
    *val = *p + i;
    *len = l;
    *p = *val + l;
    return 0;
}

/* True when a CertID's AlgorithmIdentifier has parameters other than absent or NULL. */
static bool certid_odd_params(OCSP_CERTID *cid)
{
    unsigned char *der = NULL;
    int n = i2d_OCSP_CERTID(cid, &der);
    bool odd = true;
    const uint8_t *p = der, *end, *v, *a;
    size_t l, al;
    uint8_t tag;
    if (n <= 0)
        return true;
    end = der + n;
    if (tlv(&p, end, &tag, &v, &l) < 0) /* CertID */
        goto out;
    p = v;
    end = v + l;
    if (tlv(&p, end, &tag, &a, &al) < 0) /* AlgorithmIdentifier */
        goto out;
    p = a;
    end = a + al;
    if (tlv(&p, end, &tag, &v, &l) < 0) /* algorithm OID */
        goto out;
    if (p == end)
        odd = false;
    else if (tlv(&p, end, &tag, &v, &l) == 0 && tag == 0x05 && l == 0 && p == end)
        odd = false;
out:
    OPENSSL_free(der);
    return odd;
}

static size_t nonce_value_len(const ASN1_OCTET_STRING *os)
{
    /* RFC 8954: extnValue holds the DER of an OCTET STRING; older clients put raw bytes. */
    const unsigned char *p = os->data;
    ASN1_OCTET_STRING *inner = d2i_ASN1_OCTET_STRING(NULL, &p, os->length);
    size_t n = (size_t)os->length;
    if (inner && p == os->data + os->length)
        n = (size_t)inner->length;
    ASN1_OCTET_STRING_free(inner);
    return n;
}

/* Checks one extension list's criticality rule; requests: the nonce rules too. */
static const char *ext_reason(OCSP_REQUEST *req, OCSP_ONEREQ *one)
{
    bool request = one == NULL;
    int nonces = 0;
    int n = request ? OCSP_REQUEST_get_ext_count(req) : OCSP_ONEREQ_get_ext_count(one);
    for (int i = 0; i < n; i++) {
        X509_EXTENSION *e = request ? OCSP_REQUEST_get_ext(req, i) : OCSP_ONEREQ_get_ext(one, i);
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(e));
        bool known;
        if (request && nid == NID_id_pkix_OCSP_Nonce) {
            size_t vl = nonce_value_len(X509_EXTENSION_get_data(e));
            if (++nonces > 1)
                return "nonce extension twice";
            if (vl < OCSP_NONCE_MIN || vl > OCSP_NONCE_MAX)
                return "nonce value outside 1..128 octets (RFC 9654 2.1)";
            known = true;
        } else if (request) {
            known = nid == NID_id_pkix_OCSP_acceptableResponses;
        } else {
            known = nid == NID_id_pkix_OCSP_serviceLocator;
        }
        if (X509_EXTENSION_get_critical(e) && !known)
            return "unrecognized critical extension (RFC 5280 4.2)";
    }
    return NULL;
}

/*
 * An [n] EXPLICIT Extensions: empty (SIZE 1..MAX), or a critical BOOLEAN other
 * than 0xff or 0x00 (X.690 11.1 has TRUE as 0xff; OpenSSL keeps and re-encodes
 * whatever non-zero octet it read, so the DER check cannot see this one).
 */
static const char *exts_reason(const uint8_t *v, size_t l)
{
    const uint8_t *q, *qe, *e, *f;
    size_t ql, el, fl;
    uint8_t tag;
    if (tlv(&v, v + l, &tag, &q, &ql) < 0)
        return NULL;
    if (ql == 0)
        return "empty Extensions (SIZE 1..MAX)";
    qe = q + ql;
    while (q < qe && tlv(&q, qe, &tag, &e, &el) == 0) {
        const uint8_t *ee = e + el;
        while (e < ee && tlv(&e, ee, &tag, &f, &fl) == 0)
            if (tag == 0x01 && fl == 1 && f[0] != 0xff && f[0] != 0x00)
                return "critical BOOLEAN neither 0xff nor 0x00";
    }
    return NULL;
}

/* Version and the Extensions rules above, read from bytes known to be DER. */
static const char *tbs_reason(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size, *v, *q, *qe;
    size_t l;
    uint8_t tag;
    if (tlv(&p, end, &tag, &v, &l) < 0 || tlv(&v, v + l, &tag, &q, &l) < 0) /* OCSPRequest, tbs */
        return NULL;
    qe = q + l;
    while (q < qe && tlv(&q, qe, &tag, &v, &l) == 0) {
        if (tag == 0xa0 && !(l == 3 && v[0] == 0x02 && v[1] == 1 && v[2] == 0))
            return "version other than v1";
        if (tag == 0xa2 && exts_reason(v, l))
            return exts_reason(v, l);
        if (tag == 0x30) { /* requestList: each Request's [0] singleRequestExtensions */
            const uint8_t *rq = v, *re = v + l, *one, *c;
            size_t ol, cl;
            while (rq < re && tlv(&rq, re, &tag, &one, &ol) == 0) {
                const uint8_t *oe = one + ol;
                while (one < oe && tlv(&one, oe, &tag, &c, &cl) == 0)
                    if (tag == 0xa0 && exts_reason(c, cl))
                        return exts_reason(c, cl);
            }
        }
    }
    return NULL;
}

/*
 * Why we may reject bytes OpenSSL accepted, or NULL when no documented reason
 * applies. Each line is one deliberate strictness of ocsp_req_parse().
 */
static const char *stricter_reason(const uint8_t *data, size_t size, OCSP_REQUEST *req)
{
    if (size > OCSP_REQ_MAX)
        return "longer than OCSP_REQ_MAX";
    /* DER only: OpenSSL reads BER (indefinite and long-form lengths, constructed
     * strings, BOOLEAN TRUE other than 0xff, an encoded DEFAULT); its re-encoding is
     * DER, so bytes that differ from it are not DER. */
    unsigned char *der = NULL;
    int n = i2d_OCSP_REQUEST(req, &der);
    bool canonical = n > 0 && (size_t)n == size && memcmp(der, data, size) == 0;
    OPENSSL_free(der);
    if (!canonical)
        return "not DER";
    int count = OCSP_request_onereq_count(req);
    if (count == 0)
        return "empty requestList";
    if (count > OCSP_REQ_CERTS_MAX)
        return "more than OCSP_REQ_CERTS_MAX CertIDs";
    for (int i = 0; i < count; i++) {
        OCSP_ONEREQ *one = OCSP_request_onereq_get0(req, i);
        OCSP_CERTID *cid = OCSP_onereq_get0_id(one);
        ASN1_OCTET_STRING *nh, *kh;
        ASN1_OBJECT *md;
        ASN1_INTEGER *serial;
        OCSP_id_get0_info(&nh, &md, &kh, &serial, cid);
        int nid = OBJ_obj2nid(md);
        int want = nid == NID_sha1 ? 20 : nid == NID_sha256 ? 32 : 0;
        if (certid_odd_params(cid))
            return "hash AlgorithmIdentifier parameters neither absent nor NULL";
        if (OBJ_length(md) == 0)
            return "empty hash algorithm OID";
        if (nh->length != kh->length || nh->length == 0 || nh->length > 64 ||
            (want && nh->length != want))
            return "issuer hash lengths unequal, empty, over 64 or not the algorithm's";
        unsigned char *sder = NULL;
        int sl = i2d_ASN1_INTEGER(serial, &sder);
        OPENSSL_free(sder);
        if (sl - 2 > DER_SERIAL_MAX || sl <= 2)
            return "serial number over DER_SERIAL_MAX octets";
        const char *r = ext_reason(req, one);
        if (r)
            return r;
    }
    const char *r = ext_reason(req, NULL);
    if (r)
        return r;
    /* OpenSSL 3 keeps the rest opaque; the bytes are DER now, so read them directly. */
    return tbs_reason(data, size);
}

static size_t put_len(uint8_t *o, size_t l)
{
    if (l < 0x80) {
        o[0] = (uint8_t)l;
        return 1;
    }
    if (l < 0x100) {
        o[0] = 0x81;
        o[1] = (uint8_t)l;
        return 2;
    }
    o[0] = 0x82;
    o[1] = (uint8_t)(l >> 8);
    o[2] = (uint8_t)l;
    return 3;
}

/*
 * The request without requestorName and optionalSignature (bytes we accepted,
 * so DER) is accepted by OpenSSL and still by us: the disagreement lay only in
 * the two fields we do not interpret.
 */
static bool laxer_only_unused(const uint8_t *data, size_t size)
{
    static uint8_t tbs[OCSP_REQ_MAX + 8], out[OCSP_REQ_MAX + 16];
    const uint8_t *p = data, *v, *t, *te, *e;
    size_t l, tl, el, n = 0;
    uint8_t tag;
    if (tlv(&p, data + size, &tag, &v, &l) < 0 || tlv(&v, v + l, &tag, &t, &tl) < 0)
        return false;
    te = t + tl;
    while (t < te) {
        const uint8_t *start = t;
        if (tlv(&t, te, &tag, &e, &el) < 0)
            return false;
        if (tag != 0xa1) {
            memcpy(tbs + n, start, (size_t)(t - start));
            n += (size_t)(t - start);
        }
    }
    size_t k = 0;
    uint8_t hdr[4];
    size_t hl = put_len(hdr, n);
    out[k++] = 0x30;
    k += put_len(out + k, 1 + hl + n);
    out[k++] = 0x30;
    memcpy(out + k, hdr, hl);
    k += hl;
    memcpy(out + k, tbs, n);
    k += n;
    const unsigned char *q = out;
    OCSP_REQUEST *req = d2i_OCSP_REQUEST(NULL, &q, (long)k);
    bool ok = req && q == out + k;
    OCSP_REQUEST_free(req);
    struct ocsp_req r;
    return ok && ocsp_req_parse(out, k, &r) == 0;
}

static void compare_certid(const struct ocsp_certid *ours, OCSP_CERTID *cid)
{
    ASN1_OCTET_STRING *nh, *kh;
    ASN1_OBJECT *md;
    ASN1_INTEGER *serial;
    OCSP_id_get0_info(&nh, &md, &kh, &serial, cid);
    int nid = OBJ_obj2nid(md);
    int want = nid == NID_sha1 ? STORE_HASH_SHA1 : nid == NID_sha256 ? STORE_HASH_SHA256 : 0;
    if (ours->hash != want)
        abort();
    if ((size_t)nh->length != ours->hash_len || (size_t)kh->length != ours->hash_len ||
        memcmp(nh->data, ours->name_hash, ours->hash_len) != 0 ||
        memcmp(kh->data, ours->key_hash, ours->hash_len) != 0)
        abort();
    /* Our serial is the INTEGER's contents; OpenSSL's, re-encoded, is 02 len contents. */
    unsigned char *sder = NULL;
    int sl = i2d_ASN1_INTEGER(serial, &sder);
    if (sl != (int)ours->serial_len + 2 || sder[1] != ours->serial_len ||
        memcmp(sder + 2, ours->serial, ours->serial_len) != 0)
        abort();
    OPENSSL_free(sder);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ocsp_req r;
    int ours = ocsp_req_parse(data, size, &r);
    const unsigned char *p = data;
    OCSP_REQUEST *req = d2i_OCSP_REQUEST(NULL, &p, (long)size);
    bool theirs = req && p == data + size; /* trailing bytes: OpenSSL stops, we refuse */

    if (ours == 0 && !theirs) {
        if (!laxer_only_unused(data, size))
            abort(); /* we accepted what OpenSSL refuses */
        OCSP_REQUEST_free(req);
        return 0;
    }
    if (ours != 0 && theirs && !stricter_reason(data, size, req))
        abort(); /* we refused a request OpenSSL accepts, for no documented reason */
    if (ours == 0) {
        struct ocsp_certid ids[OCSP_REQ_CERTS_MAX];
        int n = ocsp_req_certids(&r, ids, OCSP_REQ_CERTS_MAX);
        if (n != OCSP_request_onereq_count(req) || (unsigned)n != r.n_certs)
            abort();
        for (int i = 0; i < n; i++)
            compare_certid(&ids[i], OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i)));
        compare_certid(&r.id, OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0)));
        int ni = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1);
        if ((ni >= 0) != (r.nonce != NULL))
            abort();
        if (ni >= 0) {
            ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(OCSP_REQUEST_get_ext(req, ni));
            if ((size_t)v->length != r.nonce_len || memcmp(v->data, r.nonce, r.nonce_len) != 0)
                abort();
        }
        if (r.is_signed != (OCSP_request_is_signed(req) != 0))
            abort();
    }
    OCSP_REQUEST_free(req);
    return 0;
}
