/*
 * ol_ocsp — OCSP checks and codecs for ocspload (see ol_ocsp.h). The fast
 * check is a hand-written DER walk with every length checked against what
 * encloses it; it reads only single-byte tags and definite lengths of up to
 * four bytes, which is all DER produces for OCSP. The full check leaves all
 * parsing and cryptography to OpenSSL.
 */
#include "ol_ocsp.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* ---- DER walk ------------------------------------------------------------ */

/* One TLV: tag, value offset and length, within the buffer it was read from. */
struct tlv {
    uint8_t tag;
    size_t off;
    size_t len;
};

/* Reads the TLV at *pos, bounded by end; advances *pos past it. 0 or -1. */
static int der_next(const uint8_t *b, size_t end, size_t *pos, struct tlv *t)
{
    size_t i = *pos;
    if (i >= end || end - i < 2)
        return -1;
    uint8_t tag = b[i++];
    if ((tag & 0x1f) == 0x1f)
        return -1; /* multi-byte tag numbers: never in OCSP */
    uint8_t l = b[i++];
    size_t n;
    if (l < 0x80) {
        n = l;
    } else {
        size_t k = l & 0x7fu;
        if (k == 0 || k > 4 || end - i < k)
            return -1; /* indefinite or absurd */
        n = 0;
        for (size_t j = 0; j < k; j++)
            n = (n << 8) | b[i++];
    }
    if (n > end - i)
        return -1;
    t->tag = tag;
    t->off = i;
    t->len = n;
    *pos = i + n;
    return 0;
}

/* Reads the TLV at *pos and requires its tag. */
static int der_expect(const uint8_t *b, size_t end, size_t *pos, uint8_t tag, struct tlv *t)
{
    if (der_next(b, end, pos, t) != 0 || t->tag != tag)
        return -1;
    return 0;
}

/* Parses a CertID SEQUENCE's contents [off, off+len) of b. */
static int certid_fields(const uint8_t *b, size_t off, size_t len, struct ol_certid *id)
{
    size_t end = off + len, pos = off;
    struct tlv t;
    if (der_expect(b, end, &pos, 0x30, &t) != 0) /* hashAlgorithm */
        return -1;
    if (der_expect(b, end, &pos, 0x04, &t) != 0) /* issuerNameHash */
        return -1;
    if (der_expect(b, end, &pos, 0x04, &t) != 0) /* issuerKeyHash */
        return -1;
    id->key_off = (uint32_t)t.off;
    id->key_len = (uint32_t)t.len;
    if (der_expect(b, end, &pos, 0x02, &t) != 0) /* serialNumber */
        return -1;
    id->serial_off = (uint32_t)t.off;
    id->serial_len = (uint32_t)t.len;
    return 0;
}

int ol_request_certid(const uint8_t *der, size_t len, struct ol_certid *id)
{
    if (len > UINT32_MAX)
        return -1;
    size_t pos = 0;
    struct tlv req, tbs, t;
    if (der_expect(der, len, &pos, 0x30, &req) != 0 || pos != len)
        return -1;
    pos = req.off;
    if (der_expect(der, req.off + req.len, &pos, 0x30, &tbs) != 0)
        return -1;
    size_t end = tbs.off + tbs.len;
    pos = tbs.off;
    if (der_next(der, end, &pos, &t) != 0)
        return -1;
    if (t.tag == 0xa0 && der_next(der, end, &pos, &t) != 0) /* version */
        return -1;
    if (t.tag == 0xa1 && der_next(der, end, &pos, &t) != 0) /* requestorName */
        return -1;
    if (t.tag != 0x30) /* requestList */
        return -1;
    size_t lpos = t.off, lend = t.off + t.len;
    struct tlv one, cid;
    if (der_expect(der, lend, &lpos, 0x30, &one) != 0)
        return -1;
    size_t opos = one.off;
    if (der_expect(der, one.off + one.len, &opos, 0x30, &cid) != 0)
        return -1;
    return certid_fields(der, cid.off, cid.len, id);
}

