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

static void report_cell(int sector, int category, const store_totals *t, void *ctx)
{
    (void)sector;
    (void)category;
    *(store_totals *)ctx = *t;
}

static void test_store_sums(void **state)
{
    char dir[] = "/tmp/tallinn-ledger-XXXXXX", path[64], cmd[96];
    store_options o = {.path = path};
    char err[256];
    store *s;
    store_tx *tx;
    store_sum sum;
    store_totals t = {0};
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
    /* The report's cells sum the matches, not the need's saturated column. */
    assert_int_equal(store_need_totals(tx, &all, 1u << TALLINN__V1__NEED__STATE__STATE_OPEN,
                                       LEDGER_COMMITTED_STATES, LEDGER_DELIVERED_STATES,
                                       report_cell, &t),
                     0);
    assert_int_equal(t.count, 1);
    assert_true(t.estimated == (store_sum)LIMIT * NANO);
    assert_true(t.committed == (store_sum)N_MATCHES * LIMIT * NANO);
    assert_true(t.delivered == (store_sum)(N_MATCHES / 2) * LIMIT * NANO);
    store_read_end(tx);
    store_close(s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_money_range),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_money_key),
        cmocka_unit_test(test_store_sums),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
