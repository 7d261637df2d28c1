/*
 * sync — sources -> store + pre-signed responses, one issuer at a time. Each
 * source is read whole into a snapshot (OpenSSL rewrites index.txt whole on every
 * change, so there is no append-only tail to follow), sorted, and walked beside a
 * cursor over the issuer's certs in a read transaction. What needs work goes in
 * chunks to the signing threads; this thread writes each signed chunk in key
 * order, and every batch is one write transaction in which status, change log
 * and both responses of a certificate change together.
 */
#include "sync.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>
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
#include "ocsp_resp.h"
#include "presign.h"
#include "src_cadb.h"
#include "src_certdir.h"
#include "src_certmate.h"
#include "src_crl.h"
#include "src_x509.h"

/* The readers, adapted to one signature: each gets what its source needs. */
static int sync_read_index(struct sync_issuer *si, struct sync_source *src, int64_t now,
                           struct src_snapshot *out)
{
    (void)now;
    return src_cadb_read(si->conf->name, src->path, out);
}

static int sync_read_certdir(struct sync_issuer *si, struct sync_source *src, int64_t now,
                             struct src_snapshot *out)
{
    (void)now;
    return src_certdir_read(si->conf->name, src->path, si->ca, src->cache, out);
}

static int sync_read_certmate(struct sync_issuer *si, struct sync_source *src, int64_t now,
                              struct src_snapshot *out)
{
    (void)now;
    return src_certmate_read(si->conf->name, src->path, si->ca, src->cache, out);
}

static int sync_read_crl(struct sync_issuer *si, struct sync_source *src, int64_t now,
                         struct src_snapshot *out)
{
    struct src_crl_info info = {0};
    int rc = src_crl_read(si->conf->name, src->path, src->path2, si->ca, now, out, &info);
    /* Nothing else notices a CRL going stale: read it again at its nextUpdate, when a
     * CRL that was not replaced fails the sync and raises the alarm. */
    if (rc == 0 && info.next_update > now &&
        (si->recheck_at == 0 || info.next_update < si->recheck_at))
        si->recheck_at = info.next_update;
    return rc;
}

/*
 * The source kinds an issuer may have, each with the config key that names it and
 * its reader: wiring a new reader in is one row (and its key in config.c).
 */
static const struct {
    enum store_source kind;
    size_t path_off; /* char * in struct config_issuer; NULL: not configured */
    sync_reader_fn read;
} sync_source_kinds[] = {
    {STORE_SRC_INDEX, offsetof(struct config_issuer, index), sync_read_index},
    {STORE_SRC_CERTDIR, offsetof(struct config_issuer, cert_dir), sync_read_certdir},
    {STORE_SRC_CERTMATE, offsetof(struct config_issuer, certmate_dir), sync_read_certmate},
    {STORE_SRC_CRL, offsetof(struct config_issuer, crl_file), sync_read_crl},
};

/* Expiry warnings and signer alarms are repeated at most this often. */
#define SYNC_WARN_EVERY 3600

