/* metrics_text.c — histograms read without locks, and the Prometheus text
 * exposition format 0.0.4 written by hand: no C library in Debian renders it
 * (the official client libraries are Go, Java, Python ...), and the format is
 * a few lines of grammar (prometheus.io/docs/instrumenting/exposition_formats). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tallinn/metrics.h"

const uint64_t metrics_latency_us_bounds[] = {500,    1000,   2500,    5000,    10000,
                                              25000,  50000,  100000,  250000,  500000,
                                              1000000, 2500000, 5000000, 10000000};
const size_t metrics_latency_us_count =
    sizeof(metrics_latency_us_bounds) / sizeof(metrics_latency_us_bounds[0]);
const uint64_t metrics_batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
const size_t metrics_batch_count = sizeof(metrics_batch_bounds) / sizeof(metrics_batch_bounds[0]);

void metrics_hist_init(metrics_hist *h, const uint64_t *bounds, size_t n)
{
    h->bounds = bounds;
    h->n = n > METRICS_HIST_MAX ? METRICS_HIST_MAX : n;
    for (size_t i = 0; i <= METRICS_HIST_MAX; i++)
        atomic_init(&h->buckets[i], 0);
    atomic_init(&h->sum, 0);
}

void metrics_hist_read(const metrics_hist *h, metrics_hist_snapshot *out)
{
    memset(out, 0, sizeof(*out));
    out->bounds = h->bounds;
    out->n = h->n;
    for (size_t i = 0; i <= h->n; i++)
        out->buckets[i] = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    out->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
}

struct metrics_text {
    char *buf;
    size_t len, cap;
    int failed;
};

int metrics_text_create(metrics_text **out)
{
    *out = calloc(1, sizeof(**out));
    return *out != NULL ? 0 : -1;
}

void metrics_text_destroy(metrics_text *t)
{
    if (t == NULL)
        return;
    free(t->buf);
    free(t);
}

static void put(metrics_text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->cap - t->len <= n) {
        size_t cap = t->cap != 0 ? t->cap : 4096;
        char *b;
        while (cap - t->len <= n) {
            if (cap > SIZE_MAX / 2) {
                t->failed = 1;
                return;
            }
            cap *= 2;
        }
        if ((b = realloc(t->buf, cap)) == NULL) {
            t->failed = 1;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void puts_(metrics_text *t, const char *s)
{
    put(t, s, strlen(s));
}

/* A metric or label name: [a-zA-Z_:][a-zA-Z0-9_:]* (label names without ':').
 * Names are ours, so a bad one is a bug: it fails the rendering rather than
 * produce a page Prometheus rejects. */
static int name_ok(const char *s, int label)
{
    if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
        return 0;
    if (label && s[0] == '_' && s[1] == '_')
        return 0; /* reserved for Prometheus's own labels */
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || (!label && c == ':')))
            return 0;
    }
    return 1;
}

/* HELP text escapes \ and newline; label values also ". */
static void put_escaped(metrics_text *t, const char *s, int quote)
{
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\\')
            put(t, "\\\\", 2);
        else if (*p == '\n')
            put(t, "\\n", 2);
        else if (quote && *p == '"')
            put(t, "\\\"", 2);
        else
            put(t, p, 1);
    }
}

void metrics_text_family(metrics_text *t, const char *name, metrics_type type, const char *help)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};

    if (!name_ok(name, 0) || (unsigned)type > METRICS_HISTOGRAM) {
        t->failed = 1;
        return;
    }
    puts_(t, "# HELP ");
    puts_(t, name);
    put(t, " ", 1);
    put_escaped(t, help != NULL ? help : "", 0);
    puts_(t, "\n# TYPE ");
    puts_(t, name);
    put(t, " ", 1);
    puts_(t, types[type]);
    put(t, "\n", 1);
}

size_t metrics_format_double(double v, char *buf, size_t cap)
{
    int n;

    if (isnan(v))
        n = snprintf(buf, cap, "NaN");
    else if (isinf(v))
        n = snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
    else if (v == (double)(long long)v && v > -1e15 && v < 1e15)
        n = snprintf(buf, cap, "%lld", (long long)v); /* 10, not 1e+01 */
    else {
        /* The shortest %g that reads back as v: 0.0005, not 0.00050000000000000001. */
        for (int prec = 1; prec <= 17; prec++) {
            n = snprintf(buf, cap, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
    return n < 0 ? 0 : (size_t)n;
}

/* name{a="x",b="y"[,extra]} */
static void put_series(metrics_text *t, const char *name, const char *suffix,
                       const metrics_label *labels, size_t n, const metrics_label *extra)
{
    size_t total = n + (extra != NULL);

    if (!name_ok(name, 0)) {
        t->failed = 1;
        return;
    }
    puts_(t, name);
    puts_(t, suffix);
    if (total == 0)
        return;
    put(t, "{", 1);
    for (size_t i = 0; i < total; i++) {
        const metrics_label *l = i < n ? &labels[i] : extra;
        if (!name_ok(l->name, 1) || l->value == NULL) {
            t->failed = 1;
            return;
        }
        if (i > 0)
            put(t, ",", 1);
        puts_(t, l->name);
        put(t, "=\"", 2);
        put_escaped(t, l->value, 1);
        put(t, "\"", 1);
    }
    put(t, "}", 1);
}

void metrics_text_sample(metrics_text *t, const char *name, const metrics_label *labels,
                         size_t n_labels, double value)
{
    char num[40];

    put_series(t, name, "", labels, n_labels, NULL);
    put(t, " ", 1);
    put(t, num, metrics_format_double(value, num, sizeof(num)));
    put(t, "\n", 1);
}

void metrics_text_sample_u64(metrics_text *t, const char *name, const metrics_label *labels,
                             size_t n_labels, uint64_t value)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRIu64, value);

    put_series(t, name, "", labels, n_labels, NULL);
    put(t, " ", 1);
    put(t, num, (size_t)n);
    put(t, "\n", 1);
}

void metrics_text_histogram(metrics_text *t, const char *name, const metrics_label *labels,
                            size_t n_labels, const metrics_hist_snapshot *h, double divisor)
{
    char le[40], num[40];
    metrics_label le_label = {"le", le};
    uint64_t cum = 0;
    int n;

    for (size_t i = 0; i <= h->n; i++) {
        cum += h->buckets[i];
        if (i < h->n)
            metrics_format_double((double)h->bounds[i] / divisor, le, sizeof(le));
        else
            snprintf(le, sizeof(le), "+Inf");
        put_series(t, name, "_bucket", labels, n_labels, &le_label);
        n = snprintf(num, sizeof(num), " %" PRIu64 "\n", cum);
        put(t, num, (size_t)n);
    }
    put_series(t, name, "_sum", labels, n_labels, NULL);
    put(t, " ", 1);
    put(t, num, metrics_format_double((double)h->sum / divisor, num, sizeof(num)));
    put(t, "\n", 1);
    put_series(t, name, "_count", labels, n_labels, NULL);
    n = snprintf(num, sizeof(num), " %" PRIu64 "\n", cum);
    put(t, num, (size_t)n);
}

char *metrics_text_take(metrics_text *t, size_t *len)
{
    char *out = t->failed ? NULL : t->buf;

    if (out == NULL && !t->failed)
        out = calloc(1, 1); /* nothing written: an empty page */
    if (t->failed)
        free(t->buf);
    if (len != NULL)
        *len = out != NULL ? t->len : 0;
    t->buf = NULL;
    t->len = t->cap = 0;
    t->failed = 0;
    return out;
}
