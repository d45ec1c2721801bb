/* Unit tests for filter.c: parse trees, typed values, canonical forms, error
 * columns and messages, evaluation on known answers and on random filters,
 * order_by. That the store's SQL for a filter selects exactly what
 * filter_eval selects, and pages exactly in filter_order_compare's order, is
 * tests/unit/test_store_sql.c's (over the real engine). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tallinn/filter.h"

#define S(lit) (lit), (sizeof(lit) - 1)
#define NS 1000000000LL

/* ---- A schema shaped like ListNeeds ---- */

static const filter_enum_value SECTORS[] = {
    {"SECTOR_UNSPECIFIED", 0}, {"SECTOR_ENERGY", 1}, {"SECTOR_TELECOM", 2},
    {"SECTOR_FINANCE", 3},     {"SECTOR_HEALTH", 4},
};
static const filter_enum_value STATES[] = {
    {"STATE_UNSPECIFIED", 0}, {"STATE_DRAFT", 1}, {"STATE_SUBMITTED", 2},
    {"STATE_OPEN", 6},        {"STATE_ON_HOLD", 7},
};
static const filter_enum_value PRIORITIES[] = {
    {"PRIORITY_UNSPECIFIED", 0}, {"PRIORITY_CRITICAL", 1}, {"PRIORITY_HIGH", 2},
    {"PRIORITY_MEDIUM", 3},      {"PRIORITY_LOW", 4},
};

enum { F_TITLE, F_REGION, F_SECTOR, F_STATE, F_PRIORITY, F_COST, F_FY, F_CTIME, F_NEEDED,
       F_RESTRICTED, F_DESCRIPTION, F_SCORE, F_COUNT };

static const filter_field FIELDS[F_COUNT] = {
    [F_TITLE] = {"title", FILTER_STRING, 0, NULL, 0, NULL, FILTER_FIELD_SEARCH, 0},
    [F_REGION] = {"region", FILTER_STRING, 0, NULL, 0, NULL, 0, 0},
    [F_SECTOR] = {"sector", FILTER_ENUM, 0, SECTORS, 5, "SECTOR_", 0, 0},
    [F_STATE] = {"state", FILTER_ENUM, 0, STATES, 5, "STATE_", 0, 0},
    [F_PRIORITY] = {"priority", FILTER_ENUM, 0, PRIORITIES, 5, "PRIORITY_", 0, 0},
    [F_COST] = {"estimated_cost", FILTER_MONEY, 0, NULL, 0, NULL, 0, 0},
    [F_FY] = {"fiscal_year", FILTER_INT, 0, NULL, 0, NULL, 0, 0},
    [F_CTIME] = {"create_time", FILTER_TIMESTAMP, 0, NULL, 0, NULL, 0, 0},
    [F_NEEDED] = {"needed_by", FILTER_DATE, 0, NULL, 0, NULL, 0, 0},
    [F_RESTRICTED] = {"restricted", FILTER_BOOL, 0, NULL, 0, NULL, 0, 0},
    [F_DESCRIPTION] = {"description", FILTER_STRING, 0, NULL, 0, NULL,
                       FILTER_FIELD_NO_ORDER, 0},
    [F_SCORE] = {"score", FILTER_INT, 0, NULL, 0, NULL, FILTER_FIELD_NO_FILTER, 0},
};

static const filter_schema SCHEMA = {FIELDS, F_COUNT};

/* ---- Rows ---- */

typedef struct row {
    int64_t id;
    const char *title, *region;
    int64_t sector, state, priority, cost, fy, ctime, needed;
    int64_t restricted;
    const char *description;
    int64_t score;
} row;

static int row_get(void *ctx, const filter_field *f, filter_value *out)
{
    const row *r = ctx;
    size_t i = (size_t)(f - FIELDS);

    if (i >= F_COUNT)
        return -1;
    out->type = f->type;
    switch (i) {
    case F_TITLE: out->s = r->title; out->len = strlen(r->title); return 0;
    case F_REGION: out->s = r->region; out->len = strlen(r->region); return 0;
    case F_DESCRIPTION: out->s = r->description; out->len = strlen(r->description); return 0;
    case F_SECTOR: out->i = r->sector; return 0;
    case F_STATE: out->i = r->state; return 0;
    case F_PRIORITY: out->i = r->priority; return 0;
    case F_COST: out->i = r->cost; return 0;
    case F_FY: out->i = r->fy; return 0;
    case F_CTIME: out->i = r->ctime; return 0;
    case F_NEEDED: out->i = r->needed; return 0;
    case F_RESTRICTED: out->i = r->restricted; return 0;
    case F_SCORE: out->i = r->score; return 0;
    }
    return -1;
}

/* 2025-03-01T00:00:00Z */
#define T_0301 1740787200LL

static const row SMALL[] = {
    {1, "EDR licences", "Kharkiv Oblast", 1, 6, 1, 120000 * NS, 2025, 1736496000LL * NS,
     20250301, 0, "Endpoint licences", 5},
    {2, "SOC training", "Kyiv City", 3, 6, 2, 45000 * NS + 500000000, 2024, 1738368000LL * NS,
     20250630, 0, "", 3},
    {3, "Grid \"SCADA\" audit", "Dnipro Oblast", 1, 1, 2, 250000 * NS, 2025,
     (T_0301 + 4 * 86400 + 12 * 3600) * NS, 20251231, 1, "Assessment", 9},
    {4, "Київ backbone", "Kyiv City", 2, 7, 3, 80000 * NS, 2023, (T_0301 - 59 * 86400 - 1) * NS,
     20250115, 0, "Routers", 1},
    {5, "Hospital EDR", "Lviv Oblast", 4, 6, 4, 500000000, 2025, T_0301 * NS, 20250401, 1,
     "Licences", 7},
    {6, "Bank DDoS", "Kyiv City", 3, 2, 1, 1000000 * NS, 2026, T_0301 * NS + 1, 20250701, 0,
     "Scrubbing", 2},
};
#define NSMALL (sizeof SMALL / sizeof SMALL[0])

