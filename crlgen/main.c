/*
 * revokd-crlgen — issues each configured CA's full and delta CRLs from the
 * store and publishes them. For every [issuer] with crl_key set, a run
 * (run.c) checks the issuer's last sync was complete, picks the CRL Number,
 * builds and signs the CRL (crl.c), stores it, commits, then writes
 * <out_dir>/<issuer>.crl and .crl.pem, or delta/<issuer>.crl(.pem) for a
 * delta (publish.c); each issuer has its own transaction so one failing CA
 * never holds back the others. This file is the program's edge: options,
 * config, logging setup, the store, and the schedule.
 *
 * Without --once a libev loop keeps three deadlines per issuer: the next full
 * CRL ([crlgen] interval after the last good one, sooner after a failure, so
 * a new CRL always comes well before the old one's nextUpdate); a delta at
 * most delta_debounce after a change reaches the store's change log; and a
 * delta refresh once half of the last delta's validity has passed. Changes
 * are found by following the change log: inotify on the store's data file
 * wakes the loop when a writer commits, and the loop reads only the log's
 * last seq (one B-tree lookup), never the whole store; a one-second timer
 * does the same in case inotify misses a write. SIGTERM/SIGINT stay blocked
 * and arrive through a signalfd (libev), so a run in progress always
 * finishes. --once issues every configured kind once and exits 1 when any
 * issuer got no new CRL, skipped or failed.
 */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "config.h"
#include "log.h"
#include "run.h"
#include "store.h"

#define CRL_PROG "revokd-crlgen"

/* Longest pause between two looks at the change log's last seq (ms), in case
 * inotify misses a commit; and the wait before retrying a failed run (ms). */
#define CRL_POLL_MS  1000
#define CRL_RETRY_MS 30000
/* The wait before retrying a failed delta (ms), or one debounce if longer. */
#define CRL_DELTA_RETRY_MS 5000

/* glibc's default mmap threshold, fixed by main() (run.c's CRL buffer starts
 * above it). */
#define CRL_MMAP_THRESHOLD (128 * 1024)

/* One issuer's deadlines, on the monotonic clock in milliseconds. */
struct crl_sched {
    int64_t next_full;  /* next full CRL */
    int64_t pending_at; /* a change was seen at this time and no delta has it yet; 0 none */
    bool force;         /* the last delta failed: the retry issues one, changes or not */
};

struct crl_ctx {
    const struct config *cfg;
    struct crl_run run;
    size_t n;
    struct crl_issuer issuers[CONFIG_MAX_ISSUERS];
    struct crl_sched sched[CONFIG_MAX_ISSUERS];
    sigset_t sigs; /* SIGTERM, SIGINT: blocked, taken by sigtimedwait() or signalfd */
    bool stop;
    unsigned failed; /* runs that issued nothing (--once's exit status) */
    /* The loop (not --once). */
    struct ev_loop *loop;
    ev_timer wake; /* the earliest deadline, or the next look at the log */
    ev_io ino;     /* inotify on the store's data file */
    int ino_fd;    /* -1: none */
    ev_signal sig_term, sig_int;
    uint64_t seen_seq; /* last change seq seen in the log */
};

static void crl_usage(FILE *f)
{
    fprintf(f, "usage: " CRL_PROG " -c FILE [--once [--delta-only]] [--check]\n"
               "  -c, --config FILE  revokd configuration file\n"
               "      --once         build and publish every CRL once, then exit\n"
               "                     (exit status 1 if any issuer got no new CRL)\n"
               "      --delta-only   with --once: only delta CRLs, on the full CRLs\n"
               "                     already in the store\n"
               "      --check        validate the configuration and exit\n"
               "  -h, --help         this text\n");
}

static int64_t crl_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Takes a pending SIGTERM/SIGINT, if any, without waiting (between runs). */
static bool crl_stop_pending(struct crl_ctx *x)
{
    static const struct timespec zero = {0, 0};
    if (!x->stop && sigtimedwait(&x->sigs, NULL, &zero) > 0)
        x->stop = true;
    return x->stop;
}

