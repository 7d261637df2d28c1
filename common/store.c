/*
 * store — the LMDB environment behind revokd, with the schema of store.h. Keys
 * are built big-endian on the stack; values are fixed structs plus trailing
 * bytes. The responder opens the environment read-only and keeps one read
 * transaction that it resets and renews per batch, so a lookup is a B-tree walk
 * in a memory map with no allocation and no system call. Readers survive the
 * writer growing the map by adopting the new size (MDB_MAP_RESIZED).
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>
#include <openssl/sha.h>

enum store_db {
    DB_META,
    DB_ISSUERS,
    DB_ISSUER_HASH,
    DB_CERTS,
    DB_REVOKED,
    DB_RESPONSES,
    DB_CHANGES,
    DB_CRLS,
    DB_COUNT
};

static const char *const store_db_names[DB_COUNT] = {
    "meta", "issuers", "issuer_hash", "certs", "revoked", "responses", "changes", "crls",
};

struct store {
    MDB_env *env;
    MDB_dbi dbi[DB_COUNT];
    bool rdonly;
};

/* Largest key: hash byte + two SHA-256 hashes + serial. */
#define STORE_KEY_MAX (1 + 2 * STORE_HASH_MAX + STORE_SERIAL_MAX)

static int store_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_NOTFOUND:
        return -ENOENT;
    case MDB_MAP_FULL:
        return -ENOSPC;
    case MDB_KEYEXIST:
        return -EEXIST;
    case MDB_VERSION_MISMATCH:
    case MDB_INVALID:
        return -EPROTO;
    default:
        return rc > 0 && rc < 4096 ? -rc : -EIO;
    }
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t rd_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void be64(uint8_t *p, uint64_t v)
{
    be32(p, (uint32_t)(v >> 32));
    be32(p + 4, (uint32_t)v);
}

static uint64_t rd_be64(const uint8_t *p)
{
    return (uint64_t)rd_be32(p) << 32 | rd_be32(p + 4);
}

size_t store_hash_len(enum store_hash hash)
{
    switch (hash) {
    case STORE_HASH_SHA1:
        return 20;
    case STORE_HASH_SHA256:
        return 32;
    }
    return 0;
}

/*
 * The HTTP validator of stored bytes (RFC 9110 8.8.3, RFC 5019 6.2): computed once
 * when they are written, so equal ETags mean equal bytes and serving costs nothing.
 */
static void store_etag(const uint8_t *der, size_t len, uint8_t out[STORE_ETAG_LEN])
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256(der, len, md);
    memcpy(out, md, STORE_ETAG_LEN);
}

static MDB_txn *TX(struct store_txn *t)
{
    return (MDB_txn *)t->txn;
}

