/*
 * revokd-responder — serves the pre-signed OCSP responses (and CRLs) that the
 * indexer and crlgen wrote to the store, over HTTP. It opens the store
 * read-only and never loads a private key, so a compromise of this process
 * cannot mint responses. main() wires things up (config, logging, store, the
 * backend named in [responder] backend, one worker thread per [responder]
 * workers; once they listen, [responder] user and the seccomp sandbox, before
 * any request is read) and then only waits for signals: SIGTERM/SIGINT stop
 * the workers (they drain in-flight requests), SIGHUP reopens the store for
 * all of them.
 * Exit status 0 on a clean stop, 1 on a runtime failure, 2 on bad arguments or
 * configuration.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "handler.h"
#include "livesign.h"
#include "log.h"
#include "priv.h"
#include "sandbox.h"
#include "server.h"
#include "store.h"

/* How long start-up waits for every worker to listen before dropping privileges. */
#define MAIN_READY_WAIT_MS 10000
/* More threads than this is a configuration mistake, not a bigger machine. */
#define MAIN_WORKERS_MAX 256
/* How long a reload waits for every worker to let go of the old store. */
#define MAIN_RELOAD_WAIT_MS 10000

static const struct server_backend *const main_backends[] = {&server_backend_uring,
                                                             &server_backend_ev};

static atomic_uint main_running; /* workers not yet returned */
static atomic_bool main_seccomp; /* the sandbox is installed (/metrics revokd_seccomp) */

static void main_usage(FILE *f)
{
    fprintf(f, "usage: revokd-responder -c FILE [--check]\n"
               "  -c, --config FILE  configuration file (see docs/configuration.md)\n"
               "      --check        validate the configuration, print \"config OK\" and exit\n"
               "  -h, --help         show this help\n");
}

static const struct server_backend *main_backend(const char *name)
{
    for (size_t i = 0; i < sizeof(main_backends) / sizeof(main_backends[0]); i++) {
        if (strcmp(main_backends[i]->name, name) == 0)
            return main_backends[i];
    }
    return NULL;
}

/*
 * The backend to run: the named one, or under auto the first that probes well.
 * NULL (logged) when the named one cannot run here.
 */
static const struct server_backend *main_pick(const char *name, const char *path)
{
    char why[256] = "";
    if (strcmp(name, "auto") != 0) {
        const struct server_backend *be = main_backend(name);
        if (be->probe && be->probe(why, sizeof(why)) < 0) {
            log_err("%s: [responder] backend = %s cannot run here: %s", path, name, why);
            return NULL;
        }
        return be;
    }
    for (size_t i = 0; i < sizeof(main_backends) / sizeof(main_backends[0]); i++) {
        const struct server_backend *be = main_backends[i];
        if (!be->probe || be->probe(why, sizeof(why)) == 0)
            return be;
        log_warn("[responder] backend = auto: %s unavailable (%s); trying the next", be->name, why);
    }
    return &server_backend_ev;
}

/*
 * Warm-up of a store's map on a thread of its own (store_warm), so the first
 * requests after a start or a reopen find the pages mapped instead of each
 * paying page faults; at 1M certificates they were 2x slower without it.
 * Joined before the store it warms is closed.
 */
struct main_warm {
    pthread_t tid;
    bool running;
    struct store *st;
};

static void *main_warm_run(void *arg)
{
    struct main_warm *w = arg;
    struct timespec a, b;
    uint64_t bytes = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = store_warm(w->st, &bytes);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (long)((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000);
    if (rc < 0)
        log_warn("store warm-up: %s (answers are right, the first ones only slower)",
                 strerror(-rc));
    else
        log_info("store warm-up: %llu MB mapped in %ld ms", (unsigned long long)(bytes >> 20), ms);
    return NULL;
}

static void main_warm_join(struct main_warm *w)
{
    if (w->running)
        pthread_join(w->tid, NULL);
    w->running = false;
}

/* Bench hook: set in the environment, no warm-up (bench/store_size.sh measures without). */
#define MAIN_NO_WARMUP "REVOKD_BENCH_NO_WARMUP"

static void main_warm_start(struct main_warm *w, struct store *st)
{
    main_warm_join(w);
    if (getenv(MAIN_NO_WARMUP)) {
        log_info("store warm-up: off (" MAIN_NO_WARMUP " is set)");
        return;
    }
    w->st = st;
    w->running = pthread_create(&w->tid, NULL, main_warm_run, w) == 0;
    if (!w->running)
        log_warn("store warm-up: cannot start a thread; skipped");
}

static uint32_t main_workers(uint32_t configured)
{
    if (configured)
        return configured > MAIN_WORKERS_MAX ? MAIN_WORKERS_MAX : configured;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) < 0)
        return 1;
    int n = CPU_COUNT(&set);
    return n < 1 ? 1 : n > MAIN_WORKERS_MAX ? MAIN_WORKERS_MAX : (uint32_t)n;
}

