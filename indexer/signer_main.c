/*
 * revokd-signer — the live-signing service (docs/signer.md): loads the OCSP
 * signing keys of every [issuer], opens the store read-only and answers the
 * responder's signing requests on [signer] socket until SIGINT or SIGTERM.
 *
 * SIGHUP reloads: the threads stop as for SIGTERM (requests in hand are
 * answered first), the config file is read again and checked as --check
 * does (keys load, store opens), and serving restarts with it; a config that
 * fails the check is logged and the previous one is served again. Between
 * the two the socket is closed for a moment: the responders answer tryLater
 * and reconnect (every 200 ms), as for any signer restart.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "livesigner.h"
#include "log.h"

static volatile sig_atomic_t signer_stop;   /* the threads return */
static volatile sig_atomic_t signer_reload; /* SIGHUP: ... to serve the config read again */
static volatile sig_atomic_t signer_term;   /* SIGTERM, SIGINT: ... for good */

static void signer_on_signal(int sig)
{
    if (sig == SIGHUP)
        signer_reload = 1;
    else
        signer_term = 1;
    signer_stop = 1;
}

struct signer_thread {
    pthread_t tid;
    struct livesigner ls;
    int rc;
};

static void *signer_thread_main(void *arg)
{
    struct signer_thread *t = arg;
    t->rc = livesigner_run(&t->ls, &signer_stop);
    return NULL;
}

/*
 * Serves cfg until signer_stop: thread 0 (the caller) owns the store and the
 * socket; the others are its peers, each with its own keys and read txn.
 * Signals reach this thread only. Returns 0 or a negative errno.
 */
static int signer_serve(struct config *cfg)
{
    uint32_t n = cfg->signer.threads ? cfg->signer.threads : 1, started = 0, inited = 0;
    struct signer_thread *th = calloc(n, sizeof(*th));
    int rc = th ? livesigner_init(&th[0].ls, cfg) : -ENOMEM;
    for (uint32_t i = 1; rc == 0 && i < n; i++) {
        if ((rc = livesigner_init_peer(&th[i].ls, &th[0].ls)) == 0)
            started = inited = i;
    }
    if (rc == 0) {
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        for (uint32_t i = 1; i <= started; i++) {
            if (pthread_create(&th[i].tid, NULL, signer_thread_main, &th[i]) != 0) {
                log_err("cannot start signing thread %u", i);
                signer_stop = 1;
                started = i - 1;
                rc = -EAGAIN;
                break;
            }
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc == 0)
            rc = livesigner_run(&th[0].ls, &signer_stop);
        signer_stop = 1;
        for (uint32_t i = 1; i <= started; i++) {
            pthread_join(th[i].tid, NULL);
            if (th[i].rc < 0 && rc == 0)
                rc = th[i].rc;
        }
    }
    for (uint32_t i = inited; i >= 1; i--)
        livesigner_free(&th[i].ls); /* peers first: they use the owner's store */
    if (th)
        livesigner_free(&th[0].ls); /* a no-op after a failed init: that cleaned up */
    free(th);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: revokd-signer -c FILE [--check]\n"
               "Holds the OCSP keys and signs live answers for revokd-responder on the Unix\n"
               "socket [signer] socket names (docs/signer.md). --check: load the config and\n"
               "every issuer's signer, then exit 0 if all is well.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"check", no_argument, NULL, 'C'},
                                         {NULL, 0, NULL, 0}};
    static struct config cfg;
    const char *path = NULL;
    char err[512];
    int opt, check = 0;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'C':
            check = 1;
            break;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!path || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (config_load(&cfg, path, err, sizeof(err)) < 0) {
        fprintf(stderr, "revokd-signer: %s\n", err);
        return 2;
    }
    log_init("revokd-signer", (enum log_level)cfg.log.level);
    if (check) {
        config_log_warnings(&cfg, stdout);
        int crc = livesigner_check(&cfg);
        config_free(&cfg);
        if (crc == 0)
            printf("config OK: %s\n", path);
        return crc < 0 ? 1 : 0;
    }
    config_log_warnings(&cfg, NULL);
    struct sigaction sa = {.sa_handler = signer_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigaction(SIGHUP, &sa, NULL);
    /* Two configs, so a reload that fails keeps the one being served. */
    static struct config other;
    struct config *cur = &cfg, *next = &other;
    int rc;
    for (;;) {
        rc = signer_serve(cur);
        if (rc < 0 || signer_term || !signer_reload)
            break;
        signer_reload = 0;
        signer_stop = 0;
        if (config_load(next, path, err, sizeof(err)) < 0) {
            log_err("SIGHUP: %s; serving the previous configuration", err);
        } else if (livesigner_check(next) < 0) {
            log_err("SIGHUP: %s does not pass --check; serving the previous configuration", path);
            config_free(next);
        } else {
            config_log_warnings(next, NULL);
            config_free(cur);
            struct config *t = cur;
            cur = next;
            next = t;
            log_info("SIGHUP: configuration %s reloaded", path);
        }
        if (signer_term) {
            rc = 0;
            break;
        }
    }
    config_free(cur);
    return rc < 0 ? 1 : 0;
}
