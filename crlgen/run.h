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
    struct signer sg;
    bool loaded;
    struct crl_pub_seen pub;
};

/* What every issuer's run shares. */
struct crl_run {
    struct store *st;
    const char *out_dir;
    uint32_t validity; /* seconds from thisUpdate to nextUpdate */
    struct derw w;     /* one buffer for every CRL, reset between them */
};

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

#endif
