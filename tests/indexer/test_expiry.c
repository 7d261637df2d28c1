/*
 * Tests for indexer/expiry: which certificates count in which window (the
 * boundaries exactly), when a census is due, and that expiry_update() writes
 * the counts of one issuer only, keeps them across re-registration of the
 * issuer, and reads them back as the responder would.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expiry.h"
#include "store.h"

#define NOW ((int64_t)1800000000)
#define DAY ((int64_t)86400)

static struct store_cert cert(uint8_t status, int64_t not_after)
{
    struct store_cert c = {.status = status,
                           .reason = status == STORE_GOOD ? STORE_REASON_NONE : 1,
                           .source = STORE_SRC_INDEX,
                           .revoked_at = status == STORE_GOOD ? 0 : NOW - DAY,
                           .not_after = not_after};
    return c;
}

Test(expiry, windows_are_cumulative_and_exact_at_the_edges)
{
    struct store_issuer_expiry e = {.computed_at = NOW};
    const struct {
        uint8_t status;
        int64_t not_after;
    } certs[] = {
        {STORE_GOOD, NOW},                /* expires this second: expired */
        {STORE_GOOD, NOW - 10 * DAY},     /* expired */
        {STORE_GOOD, NOW + 1},            /* 7d, 30d, 90d */
        {STORE_GOOD, NOW + 7 * DAY},      /* 7d edge: in */
        {STORE_GOOD, NOW + 7 * DAY + 1},  /* 30d, 90d */
        {STORE_HOLD, NOW + 30 * DAY},     /* on hold counts: 30d edge, 90d */
        {STORE_GOOD, NOW + 90 * DAY},     /* 90d edge */
        {STORE_GOOD, NOW + 90 * DAY + 1}, /* none */
        {STORE_REVOKED, NOW + DAY},       /* revoked: not counted */
        {STORE_REVOKED, NOW - DAY},       /* revoked and expired: not counted */
    };
    for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++) {
        struct store_cert c = cert(certs[i].status, certs[i].not_after);
        expiry_add(&e, &c);
    }
    cr_assert_eq(e.expired, 2);
    cr_assert_eq(e.within_7d, 2);
    cr_assert_eq(e.within_30d, 4);
    cr_assert_eq(e.within_90d, 5);
}

Test(expiry, due_first_on_change_hourly_and_after_a_clock_step)
{
    struct expiry_state st = {0};
    cr_assert(expiry_due(&st, NOW, 1000, false), "never counted");
    st = (struct expiry_state){.last_at = NOW, .last_mono_ms = 1000, .cost_ms = 0};
    cr_assert_not(expiry_due(&st, NOW + 1, 2000, false));
    cr_assert(expiry_due(&st, NOW + 1, 2000, true), "the store changed, a census is cheap");
    st.pending = false; /* as expiry_update() leaves it */
    cr_assert_not(expiry_due(&st, NOW + EXPIRY_EVERY - 1, 2000, false));
    cr_assert(expiry_due(&st, NOW + EXPIRY_EVERY, 2000, false), "an hour passed");
    cr_assert(expiry_due(&st, NOW - 5, 2000, false), "clock stepped back");
}

Test(expiry, a_costly_census_waits_for_its_duty_gap_and_remembers_the_change)
{
    /* the last census took 50 ms: after a change the next waits 5 s */
    struct expiry_state st = {.last_at = NOW, .last_mono_ms = 10000, .cost_ms = 50};
    cr_assert_not(expiry_due(&st, NOW + 1, 11000, true), "change 1 s later: waits");
    cr_assert(st.pending);
    cr_assert_not(expiry_due(&st, NOW + 4, 14999, false));
    cr_assert(expiry_due(&st, NOW + 5, 10000 + 50 * EXPIRY_DUTY, false),
              "the remembered change is counted once the gap passed");
    st.pending = false; /* what expiry_update() does */
    cr_assert_not(expiry_due(&st, NOW + 6, 20000, false), "nothing new: no census");
}

