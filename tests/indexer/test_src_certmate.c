/*
 * Tests for indexer/src_certmate: a CertMate store laid out as its architecture
 * document describes (<root>/<usage>/<id>/cert.crt + metadata.json, made by
 * tests/indexer/mk_sources.sh with openssl-issued certificates) becomes one entry
 * per certificate with the status of its revocation block; the strict JSON
 * reader accepts what Python's json module writes and refuses everything else.
 */
#include <errno.h>
#include <unistd.h>

#include "src_certmate.h"
#include "src_fixture.h"

static X509 *ca;
static struct src_snapshot s;

static void setup(void)
{
    ca = fx_cert("ca.pem");
    src_snapshot_init(&s, STORE_SRC_CERTMATE);
}

static void teardown(void)
{
    src_snapshot_free(&s);
    X509_free(ca);
}

TestSuite(src_certmate, .init = setup, .fini = teardown);

Test(src_certmate, store_as_documented)
{
    cr_assert_eq(src_certmate_read("t", fx("certmate"), ca, NULL, &s), 0);
    cr_expect_eq(s.source, STORE_SRC_CERTMATE);
    cr_expect_eq(s.n, 3, "%zu entries", s.n);
    const struct src_entry *e = fx_find(&s, "l4.pem");
    cr_assert_not_null(e);
    cr_expect_eq(e->status, STORE_GOOD);
    cr_expect_eq(e->not_after, fx_not_after("l4.pem"));
    e = fx_find(&s, "l5.pem");
    cr_assert_not_null(e);
    cr_expect_eq(e->status, STORE_REVOKED);
    cr_expect_eq(e->reason, 1);
    cr_expect_eq(e->revoked_at, 1730542830); /* 2024-11-02T10:20:30Z */
    cr_expect_eq(e->not_after, fx_not_after("l5.pem"));
    e = fx_find(&s, "l6.pem");
    cr_assert_not_null(e);
    cr_expect_eq(e->status, STORE_HOLD);
    cr_expect_eq(e->reason, 6);
    cr_expect_eq(e->revoked_at, 1730592000 - 3600, "+01:00 is an hour ahead of UTC: %lld",
                 (long long)e->revoked_at); /* 2024-11-03T00:00:00Z - 1h */
    /* cert-004 no metadata, cert-006 serial mismatch, cert-007 truncated JSON */
    cr_expect_eq(s.malformed, 3, "%llu malformed", (unsigned long long)s.malformed);
    cr_expect_eq(s.foreign, 1);
    cr_expect_null(fx_find(&s, "l1.pem"), "metadata for another serial: not believed");
    cr_expect_null(fx_find(&s, "l3.pem"), "no metadata.json: state unknown");
}

Test(src_certmate, cache_gives_the_same_and_follows_changes)
{
    char dir[300], cmd[700], meta[400];
    snprintf(dir, sizeof(dir), "%s/cmcopy-%d", getenv("REVOKD_SRC_FX"), (int)getpid());
    snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", fx("certmate"), dir);
    cr_assert_eq(system(cmd), 0);
    struct src_cache *cache;
    cr_assert_eq(src_cache_new(&cache), 0);
    for (int round = 0; round < 2; round++) { /* cold, then from the cache */
        cr_assert_eq(src_certmate_read("t", dir, ca, cache, &s), 0);
        cr_expect_eq(s.n, 3, "round %d: %zu", round, s.n);
        cr_expect_eq(s.malformed, 3);
        cr_expect_eq(s.foreign, 1);
        cr_expect_eq(fx_find(&s, "l5.pem")->status, STORE_REVOKED);
    }
    /* metadata.json is read every time: a revocation is seen with cert.crt cached */
    snprintf(meta, sizeof(meta), "%s/api-mtls/cert-001/metadata.json", dir);
    FILE *f = fopen(meta, "w");
    cr_assert_not_null(f);
    fputs("{\"revocation\": {\"revoked\": true, \"revoked_at\": \"2025-01-02T03:04:05Z\", "
          "\"reason_revoked\": \"superseded\"}}",
          f);
    fclose(f);
    cr_assert_eq(src_certmate_read("t", dir, ca, cache, &s), 0);
    const struct src_entry *e = fx_find(&s, "l4.pem");
    cr_assert_not_null(e);
    cr_expect_eq(e->status, STORE_REVOKED);
    cr_expect_eq(e->reason, 4);
    /* cert.crt replaced by two certificates: refused, cached or not */
    snprintf(cmd, sizeof(cmd), "cat '%s' '%s' > '%s/api-mtls/cert-001/cert.crt'", fx("l4.pem"),
             fx("l6.pem"), dir);
    cr_assert_eq(system(cmd), 0);
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(src_certmate_read("t", dir, ca, cache, &s), 0);
        cr_expect_null(fx_find(&s, "l4.pem"), "round %d", round);
        cr_expect_eq(s.malformed, 4);
    }
    src_cache_free(cache);
}

