/*
 * ol_reqs — generating, loading and HTTP-encoding ocspload request sets (see
 * ol_reqs.h). Generation uses OpenSSL's OCSP API (OCSP_cert_id_new with the
 * issuer's subject name and public key, one CertID per OCSPRequest, no nonce:
 * pre-signing responders ignore nonces, as RFC 5019 lets them). Randomness is
 * a seeded splitmix64, so a set is reproducible from its command line. Loading
 * deduplicates DERs, so HTTP bytes are built once per distinct request.
 */
#include "ol_reqs.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

const char *ol_expect_str(enum ol_expect e)
{
    return e == OL_EXPECT_GOOD ? "good" : e == OL_EXPECT_REVOKED ? "revoked" : "unknown";
}

/* ---- generation ---------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rand01(uint64_t *s)
{
    return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* A serial from index.txt and the DER requests built for it (lazily, per digest). */
struct known {
    ASN1_INTEGER *serial;
    char *hex;
    unsigned char *der[2]; /* [0] SHA-1, [1] SHA-256 */
    int der_len[2];
};

struct known_list {
    struct known *v;
    size_t n, cap;
};

static int known_push(struct known_list *l, const char *hex, char *err, size_t errlen)
{
    BIGNUM *bn = NULL;
    if (BN_hex2bn(&bn, hex) != (int)strlen(hex)) {
        BN_free(bn);
        snprintf(err, errlen, "bad serial \"%s\"", hex);
        return -1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct known *v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            BN_free(bn);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        l->v = v;
        l->cap = cap;
    }
    struct known *k = &l->v[l->n];
    memset(k, 0, sizeof(*k));
    k->serial = BN_to_ASN1_INTEGER(bn, NULL);
    k->hex = strdup(hex);
    BN_free(bn);
    if (!k->serial || !k->hex) {
        ASN1_INTEGER_free(k->serial);
        free(k->hex);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    l->n++;
    return 0;
}

static void known_free(struct known_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        ASN1_INTEGER_free(l->v[i].serial);
        free(l->v[i].hex);
        OPENSSL_free(l->v[i].der[0]);
        OPENSSL_free(l->v[i].der[1]);
    }
    free(l->v);
}

/*
 * Reads an openssl-ca index.txt: tab-separated type, expiry, revocation,
 * serial (hex), file, subject. V lines go to good, R lines to revoked; E
 * (expired) lines are skipped and counted.
 */
