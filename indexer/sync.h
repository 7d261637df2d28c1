/*
 * sync — mirrors one issuer's sources (index.txt today; each a snapshot reader,
 * source.h) into the store and keeps a pre-signed OCSP response for every
 * certificate they list, for both CertID hash algorithms. A sync sorts each
 * snapshot into key order and merge-walks it with the stored certificates, and
 * writes or re-signs only what changed, what is new, what no source lists any
 * more, or what is due for refresh, so running it again is cheap and a crash
 * mid-way loses nothing: each batch is one LMDB transaction, and the next run
 * redoes whatever did not commit. Signing runs on sign_threads threads
 * (presign.h); the sync's own thread is the one writer.
 *
 * Ownership: sync_issuer_init() loads the CA certificate and the signer into a
 * caller-owned struct that sync_issuer_free() releases; the config outlives it.
 */
#ifndef REVOKD_SYNC_H
#define REVOKD_SYNC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "ocsp.h"
#include "sign.h"
#include "source.h"
#include "store.h"

struct sync_params {
    uint32_t validity;     /* nextUpdate - thisUpdate, seconds */
    uint32_t refresh;      /* re-sign when less than this remains before nextUpdate */
    uint32_t backdate;     /* thisUpdate = now - backdate (never before revocationTime) */
    uint32_t batch;        /* certificates per write transaction */
    uint32_t signer_warn;  /* warn when the signer or CA expires within this, seconds */
    uint32_t refresh_pct;  /* re-sign once this % of validity has passed (spread per serial) */
    uint32_t retention;    /* expired certificates are answered this long, then dropped */
    uint32_t sign_threads; /* signing threads; 0: one */
    bool no_sign;          /* status only (bench): changed certificates lose their responses */
};

/* How many refused un-revocations one sync logs one by one before only counting: each is
 * an alarm an operator must act on, so name many; a restored old index.txt must still
 * not flood the log. */
#define SYNC_LOG_REFUSED_MAX 100

struct sync_stats {
    uint64_t entries;          /* lines parsed into entries */
    uint64_t malformed;        /* lines skipped as malformed (logged with their line numbers) */
    uint64_t doubtful;         /* entries applied but doubtful (revocation date in the future) */
    uint64_t changed;          /* entries whose status was new or changed */
    uint64_t signed_;          /* responses signed */
    uint64_t unrevoke_refused; /* source says good/hold, store keeps revoked (never undone) */
    uint64_t withdrawn;        /* certs whose responses were deleted: changed, cannot sign */
    uint64_t removed; /* certs dropped: listed by no source (good), or expired past retention */
    uint32_t signer_problem; /* STORE_SIGNER_* bits at this sync */
};

/*
 * One source of an issuer: its kind, where it is, and the reader that turns it
 * into a snapshot (source.h). Wiring a new kind in is one row of
 * sync_source_kinds in sync.c (its config key, its kind, its reader). A source is
 * re-read when stat() of its path changes (device, inode, size, mtime): a reader
 * of a directory whose files change in place needs more than that.
 */
struct sync_issuer;
struct sync_source;
/* Fills out with what one source states now (source.h); 0 or a negative errno. */
typedef int (*sync_reader_fn)(struct sync_issuer *si, struct sync_source *src, int64_t now,
                              struct src_snapshot *out);
struct src_cache;
struct sync_source {
    enum store_source kind;
    const char *path;
    const char *path2; /* a second file of the same source (crl_file's delta_crl_file) */
    sync_reader_fn read;
    struct src_cache *cache; /* directory readers: unchanged files are not re-read */
    bool read_always;        /* a directory tree: a stat of its root cannot tell a change */
    /* identity at the last read: skip re-reading when unchanged */
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
};
#define SYNC_SOURCES_MAX 8

