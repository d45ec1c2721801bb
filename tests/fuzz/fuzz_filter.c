/* fuzz_filter.c — List filters and order_by (service/request/filter.c) against the
 * real schemas of the store (store_filter_schema) and one schema with every
 * field type, and the store's SQL for them (service/store/store_sql.c).
 * Input: byte 0 picks the schema; then the filter text, and after a 0xFF
 * byte (never in UTF-8) the order_by text (without one, the same text is
 * tried as both). Checks:
 *   - parse never crashes; errors say where ("filter: column N: ...");
 *   - canonical(parse(canonical(f))) == canonical(f);
 *   - the filter and its canonical form agree on rows built from the
 *     filter's own literals (equal, just below, just above);
 *   - a store kind's list renders (store_sql_list): as many binds as
 *     placeholders, no literal in the text, and it prepares in SQLite over
 *     the kind's table, where it selects exactly the rows filter_eval does;
 *   - order_by: canonical round trip; every keyset-seek arm renders and
 *     prepares, with one bind per placeholder. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store_sql.h"
#include "tallinn/filter.h"
#include "tallinn/store.h"
#include "tallinn/textfold.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_filter: check failed: %s\n", what);
        abort();
    }
}

/* ---- A schema with every type and both flags ---- */
static const filter_enum_value COLORS[] = {
    {"COLOR_UNSPECIFIED", 0}, {"COLOR_RED", 1}, {"COLOR_GREEN", 2}, {"COLOR_BLUE", 7},
    {"COLOR_MINUS", -3},
};
static const filter_field ALL_FIELDS[] = {
    {"title", FILTER_STRING, 0, NULL, 0, NULL, FILTER_FIELD_SEARCH, 0},
    {"color", FILTER_ENUM, 0, COLORS, 5, "COLOR_", 0, 0},
    {"count", FILTER_INT, 0, NULL, 0, NULL, 0, 0},
    {"cost", FILTER_MONEY, 0, NULL, 0, NULL, 0, 0},
    {"create_time", FILTER_TIMESTAMP, 0, NULL, 0, NULL, 0, 0},
    {"due", FILTER_DATE, 0, NULL, 0, NULL, 0, 0},
    {"done", FILTER_BOOL, 0, NULL, 0, NULL, 0, 0},
    {"notes", FILTER_STRING, 0, NULL, 0, NULL, FILTER_FIELD_NO_ORDER, 0},
    {"score", FILTER_INT, 0, NULL, 0, NULL, FILTER_FIELD_NO_FILTER, 0},
    {"nested.value", FILTER_INT, 0, NULL, 0, NULL, 0, 0},
};
static const filter_schema ALL_SCHEMA = {ALL_FIELDS, sizeof ALL_FIELDS / sizeof ALL_FIELDS[0]};

#define NSCHEMAS (STORE_KIND_COUNT + 1)
#define MAX_FIELDS 32
static const filter_schema *schemas[NSCHEMAS];
static sqlite3 *db;

/* A row: one value per schema field (strings point into `text`). */
typedef struct row {
    const filter_schema *schema;
    filter_value v[MAX_FIELDS];
    char text[MAX_FIELDS][2100];
} row;

static int row_get(void *ctx, const filter_field *f, filter_value *out)
{
    const row *r = ctx;
    size_t i = (size_t)(f - r->schema->fields);

    if (i >= r->schema->nfields)
        return -1;
    *out = r->v[i];
    return 0;
}

/* The kind's table, as the engines keep it: name, data and its columns
 * (untyped here: the values come typed). */
