/* store.c — the engine-neutral store behind store.h: the engine chosen by the
 * options, a pool of read connections, one committer thread that runs write
 * jobs in group commits (one transaction per batch, a savepoint per job,
 * callers released only once the batch is durable), commit observers, the
 * principals epoch, and typed calls handed to the engine (store_engine.h)
 * with the transaction's first error kept. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_engine.h"
#include "store/store_sql.h"
#include "tallinn/v1/principal.pb-c.h"

#define STORE_DEFAULT_READERS 8
#define STORE_DEFAULT_BUSY_MS 5000
#define STORE_DEFAULT_BATCH 256

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

struct store_tx {
    struct store *s;
    conn_slot *slot;
    int write;
    int err;           /* first storage error seen in this transaction */
    int epoch_touched; /* a principals epoch bump was written */
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
};

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
    default: return "storage error";
    }
}

const char *store_engine_name(const store *s)
{
    return s->eng->name;
}

/* Keeps the transaction's first failure (answers are no failures) and
 * marks a connection that failed for reconnection. Returns rc. */
static int rec(store_tx *tx, int rc)
{
    if (rc >= STORE_OK || rc == STORE_NOT_FOUND || rc == STORE_EXISTS)
        return rc;
    if (tx->err == STORE_OK)
        tx->err = rc;
    if (rc == STORE_IO)
        tx->slot->broken = 1;
    return rc;
}

#define ENG(tx) ((tx)->s->eng)
#define CONN(tx) ((tx)->slot->c)

/* ---- Connections ---- */

/* Makes a slot's connection usable: a new one if it has none or it failed. */
static int slot_ready(store *s, conn_slot *slot, int write)
{
    char err[256];
    int rc;

    if (slot->c != NULL && !slot->broken)
        return STORE_OK;
    if (slot->c != NULL) {
        s->eng->disconnect(slot->c);
        slot->c = NULL;
        fprintf(stderr, "level=warn event=store_reconnect engine=%s conn=%s\n", s->eng->name,
                write ? "writer" : "reader");
    }
    slot->broken = 0;
    if ((rc = s->eng->connect(s->db, write, &slot->c, err, sizeof(err))) != STORE_OK) {
        slot->c = NULL;
        fprintf(stderr, "level=error event=store_connect engine=%s error=\"%s\"\n", s->eng->name,
                err);
        return rc == STORE_OK ? STORE_ERROR : rc;
    }
    return STORE_OK;
}

/* A free read connection slot, waiting while all max_readers are taken. */
static conn_slot *reader_take(store *s)
{
    conn_slot *slot = NULL;

    pthread_mutex_lock(&s->rmu);
    for (;;) {
        for (int i = 0; i < s->n_readers && slot == NULL; i++)
            if (!s->readers[i].in_use)
                slot = &s->readers[i];
        if (slot != NULL || s->n_readers < s->opts.max_readers)
            break;
        pthread_cond_wait(&s->rcv, &s->rmu);
    }
    if (slot == NULL)
        slot = &s->readers[s->n_readers++]; /* connected by slot_ready */
    slot->in_use = 1;
    pthread_mutex_unlock(&s->rmu);
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
    /* One statement outside any transaction: one indexed read. */
    slot = reader_take(s);
    tx.slot = slot;
    if ((rc = slot_ready(s, slot, 0)) == STORE_OK)
        rc = rec(&tx, s->eng->principals_epoch(slot->c, epoch));
    reader_give(s, slot);
    return rc;
}

/* After a committed batch that wrote the epoch: memory follows the database
 * (which a job's rolled-back bump left where it was). */
static void epoch_refresh(store *s)
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
    fprintf(stderr, "level=error event=principals_epoch_unknown msg=\"reading it from the "
                    "database from now on\"\n");
}

/* Bumps the epoch inside a write transaction. */
static int epoch_bump(store_tx *tx)
{
    uint64_t e;
    int rc = rec(tx, ENG(tx)->principals_epoch_bump(CONN(tx), &e));

    if (rc == STORE_OK)
        tx->epoch_touched = 1;
    return rc;
}

/* ---- The committer: group commit ---- */

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
        if ((rc = rec(tx, s->eng->savepoint(CONN(tx), 0))) != STORE_OK) {
            j->store_rc = rc;
            continue;
        }
        j->job_rc = j->fn(tx, j->arg);
        if (!s->eng->in_transaction(CONN(tx))) {
            /* The engine ended the whole transaction (disk full, I/O, a
             * lost connection): every job of the batch fails with that. */
            rc = tx->err != STORE_OK ? tx->err : STORE_IO;
            j->store_rc = rc;
            continue;
        }
        if (j->job_rc != 0 && (rc = rec(tx, s->eng->rollback_to(CONN(tx), 0))) != STORE_OK) {
            j->store_rc = rc;
            continue;
        }
        if ((rc = rec(tx, s->eng->release(CONN(tx), 0))) != STORE_OK)
            j->store_rc = rc;
    }
    return rc;
}