static X509 *sync_load_cert(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return x;
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
    if (src_asn1_time(X509_get0_notBefore(signer), &si->signer_not_before) < 0 ||
        src_asn1_time(X509_get0_notAfter(signer), &si->signer_not_after) < 0 ||
        src_asn1_time(X509_get0_notAfter(ca), &si->ca_not_after) < 0) {
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
     * a new signer gets a new id, and the sync re-signs every certificate whose
     * responses name another (store_cert.signer). */
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
    for (size_t k = 0; k < sizeof(sync_source_kinds) / sizeof(sync_source_kinds[0]); k++) {
        const char *path = *(char *const *)((const char *)conf + sync_source_kinds[k].path_off);
        if (!path || si->n_sources == SYNC_SOURCES_MAX)
            continue;
        si->sources[si->n_sources++] = (struct sync_source){
            .kind = sync_source_kinds[k].kind,
            .path = path,
            .read = sync_source_kinds[k].read,
            .size = -1,
        };
        struct sync_source *src = &si->sources[si->n_sources - 1];
        if (src->kind == STORE_SRC_CRL)
            src->path2 = conf->delta_crl_file;
        if (src->kind == STORE_SRC_CERTDIR || src->kind == STORE_SRC_CERTMATE) {
            src->read_always = true;
            if ((rc = src_cache_new(&src->cache)) < 0)
                goto fail;
        }
    }
    si->ca = ca;
    ca = NULL;
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
    X509_free(si->ca);
    for (size_t k = 0; k < si->n_sources; k++)
        src_cache_free(si->sources[k].cache);
    memset(si, 0, sizeof(*si));
}

/*
 * thisUpdate and nextUpdate of a response signed now for c: backdated by
 * p->backdate, valid for p->validity, and never past the signer's notAfter.
 * RFC 6960 2.4: a response never vouches for a time before the revocation it
 * reports; a revocation dated in the future (doubtful, counted by the caller)
 * gets now.
 */
static void sync_times(const struct sync_issuer *si, const struct store_cert *c, int64_t now,
                       const struct sync_params *p, int64_t *tu, int64_t *nu)
{
    int64_t this_update = now - (int64_t)p->backdate;
    if (c->status != STORE_GOOD) {
        if (c->revoked_at > now)
            this_update = now;
        else if (c->revoked_at > this_update)
            this_update = c->revoked_at;
    }
    int64_t next_update = this_update + (int64_t)p->validity;
    if (next_update > si->signer_not_after)
        next_update = si->signer_not_after;
    *tu = this_update;
    *nu = next_update;
}

int sync_sign_cert(struct sync_issuer *si, struct store_txn *t, const uint8_t *serial,
                   size_t serial_len, const struct store_cert *c, int64_t now,
                   const struct sync_params *p, uint8_t *buf)
{
    static const enum store_hash hashes[] = {STORE_HASH_SHA1, STORE_HASH_SHA256};
    int64_t this_update, next_update;
    sync_times(si, c, now, p, &this_update, &next_update);
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

/* ---- the sync engine: snapshots merged with the store, signed on every core ---- */

/* Certificates per signing batch: two of them in flight bound the response buffers. */
#define SYNC_CHUNK 1024

/* Where a certificate's state comes from in this pass. */
struct sync_item {
    uint8_t serial[STORE_SERIAL_MAX];
    uint8_t serial_len;
    bool has_old;                /* stored before this pass */
    bool remove;                 /* no source lists it (good) or expired past retention: drop it */
    bool expired;                /* ... the latter */
    bool sign;                   /* responses to (re-)sign */
    bool withdraw;               /* status changed and nothing can be signed: delete responses */
    bool write;                  /* certs entry to write (status, listed, not_after) */
    uint8_t unlist;              /* STORE_SRC_BIT()s of sources read whole that no longer list it */
    struct store_cert old, want; /* stored, and the state after every statement */
    uint32_t stmt[SYNC_SOURCES_MAX]; /* index+1 into each source's snapshot, 0: not listed */
    /* signing results */
    uint8_t *der[2];
    size_t der_len[2];
    int64_t this_update, next_update;
};

struct sync_chunk {
    struct sync_item *items;
    size_t n;
    uint8_t *arena; /* 2 * SYNC_CHUNK response buffers of cap bytes */
    size_t cap;
};

struct sync_pass {
    struct sync_issuer *si;
    const struct sync_params *p;
    int64_t now;
    struct src_snapshot snap[SYNC_SOURCES_MAX];
    size_t pos[SYNC_SOURCES_MAX];
    bool read[SYNC_SOURCES_MAX]; /* snapshot taken (else: refresh-only pass) */
    bool complete;               /* every source read whole: unlisting is allowed */
    struct store_cert_iter it;
    bool it_done, have_cur;
    uint32_t walked; /* stored entries stepped over since the map pages were released */
    struct store *store;
    const uint8_t *cur_serial;
    size_t cur_len;
    struct store_cert cur;
    bool can_sign;
    struct sync_stats run;
    int64_t next_due;
    struct sync_chunk ch[2];
};

/*
 * When a response signed at thisUpdate tu is re-signed: once refresh_pct of the
 * validity has passed, plus a per-serial offset spread over the window up to the
 * hard margin (refresh before nextUpdate), so certificates imported together are
 * not all due in the same second.
 */
static int64_t sync_window(const struct sync_params *p, int64_t *end)
{
    *end = (int64_t)p->validity - (int64_t)p->refresh;
    /* 0 (params not set): only the hard margin, as before refresh_at existed. */
    int64_t start = p->refresh_pct ? (int64_t)p->validity * p->refresh_pct / 100 : *end;
    if (*end < start)
        *end = start;
    return start;
}

static int64_t sync_due(const uint8_t *serial, size_t len, int64_t tu, const struct sync_params *p)
{
    int64_t end, start = sync_window(p, &end);
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ serial[i]) * 16777619u;
    return tu + start + (int64_t)(h % (uint64_t)(end - start + 1));
}

/* Refresh passes take what falls due in the next slice of the window at once. */
static int64_t sync_due_slack(const struct sync_params *p)
{
    int64_t end, window = -sync_window(p, &end);
    window += end;
    return window > 256 ? window / 256 : 0;
}

/* Folds entries of one serial listed twice by a source: revoked, then hold, then the last line. */
static void sync_dedupe(struct src_snapshot *s)
{
    size_t o = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (o && src_serial_cmp(s->v[o - 1].serial, s->v[o - 1].serial_len, s->v[i].serial,
                                s->v[i].serial_len) == 0) {
            struct src_entry *a = &s->v[o - 1], *b = &s->v[i];
            static const int rank[3] = {[STORE_GOOD] = 0, [STORE_REVOKED] = 2, [STORE_HOLD] = 1};
            int ra = rank[a->status % 3], rb = rank[b->status % 3];
            if (rb > ra || (rb == ra && b->origin > a->origin))
                *a = *b;
            continue;
        }
        s->v[o++] = s->v[i];
    }
    s->n = o;
}

