/*
 * libFuzzer target: common/signproto's frame parsers on arbitrary bytes, as
 * either end of the signer socket would see them. Beyond "no crash": what one
 * parser accepts must encode back to the very same bytes (the format has one
 * encoding per value), and a RESULT's DER span must lie inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "signproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[SIGNPROTO_FRAME_MAX];
    static struct signproto_req req;
    struct signproto_resp resp;
    size_t flen;
    if (signproto_frame(data, size, &flen) < 0)
        return 0;
    if (flen > size || flen > SIGNPROTO_FRAME_MAX)
        abort();
    if (signproto_parse_req(data, flen, &req) == 0) {
        int n = signproto_put_req(out, sizeof(out), &req);
        if (n < 0 || (size_t)n != flen || memcmp(out, data, flen) != 0)
            abort();
    }
    if (signproto_parse_resp(data, flen, &resp) == 0) {
        if (resp.der < data || resp.der + resp.der_len > data + flen)
            abort();
        int n = signproto_put_resp(out, sizeof(out), &resp);
        if (n < 0 || (size_t)n != flen || memcmp(out, data, flen) != 0)
            abort();
    }
    return 0;
}
