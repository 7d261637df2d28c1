/*
 * Tests for revokctl's pure half: the time, reason and serial parsers the command
 * line goes through, the rules that decide what revoke/hold/release does to each
 * stored state (including which source may release a hold), and the audit line's
 * exact format and escaping. test_revokctl_store.c runs the same rules against a
 * real store and signer.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "revokctl.h"

static int64_t T(const char *s)
{
    int64_t t = -1;
    cr_assert_eq(revokctl_parse_time(s, &t), 0, "%s should parse", s);
    return t;
}

static void bad_time(const char *s)
{
    int64_t t = 12345;
    cr_assert_eq(revokctl_parse_time(s, &t), -EINVAL, "%s should be refused", s);
    cr_assert_eq(t, 12345, "%s: out untouched on error", s);
}

Test(revokctl, time_rfc3339_and_generalized)
{
    /* Reference values from Python's calendar.timegm. */
    cr_assert_eq(T("2026-11-30T12:00:00Z"), 1796040000);
    cr_assert_eq(T("2026-11-30t12:00:00z"), 1796040000);
    cr_assert_eq(T("2026-11-30 12:00:00Z"), 1796040000);
    cr_assert_eq(T("2026-11-30T12:00:00.999Z"), 1796040000, "fractions dropped, not rounded");
    cr_assert_eq(T("2026-11-30T13:00:00+01:00"), 1796040000);
    cr_assert_eq(T("2026-11-30T06:30:00-05:30"), 1796040000);
    cr_assert_eq(T("20261130120000Z"), 1796040000);
    cr_assert_eq(T("20261130120000.5Z"), 1796040000);
    cr_assert_eq(T("2024-02-29T23:59:59Z"), 1709251199, "leap day");
    cr_assert_eq(T("2000-03-01T00:00:00Z"), 951868800);
    cr_assert_eq(T("1970-01-01T00:00:00Z"), 0);
    cr_assert_eq(T("99991231235959Z"), 253402300799);
}

Test(revokctl, time_refusals)
{
    bad_time("");
    bad_time("2026-11-30");
    bad_time("2026-11-30T12:00:00");       /* no zone: ambiguous */
    bad_time("2026-11-30T12:00Z");         /* no seconds */
    bad_time("2026-11-30T12:00:00ZZ");     /* trailing bytes */
    bad_time("2026-11-30T12:00:00.Z");     /* empty fraction */
    bad_time("2026-11-30T12:00:00+0100");  /* RFC 3339 wants +01:00 */
    bad_time("2026-11-30T12:00:00+24:00"); /* offset out of range */
    bad_time("2026-02-29T00:00:00Z");      /* not a leap year */
    bad_time("1900-02-29T00:00:00Z");      /* not a leap year either, and before 1970 */
    bad_time("2026-04-31T00:00:00Z");
    bad_time("2026-13-01T00:00:00Z");
    bad_time("2026-00-01T00:00:00Z");
    bad_time("2026-11-00T00:00:00Z");
    bad_time("2026-11-30T24:00:00Z");
    bad_time("2026-11-30T12:60:00Z");
    bad_time("2016-12-31T23:59:60Z"); /* leap second: the store keeps POSIX seconds */
    bad_time("1969-12-31T23:59:59Z");
    bad_time("1970-01-01T00:30:00+01:00"); /* before the epoch once the offset is applied */
    bad_time("261130120000Z");             /* UTCTime: two-digit years are ambiguous */
    bad_time("20261130120000");            /* GeneralizedTime without Z */
    bad_time("20261130120000+0100");       /* local-time GeneralizedTime */
    bad_time("2026-11-30T12:00:00Z\n");
    bad_time("+026-11-30T12:00:00Z");
    bad_time(NULL);
}

Test(revokctl, time_format_round_trip)
{
    char b[32];
    cr_assert_str_eq(revokctl_fmt_time(1796040000, b, sizeof(b)), "2026-11-30T12:00:00Z");
    cr_assert_eq(T(revokctl_fmt_time(1709251199, b, sizeof(b))), 1709251199);
}

