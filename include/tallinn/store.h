/* store.h — the one storage interface of tallinnd. Handlers, the ledger, the
 * audit log and authz see typed values only, never SQL: the store renders
 * every query for its engine (SQLite in the data directory, or PostgreSQL).
 * Design: docs/store.md; the engines' side: service/store/store_engine.h.
 *
 * Resources are kept as their protobuf encoding plus the columns that filters,
 * orderings and guards need. Reads run on a pool of read connections, each in
 * its own snapshot. Writes are jobs run by one committer thread: concurrent
 * jobs share one transaction (group commit), each in its own savepoint, and a
 * job's caller is released only once its batch is durable. */
#ifndef TALLINN_STORE_H
#define TALLINN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "tallinn/filter.h"
#include "tallinn/metrics.h"

typedef struct store store;
typedef struct store_tx store_tx;

/* Result codes: 0 or negative. */
enum {
    STORE_OK = 0,
    STORE_NOT_FOUND = -1,
    STORE_EXISTS = -2,    /* insert of a name already there */
    STORE_FULL = -3,      /* disk or database full */
    STORE_IO = -4,        /* read-only, I/O error, cannot open, connection lost */
    STORE_BUSY = -5,      /* bounded wait for a lock ran out */
    STORE_CORRUPT = -6,
    STORE_NOMEM = -7,
    STORE_ERROR = -8,     /* anything else (a bug: logged) */
    STORE_SHUTDOWN = -9,  /* the store is closing */
    STORE_READONLY = -10, /* opened on read-only storage: writes are refused */
    STORE_INDOUBT = -11,  /* the connection was lost during COMMIT: the batch may
                           * or may not be stored (a client-server engine only) */
};

typedef enum store_kind {
    STORE_DONOR = 0,
    STORE_PLEDGE,
    STORE_NEED,
    STORE_MATCH,
    STORE_PRINCIPAL,
    STORE_RATE, /* exchange rates (rate.proto) */
    STORE_KIND_COUNT
} store_kind;

typedef struct store_options {
    const char *path;         /* SQLite file (database_url NULL) */
    /* NULL: SQLite at path. "postgresql://user@host:port/db" (or
     * "postgres://…"): PostgreSQL through libpq. A URL carrying a password
     * is refused (it would show in ps and logs): the password comes from
     * PGPASSFILE or ~/.pgpass. Never logged with credentials. */
    const char *database_url;
    int max_readers;          /* read connections; 0 = 8 */
    int busy_timeout_ms;      /* bounded lock waits; 0 = 5000 */
    int max_batch;            /* jobs per group commit; 0 = 256 */
    int read_only;            /* the storage is read-only: serve reads, refuse writes */
    /* Other processes may write the database while this one runs: state
     * they change (the principals epoch) is read from the database every
     * time, never served from memory. Always so on PostgreSQL; tallinnd
     * on SQLite is one process (the data-directory lock) and leaves it 0. */
    int shared;
    /* Keep the change log (docs/store.md, "The change log"): every insert,
     * update or delete of a donor, pledge, need, match or exchange rate is
     * recorded, with the
     * resource's bytes after the change, under the index of the audit record
     * the same job appends next (store_audit_append). A job that changes one
     * of them and appends no record fails (STORE_ERROR, logged): no change
     * without its place in the log. tallinnd sets it; tests of the store
     * alone may leave it 0. */
    int change_log;
} store_options;

/* Opens (creating if needed) and migrates the database, starts the committer.
 * On failure writes a one-line reason into err (no credentials in it). */
int store_open(store **out, const store_options *opts, char *err, size_t errlen);
/* Runs the jobs already queued, stops the committer, closes every
 * connection. Observers are not called after this. */
void store_close(store *s);

/* "sqlite" or "postgresql". */
const char *store_engine_name(const store *s);

/* What the store counted (lock-free on its paths), read for a scrape. */
typedef struct store_metrics {
    metrics_hist_snapshot batch_sizes; /* jobs per write batch (group commit) */
    metrics_hist_snapshot commit_us;   /* a batch's transaction, begin to commit, in us */
    uint64_t batches_failed;           /* write batches rolled back */
    uint64_t read_waits;               /* reads that waited for a pooled connection */
    uint64_t read_wait_us;             /* ... the time they waited, in total */
    int readers_open, readers_max;     /* the read pool's connections */
} store_metrics;
void store_get_metrics(store *s, store_metrics *out);

/* The protobuf descriptor of a kind's resource message. */
const ProtobufCMessageDescriptor *store_kind_descriptor(store_kind kind);

