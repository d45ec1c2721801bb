/* store_pg.h — what the files of the PostgreSQL engine share
 * (store_pg.c: connections, errors, transactions, resources and lists;
 * store_pg_pipeline.c: running statements in libpq's pipeline mode;
 * store_pg_queries.c: the named queries, principals, the audit tables
 * and remembered requests; store_pg_changes.c: the change log). Private to
 * service/store/. */
#ifndef TALLINN_STORE_PG_H
#define TALLINN_STORE_PG_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store/store_engine.h"

/* Type OIDs are fixed in every PostgreSQL (pg_type.dat); libpq-dev does not
 * ship the server's header that names them. */
#define PG_BOOLOID 16
#define PG_BYTEAOID 17
#define PG_INT8OID 20
#define PG_INT2OID 21
#define PG_INT4OID 23
#define PG_TEXTOID 25

/* The fixed statements, prepared on a connection at their first use. */
enum {
    PG_GET0 = 0, /* + kind */
    PG_INSERT0 = PG_GET0 + STORE_KIND_COUNT,
    PG_UPDATE0 = PG_INSERT0 + STORE_KIND_COUNT,
    PG_DELETE0 = PG_UPDATE0 + STORE_KIND_COUNT,
    PG_MATCH_SUM = PG_DELETE0 + STORE_KIND_COUNT, /* of a need or a pledge */
    PG_PLEDGE_COUNT,
    PG_DONOR_RECORD,
    PG_DONOR_HAS_MATCH,
    PG_PRINCIPAL_SET_TOKEN,
    PG_PRINCIPAL_BY_TOKEN,
    PG_PRINCIPAL_BY_CERT,
    PG_EPOCH,
    PG_EPOCH_BUMP,
    PG_AUDIT_HEAD,
    PG_AUDIT_HEAD_LOCK,
    PG_AUDIT_HEAD_SET,
    PG_AUDIT_APPEND,
    PG_AUDIT_LEAF,
    PG_AUDIT_SIZE,
    PG_AUDIT_COUNT,
    PG_AUDIT_SCAN,
    PG_TILE_PUT,
    PG_TILE_GET,
    PG_CKPT_PUT,
    PG_CKPT_GET,
    PG_CKPT_LATEST,
    PG_WITNESS_SIZE,
    PG_WITNESS_RAISE,
    PG_COSIG_PUT,
    PG_COSIGS,
    PG_COSIGNED_SIZE,
    PG_QUORUM_PUT,
    PG_QUORUM_GET,
    PG_REQ_GET,
    PG_REQ_PUT,
    PG_REQ_EXPIRE,
    PG_CHANGE_PUT,
    PG_CHANGE_SCAN,
    PG_CHANGE_VERSIONS,
    PG_CHANGE_VERSIONS_DESC,
    PG_CHANGE_LIVE_MATCH,
    PG_CHANGE_START,
    /* Transaction control, prepared like the rest (the server parses each
     * once per connection). */
    PG_TX_BEGIN_READ,
    PG_TX_BEGIN_WRITE,
    PG_TX_COMMIT,
    PG_TX_ROLLBACK,
    PG_SP0, /* SAVEPOINT job, nested, pg_unique: + depth */
    PG_REL0 = PG_SP0 + 3, /* RELEASE SAVEPOINT … */
    PG_RBTO0 = PG_REL0 + 3, /* ROLLBACK TO SAVEPOINT … */
    PG_COUNT = PG_RBTO0 + 3
};
#define PG_DEPTH_UNIQUE 2 /* pg_exec_unique's own savepoint */

/* ---- The database and its connections (store_pg.c) ---- */
#define LIST_CACHE 16 /* list statements kept prepared per connection */

struct store_db {
    char *url;
    char where[320]; /* host:port/dbname, for messages: never the URL */
    int busy_timeout_ms;
    int read_only;
};

/* A statement sent in pipeline mode whose result is still to be read
 * (store_pg.c, "The pipeline"). */
typedef struct pg_pend {
    short type; /* PEND_* in store_pg_pipeline.c */
    short id;   /* fixed statement id, a list slot, or -1 */
    int expect; /* rows it must change (-1: any) */
    int mismatch; /* the code when it changed another number */
} pg_pend;

#define PG_PEND_MAX 512

struct store_conn {
    store_db *db;
    PGconn *h;
    int write; /* the writer's connection (settings differ) */
    int write_tx; /* the open transaction is a write batch's */
    /* The pipeline: statements sent, results not read yet; the first
     * failure of a deferred statement (sticks until the transaction ends);
     * whether the transaction so far is only transaction control (then a
     * connection found dead is replaced and that control sent again: the
     * statement ids in replay). */
    pg_pend pend[PG_PEND_MAX];
    int npend;
    int sticky;
    int replayable;
    short replay[8];
    int nreplay;
    unsigned char prepared[PG_COUNT];
    char *list_sql[LIST_CACHE];
    unsigned list_id[LIST_CACHE];
    unsigned list_next, list_serial;
};

