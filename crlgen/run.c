/*
 * run — one issuer's CRL run. The order of the steps is the design: the
 * number witnesses outside the store (crlnum.c) are read first, outside the
 * store's single writer lock; then one write transaction looks the issuer up,
 * refuses if its last sync was not complete (checked in the transaction the
 * CRL would be built from, so no sync can land between check and build),
 * takes the number, builds, stores and commits; only then are the files
 * written. The outcome goes to the issuer's crlstat in a transaction of its
 * own, after the main one ended either way, so a failure that aborted the
 * main transaction is still recorded. Skips and failures leave the stored CRL
 * and the published files untouched: a relying party keeps the last good CRL
 * until its nextUpdate, which fails closed, rather than getting one that may
 * miss a revocation.
 */
#include "run.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crl.h"
#include "crlnum.h"
#include "log.h"
#include "publish.h"

/*
 * Starting size of the reused CRL buffer; it grows (doubling) to the largest
 * CRL. Above glibc's mmap threshold, which main.c fixes at 128 KiB, so the
 * buffer is its own mapping from the start: it grows by mremap() without a
 * copy, only the pages a CRL touches are resident, and no smaller heap copy
 * is left behind by the first growth (that cost 64 KiB at 10,000 entries).
 */
#define CRL_BUF_INITIAL (256 * 1024)

/* Steps of one issuer's run, named in its error message. */
enum crl_step {
    CRL_STEP_SIGNER,
    CRL_STEP_NUMBER,
    CRL_STEP_BEGIN,
    CRL_STEP_LOOKUP,
    CRL_STEP_LIMIT,
    CRL_STEP_SEQ,
    CRL_STEP_BASE,
    CRL_STEP_BUILD,
    CRL_STEP_STORE,
    CRL_STEP_COMMIT,
    CRL_STEP_PUBLISH,
};

static const char *const crl_step_names[] = {
    [CRL_STEP_SIGNER] = "loading ca_cert/crl_cert/crl_key",
    [CRL_STEP_NUMBER] = "choosing the CRL Number",
    [CRL_STEP_BEGIN] = "beginning a store transaction",
    [CRL_STEP_LOOKUP] = "looking up the issuer",
    [CRL_STEP_LIMIT] = "choosing the CRL Number",
    [CRL_STEP_SEQ] = "reading the change seq",
    [CRL_STEP_BASE] = "reading the base CRL of the delta",
    [CRL_STEP_BUILD] = "building the CRL",
    [CRL_STEP_STORE] = "storing the CRL",
    [CRL_STEP_COMMIT] = "committing",
    [CRL_STEP_PUBLISH] = "publishing",
};

/* The lowest CRL Number the witnesses outside the store allow. */
struct crl_floor {
    uint64_t number;  /* 0: no witness */
    const char *from; /* which one set it, for the log */
    char path[PATH_MAX];
};

int crl_run_init(struct crl_run *r, struct store *st, const char *out_dir, uint32_t validity)
{
    memset(r, 0, sizeof(*r));
    r->st = st;
    r->out_dir = out_dir;
    r->validity = validity;
    return derw_init_alloc(&r->w, CRL_BUF_INITIAL);
}

void crl_run_free(struct crl_run *r)
{
    derw_free(&r->w);
}

void crl_issuer_init(struct crl_issuer *is, const struct config_issuer *ci)
{
    memset(is, 0, sizeof(*is));
    is->ci = ci;
}

void crl_issuer_free(struct crl_issuer *is)
{
    if (is->loaded)
        signer_free(&is->sg);
    is->loaded = false;
    free(is->ca_der);
    is->ca_der = NULL;
    is->ca_len = 0;
}

static X509 *crl_read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        log_err("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x == NULL)
        log_err("%s: no PEM certificate", path);
    return x;
}

