/* store_internal.h — what the files of the engine-neutral store share
 * (store.c: open, close, connections, the epoch; store_commit.c: the
 * committer; store_calls.c: typed calls handed to the engine). Private to
 * service/store/. */
#ifndef TALLINN_STORE_INTERNAL_H
#define TALLINN_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "store/store_engine.h"
#include "tallinn/metrics.h"

/* One engine connection and what the neutral store knows of it. */
typedef struct conn_slot {
    store_conn *c;
    int in_use;
    int broken; /* it failed with STORE_IO: reconnect before the next use */
} conn_slot;

typedef struct store_job {
    store_job_fn fn;
    void *arg;
    store_done_fn done_cb; /* store_submit; NULL for store_write */
    void *cb_arg;
    int job_rc, store_rc, finished;
    pthread_cond_t *cv; /* store_write's caller waits here: a batch wakes only its own */
    struct store_job *next;
} store_job;

/* A resource version a write job stored that waits for the job's audit
 * record, whose index it is kept under in the change log (store_calls.c). */
typedef struct store_pending_change {
    store_kind kind;
    char *name, *donor, *need; /* malloc'd */
    int state;
    int deleted;               /* store_delete removed it (data empty) */
    uint8_t *data;             /* the packed message, malloc'd */
    size_t len;
} store_pending_change;

struct store_tx {
    struct store *s;
    conn_slot *slot;
    int write;
    int err;           /* first storage error seen in this transaction */
    int epoch_touched; /* a principals epoch bump was written */
    /* The change log (store_options.change_log): what the running job
     * changed since its last audit record, in order; changes_mark is the
     * count when the job's nested savepoint began. */
    store_pending_change *changes;
    size_t n_changes, cap_changes, changes_mark;
};

struct store {
    store_options opts;
    const store_engine *eng;
    store_db *db;

    conn_slot writer;
    conn_slot *readers;
    int n_readers;
    pthread_mutex_t rmu;
    pthread_cond_t rcv;

    pthread_t committer;
    int committer_started;
    pthread_mutex_t wmu;
    pthread_cond_t wcv; /* jobs queued, or closing */
    store_job *head, **tail;
    int closing;
    store_observer observers[STORE_MAX_OBSERVERS]; /* under wmu */
    int n_observers;

    /* The principals epoch from memory, when this store is the database's
     * only writer (store_principals_epoch). */
    int epoch_in_memory;
    _Atomic uint64_t epoch;

    /* Metrics (store_get_metrics), counted without locks. */
    metrics_hist batch_sizes;          /* jobs per write batch */
    metrics_hist commit_us;            /* a batch's transaction, begin to commit */
    _Atomic uint64_t batches_failed;   /* batches rolled back */
    _Atomic uint64_t read_waits;       /* reads that found every pooled connection taken */
    _Atomic uint64_t read_wait_us;     /* ... and the time they waited */
};

/* Microseconds from a to b (monotonic; 0 if b is before a). */
static inline uint64_t store__elapsed_us(const struct timespec *a, const struct timespec *b)
{
    long long ns = (long long)(b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
    return ns > 0 ? (uint64_t)(ns / 1000) : 0;
}

#define ENG(tx) ((tx)->s->eng)
#define CONN(tx) ((tx)->slot->c)

/* Keeps the transaction's first failure (answers are no failures) and
 * marks a connection that failed with STORE_IO for reconnection. Returns rc. */
int store__rec(store_tx *tx, int rc);
/* Forgets the pending changes from position `from` on (a rolled-back
 * savepoint, a finished job); from 0 also frees the array. */
void store__changes_drop(store_tx *tx, size_t from);
/* Makes a slot's connection usable: a new one if it has none or it failed. */
int store__slot_ready(store *s, conn_slot *slot, int write);
/* Connects tx's slot if needed and begins a transaction on it, once more on
 * a fresh connection when a pooled one turns out dead (store.c). */
int store__begin(store *s, store_tx *tx, int write);
/* After a committed batch that wrote the principals epoch (store.c). */
void store__epoch_refresh(store *s);
/* Bumps the epoch inside a write transaction. */
int store__epoch_bump(store_tx *tx);
/* Starts and stops the committer thread (store_commit.c). */
int store__committer_start(store *s);
void store__committer_stop(store *s);

/* store_open over a given engine table: tests wrap an engine to inject
 * failures the real one cannot be made to show on demand. */
int store__open_engine(store **out, const store_options *opts, const store_engine *eng, char *err,
                       size_t errlen);

#endif