/* ---- Reads ---- */
/* A consistent snapshot on a pooled read connection; end it with store_read_end. */
int store_read_begin(store *s, store_tx **tx);
void store_read_end(store_tx *tx);

/* ---- Writes ---- */
/* A write job: runs on the committer thread inside a savepoint. Return 0 to
 * keep its changes, or a positive code (the caller's meaning, e.g. a gRPC
 * status) to roll back exactly its own changes. */
typedef int (*store_job_fn)(store_tx *tx, void *arg);

/* Runs fn in the next batch and waits until the batch is durable. Returns
 * STORE_OK with *job_rc = fn's result, or a STORE_* error when the batch could
 * not be committed (nothing of the job is then stored). */
int store_write(store *s, store_job_fn fn, void *arg, int *job_rc);

/* Completion of a submitted job: store_rc and job_rc as store_write returns
 * them. Called once, on the committer thread, after the batch is durable
 * (or failed) and after every observer's done: keep it short, never wait
 * in it for another write. */
typedef void (*store_done_fn)(int store_rc, int job_rc, void *cb_arg);

/* Queues fn for the next batch and returns at once. STORE_OK: done_cb will
 * be called exactly once. Anything else (STORE_READONLY, STORE_SHUTDOWN,
 * STORE_NOMEM): the job was not queued and done_cb is never called. */
int store_submit(store *s, store_job_fn fn, void *arg, store_done_fn done_cb, void *cb_arg);

/* A nested savepoint inside a write job: end it keeping (keep = 1) or
 * undoing its changes. The job's own savepoint is around it. */
int store_savepoint(store_tx *tx);
int store_savepoint_end(store_tx *tx, int keep);

/* ---- Commit observers ----
 * Subscribers to every write batch, called on the committer thread in
 * registration order. begin: right after the batch's transaction began,
 * before any job (non-zero fails the batch: no job runs). pre_commit: after
 * the last job, before COMMIT, inside the transaction (non-zero fails the
 * batch). done: after COMMIT (committed = 1) or ROLLBACK (0), before any
 * caller is released. Any of the three may be NULL. The audit log is the
 * first observer. */
typedef struct store_observer {
    int (*begin)(store_tx *tx, void *ctx);
    int (*pre_commit)(store_tx *tx, void *ctx);
    void (*done)(int committed, void *ctx);
    void *ctx;
} store_observer;
#define STORE_MAX_OBSERVERS 8
/* Adds an observer (copied) for the store's life. STORE_ERROR when
 * STORE_MAX_OBSERVERS are registered. Safe while writes run: it applies
 * from the next batch. */
int store_observe(store *s, const store_observer *o);

/* ---- Resources (read or write transactions) ---- */
/* Gets a resource by name, unpacked with alloc (NULL: malloc, then free it
 * with protobuf_c_message_free_unpacked). STORE_NOT_FOUND when absent. */
int store_get(store_tx *tx, store_kind kind, const char *name, ProtobufCAllocator *alloc,
              ProtobufCMessage **out);

/* A row's stored bytes: its kind's protobuf encoding, as written. A caller
 * that answers with the row unchanged may send them as they are instead of
 * encoding the decoded message again. */
typedef struct store_bytes {
    const uint8_t *data;
    size_t len;
} store_bytes;

/* store_get, and the row's bytes copied into *bytes with alloc (which must
 * not be NULL). */
int store_get_bytes(store_tx *tx, store_kind kind, const char *name, ProtobufCAllocator *alloc,
                    ProtobufCMessage **out, store_bytes *bytes);

/* A row's stored bytes and its values of some fields of its kind's filter
 * schema (store_filter_schema), read from the columns the store keeps for
 * them — the values filters compare, written from the same message at
 * every write — without decoding the row: a caller can decide on it
 * (visibility, sensitivity, a page's cursor) and answer with the bytes.
 * values[j] gets fields[j]'s value (text copied with alloc, which must not
 * be NULL; n <= STORE_MAX_FIELDS). STORE_NOT_FOUND when absent; STORE_ERROR
 * for a field of another schema. */
#define STORE_MAX_FIELDS 8
int store_get_fields(store_tx *tx, store_kind kind, const char *name,
                     const filter_field *const *fields, size_t n, ProtobufCAllocator *alloc,
                     store_bytes *bytes, filter_value *values);
/* Inserts (STORE_EXISTS if the name is taken) or replaces (STORE_NOT_FOUND
 * if absent) a resource. The message's name field is the key. Write
 * transactions only. A principal whose role, state, donor or certificate
 * identity changes (or a new one) bumps the principals epoch. */
