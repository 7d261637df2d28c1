/*
 * libFuzzer target for the CRL reader's entry mapping (src_crl_parse(), the half
 * of src_crl_read() that runs after the signature check): the input is one CRL
 * file, PEM or DER, read once as a full CRL and once as a delta. Besides the
 * sanitizers' checks it aborts when an entry breaks what the sync engine relies
 * on: a serial the store can key, a status with the reason it implies
 * (certificateHold is STORE_HOLD; GOOD has no reason or dates; removeFromCRL
 * never survives as a reason), and no CRLReason the store does not know.
 */
#include <stdint.h>
#include <stdlib.h>

#include "der.h"
#include "src_crl.h"

static void check(const struct src_snapshot *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct src_entry *e = &s->v[i];
        if (e->serial_len < 1 || e->serial_len > STORE_SERIAL_MAX ||
            der_serial_check(e->serial, e->serial_len) < 0)
            abort();
        switch (e->status) {
        case STORE_GOOD:
            if (e->reason != STORE_REASON_NONE || e->revoked_at != 0 || e->invalidity != 0)
                abort();
            break;
        case STORE_HOLD:
            if (e->reason != 6)
                abort();
            break;
        case STORE_REVOKED:
            if (e->reason != STORE_REASON_NONE &&
                (e->reason > 10 || e->reason == 6 || e->reason == 7 || e->reason == 8))
                abort();
            break;
        default:
            abort();
        }
        if (e->not_after != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int delta = 0; delta < 2; delta++) {
        struct src_snapshot s;
        src_snapshot_init(&s, STORE_SRC_CRL);
        if (src_crl_parse(data, size, delta, &s) == 0)
            check(&s);
        src_snapshot_free(&s);
    }
    return 0;
}
