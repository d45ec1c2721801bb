/* Unit tests for the command-line tools' shared text helpers (client/cli_*.c
 * but the config file): display width of UTF-8 (wide, combining, invalid),
 * cutting to a width, edit distance and "did you
 * mean", money as typed (minor units from the server's ISO 4217 table; what is refused
 * and why), and the exit status of each gRPC code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"

static void test_width(void **state)
{
    (void)state;
    assert_int_equal(cli_width(""), 0);
    assert_int_equal(cli_width("Estonia"), 7);
    assert_int_equal(cli_width("T\xc3\xbcrkiye"), 7);         /* ü precomposed */
    assert_int_equal(cli_width("U\xcc\x88" "ber"), 4);            /* U + combining diaeresis */
    assert_int_equal(cli_width("\xe6\x97\xa5\xe6\x9c\xac"), 4); /* 日本: wide */
    assert_int_equal(cli_width("\xd0\x9a\xd0\xb8\xd1\x97\xd0\xb2"), 4); /* Київ */
    assert_int_equal(cli_width("a\xff" "b"), 3);                /* an invalid byte: 1 */
    assert_int_equal(cli_width("\xe2\x80\xa6"), 1);             /* … */
}

static void test_cut(void **state)
{
    char buf[64];

    (void)state;
    snprintf(buf, sizeof buf, "Kharkivoblenergo");
    cli_cut(buf, sizeof buf, 8);
    assert_string_equal(buf, "Kharkiv\xe2\x80\xa6");
    assert_int_equal(cli_width(buf), 8);
    snprintf(buf, sizeof buf, "short");
    cli_cut(buf, sizeof buf, 8);
    assert_string_equal(buf, "short");
    /* a wide character never straddles the limit */
    snprintf(buf, sizeof buf, "\xe6\x97\xa5\xe6\x9c\xac\xe6\x97\xa5\xe6\x9c\xac");
    cli_cut(buf, sizeof buf, 4);
    assert_string_equal(buf, "\xe6\x97\xa5\xe2\x80\xa6");
    assert_true(cli_width(buf) <= 4);
    /* a combining mark stays with its letter */
    snprintf(buf, sizeof buf, "U\xcc\x88" "berweisung");
    cli_cut(buf, sizeof buf, 3);
    assert_string_equal(buf, "U\xcc\x88" "b\xe2\x80\xa6");
    snprintf(buf, sizeof buf, "unlimited");
    cli_cut(buf, sizeof buf, 0);
    assert_string_equal(buf, "unlimited");
}

static void test_edit_distance(void **state)
{
    (void)state;
    assert_int_equal(cli_edit_distance("", ""), 0);
    assert_int_equal(cli_edit_distance("needs", "needs"), 0);
    assert_int_equal(cli_edit_distance("neds", "needs"), 1);     /* deletion */
    assert_int_equal(cli_edit_distance("needss", "needs"), 1);   /* insertion */
    assert_int_equal(cli_edit_distance("nieds", "needs"), 1);    /* substitution */
    assert_int_equal(cli_edit_distance("nedes", "needs"), 1);    /* transposition */
    assert_int_equal(cli_edit_distance("NEEDS", "needs"), 0);    /* case folded */
    assert_int_equal(cli_edit_distance("kitten", "sitting"), 3);
    assert_int_equal(cli_edit_distance("ca", "abc"), 3);         /* OSA, not full Damerau */
    assert_int_equal(cli_edit_distance("", "abc"), 3);
}

static void test_suggest(void **state)
{
    static const char *const nouns[] = {"needs", "donors", "pledges", "matches", NULL,
                                        "principals", "audit", "health", "version"};
    static const char *const opts[] = {"filter", "order-by", "limit", "no-headers", "output"};
    size_t nn = sizeof nouns / sizeof nouns[0], no = sizeof opts / sizeof opts[0];

    (void)state;
    assert_string_equal(cli_suggest("neds", nouns, nn), "needs");
    assert_string_equal(cli_suggest("donnors", nouns, nn), "donors");
    assert_string_equal(cli_suggest("pricnipals", nouns, nn), "principals");
    assert_string_equal(cli_suggest("filtr", opts, no), "filter");
    assert_string_equal(cli_suggest("no-header", opts, no), "no-headers");
    assert_string_equal(cli_suggest("oder-by", opts, no), "order-by");
    assert_null(cli_suggest("xyz", nouns, nn));      /* nothing close */
    assert_null(cli_suggest("needs", nouns, nn));    /* itself is no suggestion */
    assert_null(cli_suggest("a", nouns, nn));
    assert_null(cli_suggest("colour", opts, no));
}

/* Parses s (default EUR); on success fills units and nanos and returns "";
 * else returns the error. */
static const char *money(const char *s, char cur[4], int64_t *units, int32_t *nanos)
{
    static char err[256];

    err[0] = '\0';
    if (cli_money_parse(s, "EUR", cur, units, nanos, err, sizeof err) != 0) {
        assert_true(err[0] != '\0');
        return err;
    }
    return "";
}

