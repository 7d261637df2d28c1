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
    qsort_r(ord, s->n, sizeof(*ord), src_order_cmp, s->v);
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