int store_open(struct store **out, const char *path, uint64_t map_size, unsigned flags)
{
    struct store *s = calloc(1, sizeof(*s));
    MDB_txn *txn = NULL;
    int rc;
    if (!s)
        return -ENOMEM;
    s->rdonly = flags & STORE_RDONLY;
    if (!s->rdonly && mkdir(path, 0755) < 0 && errno != EEXIST) {
        rc = -errno;
        goto fail;
    }
    if ((rc = store_err(mdb_env_create(&s->env))) < 0)
        goto fail;
    if ((rc = store_err(mdb_env_set_maxdbs(s->env, DB_COUNT))) < 0)
        goto fail;
    /* Readers adopt whatever size the writer set; only the writer sizes the map. */
    if (!s->rdonly && (rc = store_err(mdb_env_set_mapsize(s->env, (size_t)map_size))) < 0)
        goto fail;
    /* Many readers (responder workers) plus one indexer and crlgen. */
    if ((rc = store_err(mdb_env_set_maxreaders(s->env, 1024))) < 0)
        goto fail;
    /* MDB_NOTLS: read txns are tied to our struct, not the thread, so reset/renew is free. */
    unsigned eflags = MDB_NOTLS | (s->rdonly ? MDB_RDONLY : 0);
    if ((rc = store_err(mdb_env_open(s->env, path, eflags, 0644))) < 0)
        goto fail;
    if ((rc = store_err(mdb_txn_begin(s->env, NULL, s->rdonly ? MDB_RDONLY : 0, &txn))) < 0)
        goto fail;
    for (int i = 0; i < DB_COUNT; i++) {
        rc =
            store_err(mdb_dbi_open(txn, store_db_names[i], s->rdonly ? 0 : MDB_CREATE, &s->dbi[i]));
        if (rc < 0)
            goto fail;
    }
    MDB_val k = {6, (void *)"schema"}, v;
    rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
    if (rc == MDB_NOTFOUND && !s->rdonly) {
        uint32_t ver = STORE_SCHEMA_VERSION;
        v.mv_size = sizeof(ver);
        v.mv_data = &ver;
        if ((rc = store_err(mdb_put(txn, s->dbi[DB_META], &k, &v, 0))) < 0)
            goto fail;
    } else if (rc != MDB_SUCCESS) {
        rc = rc == MDB_NOTFOUND ? -EPROTO : store_err(rc);
        goto fail;
    } else {
        uint32_t ver;
        if (v.mv_size != sizeof(ver))
            goto bad_version;
        memcpy(&ver, v.mv_data, sizeof(ver));
        if (ver != STORE_SCHEMA_VERSION)
            goto bad_version;
    }
    rc = store_err(mdb_txn_commit(txn));
    txn = NULL;
    if (rc < 0)
        goto fail;
    *out = s;
    return 0;
bad_version:
    rc = -EPROTO;
fail:
    if (txn)
        mdb_txn_abort(txn);
    if (s->env)
        mdb_env_close(s->env);
    free(s);
    return rc;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    mdb_env_close(s->env);
    free(s);
}

int store_txn_begin(struct store *s, struct store_txn *t, bool rdonly)
{
    MDB_txn *txn;
    memset(t, 0, sizeof(*t));
    int rc = mdb_txn_begin(s->env, NULL, rdonly ? MDB_RDONLY : 0, &txn);
    if (rc == MDB_MAP_RESIZED) {
        mdb_env_set_mapsize(s->env, 0);
        rc = mdb_txn_begin(s->env, NULL, rdonly ? MDB_RDONLY : 0, &txn);
    }
    if (rc)
        return store_err(rc);
    t->s = s;
    t->txn = txn;
    t->rdonly = rdonly;
    return 0;
}

int store_txn_commit(struct store_txn *t)
{
    int rc = mdb_txn_commit(TX(t));
    t->txn = NULL;
    return store_err(rc);
}

void store_txn_abort(struct store_txn *t)
{
    if (t->txn)
        mdb_txn_abort(TX(t));
    t->txn = NULL;
}

void store_txn_reset(struct store_txn *t)
{
    mdb_txn_reset(TX(t));
}

int store_txn_renew(struct store_txn *t)
{
    int rc = mdb_txn_renew(TX(t));
    if (rc == MDB_MAP_RESIZED) {
        /* The writer grew the map: adopt the new size, then take a fresh txn. */
        mdb_txn_abort(TX(t));
        t->txn = NULL;
        mdb_env_set_mapsize(t->s->env, 0);
        MDB_txn *txn;
        rc = mdb_txn_begin(t->s->env, NULL, MDB_RDONLY, &txn);
        if (rc == 0)
            t->txn = txn;
    }
    return store_err(rc);
}

static size_t store_resp_key(uint8_t *key, enum store_hash hash, const uint8_t *name_hash,
                             const uint8_t *key_hash, const uint8_t *serial, size_t serial_len)
{
    size_t hl = store_hash_len(hash);
    key[0] = (uint8_t)hash;
    memcpy(key + 1, name_hash, hl);
    memcpy(key + 1 + hl, key_hash, hl);
    memcpy(key + 1 + 2 * hl, serial, serial_len);
    return 1 + 2 * hl + serial_len;
}

