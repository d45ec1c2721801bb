/* store.h — the one storage interface of tallinnd; SQLite behind it (store.c).
 * Handlers never see SQL. Design: docs/store.md.
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

typedef struct store store;
typedef struct store_tx store_tx;

/* Result codes: 0 or negative. */
enum {
    STORE_OK = 0,
    STORE_NOT_FOUND = -1,
    STORE_EXISTS = -2,    /* insert of a name already there */
    STORE_FULL = -3,      /* disk or database full */
    STORE_IO = -4,        /* read-only, I/O error, cannot open */
    STORE_BUSY = -5,      /* bounded wait for a lock ran out */
    STORE_CORRUPT = -6,
    STORE_NOMEM = -7,
    STORE_ERROR = -8,     /* anything else (a bug: logged) */
    STORE_SHUTDOWN = -9,  /* the store is closing */
    STORE_READONLY = -10, /* opened on read-only storage: writes are refused */
};

typedef enum store_kind {
    STORE_DONOR = 0,
    STORE_PLEDGE,
    STORE_NEED,
    STORE_MATCH,
    STORE_PRINCIPAL,
    STORE_KIND_COUNT
} store_kind;

typedef struct store_options {
    const char *path;        /* SQLite file */
    int max_readers;         /* read connections; 0 = 8 */
    int busy_timeout_ms;     /* bounded lock waits; 0 = 5000 */
    int max_batch;           /* jobs per group commit; 0 = 256 */
    int read_only;           /* the storage is read-only: serve reads, refuse writes */
} store_options;

/* Opens (creating if needed) and migrates the database, starts the committer.
 * On failure writes a short reason into err. */
int store_open(store **out, const store_options *opts, char *err, size_t errlen);
void store_close(store *s);

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

/* Called inside the batch's transaction after every job of the batch ran and
 * before COMMIT (the audit log appends and signs here). Returning non-zero
 * fails the whole batch. */
typedef int (*store_batch_hook)(store_tx *tx, void *ctx);
/* Called after the batch, committed (1) or rolled back (0), before any job's
 * caller is released: the audit log keeps its memory in step with disk. */
typedef void (*store_batch_done)(int committed, void *ctx);
void store_set_batch_hook(store *s, store_batch_hook fn, store_batch_done done, void *ctx);

/* A nested savepoint inside a write job: end it keeping (keep = 1) or
 * undoing its changes. The job's own savepoint is around it. */
int store_savepoint(store_tx *tx);
int store_savepoint_end(store_tx *tx, int keep);

/* Runs fn in the next batch and waits until the batch is durable. Returns
 * STORE_OK with *job_rc = fn's result, or a STORE_* error when the batch could
 * not be committed (nothing of the job is then stored). */
int store_write(store *s, store_job_fn fn, void *arg, int *job_rc);

/* ---- Resources (read or write transactions) ---- */
/* Gets a resource by name, unpacked with alloc (NULL: malloc, then free it
 * with protobuf_c_message_free_unpacked). STORE_NOT_FOUND when absent. */
int store_get(store_tx *tx, store_kind kind, const char *name, ProtobufCAllocator *alloc,
              ProtobufCMessage **out);
/* Inserts (STORE_EXISTS if the name is taken) or replaces a resource. The
 * message's name field is the key. Write transactions only. */
int store_insert(store_tx *tx, store_kind kind, const ProtobufCMessage *msg);
int store_update(store_tx *tx, store_kind kind, const ProtobufCMessage *msg);

/* A value bound to a query placeholder. */
typedef struct store_value {
    enum { STORE_V_INT, STORE_V_TEXT } type;
    int64_t i;
    const char *text;
} store_value;

/* Need-to-know scopes a list can be narrowed by (their SQL lives in the
 * store). Each takes the binds listed. */
typedef enum store_scope {
    STORE_SCOPE_ALL = 0,
    STORE_SCOPE_DONOR_NEEDS,    /* needs a donor may know of: ?donor, ?match state mask */
    STORE_SCOPE_UNRESTRICTED,   /* needs that are not RESTRICTED: no binds */
    STORE_SCOPE_OF_DONOR,       /* pledges or matches of one donor: ?donor */
} store_scope;
/* The scope's SQL condition over the kind's table, or NULL if the pair
 * makes no sense. */
const char *store_scope_sql(store_kind kind, store_scope scope);

/* One arm of a keyset seek (filter_order_seek_arm): a condition and its
 * binds. */
typedef struct store_seek_arm {
    const char *where;
    const store_value *binds;
    size_t n_binds;
} store_seek_arm;

/* A list query. where/order and the seek arms are SQL fragments produced
 * only by the filter module from the kind's store_filter_schema() — column
 * names and placeholders, never user text; values are bound from binds. */
