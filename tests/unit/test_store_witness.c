/* test_store_witness.c — the audit log's witnesses in the store, on either
 * engine (unit.store_witness, and unit.store_witness.pg on a fresh
 * PostgreSQL database): the size a witness last cosigned never goes down,
 * one cosignature per (size, witness) and the first one stays, lines come
 * back in witness order, and the newest size with a quorum of lines — kept
 * per count of lines as lines come, and filled by the migration that added
 * that table from the lines kept before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tallinn/store.h"
#include "test_db.h"

#define WA "w.a/1+00000001+BAAA"
#define WB "w.b/1+00000002+BAAA"
#define WC "w.c/1+00000003+BAAA"

typedef struct fixture {
    char dir[64];
    store *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    store_options o = {0};
    char path[96], err[256];

    strcpy(f->dir, "/tmp/tallinn-store-witness-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(path, sizeof path, "%s/t.db", f->dir);
    o.path = path;
    o.database_url = test_pg_url(); /* unit.store_witness.pg */
    o.shared = o.database_url != NULL;
    if (store_open(&f->s, &o, err, sizeof err) != STORE_OK)
        fail_msg("store_open: %s", err);
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

typedef struct op {
    const char *witness;
    int64_t size;
    const char *line; /* NULL: raise the size only */
    int want;         /* store_cosignature_put's result */
} op;

static int apply(store_tx *tx, void *arg)
{
    const op *o = arg;
    if (o->line == NULL)
        return store_witness_size_raise(tx, o->witness, o->size) == STORE_OK ? 0 : 1;
    if (store_cosignature_put(tx, o->size, o->witness, (const uint8_t *)o->line,
                              strlen(o->line)) != o->want)
        return 2;
    return 0;
}

static void run(store *s, const char *witness, int64_t size, const char *line, int want)
{
    op o = {witness, size, line, want};
    int job_rc = -1;
    assert_int_equal(store_write(s, apply, &o, &job_rc), STORE_OK);
    assert_int_equal(job_rc, 0);
}

static int64_t witness_size(store *s, const char *witness, int want)
{
    store_tx *tx;
    int64_t size = -1;
    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    assert_int_equal(store_witness_size(tx, witness, &size), want);
    store_read_end(tx);
    return size;
}

static void test_size_never_goes_down(void **state)
{
    fixture *f = *state;

    witness_size(f->s, WA, STORE_NOT_FOUND);
    run(f->s, WA, 7, NULL, 0);
    assert_int_equal(witness_size(f->s, WA, STORE_OK), 7);
    run(f->s, WA, 12, NULL, 0);
    assert_int_equal(witness_size(f->s, WA, STORE_OK), 12);
    run(f->s, WA, 9, NULL, 0); /* a replica that learnt an older size late */
    assert_int_equal(witness_size(f->s, WA, STORE_OK), 12);
    witness_size(f->s, WB, STORE_NOT_FOUND);
}

typedef struct seen {
    char text[512];
    int count;
} seen;

static int collect(const char *witness, const uint8_t *line, size_t len, void *ctx)
{
    seen *s = ctx;
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof s->text - n, "%s=%.*s;", witness, (int)len, (const char *)line);
    s->count++;
    return 0;
}

static int stop_after_one(const char *witness, const uint8_t *line, size_t len, void *ctx)
{
    (void)witness;
    (void)line;
    (void)len;
    ++*(int *)ctx;
    return 1;
}

