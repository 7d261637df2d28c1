/*
 * libFuzzer target for the CertMate metadata.json reader (src_certmate.h): the
 * input is one file's bytes. Besides the sanitizers' checks it aborts when an
 * accepted document breaks a promise the directory walk relies on: the serial
 * text is NUL-terminated inside its buffer, a reason is a CRLReason the store
 * knows, and a certificate said not to be revoked carries no revocation time or
 * reason. It also feeds ISO 8601 time parsing the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src_certmate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct src_certmate_meta m;
    if (src_certmate_parse_meta((const char *)data, size, &m) == 0) {
        if (size > SRC_META_MAX)
            abort();
        if (m.has_serial && memchr(m.serial, '\0', sizeof(m.serial)) == NULL)
            abort();
        if (m.reason != STORE_REASON_NONE && (m.reason > 10 || m.reason == 7 || m.reason == 8))
            abort();
        if (!m.revoked && (m.has_revoked_at || m.reason != STORE_REASON_NONE || m.reason_unknown))
            abort();
    }
    int64_t t;
    if (src_certmate_parse_time((const char *)data, size, &t) == 0 && size < 19)
        abort();
    return 0;
}