static struct store_issuer_rec issuer(const char *name, uint8_t fill)
{
    struct store_issuer_rec r = {0};
    snprintf(r.name, sizeof(r.name), "%s", name);
    memset(r.name_sha1, fill, 20);
    memset(r.key_sha1, fill + 1, 20);
    memset(r.name_sha256, fill + 2, 32);
    memset(r.key_sha256, fill + 3, 32);
    return r;
}

Test(expiry, update_writes_one_issuer_and_survives_reregistration)
{
    char dir[] = "/tmp/revokd-expiry-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    struct store *s;
    struct store_txn t;
    cr_assert_eq(store_open(&s, dir, 64u << 20, 0), 0);
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    struct store_issuer_rec a = issuer("alpha", 0x10), b = issuer("beta", 0x20);
    uint32_t ida, idb;
    cr_assert_eq(store_put_issuer(&t, &a, (const uint8_t *)"A", 1, &ida), 0);
    cr_assert_eq(store_put_issuer(&t, &b, (const uint8_t *)"B", 1, &idb), 0);
    /* alpha: expiring in 5, 20, 60, 200 days and one expired; beta: 3 within 7 days */
    const int64_t days[] = {5, 20, 60, 200, -1};
    for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
        uint8_t serial[2] = {0x10, (uint8_t)i};
        struct store_cert c = cert(STORE_GOOD, NOW + days[i] * DAY);
        cr_assert_geq(store_put_cert(&t, ida, serial, 2, &c, NOW), 0);
    }
    for (uint8_t i = 0; i < 3; i++) {
        uint8_t serial[1] = {i};
        struct store_cert c = cert(STORE_GOOD, NOW + DAY);
        cr_assert_geq(store_put_cert(&t, idb, serial, 1, &c, NOW), 0);
    }
    cr_assert_eq(store_txn_commit(&t), 0);

    struct expiry_state st = {0};
    struct store_issuer_expiry got;
    cr_assert_eq(expiry_update(s, ida, "alpha", NOW, NOW + 400 * DAY, 30 * DAY, &st, &got), 0);
    cr_assert_eq(st.last_at, NOW);
    cr_assert_not(st.pending);
    cr_assert_eq(got.within_7d, 1);
    cr_assert_eq(got.within_30d, 2);
    cr_assert_eq(got.within_90d, 3);
    cr_assert_eq(got.expired, 1);

    /* Re-registering the issuer (every indexer start) keeps the census. */
    cr_assert_eq(store_txn_begin(s, &t, false), 0);
    a.key_sha1[0] ^= 1; /* an identity change, so the record is rewritten */
    cr_assert_eq(store_put_issuer(&t, &a, (const uint8_t *)"A2", 2, &ida), 0);
    cr_assert_eq(store_txn_commit(&t), 0);
    store_close(s);

    cr_assert_eq(store_open(&s, dir, 0, STORE_RDONLY), 0);
    cr_assert_eq(store_txn_begin(s, &t, true), 0);
    const struct store_issuer_rec *r;
    cr_assert_eq(store_get_issuer(&t, ida, &r, NULL), 0);
    struct store_issuer_expiry e;
    memcpy(&e, &r->expiry, sizeof(e));
    cr_assert_eq(e.computed_at, NOW);
    cr_assert_eq(e.within_7d, 1);
    cr_assert_eq(e.within_30d, 2);
    cr_assert_eq(e.within_90d, 3);
    cr_assert_eq(e.expired, 1);
    cr_assert_eq(e.crl_signer_not_after, NOW + 400 * DAY);
    cr_assert_eq(e.warn_before, 30 * DAY);
    cr_assert_eq(store_get_issuer(&t, idb, &r, NULL), 0);
    memcpy(&e, &r->expiry, sizeof(e));
    cr_assert_eq(e.computed_at, 0, "beta was not counted, alpha's census is not beta's");
    store_txn_abort(&t);
    store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(expiry, unknown_issuer_is_an_error)
{
    char dir[] = "/tmp/revokd-expiry-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    struct store *s;
    cr_assert_eq(store_open(&s, dir, 64u << 20, 0), 0);
    struct expiry_state st = {0};
    cr_assert_eq(expiry_update(s, 42, "nobody", NOW, 0, 0, &st, NULL), -ENOENT);
    cr_assert_eq(st.last_at, 0, "a failed census is retried, not counted as done");
    store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