Test(revokctl, reasons_by_rfc5280_name)
{
    static const char *const names[] = {
        "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
        "superseded",    "cessationOfOperation", "certificateHold", NULL,
        "removeFromCRL", "privilegeWithdrawn",   "aACompromise",
    };
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        uint8_t r = 0xee;
        if (!names[i])
            continue;
        cr_assert_eq(revokctl_parse_reason(names[i], &r), 0, "%s", names[i]);
        cr_assert_eq(r, i, "%s", names[i]);
        cr_assert_str_eq(revokctl_reason_name(r), names[i]);
    }
    uint8_t r;
    cr_assert_eq(revokctl_parse_reason("KEYCOMPROMISE", &r), 0, "case-insensitive like index.txt");
    cr_assert_eq(r, 1);
    cr_assert_eq(revokctl_parse_reason("key-compromise", &r), -EINVAL);
    cr_assert_eq(revokctl_parse_reason("7", &r), -EINVAL, "numbers are not names");
    cr_assert_eq(revokctl_parse_reason("", &r), -EINVAL);
    cr_assert_str_eq(revokctl_reason_name(7), "?");
    cr_assert_str_eq(revokctl_reason_name(STORE_REASON_NONE), "none");
}

static void serial_is(const char *s, const uint8_t *want, size_t n)
{
    uint8_t out[DER_SERIAL_MAX];
    size_t len = 0;
    cr_assert_eq(revokctl_parse_serial(s, out, &len), 0, "%s", s);
    cr_assert_eq(len, n, "%s: %zu bytes", s, len);
    cr_assert_arr_eq(out, want, n, "%s", s);
}

Test(revokctl, serials_as_index_txt_writes_them)
{
    serial_is("1001", (const uint8_t[]){0x10, 0x01}, 2);
    serial_is("0x1001", (const uint8_t[]){0x10, 0x01}, 2);
    serial_is("10:01", (const uint8_t[]){0x10, 0x01}, 2);
    serial_is("80", (const uint8_t[]){0x00, 0x80}, 2); /* positive: DER adds a 0x00 */
    serial_is("00", (const uint8_t[]){0x00}, 1);
    uint8_t out[DER_SERIAL_MAX];
    size_t len;
    cr_assert_eq(revokctl_parse_serial("", out, &len), -EINVAL);
    cr_assert_eq(revokctl_parse_serial("0x", out, &len), -EINVAL);
    cr_assert_eq(revokctl_parse_serial("10 01", out, &len), -EINVAL);
    cr_assert_eq(revokctl_parse_serial("xyz", out, &len), -EINVAL);
    char big[80];
    memset(big, 'A', 66);
    big[66] = '\0';
    cr_assert_eq(revokctl_parse_serial(big, out, &len), -EINVAL, "33 bytes is too long");
}

Test(revokctl, times_in_the_future_refused)
{
    char why[512];
    int64_t now = 1796040000;
    struct revokctl_req rq = {.cmd = REVOKCTL_REVOKE, .reason = 1, .time = now + 1};
    cr_assert_eq(revokctl_check_req(&rq, now, why, sizeof(why)), -EINVAL);
    cr_assert(strstr(why, "in the future"), "%s", why);
    rq.time = now;
    cr_assert_eq(revokctl_check_req(&rq, now, why, sizeof(why)), 0);
    rq.time = 0;
    rq.invalidity = now + 60;
    cr_assert_eq(revokctl_check_req(&rq, now, why, sizeof(why)), -EINVAL);
    rq.time = now - 100;
    rq.invalidity = now - 50;
    cr_assert_eq(revokctl_check_req(&rq, now, why, sizeof(why)), -EINVAL,
                 "invalidity after the revocation time");
    cr_assert(strstr(why, "after the revocation time"), "%s", why);
    rq.invalidity = now - 200;
    cr_assert_eq(revokctl_check_req(&rq, now, why, sizeof(why)), 0);
}

/* ---- the rules ---- */

#define NOW 1796040000

static struct store_cert cert(uint8_t status, uint8_t reason, uint8_t source)
{
    struct store_cert c = {.status = status,
                           .reason = reason,
                           .source = source,
                           .listed = STORE_SRC_BIT(source),
                           .revoked_at = status == STORE_GOOD ? 0 : NOW - 86400,
                           .not_after = NOW + 365 * 86400,
                           .seq = 9};
    return c;
}

