/* test_store.c — the store over its SQLite engine: migrations, get/insert/
 * update, typed lists, group commit with savepoint rollback, commit
 * observers, store_submit, the principals epoch (from memory and from the
 * database), remembered requests, durability across a reopen, and keyset
 * pages that cost the same at any depth for every order_by. */
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

#include "store/store_internal.h"
#include "tallinn/filter.h"
#include "tallinn/store.h"
#include "tallinn/v1/need.pb-c.h"
#include "tallinn/v1/principal.pb-c.h"

#include <sqlite3.h>
#include <sys/stat.h>

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

static filter *parse_filter(store_kind kind, const char *text)
{
    filter *f = NULL;
    filter_error err;
    if (filter_parse(store_filter_schema(kind), text, strlen(text), &f, &err) != FILTER_OK)
        fail_msg("filter \"%s\": %s", text, err.message);
    return f;
}

static void parse_order(store_kind kind, const char *text, filter_order *o)
{
    filter_error err;
    if (filter_order_parse(store_filter_schema(kind), text, strlen(text), o, &err) != FILTER_OK)
        fail_msg("order_by \"%s\": %s", text, err.message);
}

/* A bump allocator over a static buffer (free is a no-op), as the call's
 * arena is for the server. */
static uint8_t bump_buf[1 << 16];
static size_t bump_used;

static void *bump_alloc(void *data, size_t size)
{
    void *p;
    (void)data;
    size = (size + 15) & ~(size_t)15;
    if (bump_used + size > sizeof(bump_buf))
        return NULL;
    p = bump_buf + bump_used;
    bump_used += size;
    return p;
}

static void bump_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

static ProtobufCAllocator bump = {bump_alloc, bump_free, NULL};

static int collect_bumped(ProtobufCMessage *m, void *ctx) /* rows on bump: no free */
{
    collect *c = ctx;
    snprintf(c->names[c->n++], 32, "%s", ((Tallinn__V1__Need *)m)->name);
    return c->n == 64;
}

/* The row's stored bytes (store_get_bytes, store_list's bytes) are its
 * encoding: exactly what packing the decoded row gives, in the list's order;
 * a reader may answer with them instead of packing again. */
static void test_stored_bytes(void **state)
{
    fixture *f = *state;
    store_tx *tx;
    ProtobufCMessage *m;
    store_bytes b, rows[4];
    uint8_t packed[4096];
    filter_order o;
    collect c = {0};
    store_list_query q = {.kind = STORE_NEED, .order = &o, .limit = 4, .alloc = &bump,
                          .bytes = rows};

    bump_used = 0;
    write_need(f->s, "needs/b1", 6, 1000);
    write_need(f->s, "needs/b2", 6, 2000);
    write_need(f->s, "needs/b3", 6, 3000);
    parse_order(STORE_NEED, "estimated_cost desc", &o);
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    assert_int_equal(store_get_bytes(tx, STORE_NEED, "needs/b2", &bump, &m, &b), STORE_OK);
    assert_true(b.len > 0 && b.len <= sizeof(packed));
    assert_int_equal(protobuf_c_message_get_packed_size(m), b.len);
    protobuf_c_message_pack(m, packed);
    assert_memory_equal(packed, b.data, b.len);
    assert_int_equal(store_get_bytes(tx, STORE_NEED, "needs/none", &bump, &m, &b),
                     STORE_NOT_FOUND);
    assert_int_equal(store_get_bytes(tx, STORE_NEED, "needs/b2", NULL, &m, &b), STORE_ERROR);
    assert_int_equal(store_list(tx, &q, collect_bumped, &c), STORE_OK);
    store_read_end(tx);
    assert_int_equal(c.n, 3);
    for (int i = 0; i < 3; i++) {
        Tallinn__V1__Need *n = tallinn__v1__need__unpack(NULL, rows[i].len, rows[i].data);
        assert_non_null(n);
        assert_string_equal(n->name, c.names[i]);
        tallinn__v1__need__free_unpacked(n, NULL);
    }
    assert_string_equal(c.names[0], "needs/b3");
}

static void test_list_where_order(void **state)
{
    fixture *f = *state;
    store_tx *tx;
    collect c = {0};
    filter *flt = parse_filter(STORE_NEED, "estimated_cost > 3000");
    filter_order o;
    store_list_query q = {.kind = STORE_NEED, .filter = flt, .order = &o, .limit = 10};

    parse_order(STORE_NEED, "estimated_cost desc", &o);
    write_need(f->s, "needs/l1", 6, 1000);
    write_need(f->s, "needs/l2", 6, 5000);
    write_need(f->s, "needs/l3", 6, 4000);
    write_need(f->s, "needs/l4", 6, 3000);
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    assert_int_equal(store_list(tx, &q, collect_row, &c), STORE_OK);
    store_read_end(tx);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.names[0], "needs/l2");
    assert_string_equal(c.names[1], "needs/l3");
    filter_destroy(flt);
}

