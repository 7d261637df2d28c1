/*
 * ocsp_req — RFC 6960 request parsing, the fixed error responses and the CertID
 * issuer hashes. The parser walks the request with the der.h cursor and keeps
 * pointers into the caller's buffer; it accepts only DER and rejects anything it
 * cannot account for byte by byte. This unit must never call into common/sign:
 * it is the only OCSP code the responder links.
 */
#include "ocsp_req.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

const uint8_t OID_SHA1[5] = {0x2b, 0x0e, 0x03, 0x02, 0x1a};
const uint8_t OID_SHA256[9] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
const uint8_t OID_PKIX_OCSP_BASIC[9] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01};
const uint8_t OID_PKIX_OCSP_NONCE[9] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02};

/* Longest CertID hash accepted for algorithms we do not serve (SHA-512). */
#define OCSP_HASH_LEN_MAX 64

static bool oid_eq(const struct cur *oid, const uint8_t *enc, size_t n)
{
    return cur_left(oid) == n && memcmp(oid->p, enc, n) == 0;
}

/*
 * An OBJECT IDENTIFIER's contents are well formed (X.690 8.19.2): not empty,
 * every subidentifier minimal (no leading 0x80 octet) and the last octet ends
 * one. OpenSSL refuses the others; so do we, found by fuzz_ocsp_req_diff.
 */
static bool oid_valid(const struct cur *oid)
{
    size_t n = cur_left(oid);
    if (n == 0 || (oid->p[n - 1] & 0x80))
        return false;
    for (size_t i = 0; i < n; i++)
        if (oid->p[i] == 0x80 && (i == 0 || !(oid->p[i - 1] & 0x80)))
            return false;
    return true;
}

/* AlgorithmIdentifier with absent or NULL parameters; sets *hash (0 if not served). */
static int ocsp_parse_hash_alg(struct cur *c, int *hash)
{
    struct cur alg, oid, params;
    der_get(c, DER_SEQUENCE, &alg);
    der_get(&alg, DER_OID, &oid);
    if (der_get_optional(&alg, DER_NULL, &params) == 1 && cur_left(&params) != 0)
        return cur_fail(c);
    if (!cur_done(&alg) || oid.err || !oid_valid(&oid))
        return cur_fail(c);
    if (oid_eq(&oid, OID_SHA1, sizeof(OID_SHA1)))
        *hash = STORE_HASH_SHA1;
    else if (oid_eq(&oid, OID_SHA256, sizeof(OID_SHA256)))
        *hash = STORE_HASH_SHA256;
    else
        *hash = 0;
    return c->err ? -1 : 0;
}

static int ocsp_parse_certid(struct cur *c, struct ocsp_certid *id)
{
    struct cur cid, nh, kh, serial;
    if (der_get(c, DER_SEQUENCE, &cid) < 0 || ocsp_parse_hash_alg(&cid, &id->hash) < 0)
        return cur_fail(c);
    der_get(&cid, DER_OCTET_STRING, &nh);
    der_get(&cid, DER_OCTET_STRING, &kh);
    der_get_integer(&cid, &serial);
    if (!cur_done(&cid))
        return cur_fail(c);
    size_t hl = cur_left(&nh);
    size_t want = id->hash ? store_hash_len((enum store_hash)id->hash) : 0;
    if (cur_left(&kh) != hl || hl == 0 || hl > OCSP_HASH_LEN_MAX || (want && hl != want))
        return cur_fail(c);
    if (der_serial_check(serial.p, cur_left(&serial)) < 0)
        return cur_fail(c);
    id->name_hash = nh.p;
    id->key_hash = kh.p;
    id->hash_len = hl;
    id->serial = serial.p;
    id->serial_len = cur_left(&serial);
    return 0;
}

/* Request extensions this responder recognizes (RFC 6960 4.4), besides the nonce. */
static const uint8_t OID_PKIX_OCSP_RESPONSE[9] = {0x2b, 0x06, 0x01, 0x05, 0x05,
                                                  0x07, 0x30, 0x01, 0x04}; /* 4.4.3 */
static const uint8_t OID_PKIX_OCSP_SERVICE_LOCATOR[9] = {0x2b, 0x06, 0x01, 0x05, 0x05,
                                                         0x07, 0x30, 0x01, 0x07}; /* 4.4.6 */