/*
 * A dedicated CRL signer ([issuer] crl_cert) signs a direct CRL only if
 * relying parties can tie it to the CA (RFC 5280 6.3.3 (f), OpenSSL's
 * check_crl): the CA issued it (its signature verifies with the CA key and
 * its issuer is the CA's subject), it carries the CA's own name (the CRL's
 * issuer field is the signer's subject, which must name the CA whose
 * certificates are listed), and its keyUsage is present and has cRLSign.
 * Anything else would publish CRLs every client rejects, so crlgen refuses
 * it here, naming the key. Keeps the CA certificate's DER in is->ca_der:
 * the store's issuer is checked against it, not against the signer.
 */
static int crl_check_crl_cert(struct crl_issuer *is)
{
    const struct config_issuer *ci = is->ci;
    X509 *ca = NULL, *crl = NULL;
    EVP_PKEY *ca_key;
    unsigned char *der = NULL;
    int rc = -EKEYREJECTED, len;

    if ((ca = crl_read_cert(ci->ca_cert)) == NULL || (crl = crl_read_cert(ci->crl_cert)) == NULL) {
        rc = -EINVAL;
        goto fail;
    }
    if (X509_NAME_cmp(X509_get_issuer_name(crl), X509_get_subject_name(ca)) != 0 ||
        (ca_key = X509_get0_pubkey(ca)) == NULL || X509_verify(crl, ca_key) != 1) {
        log_err("issuer %s: crl_cert %s was not issued by ca_cert %s", ci->name, ci->crl_cert,
                ci->ca_cert);
        goto fail;
    }
    if (X509_NAME_cmp(X509_get_subject_name(crl), X509_get_subject_name(ca)) != 0) {
        log_err("issuer %s: crl_cert %s does not carry the CA's name (a direct CRL's signer must)",
                ci->name, ci->crl_cert);
        goto fail;
    }
    /* X509_get_key_usage() answers "all" when the extension is absent;
     * RFC 5280 4.2.1.3 wants it present on a CRL signer. */
    if ((X509_get_extension_flags(crl) & EXFLAG_KUSAGE) == 0 ||
        (X509_get_key_usage(crl) & KU_CRL_SIGN) == 0) {
        log_err("issuer %s: crl_cert %s has no keyUsage cRLSign", ci->name, ci->crl_cert);
        goto fail;
    }
    if ((len = i2d_X509(ca, &der)) <= 0) {
        rc = -ENOMEM;
        goto fail;
    }
    is->ca_der = malloc((size_t)len);
    if (is->ca_der == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    memcpy(is->ca_der, der, (size_t)len);
    is->ca_len = (size_t)len;
    rc = 0;
fail:
    OPENSSL_free(der);
    X509_free(crl);
    X509_free(ca);
    return rc;
}

/* Loads the issuer's CRL signer: crl_cert (checked) or ca_cert, with crl_key. */
static int crl_issuer_load(struct crl_issuer *is)
{
    const struct config_issuer *ci = is->ci;
    int rc;
    if (ci->crl_cert != NULL && (rc = crl_check_crl_cert(is)) < 0)
        return rc;
    rc = signer_load(&is->sg, ci->crl_cert != NULL ? ci->crl_cert : ci->ca_cert, ci->crl_key,
                     ci->digest);
    if (rc < 0) {
        free(is->ca_der);
        is->ca_der = NULL;
        is->ca_len = 0;
        return rc;
    }
    is->loaded = true;
    return 0;
}

/* UTC time for log lines, next to the Unix seconds the metrics carry. */
static const char *crl_fmt_time(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, cap, "?");
    return buf;
}

/* The crlnumber file to read: the configured one (which must exist), else
 * "crlnumber" next to the index file, where `openssl ca` keeps it by default. */
