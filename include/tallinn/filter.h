/* filter.h — the AIP-160 filter subset and AIP-132 order_by of List methods:
 * parsed against a schema (the store's, store_filter_schema) into a typed
 * tree and order, a canonical form (page tokens are bound to it), an
 * in-memory evaluator and the comparison of values. No SQL here: the store
 * renders a parsed filter and order for its engine (store.h, store_list).
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
#define FILTER_SEARCH_MAX 200      /* characters (code points) a ":" searches for:
                                      the longest searchable field (a title) */

/* Field types. Each type fixes the literal syntax and the typed value:
 *   STRING     "double-quoted"            -> text (compared as bytes)
 *   ENUM       NAME or "NAME"            -> int64 enum number
 *   INT        123, -5                    -> int64
 *   MONEY      1500 or 1500.25 (currency units of the accounting currency)
 *                                         -> int64 total nanos
 *   TIMESTAMP  "2025-01-31T12:00:00Z" (RFC 3339, any offset)
 *                                         -> int64 nanoseconds since the Unix
 *                                            epoch, UTC
 *   DATE       "2025-06-30"              -> int64 yyyymmdd, e.g. 20250630
 *   BOOL       true or false             -> int64 0 or 1
 * The store's column for a field must be NOT NULL and hold values of the
 * field's kind, so that its queries and filter_eval agree. */
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
#define FILTER_FIELD_SEARCH 0x4u    /* STRING: may be searched with ":" (below) */

/* One field the client may name. All strings are static, from code. */
typedef struct filter_field {
    const char *name;   /* API field name, e.g. "estimated_cost" ([a-z_][a-z0-9_.]*) */
    filter_type type;
    unsigned column;    /* the store's column for the field (opaque here) */
    const filter_enum_value *values; /* ENUM: allowed values */
    size_t nvalues;
    const char *enum_prefix; /* ENUM, optional: e.g. "STATE_", so that OPEN
                                means STATE_OPEN; canonical form uses the full name */
    unsigned flags;
    unsigned fold_column; /* SEARCH: the store's column holding the field's
                             text folded by textfold (opaque here) */
} filter_field;

/* The rows' unique name is the implicit tie-breaker of every order: it is
 * no field of the schema unless the schema lists it to filter on. */
typedef struct filter_schema {
    const filter_field *fields;
    size_t nfields;
} filter_schema;

typedef struct filter_error {
    size_t column;                  /* 1-based, in Unicode code points; 0 if none */
    char message[FILTER_ERROR_MAX]; /* "filter: column N: ..." */
} filter_error;

/* Checks a schema: names well-formed and unique, enums with values. The
 * parsers call it (unless it is fixed, below); exposed for unit tests of
 * schemas. Returns FILTER_OK or
 * FILTER_ERR_SCHEMA. */
int filter_schema_check(const filter_schema *schema);
/* Marks a schema that filter_schema_check accepted and that stays as it is
 * for the process's life (the store's): the parsers then skip checking it
 * on every call. At most FILTER_MAX_FIXED_SCHEMAS; more are checked per
 * parse as before. */
#define FILTER_MAX_FIXED_SCHEMAS 16
void filter_schema_fixed(const filter_schema *schema);

/* ---- The parsed filter ---- */

typedef enum filter_op {
    FILTER_EQ = 1,
    FILTER_NE,
    FILTER_LT,
    FILTER_GT,
    FILTER_LE,
    FILTER_GE,
    /* `field : "text"` (AIP-160's has operator on a text field): the
     * field's text contains the literal, both folded by textfold (Unicode
     * NFKC_Casefold: case-insensitive, also for Cyrillic and Greek), as a
     * plain substring: no wildcards. Only on FILTER_FIELD_SEARCH fields; the
     * node's value holds the folded literal, never empty. */
    FILTER_HAS
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
 * full, money as a plain decimal, timestamps in UTC, strings re-quoted (the
 * text of a ":" search folded, so "ODESA" and "odesa" are one filter); every
 * AND/OR group parenthesised; "" for the empty filter. Equal for filters that
 * differ only in spacing, quoting, enum prefixes, redundant parentheses or
 * `-` versus NOT. Returns a NUL-terminated string owned by f, or NULL if out
 * of memory. */
const char *filter_canonical(const filter *f);

/* Reads field's value of the row at ctx into *out (type must be the field's;
 * a STRING's bytes must stay valid while the row does: point into the row).
 * Returns 0, or non-zero to abort the evaluation with FILTER_ERR_CALLBACK. */
typedef int (*filter_get_fn)(void *ctx, const filter_field *field, filter_value *out);

/* Evaluates f against one row; *match = true if the row passes. The empty
 * filter passes every row. A ":" search folds the row's text with textfold
 * (as the store does when it writes the row). Returns FILTER_OK,
 * FILTER_ERR_CALLBACK, FILTER_ERR_NOMEM or FILTER_ERR_ARG. */
int filter_eval(const filter *f, filter_get_fn get, void *ctx, bool *match);

/* ---- order_by ---- */

typedef struct filter_order_key {
    const filter_field *field;
    bool desc;
} filter_order_key;

/* A parsed order_by. The rows' name is always the implicit last key, in the
 * direction of the last explicit key (ascending when there is none), so that
 * the order is total and a one-key order has one direction. Plain struct,
 * nothing to free. */
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

/* Canonical form, e.g. "priority asc, create_time desc"; "" for id order.
 * Returns FILTER_OK or FILTER_ERR_NOSPACE. */
int filter_order_canonical(const filter_order *o, char *buf, size_t cap);

/* Keyset paging after a row in an order reads at most one range per run of
 * keys of one direction (the name included): store_list. */
#define FILTER_SEEK_MAX_ARMS (FILTER_ORDER_MAX_KEYS + 1)
#define FILTER_SEEK_MAX_BINDS (FILTER_ORDER_MAX_KEYS + 1)

/* Compares rows a and b on the order's keys (not the id): *cmp < 0, 0 or > 0.
 * Returns FILTER_OK or FILTER_ERR_CALLBACK. */
int filter_order_compare(const filter_order *o, filter_get_fn get, void *a, void *b, int *cmp);

/* Compares two values of the same type: < 0, 0, > 0. Strings compare as
 * bytes (as the store orders text on every engine), the shorter first on a
 * tie. */
int filter_value_compare(const filter_value *a, const filter_value *b);

#ifdef __cplusplus
}
#endif

#endif
