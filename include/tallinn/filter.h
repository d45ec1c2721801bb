/* filter.h — the AIP-160 filter subset and AIP-132 order_by of List methods:
 * parsed against a schema the handler supplies, turned into SQL fragments
 * whose only identifiers come from that schema and whose values are bound
 * through `?` placeholders (no user text ever reaches the SQL text), a
 * canonical form (page tokens are bound to it), and an in-memory evaluator.
 * Grammar, types and examples: docs/api-conventions.md.
 *
 * Errors: functions return FILTER_OK (0) or a negative FILTER_ERR_*. A bad
 * filter or order_by is FILTER_ERR_INVALID with a filter_error whose message
 * reads like `filter: column 14: unknown field "secotr" (did you mean
 * "sector"?)` and is meant for the client (INVALID_ARGUMENT). */
#ifndef TALLINN_FILTER_H
#define TALLINN_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    FILTER_OK = 0,
    FILTER_ERR_INVALID = -1, /* the filter/order_by text is wrong: see filter_error */
    FILTER_ERR_NOMEM = -2,
    FILTER_ERR_SCHEMA = -3,  /* the schema itself is wrong (a bug in the caller) */
    FILTER_ERR_NOSPACE = -4, /* output buffer too small */
    FILTER_ERR_ARG = -5,     /* NULL pointer or bad argument */
    FILTER_ERR_CALLBACK = -6 /* the row accessor failed */
};

/* ---- Limits ---- */
#define FILTER_MAX_LEN 2048        /* bytes of filter text */
#define FILTER_MAX_DEPTH 16        /* nesting of parentheses and NOT */
#define FILTER_MAX_COMPARISONS 64  /* comparisons in one filter */
#define FILTER_ORDER_MAX_LEN 512   /* bytes of order_by text */
#define FILTER_ORDER_MAX_KEYS 8    /* fields in one order_by */
#define FILTER_ERROR_MAX 256       /* bytes of an error message, with NUL */

/* Field types. Each type fixes the literal syntax and the bound value:
 *   STRING     "double-quoted"            -> text (bytes, BINARY collation)
 *   ENUM       NAME or "NAME"            -> int64 enum number
 *   INT        123, -5                    -> int64
 *   MONEY      1500 or 1500.25 (currency units of the accounting currency)
 *                                         -> int64 total nanos
 *   TIMESTAMP  "2025-01-31T12:00:00Z" (RFC 3339, any offset)
 *                                         -> int64 nanoseconds since the Unix
 *                                            epoch, UTC
 *   DATE       "2025-06-30"              -> int64 yyyymmdd, e.g. 20250630
 *   BOOL       true or false             -> int64 0 or 1
 * Columns must be NOT NULL and hold values of the bound kind, so that SQL
 * and filter_eval agree. */
typedef enum filter_type {
    FILTER_STRING = 1,
    FILTER_ENUM,
    FILTER_INT,
    FILTER_MONEY,
    FILTER_TIMESTAMP,
    FILTER_DATE,
    FILTER_BOOL
} filter_type;

typedef struct filter_enum_value {
    const char *name; /* full proto value name, e.g. "STATE_OPEN" */
    int64_t number;   /* its number, as stored in the column */
} filter_enum_value;

/* filter_field.flags */
#define FILTER_FIELD_NO_FILTER 0x1u /* may appear in order_by only */
#define FILTER_FIELD_NO_ORDER 0x2u  /* may appear in filter only */

/* One field the client may name. All strings are static, from code. */
typedef struct filter_field {
    const char *name;   /* API field name, e.g. "estimated_cost" ([a-z_][a-z0-9_.]*) */
    filter_type type;
    const char *column; /* SQL column, e.g. "estimated_cost_nanos" ([A-Za-z_][A-Za-z0-9_.]*) */
    const filter_enum_value *values; /* ENUM: allowed values */
    size_t nvalues;
    const char *enum_prefix; /* ENUM, optional: e.g. "STATE_", so that OPEN
                                means STATE_OPEN; canonical form uses the full name */
    unsigned flags;
} filter_field;