static int crl_crlnumber_path(const struct config_issuer *ci, char *buf, size_t cap, bool *explicit)
{
    int n;
    *explicit = ci->crlnumber != NULL;
    if (*explicit) {
        n = snprintf(buf, cap, "%s", ci->crlnumber);
    } else if (!ci->index) {
        /* Sources without an openssl ca database (a CRL, a CertMate store): no file to
         * check; the store's and the published CRL's numbers still bound the next one. */
        return -ENOENT;
    } else {
        const char *slash = strrchr(ci->index, '/');
        if (slash == NULL)
            n = snprintf(buf, cap, "crlnumber");
        else
            n = snprintf(buf, cap, "%.*s/crlnumber", (int)(slash - ci->index), ci->index);
    }
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static bool crl_seen_same(const struct crl_pub_seen *s, const struct stat *sb)
{
    return s->valid && s->dev == sb->st_dev && s->ino == sb->st_ino && s->size == sb->st_size &&
           s->mtim.tv_sec == sb->st_mtim.tv_sec && s->mtim.tv_nsec == sb->st_mtim.tv_nsec;
}

static void crl_seen_set(struct crl_pub_seen *s, const struct stat *sb, uint64_t number)
{
    *s = (struct crl_pub_seen){
        .valid = true,
        .dev = sb->st_dev,
        .ino = sb->st_ino,
        .size = sb->st_size,
        .mtim = sb->st_mtim,
        .number = number,
    };
}

/* Raises f to n if n is higher, naming the witness. */
static void crl_floor_raise(struct crl_floor *f, uint64_t n, const char *from, const char *path)
{
    if (n > f->number) {
        f->number = n;
        f->from = from;
        snprintf(f->path, sizeof(f->path), "%s", path);
    }
}

/* Reads the crlnumber file into f. Logs why it fails. */
static int crl_floor_crlnumber(const struct crl_issuer *is, struct crl_floor *f)
{
    const char *name = is->ci->name;
    char path[PATH_MAX];
    bool explicit;
    uint64_t v;

    int rc = crl_crlnumber_path(is->ci, path, sizeof(path), &explicit);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0) {
        log_err("issuer %s: crlnumber path too long", name);
        return rc;
    }
    rc = crlnum_read_file(path, &v);
    if (rc == -ENOENT && !explicit)
        return 0;
    if (rc == -ENOENT)
        log_err("issuer %s: crlnumber %s does not exist; CRL not issued (a CRL Number the CA "
                "may already have used cannot be ruled out)",
                name, path);
    else if (rc == -EBADMSG)
        log_err("issuer %s: crlnumber file %s is not one hex number on one line; CRL not "
                "issued rather than guess its number",
                name, path);
    else if (rc == -ERANGE)
        log_err("issuer %s: crlnumber file %s holds a number above 2^63; CRL not issued", name,
                path);
    else if (rc < 0)
        log_err("issuer %s: cannot read crlnumber file %s: %s; CRL not issued", name, path,
                strerror(-rc));
    if (rc < 0)
        return rc;
    crl_floor_raise(f, v, "crlnumber file", path);
    return 0;
}

