/* test_store.c — the SQLite store: migrations, get/insert/update, lists with
 * bound filters, group commit with savepoint rollback, remembered requests,
 * durability across a reopen, and keyset pages that cost the same at any
 * depth for every order_by. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include <cmocka.h>

#include "tallinn/filter.h"
#include "tallinn/store.h"
#include "tallinn/v1/need.pb-c.h"

typedef struct fixture {
    char dir[64];
    char path[96];
    store *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    store_options o = {0};
    char err[256];

    strcpy(f->dir, "/tmp/tallinn-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    o.path = f->path;
    assert_int_equal(store_open(&f->s, &o, err, sizeof(err)), STORE_OK);
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

static Tallinn__V1__Money money(int64_t units)
{
    Tallinn__V1__Money m = TALLINN__V1__MONEY__INIT;
    m.currency_code = "EUR";
    m.units = units;
    return m;
}

typedef struct put_arg {
    const char *name;
    int state;
    int64_t cost;
    int fail; /* return this after writing */
} put_arg;

static int put_need(store_tx *tx, void *arg)
{
    put_arg *a = arg;
    Tallinn__V1__Need n = TALLINN__V1__NEED__INIT;
    Tallinn__V1__Money cost = money(a->cost);
    int rc;

    n.name = (char *)a->name;
    n.title = "Firewalls for a regional grid operator";
    n.state = a->state;
    n.sector = TALLINN__V1__SECTOR__SECTOR_ENERGY;
    n.estimated_cost = &cost;
    rc = store_insert(tx, STORE_NEED, &n.base);
    if (rc != STORE_OK)
        return 100 - rc;
    return a->fail;
}