typedef struct filter_schema {
    const filter_field *fields;
    size_t nfields;
    const char *id_column; /* unique, NOT NULL tie-breaker for ordering and
                              page seeks, e.g. "id" */
} filter_schema;

typedef struct filter_error {
    size_t column;                  /* 1-based, in Unicode code points; 0 if none */
    char message[FILTER_ERROR_MAX]; /* "filter: column N: ..." */
} filter_error;

/* Checks a schema: names and columns well-formed and unique, enums with
 * values, id_column set. The parsers call it; exposed for unit tests of
 * handler schemas. Returns FILTER_OK or FILTER_ERR_SCHEMA. */
int filter_schema_check(const filter_schema *schema);

/* ---- The parsed filter ---- */

typedef enum filter_op {
    FILTER_EQ = 1,
    FILTER_NE,
    FILTER_LT,
    FILTER_GT,
    FILTER_LE,
    FILTER_GE
} filter_op;

/* A typed value: a literal from the filter or a column value of a row. */
typedef struct filter_value {
    filter_type type;
    int64_t i;     /* every type but STRING (see filter_type) */
    const char *s; /* STRING: bytes, NUL-terminated for convenience */
    size_t len;    /* STRING: length in bytes */
} filter_value;

typedef enum filter_node_kind {
    FILTER_NODE_AND = 1, /* children[0..n): all must hold, n >= 2 */
    FILTER_NODE_OR,      /* children[0..n): one must hold, n >= 2 */
    FILTER_NODE_NOT,     /* children[0] must not hold, n == 1 */
    FILTER_NODE_CMP      /* field op value */
} filter_node_kind;

typedef struct filter_node {
    filter_node_kind kind;
    struct filter_node **children;
    size_t nchildren;
    const filter_field *field; /* CMP: points into the schema */
    filter_op op;              /* CMP */
    filter_value value;        /* CMP: the literal, of the field's type */
    size_t column;             /* 1-based column where the node starts */
} filter_node;

typedef struct filter filter;

/* Parses text[0..len) (need not be NUL-terminated) against schema. An empty
 * or all-blank filter is valid and matches every row. On success *out is a
 * new filter owned by the caller (filter_destroy). On FILTER_ERR_INVALID,
 * err (if not NULL) says where and why. The schema must outlive the filter. */
int filter_parse(const filter_schema *schema, const char *text, size_t len, filter **out,
                 filter_error *err);

/* Frees a filter. NULL is fine. */
void filter_destroy(filter *f);

/* The root of the AST, or NULL for the empty filter. Owned by f. */
const filter_node *filter_root(const filter *f);

/* The canonical form: every comparison as `field op value` with enum names in
 * full, money as a plain decimal, timestamps in UTC, strings re-quoted; every
 * AND/OR group parenthesised; "" for the empty filter. Equal for filters that
 * differ only in spacing, quoting, enum prefixes, redundant parentheses or
 * `-` versus NOT. Returns a NUL-terminated string owned by f, or NULL if out
 * of memory. */
const char *filter_canonical(const filter *f);

/* A SQL boolean expression with `?` placeholders, and the values to bind to
 * them in order. For the empty filter the text is "1 = 1" and there are no
 * values. String values point into the filter: keep f alive while binding. */
typedef struct filter_sql {
    char *text;          /* NUL-terminated, owned */
    filter_value *binds; /* owned array */
    size_t nbinds;
} filter_sql;

/* Renders f as SQL. Every identifier in the text is a column of the schema;
 * every literal is a placeholder. Returns FILTER_OK or FILTER_ERR_NOMEM. On
 * success free with filter_sql_free. */
int filter_to_sql(const filter *f, filter_sql *out);
void filter_sql_free(filter_sql *sql);

/* Reads field's value of the row at ctx into *out (type must be the field's;
 * a STRING's bytes must stay valid while the row does: point into the row).
 * Returns 0, or non-zero to abort the evaluation with FILTER_ERR_CALLBACK. */
typedef int (*filter_get_fn)(void *ctx, const filter_field *field, filter_value *out);