/* ---- Helpers ---- */

static filter *parse_ok(const char *text)
{
    filter *f = NULL;
    filter_error err;
    int rc = filter_parse(&SCHEMA, text, strlen(text), &f, &err);
    if (rc != FILTER_OK)
        fail_msg("parse \"%s\": rc %d: %s", text, rc, err.message);
    return f;
}

static void expect_error(const char *text, size_t len, size_t column, const char *message)
{
    filter *f = (filter *)0x1;
    filter_error err;
    int rc = filter_parse(&SCHEMA, text, len, &f, &err);
    if (rc != FILTER_ERR_INVALID)
        fail_msg("\"%s\": expected FILTER_ERR_INVALID, got %d", text, rc);
    assert_null(f);
    if (err.column != column || strcmp(err.message, message) != 0)
        fail_msg("\"%s\":\n  got    column %zu: %s\n  wanted column %zu: %s", text, err.column,
                 err.message, column, message);
}

static void expect_canonical(const char *text, const char *want)
{
    filter *f = parse_ok(text);
    assert_string_equal(filter_canonical(f), want);
    /* The canonical form parses to itself. */
    filter *g = parse_ok(filter_canonical(f));
    assert_string_equal(filter_canonical(g), want);
    filter_destroy(g);
    filter_destroy(f);
}

static size_t eval_ids(const filter *f, const row *rows, size_t nrows, int64_t *ids)
{
    size_t n = 0;
    for (size_t i = 0; i < nrows; i++) {
        bool m = false;
        assert_int_equal(filter_eval(f, row_get, (void *)&rows[i], &m), FILTER_OK);
        if (m)
            ids[n++] = rows[i].id;
    }
    return n;
}

/* ---- Tests: parsing and canonical forms ---- */

static void test_empty(void **state)
{
    bool m = false;
    (void)state;

    static const char *const blanks[] = {"", " ", " \t\r\n "};
    for (size_t i = 0; i < 3; i++) {
        filter *f = parse_ok(blanks[i]);
        assert_null(filter_root(f));
        assert_string_equal(filter_canonical(f), "");
        assert_int_equal(filter_eval(f, row_get, (void *)&SMALL[0], &m), FILTER_OK);
        assert_true(m);
        filter_destroy(f);
    }
    filter *f = NULL;
    assert_int_equal(filter_parse(&SCHEMA, NULL, 0, &f, NULL), FILTER_OK);
    assert_null(filter_root(f));
    filter_destroy(f);
}

static void test_ast(void **state)
{
    filter *f = parse_ok("state = OPEN AND priority = CRITICAL OR priority = HIGH");
    const filter_node *r = filter_root(f);
    (void)state;

    /* OR binds tighter than AND (AIP-160). */
    assert_int_equal(r->kind, FILTER_NODE_AND);
    assert_int_equal(r->nchildren, 2);
    assert_int_equal(r->children[0]->kind, FILTER_NODE_CMP);
    assert_ptr_equal(r->children[0]->field, &FIELDS[F_STATE]);
    assert_int_equal(r->children[0]->op, FILTER_EQ);
    assert_int_equal(r->children[0]->value.i, 6);
    assert_string_equal(r->children[0]->value.s, "STATE_OPEN");
    assert_int_equal(r->children[0]->column, 1);
    assert_int_equal(r->children[1]->kind, FILTER_NODE_OR);
    assert_int_equal(r->children[1]->nchildren, 2);
    assert_int_equal(r->children[1]->column, 18);
    assert_int_equal(r->children[1]->children[1]->value.i, 2);
    assert_int_equal(r->children[1]->children[1]->column, 41);
    filter_destroy(f);

    f = parse_ok("-sector = ENERGY");
    r = filter_root(f);
    assert_int_equal(r->kind, FILTER_NODE_NOT);
    assert_int_equal(r->nchildren, 1);
    assert_int_equal(r->children[0]->value.i, 1);
    filter_destroy(f);
}

