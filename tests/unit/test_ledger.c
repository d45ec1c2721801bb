/* test_ledger.c — the ledger (service/ledger): amounts as exact 128-bit
 * nanos, a Money only where it can hold the result (refused otherwise, never
 * wrapped), formatting of any sum, the store's money key, and a need's and a
 * pledge's totals over a real store past the int64 nanos range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ledger/ledger.h"

#define NANO 1000000000LL
#define LIMIT 1000000000LL /* VALIDATE_MONEY_MAX_UNITS */

static void *sys_alloc(void *data, size_t n)
{
    (void)data;
    return malloc(n);
}

static void sys_free(void *data, void *p)
{
    (void)data;
    free(p);
}

static ProtobufCAllocator alloc = {sys_alloc, sys_free, NULL};

static void test_money_range(void **state)
{
    Tallinn__V1__Money *m;
    (void)state;

    /* Ten amounts at the limit: 10^19 nanos, past int64, a fine Money. */
    assert_int_equal(ledger_money((store_sum)10 * LIMIT * NANO, "EUR", &alloc, &m), 0);
    assert_int_equal(m->units, 10 * LIMIT);
    assert_int_equal(m->nanos, 0);
    assert_string_equal(m->currency_code, "EUR");
    assert_true(ledger_nanos(m) == (store_sum)10 * LIMIT * NANO);
    free(m);
    /* Signs agree; the largest and smallest a Money holds. */
    assert_int_equal(ledger_money(-(store_sum)3 * NANO - 5, "EUR", &alloc, &m), 0);
    assert_int_equal(m->units, -3);
    assert_int_equal(m->nanos, -5);
    free(m);
    assert_int_equal(ledger_money(LEDGER_MONEY_MAX, "EUR", &alloc, &m), 0);
    assert_int_equal(m->units, INT64_MAX);
    assert_int_equal(m->nanos, 999999999);
    assert_true(ledger_nanos(m) == LEDGER_MONEY_MAX);
    free(m);
    assert_int_equal(ledger_money(-LEDGER_MONEY_MAX, "EUR", &alloc, &m), 0);
    assert_int_equal(m->units, -INT64_MAX);
    free(m);
    /* One nano more is refused, not wrapped. */
    assert_int_equal(ledger_money(LEDGER_MONEY_MAX + 1, "EUR", &alloc, &m), LEDGER_ERR_RANGE);
    assert_null(m);
    assert_int_equal(ledger_money(-LEDGER_MONEY_MAX - NANO, "EUR", &alloc, &m), LEDGER_ERR_RANGE);
    assert_null(m);
    assert_true(ledger_nanos(NULL) == 0);
}

static void test_format(void **state)
{
    char buf[LEDGER_FORMAT_MAX];
    (void)state;

    ledger_format((store_sum)10 * LIMIT * NANO, "EUR", buf, sizeof(buf));
    assert_string_equal(buf, "EUR 10000000000.00");
    ledger_format(-(store_sum)5 * NANO / 100, "EUR", buf, sizeof(buf));
    assert_string_equal(buf, "EUR -0.05");
    ledger_format(1, "EUR", buf, sizeof(buf));
    assert_string_equal(buf, "EUR 0.000000001");
    ledger_format(0, NULL, buf, sizeof(buf));
    assert_string_equal(buf, "0.00");
    ledger_format((store_sum)1200000 * NANO, "JPY", buf, sizeof(buf));
    assert_string_equal(buf, "JPY 1200000");
    ledger_format((store_sum)5 * NANO + NANO / 4, "KWD", buf, sizeof(buf));
    assert_string_equal(buf, "KWD 5.250");
    ledger_format(LEDGER_MONEY_MAX, "EUR", buf, sizeof(buf));
    assert_string_equal(buf, "EUR 9223372036854775807.999999999");
    ledger_format(-LEDGER_MONEY_MAX, "EUR", buf, sizeof(buf));
    assert_string_equal(buf, "EUR -9223372036854775807.999999999");
    ledger_format((store_sum)12345 * NANO + 500000000, "EUR", buf, 8); /* truncated, terminated */
    assert_int_equal(strlen(buf), 7);
}