static enum revokctl_verdict decide(enum revokctl_cmd cmd, uint8_t reason,
                                    const struct store_cert *before, struct store_cert *after,
                                    char *why)
{
    struct revokctl_req rq = {.cmd = cmd, .reason = reason};
    return revokctl_decide(&rq, before, NOW, after, why, 512);
}

Test(revokctl, revoke_good_known_and_unknown)
{
    char why[512];
    struct store_cert b = cert(STORE_GOOD, STORE_REASON_NONE, STORE_SRC_INDEX), a;
    cr_assert_eq(decide(REVOKCTL_REVOKE, 1, &b, &a, why), REVOKCTL_CHANGE);
    cr_assert_eq(a.status, STORE_REVOKED);
    cr_assert_eq(a.reason, 1);
    cr_assert_eq(a.revoked_at, NOW, "no --time: now");
    cr_assert_eq(a.source, STORE_SRC_REVOKCTL);
    /* An operator's statement is not a listing: only index.txt lists it as issued. */
    cr_assert_eq(a.listed, STORE_SRC_BIT(STORE_SRC_INDEX));
    cr_assert_eq(a.not_after, b.not_after, "expiry kept");

    struct revokctl_req rq = {
        .cmd = REVOKCTL_REVOKE, .reason = 4, .time = NOW - 600, .invalidity = NOW - 7200};
    cr_assert_eq(revokctl_decide(&rq, NULL, NOW, &a, why, sizeof(why)), REVOKCTL_CHANGE);
    cr_assert(strstr(why, "does not know"), "%s", why);
    cr_assert_eq(a.revoked_at, NOW - 600);
    cr_assert_eq(a.invalidity, NOW - 7200);
    cr_assert_eq(a.reason, 4);
    cr_assert_eq(a.listed, 0, "no source lists it");
    cr_assert_eq(a.not_after, 0, "expiry unknown");
}

Test(revokctl, revoke_already_revoked)
{
    char why[512];
    struct store_cert b = cert(STORE_REVOKED, 4, STORE_SRC_INDEX), a;
    cr_assert_eq(decide(REVOKCTL_REVOKE, 4, &b, &a, why), REVOKCTL_UNCHANGED);
    cr_assert(strstr(why, "already revoked") && strstr(why, "set by index"), "%s", why);
    cr_assert_eq(decide(REVOKCTL_REVOKE, 3, &b, &a, why), REVOKCTL_REFUSED,
                 "superseded -> affiliationChanged");
    cr_assert(strstr(why, "only ever changed to keyCompromise"), "%s", why);
    cr_assert_eq(decide(REVOKCTL_REVOKE, 1, &b, &a, why), REVOKCTL_CHANGE, "-> keyCompromise");
    cr_assert_eq(a.reason, 1);
    cr_assert_eq(a.revoked_at, b.revoked_at, "the revocation time stays");
    cr_assert_eq(a.status, STORE_REVOKED);

    struct store_cert kc = cert(STORE_REVOKED, 1, STORE_SRC_REVOKCTL);
    cr_assert_eq(decide(REVOKCTL_REVOKE, 4, &kc, &a, why), REVOKCTL_REFUSED,
                 "keyCompromise is never weakened");
    struct revokctl_req rq = {.cmd = REVOKCTL_REVOKE, .reason = 1, .time = NOW - 5};
    cr_assert_eq(revokctl_decide(&rq, &kc, NOW, &a, why, sizeof(why)), REVOKCTL_REFUSED,
                 "another revocation time");
    cr_assert(strstr(why, "never changed"), "%s", why);
    rq.time = kc.revoked_at;
    cr_assert_eq(revokctl_decide(&rq, &kc, NOW, &a, why, sizeof(why)), REVOKCTL_UNCHANGED,
                 "the same time said again");
}