static int read_index(const char *path, struct known_list *good, struct known_list *revoked,
                      size_t *skipped, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t lineno = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        char *field[6] = {0};
        size_t nf = 0;
        char *p = line;
        while (nf < 6) {
            field[nf++] = p;
            char *tab = strchr(p, '\t');
            if (!tab)
                break;
            *tab = '\0';
            p = tab + 1;
        }
        if (nf < 4 || field[0][0] == '\0' || field[0][1] != '\0' || field[3][0] == '\0') {
            snprintf(err, errlen, "%s:%zu: not an openssl-ca index line", path, lineno);
            rc = -1;
            break;
        }
        char type = field[0][0];
        char em[200];
        if (type == 'V' || type == 'R') {
            if (known_push(type == 'V' ? good : revoked, field[3], em, sizeof(em)) != 0) {
                snprintf(err, errlen, "%s:%zu: %s", path, lineno, em);
                rc = -1;
                break;
            }
        } else if (type == 'E') {
            (*skipped)++;
        } else {
            snprintf(err, errlen, "%s:%zu: unknown entry type '%c'", path, lineno, type);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

/* DER of a one-CertID OCSPRequest; *der is OPENSSL_malloc'ed. Returns the length or -1. */
static int make_request(const EVP_MD *md, const X509_NAME *name, const ASN1_BIT_STRING *key,
                        const ASN1_INTEGER *serial, unsigned char **der)
{
    int len = -1;
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    OCSP_CERTID *id = OCSP_cert_id_new(md, name, key, serial);
    if (!req || !id)
        goto out;
    if (!OCSP_request_add0_id(req, id))
        goto out;
    id = NULL; /* owned by req now */
    *der = NULL;
    len = i2d_OCSP_REQUEST(req, der);
out:
    OCSP_CERTID_free(id);
    OCSP_REQUEST_free(req);
    return len;
}

static int write_line(FILE *out, const char *expect, int sha256, const char *hex,
                      const unsigned char *der, int len)
{
    char b64[4 * ((OL_REQ_DER_MAX + 2) / 3) + 1];
    if (len <= 0 || len > OL_REQ_DER_MAX)
        return -1;
    size_t n = ol_b64_encode(der, (size_t)len, b64);
    b64[n] = '\0';
    return fprintf(out, "%s %s %s %s\n", expect, sha256 ? "sha256" : "sha1", hex, b64) < 0 ? -1 : 0;
}

int ol_gen(const struct ol_gen_opts *o, char *err, size_t errlen)
{
    int rc = -1;
    X509 *issuer = NULL;
    FILE *out = NULL;
    X509_NAME *bogus_name = NULL;
    ASN1_BIT_STRING *bogus_key = NULL;
    ASN1_INTEGER *rnd_serial = NULL;
    BIGNUM *bn = NULL;
    struct known_list good = {0}, revoked = {0};
    size_t skipped = 0;
    uint64_t rng = o->seed;
    const EVP_MD *mds[2] = {EVP_sha1(), EVP_sha256()};
    size_t made[3] = {0}, made_sha256 = 0, made_bogus = 0;

    BIO *bio = BIO_new_file(o->issuer, "r");
    if (bio)
        issuer = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!issuer) {
        snprintf(err, errlen, "%s: cannot read a PEM certificate", o->issuer);
        goto out;
    }
    if (read_index(o->index, &good, &revoked, &skipped, err, errlen) != 0)
        goto out;
    if (good.n + revoked.n == 0 && o->unknown_fraction < 1.0) {
        snprintf(err, errlen, "%s: no V or R entries (use --unknown-fraction 1)", o->index);
        goto out;
    }
    const X509_NAME *iname = X509_get_subject_name(issuer);
    const ASN1_BIT_STRING *ikey = X509_get0_pubkey_bitstr(issuer);

    /* a made-up issuer for "unknown issuer" requests */
    unsigned char keybytes[65];
    for (size_t i = 0; i < sizeof(keybytes); i++)
        keybytes[i] = (unsigned char)splitmix64(&rng);
    bogus_name = X509_NAME_new();
    bogus_key = ASN1_BIT_STRING_new();
    rnd_serial = ASN1_INTEGER_new();
    if (!bogus_name || !bogus_key || !rnd_serial ||
        !X509_NAME_add_entry_by_txt(bogus_name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"ocspload unknown issuer", -1, -1, 0) ||
        !ASN1_BIT_STRING_set(bogus_key, keybytes, (int)sizeof(keybytes))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }

    out = fopen(o->out, "w");
    if (!out) {
        snprintf(err, errlen, "%s: %s", o->out, strerror(errno));
        goto out;
    }
    char subj[256];
    X509_NAME_oneline(iname, subj, sizeof(subj));
    fprintf(out,
            "# ocspload requests v1: issuer %s; index %s: %zu good, %zu revoked, %zu expired "
            "(skipped)\n# n=%zu sha256-fraction=%g unknown-fraction=%g "
            "unknown-issuer-fraction=%g revoked-fraction=%g seed=%llu\n",
            subj, o->index, good.n, revoked.n, skipped, o->n, o->sha256_fraction,
            o->unknown_fraction, o->unknown_issuer_fraction, o->revoked_fraction,
            (unsigned long long)o->seed);

    size_t nknown = good.n + revoked.n;
    for (size_t i = 0; i < o->n; i++) {
        int sha256 = rand01(&rng) < o->sha256_fraction;
        const EVP_MD *md = mds[sha256];
        unsigned char *der = NULL;
        int len;
        if (nknown == 0 || rand01(&rng) < o->unknown_fraction) {
            if (nknown > 0 && rand01(&rng) < o->unknown_issuer_fraction) {
                /* a serial the CA did issue, asked of an issuer nobody serves */
                size_t k = (size_t)(splitmix64(&rng) % nknown);
                struct known *kn = k < good.n ? &good.v[k] : &revoked.v[k - good.n];
                len = make_request(md, bogus_name, bogus_key, kn->serial, &der);
                if (len < 0 || write_line(out, "unknown", sha256, kn->hex, der, len) != 0)
                    goto fail_der;
                made_bogus++;
            } else {
                /* 16 random bytes, positive and without a leading zero byte */
                unsigned char sb[16];
                for (size_t j = 0; j < sizeof(sb); j++)
                    sb[j] = (unsigned char)splitmix64(&rng);
                sb[0] = (unsigned char)((sb[0] & 0x7f) | 0x40);
                char hex[2 * sizeof(sb) + 1];
                for (size_t j = 0; j < sizeof(sb); j++)
                    snprintf(hex + 2 * j, 3, "%02X", sb[j]);
                bn = BN_bin2bn(sb, (int)sizeof(sb), bn);
                if (!bn || !BN_to_ASN1_INTEGER(bn, rnd_serial))
                    goto fail_der;
                len = make_request(md, iname, ikey, rnd_serial, &der);
                if (len < 0 || write_line(out, "unknown", sha256, hex, der, len) != 0)
                    goto fail_der;
            }
            OPENSSL_free(der);
            made[OL_EXPECT_UNKNOWN]++;
        } else {
            int rev;
            if (o->revoked_fraction >= 0 && good.n > 0 && revoked.n > 0)
                rev = rand01(&rng) < o->revoked_fraction;
            else
                rev = (size_t)(splitmix64(&rng) % nknown) >= good.n;
            struct known_list *l = rev ? &revoked : &good;
            struct known *kn = &l->v[splitmix64(&rng) % l->n];
            if (!kn->der[sha256]) {
                kn->der_len[sha256] = make_request(md, iname, ikey, kn->serial, &kn->der[sha256]);
                if (kn->der_len[sha256] < 0) {
                    kn->der[sha256] = NULL;
                    goto fail_der;
                }
            }
            if (write_line(out, rev ? "revoked" : "good", sha256, kn->hex, kn->der[sha256],
                           kn->der_len[sha256]) != 0)
                goto fail_der;
            made[rev ? OL_EXPECT_REVOKED : OL_EXPECT_GOOD]++;
        }
        made_sha256 += (size_t)sha256;
        continue;
    fail_der:
        OPENSSL_free(der);
        snprintf(err, errlen, "building or writing request %zu failed", i);
        goto out;
    }
    if (fflush(out) != 0 || ferror(out)) {
        snprintf(err, errlen, "%s: write error", o->out);
        goto out;
    }
    fprintf(stderr,
            "ocspload gen: wrote %zu requests to %s: %zu good, %zu revoked, %zu unknown (%zu "
            "with an unknown issuer), %zu SHA-256 CertIDs\n",
            o->n, o->out, made[0], made[1], made[2], made_bogus, made_sha256);
    rc = 0;
out:
    if (out && fclose(out) != 0 && rc == 0) {
        snprintf(err, errlen, "%s: write error", o->out);
        rc = -1;
    }
    known_free(&good);
    known_free(&revoked);
    BN_free(bn);
    ASN1_INTEGER_free(rnd_serial);
    ASN1_BIT_STRING_free(bogus_key);
    X509_NAME_free(bogus_name);
    X509_free(issuer);
    return rc;
}

/* ---- loading ---------------------------------------------------------------------- */

static int read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        cap *= 2;
        char *nb = realloc(b, cap + 1);
        if (!nb) {
            free(b);
            b = NULL;
        } else {
            b = nb;
        }
    }
    int bad = !b || ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        snprintf(err, errlen, "%s: read error or out of memory", path);
        return -1;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

