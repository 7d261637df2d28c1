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
#include <pwd.h>
#include <stdio.h>
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

/* Expiry warnings and signer alarms are repeated at most this often. */
#define SYNC_WARN_EVERY 3600

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

/* ASN1_TIME -> Unix seconds, by difference from the epoch (works before 1970 too). */
static int sync_asn1_time(const ASN1_TIME *t, int64_t *out)
{
    ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
    int day, sec;
    int ok = epoch && ASN1_TIME_diff(&day, &sec, epoch, t);
    ASN1_TIME_free(epoch);
    if (!ok)
        return -EINVAL;
    *out = (int64_t)day * 86400 + sec;
    return 0;
}

/* "2026-11-23 09:06:43 UTC" for log lines. */
static const char *sync_fmt_time(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, cap, "@%lld", (long long)t);
    return buf;
}

void sync_serial_hex(const uint8_t *serial, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    /* The 0x00 that keeps a positive DER INTEGER positive is not part of the number. */
    if (len > 1 && serial[0] == 0x00)
        serial++, len--;
    for (size_t i = 0; i < len && o + 2 < cap; i++) {
        out[o++] = hex[serial[i] >> 4];
        out[o++] = hex[serial[i] & 0xf];
    }
    if (cap)
        out[o < cap ? o : cap - 1] = '\0';
}

/* The signer must be the CA or hold a delegation from it (RFC 6960 4.2.2.2). */
static int sync_check_delegation(X509 *ca, X509 *signer, const struct config_issuer *conf)
{
    const char *name = conf->name;
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
    if (X509_get_ext_by_NID(signer, NID_id_pkix_OCSP_noCheck, -1) < 0) {
        /* BR 7.1.2.8 makes it a MUST: without it clients may look up the signer's own
         * status, which only this responder could answer. */
        if (conf->require_nocheck) {
            log_err("[issuer %s] signer_cert %s has no id-pkix-ocsp-nocheck extension "
                    "(Baseline Requirements 7.1.2.8): refused; issue the signer with it, or set "
                    "require_nocheck = no in [issuer %s]",
                    name, conf->signer_cert, name);
            return -EINVAL;
        }
        log_warn("[issuer %s] signer_cert has no id-pkix-ocsp-nocheck (require_nocheck = no): "
                 "clients may try to check the signer's own revocation status",
                 name);
    }
    return 0;
}

/* STORE_SIGNER_* bits for the signer at `now`. */
static uint32_t sync_signer_problem(const struct sync_issuer *si, int64_t now)
{
    uint32_t bits = 0;
    if (now < si->signer_not_before)
        bits |= STORE_SIGNER_NOT_YET_VALID;
    if (now > si->signer_not_after)
        bits |= STORE_SIGNER_EXPIRED;
    return bits;
}

