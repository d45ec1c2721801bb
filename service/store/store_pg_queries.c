/* store_pg_queries.c — the PostgreSQL engine's named queries (store.h's
 * meaning, store_sqlite.c's counterparts): sums and counts for the guards
 * and reports, principals and their epoch, the audit log's tables and
 * remembered requests. Sums are SUM(bigint), a numeric, read exactly as
 * text into 128 bits. */
#include <stdlib.h>
#include <string.h>

#include "store/store_pg.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/need.pb-c.h"

/* A state in a mask of states (bit 1 << state). */
#define IN_MASK(col, param) "((1::bigint << " col "::integer) & " param ") <> 0"

_Static_assert(TALLINN__V1__NEED__STATE__STATE_OPEN == 6 &&
                   TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_STANDARD == 1 &&
                   TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_RESTRICTED == 2 &&
                   TALLINN__V1__PLEDGE__STATE__STATE_WITHDRAWN == 3 &&
                   TALLINN__V1__DONOR__MEMBERSHIP__MEMBERSHIP_MEMBER == 1,
               "the report SQL spells these enum numbers");

/* Audit leaves read per statement while scanning: a scan of the whole log
 * at start-up never holds more than this many in memory. */
#define SCAN_CHUNK 4096

const char *pg_query_sql(int id)
{
    switch (id) {
    case PG_MATCH_SUM: /* of a need or a pledge (migration 7) */
        return "SELECT COALESCE(SUM(total), 0)::text FROM match_totals"
               " WHERE owner = $1 AND " IN_MASK("state", "$2");
    case PG_PLEDGE_COUNT:
        return "SELECT COUNT(*) FROM pledges WHERE donor = $1"
               " AND ((1::bigint << state::integer) & $2) = 0";
    case PG_DONOR_RECORD:
        return "SELECT COUNT(*), COUNT(*) FILTER (WHERE n.sector = $3) FROM matches m"
               " JOIN needs n ON n.name = m.need WHERE m.donor = $1 AND " IN_MASK("m.state", "$2");
    case PG_DONOR_HAS_MATCH:
        return "SELECT EXISTS(SELECT 1 FROM matches WHERE need = $1 AND donor = $2"
               " AND " IN_MASK("state", "$3") ")";
    case PG_PRINCIPAL_SET_TOKEN:
        return "UPDATE principals SET token_hash = $2 WHERE name = $1";
    case PG_PRINCIPAL_BY_TOKEN:
        return "SELECT data FROM principals WHERE token_hash = $1";
    case PG_PRINCIPAL_BY_CERT:
        return "SELECT data FROM principals WHERE cert_identity = $1 AND cert_identity <> ''";
    case PG_EPOCH:
        return "SELECT epoch FROM principals_epoch WHERE id = 1";
    case PG_EPOCH_BUMP:
        return "UPDATE principals_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch";
    case PG_AUDIT_HEAD:
        return "SELECT size FROM audit_head WHERE id = 1";
    case PG_AUDIT_HEAD_LOCK: /* every write batch of every replica queues here */
        return "SELECT size FROM audit_head WHERE id = 1 FOR UPDATE";
    case PG_AUDIT_HEAD_SET:
        return "UPDATE audit_head SET size = $1 WHERE id = 1";
    case PG_AUDIT_APPEND:
        return "INSERT INTO audit_leaves(idx, data) VALUES($1, $2) ON CONFLICT DO NOTHING";
    case PG_AUDIT_LEAF:
        return "SELECT data FROM audit_leaves WHERE idx = $1";
    case PG_AUDIT_SIZE:
        return "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_leaves"; /* the primary key's end */
    case PG_AUDIT_COUNT:
        return "SELECT COUNT(*) FROM audit_leaves"; /* O(n): start-up only */
    case PG_AUDIT_SCAN:
        return "SELECT idx, data FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx";
    case PG_TILE_PUT:
        return "INSERT INTO audit_tiles(level, idx, hashes) VALUES($1, $2, $3)"
               " ON CONFLICT (level, idx) DO UPDATE SET hashes = EXCLUDED.hashes";
    case PG_TILE_GET:
        return "SELECT hashes FROM audit_tiles WHERE level = $1 AND idx = $2";
    case PG_CKPT_PUT:
        return "INSERT INTO audit_checkpoints(size, note, time) VALUES($1, $2, $3)"
               " ON CONFLICT DO NOTHING";
    case PG_CKPT_GET:
        return "SELECT size, note FROM audit_checkpoints WHERE size = $1";
    case PG_CKPT_LATEST:
        return "SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1";
    case PG_WITNESS_SIZE:
        return "SELECT size FROM audit_witnesses WHERE witness = $1";
    case PG_WITNESS_RAISE:
        return "INSERT INTO audit_witnesses(witness, size, update_time) VALUES($1, $2, $3)"
               " ON CONFLICT (witness) DO UPDATE SET"
               " size = GREATEST(audit_witnesses.size, EXCLUDED.size),"
               " update_time = EXCLUDED.update_time";
    case PG_COSIG_PUT:
        return "INSERT INTO audit_cosignatures(size, witness, line, time) VALUES($1, $2, $3, $4)"
               " ON CONFLICT DO NOTHING";
    case PG_COSIGS:
        return "SELECT witness, line FROM audit_cosignatures WHERE size = $1 ORDER BY witness";
    case PG_COSIGNED_SIZE:
        return "SELECT size FROM audit_cosignatures WHERE size < $1 GROUP BY size"
               " HAVING COUNT(*) >= $2 ORDER BY size DESC LIMIT 1";
    case PG_QUORUM_PUT: /* after a new line for $1: its count of lines reached */
        return "INSERT INTO audit_quorums(k, size) SELECT COUNT(*), $1 FROM audit_cosignatures"
               " WHERE size = $1 ON CONFLICT (k) DO UPDATE SET"
               " size = GREATEST(audit_quorums.size, EXCLUDED.size)";
    case PG_QUORUM_GET:
        return "SELECT size FROM audit_quorums WHERE k = $1";
    case PG_REQ_GET:
        return "SELECT request_hash, response FROM requests"
               " WHERE principal = $1 AND method = $2 AND request_id = $3";
    case PG_REQ_PUT:
        return "INSERT INTO requests(principal, method, request_id, request_hash, response,"
               " create_time) VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
    case PG_REQ_EXPIRE:
        return "DELETE FROM requests WHERE create_time < $1";
    }
    return NULL;
}

