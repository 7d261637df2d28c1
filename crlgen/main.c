/*
 * revokd-crlgen — issues each configured CA's full CRL from the store and
 * publishes it. For every [issuer] with crl_key set, a run opens one write
 * transaction, takes the next CRL number, builds and signs the CRL (crl.c),
 * stores it for the responder with the issuer's new CRL number and change seq,
 * commits, then writes <out_dir>/<issuer>.crl and .crl.pem (publish.c). Each
 * issuer has its own transaction so one failing CA never holds back the others.
 * Without --once it repeats every [crlgen] interval until SIGTERM/SIGINT; the
 * signals are blocked and taken synchronously with sigtimedwait(), so a run in
 * progress always finishes and a signal arriving just before the sleep is not
 * lost. This file is the edge: it is where errors are logged, with the issuer.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "crl.h"
#include "der.h"
#include "log.h"
#include "publish.h"
#include "sign.h"
#include "store.h"

#define CRL_PROG "revokd-crlgen"
/* Starting size of the reused CRL buffer; it grows to the largest CRL. */
#define CRL_BUF_INITIAL (64 * 1024)

/* One issuer that gets a CRL; the signer is loaded on first use and kept. */
struct crl_issuer {
    const struct config_issuer *ci;
    struct signer sg;
    bool loaded;
};

struct crl_ctx {
    const struct config *cfg;
    struct store *st;
    struct derw w; /* one buffer for every CRL, reset between them */
    size_t n;
    struct crl_issuer issuers[CONFIG_MAX_ISSUERS];
    sigset_t sigs; /* SIGTERM, SIGINT: blocked, taken by sigtimedwait() */
    bool stop;
};

static void crl_usage(FILE *f)
{
    fprintf(f, "usage: " CRL_PROG " -c FILE [--once] [--check]\n"
               "  -c, --config FILE  revokd configuration file\n"
               "      --once         build and publish every CRL once, then exit\n"
               "                     (exit status 1 if any issuer failed)\n"
               "      --check        validate the configuration and exit\n"
               "  -h, --help         this text\n");
}

static int64_t crl_mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

/* Takes a pending SIGTERM/SIGINT, if any, without waiting. */
static bool crl_stop_pending(struct crl_ctx *x)
{
    static const struct timespec zero = {0, 0};
    if (!x->stop && sigtimedwait(&x->sigs, NULL, &zero) > 0)
        x->stop = true;
    return x->stop;
}

/*
 * Sleeps until the monotonic time `until` or a stop signal (x->stop). The
 * remaining time is recomputed after EINTR (some other signal) so a stray
 * signal neither cuts the interval short nor stretches it.
 */
static void crl_sleep_until(struct crl_ctx *x, int64_t until)
{
    for (;;) {
        int64_t left = until - crl_mono_now();
        if (left <= 0 || crl_stop_pending(x))
            return;
        struct timespec ts = {.tv_sec = (time_t)left, .tv_nsec = 0};
        if (sigtimedwait(&x->sigs, NULL, &ts) > 0) {
            x->stop = true;
            return;
        }
        /* Cannot happen with a valid set and timeout; sleep anyway rather
         * than turn the loop into back-to-back CRL runs. */
        if (errno != EAGAIN && errno != EINTR)
            nanosleep(&ts, NULL);
    }
}

/* Steps of one issuer's run, named in its error message. */
enum crl_step {
    CRL_STEP_SIGNER,
    CRL_STEP_BEGIN,
    CRL_STEP_LOOKUP,
    CRL_STEP_SEQ,
    CRL_STEP_BUILD,
    CRL_STEP_STORE,
    CRL_STEP_COMMIT,
    CRL_STEP_PUBLISH,
};

static const char *const crl_step_names[] = {
    [CRL_STEP_SIGNER] = "loading ca_cert/crl_key",
    [CRL_STEP_BEGIN] = "beginning a store transaction",
    [CRL_STEP_LOOKUP] = "looking up the issuer",
    [CRL_STEP_SEQ] = "reading the change seq",
    [CRL_STEP_BUILD] = "building the CRL",
    [CRL_STEP_STORE] = "storing the CRL",
    [CRL_STEP_COMMIT] = "committing",
    [CRL_STEP_PUBLISH] = "publishing",
};

