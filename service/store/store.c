/* store.c — the engine-neutral store behind store.h: the engine chosen by the
 * options, open and close, a pool of read connections (replaced when they
 * fail), read snapshots, and the principals epoch. The committer is
 * store_commit.c, the typed calls handed to the engine store_calls.c. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "log/slog.h"

#define STORE_DEFAULT_READERS 8
#define STORE_DEFAULT_BUSY_MS 5000
#define STORE_DEFAULT_BATCH 256

const char *store_strerror(int rc)
{
    switch (rc) {
    case STORE_OK: return "ok";
    case STORE_NOT_FOUND: return "not found";
    case STORE_EXISTS: return "already exists";
    case STORE_FULL: return "storage is full";
    case STORE_IO: return "storage is not writable or failed";
    case STORE_BUSY: return "storage is busy";
    case STORE_CORRUPT: return "storage is corrupt";
    case STORE_NOMEM: return "out of memory";
    case STORE_SHUTDOWN: return "server is shutting down";
    case STORE_READONLY: return "the data directory is read-only";
    case STORE_INDOUBT: return "the database connection was lost while committing";
    default: return "storage error";
    }
}

const char *store_engine_name(const store *s)
{
    return s->eng->name;
}

int store__rec(store_tx *tx, int rc)
{
    if (rc >= STORE_OK || rc == STORE_NOT_FOUND || rc == STORE_EXISTS)
        return rc;
    if (tx->err == STORE_OK)
        tx->err = rc;
    if (rc == STORE_IO)
        tx->slot->broken = 1;
    return rc;
}

/* ---- Connections ---- */

int store__slot_ready(store *s, conn_slot *slot, int write)
{
    char err[256];
    int rc;

    if (slot->c != NULL && !slot->broken)
        return STORE_OK;
    if (slot->c != NULL) {
        s->eng->disconnect(slot->c);
        slot->c = NULL;
        SLOG(SLOG_WARN, "store_reconnect", SLOG_S("engine", s->eng->name),
             SLOG_S("conn", write ? "writer" : "reader"));
    }
    slot->broken = 0;
    if ((rc = s->eng->connect(s->db, write, &slot->c, err, sizeof(err))) != STORE_OK) {
        slot->c = NULL;
        SLOG(SLOG_ERROR, "store_connect", SLOG_S("engine", s->eng->name), SLOG_S("error", err));
        return rc == STORE_OK ? STORE_ERROR : rc;
    }
    return STORE_OK;
}

int store__begin(store *s, store_tx *tx, int write)
{
    /* A connection idle in the pool may have died with its server (a
     * restart, a failover) unnoticed: its BEGIN fails with an I/O error.
     * Nothing has run yet, so that one is tried again on a fresh connection
     * instead of failing a call while the database is back. */
    for (int attempt = 0;; attempt++) {
        int fresh = tx->slot->c == NULL || tx->slot->broken;
        int rc = store__slot_ready(s, tx->slot, write);

        if (rc == STORE_OK)
            rc = store__rec(tx, s->eng->begin(CONN(tx), write));
        if (rc != STORE_IO || fresh || attempt > 0)
            return rc;
        tx->err = STORE_OK; /* the dead connection's error, not this call's */
    }
}

/* A free read connection slot, waiting while all max_readers are taken. */
static conn_slot *reader_take(store *s)
{
    conn_slot *slot = NULL;

    struct timespec t0, t1;
    int waited = 0;

    pthread_mutex_lock(&s->rmu);
    for (;;) {
        for (int i = 0; i < s->n_readers && slot == NULL; i++)
            if (!s->readers[i].in_use)
                slot = &s->readers[i];
        if (slot != NULL || s->n_readers < s->opts.max_readers)
            break;
        if (!waited++)
            clock_gettime(CLOCK_MONOTONIC, &t0);
        pthread_cond_wait(&s->rcv, &s->rmu);
    }
    if (slot == NULL)
        slot = &s->readers[s->n_readers++]; /* connected by slot_ready */
    slot->in_use = 1;
    pthread_mutex_unlock(&s->rmu);
    if (waited) { /* only a read that waited pays for the clock */
        clock_gettime(CLOCK_MONOTONIC, &t1);
        atomic_fetch_add_explicit(&s->read_waits, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->read_wait_us, store__elapsed_us(&t0, &t1),
                                  memory_order_relaxed);
    }
    return slot;
}