/* ---- Running statements (store_pg_pipeline.c) ---- */
/* A statement without values (migrations), not pipelined. */
int pg_simple(struct store_conn *c, const char *sql);
/* r's STORE_* code; *res = r when it worked, else r is cleared. */
int pg_result(struct store_conn *c, PGresult *r, PGresult **res);
/* Server or libpq text folded to one bounded line, quotes replaced
 * (store_pg.c). */
void pg_one_line(char *out, size_t cap, const char *msg);

/* ---- The schema (store_pg_schema.c) ---- */
/* Creates or migrates the schema on c: STORE_OK, or a one-line err. */
int pg_migrate(store_db *db, struct store_conn *c, char *err, size_t errlen);
/* The schema version this binary writes. */
int pg_schema_version(void);

#define PG_MAX_PARAMS (STORE_SQL_MAX_BINDS > STORE_MAX_COLUMNS + 1 ? STORE_SQL_MAX_BINDS \
                                                                   : STORE_MAX_COLUMNS + 1)

/* The parameters of one statement, all sent in binary: int8 in network
 * order, text as its UTF-8 bytes, bytea as is. */
typedef struct pg_params {
    int n;
    const char *v[PG_MAX_PARAMS];
    int len[PG_MAX_PARAMS];
    int fmt[PG_MAX_PARAMS];
    unsigned int type[PG_MAX_PARAMS]; /* Oid */
    uint64_t ints[PG_MAX_PARAMS];     /* the int8 values' storage */
} pg_params;

void pg_int(pg_params *p, int64_t v);
void pg_text(pg_params *p, const char *s, size_t len);
void pg_str(pg_params *p, const char *s); /* NULL sends "" */
void pg_blob(pg_params *p, const void *b, size_t len);
void pg_null(pg_params *p, unsigned int type);

/* ---- Shared by store_pg.c and store_pg_pipeline.c ---- */
/* A fixed statement's SQL by id (NULL for none). */
const char *pg_fixed_sql(int id);
/* The STORE_* code of a failed result r (may be NULL) on c, logged unless
 * it is an answer. */
int pg_fail(struct store_conn *c, const PGresult *r);
/* Replaces c's dead server connection by a new one (nothing prepared) and
 * queues again the transaction control it had sent (c->replay). */
int pg_conn_reopen(struct store_conn *c);

/* ---- The pipeline (store_pg_pipeline.c) ---- */
/* Reads every pending result; the first failure (sticky included). */
int pg_drain(struct store_conn *c);
/* Queues transaction control statement id (PG_TX_*, PG_SP0…), kept for a
 * replay while the transaction holds nothing else. */
int pg_tx_stmt(struct store_conn *c, int id);
/* Sends id with a Sync and does not wait: its answer is read with the
 * connection's next statement, and its failure is nobody's (a read's
 * COMMIT). */
int pg_send_nowait(struct store_conn *c, int id);
/* Runs a rendered list statement, prepared by its text (16 per
 * connection), with what was deferred before it. */
int pg_run_list(struct store_conn *c, const store_sql *q, const pg_params *p, PGresult **res);


struct store_conn;

/* Runs fixed statement id with p (prepared on first use); *res is the
 * result of a statement that worked (PQclear it), else NULL and the STORE_*
 * code of the failure (logged when it is not an answer). */
int pg_run(struct store_conn *c, int id, const pg_params *p, PGresult **res);
/* pg_run for a statement that returns no rows: STORE_OK, or the failure;
 * *rows (may be NULL) = rows it changed. */
int pg_exec(struct store_conn *c, int id, const pg_params *p, int64_t *rows);
/* The first row's first n integer columns: STORE_NOT_FOUND without rows. */
int pg_ints(struct store_conn *c, int id, const pg_params *p, int n, int64_t *out);
/* Sends fixed statement id with p in the pipeline without waiting for
 * it: its result is read with the next statement that needs one (or the
 * COMMIT). For statements whose only failures are the whole transaction's
 * (storage, a broken invariant), never an answer a caller acts on: a
 * failure, or a row count other than expect (>= 0), is returned by every
 * later statement until the transaction ends, so the batch fails. */
int pg_defer(struct store_conn *c, int id, const pg_params *p, int expect, int mismatch);
/* Runs id inside an internal savepoint so that a unique violation answers
 * STORE_EXISTS and leaves the transaction usable (write transactions). */
int pg_exec_unique(struct store_conn *c, int id, const pg_params *p, int64_t *rows);

