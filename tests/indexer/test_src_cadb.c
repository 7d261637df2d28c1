/*
 * Tests for indexer/src_cadb: index.txt read in rounds gives the same snapshot,
 * line numbers and malformed count whatever the round size, so lines split
 * across two reads are neither lost nor doubled.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
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

Test(src_snapshot, sort_orders_as_lmdb_and_keeps_every_entry)
{
    enum { N = 5000 };
    struct src_snapshot s;
    src_snapshot_init(&s, STORE_SRC_INDEX);
    static const uint8_t alphabet[] = {0x00, 0x01, 0x7f, 0xff};
    srand(7);
    for (int i = 0; i < N; i++) {
        struct src_entry e = {.origin = (uint32_t)i};
        /* Short alphabet and lengths around the 8-byte sort prefix: many serials share
         * a prefix or are a zero-extended prefix of another. */
        e.serial_len = (uint8_t)(1 + rand() % 12);
        for (int j = 0; j < e.serial_len; j++)
            e.serial[j] = alphabet[rand() % 4];
        cr_assert_eq(src_snapshot_push(&s, &e), 0);
    }
    src_snapshot_sort(&s);
    static bool seen[N];
    for (size_t i = 0; i < s.n; i++) {
        cr_assert(!seen[s.v[i].origin], "entry %u twice", s.v[i].origin);
        seen[s.v[i].origin] = true;
        if (i)
            cr_assert_leq(src_serial_cmp(s.v[i - 1].serial, s.v[i - 1].serial_len, s.v[i].serial,
                                         s.v[i].serial_len),
                          0, "out of order at %zu", i);
    }
    cr_assert_eq(s.n, N);
    src_snapshot_free(&s);
}

/* Random serials with some byte positions the same in every key (the radix sort
 * skips those passes) and lengths on both sides of the 8-byte prefix. */
Test(src_snapshot, sort_with_constant_bytes_and_long_serials)
{
    enum { N = 20000 };
    struct src_snapshot s;
    src_snapshot_init(&s, STORE_SRC_INDEX);
    srand(11);
    for (int i = 0; i < N; i++) {
        struct src_entry e = {.origin = (uint32_t)i};
        e.serial_len = (uint8_t)(i % 3 ? 8 : 1 + rand() % 20);
        for (int j = 0; j < e.serial_len; j++)
            e.serial[j] = (uint8_t)rand();
        e.serial[0] = 0x40;
        if (e.serial_len > 3)
            e.serial[3] = 0x5a;
        cr_assert_eq(src_snapshot_push(&s, &e), 0);
    }
    src_snapshot_sort(&s);
    static bool seen[N];
    for (size_t i = 0; i < s.n; i++) {
        cr_assert(!seen[s.v[i].origin], "entry %u twice", s.v[i].origin);
        seen[s.v[i].origin] = true;
        if (i)
            cr_assert_leq(src_serial_cmp(s.v[i - 1].serial, s.v[i - 1].serial_len, s.v[i].serial,
                                         s.v[i].serial_len),
                          0, "out of order at %zu", i);
    }
    cr_assert_eq(s.n, N);
    src_snapshot_free(&s);
}
