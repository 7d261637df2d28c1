/*
 * src_x509 — helpers shared by the certificate and CRL source readers (see
 * src_x509.h). Everything here takes bytes or OpenSSL objects built from
 * untrusted files and checks them before anything reaches a src_entry.
 */
#include "src_x509.h"

#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "der.h"

int src_read_file(const char *path, size_t max, uint8_t **buf, size_t *len, struct stat *st)
{
    uint8_t *b = NULL;
    int rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (fstat(fd, st) < 0) {
        rc = -errno;
        goto fail;
    }
    if (!S_ISREG(st->st_mode)) {
        rc = -EINVAL; /* a FIFO or device would block or never end */
        goto fail;
    }
    if ((uint64_t)st->st_size > max) {
        rc = -EFBIG;
        goto fail;
    }
    size_t n = (size_t)st->st_size, got = 0;
    if (!(b = malloc(n + 1))) {
        rc = -ENOMEM;
        goto fail;
    }
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            goto fail;
        }
        if (r == 0)
            break; /* truncated meanwhile: the parser sees a short file and says so */
        got += (size_t)r;
    }
    b[got] = '\0';
    close(fd);
    *buf = b;
    *len = got;
    return 0;
fail:
    free(b);
    close(fd);
    return rc;
}

int src_asn1_time(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return -EINVAL;
    /* timegm() handles years before 1970 and after 2038 with a 64-bit time_t. */
    *out = (int64_t)timegm(&tm);
    return 0;
}

int src_serial(const ASN1_INTEGER *a, uint8_t out[STORE_SERIAL_MAX], uint8_t *len)
{
    /* i2d gives the whole TLV: tag 02, a short or long length, the content. */
    int n = i2d_ASN1_INTEGER(a, NULL);
    uint8_t tlv[STORE_SERIAL_MAX + 8], *p = tlv;
    if (n <= 2 || (size_t)n > sizeof(tlv) || i2d_ASN1_INTEGER(a, &p) != n || tlv[0] != 0x02 ||
        (tlv[1] & 0x80))
        return -EBADMSG;
    size_t clen = tlv[1];
    if (clen + 2 != (size_t)n || clen > STORE_SERIAL_MAX || der_serial_check(tlv + 2, clen) < 0)
        return -EBADMSG;
    memcpy(out, tlv + 2, clen);
    *len = (uint8_t)clen;
    return 0;
}

enum src_cert_verdict src_cert_check(X509 *x, X509 *ca, struct src_entry *e)
{
    if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)) != 0)
        return SRC_CERT_FOREIGN;
    EVP_PKEY *pk = X509_get0_pubkey(ca);
    int ok = pk && X509_verify(x, pk) == 1;
    ERR_clear_error();
    if (!ok)
        return SRC_CERT_BAD_SIG;
    memset(e, 0, sizeof(*e));
    if (src_serial(X509_get0_serialNumber(x), e->serial, &e->serial_len) < 0)
        return SRC_CERT_BAD_SERIAL;
    if (src_asn1_time(X509_get0_notAfter(x), &e->not_after) < 0)
        return SRC_CERT_BAD_SERIAL; /* unreadable validity: as unusable as a bad serial */
    e->status = STORE_GOOD;
    e->reason = STORE_REASON_NONE;
    return SRC_CERT_OURS;
}

int src_entry_rank(const struct src_entry *e)
{
    return e->status == STORE_REVOKED ? 2 : e->status == STORE_HOLD ? 1 : 0;
}

/* True if b should replace a (same serial). */
static int src_entry_wins(const struct src_entry *a, const struct src_entry *b)
{
    int ra = src_entry_rank(a), rb = src_entry_rank(b);
    if (ra != rb)
        return rb > ra;
    if (ra && a->revoked_at != b->revoked_at)
        return b->revoked_at < a->revoked_at; /* the earliest known revocation */
    return b->not_after > a->not_after;
}

size_t src_snapshot_fold(struct src_snapshot *s)
{
    src_snapshot_sort(s);
    if (s->n < 2)
        return 0;
    size_t o = 0;
    for (size_t i = 1; i < s->n; i++) {
        struct src_entry *k = &s->v[o], *e = &s->v[i];
        if (src_serial_cmp(k->serial, k->serial_len, e->serial, e->serial_len) == 0) {
            if (src_entry_wins(k, e)) {
                int64_t na = k->not_after > e->not_after ? k->not_after : e->not_after;
                *k = *e;
                k->not_after = na;
            } else if (e->not_after > k->not_after) {
                k->not_after = e->not_after;
            }
            continue;
        }
        s->v[++o] = *e;
    }
    size_t folded = s->n - (o + 1);
    s->n = o + 1;
    return folded;
}