/*
 * The length of a nonce's value, given its extnValue contents. RFC 8954 defines
 * Nonce ::= OCTET STRING and extnValue holds its DER, so what clients send
 * (OpenSSL, GnuTLS, Windows) is an OCTET STRING inside the extnValue OCTET
 * STRING; the value is the inner contents. Some older clients put the raw bytes
 * in extnValue instead: when the contents are not exactly one DER OCTET STRING,
 * the value is the whole extnValue contents. Either way RFC 9654 2.1 bounds it
 * to OCSP_NONCE_MIN..OCSP_NONCE_MAX octets.
 */
static size_t ocsp_nonce_value_len(const struct cur *extn_value)
{
    struct cur c = *extn_value, inner;
    if (der_get(&c, DER_OCTET_STRING, &inner) == 0 && cur_done(&c))
        return cur_left(&inner);
    return cur_left(extn_value);
}

/*
 * Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension; records the nonce if asked
 * (req set: requestExtensions; NULL: singleRequestExtensions).
 *
 * Criticality (RFC 6960 4.1.2, 4.4; RFC 5280 4.2): an extension we do not
 * recognize is ignored unless it is marked critical; a critical one we do not
 * recognize makes the request one we cannot answer as asked, so the whole
 * request is malformed (the responder answers malformedRequest). Recognized:
 * in requestExtensions the nonce (4.4.1; accepted critical or not, and not
 * echoed: responses are pre-signed, as RFC 5019 allows; but a value outside
 * 1..128 octets is malformed, RFC 9654 2.1) and acceptable response
 * types (4.4.3; we only ever answer id-pkix-ocsp-basic, which every client
 * lists); in singleRequestExtensions the service locator (4.4.6; we are
 * authoritative for what we serve, so nothing to forward). Known-or-not and
 * non-critical, everything else is ignored as before.
 */
static int ocsp_parse_extensions(struct cur *c, struct ocsp_req *req)
{
    struct cur exts;
    if (der_get(c, DER_SEQUENCE, &exts) < 0 || cur_left(&exts) == 0)
        return cur_fail(c);
    while (cur_left(&exts) > 0) {
        struct cur ext, oid, crit, val;
        der_get(&exts, DER_SEQUENCE, &ext);
        der_get(&ext, DER_OID, &oid);
        /* DER omits critical=FALSE, but some clients write it; any other byte is not a BOOLEAN. */
        bool critical = false;
        if (der_get_optional(&ext, DER_BOOLEAN, &crit) == 1) {
            if (cur_left(&crit) != 1 || (crit.p[0] != 0xff && crit.p[0] != 0x00))
                return cur_fail(c);
            critical = crit.p[0] == 0xff;
        }
        der_get(&ext, DER_OCTET_STRING, &val);
        if (exts.err || !cur_done(&ext) || !oid_valid(&oid))
            return cur_fail(c);
        bool known;
        if (req && oid_eq(&oid, OID_PKIX_OCSP_NONCE, sizeof(OID_PKIX_OCSP_NONCE))) {
            if (req->nonce) /* the same extension twice */
                return cur_fail(c);
            size_t vlen = ocsp_nonce_value_len(&val);
            if (vlen < OCSP_NONCE_MIN || vlen > OCSP_NONCE_MAX)
                return cur_fail(c);
            req->nonce = val.p;
            req->nonce_len = cur_left(&val);
            known = true;
        } else if (req) {
            known = oid_eq(&oid, OID_PKIX_OCSP_RESPONSE, sizeof(OID_PKIX_OCSP_RESPONSE));
        } else {
            known =
                oid_eq(&oid, OID_PKIX_OCSP_SERVICE_LOCATOR, sizeof(OID_PKIX_OCSP_SERVICE_LOCATOR));
        }
        if (critical && !known)
            return cur_fail(c);
    }
    return 0;
}

