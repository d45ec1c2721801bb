/* changes_wait.c — waiting for new positions of the change log: a commit
 * observer wakes the waiters of this process after each committed batch, and
 * each waiter also reads the audit head at a bounded interval, because on a
 * shared database (PostgreSQL, several replicas) another process may commit
 * and no observer of ours hears of it. Nothing but the wake-up lives in
 * memory: the head read from the database decides. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "changes.h"

struct changes_waiter {
    store *store;
    int poll_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* CLOCK_MONOTONIC */
    uint64_t generation; /* committed batches of this process, under mu */
    int stopping;
};

static void committed(int ok, void *ctx)
{
    changes_waiter *w = ctx;

    if (!ok)
        return;
    pthread_mutex_lock(&w->mu);
    w->generation++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int changes_waiter_create(changes_waiter **out, store *s, int poll_ms)
{
    changes_waiter *w = calloc(1, sizeof(*w));
    pthread_condattr_t attr;
    store_observer o = {NULL, NULL, committed, NULL};

    *out = NULL;
    if (w == NULL)
        return STORE_NOMEM;
    w->store = s;
    w->poll_ms = poll_ms;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &attr);
    pthread_condattr_destroy(&attr);
    o.ctx = w;
    if (store_observe(s, &o) != STORE_OK) {
        changes_waiter_destroy(w);
        return STORE_ERROR;
    }
    *out = w;
    return STORE_OK;
}

void changes_waiter_destroy(changes_waiter *w)
{
    if (w == NULL)
        return;
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

void changes_waiter_shutdown(changes_waiter *w)
{
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int read_head(store *s, int64_t *head)
{
    store_tx *tx;
    int rc = store_read_begin(s, &tx);

    if (rc != STORE_OK)
        return rc;
    rc = store_audit_head(tx, head);
    store_read_end(tx);
    return rc;
}

static int stopped(changes_waiter *w, rpc_call *call)
{
    return w->stopping ||
           (call != NULL && (rpc_call_cancelled(call) || rpc_call_draining(call)));
}

int changes_wait(changes_waiter *w, int64_t pos, int timeout_ms, rpc_call *call, int64_t *head)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int rc = CHANGES_WAIT_TIMEOUT;

    if (call != NULL)
        rpc_call_notify_cancel(call, &w->mu, &w->cv);
    for (;;) {
        uint64_t gen;
        int64_t left, wait_ms;
        int r;

        pthread_mutex_lock(&w->mu);
        gen = w->generation; /* before the read: a commit after it wakes us */
        r = stopped(w, call);
        pthread_mutex_unlock(&w->mu);
        if (r) {
            rc = CHANGES_WAIT_STOPPED;
            break;
        }
        if ((r = read_head(w->store, head)) != STORE_OK) {
            rc = r;
            break;
        }
        if (*head > pos) {
            rc = CHANGES_WAIT_MOVED;
            break;
        }
        if ((left = deadline - now_ms()) <= 0)
            break;
        /* Sleep until a commit of ours, the next poll, or the deadline. */
        wait_ms = w->poll_ms > 0 && w->poll_ms < left ? w->poll_ms : left;
        pthread_mutex_lock(&w->mu);
        if (w->generation == gen && !stopped(w, call)) {
            struct timespec ts;
            int64_t until = now_ms() + wait_ms;
            ts.tv_sec = (time_t)(until / 1000);
            ts.tv_nsec = (long)(until % 1000) * 1000000;
            while (w->generation == gen && !stopped(w, call) &&
                   pthread_cond_timedwait(&w->cv, &w->mu, &ts) != ETIMEDOUT)
                ;
        }
        /* At the deadline with no commit of ours: a timeout, not one more
         * read (only polling reads the head between commits of ours). */
        r = w->generation == gen && now_ms() >= deadline;
        pthread_mutex_unlock(&w->mu);
        if (r)
            break;
    }
    if (call != NULL)
        rpc_call_notify_cancel(call, NULL, NULL);
    return rc;
}
