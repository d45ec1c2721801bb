/* test_visibility.c — need-to-know decided on a need's stored columns
 * (visibility_need from store_get_fields, a stored list's values) is the
 * decision on the decoded need, for every role x sensitivity x state, a
 * donor with and without a live match, over a real engine (SQLite;
 * PostgreSQL as unit.visibility.pg): visible or not, redacted or not, a
 * recorded (RESTRICTED) read or not. And a stored page carries the rows and
 * the values the decoded page has, under every need scope. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "handlers/domain.h"
#include "tallinn/store.h"
#include "test_db.h"

#define OPEN TALLINN__V1__NEED__STATE__STATE_OPEN
#define STANDARD TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_STANDARD
#define RESTRICTED TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_RESTRICTED
#define PROPOSED TALLINN__V1__MATCH__STATE__STATE_PROPOSED
#define DECLINED TALLINN__V1__MATCH__STATE__STATE_DECLINED

typedef struct fixture {
    char dir[64];
    char path[96];
    store *s;
} fixture;

/* ---- Every state x sensitivity, two with matches of donor alpha ---- */

static Tallinn__V1__Money eur = {PROTOBUF_C_MESSAGE_INIT(&tallinn__v1__money__descriptor), "EUR",
                                 100, 0};

#define N_STATES 11 /* UNSPECIFIED .. CANCELLED */
#define N_SENS 3    /* UNSPECIFIED, STANDARD, RESTRICTED */

static void need_name(char *out, size_t cap, int state, int sens)
{
    snprintf(out, cap, "needs/s%d-v%d", state, sens);
}

/* alpha has a live match on the needs of state 7 (any sensitivity) and a
 * declined one on those of state 6 (not live: no sight through it). */
static int alpha_live(int state)
{
    return state == 7;
}