static void make_table(size_t k)
{
    const store_kind_info *ki = &store_kinds[k];
    char sql[4096];
    size_t n = (size_t)snprintf(sql, sizeof sql, "CREATE TABLE %s(name, data", ki->table);

    for (size_t i = 1; i < ki->n_columns; i++)
        n += (size_t)snprintf(sql + n, sizeof sql - n, ", %s", ki->columns[i].name);
    snprintf(sql + n, sizeof sql - n, ")");
    check(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "create table");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (int k = 0; k < STORE_KIND_COUNT; k++) {
        schemas[k] = store_filter_schema((store_kind)k);
        check(schemas[k] != NULL && schemas[k]->nfields <= MAX_FIELDS, "store schema");
    }
    schemas[STORE_KIND_COUNT] = &ALL_SCHEMA;
    check(filter_schema_check(&ALL_SCHEMA) == FILTER_OK, "local schema");
    check(sqlite3_open(":memory:", &db) == SQLITE_OK, "sqlite open");
    for (size_t k = 0; k < STORE_KIND_COUNT; k++)
        make_table(k);
    return 0;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == c;
    return n;
}

static size_t code_points(const uint8_t *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += (s[i] & 0xC0) != 0x80;
    return n;
}

static void bind_value(sqlite3_stmt *st, int i, const store_value *v)
{
    if (v->type == STORE_VALUE_TEXT)
        check(sqlite3_bind_text(st, i, v->len ? v->p : "", (int)v->len, SQLITE_STATIC) ==
                  SQLITE_OK, "bind");
    else if (v->type == STORE_VALUE_INT)
        check(sqlite3_bind_int64(st, i, v->i) == SQLITE_OK, "bind");
    else
        check(0, "bind type");
}

/* Placeholders in a rendered statement: ?N, numbered 1.. in order. */
static size_t placeholders(const char *text)
{
    size_t n = 0;
    for (const char *p = strchr(text, '?'); p != NULL; p = strchr(p + 1, '?')) {
        check((size_t)atoi(p + 1) == n + 1, "placeholders numbered in order");
        n++;
    }
    return n;
}

/* Sets the row's values from the filter's literals, shifted by `variant`. */
static void fill_row(row *r, const filter_node *n, int variant)
{
    if (n == NULL)
        return;
    if (n->kind != FILTER_NODE_CMP) {
        for (size_t i = 0; i < n->nchildren; i++)
            fill_row(r, n->children[i], variant);
        return;
    }
    size_t i = (size_t)(n->field - r->schema->fields);
    filter_value v = n->value;
    if (v.type == FILTER_STRING) {
        size_t len = v.len < 2000 ? v.len : 2000;
        memcpy(r->text[i], v.s, len);
        if (variant == 1 && len > 0)
            len--;
        else if (variant == 2)
            r->text[i][len++] = '~';
        r->text[i][len] = '\0';
        v.s = r->text[i];
        v.len = len;
    } else if (variant == 1 && v.i > INT64_MIN) {
        v.i--;
    } else if (variant == 2 && v.i < INT64_MAX) {
        v.i++;
    }
    r->v[i] = v;
}

static void init_row(row *r, const filter_schema *s)
{
    r->schema = s;
    for (size_t i = 0; i < s->nfields; i++) {
        r->v[i].type = s->fields[i].type;
        r->v[i].i = 0;
        r->text[i][0] = '\0';
        r->v[i].s = r->text[i];
        r->v[i].len = 0;
    }
}

