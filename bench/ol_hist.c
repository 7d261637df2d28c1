/*
 * ol_hist — quantiles and bucket bounds of ocspload's log-linear histogram
 * (see ol_hist.h). Everything here runs after the load, off the hot path; the
 * recording function is the inline one in the header.
 */
#include "ol_hist.h"

#include <math.h>
#include <string.h>

void ol_hist_reset(struct ol_hist *h)
{
    memset(h, 0, sizeof(*h));
}

uint64_t ol_hist_bucket_low(size_t i)
{
    if (i < OL_HIST_LINEAR)
        return (uint64_t)i;
    size_t g = (i - OL_HIST_LINEAR) / OL_HIST_SUB;
    size_t s = (i - OL_HIST_LINEAR) % OL_HIST_SUB;
    unsigned k = (unsigned)g + 7u;
    return (uint64_t)(OL_HIST_SUB + s) << (k - OL_HIST_SUB_SHIFT);
}

uint64_t ol_hist_bucket_high(size_t i)
{
    if (i < OL_HIST_LINEAR)
        return (uint64_t)i;
    if (i >= OL_HIST_BUCKETS - 1)
        return UINT64_MAX;
    size_t g = (i - OL_HIST_LINEAR) / OL_HIST_SUB;
    unsigned k = (unsigned)g + 7u;
    return ol_hist_bucket_low(i) + (((uint64_t)1 << (k - OL_HIST_SUB_SHIFT)) - 1);
}

uint64_t ol_hist_quantile(const struct ol_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q >= 1.0)
        return h->max;
    double want = ceil(q * (double)h->count);
    uint64_t target = want < 1.0 ? 1 : (uint64_t)want;
    uint64_t seen = 0;
    for (size_t i = 0; i < OL_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= target) {
            uint64_t v = ol_hist_bucket_high(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

double ol_hist_mean(const struct ol_hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}