/* ---- Sums and counts ---- */

/* Runs id and reads the first row's sums (text columns first..first+n). */
static int sums(struct store_conn *c, int id, const pg_params *p, int first, int n,
                store_sum *out, int64_t *count)
{
    PGresult *r;
    int rc = pg_run(c, id, p, &r);

    if (rc != STORE_OK)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return STORE_CORRUPT; /* an aggregate without GROUP BY has one row */
    }
    if (count != NULL)
        *count = pg_get_int(r, 0, 0);
    for (int i = 0; i < n && rc == STORE_OK; i++)
        rc = pg_get_sum(r, 0, first + i, &out[i]);
    PQclear(r);
    return rc;
}

int pg_match_sum(struct store_conn *c, const char *need, const char *pledge, uint32_t state_mask,
                 store_sum *nanos)
{
    pg_params p = {0};

    *nanos = 0;
    pg_str(&p, need != NULL ? need : pledge);
    pg_int(&p, state_mask);
    return sums(c, PG_MATCH_SUM, &p, 0, 1, nanos, NULL);
}

int pg_pledge_count(struct store_conn *c, const char *donor, uint32_t except_mask, int64_t *count)
{
    pg_params p = {0};

    *count = 0;
    pg_str(&p, donor);
    pg_int(&p, except_mask);
    return pg_ints(c, PG_PLEDGE_COUNT, &p, 1, count);
}

int pg_donor_record(struct store_conn *c, const char *donor, int sector, uint32_t state_mask,
                    int64_t *all, int64_t *in_sector)
{
    pg_params p = {0};
    int64_t v[2] = {0, 0};
    int rc;

    pg_str(&p, donor);
    pg_int(&p, state_mask);
    pg_int(&p, sector);
    rc = pg_ints(c, PG_DONOR_RECORD, &p, 2, v);
    *all = v[0];
    *in_sector = v[1];
    return rc;
}

int pg_donor_has_match(struct store_conn *c, const char *need, const char *donor,
                       uint32_t state_mask, int *yes)
{
    pg_params p = {0};
    int64_t v = 0;
    int rc;

    pg_str(&p, need);
    pg_str(&p, donor);
    pg_int(&p, state_mask);
    rc = pg_ints(c, PG_DONOR_HAS_MATCH, &p, 1, &v);
    *yes = v != 0;
    return rc;
}

/* ---- Principals ---- */

