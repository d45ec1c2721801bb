/* witnesses.c — the configured witnesses of tallinnd's audit log: checking
 * the configuration, one client and one sender thread per witness, waking
 * the senders after each commit (a commit observer that only signals), an
 * orderly stop, and the counters. The sending itself is witness_sender.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/slog.h"
#include "witness/witness_internal.h"

/* After each batch, committed or not: a new checkpoint may be there. Only
 * signals; the committer never waits for a witness. */
static void on_commit(int committed, void *ctx)
{
    witnesses *w = ctx;

    if (!committed)
        return;
    pthread_mutex_lock(&w->mu);
    w->wakeups++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int cancelled(void *ctx)
{
    const witnesses *w = ctx;
    return atomic_load(&w->stopping);
}

static int check_options(const witnesses_options *o, char *err, size_t errlen)
{
    if (o->count < 1 || o->count > WITNESSES_MAX) {
        snprintf(err, errlen, "from 1 to %d witnesses, not %zu", WITNESSES_MAX, o->count);
        return -1;
    }
    if (o->quorum < 1 || o->quorum > o->count) {
        snprintf(err, errlen, "--witness-quorum %zu: from 1 to the number of witnesses (%zu)",
                 o->quorum, o->count);
        return -1;
    }
    for (size_t i = 0; i < o->count; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(o->list[i].key.name, o->list[j].key.name) == 0 &&
                o->list[i].key.key_id == o->list[j].key.key_id) {
                snprintf(err, errlen, "--witness %s is given twice", o->list[i].key.name);
                return -1;
            }
    return 0;
}

int witnesses_create(witnesses **out, store *s, audit *log, const witnesses_options *o, char *err,
                     size_t errlen)
{
    witnesses *w;
    pthread_condattr_t ca;

    *out = NULL;
    if (check_options(o, err, errlen) != 0)
        return -1;
    if ((w = calloc(1, sizeof(*w))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->store = s;
    w->log = log;
    w->count = o->count;
    w->quorum = o->quorum;
    w->backoff_ms = o->backoff_ms > 0 ? o->backoff_ms : 500;
    w->backoff_max_ms = o->backoff_max_ms > 0 ? o->backoff_max_ms : 30000;
    if (w->backoff_max_ms < w->backoff_ms)
        w->backoff_max_ms = w->backoff_ms;
    w->poll_ms = o->poll_ms > 0 ? o->poll_ms : 1000;
    memcpy(w->cfg, o->list, o->count * sizeof(o->list[0]));
    pthread_mutex_init(&w->mu, NULL);
    /* Waits are measured on the monotonic clock: a clock step never makes a
     * sender sleep for hours or spin. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    for (size_t i = 0; i < w->count; i++) {
        witness_sender *ws = &w->senders[i];
        witness_client_options co = {
            .url = w->cfg[i].url,
            .key = w->cfg[i].key,
            .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : WITNESSES_TIMEOUT_MS,
            .ca_file = o->ca_file,
            .cancelled = cancelled,
            .cancel_ctx = w,
        };
        char why[512];
        ws->w = w;
        ws->cfg = &w->cfg[i];
        atomic_store(&ws->last_size, -1);
        if (witness_client_create(&co, &ws->client, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "--witness %s: %s", w->cfg[i].key.name, why);
            witnesses_destroy(w);
            return -1;
        }
    }
    *out = w;
    return 0;
}

int witnesses_start(witnesses *w)
{
    store_observer o = {NULL, NULL, on_commit, w};

    if (store_observe(w->store, &o) != STORE_OK)
        return -1;
    w->observing = 1;
    for (size_t i = 0; i < w->count; i++) {
        witness_sender *ws = &w->senders[i];
        if (pthread_create(&ws->thread, NULL, witness__sender_main, ws) != 0) {
            witnesses_stop(w);
            return -1;
        }
        ws->started = 1;
    }
    return 0;
}

void witnesses_stop(witnesses *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->stopping, 1);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < w->count; i++) {
        witness_sender *ws = &w->senders[i];
        witness_stats st;
        if (!ws->started)
            continue;
        pthread_join(ws->thread, NULL);
        ws->started = 0;
        witnesses_stats(w, i, &st);
        SLOG(SLOG_INFO, "witness_stats", SLOG_S("witness", st.name),
             SLOG_I("requests", st.requests), SLOG_I("cosigned", st.cosigned),
             SLOG_I("stale", st.stale), SLOG_I("inconsistent", st.inconsistent),
             SLOG_I("refused", st.refused), SLOG_I("bad_response", st.bad_response),
             SLOG_I("unavailable", st.unavailable), SLOG_I("store_failed", st.store_failed),
             SLOG_I("last_cosigned_size", st.last_cosigned_size));
    }
}

void witnesses_destroy(witnesses *w)
{
    if (w == NULL)
        return;
    witnesses_stop(w);
    for (size_t i = 0; i < w->count; i++)
        witness_client_destroy(w->senders[i].client);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

size_t witnesses_count(const witnesses *w)
{
    return w != NULL ? w->count : 0;
}

size_t witnesses_quorum(const witnesses *w)
{
    return w != NULL ? w->quorum : 0;
}

int witnesses_stats(const witnesses *w, size_t i, witness_stats *out)
{
    const witness_sender *ws;

    if (w == NULL || i >= w->count)
        return -1;
    ws = &w->senders[i];
    memset(out, 0, sizeof(*out));
    out->name = w->cfg[i].key.name;
    out->url = witness_client_url(ws->client);
    out->requests = atomic_load(&ws->requests);
    out->cosigned = atomic_load(&ws->cosigned);
    out->stale = atomic_load(&ws->stale);
    out->inconsistent = atomic_load(&ws->inconsistent);
    out->refused = atomic_load(&ws->refused);
    out->bad_response = atomic_load(&ws->bad_response);
    out->unavailable = atomic_load(&ws->unavailable);
    out->store_failed = atomic_load(&ws->store_failed);
    out->last_cosigned_size = atomic_load(&ws->last_size);
    out->last_cosigned_time = atomic_load(&ws->last_time);
    return 0;
}
