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

void src_snapshot_sort(struct src_snapshot *s)
{
    /* A CA with sequential serials lists them in order already: one pass, no sort. */
    size_t i = 1;
    while (i < s->n && src_entry_cmp(&s->v[i - 1], &s->v[i]) <= 0)
        i++;
    if (i < s->n)
        qsort(s->v, s->n, sizeof(*s->v), src_entry_cmp);
}

void src_snapshot_free(struct src_snapshot *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
