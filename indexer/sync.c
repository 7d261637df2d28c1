/*
 * sync — index.txt -> store + pre-signed responses, one issuer at a time.
 * The whole index.txt is read into memory once per sync (OpenSSL rewrites it
 * whole on every change, so there is no append-only tail to follow) and walked
 * with the cadb iterator; every batch of entries is one write transaction in
 * which status, change log and both responses of a certificate change together.
 */
#include "sync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cadb.h"
#include "log.h"

/* A response with the signer's certificate stays well under this. */
#define SYNC_RESP_MAX 16384

static int sync_read_file(const char *path, char **buf, size_t *len, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc;
    char *b = NULL;
    if (fd < 0)
        return -errno;
    if (fstat(fd, st) < 0) {
        rc = -errno;
        goto fail;
    }
    size_t n = (size_t)st->st_size, got = 0;
    if (!(b = malloc(n ? n : 1))) {
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
            break; /* truncated while reading: use what is there, the next run sees the rest */
        got += (size_t)r;
    }
    close(fd);
    *buf = b;
    *len = got;
    return 0;
fail:
    free(b);
    close(fd);
    return rc;
}

static X509 *sync_load_cert(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return x;
}

/* The signer must be the CA or hold a delegation from it (RFC 6960 4.2.2.2). */
static int sync_check_delegation(X509 *ca, X509 *signer, const char *name)
{
    if (X509_cmp(ca, signer) == 0)
        return 0;
    if (X509_check_issued(ca, signer) != X509_V_OK ||
        X509_verify(signer, X509_get0_pubkey(ca)) != 1) {
        log_err("[issuer %s] signer_cert was not issued by ca_cert: clients would reject "
                "its responses",
                name);
        return -EINVAL;
    }
    if (!(X509_get_extension_flags(signer) & EXFLAG_XKUSAGE) ||
        !(X509_get_extended_key_usage(signer) & XKU_OCSP_SIGN)) {
        log_err("[issuer %s] signer_cert lacks extendedKeyUsage id-kp-OCSPSigning", name);
        return -EINVAL;
    }
    if (X509_get_ext_by_NID(signer, NID_id_pkix_OCSP_noCheck, -1) < 0)
        log_warn("[issuer %s] signer_cert has no id-pkix-ocsp-nocheck: clients may try to "
                 "check the signer's own revocation status",
                 name);
    return 0;
}

int sync_issuer_init(struct sync_issuer *si, const struct config_issuer *conf, struct store *store)
{
    X509 *ca = NULL, *signer = NULL;
    struct store_txn t = {0};
    int rc = -EINVAL;

    memset(si, 0, sizeof(*si));
    si->conf = conf;
    if (!(ca = sync_load_cert(conf->ca_cert))) {
        log_err("[issuer %s] ca_cert: cannot read PEM certificate %s", conf->name, conf->ca_cert);
        goto fail;
    }
    if (!(signer = sync_load_cert(conf->signer_cert))) {
        log_err("[issuer %s] signer_cert: cannot read PEM certificate %s", conf->name,
                conf->signer_cert);
        goto fail;
    }
    if ((rc = sync_check_delegation(ca, signer, conf->name)) < 0)
        goto fail;
    rc = -EINVAL;
    int n = i2d_X509(ca, NULL);
    unsigned char *p;
    if (n <= 0 || !(si->ca_der = malloc((size_t)n)))
        goto fail;
    p = si->ca_der;
    i2d_X509(ca, &p);
    si->ca_len = (size_t)n;
    if ((rc = ocsp_issuer_hashes(si->ca_der, si->ca_len, &si->hashes)) < 0)
        goto fail;
    if ((rc = signer_load(&si->signer, conf->signer_cert, conf->signer_key, conf->digest)) < 0) {
        log_err("[issuer %s] cannot load signer_cert/signer_key", conf->name);
        goto fail;
    }

    struct store_issuer_rec rec = {0};
    snprintf(rec.name, sizeof(rec.name), "%s", conf->name);
    memcpy(rec.name_sha1, si->hashes.name_sha1, 20);
    memcpy(rec.key_sha1, si->hashes.key_sha1, 20);
    memcpy(rec.name_sha256, si->hashes.name_sha256, 32);
    memcpy(rec.key_sha256, si->hashes.key_sha256, 32);
    if ((rc = store_txn_begin(store, &t, false)) < 0 ||
        (rc = store_put_issuer(&t, &rec, si->ca_der, si->ca_len, &si->id)) < 0 ||
        (rc = store_txn_commit(&t)) < 0) {
        log_err("[issuer %s] cannot register issuer in store: %s", conf->name, strerror(-rc));
        goto fail;
    }
    X509_free(signer);
    X509_free(ca);
    return 0;
fail:
    store_txn_abort(&t);
    X509_free(signer);
    X509_free(ca);
    ERR_clear_error();
    sync_issuer_free(si);
    return rc;
}

void sync_issuer_free(struct sync_issuer *si)
{
    if (si->signer.pkey)
        signer_free(&si->signer);
    free(si->ca_der);
    memset(si, 0, sizeof(*si));
}

