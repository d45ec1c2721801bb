/* test_store_pg.c — the PostgreSQL engine's pipeline (store_pg.c): a job
 * whose statement fails is rolled back to its savepoint and the others of
 * its batch commit; a deferred statement that fails fails its whole batch;
 * a read is one snapshot though its COMMIT is not waited for; a pooled
 * connection whose backend died is replaced within the call. Runs only as
 * unit.store_pg.pg, on the database of tests/pg/pgcluster.py run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "tallinn/store.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/need.pb-c.h"
#include "test_db.h"

static int setup(void **state)
{
    store_options o = {.path = "/nonexistent", .database_url = test_pg_url()};
    char err[256];
    store *s = NULL;

    if (test_pg_url() == NULL)
        fail_msg("TALLINN_TEST_DATABASE_URL is not set: run as unit.store_pg.pg");
    test_pg_sql("DROP OWNED BY CURRENT_USER", NULL, 0); /* each test on an empty database */
    if (store_open(&s, &o, err, sizeof(err)) != STORE_OK)
        fail_msg("store_open: %s", err);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    store_close(*state);
    return 0;
}

/* ---- Jobs ---- */

typedef struct job {
    const char *need;   /* inserted first, when set */
    const char *pledge; /* then a pledge of a donor that does not exist: a
                           foreign key violation, a statement that fails */
    int append_at;      /* then (>= 0) an audit leaf at this index */
    pthread_mutex_t *gate; /* held by the test: the job waits for it */
    int store_rc, job_rc, done, started;
} job;

static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;

static int run_job(store_tx *tx, void *arg)
{
    job *j = arg;
    int rc;

    if (j->gate != NULL) { /* keeps the committer here while the test queues more */
        pthread_mutex_lock(&done_mu);
        j->started = 1;
        pthread_cond_broadcast(&done_cv);
        pthread_mutex_unlock(&done_mu);
        pthread_mutex_lock(j->gate);
        pthread_mutex_unlock(j->gate);
    }
    if (j->need != NULL) {
        Tallinn__V1__Need n = TALLINN__V1__NEED__INIT;
        n.name = (char *)j->need;
        n.title = "Firewalls";
        n.state = TALLINN__V1__NEED__STATE__STATE_DRAFT;
        if ((rc = store_insert(tx, STORE_NEED, &n.base)) != STORE_OK)
            return 100 - rc;
    }
    if (j->pledge != NULL) {
        Tallinn__V1__Pledge p = TALLINN__V1__PLEDGE__INIT;
        p.name = (char *)j->pledge;
        p.fiscal_year = 2026;
        if ((rc = store_insert(tx, STORE_PLEDGE, &p.base)) != STORE_OK)
            return 100 - rc;
    }
    if (j->append_at >= 0 &&
        (rc = store_audit_append(tx, j->append_at, (const uint8_t *)"leaf", 4)) != STORE_OK)
        return 100 - rc;
    return 0;
}

static void job_done(int store_rc, int job_rc, void *arg)
{
    job *j = arg;

    pthread_mutex_lock(&done_mu);
    j->store_rc = store_rc;
    j->job_rc = job_rc;
    j->done = 1;
    pthread_cond_broadcast(&done_cv);
    pthread_mutex_unlock(&done_mu);
}

/* Runs jobs[1..n) in one batch: jobs[0] holds the committer (its own
 * batch) until the others are queued. */
static void run_batch(store *s, job *jobs, int n)
{
    pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

    pthread_mutex_lock(&gate);
    jobs[0].gate = &gate;
    assert_int_equal(store_submit(s, run_job, &jobs[0], job_done, &jobs[0]), STORE_OK);
    pthread_mutex_lock(&done_mu);
    while (!jobs[0].started)
        pthread_cond_wait(&done_cv, &done_mu);
    pthread_mutex_unlock(&done_mu);
    for (int i = 1; i < n; i++)
        assert_int_equal(store_submit(s, run_job, &jobs[i], job_done, &jobs[i]), STORE_OK);
    pthread_mutex_unlock(&gate);
    pthread_mutex_lock(&done_mu);
    for (int i = 0; i < n; i++)
        while (!jobs[i].done)
            pthread_cond_wait(&done_cv, &done_mu);
    pthread_mutex_unlock(&done_mu);
}

static int has_need(store *s, const char *name)
{
    store_tx *tx;
    ProtobufCMessage *m = NULL;
    int rc;

    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    rc = store_get(tx, STORE_NEED, name, NULL, &m);
    store_read_end(tx);
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
    assert_true(rc == STORE_OK || rc == STORE_NOT_FOUND);
    return rc == STORE_OK;
}