static const uint8_t *cmp_der_base;
static const struct ol_req *cmp_reqs;

/* qsort order of request indexes by DER bytes. */
static int cmp_by_der(const void *a, const void *b)
{
    const struct ol_req *x = &cmp_reqs[*(const uint32_t *)a];
    const struct ol_req *y = &cmp_reqs[*(const uint32_t *)b];
    if (x->der_len != y->der_len)
        return x->der_len < y->der_len ? -1 : 1;
    int c = memcmp(cmp_der_base + x->der_off, cmp_der_base + y->der_off, x->der_len);
    if (c)
        return c;
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* Assigns distinct ids (equal DERs share one) and fills first_of. */
static int dedupe(struct ol_reqset *s, char *err, size_t errlen)
{
    uint32_t *idx = malloc(s->n * sizeof(*idx));
    s->first_of = malloc(s->n * sizeof(*s->first_of));
    if (!idx || !s->first_of) {
        free(idx);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < s->n; i++)
        idx[i] = (uint32_t)i;
    cmp_der_base = s->der;
    cmp_reqs = s->req;
    qsort(idx, s->n, sizeof(*idx), cmp_by_der);
    size_t d = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct ol_req *r = &s->req[idx[i]];
        if (i > 0) {
            const struct ol_req *p = &s->req[idx[i - 1]];
            if (p->der_len == r->der_len &&
                memcmp(s->der + p->der_off, s->der + r->der_off, r->der_len) == 0) {
                if (p->expect != r->expect) {
                    snprintf(err, errlen,
                             "requests %u and %u are the same DER with different "
                             "expected statuses",
                             idx[i - 1] + 1, idx[i] + 1);
                    free(idx);
                    return -1;
                }
                r->distinct = p->distinct;
                continue;
            }
        }
        r->distinct = (uint32_t)d;
        s->first_of[d++] = idx[i];
    }
    s->n_distinct = d;
    free(idx);
    return 0;
}