struct sync_issuer {
    const struct config_issuer *conf;
    struct signer signer;
    struct ocsp_issuer_hashes hashes;
    struct x509_st *ca; /* X509 of ca_der, for the readers that verify what they read */
    uint8_t *ca_der;
    size_t ca_len;
    uint32_t id;               /* issuer id in the store */
    uint32_t signer_id;        /* store signers id of this signer's certs block */
    bool delegated;            /* signer is not the CA itself */
    int64_t signer_not_before; /* signer certificate validity, Unix seconds */
    int64_t signer_not_after;
    int64_t ca_not_after;
    /* The issuer's sources, from its config: one entry per kind a reader exists for. */
    struct sync_source sources[SYNC_SOURCES_MAX];
    size_t n_sources;
    int64_t oldest_next_update; /* earliest nextUpdate written by sync_sign_cert() */
    int64_t next_due;           /* earliest response refresh due (0: unknown, walk now) */
    int64_t recheck_at;         /* re-read then although unchanged (a future revocation date) */
    int64_t warned_at;          /* last expiry warning, for at most one an hour */
    uint32_t signer_problem;    /* bits at the last sync, to log changes once */
    bool sync_written;          /* last_sync is what the store holds */
    struct store_issuer_sync last_sync;
};

/*
 * Loads the CA certificate and signer, checks the signer may sign for the CA
 * (the CA itself, or a certificate it issued with id-kp-OCSPSigning and, unless
 * conf->require_nocheck is false, id-pkix-ocsp-nocheck) and is valid now, and
 * registers the issuer in the store. Returns 0 or a negative errno (logged with
 * the issuer, the file and the dates at fault).
 */
int sync_issuer_init(struct sync_issuer *si, const struct config_issuer *conf, struct store *store);
void sync_issuer_free(struct sync_issuer *si);

/*
 * Syncs the issuer if its index.txt changed since the last run or responses
 * near their nextUpdate (force: always), and writes its health record
 * (rec->sync, docs/store.md) when it changed. Returns 0 when the file was read
 * (st->malformed + st->doubtful > 0 means the sync was partial: the rest was
 * applied; st also counts refused un-revocations and has the signer's problem
 * bits), or a negative errno when it failed outright (logged).
 */
int sync_issuer_run(struct sync_issuer *si, struct store *store, const struct sync_params *p,
                    int64_t now, int force, struct sync_stats *st);

/* What sync_unrevoke() did or why it refused, for the caller's audit line. */
struct sync_unrevoke_result {
    struct store_cert before, after;
    unsigned line; /* index.txt line that lists the certificate, 0 if none */
    char why[256]; /* the refusal, when -EPERM/-ENOENT/-EBADMSG */
};

/*
 * The one deliberate correction of a mistaken revocation (revokd-indexer
 * --unrevoke): only when the store holds the certificate revoked AND index.txt
 * now lists it as valid, expired or on hold (never a revocation the source still
 * states). Applies the source's state with store_correct_cert() and re-signs both
 * responses in the same transaction. Returns 0; -EPERM or -ENOENT (with res->why)
 * when refused; -EBADMSG if index.txt cannot be read whole; another errno.
 */
int sync_unrevoke(struct sync_issuer *si, struct store *store, const struct sync_params *p,
                  const uint8_t *serial, size_t serial_len, int64_t now,
                  struct sync_unrevoke_result *res);

/*
 * Signs and stores the responses of one certificate under both CertID hashes, in
 * the caller's write txn, from the state in *c (thisUpdate never before its
 * revocation time, nextUpdate capped at the signer's notAfter). buf is scratch of
 * SYNC_RESP_MAX bytes. For every writer of certificate state (sync, revokctl).
 */
#define SYNC_RESP_MAX 16384
int sync_sign_cert(struct sync_issuer *si, struct store_txn *t, const uint8_t *serial,
                   size_t serial_len, const struct store_cert *c, int64_t now,
                   const struct sync_params *p, uint8_t *buf);

/* Writes serial (DER INTEGER content) as openssl ca's index.txt would: upper-case hex. */
void sync_serial_hex(const uint8_t *serial, size_t len, char *out, size_t cap);

#endif