static void reader_give(store *s, conn_slot *slot)
{
    pthread_mutex_lock(&s->rmu);
    slot->in_use = 0;
    pthread_cond_signal(&s->rcv);
    pthread_mutex_unlock(&s->rmu);
}

/* ---- The principals epoch ---- */

int store_principals_epoch(store *s, uint64_t *epoch)
{
    conn_slot *slot;
    store_tx tx = {.s = s};
    int rc;

    if (s->epoch_in_memory) {
        *epoch = atomic_load(&s->epoch);
        return STORE_OK;
    }
    /* One statement outside any transaction: one indexed read; on a pooled
     * connection found dead, once more on a fresh one (as store__begin). */
    slot = reader_take(s);
    tx.slot = slot;
    for (int attempt = 0;; attempt++) {
        int fresh = slot->c == NULL || slot->broken;
        if ((rc = store__slot_ready(s, slot, 0)) == STORE_OK)
            rc = store__rec(&tx, s->eng->principals_epoch(slot->c, epoch));
        if (rc != STORE_IO || fresh || attempt > 0)
            break;
    }
    reader_give(s, slot);
    return rc;
}

/* Memory follows the database (which a job's rolled-back bump left where it
 * was). */
void store__epoch_refresh(store *s)
{
    uint64_t e;

    if (!s->epoch_in_memory)
        return;
    if (s->eng->principals_epoch(s->writer.c, &e) == STORE_OK) {
        atomic_store(&s->epoch, e);
        return;
    }
    /* Not knowing it, memory must not answer any more: read it every time. */
    s->epoch_in_memory = 0;
    SLOG(SLOG_ERROR, "principals_epoch_unknown",
         SLOG_S("msg", "reading it from the database from now on"));
}

int store__epoch_bump(store_tx *tx)
{
    uint64_t e;
    int rc = store__rec(tx, ENG(tx)->principals_epoch_bump(CONN(tx), &e));

    if (rc == STORE_OK)
        tx->epoch_touched = 1;
    return rc;
}

/* ---- Open and close ---- */

static const store_engine *engine_for(const store_options *o, char *err, size_t errlen)
{
    const char *url = o->database_url;

    if (url == NULL || url[0] == '\0')
        return &store_engine_sqlite;
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
#ifdef TALLINN_STORE_PG
        return &store_engine_pg;
#else
        snprintf(err, errlen, "this tallinnd was built without PostgreSQL support");
        return NULL;
#endif
    }
    /* Not echoed: a mistyped URL may carry a password. */
    snprintf(err, errlen, "the database URL is not a PostgreSQL URL: expected "
                          "postgresql://user@host:port/dbname");
    return NULL;
}

int store_open(store **out, const store_options *opts, char *err, size_t errlen)
{
    const store_engine *eng = engine_for(opts, err, errlen);

    *out = NULL;
    return eng != NULL ? store__open_engine(out, opts, eng, err, errlen) : STORE_ERROR;
}