static int64_t crl_retry_ms(const struct crl_ctx *x)
{
    int64_t iv = (int64_t)x->cfg->crlgen.interval * 1000;
    return iv < CRL_RETRY_MS ? iv : CRL_RETRY_MS;
}

static void crl_do_full(struct crl_ctx *x, size_t i, bool force_delta);

/* Issues issuer i's delta; a missing base makes a full CRL (and a delta on it). */
static void crl_do_delta(struct crl_ctx *x, size_t i, bool force)
{
    struct crl_sched *sc = &x->sched[i];
    int rc = crl_run_delta(&x->run, &x->issuers[i], (int64_t)time(NULL), force || sc->force);
    if (rc == -ENOENT) {
        crl_do_full(x, i, true);
        return;
    }
    if (rc < 0) {
        /* Still pending, and forced: a delta stored but not published (disk
         * full, say) covers the changes already, yet the files must catch up.
         * The retry comes CRL_DELTA_RETRY_MS (at least one debounce) later. */
        x->failed++;
        sc->force = true;
        int64_t debounce = (int64_t)x->cfg->crlgen.delta_debounce_ms;
        int64_t wait = debounce > CRL_DELTA_RETRY_MS ? debounce : CRL_DELTA_RETRY_MS;
        sc->pending_at = crl_mono_ms() + wait - debounce;
        return;
    }
    sc->pending_at = 0;
    sc->force = false;
}

/* Issues issuer i's full CRL and, with deltas on, a delta on it at once: a
 * delta numbered below the new full CRL is of no use to relying parties. */
static void crl_do_full(struct crl_ctx *x, size_t i, bool force_delta)
{
    int64_t now = crl_mono_ms();
    int rc = crl_run_issuer(&x->run, &x->issuers[i], (int64_t)time(NULL));
    if (rc < 0) {
        x->failed++;
        x->sched[i].next_full = now + crl_retry_ms(x);
        return;
    }
    x->sched[i].next_full = now + (int64_t)x->cfg->crlgen.interval * 1000;
    if (x->run.delta && force_delta)
        crl_do_delta(x, i, true);
}

/* --once: every configured kind of every issuer (--delta-only: just deltas,
 * on the full CRLs already in the store). */
static void crl_once(struct crl_ctx *x, bool delta_only)
{
    for (size_t i = 0; i < x->n && !crl_stop_pending(x); i++) {
        if (!delta_only) {
            crl_do_full(x, i, true);
        } else if (crl_run_delta(&x->run, &x->issuers[i], (int64_t)time(NULL), true) < 0) {
            x->failed++; /* -ENOENT too: no base, so no delta */
        }
    }
}

/* Follows the change log: reads its last seq (one lookup) and marks every
 * issuer pending when it moved. Which issuer the changes were for is found
 * out by the delta run itself, which issues nothing for an unchanged one. */
static void crl_check_log(struct crl_ctx *x, int64_t now)
{
    struct store_txn t;
    uint64_t seq = 0;
    if (store_txn_begin(x->run.st, &t, true) < 0)
        return;
    int rc = store_last_seq(&t, &seq);
    store_txn_abort(&t);
    if (rc < 0 || seq <= x->seen_seq)
        return;
    x->seen_seq = seq;
    for (size_t i = 0; i < x->n; i++)
        if (x->sched[i].pending_at == 0)
            x->sched[i].pending_at = now;
}