static void test_canonical(void **state)
{
    (void)state;
    expect_canonical("sector = ENERGY", "sector = SECTOR_ENERGY");
    expect_canonical("sector=SECTOR_ENERGY", "sector = SECTOR_ENERGY");
    expect_canonical("sector = \"ENERGY\"", "sector = SECTOR_ENERGY");
    expect_canonical("  ( ( sector = ENERGY ) )  ", "sector = SECTOR_ENERGY");
    expect_canonical("state = OPEN AND priority = CRITICAL OR priority = HIGH",
                     "(state = STATE_OPEN AND (priority = PRIORITY_CRITICAL OR priority = PRIORITY_HIGH))");
    expect_canonical("(state = OPEN AND priority = CRITICAL) OR priority = HIGH",
                     "((state = STATE_OPEN AND priority = PRIORITY_CRITICAL) OR priority = PRIORITY_HIGH)");
    expect_canonical("-sector = ENERGY", "NOT sector = SECTOR_ENERGY");
    expect_canonical("NOT sector = ENERGY", "NOT sector = SECTOR_ENERGY");
    expect_canonical("NOT (NOT (priority = LOW))", "NOT (NOT priority = PRIORITY_LOW)");
    expect_canonical("NOT (sector = ENERGY OR sector = HEALTH)",
                     "NOT (sector = SECTOR_ENERGY OR sector = SECTOR_HEALTH)");
    expect_canonical("estimated_cost > 100000", "estimated_cost > 100000");
    expect_canonical("estimated_cost >= 1500.50", "estimated_cost >= 1500.5");
    expect_canonical("estimated_cost < -0.000000001", "estimated_cost < -0.000000001");
    expect_canonical("estimated_cost = 007.000", "estimated_cost = 7");
    expect_canonical("fiscal_year != -5", "fiscal_year != -5");
    expect_canonical("create_time > \"2025-01-01T02:00:00+02:00\"",
                     "create_time > \"2025-01-01T00:00:00Z\"");
    expect_canonical("create_time > \"2024-12-31t23:30:00.250-00:30\"",
                     "create_time > \"2025-01-01T00:00:00.25Z\"");
    expect_canonical("create_time < \"1969-12-31T23:59:59.999999999Z\"",
                     "create_time < \"1969-12-31T23:59:59.999999999Z\"");
    expect_canonical("needed_by <= \"2025-06-30\"", "needed_by <= \"2025-06-30\"");
    expect_canonical("restricted = true", "restricted = true");
    expect_canonical("restricted != false", "restricted != false");
    expect_canonical("title = \"a \\\"b\\\" \\\\ c\\/d\\n\"", "title = \"a \\\"b\\\" \\\\ c/d\\n\"");
    expect_canonical("region = \"Харків\"", "region = \"Харків\"");
    expect_canonical("description != \"\"", "description != \"\"");
    /* a search keeps its folded text: one canonical form (and one page
     * token) for every spelling of the same search */
    expect_canonical("title:\"ODESA\"", "title : \"odesa\"");
    expect_canonical("title : \"Одеса\"", "title : \"одеса\"");
    expect_canonical("title : \"ОДЕСА\"", "title : \"одеса\"");
    expect_canonical("title : \"Straße\"", "title : \"strasse\"");
    expect_canonical("NOT title : \"50%_off\\\\\"", "NOT title : \"50%_off\\\\\"");
}

/* The literal of comparison i of an AND at the root. */
static const filter_value *and_value(const filter *f, size_t i)
{
    const filter_node *r = filter_root(f);
    assert_int_equal(r->kind, FILTER_NODE_AND);
    assert_true(i < r->nchildren);
    assert_int_equal(r->children[i]->kind, FILTER_NODE_CMP);
    return &r->children[i]->value;
}

static void test_values(void **state)
{
    const filter_node *r;
    (void)state;

    filter *f = parse_ok("estimated_cost >= 45000.5 AND create_time > \"2025-03-01T00:00:00Z\" AND "
                         "needed_by < \"2025-04-01\" AND title = \"x' OR 1=1 --\" AND "
                         "fiscal_year = -2025 AND restricted = true AND sector != HEALTH");
    assert_int_equal(filter_root(f)->nchildren, 7);
    assert_int_equal(and_value(f, 0)->type, FILTER_MONEY);
    assert_true(and_value(f, 0)->i == 45000500000000LL);
    assert_int_equal(and_value(f, 1)->type, FILTER_TIMESTAMP);
    assert_true(and_value(f, 1)->i == T_0301 * NS);
    assert_int_equal(and_value(f, 2)->type, FILTER_DATE);
    assert_int_equal(and_value(f, 2)->i, 20250401);
    assert_int_equal(and_value(f, 3)->type, FILTER_STRING);
    assert_int_equal(and_value(f, 3)->len, 12);
    assert_memory_equal(and_value(f, 3)->s, "x' OR 1=1 --", 13); /* with the NUL */
    assert_int_equal(and_value(f, 4)->type, FILTER_INT);
    assert_int_equal(and_value(f, 4)->i, -2025);
    assert_int_equal(and_value(f, 5)->type, FILTER_BOOL);
    assert_int_equal(and_value(f, 5)->i, 1);
    assert_int_equal(and_value(f, 6)->type, FILTER_ENUM);
    assert_int_equal(and_value(f, 6)->i, 4);
    assert_int_equal(filter_root(f)->children[6]->op, FILTER_NE);
    filter_destroy(f);

    f = parse_ok("NOT (sector = ENERGY OR -priority = LOW)");
    r = filter_root(f);
    assert_int_equal(r->kind, FILTER_NODE_NOT);
    assert_int_equal(r->children[0]->kind, FILTER_NODE_OR);
    assert_int_equal(r->children[0]->children[1]->kind, FILTER_NODE_NOT);
    assert_int_equal(r->children[0]->children[1]->children[0]->value.i, 4);
    filter_destroy(f);

    /* Extremes that still fit int64 nanoseconds. */
    f = parse_ok("estimated_cost < 9223372036.854775807 AND estimated_cost > -9223372036.854775807");
    assert_true(and_value(f, 0)->i == INT64_MAX);
    assert_true(and_value(f, 1)->i == -INT64_MAX);
    filter_destroy(f);
    f = parse_ok("create_time > \"2262-04-11T23:47:16.854775807Z\"");
    assert_true(filter_root(f)->value.i == INT64_MAX);
    filter_destroy(f);
}

/* ---- Tests: errors ---- */

