/*
 * ol_hist — ocspload's latency histogram: log-linear buckets in the style of
 * HdrHistogram, nanosecond resolution. Values below 128 ns get a bucket each;
 * above, every power-of-two range [2^k, 2^(k+1)) is split into 64 equal
 * sub-buckets, so a reported quantile is within 1/64 (1.6 %) of the true value.
 * The struct is a fixed array (no allocation), and recording a value is a few
 * instructions (a count-leading-zeros and an increment), so it sits in the
 * load generator's hot path. Values past 2^46 ns (about 19.5 hours) land in the
 * last bucket; min, max and the sum are kept exactly.
 */
#ifndef OL_HIST_H
#define OL_HIST_H

#include <stddef.h>
#include <stdint.h>

#define OL_HIST_SUB       64u  /* linear sub-buckets per power of two */
#define OL_HIST_SUB_SHIFT 6u   /* log2(OL_HIST_SUB) */
#define OL_HIST_LINEAR    128u /* values below this get one bucket each */
#define OL_HIST_MAX_EXP   45u  /* largest k with its own 2^k range */
#define OL_HIST_BUCKETS   (OL_HIST_LINEAR + (OL_HIST_MAX_EXP - 6u) * OL_HIST_SUB)

struct ol_hist {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    uint64_t sum; /* ns; 2^64 ns is 584 years of summed latency */
    uint64_t b[OL_HIST_BUCKETS];
};

/* Index of the bucket that holds v. */
static inline size_t ol_hist_index(uint64_t v)
{
    if (v < OL_HIST_LINEAR)
        return (size_t)v;
    unsigned k = 63u - (unsigned)__builtin_clzll(v); /* 7..63 */
    if (k > OL_HIST_MAX_EXP)
        return OL_HIST_BUCKETS - 1;
    unsigned shift = k - OL_HIST_SUB_SHIFT;
    return OL_HIST_LINEAR + (size_t)(k - 7u) * OL_HIST_SUB +
           (size_t)((v >> shift) & (OL_HIST_SUB - 1));
}

static inline void ol_hist_add(struct ol_hist *h, uint64_t v)
{
    h->b[ol_hist_index(v)]++;
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->count++;
    h->sum += v;
}

/* Empties the histogram. */
void ol_hist_reset(struct ol_hist *h);

/* Smallest and largest value bucket i can hold. */
uint64_t ol_hist_bucket_low(size_t i);
uint64_t ol_hist_bucket_high(size_t i);

/*
 * The q-quantile (0 < q <= 1): the upper edge of the bucket holding the
 * ceil(q * count)-th smallest value, clamped to [min, max]. 0 when empty.
 */
uint64_t ol_hist_quantile(const struct ol_hist *h, double q);

/* Mean in ns, 0 when empty. */
double ol_hist_mean(const struct ol_hist *h);

#endif
