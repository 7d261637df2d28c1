/*
 * Tests for indexer/src_cadb: index.txt read in rounds gives the same snapshot,
 * line numbers and malformed count whatever the round size, so lines split
 * across two reads are neither lost nor doubled.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src_cadb.h"

static char path[64];

static void write_file(void)
{
    strcpy(path, "/tmp/revokd-srccadb-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    for (int i = 0; i < 300; i++) {
        if (i % 37 == 5)
            fprintf(f, "V\tgarbage line %d\n", i);
        else if (i % 41 == 7)
            fprintf(f, "# comment %d\n\n", i);
        else if (i % 3 == 0)
            fprintf(f, "R\t301231000000Z\t261101120000Z,keyCompromise\t%X\tunknown\t/CN=r%d\n",
                    0x1000 + i, i);
        else
            fprintf(f, "V\t301231000000Z\t\t%X\tunknown\t/CN=v%d\n", 0x1000 + i, i);
    }
    fprintf(f, "V\t301231000000Z\t\tFFFF\tunknown\t/CN=no-newline");
    fclose(f);
}

Test(src_cadb, rounds_of_any_size_read_the_same)
{
    write_file();
    struct src_snapshot whole;
    src_snapshot_init(&whole, STORE_SRC_INDEX);
    cr_assert_eq(src_cadb_read("t", path, &whole), 0);
    cr_assert_gt(whole.n, 250);
    cr_assert_gt(whole.malformed, 5);
    cr_assert_eq(whole.v[whole.n - 1].serial_len, 3, "the last line without newline counts");
    cr_assert_eq(memcmp(whole.v[whole.n - 1].serial, "\x00\xff\xff", 3), 0);
    for (size_t cap = 90; cap < 700; cap += 37) {
        struct src_snapshot s;
        src_snapshot_init(&s, STORE_SRC_INDEX);
        cr_assert_eq(src_cadb_read_rounds("t", path, &s, cap), 0);
        cr_assert_eq(s.n, whole.n, "round %zu", cap);
        cr_assert_eq(s.malformed, whole.malformed, "round %zu", cap);
        for (size_t i = 0; i < s.n; i++) {
            cr_assert_eq(s.v[i].origin, whole.v[i].origin, "round %zu entry %zu", cap, i);
            const struct src_entry *a = &s.v[i], *b = &whole.v[i];
            cr_assert(a->serial_len == b->serial_len &&
                          memcmp(a->serial, b->serial, a->serial_len) == 0 &&
                          a->status == b->status && a->reason == b->reason &&
                          a->revoked_at == b->revoked_at && a->not_after == b->not_after,
                      "round %zu entry %zu", cap, i);
        }
        src_snapshot_free(&s);
    }
    src_snapshot_free(&whole);
    unlink(path);
}