static void test_errors(void **state)
{
    (void)state;
    expect_error(S("secotr = ENERGY"), 1,
                 "filter: column 1: unknown field \"secotr\" (did you mean \"sector\"?)");
    expect_error(S("state = OPEN AND secotr = ENERGY"), 18,
                 "filter: column 18: unknown field \"secotr\" (did you mean \"sector\"?)");
    /* Columns count characters, not bytes: "Харків" is 6 letters, 12 bytes. */
    expect_error(S("region = \"Харків\" AND secotr = ENERGY"), 23,
                 "filter: column 23: unknown field \"secotr\" (did you mean \"sector\"?)");
    expect_error(S("colour = \"red\""), 1, "filter: column 1: unknown field \"colour\"");
    expect_error(S("sector = "), 10,
                 "filter: column 10: expected a value name for enum field \"sector\"");
    expect_error(S("sector"), 7,
                 "filter: column 7: expected a comparison operator (=, !=, <, >, <=, >=, :) after "
                 "\"sector\", found end of filter");
    expect_error(S("sector < ENERGY"), 8,
                 "filter: column 8: operator \"<\" cannot be used with enum field \"sector\"; "
                 "use = or !=");
    expect_error(S("restricted >= true"), 12,
                 "filter: column 12: operator \">=\" cannot be used with boolean field "
                 "\"restricted\"; use = or !=");
    expect_error(S("sector = ENERGI"), 10,
                 "filter: column 10: unknown value \"ENERGI\" for field \"sector\"; expected one "
                 "of: UNSPECIFIED, ENERGY, TELECOM, FINANCE, HEALTH");
    expect_error(S("sector = STATE_OPEN"), 10,
                 "filter: column 10: unknown value \"STATE_OPEN\" for field \"sector\"; expected "
                 "one of: UNSPECIFIED, ENERGY, TELECOM, FINANCE, HEALTH");
    expect_error(S("(sector = ENERGY"), 17,
                 "filter: column 17: expected AND, OR or \")\", found end of filter");
    expect_error(S("sector = ENERGY)"), 16,
                 "filter: column 16: expected AND, OR or end of filter, found \")\"");
    expect_error(S("sector = ENERGY state = OPEN"), 17,
                 "filter: column 17: expected AND, OR or end of filter, found \"state\"");
    expect_error(S("sector = ENERGY and state = OPEN"), 17,
                 "filter: column 17: expected AND, OR or end of filter, found \"and\"");
    expect_error(S("()"), 2, "filter: column 2: empty parentheses");
    expect_error(S("title = 'x'"), 9, "filter: column 9: strings are written in double quotes");
    expect_error(S("title = \"abc"), 9,
                 "filter: column 9: string not terminated: missing closing \"");
    expect_error(S("title = \"a\\qb\""), 11,
                 "filter: column 11: invalid escape in string; use \\\" \\\\ \\n \\t or \\r");
    expect_error(S("title = \"a\x01\""), 11,
                 "filter: column 11: control character in string; use \\n, \\t or \\r");
    expect_error(S("title = x"), 9,
                 "filter: column 9: expected a string in double quotes for field \"title\"");
    expect_error(S("title = \"\xFF\""), 10, "filter: column 10: invalid UTF-8");
    expect_error(S("fiscal_year = 1.5"), 15,
                 "filter: column 15: expected an integer for field \"fiscal_year\"");
    expect_error(S("fiscal_year = 99999999999999999999"), 15,
                 "filter: column 15: number out of range for field \"fiscal_year\"");
    expect_error(S("fiscal_year = 12abc"), 15, "filter: column 15: malformed number");
    expect_error(S("fiscal_year = - 5"), 15,
                 "filter: column 15: expected a number for integer field \"fiscal_year\"");
    expect_error(S("fiscal_year = \"2025\""), 15,
                 "filter: column 15: expected a number for integer field \"fiscal_year\"");
    expect_error(S("estimated_cost > 1.0000000001"), 18,
                 "filter: column 18: at most 9 decimal places for field \"estimated_cost\"");
    expect_error(S("estimated_cost > 9223372037"), 18,
                 "filter: column 18: number out of range for field \"estimated_cost\"");
    expect_error(S("restricted = yes"), 14,
                 "filter: column 14: expected true or false for field \"restricted\"");
    expect_error(S("create_time > 2025"), 15,
                 "filter: column 15: expected a timestamp in double quotes for field "
                 "\"create_time\", e.g. \"2025-01-31T12:00:00Z\"");
    expect_error(S("create_time > \"2025-02-30T00:00:00Z\""), 15,
                 "filter: column 15: invalid timestamp for field \"create_time\": expected "
                 "RFC 3339, e.g. \"2025-01-31T12:00:00Z\"");
    expect_error(S("create_time > \"2025-01-01\""), 15,
                 "filter: column 15: invalid timestamp for field \"create_time\": expected "
                 "RFC 3339, e.g. \"2025-01-31T12:00:00Z\"");
    expect_error(S("create_time > \"2025-01-01T24:00:00Z\""), 15,
                 "filter: column 15: invalid timestamp for field \"create_time\": expected "
                 "RFC 3339, e.g. \"2025-01-31T12:00:00Z\"");
    expect_error(S("create_time > \"2025-01-01T00:00:00.1234567890Z\""), 15,
                 "filter: column 15: invalid timestamp for field \"create_time\": expected "
                 "RFC 3339, e.g. \"2025-01-31T12:00:00Z\"");
    expect_error(S("create_time > \"2300-01-01T00:00:00Z\""), 15,
                 "filter: column 15: timestamp out of range for field \"create_time\"");
    expect_error(S("needed_by < \"2025-02-29\""), 13,
                 "filter: column 13: expected a date in double quotes for field \"needed_by\", "
                 "e.g. \"2025-06-30\"");
    /* ":" searches only the fields made for it, with a string to find */
    expect_error(S("region : \"x\""), 8,
                 "filter: column 8: field \"region\" cannot be searched with \":\"; use =, or "
                 "\":\" on title");
    expect_error(S("sector : ENERGY"), 8,
                 "filter: column 8: operator \":\" (contains) cannot be used with enum field "
                 "\"sector\"; use = or !=");
    expect_error(S("estimated_cost : 5"), 16,
                 "filter: column 16: operator \":\" (contains) cannot be used with money field "
                 "\"estimated_cost\"; use =, <, >, <= or >=");
    expect_error(S("title : odesa"), 9,
                 "filter: column 9: expected the text to search for in double quotes after "
                 "\"title :\"");
    expect_error(S("title : \"\""), 9,
                 "filter: column 9: nothing to search for: the text after \":\" is empty (or "
                 "only invisible characters)");
    expect_error(S("title : \"\u00ad\""), 9,
                 "filter: column 9: nothing to search for: the text after \":\" is empty (or "
                 "only invisible characters)");
    expect_error(S("AND"), 1, "filter: column 1: expected a field name, found \"AND\"");
    expect_error(S("sector = ENERGY AND"), 20,
                 "filter: column 20: expected a field name, found end of filter");
    expect_error(S("sector = ENERGY OR OR"), 20,
                 "filter: column 20: expected a field name, found \"OR\"");
    expect_error(S("NOT NOT sector = ENERGY"), 5,
                 "filter: column 5: expected a field name, found \"NOT\"");
    expect_error(S("score = 1"), 1, "filter: column 1: field \"score\" cannot be used in a filter");
    expect_error(S("title = \"a\" # x"), 13, "filter: column 13: unexpected character '#'");
    expect_error(S("title = \"a\" \x01"), 13,
                 "filter: column 13: unexpected character (byte 0x01)");
    expect_error(S("title = \"a\" \0"), 13,
                 "filter: column 13: unexpected character (byte 0x00)");
    expect_error(S("42 = fiscal_year"), 1,
                 "filter: column 1: expected a field name, found number 42");
}

