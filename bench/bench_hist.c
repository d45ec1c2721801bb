/* bench_hist.c — the log-linear latency histogram of tallinn-bench (see
 * bench.h for its precision). Recording is a few instructions so that the
 * load generator spends its CPU on calls, not on bookkeeping. */
#include "bench.h"

#include <string.h>

static size_t bench__hist_index(uint64_t v)
{
    unsigned msb, shift;

    if (v < 2 * BENCH_HIST_SUB)
        return (size_t)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    shift = msb - BENCH_HIST_SUB_BITS; /* v >> shift is in [SUB, 2*SUB) */
    return 2 * BENCH_HIST_SUB + (size_t)(shift - 1) * BENCH_HIST_SUB +
           (size_t)((v >> shift) - BENCH_HIST_SUB);
}

/* Midpoint of bucket i. */
static uint64_t bench__hist_value(size_t i)
{
    size_t k;
    unsigned shift;
    uint64_t lo;

    if (i < 2 * BENCH_HIST_SUB)
        return (uint64_t)i;
    k = i - 2 * BENCH_HIST_SUB;
    shift = (unsigned)(k / BENCH_HIST_SUB) + 1;
    lo = (uint64_t)(k % BENCH_HIST_SUB + BENCH_HIST_SUB) << shift;
    return lo + ((uint64_t)1 << shift) / 2;
}

void bench_hist_init(bench_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

void bench_hist_record(bench_hist *h, uint64_t ns)
{
    h->counts[bench__hist_index(ns)]++;
    h->n++;
    h->sum += (double)ns;
    if (ns < h->min)
        h->min = ns;
    if (ns > h->max)
        h->max = ns;
}

void bench_hist_merge(bench_hist *dst, const bench_hist *src)
{
    if (src->n == 0)
        return;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->n += src->n;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t bench_hist_quantile(const bench_hist *h, double q)
{
    uint64_t rank, seen = 0;

    if (h->n == 0)
        return 0;
    if (q <= 0)
        return h->min;
    if (q >= 1)
        return h->max;
    rank = (uint64_t)(q * (double)h->n);
    if ((double)rank < q * (double)h->n)
        rank++; /* ceil */
    if (rank == 0)
        rank = 1;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = bench__hist_value(i);
            if (v < h->min)
                v = h->min;
            if (v > h->max)
                v = h->max;
            return v;
        }
    }
    return h->max;
}