static void write_need(store *s, const char *name, int state, int64_t cost)
{
    put_arg a = {name, state, cost, 0};
    int job_rc;
    assert_int_equal(store_write(s, put_need, &a, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 0);
}

static void test_insert_get(void **state)
{
    fixture *f = *state;
    store_tx *tx;
    ProtobufCMessage *m;
    Tallinn__V1__Need *n;

    write_need(f->s, "needs/a1", TALLINN__V1__NEED__STATE__STATE_DRAFT, 500000);
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    assert_int_equal(store_get(tx, STORE_NEED, "needs/a1", NULL, &m), STORE_OK);
    n = (Tallinn__V1__Need *)m;
    assert_string_equal(n->title, "Firewalls for a regional grid operator");
    assert_int_equal(n->estimated_cost->units, 500000);
    protobuf_c_message_free_unpacked(m, NULL);
    assert_int_equal(store_get(tx, STORE_NEED, "needs/none", NULL, &m), STORE_NOT_FOUND);
    assert_null(m);
    store_read_end(tx);
}

static void test_duplicate_insert(void **state)
{
    fixture *f = *state;
    put_arg a = {"needs/dup", 1, 1, 0};
    int job_rc;

    write_need(f->s, "needs/dup", 1, 1);
    assert_int_equal(store_write(f->s, put_need, &a, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 100 - STORE_EXISTS);
}

static void test_job_rollback_is_its_own(void **state)
{
    fixture *f = *state;
    put_arg bad = {"needs/rolled-back", 1, 1, 9};
    store_tx *tx;
    ProtobufCMessage *m;
    int job_rc;

    assert_int_equal(store_write(f->s, put_need, &bad, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 9);
    write_need(f->s, "needs/kept", 1, 1);
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    assert_int_equal(store_get(tx, STORE_NEED, "needs/rolled-back", NULL, &m), STORE_NOT_FOUND);
    assert_int_equal(store_get(tx, STORE_NEED, "needs/kept", NULL, &m), STORE_OK);
    protobuf_c_message_free_unpacked(m, NULL);
    store_read_end(tx);
}

typedef struct collect {
    char names[64][32];
    int n;
} collect;

static int collect_row(ProtobufCMessage *m, void *ctx)
{
    collect *c = ctx;
    Tallinn__V1__Need *n = (Tallinn__V1__Need *)m;
    snprintf(c->names[c->n++], 32, "%s", n->name);
    protobuf_c_message_free_unpacked(m, NULL);
    return c->n == 64;
}

static void test_list_where_order(void **state)
{
    fixture *f = *state;
    store_tx *tx;
    collect c = {0};
    store_value binds[1] = {{.type = STORE_V_INT, .i = 3000000000000LL}};
    store_query q = {.where = "estimated_cost > ?", .binds = binds, .n_binds = 1,
                     .order = "estimated_cost DESC", .limit = 10};

    write_need(f->s, "needs/l1", 6, 1000);
    write_need(f->s, "needs/l2", 6, 5000);
    write_need(f->s, "needs/l3", 6, 4000);
    write_need(f->s, "needs/l4", 6, 3000);
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    assert_int_equal(store_list(tx, STORE_NEED, &q, collect_row, &c), STORE_OK);
    store_read_end(tx);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.names[0], "needs/l2");
    assert_string_equal(c.names[1], "needs/l3");
}

#define THREADS 8
#define PER_THREAD 25

typedef struct thread_arg {
    store *s;
    int id;
} thread_arg;

static void *writer_thread(void *p)
{
    thread_arg *t = p;
    for (int i = 0; i < PER_THREAD; i++) {
        char name[32];
        put_arg a = {name, 1, i, 0};
        int job_rc;
        snprintf(name, sizeof(name), "needs/t%d-%d", t->id, i);
        if (store_write(t->s, put_need, &a, &job_rc) != STORE_OK || job_rc != 0)
            return (void *)1;
    }
    return NULL;
}

static int count_row(ProtobufCMessage *m, void *ctx)
{
    (*(int *)ctx)++;
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

static void test_group_commit_concurrent(void **state)
{
    fixture *f = *state;
    pthread_t th[THREADS];
    thread_arg args[THREADS];
    store_tx *tx;
    store_query q = {.limit = 100000};
    int n = 0;

    for (int i = 0; i < THREADS; i++) {
        args[i] = (thread_arg){f->s, i};
        assert_int_equal(pthread_create(&th[i], NULL, writer_thread, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_null(r);
    }
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    assert_int_equal(store_list(tx, STORE_NEED, &q, count_row, &n), STORE_OK);
    store_read_end(tx);
    assert_int_equal(n, THREADS * PER_THREAD);
}

typedef struct req_arg {
    const char *rid;
    uint8_t hash[32];
    int put_rc, get_rc;
    uint8_t *resp;
    size_t len;
} req_arg;

static int req_job(store_tx *tx, void *p)
{
    req_arg *a = p;
    uint8_t h[32];
    a->put_rc = store_request_put(tx, "principals/p", "/m", a->rid, a->hash,
                                  (const uint8_t *)"resp", 4);
    a->get_rc = store_request_get(tx, "principals/p", "/m", a->rid, h, &a->resp, &a->len);
    if (a->get_rc == STORE_OK && memcmp(h, a->hash, 32) != 0)
        a->get_rc = -100;
    return 0;
}

static void test_requests(void **state)
{
    fixture *f = *state;
    req_arg a = {.rid = "6b1e2f0c-0f57-4b87-9b0c-6c2b0f9d3e11"};
    int job_rc;
    store_tx *tx;
    uint8_t h[32], *resp;
    size_t len;

    memset(a.hash, 7, sizeof(a.hash));
    assert_int_equal(store_write(f->s, req_job, &a, &job_rc), STORE_OK);
    assert_int_equal(a.put_rc, STORE_OK);
    assert_int_equal(a.get_rc, STORE_OK);
    assert_int_equal(a.len, 4);
    assert_memory_equal(a.resp, "resp", 4);
    free(a.resp);
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    assert_int_equal(store_request_get(tx, "principals/p", "/other", a.rid, h, &resp, &len),
                     STORE_NOT_FOUND);
    store_read_end(tx);
}

static void test_reopen_keeps_writes(void **state)
{
    fixture *f = *state;
    store_options o = {.path = f->path};
    char err[256];
    store_tx *tx;
    ProtobufCMessage *m;

    write_need(f->s, "needs/durable", 1, 42);
    store_close(f->s);
    assert_int_equal(store_open(&f->s, &o, err, sizeof(err)), STORE_OK);
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    assert_int_equal(store_get(tx, STORE_NEED, "needs/durable", NULL, &m), STORE_OK);
    assert_int_equal(((Tallinn__V1__Need *)m)->estimated_cost->units, 42);
    protobuf_c_message_free_unpacked(m, NULL);
    store_read_end(tx);
}

static void test_open_failure_says_why(void **state)
{
    store_options o = {.path = "/nonexistent-dir/x/y.db"};
    store *s = NULL;
    char err[256] = "";
    (void)state;
    assert_int_not_equal(store_open(&s, &o, err, sizeof(err)), STORE_OK);
    assert_null(s);
    assert_non_null(strstr(err, "/nonexistent-dir/x/y.db"));
}

/* ---- Deep pages: the work of a page does not grow with its depth ---- */

#define DEEP_ROWS 8000
#define DEEP_POS 6000 /* the cursor: the deep page starts after this many rows */
#define DEEP_PAGE 50

/* Needs with every list column varied, duplicates in most (ties), and names
 * in an order unrelated to insertion. */
static int put_many(store_tx *tx, void *arg)
{
    (void)arg;
    for (int i = 0; i < DEEP_ROWS; i++) {
        Tallinn__V1__Need n = TALLINN__V1__NEED__INIT;
        Tallinn__V1__Money cost = money((int64_t)(i * 7919) % 5000), committed = money(i % 3),
                           delivered = money(i % 2);
        Google__Protobuf__Timestamp ct = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                    ut = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        Tallinn__V1__Date by = TALLINN__V1__DATE__INIT;
        char name[32], title[32], region[32], ben[32];
        int rc;

        snprintf(name, sizeof(name), "needs/n%05d", (i * 4099) % DEEP_ROWS);
        snprintf(title, sizeof(title), "title %04d", (i * 31) % 1000);
        snprintf(region, sizeof(region), "region %02d", i % 25);
        snprintf(ben, sizeof(ben), "beneficiary %03d", (i * 17) % 100);
        ct.seconds = 1700000000 + i / 3; /* three needs per second: ties */
        ut.seconds = 1700000000 + (i * 13) % DEEP_ROWS;
        by.year = 2025 + i % 3;
        by.month = 1 + i % 12;
        by.day = 1 + i % 28;
        n.name = name;
        n.title = title;
        n.description = "d";
        n.beneficiary = ben;
        n.region = region;
        n.state = i % 10 == 0 ? TALLINN__V1__NEED__STATE__STATE_DRAFT
                              : TALLINN__V1__NEED__STATE__STATE_OPEN;
        n.sector = 1 + i % 10;
        n.category = 1 + (i * 3) % 10;
        n.domain = 1 + i % 2;
        n.priority = 1 + i % 4;
        n.sensitivity = i % 7 == 0 ? 2 : 1;
        n.coverage = 1 + i % 3;
        n.estimated_cost = &cost;
        n.committed_amount = &committed;
        n.delivered_amount = &delivered;
        n.needed_by = &by;
        n.create_time = &ct;
        n.update_time = &ut;
        if ((rc = store_insert(tx, STORE_NEED, &n.base)) != STORE_OK)
            return 100 - rc;
    }
    return 0;
}

/* A row's value of an order key, as api_list puts it in a page token. */
static store_value key_value(const ProtobufCMessage *m, const filter_field *ff)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, ff->name);
    const char *p = (const char *)m + f->offset;
    store_value v = {.type = STORE_V_INT};

    switch (ff->type) {
    case FILTER_STRING:
        v.type = STORE_V_TEXT;
        v.text = *(const char *const *)p;
        break;
    case FILTER_MONEY: {
        const Tallinn__V1__Money *x = *(const Tallinn__V1__Money *const *)p;
        v.i = x->units * 1000000000 + x->nanos;
        break;
    }
    case FILTER_TIMESTAMP: {
        const Google__Protobuf__Timestamp *t = *(const Google__Protobuf__Timestamp *const *)p;
        v.i = t->seconds * 1000000000 + t->nanos;
        break;
    }
    case FILTER_DATE: {
        const Tallinn__V1__Date *d = *(const Tallinn__V1__Date *const *)p;
        v.i = (int64_t)d->year * 10000 + d->month * 100 + d->day;
        break;
    }
    default:
        v.i = *(const int32_t *)p; /* the need's enums */
        break;
    }
    return v;
}

typedef struct deep_rows {
    int skip, want; /* rows to skip, then rows to keep */
    int seen, n;
    ProtobufCMessage *cursor; /* the last skipped row */
    char names[DEEP_PAGE + 1][24];
} deep_rows;

static int deep_collect(ProtobufCMessage *m, void *ctx)
{
    deep_rows *r = ctx;

    if (r->seen++ < r->skip) {
        if (r->cursor != NULL)
            protobuf_c_message_free_unpacked(r->cursor, NULL);
        r->cursor = m;
        return 0;
    }
    snprintf(r->names[r->n++], sizeof(r->names[0]), "%s", ((Tallinn__V1__Need *)m)->name);
    protobuf_c_message_free_unpacked(m, NULL);
    return r->n == r->want;
}

/* One page of needs in `order` under `scope` (NULL: none), after `cursor`
 * (NULL: the first page), as api_list reads it; returns the engine's work. */
static int64_t deep_page(store *s, const filter_order *o, const char *scope,
                         const ProtobufCMessage *cursor, deep_rows *out)
{
    char osql[1024], seek[FILTER_SEEK_MAX_ARMS][FILTER_SEEK_ARM_MAX_LEN];
    size_t key_index[FILTER_SEEK_MAX_BINDS];
    store_value binds[FILTER_SEEK_MAX_ARMS][FILTER_SEEK_MAX_BINDS];
    store_seek_arm arms[FILTER_SEEK_MAX_ARMS];
    int64_t work = -1;
    store_query q = {.where = scope, .order = osql, .seek = arms, .limit = DEEP_PAGE + 1,
                     .work = &work};
    store_tx *tx;

    assert_int_equal(filter_order_to_sql(o, osql, sizeof(osql)), FILTER_OK);
    if (cursor != NULL) {
        q.n_seek = filter_order_seek_arms(o);
        for (size_t a = 0; a < q.n_seek; a++) {
            assert_int_equal(filter_order_seek_arm(o, a, seek[a], sizeof(seek[a]), key_index,
                                                   FILTER_SEEK_MAX_BINDS, &arms[a].n_binds),
                             FILTER_OK);
            for (size_t j = 0; j < arms[a].n_binds; j++) {
                size_t k = key_index[j];
                if (k < o->count) {
                    binds[a][j] = key_value(cursor, o->keys[k].field);
                } else {
                    binds[a][j].type = STORE_V_TEXT;
                    binds[a][j].text = ((const Tallinn__V1__Need *)cursor)->name;
                }
            }
            arms[a].where = seek[a];
            arms[a].binds = binds[a];
        }
    }
    memset(out, 0, sizeof(*out));
    out->want = DEEP_PAGE + 1;
    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    assert_int_equal(store_list(tx, STORE_NEED, &q, deep_collect, out), STORE_OK);
    store_read_end(tx);
    return work;
}

/* Checks one order: the deep page has the right rows, and costs what the
 * first page does if an index serves the order (indexed), else no more than
 * a few passes over the table (`pass`: what the first page of an order no
 * index serves costs). Returns the first page's work. */
static int64_t deep_check(store *s, const char *order_by, const char *scope, int indexed,
                          int64_t pass)
{
    const filter_schema *schema = store_filter_schema(STORE_NEED);
    filter_order o;
    filter_error err;
    deep_rows all = {.skip = DEEP_POS, .want = DEEP_PAGE + 1}, first, deep;
    char osql[1024];
    char where[256];
    store_query q = {.order = osql, .limit = DEEP_POS + DEEP_PAGE + 1};
    int64_t w1, wd;
    store_tx *tx;

    assert_int_equal(filter_order_parse(schema, order_by, strlen(order_by), &o, &err), FILTER_OK);
    /* The whole order up to the deep page, to know its cursor and rows. */
    assert_int_equal(filter_order_to_sql(&o, osql, sizeof(osql)), FILTER_OK);
    if (scope != NULL) {
        snprintf(where, sizeof(where), "%s", scope);
        q.where = where;
    }
    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    assert_int_equal(store_list(tx, STORE_NEED, &q, deep_collect, &all), STORE_OK);
    store_read_end(tx);
    assert_non_null(all.cursor);
    assert_int_equal(all.n, DEEP_PAGE + 1);

    w1 = deep_page(s, &o, scope, NULL, &first);
    wd = deep_page(s, &o, scope, all.cursor, &deep);
    assert_int_equal(first.n, DEEP_PAGE + 1);
    assert_int_equal(deep.n, DEEP_PAGE + 1);
    for (int i = 0; i < deep.n; i++)
        if (strcmp(deep.names[i], all.names[i]) != 0)
            fail_msg("order \"%s\": deep page row %d is %s, the order has %s there", order_by,
                     i, deep.names[i], all.names[i]);
    print_message("%-34s %-18s %-7s page 1: %6lld steps, page %d: %6lld steps\n", order_by,
                  scope ? scope : "", indexed ? "indexed" : "", (long long)w1,
                  DEEP_POS / DEEP_PAGE + 1, (long long)wd);
    protobuf_c_message_free_unpacked(all.cursor, NULL);
    if (indexed && wd > 3 * w1 + 1000)
        fail_msg("order \"%s\"%s%s: the page after row %d took %lld steps, the first %lld", order_by,
                 scope ? " with " : "", scope ? scope : "", DEEP_POS, (long long)wd, (long long)w1);
    if (!indexed && pass > 0 && wd > 3 * pass)
        fail_msg("order \"%s\": the page after row %d took %lld steps, a pass over the table %lld",
                 order_by, DEEP_POS, (long long)wd, (long long)pass);
    return w1;
}

static void test_deep_pages(void **state)
{
    fixture *f = *state;
    const filter_schema *schema = store_filter_schema(STORE_NEED);
    /* The orders the store's indexes serve (migrations 1, 4, 5). */
    static const char *const indexed[] = {
        "create_time", "create_time desc", "name", "name desc", "state, create_time",
        "state desc, create_time desc", "priority, create_time desc", "priority desc, create_time",
    };
    static const char *const multi[] = {
        "sector desc, estimated_cost desc", "priority desc, title", "region, needed_by desc, title",
    };
    int64_t pass;
    int job_rc;

    assert_int_equal(store_write(f->s, put_many, NULL, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 0);
    /* The default order, as each role lists it. */
    deep_check(f->s, "create_time", NULL, 1, 0);
    deep_check(f->s, "create_time", "sensitivity != 2", 1, 0); /* OBSERVER */
    deep_check(f->s, "create_time", "state = 6", 1, 0);
    for (size_t i = 0; i < sizeof(indexed) / sizeof(indexed[0]); i++)
        deep_check(f->s, indexed[i], NULL, 1, 0);
    /* No index has the title first: the first page is one pass over the
     * table and a top-N sort. Every other order, both ways, and orders of
     * several keys cost no more than a few such passes, at any depth. */
    pass = deep_check(f->s, "title", NULL, 0, 0);
    for (size_t i = 0; i < schema->nfields; i++) {
        char ob[64];
        snprintf(ob, sizeof(ob), "%s", schema->fields[i].name);
        deep_check(f->s, ob, NULL, 0, pass);
        snprintf(ob, sizeof(ob), "%s desc", schema->fields[i].name);
        deep_check(f->s, ob, NULL, 0, pass);
    }
    for (size_t i = 0; i < sizeof(multi) / sizeof(multi[0]); i++)
        deep_check(f->s, multi[i], NULL, 0, pass);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insert_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_insert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_rollback_is_its_own, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_where_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_writes, setup, teardown),
        cmocka_unit_test(test_open_failure_says_why),
        cmocka_unit_test_setup_teardown(test_deep_pages, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