static void test_limits(void **state)
{
    char buf[FILTER_MAX_LEN + 64];
    size_t n = 0;
    filter *f = NULL;
    filter_error err;
    (void)state;

    /* Length. */
    memset(buf, ' ', sizeof buf);
    memcpy(buf, "sector = ENERGY", 15);
    assert_int_equal(filter_parse(&SCHEMA, buf, FILTER_MAX_LEN, &f, &err), FILTER_OK);
    filter_destroy(f);
    expect_error(buf, FILTER_MAX_LEN + 1, 0, "filter: too long: 2049 bytes, at most 2048");

    /* Depth: 16 levels of parentheses are fine, 17 are not. */
    n = 0;
    for (int i = 0; i < 16; i++)
        buf[n++] = '(';
    n += (size_t)sprintf(buf + n, "sector = ENERGY");
    for (int i = 0; i < 16; i++)
        buf[n++] = ')';
    buf[n] = '\0';
    f = parse_ok(buf);
    assert_string_equal(filter_canonical(f), "sector = SECTOR_ENERGY");
    filter_destroy(f);
    n = 0;
    for (int i = 0; i < 17; i++)
        buf[n++] = '(';
    n += (size_t)sprintf(buf + n, "sector = ENERGY");
    for (int i = 0; i < 17; i++)
        buf[n++] = ')';
    buf[n] = '\0';
    expect_error(buf, n, 17,
                 "filter: column 17: nested too deeply (at most 16 levels of parentheses and NOT)");
    /* NOT counts as a level too: 8 x "NOT (" is 16 levels; one more NOT is 17. */
    n = 0;
    for (int i = 0; i < 8; i++)
        n += (size_t)sprintf(buf + n, "NOT (");
    n += (size_t)sprintf(buf + n, "sector = ENERGY");
    for (int i = 0; i < 8; i++)
        buf[n++] = ')';
    buf[n] = '\0';
    f = parse_ok(buf);
    filter_destroy(f);
    memmove(buf + 44, buf + 40, n - 40 + 1);
    memcpy(buf + 40, "NOT ", 4);
    expect_error(buf, n + 4, 41,
                 "filter: column 41: nested too deeply (at most 16 levels of parentheses and NOT)");

    /* Comparisons: 64 fine, 65 not. */
    n = 0;
    for (int i = 0; i < 65; i++)
        n += (size_t)sprintf(buf + n, "%sfiscal_year = %d", i ? " OR " : "", i);
    f = NULL;
    assert_int_equal(filter_parse(&SCHEMA, buf, n, &f, &err), FILTER_ERR_INVALID);
    assert_string_equal(err.message, "filter: column 1271: too many comparisons (at most 64)");
    n -= strlen(" OR fiscal_year = 64");
    buf[n] = '\0';
    f = parse_ok(buf);
    assert_int_equal(filter_root(f)->nchildren, 64);
    filter_destroy(f);
}

static void test_search_limits(void **state)
{
    char buf[FILTER_SEARCH_MAX * 2 + 32];
    size_t n;
    filter *f;
    (void)state;

    /* FILTER_SEARCH_MAX characters, counted as characters: two-byte "ї" */
    n = (size_t)sprintf(buf, "title : \"");
    for (int i = 0; i < FILTER_SEARCH_MAX; i++)
        n += (size_t)sprintf(buf + n, "ї");
    buf[n++] = '"';
    buf[n] = '\0';
    f = parse_ok(buf);
    filter_destroy(f);
    n--;
    n += (size_t)sprintf(buf + n, "x\"");
    expect_error(buf, n, 9,
                 "filter: column 9: the text to search for is longer than 200 characters (the "
                 "longest searchable field)");

    /* only a string field may be searchable */
    filter_field bad[] = {{"n", FILTER_INT, 0, NULL, 0, NULL, FILTER_FIELD_SEARCH, 0}};
    filter_schema sb = {bad, 1};
    assert_int_equal(filter_schema_check(&sb), FILTER_ERR_SCHEMA);
}

