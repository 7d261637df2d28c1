/*
 * revokd-indexer — mirrors each configured issuer's CA database into the store
 * and keeps every certificate's OCSP response pre-signed. With --once it syncs
 * and exits (for scripts and cron); otherwise it checks each index.txt every
 * [indexer] interval and re-syncs what changed, re-signing responses before
 * their nextUpdate. It is the only process that holds the OCSP signing keys.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "store.h"
#include "sync.h"

static volatile sig_atomic_t indexer_stop;

static void indexer_on_signal(int sig)
{
    (void)sig;
    indexer_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: revokd-indexer -c FILE [--once] [--force] [--check]\n"
               "  -c, --config FILE  revokd configuration (INI)\n"
               "      --once         sync every issuer once, then exit\n"
               "      --force        re-sign every response, changed or not\n"
               "      --check        validate the configuration and exit\n");
}

static int indexer_sync_all(struct sync_issuer *iss, size_t n, struct store *store,
                            const struct sync_params *p, int force)
{
    int failed = 0;
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < n; i++) {
        struct sync_stats st = {0};
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = sync_issuer_run(&iss[i], store, p, now, force, &st);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (rc < 0) {
            failed = 1;
            continue;
        }
        if (st.entries || st.malformed) {
            double ms =
                (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
            log_info("[issuer %s] synced %llu entries (%llu changed, %llu responses signed, "
                     "%llu malformed lines skipped) in %.1f ms",
                     iss[i].conf->name, (unsigned long long)st.entries,
                     (unsigned long long)st.changed, (unsigned long long)st.signed_,
                     (unsigned long long)st.malformed, ms);
        }
        if (st.malformed)
            failed = 1;
    }
    return failed;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"once", no_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},        {"check", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    int once = 0, force = 0, check = 0, opt;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'o':
            once = 1;
            break;
        case 'f':
            force = 1;
            break;
        case 'k':
            check = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!path || optind != argc) {
        usage(stderr);
        return 2;
    }

    struct config cfg;
    char err[512];
    if (config_load(&cfg, path, err, sizeof(err)) < 0) {
        fprintf(stderr, "revokd-indexer: %s\n", err);
        return 2;
    }
    if (check) {
        printf("config OK: %s\n", path);
        config_free(&cfg);
        return 0;
    }
    log_init("revokd-indexer", (enum log_level)cfg.log.level);

    int ret = 1;
    size_t n_ok = 0;
    struct store *store = NULL;
    struct sync_issuer *iss = calloc(cfg.n_issuers ? cfg.n_issuers : 1, sizeof(*iss));
    if (!iss)
        goto out;
    int rc = store_open(&store, cfg.store.path, cfg.store.map_size, 0);
    if (rc < 0) {
        log_err("[store] path %s: cannot open store: %s", cfg.store.path,
                rc == -EPROTO ? STORE_SCHEMA_HINT : strerror(-rc));
        goto out;
    }
    for (; n_ok < cfg.n_issuers; n_ok++) {
        if (sync_issuer_init(&iss[n_ok], &cfg.issuers[n_ok], store) < 0)
            goto out;
    }
    if (cfg.n_issuers == 0)
        log_warn("no [issuer NAME] section in %s: nothing to index", path);

    struct sync_params p = {.validity = cfg.indexer.validity,
                            .refresh = cfg.indexer.refresh,
                            .backdate = cfg.indexer.backdate,
                            .batch = cfg.indexer.batch};
    if (once) {
        ret = indexer_sync_all(iss, n_ok, store, &p, force);
        goto out;
    }

    struct sigaction sa = {.sa_handler = indexer_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    log_info("following %zu issuer(s), checking every %u s", n_ok, cfg.indexer.interval);
    indexer_sync_all(iss, n_ok, store, &p, force);
    while (!indexer_stop) {
        struct timespec ts = {.tv_sec = cfg.indexer.interval, .tv_nsec = 0};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !indexer_stop)
            ;
        if (!indexer_stop)
            indexer_sync_all(iss, n_ok, store, &p, 0);
    }
    log_info("stopping");
    ret = 0;
out:
    for (size_t i = 0; i < n_ok; i++)
        sync_issuer_free(&iss[i]);
    free(iss);
    store_close(store);
    config_free(&cfg);
    return ret;
}