/* Says why an issuer's run failed, with the remedy where there is one. */
static void crl_log_failure(const struct crl_ctx *x, const struct crl_issuer *is,
                            enum crl_step step, int rc)
{
    const struct config_issuer *ci = is->ci;

    if (step == CRL_STEP_LOOKUP && rc == -ENOENT)
        log_err("issuer %s not in store: run revokd-indexer first", ci->name);
    else if (step == CRL_STEP_BUILD && rc == -EKEYREJECTED)
        log_err("issuer %s: ca_cert %s does not match the CA certificate in the store "
                "(run revokd-indexer after changing it); CRL not issued",
                ci->name, ci->ca_cert);
    else if (step == CRL_STEP_BUILD && rc == -EBADMSG)
        log_err("issuer %s: the store holds a record a CRL cannot carry (bad CA certificate, "
                "serial, status or reason); CRL not issued",
                ci->name);
    else if (step == CRL_STEP_PUBLISH)
        log_err("issuer %s: CRL stored (the responder serves it) but not published to %s: %s",
                ci->name, x->cfg->crlgen.out_dir, strerror(-rc));
    else
        log_err("issuer %s: %s: %s", ci->name, crl_step_names[step], strerror(-rc));
}

/*
 * Issues and publishes one issuer's CRL; logs the outcome either way.
 */
static int crl_run_issuer(struct crl_ctx *x, struct crl_issuer *is)
{
    const struct config_issuer *ci = is->ci;
    const struct store_issuer_rec *rec;
    const uint8_t *cert;
    struct store_txn t;
    struct crl_params p;
    struct store_crl_hdr hdr;
    bool in_txn = false;
    uint64_t seq, n_entries = 0;
    enum crl_step step;
    int64_t now;
    int rc;

    if (!is->loaded) {
        step = CRL_STEP_SIGNER;
        rc = signer_load(&is->sg, ci->ca_cert, ci->crl_key, ci->digest);
        if (rc < 0)
            goto fail;
        is->loaded = true;
    }

    step = CRL_STEP_BEGIN;
    rc = store_txn_begin(x->st, &t, false);
    if (rc < 0)
        goto fail;
    in_txn = true;

    step = CRL_STEP_LOOKUP;
    rc = store_get_issuer_by_name(&t, ci->name, &rec, &cert);
    if (rc < 0)
        goto fail;
    /* Copied out now: map pointers from a write txn die at the next write. */
    now = (int64_t)time(NULL);
    p.issuer_id = rec->id;
    p.number = rec->crl_number + 1;
    p.this_update = now;
    p.next_update = now + (int64_t)x->cfg->crlgen.validity;

    /* The change seq read in the same txn the CRL is built from is exactly
     * what this CRL covers: the base a delta CRL will start from. */
    step = CRL_STEP_SEQ;
    rc = store_last_seq(&t, &seq);
    if (rc < 0)
        goto fail;

    step = CRL_STEP_BUILD;
    derw_reset(&x->w);
    rc = crl_build_full(&x->w, &is->sg, &t, &p, &n_entries);
    if (rc < 0)
        goto fail;
    if (x->w.len > UINT32_MAX) {
        rc = -EFBIG;
        goto fail;
    }

    step = CRL_STEP_STORE;
    hdr = (struct store_crl_hdr){
        .version = 1,
        .der_len = (uint32_t)x->w.len,
        .number = p.number,
        .base = 0,
        .this_update = p.this_update,
        .next_update = p.next_update,
    };
    rc = store_put_crl(&t, p.issuer_id, STORE_CRL_FULL, 0, &hdr, x->w.buf);
    if (rc < 0)
        goto fail;
    rc = store_set_issuer_crl(&t, p.issuer_id, p.number, seq);
    if (rc < 0)
        goto fail;

    /* Commit before publishing: the number is then consumed even if writing
     * the files fails, so two different CRLs can never carry the same CRL
     * number (the next run just issues number + 1), and the store's single
     * writer lock is not held across file fsyncs. */
    step = CRL_STEP_COMMIT;
    in_txn = false; /* a failed commit has ended the txn too */
    rc = store_txn_commit(&t);
    if (rc < 0)
        goto fail;

    step = CRL_STEP_PUBLISH;
    rc = publish_crl(x->cfg->crlgen.out_dir, ci->name, x->w.buf, x->w.len);
    if (rc < 0)
        goto fail;

    log_info("issuer %s: CRL %llu, %llu entries, %zu bytes, %s/%s.crl", ci->name,
             (unsigned long long)p.number, (unsigned long long)n_entries, x->w.len,
             x->cfg->crlgen.out_dir, ci->name);
    return 0;

fail:
    if (in_txn)
        store_txn_abort(&t);
    crl_log_failure(x, is, step, rc);
    return rc;
}