/* Does the row pass the store's list of kind k for filter f, in SQLite? */
static int sql_match(size_t k, const row *r, const filter *f)
{
    const store_kind_info *ki = &store_kinds[k];
    const filter_schema *s = schemas[k];
    store_value cols[STORE_MAX_COLUMNS];
    char *folded[MAX_FIELDS] = {0};
    store_list_query q = {.kind = (store_kind)k, .filter = f, .limit = 10};
    store_sql *sql = malloc(sizeof *sql);
    char text[4096];
    sqlite3_stmt *st;
    size_t n;
    int match = 0, rc;

    check(sql != NULL, "malloc");
    snprintf(text, sizeof text, "DELETE FROM %s", ki->table);
    check(sqlite3_exec(db, text, NULL, NULL, NULL) == SQLITE_OK, "delete");
    /* The row's column values: its fields', defaults elsewhere. */
    for (size_t c = 0; c < ki->n_columns; c++)
        cols[c] = ki->columns[c].type == STORE_VALUE_TEXT
                      ? (store_value){STORE_VALUE_TEXT, 0, "", 0}
                      : (store_value){STORE_VALUE_INT, 0, NULL, 0};
    for (size_t i = 0; i < s->nfields; i++) {
        const filter_value *v = &r->v[i];
        cols[s->fields[i].column] = v->type == FILTER_STRING
                                        ? (store_value){STORE_VALUE_TEXT, 0, v->s, v->len}
                                        : (store_value){STORE_VALUE_INT, v->i, NULL, 0};
        /* a search field's folded copy, as store_kind_extract keeps it */
        if (s->fields[i].flags & FILTER_FIELD_SEARCH) {
            size_t flen;
            check(textfold(v->s, v->len, &folded[i], &flen) == TEXTFOLD_OK, "textfold");
            cols[s->fields[i].fold_column] = (store_value){STORE_VALUE_TEXT, 0, folded[i], flen};
        }
    }
    n = (size_t)snprintf(text, sizeof text, "INSERT INTO %s VALUES(?1, x''", ki->table);
    for (size_t c = 1; c < ki->n_columns; c++)
        n += (size_t)snprintf(text + n, sizeof text - n, ", ?%zu", c + 1);
    snprintf(text + n, sizeof text - n, ")");
    check(sqlite3_prepare_v2(db, text, -1, &st, NULL) == SQLITE_OK, "prepare insert");
    for (size_t c = 0; c < ki->n_columns; c++)
        bind_value(st, (int)c + 1, &cols[c]);
    check(sqlite3_step(st) == SQLITE_DONE, "insert");
    sqlite3_finalize(st);
    for (size_t i = 0; i < s->nfields; i++)
        free(folded[i]);

    check(store_sql_list(store_engine_sqlite.dialect, &q, STORE_SQL_NO_SEEK, sql) == STORE_OK,
          "the list renders");
    check(placeholders(sql->text) == sql->n_binds, "placeholders == binds");
    check(count_char(sql->text, '\'') == 0 && count_char(sql->text, '"') == 0,
          "no literal in SQL");
    check(sqlite3_prepare_v2(db, sql->text, -1, &st, NULL) == SQLITE_OK, "list SQL prepares");
    check((size_t)sqlite3_bind_parameter_count(st) == sql->n_binds, "bind count");
    for (size_t i = 0; i < sql->n_binds; i++)
        bind_value(st, (int)i + 1, &sql->binds[i]);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        match++;
    check(rc == SQLITE_DONE, "select");
    sqlite3_finalize(st);
    free(sql);
    return match;
}

static void fuzz_filter(size_t k, const uint8_t *text, size_t len)
{
    const filter_schema *s = schemas[k];
    filter *f = NULL, *g = NULL;
    filter_error err;
    const char *canon;
    row *r;
    int rc = filter_parse(s, (const char *)text, len, &f, &err);

    if (rc != FILTER_OK) {
        check(rc == FILTER_ERR_INVALID && f == NULL, "parse result");
        check(strncmp(err.message, "filter: ", 8) == 0, "error message prefix");
        check(memchr(err.message, '\0', sizeof err.message) != NULL, "error message NUL");
        check(err.column <= code_points(text, len) + 1, "error column in range");
        return;
    }
    canon = filter_canonical(f);
    check(canon != NULL, "canonical");
    rc = filter_parse(s, canon, strlen(canon), &g, &err);
    if (rc != FILTER_OK)
        fprintf(stderr, "canonical \"%s\" does not parse: %s\n", canon, err.message);
    check(rc == FILTER_OK, "canonical form parses");
    check(strcmp(filter_canonical(g), canon) == 0, "canonical is a fixed point");

    r = malloc(sizeof *r);
    check(r != NULL, "malloc");
    for (int variant = 0; variant < 3; variant++) {
        bool m1 = false, m2 = false;
        init_row(r, s);
        fill_row(r, filter_root(f), variant);
        check(filter_eval(f, row_get, r, &m1) == FILTER_OK, "eval");
        check(filter_eval(g, row_get, r, &m2) == FILTER_OK, "eval canonical");
        check(m1 == m2, "filter and its canonical form agree");
        if (k < STORE_KIND_COUNT)
            check(sql_match(k, r, f) == (int)m1, "the store's SQL and filter_eval agree");
    }
    free(r);
    filter_destroy(g);
    filter_destroy(f);
}

