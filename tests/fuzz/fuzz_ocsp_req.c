/*
 * libFuzzer target: common/ocsp_req's request parser on arbitrary bytes. Beyond
 * "no crash", it checks that every span the parser returns lies inside the
 * input, and that an accepted nonce obeys RFC 9654 2.1 however it is measured:
 * a 1..128-octet value is at most 131 bytes of extnValue (04 81 80 + 128), and
 * never 0.
 */
#include <stdint.h>
#include <stdlib.h>

#include "ocsp_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ocsp_req r;
    if (ocsp_req_parse(data, size, &r) != 0)
        return 0;
    const uint8_t *end = data + size;
    if (r.id.serial < data || r.id.serial + r.id.serial_len > end || r.id.name_hash < data ||
        r.id.name_hash + r.id.hash_len > end || r.id.key_hash < data ||
        r.id.key_hash + r.id.hash_len > end ||
        (r.nonce && (r.nonce < data || r.nonce + r.nonce_len > end)) || r.n_certs == 0)
        abort();
    if (r.nonce && (r.nonce_len == 0 || r.nonce_len > OCSP_NONCE_MAX + 3))
        abort();
    return 0;
}