static const uint8_t OID_PKIX_OCSP_BASIC[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01};

enum ol_fast ol_fast_check(const uint8_t *b, size_t len, const uint8_t *req_der,
                           const struct ol_certid *id, enum ol_expect expect,
                           enum ol_unknown_policy unknown)
{
    size_t pos = 0;
    struct tlv top, t;
    if (der_expect(b, len, &pos, 0x30, &top) != 0 || pos != len)
        return OL_FAST_MALFORMED;
    size_t end = top.off + top.len;
    pos = top.off;
    if (der_expect(b, end, &pos, 0x0a, &t) != 0 || t.len != 1)
        return OL_FAST_MALFORMED;
    unsigned status = b[t.off];

    if (expect == OL_EXPECT_UNKNOWN && status == 6 /* unauthorized */) {
        if (unknown == OL_UNKNOWN_CERTSTATUS)
            return OL_FAST_WRONG_RESPONSE;
        return pos == end ? OL_FAST_OK : OL_FAST_MALFORMED;
    }
    if (status != 0)
        return OL_FAST_WRONG_RESPONSE;
    if (expect == OL_EXPECT_UNKNOWN && unknown == OL_UNKNOWN_UNAUTHORIZED)
        return OL_FAST_WRONG_RESPONSE;

    /* responseBytes [0] EXPLICIT SEQUENCE { responseType OID, response OCTET STRING } */
    struct tlv rb, seq, oid, oct;
    if (der_expect(b, end, &pos, 0xa0, &rb) != 0)
        return OL_FAST_MALFORMED;
    size_t p = rb.off;
    if (der_expect(b, rb.off + rb.len, &p, 0x30, &seq) != 0)
        return OL_FAST_MALFORMED;
    p = seq.off;
    size_t send = seq.off + seq.len;
    if (der_expect(b, send, &p, 0x06, &oid) != 0 || der_expect(b, send, &p, 0x04, &oct) != 0)
        return OL_FAST_MALFORMED;
    if (oid.len != sizeof(OID_PKIX_OCSP_BASIC) ||
        memcmp(b + oid.off, OID_PKIX_OCSP_BASIC, oid.len) != 0)
        return OL_FAST_WRONG_RESPONSE;

    /* BasicOCSPResponse { tbsResponseData ResponseData, ... } */
    struct tlv basic, rd;
    size_t oend = oct.off + oct.len;
    p = oct.off;
    if (der_expect(b, oend, &p, 0x30, &basic) != 0)
        return OL_FAST_MALFORMED;
    p = basic.off;
    if (der_expect(b, basic.off + basic.len, &p, 0x30, &rd) != 0)
        return OL_FAST_MALFORMED;
    /* ResponseData { [0] version OPT, responderID [1]|[2], producedAt, responses, ... } */
    size_t rend = rd.off + rd.len;
    p = rd.off;
    if (der_next(b, rend, &p, &t) != 0)
        return OL_FAST_MALFORMED;
    if (t.tag == 0xa0 && der_next(b, rend, &p, &t) != 0)
        return OL_FAST_MALFORMED;
    if (t.tag != 0xa1 && t.tag != 0xa2)
        return OL_FAST_MALFORMED;
    if (der_expect(b, rend, &p, 0x18, &t) != 0) /* producedAt */
        return OL_FAST_MALFORMED;
    struct tlv list;
    if (der_expect(b, rend, &p, 0x30, &list) != 0)
        return OL_FAST_MALFORMED;

