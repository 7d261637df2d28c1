/*
 * Tests for indexer/src_crl: CRLs made by `openssl ca -gencrl` and (the delta
 * and the CRLs openssl ca cannot be asked to get wrong) by Python cryptography
 * (tests/indexer/mk_sources.sh). Every entry maps to the store's status, reason
 * and dates; a delta's entries replace the full CRL's (removeFromCRL releases);
 * a CRL with a bad signature, another issuer, a passed nextUpdate, an indirect
 * entry, or a delta that does not apply to the full CRL is rejected whole.
 */
#include <errno.h>
#include <time.h>

#include "src_crl.h"
#include "src_fixture.h"

static X509 *ca;
static struct src_snapshot s;
static int64_t now;

static void setup(void)
{
    ca = fx_cert("ca.pem");
    src_snapshot_init(&s, STORE_SRC_CRL);
    now = (int64_t)time(NULL);
}

static void teardown(void)
{
    src_snapshot_free(&s);
    X509_free(ca);
}

TestSuite(src_crl, .init = setup, .fini = teardown);

static void expect_revoked(const char *cert, uint8_t status, uint8_t reason, int64_t invalidity)
{
    const struct src_entry *e = fx_find(&s, cert);
    cr_assert_not_null(e, "%s is in the snapshot", cert);
    cr_expect_eq(e->status, status, "%s: status %u, expected %u", cert, e->status, status);
    cr_expect_eq(e->reason, reason, "%s: reason %u, expected %u", cert, e->reason, reason);
    cr_expect_eq(e->invalidity, invalidity, "%s: invalidity %lld, expected %lld", cert,
                 (long long)e->invalidity, (long long)invalidity);
    if (status == STORE_GOOD)
        cr_expect_eq(e->revoked_at, 0);
    else /* revoked by the fixture script minutes ago */
        cr_expect(e->revoked_at > now - 3600 && e->revoked_at <= now, "%s: revoked_at %lld", cert,
                  (long long)e->revoked_at);
    cr_expect_eq(e->not_after, 0, "a CRL does not know expiry");
}

static void full_crl_entries(const char *file)
{
    struct src_crl_info info;
    cr_assert_eq(src_crl_read("t", fx(file), NULL, ca, now, &s, &info), 0);
    cr_assert_eq(s.n, 3);
    cr_expect_eq(s.malformed, 0);
    cr_expect_eq(s.source, STORE_SRC_CRL);
    cr_expect_eq(info.number, 0x1000);
    cr_expect_eq(info.delta_number, 0);
    cr_expect(info.next_update > now + 6 * 86400 && info.next_update <= now + 7 * 86400 + 60);
    expect_revoked("l1.pem", STORE_REVOKED, 1, 0);
    expect_revoked("l2.pem", STORE_HOLD, 6, 0);
    /* -crl_compromise 20240102030405Z: keyCompromise with that invalidity date */
    expect_revoked("l3.pem", STORE_REVOKED, 1, 1704164645);
    cr_expect_null(fx_find(&s, "l4.pem"), "a CRL lists only what it revokes");
}

Test(src_crl, full_pem_from_openssl_ca)
{
    full_crl_entries("full.crl");
}

Test(src_crl, full_der_same_as_pem)
{
    full_crl_entries("full.der");
}

Test(src_crl, delta_replaces_and_releases)
{
    struct src_crl_info info;
    cr_assert_eq(src_crl_read("t", fx("full.crl"), fx("delta.crl"), ca, now, &s, &info), 0);
    cr_assert_eq(s.n, 5);
    cr_expect_eq(info.number, 4096);
    cr_expect_eq(info.delta_number, 4097);
    cr_expect_eq(info.delta_base, 4096);
    expect_revoked("l1.pem", STORE_REVOKED, 1, 0);
    expect_revoked("l2.pem", STORE_GOOD, STORE_REASON_NONE, 0); /* removeFromCRL in the delta */
    expect_revoked("l3.pem", STORE_REVOKED, 1, 1704164645);
    expect_revoked("l4.pem", STORE_REVOKED, 4, 1714979289); /* superseded, 2024-05-06 07:08:09 */
    expect_revoked("l6.pem", STORE_REVOKED, 1, 0);
    for (size_t i = 1; i < s.n; i++)
        cr_expect_lt(src_serial_cmp(s.v[i - 1].serial, s.v[i - 1].serial_len, s.v[i].serial,
                                    s.v[i].serial_len),
                     0, "sorted, one entry per serial");
}