int src_x509_each(const uint8_t *buf, size_t len, int (*fn)(void *arg, X509 *x), void *arg)
{
    /* PEM if the text starts with a PEM header (after white space), else one DER cert. */
    size_t i = 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    int n = 0, rc;
    if (len - i >= 11 && memcmp(buf + i, "-----BEGIN ", 11) == 0) {
        if (len > INT_MAX)
            return -EFBIG;
        BIO *bio = BIO_new_mem_buf(buf, (int)len);
        if (!bio)
            return -ENOMEM;
        X509 *x;
        /* PEM_read_bio_X509 skips blocks of other types (a key beside the certificate). */
        while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            rc = fn(arg, x);
            X509_free(x);
            if (rc < 0) {
                BIO_free(bio);
                ERR_clear_error();
                return rc;
            }
            n++;
        }
        BIO_free(bio);
        ERR_clear_error();
        return n ? n : -EBADMSG;
    }
    if (len > LONG_MAX)
        return -EFBIG;
    const unsigned char *p = buf;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (!x || p != buf + len) {
        /* Trailing bytes after the certificate: not a file we understand. */
        X509_free(x);
        ERR_clear_error();
        return -EBADMSG;
    }
    rc = fn(arg, x);
    X509_free(x);
    return rc < 0 ? rc : 1;
}

/* ---- the file cache: open addressing on FNV-1a of the path ---- */

struct src_cache_item {
    char *path; /* NULL: empty slot */
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns, ctime_ns;
    uint32_t round; /* last round it was used in */
    size_t n;
    struct src_cache_cert *v;
};

struct src_cache {
    struct src_cache_item *t;
    size_t cap, used; /* cap is a power of two; used <= cap / 2 */
    uint32_t round;
};

static uint64_t src_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

int src_cache_new(struct src_cache **out)
{
    struct src_cache *c = calloc(1, sizeof(*c));
    if (!c || !(c->t = calloc(1024, sizeof(*c->t)))) {
        free(c);
        return -ENOMEM;
    }
    c->cap = 1024;
    c->round = 1;
    *out = c;
    return 0;
}

void src_cache_free(struct src_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->cap; i++) {
        free(c->t[i].path);
        free(c->t[i].v);
    }
    free(c->t);
    free(c);
}

static struct src_cache_item *src_cache_slot(struct src_cache_item *t, size_t cap, const char *p)
{
    for (size_t i = src_hash(p) & (cap - 1);; i = (i + 1) & (cap - 1))
        if (!t[i].path || strcmp(t[i].path, p) == 0)
            return &t[i];
}

static bool src_cache_same(const struct src_cache_item *it, const struct stat *st)
{
    return it->dev == st->st_dev && it->ino == st->st_ino && it->size == st->st_size &&
           it->mtime_ns == (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec &&
           it->ctime_ns == (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

const struct src_cache_cert *src_cache_get(struct src_cache *c, const char *path,
                                           const struct stat *st, size_t *n)
{
    struct src_cache_item *it = src_cache_slot(c->t, c->cap, path);
    if (!it->path || !src_cache_same(it, st))
        return NULL;
    it->round = c->round;
    *n = it->n;
    return it->v;
}

/* Re-inserts every item of round `keep` (or all if keep is 0) into a table of cap slots. */
static int src_cache_rehash(struct src_cache *c, size_t cap, uint32_t keep)
{
    struct src_cache_item *t = calloc(cap, sizeof(*t));
    if (!t)
        return -ENOMEM;
    size_t used = 0;
    for (size_t i = 0; i < c->cap; i++) {
        struct src_cache_item *it = &c->t[i];
        if (!it->path)
            continue;
        if (keep && it->round != keep) {
            free(it->path);
            free(it->v);
            continue;
        }
        *src_cache_slot(t, cap, it->path) = *it;
        used++;
    }
    free(c->t);
    c->t = t;
    c->cap = cap;
    c->used = used;
    return 0;
}

int src_cache_put(struct src_cache *c, const char *path, const struct stat *st,
                  const struct src_cache_cert *v, size_t n)
{
    if ((c->used + 1) * 2 > c->cap && src_cache_rehash(c, c->cap * 2, 0) < 0)
        return -ENOMEM;
    struct src_cache_cert *copy = NULL;
    if (n && !(copy = malloc(n * sizeof(*copy))))
        return -ENOMEM;
    if (n)
        memcpy(copy, v, n * sizeof(*copy));
    struct src_cache_item *it = src_cache_slot(c->t, c->cap, path);
    if (!it->path) {
        if (!(it->path = strdup(path))) {
            free(copy);
            return -ENOMEM;
        }
        c->used++;
    }
    free(it->v);
    it->v = copy;
    it->n = n;
    it->dev = st->st_dev;
    it->ino = st->st_ino;
    it->size = st->st_size;
    it->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    it->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
    it->round = c->round;
    return 0;
}

void src_cache_sweep(struct src_cache *c)
{
    size_t cap = c->cap;
    /* Shrink when mostly empty after the sweep; never below the initial size. */
    size_t live = 0;
    for (size_t i = 0; i < c->cap; i++)
        live += c->t[i].path && c->t[i].round == c->round;
    while (cap > 1024 && live * 8 < cap)
        cap /= 2;
    if (src_cache_rehash(c, cap, c->round) < 0) {
        /* Out of memory: drop stale items in place is not possible with linear probing;
         * keep them (they only cost memory) and try again next round. */
    }
    c->round++;
}
