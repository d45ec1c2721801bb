/* fuzz_filter.c — List filters and order_by (service/request/filter.c) against the
 * real schemas of the store (store_filter_schema) and one schema with every
 * field type. Input: byte 0 picks the schema; then the filter text, and after
 * a 0xFF byte (never in UTF-8) the order_by text (without one, the same text
 * is tried as both). Checks:
 *   - parse never crashes; errors say where ("filter: column N: ...");
 *   - canonical(parse(canonical(f))) == canonical(f);
 *   - filter_to_sql: as many binds as '?', of the fields' types; the text
 *     prepares in SQLite over a table with the schema's columns;
 *   - the SQL and filter_eval agree on rows built from the filter's own
 *     literals (equal, just below, just above), and so does the canonical
 *     filter;
 *   - order_by: canonical round trip; ORDER BY and keyset-seek SQL fit the
 *     buffers api.c gives them and prepare in SQLite. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "tallinn/filter.h"
#include "tallinn/store.h"

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
    {"title", FILTER_STRING, "title", NULL, 0, NULL, 0},
    {"color", FILTER_ENUM, "color", COLORS, 5, "COLOR_", 0},
    {"count", FILTER_INT, "count", NULL, 0, NULL, 0},
    {"cost", FILTER_MONEY, "cost_nanos", NULL, 0, NULL, 0},
    {"create_time", FILTER_TIMESTAMP, "create_time_ns", NULL, 0, NULL, 0},
    {"due", FILTER_DATE, "due", NULL, 0, NULL, 0},
    {"done", FILTER_BOOL, "done", NULL, 0, NULL, 0},
    {"notes", FILTER_STRING, "notes", NULL, 0, NULL, FILTER_FIELD_NO_ORDER},
    {"score", FILTER_INT, "score", NULL, 0, NULL, FILTER_FIELD_NO_FILTER},
    {"nested.value", FILTER_INT, "nested_value", NULL, 0, NULL, 0},
};
static const filter_schema ALL_SCHEMA = {ALL_FIELDS, sizeof ALL_FIELDS / sizeof ALL_FIELDS[0], "id"};

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

static void table_name(size_t k, char *buf, size_t cap) { snprintf(buf, cap, "t%zu", k); }

/* One table per schema, one untyped column per distinct column name. */
static void make_table(size_t k)
{
    const filter_schema *s = schemas[k];
    char sql[4096], name[16];
    size_t n;

    table_name(k, name, sizeof name);
    n = (size_t)snprintf(sql, sizeof sql, "CREATE TABLE %s(%s", name, s->id_column);
    for (size_t i = 0; i < s->nfields; i++) {
        int dup = strcmp(s->fields[i].column, s->id_column) == 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = strcmp(s->fields[i].column, s->fields[j].column) == 0;
        if (!dup)
            n += (size_t)snprintf(sql + n, sizeof sql - n, ", %s", s->fields[i].column);
    }
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
    for (size_t k = 0; k < NSCHEMAS; k++)
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

static void bind_value(sqlite3_stmt *st, int i, const filter_value *v)
{
    if (v->type == FILTER_STRING)
        check(sqlite3_bind_text(st, i, v->s, (int)v->len, SQLITE_STATIC) == SQLITE_OK, "bind");
    else
        check(sqlite3_bind_int64(st, i, v->i) == SQLITE_OK, "bind");
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

/* Does the row pass `sql` in SQLite? */
static int sql_match(size_t k, const row *r, const filter_sql *fs)
{
    const filter_schema *s = schemas[k];
    char name[16], *sql;
    sqlite3_stmt *st;
    int bound[MAX_FIELDS] = {0}, n = 0, match;
    size_t len;

    table_name(k, name, sizeof name);
    {
        char del[32];
        snprintf(del, sizeof del, "DELETE FROM %s", name);
        check(sqlite3_exec(db, del, NULL, NULL, NULL) == SQLITE_OK, "delete");
    }
    /* INSERT one row: every distinct column once. */
    len = 64 + 40 * s->nfields;
    sql = malloc(len);
    check(sql != NULL, "malloc");
    int at = snprintf(sql, len, "INSERT INTO %s(%s", name, s->id_column);
    for (size_t i = 0; i < s->nfields; i++) {
        int dup = strcmp(s->fields[i].column, s->id_column) == 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = strcmp(s->fields[i].column, s->fields[j].column) == 0;
        if (!dup) {
            at += snprintf(sql + at, len - (size_t)at, ", %s", s->fields[i].column);
            bound[i] = 1;
            n++;
        }
    }
    /* The id column holds the row's value of the field stored in it (the
     * store's "name"), else a constant. */
    int id_field = -1;
    for (size_t i = 0; i < s->nfields && id_field < 0; i++)
        if (strcmp(s->fields[i].column, s->id_column) == 0)
            id_field = (int)i;
    at += snprintf(sql + at, len - (size_t)at, ") VALUES(%s", id_field >= 0 ? "?" : "'id'");
    for (int i = 0; i < n; i++)
        at += snprintf(sql + at, len - (size_t)at, ", ?");
    snprintf(sql + at, len - (size_t)at, ")");
    check(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "prepare insert");
    free(sql);
    size_t b = 1;
    if (id_field >= 0)
        bind_value(st, (int)b++, &r->v[id_field]);
    for (size_t i = 0; i < s->nfields; i++)
        if (bound[i])
            bind_value(st, (int)b++, &r->v[i]);
    check(sqlite3_step(st) == SQLITE_DONE, "insert");
    sqlite3_finalize(st);

    len = strlen(fs->text) + 64;
    sql = malloc(len);
    check(sql != NULL, "malloc");
    snprintf(sql, len, "SELECT count(*) FROM %s WHERE (%s)", name, fs->text);
    check(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "filter SQL prepares");
    free(sql);
    check((size_t)sqlite3_bind_parameter_count(st) == fs->nbinds, "bind count");
    for (size_t i = 0; i < fs->nbinds; i++)
        bind_value(st, (int)i + 1, &fs->binds[i]);
    check(sqlite3_step(st) == SQLITE_ROW, "select");
    match = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return match;
}

static void fuzz_filter(size_t k, const uint8_t *text, size_t len)
{
    const filter_schema *s = schemas[k];
    filter *f = NULL, *g = NULL;
    filter_error err;
    filter_sql fs = {0};
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

    check(filter_to_sql(f, &fs) == FILTER_OK, "to_sql");
    check(count_char(fs.text, '?') == fs.nbinds, "placeholders == binds");
    check(count_char(fs.text, '\'') == 0 && count_char(fs.text, '"') == 0, "no literal in SQL");
    for (size_t i = 0; i < fs.nbinds; i++)
        check(fs.binds[i].type >= FILTER_STRING && fs.binds[i].type <= FILTER_BOOL, "bind type");

    r = malloc(sizeof *r);
    check(r != NULL, "malloc");
    for (int variant = 0; variant < 3; variant++) {
        bool m1 = false, m2 = false;
        init_row(r, s);
        fill_row(r, filter_root(f), variant);
        check(filter_eval(f, row_get, r, &m1) == FILTER_OK, "eval");
        check(filter_eval(g, row_get, r, &m2) == FILTER_OK, "eval canonical");
        check(m1 == m2, "filter and its canonical form agree");
        check(sql_match(k, r, &fs) == (int)m1, "SQL and filter_eval agree");
    }
    free(r);
    filter_sql_free(&fs);
    filter_destroy(g);
    filter_destroy(f);
}

static void fuzz_order(size_t k, const uint8_t *text, size_t len)
{
    const filter_schema *s = schemas[k];
    filter_order o, o2;
    filter_error err;
    /* The buffer sizes service/handlers/api_list.c uses. */
    char canon[FILTER_ORDER_MAX_LEN * 2], canon2[FILTER_ORDER_MAX_LEN * 2], osql[1024],
        seek[FILTER_SEEK_ARM_MAX_LEN], name[16], *sql;
    size_t key_index[FILTER_SEEK_MAX_BINDS], nbinds = 0, narms;
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
    check(filter_order_to_sql(&o, osql, sizeof osql) == FILTER_OK, "ORDER BY fits api.c's buffer");
    narms = filter_order_seek_arms(&o);
    check(narms >= 1 && narms <= o.count + 1, "seek arms: one per run of one direction");
    table_name(k, name, sizeof name);
    for (size_t a = 0; a < narms; a++) {
        check(filter_order_seek_arm(&o, a, seek, sizeof seek, key_index, FILTER_SEEK_MAX_BINDS,
                                    &nbinds) == FILTER_OK,
              "seek arm fits api_list.c's buffer");
        check(count_char(seek, '?') == nbinds, "seek placeholders");
        for (size_t i = 0; i < nbinds; i++)
            check(key_index[i] <= o.count, "seek key index");
        sql = malloc(strlen(seek) + strlen(osql) + 64);
        check(sql != NULL, "malloc");
        sprintf(sql, "SELECT * FROM %s WHERE %s ORDER BY %s", name, seek, osql);
        check(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "seek SQL prepares");
        check((size_t)sqlite3_bind_parameter_count(st) == nbinds, "seek bind count");
        sqlite3_finalize(st);
        free(sql);
    }
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
