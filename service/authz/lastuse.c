/* lastuse.c — a principal's last_use_time, off the call path. Writing it is
 * a durable store write (a group commit and its fsync); done inside the
 * authentication step it made a read wait for a disk sync. Now the step
 * queues the time, and one thread writes the queue in one job: many
 * principals' times in one commit, each principal at most once. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lastuse.h"
#include "log/slog.h"
#include "tallinn/v1/principal.pb-c.h"
#include "tallinn/validate.h"

#define LASTUSE_MAX 1024     /* principals queued at most */
#define LASTUSE_RETRY_S 5    /* after a failed write, wait this long */

typedef struct lastuse_item {
    char name[VALIDATE_NAME_MAX + 1];
    int64_t when;
} lastuse_item;

struct authz_lastuse {
    store *store;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int stop;
    lastuse_item *queue; /* pending, coalesced by name */
    size_t n;
    lastuse_item *batch; /* being written (the writer's own) */
    size_t n_batch;
    long written, dropped;
};

typedef struct lastuse_job {
    const lastuse_item *items;
    size_t n;
    long written;
} lastuse_job;

/* One store job for the whole batch; a principal gone since is skipped. */
static int write_job(store_tx *tx, void *p)
{
    lastuse_job *j = p;

    j->written = 0;
    for (size_t i = 0; i < j->n; i++) {
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT, *old;
        Tallinn__V1__Principal *pr;
        ProtobufCMessage *m;
        int rc;

        if (store_get(tx, STORE_PRINCIPAL, j->items[i].name, NULL, &m) != STORE_OK)
            continue;
        pr = (Tallinn__V1__Principal *)m;
        if (pr->last_use_time == NULL || pr->last_use_time->seconds < j->items[i].when) {
            ts.seconds = j->items[i].when;
            old = pr->last_use_time;
            pr->last_use_time = &ts;
            rc = store_update(tx, STORE_PRINCIPAL, m);
            pr->last_use_time = old;
            if (rc != STORE_OK) {
                protobuf_c_message_free_unpacked(m, NULL);
                return 1; /* roll this job back; retried later */
            }
            j->written++;
        }
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return 0;
}

/* Puts a failed batch back in front of what arrived meanwhile (caller holds
 * mu); a name queued again since keeps its newer time. */
static void requeue(authz_lastuse *l)
{
    for (size_t i = 0; i < l->n_batch; i++) {
        size_t k;
        for (k = 0; k < l->n && strcmp(l->queue[k].name, l->batch[i].name) != 0; k++)
            ;
        if (k < l->n)
            continue;
        if (l->n == LASTUSE_MAX) {
            l->dropped++;
            continue;
        }
        l->queue[l->n++] = l->batch[i];
    }
    l->n_batch = 0;
}

static int flush(authz_lastuse *l)
{
    lastuse_job j = {l->batch, l->n_batch, 0};
    int job_rc = 0, rc;

    if (l->n_batch == 0)
        return 0;
    rc = store_write(l->store, write_job, &j, &job_rc);
    pthread_mutex_lock(&l->mu);
    if (rc == STORE_OK && job_rc == 0) {
        l->written += j.written;
        l->n_batch = 0;
    } else {
        requeue(l);
    }
    pthread_mutex_unlock(&l->mu);
    return rc == STORE_OK && job_rc == 0 ? 0 : -1;
}

static void *writer_main(void *arg)
{
    authz_lastuse *l = arg;
    struct timespec until;

    pthread_mutex_lock(&l->mu);
    for (;;) {
        lastuse_item *t;
        while (l->n == 0 && !l->stop)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->n == 0)
            break;
        t = l->batch; /* take the queue: callers go on queueing meanwhile */
        l->batch = l->queue;
        l->n_batch = l->n;
        l->queue = t;
        l->n = 0;
        pthread_mutex_unlock(&l->mu);
        if (flush(l) != 0) {
            pthread_mutex_lock(&l->mu);
            if (l->stop) {
                l->dropped += (long)l->n;
                l->n = 0;
                break;
            }
            SLOG(SLOG_WARN, "last_use_write_failed", SLOG_I("queued", l->n),
                 SLOG_I("retry_s", LASTUSE_RETRY_S));
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += LASTUSE_RETRY_S;
            while (!l->stop && pthread_cond_timedwait(&l->cv, &l->mu, &until) != ETIMEDOUT)
                ;
            continue;
        }
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int authz_lastuse_create(authz_lastuse **out, store *s)
{
    authz_lastuse *l = calloc(1, sizeof(*l));
    pthread_condattr_t attr;

    *out = NULL;
    if (l == NULL)
        return -1;
    l->store = s;
    l->queue = calloc(LASTUSE_MAX, sizeof(*l->queue));
    l->batch = calloc(LASTUSE_MAX, sizeof(*l->batch));
    if (l->queue == NULL || l->batch == NULL)
        goto fail;
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&l->thread, NULL, writer_main, l) != 0) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        goto fail;
    }
    *out = l;
    return 0;
fail:
    free(l->queue);
    free(l->batch);
    free(l);
    return -1;
}

void authz_lastuse_destroy(authz_lastuse *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1; /* the writer writes what is queued once more, then leaves */
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->queue);
    free(l->batch);
    free(l);
}

void authz_lastuse_note(authz_lastuse *l, const char *principal, int64_t unix_s)
{
    size_t k;

    if (strlen(principal) > VALIDATE_NAME_MAX)
        return;
    pthread_mutex_lock(&l->mu);
    for (k = 0; k < l->n && strcmp(l->queue[k].name, principal) != 0; k++)
        ;
    if (k < l->n) {
        if (l->queue[k].when < unix_s)
            l->queue[k].when = unix_s;
    } else if (l->n < LASTUSE_MAX) {
        snprintf(l->queue[l->n].name, sizeof(l->queue[l->n].name), "%s", principal);
        l->queue[l->n].when = unix_s;
        l->n++;
        pthread_cond_signal(&l->cv);
    } else {
        l->dropped++;
    }
    pthread_mutex_unlock(&l->mu);
}

void authz_lastuse_counts(authz_lastuse *l, long *written, long *dropped)
{
    pthread_mutex_lock(&l->mu);
    *written = l->written;
    *dropped = l->dropped;
    pthread_mutex_unlock(&l->mu);
}