static void test_money_key(void **state)
{
    (void)state;
    assert_int_equal(store_money_key(LIMIT, 0), LIMIT * NANO);
    assert_int_equal(store_money_key(-2, -5), -2 * NANO - 5);
    assert_int_equal(store_money_key(10 * LIMIT, 0), INT64_MAX); /* saturates, never wraps */
    assert_int_equal(store_money_key(-10 * LIMIT, 0), INT64_MIN);
    assert_int_equal(store_money_key(9223372036LL, 854775807), INT64_MAX);
}

/* ---- Over a real store ---- */

#define N_MATCHES 12

static Tallinn__V1__Money eur(int64_t units)
{
    Tallinn__V1__Money m = TALLINN__V1__MONEY__INIT;
    m.currency_code = "EUR";
    m.units = units;
    return m;
}

/* A donor, N_MATCHES pledges at the limit, a need costing the limit, and a
 * committed match of the limit from each pledge on it (and one PROPOSED
 * that counts nowhere). */
static int seed(store_tx *tx, void *arg)
{
    Tallinn__V1__Donor d = TALLINN__V1__DONOR__INIT;
    Tallinn__V1__Need n = TALLINN__V1__NEED__INIT;
    Tallinn__V1__Money limit = eur(LIMIT);
    int rc;

    (void)arg;
    d.name = "donors/d";
    d.display_name = "D";
    d.membership = TALLINN__V1__DONOR__MEMBERSHIP__MEMBERSHIP_MEMBER;
    n.name = "needs/n";
    n.title = "t";
    n.state = TALLINN__V1__NEED__STATE__STATE_OPEN;
    n.estimated_cost = &limit;
    if ((rc = store_insert(tx, STORE_DONOR, &d.base)) != 0 ||
        (rc = store_insert(tx, STORE_NEED, &n.base)) != 0)
        return 100 - rc;
    for (int i = 0; i <= N_MATCHES; i++) {
        Tallinn__V1__Pledge p = TALLINN__V1__PLEDGE__INIT;
        Tallinn__V1__Match x = TALLINN__V1__MATCH__INIT;
        char pn[32], mn[32];
        snprintf(pn, sizeof(pn), "donors/d/pledges/p%d", i);
        snprintf(mn, sizeof(mn), "matches/m%d", i);
        p.name = pn;
        p.amount = &limit;
        p.state = TALLINN__V1__PLEDGE__STATE__STATE_COMMITTED;
        x.name = mn;
        x.need = "needs/n";
        x.donor = "donors/d";
        x.pledge = pn;
        x.amount = &limit;
        x.state = i == N_MATCHES ? TALLINN__V1__MATCH__STATE__STATE_PROPOSED
                  : i % 2 ? TALLINN__V1__MATCH__STATE__STATE_ACCEPTED
                          : TALLINN__V1__MATCH__STATE__STATE_APPROVED;
        if ((rc = store_insert(tx, STORE_PLEDGE, &p.base)) != 0 ||
            (rc = store_insert(tx, STORE_MATCH, &x.base)) != 0)
            return 100 - rc;
    }
    return 0;
}

/* The report allocates from an arena (the call's, in the server): here a
 * bump allocator over one buffer, freed all at once. */
static _Alignas(16) char arena_buf[1 << 20];
static size_t arena_used;

static void *arena_alloc(void *data, size_t n)
{
    void *p;
    (void)data;
    n = (n + 15) & ~(size_t)15;
    if (arena_used + n > sizeof(arena_buf))
        return NULL;
    p = arena_buf + arena_used;
    arena_used += n;
    return p;
}

static void arena_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