/* Values of a binary result. */
int64_t pg_get_int(const PGresult *r, int row, int col);
/* A numeric sum sent as text (`::text`), exactly; STORE_CORRUPT if it is
 * not an integer within store_sum. */
int pg_get_sum(const PGresult *r, int row, int col, store_sum *out);
/* A copy of a bytea column (malloc'd). */
int pg_get_copy(const PGresult *r, int row, int col, uint8_t **out, size_t *len);

/* Is the open transaction a write batch's (audit_head locks then)? */
int pg_in_write_tx(const struct store_conn *c);
/* Runs id and gives the first row's first column (bytea) to fn;
 * STORE_NOT_FOUND without rows. */
int pg_blob_one(struct store_conn *c, int id, const pg_params *p, store_blob_fn fn, void *ctx);

/* The named queries' SQL (store_pg_queries.c), by id; NULL for another id. */
const char *pg_query_sql(int id);

/* The engine's functions of store_pg_queries.c (store_engine.h has their
 * meaning). */
int pg_match_sum(struct store_conn *c, const char *need, const char *pledge, uint32_t state_mask,
                 store_sum *nanos);
int pg_pledge_count(struct store_conn *c, const char *donor, uint32_t except_mask, int64_t *count);
int pg_donor_record(struct store_conn *c, const char *donor, int sector, uint32_t state_mask,
                    int64_t *all, int64_t *in_sector);
int pg_donor_has_match(struct store_conn *c, const char *need, const char *donor, uint32_t state_mask,
                       int *yes);
int pg_principal_set_token(struct store_conn *c, const char *name, const uint8_t hash[32]);
int pg_principal_by_token(struct store_conn *c, const uint8_t hash[32], store_blob_fn fn, void *ctx);
int pg_principal_by_cert(struct store_conn *c, const char *identity, store_blob_fn fn, void *ctx);
int pg_epoch_get(struct store_conn *c, uint64_t *epoch);
int pg_epoch_bump(struct store_conn *c, uint64_t *epoch);
int pg_audit_head(struct store_conn *c, int64_t *size);
int pg_audit_head_set(struct store_conn *c, int64_t size);
int pg_audit_append(struct store_conn *c, int64_t index, const uint8_t *data, size_t len);
int pg_audit_leaf(struct store_conn *c, int64_t index, uint8_t **data, size_t *len);
int pg_audit_size(struct store_conn *c, int64_t *size, int64_t *count);
int pg_audit_scan(struct store_conn *c, int64_t start, int64_t end, store_leaf_fn fn, void *ctx);
int pg_tile_put(struct store_conn *c, int level, int64_t index, const uint8_t *hashes, size_t n);
int pg_tile_get(struct store_conn *c, int level, int64_t index, uint8_t hashes[256 * 32], size_t *n);
int pg_checkpoint_put(struct store_conn *c, int64_t size, const uint8_t *note, size_t len,
                      int64_t unix_time);
int pg_checkpoint_get(struct store_conn *c, int64_t size, uint8_t **note, size_t *len,
                      int64_t *size_out);
int pg_witness_size(struct store_conn *c, const char *witness, int64_t *size);
int pg_witness_size_raise(struct store_conn *c, const char *witness, int64_t size,
                          int64_t unix_time);
int pg_cosignature_put(struct store_conn *c, int64_t size, const char *witness,
                       const uint8_t *line, size_t len, int64_t unix_time);
int pg_cosignatures(struct store_conn *c, int64_t size, store_cosignature_fn fn, void *ctx);
int pg_cosigned_size(struct store_conn *c, int64_t before, int64_t count, int64_t *size);
int pg_request_get(struct store_conn *c, const char *principal, const char *method,
                   const char *request_id, uint8_t hash[32], uint8_t **response,
                   size_t *response_len);
int pg_request_put(struct store_conn *c, const char *principal, const char *method,
                   const char *request_id, const uint8_t hash[32], const uint8_t *response,
                   size_t response_len, int64_t unix_time);
int pg_request_expire(struct store_conn *c, int64_t before_unix_time);

/* The change log (store_pg_changes.c): its statements' SQL by id (NULL for
 * another id) and its engine functions. */
const char *pg_change_sql(int id);
int pg_change_put(struct store_conn *c, const store_change *ch);
int pg_change_scan(struct store_conn *c, int64_t from, int64_t to, int limit,
                   store_change_fn fn, void *ctx);
int pg_change_versions(struct store_conn *c, store_kind kind, const char *name, int64_t from,
                       int64_t to, int descending, int limit, store_change_fn fn, void *ctx);
int pg_change_live_match(struct store_conn *c, const char *need, const char *donor,
                         uint32_t state_mask, int64_t at, int *yes);
int pg_change_start(struct store_conn *c, int64_t *start);


#endif