/* Signs and stores the responses of one certificate under both CertID hashes. */
static int sync_sign_cert(struct sync_issuer *si, struct store_txn *t, const uint8_t *serial,
                          size_t serial_len, const struct store_cert *c, int64_t now,
                          const struct sync_params *p, uint8_t *buf)
{
    static const enum store_hash hashes[] = {STORE_HASH_SHA1, STORE_HASH_SHA256};
    int64_t this_update = now - p->backdate;
    int64_t next_update = this_update + p->validity;
    for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
        enum store_hash h = hashes[i];
        struct ocsp_single s = {
            .hash = h,
            .name_hash = h == STORE_HASH_SHA1 ? si->hashes.name_sha1 : si->hashes.name_sha256,
            .key_hash = h == STORE_HASH_SHA1 ? si->hashes.key_sha1 : si->hashes.key_sha256,
            .serial = serial,
            .serial_len = serial_len,
            .status = (enum store_status)c->status,
            .revoked_at = c->revoked_at,
            .reason = c->reason,
            .this_update = this_update,
            .next_update = next_update,
        };
        struct derw w;
        derw_init_fixed(&w, buf, SYNC_RESP_MAX);
        int rc = ocsp_resp_build(&w, &s, now, &si->signer);
        if (rc < 0)
            return rc;
        rc = store_put_response(t, h, s.name_hash, s.key_hash, serial, serial_len, this_update,
                                next_update, now, w.buf, w.len);
        if (rc < 0)
            return rc;
    }
    if (si->oldest_next_update == 0 || next_update < si->oldest_next_update)
        si->oldest_next_update = next_update;
    return 0;
}

/* True if the stored SHA-1 response is missing or due for refresh. */
static bool sync_needs_sign(struct sync_issuer *si, struct store_txn *t, const uint8_t *serial,
                            size_t serial_len, int64_t now, const struct sync_params *p)
{
    struct store_resp r;
    for (int h = STORE_HASH_SHA1; h <= STORE_HASH_SHA256; h++) {
        const uint8_t *nh = h == STORE_HASH_SHA1 ? si->hashes.name_sha1 : si->hashes.name_sha256;
        const uint8_t *kh = h == STORE_HASH_SHA1 ? si->hashes.key_sha1 : si->hashes.key_sha256;
        if (store_get_response(t, (enum store_hash)h, nh, kh, serial, serial_len, &r) < 0)
            return true;
        if (r.hdr->next_update - now < (int64_t)p->refresh)
            return true;
        if (si->oldest_next_update == 0 || r.hdr->next_update < si->oldest_next_update)
            si->oldest_next_update = r.hdr->next_update;
    }
    return false;
}

int sync_issuer_run(struct sync_issuer *si, struct store *store, const struct sync_params *p,
                    int64_t now, int force, struct sync_stats *st)
{
    const char *name = si->conf->name, *path = si->conf->index;
    struct stat sb;
    char *buf = NULL;
    size_t len = 0;
    struct store_txn t = {0};
    uint8_t *resp = NULL;
    int rc;

    if (stat(path, &sb) < 0) {
        rc = -errno;
        log_err("[issuer %s] index %s: %s", name, path, strerror(errno));
        return rc;
    }
    int64_t mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    bool same_file = sb.st_dev == si->dev && sb.st_ino == si->ino && sb.st_size == si->size &&
                     mtime_ns == si->mtime_ns;
    bool refresh_due =
        si->oldest_next_update == 0 || si->oldest_next_update - now < (int64_t)p->refresh;
    if (!force && same_file && !refresh_due)
        return 0;

    if ((rc = sync_read_file(path, &buf, &len, &sb)) < 0) {
        log_err("[issuer %s] index %s: %s", name, path, strerror(-rc));
        return rc;
    }
    mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    if (!(resp = malloc(SYNC_RESP_MAX))) {
        rc = -ENOMEM;
        goto fail;
    }
    si->oldest_next_update = 0;

    struct cadb_iter it;
    struct cadb_entry e;
    unsigned lineno;
    uint32_t in_batch = 0;
    cadb_iter_init(&it, buf, len);
    if ((rc = store_txn_begin(store, &t, false)) < 0)
        goto fail_store;
    for (;;) {
        int r = cadb_next(&it, &e, &lineno);
        if (r == 0)
            break;
        if (r < 0) {
            log_err("[issuer %s] %s:%u: malformed line skipped", name, path, lineno);
            st->malformed++;
            continue;
        }
        st->entries++;
        struct store_cert c = {
            .status = (uint8_t)e.status,
            .reason = e.reason,
            .source = STORE_SRC_INDEX,
            .revoked_at = e.status == STORE_GOOD ? 0 : e.revoked_at,
            .invalidity = e.status == STORE_GOOD ? 0 : e.invalidity,
            .not_after = e.not_after,
        };
        int changed = store_put_cert(&t, si->id, e.serial, e.serial_len, &c, now);
        if (changed < 0) {
            rc = changed;
            goto fail_store;
        }
        if (changed)
            st->changed++;
        if (changed || sync_needs_sign(si, &t, e.serial, e.serial_len, now, p)) {
            if ((rc = sync_sign_cert(si, &t, e.serial, e.serial_len, &c, now, p, resp)) < 0) {
                log_err("[issuer %s] signing serial at %s:%u failed: %s", name, path, lineno,
                        strerror(-rc));
                goto fail;
            }
            st->signed_ += 2;
        }
        if (++in_batch >= p->batch) {
            /* Commit in batches: readers see progress, and a crash loses one batch at most. */
            if ((rc = store_txn_commit(&t)) < 0 || (rc = store_txn_begin(store, &t, false)) < 0)
                goto fail_store;
            in_batch = 0;
        }
    }
    if ((rc = store_set_issuer_synced(&t, si->id, now)) < 0 || (rc = store_txn_commit(&t)) < 0)
        goto fail_store;
    si->dev = sb.st_dev;
    si->ino = sb.st_ino;
    si->size = sb.st_size;
    si->mtime_ns = mtime_ns;
    free(resp);
    free(buf);
    return 0;

fail_store:
    log_err("[issuer %s] store [store] path: %s", name, strerror(-rc));
fail:
    store_txn_abort(&t);
    free(resp);
    free(buf);
    return rc;
}