typedef struct store_query {
    const char *where;      /* NULL = all rows */
    const store_value *binds;
    size_t n_binds;
    const char *order;      /* NULL = by name; must end with the name (a total order) */
    /* Keyset paging: the rows after the cursor are those of seek[0], then
     * those of seek[1], ... (disjoint, in order); each arm is read as its own
     * index range until limit rows came. n_seek = 0: from the start. */
    const store_seek_arm *seek;
    size_t n_seek;
    int limit;              /* rows at most; > 0 */
    ProtobufCAllocator *alloc; /* rows are unpacked with it (NULL: malloc) */
    int64_t *work;          /* if not NULL: the engine's count of steps it took for this
                               list (SQLite: virtual-machine steps), so that tests can
                               check that a page costs the same at any depth */
} store_query;

/* The fields a client may filter and order a kind's list on, with their
 * columns (filter.h). Static; NULL only if the process is out of memory. */
struct filter_schema;
const struct filter_schema *store_filter_schema(store_kind kind);

/* Calls fn for each row (fn owns msg, unpacked with q->alloc; return
 * non-zero to stop). */
typedef int (*store_row_fn)(ProtobufCMessage *msg, void *ctx);
int store_list(store_tx *tx, store_kind kind, const store_query *q, store_row_fn fn, void *ctx);

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

/* ---- Principals ---- */
/* Sets (or with NULL clears) a principal's token hash (a keyed hash: the
 * token itself is never stored). STORE_EXISTS if another has the same hash. */
int store_principal_set_token(store_tx *tx, const char *name, const uint8_t hash[32]);
/* Finds a principal by token hash or by certificate identity. */
int store_principal_by_token(store_tx *tx, const uint8_t hash[32], ProtobufCAllocator *alloc,
                             ProtobufCMessage **out);
int store_principal_by_cert(store_tx *tx, const char *identity, ProtobufCAllocator *alloc,
                            ProtobufCMessage **out);

/* *yes = 1 when the donor has a match on the need in one of state_mask. */
int store_donor_has_match(store_tx *tx, const char *need, const char *donor, uint32_t state_mask,
                          int *yes);

/* ---- Report aggregates, read in one snapshot, exact ---- */
/* Whose view the totals are (need-to-know, docs/authz.md): every need
 * (STORE_SCOPE_ALL), the needs that are not RESTRICTED (an OBSERVER:
 * STORE_SCOPE_UNRESTRICTED), or the needs a donor may know of (OPEN STANDARD
 * ones and those it has a match in live_mask on) and that donor's own line
 * only (STORE_SCOPE_DONOR_NEEDS). */
typedef struct store_view {
    store_scope scope;
    const char *donor;  /* STORE_SCOPE_DONOR_NEEDS */
    uint32_t live_mask; /* STORE_SCOPE_DONOR_NEEDS */
} store_view;

typedef struct store_totals {
    int64_t count;
    store_sum estimated, committed, delivered; /* nanos */
} store_totals;

/* Totals of the needs whose state is in need_mask and that the view lets
 * through, per (sector, category) pair in key order: their number, estimated
 * costs, and the amounts of their matches in committed_mask and in
 * delivered_mask. */
int store_need_totals(store_tx *tx, const store_view *v, uint32_t need_mask,
                      uint32_t committed_mask, uint32_t delivered_mask,
                      void (*fn)(int sector, int category, const store_totals *t, void *ctx),
                      void *ctx);
/* Per MEMBER donor in the view, in display-name order: the needs it has
 * matches in committed_mask on (count, their estimated cost), its committed
 * and delivered amounts, and its pledged (not withdrawn) amount. With
 * STORE_SCOPE_UNRESTRICTED, needs that are RESTRICTED and the matches on
 * them are left out. */
int store_donor_totals(store_tx *tx, const store_view *v, uint32_t committed_mask,
                       uint32_t delivered_mask,
                       void (*fn)(const char *donor, const char *display_name,
                                  const store_totals *t, store_sum pledged, void *ctx),
                       void *ctx);

/* ---- The audit log (audit.c owns its meaning) ---- */
/* Appends leaf `index` (its bytes exactly as given). Write transactions. */
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
/* Hash tiles: n (1..256) hashes of 32 bytes at tree level `level`, tile
 * `index`; a partial tile is replaced as it grows. */
int store_tile_put(store_tx *tx, int level, int64_t index, const uint8_t *hashes, size_t n);
int store_tile_get(store_tx *tx, int level, int64_t index, uint8_t hashes[256 * 32], size_t *n);
/* Signed checkpoints by tree size (size < 0: the latest); note malloc'd. */
int store_checkpoint_put(store_tx *tx, int64_t size, const uint8_t *note, size_t len);
int store_checkpoint_get(store_tx *tx, int64_t size, uint8_t **note, size_t *len,
                         int64_t *size_out);

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

/* Online backup (SQLite's backup API) of the database at src to a new file
 * dst, while a server may be writing: a consistent snapshot, copied in
 * steps so writers are never held up for long; dst is fsynced. dst must not
 * exist. On failure writes the reason to err. */
int store_backup(const char *src, const char *dst, char *err, size_t errlen);

/* Short text for a STORE_* code. */
const char *store_strerror(int rc);

#endif
