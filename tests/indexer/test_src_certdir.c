/*
 * Tests for indexer/src_certdir over a directory made with `openssl ca`
 * (tests/indexer/mk_sources.sh): PEM, DER and PEM-with-key files become GOOD
 * entries with the certificate's expiry; another CA's certificate is skipped
 * and counted foreign; one naming our CA but signed by another key, and a file
 * that is no certificate, are skipped and make the read partial; dot files and
 * subdirectories are not read.
 */
#include <errno.h>
#include <unistd.h>

#include "src_certdir.h"
#include "src_fixture.h"

static X509 *ca;
static struct src_snapshot s;

static void setup(void)
{
    ca = fx_cert("ca.pem");
    src_snapshot_init(&s, STORE_SRC_CERTDIR);
}

static void teardown(void)
{
    src_snapshot_free(&s);
    X509_free(ca);
}

TestSuite(src_certdir, .init = setup, .fini = teardown);

static void expect_good(const char *cert)
{
    const struct src_entry *e = fx_find(&s, cert);
    cr_assert_not_null(e, "%s is listed", cert);
    cr_expect_eq(e->status, STORE_GOOD);
    cr_expect_eq(e->reason, STORE_REASON_NONE);
    cr_expect_eq(e->revoked_at, 0);
    cr_expect_eq(e->not_after, fx_not_after(cert), "%s: expiry from the certificate", cert);
}

Test(src_certdir, issued_certificates_only)
{
    cr_assert_eq(src_certdir_read("t", fx("certdir"), ca, NULL, &s), 0);
    cr_expect_eq(s.source, STORE_SRC_CERTDIR);
    /* l1 l3 l4 (PEM), l2 (DER), l5 (PEM with its key in the same file) */
    cr_expect_eq(s.n, 5, "%zu entries", s.n);
    expect_good("l1.pem");
    expect_good("l2.pem");
    expect_good("l3.pem");
    expect_good("l4.pem");
    expect_good("l5.pem");
    cr_expect_null(fx_find(&s, "l6.pem"), "sub/ is not read");
    cr_expect_eq(s.foreign, 1, "foreign.pem: another CA's certificate");
    /* impostor.pem (our name, another key) and junk.pem */
    cr_expect_eq(s.malformed, 2, "%llu malformed", (unsigned long long)s.malformed);
}

Test(src_certdir, impostor_never_listed)
{
    cr_assert_eq(src_certdir_read("t", fx("certdir"), ca, NULL, &s), 0);
    /* Our CA's name, another CA's key and signature, a serial (2001) ours never issued. */
    cr_expect_null(fx_find(&s, "impostor.pem"));
}

Test(src_certdir, another_ca_reads_nothing_of_ours)
{
    X509 *other = fx_cert("other.pem");
    cr_assert_eq(src_certdir_read("t", fx("certdir"), other, NULL, &s), 0);
    cr_expect_eq(s.n, 1, "only foreign.pem is the other CA's");
    cr_expect_eq(s.foreign, 6, "l1..l5 and impostor are not the other CA's");
    X509_free(other);
}

Test(src_certdir, missing_directory_is_an_error)
{
    cr_expect_eq(src_certdir_read("t", fx("nope"), ca, NULL, &s), -ENOENT);
    cr_expect_eq(s.n, 0);
}

Test(src_certdir, newcerts_of_openssl_ca)
{
    /* openssl ca's own copy of everything it issued: l1..l6, as <serial>.pem */
    cr_assert_eq(src_certdir_read("t", fx("ca.db/newcerts"), ca, NULL, &s), 0);
    cr_expect_eq(s.n, 6, "%zu entries", s.n);
    cr_expect_eq(s.malformed + s.foreign, 0);
    expect_good("l6.pem");
}

Test(src_certdir, self_signed_ca_counts_as_issued_by_itself)
{
    /* The fixture root: l1..l6 and ca.pem are ours, fake.pem (our name, its own key)
     * is not, other.pem and foreign.pem are another CA's. */
    cr_assert_eq(src_certdir_read("t", fx("."), ca, NULL, &s), 0);
    cr_expect_eq(s.n, 7, "%zu entries", s.n);
}

static void counts_equal(const struct src_snapshot *a, const struct src_snapshot *b)
{
    cr_assert_eq(a->n, b->n);
    cr_expect_eq(a->malformed, b->malformed);
    cr_expect_eq(a->foreign, b->foreign);
    for (size_t i = 0; i < a->n; i++) {
        cr_expect_eq(a->v[i].serial_len, b->v[i].serial_len);
        cr_expect_eq(memcmp(a->v[i].serial, b->v[i].serial, a->v[i].serial_len), 0);
        cr_expect_eq(a->v[i].not_after, b->v[i].not_after);
    }
}

Test(src_certdir, cache_spares_unchanged_files_and_sees_changes)
{
    char dir[300], cmd[700], path[400];
    snprintf(dir, sizeof(dir), "%s/cachecopy-%d", getenv("REVOKD_SRC_FX"), (int)getpid());
    snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", fx("certdir"), dir);
    cr_assert_eq(system(cmd), 0);
    struct src_cache *cache;
    cr_assert_eq(src_cache_new(&cache), 0);
    struct src_snapshot nocache, again;
    src_snapshot_init(&nocache, STORE_SRC_CERTDIR);
    src_snapshot_init(&again, STORE_SRC_CERTDIR);
    cr_assert_eq(src_certdir_read("t", dir, ca, NULL, &nocache), 0);
    cr_assert_eq(src_certdir_read("t", dir, ca, cache, &s), 0);
    counts_equal(&s, &nocache);
    cr_assert_eq(src_certdir_read("t", dir, ca, cache, &again), 0);
    counts_equal(&again, &nocache); /* served from the cache: the same, counts included */

    /* l4.pem rewritten in place with l6's certificate (same name, new content). */
    snprintf(path, sizeof(path), "%s/l4.pem", dir);
    snprintf(cmd, sizeof(cmd), "cat '%s' > '%s'", fx("l6.pem"), path);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(src_certdir_read("t", dir, ca, cache, &again), 0);
    cr_expect_null(fx_find(&again, "l4.pem"), "the rewritten file is read again");
    cr_expect_not_null(fx_find(&again, "l6.pem"));
    /* Removed files are gone; the impostor removed drops one malformed. */
    snprintf(path, sizeof(path), "%s/impostor.pem", dir);
    cr_assert_eq(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/l1.pem", dir);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(src_certdir_read("t", dir, ca, cache, &again), 0);
    cr_expect_null(fx_find(&again, "l1.pem"));
    cr_expect_eq(again.malformed, nocache.malformed - 1);
    src_snapshot_free(&nocache);
    src_snapshot_free(&again);
    src_cache_free(cache);
}
