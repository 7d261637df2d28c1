/*
 * source — what every revocation source of an issuer hands the sync engine: a
 * snapshot, the full list of certificates that source states at one moment
 * (index.txt, a directory of issued certificates, a CertMate store, an external
 * CA's CRL). Readers of outside bytes fill one; the engine sorts it into the
 * store's key order and merges it with the stored state (docs/architecture.md,
 * "Sources"): what a source no longer lists loses that source's bit in
 * store_cert.listed, and when two sources disagree, revoked wins and a hold is
 * released only by the source that set it.
 *
 * Ownership: a snapshot is a caller-owned struct; src_snapshot_free() releases
 * its entries. Entries are copies: nothing points into the reader's buffers.
 */
#ifndef REVOKD_SOURCE_H
#define REVOKD_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* One certificate as one source states it. */
struct src_entry {
    uint8_t serial[STORE_SERIAL_MAX]; /* DER INTEGER content (der_serial_check()) */
    uint8_t serial_len;               /* 1..STORE_SERIAL_MAX */
    uint8_t status;                   /* enum store_status */
    uint8_t reason;                   /* CRLReason, or STORE_REASON_NONE */
    uint8_t flags;                    /* source-specific warnings (e.g. CADB_F_*) */
    int64_t revoked_at;               /* Unix seconds; 0 when good */
    int64_t invalidity;               /* invalidity date; 0 if none */
    int64_t not_after;                /* certificate expiry; 0 if the source does not know it */
    uint32_t origin;                  /* where in the source (line number, file index), for logs */
};

struct src_snapshot {
    enum store_source source;
    struct src_entry *v;
    size_t n, cap;
    uint64_t malformed; /* items the reader could not read: the sync is partial */
    uint64_t foreign;   /* certificates of another CA (issuer name differs): skipped, logged;
                           they do not make the sync partial (they were never ours) */
};

void src_snapshot_init(struct src_snapshot *s, enum store_source source);
/* Appends a copy of *e. Returns 0 or -ENOMEM. */
int src_snapshot_push(struct src_snapshot *s, const struct src_entry *e);
/*
 * Sorts the entries into the store's key order for serials (LMDB's default
 * order: bytes compared with memcmp, a shorter serial first on a common prefix),
 * so the merge with the certs database is one forward walk.
 */
void src_snapshot_sort(struct src_snapshot *s);
/* memcmp-then-length order of two serials, as LMDB orders keys; <0, 0, >0. */
int src_serial_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
void src_snapshot_free(struct src_snapshot *s);

#endif