int pg_principal_set_token(struct store_conn *c, const char *name, const uint8_t hash[32])
{
    pg_params p = {0};
    int64_t rows = 0;
    int rc;

    pg_str(&p, name);
    if (hash != NULL)
        pg_blob(&p, hash, 32);
    else
        pg_null(&p, PG_BYTEAOID);
    /* another principal's hash: an answer (STORE_EXISTS), the batch goes on */
    if ((rc = pg_exec_unique(c, PG_PRINCIPAL_SET_TOKEN, &p, &rows)) != STORE_OK)
        return rc;
    return rows == 1 ? STORE_OK : STORE_NOT_FOUND;
}

int pg_principal_by_token(struct store_conn *c, const uint8_t hash[32], store_blob_fn fn,
                          void *ctx)
{
    pg_params p = {0};

    pg_blob(&p, hash, 32);
    return pg_blob_one(c, PG_PRINCIPAL_BY_TOKEN, &p, fn, ctx);
}

int pg_principal_by_cert(struct store_conn *c, const char *identity, store_blob_fn fn, void *ctx)
{
    pg_params p = {0};

    pg_str(&p, identity);
    return pg_blob_one(c, PG_PRINCIPAL_BY_CERT, &p, fn, ctx);
}

int pg_epoch_get(struct store_conn *c, uint64_t *epoch)
{
    pg_params p = {0};
    int64_t v = 0;
    int rc = pg_ints(c, PG_EPOCH, &p, 1, &v);

    *epoch = (uint64_t)v;
    return rc == STORE_NOT_FOUND ? STORE_CORRUPT : rc; /* migration 1 made the row */
}

int pg_epoch_bump(struct store_conn *c, uint64_t *epoch)
{
    pg_params p = {0};
    int64_t v = 0;
    int rc = pg_ints(c, PG_EPOCH_BUMP, &p, 1, &v);

    *epoch = (uint64_t)v;
    return rc == STORE_NOT_FOUND ? STORE_CORRUPT : rc;
}

/* ---- The audit log ---- */

int pg_audit_head(struct store_conn *c, int64_t *size)
{
    pg_params p = {0};
    int rc;

    *size = 0;
    /* In a write batch the row stays locked until COMMIT or ROLLBACK: the
     * batches of every replica append one after another. */
    rc = pg_ints(c, pg_in_write_tx(c) ? PG_AUDIT_HEAD_LOCK : PG_AUDIT_HEAD, &p, 1, size);
    return rc == STORE_NOT_FOUND ? STORE_CORRUPT : rc;
}

int pg_audit_head_set(struct store_conn *c, int64_t size)
{
    pg_params p = {0};
    int64_t rows = 0;
    int rc;

    pg_int(&p, size);
    if (pg_in_write_tx(c)) /* with the COMMIT: a head that is not there fails the batch */
        return pg_defer(c, PG_AUDIT_HEAD_SET, &p, 1, STORE_CORRUPT);
    if ((rc = pg_exec(c, PG_AUDIT_HEAD_SET, &p, &rows)) != STORE_OK)
        return rc;
    return rows == 1 ? STORE_OK : STORE_CORRUPT;
}

int pg_audit_append(struct store_conn *c, int64_t index, const uint8_t *data, size_t len)
{
    pg_params p = {0};
    int64_t rows = 0;
    int rc;

    pg_int(&p, index);
    pg_blob(&p, data, len);
    /* Under the audit head's lock an index is always new: a taken one means
     * the leaves and the head disagree, and fails the batch (deferred). */
    if (pg_in_write_tx(c))
        return pg_defer(c, PG_AUDIT_APPEND, &p, 1, STORE_CORRUPT);
    if ((rc = pg_exec(c, PG_AUDIT_APPEND, &p, &rows)) != STORE_OK)
        return rc;
    return rows == 1 ? STORE_OK : STORE_EXISTS;
}

/* Runs id and copies the first row's bytea column col. */
static int one_copy(struct store_conn *c, int id, const pg_params *p, int col, uint8_t **out,
                    size_t *len, int64_t *first_int)
{
    PGresult *r;
    int rc;

    *out = NULL;
    *len = 0;
    if ((rc = pg_run(c, id, p, &r)) != STORE_OK)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return STORE_NOT_FOUND;
    }
    if (first_int != NULL)
        *first_int = pg_get_int(r, 0, 0);
    rc = pg_get_copy(r, 0, col, out, len);
    PQclear(r);
    return rc;
}