static void test_cosignatures(void **state)
{
    fixture *f = *state;
    store_tx *tx;
    seen s = {"", 0};
    int64_t size = -1;
    int calls = 0;

    run(f->s, WB, 5, "b5\n", STORE_OK);
    run(f->s, WA, 5, "a5\n", STORE_OK);
    run(f->s, WA, 5, "other\n", STORE_EXISTS); /* the first line stays */
    run(f->s, WA, 8, "a8\n", STORE_OK);
    run(f->s, WC, 9, "c9\n", STORE_OK);
    run(f->s, WB, 9, "b9\n", STORE_OK);
    run(f->s, WA, 11, "a11\n", STORE_OK);

    assert_int_equal(store_read_begin(f->s, &tx), STORE_OK);
    assert_int_equal(store_cosignatures(tx, 5, collect, &s), STORE_OK);
    assert_string_equal(s.text, WA "=a5\n;" WB "=b5\n;");
    assert_int_equal(store_cosignatures(tx, 5, stop_after_one, &calls), STORE_OK);
    assert_int_equal(calls, 1);
    s.text[0] = '\0';
    s.count = 0;
    assert_int_equal(store_cosignatures(tx, 6, collect, &s), STORE_OK);
    assert_int_equal(s.count, 0);

    /* Newest size below `before` with at least `count` lines. */
    assert_int_equal(store_cosigned_size(tx, INT64_MAX, 2, &size), STORE_OK);
    assert_int_equal(size, 9);
    assert_int_equal(store_cosigned_size(tx, 9, 2, &size), STORE_OK);
    assert_int_equal(size, 5);
    assert_int_equal(store_cosigned_size(tx, INT64_MAX, 1, &size), STORE_OK);
    assert_int_equal(size, 11);
    assert_int_equal(store_cosigned_size(tx, 5, 2, &size), STORE_NOT_FOUND);
    assert_int_equal(store_cosigned_size(tx, INT64_MAX, 3, &size), STORE_NOT_FOUND);
    assert_int_equal(store_cosigned_size(tx, INT64_MAX, 0, &size), STORE_ERROR);
    /* Writes are refused in a read transaction. */
    assert_int_equal(store_cosignature_put(tx, 1, WA, (const uint8_t *)"x\n", 2), STORE_ERROR);
    assert_int_equal(store_witness_size_raise(tx, WA, 1), STORE_ERROR);
    store_read_end(tx);
}

static void expect_sizes(store *s, const int64_t want[4])
{
    store_tx *tx;
    int64_t size = -1;

    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    for (int k = 1; k <= 4; k++) {
        int rc = store_cosigned_size(tx, INT64_MAX, k, &size);
        if (want[k - 1] < 0) {
            assert_int_equal(rc, STORE_NOT_FOUND);
        } else {
            assert_int_equal(rc, STORE_OK);
            assert_int_equal(size, want[k - 1]);
        }
    }
    store_read_end(tx);
}

/* A line for an older checkpoint raises the count it reached there but
 * never lowers the newest size of a smaller count; the migration's fill
 * from the lines kept gives the same answers as the lines' arrival did. */
static void test_quorum_per_count(void **state)
{
    fixture *f = *state;
    const int64_t none[4] = {-1, -1, -1, -1};
    const int64_t after[4] = {11, 9, 5, -1};
    store_options o = {0};
    char path[96], err[256];

    snprintf(path, sizeof path, "%s/t.db", f->dir);
    /* PostgreSQL: one database for the whole run (the other cases' lines) */
    test_db_sql(path, "DELETE FROM audit_cosignatures; DELETE FROM audit_quorums;",
                "DELETE FROM audit_cosignatures; DELETE FROM audit_quorums;");
    expect_sizes(f->s, none);
    run(f->s, WB, 5, "b5\n", STORE_OK);
    run(f->s, WA, 5, "a5\n", STORE_OK);
    run(f->s, WC, 9, "c9\n", STORE_OK);
    run(f->s, WB, 9, "b9\n", STORE_OK);
    run(f->s, WA, 11, "a11\n", STORE_OK);
    run(f->s, WA, 11, "again\n", STORE_EXISTS); /* counted once */
    run(f->s, WC, 5, "c5\n", STORE_OK);          /* 5 reaches three lines, late */
    expect_sizes(f->s, after);

    store_close(f->s);
    f->s = NULL;
    /* Back to before the quorums' migration, with what later ones made. */
    test_db_sql(path,
                "DROP TABLE audit_quorums; DROP TABLE match_totals;"
                " DROP TRIGGER match_totals_insert; DROP TRIGGER match_totals_delete;"
                " DROP TRIGGER match_totals_update; PRAGMA user_version = 10;",
                "DROP TABLE audit_quorums; DROP TRIGGER match_totals ON matches;"
                " DROP FUNCTION match_totals_apply(); DROP TABLE match_totals;"
                " UPDATE schema_version SET version = 5;");
    o.path = path;
    o.database_url = test_pg_url();
    o.shared = o.database_url != NULL;
    if (store_open(&f->s, &o, err, sizeof err) != STORE_OK)
        fail_msg("store_open after the rollback: %s", err);
    expect_sizes(f->s, after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_size_never_goes_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cosignatures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quorum_per_count, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_witness", tests, NULL, NULL);
}