int store_get_response(struct store_txn *t, enum store_hash hash, const uint8_t *name_hash,
                       const uint8_t *key_hash, const uint8_t *serial, size_t serial_len,
                       struct store_resp *out)
{
    uint8_t key[STORE_KEY_MAX];
    if (store_hash_len(hash) == 0 || serial_len == 0 || serial_len > STORE_SERIAL_MAX)
        return -ENOENT;
    MDB_val k = {store_resp_key(key, hash, name_hash, key_hash, serial, serial_len), key}, v;
    int rc = mdb_get(TX(t), t->s->dbi[DB_RESPONSES], &k, &v);
    if (rc)
        return store_err(rc);
    const struct store_resp_hdr *h = v.mv_data;
    if (v.mv_size < sizeof(*h) || h->der_len != v.mv_size - sizeof(*h))
        return -EPROTO;
    out->hdr = h;
    out->der = (const uint8_t *)v.mv_data + sizeof(*h);
    out->der_len = h->der_len;
    return 0;
}

int store_put_response(struct store_txn *t, enum store_hash hash, const uint8_t *name_hash,
                       const uint8_t *key_hash, const uint8_t *serial, size_t serial_len,
                       int64_t this_update, int64_t next_update, int64_t produced_at,
                       const uint8_t *der, size_t der_len)
{
    uint8_t key[STORE_KEY_MAX];
    if (store_hash_len(hash) == 0 || serial_len == 0 || serial_len > STORE_SERIAL_MAX ||
        der_len > UINT32_MAX)
        return -EINVAL;
    MDB_val k = {store_resp_key(key, hash, name_hash, key_hash, serial, serial_len), key};
    MDB_val v = {sizeof(struct store_resp_hdr) + der_len, NULL};
    /* MDB_RESERVE: LMDB hands us the space in the map, saving a copy. */
    int rc = mdb_put(TX(t), t->s->dbi[DB_RESPONSES], &k, &v, MDB_RESERVE);
    if (rc)
        return store_err(rc);
    struct store_resp_hdr h = {.version = 1,
                               .der_len = (uint32_t)der_len,
                               .this_update = this_update,
                               .next_update = next_update,
                               .produced_at = produced_at};
    store_etag(der, der_len, h.etag);
    memcpy(v.mv_data, &h, sizeof(h));
    memcpy((uint8_t *)v.mv_data + sizeof(h), der, der_len);
    return 0;
}

int store_del_response(struct store_txn *t, enum store_hash hash, const uint8_t *name_hash,
                       const uint8_t *key_hash, const uint8_t *serial, size_t serial_len)
{
    uint8_t key[STORE_KEY_MAX];
    if (store_hash_len(hash) == 0 || serial_len == 0 || serial_len > STORE_SERIAL_MAX)
        return -EINVAL;
    MDB_val k = {store_resp_key(key, hash, name_hash, key_hash, serial, serial_len), key};
    int rc = mdb_del(TX(t), t->s->dbi[DB_RESPONSES], &k, NULL);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc ? store_err(rc) : 0;
}

/* ---- issuers ---- */

static int store_issuer_value(MDB_val *v, const struct store_issuer_rec **rec, const uint8_t **cert)
{
    const struct store_issuer_rec *r = v->mv_data;
    if (v->mv_size < sizeof(*r) || r->cert_len != v->mv_size - sizeof(*r))
        return -EPROTO;
    *rec = r;
    if (cert)
        *cert = (const uint8_t *)v->mv_data + sizeof(*r);
    return 0;
}

int store_get_issuer(struct store_txn *t, uint32_t id, const struct store_issuer_rec **rec,
                     const uint8_t **cert)
{
    uint8_t key[4];
    be32(key, id);
    MDB_val k = {4, key}, v;
    int rc = mdb_get(TX(t), t->s->dbi[DB_ISSUERS], &k, &v);
    if (rc)
        return store_err(rc);
    return store_issuer_value(&v, rec, cert);
}