int pg_audit_leaf(struct store_conn *c, int64_t index, uint8_t **data, size_t *len)
{
    pg_params p = {0};

    pg_int(&p, index);
    return one_copy(c, PG_AUDIT_LEAF, &p, 0, data, len, NULL);
}

int pg_audit_size(struct store_conn *c, int64_t *size, int64_t *count)
{
    pg_params p = {0};
    int rc;

    *size = 0;
    if ((rc = pg_ints(c, PG_AUDIT_SIZE, &p, 1, size)) != STORE_OK || count == NULL)
        return rc;
    return pg_ints(c, PG_AUDIT_COUNT, &p, 1, count);
}

int pg_audit_scan(struct store_conn *c, int64_t start, int64_t end, store_leaf_fn fn, void *ctx)
{
    for (int64_t lo = start; lo < end;) {
        int64_t hi = end - lo > SCAN_CHUNK ? lo + SCAN_CHUNK : end;
        pg_params p = {0};
        PGresult *r;
        int rc, stop = 0;

        pg_int(&p, lo);
        pg_int(&p, hi);
        if ((rc = pg_run(c, PG_AUDIT_SCAN, &p, &r)) != STORE_OK)
            return rc;
        for (int i = 0; i < PQntuples(r) && !stop; i++)
            stop = fn(pg_get_int(r, i, 0), (const uint8_t *)PQgetvalue(r, i, 1),
                      (size_t)PQgetlength(r, i, 1), ctx) != 0;
        PQclear(r);
        if (stop)
            break;
        lo = hi;
    }
    return STORE_OK;
}

int pg_tile_put(struct store_conn *c, int level, int64_t index, const uint8_t *hashes, size_t n)
{
    pg_params p = {0};

    pg_int(&p, level);
    pg_int(&p, index);
    pg_blob(&p, hashes, n * 32);
    if (pg_in_write_tx(c))
        return pg_defer(c, PG_TILE_PUT, &p, -1, 0);
    return pg_exec(c, PG_TILE_PUT, &p, NULL);
}

int pg_tile_get(struct store_conn *c, int level, int64_t index, uint8_t hashes[256 * 32],
                size_t *n)
{
    pg_params p = {0};
    PGresult *r;
    int rc, bytes;

    *n = 0;
    pg_int(&p, level);
    pg_int(&p, index);
    if ((rc = pg_run(c, PG_TILE_GET, &p, &r)) != STORE_OK)
        return rc;
    if (PQntuples(r) == 0) {
        rc = STORE_NOT_FOUND;
    } else if ((bytes = PQgetlength(r, 0, 0)) <= 0 || bytes > 256 * 32 || bytes % 32 != 0) {
        rc = STORE_CORRUPT;
    } else {
        memcpy(hashes, PQgetvalue(r, 0, 0), (size_t)bytes);
        *n = (size_t)bytes / 32;
    }
    PQclear(r);
    return rc;
}

int pg_checkpoint_put(struct store_conn *c, int64_t size, const uint8_t *note, size_t len,
                      int64_t unix_time)
{
    pg_params p = {0};
    int64_t rows = 0;
    int rc;

    pg_int(&p, size);
    pg_blob(&p, note, len);
    pg_int(&p, unix_time);
    /* A batch signs a size beyond the head it locked: always new. */
    if (pg_in_write_tx(c))
        return pg_defer(c, PG_CKPT_PUT, &p, 1, STORE_CORRUPT);
    if ((rc = pg_exec(c, PG_CKPT_PUT, &p, &rows)) != STORE_OK)
        return rc;
    return rows == 1 ? STORE_OK : STORE_EXISTS;
}

int pg_checkpoint_get(struct store_conn *c, int64_t size, uint8_t **note, size_t *len,
                      int64_t *size_out)
{
    pg_params p = {0};
    int64_t got = 0;
    int rc;

    if (size >= 0)
        pg_int(&p, size);
    rc = one_copy(c, size < 0 ? PG_CKPT_LATEST : PG_CKPT_GET, &p, 1, note, len, &got);
    if (rc == STORE_OK && size_out != NULL)
        *size_out = got;
    return rc;
}

/* ---- Witnesses of the audit log ---- */

int pg_witness_size(struct store_conn *c, const char *witness, int64_t *size)
{
    pg_params p = {0};

    *size = 0;
    pg_str(&p, witness);
    return pg_ints(c, PG_WITNESS_SIZE, &p, 1, size);
}

