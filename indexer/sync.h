/*
 * sync — mirrors one issuer's OpenSSL CA database into the store and keeps a
 * pre-signed OCSP response for every certificate it lists, for both CertID hash
 * algorithms. A sync compares each index.txt entry with the stored status and
 * re-signs only what changed, what is new, or what nears its nextUpdate, so
 * running it again is cheap and a crash mid-way loses nothing: each batch is one
 * LMDB transaction, and the next run redoes whatever did not commit.
 *
 * Ownership: sync_issuer_init() loads the CA certificate and the signer into a
 * caller-owned struct that sync_issuer_free() releases; the config outlives it.
 */
#ifndef REVOKD_SYNC_H
#define REVOKD_SYNC_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "ocsp.h"
#include "sign.h"
#include "store.h"

struct sync_params {
    uint32_t validity; /* nextUpdate - thisUpdate, seconds */
    uint32_t refresh;  /* re-sign when less than this remains before nextUpdate */
    uint32_t backdate; /* thisUpdate = now - backdate */
    uint32_t batch;    /* certificates per write transaction */
};

struct sync_stats {
    uint64_t entries;   /* lines parsed into entries */
    uint64_t malformed; /* lines skipped as malformed (logged with their line numbers) */
    uint64_t changed;   /* entries whose status was new or changed */
    uint64_t signed_;   /* responses signed */
};

struct sync_issuer {
    const struct config_issuer *conf;
    struct signer signer;
    struct ocsp_issuer_hashes hashes;
    uint8_t *ca_der;
    size_t ca_len;
    uint32_t id; /* issuer id in the store */
    /* index.txt identity at the last complete sync: skip re-parsing when unchanged */
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    int64_t oldest_next_update; /* earliest nextUpdate written; refresh due before it */
};

/*
 * Loads the CA certificate and signer, checks the signer may sign for the CA
 * (the CA itself, or a certificate it issued with id-kp-OCSPSigning), and
 * registers the issuer in the store. Returns 0 or a negative errno (logged).
 */
int sync_issuer_init(struct sync_issuer *si, const struct config_issuer *conf, struct store *store);
void sync_issuer_free(struct sync_issuer *si);

/*
 * Syncs the issuer if its index.txt changed since the last run or responses
 * near their nextUpdate (force: always). Returns 0 or a negative errno; st
 * accumulates counts.
 */
int sync_issuer_run(struct sync_issuer *si, struct store *store, const struct sync_params *p,
                    int64_t now, int force, struct sync_stats *st);

#endif