int ol_reqset_load(struct ol_reqset *s, const char *path, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    char *text;
    size_t tlen;
    if (read_file(path, &text, &tlen, err, errlen) != 0)
        return -1;
    size_t lines = 1;
    for (size_t i = 0; i < tlen; i++)
        lines += text[i] == '\n';
    s->req = calloc(lines, sizeof(*s->req));
    s->der = malloc(tlen + 1); /* DER is shorter than its base64 */
    if (!s->req || !s->der) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    size_t lineno = 0;
    char *next = text;
    while (next && *next) {
        char *line = next;
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
            next = nl + 1;
        } else {
            next = NULL;
        }
        lineno++;
        size_t ll = strlen(line);
        while (ll > 0 && isspace((unsigned char)line[ll - 1]))
            line[--ll] = '\0';
        if (ll == 0 || line[0] == '#')
            continue;
        char *f[4];
        char *fs = NULL;
        size_t nf = 0;
        for (char *t = strtok_r(line, " \t", &fs); t && nf < 4; t = strtok_r(NULL, " \t", &fs))
            f[nf++] = t;
        if (nf != 4 || strtok_r(NULL, " \t", &fs)) {
            snprintf(err, errlen, "%s: line %zu: want <expect> <alg> <serial> <base64>", path,
                     lineno);
            goto fail;
        }
        struct ol_req *r = &s->req[s->n];
        if (strcmp(f[0], "good") == 0)
            r->expect = OL_EXPECT_GOOD;
        else if (strcmp(f[0], "revoked") == 0)
            r->expect = OL_EXPECT_REVOKED;
        else if (strcmp(f[0], "unknown") == 0)
            r->expect = OL_EXPECT_UNKNOWN;
        else {
            snprintf(err, errlen, "%s: line %zu: bad status \"%s\"", path, lineno, f[0]);
            goto fail;
        }
        r->sha256 = strcmp(f[1], "sha256") == 0;
        long n = ol_b64_decode(f[3], strlen(f[3]), s->der + s->der_len, OL_REQ_DER_MAX);
        if (n <= 0) {
            snprintf(err, errlen, "%s: line %zu: bad base64 or request over %d bytes", path, lineno,
                     OL_REQ_DER_MAX);
            goto fail;
        }
        r->der_off = (uint32_t)s->der_len;
        r->der_len = (uint32_t)n;
        if (ol_request_certid(s->der + s->der_len, (size_t)n, &r->id) != 0) {
            snprintf(err, errlen, "%s: line %zu: not a DER OCSPRequest", path, lineno);
            goto fail;
        }
        s->der_len += (size_t)n;
        s->count[r->expect]++;
        s->n_sha256 += r->sha256;
        s->n++;
        if (s->n > UINT32_MAX - 1) {
            snprintf(err, errlen, "%s: too many requests", path);
            goto fail;
        }
    }
    if (s->n == 0) {
        snprintf(err, errlen, "%s: no requests", path);
        goto fail;
    }
    free(text);
    text = NULL;
    if (dedupe(s, err, errlen) != 0)
        goto fail;
    return 0;
