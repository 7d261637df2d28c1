/*
 * source — the snapshot container every source reader fills (source.h). It grows
 * by doubling and sorts in place; the sync engine then walks it once beside the
 * store's certs cursor.
 */
#include "source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void src_snapshot_init(struct src_snapshot *s, enum store_source source)
{
    memset(s, 0, sizeof(*s));
    s->source = source;
}

int src_snapshot_push(struct src_snapshot *s, const struct src_entry *e)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        struct src_entry *v = reallocarray(s->v, cap, sizeof(*v));
        if (!v)
            return -ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = *e;
    return 0;
}

int src_serial_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int src_entry_cmp(const void *x, const void *y)
{
    const struct src_entry *a = x, *b = y;
    return src_serial_cmp(a->serial, a->serial_len, b->serial, b->serial_len);
}

/* Sort key: the serial's first 8 bytes (zero-padded) and the entry's index. */
struct src_order {
    uint64_t key;
    uint32_t i;
};

static uint64_t src_prefix(const struct src_entry *e)
{
    uint64_t k = 0;
    for (size_t j = 0; j < 8; j++)
        k = k << 8 | (j < e->serial_len ? e->serial[j] : 0);
    return k;
}

static int src_order_cmp(const void *x, const void *y, void *arg)
{
    const struct src_order *a = x, *b = y;
    /* Different prefixes decide as memcmp would; equal ones (a serial that is a zero-
     * extended prefix of the other, or longer than 8 bytes) compare whole. */
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    const struct src_entry *v = arg;
    return src_entry_cmp(&v[a->i], &v[b->i]);
}

/*
 * Sorts ord[] as src_order_cmp() orders it: a stable LSD radix sort on the 64-bit
 * prefix, one byte per pass and passes where every key has the same byte skipped
 * (random 63-bit serials need 8, the comparator sort it replaces about 20
 * compares per entry), then each run of equal prefixes sorted whole by the
 * comparator. Falls back to qsort_r() when the scratch array cannot be had.
 */
static void src_order_sort(struct src_order *ord, size_t n, const struct src_entry *v)
{
    struct src_order *tmp = malloc(n * sizeof(*tmp));
    if (!tmp) {
        qsort_r(ord, n, sizeof(*ord), src_order_cmp, (void *)v);
        return;
    }
    size_t(*cnt)[256] = calloc(8, sizeof(*cnt));
    if (!cnt) {
        free(tmp);
        qsort_r(ord, n, sizeof(*ord), src_order_cmp, (void *)v);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        for (unsigned b = 0; b < 8; b++)
            cnt[b][(ord[i].key >> (8 * b)) & 0xff]++;
    }
    struct src_order *from = ord, *to = tmp;
    for (unsigned b = 0; b < 8; b++) {
        unsigned shift = 8 * b;
        if (cnt[b][(from[0].key >> shift) & 0xff] == n)
            continue; /* one value of this byte in every key: the pass moves nothing */
        size_t at = 0;
        for (unsigned d = 0; d < 256; d++) {
            size_t c = cnt[b][d];
            cnt[b][d] = at;
            at += c;
        }
        for (size_t i = 0; i < n; i++)
            to[cnt[b][(from[i].key >> shift) & 0xff]++] = from[i];
        struct src_order *x = from;
        from = to;
        to = x;
    }
    if (from != ord)
        memcpy(ord, from, n * sizeof(*ord));
    free(cnt);
    free(tmp);
    /* Equal prefixes: serials longer than 8 bytes, or zero-extended ones. */
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && ord[j].key == ord[i].key)
            j++;
        if (j - i > 1)
            qsort_r(ord + i, j - i, sizeof(*ord), src_order_cmp, (void *)v);
        i = j;
    }
}

void src_snapshot_sort(struct src_snapshot *s)
{
    /* A CA with sequential serials lists them in order already: one pass, no sort. */
    size_t i = 1;
    while (i < s->n && src_entry_cmp(&s->v[i - 1], &s->v[i]) <= 0)
        i++;
    if (i >= s->n)
        return;
    /* Sorting 16-byte keys and then moving each 72-byte entry once is several times
     * faster than qsort moving the entries (a re-sync of 1M certificates). */
    struct src_order *ord = s->n <= UINT32_MAX ? malloc(s->n * sizeof(*ord)) : NULL;
    if (!ord) {
        qsort(s->v, s->n, sizeof(*s->v), src_entry_cmp);
        return;
    }
    for (i = 0; i < s->n; i++)
        ord[i] = (struct src_order){src_prefix(&s->v[i]), (uint32_t)i};
    src_order_sort(ord, s->n, s->v);
    /* Permute in place, cycle by cycle: slot k takes the entry ord[k] names. */
    for (size_t j = 0; j < s->n; j++) {
        if (ord[j].i == j)
            continue;
        struct src_entry tmp = s->v[j];
        size_t k = j;
        for (;;) {
            size_t from = ord[k].i;
            ord[k].i = (uint32_t)k;
            if (from == j) {
                s->v[k] = tmp;
                break;
            }
            s->v[k] = s->v[from];
            k = from;
        }
    }
    free(ord);
}

void src_snapshot_free(struct src_snapshot *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
