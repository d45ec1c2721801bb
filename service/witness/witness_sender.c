/* witness_sender.c — one thread per witness: brings it the log's newest
 * checkpoint with a consistency proof from the size it last cosigned (C2SP
 * tlog-witness; the 409 answer's size is taken and the request sent once
 * more from it), keeps the cosignature in the database, and backs off when
 * the witness is down or refuses. It never runs on the write path: a commit
 * only wakes it, so a slow or dead witness costs writes nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/slog.h"
#include "witness/witness_internal.h"

typedef enum step { STEP_IDLE, STEP_DONE, STEP_FAILED } step;

/* Waits until `ms` passed or the sender is stopped; with `wake`, also until
 * a commit came after *seen. */
static void wait_for(witnesses *w, long ms, int wake, uint64_t *seen)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (!atomic_load(&w->stopping) && !(wake && w->wakeups != *seen))
        if (pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT)
            break;
    *seen = w->wakeups;
    pthread_mutex_unlock(&w->mu);
}

/* The log line's event for an outcome (slog keys and events: [a-z_]+). */
static const char *outcome_event(witness_outcome o)
{
    switch (o) {
    case WITNESS_COSIGNED: return "witness_cosigned";
    case WITNESS_STALE: return "witness_stale";
    case WITNESS_INCONSISTENT: return "witness_inconsistent";
    case WITNESS_REFUSED: return "witness_refused";
    case WITNESS_BAD_RESPONSE: return "witness_bad_response";
    case WITNESS_UNAVAILABLE: break;
    }
    return "witness_unavailable";
}

typedef struct prove_ctx {
    witnesses *w;
} prove_ctx;

/* witness_prove_fn over the stored tiles, in a read snapshot of its own:
 * tiles only grow, so a proof between two sizes the log signed is the same
 * from any later snapshot. */
static int prove(void *ctx, uint64_t old_size, uint64_t new_size, uint8_t *proof, size_t *count)
{
    prove_ctx *p = ctx;
    store_tx *tx;
    int rc;

    *count = 0;
    if (old_size == new_size)
        return 0;
    if (store_read_begin(p->w->store, &tx) != STORE_OK)
        return -EIO;
    rc = audit_consistency_proof(p->w->log, tx, old_size, new_size,
                                 (uint8_t(*)[MERKLE_HASH_SIZE])proof, count);
    store_read_end(tx);
    return rc != 0 ? -EIO : 0;
}

typedef struct keep_arg {
    const witness_config *cfg;
    int64_t size;
    const char *line;
    size_t len;
} keep_arg;

/* Write job: the cosignature and the witness's new size, together. A
 * second line for the same size (another replica's, or ours again after a
 * lost answer) is not an error: the first stays. */
static int keep(store_tx *tx, void *arg)
{
    const keep_arg *k = arg;
    int rc = store_cosignature_put(tx, k->size, k->cfg->vkey, (const uint8_t *)k->line, k->len);

    if (rc != STORE_OK && rc != STORE_EXISTS)
        return 1;
    return store_witness_size_raise(tx, k->cfg->vkey, k->size) == STORE_OK ? 0 : 1;
}

/* The newest checkpoint and the size the database says this witness last
 * cosigned (0: none). STORE_NOT_FOUND: the log has no checkpoint yet. */
static int latest(witness_sender *ws, char **note, size_t *len, int64_t *size, int64_t *cosigned)
{
    store_tx *tx;
    uint8_t *n = NULL;
    int rc;

    *note = NULL;
    *cosigned = 0;
    if ((rc = store_read_begin(ws->w->store, &tx)) != STORE_OK)
        return rc;
    rc = store_checkpoint_get(tx, -1, &n, len, size);
    if (rc == STORE_OK) {
        int wrc = store_witness_size(tx, ws->cfg->vkey, cosigned);
        if (wrc != STORE_OK && wrc != STORE_NOT_FOUND)
            rc = wrc;
    }
    store_read_end(tx);
    if (rc != STORE_OK) {
        free(n);
        return rc;
    }
    *note = (char *)n;
    return STORE_OK;
}

static void log_failure(witness_sender *ws, const witness_result *r, int64_t size, int loud)
{
    uint64_t count = r->outcome == WITNESS_INCONSISTENT ? atomic_load(&ws->inconsistent)
                     : r->outcome == WITNESS_REFUSED    ? atomic_load(&ws->refused)
                     : r->outcome == WITNESS_BAD_RESPONSE ? atomic_load(&ws->bad_response)
                     : r->outcome == WITNESS_STALE        ? atomic_load(&ws->stale)
                                                          : atomic_load(&ws->unavailable);

    SLOG(loud ? SLOG_ERROR : SLOG_WARN, outcome_event(r->outcome),
         SLOG_S("witness", ws->cfg->key.name), SLOG_S("url", witness_client_url(ws->client)),
         SLOG_I("size", size), SLOG_I("http_status", r->http_status), SLOG_I("count", count),
         SLOG_S("msg", r->message));
}

