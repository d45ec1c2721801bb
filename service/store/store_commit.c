/* store_commit.c — the committer: write jobs run by one thread in group
 * commits (one transaction per batch, a savepoint per job), the batch's
 * observers around them, and callers released only once the batch is
 * durable — store_write's waiting, store_submit's callbacks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/slog.h"
#include "store/store_internal.h"

static void fail_jobs(store_job *batch, int rc)
{
    for (store_job *j = batch; j != NULL; j = j->next)
        j->store_rc = rc;
}

/* Runs the jobs of a batch inside the open transaction; the batch's
 * result (a failure fails every job). */
static int run_jobs(store *s, store_tx *tx, store_job *batch)
{
    int rc = STORE_OK;

    for (store_job *j = batch; j != NULL; j = j->next) {
        j->store_rc = rc;
        if (rc != STORE_OK)
            continue;
        if ((rc = store__rec(tx, s->eng->savepoint(CONN(tx), 0))) != STORE_OK) {
            j->store_rc = rc;
            continue;
        }
        store__changes_drop(tx, 0);
        j->job_rc = j->fn(tx, j->arg);
        if (j->job_rc == 0 && tx->n_changes > 0) {
            /* The change log's invariant: no change without its audit
             * record. A job that broke it is a bug, and it may have
             * appended records before (observers keep them in memory): the
             * whole batch is rolled back, as for any failure. */
            SLOG(SLOG_ERROR, "change_without_record",
                 SLOG_S("kind", store_kinds[tx->changes[0].kind].table),
                 SLOG_S("name", tx->changes[0].name));
            store__changes_drop(tx, 0);
            rc = j->store_rc = STORE_ERROR;
            continue;
        }
        store__changes_drop(tx, 0);
        if (!s->eng->in_transaction(CONN(tx))) {
            /* The engine ended the whole transaction (disk full, I/O, a
             * lost connection): every job of the batch fails with that. */
            rc = tx->err != STORE_OK ? tx->err : STORE_IO;
            j->store_rc = rc;
            continue;
        }
        if (j->job_rc != 0 && (rc = store__rec(tx, s->eng->rollback_to(CONN(tx), 0))) != STORE_OK) {
            j->store_rc = rc;
            continue;
        }
        if ((rc = store__rec(tx, s->eng->release(CONN(tx), 0))) != STORE_OK)
            j->store_rc = rc;
    }
    return rc;
}

static void run_batch(store *s, store_job *batch)
{
    store_observer obs[STORE_MAX_OBSERVERS];
    store_tx tx = {.s = s, .slot = &s->writer, .write = 1, .err = STORE_OK};
    int n_obs, rc, began = 0;
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_mutex_lock(&s->wmu);
    n_obs = s->n_observers;
    memcpy(obs, s->observers, (size_t)n_obs * sizeof(obs[0]));
    pthread_mutex_unlock(&s->wmu);

    if ((rc = store__begin(s, &tx, 1)) == STORE_OK)
        began = 1;
    for (int i = 0; rc == STORE_OK && i < n_obs; i++)
        if (obs[i].begin != NULL && obs[i].begin(&tx, obs[i].ctx) != 0)
            rc = tx.err != STORE_OK ? tx.err : STORE_ERROR;
    if (rc == STORE_OK)
        rc = run_jobs(s, &tx, batch);
    else
        fail_jobs(batch, rc);
    for (int i = 0; rc == STORE_OK && i < n_obs; i++)
        if (obs[i].pre_commit != NULL && obs[i].pre_commit(&tx, obs[i].ctx) != 0)
            rc = tx.err != STORE_OK ? tx.err : STORE_ERROR;
    store__changes_drop(&tx, 0);
    if (rc == STORE_OK)
        rc = store__rec(&tx, s->eng->commit(CONN(&tx)));
    if (rc != STORE_OK) {
        if (began && s->writer.c != NULL && s->eng->in_transaction(s->writer.c))
            store__rec(&tx, s->eng->rollback(s->writer.c));
        SLOG(SLOG_ERROR, "write_batch_failed", SLOG_S("error", store_strerror(rc)));
        atomic_fetch_add_explicit(&s->batches_failed, 1, memory_order_relaxed);
    } else if (tx.epoch_touched) {
        store__epoch_refresh(s);
    }
    /* From the batch's start to its COMMIT (or ROLLBACK) returning: what
     * the batch's callers waited for, their queueing aside. */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    metrics_hist_observe(&s->commit_us, store__elapsed_us(&t0, &t1));
    for (int i = 0; i < n_obs; i++)
        if (obs[i].done != NULL)
            obs[i].done(rc == STORE_OK, obs[i].ctx);

    /* Durable (or failed): release the callers. store_write's waiters are
     * woken together, under one lock: the lock is taken once a batch, not
     * once a caller, and a woken caller finds it free. Then store_submit's
     * callbacks run (tallinnd's send the responses: no thread waits). */
    store_job *cbs = NULL, **cbt = &cbs;
    pthread_mutex_lock(&s->wmu);
    for (store_job *j = batch, *next; j != NULL; j = next) {
        next = j->next; /* j may be gone once released */
        if (rc != STORE_OK)
            j->store_rc = rc;
        if (j->done_cb != NULL) {
            j->next = NULL;
            *cbt = j;
            cbt = &j->next;
            continue;
        }
        j->finished = 1;
        pthread_cond_signal(j->cv);
    }
    pthread_mutex_unlock(&s->wmu);
    for (store_job *j = cbs, *next; j != NULL; j = next) {
        next = j->next;
        j->done_cb(j->store_rc, j->job_rc, j->cb_arg);
        free(j);
    }
}