static void test_bad_schema(void **state)
{
    filter *f = NULL;
    filter_order o;
    (void)state;

    filter_field bad_name[] = {{"title; DROP TABLE x", FILTER_STRING, 0, NULL, 0, NULL, 0, 0}};
    filter_schema s1 = {bad_name, 1};
    assert_int_equal(filter_schema_check(&s1), FILTER_ERR_SCHEMA);
    assert_int_equal(filter_parse(&s1, S("title = \"a\""), &f, NULL), FILTER_ERR_SCHEMA);
    assert_int_equal(filter_order_parse(&s1, S("title"), &o, NULL), FILTER_ERR_SCHEMA);

    filter_field dup[] = {{"a", FILTER_INT, 0, NULL, 0, NULL, 0, 0},
                          {"a", FILTER_INT, 1, NULL, 0, NULL, 0, 0}};
    filter_schema s2 = {dup, 2};
    assert_int_equal(filter_schema_check(&s2), FILTER_ERR_SCHEMA);

    filter_field noenum[] = {{"e", FILTER_ENUM, 0, NULL, 0, NULL, 0, 0}};
    filter_schema s3 = {noenum, 1};
    assert_int_equal(filter_schema_check(&s3), FILTER_ERR_SCHEMA);

    filter_field badtype[] = {{"t", (filter_type)99, 0, NULL, 0, NULL, 0, 0}};
    filter_schema s4 = {badtype, 1};
    assert_int_equal(filter_schema_check(&s4), FILTER_ERR_SCHEMA);
    filter_schema s5 = {NULL, 1};
    assert_int_equal(filter_schema_check(&s5), FILTER_ERR_SCHEMA);
    assert_int_equal(filter_schema_check(&SCHEMA), FILTER_OK);
}

/* ---- Tests: the evaluator on known answers ---- */

static void test_known_answers(void **state)
{
    static const struct {
        const char *filter;
        const char *ids; /* expected ids, as "1,3" */
    } cases[] = {
        {"", "1,2,3,4,5,6"},
        {"sector = ENERGY", "1,3"},
        {"sector != ENERGY", "2,4,5,6"},
        {"state = OPEN AND priority = CRITICAL OR priority = HIGH", "1,2"},
        {"(state = OPEN AND priority = CRITICAL) OR priority = HIGH", "1,2,3"},
        {"estimated_cost > 100000", "1,3,6"},
        {"estimated_cost >= 45000.5 AND estimated_cost < 80000", "2"},
        {"estimated_cost > 45000.5 AND estimated_cost <= 80000", "4"},
        {"estimated_cost <= 0.5", "5"},
        {"estimated_cost < 0.5", ""},
        {"create_time >= \"2025-03-01T00:00:00Z\"", "3,5,6"},
        {"create_time > \"2025-03-01T02:00:00+02:00\"", "3,6"},
        {"create_time < \"2025-01-01T00:00:00Z\"", "4"},
        {"needed_by < \"2025-04-01\"", "1,4"},
        {"needed_by >= \"2025-04-01\" AND needed_by <= \"2025-07-01\"", "2,5,6"},
        {"restricted = true", "3,5"},
        {"restricted = false AND region = \"Kyiv City\"", "2,4,6"},
        {"title = \"Grid \\\"SCADA\\\" audit\"", "3"},
        {"title > \"Hospital EDR\"", "2,4"},
        {"title >= \"Hospital EDR\"", "2,4,5"},
        {"title < \"Bank DDoS\"", ""},
        {"title <= \"Bank DDoS\"", "6"},
        {"title = \"Київ backbone\"", "4"},
        {"NOT region = \"Kyiv City\"", "1,3,5"},
        {"-fiscal_year = 2025", "2,4,6"},
        {"fiscal_year > -1 AND fiscal_year <= 2024", "2,4"},
        {"description = \"\"", "2"},
        {"NOT (sector = ENERGY OR sector = FINANCE) AND NOT state = ON_HOLD", "5"},
        {"state = UNSPECIFIED", ""},
        /* ":": a caseless substring of the title, also in Cyrillic */
        {"title : \"edr\"", "1,5"},
        {"title : \"EDR\"", "1,5"},
        {"title : \"КИЇВ\"", "4"},
        {"title : \"київ b\"", "4"},
        {"title : \"scada\\\" a\"", "3"},
        {"title : \"licences\"", "1"},
        {"NOT title : \"edr\"", "2,3,4,6"},
        {"title : \"edr\" AND sector = HEALTH", "5"},
        /* no wildcards: % _ and \\ are plain characters */
        {"title : \"%\"", ""},
        {"title : \"_\"", ""},
        {"title : \"E_R\"", ""},
        {"title : \"\\\\\"", ""},
    };
    (void)state;

    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        filter *f = parse_ok(cases[k].filter);
        int64_t b[NSMALL];
        size_t nb = eval_ids(f, SMALL, NSMALL, b);
        char got_eval[64] = "";
        for (size_t i = 0; i < nb; i++)
            snprintf(got_eval + strlen(got_eval), sizeof got_eval - strlen(got_eval), "%s%lld",
                     i ? "," : "", (long long)b[i]);
        if (strcmp(got_eval, cases[k].ids) != 0)
            fail_msg("%s: want {%s}, eval {%s}", cases[k].filter, cases[k].ids, got_eval);
        filter_destroy(f);
    }
}

/* ---- order_by ---- */

static void expect_order_error(const char *text, size_t column, const char *message)
{
    filter_order o;
    filter_error err;
    int rc = filter_order_parse(&SCHEMA, text, strlen(text), &o, &err);
    if (rc != FILTER_ERR_INVALID)
        fail_msg("\"%s\": expected FILTER_ERR_INVALID, got %d", text, rc);
    assert_int_equal(o.count, 0);
    if (err.column != column || strcmp(err.message, message) != 0)
        fail_msg("\"%s\":\n  got    column %zu: %s\n  wanted column %zu: %s", text, err.column,
                 err.message, column, message);
}