static void sync_cert_from(struct store_cert *c, const struct src_entry *e, enum store_source src)
{
    memset(c, 0, sizeof(*c));
    c->status = e->status;
    c->reason = e->status == STORE_GOOD ? STORE_REASON_NONE : e->reason;
    c->source = (uint8_t)src;
    c->revoked_at = e->status == STORE_GOOD ? 0 : e->revoked_at;
    c->invalidity = e->status == STORE_GOOD ? 0 : e->invalidity;
    c->not_after = e->not_after;
}

static bool sync_same_status(const struct store_cert *a, const struct store_cert *b)
{
    return a->status == b->status && a->reason == b->reason && a->revoked_at == b->revoked_at &&
           a->invalidity == b->invalidity;
}

/* Decides what one certificate needs; false if nothing. */
static bool sync_decide(struct sync_pass *ps, struct sync_item *it)
{
    struct sync_issuer *si = ps->si;
    const struct sync_params *p = ps->p;
    const char *name = si->conf->name;
    char hex[2 * STORE_SERIAL_MAX + 1], b1[40];
    struct store_cert cur = it->old;
    bool have = it->has_old;
    for (size_t k = 0; k < si->n_sources; k++) {
        if (!it->stmt[k])
            continue;
        const struct src_entry *e = &ps->snap[k].v[it->stmt[k] - 1];
        struct store_cert in, out;
        sync_cert_from(&in, e, si->sources[k].kind);
        in.signed_tu = have ? cur.signed_tu : 0;
        in.signer = have ? cur.signer : 0;
        if (e->status != STORE_GOOD && e->revoked_at > ps->now) {
            sync_serial_hex(it->serial, it->serial_len, hex, sizeof(hex));
            log_err("[issuer %s] %s:%u: serial %s: revocation date %s is in the future: revoked "
                    "now, thisUpdate = now, sync counted partial until then",
                    name, si->sources[k].path, e->origin, hex,
                    sync_fmt_time(e->revoked_at, b1, sizeof(b1)));
            ps->run.doubtful++;
            if (si->recheck_at == 0 || e->revoked_at < si->recheck_at)
                si->recheck_at = e->revoked_at;
        }
        int r = store_cert_merge(have ? &cur : NULL, &in, &out);
        if (r == -EPERM && ps->run.unrevoke_refused++ < SYNC_LOG_REFUSED_MAX) {
            sync_serial_hex(it->serial, it->serial_len, hex, sizeof(hex));
            log_err("[issuer %s] %s:%u: serial %s is listed as %s, but it was revoked at %s: "
                    "kept revoked (a revocation is never undone; to correct a mistaken one see "
                    "`revokd-indexer --unrevoke`, docs/operations.md)",
                    name, si->sources[k].path, e->origin, hex,
                    e->status == STORE_HOLD ? "on hold" : "valid",
                    sync_fmt_time(cur.revoked_at, b1, sizeof(b1)));
        }
        cur = out;
        have = true;
    }
    if (!have)
        return false;
    cur.listed &= (uint8_t)~it->unlist;
    it->want = cur;
    bool status_changed = !it->has_old || !sync_same_status(&it->old, &cur);
    if (status_changed)
        ps->run.changed++;
    if ((cur.not_after && ps->now > cur.not_after &&
         ps->now - cur.not_after > (int64_t)p->retention) ||
        (it->has_old && cur.listed == 0 && cur.status == STORE_GOOD && it->unlist)) {
        it->remove = it->has_old;
        it->expired = cur.not_after && ps->now > cur.not_after;
        return it->remove;
    }
    it->write = status_changed || !it->has_old || it->old.listed != cur.listed ||
                it->old.not_after != cur.not_after || it->old.source != cur.source;
    if (!ps->can_sign) {
        if (status_changed && it->has_old) {
            it->withdraw = true;
            it->want.signed_tu = 0;
        }
        return it->write || it->withdraw;
    }
    /* Re-signing a response whose nextUpdate is already capped at the signer's notAfter
     * gains nothing: it is not due (or every run would re-sign it). */
    int64_t tu = cur.signed_tu, tu_now, max_next, nu, slack = sync_due_slack(p);
    sync_times(si, &cur, ps->now, p, &tu_now, &max_next);
    nu = tu + (int64_t)p->validity;
    if (nu > si->signer_not_after)
        nu = si->signer_not_after;
    int64_t due = sync_due(it->serial, it->serial_len, tu, p);
    /* A response naming another signer than the configured one is a rotation: it is
     * served with its own signer's certificate until re-signed here, so there is no gap. */
    it->sign = status_changed || tu == 0 || cur.signer != si->signer_id ||
               (cur.status != STORE_GOOD && cur.revoked_at <= ps->now && tu < cur.revoked_at) ||
               (due - slack <= ps->now && nu < max_next);
    if (!it->sign && nu < max_next && (ps->next_due == 0 || due - slack < ps->next_due))
        ps->next_due = due - slack;
    return it->write || it->sign;
}