struct find_name {
    const char *name;
    const struct store_issuer_rec *rec;
    const uint8_t *cert;
};

static int store_find_name_cb(void *arg, const struct store_issuer_rec *rec, const uint8_t *cert)
{
    struct find_name *f = arg;
    if (strncmp(rec->name, f->name, STORE_NAME_MAX) != 0)
        return 0;
    f->rec = rec;
    f->cert = cert;
    return 1;
}

int store_get_issuer_by_name(struct store_txn *t, const char *name,
                             const struct store_issuer_rec **rec, const uint8_t **cert)
{
    struct find_name f = {.name = name};
    int rc = store_issuer_foreach(t, store_find_name_cb, &f);
    if (rc < 0)
        return rc;
    if (!f.rec)
        return -ENOENT;
    *rec = f.rec;
    if (cert)
        *cert = f.cert;
    return 0;
}

int store_issuer_foreach(struct store_txn *t,
                         int (*fn)(void *arg, const struct store_issuer_rec *rec,
                                   const uint8_t *cert),
                         void *arg)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc = mdb_cursor_open(TX(t), t->s->dbi[DB_ISSUERS], &c);
    if (rc)
        return store_err(rc);
    int ret = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const struct store_issuer_rec *rec;
        const uint8_t *cert;
        if ((ret = store_issuer_value(&v, &rec, &cert)) < 0)
            break;
        if ((ret = fn(arg, rec, cert)) != 0)
            break;
    }
    mdb_cursor_close(c);
    if (ret)
        return ret;
    return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

static size_t store_ihash_key(uint8_t *key, enum store_hash hash, const uint8_t *nh,
                              const uint8_t *kh)
{
    size_t hl = store_hash_len(hash);
    key[0] = (uint8_t)hash;
    memcpy(key + 1, nh, hl);
    memcpy(key + 1 + hl, kh, hl);
    return 1 + 2 * hl;
}

int store_issuer_by_hash(struct store_txn *t, enum store_hash hash, const uint8_t *name_hash,
                         const uint8_t *key_hash, uint32_t *id_out)
{
    uint8_t key[1 + 2 * STORE_HASH_MAX];
    if (store_hash_len(hash) == 0)
        return -ENOENT;
    MDB_val k = {store_ihash_key(key, hash, name_hash, key_hash), key}, v;
    int rc = mdb_get(TX(t), t->s->dbi[DB_ISSUER_HASH], &k, &v);
    if (rc)
        return store_err(rc);
    if (v.mv_size != 4)
        return -EPROTO;
    *id_out = rd_be32(v.mv_data);
    return 0;
}

static int store_put_issuer_hashes(struct store_txn *t, const struct store_issuer_rec *r,
                                   uint32_t id)
{
    uint8_t key[1 + 2 * STORE_HASH_MAX], val[4];
    be32(val, id);
    MDB_val k = {store_ihash_key(key, STORE_HASH_SHA1, r->name_sha1, r->key_sha1), key};
    MDB_val v = {4, val};
    int rc = mdb_put(TX(t), t->s->dbi[DB_ISSUER_HASH], &k, &v, 0);
    if (rc)
        return store_err(rc);
    k.mv_size = store_ihash_key(key, STORE_HASH_SHA256, r->name_sha256, r->key_sha256);
    v.mv_size = 4;
    v.mv_data = val;
    return store_err(mdb_put(TX(t), t->s->dbi[DB_ISSUER_HASH], &k, &v, 0));
}

