/*
 * revokd-indexer — mirrors each configured issuer's CA database into the store
 * and keeps every certificate's OCSP response pre-signed. With --once it syncs
 * and exits (for scripts and cron); otherwise it follows each index file with
 * inotify (watch.h) and re-syncs an issuer milliseconds after its file changes,
 * and every [indexer] interval it checks all of them anyway: that re-signs
 * responses before their nextUpdate and catches what inotify cannot see (NFS,
 * a directory above the watched one replaced). One thread: poll() on a
 * signalfd and the inotify descriptor, SIGINT/SIGTERM blocked so none is lost
 * between a check and the wait. It is the only process that holds the OCSP
 * signing keys.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cadb.h"
#include "config.h"
#include "expiry.h"
#include "log.h"
#include "revokctl.h"
#include "src_x509.h"
#include "store.h"
#include "sync.h"
#include "watch.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: revokd-indexer -c FILE [--once] [--force] [--check] [--no-inotify] "
               "[--status-only]\n"
               "       revokd-indexer -c FILE --unrevoke ISSUER:SERIALHEX\n"
               "  -c, --config FILE  revokd configuration (INI)\n"
               "      --once         sync every issuer once, then exit (1 if any sync failed,\n"
               "                     was incomplete, kept a revocation the source no longer\n"
               "                     lists, or an issuer cannot sign)\n"
               "      --force        re-sign every response, changed or not\n"
               "      --status-only  write certificate status only, sign nothing (measuring the\n"
               "                     status part of an import: a changed certificate loses its\n"
               "                     responses, answered unauthorized until a normal run)\n"
               "      --check        validate the configuration and exit\n"
               "      --no-inotify   follow the index files by polling them every [indexer]\n"
               "                     interval only (as before inotify; for comparison, or\n"
               "                     where inotify misbehaves)\n"
               "      --unrevoke ISSUER:SERIALHEX\n"
               "                     correct a mistaken revocation: a revocation is never undone\n"
               "                     by editing index.txt alone; after the CA database lists the\n"
               "                     certificate as valid (or on hold) again, this applies that\n"
               "                     state and re-signs its responses (logged as an audit line).\n"
               "                     Refused while the source still lists it as revoked.\n"
               "                     See docs/operations.md.\n");
}

static int64_t indexer_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* [store] path and map_size, for the message when the store is full. */
static const char *indexer_store_path;
static uint64_t indexer_map_size;

/*
 * LMDB refuses to grow past its map (MDB_MAP_FULL, -ENOSPC from the store) even
 * with disk to spare: say so, and how to fix it, rather than leave only the
 * failed operation's errno. What committed before stays; the next run resumes.
 */
static void indexer_store_full(const struct sync_issuer *si)
{
    log_err("[issuer %s] the store at %s is full: [store] map_size = %llu MiB is too small. Raise "
            "map_size in the configuration and start revokd-indexer again: the map grows in "
            "place, what was committed is kept and the sync resumes (docs/store.md, \"Sizing\")",
            si->conf->name, indexer_store_path, (unsigned long long)(indexer_map_size >> 20));
}

/* notAfter of the PEM certificate at path, 0 if it cannot be read (crlgen refuses it). */
static int64_t indexer_cert_not_after(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    int64_t t = 0;
    if (!x || src_asn1_time(X509_get0_notAfter(x), &t) < 0)
        t = 0;
    X509_free(x);
    BIO_free(bio);
    ERR_clear_error();
    return t;
}

/*
 * The expiry census (expiry.h) after a sync, when due. The CRL signer is the
 * dedicated crl_cert when configured, else the CA certificate itself (crlgen
 * signs with ca_cert/crl_key); there is none without crl_key.
 */
static void indexer_expiry(struct sync_issuer *si, struct store *store, const struct sync_params *p,
                           struct expiry_state *ex, bool changed)
{
    int64_t now = (int64_t)time(NULL);
    if (!expiry_due(ex, now, indexer_mono_ms(), changed))
        return;
    int64_t crl_signer = !si->conf->crl_key   ? 0
                         : si->conf->crl_cert ? indexer_cert_not_after(si->conf->crl_cert)
                                              : si->ca_not_after;
    expiry_update(store, si->id, si->conf->name, now, crl_signer, (int64_t)p->signer_warn, ex,
                  NULL);
}