int pg_witness_size_raise(struct store_conn *c, const char *witness, int64_t size,
                          int64_t unix_time)
{
    pg_params p = {0};

    pg_str(&p, witness);
    pg_int(&p, size);
    pg_int(&p, unix_time);
    return pg_exec(c, PG_WITNESS_RAISE, &p, NULL);
}

int pg_cosignature_put(struct store_conn *c, int64_t size, const char *witness,
                       const uint8_t *line, size_t len, int64_t unix_time)
{
    pg_params p = {0};
    int64_t rows = 0;
    int rc;

    pg_int(&p, size);
    pg_str(&p, witness);
    pg_blob(&p, line, len);
    pg_int(&p, unix_time);
    if ((rc = pg_exec(c, PG_COSIG_PUT, &p, &rows)) != STORE_OK)
        return rc;
    if (rows != 1)
        return STORE_EXISTS;
    memset(&p, 0, sizeof(p));
    pg_int(&p, size);
    return pg_exec(c, PG_QUORUM_PUT, &p, &rows);
}

int pg_cosignatures(struct store_conn *c, int64_t size, store_cosignature_fn fn, void *ctx)
{
    pg_params p = {0};
    PGresult *r;
    int rc;

    pg_int(&p, size);
    if ((rc = pg_run(c, PG_COSIGS, &p, &r)) != STORE_OK)
        return rc;
    /* Binary text values come NUL-terminated from libpq. */
    for (int i = 0; i < PQntuples(r); i++)
        if (fn(PQgetvalue(r, i, 0), (const uint8_t *)PQgetvalue(r, i, 1),
               (size_t)PQgetlength(r, i, 1), ctx) != 0)
            break;
    PQclear(r);
    return STORE_OK;
}

int pg_cosigned_size(struct store_conn *c, int64_t before, int64_t count, int64_t *size)
{
    pg_params p = {0};

    int rc;

    *size = 0;
    /* The newest checkpoint with `count` lines: none means none has. Only
     * a walk past it (its lines did not verify) reads the lines. */
    pg_int(&p, count);
    if ((rc = pg_ints(c, PG_QUORUM_GET, &p, 1, size)) != STORE_OK || *size < before)
        return rc;
    memset(&p, 0, sizeof(p));
    pg_int(&p, before);
    pg_int(&p, count);
    return pg_ints(c, PG_COSIGNED_SIZE, &p, 1, size);
}

/* ---- Remembered requests ---- */

int pg_request_get(struct store_conn *c, const char *principal, const char *method,
                   const char *request_id, uint8_t hash[32], uint8_t **response,
                   size_t *response_len)
{
    pg_params p = {0};
    PGresult *r;
    int rc;

    *response = NULL;
    *response_len = 0;
    pg_str(&p, principal);
    pg_str(&p, method);
    pg_str(&p, request_id);
    if ((rc = pg_run(c, PG_REQ_GET, &p, &r)) != STORE_OK)
        return rc;
    if (PQntuples(r) == 0) {
        rc = STORE_NOT_FOUND;
    } else if (PQgetlength(r, 0, 0) != 32) {
        rc = STORE_CORRUPT;
    } else {
        memcpy(hash, PQgetvalue(r, 0, 0), 32);
        rc = pg_get_copy(r, 0, 1, response, response_len);
    }
    PQclear(r);
    return rc;
}

int pg_request_put(struct store_conn *c, const char *principal, const char *method,
                   const char *request_id, const uint8_t hash[32], const uint8_t *response,
                   size_t response_len, int64_t unix_time)
{
    pg_params p = {0};
    int64_t rows = 0;
    int rc;

    pg_str(&p, principal);
    pg_str(&p, method);
    pg_str(&p, request_id);
    pg_blob(&p, hash, 32);
    pg_blob(&p, response, response_len);
    pg_int(&p, unix_time);
    if ((rc = pg_exec(c, PG_REQ_PUT, &p, &rows)) != STORE_OK)
        return rc;
    return rows == 1 ? STORE_OK : STORE_EXISTS;
}

int pg_request_expire(struct store_conn *c, int64_t before_unix_time)
{
    pg_params p = {0};
    int64_t rows = 0;
    int rc;

    pg_int(&p, before_unix_time);
    if ((rc = pg_exec(c, PG_REQ_EXPIRE, &p, &rows)) != STORE_OK)
        return rc;
    return rows > INT32_MAX ? INT32_MAX : (int)rows;
}