static int store_write_issuer(struct store_txn *t, const struct store_issuer_rec *rec,
                              const uint8_t *cert_der, size_t cert_len)
{
    uint8_t key[4];
    be32(key, rec->id);
    MDB_val k = {4, key}, v = {sizeof(*rec) + cert_len, NULL};
    int rc = mdb_put(TX(t), t->s->dbi[DB_ISSUERS], &k, &v, MDB_RESERVE);
    if (rc)
        return store_err(rc);
    memcpy(v.mv_data, rec, sizeof(*rec));
    memcpy((uint8_t *)v.mv_data + sizeof(*rec), cert_der, cert_len);
    return 0;
}

int store_put_issuer(struct store_txn *t, const struct store_issuer_rec *rec,
                     const uint8_t *cert_der, size_t cert_len, uint32_t *id_out)
{
    struct store_issuer_rec r = *rec;
    const struct store_issuer_rec *old;
    const uint8_t *old_cert;
    if (cert_len > UINT32_MAX || memchr(rec->name, 0, STORE_NAME_MAX) == NULL)
        return -EINVAL;
    r.cert_len = (uint32_t)cert_len;
    int rc = store_get_issuer_by_name(t, rec->name, &old, &old_cert);
    if (rc == 0) {
        r.id = old->id;
        r.crl_number = old->crl_number;
        r.crl_seq = old->crl_seq;
        r.synced_at = old->synced_at;
        r.sync = old->sync;
        r.crlstat = old->crlstat;
        r.expiry = old->expiry;
        if (old->cert_len == cert_len && memcmp(old_cert, cert_der, cert_len) == 0 &&
            memcmp(old->name_sha1, r.name_sha1, sizeof(r.name_sha1)) == 0) {
            *id_out = r.id; /* unchanged: no write, no dirty page */
            return 0;
        }
    } else if (rc == -ENOENT) {
        MDB_cursor *c;
        MDB_val k, v;
        if ((rc = store_err(mdb_cursor_open(TX(t), t->s->dbi[DB_ISSUERS], &c))) < 0)
            return rc;
        rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
        mdb_cursor_close(c);
        if (rc == MDB_SUCCESS)
            r.id = rd_be32(k.mv_data) + 1;
        else if (rc == MDB_NOTFOUND)
            r.id = 1;
        else
            return store_err(rc);
    } else {
        return rc;
    }
    if ((rc = store_write_issuer(t, &r, cert_der, cert_len)) < 0 ||
        (rc = store_put_issuer_hashes(t, &r, r.id)) < 0)
        return rc;
    *id_out = r.id;
    return 0;
}

/* Rewrites an issuer record with one field group changed by fn. */
static int store_update_issuer(struct store_txn *t, uint32_t id,
                               void (*fn)(struct store_issuer_rec *r, const void *arg),
                               const void *arg)
{
    const struct store_issuer_rec *old;
    const uint8_t *cert;
    int rc = store_get_issuer(t, id, &old, &cert);
    if (rc < 0)
        return rc;
    struct store_issuer_rec r = *old;
    size_t cert_len = old->cert_len;
    /* The old value lives in the map and mdb_put may reuse its page: copy the cert. */
    uint8_t *copy = malloc(cert_len ? cert_len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, cert, cert_len);
    fn(&r, arg);
    rc = store_write_issuer(t, &r, copy, cert_len);
    free(copy);
    return rc;
}

struct crl_fields {
    uint64_t number, seq;
};

static void store_set_crl_fn(struct store_issuer_rec *r, const void *arg)
{
    const struct crl_fields *f = arg;
    r->crl_number = f->number;
    r->crl_seq = f->seq;
}

int store_set_issuer_crl(struct store_txn *t, uint32_t id, uint64_t crl_number, uint64_t crl_seq)
{
    struct crl_fields f = {crl_number, crl_seq};
    return store_update_issuer(t, id, store_set_crl_fn, &f);
}

static void store_set_synced_fn(struct store_issuer_rec *r, const void *arg)
{
    r->synced_at = *(const int64_t *)arg;
}

