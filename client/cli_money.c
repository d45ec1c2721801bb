/* cli_money.c — amounts of money as staff type them ("EUR 120,000.50"),
 * read strictly: a comma only between groups of three digits, "." only
 * before at most as many decimals as the currency's minor unit has (ISO
 * 4217 exponent), so "1,0000" or "EUR 0.001" are refused instead of being
 * guessed at. Written here: no library we use parses amounts this way. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define NA CLI_CURRENCY_NO_MINOR
#define CLI_MONEY_MAX_DIGITS 18 /* of the integer part: always fits int64 */

/* ISO 4217 List One: every current alphabetic code and its minor unit
 * ("exponent"), as published by the maintenance agency (SIX) — the codes as
 * in Debian's iso-codes 4.15 (/usr/share/iso-codes/json/iso_4217.json) plus
 * XCG and ZWG (2024/2025); exponents 0, 3 and 4 where ISO lists them, N.A.
 * for the funds and metals that have none. Sorted for bsearch. */
static const struct cli_currency {
    char code[4];
    int exponent;
} cli_currencies[] = {
    {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2}, {"ARS", 2}, {"AUD", 2},
    {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BGN", 2}, {"BHD", 3}, {"BIF", 0},
    {"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BOV", 2}, {"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2},
    {"BYN", 2}, {"BZD", 2}, {"CAD", 2}, {"CDF", 2}, {"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4},
    {"CLP", 0}, {"CNY", 2}, {"COP", 2}, {"COU", 2}, {"CRC", 2}, {"CUC", 2}, {"CUP", 2}, {"CVE", 2},
    {"CZK", 2}, {"DJF", 0}, {"DKK", 2}, {"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2},
    {"EUR", 2}, {"FJD", 2}, {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2},
    {"GNF", 0}, {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HRK", 2}, {"HTG", 2}, {"HUF", 2},
    {"IDR", 2}, {"ILS", 2}, {"INR", 2}, {"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3},
    {"JPY", 0}, {"KES", 2}, {"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0}, {"KWD", 3},
    {"KYD", 2}, {"KZT", 2}, {"LAK", 2}, {"LBP", 2}, {"LKR", 2}, {"LRD", 2}, {"LSL", 2}, {"LYD", 3},
    {"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2}, {"MMK", 2}, {"MNT", 2}, {"MOP", 2}, {"MRU", 2},
    {"MUR", 2}, {"MVR", 2}, {"MWK", 2}, {"MXN", 2}, {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2},
    {"NGN", 2}, {"NIO", 2}, {"NOK", 2}, {"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2},
    {"PGK", 2}, {"PHP", 2}, {"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2},
    {"RUB", 2}, {"RWF", 0}, {"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2},
    {"SHP", 2}, {"SLE", 2}, {"SLL", 2}, {"SOS", 2}, {"SRD", 2}, {"SSP", 2}, {"STN", 2}, {"SVC", 2},
    {"SYP", 2}, {"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2}, {"TND", 3}, {"TOP", 2}, {"TRY", 2},
    {"TTD", 2}, {"TWD", 2}, {"TZS", 2}, {"UAH", 2}, {"UGX", 0}, {"USD", 2}, {"USN", 2}, {"UYI", 0},
    {"UYU", 2}, {"UYW", 4}, {"UZS", 2}, {"VED", 2}, {"VES", 2}, {"VND", 0}, {"VUV", 0}, {"WST", 2},
    {"XAF", 0}, {"XAG", NA}, {"XAU", NA}, {"XBA", NA}, {"XBB", NA}, {"XBC", NA}, {"XBD", NA},
    {"XCD", 2}, {"XCG", 2}, {"XDR", NA}, {"XOF", 0}, {"XPD", NA}, {"XPF", 0}, {"XPT", NA},
    {"XSU", NA}, {"XTS", NA}, {"XUA", NA}, {"XXX", NA}, {"YER", 2}, {"ZAR", 2}, {"ZMW", 2},
    {"ZWG", 2}, {"ZWL", 2},
};

static int cli_currency_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct cli_currency *)elem)->code);
}

int cli_currency_exponent(const char *code)
{
    const struct cli_currency *c;

    if (code == NULL || strlen(code) != 3)
        return CLI_CURRENCY_UNKNOWN;
    c = bsearch(code, cli_currencies, sizeof cli_currencies / sizeof cli_currencies[0],
                sizeof cli_currencies[0], cli_currency_cmp);
    return c != NULL ? c->exponent : CLI_CURRENCY_UNKNOWN;
}

/* Three letters at p followed by end (or, when before the number, a space
 * or a digit): the code, upper-cased, into code. */
static int cli_code_at(const char *p, int before_number, char code[4])
{
    if (!isalpha((unsigned char)p[0]) || !isalpha((unsigned char)p[1]) ||
        !isalpha((unsigned char)p[2]))
        return 0;
    if (before_number ? !(p[3] == ' ' || isdigit((unsigned char)p[3]) || p[3] == '-')
                      : p[3] != '\0')
        return 0;
    for (int i = 0; i < 3; i++)
        code[i] = (char)toupper((unsigned char)p[i]);
    code[3] = '\0';
    return 1;
}

/* An example amount in the currency: "EUR 120,000.50", "JPY 120,000". */
static void cli_money_example(const char *code, int exponent, char *buf, size_t len)
{
    static const char decimals[] = "5000";

    if (exponent > 0)
        snprintf(buf, len, "'%s 120,000.%.*s' or 120000.%.*s", code, exponent, decimals,
                 exponent, decimals);
    else
        snprintf(buf, len, "'%s 120,000' or 120000", code);
}

static int cli_money_bad(const char *s, const char *why, const char *code, int exponent,
                         char *err, size_t err_len)
{
    char ex[96];

    if (exponent < 0) {
        code = "EUR";
        exponent = 2;
    }
    cli_money_example(code, exponent, ex, sizeof ex);
    snprintf(err, err_len, "\"%s\" is not an amount: %s; write it as %s", s, why, ex);
    return -1;
}

/* The integer part at *pp: plain digits, or groups of three after a first
 * group of one to three, separated by commas. Its digits go to digits. */
static const char *cli_money_integer(const char **pp, char *digits, size_t cap)
{
    const char *p = *pp;
    size_t n = 0, group = 0;
    int commas = 0;

    if (!isdigit((unsigned char)*p))
        return "no number";
    for (; isdigit((unsigned char)*p) || *p == ','; p++) {
        if (*p == ',') {
            if ((commas == 0 && (group == 0 || group > 3)) || (commas > 0 && group != 3))
                return "a comma goes only between groups of three digits (120,000; use '.' "
                       "for decimals)";
            commas++;
            group = 0;
            continue;
        }
        if (n + 1 >= cap)
            return "too many digits";
        digits[n++] = *p;
        group++;
    }
    digits[n] = '\0';
    if (commas > 0 && group != 3)
        return "a comma goes only between groups of three digits (120,000; use '.' for "
               "decimals)";
    if (n > 1 && digits[0] == '0')
        return "a leading zero";
    if (n > CLI_MONEY_MAX_DIGITS)
        return "too large";
    *pp = p;
    return NULL;
}

int cli_money_parse(const char *s, const char *default_currency, char currency[4],
                    int64_t *units, int32_t *nanos, char *err, size_t err_len)
{
    char pre[4] = "", post[4] = "", digits[CLI_MONEY_MAX_DIGITS + 8], why[128];
    const char *p = s, *problem;
    int frac_digits = 0, exponent;
    long frac = 0;

    while (*p == ' ')
        p++;
    if (cli_code_at(p, 1, pre)) {
        p += 3;
        while (*p == ' ')
            p++;
    }
    if (*p == '-' || *p == '+')
        return cli_money_bad(s, "no sign: amounts are positive", pre[0] ? pre : default_currency,
                             cli_currency_exponent(pre[0] ? pre : default_currency), err,
                             err_len);
    if ((problem = cli_money_integer(&p, digits, sizeof digits)) != NULL)
        return cli_money_bad(s, problem, pre[0] ? pre : default_currency,
                             cli_currency_exponent(pre[0] ? pre : default_currency), err,
                             err_len);
    if (*p == '.') {
        for (p++; isdigit((unsigned char)*p); p++) {
            if (++frac_digits <= 9)
                frac = frac * 10 + (*p - '0');
        }
        if (frac_digits == 0)
            return cli_money_bad(s, "no digits after '.'", pre[0] ? pre : default_currency,
                                 cli_currency_exponent(pre[0] ? pre : default_currency), err,
                                 err_len);
    }
    while (*p == ' ')
        p++;
    if (*p != '\0' && cli_code_at(p, 0, post))
        p += 3;
    if (*p != '\0') {
        snprintf(why, sizeof why, "unexpected \"%.20s\"", p);
        return cli_money_bad(s, why, pre[0] ? pre : default_currency,
                             cli_currency_exponent(pre[0] ? pre : default_currency), err,
                             err_len);
    }
    if (pre[0] != '\0' && post[0] != '\0')
        return cli_money_bad(s, "two currency codes", pre, cli_currency_exponent(pre), err,
                             err_len);
    snprintf(currency, 4, "%s", pre[0] ? pre : post[0] ? post : default_currency);
    exponent = cli_currency_exponent(currency);
    if (exponent == CLI_CURRENCY_UNKNOWN) {
        snprintf(why, sizeof why, "%s is not an ISO 4217 currency code", currency);
        return cli_money_bad(s, why, "EUR", 2, err, err_len);
    }
    if (exponent == CLI_CURRENCY_NO_MINOR) {
        snprintf(why, sizeof why, "%s is not a currency amounts are given in (ISO 4217 lists "
                 "no minor unit for it)", currency);
        return cli_money_bad(s, why, "EUR", 2, err, err_len);
    }
    if (frac_digits > exponent) {
        if (exponent == 0)
            snprintf(why, sizeof why, "%s has no decimal places (ISO 4217)", currency);
        else
            snprintf(why, sizeof why, "%s has %d decimal places (ISO 4217), not %d", currency,
                     exponent, frac_digits);
        return cli_money_bad(s, why, currency, exponent, err, err_len);
    }
    *units = strtoll(digits, NULL, 10); /* at most 18 digits: no overflow */
    for (int i = frac_digits; i < 9; i++)
        frac *= 10;
    *nanos = (int32_t)frac;
    return 0;
}