static void test_order_by(void **state)
{
    filter_order o;
    filter_error err;
    char buf[512];
    (void)state;

    assert_int_equal(filter_order_parse(&SCHEMA, S("priority, create_time desc"), &o, &err),
                     FILTER_OK);
    assert_int_equal(o.count, 2);
    assert_ptr_equal(o.keys[0].field, &FIELDS[F_PRIORITY]);
    assert_false(o.keys[0].desc);
    assert_ptr_equal(o.keys[1].field, &FIELDS[F_CTIME]);
    assert_true(o.keys[1].desc);
    assert_int_equal(filter_order_canonical(&o, buf, sizeof buf), FILTER_OK);
    assert_string_equal(buf, "priority asc, create_time desc");
    assert_int_equal(filter_order_canonical(&o, buf, 10), FILTER_ERR_NOSPACE);

    /* Same order, other spellings: same canonical form. */
    assert_int_equal(filter_order_parse(&SCHEMA, S("  priority ASC ,create_time   DESC "), &o, &err),
                     FILTER_OK);
    assert_int_equal(filter_order_canonical(&o, buf, sizeof buf), FILTER_OK);
    assert_string_equal(buf, "priority asc, create_time desc");

    /* Empty: id order only. */
    assert_int_equal(filter_order_parse(&SCHEMA, S("   "), &o, &err), FILTER_OK);
    assert_int_equal(o.count, 0);
    assert_int_equal(filter_order_canonical(&o, buf, sizeof buf), FILTER_OK);
    assert_string_equal(buf, "");

    /* score may be ordered by though not filtered on. */
    assert_int_equal(filter_order_parse(&SCHEMA, S("score desc"), &o, &err), FILTER_OK);

    expect_order_error("Priority", 1,
                       "order_by: column 1: unknown field \"Priority\" (did you mean \"priority\"?)");
    expect_order_error("priority,,title", 10,
                       "order_by: column 10: expected a field name before \",\"");
    expect_order_error("priority,", 10, "order_by: column 10: expected a field name after \",\"");
    expect_order_error(",priority", 1, "order_by: column 1: expected a field name before \",\"");
    expect_order_error("priority sideways", 10,
                       "order_by: column 10: expected asc, desc, \",\" or end after \"priority\"");
    expect_order_error("priority desc desc", 15,
                       "order_by: column 15: expected \",\" or end of order_by after \"priority\"");
    expect_order_error("priority; DROP TABLE rows", 9,
                       "order_by: column 9: expected \",\" or end of order_by after \"priority\"");
    expect_order_error("title, priority, title desc", 18,
                       "order_by: column 18: field \"title\" appears more than once");
    expect_order_error("description", 1,
                       "order_by: column 1: field \"description\" cannot be used in order_by");
    expect_order_error("\"title\"", 1, "order_by: column 1: expected a field name");
    expect_order_error("Київ, title", 1, "order_by: column 1: expected a field name");
    expect_order_error("title, Київ", 8, "order_by: column 8: expected a field name");
    expect_order_error("state, priority, sector, fiscal_year, restricted, title, region, score, "
                       "needed_by", 73, "order_by: column 73: too many fields (at most 8)");
    char big[FILTER_ORDER_MAX_LEN + 2];
    memset(big, ' ', sizeof big);
    memcpy(big, "title", 5);
    big[FILTER_ORDER_MAX_LEN + 1] = '\0';
    expect_order_error(big, 0, "order_by: too long: 513 bytes, at most 512");
    big[FILTER_ORDER_MAX_LEN] = '\0';
    assert_int_equal(filter_order_parse(&SCHEMA, big, strlen(big), &o, &err), FILTER_OK);
}