Test(src_certmate, missing_root_is_an_error)
{
    cr_expect_eq(src_certmate_read("t", fx("nope"), ca, NULL, &s), -ENOENT);
}

static int meta(const char *json, struct src_certmate_meta *m)
{
    return src_certmate_parse_meta(json, strlen(json), m);
}

Test(src_certmate, meta_good_and_revoked)
{
    struct src_certmate_meta m;
    cr_assert_eq(meta("{\"serial_number\": \"12345678901234567890\", \"revocation\": "
                      "{\"revoked\": false, \"revoked_at\": null, \"reason_revoked\": null}}",
                      &m),
                 0);
    cr_expect(m.has_serial);
    cr_expect_str_eq(m.serial, "12345678901234567890");
    cr_expect(!m.revoked);
    cr_expect_eq(m.reason, STORE_REASON_NONE);
    cr_assert_eq(meta(" {\"revocation\":{\"reason_revoked\":\"cessation_of_operation\","
                      "\"revoked\":true,\"revoked_at\":\"2024-10-30 18:00:00\",\"x\":[1,{}]}} \n",
                      &m),
                 0);
    cr_expect(m.revoked);
    cr_expect_eq(m.reason, 5);
    cr_expect(m.has_revoked_at);
    cr_expect_eq(m.revoked_at, 1730311200);
    cr_assert_eq(
        meta("{\"revocation\":{\"revoked\":true,\"reason_revoked\":\"stolen laptop\"}}", &m), 0);
    cr_expect(m.revoked && m.reason_unknown && !m.has_revoked_at);
    cr_expect_eq(m.reason, STORE_REASON_NONE);
    cr_assert_eq(meta("{\"serial_number\": 4096, \"revocation\":{\"revoked\":false}}", &m), 0);
    cr_expect_str_eq(m.serial, "4096");
}