int sync_issuer_init(struct sync_issuer *si, const struct config_issuer *conf, struct store *store)
{
    X509 *ca = NULL, *signer = NULL;
    struct store_txn t = {0};
    int rc = -EINVAL;
    int64_t now = (int64_t)time(NULL);
    char b1[40], b2[40];

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
    if ((rc = sync_check_delegation(ca, signer, conf)) < 0)
        goto fail;
    rc = -EINVAL;
    si->delegated = X509_cmp(ca, signer) != 0;
    if (sync_asn1_time(X509_get0_notBefore(signer), &si->signer_not_before) < 0 ||
        sync_asn1_time(X509_get0_notAfter(signer), &si->signer_not_after) < 0 ||
        sync_asn1_time(X509_get0_notAfter(ca), &si->ca_not_after) < 0) {
        log_err("[issuer %s] signer_cert %s or ca_cert %s: unreadable validity dates", conf->name,
                conf->signer_cert, conf->ca_cert);
        goto fail;
    }
    /* Every client rejects a response whose signer is outside its validity: refusing
     * to start says so at once instead of serving answers nobody accepts. */
    if (now < si->signer_not_before) {
        log_err("[issuer %s] signer_cert %s is not valid yet: notBefore %s, now %s", conf->name,
                conf->signer_cert, sync_fmt_time(si->signer_not_before, b1, sizeof(b1)),
                sync_fmt_time(now, b2, sizeof(b2)));
        goto fail;
    }
    if (now > si->signer_not_after) {
        log_err("[issuer %s] signer_cert %s has expired: notAfter %s, now %s", conf->name,
                conf->signer_cert, sync_fmt_time(si->signer_not_after, b1, sizeof(b1)),
                sync_fmt_time(now, b2, sizeof(b2)));
        goto fail;
    }
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
    /* The certs block every response of this signer ends with, kept once in the store:
     * a new signer gets a new id, and sync_needs_sign() re-signs whatever names another. */
    struct derw bw;
    if ((rc = derw_init_alloc(&bw, si->signer.cert_len + 16)) < 0)
        goto fail;
    ocsp_resp_certs(&bw, &si->signer);
    if ((rc = bw.err) < 0 || (rc = store_txn_begin(store, &t, false)) < 0 ||
        (rc = store_put_issuer(&t, &rec, si->ca_der, si->ca_len, &si->id)) < 0 ||
        (rc = store_put_signer(&t, bw.buf, bw.len, &si->signer_id)) < 0 ||
        (rc = store_txn_commit(&t)) < 0) {
        derw_free(&bw);
        log_err("[issuer %s] cannot register issuer in store: %s", conf->name, strerror(-rc));
        goto fail;
    }
    derw_free(&bw);
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

/*
 * The latest nextUpdate a response signed now could get: never past the signer's
 * notAfter (a client rejects a response once its signer has expired, so a later
 * nextUpdate would only promise what cannot be kept).
 */
static int64_t sync_max_next_update(const struct sync_issuer *si, int64_t now,
                                    const struct sync_params *p)
{
    int64_t next = now - (int64_t)p->backdate + (int64_t)p->validity;
    return next < si->signer_not_after ? next : si->signer_not_after;
}

int sync_sign_cert(struct sync_issuer *si, struct store_txn *t, const uint8_t *serial,
                   size_t serial_len, const struct store_cert *c, int64_t now,
                   const struct sync_params *p, uint8_t *buf)
{
    static const enum store_hash hashes[] = {STORE_HASH_SHA1, STORE_HASH_SHA256};
    int64_t this_update = now - (int64_t)p->backdate;
    if (c->status != STORE_GOOD) {
        /* RFC 6960 2.4: a response never vouches for a time before the revocation it
         * reports; a revocation dated in the future (doubtful, counted by the caller)
         * gets now. */
        if (c->revoked_at > now)
            this_update = now;
        else if (c->revoked_at > this_update)
            this_update = c->revoked_at;
    }
    int64_t next_update = this_update + (int64_t)p->validity;
    if (next_update > si->signer_not_after)
        next_update = si->signer_not_after;
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
                                next_update, now, w.buf, w.len, si->signer_id);
        if (rc < 0)
            return rc;
    }
    if (si->oldest_next_update == 0 || next_update < si->oldest_next_update)
        si->oldest_next_update = next_update;
    return 0;
}

/* Removes both responses of a certificate: the responder then answers unauthorized. */
static int sync_withdraw_cert(struct sync_issuer *si, struct store_txn *t, const uint8_t *serial,
                              size_t serial_len)
{
    int rc = store_del_response(t, STORE_HASH_SHA1, si->hashes.name_sha1, si->hashes.key_sha1,
                                serial, serial_len);
    if (rc == 0)
        rc = store_del_response(t, STORE_HASH_SHA256, si->hashes.name_sha256, si->hashes.key_sha256,
                                serial, serial_len);
    return rc;
}

/*
 * True if a stored response is missing, is due for refresh and re-signing would
 * extend it (once nextUpdate is capped at the signer's notAfter, re-signing gains
 * nothing, so a capped response is not re-signed on every run), predates the
 * revocation time it reports, or was signed by another signer than the configured
 * one (a rotation: until it is re-signed it is served with its own signer's
 * certificate, so there is no gap).
 */
