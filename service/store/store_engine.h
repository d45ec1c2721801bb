/* store_engine.h — what a storage engine provides to the engine-neutral store
 * (store.c), and what the neutral store promises it. One table of functions
 * per engine: store_sqlite.c, store_pg.c. Private to service/store/.
 * Design: docs/store.md ("Engines").
 *
 * The neutral store owns everything that must behave the same on every
 * engine: the resource kinds, their columns and the extraction of column
 * values from protobuf (store_kinds.c), the rendering of list queries
 * (store_sql.c, parameterised by the engine's dialect), the committer thread
 * and group commit, the read-connection pool, commit observers, the
 * principals epoch, result codes and the bookkeeping of a transaction's
 * first error. An engine owns its connections, its SQL (schema, numbered
 * migrations, the named queries below) and the mapping of its native errors
 * to STORE_* codes.
 *
 * ---- The contract ----
 * Threads. A store_conn is used by one thread at a time; the neutral store
 * never shares one. Functions on different connections of one store_db run
 * concurrently, and connect() may be called from any thread at any time.
 * Engines never call back into the neutral store except through the
 * callbacks they are given.
 *
 * Results. Every function returns STORE_OK or a negative STORE_* code.
 * STORE_NOT_FOUND and STORE_EXISTS are answers, not failures: after them the
 * transaction MUST still be usable, as on SQLite (on PostgreSQL: INSERT … ON
 * CONFLICT DO NOTHING and count the rows, or an internal savepoint, since a
 * failed statement aborts the whole transaction there). STORE_IO means the
 * storage or the connection failed (PostgreSQL: connection lost): the neutral
 * store then stops using that connection, disconnects it, and connects a new
 * one before its next use, so a database that comes back is used again
 * without a restart. Engines log what their native error said (never a
 * credential) and return the code; STORE_ERROR is logged as a bug.
 *
 * Transactions. begin(c, 0): a read-only snapshot that sees every
 * transaction committed before it began (SQLite: deferred BEGIN in WAL mode;
 * PostgreSQL: REPEATABLE READ READ ONLY). begin(c, 1): the write transaction
 * of one batch; each statement sees what other processes committed before it
 * (SQLite: BEGIN IMMEDIATE holds the database's write lock; PostgreSQL: READ
 * COMMITTED — the audit head lock, taken first by the audit log's begin
 * observer, serialises write batches across processes). commit() returns
 * STORE_OK only once the transaction is durable (SQLite: WAL with
 * synchronous=FULL; PostgreSQL: synchronous_commit on); callers are released
 * only after it. in_transaction() is 0 when the engine ended the transaction
 * on its own (SQLite rolls back on disk full or an I/O error; PostgreSQL on a
 * lost connection); the neutral store then fails the whole batch. A job that
 * left the transaction unusable (PostgreSQL: a failed statement it did not
 * roll back) must make release() fail, or (PostgreSQL, whose RELEASE is
 * pipelined) every later call of the batch up to commit(), which fails the
 * batch too.
 * Savepoints: depth 0 is a job's, depth 1 a nested one (store_savepoint).
 *
 * Rows. Each kind is stored in store_kinds[kind].table with the columns
 * `name` (the key), `data` (the message's protobuf encoding, a blob) and
 * store_kinds[kind].columns[1..] in that order; values come typed
 * (store_value). Text compares and sorts as bytes (SQLite BINARY; PostgreSQL
 * COLLATE "C" on every text column, in the DDL), so that lists order and
 * page alike on every engine. Integer columns hold int64 (PostgreSQL
 * bigint). The statements for one kind's rows are rendered by store_sql.c
 * from the same table, so schema and statements cannot drift apart
 * silently (a migration that misses a column fails at its first use).
 *
 * Schema. open() creates the schema or migrates it with the engine's own
 * numbered migrations (never edit a released one), each in its own
 * transaction; a schema newer than the binary, or (read_only) one that is not
 * exactly current, is a one-line error. Besides the kinds' tables: principal
 * token hashes (unique where set) and certificate identities (unique where
 * not ""), remembered requests, the audit log's leaves, tiles and
 * checkpoints, the audit head (one row: id = 1, size) and the principals
 * epoch (one row: id = 1, epoch), both created with their first value; the
 * audit log's witnesses (the size each last cosigned) and cosignatures.
 *
 * The change log (store.h, store_change). A table
 *   changes(idx bigint, seq int, kind int, name text, deleted int,
 *           donor text, need text, state int, data blob)
 * unique on (kind, name, idx), with an index on (idx, seq) for scans and one
 * on (need, donor, idx) of the rows of kind 3 (matches) for
 * change_live_match; kind holds store_kind's number (0 donor, 1 pledge,
 * 2 need, 3 match, 5 exchange rate), text compares as bytes. And a one-row
 * table change_log_start(id = 1, idx): the audit head's size when the
 * migration that created the change log ran, which also copies every donor,
 * pledge, need, match and exchange rate then stored as a baseline row of
 * idx -1 (seq 0; donor, need, state from the kind's columns).
 */
