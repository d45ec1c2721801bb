/* test_store_sums.c — a need's and a pledge's match sums per state mask
 * (store_match_sum, what the ledger's guards read), kept by the engine as
 * matches are inserted, changed and deleted, against sums recomputed from a
 * model of every match, exactly (amounts with nanos, totals past the int64
 * nanos range); and the migration that added the kept sums fills them from
 * the matches already there. On SQLite (unit.store_sums) and on a fresh
 * PostgreSQL database (unit.store_sums.pg). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tallinn/store.h"
#include "tallinn/v1/common.pb-c.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"
#include "test_db.h"

#define NANO 1000000000LL
#define LIMIT 1000000000LL /* VALIDATE_MONEY_MAX_UNITS: a match's largest amount */
#define N_NEEDS 3
#define N_PLEDGES 3
#define N_MATCHES 40
#define N_OPS 400
#define STATES 8 /* Match.State: 1..7 are used */

typedef struct model_match {
    int live, need, pledge, state;
    int64_t units;
    int32_t nanos;
} model_match;

typedef struct fixture {
    char dir[64], path[96];
    store *s;
    model_match m[N_MATCHES];
    uint64_t rng;
} fixture;

static uint64_t next(fixture *f)
{
    f->rng ^= f->rng << 13; /* xorshift64: a fixed, reproducible sequence */
    f->rng ^= f->rng >> 7;
    f->rng ^= f->rng << 17;
    return f->rng;
}

static void open_store(fixture *f)
{
    store_options o = {0};
    char err[256];

    o.path = f->path;
    o.database_url = test_pg_url();
    o.shared = o.database_url != NULL;
    if (store_open(&f->s, &o, err, sizeof err) != STORE_OK)
        fail_msg("store_open: %s", err);
}

static Tallinn__V1__Money eur(int64_t units, int32_t nanos)
{
    Tallinn__V1__Money m = TALLINN__V1__MONEY__INIT;
    m.currency_code = "EUR";
    m.units = units;
    m.nanos = nanos;
    return m;
}

static void need_name(int i, char *buf, size_t len)
{
    snprintf(buf, len, "needs/n%d", i);
}

static void pledge_name(int i, char *buf, size_t len)
{
    snprintf(buf, len, "donors/d/pledges/p%d", i);
}

static int seed(store_tx *tx, void *arg)
{
    Tallinn__V1__Donor d = TALLINN__V1__DONOR__INIT;
    Tallinn__V1__Money big = eur(100 * LIMIT, 0);
    int rc;

    (void)arg;
    d.name = "donors/d";
    d.display_name = "D";
    d.membership = TALLINN__V1__DONOR__MEMBERSHIP__MEMBERSHIP_MEMBER;
    if ((rc = store_insert(tx, STORE_DONOR, &d.base)) != 0)
        return 100 - rc;
    for (int i = 0; i < N_NEEDS; i++) {
        Tallinn__V1__Need n = TALLINN__V1__NEED__INIT;
        char name[32];
        need_name(i, name, sizeof name);
        n.name = name;
        n.title = "t";
        n.state = TALLINN__V1__NEED__STATE__STATE_OPEN;
        n.estimated_cost = &big;
        if ((rc = store_insert(tx, STORE_NEED, &n.base)) != 0)
            return 200 - rc;
    }
    for (int i = 0; i < N_PLEDGES; i++) {
        Tallinn__V1__Pledge p = TALLINN__V1__PLEDGE__INIT;
        char name[48];
        pledge_name(i, name, sizeof name);
        p.name = name;
        p.amount = &big;
        p.state = TALLINN__V1__PLEDGE__STATE__STATE_COMMITTED;
        if ((rc = store_insert(tx, STORE_PLEDGE, &p.base)) != 0)
            return 300 - rc;
    }
    return 0;
}

typedef struct op_arg {
    int kind; /* 0 insert, 1 update, 2 delete */
    int i;
    model_match to;
} op_arg;

static int apply(store_tx *tx, void *arg)
{
    const op_arg *o = arg;
    Tallinn__V1__Match x = TALLINN__V1__MATCH__INIT;
    Tallinn__V1__Money amount = eur(o->to.units, o->to.nanos);
    char name[32], need[32], pledge[48];

    snprintf(name, sizeof name, "matches/m%d", o->i);
    if (o->kind == 2)
        return store_delete(tx, STORE_MATCH, name) == STORE_OK ? 0 : 1;
    need_name(o->to.need, need, sizeof need);
    pledge_name(o->to.pledge, pledge, sizeof pledge);
    x.name = name;
    x.need = need;
    x.donor = "donors/d";
    x.pledge = pledge;
    x.amount = &amount;
    x.state = (Tallinn__V1__Match__State)o->to.state;
    return (o->kind == 0 ? store_insert(tx, STORE_MATCH, &x.base)
                         : store_update(tx, STORE_MATCH, &x.base)) == STORE_OK ? 0 : 2;
}

/* One random change: a new match, a changed one (state, amount, need or
 * pledge), or a deleted one; amounts up to the limit with nanos. */