/* Syncs one issuer and logs what it did; returns 1 if it failed or is not clean. */
static int indexer_sync_one(struct sync_issuer *si, struct store *store,
                            const struct sync_params *p, int force, struct expiry_state *ex)
{
    int failed = 0;
    struct sync_stats st = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = sync_issuer_run(si, store, p, (int64_t)time(NULL), force, &st);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* Even after a failed sync: the census reads only the store, and must stay hourly. */
    indexer_expiry(si, store, p, ex, rc >= 0 && st.changed > 0);
    if (rc == -ENOSPC)
        indexer_store_full(si);
    if (rc < 0)
        return 1;
    if (st.entries || st.malformed || si->oldest_next_update == 0) {
        /* The file was read (changed, or responses due; or it lists nothing): also
         * refresh what only revokctl holds, which no source sync walks. O(revoked), next
         * to the O(issued) sync; it sets the refresh clock for those entries too. */
        int rr = revokctl_refresh(si, store, p, (int64_t)time(NULL));
        if (rr < 0)
            log_err("[issuer %s] re-signing revokctl's revocations failed: %s", si->conf->name,
                    strerror(-rr));
        else
            st.signed_ += (uint64_t)rr;
    }
    if (st.entries || st.malformed) {
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        log_info("[issuer %s] synced %llu entries (%llu changed, %llu responses signed, "
                 "%llu malformed lines skipped, %llu doubtful, %llu kept revoked, %llu "
                 "withdrawn, %llu removed) in %.1f ms",
                 si->conf->name, (unsigned long long)st.entries, (unsigned long long)st.changed,
                 (unsigned long long)st.signed_, (unsigned long long)st.malformed,
                 (unsigned long long)st.doubtful, (unsigned long long)st.unrevoke_refused,
                 (unsigned long long)st.withdrawn, (unsigned long long)st.removed, ms);
    }
    if (st.malformed || st.doubtful) {
        log_err("[issuer %s] sync incomplete: %llu line(s) could not be applied; crlgen "
                "keeps the previous CRL until a complete sync",
                si->conf->name, (unsigned long long)(st.malformed + st.doubtful));
        failed = 1;
    }
    if (st.unrevoke_refused || st.signer_problem)
        failed = 1;
    return failed;
}

static int indexer_sync_all(struct sync_issuer *iss, size_t n, struct store *store,
                            const struct sync_params *p, int force, struct expiry_state *ex)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        failed |= indexer_sync_one(&iss[i], store, p, force, &ex[i]);
    return failed;
}

struct indexer_follow {
    size_t *map; /* watch target -> issuer index */
    struct sync_issuer *iss;
    struct store *store;
    const struct sync_params *p;
    struct expiry_state *ex; /* one per issuer */
    struct watch *w;
};

static void indexer_on_watch(void *ctx, size_t idx, enum watch_event ev, int err)
{
    struct indexer_follow *f = ctx;
    struct sync_issuer *si = &f->iss[f->map[idx]];
    switch (ev) {
    case WATCH_LOST:
        if (err)
            log_warn("[issuer %s] cannot watch directory %s: %s; checking it every %d ms "
                     "until it can",
                     si->conf->name, watch_dir(f->w, idx), strerror(err), WATCH_RETRY_MS);
        else
            log_warn("[issuer %s] directory %s was moved or deleted; checking it every %d ms "
                     "until a directory is there again",
                     si->conf->name, watch_dir(f->w, idx), WATCH_RETRY_MS);
        return;
    case WATCH_RESTORED:
        log_info("[issuer %s] watching directory %s again", si->conf->name, watch_dir(f->w, idx));
        break;
    case WATCH_CHANGED:
    case WATCH_POLL:
        break;
    }
    indexer_sync_one(si, f->store, f->p, 0, &f->ex[idx]);
}

/*
 * Follow mode: sync everything, then sync an issuer when watch reports its file
 * changed, and everything every interval. Returns the exit code.
 */