#ifndef TALLINN_STORE_ENGINE_H
#define TALLINN_STORE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "tallinn/store.h"

typedef struct store_db store_db;     /* an engine's database: options, migrations done */
typedef struct store_conn store_conn; /* one engine connection */

/* ---- Typed values ---- */
typedef enum store_value_type {
    STORE_VALUE_NULL = 0,
    STORE_VALUE_INT,  /* i */
    STORE_VALUE_TEXT, /* p[0..len): UTF-8 bytes, not NUL-terminated; bind with len */
    STORE_VALUE_BLOB, /* p[0..len) */
} store_value_type;

typedef struct store_value {
    store_value_type type;
    int64_t i;
    const void *p;
    size_t len;
} store_value;

/* ---- Kinds: tables and columns, extraction from protobuf (store_kinds.c) ---- */
typedef struct store_column {
    const char *name;      /* SQL identifier, from code */
    store_value_type type; /* INT or TEXT; never NULL in a row */
} store_column;

#define STORE_MAX_COLUMNS 24

typedef struct store_kind_info {
    const char *table;
    const ProtobufCMessageDescriptor *desc;
    const store_column *columns; /* columns[0] is "name", the key; `data` is apart */
    size_t n_columns;
} store_kind_info;

extern const store_kind_info store_kinds[STORE_KIND_COUNT];

/* The folded copies of a row's searchable text (textfold.h): a kind's
 * `<field>_fold` columns, which the filter's ":" searches. */
#define STORE_MAX_FOLDS 4
typedef struct store_folds {
    char *text[STORE_MAX_FOLDS];
    size_t n;
} store_folds;

/* Fills cols[0..store_kinds[kind].n_columns) from m (text points into m, or
 * into folds for the folded columns: keep both alive while binding, then
 * store_folds_free, also after an error). STORE_ERROR if m is not of the
 * kind or has no name; STORE_NOMEM. */
int store_kind_extract(store_kind kind, const ProtobufCMessage *m,
                       store_value cols[STORE_MAX_COLUMNS], store_folds *folds);
void store_folds_free(store_folds *folds);


/* The folded columns a migration added to rows written before it, filled
 * in by the engine as each write would (SQLite migration 8, PostgreSQL
 * migration 3): the kind's table, the text column and its folded copy. */
typedef struct store_fold_column {
    const char *table, *column, *fold;
} store_fold_column;
extern const store_fold_column store_fold_columns[];
extern const size_t store_n_fold_columns;

/* ---- SQL dialects and rendered statements (store_sql.h renders them) ---- */
typedef struct store_sql_dialect {
    /* Placeholder prefix, followed by the 1-based bind number: "?" (SQLite's
     * ?NNN) or "$" (PostgreSQL's $n). */
    const char *param;
    /* Written after every text column a filter or a keyset seek compares
     * and in ORDER BY (a scope's equality needs none); "" when the columns
     * are declared in byte order already. */
    const char *text_collate;
    /* A function f(haystack, needle) whose result is > 0 when needle occurs
     * in haystack, comparing bytes: "instr" (SQLite) or "strpos"
     * (PostgreSQL). The filter's ":" searches the folded columns with it. */
    const char *contains;
} store_sql_dialect;

#define STORE_SQL_TEXT_MAX 8192
/* filter literals; scope: a donor and up to 32 states (a state mask is
 * rendered as `state IN (…)`, portable and index-friendly); seek arm (keys
 * and name); limit */
#define STORE_SQL_MAX_BINDS (FILTER_MAX_COMPARISONS + 1 + 32 + FILTER_SEEK_MAX_BINDS + 1)

/* A statement and its binds, in placeholder order (bind i is number i + 1).
 * Text binds point into the query they came from. */
typedef struct store_sql {
    char text[STORE_SQL_TEXT_MAX];
    store_value binds[STORE_SQL_MAX_BINDS];
    size_t n_binds;
    /* The result columns after data (a list's or store_sql_get_fields'
     * typed columns): their types, INT or TEXT. */
    store_value_type cols[STORE_MAX_FIELDS];
    size_t n_cols;
} store_sql;

/* A blob the engine read (a row's data, a principal): valid during the
 * call only. Return non-zero to stop reading further rows. */
typedef int (*store_blob_fn)(const uint8_t *data, size_t len, void *ctx);
/* A list's row: its data and its result columns after data (store_sql's
 * cols, typed as those say; text not NUL-terminated), valid during the call
 * only. Return non-zero to stop reading further rows. */