/* A cosignature: kept, with the witness's new size, before it counts. */
static step keep_cosignature(witness_sender *ws, int64_t size, const witness_result *r)
{
    keep_arg k = {ws->cfg, size, r->line, r->line_len};
    int job_rc = 0, rc = store_write(ws->w->store, keep, &k, &job_rc);

    if (rc != STORE_OK || job_rc != 0) {
        atomic_fetch_add(&ws->store_failed, 1);
        SLOG(SLOG_ERROR, "witness_store_failed", SLOG_S("witness", ws->cfg->key.name),
             SLOG_I("size", size), SLOG_S("error", store_strerror(rc != STORE_OK ? rc : STORE_ERROR)));
        return STEP_FAILED;
    }
    atomic_fetch_add(&ws->cosigned, 1);
    atomic_store(&ws->last_size, size);
    atomic_store(&ws->last_time, (int64_t)r->timestamp);
    if (ws->failures > 0)
        SLOG(SLOG_INFO, "witness_recovered", SLOG_S("witness", ws->cfg->key.name),
             SLOG_I("size", size), SLOG_I("after_failures", ws->failures));
    ws->failures = 0;
    return STEP_DONE;
}

/* What the sender does with the witness's answer. */
static step on_answer(witness_sender *ws, int64_t size, const witness_result *r)
{
    switch (r->outcome) {
    case WITNESS_COSIGNED:
        return keep_cosignature(ws, size, r);
    case WITNESS_STALE:
        /* It cosigned a larger tree than the newest checkpoint this replica
         * sees (another replica's, not yet visible here; or a log it was
         * shown that is not this one). Wait for the log to catch up. */
        atomic_fetch_add(&ws->stale, 1);
        if (ws->failures++ == 0)
            log_failure(ws, r, size, 0);
        return STEP_FAILED;
    case WITNESS_UNAVAILABLE:
        if (atomic_load(&ws->w->stopping))
            return STEP_IDLE;
        atomic_fetch_add(&ws->unavailable, 1);
        if (ws->failures++ == 0) /* once per outage, and a line when it ends */
            log_failure(ws, r, size, 0);
        return STEP_FAILED;
    case WITNESS_INCONSISTENT:
    case WITNESS_REFUSED:
    case WITNESS_BAD_RESPONSE:
        /* A witness that refuses this log's checkpoint: a fork, a split
         * view, a configuration mismatch, or a broken witness. Each time,
         * loudly: someone must look. */
        atomic_fetch_add(r->outcome == WITNESS_INCONSISTENT ? &ws->inconsistent
                         : r->outcome == WITNESS_REFUSED    ? &ws->refused
                                                            : &ws->bad_response,
                         1);
        ws->failures++;
        log_failure(ws, r, size, 1);
        return STEP_FAILED;
    }
    return STEP_FAILED;
}

/* One round: the newest checkpoint to the witness, unless it cosigned it. */
static step send_latest(witness_sender *ws, uint64_t *hint)
{
    prove_ctx pc = {ws->w};
    witness_result *r = NULL;
    char *note = NULL;
    size_t len = 0;
    int64_t size = 0, cosigned = 0;
    uint64_t known;
    step out = STEP_FAILED;
    int rc;

    rc = latest(ws, &note, &len, &size, &cosigned);
    if (rc == STORE_NOT_FOUND)
        return STEP_IDLE;
    if (rc != STORE_OK) {
        SLOG(SLOG_WARN, "witness_store_read", SLOG_S("witness", ws->cfg->key.name),
             SLOG_S("error", store_strerror(rc)));
        return STEP_FAILED;
    }
    if (cosigned >= size) {
        free(note);
        return STEP_IDLE;
    }
    /* What the database says it cosigned, or what it told this sender in a
     * 409 (it knows best; a wrong hint costs one more 409). */
    known = (uint64_t)cosigned > *hint ? (uint64_t)cosigned : *hint;
    if ((r = calloc(1, sizeof(*r))) == NULL)
        goto done;
    atomic_fetch_add(&ws->requests, 1);
    rc = witness_client_cosign(ws->client, note, len, &known, prove, &pc, r);
    *hint = known;
    if (rc != 0)
        SLOG(SLOG_ERROR, "witness_send_failed", SLOG_S("witness", ws->cfg->key.name),
             SLOG_I("size", size), SLOG_S("error", strerror(-rc)));
    else
        out = on_answer(ws, size, r);
done:
    free(r);
    free(note);
    return out;
}

void *witness__sender_main(void *arg)
{
    witness_sender *ws = arg;
    witnesses *w = ws->w;
    uint64_t seen = 0, hint = 0;
    long backoff = 0;

    while (!atomic_load(&w->stopping)) {
        step s = send_latest(ws, &hint);
        if (atomic_load(&w->stopping))
            break;
        if (s == STEP_FAILED) {
            /* Exponential backoff; commits do not shorten it, so a dead
             * witness is asked at most once per backoff, whatever the write
             * rate. */
            backoff = backoff == 0 ? w->backoff_ms
                                   : (backoff * 2 > w->backoff_max_ms ? w->backoff_max_ms
                                                                      : backoff * 2);
            wait_for(w, backoff, 0, &seen);
        } else {
            backoff = 0;
            /* Cosigned, or nothing new: the next commit, or a poll for
             * checkpoints another replica signed. */
            if (s == STEP_IDLE)
                wait_for(w, w->poll_ms, 1, &seen);
        }
    }
    return NULL;
}
