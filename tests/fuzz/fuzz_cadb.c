/*
 * libFuzzer target for the index.txt parser: the input is a whole CA database
 * walked with cadb_iter, as the indexer does. Besides the sanitizers' checks it
 * aborts when an accepted entry breaks a promise of cadb.h (serial canonical and
 * flagged when zero or negative, spans inside the input, status and reason
 * consistent), since those are what
 * the store and the responder rely on without checking again.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "cadb.h"

static void check_entry(const struct cadb_entry *e, const uint8_t *data, size_t size)
{
    const char *lo = (const char *)data, *hi = lo + size;
    if (e->serial_len < 1 || e->serial_len > DER_SERIAL_MAX ||
        der_serial_check(e->serial, e->serial_len) < 0)
        abort();
    /* The sign bit and the zero flag say what the flags say: negatives and 0 are warned about. */
    if (!!(e->serial[0] & 0x80) != !!(e->flags & CADB_F_SERIAL_NEGATIVE))
        abort();
    if ((e->serial_len == 1 && e->serial[0] == 0) != !!(e->flags & CADB_F_SERIAL_ZERO))
        abort();
    if (e->subject_len > CADB_LINE_MAX || e->subject < lo || e->subject > hi ||
        e->subject_len > (size_t)(hi - e->subject))
        abort();
    if (e->hold_oid && (e->hold_oid < lo || e->hold_oid > hi || e->hold_oid_len == 0 ||
                        e->hold_oid_len > (size_t)(hi - e->hold_oid)))
        abort();
    for (size_t i = 0; i < e->subject_len; i++) {
        if (e->subject[i] == '\n' || e->subject[i] == '\0')
            abort();
    }
    switch (e->type) {
    case 'V':
    case 'E':
        if (e->status != STORE_GOOD || e->reason != STORE_REASON_NONE || e->revoked_at != 0 ||
            e->invalidity != 0 || e->hold_oid)
            abort();
        break;
    case 'R':
        /* Only removeFromCRL (a released hold) makes an R line good. */
        if ((e->status == STORE_GOOD) != !!(e->flags & CADB_F_RELEASED))
            abort();
        if (e->status == STORE_GOOD && e->reason != STORE_REASON_NONE)
            abort();
        if ((e->status == STORE_HOLD) != (e->reason == 6))
            abort();
        if (e->reason != STORE_REASON_NONE && (e->reason > 10 || e->reason == 7))
            abort();
        if (e->hold_oid && e->status != STORE_HOLD)
            abort();
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cadb_iter it;
    struct cadb_entry e;
    unsigned ln, last = 0;
    int r;

    cadb_iter_init(&it, (const char *)data, size);
    while ((r = cadb_next(&it, &e, &ln)) != 0) {
        if (r != 1 && r != -EBADMSG)
            abort();
        /* Line numbers only go up: the iterator never rereads or loops. */
        if (ln <= last || ln > size)
            abort();
        last = ln;
        if (r == 1)
            check_entry(&e, data, size);
    }

    /* The whole input as one line too: covers embedded "\n" and the length limit. */
    if (cadb_parse_line((const char *)data, size, &e) == 0)
        check_entry(&e, data, size);
    return 0;
}
