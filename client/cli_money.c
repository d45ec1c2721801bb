/* cli_money.c — amounts of money as staff type them ("EUR 120,000.50"),
 * read strictly: a comma only between groups of three digits, "." only
 * before at most as many decimals as the currency's minor unit has (ISO
 * 4217, the server's table: tallinn/currency.h), so "1,0000" or "EUR 0.001"
 * are refused instead of being guessed at. Written here: no library we use
 * parses amounts this way. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tallinn/currency.h"

#define CLI_MONEY_MAX_DIGITS 18 /* of the integer part: always fits int64 */

/* The table is the server's (service/request/currency.c, ISO 4217 List One
 * with its source), linked in: the tool and the server never disagree on
 * a currency or its minor unit. */
int cli_currency_exponent(const char *code)
{
    int minor;

    if (code == NULL)
        return CLI_CURRENCY_UNKNOWN;
    minor = currency_minor_units(code, strlen(code));
    return minor >= 0 ? minor : CLI_CURRENCY_UNKNOWN;
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
        snprintf(why, sizeof why, "%s is not an ISO 4217 currency code amounts are given in "
                 "(current codes with a minor unit)", currency);
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

int cli_money_decimal(const char *currency, int64_t units, int32_t nanos, unsigned flags,
                      int unknown_minor, char *buf, size_t len)
{
    uint64_t u = units < 0 ? (uint64_t)0 - (uint64_t)units : (uint64_t)units;
    int minor = cli_currency_exponent(currency != NULL ? currency : "");
    char digits[24], grouped[32], frac[16];
    size_t nd, g = 0;
    int keep = 9;

    if (len > 0)
        buf[0] = '\0';
    if (nanos < -999999999 || nanos > 999999999 || (units > 0 && nanos < 0) ||
        (units < 0 && nanos > 0))
        return -1;
    if (minor == CLI_CURRENCY_UNKNOWN)
        minor = unknown_minor;
    snprintf(digits, sizeof digits, "%" PRIu64, u);
    nd = strlen(digits);
    for (size_t i = 0; i < nd; i++) {
        if ((flags & CLI_MONEY_GROUP) && i > 0 && (nd - i) % 3 == 0)
            grouped[g++] = ',';
        grouped[g++] = digits[i];
    }
    grouped[g] = '\0';
    snprintf(frac, sizeof frac, "%09d", nanos < 0 ? -nanos : nanos);
    while (keep > minor && frac[keep - 1] == '0')
        keep--;
    frac[keep] = '\0';
    snprintf(buf, len, "%s%s%s%s", units < 0 || nanos < 0 ? "-" : "", grouped, keep > 0 ? "." : "",
             frac);
    return 0;
}