static int indexer_follow(struct sync_issuer *iss, size_t n, struct store *store,
                          const struct sync_params *p, struct expiry_state *ex, uint32_t interval,
                          int use_inotify, int force)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    /* Blocked from here on: a signal during a sync waits in the signalfd. */
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
        log_err("cannot block SIGINT/SIGTERM: %s", strerror(errno));
        return 1;
    }
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        log_err("signalfd: %s", strerror(errno));
        return 1;
    }

    struct indexer_follow f = {.iss = iss, .store = store, .p = p, .ex = ex};
    int64_t period_ms = (int64_t)interval * 1000;
    if (use_inotify && n > 0) {
        /* Watch before the first sync, so a change during it is not missed. */
        /* One watch target per configured source path, each mapped to its issuer. */
        struct watch_spec *specs = calloc(5 * n, sizeof(*specs));
        f.map = calloc(5 * n, sizeof(*f.map));
        int rc = specs && f.map ? 0 : -ENOMEM;
        size_t k = 0;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            const struct config_issuer *c = iss[i].conf;
            const struct watch_spec all[] = {{c->index, WATCH_FILE},
                                             {c->cert_dir, WATCH_DIR},
                                             {c->certmate_dir, WATCH_TREE},
                                             {c->crl_file, WATCH_FILE},
                                             {c->delta_crl_file, WATCH_FILE}};
            for (size_t j = 0; j < sizeof(all) / sizeof(all[0]); j++) {
                if (!all[j].path)
                    continue;
                specs[k] = all[j];
                f.map[k++] = i;
            }
        }
        if (rc == 0)
            rc = watch_open_specs(&f.w, specs, k);
        free(specs);
        if (rc < 0) {
            /* Never worse than before inotify: poll at the old default at least. */
            if (period_ms > WATCH_RETRY_MS)
                period_ms = WATCH_RETRY_MS;
            log_err("inotify unavailable (%s): polling the index files every %lld ms instead",
                    strerror(-rc), (long long)period_ms);
        }
    }
    if (f.w)
        log_info("following %zu issuer(s) with inotify, checking all every %u s", n, interval);
    else
        log_info("following %zu issuer(s), checking every %lld ms", n, (long long)period_ms);
    indexer_sync_all(iss, n, store, p, force, ex);

    int64_t next_check = indexer_mono_ms() + period_ms;
    for (;;) {
        int64_t now = indexer_mono_ms();
        if (now >= next_check) {
            indexer_sync_all(iss, n, store, p, 0, ex);
            now = indexer_mono_ms();
            next_check = now + period_ms;
        }
        int64_t tmo = next_check - now;
        if (f.w) {
            int64_t wt = watch_timeout(f.w, now);
            if (wt >= 0 && wt < tmo)
                tmo = wt;
        }
        struct pollfd pf[2] = {{.fd = sfd, .events = POLLIN},
                               {.fd = f.w ? watch_fd(f.w) : -1, .events = POLLIN}};
        int r = poll(pf, 2, tmo > INT_MAX ? INT_MAX : (int)tmo);
        if (r < 0 && errno != EINTR) {
            log_err("poll: %s", strerror(errno));
            break;
        }
        struct signalfd_siginfo si;
        if (r > 0 && (pf[0].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si)) {
            log_info("signal %u: stopping", si.ssi_signo);
            break;
        }
        int wrc = f.w ? watch_run(f.w, indexer_mono_ms(), indexer_on_watch, &f) : 0;
        if (wrc < 0) {
            log_err("reading inotify events failed: %s; polling the index files every %d ms "
                    "instead",
                    strerror(-wrc), WATCH_RETRY_MS);
            watch_close(f.w);
            f.w = NULL;
            if (period_ms > WATCH_RETRY_MS)
                period_ms = WATCH_RETRY_MS;
            next_check = indexer_mono_ms();
        }
    }
    watch_close(f.w);
    free(f.map);
    close(sfd);
    return 0;
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
    if (!cfg->issuers[idx].index) {
        log_err("--unrevoke %s: [issuer %s] has no index, the only source --unrevoke can check",
                arg, cfg->issuers[idx].name);
        return 1;
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
        {"no-inotify", no_argument, NULL, 'n'},
        {"status-only", no_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *unrevoke = NULL;
    int once = 0, force = 0, check = 0, no_inotify = 0, status_only = 0, opt;
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
        case 'n':
            no_inotify = 1;
            break;
        case 's':
            status_only = 1;
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
    struct expiry_state *ex = calloc(cfg.n_issuers ? cfg.n_issuers : 1, sizeof(*ex));
    if (!iss || !ex)
        goto out;
    indexer_store_path = cfg.store.path;
    indexer_map_size = cfg.store.map_size;
    int rc = store_open(&store, cfg.store.path, cfg.store.map_size, STORE_NORDAHEAD);
    if (rc < 0) {
        log_err("[store] path %s: cannot open store: %s", cfg.store.path,
                rc == -EPROTO ? STORE_SCHEMA_HINT : strerror(-rc));
        goto out;
    }
    struct sync_params p = {.validity = cfg.indexer.validity,
                            .refresh = cfg.indexer.refresh,
                            .backdate = cfg.indexer.backdate,
                            .batch = cfg.indexer.batch,
                            .signer_warn = cfg.indexer.signer_warn,
                            .refresh_pct = cfg.indexer.refresh_pct,
                            .retention = cfg.indexer.retention,
                            .sign_threads = cfg.indexer.sign_threads,
                            .no_sign = status_only};
    if (p.sign_threads == 0) {
        /* One per CPU this process may run on (a cpuset or taskset counts). */
        cpu_set_t set;
        p.sign_threads =
            sched_getaffinity(0, sizeof(set), &set) == 0 ? (uint32_t)CPU_COUNT(&set) : 1;
    }
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
        ret = indexer_sync_all(iss, n_ok, store, &p, force, ex);
        goto out;
    }

    ret = indexer_follow(iss, n_ok, store, &p, ex, cfg.indexer.interval, !no_inotify, force);
    log_info("stopped");
out:
    for (size_t i = 0; i < n_ok; i++)
        sync_issuer_free(&iss[i]);
    free(iss);
    free(ex);
    store_close(store);
    config_free(&cfg);
    return ret;
}
