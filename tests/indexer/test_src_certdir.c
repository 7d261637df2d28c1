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
    cr_assert_eq(src_certdir_read("t", fx("certdir"), ca, &s), 0);
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
    cr_assert_eq(src_certdir_read("t", fx("certdir"), ca, &s), 0);
    /* Our CA's name, another CA's key and signature, a serial (2001) ours never issued. */
    cr_expect_null(fx_find(&s, "impostor.pem"));
}

Test(src_certdir, another_ca_reads_nothing_of_ours)
{
    X509 *other = fx_cert("other.pem");
    cr_assert_eq(src_certdir_read("t", fx("certdir"), other, &s), 0);
    cr_expect_eq(s.n, 1, "only foreign.pem is the other CA's");
    cr_expect_eq(s.foreign, 6, "l1..l5 and impostor are not the other CA's");
    X509_free(other);
}

Test(src_certdir, missing_directory_is_an_error)
{
    cr_expect_eq(src_certdir_read("t", fx("nope"), ca, &s), -ENOENT);
    cr_expect_eq(s.n, 0);
}

Test(src_certdir, newcerts_of_openssl_ca)
{
    /* openssl ca's own copy of everything it issued: l1..l6, as <serial>.pem */
    cr_assert_eq(src_certdir_read("t", fx("ca.db/newcerts"), ca, &s), 0);
    cr_expect_eq(s.n, 6, "%zu entries", s.n);
    cr_expect_eq(s.malformed + s.foreign, 0);
    expect_good("l6.pem");
}

Test(src_certdir, self_signed_ca_counts_as_issued_by_itself)
{
    /* The fixture root: l1..l6 and ca.pem are ours, fake.pem (our name, its own key)
     * is not, other.pem and foreign.pem are another CA's. */
    cr_assert_eq(src_certdir_read("t", fx("."), ca, &s), 0);
    cr_expect_eq(s.n, 7, "%zu entries", s.n);
}