static void expect_rejected(const char *full, const char *delta, int64_t at, int err)
{
    /* A previous good read's entries must not survive a rejected one. */
    cr_assert_eq(src_crl_read("t", fx("full.crl"), NULL, ca, now, &s, NULL), 0);
    cr_assert_eq(s.n, 3);
    int rc = src_crl_read("t", fx(full), delta ? fx(delta) : NULL, ca, at, &s, NULL);
    cr_expect_eq(rc, err, "%s + %s: %d (%s), expected %d", full, delta ? delta : "-", rc,
                 strerror(-rc), err);
    cr_expect_eq(s.n, 0, "a rejected CRL yields no entries");
}

Test(src_crl, rejects_signature_of_another_key_with_our_name)
{
    expect_rejected("fakesig.crl", NULL, now, -EBADMSG);
}

Test(src_crl, rejects_another_issuer)
{
    expect_rejected("other.crl", NULL, now, -EBADMSG);
}

Test(src_crl, rejects_passed_next_update)
{
    expect_rejected("expired.crl", NULL, now, -ESTALE);
    expect_rejected("full.crl", NULL, now + 8 * 86400, -ESTALE);
    expect_rejected("full.crl", "delta.crl", now + 8 * 86400, -ESTALE);
}

Test(src_crl, rejects_delta_that_does_not_apply)
{
    expect_rejected("full.crl", "delta-badbase.crl", now, -EBADMSG); /* base above full */
    expect_rejected("full.crl", "delta-oldnum.crl", now, -EBADMSG);  /* number not above */
    expect_rejected("full.crl", "full.crl", now, -EBADMSG);          /* not a delta at all */
    expect_rejected("delta.crl", NULL, now, -EBADMSG);               /* a delta as crl_file */
}

Test(src_crl, rejects_delta_with_bad_signature)
{
    expect_rejected("full.crl", "fakesig.crl", now, -EBADMSG);
}

Test(src_crl, rejects_indirect_crl)
{
    expect_rejected("indirect.crl", NULL, now, -EBADMSG);
}

Test(src_crl, rejects_unreadable_files)
{
    expect_rejected("nope.crl", NULL, now, -ENOENT);
    expect_rejected("ca.pem", NULL, now, -EBADMSG); /* a certificate, not a CRL */
    expect_rejected("certdir", NULL, now, -EINVAL); /* a directory */
}

static void parse_file(const char *name, bool delta, int want)
{
    FILE *f = fopen(fx(name), "rb");
    cr_assert_not_null(f);
    static uint8_t buf[65536];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    src_snapshot_free(&s);
    src_snapshot_init(&s, STORE_SRC_CRL);
    cr_expect_eq(src_crl_parse(buf, n, delta, &s), want, "%s as %s", name,
                 delta ? "delta" : "full");
}

Test(src_crl, parse_maps_without_checks)
{
    cr_expect_eq(src_crl_parse((const uint8_t *)"garbage", 7, false, &s), -EBADMSG);
    cr_expect_eq(s.n, 0);
    parse_file("fakesig.crl", false, 0); /* no signature check here: src_crl_read's job */
    parse_file("full.der", false, 0);
    cr_expect_eq(s.n, 3);
    parse_file("full.der", true, -EBADMSG); /* not a delta */
    parse_file("delta.crl", true, 0);
    cr_expect_eq(s.n, 3);
    cr_expect_eq(fx_find(&s, "l2.pem")->status, STORE_GOOD, "removeFromCRL: released");
    parse_file("delta.crl", false, -EBADMSG);
    parse_file("indirect.crl", false, -EBADMSG);
}
