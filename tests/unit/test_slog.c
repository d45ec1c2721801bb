/* test_slog.c — tallinnd's log lines: the timestamp, logfmt quoting, JSON that
 * parses, and caller text that cannot forge a field or a line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log/slog.h"

static const struct timespec when = {1796297441, 47000000}; /* 2026-12-03T11:30:41.047Z */

static void test_logfmt(void **state)
{
    char buf[512];
    slog_field f[] = {SLOG_S("method", "/a.B/C"), SLOG_I("port", -5), SLOG_MS("duration_ms", 1234),
                      SLOG_S("principal", NULL), SLOG_S("msg", "two words"),
                      SLOG_S("empty", ""), SLOG_S("q", "say \"hi\" \\o/")};
    size_t n = slog_format_line(buf, sizeof(buf), SLOG_LOGFMT, &when, SLOG_WARN, "call", f, 7);

    (void)state;
    assert_true(n > 0 && n < sizeof(buf));
    buf[n] = '\0';
    assert_string_equal(buf, "ts=2026-12-03T11:30:41.047Z level=warn event=call method=/a.B/C "
                             "port=-5 duration_ms=1.234 principal=- msg=\"two words\" empty=\"\" "
                             "q=\"say \\\"hi\\\" \\\\o/\"\n");
}

/* A value with a newline and a forged field stays one line and one value. */
static void test_no_forgery(void **state)
{
    char buf[512];
    slog_field f[] = {SLOG_S("peer", "x\nts=1 level=error event=forged"),
                      SLOG_S("path", "\x1b[31mred\xff")};
    size_t n = slog_format_line(buf, sizeof(buf), SLOG_LOGFMT, &when, SLOG_INFO, "e", f, 2);

    (void)state;
    buf[n] = '\0';
    assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);
    assert_null(strchr(buf, '\x1b'));
    assert_non_null(strstr(buf, "peer=\"x\\\\x0Ats=1 level=error event=forged\""));
    assert_non_null(strstr(buf, "path=\"\\\\x1B[31mred\\\\xFF\""));
}

static void test_json(void **state)
{
    char buf[512];
    slog_field f[] = {SLOG_S("method", "/a.B/C"), SLOG_I("port", 50051),
                      SLOG_MS("duration_ms", 1234), SLOG_S("bad", "a\xff\"b\n")};
    size_t n = slog_format_line(buf, sizeof(buf), SLOG_JSON, &when, SLOG_ERROR, "call", f, 4);
    json_t *j;

    (void)state;
    assert_true(n > 0 && n < sizeof(buf));
    assert_int_equal(buf[n - 1], '\n');
    assert_null(memchr(buf, '\n', n - 1));
    j = json_loadb(buf, n, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "ts")), "2026-12-03T11:30:41.047Z");
    assert_string_equal(json_string_value(json_object_get(j, "level")), "error");
    assert_string_equal(json_string_value(json_object_get(j, "event")), "call");
    assert_int_equal(json_integer_value(json_object_get(j, "port")), 50051);
    assert_true(json_real_value(json_object_get(j, "duration_ms")) == 1.234);
    assert_string_equal(json_string_value(json_object_get(j, "bad")), "a\\xFF\"b\\x0A");
    json_decref(j);
}

/* Too small a buffer: the size needed, and then the same line. */
static void test_sizes(void **state)
{
    char small[16], big[256];
    slog_field f[] = {SLOG_S("k", "value")};
    size_t need, n;

    (void)state;
    for (int fmt = SLOG_LOGFMT; fmt <= SLOG_JSON; fmt++) {
        need = slog_format_line(small, sizeof(small), (slog_format)fmt, &when, SLOG_INFO, "e", f,
                                1);
        assert_true(need > sizeof(small));
        n = slog_format_line(big, need, (slog_format)fmt, &when, SLOG_INFO, "e", f, 1);
        assert_int_equal(n, need);
    }
}

static void test_parse(void **state)
{
    slog_level l;
    slog_format f;

    (void)state;
    assert_int_equal(slog_parse_level("warn", &l), 0);
    assert_int_equal(l, SLOG_WARN);
    assert_int_equal(slog_parse_level("notice", &l), 0);
    assert_int_equal(l, SLOG_NOTICE);
    assert_string_equal(slog_level_name(SLOG_NOTICE), "notice");
    assert_int_equal(slog_parse_level("WARN", &l), -1);
    assert_int_equal(slog_parse_level("verbose", &l), -1);
    assert_int_equal(slog_parse_format("json", &f), 0);
    assert_int_equal(f, SLOG_JSON);
    assert_int_equal(slog_parse_format("text", &f), -1);
}

/* slog_write honours the level and writes one whole line to the descriptor. */
static void test_write_level(void **state)
{
    int fds[2];
    char buf[512];
    ssize_t n;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    slog_configure(SLOG_LOGFMT, SLOG_WARN, fds[1]);
    SLOG(SLOG_INFO, "skipped", SLOG_S("k", "v"));
    SLOG(SLOG_ERROR, "kept", SLOG_S("k", "v"));
    slog_configure(SLOG_LOGFMT, SLOG_INFO, 2);
    close(fds[1]);
    n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_null(strstr(buf, "skipped"));
    assert_non_null(strstr(buf, " level=error event=kept k=v\n"));
    assert_int_equal(strncmp(buf, "ts=", 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt), cmocka_unit_test(test_no_forgery),
        cmocka_unit_test(test_json),   cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_parse),  cmocka_unit_test(test_write_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