static void fuzz_order(size_t k, const uint8_t *text, size_t len)
{
    const filter_schema *s = schemas[k];
    filter_order o, o2;
    filter_error err;
    /* The buffer sizes service/handlers/api_list.c uses. */
    char canon[FILTER_ORDER_MAX_LEN * 2], canon2[FILTER_ORDER_MAX_LEN * 2];
    filter_value after[FILTER_ORDER_MAX_KEYS + 1];
    store_list_query q;
    store_sql *sql;
    size_t narms;
    sqlite3_stmt *st;
    int rc = filter_order_parse(s, (const char *)text, len, &o, &err);

    if (rc != FILTER_OK) {
        check(rc == FILTER_ERR_INVALID, "order parse result");
        check(strncmp(err.message, "order_by: ", 10) == 0, "order error prefix");
        check(err.column <= code_points(text, len) + 1, "order error column in range");
        return;
    }
    check(o.count <= FILTER_ORDER_MAX_KEYS, "order keys");
    check(filter_order_canonical(&o, canon, sizeof canon) == FILTER_OK, "order canonical fits");
    check(filter_order_parse(s, canon, strlen(canon), &o2, &err) == FILTER_OK,
          "order canonical parses");
    check(filter_order_canonical(&o2, canon2, sizeof canon2) == FILTER_OK &&
              strcmp(canon, canon2) == 0,
          "order canonical is a fixed point");
    if (k >= STORE_KIND_COUNT)
        return;
    narms = store_sql_seek_arms(&o);
    check(narms >= 1 && narms <= o.count + 1, "seek arms: one per run of one direction");
    for (size_t i = 0; i < o.count; i++)
        after[i] = (filter_value){o.keys[i].field->type, 1, "x", 1};
    after[o.count] = (filter_value){FILTER_STRING, 0, "x", 1};
    q = (store_list_query){.kind = (store_kind)k, .order = &o, .after = after,
                           .n_after = o.count + 1, .limit = 50};
    sql = malloc(sizeof *sql);
    check(sql != NULL, "malloc");
    for (size_t a = 0; a < narms; a++) {
        check(store_sql_list(store_engine_sqlite.dialect, &q, a, sql) == STORE_OK,
              "a seek arm renders");
        check(placeholders(sql->text) == sql->n_binds, "seek placeholders");
        check(sqlite3_prepare_v2(db, sql->text, -1, &st, NULL) == SQLITE_OK, "seek SQL prepares");
        check((size_t)sqlite3_bind_parameter_count(st) == sql->n_binds, "seek bind count");
        sqlite3_finalize(st);
    }
    check(store_sql_list(store_engine_sqlite.dialect, &q, narms, sql) == STORE_ERROR,
          "no arm past the last");
    free(sql);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep;
    size_t k;

    if (size == 0)
        return 0;
    k = data[0] % NSCHEMAS;
    data++;
    size--;
    sep = memchr(data, 0xFF, size);
    if (sep != NULL) {
        fuzz_filter(k, data, (size_t)(sep - data));
        fuzz_order(k, sep + 1, size - (size_t)(sep - data) - 1);
    } else {
        fuzz_filter(k, data, size);
        fuzz_order(k, data, size);
    }
    return 0;
}