/* A query that does not fit its kind is refused, not run unscoped. */
static void test_list_refuses_misfits(void **state)
{
    fixture *f = *state;
    store_tx *tx;
    collect c = {0};
    filter *other = parse_filter(STORE_MATCH, "donor = \"donors/x\"");
    filter_order o;
    store_list_query q = {.kind = STORE_NEED, .filter = other, .limit = 10};

    write_need(f->s, "needs/m1", 6, 1000);
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    assert_int_equal(store_list(tx, &q, collect_row, &c), STORE_ERROR); /* another kind's field */
    q.filter = NULL;
    q.scope.kind = STORE_SCOPE_OF_DONOR; /* needs have no donor */
    assert_int_equal(store_list(tx, &q, collect_row, &c), STORE_ERROR);
    q.scope.kind = STORE_SCOPE_ALL;
    parse_order(STORE_MATCH, "amount", &o);
    q.order = &o; /* another kind's order */
    assert_int_equal(store_list(tx, &q, collect_row, &c), STORE_ERROR);
    q.order = NULL;
    q.limit = 0;
    assert_int_equal(store_list(tx, &q, collect_row, &c), STORE_ERROR);
    q.limit = 10;
    assert_int_equal(store_list(tx, &q, collect_row, &c), STORE_OK);
    store_read_end(tx);
    assert_int_equal(c.n, 1);
    filter_destroy(other);
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
    store_list_query q = {.kind = STORE_NEED, .limit = 100000};
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
    assert_int_equal(store_list(tx, &q, count_row, &n), STORE_OK);
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

/* The WAL is checkpointed while the store is open (store_sqlite_ckpt.c:
 * by a thread, or by the writer once it has grown too long) and stays
 * bounded under a stream of commits that never pauses. */
#define WAL_JOBS 300
#define WAL_NEEDS 16 /* a job's needs, each about a page */
#define WAL_BOUND (20L << 20)

static int put_big_needs(store_tx *tx, void *arg)
{
    static char desc[3000];
    int *job = arg;

    memset(desc, 'x', sizeof(desc) - 1);
    for (int i = 0; i < WAL_NEEDS; i++) {
        Tallinn__V1__Need n = TALLINN__V1__NEED__INIT;
        Tallinn__V1__Money cost = money(1);
        char name[48];
        int rc;

        snprintf(name, sizeof(name), "needs/w%04d-%02d", *job, i);
        n.name = name;
        n.title = "t";
        n.description = desc;
        n.state = 1;
        n.estimated_cost = &cost;
        if ((rc = store_insert(tx, STORE_NEED, &n.base)) != STORE_OK)
            return 100 - rc;
    }
    return 0;
}

/* A file's size, -1 when there is none. */
static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void test_wal_checkpointed_and_bounded(void **state)
{
    fixture *f = *state;
    store_options o = {.path = f->path};
    char wal[128], err[256];
    long db0 = file_size(f->path), wal_max = 0;
    store_tx *tx;
    ProtobufCMessage *m;

    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    for (int j = 0; j < WAL_JOBS; j++) {
        int job_rc;
        assert_int_equal(store_write(f->s, put_big_needs, &j, &job_rc), STORE_OK);
        assert_int_equal(job_rc, 0);
        if (file_size(wal) > wal_max)
            wal_max = file_size(wal);
    }
    /* about 5,000 pages written, more than the WAL may hold */
    assert_true(wal_max > 1000L * 4096);
    assert_true(wal_max < WAL_BOUND);
    assert_true(file_size(f->path) > db0 + (8L << 20)); /* copied into the database */
    store_close(f->s);
    assert_int_equal(store_open(&f->s, &o, err, sizeof(err)), STORE_OK);
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    for (int j = 0; j < WAL_JOBS; j += WAL_JOBS / 10 - 1) {
        char name[48];
        snprintf(name, sizeof(name), "needs/w%04d-%02d", j, WAL_NEEDS - 1);
        assert_int_equal(store_get(tx, STORE_NEED, name, NULL, &m), STORE_OK);
        protobuf_c_message_free_unpacked(m, NULL);
    }
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
static filter_value key_value(const ProtobufCMessage *m, const filter_field *ff)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, ff->name);
    const char *p = (const char *)m + f->offset;
    filter_value v = {.type = ff->type};

    switch (ff->type) {
    case FILTER_STRING:
        v.s = *(const char *const *)p;
        v.len = strlen(v.s);
        break;
    case FILTER_MONEY: {
        const Tallinn__V1__Money *x = *(const Tallinn__V1__Money *const *)p;
        v.i = store_money_key(x->units, x->nanos);
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

/* One page of needs in order o, with filter flt and scope, after `cursor`
 * (NULL: the first page), as api_list reads it; returns the engine's work. */
static int64_t deep_page(store *s, const filter_order *o, const filter *flt, store_scope scope,
                         const ProtobufCMessage *cursor, deep_rows *out)
{
    filter_value after[FILTER_ORDER_MAX_KEYS + 1];
    int64_t work = -1;
    store_list_query q = {.kind = STORE_NEED, .filter = flt, .order = o, .scope = scope,
                          .limit = DEEP_PAGE + 1, .work = &work};
    store_tx *tx;

    if (cursor != NULL) {
        for (size_t k = 0; k < o->count; k++)
            after[k] = key_value(cursor, o->keys[k].field);
        after[o->count] = (filter_value){.type = FILTER_STRING,
                                         .s = ((const Tallinn__V1__Need *)cursor)->name,
                                         .len = strlen(((const Tallinn__V1__Need *)cursor)->name)};
        q.after = after;
        q.n_after = o->count + 1;
    }
    memset(out, 0, sizeof(*out));
    out->want = DEEP_PAGE + 1;
    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    assert_int_equal(store_list(tx, &q, deep_collect, out), STORE_OK);
    store_read_end(tx);
    return work;
}

/* Checks one order: the deep page has the right rows, and costs what the
 * first page does if an index serves the order (indexed), else no more than
 * a few passes over the table (`pass`: what the first page of an order no
 * index serves costs). Returns the first page's work. */
static int64_t deep_check(store *s, const char *order_by, const char *filter_text,
                          store_scope scope, int indexed, int64_t pass)
{
    filter_order o;
    filter *flt = parse_filter(STORE_NEED, filter_text != NULL ? filter_text : "");
    deep_rows all = {.skip = DEEP_POS, .want = DEEP_PAGE + 1}, first, deep;
    store_list_query q = {.kind = STORE_NEED, .filter = flt, .order = &o, .scope = scope,
                          .limit = DEEP_POS + DEEP_PAGE + 1};
    const char *label = filter_text != NULL ? filter_text
                        : scope.kind == STORE_SCOPE_UNRESTRICTED ? "UNRESTRICTED" : "";
    int64_t w1, wd;
    store_tx *tx;

    parse_order(STORE_NEED, order_by, &o);
    /* The whole order up to the deep page, to know its cursor and rows. */
    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    assert_int_equal(store_list(tx, &q, deep_collect, &all), STORE_OK);
    store_read_end(tx);
    assert_non_null(all.cursor);
    assert_int_equal(all.n, DEEP_PAGE + 1);

    w1 = deep_page(s, &o, flt, scope, NULL, &first);
    wd = deep_page(s, &o, flt, scope, all.cursor, &deep);
    assert_int_equal(first.n, DEEP_PAGE + 1);
    assert_int_equal(deep.n, DEEP_PAGE + 1);
    for (int i = 0; i < deep.n; i++)
        if (strcmp(deep.names[i], all.names[i]) != 0)
            fail_msg("order \"%s\": deep page row %d is %s, the order has %s there", order_by,
                     i, deep.names[i], all.names[i]);
    print_message("%-34s %-18s %-7s page 1: %6lld steps, page %d: %6lld steps\n", order_by,
                  label, indexed ? "indexed" : "", (long long)w1, DEEP_POS / DEEP_PAGE + 1,
                  (long long)wd);
    protobuf_c_message_free_unpacked(all.cursor, NULL);
    filter_destroy(flt);
    if (indexed && wd > 3 * w1 + 1000)
        fail_msg("order \"%s\" %s: the page after row %d took %lld steps, the first %lld",
                 order_by, label, DEEP_POS, (long long)wd, (long long)w1);
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
    const store_scope all = {.kind = STORE_SCOPE_ALL};
    const store_scope observer = {.kind = STORE_SCOPE_UNRESTRICTED};
    int64_t pass;
    int job_rc;

    assert_int_equal(store_write(f->s, put_many, NULL, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 0);
    /* The default order, as each role lists it. */
    deep_check(f->s, "create_time", NULL, all, 1, 0);
    deep_check(f->s, "create_time", NULL, observer, 1, 0);
    deep_check(f->s, "create_time", "state = OPEN", all, 1, 0);
    /* A search (":") is a filter like any other: the seek serves its deep
     * pages too (each row's folded title tested as the range is read). */
    deep_check(f->s, "create_time", "title : \"TITLE\"", all, 1, 0);
    deep_check(f->s, "create_time desc", "NOT title : \"Title 000\"", all, 1, 0);
    deep_check(f->s, "priority, create_time desc", "title : \"title \"", observer, 1, 0);
    for (size_t i = 0; i < sizeof(indexed) / sizeof(indexed[0]); i++)
        deep_check(f->s, indexed[i], NULL, all, 1, 0);
    /* No index has the title first: the first page is one pass over the
     * table and a top-N sort. Every other order, both ways, and orders of
     * several keys cost no more than a few such passes, at any depth. */
    pass = deep_check(f->s, "title", NULL, all, 0, 0);
    for (size_t i = 0; i < schema->nfields; i++) {
        char ob[64];
        snprintf(ob, sizeof(ob), "%s", schema->fields[i].name);
        deep_check(f->s, ob, NULL, all, 0, pass);
        snprintf(ob, sizeof(ob), "%s desc", schema->fields[i].name);
        deep_check(f->s, ob, NULL, all, 0, pass);
    }
    for (size_t i = 0; i < sizeof(multi) / sizeof(multi[0]); i++)
        deep_check(f->s, multi[i], NULL, all, 0, pass);
}

/* ---- Commit observers ---- */

typedef struct obs_seq {
    char events[64][24];
    int n;
} obs_seq;

typedef struct obs_log {
    obs_seq *seq; /* shared by the observers of a test: their order shows */
    const char *tag;
    int fail_begin, fail_pre_commit; /* make the next batch fail there */
} obs_log;

static void obs_note(obs_log *l, const char *what)
{
    if (l->seq->n < 64)
        snprintf(l->seq->events[l->seq->n++], sizeof(l->seq->events[0]), "%s:%s", l->tag, what);
}

static int obs_begin(store_tx *tx, void *ctx)
{
    obs_log *l = ctx;
    (void)tx;
    obs_note(l, "begin");
    if (l->fail_begin) {
        l->fail_begin = 0;
        return -1;
    }
    return 0;
}

static int obs_pre_commit(store_tx *tx, void *ctx)
{
    obs_log *l = ctx;
    (void)tx;
    obs_note(l, "pre_commit");
    if (l->fail_pre_commit) {
        l->fail_pre_commit = 0;
        return -1;
    }
    return 0;
}

static void obs_done(int committed, void *ctx)
{
    obs_note(ctx, committed ? "done=1" : "done=0");
}

typedef struct noted_put {
    put_arg put;
    obs_log *log; /* the job notes that it ran, between the observers' calls */
} noted_put;

static int noted_put_need(store_tx *tx, void *arg)
{
    noted_put *p = arg;
    obs_note(p->log, "job");
    return put_need(tx, &p->put);
}

static int need_exists(store *s, const char *name)
{
    store_tx *tx;
    ProtobufCMessage *m = NULL;
    int rc;

    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    rc = store_get(tx, STORE_NEED, name, NULL, &m);
    store_read_end(tx);
    protobuf_c_message_free_unpacked(m, NULL);
    assert_true(rc == STORE_OK || rc == STORE_NOT_FOUND);
    return rc == STORE_OK;
}

static void expect_events(obs_seq *q, const char *const *want, int n)
{
    if (q->n != n)
        fail_msg("%d events, wanted %d (first: %s)", q->n, n, q->n > 0 ? q->events[0] : "-");
    for (int i = 0; i < n; i++)
        if (strcmp(q->events[i], want[i]) != 0)
            fail_msg("event %d is %s, wanted %s", i, q->events[i], want[i]);
    q->n = 0;
}

/* Observers run in registration order around every batch: begin before any
 * job, pre_commit after the last, done before the caller is released; a
 * failing begin or pre_commit fails the batch and nothing of it is kept. */
static void test_observers(void **state)
{
    fixture *f = *state;
    obs_seq q = {0};
    obs_log a = {&q, "a", 0, 0}, b = {&q, "b", 0, 0}, job = {&q, "job", 0, 0};
    store_observer oa = {obs_begin, obs_pre_commit, obs_done, &a};
    store_observer ob = {obs_begin, obs_pre_commit, obs_done, &b};
    noted_put p = {{"needs/o1", 1, 1, 0}, &job};
    int job_rc;

    assert_int_equal(store_observe(f->s, &oa), STORE_OK);
    assert_int_equal(store_observe(f->s, &ob), STORE_OK);
    assert_int_equal(store_write(f->s, noted_put_need, &p, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 0);
    {
        static const char *const want[] = {"a:begin",      "b:begin",  "job:job", "a:pre_commit",
                                           "b:pre_commit", "a:done=1", "b:done=1"};
        expect_events(&q, want, 7);
    }
    assert_true(need_exists(f->s, "needs/o1"));

    /* The second observer's pre_commit refuses: rolled back, both hear it. */
    b.fail_pre_commit = 1;
    p.put.name = "needs/o2";
    assert_int_not_equal(store_write(f->s, noted_put_need, &p, &job_rc), STORE_OK);
    {
        static const char *const want[] = {"a:begin",      "b:begin",  "job:job", "a:pre_commit",
                                           "b:pre_commit", "a:done=0", "b:done=0"};
        expect_events(&q, want, 7);
    }
    assert_false(need_exists(f->s, "needs/o2"));

    /* The first observer's begin refuses: no job, no later begin. */
    a.fail_begin = 1;
    p.put.name = "needs/o3";
    assert_int_not_equal(store_write(f->s, noted_put_need, &p, &job_rc), STORE_OK);
    {
        static const char *const want[] = {"a:begin", "a:done=0", "b:done=0"};
        expect_events(&q, want, 3);
    }
    assert_false(need_exists(f->s, "needs/o3"));

    /* And the next batch is fine again. */
    p.put.name = "needs/o4";
    assert_int_equal(store_write(f->s, noted_put_need, &p, &job_rc), STORE_OK);
    assert_true(need_exists(f->s, "needs/o4"));
}

static void test_observer_limit(void **state)
{
    fixture *f = *state;
    obs_seq q = {0};
    obs_log l = {&q, "x", 0, 0};
    store_observer o = {NULL, NULL, obs_done, &l};

    for (int i = 0; i < STORE_MAX_OBSERVERS; i++)
        assert_int_equal(store_observe(f->s, &o), STORE_OK);
    assert_int_equal(store_observe(f->s, &o), STORE_ERROR);
}

/* ---- store_submit: completion from the committer ---- */

#define SUBMITS 64

typedef struct submit_state {
    store *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int called, durable, seen[SUBMITS];
    put_arg puts[SUBMITS];
    char names[SUBMITS][32];
} submit_state;

typedef struct submit_one {
    submit_state *st;
    int i;
} submit_one;

static void submit_done(int store_rc, int job_rc, void *cb_arg)
{
    submit_one *o = cb_arg;
    submit_state *st = o->st;
    /* Durable by now: a new snapshot already sees the row. */
    int visible = store_rc == STORE_OK && job_rc == 0 && need_exists(st->s, st->names[o->i]);

    pthread_mutex_lock(&st->mu);
    st->called++;
    st->seen[o->i]++;
    st->durable += visible;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

static void test_submit(void **state)
{
    fixture *f = *state;
    submit_state *st = calloc(1, sizeof(*st));
    submit_one one[SUBMITS];
    put_arg refused = {"needs/s-refused", 1, 1, 7};
    int job_rc;

    st->s = f->s;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    for (int i = 0; i < SUBMITS; i++) {
        snprintf(st->names[i], sizeof(st->names[i]), "needs/s%02d", i);
        st->puts[i] = (put_arg){st->names[i], 1, i, 0};
        one[i] = (submit_one){st, i};
        assert_int_equal(store_submit(f->s, put_need, &st->puts[i], submit_done, &one[i]),
                         STORE_OK);
    }
    pthread_mutex_lock(&st->mu);
    while (st->called < SUBMITS)
        pthread_cond_wait(&st->cv, &st->mu);
    pthread_mutex_unlock(&st->mu);
    assert_int_equal(st->durable, SUBMITS);
    for (int i = 0; i < SUBMITS; i++)
        assert_int_equal(st->seen[i], 1); /* exactly once each */
    /* A job's own result reaches its callback; store_write still works beside it. */
    assert_int_equal(store_write(f->s, put_need, &refused, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 7);
    assert_int_equal(store_submit(f->s, put_need, &refused, NULL, NULL), STORE_ERROR);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

static void test_submit_after_close_refused(void **state)
{
    char dir[64] = "/tmp/tallinn-store-XXXXXX", path[96], err[256], cmd[128];
    store_options o = {0};
    store *s;
    put_arg a = {"needs/late", 1, 1, 0};

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/t.db", dir);
    o.path = path;
    o.read_only = 0;
    assert_int_equal(store_open(&s, &o, err, sizeof(err)), STORE_OK);
    store_close(s);
    /* read-only: refused at once, the callback never called */
    assert_int_equal(store_open(&s, &(store_options){.path = path, .read_only = 1}, err,
                                sizeof(err)),
                     STORE_OK);
    assert_int_equal(store_submit(s, put_need, &a, submit_done, NULL), STORE_READONLY);
    store_close(s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- The principals epoch ---- */

typedef struct principal_arg {
    const char *name;
    int role, state;
    int64_t last_use;
    int token; /* 1: set a token hash, -1: clear it, 0: leave it */
    int insert;
    int fail;  /* the job's result after writing */
} principal_arg;

static int put_principal(store_tx *tx, void *arg)
{
    principal_arg *a = arg;
    Tallinn__V1__Principal p = TALLINN__V1__PRINCIPAL__INIT;
    Google__Protobuf__Timestamp lu = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    uint8_t hash[32];
    int rc;

    p.name = (char *)a->name;
    p.display_name = "Kyiv front office";
    p.role = a->role;
    p.state = a->state;
    lu.seconds = a->last_use;
    p.last_use_time = &lu;
    rc = a->insert ? store_insert(tx, STORE_PRINCIPAL, &p.base)
                   : store_update(tx, STORE_PRINCIPAL, &p.base);
    if (rc == STORE_OK && a->token != 0) {
        memset(hash, a->name[strlen(a->name) - 1], sizeof(hash));
        rc = store_principal_set_token(tx, a->name, a->token > 0 ? hash : NULL);
    }
    return rc != STORE_OK ? 100 - rc : a->fail;
}

static uint64_t epoch_of(store *s)
{
    uint64_t e = 0;
    assert_int_equal(store_principals_epoch(s, &e), STORE_OK);
    return e;
}

static void write_principal(store *s, principal_arg a, int want_job_rc)
{
    int job_rc;
    assert_int_equal(store_write(s, put_principal, &a, &job_rc), STORE_OK);
    assert_int_equal(job_rc, want_job_rc);
}

static void test_principals_epoch(void **state)
{
    fixture *f = *state;
    uint64_t e0 = epoch_of(f->s), e;

    /* A new principal moves it (once for the row, once for the token). */
    write_principal(f->s, (principal_arg){"principals/p1", 1, 1, 0, 1, 1, 0}, 0);
    e = epoch_of(f->s);
    assert_true(e > e0);
    /* A last-use time alone leaves it: caches stay warm. */
    write_principal(f->s, (principal_arg){"principals/p1", 1, 1, 1700000000, 0, 0, 0}, 0);
    assert_true(epoch_of(f->s) == e);
    /* A role, a state, a token: each moves it. */
    write_principal(f->s, (principal_arg){"principals/p1", 2, 1, 1700000000, 0, 0, 0}, 0);
    assert_true(epoch_of(f->s) > e);
    e = epoch_of(f->s);
    write_principal(f->s, (principal_arg){"principals/p1", 2, 2, 1700000000, 0, 0, 0}, 0);
    assert_true(epoch_of(f->s) > e);
    e = epoch_of(f->s);
    write_principal(f->s, (principal_arg){"principals/p1", 2, 2, 1700000000, -1, 0, 0}, 0);
    assert_true(epoch_of(f->s) > e);
    e = epoch_of(f->s);
    /* A refused job's bump is rolled back with it: memory follows the database. */
    write_principal(f->s, (principal_arg){"principals/p1", 3, 1, 1700000000, 1, 0, 9}, 9);
    assert_true(epoch_of(f->s) == e);
}

/* A second handle on the same database file stands for another process:
 * with shared = 1 the first reads the epoch from the database and sees the
 * other's change at once; without it (one process: the data-directory lock)
 * it serves its own value from memory. */
static void test_principals_epoch_shared(void **state)
{
    fixture *f = *state;
    store_options o = {.path = f->path, .shared = 1};
    store *other, *shared;
    char err[256];
    uint64_t mem, db;

    assert_int_equal(store_open(&shared, &o, err, sizeof(err)), STORE_OK);
    o.shared = 0;
    assert_int_equal(store_open(&other, &o, err, sizeof(err)), STORE_OK);
    mem = epoch_of(f->s);
    db = epoch_of(shared);
    assert_true(mem == db);
    write_principal(other, (principal_arg){"principals/p9", 1, 1, 0, 1, 1, 0}, 0);
    assert_true(epoch_of(shared) > db);   /* read from the database */
    assert_true(epoch_of(other) > db);    /* its own commit */
    assert_true(epoch_of(f->s) == mem);   /* memory: blind to another writer */
    store_close(other);
    store_close(shared);
}

/* ---- A connection that fails is replaced (the database went away) ---- */

/* The SQLite engine with failures injected on demand: a lost connection is
 * STORE_IO on its next statement, a database that is away refuses to
 * connect. */
static store_engine faulty;
static int connects, connect_fails, list_fails, begin_write_fails;

static int f_connect(store_db *db, int write, store_conn **c, char *err, size_t errlen)
{
    if (connect_fails > 0) {
        connect_fails--;
        snprintf(err, errlen, "connection refused");
        return STORE_IO;
    }
    connects++;
    return store_engine_sqlite.connect(db, write, c, err, errlen);
}

static int f_list(store_conn *c, const store_sql *q, store_row_data_fn fn, void *ctx,
                  int64_t *work)
{
    if (list_fails > 0) {
        list_fails--;
        return STORE_IO;
    }
    return store_engine_sqlite.list(c, q, fn, ctx, work);
}

static int f_begin(store_conn *c, int write)
{
    if (write && begin_write_fails > 0) {
        begin_write_fails--;
        return STORE_IO;
    }
    return store_engine_sqlite.begin(c, write);
}

static int list_all(store *s, int *n)
{
    store_list_query q = {.kind = STORE_NEED, .limit = 1000};
    store_tx *tx;
    int rc;

    *n = 0;
    if ((rc = store_read_begin(s, &tx)) != STORE_OK)
        return rc;
    rc = store_list(tx, &q, count_row, n);
    store_read_end(tx);
    return rc;
}

/* The metrics the store keeps: group-commit batch sizes and commit times,
 * and reads that had to wait for the read pool (max_readers = 1 here). */
static void *read_once(void *arg)
{
    store_tx *tx;

    assert_int_equal(store_read_begin(arg, &tx), STORE_OK); /* waits for the reader */
    store_read_end(tx);
    return NULL;
}

static void test_metrics(void **state)
{
    fixture *f = *state;
    store_options o = {.path = f->path, .max_readers = 1};
    put_arg a = {"needs/m1", 1, 1, 0};
    store_metrics m;
    store_tx *tx;
    pthread_t th;
    store *s;
    char err[256];
    int job_rc;
    uint64_t n = 0;

    assert_int_equal(store_open(&s, &o, err, sizeof(err)), STORE_OK);
    store_get_metrics(s, &m);
    assert_int_equal(m.read_waits, 0);
    assert_int_equal(m.batch_sizes.sum, 0);
    for (int i = 0; i < 3; i++) { /* one at a time: three batches of one job */
        char name[16];
        snprintf(name, sizeof(name), "needs/m%d", i);
        a.name = name;
        assert_int_equal(store_write(s, put_need, &a, &job_rc), STORE_OK);
    }
    assert_int_equal(store_read_begin(s, &tx), STORE_OK); /* the only reader */
    assert_int_equal(pthread_create(&th, NULL, read_once, s), 0);
    usleep(50000);
    store_read_end(tx);
    assert_int_equal(pthread_join(th, NULL), 0);

    store_get_metrics(s, &m);
    assert_int_equal(m.read_waits, 1);
    assert_true(m.read_wait_us >= 40000);
    assert_int_equal(m.batch_sizes.bounds[0], 1);
    assert_int_equal(m.batch_sizes.buckets[0], 3); /* le=1 */
    assert_int_equal(m.batch_sizes.sum, 3);
    for (size_t i = 0; i <= m.commit_us.n; i++)
        n += m.commit_us.buckets[i];
    assert_int_equal(n, 3);
    assert_int_equal(m.batches_failed, 0);
    assert_int_equal(m.readers_max, 1);
    assert_int_equal(m.readers_open, 1);
    store_close(s);
}

static void test_reconnect(void **state)
{
    fixture *f = *state;
    store_options o = {.path = f->path, .max_readers = 1};
    put_arg a = {"needs/r1", 1, 1, 0};
    store *s;
    char err[256];
    int n, job_rc;

    faulty = store_engine_sqlite;
    faulty.connect = f_connect;
    faulty.list = f_list;
    faulty.begin = f_begin;
    connects = connect_fails = list_fails = begin_write_fails = 0;
    assert_int_equal(store__open_engine(&s, &o, &faulty, err, sizeof(err)), STORE_OK);
    assert_int_equal(connects, 1); /* the writer */
    assert_int_equal(store_write(s, put_need, &a, &job_rc), STORE_OK);
    assert_int_equal(list_all(s, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(connects, 2); /* the one reader */

    /* A reader's connection is lost mid-list: this read fails, the next
     * one runs on a new connection. */
    list_fails = 1;
    assert_int_equal(list_all(s, &n), STORE_IO);
    assert_int_equal(list_all(s, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(connects, 3);
    /* Unchanged while it works. */
    assert_int_equal(list_all(s, &n), STORE_OK);
    assert_int_equal(connects, 3);

    /* The writer's connection is found dead at BEGIN (its server went away
     * and came back): replaced once, the batch runs on a new connection. */
    begin_write_fails = 1;
    a.name = "needs/r2";
    assert_int_equal(store_write(s, put_need, &a, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 0);
    assert_true(need_exists(s, "needs/r2"));
    assert_int_equal(connects, 4);
    /* Dead on the new connection too: that batch fails and stores nothing;
     * the next batch runs on a new connection. */
    begin_write_fails = 2;
    a.name = "needs/r3";
    assert_int_equal(store_write(s, put_need, &a, &job_rc), STORE_IO);
    assert_false(need_exists(s, "needs/r3"));
    assert_int_equal(connects, 5);
    assert_int_equal(store_write(s, put_need, &a, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 0);
    assert_true(need_exists(s, "needs/r3"));
    assert_int_equal(connects, 6);

    /* The database is away for a while: calls fail at once (no hang) and
     * work again when it is back, without a restart. */
    list_fails = 1;
    assert_int_equal(list_all(s, &n), STORE_IO);
    connect_fails = 2;
    assert_int_equal(list_all(s, &n), STORE_IO);
    assert_int_equal(list_all(s, &n), STORE_IO);
    assert_int_equal(list_all(s, &n), STORE_OK);
    assert_int_equal(n, 3);
    begin_write_fails = 2;
    a.name = "needs/r4";
    assert_int_equal(store_write(s, put_need, &a, &job_rc), STORE_IO);
    connect_fails = 1;
    assert_int_equal(store_write(s, put_need, &a, &job_rc), STORE_IO);
    assert_int_equal(store_write(s, put_need, &a, &job_rc), STORE_OK);
    assert_true(need_exists(s, "needs/r4"));
    store_close(s);
}

/* ---- Migration 6 over an existing log ---- */

static void test_migration_6_head(void **state)
{
    fixture *f = *state;
    store_options o = {.path = f->path};
    char err[256], current[64];
    sqlite3 *db;
    store_tx *tx;
    int64_t head = -1;

    store_close(f->s);
    f->s = NULL;
    /* A database as migration 5 left it, with three audit leaves (the
     * tables of later migrations dropped too). */
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE audit_head; DROP TABLE principals_epoch;"
                                  " DROP TABLE exchange_rates;"
                                  " DROP TABLE changes; DROP TABLE change_log_start;"
                                  " DROP TABLE audit_witnesses; DROP TABLE audit_cosignatures;"
                                  " DROP TABLE audit_quorums;"
                                  " DROP TABLE match_totals; DROP TRIGGER match_totals_insert;"
                                  " DROP TRIGGER match_totals_delete;"
                                  " DROP TRIGGER match_totals_update;"
                                  " ALTER TABLE donors DROP COLUMN display_name_fold;"
                                  " ALTER TABLE needs DROP COLUMN title_fold;"
                                  " INSERT INTO audit_leaves(idx, data) VALUES(0, x'00'), (1, x'01'),"
                                  " (2, x'02'); PRAGMA user_version = 5;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(&f->s, &o, err, sizeof(err)), STORE_OK);
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    assert_int_equal(store_audit_head(tx, &head), STORE_OK);
    store_read_end(tx);
    assert_true(head == 3);
    assert_true(epoch_of(f->s) == 1);
    /* A schema newer than the binary is refused, saying so. */
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    {
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        snprintf(current, sizeof(current), "PRAGMA user_version = %d", sqlite3_column_int(st, 0));
        sqlite3_finalize(st);
    }
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_not_equal(store_open(&f->s, &o, err, sizeof(err)), STORE_OK);
    assert_non_null(strstr(err, "newer than this tallinnd"));
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, current, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(&f->s, &o, err, sizeof(err)), STORE_OK);
}

/* ---- Migration 10: the folded columns of rows written before ---- */

static void test_migration_8_folds(void **state)
{
    fixture *f = *state;
    store_options o = {.path = f->path};
    char err[256];
    sqlite3 *db;
    store_tx *tx;
    collect c = {0};
    filter *flt = parse_filter(STORE_NEED, "title : \"GRID OPERATOR\"");
    store_list_query q = {.kind = STORE_NEED, .filter = flt, .limit = 10};

    write_need(f->s, "needs/m1", 6, 1000);
    store_close(f->s);
    f->s = NULL;
    /* A database as migration 9 left it: no folded columns. */
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "ALTER TABLE donors DROP COLUMN display_name_fold;"
                                  " ALTER TABLE needs DROP COLUMN title_fold;"
                                  " DROP TABLE audit_quorums;"
                                  " DROP TABLE match_totals; DROP TRIGGER match_totals_insert;"
                                  " DROP TRIGGER match_totals_delete;"
                                  " DROP TRIGGER match_totals_update;"
                                  " PRAGMA user_version = 9;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(&f->s, &o, err, sizeof(err)), STORE_OK);
    /* the old row is found by a search: its folded title was filled in */
    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    assert_int_equal(store_list(tx, &q, collect_row, &c), STORE_OK);
    store_read_end(tx);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.names[0], "needs/m1");
    /* by the same fold as a write's (store_kinds.c) */
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    {
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT title_fold FROM needs", -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0),
                            "firewalls for a regional grid operator");
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    filter_destroy(flt);
}

static void test_unknown_database_url(void **state)
{
    store_options o = {.path = "/tmp/x.db", .database_url = "mysql://root:secret@db/tallinn"};
    store *s = NULL;
    char err[256] = "";
    (void)state;
    assert_int_not_equal(store_open(&s, &o, err, sizeof(err)), STORE_OK);
    assert_null(s);
    assert_non_null(strstr(err, "postgresql://"));
    assert_null(strstr(err, "secret")); /* never echoed */
}

/* The read-mark keeper (store_sqlite.c) holds a read transaction while the
 * writer is idle. It must never hold one across the writer's transactions:
 * else the writer's checkpoints could not pass its read mark and the WAL
 * could never restart from its beginning, growing with every write. Here
 * 3,000 commits, each followed by reads, must leave the WAL within the
 * bound the checkpoints keep (the writer's own past 4,000 pages) while far
 * more than that was written, the database file must have received the
 * checkpointed pages, every read must see the commit before it, and a
 * closed store must leave no WAL behind. */
static void test_wal_bounded_while_reading(void **state)
{
    fixture *f = *state;
    char wal[128], name[32];
    long wal_max = 0, wal_bytes;

    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    for (int i = 0; i < 3000; i++) {
        store_tx *tx;
        ProtobufCMessage *m = NULL;

        snprintf(name, sizeof(name), "needs/w%d", i);
        write_need(f->s, name, 1, i);
        assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
        assert_int_equal(store_get(tx, STORE_NEED, name, NULL, &m), STORE_OK);
        assert_int_equal(((Tallinn__V1__Need *)m)->estimated_cost->units, i);
        protobuf_c_message_free_unpacked(m, NULL);
        store_read_end(tx);
        if ((wal_bytes = file_size(wal)) > wal_max)
            wal_max = wal_bytes;
    }
    assert_true(wal_max > 0);
    /* The writer checkpoints itself past 4,000 pages (16 MiB) when the
     * checkpointer thread has not let the WAL start over (above). */
    if (wal_max >= 20L * 1024 * 1024)
        fail_msg("the WAL reached %ld bytes", wal_max);
    /* Checkpoints reached the database file: it holds the rows now. */
    assert_true(file_size(f->path) > 512L * 1024);
    /* A stopped store leaves everything in the database file: its last
     * connection (the writer, after the keeper) checkpoints and removes the
     * WAL. */
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(file_size(wal), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insert_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_insert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_rollback_is_its_own, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_where_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stored_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_refuses_misfits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_writes, setup, teardown),
        cmocka_unit_test(test_open_failure_says_why),
        cmocka_unit_test_setup_teardown(test_observers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observer_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit, setup, teardown),
        cmocka_unit_test(test_submit_after_close_refused),
        cmocka_unit_test_setup_teardown(test_principals_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_principals_epoch_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_6_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_8_folds, setup, teardown),
        cmocka_unit_test(test_unknown_database_url),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_checkpointed_and_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_bounded_while_reading, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