static void random_op(fixture *f)
{
    op_arg o;
    int job_rc = -1;

    memset(&o, 0, sizeof o);
    o.i = (int)(next(f) % N_MATCHES);
    o.to = f->m[o.i];
    if (!f->m[o.i].live) {
        o.kind = 0;
    } else {
        o.kind = next(f) % 8 == 0 ? 2 : 1;
    }
    if (o.kind != 2) {
        uint64_t r = next(f);
        if (o.kind == 0 || r % 3 == 0) {
            o.to.need = (int)(next(f) % N_NEEDS);
            o.to.pledge = (int)(next(f) % N_PLEDGES);
        }
        o.to.state = 1 + (int)(next(f) % 7);
        if (o.kind == 0 || r % 5 == 0) {
            o.to.units = next(f) % 4 == 0 ? LIMIT : (int64_t)(next(f) % LIMIT);
            o.to.nanos = o.to.units == LIMIT ? 0 : (int32_t)(next(f) % NANO);
        }
    }
    assert_int_equal(store_write(f->s, apply, &o, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 0);
    f->m[o.i] = o.to;
    f->m[o.i].live = o.kind != 2;
}

/* Every owner, every single state and a few masks: the store's sum is the
 * model's, exactly. */
static void check(fixture *f)
{
    static const uint32_t masks[] = {
        (1u << 2) | (1u << 5) | (1u << 6) | (1u << 7), /* committed: APPROVED and on */
        (1u << 6) | (1u << 7),                         /* delivered */
        0xFEu,                                          /* every state */
        0u,                                             /* none */
    };
    store_tx *tx;

    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    for (int owner = 0; owner < N_NEEDS + N_PLEDGES; owner++) {
        int is_need = owner < N_NEEDS, k = is_need ? owner : owner - N_NEEDS;
        char name[48];
        if (is_need)
            need_name(k, name, sizeof name);
        else
            pledge_name(k, name, sizeof name);
        for (size_t mi = 0; mi < sizeof masks / sizeof masks[0] + STATES; mi++) {
            uint32_t mask = mi < STATES ? 1u << mi : masks[mi - STATES];
            store_sum want = 0, got = -1;
            for (int i = 0; i < N_MATCHES; i++) {
                const model_match *m = &f->m[i];
                if (m->live && (is_need ? m->need : m->pledge) == k &&
                    (mask & (1u << m->state)) != 0)
                    want += (store_sum)m->units * NANO + m->nanos;
            }
            assert_int_equal(store_match_sum(tx, is_need ? name : NULL, is_need ? NULL : name,
                                             mask, &got),
                             STORE_OK);
            if (got != want)
                fail_msg("%s, mask %#x: %lld.%09lld in the store, %lld.%09lld recomputed", name,
                         mask, (long long)(got / NANO), (long long)(got % NANO),
                         (long long)(want / NANO), (long long)(want % NANO));
        }
    }
    store_read_end(tx);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    int job_rc = -1;

    strcpy(f->dir, "/tmp/tallinn-store-sums-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    f->rng = 0x9E3779B97F4A7C15ull;
    open_store(f);
    if (test_pg_url() != NULL) /* one database for the whole run: start from no rows */
        test_pg_sql("DELETE FROM matches; DELETE FROM pledges; DELETE FROM needs;"
                    " DELETE FROM donors; DELETE FROM match_totals;",
                    NULL, 0);
    assert_int_equal(store_write(f->s, seed, NULL, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];

    store_close(f->s);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void test_sums_follow_every_write(void **state)
{
    fixture *f = *state;

    check(f);
    for (int op = 0; op < N_OPS; op++) {
        random_op(f);
        if (op % 20 == 19)
            check(f);
    }
    check(f);
}

/* Thirteen matches at the limit on one need: 1.3 * 10^19 nanos, past int64. */
static void test_past_int64(void **state)
{
    fixture *f = *state;

    for (int i = 0; i < 13; i++) {
        op_arg o = {.kind = 0, .i = i, .to = {1, 0, i % N_PLEDGES, 2, LIMIT, 0}};
        int job_rc = -1;
        assert_int_equal(store_write(f->s, apply, &o, &job_rc), STORE_OK);
        assert_int_equal(job_rc, 0);
        f->m[i] = o.to;
    }
    check(f);
}

/* The migration that added the kept sums fills them from the matches. */
static void test_migration_fills(void **state)
{
    fixture *f = *state;

    for (int op = 0; op < 60; op++)
        random_op(f);
    store_close(f->s);
    f->s = NULL;
    test_db_sql(f->path,
                "DROP TABLE match_totals; DROP TRIGGER match_totals_insert;"
                " DROP TRIGGER match_totals_delete; DROP TRIGGER match_totals_update;"
                " PRAGMA user_version = 11;",
                "DROP TRIGGER match_totals ON matches; DROP FUNCTION match_totals_apply();"
                " DROP TABLE match_totals; UPDATE schema_version SET version = 6;");
    open_store(f);
    check(f);
    for (int op = 0; op < 60; op++) /* and keeps them from then on */
        random_op(f);
    check(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sums_follow_every_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_past_int64, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_fills, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_sums", tests, NULL, NULL);
}