Test(src_certmate, meta_refused)
{
    struct src_certmate_meta m;
    static const char *const bad[] = {
        "",
        "[]",
        "{}",                                         /* no revocation block */
        "{\"revocation\": null}",                     /* not an object */
        "{\"revocation\": {}}",                       /* no revoked */
        "{\"revocation\": {\"revoked\": \"false\"}}", /* a string, not a boolean */
        "{\"revocation\": {\"revoked\": 0}}",
        "{\"revocation\": {\"revoked\": false},}",   /* trailing comma */
        "{\"revocation\": {\"revoked\": false}} {}", /* two documents */
        "{\"revocation\": {\"revoked\": false}, \"revocation\": {\"revoked\": true}}",
        "{\"revocation\": {\"revoked\": false, \"revoked\": true}}",
        "{\"revocation\": {\"revoked\": false, \"revoked_at\": \"2024-01-01T00:00:00Z\"}}",
        "{\"revocation\": {\"revoked\": false, \"reason_revoked\": \"keyCompromise\"}}",
        "{\"revocation\": {\"revoked\": true, \"revoked_at\": \"yesterday\"}}",
        "{\"revocation\": {\"revoked\": true, \"revoked_at\": \"2024-02-30T00:00:00Z\"}}",
        "{\"revocation\": {\"revoked\": true, \"revoked_at\": \"2024-01-01T00:00:00+1:00\"}}",
        "{\"revocation\": {\"revoked\": tru}}",
        "{\"revocation\": {\"revoked\": false}, \"n\": 01}", /* leading zero */
        "{\"revocation\": {\"revoked\": false}, \"n\": 1.}",
        "{\"revocation\": {\"revoked\": false}, \"s\": \"a\tb\"}",         /* raw control char */
        "{\"revocation\": {\"revoked\": false}, \"s\": \"\\x\"}",          /* bad escape */
        "{\"revocation\": {\"revoked\": false}, \"s\": \"\\ud800\"}",      /* lone surrogate */
        "{\"revocation\": {\"revoked\": false}, \"s\": \"\xc0\xaf\"}",     /* overlong UTF-8 */
        "{\"revocation\": {\"revoked\": false}, \"s\": \"\xed\xa0\x80\"}", /* surrogate */
        "{\"revocation\": {\"revoked\": false} // comment\n}",
        "{'revocation': {'revoked': false}}",
        "{\"serial_number\": [1], \"revocation\": {\"revoked\": false}}",
        "{\"revocation\": {\"revoked\": false}", /* truncated */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(meta(bad[i], &m), -EBADMSG, "accepted: %s", bad[i]);
}

Test(src_certmate, meta_depth_bounded)
{
    struct src_certmate_meta m;
    char doc[512];
    size_t n = 0;
    n += (size_t)snprintf(doc + n, sizeof(doc) - n, "{\"revocation\":{\"revoked\":false},\"x\":");
    for (int i = 0; i < SRC_META_DEPTH_MAX; i++)
        doc[n++] = '[';
    for (int i = 0; i < SRC_META_DEPTH_MAX; i++)
        doc[n++] = ']';
    doc[n++] = '}';
    cr_expect_eq(src_certmate_parse_meta(doc, n, &m), -EBADMSG, "deeper than the bound");
    /* one level less fits (the top object is level 1) */
    n = 0;
    n += (size_t)snprintf(doc + n, sizeof(doc) - n, "{\"revocation\":{\"revoked\":false},\"x\":");
    for (int i = 0; i < SRC_META_DEPTH_MAX - 1; i++)
        doc[n++] = '[';
    for (int i = 0; i < SRC_META_DEPTH_MAX - 1; i++)
        doc[n++] = ']';
    doc[n++] = '}';
    cr_expect_eq(src_certmate_parse_meta(doc, n, &m), 0);
}

Test(src_certmate, times)
{
    int64_t t;
    cr_expect_eq(src_certmate_parse_time("2024-10-30T18:00:00Z", 20, &t), 0);
    cr_expect_eq(t, 1730311200);
    cr_expect_eq(src_certmate_parse_time("2024-10-30T18:00:00.5-02:30", 27, &t), 0);
    cr_expect_eq(t, 1730311200 + 9000);
    cr_expect_eq(src_certmate_parse_time("2024-10-30T18:00:00", 19, &t), 0);
    cr_expect_eq(t, 1730311200, "no zone: UTC, as Python's utcnow().isoformat() means it");
    cr_expect_eq(src_certmate_parse_time("2024-10-30T18:00:00.", 20, &t), -EBADMSG);
    cr_expect_eq(src_certmate_parse_time("2024-10-30T24:00:00Z", 20, &t), -EBADMSG);
    cr_expect_eq(src_certmate_parse_time("2024-10-30T18:00:00ZZ", 21, &t), -EBADMSG);
}