/* Runs whatever is due and re-arms the wake timer for the next deadline. */
static void crl_tick(struct crl_ctx *x)
{
    const struct config *c = x->cfg;
    int64_t now = crl_mono_ms();
    int64_t next = now + CRL_POLL_MS;

    if (x->run.delta)
        crl_check_log(x, now);
    for (size_t i = 0; i < x->n && !crl_stop_pending(x); i++) {
        struct crl_sched *sc = &x->sched[i];
        struct crl_issuer *is = &x->issuers[i];
        now = crl_mono_ms();
        if (now >= sc->next_full) {
            crl_do_full(x, i, true);
        } else if (x->run.delta && sc->pending_at != 0 &&
                   now >= sc->pending_at + (int64_t)c->crlgen.delta_debounce_ms) {
            crl_do_delta(x, i, false);
        } else if (x->run.delta && is->delta_known &&
                   (int64_t)time(NULL) >=
                       is->delta_next_update - (int64_t)c->crlgen.delta_validity / 2) {
            crl_do_delta(x, i, true);
        }
    }
    if (x->stop) {
        ev_break(x->loop, EVBREAK_ALL);
        return;
    }
    now = crl_mono_ms();
    for (size_t i = 0; i < x->n; i++) {
        const struct crl_sched *sc = &x->sched[i];
        const struct crl_issuer *is = &x->issuers[i];
        if (sc->next_full < next)
            next = sc->next_full;
        if (x->run.delta && sc->pending_at != 0 &&
            sc->pending_at + (int64_t)c->crlgen.delta_debounce_ms < next)
            next = sc->pending_at + (int64_t)c->crlgen.delta_debounce_ms;
        if (x->run.delta && is->delta_known) {
            int64_t due = now + (is->delta_next_update - (int64_t)c->crlgen.delta_validity / 2 -
                                 (int64_t)time(NULL)) *
                                    1000;
            if (due < next)
                next = due;
        }
    }
    double after = next > now ? (double)(next - now) / 1000.0 : 0.0;
    ev_timer_stop(x->loop, &x->wake);
    ev_timer_set(&x->wake, after, 0.0);
    ev_timer_start(x->loop, &x->wake);
}

static void crl_wake_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    crl_tick(w->data);
}

/* A writer wrote the store's data file: drain the events, look at the log. */
static void crl_ino_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct crl_ctx *x = w->data;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    (void)loop;
    (void)revents;
    while (read(x->ino_fd, buf, sizeof(buf)) > 0)
        ;
    crl_tick(x);
}

static void crl_sig_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct crl_ctx *x = w->data;
    (void)revents;
    x->stop = true;
    ev_break(loop, EVBREAK_ALL);
}

/*
 * Watches <store>/data.mdb for writes; without inotify the poll timer does.
 * This sees commits because LMDB, as common/store.c opens it (no
 * MDB_WRITEMAP), writes dirty pages with pwrite() and the meta page with
 * pwrite() on its second descriptor, and each raises IN_MODIFY: the data
 * pages' event may wake us before the meta page makes the commit visible,
 * but the meta write then raises another (events are only merged while
 * unread), so no commit goes unseen. Opening the store with MDB_WRITEMAP
 * would write through the map, which inotify never reports: deltas would
 * then come up to CRL_POLL_MS late.
 */
static void crl_watch_store(struct crl_ctx *x, const char *store_path)
{
    char path[4096];
    x->ino_fd = -1;
    if (!x->run.delta)
        return;
    int n = snprintf(path, sizeof(path), "%s/data.mdb", store_path);
    if (n < 0 || (size_t)n >= sizeof(path))
        return;
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0 || inotify_add_watch(fd, path, IN_MODIFY | IN_CLOSE_WRITE) < 0) {
        log_warn("inotify on %s: %s; following the change log every %d ms instead", path,
                 strerror(errno), CRL_POLL_MS);
        if (fd >= 0)
            close(fd);
        return;
    }
    x->ino_fd = fd;
    ev_io_init(&x->ino, crl_ino_cb, fd, EV_READ);
    x->ino.data = x;
    ev_io_start(x->loop, &x->ino);
}

