/* store_pg_pipeline.c — how the PostgreSQL engine talks to its server:
 * every statement through libpq's pipeline mode, deferred or waited for,
 * failures kept to the statement, job or batch they belong to; list
 * statements prepared by their text. Design: docs/store.md ("The
 * pipeline"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/slog.h"
#include "store/store_pg.h"

/* ---- The pipeline ----
 * Every statement goes through libpq's pipeline mode. A statement whose
 * result the caller needs is sent behind whatever was deferred, with a Sync,
 * and all their results are read in one round trip; a deferred statement
 * (transaction control, savepoints, the audit log's appends, tiles,
 * checkpoint and head) is only queued in libpq's output buffer. So a read is
 * its BEGIN and first statement in one round trip, and a write batch one
 * round trip per statement whose answer a job needs, plus its COMMIT
 * carrying the batch's tail. An error inside a pipeline aborts what follows
 * it up to the Sync: a statement that needs an answer is synced at once, so
 * its own failure reaches its caller exactly as before (a job rolls back to
 * its savepoint and the batch goes on); a deferred statement's failure is
 * kept (sticky) and returned by every later call until the transaction
 * ends, so the batch fails as a whole. */

enum { PEND_PREP, PEND_STMT, PEND_SYNC, PEND_LPREP, PEND_QUIET };

/* A failure to send: the connection is gone, or libpq refused. */
static int send_failed(store_conn *c)
{
    char line[300];
    int rc = PQstatus(c->h) == CONNECTION_BAD ? STORE_IO : STORE_ERROR;

    pg_one_line(line, sizeof(line), PQerrorMessage(c->h));
    SLOG(rc == STORE_ERROR ? SLOG_ERROR : SLOG_WARN, "pg_error", SLOG_S("sqlstate", "-"),
         SLOG_S("db", c->db->where), SLOG_S("msg", line));
    return rc;
}

static void pend_push(store_conn *c, int type, int id, int expect, int mismatch)
{
    pg_pend *e = &c->pend[c->npend++];

    e->type = (short)type;
    e->id = (short)id;
    e->expect = expect;
    e->mismatch = mismatch;
}

static int pipe_on(store_conn *c)
{
    if (PQpipelineStatus(c->h) != PQ_PIPELINE_OFF)
        return STORE_OK;
    return PQenterPipelineMode(c->h) ? STORE_OK : send_failed(c);
}

/* Reads the results of everything pending (a Sync sent first). own is the
 * first entry of the statement the caller waits for (-1: none), want its
 * own entry; *res gets its result. A deferred failure becomes sticky. */
static int collect(store_conn *c, int own, int want, PGresult **res)
{
    int seg = STORE_OK, mine = STORE_OK, deferred = STORE_OK, lost = 0;

    if (res != NULL)
        *res = NULL;
    if (c->npend == 0)
        return c->sticky;
    if (!PQpipelineSync(c->h)) {
        c->npend = 0;
        return send_failed(c) == STORE_IO ? STORE_IO : STORE_ERROR;
    }
    pend_push(c, PEND_SYNC, -1, -1, 0);
    for (int i = 0; i < c->npend && !lost; i++) {
        pg_pend *e = &c->pend[i];
        int is_mine = own >= 0 && i >= own && i <= want;
        PGresult *r = PQgetResult(c->h), *extra;
        ExecStatusType st;
        int rc;

        if (r == NULL) {
            lost = 1;
            break;
        }
        st = PQresultStatus(r);
        if (e->type == PEND_SYNC) {
            PQclear(r);
            if (st != PGRES_PIPELINE_SYNC)
                lost = 1;
            seg = STORE_OK; /* what follows a Sync runs again */
            continue;
        }
        while ((extra = PQgetResult(c->h)) != NULL) /* a statement's results end with NULL */
            PQclear(extra);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            if (e->type == PEND_STMT && e->expect >= 0 &&
                strtoll(PQcmdTuples(r), NULL, 10) != e->expect && deferred == STORE_OK) {
                deferred = e->mismatch;
                SLOG(SLOG_ERROR, "pg_deferred_rows", SLOG_S("db", c->db->where),
                     SLOG_I("statement", e->id), SLOG_S("error", store_strerror(e->mismatch)));
            }
            if (i == want && res != NULL)
                *res = r;
            else
                PQclear(r);
            continue;
        }
        if (e->type == PEND_PREP && e->id >= 0)
            c->prepared[e->id] = 0; /* not prepared after all */
        if (e->type == PEND_LPREP) {
            free(c->list_sql[e->id]);
            c->list_sql[e->id] = NULL;
        }
        if (st == PGRES_PIPELINE_ABORTED) {
            PQclear(r);
            if (is_mine && mine == STORE_OK)
                mine = seg != STORE_OK ? seg : STORE_ERROR;
            continue;
        }
        rc = pg_fail(c, r);
        PQclear(r);
        if (PQstatus(c->h) == CONNECTION_BAD)
            lost = 1;
        if (seg == STORE_OK)
            seg = rc == STORE_EXISTS || rc == STORE_NOT_FOUND ? STORE_ERROR : rc;
        if (is_mine) {
            if (mine == STORE_OK)
                mine = rc;
        } else if (e->type != PEND_QUIET && deferred == STORE_OK) {
            deferred = seg;
        }
    }
    c->npend = 0;
    if (lost || PQstatus(c->h) == CONNECTION_BAD) {
        if (res != NULL && *res != NULL) {
            PQclear(*res);
            *res = NULL;
        }
        return STORE_IO; /* the neutral store replaces the connection */
    }
    if (!PQexitPipelineMode(c->h))
        return send_failed(c);
    if (deferred != STORE_OK && c->sticky == STORE_OK)
        c->sticky = deferred;
    if (c->sticky != STORE_OK || mine != STORE_OK) {
        if (res != NULL && *res != NULL) {
            PQclear(*res);
            *res = NULL;
        }
        return c->sticky != STORE_OK ? c->sticky : mine;
    }
    return STORE_OK;
}

