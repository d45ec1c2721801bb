/* test_ctl_csv.c — the tools' RFC 4180 writer (client/cli_csv.c): known
 * answers for quoting (comma, quote, CR, LF), CRLF record ends, UTF-8 kept
 * byte for byte, and the formula guard on text cells only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../client/cli.h"

/* The cells written as one row, as text. */
static char *row(int guard, const char *const *cells, const int *text, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cli_csv w;

    assert_non_null(f);
    cli_csv_init(&w, f, guard);
    for (size_t i = 0; i < n; i++)
        cli_csv_cell(&w, cells[i], text[i]);
    assert_int_equal(cli_csv_end_row(&w), 0);
    fclose(f);
    return buf;
}

static void test_quoting(void **state)
{
    static const char *const cells[] = {"plain", "a,b", "say \"hi\"", "two\r\nlines", "lf\nonly",
                                        "cr\ronly", "", NULL, "Харків"};
    static const int text[] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    char *out = row(1, cells, text, 9);

    (void)state;
    assert_string_equal(out, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\r\nlines\",\"lf\nonly\","
                             "\"cr\ronly\",,,Харків\r\n");
    free(out);
}

static void test_formula_guard(void **state)
{
    static const char *const cells[] = {"=1+1", "+31 20", "-2", "@SUM(A1)", "\tx", "\rx",
                                        "a=b", "=1,2", "-5.00"};
    static const int text[] = {1, 1, 1, 1, 1, 1, 1, 1, 0};
    char *on = row(1, cells, text, 9), *off = row(0, cells, text, 9);

    (void)state;
    /* Text cells that start a formula get an apostrophe (inside the quotes
     * when quoted); a value the tool formats (the last, an amount) never. */
    assert_string_equal(on, "'=1+1,'+31 20,'-2,'@SUM(A1),'\tx,\"'\rx\",a=b,\"'=1,2\",-5.00\r\n");
    assert_string_equal(off, "=1+1,+31 20,-2,@SUM(A1),\tx,\"\rx\",a=b,\"=1,2\",-5.00\r\n");
    free(on);
    free(off);
}

static void test_write_error(void **state)
{
    FILE *f = fopen("/dev/full", "w");
    cli_csv w;

    (void)state;
    if (f == NULL)
        skip();
    setvbuf(f, NULL, _IONBF, 0);
    cli_csv_init(&w, f, 1);
    cli_csv_cell(&w, "x", 0);
    assert_int_equal(cli_csv_end_row(&w), -1);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_formula_guard),
        cmocka_unit_test(test_write_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