static bool sync_needs_sign(struct sync_issuer *si, struct store_txn *t, const uint8_t *serial,
                            size_t serial_len, const struct store_cert *c, int64_t now,
                            const struct sync_params *p)
{
    struct store_resp r;
    int64_t max_next = sync_max_next_update(si, now, p);
    for (int h = STORE_HASH_SHA1; h <= STORE_HASH_SHA256; h++) {
        const uint8_t *nh = h == STORE_HASH_SHA1 ? si->hashes.name_sha1 : si->hashes.name_sha256;
        const uint8_t *kh = h == STORE_HASH_SHA1 ? si->hashes.key_sha1 : si->hashes.key_sha256;
        if (store_get_response(t, (enum store_hash)h, nh, kh, serial, serial_len, &r) < 0)
            return true;
        if (r.hdr->signer != si->signer_id)
            return true;
        if (r.hdr->next_update - now < (int64_t)p->refresh && r.hdr->next_update < max_next)
            return true;
        if (c->status != STORE_GOOD && c->revoked_at <= now && r.hdr->this_update < c->revoked_at)
            return true;
        if (si->oldest_next_update == 0 || r.hdr->next_update < si->oldest_next_update)
            si->oldest_next_update = r.hdr->next_update;
    }
    return false;
}

static const char *sync_status_name(const struct store_cert *c)
{
    return c->status == STORE_GOOD ? "good" : c->status == STORE_HOLD ? "on hold" : "revoked";
}

/* Checks the signer and CA validity at `now`: logs problems and near expiry. */
static void sync_check_signer(struct sync_issuer *si, int64_t now, const struct sync_params *p)
{
    const char *name = si->conf->name;
    char b1[40];
    uint32_t bits = sync_signer_problem(si, now);
    bool repeat = si->warned_at == 0 || now - si->warned_at >= SYNC_WARN_EVERY;
    if (bits != si->signer_problem || (bits && repeat)) {
        if (bits & STORE_SIGNER_EXPIRED)
            log_err("[issuer %s] signer_cert %s expired at %s: no response is signed any more; "
                    "certificates whose status changes lose their response (the responder "
                    "answers unauthorized) until a valid signer is configured",
                    name, si->conf->signer_cert,
                    sync_fmt_time(si->signer_not_after, b1, sizeof(b1)));
        else if (bits & STORE_SIGNER_NOT_YET_VALID)
            log_err("[issuer %s] signer_cert %s is not valid before %s: nothing is signed", name,
                    si->conf->signer_cert, sync_fmt_time(si->signer_not_before, b1, sizeof(b1)));
        else
            log_info("[issuer %s] signer_cert is valid again", name);
        si->warned_at = now;
    }
    si->signer_problem = bits;
    if (bits || !repeat)
        return;
    bool warned = false;
    if (si->signer_not_after - now < (int64_t)p->signer_warn) {
        log_warn("[issuer %s] signer_cert %s expires at %s: responses' nextUpdate is capped "
                 "there; replace it before then",
                 name, si->conf->signer_cert, sync_fmt_time(si->signer_not_after, b1, sizeof(b1)));
        warned = true;
    }
    if (si->ca_not_after - now < (int64_t)p->signer_warn) {
        log_warn("[issuer %s] ca_cert %s expires at %s", name, si->conf->ca_cert,
                 sync_fmt_time(si->ca_not_after, b1, sizeof(b1)));
        warned = true;
    }
    if (warned)
        si->warned_at = now;
}

/*
 * Writes rec->sync if it differs from what the store holds. A failure that
 * repeats unchanged keeps its first failed_at, so an idle indexer polling a
 * broken file every second does not write the store every second.
 */
static int sync_write_health(struct sync_issuer *si, struct store *store, struct store_txn *open,
                             struct store_issuer_sync *h)
{
    if (si->sync_written && h->failed_at != 0 && si->last_sync.failed_at != 0) {
        struct store_issuer_sync same = *h;
        same.failed_at = si->last_sync.failed_at;
        if (memcmp(&same, &si->last_sync, sizeof(same)) == 0)
            *h = same;
    }
    if (si->sync_written && memcmp(h, &si->last_sync, sizeof(*h)) == 0)
        return 0;
    struct store_txn own = {0};
    struct store_txn *t = open;
    int rc = 0;
    if (!t) {
        if ((rc = store_txn_begin(store, &own, false)) < 0)
            return rc;
        t = &own;
    }
    rc = store_set_issuer_sync(t, si->id, h);
    if (!open) {
        if (rc == 0)
            rc = store_txn_commit(&own);
        else
            store_txn_abort(&own);
    }
    if (rc == 0 && !open) {
        si->last_sync = *h;
        si->sync_written = true;
    }
    return rc;
}

