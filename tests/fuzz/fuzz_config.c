/*
 * libFuzzer target for the config parser: arbitrary bytes go through
 * config_load_mem() and the result is freed, so ASan/UBSan catch overreads of
 * unterminated lines, leaks on every error path, and bad arithmetic in the
 * size/duration parsers. The name has a directory so relative-path joining runs.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config c;
    char err[256];
    if (config_load_mem(&c, "fuzz/revokd.conf", (const char *)data, size, err, sizeof(err)) == 0)
        config_free(&c);
    /* On failure config_load_mem has already freed c; a second free must be harmless. */
    config_free(&c);
    return 0;
}
