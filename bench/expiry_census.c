/*
 * expiry_census — how long the indexer's expiry census (indexer/expiry.c) takes
 * on a store of N certificates, the question being whether an hourly walk of
 * every certificate is cheap enough at 1M. It fills a fresh store with N good
 * certificates of one issuer (8-byte random serials, notAfter spread over 400
 * days, 10k per transaction, as the indexer batches), then runs expiry_update()
 * R times and prints wall and CPU time per census. Built with the project (it
 * links the indexer's library); not a test.
 *
 *   build/bench/expiry_census [N [R [DIR]]]     (default 1000000 3 $TMPDIR/...)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "expiry.h"
#include "log.h"
#include "store.h"

static double now_s(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    char dflt[256];
    snprintf(dflt, sizeof(dflt), "%s/revokd-expiry-census-%d",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    const char *dir = argc > 3 ? argv[3] : dflt;
    log_init("expiry_census", LOG_WARN);

    struct store *s;
    int rc = store_open(&s, dir, 8ull << 30, 0);
    if (rc < 0) {
        fprintf(stderr, "store_open %s: %s\n", dir, strerror(-rc));
        return 1;
    }
    struct store_txn t;
    struct store_issuer_rec rec = {0};
    snprintf(rec.name, sizeof(rec.name), "bench");
    uint32_t id;
    int64_t now = (int64_t)time(NULL);
    if (store_txn_begin(s, &t, false) < 0 ||
        store_put_issuer(&t, &rec, (const uint8_t *)"x", 1, &id) < 0)
        return 1;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    double f0 = now_s(CLOCK_MONOTONIC);
    for (unsigned long i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: random serials, random order */
        uint8_t serial[8];
        for (int b = 0; b < 8; b++)
            serial[b] = (uint8_t)(x >> (8 * b));
        serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x01); /* positive, minimal */
        struct store_cert c = {.status = STORE_GOOD,
                               .reason = STORE_REASON_NONE,
                               .source = STORE_SRC_INDEX,
                               .not_after = now + (int64_t)(x % (400 * 86400))};
        if ((rc = store_put_cert(&t, id, serial, 8, &c, now)) < 0)
            break;
        if (i % 10000 == 9999 &&
            ((rc = store_txn_commit(&t)) < 0 || (rc = store_txn_begin(s, &t, false)) < 0))
            break;
    }
    if (rc < 0 || (rc = store_txn_commit(&t)) < 0) {
        fprintf(stderr, "fill: %s\n", strerror(-rc));
        return 1;
    }
    printf("filled %lu certificates in %.2f s (%s)\n", n, now_s(CLOCK_MONOTONIC) - f0, dir);
    for (int r = 0; r < rounds; r++) {
        struct expiry_state st = {0};
        struct store_issuer_expiry e;
        double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        if ((rc = expiry_update(s, id, "bench", now, 0, 0, &st, &e)) < 0)
            return 1;
        double w1 = now_s(CLOCK_MONOTONIC), c1 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        printf("census %d: %.1f ms wall, %.1f ms CPU; within 7d %llu, 30d %llu, 90d %llu\n", r + 1,
               (w1 - w0) * 1e3, (c1 - c0) * 1e3, (unsigned long long)e.within_7d,
               (unsigned long long)e.within_30d, (unsigned long long)e.within_90d);
    }
    store_close(s);
    if (argc <= 3) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            return 1;
    }
    return 0;
}