/* Next serial in key order over the store cursor and every snapshot; fills *it. */
static int sync_next(struct sync_pass *ps, struct sync_item *it, bool *end)
{
    struct sync_issuer *si = ps->si;
    int rc;
    if (!ps->have_cur && !ps->it_done) {
        if (++ps->walked == 65536) {
            /* Keep file-backed RSS to what the walk needs now (store_release_pages()). */
            store_release_pages(ps->store);
            ps->walked = 0;
        }
        rc = store_cert_iter_next(&ps->it, &ps->cur_serial, &ps->cur_len, &ps->cur);
        if (rc < 0)
            return rc;
        ps->have_cur = rc == 1;
        ps->it_done = rc == 0;
    }
    /* The smallest serial among the cursor and the snapshot heads. */
    const uint8_t *min = ps->have_cur ? ps->cur_serial : NULL;
    size_t min_len = ps->have_cur ? ps->cur_len : 0;
    for (size_t k = 0; k < si->n_sources; k++) {
        if (ps->pos[k] >= ps->snap[k].n)
            continue;
        const struct src_entry *e = &ps->snap[k].v[ps->pos[k]];
        if (!min || src_serial_cmp(e->serial, e->serial_len, min, min_len) < 0) {
            min = e->serial;
            min_len = e->serial_len;
        }
    }
    if (!min) {
        *end = true;
        return 0;
    }
    memset(it, 0, offsetof(struct sync_item, der));
    memcpy(it->serial, min, min_len);
    it->serial_len = (uint8_t)min_len;
    if (ps->have_cur && src_serial_cmp(ps->cur_serial, ps->cur_len, min, min_len) == 0) {
        it->has_old = true;
        it->old = ps->cur;
        ps->have_cur = false;
    }
    for (size_t k = 0; k < si->n_sources; k++) {
        const struct src_entry *e = ps->pos[k] < ps->snap[k].n ? &ps->snap[k].v[ps->pos[k]] : NULL;
        if (e && src_serial_cmp(e->serial, e->serial_len, it->serial, it->serial_len) == 0)
            it->stmt[k] = (uint32_t)++ps->pos[k];
        else if (ps->read[k] && ps->complete)
            it->unlist |= STORE_SRC_BIT(si->sources[k].kind);
    }
    if (it->has_old)
        it->unlist &= it->old.listed | (it->old.listed == 0 ? 0xff : 0);
    *end = false;
    return 0;
}