static void test_value_compare(void **state)
{
    filter_value a = {FILTER_STRING, 0, "ab", 2}, b = {FILTER_STRING, 0, "abc", 3};
    filter_value c = {FILTER_STRING, 0, "\xD0\x9A", 2}, d = {FILTER_STRING, 0, "z", 1};
    filter_value e = {FILTER_STRING, 0, "", 0};
    filter_value x = {FILTER_INT, -5, NULL, 0}, y = {FILTER_INT, 3, NULL, 0};
    (void)state;

    assert_true(filter_value_compare(&a, &b) < 0);
    assert_true(filter_value_compare(&b, &a) > 0);
    assert_true(filter_value_compare(&a, &a) == 0);
    assert_true(filter_value_compare(&d, &c) < 0); /* bytes: 'z' < 0xD0 */
    assert_true(filter_value_compare(&e, &a) < 0);
    assert_true(filter_value_compare(&e, &e) == 0);
    assert_true(filter_value_compare(&x, &y) < 0);
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* Random filters, 20,000: generated from the grammar, half of them then
 * damaged (a byte deleted, replaced or a token inserted). Each either parses
 * or fails with a positioned message; each that parses has a canonical form
 * that parses to itself and selects the same rows. */
typedef struct gen {
    char text[1024];
    size_t n;
    uint32_t seed;
} gen;

static void gen_put(gen *g, const char *s)
{
    size_t l = strlen(s);
    if (g->n + l < sizeof g->text - 1) {
        memcpy(g->text + g->n, s, l);
        g->n += l;
        g->text[g->n] = '\0';
    }
}

static void gen_comparison(gen *g)
{
    static const char *const ops[] = {" = ", " != ", " < ", " > ", " <= ", " >= ", "=", "<="};
    static const char *const strings[] = {"\"EDR licences\"", "\"Kyiv City\"", "\"a\\\"b\"",
                                          "\"Київ backbone\"", "\"\"", "\"M\"", "\"Lviv Oblast\""};
    static const char *const enums[][3] = {{"ENERGY", "SECTOR_FINANCE", "\"HEALTH\""},
                                           {"OPEN", "STATE_DRAFT", "ON_HOLD"},
                                           {"HIGH", "PRIORITY_LOW", "CRITICAL"}};
    static const char *const money[] = {"100000", "45000.5", "0.5", "-1", "250000", "80000.000"};
    static const char *const times[] = {"\"2025-03-01T00:00:00Z\"", "\"2025-01-01T02:00:00+02:00\"",
                                        "\"2025-03-05T12:00:00.5Z\"", "\"2024-12-31T23:59:59Z\""};
    static const char *const dates[] = {"\"2025-04-01\"", "\"2025-07-01\"", "\"2025-01-15\""};
    static const char *const ints[] = {"2025", "2024", "-5", "2026", "0"};
    size_t fi = lcg(&g->seed) % (F_COUNT - 1); /* not score */
    const filter_field *f = &FIELDS[fi];
    bool eqonly = f->type == FILTER_ENUM || f->type == FILTER_BOOL;

    gen_put(g, f->name);
    gen_put(g, ops[eqonly ? lcg(&g->seed) % 2 : lcg(&g->seed) % 8]);
    switch (f->type) {
    case FILTER_STRING: gen_put(g, strings[lcg(&g->seed) % 7]); break;
    case FILTER_ENUM: gen_put(g, enums[fi - F_SECTOR][lcg(&g->seed) % 3]); break;
    case FILTER_MONEY: gen_put(g, money[lcg(&g->seed) % 6]); break;
    case FILTER_TIMESTAMP: gen_put(g, times[lcg(&g->seed) % 4]); break;
    case FILTER_DATE: gen_put(g, dates[lcg(&g->seed) % 3]); break;
    case FILTER_INT: gen_put(g, ints[lcg(&g->seed) % 5]); break;
    case FILTER_BOOL: gen_put(g, lcg(&g->seed) % 2 ? "true" : "false"); break;
    }
}

static void gen_expr(gen *g, int depth)
{
    uint32_t r = lcg(&g->seed) % 10;
    if (depth > 4 || r < 4) {
        gen_comparison(g);
    } else if (r < 7) {
        size_t k = 2 + lcg(&g->seed) % 2;
        const char *op = lcg(&g->seed) % 2 ? " AND " : " OR ";
        for (size_t i = 0; i < k; i++) {
            if (i > 0)
                gen_put(g, op);
            gen_expr(g, depth + 1);
        }
    } else if (r < 8) {
        gen_put(g, lcg(&g->seed) % 2 ? "NOT " : "-");
        gen_comparison(g);
    } else {
        gen_put(g, lcg(&g->seed) % 2 ? "NOT (" : "(");
        gen_expr(g, depth + 1);
        gen_put(g, ")");
    }
}

static void gen_damage(gen *g)
{
    static const char *const junk[] = {"(", ")", "AND ", "OR", "NOT", "\"", "\\", "'", "=", ":",
                                       "é", "#", "-", "1.", "secotr", " "};
    size_t at = g->n ? lcg(&g->seed) % g->n : 0;
    switch (lcg(&g->seed) % 3) {
    case 0:
        if (g->n > 0) {
            memmove(g->text + at, g->text + at + 1, g->n - at);
            g->n--;
        }
        break;
    case 1:
        if (g->n > 0)
            g->text[at] = (char)(0x20 + lcg(&g->seed) % 0x5F);
        break;
    default: {
        const char *j = junk[lcg(&g->seed) % 16];
        size_t l = strlen(j);
        if (g->n + l < sizeof g->text - 1) {
            memmove(g->text + at + l, g->text + at, g->n - at + 1);
            memcpy(g->text + at, j, l);
            g->n += l;
        }
    }
    }
}

static void test_random_filters(void **state)
{
    size_t parsed = 0, refused = 0, selective = 0;
    gen g = {.seed = 160};
    (void)state;

    for (int iter = 0; iter < 20000; iter++) {
        filter *f = NULL;
        filter_error err;
        int rc;

        g.n = 0;
        g.text[0] = '\0';
        gen_expr(&g, 0);
        if (iter % 2)
            gen_damage(&g);
        rc = filter_parse(&SCHEMA, g.text, g.n, &f, &err);
        if (rc == FILTER_ERR_INVALID) {
            assert_null(f);
            assert_true(strncmp(err.message, "filter: column ", 15) == 0);
            assert_true(err.column >= 1 && err.column <= g.n + 1);
            refused++;
            continue;
        }
        if (rc != FILTER_OK)
            fail_msg("\"%s\": rc %d", g.text, rc);
        parsed++;
        {
            filter *h = parse_ok(filter_canonical(f));
            int64_t a[NSMALL], b[NSMALL];
            size_t na, nb;
            assert_string_equal(filter_canonical(h), filter_canonical(f));
            na = eval_ids(h, SMALL, NSMALL, a);
            nb = eval_ids(f, SMALL, NSMALL, b);
            filter_destroy(h);
            if (na != nb || memcmp(a, b, na * sizeof a[0]) != 0)
                fail_msg("\"%s\": its canonical form selects other rows", g.text);
            selective += na > 0 && na < NSMALL;
        }
        filter_destroy(f);
    }
    /* Both outcomes are exercised, and many filters select a proper subset. */
    print_message("random filters: %zu parsed (%zu selective), %zu refused\n", parsed, selective,
                  refused);
    assert_true(parsed > 8000);
    assert_true(refused > 3000);
    assert_true(selective > 3000);
}

static int failing_get(void *ctx, const filter_field *f, filter_value *out)
{
    (void)ctx;
    (void)f;
    (void)out;
    return -1;
}

static void test_eval_callback_failure(void **state)
{
    filter *f = parse_ok("sector = ENERGY");
    bool m = true;
    (void)state;
    assert_int_equal(filter_eval(f, failing_get, NULL, &m), FILTER_ERR_CALLBACK);
    assert_int_equal(filter_eval(f, NULL, NULL, &m), FILTER_ERR_ARG);
    filter_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_ast),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_bad_schema),
        cmocka_unit_test(test_search_limits),
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_order_by),
        cmocka_unit_test(test_value_compare),
        cmocka_unit_test(test_eval_callback_failure),
        cmocka_unit_test(test_random_filters),
    };
    return cmocka_run_group_tests_name("filter", tests, NULL, NULL);
}