/* One pass over every CRL issuer; returns the number that failed. */
static unsigned crl_run_all(struct crl_ctx *x)
{
    unsigned failed = 0;
    for (size_t i = 0; i < x->n; i++) {
        if (crl_stop_pending(x))
            break;
        if (crl_run_issuer(x, &x->issuers[i]) < 0)
            failed++;
    }
    return failed;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"once", no_argument, NULL, 'o'},
        {"check", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool once = false, check = false, have_w = false;
    struct config cfg;
    struct crl_ctx *x = NULL;
    char err[512];
    int opt, rc, status = 1;

    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'o':
            once = true;
            break;
        case 'k':
            check = true;
            break;
        case 'h':
            crl_usage(stdout);
            return 0;
        default:
            crl_usage(stderr);
            return 2;
        }
    }
    if (path == NULL || optind != argc) {
        crl_usage(stderr);
        return 2;
    }

    rc = config_load(&cfg, path, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, CRL_PROG ": %s\n", err);
        return 2;
    }
    if (check) {
        printf("config OK\n");
        config_free(&cfg);
        return 0;
    }
    log_init(CRL_PROG, (enum log_level)cfg.log.level);

    /* Large (64 signers): keep it off the stack. */
    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        log_err("out of memory");
        goto fail;
    }
    x->cfg = &cfg;
    for (size_t i = 0; i < cfg.n_issuers; i++) {
        if (cfg.issuers[i].crl_key != NULL)
            x->issuers[x->n++].ci = &cfg.issuers[i];
    }
    if (x->n == 0) {
        log_warn("no [issuer] has crl_key set: no CRL to issue");
        status = 0;
        goto fail;
    }
    if (cfg.crlgen.interval >= cfg.crlgen.validity)
        log_warn("[crlgen] interval %u >= validity %u: each CRL expires before the next "
                 "replaces it",
                 cfg.crlgen.interval, cfg.crlgen.validity);

    sigemptyset(&x->sigs);
    sigaddset(&x->sigs, SIGTERM);
    sigaddset(&x->sigs, SIGINT);
    if (sigprocmask(SIG_BLOCK, &x->sigs, NULL) < 0) {
        log_err("sigprocmask: %s", strerror(errno));
        goto fail;
    }
    rc = derw_init_alloc(&x->w, CRL_BUF_INITIAL);
    if (rc < 0) {
        log_err("out of memory");
        goto fail;
    }
    have_w = true;
    rc = store_open(&x->st, cfg.store.path, cfg.store.map_size, 0);
    if (rc < 0) {
        log_err("[store] path %s: cannot open store: %s", cfg.store.path,
                rc == -EPROTO ? STORE_SCHEMA_HINT : strerror(-rc));
        goto fail;
    }
    log_info("%zu issuer(s) with CRLs, out_dir %s, validity %us%s", x->n, cfg.crlgen.out_dir,
             cfg.crlgen.validity, once ? ", once" : "");

    if (once) {
        unsigned failed = crl_run_all(x);
        if (failed > 0)
            log_err("%u of %zu CRL(s) failed", failed, x->n);
        if (x->stop)
            log_warn("stopped on signal before every CRL was issued");
        status = failed > 0 || x->stop ? 1 : 0;
    } else {
        /* Fixed cadence from each run's start, so a slow run does not push
         * every later CRL back; a run longer than the interval is followed
         * immediately by the next. */
        do {
            int64_t next = crl_mono_now() + (int64_t)cfg.crlgen.interval;
            crl_run_all(x);
            crl_sleep_until(x, next);
        } while (!x->stop);
        log_info("stopping on signal");
        status = 0;
    }

fail: /* also the way out on success: everything is released here */
    if (x != NULL) {
        if (x->st != NULL)
            store_close(x->st);
        if (have_w)
            derw_free(&x->w);
        for (size_t i = 0; i < x->n; i++) {
            if (x->issuers[i].loaded)
                signer_free(&x->issuers[i].sg);
        }
        free(x);
    }
    config_free(&cfg);
    return status;
}