/* Fills a chunk with the next certificates that need work. */
static int sync_fill(struct sync_pass *ps, struct sync_chunk *ch)
{
    ch->n = 0;
    while (ch->n < SYNC_CHUNK) {
        struct sync_item *it = &ch->items[ch->n];
        bool end;
        int rc = sync_next(ps, it, &end);
        if (rc < 0)
            return rc;
        if (end)
            break;
        if (!sync_decide(ps, it))
            continue;
        it->der[0] = ch->arena + (2 * ch->n) * ch->cap;
        it->der[1] = it->der[0] + ch->cap;
        ch->n++;
    }
    return 0;
}

struct sync_sign_job {
    struct sync_pass *ps;
    struct sync_chunk *ch;
};

/* Builds both responses of one item (a signing thread). */
static int sync_sign_item(void *arg, const struct signer *sg, size_t i)
{
    struct sync_sign_job *j = arg;
    struct sync_item *it = &j->ch->items[i];
    struct sync_issuer *si = j->ps->si;
    if (!it->sign)
        return 0;
    sync_times(si, &it->want, j->ps->now, j->ps->p, &it->this_update, &it->next_update);
    for (int h = 0; h < 2; h++) {
        enum store_hash hash = h ? STORE_HASH_SHA256 : STORE_HASH_SHA1;
        struct ocsp_single s = {
            .hash = hash,
            .name_hash = h ? si->hashes.name_sha256 : si->hashes.name_sha1,
            .key_hash = h ? si->hashes.key_sha256 : si->hashes.key_sha1,
            .serial = it->serial,
            .serial_len = it->serial_len,
            .status = (enum store_status)it->want.status,
            .revoked_at = it->want.revoked_at,
            .reason = it->want.reason,
            .this_update = it->this_update,
            .next_update = it->next_update,
        };
        struct derw w;
        derw_init_fixed(&w, it->der[h], j->ch->cap);
        /* Without the signer's certificate: the writer stores it that way anyway. */
        int rc = ocsp_resp_build_head(&w, &s, j->ps->now, sg);
        if (rc < 0)
            return rc;
        it->der_len[h] = w.len;
    }
    return 0;
}

