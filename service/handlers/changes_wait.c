/* changes_wait.c — waiting for new positions of the change log: a commit
 * observer wakes the waiters of this process after each committed batch,
 * and one poller thread per process reads the audit head at a bounded
 * interval and wakes them when it moved, because on a shared database
 * (PostgreSQL, several replicas) another process may commit and no observer
 * of ours hears of it. So the database is read once per interval however
 * many streams wait, and a waiter reads it only when something may have
 * changed. Nothing but the wake-up lives in memory: the head a waiter reads
 * from the database decides. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "changes.h"

struct changes_waiter {
    store *store;
    int poll_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* CLOCK_MONOTONIC; waiters and the poller */
    uint64_t generation; /* commits seen (ours, or others' by polling), under mu */
    int64_t polled_head; /* the head the poller read last; -1 none */
    int stopping;
    pthread_t poller;
    int poller_started;
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec at_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    return ts;
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

static void bump(changes_waiter *w)
{
    w->generation++;
    pthread_cond_broadcast(&w->cv);
}

static void committed(int ok, void *ctx)
{
    changes_waiter *w = ctx;

    if (!ok)
        return;
    pthread_mutex_lock(&w->mu);
    bump(w);
    pthread_mutex_unlock(&w->mu);
}

/* Reads the head every poll_ms; a move no observer of ours reported (a
 * commit of another process) wakes the waiters. */
static void *poll_main(void *arg)
{
    changes_waiter *w = arg;

    pthread_mutex_lock(&w->mu);
    while (!w->stopping) {
        struct timespec until = at_ms(now_ms() + w->poll_ms);
        int64_t head;
        int rc;

        while (!w->stopping && pthread_cond_timedwait(&w->cv, &w->mu, &until) != ETIMEDOUT)
            ;
        if (w->stopping)
            break;
        pthread_mutex_unlock(&w->mu);
        rc = read_head(w->store, &head);
        pthread_mutex_lock(&w->mu);
        /* The first read wakes them too: a waiter may have read the head
         * before a commit this thread had not yet seen either. */
        if (rc == STORE_OK && head != w->polled_head) {
            bump(w);
            w->polled_head = head;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
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
    w->polled_head = -1;
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
    if (poll_ms > 0) {
        if (pthread_create(&w->poller, NULL, poll_main, w) != 0) {
            /* the observer keeps w: it stays allocated, and unused */
            return STORE_ERROR;
        }
        w->poller_started = 1;
    }
    *out = w;
    return STORE_OK;
}

void changes_waiter_shutdown(changes_waiter *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->poller_started) {
        pthread_join(w->poller, NULL);
        w->poller_started = 0;
    }
}

void changes_waiter_destroy(changes_waiter *w)
{
    if (w == NULL)
        return;
    changes_waiter_shutdown(w);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
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
        /* Sleep until a commit (ours, or another's the poller saw), or the
         * deadline; the database is read again only after a commit. */
        pthread_mutex_lock(&w->mu);
        if (now_ms() < deadline) {
            struct timespec until = at_ms(deadline);
            while (w->generation == gen && !stopped(w, call) &&
                   pthread_cond_timedwait(&w->cv, &w->mu, &until) != ETIMEDOUT)
                ;
        }
        r = w->generation == gen && !stopped(w, call);
        pthread_mutex_unlock(&w->mu);
        if (r)
            break; /* the deadline, and no commit */
    }
    if (call != NULL)
        rpc_call_notify_cancel(call, NULL, NULL);
    return rc;
}