/* Queues a prepared statement by name (preparing fixed statement id first
 * when it is not yet). */
static int send_named(store_conn *c, int id, const char *name, const pg_params *p, int expect,
                      int mismatch)
{
    int rc;

    if (c->npend + 4 > PG_PEND_MAX && (rc = collect(c, -1, -1, NULL)) != STORE_OK)
        return rc;
    if ((rc = pipe_on(c)) != STORE_OK)
        return rc;
    if (id >= 0 && !c->prepared[id]) {
        const char *sql = pg_fixed_sql(id);
        if (sql == NULL)
            return STORE_ERROR;
        if (!PQsendPrepare(c->h, name, sql, p->n, p->type))
            return send_failed(c);
        c->prepared[id] = 1;
        pend_push(c, PEND_PREP, id, -1, 0);
    }
    if (!PQsendQueryPrepared(c->h, name, p->n, p->v, p->len, p->fmt, 1))
        return send_failed(c);
    pend_push(c, PEND_STMT, id, expect, mismatch);
    return STORE_OK;
}

static void stmt_name(char name[16], int id)
{
    snprintf(name, 16, "s%d", id);
}

int pg_defer(store_conn *c, int id, const pg_params *p, int expect, int mismatch)
{
    char name[16];

    if (c->sticky != STORE_OK)
        return c->sticky;
    c->replayable = 0;
    stmt_name(name, id);
    return send_named(c, id, name, p, expect, mismatch);
}

/* The whole pipeline read; the first failure. */
int pg_drain(store_conn *c)
{
    return collect(c, -1, -1, NULL);
}


/* The name of a list statement prepared on c for this text, queueing its
 * preparation (in place of the oldest) if it is new; NULL on failure (*rc
 * says why). */
static const char *list_prepare(store_conn *c, const store_sql *q, const pg_params *p,
                                char name[16], int *rc)
{
    unsigned slot;

    *rc = STORE_OK;
    for (unsigned i = 0; i < LIST_CACHE; i++)
        if (c->list_sql[i] != NULL && strcmp(c->list_sql[i], q->text) == 0) {
            snprintf(name, 16, "l%u", c->list_id[i]);
            return name;
        }
    if (c->npend + 6 > PG_PEND_MAX && (*rc = pg_drain(c)) != STORE_OK)
        return NULL;
    if ((*rc = pipe_on(c)) != STORE_OK)
        return NULL;
    slot = c->list_next++ % LIST_CACHE;
    if (c->list_sql[slot] != NULL) {
        /* Forget the oldest (a failed DEALLOCATE only leaves it prepared
         * until the connection closes: its failure is nobody's). */
        char old[32];
        snprintf(old, sizeof(old), "DEALLOCATE l%u", c->list_id[slot]);
        if (!PQsendQueryParams(c->h, old, 0, NULL, NULL, NULL, NULL, 0)) {
            *rc = send_failed(c);
            return NULL;
        }
        pend_push(c, PEND_QUIET, -1, -1, 0);
        free(c->list_sql[slot]);
        c->list_sql[slot] = NULL;
    }
    c->list_id[slot] = ++c->list_serial;
    snprintf(name, 16, "l%u", c->list_id[slot]);
    if ((c->list_sql[slot] = strdup(q->text)) == NULL) {
        *rc = STORE_NOMEM;
        return NULL;
    }
    if (!PQsendPrepare(c->h, name, q->text, p->n, p->type)) {
        free(c->list_sql[slot]);
        c->list_sql[slot] = NULL;
        *rc = send_failed(c);
        return NULL;
    }
    pend_push(c, PEND_LPREP, (int)slot, -1, 0);
    return name;
}

/* Runs fixed statement id (or list statement q) and waits for its result,
 * with whatever was deferred before it. A transaction that so far is only
 * transaction control, on a connection found dead (a pooled one whose
 * server restarted), is tried once more on a new connection, as the neutral
 * store retries a BEGIN that failed so (store__begin). */