    size_t lp = list.off, lend = list.off + list.len;
    while (lp < lend) {
        struct tlv single, cid, cs;
        if (der_expect(b, lend, &lp, 0x30, &single) != 0)
            return OL_FAST_MALFORMED;
        size_t sp = single.off, send2 = single.off + single.len;
        struct ol_certid rid;
        if (der_expect(b, send2, &sp, 0x30, &cid) != 0 ||
            certid_fields(b, cid.off, cid.len, &rid) != 0)
            return OL_FAST_MALFORMED;
        if (rid.key_len != id->key_len || rid.serial_len != id->serial_len ||
            memcmp(b + rid.key_off, req_der + id->key_off, id->key_len) != 0 ||
            memcmp(b + rid.serial_off, req_der + id->serial_off, id->serial_len) != 0)
            continue;
        if (der_next(b, send2, &sp, &cs) != 0)
            return OL_FAST_MALFORMED;
        uint8_t want = expect == OL_EXPECT_GOOD ? 0x80 : expect == OL_EXPECT_REVOKED ? 0xa1 : 0x82;
        if (cs.tag != 0x80 && cs.tag != 0xa1 && cs.tag != 0x82)
            return OL_FAST_MALFORMED;
        return cs.tag == want ? OL_FAST_OK : OL_FAST_WRONG_STATUS;
    }
    return OL_FAST_NO_MATCH;
}

const char *ol_fast_str(enum ol_fast f)
{
    switch (f) {
    case OL_FAST_OK:
        return "ok";
    case OL_FAST_MALFORMED:
        return "malformed OCSPResponse";
    case OL_FAST_WRONG_RESPONSE:
        return "wrong responseStatus/responseType";
    case OL_FAST_NO_MATCH:
        return "no SingleResponse for the requested CertID";
    case OL_FAST_WRONG_STATUS:
        return "wrong certStatus";
    }
    return "?";
}

/* ---- full verification ------------------------------------------------------ */

struct ol_verifier {
    X509_STORE *store;
    STACK_OF(X509) * extra;
};

/* The oldest queued OpenSSL error as text (or fallback), clearing the queue. */
static void ssl_reason(char *buf, size_t n, const char *fallback)
{
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, n);
    else
        snprintf(buf, n, "%s", fallback);
    ERR_clear_error();
}

struct ol_verifier *ol_verifier_new(const char *ca_file, const char *extra_file, char *err,
                                    size_t errlen)
{
    struct ol_verifier *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    v->store = X509_STORE_new();
    v->extra = sk_X509_new_null();
    if (!v->store || !v->extra) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (X509_STORE_load_file(v->store, ca_file) != 1) {
        char r[256];
        ssl_reason(r, sizeof(r), "no certificates");
        snprintf(err, errlen, "%s: %s", ca_file, r);
        goto fail;
    }
    if (extra_file) {
        BIO *bio = BIO_new_file(extra_file, "r");
        if (!bio) {
            char r[256];
            ssl_reason(r, sizeof(r), "cannot open");
            snprintf(err, errlen, "%s: %s", extra_file, r);
            goto fail;
        }
        X509 *x;
        while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            if (!sk_X509_push(v->extra, x)) {
                X509_free(x);
                BIO_free(bio);
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
        }
        BIO_free(bio);
        ERR_clear_error(); /* the read loop ends on "no start line" */
        if (sk_X509_num(v->extra) == 0) {
            snprintf(err, errlen, "%s: no PEM certificates", extra_file);
            goto fail;
        }
    }
    return v;
fail:
    ol_verifier_free(v);
    return NULL;
}

void ol_verifier_free(struct ol_verifier *v)
{
    if (!v)
        return;
    X509_STORE_free(v->store);
    sk_X509_pop_free(v->extra, X509_free);
    free(v);
}

static const char *cert_status_str(int s)
{
    return s == V_OCSP_CERTSTATUS_GOOD      ? "good"
           : s == V_OCSP_CERTSTATUS_REVOKED ? "revoked"
           : s == V_OCSP_CERTSTATUS_UNKNOWN ? "unknown"
                                            : "?";
}