struct main_thread {
    pthread_t tid;
    bool started;
    const struct server_backend *be;
    struct server_worker w;
};

static void *main_worker(void *arg)
{
    struct main_thread *t = arg;
    t->w.rc = t->be->run(&t->w);
    atomic_fetch_sub(&main_running, 1);
    kill(getpid(), SIGUSR1); /* wake main's sigtimedwait */
    return NULL;
}

static void main_wake(struct main_thread *th, uint32_t n)
{
    uint64_t one = 1;
    for (uint32_t i = 0; i < n; i++) {
        if (th[i].w.wake_fd >= 0 && write(th[i].w.wake_fd, &one, sizeof(one)) < 0)
            log_debug("worker %u: wake: %s", i, strerror(errno));
    }
}

/*
 * [responder] user: once every worker listens (the port may be privileged),
 * switch the whole process to that user for good (priv.c: glibc applies set*id
 * to every thread; the kernel empties each thread's capabilities as it leaves
 * uid 0). Returns 0 or -1 (logged).
 */
static int main_drop(const char *path, const char *user)
{
    int rc = priv_drop(user);
    if (rc < 0) {
        log_err("%s: [responder] user = %s: %s", path, user,
                rc == -ENOENT   ? "no such user"
                : rc == -EINVAL ? "a user with uid or gid 0 drops nothing"
                                : strerror(-rc));
        return -1;
    }
    log_info("running as user %s (no supplementary groups, no capabilities)", user);
    return 0;
}

/*
 * [responder] seccomp: after the drop, before any request, confine every thread
 * (sandbox.h). Returns 0 or -1 (logged): a responder configured for a sandbox
 * does not serve without one.
 */
static int main_sandbox(const char *backend)
{
    unsigned n = 0;
    int rc = sandbox_install(backend, &n);
    if (rc < 0) {
        log_err("seccomp: cannot install the filter for backend %s: %s (set [responder] "
                "seccomp = off to run without it)",
                backend, strerror(-rc));
        return -1;
    }
    log_info("seccomp: filter installed (%u syscalls allowed, backend %s)", n, backend);
    atomic_store(&main_seccomp, true);
    return 0;
}

/* Same LMDB files as before? Then there is nothing to reopen (and opening one
 * environment twice in a process would break LMDB's locks). */
static bool main_store_id(const char *path, dev_t *dev, ino_t *ino)
{
    char f[4096];
    struct stat st;
    snprintf(f, sizeof(f), "%s/data.mdb", path);
    if (stat(f, &st) < 0)
        return false;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return true;
}

/* What [store] path holds against the open store (HANDLER_STORE_*), for /healthz. */
static atomic_int main_store_moved;

/*
 * Checked about once a second: a store removed or replaced under a running
 * responder is reported (log once per change, /healthz 503) rather than served
 * on silently; the old map stays valid, so answers go on. Reopening stays the
 * operator's SIGHUP: a store being rebuilt in place is not ready to serve yet.
 */