static int run_wait(store_conn *c, int id, const store_sql *q, const pg_params *p, PGresult **res)
{
    for (int attempt = 0;; attempt++) {
        int replayable = c->replayable, own = c->npend, rc;
        char name[16];

        *res = NULL;
        c->replayable = 0;
        if (c->sticky != STORE_OK) {
            pg_drain(c);
            return c->sticky;
        }
        if (q != NULL) {
            if (list_prepare(c, q, p, name, &rc) == NULL)
                rc = rc != STORE_OK ? rc : STORE_ERROR;
            else
                rc = send_named(c, -1, name, p, -1, 0);
        } else {
            stmt_name(name, id);
            rc = send_named(c, id, name, p, -1, 0);
        }
        if (rc == STORE_OK)
            rc = collect(c, own, c->npend - 1, res);
        else if (PQstatus(c->h) != CONNECTION_BAD)
            pg_drain(c);
        if (rc != STORE_IO || !replayable || attempt > 0)
            return rc;
        if (pg_conn_reopen(c) != STORE_OK)
            return STORE_IO;
    }
}

/* A result that is an error: its code (result cleared). */
int pg_result(store_conn *c, PGresult *r, PGresult **res)
{
    ExecStatusType s = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc;

    if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
        *res = r;
        return STORE_OK;
    }
    rc = pg_fail(c, r);
    PQclear(r);
    *res = NULL;
    return rc;
}

int pg_run(store_conn *c, int id, const pg_params *p, PGresult **res)
{
    return run_wait(c, id, NULL, p, res);
}

int pg_exec(store_conn *c, int id, const pg_params *p, int64_t *rows)
{
    PGresult *r;
    int rc = pg_run(c, id, p, &r);

    if (rc != STORE_OK)
        return rc;
    if (rows != NULL)
        *rows = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return STORE_OK;
}

int pg_ints(store_conn *c, int id, const pg_params *p, int n, int64_t *out)
{
    PGresult *r;
    int rc = pg_run(c, id, p, &r);

    if (rc != STORE_OK)
        return rc;
    if (PQntuples(r) == 0 || PQnfields(r) < n) {
        PQclear(r);
        return STORE_NOT_FOUND;
    }
    for (int i = 0; i < n; i++)
        out[i] = pg_get_int(r, 0, i);
    PQclear(r);
    return STORE_OK;
}

/* A statement without values, outside the pipeline (the migrations). */
int pg_simple(store_conn *c, const char *sql)
{
    PGresult *r;
    int rc;

    if ((rc = pg_drain(c)) != STORE_OK)
        return rc;
    r = PQexec(c->h, sql);
    rc = pg_result(c, r, &r);
    PQclear(r);
    return rc;
}

/* Transaction control, deferred. A transaction that so far holds only
 * transaction control can be replayed on a new connection: its ids are
 * kept while it can. */
int pg_tx_stmt(store_conn *c, int id)
{
    pg_params p = {0};
    int replayable = c->replayable && c->nreplay < (int)(sizeof(c->replay) / sizeof(c->replay[0]));
    int rc = pg_defer(c, id, &p, -1, 0);

    if (rc == STORE_OK && replayable) {
        c->replay[c->nreplay++] = (short)id;
        c->replayable = 1;
    }
    return rc;
}

int pg_exec_unique(store_conn *c, int id, const pg_params *p, int64_t *rows)
{
    int rc;

    if ((rc = pg_tx_stmt(c, PG_SP0 + PG_DEPTH_UNIQUE)) != STORE_OK)
        return rc;
    rc = pg_exec(c, id, p, rows);
    if (rc == STORE_OK)
        return pg_tx_stmt(c, PG_REL0 + PG_DEPTH_UNIQUE);
    if (PQstatus(c->h) != CONNECTION_BAD && c->sticky == STORE_OK) {
        int undo = pg_tx_stmt(c, PG_RBTO0 + PG_DEPTH_UNIQUE);
        if (undo == STORE_OK)
            undo = pg_tx_stmt(c, PG_REL0 + PG_DEPTH_UNIQUE);
        if (undo != STORE_OK)
            return undo;
    }
    return rc;
}

int pg_run_list(store_conn *c, const store_sql *q, const pg_params *p, PGresult **res)
{
    return run_wait(c, -1, q, p, res);
}

int pg_send_nowait(store_conn *c, int id)
{
    pg_params p = {0};
    char name[16];
    int rc;

    c->replayable = 0;
    if (c->sticky != STORE_OK) {
        rc = c->sticky;
        pg_drain(c);
        return rc;
    }
    stmt_name(name, id);
    if ((rc = send_named(c, id, name, &p, -1, 0)) != STORE_OK)
        return rc;
    c->pend[c->npend - 1].type = PEND_QUIET; /* no later transaction's concern */
    if (!PQpipelineSync(c->h))
        return send_failed(c);
    pend_push(c, PEND_SYNC, -1, -1, 0);
    return STORE_OK;
}
