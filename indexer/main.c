/*
 * revokd-indexer — mirrors each configured issuer's CA database into the store
 * and keeps every certificate's OCSP response pre-signed. With --once it syncs
 * and exits (for scripts and cron); otherwise it checks each index.txt every
 * [indexer] interval and re-syncs what changed, re-signing responses before
 * their nextUpdate. It is the only process that holds the OCSP signing keys.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cadb.h"
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
               "       revokd-indexer -c FILE --unrevoke ISSUER:SERIALHEX\n"
               "  -c, --config FILE  revokd configuration (INI)\n"
               "      --once         sync every issuer once, then exit (1 if any sync failed,\n"
               "                     was incomplete, kept a revocation the source no longer\n"
               "                     lists, or an issuer cannot sign)\n"
               "      --force        re-sign every response, changed or not\n"
               "      --check        validate the configuration and exit\n"
               "      --unrevoke ISSUER:SERIALHEX\n"
               "                     correct a mistaken revocation: a revocation is never undone\n"
               "                     by editing index.txt alone; after the CA database lists the\n"
               "                     certificate as valid (or on hold) again, this applies that\n"
               "                     state and re-signs its responses (logged as an audit line).\n"
               "                     Refused while the source still lists it as revoked.\n"
               "                     See docs/operations.md.\n");
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
                     "%llu malformed lines skipped, %llu doubtful, %llu kept revoked, %llu "
                     "withdrawn) in %.1f ms",
                     iss[i].conf->name, (unsigned long long)st.entries,
                     (unsigned long long)st.changed, (unsigned long long)st.signed_,
                     (unsigned long long)st.malformed, (unsigned long long)st.doubtful,
                     (unsigned long long)st.unrevoke_refused, (unsigned long long)st.withdrawn, ms);
        }
        if (st.malformed || st.doubtful) {
            log_err("[issuer %s] sync incomplete: %llu line(s) could not be applied; crlgen "
                    "keeps the previous CRL until a complete sync",
                    iss[i].conf->name, (unsigned long long)(st.malformed + st.doubtful));
            failed = 1;
        }
        if (st.unrevoke_refused || st.signer_problem)
            failed = 1;
    }
    return failed;
}

/* "NAME:SERIALHEX" -> the issuer's config index and the serial's DER content. */
static int indexer_parse_target(const struct config *cfg, const char *arg, size_t *idx,
                                uint8_t *serial, size_t *serial_len)
{
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg)
        return -EINVAL;
    size_t nlen = (size_t)(colon - arg);
    unsigned flags;
    if (cadb_parse_serial(colon + 1, strlen(colon + 1), serial, serial_len, &flags) < 0)
        return -EINVAL;
    for (size_t i = 0; i < cfg->n_issuers; i++) {
        if (strlen(cfg->issuers[i].name) == nlen && memcmp(cfg->issuers[i].name, arg, nlen) == 0) {
            *idx = i;
            return 0;
        }
    }
    return -ENOENT;
}

static void indexer_describe(const struct store_cert *c, char *buf, size_t cap)
{
    char t[32] = "";
    if (c->status == STORE_GOOD) {
        snprintf(buf, cap, "good");
        return;
    }
    time_t tt = (time_t)c->revoked_at;
    struct tm tm;
    if (gmtime_r(&tt, &tm))
        strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (c->reason == STORE_REASON_NONE)
        snprintf(buf, cap, "%s at %s, no reason", c->status == STORE_HOLD ? "on hold" : "revoked",
                 t);
    else
        snprintf(buf, cap, "%s at %s, reason %u", c->status == STORE_HOLD ? "on hold" : "revoked",
                 t, c->reason);
}

/* --unrevoke: the one deliberate correction; logs an audit line. Returns the exit code. */
static int indexer_unrevoke(const struct config *cfg, struct store *store,
                            const struct sync_params *p, const char *arg)
{
    uint8_t serial[DER_SERIAL_MAX];
    size_t serial_len, idx;
    int rc = indexer_parse_target(cfg, arg, &idx, serial, &serial_len);
    if (rc == -ENOENT) {
        log_err("--unrevoke %s: no [issuer] section of that name in %s", arg, cfg->file);
        return 2;
    }
    if (rc < 0) {
        log_err("--unrevoke %s: expected ISSUER:SERIALHEX, e.g. demo:1002", arg);
        return 2;
    }
    struct sync_issuer si;
    if (sync_issuer_init(&si, &cfg->issuers[idx], store) < 0)
        return 1;
    char hex[2 * DER_SERIAL_MAX + 1];
    sync_serial_hex(serial, serial_len, hex, sizeof(hex));
    const char *name = cfg->issuers[idx].name;
    struct sync_unrevoke_result res;
    int64_t now = (int64_t)time(NULL);
    rc = sync_unrevoke(&si, store, p, serial, serial_len, now, &res);
    int ret = 0;
    if (rc < 0) {
        log_err("[issuer %s] --unrevoke %s refused: %s", name, hex,
                res.why[0] ? res.why : strerror(-rc));
        ret = 1;
    } else {
        uid_t uid = getuid();
        struct passwd *pw = getpwuid(uid);
        char before[96], after[96];
        indexer_describe(&res.before, before, sizeof(before));
        indexer_describe(&res.after, after, sizeof(after));
        log_warn("[issuer %s] AUDIT: uid %u (%s) ran --unrevoke %s: serial %s changed from "
                 "[%s] to [%s] as %s:%u lists it; both OCSP responses re-signed, the next CRL "
                 "follows",
                 name, (unsigned)uid, pw ? pw->pw_name : "?", arg, hex, before, after,
                 cfg->issuers[idx].index, res.line);
        /* A full sync refreshes the issuer's health record (unrevoke_refused). */
        struct sync_stats st = {0};
        sync_issuer_run(&si, store, p, now, 1, &st);
    }
    sync_issuer_free(&si);
    return ret;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"once", no_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"check", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {"unrevoke", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *unrevoke = NULL;
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
        case 'u':
            unrevoke = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!path || optind != argc || (unrevoke && (once || force || check))) {
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
        config_log_warnings(&cfg, stderr);
        printf("config OK: %s\n", path);
        config_free(&cfg);
        return 0;
    }
    log_init("revokd-indexer", (enum log_level)cfg.log.level);
    config_log_warnings(&cfg, NULL);

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
    struct sync_params p = {.validity = cfg.indexer.validity,
                            .refresh = cfg.indexer.refresh,
                            .backdate = cfg.indexer.backdate,
                            .batch = cfg.indexer.batch,
                            .signer_warn = cfg.indexer.signer_warn};
    if (unrevoke) {
        ret = indexer_unrevoke(&cfg, store, &p, unrevoke);
        goto out;
    }
    for (; n_ok < cfg.n_issuers; n_ok++) {
        if (sync_issuer_init(&iss[n_ok], &cfg.issuers[n_ok], store) < 0)
            goto out;
    }
    if (cfg.n_issuers == 0)
        log_warn("no [issuer NAME] section in %s: nothing to index", path);

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
