/*
 * expiry — the indexer's census of an issuer's certificates by expiry (the
 * 90/30/7-day warnings operators ask for, docs/operations.md "Expiry
 * monitoring"): it walks the issuer's certs once, counts the ones not revoked
 * that are expired or expire within each window, writes the counts to the
 * issuer record (store_issuer_expiry) for the responder's /metrics, and logs a
 * warning when a count goes up. It only reads certificate state, so it runs
 * apart from the sync, in its own transactions: main.c calls it after a sync
 * that changed something and at least every EXPIRY_EVERY seconds, because
 * counts move with the clock even when no source does.
 *
 * Ownership: struct expiry_state is caller-owned, zeroed before first use,
 * one per issuer; it holds no resources.
 */
#ifndef REVOKD_EXPIRY_H
#define REVOKD_EXPIRY_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#define EXPIRY_DAY   86400
#define EXPIRY_EVERY 3600 /* recount at least this often (seconds) */

/* The windows, in days; fixed because the stored record has one field per window. */
#define EXPIRY_WINDOWS 3
#define EXPIRY_WINDOW_DAYS                                                                         \
    {                                                                                              \
        7, 30, 90                                                                                  \
    }

/*
 * After a change the census waits until EXPIRY_DUTY times the last census's
 * duration has passed since it ran, so on a busy large store (50 ms a census at
 * 1M certificates, bench/expiry_census.c) it takes at most 1% of the indexer's
 * time and a burst of revocations is not slowed; on a small store it is at once.
 */
#define EXPIRY_DUTY 100

struct expiry_state {
    int64_t last_at;      /* last successful census, Unix seconds; 0: none yet */
    int64_t last_mono_ms; /* when it ended, CLOCK_MONOTONIC ms */
    int64_t cost_ms;      /* how long it took, ms */
    bool pending;         /* a change not counted yet (waiting for the duty gap) */
};

/*
 * Adds one certificate to *e as of e->computed_at: revoked ones are skipped,
 * the rest count as expired or in every window their notAfter falls into.
 */
void expiry_add(struct store_issuer_expiry *e, const struct store_cert *c);

/*
 * True when a census is due at wall time now and monotonic mono_ms: never made,
 * EXPIRY_EVERY passed (or the clock stepped back), or the store changed (now or
 * earlier, remembered in st->pending) and the EXPIRY_DUTY gap has passed.
 */
bool expiry_due(struct expiry_state *st, int64_t now, int64_t mono_ms, bool changed);

/*
 * Counts issuer `id`'s certificates as of `now` in one read transaction into
 * *out (computed_at = now; crl_signer_not_after and warn_before copied from
 * the arguments), then writes the record in a short write transaction. Logs a
 * warning (with `name`) for each count that went up since the stored record.
 * Returns 0 or a negative errno.
 */
int expiry_update(struct store *s, uint32_t id, const char *name, int64_t now,
                  int64_t crl_signer_not_after, int64_t warn_before, struct expiry_state *st,
                  struct store_issuer_expiry *out);

#endif