/* The directory a kind of CRL is published in: out_dir, or out_dir/delta. */
static int crl_kind_dir(const struct crl_run *r, enum store_crl_kind kind, char *buf, size_t cap)
{
    int n = kind == STORE_CRL_DELTA ? snprintf(buf, cap, "%s/" CRL_DELTA_DIR, r->out_dir)
                                    : snprintf(buf, cap, "%s", r->out_dir);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Path of the published DER CRL of one kind. */
static int crl_kind_path(const struct crl_run *r, const char *name, enum store_crl_kind kind,
                         char *buf, size_t cap)
{
    char dir[PATH_MAX];
    int rc = crl_kind_dir(r, kind, dir, sizeof(dir));
    if (rc < 0)
        return rc;
    int n = snprintf(buf, cap, "%s/%s.crl", dir, name);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Reads the CRL Number of the published CRL of one kind into f (+1). Full
 * and delta CRLs share one sequence, so each is a witness for both. Logs
 * what it ignores and why it fails. */
static int crl_floor_published(const struct crl_run *r, struct crl_issuer *is,
                               enum store_crl_kind kind, struct crl_floor *f)
{
    const char *name = is->ci->name;
    struct crl_pub_seen *seen = kind == STORE_CRL_DELTA ? &is->pub_delta : &is->pub;
    char path[PATH_MAX];
    struct stat sb;
    uint64_t n;
    int rc;

    rc = crl_kind_path(r, name, kind, path, sizeof(path));
    if (rc < 0) {
        log_err("issuer %s: published CRL path too long", name);
        return -ENAMETOOLONG;
    }
    if (stat(path, &sb) < 0) {
        rc = -errno;
        seen->valid = false;
        if (rc == -ENOENT)
            return 0;
        log_err("issuer %s: cannot stat published CRL %s: %s; CRL not issued", name, path,
                strerror(-rc));
        return rc;
    }
    if (crl_seen_same(seen, &sb)) {
        n = seen->number;
    } else {
        rc = crlnum_read_crl(path, is->sg.subject_der, is->sg.subject_len, &n);
        switch (rc) {
        case 0:
            break;
        case -ENOENT: /* replaced by nothing between stat and open */
            seen->valid = false;
            return 0;
        case -EBADMSG:
            log_warn("issuer %s: published %s is not a DER CRL with a valid CRL Number: ignored "
                     "for numbering, replaced by this run",
                     name, path);
            seen->valid = false;
            return 0;
        case -ENODATA:
            log_warn("issuer %s: published %s has no CRL Number: ignored for numbering", name,
                     path);
            seen->valid = false;
            return 0;
        case -EXDEV:
            log_warn("issuer %s: published %s is a CRL of another issuer: ignored for numbering, "
                     "replaced by this run",
                     name, path);
            seen->valid = false;
            return 0;
        case -ERANGE:
            log_err("issuer %s: published %s has a CRL Number above 2^63: no higher number to "
                    "issue; CRL not issued",
                    name, path);
            return rc;
        default:
            log_err("issuer %s: cannot read published CRL %s: %s; CRL not issued", name, path,
                    strerror(-rc));
            return rc;
        }
        crl_seen_set(seen, &sb, n);
    }
    if (n >= CRLNUM_MAX) {
        log_err("issuer %s: published %s has CRL Number %llu: no higher number to issue; CRL "
                "not issued",
                name, path, (unsigned long long)n);
        return -ERANGE;
    }
    crl_floor_raise(f, n + 1, "published CRL", path);
    return 0;
}

/* Rewrites the issuer's crlstat for an outcome (0, -EAGAIN skipped, else
 * failed), in its own transaction. A success that changes nothing writes
 * nothing. */
static void crl_note(struct crl_run *r, const char *name, int outcome, int64_t now)
{
    const struct store_issuer_rec *rec;
    const uint8_t *cert;
    struct store_issuer_crlstat cs;
    struct store_txn t;
    uint32_t id;
    int rc;

    rc = store_txn_begin(r->st, &t, false);
    if (rc < 0)
        goto fail;
    rc = store_get_issuer_by_name(&t, name, &rec, &cert);
    if (rc == -ENOENT) { /* nowhere to record it; the run's error said so */
        store_txn_abort(&t);
        return;
    }
    if (rc < 0)
        goto abort;
    id = rec->id;
    memcpy(&cs, &rec->crlstat, sizeof(cs));
    if (outcome == 0) {
        if (cs.failed_at == 0) {
            store_txn_abort(&t);
            return;
        }
        cs.failed_at = 0;
    } else {
        if (outcome == -EAGAIN)
            cs.skipped++;
        else
            cs.failures++;
        cs.failed_at = now;
    }
    rc = store_set_issuer_crlstat(&t, id, &cs);
    if (rc < 0)
        goto abort;
    rc = store_txn_commit(&t);
    if (rc < 0)
        goto fail;
    return;

abort:
    store_txn_abort(&t);
fail:
    log_err("issuer %s: cannot record the CRL run's outcome for /healthz and /metrics: %s", name,
            strerror(-rc));
}

/* Says why an issuer's run failed, with the remedy where there is one. */
static void crl_log_failure(const struct crl_run *r, const struct crl_issuer *is,
                            enum crl_step step, int rc)
{
    const struct config_issuer *ci = is->ci;

    if (step == CRL_STEP_NUMBER)
        return; /* said where the witness was read */
    if (step == CRL_STEP_LOOKUP && rc == -ENOENT)
        log_err("issuer %s not in store: run revokd-indexer first", ci->name);
    else if (step == CRL_STEP_BUILD && rc == -EKEYREJECTED)
        log_err("issuer %s: ca_cert %s does not match the CA certificate in the store "
                "(run revokd-indexer after changing it); CRL not issued",
                ci->name, ci->ca_cert);
    else if (step == CRL_STEP_BUILD && rc == -EBADMSG)
        log_err("issuer %s: the store holds a record a CRL cannot carry (bad CA certificate, "
                "serial, status or reason); CRL not issued",
                ci->name);
    else if (step == CRL_STEP_LIMIT)
        log_err("issuer %s: the next CRL Number would exceed 2^63; CRL not issued", ci->name);
    else if (step == CRL_STEP_PUBLISH)
        log_err("issuer %s: CRL stored (the responder serves it) but not published to %s: %s",
                ci->name, r->out_dir, strerror(-rc));
    else
        log_err("issuer %s: %s: %s", ci->name, crl_step_names[step], strerror(-rc));
}

/* Logs why an issuer whose last sync was not complete gets no CRL. */
static void crl_log_skip(const char *name, const struct store_issuer_sync *s, uint64_t kept)
{
    char when[32];

    if (s->failed_at != 0 && s->malformed > 0)
        log_err("issuer %s: last sync failed at %s (%lld): %u malformed line(s) in the CA "
                "database; CRL not issued, CRL %llu and the published files kept",
                name, crl_fmt_time(s->failed_at, when, sizeof(when)), (long long)s->failed_at,
                s->malformed, (unsigned long long)kept);
    else if (s->failed_at != 0)
        log_err("issuer %s: last sync failed at %s (%lld): %s (0 malformed lines); CRL not "
                "issued, CRL %llu and the published files kept",
                name, crl_fmt_time(s->failed_at, when, sizeof(when)), (long long)s->failed_at,
                s->error > 0 ? strerror(s->error) : "unknown error", (unsigned long long)kept);
    else
        log_err("issuer %s: never completely synced: run revokd-indexer; CRL not issued", name);
}

/* The URL of one CRL under [crlgen] url, laid out as out_dir is:
 * NAME.crl, shard/NAME/K.crl, and the same under delta/. NULL without url. */
static const char *crl_url(const struct crl_run *r, const char *name, enum store_crl_kind kind,
                           uint32_t shard, char *buf, size_t cap)
{
    int n;
    if (r->url == NULL)
        return NULL;
    size_t ul = strlen(r->url);
    const char *sep = ul > 0 && r->url[ul - 1] == '/' ? "" : "/";
    const char *d = kind == STORE_CRL_DELTA ? CRL_DELTA_DIR "/" : "";
    if (shard == 0)
        n = snprintf(buf, cap, "%s%s%s%s.crl", r->url, sep, d, name);
    else
        n = snprintf(buf, cap, "%s%s%s" CRL_SHARD_DIR "/%s/%u.crl", r->url, sep, d, name, shard);
    return n < 0 || (size_t)n >= cap ? NULL : buf;
}

/* Where one CRL is published: its directory and its file name without .crl. */
static int crl_pub_place(const struct crl_run *r, const char *name, enum store_crl_kind kind,
                         uint32_t shard, char *dir, size_t cap, char *file, size_t fcap)
{
    char base[PATH_MAX];
    int n, rc = crl_kind_dir(r, kind, base, sizeof(base));
    if (rc < 0)
        return rc;
    if (shard == 0) {
        n = snprintf(dir, cap, "%s", base);
        if (n >= 0 && (size_t)n < cap)
            n = snprintf(file, fcap, "%s", name);
    } else {
        n = snprintf(dir, cap, "%s/" CRL_SHARD_DIR "/%s", base, name);
        if (n >= 0 && (size_t)n < cap)
            n = snprintf(file, fcap, "%u", shard);
    }
    return n < 0 || (size_t)n >= fcap ? -ENAMETOOLONG : 0;
}

/*
 * store_put_crl_fill() callback: copies the built CRL into the store's page a
 * chunk at a time and hands each copied whole page of the build buffer back
 * to the kernel (MADV_DONTNEED: it reads as zeros afterwards, and the files
 * are published from the store's copy). The store's page is private memory
 * too until the commit (LMDB, opened without MDB_WRITEMAP, builds dirty pages
 * in malloc'd memory and pwrite()s them), so a CRL would otherwise be
 * resident twice here, crlgen's peak: with the release behind the copy it is
 * resident once plus one chunk. The chunk is small (64 KiB; with 1 MiB, any
 * CRL below 1 MiB was resident twice) and costs one madvise() per chunk,
 * about 600 for a 37 MB CRL. Only pages
 * wholly inside the CRL's bytes are dropped, never the allocator's header
 * before them.
 */
#define CRL_FILL_CHUNK ((size_t)64 << 10)
static int crl_fill_release(void *arg, uint8_t *dst, size_t len)
{
    struct derw *w = arg;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)w->buf + page - 1) & ~(page - 1);
    for (size_t off = 0; off < len; off += CRL_FILL_CHUNK) {
        size_t n = len - off < CRL_FILL_CHUNK ? len - off : CRL_FILL_CHUNK;
        memcpy(dst + off, w->buf + off, n);
        uintptr_t hi = ((uintptr_t)w->buf + off + n) & ~(page - 1);
        if (hi > lo) {
            (void)madvise((void *)lo, hi - lo, MADV_DONTNEED); /* advice: failure is harmless */
            lo = hi;
        }
    }
    return 0;
}

