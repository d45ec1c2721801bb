/* test_metrics.c — the Prometheus text exposition: families, escaping,
 * number formatting, cumulative histograms, and names that must fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "tallinn/metrics.h"

static char *render(void (*fill)(metrics_text *t), size_t *len)
{
    metrics_text *t;
    char *page;

    assert_int_equal(metrics_text_create(&t), 0);
    fill(t);
    page = metrics_text_take(t, len);
    metrics_text_destroy(t);
    return page;
}

static void fill_counter(metrics_text *t)
{
    metrics_label l[2] = {{"method", "/tallinn.v1.NeedService/GetNeed"}, {"code", "OK"}};

    metrics_text_family(t, "tallinn_rpc_calls_total", METRICS_COUNTER, "Finished calls.");
    metrics_text_sample_u64(t, "tallinn_rpc_calls_total", l, 2, 42);
    metrics_text_sample_u64(t, "tallinn_rpc_calls_total", NULL, 0, UINT64_MAX);
}

static void test_counter(void **state)
{
    size_t len;
    char *page = render(fill_counter, &len);

    (void)state;
    assert_non_null(page);
    assert_string_equal(page, "# HELP tallinn_rpc_calls_total Finished calls.\n"
                              "# TYPE tallinn_rpc_calls_total counter\n"
                              "tallinn_rpc_calls_total{method=\"/tallinn.v1.NeedService/GetNeed\","
                              "code=\"OK\"} 42\n"
                              "tallinn_rpc_calls_total 18446744073709551615\n");
    assert_int_equal(len, strlen(page));
    free(page);
}

static void fill_escapes(metrics_text *t)
{
    metrics_label l = {"path", "a\"b\\c\nd"};

    metrics_text_family(t, "x_info", METRICS_GAUGE, "help with \\ and\nnewline \"quoted\"");
    metrics_text_sample(t, "x_info", &l, 1, 1);
}

static void test_escapes(void **state)
{
    char *page = render(fill_escapes, NULL);

    (void)state;
    assert_non_null(page);
    /* HELP escapes \ and newline only; label values also the quote. */
    assert_string_equal(page, "# HELP x_info help with \\\\ and\\nnewline \"quoted\"\n"
                              "# TYPE x_info gauge\n"
                              "x_info{path=\"a\\\"b\\\\c\\nd\"} 1\n");
    free(page);
}

static void test_doubles(void **state)
{
    char b[40];

    (void)state;
    metrics_format_double(0.0005, b, sizeof(b));
    assert_string_equal(b, "0.0005");
    metrics_format_double(25000 / 1e6, b, sizeof(b));
    assert_string_equal(b, "0.025");
    metrics_format_double(10, b, sizeof(b));
    assert_string_equal(b, "10");
    metrics_format_double(-3, b, sizeof(b));
    assert_string_equal(b, "-3");
    metrics_format_double(1.0 / 3.0, b, sizeof(b));
    assert_true(strtod(b, NULL) == 1.0 / 3.0);
    metrics_format_double(1e300, b, sizeof(b));
    assert_string_equal(b, "1e+300");
    metrics_format_double(INFINITY, b, sizeof(b));
    assert_string_equal(b, "+Inf");
    metrics_format_double(-INFINITY, b, sizeof(b));
    assert_string_equal(b, "-Inf");
    metrics_format_double(NAN, b, sizeof(b));
    assert_string_equal(b, "NaN");
}

static const uint64_t bounds[] = {1000, 25000, 1000000};
static metrics_hist hist;

static void fill_hist(metrics_text *t)
{
    metrics_hist_snapshot s;
    metrics_label l = {"method", "/m"};

    metrics_hist_read(&hist, &s);
    metrics_text_family(t, "lat_seconds", METRICS_HISTOGRAM, "Latency.");
    metrics_text_histogram(t, "lat_seconds", &l, 1, &s, 1e6);
}

static void test_histogram(void **state)
{
    char *page;

    (void)state;
    metrics_hist_init(&hist, bounds, 3);
    metrics_hist_observe(&hist, 0);       /* le 0.001 */
    metrics_hist_observe(&hist, 1000);    /* le 0.001: bounds are inclusive */
    metrics_hist_observe(&hist, 1001);    /* le 0.025 */
    metrics_hist_observe(&hist, 2000000); /* above every bound: +Inf only */
    page = render(fill_hist, NULL);
    assert_non_null(page);
    assert_string_equal(page, "# HELP lat_seconds Latency.\n"
                              "# TYPE lat_seconds histogram\n"
                              "lat_seconds_bucket{method=\"/m\",le=\"0.001\"} 2\n"
                              "lat_seconds_bucket{method=\"/m\",le=\"0.025\"} 3\n"
                              "lat_seconds_bucket{method=\"/m\",le=\"1\"} 3\n"
                              "lat_seconds_bucket{method=\"/m\",le=\"+Inf\"} 4\n"
                              "lat_seconds_sum{method=\"/m\"} 2.002001\n"
                              "lat_seconds_count{method=\"/m\"} 4\n");
    free(page);
}

static void fill_bad_name(metrics_text *t)
{
    metrics_text_family(t, "ok_total", METRICS_COUNTER, "fine");
    metrics_text_sample(t, "9bad", NULL, 0, 1);
}

static void fill_bad_label(metrics_text *t)
{
    metrics_label l = {"bad-label", "v"};
    metrics_text_sample(t, "ok", &l, 1, 1);
}

static void fill_reserved_label(metrics_text *t)
{
    metrics_label l = {"__name__", "v"};
    metrics_text_sample(t, "ok", &l, 1, 1);
}

static void fill_colon_label(metrics_text *t)
{
    metrics_label l = {"a:b", "v"};
    metrics_text_sample(t, "ok:recorded", &l, 1, 1);
}

static void fill_nothing(metrics_text *t)
{
    (void)t;
}

static void test_bad_names_fail(void **state)
{
    char *page;
    size_t len = 99;

    (void)state;
    assert_null(render(fill_bad_name, &len));
    assert_int_equal(len, 0);
    assert_null(render(fill_bad_label, NULL));
    assert_null(render(fill_reserved_label, NULL));
    assert_null(render(fill_colon_label, NULL)); /* ':' only in metric names */
    page = render(fill_nothing, &len);
    assert_non_null(page);
    assert_int_equal(len, 0);
    free(page);
}

/* A page much larger than the first buffer grows without loss, and the
 * writer is reusable after a take. */
static void test_growth_and_reuse(void **state)
{
    metrics_text *t;
    char name[32], *page;
    size_t len, lines = 0;

    (void)state;
    assert_int_equal(metrics_text_create(&t), 0);
    metrics_text_family(t, "big", METRICS_GAUGE, "Many series.");
    for (int i = 0; i < 2000; i++) {
        metrics_label l = {"i", name};
        snprintf(name, sizeof(name), "%d", i);
        metrics_text_sample(t, "big", &l, 1, i);
    }
    page = metrics_text_take(t, &len);
    assert_non_null(page);
    for (size_t i = 0; i < len; i++)
        lines += page[i] == '\n';
    assert_int_equal(lines, 2002);
    assert_non_null(strstr(page, "big{i=\"1999\"} 1999\n"));
    free(page);
    metrics_text_sample(t, "again", NULL, 0, 2);
    page = metrics_text_take(t, &len);
    assert_string_equal(page, "again 2\n");
    free(page);
    metrics_text_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter),          cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_doubles),          cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_bad_names_fail),   cmocka_unit_test(test_growth_and_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