/* A statement that fails inside a job (after the job wrote a need) fails
 * that job only: its need is gone, the jobs around it commit, and the
 * deferred savepoints of the jobs after it are not disturbed. */
static void test_failed_statement_fails_its_job_only(void **state)
{
    store *s = *state;
    job jobs[] = {
        {.need = "needs/gate", .append_at = -1},
        {.need = "needs/one", .append_at = -1},
        {.need = "needs/two", .pledge = "donors/nobody/pledges/p1", .append_at = -1},
        {.need = "needs/three", .append_at = -1},
    };

    run_batch(s, jobs, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(jobs[i].store_rc, STORE_OK);
    assert_int_equal(jobs[1].job_rc, 0);
    assert_int_equal(jobs[2].job_rc, 100 - STORE_ERROR);
    assert_int_equal(jobs[3].job_rc, 0);
    assert_true(has_need(s, "needs/one"));
    assert_false(has_need(s, "needs/two"));
    assert_true(has_need(s, "needs/three"));
}

/* A deferred statement that fails (an audit leaf where one is already)
 * fails the whole batch: nothing of it is stored, every caller hears it. */
static void test_deferred_failure_fails_batch(void **state)
{
    store *s = *state;
    job first[] = {{.need = "needs/gate", .append_at = 0}};
    job jobs[] = {
        {.need = "needs/g2", .append_at = -1},
        {.need = "needs/a", .append_at = -1},
        {.append_at = 0}, /* taken */
        {.need = "needs/b", .append_at = -1},
    };

    run_batch(s, first, 1);
    assert_int_equal(first[0].store_rc, STORE_OK);
    assert_int_equal(first[0].job_rc, 0);
    run_batch(s, jobs, 4);
    assert_int_equal(jobs[0].store_rc, STORE_OK);
    for (int i = 1; i < 4; i++)
        assert_int_equal(jobs[i].store_rc, STORE_CORRUPT);
    assert_false(has_need(s, "needs/a"));
    assert_false(has_need(s, "needs/b"));
    /* The connection is usable afterwards. */
    jobs[1].done = jobs[1].started = 0;
    jobs[1].need = "needs/c";
    run_batch(s, &jobs[1], 1);
    assert_int_equal(jobs[1].store_rc, STORE_OK);
    assert_true(has_need(s, "needs/c"));
}

/* A read is one snapshot: a write committed between its two statements is
 * not seen by the second; the next read (its COMMIT not waited for) sees it. */
static void test_read_snapshot(void **state)
{
    store *s = *state;
    job w[] = {{.need = "needs/early", .append_at = -1}};
    job later[] = {{.need = "needs/late", .append_at = -1}};
    store_tx *tx;
    ProtobufCMessage *m = NULL;

    run_batch(s, w, 1);
    for (int round = 0; round < 20; round++) /* the pool's connections, reused */
        assert_true(has_need(s, "needs/early"));
    assert_int_equal(store_read_begin(s, &tx), STORE_OK);
    assert_int_equal(store_get(tx, STORE_NEED, "needs/early", NULL, &m), STORE_OK);
    protobuf_c_message_free_unpacked(m, NULL);
    run_batch(s, later, 1);
    assert_int_equal(later[0].store_rc, STORE_OK);
    assert_int_equal(store_get(tx, STORE_NEED, "needs/late", NULL, &m), STORE_NOT_FOUND);
    store_read_end(tx);
    assert_true(has_need(s, "needs/late"));
}

/* Backends killed under the pool (a restarted server): the next read, the
 * epoch and the next batch each find their connection dead at their first
 * statement and run again on a new one; no call fails. */
static void test_dead_connections_replaced(void **state)
{
    store *s = *state;
    job w[] = {{.need = "needs/before", .append_at = -1}};
    job after[] = {{.need = "needs/after", .append_at = -1}};
    char killed[32];
    uint64_t epoch;

    run_batch(s, w, 1);
    assert_true(has_need(s, "needs/before"));
    test_pg_sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name IN ('tallinnd reader', 'tallinnd writer')"
                " AND datname = current_database()",
                killed, sizeof(killed));
    assert_true(atoi(killed) >= 2);
    assert_true(has_need(s, "needs/before"));
    assert_int_equal(store_principals_epoch(s, &epoch), STORE_OK);
    run_batch(s, after, 1);
    assert_int_equal(after[0].store_rc, STORE_OK);
    assert_int_equal(after[0].job_rc, 0);
    assert_true(has_need(s, "needs/after"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failed_statement_fails_its_job_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_failure_fails_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_connections_replaced, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