int store_set_issuer_synced(struct store_txn *t, uint32_t id, int64_t at)
{
    return store_update_issuer(t, id, store_set_synced_fn, &at);
}

static void store_set_sync_fn(struct store_issuer_rec *r, const void *arg)
{
    memcpy(&r->sync, arg, sizeof(r->sync));
}

int store_set_issuer_sync(struct store_txn *t, uint32_t id, const struct store_issuer_sync *s)
{
    return store_update_issuer(t, id, store_set_sync_fn, s);
}

static void store_set_crlstat_fn(struct store_issuer_rec *r, const void *arg)
{
    memcpy(&r->crlstat, arg, sizeof(r->crlstat));
}

int store_set_issuer_crlstat(struct store_txn *t, uint32_t id, const struct store_issuer_crlstat *s)
{
    return store_update_issuer(t, id, store_set_crlstat_fn, s);
}

static void store_set_expiry_fn(struct store_issuer_rec *r, const void *arg)
{
    memcpy(&r->expiry, arg, sizeof(r->expiry));
}

int store_set_issuer_expiry(struct store_txn *t, uint32_t id, const struct store_issuer_expiry *e)
{
    return store_update_issuer(t, id, store_set_expiry_fn, e);
}

bool store_issuer_healthy(const struct store_issuer_rec *rec)
{
    struct store_issuer_sync s;
    struct store_issuer_crlstat c;
    memcpy(&s, &rec->sync, sizeof(s));
    memcpy(&c, &rec->crlstat, sizeof(c));
    return s.failed_at == 0 && s.unrevoke_refused == 0 && s.signer_problem == 0 && c.failed_at == 0;
}

/* ---- certificates and the change log ---- */

static size_t store_cert_key(uint8_t *key, uint32_t issuer_id, const uint8_t *serial,
                             size_t serial_len)
{
    be32(key, issuer_id);
    memcpy(key + 4, serial, serial_len);
    return 4 + serial_len;
}

int store_get_cert(struct store_txn *t, uint32_t issuer_id, const uint8_t *serial,
                   size_t serial_len, struct store_cert *out)
{
    uint8_t key[4 + STORE_SERIAL_MAX];
    if (serial_len == 0 || serial_len > STORE_SERIAL_MAX)
        return -ENOENT;
    MDB_val k = {store_cert_key(key, issuer_id, serial, serial_len), key}, v;
    int rc = mdb_get(TX(t), t->s->dbi[DB_CERTS], &k, &v);
    if (rc)
        return store_err(rc);
    if (v.mv_size != sizeof(*out))
        return -EPROTO;
    memcpy(out, v.mv_data, sizeof(*out));
    return 0;
}

int store_last_seq(struct store_txn *t, uint64_t *seq)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc = mdb_cursor_open(TX(t), t->s->dbi[DB_CHANGES], &c);
    if (rc)
        return store_err(rc);
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) {
        *seq = 0;
        return 0;
    }
    if (rc)
        return store_err(rc);
    if (k.mv_size != 8)
        return -EPROTO;
    *seq = rd_be64(k.mv_data);
    return 0;
}

static int store_append_change(struct store_txn *t, uint32_t issuer_id, const uint8_t *serial,
                               size_t serial_len, uint8_t old_status, const struct store_cert *c,
                               int64_t now, uint64_t *seq_out)
{
    if (t->next_seq == 0) {
        uint64_t last;
        int rc = store_last_seq(t, &last);
        if (rc < 0)
            return rc;
        t->next_seq = last + 1;
    }
    uint8_t key[8];
    be64(key, t->next_seq);
    struct store_change_hdr h = {.issuer_id = issuer_id,
                                 .old_status = old_status,
                                 .new_status = c->status,
                                 .reason = c->reason,
                                 .serial_len = (uint8_t)serial_len,
                                 .at = now};
    MDB_val k = {8, key}, v = {sizeof(h) + serial_len, NULL};
    /* MDB_APPEND: seqs only grow, so LMDB can skip the search and fill pages fully. */
    int rc = mdb_put(TX(t), t->s->dbi[DB_CHANGES], &k, &v, MDB_RESERVE | MDB_APPEND);
    if (rc)
        return store_err(rc);
    memcpy(v.mv_data, &h, sizeof(h));
    memcpy((uint8_t *)v.mv_data + sizeof(h), serial, serial_len);
    *seq_out = t->next_seq++;
    return 0;
}