static int seed(store_tx *tx, void *arg)
{
    char name[64], mname[64];
    int rc;

    (void)arg;
    {
        Tallinn__V1__Donor d = TALLINN__V1__DONOR__INIT;
        Tallinn__V1__Pledge pl = TALLINN__V1__PLEDGE__INIT;
        d.name = "donors/alpha";
        d.display_name = "Alpha";
        pl.name = "donors/alpha/pledges/p";
        pl.amount = &eur;
        if ((rc = store_insert(tx, STORE_DONOR, &d.base)) != STORE_OK ||
            (rc = store_insert(tx, STORE_PLEDGE, &pl.base)) != STORE_OK)
            return 50 - rc;
    }
    for (int st = 0; st < N_STATES; st++)
        for (int sv = 0; sv < N_SENS; sv++) {
            Tallinn__V1__Need n = TALLINN__V1__NEED__INIT;
            need_name(name, sizeof(name), st, sv);
            n.name = name;
            n.title = "Firewalls";
            n.description = "two HA pairs";
            n.beneficiary = "a port";
            n.region = "Odesa";
            n.state = st;
            n.sensitivity = sv;
            n.priority = TALLINN__V1__NEED__PRIORITY__PRIORITY_HIGH;
            n.sector = TALLINN__V1__SECTOR__SECTOR_ENERGY;
            n.estimated_cost = &eur;
            if ((rc = store_insert(tx, STORE_NEED, &n.base)) != STORE_OK)
                return 100 - rc;
            if (st == 6 || st == 7) {
                Tallinn__V1__Match m = TALLINN__V1__MATCH__INIT;
                snprintf(mname, sizeof(mname), "matches/m%d-%d", st, sv);
                m.name = mname;
                m.need = name;
                m.donor = "donors/alpha";
                m.pledge = "donors/alpha/pledges/p";
                m.state = alpha_live(st) ? PROPOSED : DECLINED;
                m.amount = &eur;
                if ((rc = store_insert(tx, STORE_MATCH, &m.base)) != STORE_OK)
                    return 200 - rc;
            }
        }
    return 0;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    store_options o = {0};
    char err[256];
    int job_rc = -1;

    strcpy(f->dir, "/tmp/tallinn-visibility-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    if (test_pg_url() != NULL)
        test_pg_sql("DROP OWNED BY CURRENT_USER", NULL, 0);
    o.path = f->path;
    o.database_url = test_pg_url();
    if (store_open(&f->s, &o, err, sizeof(err)) != STORE_OK)
        fail_msg("store_open: %s", err);
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
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static const api_caller callers[] = {
    {"principals/f", API_ROLE_FRONT_OFFICE, NULL}, {"principals/b", API_ROLE_BACK_OFFICE, NULL},
    {"principals/c", API_ROLE_COORDINATOR, NULL},  {"principals/o", API_ROLE_OBSERVER, NULL},
    {"principals/u", API_ROLE_AUDITOR, NULL},      {"principals/x", API_ROLE_ADMIN, NULL},
    {"principals/a", API_ROLE_DONOR, "donors/alpha"},
    {"principals/z", API_ROLE_DONOR, "donors/beta"},
    {"principals/n", API_ROLE_DONOR, NULL}, /* a DONOR principal without a donor */
};
#define N_CALLERS (sizeof(callers) / sizeof(callers[0]))

/* What need-to-know says, written out apart from visibility.c. */
static int expected(const api_caller *c, int state, int sens)
{
    switch (c->role) {
    case API_ROLE_OBSERVER:
        return sens != RESTRICTED;
    case API_ROLE_DONOR:
        if (c->donor == NULL)
            return 0;
        return (state == OPEN && sens == STANDARD) ||
               (strcmp(c->donor, "donors/alpha") == 0 && alpha_live(state));
    default:
        return 1;
    }
}

static void *arena_alloc(void *data, size_t size)
{
    (void)data;
    return calloc(1, size ? size : 1);
}

/* What the store allocates for a need or a page, freed together (as the
 * call's memory is in tallinnd). */
#define POOL_MAX 4096
typedef struct pool {
    void *p[POOL_MAX];
    size_t n;
} pool;

static void *pool_alloc(void *data, size_t size)
{
    pool *pl = data;
    void *m;

    if (pl->n == POOL_MAX)
        return NULL;
    if ((m = arena_alloc(NULL, size)) != NULL)
        pl->p[pl->n++] = m;
    return m;
}

static void pool_free(void *data, void *p)
{
    (void)data;
    (void)p; /* freed with the pool */
}

static void pool_reset(pool *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        free(pl->p[i]);
    pl->n = 0;
}

static void typed_equals_unpacked(void **state)
{
    fixture *f = *state;
    const filter_field *fields[3];
    static pool pl;
    ProtobufCAllocator alloc = {pool_alloc, pool_free, &pl};
    store_tx *tx;
    size_t checked = 0;

    assert_int_equal(visibility_need_fields(fields), 0);
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    for (int st = 0; st < N_STATES; st++)
        for (int sv = 0; sv < N_SENS; sv++) {
            char name[64];
            ProtobufCMessage *m = NULL;
            store_bytes bytes;
            filter_value v[3];
            visibility_need typed, unpacked;

            need_name(name, sizeof(name), st, sv);
            assert_int_equal(store_get(tx, STORE_NEED, name, &alloc, &m), STORE_OK);
            assert_int_equal(store_get_fields(tx, STORE_NEED, name, fields, 3, &alloc, &bytes, v),
                             STORE_OK);
            unpacked = visibility_need_of((const Tallinn__V1__Need *)m);
            typed = (visibility_need){v[0].s, (int)v[1].i, (int)v[2].i};
            /* the columns are the message's values */
            assert_string_equal(typed.name, unpacked.name);
            assert_int_equal(typed.state, st);
            assert_int_equal(typed.sensitivity, sv);
            assert_int_equal(typed.state, unpacked.state);
            assert_int_equal(typed.sensitivity, unpacked.sensitivity);
            /* the bytes are the message */
            {
                size_t len = protobuf_c_message_get_packed_size(m);
                uint8_t *packed = malloc(len ? len : 1);
                protobuf_c_message_pack(m, packed);
                assert_int_equal(bytes.len, len);
                assert_memory_equal(bytes.data, packed, len);
                free(packed);
            }
            for (size_t c = 0; c < N_CALLERS; c++) {
                int a = visibility_need_sees(tx, &callers[c], &typed);
                int b = needs_visible(tx, &callers[c], (const Tallinn__V1__Need *)m);
                if (a != b || a != expected(&callers[c], st, sv))
                    fail_msg("%s as role %d (%s): typed %d, unpacked %d, expected %d", name,
                             callers[c].role, callers[c].donor ? callers[c].donor : "-", a, b,
                             expected(&callers[c], st, sv));
                /* redacted for the same callers: needs_redact clears exactly
                 * when needs_redacts says so */
                {
                    Tallinn__V1__Need copy = *(const Tallinn__V1__Need *)m;
                    assert_int_equal(needs_redacts(&callers[c]),
                                     needs_redact(&callers[c], &copy));
                    if (needs_redacts(&callers[c]))
                        assert_string_equal(copy.description, "");
                }
                /* a recorded read for the same needs */
                assert_int_equal(typed.sensitivity == RESTRICTED,
                                 ((const Tallinn__V1__Need *)m)->sensitivity == RESTRICTED);
                checked++;
            }
            pool_reset(&pl);
        }
    store_read_end(tx);
    assert_int_equal(checked, (size_t)N_STATES * N_SENS * N_CALLERS);
}

static void missing_need(void **state)
{
    fixture *f = *state;
    const filter_field *fields[3];
    static pool pl;
    ProtobufCAllocator alloc = {pool_alloc, pool_free, &pl};
    store_bytes bytes;
    filter_value v[3];
    store_tx *tx;

    assert_int_equal(visibility_need_fields(fields), 0);
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    assert_int_equal(store_get_fields(tx, STORE_NEED, "needs/none", fields, 3, &alloc, &bytes, v),
                     STORE_NOT_FOUND);
    /* a field of another kind's schema is refused, never read */
    {
        const filter_schema *ms = store_filter_schema(STORE_MATCH);
        const filter_field *other[1] = {&ms->fields[0]};
        assert_int_equal(store_get_fields(tx, STORE_NEED, "needs/s6-v1", other, 1, &alloc, &bytes,
                                          v),
                         STORE_ERROR);
    }
    store_read_end(tx);
    pool_reset(&pl);
}

/* A stored page (not decoded) has the decoded page's rows, bytes and
 * values, under every scope lists of needs use. */
typedef struct rows {
    ProtobufCMessage *m[64];
    size_t n;
} rows;

static int collect(ProtobufCMessage *m, void *ctx)
{
    rows *r = ctx;
    if (r->n < 64)
        r->m[r->n++] = m;
    return 0;
}

static void stored_page_equals_decoded(void **state)
{
    fixture *f = *state;
    const filter_schema *schema = store_filter_schema(STORE_NEED);
    const filter_field *fields[3];
    const store_scope scopes[] = {
        {STORE_SCOPE_ALL, NULL, 0},
        {STORE_SCOPE_UNRESTRICTED, NULL, 0},
        {STORE_SCOPE_DONOR_NEEDS, "donors/alpha", DOMAIN_LIVE_MATCH_STATES},
        {STORE_SCOPE_DONOR_NEEDS, "donors/beta", DOMAIN_LIVE_MATCH_STATES},
    };
    filter_order order;
    filter_error ferr;

    assert_int_equal(visibility_need_fields(fields), 0);
    assert_int_equal(filter_order_parse(schema, "create_time desc", 16, &order, &ferr), FILTER_OK);
    for (size_t s = 0; s < sizeof(scopes) / sizeof(scopes[0]); s++) {
        static pool pl;
        ProtobufCAllocator alloc = {pool_alloc, pool_free, &pl};
        store_list_query q = {.kind = STORE_NEED, .order = &order, .scope = scopes[s],
                              .limit = 64, .alloc = NULL};
        store_bytes bytes[64];
        filter_value values[64 * 3];
        rows dec = {0}, sto = {0};
        store_tx *tx;

        assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
        assert_int_equal(store_list(tx, &q, collect, &dec), STORE_OK);
        q.alloc = &alloc;
        q.bytes = bytes;
        q.fields = fields;
        q.n_fields = 3;
        q.values = values;
        q.stored_only = 1;
        assert_int_equal(store_list(tx, &q, collect, &sto), STORE_OK);
        store_read_end(tx);
        assert_int_equal(sto.n, dec.n);
        assert_true(dec.n > 0);
        for (size_t i = 0; i < dec.n; i++) {
            const Tallinn__V1__Need *n = (const Tallinn__V1__Need *)dec.m[i];
            Tallinn__V1__Need *back;
            assert_null(sto.m[i]); /* not decoded */
            assert_string_equal(values[i * 3].s, n->name);
            assert_int_equal(values[i * 3 + 1].i, n->state);
            assert_int_equal(values[i * 3 + 2].i, n->sensitivity);
            back = tallinn__v1__need__unpack(NULL, bytes[i].len, bytes[i].data);
            assert_non_null(back);
            assert_string_equal(back->name, n->name);
            tallinn__v1__need__free_unpacked(back, NULL);
            protobuf_c_message_free_unpacked(dec.m[i], NULL);
        }
        pool_reset(&pl);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(typed_equals_unpacked, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_need, setup, teardown),
        cmocka_unit_test_setup_teardown(stored_page_equals_decoded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