static void *committer_main(void *arg)
{
    store *s = arg;

    for (;;) {
        store_job *batch, **cut;
        int n = 0;

        pthread_mutex_lock(&s->wmu);
        while (s->head == NULL && !s->closing)
            pthread_cond_wait(&s->wcv, &s->wmu);
        if (s->head == NULL) {
            pthread_mutex_unlock(&s->wmu);
            break;
        }
        batch = s->head;
        for (cut = &s->head; *cut != NULL && n < s->opts.max_batch; cut = &(*cut)->next)
            n++;
        s->head = *cut;
        *cut = NULL;
        if (s->head == NULL)
            s->tail = &s->head;
        pthread_mutex_unlock(&s->wmu);
        metrics_hist_observe(&s->batch_sizes, (uint64_t)n);
        run_batch(s, batch);
    }
    return NULL;
}

/* Queues j; STORE_OK or why not (then nothing was queued). Under wmu. */
static int enqueue(store *s, store_job *j)
{
    if (s->opts.read_only)
        return STORE_READONLY;
    if (s->closing || !s->committer_started)
        return STORE_SHUTDOWN;
    *s->tail = j;
    s->tail = &j->next;
    pthread_cond_signal(&s->wcv);
    return STORE_OK;
}

int store_write(store *s, store_job_fn fn, void *arg, int *job_rc)
{
    pthread_cond_t cv;
    store_job j = {.fn = fn, .arg = arg, .cv = &cv};
    int rc;

    *job_rc = 0;
    if (s->opts.read_only)
        return STORE_READONLY;
    pthread_cond_init(&cv, NULL);
    pthread_mutex_lock(&s->wmu);
    if ((rc = enqueue(s, &j)) == STORE_OK)
        while (!j.finished)
            pthread_cond_wait(&cv, &s->wmu);
    pthread_mutex_unlock(&s->wmu);
    pthread_cond_destroy(&cv);
    if (rc != STORE_OK)
        return rc;
    *job_rc = j.job_rc;
    return j.store_rc;
}

int store_submit(store *s, store_job_fn fn, void *arg, store_done_fn done_cb, void *cb_arg)
{
    store_job *j;
    int rc;

    if (done_cb == NULL)
        return STORE_ERROR;
    if (s->opts.read_only)
        return STORE_READONLY;
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return STORE_NOMEM;
    j->fn = fn;
    j->arg = arg;
    j->done_cb = done_cb;
    j->cb_arg = cb_arg;
    pthread_mutex_lock(&s->wmu);
    rc = enqueue(s, j);
    pthread_mutex_unlock(&s->wmu);
    if (rc != STORE_OK)
        free(j);
    return rc;
}

int store_observe(store *s, const store_observer *o)
{
    int rc = STORE_ERROR;

    pthread_mutex_lock(&s->wmu);
    if (o != NULL && s->n_observers < STORE_MAX_OBSERVERS) {
        s->observers[s->n_observers++] = *o;
        rc = STORE_OK;
    }
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

int store_savepoint(store_tx *tx)
{
    if (!tx->write)
        return STORE_ERROR;
    tx->changes_mark = tx->n_changes;
    return store__rec(tx, ENG(tx)->savepoint(CONN(tx), 1));
}

int store_savepoint_end(store_tx *tx, int keep)
{
    int rc;

    if (!tx->write)
        return STORE_ERROR;
    if (!keep) {
        if ((rc = store__rec(tx, ENG(tx)->rollback_to(CONN(tx), 1))) != STORE_OK)
            return rc;
        store__changes_drop(tx, tx->changes_mark); /* undone: nothing to record */
    }
    return store__rec(tx, ENG(tx)->release(CONN(tx), 1));
}


int store__committer_start(store *s)
{
    if (pthread_create(&s->committer, NULL, committer_main, s) != 0)
        return -1;
    s->committer_started = 1;
    return 0;
}

void store__committer_stop(store *s)
{
    if (!s->committer_started)
        return;
    pthread_mutex_lock(&s->wmu);
    s->closing = 1;
    pthread_cond_signal(&s->wcv);
    pthread_mutex_unlock(&s->wmu);
    pthread_join(s->committer, NULL);
    s->committer_started = 0;
}
