/*
 * revokd-signer — the live-signing service (docs/signer.md): loads the OCSP
 * signing keys of every [issuer], opens the store read-only and answers the
 * responder's signing requests on [signer] socket until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "livesigner.h"
#include "log.h"

static volatile sig_atomic_t signer_stop;

static void signer_on_signal(int sig)
{
    (void)sig;
    signer_stop = 1;
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
    static struct livesigner ls;
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
    int rc = livesigner_init(&ls, &cfg);
    if (rc == 0) {
        rc = livesigner_run(&ls, &signer_stop);
        livesigner_free(&ls);
    }
    config_free(&cfg);
    return rc < 0 ? 1 : 0;
}