int store_insert(store_tx *tx, store_kind kind, const ProtobufCMessage *msg);
int store_update(store_tx *tx, store_kind kind, const ProtobufCMessage *msg);
/* The same, with msg already encoded as data/len (the caller packed it once
 * for its etag and answers with those bytes): stored as given. */
int store_put_packed(store_tx *tx, store_kind kind, const ProtobufCMessage *msg,
                     const uint8_t *data, size_t len, int insert);
/* Deletes a resource by name (STORE_NOT_FOUND if absent). Write
 * transactions only. Not for principals (their epoch). */
int store_delete(store_tx *tx, store_kind kind, const char *name);

/* ---- Lists ---- */
/* Need-to-know: the rows a caller may know of (docs/authz.md). */
enum store_scope_kind {
    STORE_SCOPE_ALL = 0,
    STORE_SCOPE_DONOR_NEEDS,  /* needs: OPEN STANDARD ones, and those `donor` has a match
                                 in `match_states` (bit 1 << state) on */
    STORE_SCOPE_UNRESTRICTED, /* needs that are not RESTRICTED */
    STORE_SCOPE_OF_DONOR,     /* pledges or matches of `donor` */
};
typedef struct store_scope {
    enum store_scope_kind kind;
    const char *donor;     /* DONOR_NEEDS, OF_DONOR ("" matches no donor) */
    uint32_t match_states; /* DONOR_NEEDS: the live match states */
} store_scope;

/* One page of a kind's list, typed: the store renders it for its engine.
 * Rows pass filter (NULL: every row) and scope, in order (NULL: by name),
 * strictly after the row whose order-key values are `after` (NULL: from the
 * first row). Text orders and compares as bytes on every engine; the
 * resource name is always the last key, in the direction of the last
 * explicit one, so the order is total. */
typedef struct store_list_query {
    store_kind kind;
    const filter *filter;      /* parsed against store_filter_schema(kind) */
    const filter_order *order; /* parsed against the same schema */
    /* Keyset paging: the last row's values of order->keys[0..count) and then
     * its name (a FILTER_STRING): n_after = order->count + 1. A page costs
     * the same at any depth when an index has the order's keys. */
    const filter_value *after;
    size_t n_after;
    store_scope scope;
    int limit;                 /* rows at most; > 0 */
    ProtobufCAllocator *alloc; /* rows are unpacked with it (NULL: malloc) */
    int64_t *work;             /* if not NULL: the engine's count of steps this list took
                                  (SQLite: virtual-machine steps; 0 where unknown), for
                                  tests that check a page costs the same at any depth */
    store_bytes *bytes;        /* if not NULL (and alloc not NULL): bytes[i] gets the i-th
                                  row's stored bytes, copied with alloc; limit entries */
    /* If n_fields > 0 (with alloc): each row's values of these fields of the
     * kind's schema, as store_get_fields reads them, in
     * values[i * n_fields + j] (limit * n_fields entries). */
    const filter_field *const *fields;
    size_t n_fields;
    filter_value *values;
    int stored_only; /* with bytes: rows are not decoded; fn gets NULL for
                        each row, whose bytes and values are all there is */
} store_list_query;

/* The fields a client may filter and order a kind's list on (filter.h), each
 * tied to one of the kind's stored columns. Static; NULL only if the process
 * is out of memory. */
const filter_schema *store_filter_schema(store_kind kind);

/* Calls fn for each row (fn owns msg, unpacked with q->alloc, or NULL when
 * q->stored_only; return non-zero to stop). STORE_ERROR for a query that
 * does not fit its kind (a filter, order or field of another schema,
 * n_after wrong, limit <= 0). */
typedef int (*store_row_fn)(ProtobufCMessage *msg, void *ctx);
int store_list(store_tx *tx, const store_list_query *q, store_row_fn fn, void *ctx);

/* ---- Money ----
 * One amount the store keeps fits int64 nanos (|amount| <= 10^9 units); a
 * sum of amounts need not. Sums come back exact, as 128-bit nanos: 2^64
 * amounts of 10^18 nanos stay below 2^127, so no sum an engine can hold
 * wraps. (SQLite adds the units and the nanos parts of the rows apart, each
 * within int64 for up to 9.2 * 10^9 rows; PostgreSQL's SUM is numeric.) */
typedef __int128 store_sum;

/* The value a money column holds: units * 10^9 + nanos, saturated to the
 * int64 range. Only an aggregate kept on a resource (a need's committed or
 * delivered amount) can pass EUR 9,223,372,036.854775807; it then filters
 * and sorts as that amount, while its Money stays exact. Page tokens carry
 * this value too, so paging over such rows stays exact. */
int64_t store_money_key(int64_t units, int32_t nanos);

