/* metrics.h — the counters and histograms other modules keep on their hot
 * paths (lock-free: one relaxed atomic add per count), and the Prometheus text
 * exposition (format 0.0.4) that renders them. Design: docs/operations.md,
 * "Metrics". Implemented in service/metrics/. */
#ifndef TALLINN_METRICS_H
#define TALLINN_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Histograms ----
 * Fixed bucket bounds in integer units (microseconds, items): an observation
 * costs a scan of at most METRICS_HIST_MAX bounds and two relaxed atomic adds
 * (its bucket, the sum). The count is the sum of the buckets, so a scrape
 * never sees a count that disagrees with its buckets. */
#define METRICS_HIST_MAX 16

typedef struct metrics_hist {
    const uint64_t *bounds; /* ascending upper bounds (inclusive: Prometheus "le") */
    size_t n;               /* at most METRICS_HIST_MAX */
    _Atomic uint64_t buckets[METRICS_HIST_MAX + 1]; /* [n] = above the last bound */
    _Atomic uint64_t sum;
} metrics_hist;

/* A histogram read once (not cumulative: buckets[i] counts bounds[i-1] < v <=
 * bounds[i]). */
typedef struct metrics_hist_snapshot {
    const uint64_t *bounds;
    size_t n;
    uint64_t buckets[METRICS_HIST_MAX + 1];
    uint64_t sum;
} metrics_hist_snapshot;

/* Bounds from the commonly used sets below; the array must outlive h. */
void metrics_hist_init(metrics_hist *h, const uint64_t *bounds, size_t n);

static inline void metrics_hist_observe(metrics_hist *h, uint64_t v)
{
    size_t i = 0;

    while (i < h->n && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

void metrics_hist_read(const metrics_hist *h, metrics_hist_snapshot *out);

/* Latency bounds in microseconds: 0.5 ms .. 10 s. */
extern const uint64_t metrics_latency_us_bounds[];
extern const size_t metrics_latency_us_count;
/* Batch sizes: 1, 2, 4 .. 256 (the committer's largest batch). */
extern const uint64_t metrics_batch_bounds[];
extern const size_t metrics_batch_count;

/* ---- The text exposition (Prometheus format 0.0.4) ----
 * A growing buffer. Family names and label names are the program's own
 * (checked: [a-zA-Z_:][a-zA-Z0-9_:]*, a bad one fails the whole rendering);
 * label values and HELP text are escaped. Errors are sticky: after the first
 * failure every call does nothing and metrics_text_take returns NULL. */
typedef struct metrics_text metrics_text;

typedef struct metrics_label {
    const char *name;
    const char *value;
} metrics_label;

typedef enum metrics_type {
    METRICS_COUNTER,
    METRICS_GAUGE,
    METRICS_HISTOGRAM
} metrics_type;

int metrics_text_create(metrics_text **out);
void metrics_text_destroy(metrics_text *t);

/* # HELP and # TYPE lines; each family once, before its samples. */
void metrics_text_family(metrics_text *t, const char *name, metrics_type type, const char *help);
/* One sample line: name{labels} value. */
void metrics_text_sample(metrics_text *t, const char *name, const metrics_label *labels,
                         size_t n_labels, double value);
/* The same for a count that must not pass through a double (exact above 2^53). */
void metrics_text_sample_u64(metrics_text *t, const char *name, const metrics_label *labels,
                             size_t n_labels, uint64_t value);
/* name_bucket{labels,le=...} (cumulative, +Inf last), name_sum, name_count;
 * bounds and the sum are divided by divisor (1e6: microseconds to seconds;
 * a division rounds 25000 us to 0.025 where a product by 1e-6 would not). */
void metrics_text_histogram(metrics_text *t, const char *name, const metrics_label *labels,
                            size_t n_labels, const metrics_hist_snapshot *h, double divisor);
/* The text (NUL-terminated, owned by the caller: free()) and its length; NULL
 * after any failure. The writer is empty again afterwards. */
char *metrics_text_take(metrics_text *t, size_t *len);

/* v the way the exposition writes it: an integer as one ("10"), else the
 * shortest decimal that reads back as v; "+Inf", "-Inf", "NaN". Returns the
 * length (buf of at least 32 bytes). */
size_t metrics_format_double(double v, char *buf, size_t cap);

#endif
