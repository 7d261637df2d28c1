/*
 * Shared by the source readers' tests (test_src_*.c): makes the real files of
 * tests/indexer/mk_sources.sh once per test binary (in the runner, before any
 * test forks) and loads certificates from them.
 */
#ifndef REVOKD_TEST_SRC_FIXTURE_H
#define REVOKD_TEST_SRC_FIXTURE_H

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "source.h"

static char fx_dir[256];

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    snprintf(fx_dir, sizeof(fx_dir), "/tmp/revokd-src-XXXXXX");
    if (!mkdtemp(fx_dir))
        abort();
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "bash '%s/tests/indexer/mk_sources.sh' '%s'", REVOKD_SRC, fx_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "mk_sources.sh failed\n");
        abort();
    }
    /* Tests run in re-executed workers (BoxFort): they find the files through the
     * environment, not through this process's memory. */
    setenv("REVOKD_SRC_FX", fx_dir, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    char cmd[512];
    if (stats->tests_failed == 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", fx_dir);
    } else {
        fprintf(stderr, "fixtures kept in %s\n", fx_dir);
    }
}

static inline const char *fx(const char *name)
{
    static char buf[4][512];
    static int k;
    char *b = buf[k++ & 3];
    const char *dir = getenv("REVOKD_SRC_FX");
    cr_assert_not_null(dir, "REVOKD_SRC_FX is set by the PRE_ALL hook");
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

static inline X509 *fx_cert(const char *name)
{
    FILE *f = fopen(fx(name), "r");
    cr_assert_not_null(f, "%s", fx(name));
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(x, "%s: not a PEM certificate", name);
    return x;
}

/* The serial of a fixture certificate as DER INTEGER content. */
static inline void fx_serial(const char *name, uint8_t *out, uint8_t *len)
{
    X509 *x = fx_cert(name);
    int n = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), NULL);
    uint8_t tlv[64], *p = tlv;
    cr_assert(n > 2 && n < 40);
    i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &p);
    memcpy(out, tlv + 2, (size_t)tlv[1]);
    *len = tlv[1];
    X509_free(x);
}

/* The snapshot's entry for a fixture certificate's serial, or NULL. */
static inline const struct src_entry *fx_find(const struct src_snapshot *s, const char *cert)
{
    uint8_t ser[STORE_SERIAL_MAX], len;
    fx_serial(cert, ser, &len);
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].serial_len == len && memcmp(s->v[i].serial, ser, len) == 0)
            return &s->v[i];
    return NULL;
}

static inline int64_t fx_not_after(const char *cert)
{
    X509 *x = fx_cert(cert);
    struct tm tm;
    cr_assert_eq(ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm), 1);
    X509_free(x);
    return (int64_t)timegm(&tm);
}

#endif
