/*
 * expiry — counts an issuer's certificates by how soon they expire, for the
 * operators' 90/30/7-day warnings (expiry.h). The walk runs in a read
 * transaction so a census of a large store never holds the write lock (crlgen
 * and the next sync keep going); only the final record is written, in a write
 * transaction of its own that also reads the previous record, so "went up" is
 * judged against what the store held, across restarts.
 */
#include "expiry.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static const int64_t expiry_days[EXPIRY_WINDOWS] = EXPIRY_WINDOW_DAYS;

/* Window w's count; the struct is packed (it lives in the map), so no pointers to fields. */
static uint64_t expiry_get(const struct store_issuer_expiry *e, int w)
{
    return w == 0 ? e->within_7d : w == 1 ? e->within_30d : e->within_90d;
}

static void expiry_inc(struct store_issuer_expiry *e, int w)
{
    if (w == 0)
        e->within_7d++;
    else if (w == 1)
        e->within_30d++;
    else
        e->within_90d++;
}

void expiry_add(struct store_issuer_expiry *e, const struct store_cert *c)
{
    /* A revoked certificate needs no renewal; one on hold may be released, so it counts. */
    if (c->status == STORE_REVOKED)
        return;
    int64_t left = c->not_after - e->computed_at;
    if (left <= 0) {
        e->expired++;
        return;
    }
    for (int w = 0; w < EXPIRY_WINDOWS; w++)
        if (left <= expiry_days[w] * EXPIRY_DAY)
            expiry_inc(e, w);
}

bool expiry_due(struct expiry_state *st, int64_t now, int64_t mono_ms, bool changed)
{
    if (changed)
        st->pending = true;
    if (st->last_at == 0 || now - st->last_at >= EXPIRY_EVERY ||
        now < st->last_at) /* the clock stepped back: recount rather than wait an hour */
        return true;
    return st->pending && mono_ms - st->last_mono_ms >= EXPIRY_DUTY * st->cost_ms;
}

static int64_t expiry_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct expiry_walk {
    struct store *s;
    uint32_t walked;
    struct store_issuer_expiry *e;
    int64_t soonest[EXPIRY_WINDOWS]; /* earliest notAfter in each window, 0: none */
};

static int expiry_cb(void *arg, const uint8_t *serial, size_t serial_len,
                     const struct store_cert *c)
{
    struct expiry_walk *x = arg;
    (void)serial;
    (void)serial_len;
    if (++x->walked == 65536) {
        /* Each fault maps its neighbours too (the kernel's fault-around), which are
         * mostly response pages: let them go, or the census alone would map most of
         * a large store into the indexer's RSS (store_release_pages()). */
        store_release_pages(x->s);
        x->walked = 0;
    }
    expiry_add(x->e, c);
    if (c->status != STORE_REVOKED && c->not_after > x->e->computed_at) {
        for (int w = 0; w < EXPIRY_WINDOWS; w++)
            if (c->not_after - x->e->computed_at <= expiry_days[w] * EXPIRY_DAY &&
                (x->soonest[w] == 0 || c->not_after < x->soonest[w]))
                x->soonest[w] = c->not_after;
    }
    return 0;
}

static const char *expiry_fmt(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, cap, "%lld", (long long)t);
    return buf;
}

int expiry_update(struct store *s, uint32_t id, const char *name, int64_t now,
                  int64_t crl_signer_not_after, int64_t warn_before, struct expiry_state *st,
                  struct store_issuer_expiry *out)
{
    struct store_issuer_expiry e = {.computed_at = now,
                                    .crl_signer_not_after = crl_signer_not_after,
                                    .warn_before = warn_before};
    struct expiry_walk x = {.s = s, .e = &e};
    struct store_txn t = {0};
    int64_t t0 = expiry_mono_ms();
    int rc = store_txn_begin(s, &t, true);
    if (rc < 0)
        goto fail;
    rc = store_cert_foreach(&t, id, false, expiry_cb, &x);
    store_txn_abort(&t);
    if (rc < 0)
        goto fail;

    if ((rc = store_txn_begin(s, &t, false)) < 0)
        goto fail;
    const struct store_issuer_rec *rec;
    if ((rc = store_get_issuer(&t, id, &rec, NULL)) < 0)
        goto fail_txn;
    struct store_issuer_expiry old;
    memcpy(&old, &rec->expiry, sizeof(old));
    if ((rc = store_set_issuer_expiry(&t, id, &e)) < 0)
        goto fail_txn;
    if ((rc = store_txn_commit(&t)) < 0)
        goto fail;

    /* Tightest window first: one line per window whose count grew. */
    char b[40];
    for (int w = 0; w < EXPIRY_WINDOWS; w++) {
        uint64_t now_n = expiry_get(&e, w), was = old.computed_at ? expiry_get(&old, w) : 0;
        if (now_n > was)
            log_warn("[issuer %s] %llu certificate(s) expire within %lld days (was %llu), the "
                     "first at %s",
                     name, (unsigned long long)now_n, (long long)expiry_days[w],
                     (unsigned long long)was, expiry_fmt(x.soonest[w], b, sizeof(b)));
    }
    if (e.expired > (old.computed_at ? old.expired : 0))
        log_info("[issuer %s] %llu certificate(s) not revoked are past their notAfter", name,
                 (unsigned long long)e.expired);
    st->last_at = now;
    st->last_mono_ms = expiry_mono_ms();
    st->cost_ms = st->last_mono_ms - t0;
    st->pending = false;
    if (out)
        *out = e;
    return 0;
fail_txn:
    store_txn_abort(&t);
fail:
    log_err("[issuer %s] expiry census failed: %s", name, strerror(-rc));
    return rc;
}
