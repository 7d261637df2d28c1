/*
 * srcread — CPU cost of the certificate source readers (indexer/src_certdir.c,
 * indexer/src_certmate.c): reads a cert_dir or a CertMate store three times with
 * one file cache, as the indexer does across syncs, and prints the CPU time of
 * each read (cold, then from the cache). Run by bench/sources.sh.
 *
 *   srcread certdir|certmate CA.pem DIR
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <openssl/pem.h>

#include "src_certdir.h"
#include "src_certmate.h"

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "certdir") != 0 && strcmp(argv[1], "certmate") != 0)) {
        fprintf(stderr, "usage: srcread certdir|certmate CA.pem DIR\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "r");
    X509 *ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    struct src_cache *cache;
    if (!ca || src_cache_new(&cache) < 0) {
        fprintf(stderr, "srcread: cannot read %s\n", argv[2]);
        return 1;
    }
    bool certdir = strcmp(argv[1], "certdir") == 0;
    for (int i = 0; i < 3; i++) {
        struct src_snapshot s;
        src_snapshot_init(&s, certdir ? STORE_SRC_CERTDIR : STORE_SRC_CERTMATE);
        double t0 = cpu_s();
        int rc = certdir ? src_certdir_read("bench", argv[3], ca, cache, &s)
                         : src_certmate_read("bench", argv[3], ca, cache, &s);
        double t = cpu_s() - t0;
        printf("%s read %d (%s): rc %d, %zu entries, %llu malformed, CPU %.3f s, %.1f us/entry\n",
               argv[1], i + 1, i ? "cached" : "cold", rc, s.n, (unsigned long long)s.malformed, t,
               s.n ? t * 1e6 / (double)s.n : 0.0);
        src_snapshot_free(&s);
    }
    src_cache_free(cache);
    X509_free(ca);
    return 0;
}