static void main_watch_store(const struct config *cfg, dev_t dev, ino_t ino)
{
    dev_t ndev;
    ino_t nino;
    int state = !main_store_id(cfg->store.path, &ndev, &nino) ? HANDLER_STORE_REMOVED
                : ndev != dev || nino != ino                  ? HANDLER_STORE_REPLACED
                                                              : HANDLER_STORE_CURRENT;
    int was = atomic_exchange(&main_store_moved, state);
    if (state == was)
        return;
    if (state == HANDLER_STORE_REMOVED)
        log_err("[store] path %s: the store was removed; still answering from the copy opened "
                "before, which no longer changes: restore it, or rebuild it and send SIGHUP",
                cfg->store.path);
    else if (state == HANDLER_STORE_REPLACED)
        log_err("[store] path %s: the store was replaced since it was opened; answering from the "
                "old one until SIGHUP reopens it",
                cfg->store.path);
    else
        log_info("[store] path %s holds the open store again", cfg->store.path);
}

/* SIGHUP: open the store at the configured path again and move every worker to it. */
static void main_reload(const struct config *cfg, struct server_ctl *ctl, struct main_thread *th,
                        uint32_t n, struct store **st, dev_t *dev, ino_t *ino,
                        struct main_warm *warm)
{
    dev_t ndev;
    ino_t nino;
    if (!main_store_id(cfg->store.path, &ndev, &nino)) {
        log_err("SIGHUP: [store] path %s: no store there; keeping the open one", cfg->store.path);
        return;
    }
    if (ndev == *dev && nino == *ino) {
        log_info("SIGHUP: [store] path %s is the store already open; nothing to reopen",
                 cfg->store.path);
        return;
    }
    struct store *ns = NULL;
    int rc = store_open(&ns, cfg->store.path, cfg->store.map_size, STORE_RDONLY);
    if (rc < 0) {
        log_err("SIGHUP: [store] path %s: cannot open read-only: %s; keeping the open one",
                cfg->store.path, rc == -EPROTO ? STORE_SCHEMA_HINT : strerror(-rc));
        return;
    }
    /* Map the new store in before the workers move to it; the old one serves meanwhile. */
    main_warm_join(warm);
    warm->st = ns;
    main_warm_run(warm);
    atomic_store(&ctl->reload_acks, 0);
    atomic_store(&ctl->reload_store, ns);
    atomic_fetch_add(&ctl->reload_gen, 1);
    main_wake(th, n);
    unsigned live = atomic_load(&main_running);
    for (int ms = 0; atomic_load(&ctl->reload_acks) < live && ms < MAIN_RELOAD_WAIT_MS; ms++) {
        nanosleep(&(struct timespec){0, 1000000}, NULL);
        live = atomic_load(&main_running);
    }
    if (atomic_load(&ctl->reload_acks) < live) {
        log_err("SIGHUP: workers did not switch to the reopened store in time; "
                "the old one stays open");
        return;
    }
    store_close(*st);
    *st = ns;
    *dev = ndev;
    *ino = nino;
    log_info("SIGHUP: store %s reopened", cfg->store.path);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    bool check = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(a, "--check") == 0) {
            check = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            main_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "revokd-responder: unexpected argument '%s'\n", a);
            main_usage(stderr);
            return 2;
        }
    }
    if (!path) {
        main_usage(stderr);
        return 2;
    }

    struct config cfg;
    char err[512];
    if (config_load(&cfg, path, err, sizeof(err)) < 0) {
        fprintf(stderr, "revokd-responder: %s\n", err);
        return 2;
    }
    if (strcmp(cfg.responder.backend, "auto") != 0 && !main_backend(cfg.responder.backend)) {
        fprintf(stderr, "revokd-responder: %s: [responder] backend: '%s' is not built in\n", path,
                cfg.responder.backend);
        config_free(&cfg);
        return 2;
    }
    if (check) {
        config_log_warnings(&cfg, stderr);
        printf("config OK\n");
        config_free(&cfg);
        return 0;
    }

    log_init("revokd-responder", (enum log_level)cfg.log.level);
    config_log_warnings(&cfg, NULL);
    int status = 1, rc;
    struct store *st = NULL;
    struct handler *hs = NULL;
    struct main_thread *th = NULL;
    struct handler **peers = NULL;
    struct server_ctl ctl = {0};
    dev_t dev = 0;
    ino_t ino = 0;
    struct main_warm warm = {0};
    uint32_t n = main_workers(cfg.responder.workers), inited = 0;

    const struct server_backend *be = main_pick(cfg.responder.backend, path);
    if (!be)
        goto fail;
    rc = store_open(&st, cfg.store.path, cfg.store.map_size, STORE_RDONLY);
    if (rc == -ENOENT) {
        log_err("[store] path %s: no store there yet; run revokd-indexer first", cfg.store.path);
        goto fail;
    }
    if (rc < 0) {
        log_err("[store] path %s: cannot open read-only: %s", cfg.store.path,
                rc == -EPROTO ? STORE_SCHEMA_HINT : strerror(-rc));
        goto fail;
    }
    main_store_id(cfg.store.path, &dev, &ino);

    /* Workers never see a signal: main takes them all with sigtimedwait. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    struct sigaction sa = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &sa, NULL); /* belt and braces: sends use MSG_NOSIGNAL */
    /* After the mask: the thread inherits it, so no signal meant for main lands there. */
    main_warm_start(&warm, st);

    /* max_conns bounds the process: each worker gets its share of the slots. */
    struct server_params sp = {.listen = cfg.responder.listen,
                               .max_conns = (cfg.responder.max_conns + n - 1) / n,
                               .idle_timeout_ms = cfg.responder.idle_timeout_ms,
                               .send_timeout_ms = cfg.responder.send_timeout_ms,
                               .send_buffer = (uint32_t)cfg.responder.send_buffer,
                               .max_age = cfg.responder.max_age};
    /* Live signing (docs/signer.md): on when [signer] socket is set. The rate is
     * shared out over the workers, each with its own socket and queue. */
    static struct handler_live live_policy;
    static struct livesign_params live_params;
    if (cfg.signer.socket) {
        live_policy.margin_ns = (int64_t)cfg.responder.live_margin * 1000000000;
        live_policy.signer_path = cfg.signer.socket;
        const size_t cap = sizeof(live_policy.iss) / sizeof(live_policy.iss[0]);
        live_policy.n = cfg.n_issuers < cap ? cfg.n_issuers : cap;
        for (size_t i = 0; i < live_policy.n; i++) {
            const struct config_issuer *ci = &cfg.issuers[i];
            snprintf(live_policy.iss[i].name, sizeof(live_policy.iss[i].name), "%s", ci->name);
            live_policy.iss[i].unknown = strcmp(ci->unknown_serial, "unauthorized") == 0
                                             ? HANDLER_UNKNOWN_UNAUTHORIZED
                                             : HANDLER_UNKNOWN_LIVE;
            live_policy.iss[i].nonce_echo = strcmp(ci->nonce, "echo") == 0;
            live_policy.any_echo |= live_policy.iss[i].nonce_echo;
        }
        live_params = (struct livesign_params){
            .path = cfg.signer.socket,
            .queue = cfg.responder.live_queue,
            .rate = cfg.responder.live_rate / n ? cfg.responder.live_rate / n : 1,
            .timeout_ns = (int64_t)cfg.responder.live_timeout_ms * 1000000,
            .cache = cfg.responder.live_cache,
            .cache_ttl_ns = (int64_t)cfg.responder.live_cache_ttl * 1000000000};
        sp.live = &live_params;
        log_info("live signing through %s (%u/s, queue %u per worker)", cfg.signer.socket,
                 live_params.rate, live_params.queue);
    }
    /* Heap, not stack: each handler carries its /metrics scratch buffer. */
    hs = calloc(n, sizeof(*hs));
    th = calloc(n, sizeof(*th));
    peers = calloc(n, sizeof(*peers));
    if (!hs || !th || !peers) {
        log_err("cannot allocate %u workers", n);
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++)
        th[i].w.wake_fd = -1;
    for (; inited < n; inited++) {
        if ((rc = handler_init(&hs[inited], st, cfg.responder.max_age)) < 0) {
            log_err("[store] path %s: cannot begin a read transaction: %s", cfg.store.path,
                    strerror(-rc));
            goto fail;
        }
        hs[inited].backend_name = be->name;
        hs[inited].store_moved = &main_store_moved;
        hs[inited].seccomp = &main_seccomp;
        handler_set_status_api(&hs[inited], cfg.responder.status_api);
        if (cfg.signer.socket)
            handler_set_live(&hs[inited], &live_policy);
        peers[inited] = &hs[inited];
    }
    /* Per thread and inherited: set before the workers start, so all of them have it
     * once privileges are dropped (priv_drop sets it again for this thread) and
     * before the sandbox, which needs it (sandbox.h). */
    if ((cfg.responder.user || cfg.responder.seccomp) &&
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        log_err("prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
        goto fail;
    }
    log_info("backend %s, %u worker(s)", be->name, n);
    atomic_store(&main_running, n);
    uint32_t started = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct main_thread *t = &th[i];
        t->be = be;
        t->w = (struct server_worker){.p = &sp,
                                      .ctl = &ctl,
                                      .h = &hs[i],
                                      .peers = peers,
                                      .n_peers = n,
                                      .id = i,
                                      .wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
        if (t->w.wake_fd < 0 || pthread_create(&t->tid, NULL, main_worker, t) != 0) {
            log_err("worker %u: cannot start: %s", i, strerror(errno));
            atomic_fetch_sub(&main_running, n - i);
            atomic_store(&ctl.stop, true);
            break;
        }
        t->started = true;
        started++;
    }
    main_wake(th, started);

    status = 0;
    bool stopping = atomic_load(&ctl.stop);
    if (stopping)
        status = 1;
    if (!stopping) {
        /* Workers hold at server_worker_wait_go() once they listen: the last of
         * the set-up (privileges, sandbox) happens before any request is read. */
        uint32_t ready = 0;
        for (int ms = 0; ms < MAIN_READY_WAIT_MS; ms++) {
            ready = 0;
            for (uint32_t i = 0; i < started; i++)
                ready += atomic_load(&th[i].w.ready);
            if (ready == started || atomic_load(&main_running) < started)
                break;
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
        /* A worker that did not get to listen has failed (logged) and is caught below;
         * one that is still not listening after the wait is a failure too. */
        bool ok = ready == started;
        if (!ok && atomic_load(&main_running) == started)
            log_err("workers did not all start listening within %d ms", MAIN_READY_WAIT_MS);
        if (ok && ((cfg.responder.user && main_drop(path, cfg.responder.user) < 0) ||
                   (cfg.responder.seccomp && main_sandbox(be->name) < 0)))
            ok = false;
        if (!ok) {
            status = 1;
            stopping = true;
            atomic_store(&ctl.stop, true);
            main_wake(th, started);
        } else if (!cfg.responder.seccomp) {
            log_info("seccomp: off ([responder] seccomp = off)");
        }
    }
    atomic_store(&ctl.go, true);
    unsigned ticks = 0;
    while (atomic_load(&main_running) > 0) {
        int sig = sigtimedwait(&sigs, NULL, &(struct timespec){0, 200000000});
        if (++ticks % 5 == 0 && !stopping)
            main_watch_store(&cfg, dev, ino);
        if ((sig == SIGTERM || sig == SIGINT) && stopping) {
            log_info("signal %d again: stopping now", sig);
            atomic_store(&ctl.force, true);
            main_wake(th, started);
        } else if (sig == SIGTERM || sig == SIGINT) {
            log_info("signal %d: stopping", sig);
            stopping = true;
            atomic_store(&ctl.stop, true);
            main_wake(th, started);
        } else if (sig == SIGHUP && !stopping) {
            log_info("SIGHUP: reopening the store");
            main_reload(&cfg, &ctl, th, started, &st, &dev, &ino, &warm);
        }
        if (!stopping && atomic_load(&main_running) < started) {
            /* A worker that returns on its own could not start (logged): stop all. */
            status = 1;
            stopping = true;
            atomic_store(&ctl.stop, true);
            main_wake(th, started);
        }
    }
    for (uint32_t i = 0; i < started; i++) {
        pthread_join(th[i].tid, NULL);
        if (th[i].w.rc < 0)
            status = 1;
    }
    if (status == 0)
        log_info("stopped");

fail:
    if (th) {
        for (uint32_t i = 0; i < n; i++) {
            if (th[i].w.wake_fd >= 0)
                close(th[i].w.wake_fd);
        }
    }
    for (uint32_t i = 0; i < inited; i++)
        handler_free(&hs[i]);
    free(peers);
    free(hs);
    free(th);
    main_warm_join(&warm);
    if (st)
        store_close(st);
    config_free(&cfg);
    return status;
}
