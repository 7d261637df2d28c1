/*
 * run — one CRL run of one issuer, the unit revokd-crlgen repeats: decide
 * whether the issuer may get a CRL now, pick its CRL Number, build and sign
 * the CRL, store it for the responder, publish the files, and record the
 * outcome in the issuer's crlstat for /healthz and /metrics. main.c keeps the
 * program's edge (options, config, signals, cadence); this module holds the
 * decisions, so tests drive them against a temp store without a process. It
 * logs each outcome with the issuer's name: this is where that context is.
 */
#ifndef REVOKD_CRL_RUN_H
#define REVOKD_CRL_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "der.h"
#include "sign.h"
#include "store.h"

/* What this process last knew about <out_dir>/<name>.crl: while the file is
 * the same (device, inode, size, mtime) its CRL Number is known without
 * decoding a possibly large CRL on every run. */
struct crl_pub_seen {
    bool valid;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim;
    uint64_t number;
};

/* One issuer that gets a CRL; the signer is loaded on first use and kept. */
struct crl_issuer {
    const struct config_issuer *ci;
    struct signer sg; /* crl_cert (or ca_cert) with crl_key */
    bool loaded;
    uint8_t *ca_der; /* ca_cert's DER when crl_cert is set, else NULL (owned) */
    size_t ca_len;
    struct crl_pub_seen pub;       /* <out_dir>/<name>.crl */
    struct crl_pub_seen pub_delta; /* <out_dir>/delta/<name>.crl */
    /* The last delta this process issued: the change seq it covered (a new
     * delta is due once the issuer has a change after it) and its nextUpdate. */
    bool delta_known;
    uint64_t delta_seq;
    int64_t delta_next_update;
};

/* What every issuer's run shares. */
struct crl_run {
    struct store *st;
    const char *out_dir;
    uint32_t validity; /* seconds from thisUpdate to nextUpdate */
    struct derw w;     /* one buffer for every CRL, reset between them */
    /* Delta CRLs; set by the caller after crl_run_init() (default: off). */
    bool delta;
    uint32_t delta_validity; /* seconds from thisUpdate to nextUpdate of a delta */
    const char *url;         /* base URL of out_dir, for Freshest CRL; NULL: none */
};

/* Where the delta CRL of issuer NAME lives under out_dir and under url. */
#define CRL_DELTA_DIR "delta"
/* Shard K (1..crl_shards) of issuer NAME: <dir>/shard/NAME/K.crl, <dir> being
 * out_dir or out_dir/delta (and the same under url). */
#define CRL_SHARD_DIR "shard"

/* crl_run_delta() outcomes besides 0 and negative errnos. */
#define CRL_DELTA_NOTHING 1 /* no change since the last delta: none issued */

/* Sets up r (allocates the CRL buffer); st and out_dir are kept by pointer.
 * Returns 0 or -ENOMEM. */
int crl_run_init(struct crl_run *r, struct store *st, const char *out_dir, uint32_t validity);
void crl_run_free(struct crl_run *r);

/* ci is kept by pointer. */
void crl_issuer_init(struct crl_issuer *is, const struct config_issuer *ci);
void crl_issuer_free(struct crl_issuer *is);

/*
 * Runs one issuer at time now (Unix seconds; thisUpdate of the CRL).
 *
 * The issuer gets no CRL when, read in the same write transaction the CRL
 * would be built in, its last indexer sync was not complete (sync.failed_at
 * != 0) or it was never synced (synced_at == 0): a CRL built then could miss
 * a revocation. The stored CRL, the issuer's CRL Number and the published
 * files are left exactly as they were, crlstat.skipped is incremented and
 * crlstat.failed_at set to now, and -EAGAIN is returned.
 *
 * Otherwise the CRL Number is the highest of: the stored number + 1, the
 * value in the issuer's crlnumber file (ci->crlnumber, or "crlnumber" next to
 * ci->index if that exists), and the CRL Number of the CRL already at
 * <out_dir>/<name>.crl + 1 (when its issuer is this CA; another issuer's,
 * an undecodable one or one without a number is ignored with a warning). A
 * crlnumber file that exists but cannot be read or parsed, a configured one
 * that is missing, a published CRL that cannot be read, and a number above
 * CRLNUM_MAX are failures: no CRL rather than a guessed number. The number is
 * committed to the store before the files are written, so it is never reused.
 *
 * Returns 0 when the CRL was stored and published (crlstat.failed_at becomes
 * 0), -EAGAIN when skipped as above, or another negative errno on any other
 * failure (crlstat.failures++, crlstat.failed_at = now; not recorded when the
 * issuer is not in the store). Every outcome is logged with the issuer name.
 */
int crl_run_issuer(struct crl_run *r, struct crl_issuer *is, int64_t now);

/*
 * Issues the issuer's delta CRL at time now: the base is the full CRL in the
 * store (its number is the BaseCRLNumber, the issuer's crl_seq the change seq
 * it covered) and the entries are what changed since, from the change log
 * (crl_build_delta()). Numbered from the same sequence and by the same
 * witnesses as the full CRL (the published delta/<name>.crl included),
 * committed before <out_dir>/delta/<name>.crl and .crl.pem are written.
 *
 * Unless force, nothing is issued when the issuer has no change after the
 * seq the last delta of this process covered: returns CRL_DELTA_NOTHING.
 * Returns -ENOENT (nothing recorded) when there is no full CRL to be the
 * base yet; the caller issues one first. Skips and failures as
 * crl_run_issuer().
 */
int crl_run_delta(struct crl_run *r, struct crl_issuer *is, int64_t now, bool force);

#endif