/* Milliseconds since t0 (monotonic), for the log line the bench reads. */
static double crl_ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* One run of one kind: see crl_run_issuer() and crl_run_delta(). */
static int crl_run_kind(struct crl_run *r, struct crl_issuer *is, enum store_crl_kind kind,
                        int64_t now, bool force)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const struct config_issuer *ci = is->ci;
    const char *what = kind == STORE_CRL_DELTA ? "delta CRL" : "CRL";
    const struct store_issuer_rec *rec;
    const uint8_t *cert;
    struct store_issuer_sync sync;
    struct store_txn t;
    struct crl_params p = {0};
    struct store_crl_hdr hdr;
    struct crl_floor floor = {.number = 0, .from = NULL};
    struct stat sb;
    char url[CRL_URL_MAX + 1], idp[CRL_URL_MAX + 1], dir[PATH_MAX], path[PATH_MAX];
    const uint32_t nshards = ci->crl_shards;
    uint64_t n_whole = 0;
    size_t last_len = 0;
    double build_ms = 0;
    bool in_txn = false;
    uint64_t seq, stored, base_seq = 0, n_entries = 0;
    int64_t synced_at;
    enum crl_step step;
    int rc, floor_rc;

    if (!is->loaded) {
        step = CRL_STEP_SIGNER;
        rc = crl_issuer_load(is);
        if (rc < 0)
            goto fail;
    }

    /* Read before the write lock is taken; acted on only after the sync
     * check, so an incomplete sync is reported as such whatever the files.
     * Full and delta share one sequence: both published files are witnesses. */
    floor_rc = crl_floor_crlnumber(is, &floor);
    if (floor_rc == 0)
        floor_rc = crl_floor_published(r, is, STORE_CRL_FULL, &floor);
    if (floor_rc == 0)
        floor_rc = crl_floor_published(r, is, STORE_CRL_DELTA, &floor);

    step = CRL_STEP_BEGIN;
    rc = store_txn_begin(r->st, &t, false);
    if (rc < 0)
        goto fail;
    in_txn = true;

    step = CRL_STEP_LOOKUP;
    rc = store_get_issuer_by_name(&t, ci->name, &rec, &cert);
    if (rc < 0)
        goto fail;
    /* Copied out now: map pointers from a write txn die at the next write. */
    p.issuer_id = rec->id;
    p.ca_der = is->ca_der;
    p.ca_len = is->ca_len;
    stored = rec->crl_number;
    base_seq = rec->crl_seq;
    synced_at = rec->synced_at;
    memcpy(&sync, &rec->sync, sizeof(sync));

    if (sync.failed_at != 0 || synced_at == 0) {
        store_txn_abort(&t);
        crl_log_skip(ci->name, &sync, stored);
        crl_note(r, ci->name, -EAGAIN, now);
        return -EAGAIN;
    }

    if (kind == STORE_CRL_DELTA) {
        /* Every CRL of the issuer (the whole one and each shard) needs its
         * full CRL as the base; a shard count just raised has none yet. */
        step = CRL_STEP_BASE;
        for (uint32_t sh = 0; sh <= nshards; sh++) {
            const struct store_crl_hdr *full;
            const uint8_t *full_der;
            rc = store_get_crl(&t, p.issuer_id, STORE_CRL_FULL, (uint16_t)sh, &full, &full_der);
            if (rc == -ENOENT) {
                store_txn_abort(&t);
                return -ENOENT;
            }
            if (rc < 0)
                goto fail;
            if (sh == 0)
                p.base = full->number;
            else if (full->number != p.base) { /* written together: cannot differ */
                store_txn_abort(&t);
                return -ENOENT;
            }
        }
        p.base_seq = base_seq;
        if (!force && is->delta_known) {
            rc = crl_issuer_changed(&t, p.issuer_id, is->delta_seq);
            if (rc < 0)
                goto fail;
            if (rc == 0) {
                store_txn_abort(&t);
                return CRL_DELTA_NOTHING;
            }
        }
    }

    step = CRL_STEP_NUMBER;
    rc = floor_rc;
    if (rc < 0)
        goto fail;
    step = CRL_STEP_LIMIT;
    if (stored >= CRLNUM_MAX || floor.number > CRLNUM_MAX) {
        rc = -ERANGE;
        goto fail;
    }
    p.number = stored + 1;
    if (floor.number > p.number) {
        log_info("issuer %s: CRL Number %llu from the %s %s (the store's next was %llu)", ci->name,
                 (unsigned long long)floor.number, floor.from, floor.path,
                 (unsigned long long)p.number);
        p.number = floor.number;
    }
    p.this_update = now;
    p.next_update = now + (int64_t)(kind == STORE_CRL_DELTA ? r->delta_validity : r->validity);

    /* The change seq read in the same txn the CRL is built from is exactly
     * what this CRL covers: the base a delta CRL will start from. */
    step = CRL_STEP_SEQ;
    rc = store_last_seq(&t, &seq);
    if (rc < 0)
        goto fail;

    /* The whole CRL and every shard, one number, one seq, one commit: a delta
     * of any of them has the same base. */
    p.shards = nshards;
    p.span = ci->crl_shard_span;
    for (uint32_t sh = 0; sh <= nshards; sh++) {
        p.shard = sh;
        p.freshest_url =
            r->delta ? crl_url(r, ci->name, STORE_CRL_DELTA, sh, url, sizeof(url)) : NULL;
        p.idp_url = sh != 0 ? crl_url(r, ci->name, STORE_CRL_FULL, sh, idp, sizeof(idp)) : NULL;
        if (sh != 0 && p.idp_url == NULL) {
            step = CRL_STEP_BUILD;
            rc = -EINVAL; /* crl_shards needs [crlgen] url (config.c checks it) */
            goto fail;
        }
        step = CRL_STEP_BUILD;
        derw_reset(&r->w);
        if (kind == STORE_CRL_DELTA)
            rc = crl_build_delta(&r->w, &is->sg, &t, &p, &n_entries);
        else
            rc = crl_build_full(&r->w, &is->sg, &t, &p, &n_entries);
        if (rc < 0)
            goto fail;
        if (r->w.len > UINT32_MAX) {
            rc = -EFBIG;
            goto fail;
        }
        if (sh == 0)
            n_whole = n_entries;

        step = CRL_STEP_STORE;
        hdr = (struct store_crl_hdr){
            .version = 1,
            .der_len = (uint32_t)r->w.len,
            .number = p.number,
            .base = p.base,
            .this_update = p.this_update,
            .next_update = p.next_update,
        };
        rc = store_put_crl_fill(&t, p.issuer_id, kind, (uint16_t)sh, &hdr, crl_fill_release, &r->w);
        if (rc < 0)
            goto fail;
    }
    build_ms = crl_ms_since(&t0);
    /* crl_number is the last number of either kind (one sequence); crl_seq
     * stays what the last full CRL covered, the base of every delta. */
    rc = store_set_issuer_crl(&t, p.issuer_id, p.number, kind == STORE_CRL_DELTA ? base_seq : seq);
    if (rc < 0)
        goto fail;

    /* Commit before publishing: the number is then consumed even if writing
     * the files fails, so two different CRLs can never carry the same CRL
     * number (the next run just issues number + 1), and the store's single
     * writer lock is not held across file fsyncs. */
    step = CRL_STEP_COMMIT;
    in_txn = false; /* a failed commit has ended the txn too */
    rc = store_txn_commit(&t);
    if (rc < 0)
        goto fail;
    if (kind == STORE_CRL_DELTA) {
        /* The responder serves it now, whatever happens to the files. */
        is->delta_known = true;
        is->delta_seq = seq;
        is->delta_next_update = p.next_update;
    }

    /* Files, from the bytes just committed (shards first, the whole CRL,
     * whose file is the numbering witness, last). A read txn holds no lock. */
    step = CRL_STEP_PUBLISH;
    struct crl_pub_seen *seen = kind == STORE_CRL_DELTA ? &is->pub_delta : &is->pub;
    seen->valid = false;
    rc = store_txn_begin(r->st, &t, true);
    if (rc < 0)
        goto fail;
    for (uint32_t k = 0; k <= nshards && rc == 0; k++) {
        uint32_t sh = k < nshards ? k + 1 : 0;
        const struct store_crl_hdr *ch;
        const uint8_t *der;
        char file[32 + STORE_NAME_MAX];
        rc = store_get_crl(&t, p.issuer_id, kind, (uint16_t)sh, &ch, &der);
        if (rc == 0)
            rc = crl_pub_place(r, ci->name, kind, sh, dir, sizeof(dir), file, sizeof(file));
        if (rc == 0)
            rc = publish_crl(dir, file, der, ch->der_len);
        if (rc == 0 && sh == 0)
            last_len = ch->der_len;
    }
    store_txn_abort(&t);
    if (rc < 0)
        goto fail;
    if (crl_kind_path(r, ci->name, kind, path, sizeof(path)) == 0 && stat(path, &sb) == 0)
        crl_seen_set(seen, &sb, p.number);

    if (kind == STORE_CRL_DELTA)
        log_info("issuer %s: delta CRL %llu on base %llu, %llu entries, %zu bytes, %s/%s.crl%s, "
                 "%.1f ms (build and sign %.1f ms)",
                 ci->name, (unsigned long long)p.number, (unsigned long long)p.base,
                 (unsigned long long)n_whole, last_len, dir, ci->name,
                 nshards ? " (and its shards)" : "", crl_ms_since(&t0), build_ms);
    else
        log_info("issuer %s: CRL %llu, %llu entries, %zu bytes, %s/%s.crl%s, %.1f ms (build and "
                 "sign %.1f ms)",
                 ci->name, (unsigned long long)p.number, (unsigned long long)n_whole, last_len, dir,
                 ci->name, nshards ? " (and its shards)" : "", crl_ms_since(&t0), build_ms);
    crl_note(r, ci->name, 0, now);
    return 0;

fail:
    if (in_txn)
        store_txn_abort(&t);
    crl_log_failure(r, is, step, rc);
    if (step == CRL_STEP_PUBLISH)
        log_err("issuer %s: %s %llu not published; the previous files are kept and the next "
                "run retries",
                ci->name, what, (unsigned long long)p.number);
    crl_note(r, ci->name, rc == -EAGAIN ? -EIO : rc, now);
    return rc == -EAGAIN ? -EIO : rc;
}

int crl_run_issuer(struct crl_run *r, struct crl_issuer *is, int64_t now)
{
    return crl_run_kind(r, is, STORE_CRL_FULL, now, true);
}

int crl_run_delta(struct crl_run *r, struct crl_issuer *is, int64_t now, bool force)
{
    return crl_run_kind(r, is, STORE_CRL_DELTA, now, force);
}