/* The long-running schedule; returns when a stop signal came. */
static int crl_loop(struct crl_ctx *x, const char *store_path)
{
    x->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_SIGNALFD);
    if (x->loop == NULL) {
        log_err("cannot create the event loop");
        return -ENOMEM;
    }
    ev_signal_init(&x->sig_term, crl_sig_cb, SIGTERM);
    ev_signal_init(&x->sig_int, crl_sig_cb, SIGINT);
    x->sig_term.data = x->sig_int.data = x;
    ev_signal_start(x->loop, &x->sig_term);
    ev_signal_start(x->loop, &x->sig_int);
    ev_init(&x->wake, crl_wake_cb);
    x->wake.data = x;
    crl_watch_store(x, store_path);

    /* Everything is due at start: a full CRL and a delta on it per issuer;
     * changes already in the log are in that delta. */
    int64_t now = crl_mono_ms();
    for (size_t i = 0; i < x->n; i++)
        x->sched[i] = (struct crl_sched){.next_full = now, .pending_at = 0, .force = false};
    if (x->run.delta)
        crl_check_log(x, now);
    for (size_t i = 0; i < x->n; i++)
        x->sched[i].pending_at = 0;
    crl_tick(x);
    if (!x->stop)
        ev_run(x->loop, 0);

    ev_timer_stop(x->loop, &x->wake);
    if (x->ino_fd >= 0) {
        ev_io_stop(x->loop, &x->ino);
        close(x->ino_fd);
    }
    ev_signal_stop(x->loop, &x->sig_term);
    ev_signal_stop(x->loop, &x->sig_int);
    ev_loop_destroy(x->loop);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"once", no_argument, NULL, 'o'},
        {"delta-only", no_argument, NULL, 'd'},   {"check", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool once = false, check = false, have_run = false, delta_only = false;
    struct config cfg;
    struct crl_ctx *x = NULL;
    struct store *st = NULL;
    char err[512];
    int opt, rc, status = 1;

    /* A fixed mmap threshold (glibc's default, but no longer raised each time
     * a large block is freed): the CRL build buffer and the store's private
     * copy of a CRL until commit are then always mappings of their own, given
     * back to the kernel when freed, instead of heap that the long-running
     * loop keeps resident between runs once the threshold has crept up to a
     * CRL's size. Advice: a malloc that ignores it (ASan's) is fine. */
    (void)mallopt(M_MMAP_THRESHOLD, CRL_MMAP_THRESHOLD);
    /* The randomness of crlgen's signatures (ECDSA nonces, RSA blinding) from
     * Hash_DRBG over SHA-256 rather than OpenSSL's default CTR_DRBG: both are
     * SP 800-90A DRBGs of 256-bit strength, but CTR_DRBG's fetch of AES-256-CTR
     * builds the method store of every cipher the provider has (about 140 KB
     * of private memory that stays), and crlgen needs no cipher at all, while
     * SHA-256 is fetched for the signatures anyway. Set before the first
     * random byte is drawn; if refused, the default stays. */
    (void)RAND_set_DRBG_type(NULL, "HASH-DRBG", NULL, NULL, "SHA256");

    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'o':
            once = true;
            break;
        case 'd':
            delta_only = true;
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
    if (path == NULL || optind != argc || (delta_only && !once)) {
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
    x->run.delta = cfg.crlgen.delta;
    x->run.delta_validity = cfg.crlgen.delta_validity;
    x->run.url = cfg.crlgen.url;
    log_info("%zu issuer(s) with CRLs, out_dir %s, validity %us, delta CRLs %s%s", x->n,
             cfg.crlgen.out_dir, cfg.crlgen.validity, cfg.crlgen.delta ? "on" : "off",
             once ? ", once" : "");
    if (cfg.crlgen.delta && cfg.crlgen.url == NULL)
        log_warn("[crlgen] url is not set: delta CRLs are issued but no CRL names them (Freshest "
                 "CRL), so most relying parties will not fetch them");

    if (once) {
        if (delta_only && !cfg.crlgen.delta) {
            log_err("--delta-only: [crlgen] delta = no");
            goto fail;
        }
        crl_once(x, delta_only);
        if (x->failed > 0)
            log_err("%u CRL run(s) issued nothing", x->failed);
        if (x->stop)
            log_warn("stopped on signal before every CRL was issued");
        status = x->failed > 0 || x->stop ? 1 : 0;
    } else {
        if (crl_loop(x, cfg.store.path) < 0)
            goto fail;
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