Test(revokctl, hold_and_release_rules)
{
    char why[512];
    struct store_cert good = cert(STORE_GOOD, STORE_REASON_NONE, STORE_SRC_INDEX), a;
    cr_assert_eq(decide(REVOKCTL_HOLD, 0, &good, &a, why), REVOKCTL_CHANGE);
    cr_assert_eq(a.status, STORE_HOLD);
    cr_assert_eq(a.reason, REVOKCTL_REASON_HOLD);
    cr_assert_eq(a.source, STORE_SRC_REVOKCTL);
    struct store_cert held = a;
    cr_assert_eq(decide(REVOKCTL_HOLD, 0, &held, &a, why), REVOKCTL_UNCHANGED);

    /* A hold revokctl set: released by revokctl. */
    cr_assert_eq(decide(REVOKCTL_RELEASE, 0, &held, &a, why), REVOKCTL_CHANGE);
    cr_assert_eq(a.status, STORE_GOOD);
    cr_assert_eq(a.reason, STORE_REASON_NONE);
    cr_assert_eq(a.revoked_at, 0);
    cr_assert_eq(a.listed, STORE_SRC_BIT(STORE_SRC_INDEX), "revokctl no longer lists it");

    /* A hold another source set: only that source releases it. */
    struct store_cert idxhold = cert(STORE_HOLD, REVOKCTL_REASON_HOLD, STORE_SRC_INDEX);
    cr_assert_eq(decide(REVOKCTL_RELEASE, 0, &idxhold, &a, why), REVOKCTL_REFUSED);
    cr_assert(strstr(why, "set by index") && strstr(why, "removeFromCRL"), "%s", why);
    struct store_cert crlhold = cert(STORE_HOLD, REVOKCTL_REASON_HOLD, STORE_SRC_CRL);
    cr_assert_eq(decide(REVOKCTL_RELEASE, 0, &crlhold, &a, why), REVOKCTL_REFUSED);
    cr_assert(strstr(why, "the crl source"), "%s", why);

    /* Revoked wins: never held, never released. */
    struct store_cert rev = cert(STORE_REVOKED, 1, STORE_SRC_REVOKCTL);
    cr_assert_eq(decide(REVOKCTL_HOLD, 0, &rev, &a, why), REVOKCTL_REFUSED);
    cr_assert_eq(decide(REVOKCTL_RELEASE, 0, &rev, &a, why), REVOKCTL_REFUSED);
    cr_assert(strstr(why, "never undone"), "%s", why);

    /* A held certificate may be revoked for good, by anyone. */
    cr_assert_eq(decide(REVOKCTL_REVOKE, 1, &idxhold, &a, why), REVOKCTL_CHANGE);
    cr_assert_eq(a.status, STORE_REVOKED);
    cr_assert_eq(a.reason, 1);

    cr_assert_eq(decide(REVOKCTL_RELEASE, 0, &good, &a, why), REVOKCTL_UNCHANGED);
    cr_assert_eq(decide(REVOKCTL_RELEASE, 0, NULL, &a, why), REVOKCTL_REFUSED);
    cr_assert_eq(decide(REVOKCTL_HOLD, 0, NULL, &a, why), REVOKCTL_CHANGE, "unknown: held anyway");
    cr_assert_eq(a.status, STORE_HOLD);
}

/* ---- the audit line ---- */

static struct revokctl_who test_who(void)
{
    struct revokctl_who w = {.uid = 1000, .by = "ticket \"42\"", .comment = "tab\there\\ é\x01"};
    strcpy(w.user, "alice");
    strcpy(w.host, "ca1");
    return w;
}