/* Writes one signed chunk in key order, in the open write txn. */
static int sync_write_chunk(struct sync_pass *ps, struct store_txn *t, struct sync_chunk *ch,
                            uint8_t *resp)
{
    struct sync_issuer *si = ps->si;
    for (size_t i = 0; i < ch->n; i++) {
        struct sync_item *it = &ch->items[i];
        int rc;
        if (it->remove) {
            /* Unlisting against what the store holds now: a revocation written since the
             * walk keeps the certificate. */
            for (size_t k = 0; k < si->n_sources; k++) {
                enum store_source src = si->sources[k].kind;
                if (!it->expired && !(it->unlist & STORE_SRC_BIT(src)))
                    continue;
                rc = store_unlist_cert(t, si->id, it->serial, it->serial_len, src, it->expired,
                                       ps->now);
                if (rc < 0 && rc != -ENOENT)
                    return rc;
                if (rc == 1) {
                    ps->run.removed++;
                    break;
                }
            }
            continue;
        }
        /* The statements again, against what the store holds now (revokctl may have
         * written since the walk); the last carries the new signed_tu. */
        struct store_cert c = it->has_old ? it->old : it->want;
        bool wrote = false;
        for (size_t k = 0; k < si->n_sources; k++) {
            if (!it->stmt[k])
                continue;
            sync_cert_from(&c, &ps->snap[k].v[it->stmt[k] - 1], si->sources[k].kind);
            c.signed_tu = it->sign ? (uint32_t)it->this_update : it->want.signed_tu;
            c.signer = it->sign ? si->signer_id : it->want.signer;
            rc = store_put_cert(t, si->id, it->serial, it->serial_len, &c, ps->now);
            if (rc < 0 && rc != -EPERM)
                return rc;
            wrote = true;
        }
        if (!wrote) {
            c = it->want;
            c.signed_tu = it->sign ? (uint32_t)it->this_update : it->want.signed_tu;
            c.signer = it->sign ? si->signer_id : it->want.signer;
            if ((rc = store_put_cert(t, si->id, it->serial, it->serial_len, &c, ps->now)) < 0 &&
                rc != -EPERM)
                return rc;
        }
        for (size_t k = 0; k < si->n_sources; k++) {
            uint8_t bit = STORE_SRC_BIT(si->sources[k].kind);
            if ((it->unlist & bit) &&
                (rc = store_unlist_cert(t, si->id, it->serial, it->serial_len, si->sources[k].kind,
                                        false, ps->now)) < 0)
                return rc;
        }
        if (it->withdraw) {
            if ((rc = sync_withdraw_cert(si, t, it->serial, it->serial_len)) < 0)
                return rc;
            ps->run.withdrawn++;
            continue;
        }
        if (!it->sign)
            continue;
        if (!sync_same_status(&c, &it->want)) {
            /* Another writer changed it since the walk: sign what the store holds. */
            if ((rc = sync_sign_cert(si, t, it->serial, it->serial_len, &c, ps->now, ps->p, resp)) <
                0)
                return rc;
            c.signed_tu = 0; /* the next pass checks it again */
            rc = store_put_cert(t, si->id, it->serial, it->serial_len, &c, ps->now);
            if (rc < 0 && rc != -EPERM)
                return rc;
        } else {
            for (int h = 0; h < 2; h++) {
                enum store_hash hash = h ? STORE_HASH_SHA256 : STORE_HASH_SHA1;
                rc = store_put_response_head(
                    t, hash, h ? si->hashes.name_sha256 : si->hashes.name_sha1,
                    h ? si->hashes.key_sha256 : si->hashes.key_sha1, it->serial, it->serial_len,
                    it->this_update, it->next_update, ps->now, it->der[h], it->der_len[h],
                    si->signer_id);
                if (rc < 0)
                    return rc;
            }
            int64_t due = sync_due(it->serial, it->serial_len, it->this_update, ps->p) -
                          sync_due_slack(ps->p);
            if (ps->next_due == 0 || due < ps->next_due)
                ps->next_due = due;
        }
        ps->run.signed_ += 2;
    }
    return 0;
}

static void sync_pass_free(struct sync_pass *ps)
{
    store_cert_iter_close(&ps->it);
    for (size_t k = 0; k < SYNC_SOURCES_MAX; k++)
        src_snapshot_free(&ps->snap[k]);
    for (int i = 0; i < 2; i++) {
        free(ps->ch[i].items);
        free(ps->ch[i].arena);
    }
}