fail:
    free(text);
    ol_reqset_free(s);
    return -1;
}

int ol_reqset_fixed(struct ol_reqset *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->req = calloc(1, sizeof(*s->req));
    s->first_of = calloc(1, sizeof(*s->first_of));
    if (!s->req || !s->first_of) {
        ol_reqset_free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->n = 1;
    s->n_distinct = 1;
    return 0;
}

/* Appends bytes to a growing buffer. */
struct gbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
};

static void gb_put(struct gbuf *b, const void *src, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void gb_str(struct gbuf *b, const char *s)
{
    gb_put(b, s, strlen(s));
}

static void gb_headers(struct gbuf *b, const char *host, const char *const *extra, size_t n_extra)
{
    gb_str(b, " HTTP/1.1\r\nHost: ");
    gb_str(b, host);
    gb_str(b, "\r\n");
    for (size_t i = 0; i < n_extra; i++) {
        gb_str(b, extra[i]);
        gb_str(b, "\r\n");
    }
}

int ol_reqset_build_http(struct ol_reqset *s, const char *host, const char *path,
                         const char *const *extra, size_t n_extra, char *err, size_t errlen)
{
    struct gbuf b = {0};
    s->http_of = calloc(s->n_distinct, sizeof(*s->http_of));
    if (!s->http_of) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t plen = strlen(path);
    int slash = plen > 0 && path[plen - 1] == '/';
    char enc[3 * 4 * ((OL_REQ_DER_MAX + 2) / 3)];
    s->max_http_len = 0;
    for (size_t d = 0; d < s->n_distinct; d++) {
        const struct ol_req *r = &s->req[s->first_of[d]];
        const uint8_t *der = r->der_len ? s->der + r->der_off : NULL;
        struct ol_http_req *h = &s->http_of[d];
        char cl[32];

        h->post_off = (uint32_t)b.len;
        gb_str(&b, "POST ");
        gb_str(&b, path);
        gb_headers(&b, host, extra, n_extra);
        if (r->der_len)
            gb_str(&b, "Content-Type: application/ocsp-request\r\n");
        snprintf(cl, sizeof(cl), "Content-Length: %u\r\n\r\n", r->der_len);
        gb_str(&b, cl);
        gb_put(&b, der, r->der_len);
        h->post_len = (uint32_t)(b.len - h->post_off);

        h->get_off = (uint32_t)b.len;
        gb_str(&b, "GET ");
        gb_str(&b, path);
        if (r->der_len) {
            if (!slash)
                gb_str(&b, "/");
            gb_put(&b, enc, ol_get_path_encode(der, r->der_len, enc));
        }
        gb_headers(&b, host, extra, n_extra);
        gb_str(&b, "\r\n");
        h->get_len = (uint32_t)(b.len - h->get_off);

        if (h->post_len > s->max_http_len)
            s->max_http_len = h->post_len;
        if (h->get_len > s->max_http_len)
            s->max_http_len = h->get_len;
        if (b.len > UINT32_MAX / 2) {
            free(b.p);
            snprintf(err, errlen, "request set too large");
            return -1;
        }
    }
    if (b.oom) {
        free(b.p);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->http = b.p;
    s->http_len = b.len;
    return 0;
}

void ol_reqset_free(struct ol_reqset *s)
{
    free(s->req);
    free(s->first_of);
    free(s->der);
    free(s->http_of);
    free(s->http);
    memset(s, 0, sizeof(*s));
}
