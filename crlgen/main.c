/*
 * revokd-crlgen — issues each configured CA's full CRL from the store and
 * publishes it. For every [issuer] with crl_key set, a run (run.c) checks the
 * issuer's last sync was complete, picks the CRL Number, builds and signs the
 * CRL (crl.c), stores it, commits, then writes <out_dir>/<issuer>.crl and
 * .crl.pem (publish.c); each issuer has its own transaction so one failing CA
 * never holds back the others. This file is the program's edge: options,
 * config, logging setup, the store, and the cadence. Without --once it repeats
 * every [crlgen] interval until SIGTERM/SIGINT; the signals are blocked and
 * taken synchronously with sigtimedwait(), so a run in progress always
 * finishes and a signal arriving just before the sleep is not lost. --once
 * exits 1 when any issuer got no new CRL, skipped or failed.
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
#include "log.h"
#include "run.h"
#include "store.h"

#define CRL_PROG "revokd-crlgen"

struct crl_ctx {
    const struct config *cfg;
    struct crl_run run;
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
               "                     (exit status 1 if any issuer got no new CRL)\n"
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

/* One pass over every CRL issuer; returns the number that got no new CRL
 * (skipped for an incomplete sync, or failed). */
static unsigned crl_run_all(struct crl_ctx *x)
{
    unsigned failed = 0;
    for (size_t i = 0; i < x->n; i++) {
        if (crl_stop_pending(x))
            break;
        if (crl_run_issuer(&x->run, &x->issuers[i], (int64_t)time(NULL)) < 0)
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
    bool once = false, check = false, have_run = false;
    struct config cfg;
    struct crl_ctx *x = NULL;
    struct store *st = NULL;
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
        config_log_warnings(&cfg, stderr);
        printf("config OK\n");
        config_free(&cfg);
        return 0;
    }
    log_init(CRL_PROG, (enum log_level)cfg.log.level);
    config_log_warnings(&cfg, NULL);

    /* Large (64 signers): keep it off the stack. */
    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        log_err("out of memory");
        goto fail;
    }
    x->cfg = &cfg;
    for (size_t i = 0; i < cfg.n_issuers; i++) {
        if (cfg.issuers[i].crl_key != NULL)
            crl_issuer_init(&x->issuers[x->n++], &cfg.issuers[i]);
    }
    if (x->n == 0) {
        log_warn("no [issuer] has crl_key set: no CRL to issue");
        status = 0;
        goto fail;
    }
    sigemptyset(&x->sigs);
    sigaddset(&x->sigs, SIGTERM);
    sigaddset(&x->sigs, SIGINT);
    if (sigprocmask(SIG_BLOCK, &x->sigs, NULL) < 0) {
        log_err("sigprocmask: %s", strerror(errno));
        goto fail;
    }
    rc = store_open(&st, cfg.store.path, cfg.store.map_size, 0);
    if (rc < 0) {
        log_err("[store] path %s: cannot open store: %s", cfg.store.path,
                rc == -EPROTO ? STORE_SCHEMA_HINT : strerror(-rc));
        goto fail;
    }
    rc = crl_run_init(&x->run, st, cfg.crlgen.out_dir, cfg.crlgen.validity);
    if (rc < 0) {
        log_err("out of memory");
        goto fail;
    }
    have_run = true;
    log_info("%zu issuer(s) with CRLs, out_dir %s, validity %us%s", x->n, cfg.crlgen.out_dir,
             cfg.crlgen.validity, once ? ", once" : "");

    if (once) {
        unsigned failed = crl_run_all(x);
        if (failed > 0)
            log_err("%u of %zu CRL(s) not issued", failed, x->n);
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
        if (have_run)
            crl_run_free(&x->run);
        for (size_t i = 0; i < x->n; i++)
            crl_issuer_free(&x->issuers[i]);
        free(x);
    }
    if (st != NULL)
        store_close(st);
    config_free(&cfg);
    return status;
}