static int64_t sync_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int sync_issuer_run(struct sync_issuer *si, struct store *store, const struct sync_params *p,
                    int64_t now, int force, struct sync_stats *st)
{
    const char *name = si->conf->name;
    struct store_txn t = {0}, rt = {0};
    struct sync_pass *ps = NULL;
    struct presign_pool *pool = NULL;
    uint8_t *resp = NULL;
    struct stat sb[SYNC_SOURCES_MAX];
    bool changed = false;
    int rc;

    sync_check_signer(si, now, p);
    st->signer_problem = si->signer_problem;
    for (size_t k = 0; k < si->n_sources; k++) {
        struct sync_source *s = &si->sources[k];
        if (stat(s->path, &sb[k]) < 0) {
            rc = -errno;
            log_err("[issuer %s] source %s: %s", name, s->path, strerror(errno));
            /* Read the source again when it is back, even unchanged (a directory moved
             * away and back): only a read can clear the failure just recorded. */
            s->size = -1;
            sync_record_failure(si, store, now, rc);
            return rc;
        }
        int64_t mtime_ns = (int64_t)sb[k].st_mtim.tv_sec * 1000000000 + sb[k].st_mtim.tv_nsec;
        if (s->read_always || sb[k].st_dev != s->dev || sb[k].st_ino != s->ino ||
            sb[k].st_size != s->size || mtime_ns != s->mtime_ns)
            changed = true;
    }
    bool refresh_due = si->next_due == 0 || (si->signer_problem == 0 && now >= si->next_due);
    bool recheck_due = si->recheck_at != 0 && now >= si->recheck_at;
    if (!force && !changed && !refresh_due && !recheck_due) {
        /* Nothing to read; only the signer's state can have changed. */
        struct store_issuer_sync h = si->last_sync;
        h.signer_problem = si->signer_problem;
        if ((rc = sync_write_health(si, store, NULL, &h)) < 0)
            log_err("[issuer %s] cannot record sync health in the store: %s", name, strerror(-rc));
        return 0;
    }
    bool read_sources = force || changed || recheck_due || !si->sync_written;

    int64_t t0 = sync_mono_us(), t_read = 0, t_walk = 0;
    if (!(ps = calloc(1, sizeof(*ps))) || !(resp = malloc(SYNC_RESP_MAX))) {
        rc = -ENOMEM;
        goto fail;
    }
    ps->si = si;
    ps->store = store;
    ps->p = p;
    ps->now = now;
    ps->can_sign = si->signer_problem == 0 && !p->no_sign;
    ps->run.signer_problem = si->signer_problem;
    ps->complete = read_sources;
    if (read_sources) {
        si->recheck_at = 0;
        for (size_t k = 0; k < si->n_sources; k++) {
            struct sync_source *s = &si->sources[k];
            src_snapshot_init(&ps->snap[k], s->kind);
            if ((rc = s->read(si, s, now, &ps->snap[k])) < 0) {
                /* The whole issuer keeps its last good state (fail closed); the
                 * reader logged what it found wrong. */
                log_err("[issuer %s] source %s: %s: nothing applied, the previous state stays",
                        name, s->path, strerror(-rc));
                s->size = -1;
                goto fail;
            }
            src_snapshot_sort(&ps->snap[k]);
            sync_dedupe(&ps->snap[k]);
            ps->read[k] = true;
            ps->run.entries += ps->snap[k].n;
            ps->run.malformed += ps->snap[k].malformed;
            /* A line that could not be read may name a certificate the store holds:
             * nothing is unlisted until the source is read whole. */
            if (ps->snap[k].malformed)
                ps->complete = false;
        }
    }
    t_read = sync_mono_us() - t0;
    for (int i = 0; i < 2; i++) {
        /* Responses are built without the signer's certificate (the store keeps it
         * once): ~1.4 MB per chunk for ECDSA P-256, which stays in cache. */
        ps->ch[i].cap = ocsp_resp_head_max(&si->signer);
        if (!(ps->ch[i].items = calloc(SYNC_CHUNK, sizeof(struct sync_item))) ||
            !(ps->ch[i].arena = malloc(2 * SYNC_CHUNK * ps->ch[i].cap))) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    if (ps->can_sign &&
        (rc = presign_start(&pool, &si->signer, p->sign_threads ? p->sign_threads : 1)) < 0)
        goto fail;
    /* The walk reads a snapshot of the store; the writer's txn sees what it wrote. */
    if ((rc = store_txn_begin(store, &rt, true)) < 0 ||
        (rc = store_cert_iter_open(&rt, si->id, &ps->it)) < 0 ||
        (rc = store_txn_begin(store, &t, false)) < 0)
        goto fail_store;

    struct sync_sign_job jobs[2] = {{ps, &ps->ch[0]}, {ps, &ps->ch[1]}};
    int cur = 0;
    uint32_t in_batch = 0;
    if ((rc = sync_fill(ps, &ps->ch[cur])) < 0)
        goto fail_store;
    if (pool)
        presign_submit(pool, sync_sign_item, &jobs[cur], ps->ch[cur].n);
    while (ps->ch[cur].n) {
        int nxt = cur ^ 1;
        int64_t w0 = sync_mono_us();
        rc = sync_fill(ps, &ps->ch[nxt]); /* walk on while the threads sign */
        t_walk += sync_mono_us() - w0;
        int src = pool ? presign_wait(pool) : 0;
        if (rc < 0)
            goto fail_store;
        if ((rc = src) < 0) {
            log_err("[issuer %s] signing failed: %s", name, strerror(-rc));
            goto fail_store;
        }
        if (pool && ps->ch[nxt].n)
            presign_submit(pool, sync_sign_item, &jobs[nxt], ps->ch[nxt].n);
        if ((rc = sync_write_chunk(ps, &t, &ps->ch[cur], resp)) < 0)
            goto fail_wait;
        in_batch += (uint32_t)ps->ch[cur].n;
        if (in_batch >= p->batch) {
            /* Commit in batches: readers see progress, and a crash loses one batch at most. */
            if ((rc = store_txn_commit(&t)) < 0 || (rc = store_txn_begin(store, &t, false)) < 0)
                goto fail_wait;
            in_batch = 0;
        }
        cur = nxt;
    }
    if (ps->run.unrevoke_refused > SYNC_LOG_REFUSED_MAX)
        log_err("[issuer %s] ... and %llu more certificates listed as not revoked kept revoked",
                name, (unsigned long long)(ps->run.unrevoke_refused - SYNC_LOG_REFUSED_MAX));

    struct sync_stats run = ps->run;
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
    if (!read_sources) {
        /* A refresh-only pass read no source: the last read's findings stand. */
        h = si->last_sync;
        h.signer_problem = si->signer_problem;
    }
    /* synced_at marks the last complete sync: crlgen publishes only after one. */
    if ((read_sources && !doubtful && (rc = store_set_issuer_synced(&t, si->id, now)) < 0) ||
        (rc = sync_write_health(si, store, &t, &h)) < 0 || (rc = store_txn_commit(&t)) < 0)
        goto fail_store;
    store_txn_abort(&rt);
    si->last_sync = h;
    si->sync_written = true;
    si->next_due = ps->next_due ? ps->next_due : now + (int64_t)p->validity / 2;
    for (size_t k = 0; read_sources && k < si->n_sources; k++) {
        struct sync_source *s = &si->sources[k];
        s->dev = sb[k].st_dev;
        s->ino = sb[k].st_ino;
        s->size = sb[k].st_size;
        s->mtime_ns = (int64_t)sb[k].st_mtim.tv_sec * 1000000000 + sb[k].st_mtim.tv_nsec;
    }
    log_debug("[issuer %s] sync: read+sort %.3f s, walk %.3f s, total %.3f s", name,
              (double)t_read / 1e6, (double)t_walk / 1e6, (double)(sync_mono_us() - t0) / 1e6);
    st->entries += run.entries;
    st->malformed += run.malformed;
    st->doubtful += run.doubtful;
    st->changed += run.changed;
    st->signed_ += run.signed_;
    st->unrevoke_refused += run.unrevoke_refused;
    st->withdrawn += run.withdrawn;
    st->removed += run.removed;
    presign_stop(pool);
    sync_pass_free(ps);
    free(ps);
    free(resp);
    return 0;

fail_wait:
    if (pool)
        presign_wait(pool);
fail_store:
    log_err("[issuer %s] store [store] path: %s", name, strerror(-rc));
fail:
    store_txn_abort(&t);
    store_txn_abort(&rt);
    presign_stop(pool);
    /* Whatever committed in earlier batches stays; the next run redoes the rest. */
    si->next_due = 0;
    sync_record_failure(si, store, now, rc);
    if (ps) {
        sync_pass_free(ps);
        free(ps);
    }
    free(resp);
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
    /* index.txt whole: the one certificate may be on any line (1M lines: ~100 MB). */
    if ((rc = src_read_file(path, (size_t)1 << 32, (uint8_t **)&buf, &len, &sb)) < 0) {
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
