/* Unit tests for validate.c: known good and bad inputs for every check, with
 * offsets, and the country list cross-checked against tzdata. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tallinn/currency.h"
#include "tallinn/validate.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static void test_utf8(void **state)
{
    size_t off = 99;
    (void)state;

    assert_int_equal(validate_utf8(S(""), NULL), VALIDATE_OK);
    assert_int_equal(validate_utf8(S("Tallinn"), NULL), VALIDATE_OK);
    assert_int_equal(validate_utf8(S("Київ"), NULL), VALIDATE_OK);
    assert_int_equal(validate_utf8(S("\xF0\x9F\x87\xBA\xF0\x9F\x87\xA6"), NULL), VALIDATE_OK);
    assert_int_equal(validate_utf8(S("\xEF\xBF\xBF"), NULL), VALIDATE_OK);      /* U+FFFF */
    assert_int_equal(validate_utf8(S("\xF4\x8F\xBF\xBF"), NULL), VALIDATE_OK);  /* U+10FFFF */

    /* Each bad sequence after "ab", so the offset is 2. */
    static const struct { const char *s; size_t n; } bad[] = {
        {S("ab\x80")},             /* lone continuation */
        {S("ab\xC0\xAF")},         /* overlong '/' */
        {S("ab\xC1\xBF")},         /* overlong */
        {S("ab\xE0\x80\xAF")},     /* overlong 3-byte */
        {S("ab\xF0\x80\x80\xAF")}, /* overlong 4-byte */
        {S("ab\xED\xA0\x80")},     /* surrogate U+D800 */
        {S("ab\xED\xBF\xBF")},     /* surrogate U+DFFF */
        {S("ab\xF4\x90\x80\x80")}, /* U+110000 */
        {S("ab\xF5\x80\x80\x80")}, /* F5 lead */
        {S("ab\xFF")},
        {S("ab\xE2\x82")},         /* truncated */
        {S("ab\xE2\x28\xA1")},     /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        off = 99;
        assert_int_equal(validate_utf8(bad[i].s, bad[i].n, &off), VALIDATE_ERR_UTF8);
        assert_int_equal(off, 2);
    }
}

static void test_text(void **state)
{
    size_t off = 0;
    char buf[1024];
    (void)state;

    assert_int_equal(validate_text(S(""), 10, VALIDATE_TEXT_REQUIRED, NULL), VALIDATE_ERR_EMPTY);
    assert_int_equal(validate_text(S(""), 10, 0, NULL), VALIDATE_OK);
    assert_int_equal(validate_text(S("Estonia"), 10, VALIDATE_TEXT_REQUIRED, NULL), VALIDATE_OK);

    /* Single-line text: no line breaks, tabs or other controls. */
    assert_int_equal(validate_text(S("a\nb"), 10, 0, &off), VALIDATE_ERR_CONTROL);
    assert_int_equal(off, 1);
    assert_int_equal(validate_text(S("ab\tc"), 10, 0, &off), VALIDATE_ERR_CONTROL);
    assert_int_equal(off, 2);
    assert_int_equal(validate_text(S("a\0b"), 10, 0, &off), VALIDATE_ERR_CONTROL);
    assert_int_equal(off, 1);
    assert_int_equal(validate_text(S("a\x7F"), 10, 0, &off), VALIDATE_ERR_CONTROL);
    assert_int_equal(off, 1);
    assert_int_equal(validate_text(S("Ки\xC2\x85"), 10, 0, &off), VALIDATE_ERR_CONTROL); /* NEL */
    assert_int_equal(off, 4);
    assert_int_equal(validate_text(S("a\xE2\x80\xA8"), 10, 0, &off), VALIDATE_ERR_CONTROL); /* LS */
    assert_int_equal(validate_text(S("a\xE2\x80\xAE" "cod.exe"), 20, 0, &off), VALIDATE_ERR_CONTROL);
    assert_int_equal(off, 1);
    assert_int_equal(validate_text(S("\xE2\x81\xA6x"), 20, 0, &off), VALIDATE_ERR_CONTROL); /* LRI */
    assert_int_equal(off, 0);
    /* Right-to-left marks and ordinary punctuation are fine. */
    assert_int_equal(validate_text(S("a\xE2\x80\x8F" "b \xE2\x80\x94 c"), 20, 0, NULL), VALIDATE_OK);

    /* Multi-line text: TAB, LF, CR, LS and PS allowed; other controls not. */
    assert_int_equal(validate_text(S("line 1\r\n\tline 2\xE2\x80\xA8"), 100,
                                   VALIDATE_TEXT_MULTILINE, NULL), VALIDATE_OK);
    assert_int_equal(validate_text(S("x\n\x01"), 100, VALIDATE_TEXT_MULTILINE, &off),
                     VALIDATE_ERR_CONTROL);
    assert_int_equal(off, 2);
    assert_int_equal(validate_text(S("x\n\xE2\x80\xAD"), 100, VALIDATE_TEXT_MULTILINE, &off),
                     VALIDATE_ERR_CONTROL);
    assert_int_equal(off, 2);
    assert_int_equal(validate_text(S("x\xC3"), 100, VALIDATE_TEXT_MULTILINE, &off), VALIDATE_ERR_UTF8);
    assert_int_equal(off, 1);

    /* Limits count code points: 200 Cyrillic letters (400 bytes) fit in 200. */
    for (size_t i = 0; i < 201; i++)
        memcpy(buf + 2 * i, "Ж", 2);
    assert_int_equal(validate_text(buf, 400, VALIDATE_TITLE_MAX, 0, NULL), VALIDATE_OK);
    assert_int_equal(validate_text(buf, 402, VALIDATE_TITLE_MAX, 0, &off), VALIDATE_ERR_TOO_LONG);
    assert_int_equal(off, 400);
    assert_int_equal(VALIDATE_TITLE_MAX, 200);
    assert_int_equal(VALIDATE_DESCRIPTION_MAX, 10000);
}