int ol_verify(struct ol_verifier *v, const uint8_t *body, size_t len, const uint8_t *req_der,
              size_t req_len, enum ol_expect expect, enum ol_unknown_policy unknown, char *why,
              size_t whylen)
{
    int rc = -1;
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *bs = NULL;
    OCSP_REQUEST *req = NULL;
    char r[256];

    if (len > (size_t)LONG_MAX || req_len > (size_t)LONG_MAX) {
        snprintf(why, whylen, "body too large");
        return -1;
    }
    const unsigned char *p = body;
    resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    if (!resp || p != body + len) {
        snprintf(why, whylen, "not a DER OCSPResponse");
        goto out;
    }
    int st = OCSP_response_status(resp);
    if (expect == OL_EXPECT_UNKNOWN && st == OCSP_RESPONSE_STATUS_UNAUTHORIZED &&
        unknown != OL_UNKNOWN_CERTSTATUS) {
        rc = 0;
        goto out;
    }
    if (st != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        snprintf(why, whylen, "responseStatus %d (%s)", st, OCSP_response_status_str(st));
        goto out;
    }
    if (expect == OL_EXPECT_UNKNOWN && unknown == OL_UNKNOWN_UNAUTHORIZED) {
        snprintf(why, whylen, "successful response where unauthorized was expected");
        goto out;
    }
    bs = OCSP_response_get1_basic(resp);
    if (!bs) {
        snprintf(why, whylen, "not a basic OCSP response");
        goto out;
    }
    p = req_der;
    req = d2i_OCSP_REQUEST(NULL, &p, (long)req_len);
    if (!req || OCSP_request_onereq_count(req) < 1) {
        snprintf(why, whylen, "internal: request does not parse");
        goto out;
    }
    OCSP_CERTID *cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0));
    /*
     * For an issuer the responder does not serve there is no issuer to check
     * the signer's authorization against: verify signature and chain only.
     */
    unsigned long flags = expect == OL_EXPECT_UNKNOWN ? OCSP_NOCHECKS : 0;
    if (OCSP_basic_verify(bs, v->extra, v->store, flags) <= 0) {
        ssl_reason(r, sizeof(r), "signature or signer does not verify");
        snprintf(why, whylen, "OCSP_basic_verify: %s", r);
        goto out;
    }
    int status = -1, reason = -1;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
    if (OCSP_resp_find_status(bs, cid, &status, &reason, &rev, &thisupd, &nextupd) != 1) {
        snprintf(why, whylen, "no SingleResponse for the requested CertID");
        goto out;
    }
    int want = expect == OL_EXPECT_GOOD      ? V_OCSP_CERTSTATUS_GOOD
               : expect == OL_EXPECT_REVOKED ? V_OCSP_CERTSTATUS_REVOKED
                                             : V_OCSP_CERTSTATUS_UNKNOWN;
    if (status != want) {
        snprintf(why, whylen, "certStatus %s, expected %s", cert_status_str(status),
                 cert_status_str(want));
        goto out;
    }
    if (OCSP_check_validity(thisupd, nextupd, 300, -1) != 1) {
        ssl_reason(r, sizeof(r), "outside thisUpdate/nextUpdate");
        snprintf(why, whylen, "validity: %s", r);
        goto out;
    }
    rc = 0;
out:
    ERR_clear_error();
    OCSP_REQUEST_free(req);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    return rc;
}

/* ---- codecs ------------------------------------------------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t ol_b64_encode(const uint8_t *in, size_t len, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = B64[v >> 18];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = B64[(v >> 6) & 63];
        out[o++] = B64[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = B64[v >> 18];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = B64[v >> 18];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = B64[(v >> 6) & 63];
        out[o++] = '=';
    }
    return o;
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long ol_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    while (len > 0 && in[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_val(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}

size_t ol_get_path_encode(const uint8_t *der, size_t len, char *out)
{
    /* encode into the tail of out, then expand forward into the head */
    size_t b64len = 4 * ((len + 2) / 3);
    size_t cap = 3 * b64len;
    char *tmp = out + cap - b64len;
    ol_b64_encode(der, len, tmp);
    size_t o = 0;
    for (size_t i = 0; i < b64len; i++) {
        char c = tmp[i];
        const char *esc = c == '+' ? "%2B" : c == '/' ? "%2F" : c == '=' ? "%3D" : NULL;
        if (esc) {
            memcpy(out + o, esc, 3);
            o += 3;
        } else {
            out[o++] = c;
        }
    }
    return o;
}
