/*
 * libFuzzer target for revokctl's argument parsers (indexer/revokctl.c): times,
 * serials and reason names come from the command line, often pasted from tickets
 * and e-mails, so they get the same treatment as bytes from a file. The first
 * byte picks the parser, the rest is the NUL-terminated argument. Besides the
 * sanitizers' checks it aborts when an accepted value breaks a promise: a time is
 * at or after 1970 and formats back to a string that parses to the same second; a
 * serial is 1..DER_SERIAL_MAX bytes; a reason name maps back to the same name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "revokctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 256)
        return 0;
    char s[257];
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    switch (data[0] % 4) {
    case 0: {
        int64_t t, t2;
        char b[40];
        if (revokctl_parse_time(s, &t) == 0) {
            if (t < 0 || revokctl_parse_time(revokctl_fmt_time(t, b, sizeof(b)), &t2) != 0 ||
                t2 != t)
                abort();
        }
        break;
    }
    case 1: {
        uint8_t out[DER_SERIAL_MAX];
        size_t len = 0;
        if (revokctl_parse_serial(s, out, &len) == 0 && (len == 0 || len > DER_SERIAL_MAX))
            abort();
        break;
    }
    case 2: {
        uint8_t r;
        if (revokctl_parse_reason(s, &r) == 0 && strcasecmp(revokctl_reason_name(r), s) != 0)
            abort();
        break;
    }
    default:
        (void)revokctl_text_ok(s);
        break;
    }
    return 0;
}