/* The health record for a failed attempt; best effort, in its own transaction. */
static void sync_record_failure(struct sync_issuer *si, struct store *store, int64_t now, int err)
{
    struct store_issuer_sync h = si->last_sync;
    h.failed_at = now;
    h.malformed = 0;
    h.error = err < 0 ? -err : err;
    h.signer_problem = si->signer_problem;
    h.signer_not_after = si->signer_not_after;
    h.ca_not_after = si->ca_not_after;
    int rc = sync_write_health(si, store, NULL, &h);
    if (rc < 0)
        log_err("[issuer %s] cannot record the failed sync in the store: %s", si->conf->name,
                strerror(-rc));
}

/* Applies one index.txt entry: status, and responses signed, kept or withdrawn. */
static int sync_apply(struct sync_issuer *si, struct store_txn *t, const struct cadb_entry *e,
                      unsigned lineno, int64_t now, const struct sync_params *p, uint8_t *resp,
                      struct sync_stats *st)
{
    const char *name = si->conf->name, *path = si->conf->index;
    char hex[2 * DER_SERIAL_MAX + 1], b1[40];
    sync_serial_hex(e->serial, e->serial_len, hex, sizeof(hex));
    if (e->flags & CADB_F_SERIAL_ZERO)
        log_warn("[issuer %s] %s:%u: serial 0 (RFC 5280 4.1.2.2 wants a positive serial; "
                 "served anyway)",
                 name, path, lineno);
    if (e->flags & CADB_F_SERIAL_NEGATIVE)
        log_warn("[issuer %s] %s:%u: negative serial (RFC 5280 4.1.2.2 wants a positive "
                 "serial; served anyway)",
                 name, path, lineno);
    if (e->status != STORE_GOOD && e->revoked_at > now) {
        log_err("[issuer %s] %s:%u: serial %s: revocation date %s is in the future: revoked "
                "now, thisUpdate = now, sync counted partial until then",
                name, path, lineno, hex, sync_fmt_time(e->revoked_at, b1, sizeof(b1)));
        st->doubtful++;
        if (si->recheck_at == 0 || e->revoked_at < si->recheck_at)
            si->recheck_at = e->revoked_at;
    }
    struct store_cert c = {
        .status = (uint8_t)e->status,
        .reason = e->status == STORE_GOOD ? STORE_REASON_NONE : e->reason,
        .source = STORE_SRC_INDEX,
        .revoked_at = e->status == STORE_GOOD ? 0 : e->revoked_at,
        .invalidity = e->status == STORE_GOOD ? 0 : e->invalidity,
        .not_after = e->not_after,
    };
    int changed = store_put_cert(t, si->id, e->serial, e->serial_len, &c, now);
    if (changed == -EPERM) {
        /* Never undo a revocation (RFC 5280 3.3): c now holds the stored state, and its
         * responses are kept and refreshed from it. */
        if (st->unrevoke_refused++ < SYNC_LOG_REFUSED_MAX)
            log_err("[issuer %s] %s:%u: serial %s is listed as %s, but it was revoked at %s: "
                    "kept revoked (a revocation is never undone; to correct a mistaken one see "
                    "`revokd-indexer --unrevoke`, docs/operations.md)",
                    name, path, lineno, hex, e->status == STORE_HOLD ? "on hold" : "valid",
                    sync_fmt_time(c.revoked_at, b1, sizeof(b1)));
        changed = 0;
    } else if (changed < 0) {
        return changed;
    }
    if (changed)
        st->changed++;
    if (si->signer_problem) {
        /* Cannot sign: an unchanged certificate keeps its response until its
         * nextUpdate (capped at the signer's notAfter); a changed one must not keep
         * answering its old status. */
        if (changed) {
            int rc = sync_withdraw_cert(si, t, e->serial, e->serial_len);
            if (rc < 0)
                return rc;
            st->withdrawn++;
        }
        return 0;
    }
    if (changed || sync_needs_sign(si, t, e->serial, e->serial_len, &c, now, p)) {
        int rc = sync_sign_cert(si, t, e->serial, e->serial_len, &c, now, p, resp);
        if (rc < 0) {
            log_err("[issuer %s] signing serial %s (%s, %s:%u) failed: %s", name, hex,
                    sync_status_name(&c), path, lineno, strerror(-rc));
            return rc;
        }
        st->signed_ += 2;
    }
    return 0;
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