int store__open_engine(store **out, const store_options *opts, const store_engine *eng, char *err,
                       size_t errlen)
{
    store *s = calloc(1, sizeof(*s));
    store_tx tx;
    uint64_t epoch = 0;
    int rc;

    *out = NULL;
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return STORE_NOMEM;
    }
    s->opts = *opts;
    if (s->opts.max_readers <= 0)
        s->opts.max_readers = STORE_DEFAULT_READERS;
    if (s->opts.busy_timeout_ms <= 0)
        s->opts.busy_timeout_ms = STORE_DEFAULT_BUSY_MS;
    if (s->opts.max_batch <= 0)
        s->opts.max_batch = STORE_DEFAULT_BATCH;
    s->readers = calloc((size_t)s->opts.max_readers, sizeof(*s->readers));
    s->tail = &s->head;
    metrics_hist_init(&s->batch_sizes, metrics_batch_bounds, metrics_batch_count);
    metrics_hist_init(&s->commit_us, metrics_latency_us_bounds, metrics_latency_us_count);
    pthread_mutex_init(&s->rmu, NULL);
    pthread_cond_init(&s->rcv, NULL);
    pthread_mutex_init(&s->wmu, NULL);
    pthread_cond_init(&s->wcv, NULL);
    if (s->readers == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_NOMEM;
        goto fail;
    }
    s->eng = eng;
    if ((rc = s->eng->open(&s->opts, &s->db, err, errlen)) != STORE_OK)
        goto fail;
    /* The writer, or (read-only) a reader, reads the epoch: its errors show
     * at start, not at the first call. */
    if ((rc = s->eng->connect(s->db, !s->opts.read_only, &s->writer.c, err, errlen)) != STORE_OK)
        goto fail;
    tx = (store_tx){.s = s, .slot = &s->writer};
    if ((rc = store__rec(&tx, s->eng->principals_epoch(s->writer.c, &epoch))) != STORE_OK) {
        snprintf(err, errlen, "cannot read the database: %s", store_strerror(rc));
        goto fail;
    }
    atomic_store(&s->epoch, epoch);
    s->epoch_in_memory = (s->eng->flags & STORE_ENGINE_ONE_PROCESS) && !s->opts.shared;
    if (s->opts.read_only) {
        /* No committer: every write is refused at once. */
        *out = s;
        return STORE_OK;
    }
    if (store__committer_start(s) != 0) {
        snprintf(err, errlen, "cannot start the committer thread");
        rc = STORE_ERROR;
        goto fail;
    }
    *out = s;
    return STORE_OK;
fail:
    store_close(s);
    return rc;
}

void store_close(store *s)
{
    if (s == NULL)
        return;
    store__committer_stop(s); /* queued jobs still run: they were accepted */
    if (s->eng != NULL) {
        for (int i = 0; i < s->n_readers; i++)
            if (s->readers[i].c != NULL)
                s->eng->disconnect(s->readers[i].c);
        if (s->writer.c != NULL)
            s->eng->disconnect(s->writer.c);
        if (s->db != NULL)
            s->eng->close(s->db);
    }
    free(s->readers);
    pthread_mutex_destroy(&s->rmu);
    pthread_cond_destroy(&s->rcv);
    pthread_mutex_destroy(&s->wmu);
    pthread_cond_destroy(&s->wcv);
    free(s);
}

/* ---- Reads ---- */

int store_read_begin(store *s, store_tx **out)
{
    store_tx *tx = calloc(1, sizeof(*tx));
    int rc;

    *out = NULL;
    if (tx == NULL)
        return STORE_NOMEM;
    tx->s = s;
    tx->slot = reader_take(s);
    if ((rc = store__begin(s, tx, 0)) != STORE_OK) {
        store_read_end(tx);
        return rc;
    }
    *out = tx;
    return STORE_OK;
}

void store_read_end(store_tx *tx)
{
    if (tx == NULL)
        return;
    if (CONN(tx) != NULL && !tx->slot->broken && ENG(tx)->in_transaction(CONN(tx)))
        store__rec(tx, ENG(tx)->commit(CONN(tx)));
    reader_give(tx->s, tx->slot);
    free(tx);
}

void store_get_metrics(store *s, store_metrics *out)
{
    metrics_hist_read(&s->batch_sizes, &out->batch_sizes);
    metrics_hist_read(&s->commit_us, &out->commit_us);
    out->batches_failed = atomic_load_explicit(&s->batches_failed, memory_order_relaxed);
    out->read_waits = atomic_load_explicit(&s->read_waits, memory_order_relaxed);
    out->read_wait_us = atomic_load_explicit(&s->read_wait_us, memory_order_relaxed);
    pthread_mutex_lock(&s->rmu);
    out->readers_open = s->n_readers;
    pthread_mutex_unlock(&s->rmu);
    out->readers_max = s->opts.max_readers;
}