Test(revokctl, audit_line_exact)
{
    struct revokctl_who who = test_who();
    struct revokctl_req rq = {
        .cmd = REVOKCTL_REVOKE, .reason = 1, .time = 1796040000, .invalidity = 0};
    struct store_cert b = {.status = STORE_GOOD,
                           .reason = STORE_REASON_NONE,
                           .source = STORE_SRC_INDEX,
                           .listed = STORE_SRC_BIT(STORE_SRC_INDEX),
                           .not_after = 1796040000 + 86400,
                           .seq = 3};
    struct store_cert a = b;
    a.status = STORE_REVOKED;
    a.reason = 1;
    a.revoked_at = 1796040000;
    a.source = STORE_SRC_REVOKCTL;
    a.seq = 7;
    struct revokctl_audit au = {.when_ms = 1796040000123LL,
                                .op = "00112233aabbccdd",
                                .phase = "intent",
                                .who = &who,
                                .command = "revoke",
                                .issuer = "demo",
                                .serial = "1001",
                                .req = &rq,
                                .before = &b,
                                .after = &a,
                                .seq = 7,
                                .message = "was good"};
    char line[REVOKCTL_LINE_MAX];
    int n = revokctl_audit_line(line, sizeof(line), &au);
    const char *want =
        "{\"when\":\"2026-11-30T12:00:00.123Z\",\"op\":\"00112233aabbccdd\",\"phase\":\"intent\","
        "\"who\":{\"uid\":1000,\"user\":\"alice\",\"sudo_user\":null,\"host\":\"ca1\","
        "\"by\":\"ticket \\\"42\\\"\",\"comment\":\"tab\\u0009here\\\\ é\\u0001\"},"
        "\"what\":{\"command\":\"revoke\",\"issuer\":\"demo\",\"serial\":\"1001\","
        "\"reason\":\"keyCompromise\",\"time\":\"2026-11-30T12:00:00Z\",\"invalidity_date\":null},"
        "\"before\":{\"status\":\"good\",\"reason\":null,\"revocation_time\":null,"
        "\"invalidity_date\":null,\"not_after\":\"2026-12-01T12:00:00Z\",\"source\":\"index\","
        "\"sources\":[\"index\"],\"seq\":3},"
        "\"after\":{\"status\":\"revoked\",\"reason\":\"keyCompromise\","
        "\"revocation_time\":\"2026-11-30T12:00:00Z\",\"invalidity_date\":null,"
        "\"not_after\":\"2026-12-01T12:00:00Z\",\"source\":\"revokctl\","
        "\"sources\":[\"index\"],\"seq\":7},"
        "\"seq\":7,\"message\":\"was good\"}\n";
    cr_assert_str_eq(line, want);
    cr_assert_eq(n, (int)strlen(want));

    /* Unknown before, no after (refused), release: no reason/time fields. */
    struct revokctl_req rel = {.cmd = REVOKCTL_RELEASE};
    au.req = &rel;
    au.before = NULL;
    au.after = NULL;
    au.seq = 0;
    au.phase = "refused";
    au.command = "release";
    n = revokctl_audit_line(line, sizeof(line), &au);
    cr_assert_gt(n, 0);
    cr_assert(strstr(line, "\"what\":{\"command\":\"release\",\"issuer\":\"demo\",\"serial\":"
                           "\"1001\"},\"before\":null,\"after\":null,\"seq\":null,"),
              "%s", line);
    cr_assert_eq(line[n - 1], '\n');
    cr_assert_eq(strchr(line, '\n'), line + n - 1, "one line");

    /* Too small a buffer: -ENOSPC, never a truncated line. */
    cr_assert_eq(revokctl_audit_line(line, 100, &au), -ENOSPC);
}

Test(revokctl, text_must_be_utf8)
{
    cr_assert(revokctl_text_ok("plain"));
    cr_assert(revokctl_text_ok("Zoë 日本 🔑"));
    cr_assert_not(revokctl_text_ok("\xc3"), "truncated sequence");
    cr_assert_not(revokctl_text_ok("\xc0\xaf"), "overlong");
    cr_assert_not(revokctl_text_ok("\xed\xa0\x80"), "surrogate");
    cr_assert_not(revokctl_text_ok("\xff"));
    char big[REVOKCTL_TEXT_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_not(revokctl_text_ok(big), "longer than REVOKCTL_TEXT_MAX");
}

Test(revokctl, audit_path_default_beside_the_store)
{
    struct config c = {0};
    char p[256];
    c.store.path = "/var/lib/revokd/store";
    cr_assert_eq(revokctl_audit_path(&c, p, sizeof(p)), 0);
    cr_assert_str_eq(p, "/var/lib/revokd/audit.log");
    c.store.path = "/srv/x/store/";
    cr_assert_eq(revokctl_audit_path(&c, p, sizeof(p)), 0);
    cr_assert_str_eq(p, "/srv/x/audit.log");
    c.store.path = "/store";
    cr_assert_eq(revokctl_audit_path(&c, p, sizeof(p)), 0);
    cr_assert_str_eq(p, "/audit.log");
    c.indexer.audit_log = "/var/log/revokd/audit.jsonl";
    cr_assert_eq(revokctl_audit_path(&c, p, sizeof(p)), 0);
    cr_assert_str_eq(p, "/var/log/revokd/audit.jsonl");
    cr_assert_eq(revokctl_audit_path(&c, p, 10), -ENAMETOOLONG);
}