    sync_check_signer(si, now, p);
    st->signer_problem = si->signer_problem;
    if (stat(path, &sb) < 0) {
        rc = -errno;
        log_err("[issuer %s] index %s: %s", name, path, strerror(errno));
        /* Read the file again when it is back, even unchanged (a directory moved away
         * and back): only a read can clear the failure just recorded. */
        si->size = -1;
        sync_record_failure(si, store, now, rc);
        return rc;
    }
    int64_t mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    bool same_file = sb.st_dev == si->dev && sb.st_ino == si->ino && sb.st_size == si->size &&
                     mtime_ns == si->mtime_ns;
    bool refresh_due =
        si->oldest_next_update == 0 ||
        (si->signer_problem == 0 && si->oldest_next_update - now < (int64_t)p->refresh &&
         si->oldest_next_update < sync_max_next_update(si, now, p));
    bool recheck_due = si->recheck_at != 0 && now >= si->recheck_at;
    if (!force && same_file && !refresh_due && !recheck_due) {
        /* Nothing to read; only the signer's state can have changed. */
        struct store_issuer_sync h = si->last_sync;
        h.signer_problem = si->signer_problem;
        if ((rc = sync_write_health(si, store, NULL, &h)) < 0)
            log_err("[issuer %s] cannot record sync health in the store: %s", name, strerror(-rc));
        return 0;
    }

    if ((rc = sync_read_file(path, &buf, &len, &sb)) < 0) {
        log_err("[issuer %s] index %s: %s", name, path, strerror(-rc));
        si->size = -1;
        sync_record_failure(si, store, now, rc);
        return rc;
    }
    mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    if (!(resp = malloc(SYNC_RESP_MAX))) {
        rc = -ENOMEM;
        goto fail;
    }
    si->oldest_next_update = 0;
    si->recheck_at = 0;

    struct cadb_iter it;
    struct cadb_entry e;
    unsigned lineno;
    uint32_t in_batch = 0;
    struct sync_stats run = {.signer_problem = si->signer_problem};
    cadb_iter_init(&it, buf, len);
    if ((rc = store_txn_begin(store, &t, false)) < 0)
        goto fail_store;
    for (;;) {
        int r = cadb_next(&it, &e, &lineno);
        if (r == 0)
            break;
        if (r < 0) {
            /* The certificate keeps whatever state the store has; the sync is partial. */
            log_err("[issuer %s] %s:%u: malformed line skipped: that certificate keeps its "
                    "stored state and the sync is incomplete until the line is fixed",
                    name, path, lineno);
            run.malformed++;
            continue;
        }
        run.entries++;
        if ((rc = sync_apply(si, &t, &e, lineno, now, p, resp, &run)) < 0)
            goto fail_apply;
        if (++in_batch >= p->batch) {
            /* Commit in batches: readers see progress, and a crash loses one batch at most. */
            if ((rc = store_txn_commit(&t)) < 0 || (rc = store_txn_begin(store, &t, false)) < 0)
                goto fail_store;
            in_batch = 0;
        }
    }
    if (run.unrevoke_refused > SYNC_LOG_REFUSED_MAX)
        log_err("[issuer %s] ... and %llu more certificates listed as not revoked kept revoked",
                name, (unsigned long long)(run.unrevoke_refused - SYNC_LOG_REFUSED_MAX));

    uint64_t doubtful = run.malformed + run.doubtful;
    struct store_issuer_sync h = {
        .failed_at = doubtful ? now : 0,
        .malformed = doubtful > UINT32_MAX ? UINT32_MAX : (uint32_t)doubtful,
        .unrevoke_refused =
            run.unrevoke_refused > UINT32_MAX ? UINT32_MAX : (uint32_t)run.unrevoke_refused,
        .error = doubtful ? EBADMSG : 0,
        .signer_problem = si->signer_problem,
        .signer_not_after = si->signer_not_after,
        .ca_not_after = si->ca_not_after,
    };
    /* synced_at marks the last complete sync: crlgen publishes only after one. */
    if ((!doubtful && (rc = store_set_issuer_synced(&t, si->id, now)) < 0) ||
        (rc = sync_write_health(si, store, &t, &h)) < 0 || (rc = store_txn_commit(&t)) < 0)
        goto fail_store;
    si->last_sync = h;
    si->sync_written = true;
    si->dev = sb.st_dev;
    si->ino = sb.st_ino;
    si->size = sb.st_size;
    si->mtime_ns = mtime_ns;
    st->entries += run.entries;
    st->malformed += run.malformed;
    st->doubtful += run.doubtful;
    st->changed += run.changed;
    st->signed_ += run.signed_;
    st->unrevoke_refused += run.unrevoke_refused;
    st->withdrawn += run.withdrawn;
    free(resp);
    free(buf);
    return 0;

fail_store:
    log_err("[issuer %s] store [store] path: %s", name, strerror(-rc));
fail_apply:
fail:
    store_txn_abort(&t);
    /* Whatever committed in earlier batches stays; the next run redoes the rest. */
    si->oldest_next_update = 0;
    sync_record_failure(si, store, now, rc);
    free(resp);
    free(buf);
    return rc;
}

