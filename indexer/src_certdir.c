/*
 * src_certdir — one directory of issued certificates as a source (see
 * src_certdir.h). A plain readdir walk: each file is read whole (bounded),
 * every certificate in it checked against the CA (name and signature), and
 * the survivors become GOOD entries with their expiry.
 */
#include "src_certdir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "src_x509.h"

struct certdir_walk {
    const char *name, *dir, *file;
    X509 *ca;
    struct src_snapshot *out;
    uint32_t index; /* file number, for src_entry.origin */
    /* what the current file held, for the cache and for certdir_apply() */
    struct src_cache_cert *res;
    size_t n_res, cap_res;
};

static int certdir_one(void *arg, X509 *x)
{
    struct certdir_walk *w = arg;
    if (w->n_res == w->cap_res) {
        size_t cap = w->cap_res ? w->cap_res * 2 : 4;
        struct src_cache_cert *v = reallocarray(w->res, cap, sizeof(*v));
        if (!v)
            return -ENOMEM;
        w->res = v;
        w->cap_res = cap;
    }
    struct src_cache_cert *r = &w->res[w->n_res++];
    memset(r, 0, sizeof(*r));
    r->verdict = (uint8_t)src_cert_check(x, w->ca, &r->e);
    return 0;
}

/* Acts on what one file held (read now or remembered by the cache). */
static int certdir_apply(struct certdir_walk *w, const struct src_cache_cert *v, size_t n)
{
    if (n == 0) {
        w->out->malformed++;
        log_err("[issuer %s] cert_dir %s/%s: no readable certificate (PEM or DER): ignored, "
                "sync incomplete until it is fixed or removed",
                w->name, w->dir, w->file);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        switch ((enum src_cert_verdict)v[i].verdict) {
        case SRC_CERT_OURS: {
            struct src_entry e = v[i].e;
            e.origin = w->index;
            int rc = src_snapshot_push(w->out, &e);
            if (rc < 0)
                return rc;
            break;
        }
        case SRC_CERT_FOREIGN:
            w->out->foreign++;
            log_warn("[issuer %s] cert_dir %s/%s: issued by another CA than ca_cert: ignored",
                     w->name, w->dir, w->file);
            break;
        case SRC_CERT_BAD_SIG:
            w->out->malformed++;
            log_err("[issuer %s] cert_dir %s/%s: names ca_cert as issuer but its signature does "
                    "not verify with the CA key (forged or corrupt): ignored, sync incomplete",
                    w->name, w->dir, w->file);
            break;
        case SRC_CERT_BAD_SERIAL:
            w->out->malformed++;
            log_err("[issuer %s] cert_dir %s/%s: serial or validity the store cannot hold: "
                    "ignored, sync incomplete",
                    w->name, w->dir, w->file);
            break;
        }
    }
    return 0;
}

int src_certdir_read(const char *name, const char *dir, X509 *ca, struct src_cache *cache,
                     struct src_snapshot *out)
{
    src_snapshot_free(out);
    src_snapshot_init(out, STORE_SRC_CERTDIR);
    DIR *d = opendir(dir);
    if (!d) {
        int rc = -errno;
        log_err("[issuer %s] cert_dir %s: %s", name, dir, strerror(errno));
        return rc;
    }
    struct certdir_walk w = {.name = name, .dir = dir, .ca = ca, .out = out};
    char path[4096];
    int rc = 0;
    struct dirent *de;
    for (;;) {
        errno = 0;
        if (!(de = readdir(d))) {
            rc = -errno; /* 0 at the end */
            if (rc < 0)
                log_err("[issuer %s] cert_dir %s: %s", name, dir, strerror(-rc));
            break;
        }
        if (de->d_name[0] == '.') /* ., .., and editors' or writers' temporary files */
            continue;
        if (de->d_type == DT_DIR)
            continue;
        if (++w.index > SRC_CERTDIR_FILES_MAX) {
            log_err("[issuer %s] cert_dir %s: more than %u files: is this the right directory?",
                    name, dir, SRC_CERTDIR_FILES_MAX);
            rc = -EFBIG;
            break;
        }
        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path)) {
            out->malformed++;
            continue;
        }
        w.file = de->d_name;
        struct stat st;
        size_t n;
        const struct src_cache_cert *hit;
        if (cache && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            (hit = src_cache_get(cache, path, &st, &n)) != NULL) {
            /* Unchanged since it was verified: not read again. */
            if ((rc = certdir_apply(&w, hit, n)) < 0)
                break;
            continue;
        }
        uint8_t *buf;
        size_t len;
        int r = src_read_file(path, SRC_CERT_FILE_MAX, &buf, &len, &st);
        if (r < 0) {
            if (r == -ENOENT)
                continue; /* removed since readdir: it is simply not there any more */
            if (r == -EINVAL)
                continue; /* a subdirectory (d_type unknown), FIFO or socket: not a file */
            out->malformed++;
            log_err("[issuer %s] cert_dir %s: %s: sync incomplete", name, path, strerror(-r));
            continue;
        }
        w.n_res = 0;
        r = src_x509_each(buf, len, certdir_one, &w);
        free(buf);
        if (r < 0 && r != -EBADMSG) {
            rc = r;
            break;
        }
        if (r == -EBADMSG)
            w.n_res = 0;
        if (cache && (rc = src_cache_put(cache, path, &st, w.res, w.n_res)) < 0)
            break;
        if ((rc = certdir_apply(&w, w.res, w.n_res)) < 0)
            break;
    }
    closedir(d);
    free(w.res);
    if (rc < 0) {
        src_snapshot_free(out);
        return rc;
    }
    if (cache)
        src_cache_sweep(cache); /* forget files that are gone */
    src_snapshot_fold(out);
    return 0;
}