static void test_resource_id(void **state)
{
    char id63[64], id64[65];
    (void)state;

    memset(id63, 'a', 63);
    memset(id64, 'a', 64);
    assert_int_equal(validate_resource_id(S("a")), VALIDATE_OK);
    assert_int_equal(validate_resource_id(S("estonia")), VALIDATE_OK);
    assert_int_equal(validate_resource_id(S("fy-2025")), VALIDATE_OK);
    assert_int_equal(validate_resource_id(S("a1-b2-c3")), VALIDATE_OK);
    assert_int_equal(validate_resource_id(id63, 63), VALIDATE_OK);
    assert_int_equal(validate_resource_id(id64, 64), VALIDATE_ERR_TOO_LONG);
    assert_int_equal(validate_resource_id(S("")), VALIDATE_ERR_EMPTY);
    static const char *const bad[] = {"1abc", "Abc", "abC", "abc-", "-abc", "a_b", "a.b",
                                      "a b", "a/b", "ä", "a\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(validate_resource_id(bad[i], strlen(bad[i])), VALIDATE_ERR_SYNTAX);
}

static void test_uuid(void **state)
{
    char canon[VALIDATE_UUID_LEN + 1];
    (void)state;

    assert_int_equal(validate_uuid(S("123e4567-e89b-12d3-a456-426614174000"), canon), VALIDATE_OK);
    assert_string_equal(canon, "123e4567-e89b-12d3-a456-426614174000");
    assert_int_equal(validate_uuid(S("9F1C7B0E-52A4-4C3B-9E7D-0A1B2C3D4E5F"), canon), VALIDATE_OK);
    assert_string_equal(canon, "9f1c7b0e-52a4-4c3b-9e7d-0a1b2c3d4e5f");
    assert_int_equal(validate_uuid(S("123e4567-e89b-12d3-a456-426614174000"), NULL), VALIDATE_OK);
    assert_int_equal(validate_uuid(S(""), NULL), VALIDATE_ERR_EMPTY);
    static const char *const bad[] = {
        "00000000-0000-0000-0000-000000000000", /* nil */
        "123e4567e89b12d3a456426614174000",     /* no hyphens */
        "123e4567-e89b-12d3-a456-42661417400",  /* short */
        "123e4567-e89b-12d3-a456-4266141740000",
        "123e4567-e89b-12d3a-456-426614174000", /* hyphen moved */
        "123e4567-e89b-12d3-a456-42661417400g",
        "{123e4567-e89b-12d3-a456-426614174000}",
        "123e4567-e89b-12d3-a456 426614174000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(validate_uuid(bad[i], strlen(bad[i]), canon), VALIDATE_ERR_SYNTAX);
}

static void test_country_code(void **state)
{
    size_t assigned = 0;
    char cc[3] = {0};
    (void)state;

    for (char a = 'A'; a <= 'Z'; a++) {
        for (char b = 'A'; b <= 'Z'; b++) {
            cc[0] = a;
            cc[1] = b;
            int rc = validate_country_code(cc, 2);
            assert_true(rc == VALIDATE_OK || rc == VALIDATE_ERR_UNKNOWN);
            assigned += rc == VALIDATE_OK;
        }
    }
    assert_int_equal(assigned, 249);
    static const char *const good[] = {"EE", "UA", "DE", "GB", "US", "PL", "LT", "LV", "FI",
                                       "AX", "SS", "BQ", "CW", "SX", "ZW", "AD"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(validate_country_code(good[i], 2), VALIDATE_OK);
    /* User-assigned (XK), exceptionally reserved (EU, UK), withdrawn (AN, YU). */
    static const char *const unknown[] = {"XK", "EU", "UK", "AN", "YU", "ZZ", "AA", "QM"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        assert_int_equal(validate_country_code(unknown[i], 2), VALIDATE_ERR_UNKNOWN);
    assert_int_equal(validate_country_code(S("ee")), VALIDATE_ERR_SYNTAX);
    assert_int_equal(validate_country_code(S("E")), VALIDATE_ERR_SYNTAX);
    assert_int_equal(validate_country_code(S("EST")), VALIDATE_ERR_SYNTAX);
    assert_int_equal(validate_country_code(S("E1")), VALIDATE_ERR_SYNTAX);
    assert_int_equal(validate_country_code(S("")), VALIDATE_ERR_EMPTY);
}

/* Independent source: tzdata's iso3166.tab lists every assigned code. */
static void test_country_code_matches_tzdata(void **state)
{
    FILE *f = fopen("/usr/share/zoneinfo/iso3166.tab", "r");
    char line[256];
    int listed[26][26] = {{0}};
    size_t n = 0;
    (void)state;

    if (f == NULL) {
        skip();
        return;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        assert_true(line[0] >= 'A' && line[0] <= 'Z' && line[1] >= 'A' && line[1] <= 'Z');
        listed[line[0] - 'A'][line[1] - 'A'] = 1;
        n++;
    }
    fclose(f);
    assert_int_equal(n, 249);
    for (int a = 0; a < 26; a++) {
        for (int b = 0; b < 26; b++) {
            char cc[2] = {(char)('A' + a), (char)('A' + b)};
            int ok = validate_country_code(cc, 2) == VALIDATE_OK;
            if (ok != listed[a][b])
                fail_msg("%c%c: validate says %d, tzdata says %d", cc[0], cc[1], ok, listed[a][b]);
        }
    }
}

static void test_currency_code(void **state)
{
    (void)state;
    assert_int_equal(validate_currency_code(S("EUR")), VALIDATE_OK);
    assert_int_equal(validate_currency_code(S("eur")), VALIDATE_ERR_SYNTAX);
    assert_int_equal(validate_currency_code(S("EU")), VALIDATE_ERR_SYNTAX);
    assert_int_equal(validate_currency_code(S("EURO")), VALIDATE_ERR_SYNTAX);
    assert_int_equal(validate_currency_code(S("")), VALIDATE_ERR_EMPTY);
}

static void test_email(void **state)
{
    char local65[80], label64[90], long255[300];
    (void)state;

    static const char *const good[] = {
        "a@b.cd", "first.last+tag@mfa.example.ee", "o'brien@example.org",
        "CYBER@MOD.GOV.UA", "x@xn--80ak6aa92e.com", "a-b_c@sub-domain.example.io",
        "1@2.example",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (validate_email(good[i], strlen(good[i])) != VALIDATE_OK)
            fail_msg("should accept %s", good[i]);
    }
    static const char *const bad[] = {
        "noat", "@x.y", "a@", "a@b", "a..b@c.d", ".a@b.c", "a.@b.c", "a@-b.c", "a@b-.c",
        "a@b..c", "a@b.c.", "a@.b.c", "a b@c.d", "a@b@c.d", "a@1.2", "\xC3\xA4@b.c", "a@b_c.d",
        "a@[127.0.0.1]", "\"a\"@b.c", "a@b.c\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (validate_email(bad[i], strlen(bad[i])) != VALIDATE_ERR_SYNTAX)
            fail_msg("should refuse %s", bad[i]);
    }
    assert_int_equal(validate_email(S("")), VALIDATE_ERR_EMPTY);

    memset(local65, 'a', 65);
    strcpy(local65 + 65, "@b.cd");
    assert_int_equal(validate_email(local65, strlen(local65)), VALIDATE_ERR_SYNTAX);
    assert_int_equal(validate_email(local65 + 1, strlen(local65 + 1)), VALIDATE_OK); /* 64 */

    strcpy(label64, "a@");
    memset(label64 + 2, 'b', 64);
    strcpy(label64 + 66, ".cd");
    assert_int_equal(validate_email(label64, strlen(label64)), VALIDATE_ERR_SYNTAX);

    /* 254 bytes is the maximum; 255 is too long. */
    strcpy(long255, "a@");
    for (size_t i = 2; i < 250; i += 4)
        memcpy(long255 + i, "bbb.", 4);
    long255[250] = '\0';
    strcat(long255, "bcde");
    assert_int_equal(strlen(long255), 254);
    assert_int_equal(validate_email(long255, 254), VALIDATE_OK);
    strcat(long255, "f");
    assert_int_equal(validate_email(long255, 255), VALIDATE_ERR_TOO_LONG);
}

static void test_cert_identity(void **state)
{
    char big[300];
    (void)state;
    memset(big, 'x', sizeof big);
    assert_int_equal(validate_cert_identity(S("spiffe://tallinn/ns/kyiv/sa/front")), VALIDATE_OK);
    assert_int_equal(validate_cert_identity(S("warsaw.backoffice.example")), VALIDATE_OK);
    assert_int_equal(validate_cert_identity(S("a b")), VALIDATE_ERR_SYNTAX);
    assert_int_equal(validate_cert_identity(S("caf\xC3\xA9")), VALIDATE_ERR_SYNTAX);
    assert_int_equal(validate_cert_identity(S("")), VALIDATE_ERR_EMPTY);
    assert_int_equal(validate_cert_identity(big, 256), VALIDATE_OK);
    assert_int_equal(validate_cert_identity(big, 257), VALIDATE_ERR_TOO_LONG);
}

static void test_names(void **state)
{
    char a[VALIDATE_ID_BUF], b[VALIDATE_ID_BUF];
    char ids[2][VALIDATE_ID_BUF];
    char longname[400];
    (void)state;

    assert_int_equal(validate_need_name(S("needs/kharkiv-edr"), a), VALIDATE_OK);
    assert_string_equal(a, "kharkiv-edr");
    assert_int_equal(validate_match_name(S("matches/m1"), a), VALIDATE_OK);
    assert_string_equal(a, "m1");
    assert_int_equal(validate_principal_name(S("principals/admin"), a), VALIDATE_OK);
    assert_string_equal(a, "admin");
    assert_int_equal(validate_donor_name(S("donors/estonia"), a), VALIDATE_OK);
    assert_string_equal(a, "estonia");
    assert_int_equal(validate_pledge_name(S("donors/estonia/pledges/fy2025"), a, b), VALIDATE_OK);
    assert_string_equal(a, "estonia");
    assert_string_equal(b, "fy2025");
    assert_int_equal(validate_pledge_name(S("donors/estonia/pledges/fy2025"), NULL, NULL),
                     VALIDATE_OK);

    static const char *const bad_needs[] = {
        "needs/", "needs", "need/abc", "needs/abc/", "needs/ABC", "needs/abc/def",
        "/needs/abc", "needs//abc", "needs/-", "matches/abc", "needs/abc ", "needs/1a",
    };
    for (size_t i = 0; i < sizeof bad_needs / sizeof bad_needs[0]; i++) {
        if (validate_need_name(bad_needs[i], strlen(bad_needs[i]), a) != VALIDATE_ERR_SYNTAX)
            fail_msg("should refuse %s", bad_needs[i]);
    }
    assert_int_equal(validate_need_name(S(""), a), VALIDATE_ERR_EMPTY);
    assert_int_equal(validate_pledge_name(S("donors/estonia/pledges"), a, b), VALIDATE_ERR_SYNTAX);
    assert_int_equal(validate_pledge_name(S("donors/estonia"), a, b), VALIDATE_ERR_SYNTAX);

    /* AIP-159 wildcard parent, only when asked for. */
    assert_int_equal(validate_name_parse("donors/{donor}", S("donors/-"), VALIDATE_NAME_WILDCARD,
                                         ids, 1), VALIDATE_OK);
    assert_string_equal(ids[0], "-");
    assert_int_equal(validate_name_parse("donors/{donor}", S("donors/-"), 0, ids, 1),
                     VALIDATE_ERR_SYNTAX);
    assert_int_equal(validate_name_parse("donors/{donor}", S("donors/--"), VALIDATE_NAME_WILDCARD,
                                         ids, 1), VALIDATE_ERR_SYNTAX);

    /* Over the name limit, and broken patterns (caller bugs). */
    memcpy(longname, "needs/", 6);
    memset(longname + 6, 'a', 300);
    assert_int_equal(validate_need_name(longname, 306, a), VALIDATE_ERR_TOO_LONG);
    assert_int_equal(validate_name_parse("needs/{", S("needs/a"), 0, ids, 1), VALIDATE_ERR_ARG);
    assert_int_equal(validate_name_parse("a/{x}/b/{y}", S("a/p/b/q"), 0, ids, 1), VALIDATE_ERR_ARG);
    assert_int_equal(validate_name_parse("a/{x}/b/{y}", S("a/p/b/q"), 0, ids, 2), VALIDATE_OK);
    assert_string_equal(ids[0], "p");
    assert_string_equal(ids[1], "q");
    assert_int_equal(validate_name_parse("a/{x}", S("a/p"), 0, NULL, 1), VALIDATE_OK);
}

static void test_date(void **state)
{
    (void)state;
    assert_int_equal(validate_date(2024, 2, 29), VALIDATE_OK);
    assert_int_equal(validate_date(2000, 2, 29), VALIDATE_OK);
    assert_int_equal(validate_date(2023, 2, 29), VALIDATE_ERR_RANGE);
    assert_int_equal(validate_date(1900, 2, 29), VALIDATE_ERR_RANGE);
    assert_int_equal(validate_date(2025, 4, 31), VALIDATE_ERR_RANGE);
    assert_int_equal(validate_date(2025, 12, 31), VALIDATE_OK);
    assert_int_equal(validate_date(2025, 0, 1), VALIDATE_ERR_RANGE);
    assert_int_equal(validate_date(2025, 13, 1), VALIDATE_ERR_RANGE);
    assert_int_equal(validate_date(2025, 1, 0), VALIDATE_ERR_RANGE);
    assert_int_equal(validate_date(0, 1, 1), VALIDATE_ERR_RANGE);
    assert_int_equal(validate_date(10000, 1, 1), VALIDATE_ERR_RANGE);
    assert_int_equal(validate_date(1, 1, 1), VALIDATE_OK);
    assert_int_equal(validate_date(9999, 12, 31), VALIDATE_OK);
}

static void test_money_validate(void **state)
{
    int64_t t = 0;
    const unsigned P = VALIDATE_MONEY_POSITIVE, NN = VALIDATE_MONEY_NONNEGATIVE;
    (void)state;

    assert_int_equal(validate_money("EUR", 1, 250000000, "EUR", P, &t), VALIDATE_OK);
    assert_int_equal(t, 1250000000);
    assert_int_equal(validate_money("EUR", -2, -500000000, "EUR", 0, &t), VALIDATE_OK);
    assert_int_equal(t, -2500000000);
    assert_int_equal(validate_money("EUR", 0, -50000000, "EUR", 0, &t), VALIDATE_OK);
    assert_int_equal(t, -50000000);
    assert_int_equal(validate_money("USD", 1, 0, "EUR", P, &t), VALIDATE_ERR_CURRENCY);
    assert_int_equal(validate_money("eur", 1, 0, "EUR", P, &t), VALIDATE_ERR_CURRENCY);
    assert_int_equal(validate_money("", 1, 0, "EUR", P, &t), VALIDATE_ERR_CURRENCY);
    assert_int_equal(validate_money(NULL, 1, 0, "EUR", P, &t), VALIDATE_ERR_CURRENCY);
    assert_int_equal(validate_money("EUR", 1, 1000000000, "EUR", 0, &t), VALIDATE_ERR_NANOS);
    assert_int_equal(validate_money("EUR", -1, -1000000000, "EUR", 0, &t), VALIDATE_ERR_NANOS);
    assert_int_equal(validate_money("EUR", 0, 990000000, "EUR", 0, &t), VALIDATE_OK);
    assert_int_equal(validate_money("EUR", 0, -990000000, "EUR", 0, &t), VALIDATE_OK);
    assert_int_equal(validate_money("EUR", 1, -1, "EUR", 0, &t), VALIDATE_ERR_SIGN);
    assert_int_equal(validate_money("EUR", -1, 1, "EUR", 0, &t), VALIDATE_ERR_SIGN);
    assert_int_equal(validate_money("EUR", 0, 0, "EUR", P, &t), VALIDATE_ERR_NOT_POSITIVE);
    assert_int_equal(validate_money("EUR", 0, -10000000, "EUR", P, &t), VALIDATE_ERR_NOT_POSITIVE);
    assert_int_equal(validate_money("EUR", 0, 0, "EUR", NN, &t), VALIDATE_OK);
    assert_int_equal(validate_money("EUR", 0, -10000000, "EUR", NN, &t), VALIDATE_ERR_NEGATIVE);
    /* The per-amount limit: 10^9 units exactly is fine, a nano more is not. */
    assert_int_equal(validate_money("EUR", VALIDATE_MONEY_MAX_UNITS, 0, "EUR", P, &t), VALIDATE_OK);
    assert_int_equal(t, 1000000000000000000LL);
    assert_int_equal(validate_money("EUR", VALIDATE_MONEY_MAX_UNITS, 1, "EUR", P, &t),
                     VALIDATE_ERR_RANGE);
    assert_int_equal(validate_money("EUR", VALIDATE_MONEY_MAX_UNITS, 10000000, "EUR", P, &t),
                     VALIDATE_ERR_RANGE);
    assert_int_equal(validate_money("EUR", -VALIDATE_MONEY_MAX_UNITS - 1, 0, "EUR", 0, &t),
                     VALIDATE_ERR_RANGE);
    assert_int_equal(validate_money("EUR", INT64_MAX, 0, "EUR", P, &t), VALIDATE_ERR_RANGE);
    assert_int_equal(validate_money("EUR", INT64_MIN, 0, "EUR", 0, &t), VALIDATE_ERR_RANGE);
    assert_int_equal(validate_money("EUR", INT64_MAX, -1, "EUR", P, &t), VALIDATE_ERR_SIGN);
    assert_int_equal(validate_money("EUR", INT64_MAX, 1000000000, "EUR", P, &t), VALIDATE_ERR_NANOS);
    /* t untouched on failure */
    t = 42;
    assert_int_equal(validate_money("EUR", 1, -1, "EUR", 0, &t), VALIDATE_ERR_SIGN);
    assert_int_equal(t, 42);
}

/* Other currencies (VALIDATE_MONEY_ANY_CURRENCY), and no more decimals
 * than a currency has: 2 for EUR, 0 for JPY, 3 for KWD, 4 for CLF. */
static void test_money_currencies(void **state)
{
    const unsigned A = VALIDATE_MONEY_POSITIVE | VALIDATE_MONEY_ANY_CURRENCY;
    int64_t t = 0;
    (void)state;

    assert_int_equal(validate_money("USD", 1000, 500000000, "EUR", A, &t), VALIDATE_OK);
    assert_int_equal(t, 1000500000000);
    assert_int_equal(validate_money("EUR", 0, 10000000, "EUR", A, &t), VALIDATE_OK);
    assert_int_equal(validate_money("EUR", 0, 1000000, "EUR", A, &t), VALIDATE_ERR_PRECISION);
    assert_int_equal(validate_money("EUR", 0, 5, "EUR", 0, &t), VALIDATE_ERR_PRECISION);
    assert_int_equal(validate_money("JPY", 150, 0, "EUR", A, &t), VALIDATE_OK);
    assert_int_equal(validate_money("JPY", 1, 500000000, "EUR", A, &t), VALIDATE_ERR_PRECISION);
    assert_int_equal(validate_money("KWD", 0, 1000000, "EUR", A, &t), VALIDATE_OK);
    assert_int_equal(validate_money("KWD", 12, 345000000, "EUR", A, &t), VALIDATE_OK);
    assert_int_equal(validate_money("KWD", 0, 500000, "EUR", A, &t), VALIDATE_ERR_PRECISION);
    assert_int_equal(validate_money("CLF", 0, 100000, "EUR", A, &t), VALIDATE_OK);
    assert_int_equal(validate_money("CLF", 0, 10000, "EUR", A, &t), VALIDATE_ERR_PRECISION);
    /* Unknown, withdrawn and unit-less codes; the limit in any currency. */
    assert_int_equal(validate_money("ABC", 1, 0, "EUR", A, &t), VALIDATE_ERR_UNKNOWN);
    assert_int_equal(validate_money("HRK", 1, 0, "EUR", A, &t), VALIDATE_ERR_UNKNOWN);
    assert_int_equal(validate_money("XAU", 1, 0, "EUR", A, &t), VALIDATE_ERR_UNKNOWN);
    assert_int_equal(validate_money("usd", 1, 0, "EUR", A, &t), VALIDATE_ERR_UNKNOWN);
    assert_int_equal(validate_money(NULL, 1, 0, "EUR", A, &t), VALIDATE_ERR_UNKNOWN);
    assert_int_equal(validate_money("JPY", VALIDATE_MONEY_MAX_UNITS, 0, "EUR", A, &t), VALIDATE_OK);
    assert_int_equal(validate_money("JPY", VALIDATE_MONEY_MAX_UNITS + 1, 0, "EUR", A, &t),
                     VALIDATE_ERR_RANGE);
    /* Without the flag, only the accounting currency. */
    assert_int_equal(validate_money("USD", 1, 0, "EUR", VALIDATE_MONEY_POSITIVE, &t),
                     VALIDATE_ERR_CURRENCY);
}

static void test_currency_table(void **state)
{
    char line[256];
    FILE *f;
    size_t seen = 0;
    (void)state;

    assert_int_equal(currency_minor_units("EUR", 3), 2);
    assert_int_equal(currency_minor_units("JPY", 3), 0);
    assert_int_equal(currency_minor_units("KWD", 3), 3);
    assert_int_equal(currency_minor_units("UYW", 3), 4);
    assert_int_equal(currency_minor_units("EURO", 4), -1);
    assert_int_equal(currency_minor_units("XXX", 3), -1);
    for (size_t i = 1; i < currency_count(); i++)
        assert_true(strcmp(currency_code_at(i - 1), currency_code_at(i)) < 0);
    assert_null(currency_code_at(currency_count()));
    /* Cross-check with Debian's iso-codes where installed: every code of
     * ours is there but the two that list predates (XCG, ZWG), and every
     * code there is ours but the withdrawn and unit-less ones. */
    if ((f = fopen("/usr/share/iso-codes/json/iso_4217.json", "r")) == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, "\"alpha_3\": \"");
        static const char *const left_out[] = {"ANG", "CUC", "HRK", "SLL", "XAG", "XAU",
                                               "XBA", "XBB", "XBC", "XBD", "XDR", "XPD",
                                               "XPT", "XSU", "XTS", "XUA", "XXX", "ZWL"};
        int out = 0;
        if (p == NULL)
            continue;
        p += strlen("\"alpha_3\": \"");
        seen++;
        for (size_t i = 0; i < sizeof(left_out) / sizeof(left_out[0]); i++)
            out |= strncmp(p, left_out[i], 3) == 0;
        if ((currency_minor_units(p, 3) >= 0) == out)
            fail_msg("%.3s: %s", p, out ? "should be left out" : "missing from the table");
    }
    fclose(f);
    assert_int_equal(seen + 2, currency_count() + 18);
}

static void test_rate(void **state)
{
    int64_t r = 0;
    (void)state;

    assert_int_equal(validate_rate("1.0850", 6, &r), VALIDATE_OK);
    assert_int_equal(r, 1085000000);
    assert_int_equal(validate_rate("161.53", 6, &r), VALIDATE_OK);
    assert_int_equal(r, 161530000000);
    assert_int_equal(validate_rate("0.000000001", 11, &r), VALIDATE_OK);
    assert_int_equal(r, 1);
    assert_int_equal(validate_rate("1000000000", 10, &r), VALIDATE_OK);
    assert_int_equal(r, 1000000000000000000);
    assert_int_equal(validate_rate("1000000000.000000001", 20, &r), VALIDATE_ERR_RANGE);
    assert_int_equal(validate_rate("9999999999", 10, &r), VALIDATE_ERR_RANGE);
    assert_int_equal(validate_rate("0", 1, &r), VALIDATE_ERR_NOT_POSITIVE);
    assert_int_equal(validate_rate("0.000", 5, &r), VALIDATE_ERR_NOT_POSITIVE);
    assert_int_equal(validate_rate("-1.5", 4, &r), VALIDATE_ERR_NOT_POSITIVE);
    assert_int_equal(validate_rate("", 0, &r), VALIDATE_ERR_EMPTY);
    static const char *const bad[] = {"1.", ".5", "01.5", "1,5", "1e3", " 1", "1 ", "+1",
                                      "1.0000000001", "NaN", "1.2.3", "12345678901", "-"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (validate_rate(bad[i], strlen(bad[i]), &r) != VALIDATE_ERR_SYNTAX)
            fail_msg("\"%s\" accepted or misjudged", bad[i]);
}

static void test_money_arithmetic(void **state)
{
    int64_t t = 0, u = 0;
    int32_t n = 0;
    (void)state;

    assert_int_equal(validate_money_to_nanos(9223372036, 854775807, &t), VALIDATE_OK);
    assert_true(t == INT64_MAX);
    assert_int_equal(validate_money_to_nanos(9223372036, 854775808, &t), VALIDATE_ERR_OVERFLOW);
    assert_int_equal(validate_money_to_nanos(9223372037, 0, &t), VALIDATE_ERR_OVERFLOW);
    assert_int_equal(validate_money_to_nanos(-9223372036, -854775808, &t), VALIDATE_OK);
    assert_true(t == INT64_MIN);
    assert_int_equal(validate_money_to_nanos(-9223372036, -854775809, &t), VALIDATE_ERR_OVERFLOW);
    assert_int_equal(validate_money_to_nanos(INT64_MIN, 0, &t), VALIDATE_ERR_OVERFLOW);
    assert_int_equal(validate_money_to_nanos(1, -1, &t), VALIDATE_ERR_SIGN);
    assert_int_equal(validate_money_to_nanos(0, 1000000000, &t), VALIDATE_ERR_NANOS);

    validate_money_from_nanos(1250000000, &u, &n);
    assert_int_equal(u, 1);
    assert_int_equal(n, 250000000);
    validate_money_from_nanos(-1, &u, &n);
    assert_int_equal(u, 0);
    assert_int_equal(n, -1);
    validate_money_from_nanos(-1500000000, &u, &n);
    assert_int_equal(u, -1);
    assert_int_equal(n, -500000000);
    validate_money_from_nanos(INT64_MIN, &u, &n);
    assert_true(u == -9223372036LL);
    assert_int_equal(n, -854775808);
    /* Round trip through both directions for a spread of values. */
    static const int64_t vals[] = {0, 1, -1, 999999999, -999999999, 1000000000, -1000000000,
                                   123456789012345, -987654321098765, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        validate_money_from_nanos(vals[i], &u, &n);
        assert_int_equal(validate_money_to_nanos(u, n, &t), VALIDATE_OK);
        assert_true(t == vals[i]);
    }

    assert_int_equal(validate_money_add(5, 7, &t), VALIDATE_OK);
    assert_int_equal(t, 12);
    t = 99;
    assert_int_equal(validate_money_add(INT64_MAX, 1, &t), VALIDATE_ERR_OVERFLOW);
    assert_int_equal(t, 99);
    assert_int_equal(validate_money_add(INT64_MIN, -1, &t), VALIDATE_ERR_OVERFLOW);
    assert_int_equal(validate_money_add(INT64_MAX, INT64_MIN, &t), VALIDATE_OK);
    assert_int_equal(t, -1);
    assert_int_equal(validate_money_sub(5, 7, &t), VALIDATE_OK);
    assert_int_equal(t, -2);
    assert_int_equal(validate_money_sub(INT64_MIN, 1, &t), VALIDATE_ERR_OVERFLOW);
    assert_int_equal(validate_money_sub(0, INT64_MIN, &t), VALIDATE_ERR_OVERFLOW);
    assert_int_equal(validate_money_sub(-1, INT64_MIN, &t), VALIDATE_OK);
    assert_true(t == INT64_MAX);
}

static void test_money_format(void **state)
{
    char buf[VALIDATE_MONEY_FORMAT_MAX];
    (void)state;

    static const struct { int64_t v; const char *cur; const char *want; } cases[] = {
        {1250000LL * 1000000000LL, "EUR", "EUR 1250000.00"},
        {1250000000, "EUR", "EUR 1.25"},
        {1234567890, "EUR", "EUR 1.23456789"},
        {-50000000, "EUR", "EUR -0.05"},
        {1, "EUR", "EUR 0.000000001"},
        {0, "EUR", "EUR 0.00"},
        {12500000000, NULL, "12.50"},
        {1200LL * 1000000000LL, "JPY", "JPY 1200"},
        {1500000000, "JPY", "JPY 1.5"},
        {5250000000, "KWD", "KWD 5.250"},
        {5000000000, "CLF", "CLF 5.0000"},
        {5000000000, "XAU", "XAU 5.00"},
        {INT64_MAX, "EUR", "EUR 9223372036.854775807"},
        {INT64_MIN, "EUR", "EUR -9223372036.854775808"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(validate_money_format(cases[i].v, cases[i].cur, buf, sizeof buf),
                         VALIDATE_OK);
        assert_string_equal(buf, cases[i].want);
    }
    assert_int_equal(validate_money_format(1250000000, "EUR", buf, 8), VALIDATE_ERR_NOSPACE);
    assert_string_equal(buf, "");
    assert_int_equal(validate_money_format(1250000000, "EUR", buf, 9), VALIDATE_OK);
    assert_string_equal(buf, "EUR 1.25");
}

static void test_strerror(void **state)
{
    (void)state;
    for (int c = 0; c >= -15; c--) {
        assert_non_null(validate_strerror(c));
        assert_string_not_equal(validate_strerror(c), "unknown error");
    }
    assert_string_equal(validate_strerror(-999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_resource_id),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_country_code),
        cmocka_unit_test(test_country_code_matches_tzdata),
        cmocka_unit_test(test_currency_code),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_cert_identity),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_date),
        cmocka_unit_test(test_money_validate),
        cmocka_unit_test(test_money_currencies),
        cmocka_unit_test(test_currency_table),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_money_arithmetic),
        cmocka_unit_test(test_money_format),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