static ProtobufCAllocator arena = {arena_alloc, arena_free, NULL};

static void test_store_sums(void **state)
{
    char dir[] = "/tmp/tallinn-ledger-XXXXXX", path[64], cmd[96];
    store_options o = {.path = path};
    char err[256];
    store *s;
    store_tx *tx;
    store_sum sum;
    store_scope all = {.kind = STORE_SCOPE_ALL};
    ProtobufCMessage *m;
    Tallinn__V1__Need *n;
    int job_rc;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/t.db", dir);
    assert_int_equal(store_open(&s, &o, err, sizeof(err)), STORE_OK);
    assert_int_equal(store_write(s, seed, NULL, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 0);
    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    /* Twelve amounts at the limit: 1.2 * 10^19 nanos, exact. */
    assert_int_equal(store_match_sum(tx, "needs/n", NULL, LEDGER_COMMITTED_STATES, &sum), 0);
    assert_true(sum == (store_sum)N_MATCHES * LIMIT * NANO);
    assert_int_equal(store_match_sum(tx, "needs/n", NULL, LEDGER_DELIVERED_STATES, &sum), 0);
    assert_true(sum == (store_sum)(N_MATCHES / 2) * LIMIT * NANO);
    /* The need's totals, and its coverage and state follow. */
    assert_int_equal(store_get(tx, STORE_NEED, "needs/n", &alloc, &m), STORE_OK);
    n = (Tallinn__V1__Need *)m;
    assert_int_equal(ledger_need_refresh(tx, n, "EUR", &alloc), 0);
    assert_int_equal(n->committed_amount->units, N_MATCHES * LIMIT);
    assert_int_equal(n->delivered_amount->units, N_MATCHES / 2 * LIMIT);
    assert_int_equal(n->coverage, TALLINN__V1__NEED__COVERAGE__COVERAGE_FULL);
    assert_int_equal(n->state, TALLINN__V1__NEED__STATE__STATE_FULFILLED);
    /* Static texts the ledger set are not the unpacked message's to free. */
    n->state_reason = NULL;
    n->committed_amount->currency_code = NULL;
    n->delivered_amount->currency_code = NULL;
    protobuf_c_message_free_unpacked(m, &alloc);
    /* The report sums the matches, not the need's saturated column. */
    {
        ledger_report_query q = {.view = all,
                                 .need_mask = 1u << TALLINN__V1__NEED__STATE__STATE_OPEN,
                                 .with_regions = 1};
        Tallinn__V1__CoverageReport r = TALLINN__V1__COVERAGE_REPORT__INIT;
        arena_used = 0;
        assert_int_equal(ledger_report(tx, &q, "EUR", &arena, &r), 0);
        assert_int_equal(r.total->needs_count, 1);
        assert_true(ledger_nanos(r.total->estimated) == (store_sum)LIMIT * NANO);
        assert_true(ledger_nanos(r.total->committed) == (store_sum)N_MATCHES * LIMIT * NANO);
        assert_true(ledger_nanos(r.total->delivered) == (store_sum)(N_MATCHES / 2) * LIMIT * NANO);
        assert_string_equal(r.total->committed_percent, "1200.00");
        assert_string_equal(r.total->delivered_percent, "600.00");
        assert_int_equal(r.n_by_donor, 1);
        assert_true(ledger_nanos(r.by_donor[0]->pledged) == (store_sum)(N_MATCHES + 1) * LIMIT * NANO);
        assert_int_equal(r.n_by_currency, 1);
        assert_string_equal(r.by_currency[0]->currency_code, "EUR");
        assert_null(r.statement);
        /* A date range after every need was created counts nothing. */
        q.start_day = 20990101;
        arena_used = 0;
        memset(&r, 0, sizeof(r));
        tallinn__v1__coverage_report__init(&r);
        assert_int_equal(ledger_report(tx, &q, "EUR", &arena, &r), 0);
        assert_int_equal(r.total->needs_count, 0);
        assert_string_equal(r.total->committed_percent, "");
    }
    store_read_end(tx);
    store_close(s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Known answers of the conversion, from Python's decimal module
 * (Decimal(a) / Decimal(r)).quantize(..., ROUND_HALF_EVEN), ties included. */
static void test_convert(void **state)
{
    static const struct {
        int64_t amount, rate; /* nanos */
        int minor;
        int64_t want; /* nanos */
    } kat[] = {
        {1000 * NANO, 1085000000, 2, 921660000000},  /* USD 1000.00 at 1.0850: 921.6589... */
        {1 * NANO, 8 * NANO, 2, 120000000},          /* 0.125: a tie, to the even 0.12 */
        {3 * NANO, 8 * NANO, 2, 380000000},          /* 0.375: a tie, to the even 0.38 */
        {3 * NANO, 200 * NANO, 2, 20000000},         /* JPY 3 at 200: 0.015 -> 0.02 */
        {5 * NANO, 200 * NANO, 2, 20000000},         /* JPY 5 at 200: 0.025 -> 0.02 */
        {1 * NANO, 331200000, 2, 3020000000},        /* KWD 1.000 at 0.3312: 3.0193... */
        {1000000 * NANO, 161530000000, 2, 6190800000000}, /* JPY 1000000 at 161.53 */
        {-1 * NANO, 8 * NANO, 2, -120000000},        /* symmetric for negatives */
        {1 * NANO, 6600000, 0, 152 * NANO},          /* into JPY (0 decimals): 151.51... */
        {16500000, 6600000, 0, 2 * NANO},            /* 2.5: a tie, to the even 2 */
        {LIMIT * NANO, 1000000001, 2, 999999999 * NANO}, /* the largest amount, just under 1 */
        {10000000, 3, 2, 3333333330000000},          /* 0.01 at 0.000000003 */
    };
    int64_t v;
    (void)state;

    for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
        assert_int_equal(ledger_convert(kat[i].amount, kat[i].rate, kat[i].minor, &v), 0);
        if (v != kat[i].want)
            fail_msg("case %zu: %lld, not %lld", i, (long long)v, (long long)kat[i].want);
    }
    /* A value past 10^9 units is refused, never wrapped: 10^9 at 0.5. */
    assert_int_equal(ledger_convert(LIMIT * NANO, NANO / 2, 2, &v), LEDGER_ERR_RANGE);
    assert_int_equal(ledger_convert(INT64_MAX, 1, 2, &v), LEDGER_ERR_RANGE);
    assert_int_equal(ledger_convert(NANO, 0, 2, &v), -1);
    assert_int_equal(ledger_convert(NANO, -5, 2, &v), -1);
}

static void test_percent(void **state)
{
    char b[LEDGER_PERCENT_MAX];
    (void)state;

    ledger_percent(1, 3, b, sizeof(b));
    assert_string_equal(b, "33.33");
    ledger_percent(2, 3, b, sizeof(b));
    assert_string_equal(b, "66.67");
    ledger_percent(1, 800, b, sizeof(b)); /* 0.125: a tie, to the even 0.12 */
    assert_string_equal(b, "0.12");
    ledger_percent(3, 800, b, sizeof(b)); /* 0.375 -> 0.38 */
    assert_string_equal(b, "0.38");
    ledger_percent(5, 4, b, sizeof(b));
    assert_string_equal(b, "125.00");
    ledger_percent(0, 4, b, sizeof(b));
    assert_string_equal(b, "0.00");
    ledger_percent(4, 0, b, sizeof(b));
    assert_string_equal(b, "");
    /* 128-bit: (2^100) / 1 */
    ledger_percent((store_sum)1 << 100, 1, b, sizeof(b));
    assert_string_equal(b, "126765060022822940149670320537600.00");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_money_range),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_money_key),
        cmocka_unit_test(test_store_sums),
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_percent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