static void run_batch(store *s, store_job *batch)
{
    store_observer obs[STORE_MAX_OBSERVERS];
    store_tx tx = {.s = s, .slot = &s->writer, .write = 1, .err = STORE_OK};
    int n_obs, rc, began = 0;

    pthread_mutex_lock(&s->wmu);
    n_obs = s->n_observers;
    memcpy(obs, s->observers, (size_t)n_obs * sizeof(obs[0]));
    pthread_mutex_unlock(&s->wmu);

    if ((rc = slot_ready(s, &s->writer, 1)) == STORE_OK &&
        (rc = rec(&tx, s->eng->begin(CONN(&tx), 1))) == STORE_OK)
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
    if (rc == STORE_OK)
        rc = rec(&tx, s->eng->commit(CONN(&tx)));
    if (rc != STORE_OK) {
        if (began && s->writer.c != NULL && s->eng->in_transaction(s->writer.c))
            rec(&tx, s->eng->rollback(s->writer.c));
        fprintf(stderr, "level=error event=write_batch_failed error=\"%s\"\n", store_strerror(rc));
    } else if (tx.epoch_touched) {
        epoch_refresh(s);
    }
    for (int i = 0; i < n_obs; i++)
        if (obs[i].done != NULL)
            obs[i].done(rc == STORE_OK, obs[i].ctx);

    /* Durable (or failed): release the callers. */
    for (store_job *j = batch, *next; j != NULL; j = next) {
        next = j->next; /* j may be gone once released */
        if (rc != STORE_OK)
            j->store_rc = rc;
        if (j->done_cb != NULL) {
            j->done_cb(j->store_rc, j->job_rc, j->cb_arg);
            free(j);
            continue;
        }
        pthread_mutex_lock(&s->wmu);
        j->finished = 1;
        pthread_cond_signal(j->cv);
        pthread_mutex_unlock(&s->wmu);
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
    return rec(tx, ENG(tx)->savepoint(CONN(tx), 1));
}

int store_savepoint_end(store_tx *tx, int keep)
{
    int rc;

    if (!tx->write)
        return STORE_ERROR;
    if (!keep && (rc = rec(tx, ENG(tx)->rollback_to(CONN(tx), 1))) != STORE_OK)
        return rc;
    return rec(tx, ENG(tx)->release(CONN(tx), 1));
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
    pthread_mutex_init(&s->rmu, NULL);
    pthread_cond_init(&s->rcv, NULL);
    pthread_mutex_init(&s->wmu, NULL);
    pthread_cond_init(&s->wcv, NULL);
    if (s->readers == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_NOMEM;
        goto fail;
    }
    if ((s->eng = engine_for(opts, err, errlen)) == NULL) {
        rc = STORE_ERROR;
        goto fail;
    }
    if ((rc = s->eng->open(&s->opts, &s->db, err, errlen)) != STORE_OK)
        goto fail;
    /* The writer, or (read-only) a reader, reads the epoch: its errors show
     * at start, not at the first call. */
    if ((rc = s->eng->connect(s->db, !s->opts.read_only, &s->writer.c, err, errlen)) != STORE_OK)
        goto fail;
    tx = (store_tx){.s = s, .slot = &s->writer};
    if ((rc = rec(&tx, s->eng->principals_epoch(s->writer.c, &epoch))) != STORE_OK) {
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
    if (pthread_create(&s->committer, NULL, committer_main, s) != 0) {
        snprintf(err, errlen, "cannot start the committer thread");
        rc = STORE_ERROR;
        goto fail;
    }
    s->committer_started = 1;
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
    if (s->committer_started) {
        pthread_mutex_lock(&s->wmu);
        s->closing = 1; /* queued jobs still run: they were accepted */
        pthread_cond_signal(&s->wcv);
        pthread_mutex_unlock(&s->wmu);
        pthread_join(s->committer, NULL);
    }
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
    if ((rc = slot_ready(s, tx->slot, 0)) != STORE_OK ||
        (rc = rec(tx, s->eng->begin(CONN(tx), 0))) != STORE_OK) {
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
        rec(tx, ENG(tx)->commit(CONN(tx)));
    reader_give(tx->s, tx->slot);
    free(tx);
}

/* ---- Resources ---- */

typedef struct unpack_ctx {
    const ProtobufCMessageDescriptor *desc;
    ProtobufCAllocator *alloc;
    ProtobufCMessage *msg;
    int corrupt;
} unpack_ctx;

static int unpack_one(const uint8_t *data, size_t len, void *p)
{
    unpack_ctx *u = p;

    u->msg = protobuf_c_message_unpack(u->desc, u->alloc, len, data);
    u->corrupt = u->msg == NULL;
    return 1;
}

/* A one-row answer unpacked as desc: STORE_OK, STORE_NOT_FOUND, or the
 * engine's error; STORE_CORRUPT when the row does not decode. */
static int unpacked(store_tx *tx, int rc, unpack_ctx *u, const char *what, ProtobufCMessage **out)
{
    *out = NULL;
    if (rc != STORE_OK)
        return rec(tx, rc);
    if (u->corrupt || u->msg == NULL) {
        fprintf(stderr, "level=error event=undecodable_row table=%s\n", what);
        return STORE_CORRUPT;
    }
    *out = u->msg;
    return STORE_OK;
}

int store_get(store_tx *tx, store_kind kind, const char *name, ProtobufCAllocator *alloc,
              ProtobufCMessage **out)
{
    unpack_ctx u = {.alloc = alloc};

    *out = NULL;
    if ((unsigned)kind >= STORE_KIND_COUNT || name == NULL)
        return STORE_ERROR;
    u.desc = store_kinds[kind].desc;
    return unpacked(tx, ENG(tx)->get(CONN(tx), kind, name, unpack_one, &u), &u,
                    store_kinds[kind].table, out);
}

/* Would this principal change what a cached authentication holds? The
 * fields authz.c keeps: role, state, donor; and how it is found. */
static int principal_differs(const Tallinn__V1__Principal *a, const Tallinn__V1__Principal *b)
{
    const char *ad = a->donor != NULL ? a->donor : "", *bd = b->donor != NULL ? b->donor : "";
    const char *ac = a->cert_identity != NULL ? a->cert_identity : "";
    const char *bc = b->cert_identity != NULL ? b->cert_identity : "";

    return a->role != b->role || a->state != b->state || strcmp(ad, bd) != 0 || strcmp(ac, bc) != 0;
}

/* Does writing principal m (insert, or update of the stored one) move the
 * epoch? */
static int principal_moves_epoch(store_tx *tx, const ProtobufCMessage *m, const char *name,
                                 int insert, int *moves)
{
    ProtobufCMessage *old = NULL;
    int rc;

    *moves = 1;
    if (insert)
        return STORE_OK;
    rc = store_get(tx, STORE_PRINCIPAL, name, NULL, &old);
    if (rc == STORE_NOT_FOUND)
        return STORE_OK; /* the update answers NOT_FOUND */
    if (rc != STORE_OK)
        return rc;
    *moves = principal_differs((const Tallinn__V1__Principal *)old,
                               (const Tallinn__V1__Principal *)m);
    protobuf_c_message_free_unpacked(old, NULL);
    return STORE_OK;
}

static int put(store_tx *tx, store_kind kind, const ProtobufCMessage *msg, int insert)
{
    store_value cols[STORE_MAX_COLUMNS];
    size_t len;
    uint8_t *buf;
    int rc, moves = 0;

    if (!tx->write || (rc = store_kind_extract(kind, msg, cols)) != STORE_OK)
        return STORE_ERROR;
    if (kind == STORE_PRINCIPAL &&
        (rc = principal_moves_epoch(tx, msg, (const char *)cols[0].p, insert, &moves)) != STORE_OK)
        return rc;
    len = protobuf_c_message_get_packed_size(msg);
    if ((buf = malloc(len ? len : 1)) == NULL)
        return STORE_NOMEM;
    protobuf_c_message_pack(msg, buf);
    rc = rec(tx, ENG(tx)->put(CONN(tx), kind, cols, buf, len, insert));
    free(buf);
    if (rc == STORE_OK && moves)
        rc = epoch_bump(tx);
    return rc;
}

int store_insert(store_tx *tx, store_kind kind, const ProtobufCMessage *msg)
{
    return put(tx, kind, msg, 1);
}

int store_update(store_tx *tx, store_kind kind, const ProtobufCMessage *msg)
{
    return put(tx, kind, msg, 0);
}

/* ---- Lists ---- */

typedef struct list_ctx {
    const store_list_query *q;
    store_row_fn fn;
    void *ctx;
    int left, stopped, corrupt;
} list_ctx;

static int list_row(const uint8_t *data, size_t len, void *p)
{
    list_ctx *l = p;
    ProtobufCMessage *m = protobuf_c_message_unpack(store_kinds[l->q->kind].desc, l->q->alloc,
                                                    len, data);

    if (m == NULL) {
        l->corrupt = 1;
        return 1;
    }
    l->left--;
    if (l->fn(m, l->ctx) != 0)
        l->stopped = 1;
    return l->stopped || l->left == 0;
}

int store_list(store_tx *tx, const store_list_query *q, store_row_fn fn, void *ctx)
{
    list_ctx l = {.q = q, .fn = fn, .ctx = ctx};
    store_sql *sql;
    size_t arms, arm = 0;
    int rc = STORE_OK;

    if (q == NULL || (unsigned)q->kind >= STORE_KIND_COUNT || q->limit <= 0)
        return STORE_ERROR;
    if ((sql = malloc(sizeof(*sql))) == NULL)
        return STORE_NOMEM;
    l.left = q->limit;
    if (q->work != NULL)
        *q->work = 0;
    /* The rows after the cursor are those of arm 0, then arm 1, … (disjoint,
     * in order); each is read as its own index range until the page is full. */
    arms = q->after == NULL ? 1 : store_sql_seek_arms(q->order);
    if (arms == 0)
        rc = STORE_ERROR;
    for (; rc == STORE_OK && arm < arms && l.left > 0 && !l.stopped && !l.corrupt; arm++) {
        rc = store_sql_list(ENG(tx)->dialect, q, q->after == NULL ? STORE_SQL_NO_SEEK : arm, sql);
        if (rc != STORE_OK) {
            fprintf(stderr, "level=error event=list_render kind=%s\n", store_kinds[q->kind].table);
            break;
        }
        rc = rec(tx, ENG(tx)->list(CONN(tx), sql, list_row, &l, q->work));
    }
    free(sql);
    if (rc == STORE_OK && l.corrupt) {
        fprintf(stderr, "level=error event=undecodable_row table=%s\n", store_kinds[q->kind].table);
        rc = STORE_CORRUPT;
    }
    return rc;
}

/* ---- Named queries ---- */

int store_match_sum(store_tx *tx, const char *need, const char *pledge, uint32_t state_mask,
                    store_sum *nanos)
{
    *nanos = 0;
    if ((need == NULL) == (pledge == NULL))
        return STORE_ERROR;
    return rec(tx, ENG(tx)->match_sum(CONN(tx), need, pledge, state_mask, nanos));
}

int store_pledge_count(store_tx *tx, const char *donor, uint32_t except_mask, int64_t *count)
{
    return rec(tx, ENG(tx)->pledge_count(CONN(tx), donor, except_mask, count));
}

int store_donor_record(store_tx *tx, const char *donor, int sector, uint32_t state_mask,
                       int64_t *all, int64_t *in_sector)
{
    return rec(tx, ENG(tx)->donor_record(CONN(tx), donor, sector, state_mask, all, in_sector));
}

int store_donor_has_match(store_tx *tx, const char *need, const char *donor, uint32_t state_mask,
                          int *yes)
{
    return rec(tx, ENG(tx)->donor_has_match(CONN(tx), need, donor, state_mask, yes));
}

int store_need_totals(store_tx *tx, const store_scope *scope, uint32_t need_mask,
                      uint32_t committed_mask, uint32_t delivered_mask,
                      void (*fn)(int sector, int category, const store_totals *t, void *ctx),
                      void *ctx)
{
    if (scope->kind == STORE_SCOPE_OF_DONOR)
        return STORE_ERROR; /* a scope of pledges and matches */
    return rec(tx, ENG(tx)->need_totals(CONN(tx), scope, need_mask, committed_mask,
                                        delivered_mask, fn, ctx));
}

int store_donor_totals(store_tx *tx, const store_scope *scope, uint32_t committed_mask,
                       uint32_t delivered_mask,
                       void (*fn)(const char *donor, const char *display_name,
                                  const store_totals *t, store_sum pledged, void *ctx),
                       void *ctx)
{
    if (scope->kind == STORE_SCOPE_OF_DONOR)
        return STORE_ERROR;
    return rec(tx, ENG(tx)->donor_totals(CONN(tx), scope, committed_mask, delivered_mask, fn,
                                         ctx));
}

/* ---- Principals ---- */

int store_principal_set_token(store_tx *tx, const char *name, const uint8_t hash[32])
{
    int rc;

    if (!tx->write)
        return STORE_ERROR;
    if ((rc = rec(tx, ENG(tx)->principal_set_token(CONN(tx), name, hash))) != STORE_OK)
        return rc;
    return epoch_bump(tx);
}

int store_principal_by_token(store_tx *tx, const uint8_t hash[32], ProtobufCAllocator *alloc,
                             ProtobufCMessage **out)
{
    unpack_ctx u = {.desc = &tallinn__v1__principal__descriptor, .alloc = alloc};

    return unpacked(tx, ENG(tx)->principal_by_token(CONN(tx), hash, unpack_one, &u), &u,
                    "principals", out);
}

int store_principal_by_cert(store_tx *tx, const char *identity, ProtobufCAllocator *alloc,
                            ProtobufCMessage **out)
{
    unpack_ctx u = {.desc = &tallinn__v1__principal__descriptor, .alloc = alloc};

    *out = NULL;
    if (identity == NULL || identity[0] == '\0')
        return STORE_NOT_FOUND;
    return unpacked(tx, ENG(tx)->principal_by_cert(CONN(tx), identity, unpack_one, &u), &u,
                    "principals", out);
}

/* ---- The audit log ---- */

int store_audit_head(store_tx *tx, int64_t *size)
{
    return rec(tx, ENG(tx)->audit_head(CONN(tx), size));
}

int store_audit_head_set(store_tx *tx, int64_t size)
{
    if (!tx->write || size < 0)
        return STORE_ERROR;
    return rec(tx, ENG(tx)->audit_head_set(CONN(tx), size));
}

int store_audit_append(store_tx *tx, int64_t index, const uint8_t *data, size_t len)
{
    if (!tx->write || index < 0)
        return STORE_ERROR;
    return rec(tx, ENG(tx)->audit_append(CONN(tx), index, data, len));
}

int store_audit_leaf(store_tx *tx, int64_t index, uint8_t **data, size_t *len)
{
    return rec(tx, ENG(tx)->audit_leaf(CONN(tx), index, data, len));
}

int store_audit_size(store_tx *tx, int64_t *size, int64_t *count)
{
    return rec(tx, ENG(tx)->audit_size(CONN(tx), size, count));
}

int store_audit_scan(store_tx *tx, int64_t start, int64_t end, store_leaf_fn fn, void *ctx)
{
    return rec(tx, ENG(tx)->audit_scan(CONN(tx), start, end, fn, ctx));
}

int store_tile_put(store_tx *tx, int level, int64_t index, const uint8_t *hashes, size_t n)
{
    if (!tx->write || n == 0 || n > 256)
        return STORE_ERROR;
    return rec(tx, ENG(tx)->tile_put(CONN(tx), level, index, hashes, n));
}

int store_tile_get(store_tx *tx, int level, int64_t index, uint8_t hashes[256 * 32], size_t *n)
{
    return rec(tx, ENG(tx)->tile_get(CONN(tx), level, index, hashes, n));
}

int store_checkpoint_put(store_tx *tx, int64_t size, const uint8_t *note, size_t len)
{
    if (!tx->write)
        return STORE_ERROR;
    return rec(tx, ENG(tx)->checkpoint_put(CONN(tx), size, note, len, (int64_t)time(NULL)));
}

int store_checkpoint_get(store_tx *tx, int64_t size, uint8_t **note, size_t *len,
                         int64_t *size_out)
{
    return rec(tx, ENG(tx)->checkpoint_get(CONN(tx), size, note, len, size_out));
}

/* ---- Remembered requests ---- */

int store_request_get(store_tx *tx, const char *principal, const char *method,
                      const char *request_id, uint8_t hash[32], uint8_t **response,
                      size_t *response_len)
{
    return rec(tx, ENG(tx)->request_get(CONN(tx), principal, method, request_id, hash, response,
                                        response_len));
}

int store_request_put(store_tx *tx, const char *principal, const char *method,
                      const char *request_id, const uint8_t hash[32], const uint8_t *response,
                      size_t response_len)
{
    if (!tx->write)
        return STORE_ERROR;
    return rec(tx, ENG(tx)->request_put(CONN(tx), principal, method, request_id, hash, response,
                                        response_len, (int64_t)time(NULL)));
}

int store_request_expire(store_tx *tx, int64_t max_age_s)
{
    if (!tx->write)
        return STORE_ERROR;
    return rec(tx, ENG(tx)->request_expire(CONN(tx), (int64_t)time(NULL) - max_age_s));
}