/* Sum of match amounts for a need or a pledge, over the match states in
 * state_mask (bit 1<<state). */
int store_match_sum(store_tx *tx, const char *need, const char *pledge, uint32_t state_mask,
                    store_sum *nanos);

/* Number of a donor's pledges whose state is not in except_mask (1<<state). */
int store_pledge_count(store_tx *tx, const char *donor, uint32_t except_mask, int64_t *count);

/* A donor's record for match suggestions: matches in state_mask, all and on
 * needs of the given sector. */
int store_donor_record(store_tx *tx, const char *donor, int sector, uint32_t state_mask,
                       int64_t *all, int64_t *in_sector);

/* *yes = 1 when the donor has a match on the need in one of state_mask. */
int store_donor_has_match(store_tx *tx, const char *need, const char *donor, uint32_t state_mask,
                          int *yes);

/* ---- Principals ---- */
/* Sets (or with NULL clears) a principal's token hash (a keyed hash: the
 * token itself is never stored), and bumps the principals epoch.
 * STORE_EXISTS if another has the same hash. */
int store_principal_set_token(store_tx *tx, const char *name, const uint8_t hash[32]);
/* Finds a principal by token hash or by certificate identity. */
int store_principal_by_token(store_tx *tx, const uint8_t hash[32], ProtobufCAllocator *alloc,
                             ProtobufCMessage **out);
int store_principal_by_cert(store_tx *tx, const char *identity, ProtobufCAllocator *alloc,
                            ProtobufCMessage **out);
/* A counter that moves whenever anything a cached authentication depends on
 * changes (a principal created, its role, state, donor or certificate
 * identity changed, a token set or cleared), committed in the same
 * transaction as the change, by any process. A cache filled at epoch E is
 * stale once this returns another value. Served from memory when the store
 * is the database's only writer (SQLite, shared = 0), else one indexed read;
 * the value includes every batch whose caller has been released. */
int store_principals_epoch(store *s, uint64_t *epoch);

/* ---- The audit log (audit.c owns its meaning) ---- */
/* The log's committed size, from the head row that sequences it across
 * processes. In a write transaction it also locks the head until the batch
 * ends, so that every process appends after every other (docs/audit.md);
 * in a read transaction it is the snapshot's. */
int store_audit_head(store_tx *tx, int64_t *size);
/* Sets the head's size (write transactions, after store_audit_head). */
int store_audit_head_set(store_tx *tx, int64_t size);
/* Appends leaf `index` (its bytes exactly as given). Write transactions.
 * With store_options.change_log, also writes the change log's rows of the
 * resources the job changed since its last record, under this index. */
int store_audit_append(store_tx *tx, int64_t index, const uint8_t *data, size_t len);
/* One leaf's bytes (malloc'd: free them). STORE_NOT_FOUND past the end. */
int store_audit_leaf(store_tx *tx, int64_t index, uint8_t **data, size_t *len);
/* *size = highest index + 1 (cheap); *count (if not NULL: a full count, for
 * start-up checks) = number of leaves, equal unless rows were deleted behind
 * the server's back. */
int store_audit_size(store_tx *tx, int64_t *size, int64_t *count);
/* Calls fn for each leaf with start <= index < end, in order (non-zero stops). */
typedef int (*store_leaf_fn)(int64_t index, const uint8_t *data, size_t len, void *ctx);
int store_audit_scan(store_tx *tx, int64_t start, int64_t end, store_leaf_fn fn, void *ctx);
/* ---- The change log (docs/store.md) ----
 * One row per resource version a change wrote: the resource's bytes after
 * the change, keyed by the index of the audit record committed with it
 * (several resources changed by one call share an index, in the order the
 * call changed them: seq). Written by store_audit_append when
 * store_options.change_log is set. Rows of index -1 are the baseline a
 * database migrated with resources already in it starts from: each
 * resource's version as it was when the change log began. */
typedef struct store_change {
    int64_t index;     /* the audit record's index; -1: baseline */
    int seq;           /* order within the index, from 0 */
    store_kind kind;   /* STORE_DONOR, STORE_PLEDGE, STORE_NEED, STORE_MATCH or STORE_RATE */
    const char *name;
    int deleted;       /* the change removed the resource (data empty): DeleteExchangeRate */
    const char *donor; /* the version's donor (matches; a pledge's parent), or "" */
    const char *need;  /* a match's need, or "" */
    int state;         /* the version's state field, 0 for donors */
    const uint8_t *data; /* the resource's protobuf encoding */
    size_t len;
} store_change;
/* A row, valid during the call only; return non-zero to stop. */
typedef int (*store_change_fn)(const store_change *ch, void *ctx);
/* The rows with from <= index < to, in (index, seq) order, at most limit
 * (> 0). The baseline (index -1) is never scanned. */
