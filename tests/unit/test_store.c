/* test_store.c — the SQLite store: migrations, get/insert/update, lists with
 * bound filters, group commit with savepoint rollback, remembered requests,
 * and durability across a reopen. */
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