typedef int (*store_row_data_fn)(const uint8_t *data, size_t len, const store_value *cols,
                                 size_t n_cols, void *ctx);

/* ---- The table ---- */
#define STORE_ENGINE_ONE_PROCESS 0x1u /* only one process opens a database at a time */

typedef struct store_engine {
    const char *name; /* "sqlite", "postgresql" */
    const store_sql_dialect *dialect;
    unsigned flags;

    /* -- The database -- */
    /* Reaches the database named by o (o->path for SQLite, o->database_url
     * for PostgreSQL), creates or migrates its schema (read_only: checks it
     * is current). err: one line for the operator, no credentials. */
    int (*open)(const store_options *o, store_db **db, char *err, size_t errlen);
    void (*close)(store_db *db);
    /* A new connection for reads (write = 0) or for the committer (1). */
    int (*connect)(store_db *db, int write, store_conn **c, char *err, size_t errlen);
    void (*disconnect)(store_conn *c);

    /* -- Transactions (see the contract above) -- */
    int (*begin)(store_conn *c, int write);
    int (*commit)(store_conn *c);
    int (*rollback)(store_conn *c);
    int (*in_transaction)(store_conn *c);
    int (*savepoint)(store_conn *c, int depth);
    int (*release)(store_conn *c, int depth);
    int (*rollback_to)(store_conn *c, int depth);

    /* -- Resources -- */
    /* Calls fn once with the row's data; STORE_NOT_FOUND when absent. */
    int (*get)(store_conn *c, store_kind kind, const char *name, store_blob_fn fn, void *ctx);
    /* Inserts (STORE_EXISTS when the name, or a unique column, is taken) or
     * updates by name (STORE_NOT_FOUND when absent). cols from
     * store_kind_extract; data is the packed message. */
    int (*put)(store_conn *c, store_kind kind, const store_value *cols, const uint8_t *data,
               size_t len, int insert);
    /* Runs a list statement rendered by store_sql_list or
     * store_sql_get_fields (result columns: data, then q->cols) and calls fn
     * per row until it returns non-zero. Adds its steps to *work when work
     * is not NULL (0 if the engine cannot count). Engines may keep
     * statements prepared by text: the same filter and order render the
     * same text. */
    int (*list)(store_conn *c, const store_sql *q, store_row_data_fn fn, void *ctx,
                int64_t *work);
    /* Deletes the row by name (store_sql_delete: DELETE FROM t WHERE name =
     * $1); STORE_NOT_FOUND when no row was there. */
    int (*del)(store_conn *c, store_kind kind, const char *name);

    /* -- Named queries: the meaning is store.h's -- */
    int (*match_sum)(store_conn *c, const char *need, const char *pledge, uint32_t state_mask,
                     store_sum *nanos);
    int (*pledge_count)(store_conn *c, const char *donor, uint32_t except_mask, int64_t *count);
    int (*donor_record)(store_conn *c, const char *donor, int sector, uint32_t state_mask,
                        int64_t *all, int64_t *in_sector);
    int (*donor_has_match)(store_conn *c, const char *need, const char *donor,
                           uint32_t state_mask, int *yes);

    /* -- Principals -- */
    /* hash NULL clears; STORE_NOT_FOUND for no such principal, STORE_EXISTS
     * when another holds the hash. */
    int (*principal_set_token)(store_conn *c, const char *name, const uint8_t hash[32]);
    int (*principal_by_token)(store_conn *c, const uint8_t hash[32], store_blob_fn fn, void *ctx);
    int (*principal_by_cert)(store_conn *c, const char *identity, store_blob_fn fn, void *ctx);
    /* The epoch row: read it (also outside any transaction, as one
     * statement), or (write transactions) add one and return the new value. */
    int (*principals_epoch)(store_conn *c, uint64_t *epoch);
    int (*principals_epoch_bump)(store_conn *c, uint64_t *epoch);

    /* -- The audit log -- */
    /* The head row's size. In a write transaction the row stays locked until
     * the transaction ends (PostgreSQL: SELECT … FOR UPDATE; SQLite holds the
     * database's write lock already). */
    int (*audit_head)(store_conn *c, int64_t *size);
    int (*audit_head_set)(store_conn *c, int64_t size);
    int (*audit_append)(store_conn *c, int64_t index, const uint8_t *data, size_t len);
    /* data malloc'd; STORE_NOT_FOUND past the end */
    int (*audit_leaf)(store_conn *c, int64_t index, uint8_t **data, size_t *len);
    /* size = highest index + 1; count (if not NULL) = rows */
    int (*audit_size)(store_conn *c, int64_t *size, int64_t *count);
    int (*audit_scan)(store_conn *c, int64_t start, int64_t end, store_leaf_fn fn, void *ctx);
    /* insert or replace; n in 1..256 (checked by the neutral store) */
    int (*tile_put)(store_conn *c, int level, int64_t index, const uint8_t *hashes, size_t n);
    /* STORE_CORRUPT if the stored blob is not 1..256 hashes */
    int (*tile_get)(store_conn *c, int level, int64_t index, uint8_t hashes[256 * 32], size_t *n);
    int (*checkpoint_put)(store_conn *c, int64_t size, const uint8_t *note, size_t len,
                          int64_t unix_time);
    /* size < 0: the latest; note malloc'd */
    int (*checkpoint_get)(store_conn *c, int64_t size, uint8_t **note, size_t *len,
                          int64_t *size_out);

    /* -- The change log (the schema above; the meaning is store.h's) -- */
    /* INSERT one row; STORE_EXISTS when (kind, name, idx) is taken. */
    int (*change_put)(store_conn *c, const store_change *ch);
    /* SELECT idx, seq, kind, name, deleted, donor, need, state, data FROM
     * changes WHERE idx >= from AND idx < to ORDER BY idx, seq LIMIT limit */
    int (*change_scan)(store_conn *c, int64_t from, int64_t to, int limit, store_change_fn fn,
                       void *ctx);
    /* The same columns WHERE kind = ? AND name = ? AND idx >= from AND
     * idx < to ORDER BY idx (DESC when descending) LIMIT limit */
    int (*change_versions)(store_conn *c, store_kind kind, const char *name, int64_t from,
                           int64_t to, int descending, int limit, store_change_fn fn, void *ctx);
    /* SELECT EXISTS (SELECT 1 FROM changes m WHERE m.kind = 3 AND m.need = ?
     * AND m.donor = ? AND m.idx <= at AND ((1 << m.state) & mask) != 0 AND
     * NOT EXISTS (SELECT 1 FROM changes l WHERE l.kind = 3 AND l.name =
     * m.name AND l.idx > m.idx AND l.idx <= at)) */
    int (*change_live_match)(store_conn *c, const char *need, const char *donor,
                             uint32_t state_mask, int64_t at, int *yes);
    /* SELECT idx FROM change_log_start WHERE id = 1 */
    int (*change_start)(store_conn *c, int64_t *start);
    /* -- Witnesses of the audit log (service/witness/) --
     * Tables audit_witnesses(witness text PRIMARY KEY, size, update_time)
     * and audit_cosignatures(size, witness, line blob, time; PRIMARY KEY
     * (size, witness)). A witness is named by its verifier key string. */
    /* SELECT size FROM audit_witnesses WHERE witness = $1; STORE_NOT_FOUND
     * without a row. */
    int (*witness_size)(store_conn *c, const char *witness, int64_t *size);
    /* Upsert that never lowers: INSERT … ON CONFLICT (witness) DO UPDATE
     * SET size = max(old, new), update_time = new. */
    int (*witness_size_raise)(store_conn *c, const char *witness, int64_t size,
                              int64_t unix_time);
    /* INSERT … ON CONFLICT DO NOTHING: STORE_EXISTS when (size, witness)
     * has a line already (it stays). */
    int (*cosignature_put)(store_conn *c, int64_t size, const char *witness, const uint8_t *line,
                           size_t len, int64_t unix_time);
    /* SELECT witness, line … WHERE size = $1 ORDER BY witness; fn per row
     * until it returns non-zero. */
    int (*cosignatures)(store_conn *c, int64_t size, store_cosignature_fn fn, void *ctx);
    /* SELECT size … WHERE size < $1 GROUP BY size HAVING COUNT(*) >= $2
     * ORDER BY size DESC LIMIT 1 (a backward walk of the primary key);
     * STORE_NOT_FOUND without a row. */
    int (*cosigned_size)(store_conn *c, int64_t before, int64_t count, int64_t *size);

    /* -- Remembered requests -- */
    /* response malloc'd; STORE_CORRUPT if the stored hash is not 32 bytes */
    int (*request_get)(store_conn *c, const char *principal, const char *method,
                       const char *request_id, uint8_t hash[32], uint8_t **response,
                       size_t *response_len);
    int (*request_put)(store_conn *c, const char *principal, const char *method,
                       const char *request_id, const uint8_t hash[32], const uint8_t *response,
                       size_t response_len, int64_t unix_time);
    /* Deletes requests created before unix_time; the number removed or < 0. */
    int (*request_expire)(store_conn *c, int64_t before_unix_time);
} store_engine;

extern const store_engine store_engine_sqlite;
extern const store_engine store_engine_pg;

#endif