/* Evaluates f against one row; *match = true if the row passes. The empty
 * filter passes every row. Returns FILTER_OK, FILTER_ERR_CALLBACK or
 * FILTER_ERR_ARG. */
int filter_eval(const filter *f, filter_get_fn get, void *ctx, bool *match);

/* ---- order_by ---- */

typedef struct filter_order_key {
    const filter_field *field;
    bool desc;
} filter_order_key;

/* A parsed order_by. The schema's id_column is always the implicit last key,
 * in the direction of the last explicit key (ascending when there is none),
 * so that the order is total and a one-key order has one direction. Plain
 * struct, nothing to free. */
typedef struct filter_order {
    const filter_schema *schema;
    filter_order_key keys[FILTER_ORDER_MAX_KEYS];
    size_t count;
} filter_order;

/* Parses `field [asc|desc], ...` (AIP-132; asc/desc case-insensitive,
 * spaces free). An empty text means id order. Unknown, repeated or
 * unorderable fields are FILTER_ERR_INVALID with err filled ("order_by:
 * column N: ..."). Enum fields order by enum number. */
int filter_order_parse(const filter_schema *schema, const char *text, size_t len,
                       filter_order *out, filter_error *err);

/* Writes the ORDER BY list (without the keywords), e.g.
 * "priority ASC, create_time_ns DESC, id DESC", NUL-terminated.
 * Returns FILTER_OK or FILTER_ERR_NOSPACE. */
int filter_order_to_sql(const filter_order *o, char *buf, size_t cap);

/* Canonical form, e.g. "priority asc, create_time desc"; "" for id order.
 * Returns FILTER_OK or FILTER_ERR_NOSPACE. */
int filter_order_canonical(const filter_order *o, char *buf, size_t cap);

/* Keyset pagination: the rows strictly after a given row in this order, as
 * a few disjoint SQL conditions ("arms") in order: every row arm i holds for
 * comes before every row arm i + 1 holds for, and together they hold for
 * exactly the rows after the given one. The keys, the id last, are cut into
 * runs of one direction; an arm is equality on the keys of the runs before
 * one run and a row-value comparison on that run, so an index on the keys
 * serves each arm as one range and a page costs the same at any depth
 * (`a > ? OR (a = ? AND id > ?)` is no index range: the planner walks from
 * the start). For `priority, create_time desc`:
 *   arm 0: priority = ? AND (create_time_ns, id) < (?, ?)
 *   arm 1: priority > ?
 * and for `create_time`, one arm: (create_time_ns, id) > (?, ?).
 * filter_order_seek_arms gives the number of arms (one per run, at most
 * FILTER_SEEK_MAX_ARMS; 0 for a bad order). filter_order_seek_arm writes arm
 * `arm`; for each `?` in turn, key_index[j] says which value of the last row
 * to bind: k < o->count for keys[k], o->count for the id. *nbinds receives
 * the number of placeholders, at most FILTER_SEEK_MAX_BINDS.
 * Returns FILTER_OK, FILTER_ERR_NOSPACE or FILTER_ERR_ARG. */
#define FILTER_SEEK_MAX_ARMS (FILTER_ORDER_MAX_KEYS + 1)
#define FILTER_SEEK_MAX_BINDS (FILTER_ORDER_MAX_KEYS + 1)
/* Room for one arm's text: every column name of a schema is short. */
#define FILTER_SEEK_ARM_MAX_LEN 2048
size_t filter_order_seek_arms(const filter_order *o);
int filter_order_seek_arm(const filter_order *o, size_t arm, char *buf, size_t cap,
                          size_t *key_index, size_t key_index_cap, size_t *nbinds);

/* Compares rows a and b on the order's keys (not the id): *cmp < 0, 0 or > 0.
 * Returns FILTER_OK or FILTER_ERR_CALLBACK. */
int filter_order_compare(const filter_order *o, filter_get_fn get, void *a, void *b, int *cmp);

/* Compares two values of the same type: < 0, 0, > 0. Strings compare as
 * bytes (like SQLite's BINARY collation), the shorter first on a tie. */
int filter_value_compare(const filter_value *a, const filter_value *b);

#ifdef __cplusplus
}
#endif

#endif