int store_change_scan(store_tx *tx, int64_t from, int64_t to, int limit, store_change_fn fn,
                      void *ctx);
/* One resource's rows with from <= index < to (from -1 includes the
 * baseline), by index ascending or (descending = 1) descending, at most
 * limit (> 0). */
int store_change_versions(store_tx *tx, store_kind kind, const char *name, int64_t from,
                          int64_t to, int descending, int limit, store_change_fn fn, void *ctx);
/* store_donor_has_match as of position `at`: *yes = 1 when, among donor's
 * matches on need, the latest version with index <= at (the baseline
 * included) of some match has its state in state_mask. */
int store_change_live_match(store_tx *tx, const char *need, const char *donor,
                            uint32_t state_mask, int64_t at, int *yes);
/* The first index the change log holds every change from: 0 for a database
 * created with it, else the audit log's size when the migration that added
 * it ran. */
int store_change_start(store_tx *tx, int64_t *start);

/* Hash tiles: n (1..256) hashes of 32 bytes at tree level `level`, tile
 * `index`; a partial tile is replaced as it grows. */
int store_tile_put(store_tx *tx, int level, int64_t index, const uint8_t *hashes, size_t n);
int store_tile_get(store_tx *tx, int level, int64_t index, uint8_t hashes[256 * 32], size_t *n);
/* Signed checkpoints by tree size (size < 0: the latest); note malloc'd. */
int store_checkpoint_put(store_tx *tx, int64_t size, const uint8_t *note, size_t len);
int store_checkpoint_get(store_tx *tx, int64_t size, uint8_t **note, size_t *len,
                         int64_t *size_out);

/* ---- Witnesses of the audit log (service/witness/ owns their meaning) ----
 * Kept in the database so that every replica sending checkpoints to a
 * witness starts from what any of them learnt. A witness is named by its
 * C2SP verifier key string ("name+keyid+base64"). */
/* The tree size `witness` last cosigned, as far as any replica learnt;
 * STORE_NOT_FOUND when none did. */
int store_witness_size(store_tx *tx, const char *witness, int64_t *size);
/* Raises the size kept for `witness` to `size`; never lowers it (a replica
 * that learnt an older size late must not undo a newer one). Write
 * transactions. */
int store_witness_size_raise(store_tx *tx, const char *witness, int64_t size);
/* Keeps `witness`'s cosignature line ("— name base64\n", verified by the
 * caller) of the checkpoint of tree size `size`: one per witness and size;
 * a second is an answer (STORE_EXISTS) and the first stays. Write
 * transactions. */
int store_cosignature_put(store_tx *tx, int64_t size, const char *witness, const uint8_t *line,
                          size_t len);
/* Calls fn with each cosignature kept for the checkpoint of `size`, in
 * witness order (non-zero stops). `witness` is NUL-terminated; line is not. */
typedef int (*store_cosignature_fn)(const char *witness, const uint8_t *line, size_t len,
                                    void *ctx);
int store_cosignatures(store_tx *tx, int64_t size, store_cosignature_fn fn, void *ctx);
/* The largest checkpoint size below `before` with at least `count` kept
 * cosignatures, by whichever witnesses; STORE_NOT_FOUND if none. */
int store_cosigned_size(store_tx *tx, int64_t before, int64_t count, int64_t *size);

/* ---- Idempotent requests (request_id) ---- */
/* Looks up a remembered request; STORE_NOT_FOUND when new. *response is
 * malloc'd (free it). */
int store_request_get(store_tx *tx, const char *principal, const char *method,
                      const char *request_id, uint8_t hash[32], uint8_t **response,
                      size_t *response_len);
int store_request_put(store_tx *tx, const char *principal, const char *method,
                      const char *request_id, const uint8_t hash[32], const uint8_t *response,
                      size_t response_len);
/* Forgets requests older than max_age_s; returns the number removed or < 0. */
int store_request_expire(store_tx *tx, int64_t max_age_s);

/* Online backup of the SQLite database at src (SQLite's backup API) to a
 * new file dst, while a server may be writing: a consistent snapshot, copied
 * in steps so writers are never held up for long; dst is fsynced. dst must
 * not exist. On failure writes the reason to err. (PostgreSQL is backed up
 * with its own tools: docs/store.md.) */
int store_backup(const char *src, const char *dst, char *err, size_t errlen);

/* Short text for a STORE_* code. */
const char *store_strerror(int rc);

#endif