int ocsp_req_parse(const uint8_t *der, size_t len, struct ocsp_req *out)
{
    struct cur in, top, tbs, list, x;
    memset(out, 0, sizeof(*out));
    if (len > OCSP_REQ_MAX)
        return -EBADMSG;
    cur_init(&in, der, len);
    if (der_get(&in, DER_SEQUENCE, &top) < 0 || !cur_done(&in))
        return -EBADMSG;
    if (der_get(&top, DER_SEQUENCE, &tbs) < 0)
        return -EBADMSG;

    if (der_get_optional(&tbs, DER_CTX_CONS(0), &x) == 1) {
        uint64_t v;
        if (der_get_uint64(&x, &v) < 0 || v != 0 || !cur_done(&x))
            return -EBADMSG;
    }
    der_get_optional(&tbs, DER_CTX_CONS(1), &x); /* requestorName: not used */
    if (der_get(&tbs, DER_SEQUENCE, &list) < 0 || cur_left(&list) == 0)
        return -EBADMSG;
    out->list = list.p;
    out->list_len = cur_left(&list);
    while (cur_left(&list) > 0) {
        struct cur one, sext;
        struct ocsp_certid id;
        if (++out->n_certs > OCSP_REQ_CERTS_MAX)
            return -EBADMSG;
        if (der_get(&list, DER_SEQUENCE, &one) < 0 || ocsp_parse_certid(&one, &id) < 0)
            return -EBADMSG;
        if (der_get_optional(&one, DER_CTX_CONS(0), &sext) == 1 &&
            (ocsp_parse_extensions(&sext, NULL) < 0 || !cur_done(&sext)))
            return -EBADMSG;
        if (!cur_done(&one))
            return -EBADMSG;
        if (out->n_certs == 1)
            out->id = id;
    }
    if (der_get_optional(&tbs, DER_CTX_CONS(2), &x) == 1 &&
        (ocsp_parse_extensions(&x, out) < 0 || !cur_done(&x)))
        return -EBADMSG;
    if (!cur_done(&tbs))
        return -EBADMSG;

    /* optionalSignature [0] EXPLICIT Signature: accepted whole, not verified. */
    if (der_get_optional(&top, DER_CTX_CONS(0), &x) == 1) {
        struct cur sig;
        if (der_get(&x, DER_SEQUENCE, &sig) < 0 || !cur_done(&x) || cur_left(&sig) == 0)
            return -EBADMSG;
        out->is_signed = true;
    }
    if (!cur_done(&top))
        return -EBADMSG;
    return 0;
}

int ocsp_req_certids(const struct ocsp_req *r, struct ocsp_certid *ids, unsigned cap)
{
    struct cur list;
    unsigned n = 0;
    if (!r->list)
        return -EBADMSG;
    cur_init(&list, r->list, r->list_len);
    while (cur_left(&list) > 0 && n < cap) {
        struct cur one;
        if (der_get(&list, DER_SEQUENCE, &one) < 0 || ocsp_parse_certid(&one, &ids[n]) < 0)
            return -EBADMSG;
        n++;
    }
    return (int)n;
}

const uint8_t *ocsp_error_response(enum ocsp_resp_status st, size_t *len)
{
    /* OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED } without responseBytes. */
    static const uint8_t resp[7][5] = {
        {0x30, 0x03, 0x0a, 0x01, 0x00}, {0x30, 0x03, 0x0a, 0x01, 0x01},
        {0x30, 0x03, 0x0a, 0x01, 0x02}, {0x30, 0x03, 0x0a, 0x01, 0x03},
        {0x30, 0x03, 0x0a, 0x01, 0x04}, {0x30, 0x03, 0x0a, 0x01, 0x05},
        {0x30, 0x03, 0x0a, 0x01, 0x06},
    };
    unsigned i = (unsigned)st < 7 ? (unsigned)st : OCSP_INTERNAL_ERROR;
    *len = sizeof(resp[i]);
    return resp[i];
}

int ocsp_issuer_hashes(const uint8_t *cert_der, size_t cert_len, struct ocsp_issuer_hashes *out)
{
    const unsigned char *p = cert_der;
    X509 *x = d2i_X509(NULL, &p, (long)cert_len);
    int rc = -EINVAL;
    const unsigned char *name;
    size_t name_len;
    if (!x)
        return -EINVAL;
    const ASN1_BIT_STRING *key = X509_get0_pubkey_bitstr(x);
    if (!key || X509_NAME_get0_der(X509_get_subject_name(x), &name, &name_len) != 1)
        goto out;
    if (!EVP_Digest(name, name_len, out->name_sha1, NULL, EVP_sha1(), NULL) ||
        !EVP_Digest(key->data, (size_t)key->length, out->key_sha1, NULL, EVP_sha1(), NULL) ||
        !EVP_Digest(name, name_len, out->name_sha256, NULL, EVP_sha256(), NULL) ||
        !EVP_Digest(key->data, (size_t)key->length, out->key_sha256, NULL, EVP_sha256(), NULL))
        goto out;
    rc = 0;
out:
    X509_free(x);
    return rc;
}
