/*
 * libFuzzer target for the crlnumber file parser (crlgen/crlnum.c): the file
 * sits in the CA's directory, so anyone who can write there controls its bytes.
 * Besides the sanitizers' checks it aborts when an accepted value breaks the
 * parser's promise: at most CRLNUM_MAX, and equal to what strtoull reads from
 * the same hex digits, so crlgen and `openssl ca` agree on the number. (The
 * file size bound, CRLNUM_FILE_MAX, is crlnum_read_file's, not the parser's:
 * any number of leading zeros parses.)
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crlnum.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t v = 0;
    int rc = crlnum_parse((const char *)data, size, &v);
    if (rc == 0) {
        char *buf = malloc(size + 1);
        if (!buf)
            return 0;
        memcpy(buf, data, size);
        buf[size] = '\0';
        if (v > CRLNUM_MAX || strtoull(buf, NULL, 16) != v)
            abort();
        free(buf);
    } else if (rc != -EBADMSG && rc != -ERANGE) {
        abort();
    }
    return 0;
}