int sync_unrevoke(struct sync_issuer *si, struct store *store, const struct sync_params *p,
                  const uint8_t *serial, size_t serial_len, int64_t now,
                  struct sync_unrevoke_result *res)
{
    const char *path = si->conf->index;
    struct stat sb;
    char *buf = NULL;
    size_t len = 0;
    uint8_t *resp = NULL;
    struct store_txn t = {0};
    struct cadb_entry e, found;
    unsigned lineno = 0;
    bool have = false;
    int rc;

    memset(res, 0, sizeof(*res));
    memset(&found, 0, sizeof(found));
    if ((rc = sync_read_file(path, &buf, &len, &sb)) < 0) {
        snprintf(res->why, sizeof(res->why), "index %s: %s", path, strerror(-rc));
        return rc;
    }
    struct cadb_iter it;
    cadb_iter_init(&it, buf, len);
    int r;
    while ((r = cadb_next(&it, &e, &lineno)) != 0) {
        if (r < 0 || e.serial_len != serial_len || memcmp(e.serial, serial, serial_len) != 0)
            continue;
        if (have && (found.status != e.status)) {
            snprintf(res->why, sizeof(res->why),
                     "%s lists the certificate twice (lines %u and %u) with different states: "
                     "fix index.txt first",
                     path, res->line, lineno);
            rc = -EPERM;
            goto out;
        }
        found = e;
        res->line = lineno;
        have = true;
    }
    if (!have) {
        snprintf(res->why, sizeof(res->why),
                 "%s does not list this serial (or its line is malformed): only a certificate "
                 "the source lists as not revoked can be corrected",
                 path);
        rc = -ENOENT;
        goto out;
    }
    if (found.status == STORE_REVOKED) {
        snprintf(res->why, sizeof(res->why),
                 "%s:%u still lists the certificate as revoked: edit the CA database first (the "
                 "source must say it is not revoked)",
                 path, res->line);
        rc = -EPERM;
        goto out;
    }
    if (si->signer_problem || sync_signer_problem(si, now)) {
        snprintf(res->why, sizeof(res->why),
                 "signer_cert %s is not valid now: cannot re-sign the responses",
                 si->conf->signer_cert);
        rc = -EPERM;
        goto out;
    }
    if (!(resp = malloc(SYNC_RESP_MAX))) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = store_txn_begin(store, &t, false)) < 0)
        goto out;
    rc = store_get_cert(&t, si->id, serial, serial_len, &res->before);
    if (rc == -ENOENT || (rc == 0 && res->before.status != STORE_REVOKED)) {
        snprintf(res->why, sizeof(res->why),
                 "the store does not hold this certificate as revoked (%s): nothing to correct",
                 rc == -ENOENT ? "unknown serial" : sync_status_name(&res->before));
        rc = rc == -ENOENT ? -ENOENT : -EPERM;
        goto out;
    }
    if (rc < 0)
        goto out;
    struct store_cert c = {
        .status = (uint8_t)found.status,
        .reason = found.status == STORE_GOOD ? STORE_REASON_NONE : found.reason,
        .source = STORE_SRC_INDEX,
        .revoked_at = found.status == STORE_GOOD ? 0 : found.revoked_at,
        .invalidity = found.status == STORE_GOOD ? 0 : found.invalidity,
        .not_after = found.not_after,
    };
    if ((rc = store_correct_cert(&t, si->id, serial, serial_len, &c, now)) < 0 ||
        (rc = sync_sign_cert(si, &t, serial, serial_len, &c, now, p, resp)) < 0 ||
        (rc = store_txn_commit(&t)) < 0)
        goto out;
    res->after = c;
    rc = 0;
out:
    store_txn_abort(&t);
    free(resp);
    free(buf);
    return rc;
}
