/* store_pg_changes.c — the PostgreSQL engine's change log (store.h's
 * meaning, store_sqlite.c's counterparts; the schema is migration 3 of
 * store_pg_schema.c): writing a row under its audit record's index, scans in
 * index order, one resource's versions, a donor's live matches as of a
 * position, and where the log begins. */
#include <stdlib.h>

#include "store/store_pg.h"

/* A state in a mask of states (bit 1 << state), as store_pg_queries.c. */
#define IN_MASK(col, param) "((1::bigint << " col "::integer) & " param ") <> 0"
#define CHANGE_COLUMNS "idx, seq, kind, name, deleted, donor, need, state, data"

_Static_assert(STORE_DONOR == 0 && STORE_PLEDGE == 1 && STORE_NEED == 2 && STORE_MATCH == 3 &&
                   STORE_RATE == 5,
               "the change log's SQL spells these kind numbers");

const char *pg_change_sql(int id)
{
    switch (id) {
    case PG_CHANGE_PUT:
        return "INSERT INTO changes(" CHANGE_COLUMNS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9)"
               " ON CONFLICT DO NOTHING";
    case PG_CHANGE_SCAN: /* changes_order: an index range in (idx, seq) order */
        return "SELECT " CHANGE_COLUMNS " FROM changes WHERE idx >= $1 AND idx < $2"
               " ORDER BY idx, seq LIMIT $3";
    case PG_CHANGE_VERSIONS: /* changes_version (kind, name, idx) */
        return "SELECT " CHANGE_COLUMNS " FROM changes WHERE kind = $1 AND name = $2"
               " AND idx >= $3 AND idx < $4 ORDER BY idx LIMIT $5";
    case PG_CHANGE_VERSIONS_DESC:
        return "SELECT " CHANGE_COLUMNS " FROM changes WHERE kind = $1 AND name = $2"
               " AND idx >= $3 AND idx < $4 ORDER BY idx DESC LIMIT $5";
    case PG_CHANGE_LIVE_MATCH: /* changes_match, then changes_version per match */
        return "SELECT EXISTS (SELECT 1 FROM changes m WHERE m.kind = 3 AND m.need = $1"
               " AND m.donor = $2 AND m.idx <= $4 AND " IN_MASK("m.state", "$3")
               " AND NOT EXISTS (SELECT 1 FROM changes l WHERE l.kind = 3 AND l.name = m.name"
               " AND l.idx > m.idx AND l.idx <= $4))";
    case PG_CHANGE_START:
        return "SELECT idx FROM change_log_start WHERE id = 1";
    }
    return NULL;
}

int pg_change_put(struct store_conn *c, const store_change *ch)
{
    pg_params p = {0};
    int64_t rows = 0;
    int rc;

    pg_int(&p, ch->index);
    pg_int(&p, ch->seq);
    pg_int(&p, (int64_t)ch->kind);
    pg_str(&p, ch->name);
    pg_int(&p, ch->deleted);
    pg_str(&p, ch->donor);
    pg_str(&p, ch->need);
    pg_int(&p, ch->state);
    pg_blob(&p, ch->data, ch->len);
    /* Written with its record's fresh index: in a batch, a taken (kind,
     * name, idx) means the log disagrees with its head, and fails the batch
     * (deferred); elsewhere it is an answer, and the transaction stays usable. */
    if (pg_in_write_tx(c))
        return pg_defer(c, PG_CHANGE_PUT, &p, 1, STORE_CORRUPT);
    if ((rc = pg_exec(c, PG_CHANGE_PUT, &p, &rows)) != STORE_OK)
        return rc;
    return rows == 1 ? STORE_OK : STORE_EXISTS;
}

/* Runs a statement selecting the change columns and hands each row to fn
 * (text columns come NUL-terminated from libpq, in binary too). */
static int change_rows(struct store_conn *c, int id, const pg_params *p, store_change_fn fn,
                       void *ctx)
{
    PGresult *r;
    int rc;

    if ((rc = pg_run(c, id, p, &r)) != STORE_OK)
        return rc;
    if (PQnfields(r) != 9) {
        PQclear(r);
        return STORE_CORRUPT;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t kind = pg_get_int(r, i, 2);
        store_change ch = {
            .index = pg_get_int(r, i, 0),
            .seq = (int)pg_get_int(r, i, 1),
            .kind = (store_kind)kind,
            .name = PQgetvalue(r, i, 3),
            .deleted = (int)pg_get_int(r, i, 4),
            .donor = PQgetvalue(r, i, 5),
            .need = PQgetvalue(r, i, 6),
            .state = (int)pg_get_int(r, i, 7),
            .data = (const uint8_t *)PQgetvalue(r, i, 8),
            .len = (size_t)PQgetlength(r, i, 8),
        };
        if (kind < 0 || kind >= STORE_KIND_COUNT || PQgetisnull(r, i, 3) ||
            PQgetisnull(r, i, 5) || PQgetisnull(r, i, 6) || PQgetisnull(r, i, 8)) {
            rc = STORE_CORRUPT;
            break;
        }
        if (fn(&ch, ctx) != 0)
            break;
    }
    PQclear(r);
    return rc;
}

int pg_change_scan(struct store_conn *c, int64_t from, int64_t to, int limit,
                   store_change_fn fn, void *ctx)
{
    pg_params p = {0};

    pg_int(&p, from);
    pg_int(&p, to);
    pg_int(&p, limit);
    return change_rows(c, PG_CHANGE_SCAN, &p, fn, ctx);
}

int pg_change_versions(struct store_conn *c, store_kind kind, const char *name, int64_t from,
                       int64_t to, int descending, int limit, store_change_fn fn, void *ctx)
{
    pg_params p = {0};

    pg_int(&p, (int64_t)kind);
    pg_str(&p, name);
    pg_int(&p, from);
    pg_int(&p, to);
    pg_int(&p, limit);
    return change_rows(c, descending ? PG_CHANGE_VERSIONS_DESC : PG_CHANGE_VERSIONS, &p, fn,
                       ctx);
}

int pg_change_live_match(struct store_conn *c, const char *need, const char *donor,
                         uint32_t state_mask, int64_t at, int *yes)
{
    pg_params p = {0};
    int64_t v = 0;
    int rc;

    pg_str(&p, need);
    pg_str(&p, donor);
    pg_int(&p, state_mask);
    pg_int(&p, at);
    rc = pg_ints(c, PG_CHANGE_LIVE_MATCH, &p, 1, &v);
    *yes = v != 0;
    return rc;
}

int pg_change_start(struct store_conn *c, int64_t *start)
{
    pg_params p = {0};
    int rc;

    *start = 0;
    rc = pg_ints(c, PG_CHANGE_START, &p, 1, start);
    return rc == STORE_NOT_FOUND ? STORE_CORRUPT : rc; /* migration 3 made the row */
}
