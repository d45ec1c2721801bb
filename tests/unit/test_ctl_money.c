/* test_ctl_money.c — Money as an exact decimal (cli_money_decimal in
 * client/cli_money.c, as exports and tables use it): known answers for currencies with 0, 2, 3 and 4
 * minor units, negative amounts, the limits of int64 units, extra digits
 * kept, and Money the server never sends written as "". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../client/cli.h"

static const char *dec(const char *cur, int64_t units, int32_t nanos)
{
    static char buf[CLI_MONEY_DECIMAL_MAX];

    cli_money_decimal(cur, units, nanos, 0, 0, buf, sizeof buf);
    return buf;
}

static void test_known_answers(void **state)
{
    (void)state;
    assert_string_equal(dec("EUR", 1234, 500000000), "1234.50");
    assert_string_equal(dec("EUR", 0, 0), "0.00");
    assert_string_equal(dec("USD", 400000, 0), "400000.00");
    assert_string_equal(dec("JPY", 5000000, 0), "5000000");
    assert_string_equal(dec("KWD", 1, 250000000), "1.250");
    assert_string_equal(dec("KWD", 10, 125000000), "10.125");
    assert_string_equal(dec("CLF", 3, 100000), "3.0001");
    assert_string_equal(dec("EUR", -1, -500000000), "-1.50");
    assert_string_equal(dec("EUR", 0, -10000000), "-0.01");
    assert_string_equal(dec("EUR", INT64_MAX, 999999999), "9223372036854775807.999999999");
    assert_string_equal(dec("EUR", INT64_MIN, 0), "-9223372036854775808.00");
    /* More digits than the currency has: kept, never rounded away. */
    assert_string_equal(dec("EUR", 1, 5), "1.000000005");
    assert_string_equal(dec("JPY", 1, 500000000), "1.5");
    /* An unknown code: the digits it has. */
    assert_string_equal(dec("XXX", 2, 0), "2");
    assert_string_equal(dec("", 2, 100000000), "2.1");
}

static void test_grouped(void **state)
{
    char buf[CLI_MONEY_DECIMAL_MAX];

    (void)state;
    assert_int_equal(cli_money_decimal("EUR", 1234567, 500000000, CLI_MONEY_GROUP, 2, buf,
                                       sizeof buf), 0);
    assert_string_equal(buf, "1,234,567.50");
    assert_int_equal(cli_money_decimal("EUR", INT64_MIN, 0, CLI_MONEY_GROUP, 2, buf, sizeof buf),
                     0);
    assert_string_equal(buf, "-9,223,372,036,854,775,808.00");
    assert_int_equal(cli_money_decimal("XXX", 999, 0, CLI_MONEY_GROUP, 2, buf, sizeof buf), 0);
    assert_string_equal(buf, "999.00"); /* tables: 2 decimals for a code the table lacks */
    assert_int_equal(cli_money_decimal("EUR", 1, -1, CLI_MONEY_GROUP, 2, buf, sizeof buf), -1);
    assert_string_equal(buf, "");
}

static void test_not_money(void **state)
{
    (void)state;
    assert_string_equal(dec("EUR", 1, 1000000000), "");
    assert_string_equal(dec("EUR", 1, -1), "");
    assert_string_equal(dec("EUR", -1, 1), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_not_money),
        cmocka_unit_test(test_grouped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