static void ok(const char *s, const char *cur, int64_t units, int32_t nanos)
{
    char c[4];
    int64_t u = -1;
    int32_t n = -1;

    assert_string_equal(money(s, c, &u, &n), "");
    assert_string_equal(c, cur);
    assert_int_equal(u, units);
    assert_int_equal(n, nanos);
}

static void refused(const char *s, const char *needle)
{
    char c[4];
    int64_t u;
    int32_t n;
    const char *err = money(s, c, &u, &n);

    if (strstr(err, needle) == NULL || strstr(err, "write it as") == NULL)
        fail_msg("%s: wanted an error with \"%s\" and what to write, got \"%s\"", s, needle, err);
}

static void test_money_accepted(void **state)
{
    (void)state;
    ok("120000", "EUR", 120000, 0);
    ok("EUR 120,000.50", "EUR", 120000, 500000000);
    ok("eur 120,000", "EUR", 120000, 0);
    ok("120000.5 EUR", "EUR", 120000, 500000000);
    ok("EUR120000.05", "EUR", 120000, 50000000);
    ok("  1,234,567.89  ", "EUR", 1234567, 890000000);
    ok("0.01", "EUR", 0, 10000000);
    ok("0", "EUR", 0, 0);
    ok("JPY 1,000", "JPY", 1000, 0);
    ok("KWD 1.125", "KWD", 1, 125000000);
    ok("CLF 2.5001", "CLF", 2, 500100000);
    ok("USD 5", "USD", 5, 0);
    ok("999,999,999,999,999,999", "EUR", 999999999999999999LL, 0);
}

static void test_money_refused(void **state)
{
    (void)state;
    refused("EUR 1,0000", "groups of three");  /* read as 10,000 before */
    refused("1,00", "groups of three");        /* a decimal comma */
    refused("1000,50", "groups of three");
    refused(",100", "no number");
    refused("1,", "groups of three");
    refused("EUR 0.001", "EUR has 2 decimal places (ISO 4217), not 3"); /* accepted before */
    refused("JPY 10.5", "JPY has no decimal places");
    refused("KWD 1.1234", "KWD has 3 decimal places");
    refused("1.000,50", "unexpected");
    refused("120 000", "unexpected");
    refused("12.", "no digits after");
    refused("-5", "positive");
    refused("EUR 5 EUR", "two currency codes");
    refused("ABC 5", "not an ISO 4217 currency code");
    refused("XAU 5", "not an ISO 4217 currency code");  /* gold: no minor unit */
    refused("HRK 5", "not an ISO 4217 currency code");  /* withdrawn in 2023 */
    refused("0120", "leading zero");
    refused("a lot", "no number");
    refused("", "no number");
    refused("1234567890123456789", "too large");
    refused("EUR 5.5.5", "unexpected");
}

static void test_currency_exponents(void **state)
{
    (void)state;
    assert_int_equal(cli_currency_exponent("EUR"), 2);
    assert_int_equal(cli_currency_exponent("UAH"), 2);
    assert_int_equal(cli_currency_exponent("JPY"), 0);
    assert_int_equal(cli_currency_exponent("ISK"), 0);
    assert_int_equal(cli_currency_exponent("KWD"), 3);
    assert_int_equal(cli_currency_exponent("TND"), 3);
    assert_int_equal(cli_currency_exponent("CLF"), 4);
    assert_int_equal(cli_currency_exponent("XAU"), CLI_CURRENCY_UNKNOWN);
    assert_int_equal(cli_currency_exponent("ABC"), CLI_CURRENCY_UNKNOWN);
    assert_int_equal(cli_currency_exponent("eur"), CLI_CURRENCY_UNKNOWN);
    assert_int_equal(cli_currency_exponent("EURO"), CLI_CURRENCY_UNKNOWN);
}

static void test_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(cli_exit_for_status(GRPC_STATUS_OK, 1), CLI_EXIT_OK);
    assert_int_equal(cli_exit_for_status(GRPC_STATUS_UNAVAILABLE, 1), CLI_EXIT_UNREACHABLE);
    assert_int_equal(cli_exit_for_status(GRPC_STATUS_DEADLINE_EXCEEDED, 1), 3);
    assert_int_equal(cli_exit_for_status(GRPC_STATUS_NOT_FOUND, 1), 4);
    assert_int_equal(cli_exit_for_status(GRPC_STATUS_UNAUTHENTICATED, 1), 5);
    assert_int_equal(cli_exit_for_status(GRPC_STATUS_PERMISSION_DENIED, 1), 5);
    assert_int_equal(cli_exit_for_status(GRPC_STATUS_FAILED_PRECONDITION, 1), 6);
    assert_int_equal(cli_exit_for_status(GRPC_STATUS_ABORTED, 1), 7);
    assert_int_equal(cli_exit_for_status(GRPC_STATUS_INTERNAL, 1), 1);
    assert_int_equal(cli_exit_for_status(GRPC_STATUS_UNIMPLEMENTED, CLI_EXIT_UNCHECKED), 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_width),           cmocka_unit_test(test_cut),
        cmocka_unit_test(test_edit_distance),
        cmocka_unit_test(test_suggest),         cmocka_unit_test(test_money_accepted),
        cmocka_unit_test(test_money_refused),   cmocka_unit_test(test_currency_exponents),
        cmocka_unit_test(test_exit_codes),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
