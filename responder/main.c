/*
 * revokd-responder — serves the pre-signed OCSP responses (and CRLs) that the
 * indexer and crlgen wrote to the store, over HTTP. It opens the store
 * read-only and never loads a private key, so a compromise of this process
 * cannot mint responses. main() only wires things up: config, logging, store,
 * handler, and the backend named in [responder] backend; exit status 0 on a
 * clean stop, 1 on a runtime failure, 2 on bad arguments or configuration.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "handler.h"
#include "log.h"
#include "server.h"
#include "store.h"

static const struct server_backend *const main_backends[] = {&server_backend_ev};

static void main_usage(FILE *f)
{
    fprintf(f, "usage: revokd-responder -c FILE [--check]\n"
               "  -c, --config FILE  configuration file (see docs/configuration.md)\n"
               "      --check        validate the configuration, print \"config OK\" and exit\n"
               "  -h, --help         show this help\n");
}

static const struct server_backend *main_backend(const char *name)
{
    if (strcmp(name, "auto") == 0) /* the first built in: io_uring joins ahead of libev */
        return main_backends[0];
    for (size_t i = 0; i < sizeof(main_backends) / sizeof(main_backends[0]); i++) {
        if (strcmp(main_backends[i]->name, name) == 0)
            return main_backends[i];
    }
    return NULL;
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
    const struct server_backend *be = main_backend(cfg.responder.backend);
    if (!be) {
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
    struct handler *h = NULL;
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
    /* Static, not on the stack: the handler carries its /metrics scratch buffer. */
    static struct handler handler;
    h = &handler;
    if ((rc = handler_init(h, st, cfg.responder.max_age)) < 0) {
        log_err("[store] path %s: cannot begin a read transaction: %s", cfg.store.path,
                strerror(-rc));
        h = NULL;
        goto fail;
    }
    struct server_params sp = {.listen = cfg.responder.listen,
                               .max_conns = cfg.responder.max_conns,
                               .idle_timeout_ms = cfg.responder.idle_timeout_ms,
                               .send_timeout_ms = cfg.responder.send_timeout_ms,
                               .send_buffer = (uint32_t)cfg.responder.send_buffer};
    if (be->run(&sp, h) == 0)
        status = 0;

fail:
    if (h)
        handler_free(h);
    if (st)
        store_close(st);
    config_free(&cfg);
    return status;
}