static int store_write_cert(struct store_txn *t, uint32_t issuer_id, const uint8_t *serial,
                            size_t serial_len, struct store_cert *c, int64_t now, bool guard)
{
    uint8_t key[4 + STORE_SERIAL_MAX];
    struct store_cert old;
    if (serial_len == 0 || serial_len > STORE_SERIAL_MAX)
        return -EINVAL;
    int rc = store_get_cert(t, issuer_id, serial, serial_len, &old);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    bool is_new = rc == -ENOENT;
    if (guard && !is_new && old.status == STORE_REVOKED && c->status != STORE_REVOKED) {
        *c = old;
        return -EPERM;
    }
    bool changed = is_new || old.status != c->status || old.reason != c->reason ||
                   old.revoked_at != c->revoked_at || old.invalidity != c->invalidity;
    if (!changed && old.not_after == c->not_after && old.source == c->source) {
        c->seq = old.seq;
        return 0;
    }
    if (changed) {
        uint64_t seq;
        rc = store_append_change(t, issuer_id, serial, serial_len, is_new ? 0xff : old.status, c,
                                 now, &seq);
        if (rc < 0)
            return rc;
        c->seq = seq;
    } else {
        c->seq = old.seq;
    }
    MDB_val k = {store_cert_key(key, issuer_id, serial, serial_len), key};
    MDB_val v = {sizeof(*c), c};
    if ((rc = mdb_put(TX(t), t->s->dbi[DB_CERTS], &k, &v, 0)))
        return store_err(rc);
    v.mv_size = sizeof(*c);
    v.mv_data = c;
    if (c->status != STORE_GOOD)
        rc = mdb_put(TX(t), t->s->dbi[DB_REVOKED], &k, &v, 0);
    else if (!is_new && old.status != STORE_GOOD)
        rc = mdb_del(TX(t), t->s->dbi[DB_REVOKED], &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return store_err(rc);
    return changed ? 1 : 0;
}

int store_put_cert(struct store_txn *t, uint32_t issuer_id, const uint8_t *serial,
                   size_t serial_len, struct store_cert *c, int64_t now)
{
    return store_write_cert(t, issuer_id, serial, serial_len, c, now, true);
}

int store_correct_cert(struct store_txn *t, uint32_t issuer_id, const uint8_t *serial,
                       size_t serial_len, struct store_cert *c, int64_t now)
{
    return store_write_cert(t, issuer_id, serial, serial_len, c, now, false);
}

int store_cert_foreach(struct store_txn *t, uint32_t issuer_id, bool revoked_only,
                       int (*fn)(void *arg, const uint8_t *serial, size_t serial_len,
                                 const struct store_cert *c),
                       void *arg)
{
    MDB_cursor *cur;
    uint8_t prefix[4];
    be32(prefix, issuer_id);
    MDB_val k = {4, prefix}, v;
    int rc = mdb_cursor_open(TX(t), t->s->dbi[revoked_only ? DB_REVOKED : DB_CERTS], &cur);
    if (rc)
        return store_err(rc);
    int ret = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size <= 4 || memcmp(k.mv_data, prefix, 4) != 0)
            break;
        if (v.mv_size != sizeof(struct store_cert)) {
            ret = -EPROTO;
            break;
        }
        struct store_cert c;
        memcpy(&c, v.mv_data, sizeof(c));
        if ((ret = fn(arg, (const uint8_t *)k.mv_data + 4, k.mv_size - 4, &c)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (ret)
        return ret;
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

int store_changes_foreach(struct store_txn *t, uint64_t after,
                          int (*fn)(void *arg, uint64_t seq, const struct store_change_hdr *h,
                                    const uint8_t *serial),
                          void *arg)
{
    MDB_cursor *cur;
    uint8_t key[8];
    be64(key, after + 1);
    MDB_val k = {8, key}, v;
    int rc = mdb_cursor_open(TX(t), t->s->dbi[DB_CHANGES], &cur);
    if (rc)
        return store_err(rc);
    int ret = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const struct store_change_hdr *h = v.mv_data;
        if (k.mv_size != 8 || v.mv_size < sizeof(*h) || v.mv_size != sizeof(*h) + h->serial_len) {
            ret = -EPROTO;
            break;
        }
        if ((ret = fn(arg, rd_be64(k.mv_data), h, (const uint8_t *)v.mv_data + sizeof(*h))) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (ret)
        return ret;
    return rc == MDB_NOTFOUND ? 0 : store_err(rc);
}

/* ---- CRLs ---- */

static void store_crl_key(uint8_t key[7], uint32_t issuer_id, enum store_crl_kind kind,
                          uint16_t shard)
{
    be32(key, issuer_id);
    key[4] = (uint8_t)kind;
    key[5] = (uint8_t)(shard >> 8);
    key[6] = (uint8_t)shard;
}

int store_put_crl(struct store_txn *t, uint32_t issuer_id, enum store_crl_kind kind, uint16_t shard,
                  const struct store_crl_hdr *hdr, const uint8_t *der)
{
    uint8_t key[7];
    store_crl_key(key, issuer_id, kind, shard);
    MDB_val k = {7, key}, v = {sizeof(*hdr) + hdr->der_len, NULL};
    int rc = mdb_put(TX(t), t->s->dbi[DB_CRLS], &k, &v, MDB_RESERVE);
    if (rc)
        return store_err(rc);
    struct store_crl_hdr h = *hdr;
    store_etag(der, h.der_len, h.etag);
    memcpy(v.mv_data, &h, sizeof(h));
    memcpy((uint8_t *)v.mv_data + sizeof(*hdr), der, hdr->der_len);
    return 0;
}

int store_get_crl(struct store_txn *t, uint32_t issuer_id, enum store_crl_kind kind, uint16_t shard,
                  const struct store_crl_hdr **hdr, const uint8_t **der)
{
    uint8_t key[7];
    store_crl_key(key, issuer_id, kind, shard);
    MDB_val k = {7, key}, v;
    int rc = mdb_get(TX(t), t->s->dbi[DB_CRLS], &k, &v);
    if (rc)
        return store_err(rc);
    const struct store_crl_hdr *h = v.mv_data;
    if (v.mv_size < sizeof(*h) || h->der_len != v.mv_size - sizeof(*h))
        return -EPROTO;
    *hdr = h;
    *der = (const uint8_t *)v.mv_data + sizeof(*h);
    return 0;
}

int store_stats(struct store_txn *t, struct store_stats *out)
{
    uint64_t *fields[DB_COUNT] = {NULL,          &out->issuers,   NULL,          &out->certs,
                                  &out->revoked, &out->responses, &out->changes, &out->crls};
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < DB_COUNT; i++) {
        MDB_stat st;
        if (!fields[i])
            continue;
        int rc = mdb_stat(TX(t), t->s->dbi[i], &st);
        if (rc)
            return store_err(rc);
        *fields[i] = st.ms_entries;
    }
    MDB_envinfo info;
    MDB_stat est;
    mdb_env_info(t->s->env, &info);
    mdb_env_stat(t->s->env, &est);
    out->map_size_bytes = info.me_mapsize;
    out->map_used_bytes = (uint64_t)(info.me_last_pgno + 1) * est.ms_psize;
    return 0;
}
