/* store_sql.c — the SQL both engines share (store_sql.h): a kind's row
 * statements from its column table, and list queries rendered from the typed
 * query (filter tree, scope, order, keyset seek) in the engine's dialect.
 * Identifiers come only from the kind tables in code; every value, the page
 * size included, is a bind. */
#include <stdio.h>
#include <string.h>

#include "store/store_sql.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"

/* The scopes spell these enum numbers in SQL. */
_Static_assert(TALLINN__V1__NEED__STATE__STATE_OPEN == 6 &&
                   TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_STANDARD == 1 &&
                   TALLINN__V1__NEED__SENSITIVITY__SENSITIVITY_RESTRICTED == 2,
               "the need-to-know scopes spell these enum numbers");

/* ---- A bounded writer ---- */

typedef struct wbuf {
    char *p;
    size_t len, cap;
    int full;
} wbuf;

static void put(wbuf *b, const char *s)
{
    size_t n = strlen(s);

    if (b->full || b->len + n + 1 > b->cap) {
        b->full = 1;
        return;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static void param(wbuf *b, const store_sql_dialect *d, size_t number)
{
    char t[32];

    snprintf(t, sizeof(t), "%s%zu", d->param, number);
    put(b, t);
}

static int done(wbuf *b)
{
    if (b->full) {
        if (b->cap > 0)
            b->p[0] = '\0';
        return STORE_ERROR;
    }
    return STORE_OK;
}

/* ---- Row statements ---- */

int store_sql_get(const store_sql_dialect *d, store_kind kind, char *buf, size_t cap)
{
    wbuf b = {buf, 0, cap, cap == 0};

    if ((unsigned)kind >= STORE_KIND_COUNT)
        return STORE_ERROR;
    put(&b, "SELECT data FROM ");
    put(&b, store_kinds[kind].table);
    put(&b, " WHERE name = ");
    param(&b, d, 1);
    return done(&b);
}

int store_sql_insert(const store_sql_dialect *d, store_kind kind, char *buf, size_t cap)
{
    const store_kind_info *k;
    wbuf b = {buf, 0, cap, cap == 0};

    if ((unsigned)kind >= STORE_KIND_COUNT)
        return STORE_ERROR;
    k = &store_kinds[kind];
    put(&b, "INSERT INTO ");
    put(&b, k->table);
    put(&b, "(name, data");
    for (size_t i = 1; i < k->n_columns; i++) {
        put(&b, ", ");
        put(&b, k->columns[i].name);
    }
    put(&b, ") VALUES(");
    for (size_t i = 0; i <= k->n_columns; i++) { /* name, data, then columns[1..] */
        put(&b, i > 0 ? ", " : "");
        param(&b, d, i + 1);
    }
    put(&b, ")");
    return done(&b);
}

int store_sql_update(const store_sql_dialect *d, store_kind kind, char *buf, size_t cap)
{
    const store_kind_info *k;
    wbuf b = {buf, 0, cap, cap == 0};

    if ((unsigned)kind >= STORE_KIND_COUNT)
        return STORE_ERROR;
    k = &store_kinds[kind];
    put(&b, "UPDATE ");
    put(&b, k->table);
    put(&b, " SET data = ");
    param(&b, d, 2);
    for (size_t i = 1; i < k->n_columns; i++) {
        put(&b, ", ");
        put(&b, k->columns[i].name);
        put(&b, " = ");
        param(&b, d, i + 2);
    }
    put(&b, " WHERE name = ");
    param(&b, d, 1);
    return done(&b);
}

int store_sql_delete(const store_sql_dialect *d, store_kind kind, char *buf, size_t cap)
{
    wbuf b = {buf, 0, cap, cap == 0};

    if ((unsigned)kind >= STORE_KIND_COUNT)
        return STORE_ERROR;
    put(&b, "DELETE FROM ");
    put(&b, store_kinds[kind].table);
    put(&b, " WHERE name = ");
    param(&b, d, 1);
    return done(&b);
}

/* ---- Lists ---- */

typedef struct render {
    const store_sql_dialect *d;
    const store_kind_info *k;
    const filter_schema *schema;
    wbuf b;
    store_sql *out;
    int bad; /* the query does not fit its kind */
} render;

static void bind(render *r, store_value v)
{
    if (r->out->n_binds == STORE_SQL_MAX_BINDS) {
        r->bad = 1;
        return;
    }
    r->out->binds[r->out->n_binds++] = v;
    param(&r->b, r->d, r->out->n_binds);
}

static store_value value_of(const filter_value *v)
{
    if (v->type == FILTER_STRING)
        return (store_value){STORE_VALUE_TEXT, 0, v->s != NULL ? v->s : "", v->s != NULL ? v->len : 0};
    return (store_value){STORE_VALUE_INT, v->i, NULL, 0};
}

/* A column in a comparison or ORDER BY: text ones in byte order. */
static void column(render *r, size_t col)
{
    put(&r->b, r->k->columns[col].name);
    if (r->k->columns[col].type == STORE_VALUE_TEXT)
        put(&r->b, r->d->text_collate);
}

/* The column of a field of the kind's schema; the name column for field
 * NULL. Marks the query bad for a field of another schema. */
static size_t field_column(render *r, const filter_field *f)
{
    if (f == NULL)
        return 0;
    if (f < r->schema->fields || f >= r->schema->fields + r->schema->nfields ||
        f->column >= r->k->n_columns) {
        r->bad = 1;
        return 0;
    }
    return f->column;
}

static const char *op_sql(filter_op op)
{
    switch (op) {
    case FILTER_EQ: return " = ";
    case FILTER_NE: return " <> ";
    case FILTER_LT: return " < ";
    case FILTER_GT: return " > ";
    case FILTER_LE: return " <= ";
    case FILTER_GE: return " >= ";
    case FILTER_HAS: break; /* a function call: node() */
    }
    return NULL;
}

static void node(render *r, const filter_node *n, size_t depth)
{
    if (depth > FILTER_MAX_DEPTH * 2 + 2) { /* the parser bounds it far below this */
        r->bad = 1;
        return;
    }
    switch (n->kind) {
    case FILTER_NODE_AND:
    case FILTER_NODE_OR:
        put(&r->b, "(");
        for (size_t i = 0; i < n->nchildren; i++) {
            if (i > 0)
                put(&r->b, n->kind == FILTER_NODE_AND ? " AND " : " OR ");
            node(r, n->children[i], depth + 1);
        }
        put(&r->b, ")");
        return;
    case FILTER_NODE_NOT:
        if (n->nchildren != 1) {
            r->bad = 1;
            return;
        }
        put(&r->b, "NOT (");
        node(r, n->children[0], depth + 1);
        put(&r->b, ")");
        return;
    case FILTER_NODE_CMP: {
        size_t col = field_column(r, n->field);
        const char *op = op_sql(n->op);
        if (n->op == FILTER_HAS) {
            /* A byte search of the folded literal in the folded column
             * (textfold.h): no LIKE, so % _ and \ in it are plain text. */
            if (r->bad || !(n->field->flags & FILTER_FIELD_SEARCH) ||
                n->field->fold_column >= r->k->n_columns ||
                r->k->columns[n->field->fold_column].type != STORE_VALUE_TEXT ||
                n->value.type != FILTER_STRING || n->value.len == 0 || r->d->contains == NULL) {
                r->bad = 1;
                return;
            }
            put(&r->b, r->d->contains);
            put(&r->b, "(");
            put(&r->b, r->k->columns[n->field->fold_column].name);
            put(&r->b, ", ");
            bind(r, value_of(&n->value));
            put(&r->b, ") > 0");
            return;
        }
        if (r->bad || op == NULL || n->value.type != n->field->type) {
            r->bad = 1;
            return;
        }
        column(r, col);
        put(&r->b, op);
        bind(r, value_of(&n->value));
        return;
    }
    }
    r->bad = 1;
}

static store_value text_value(const char *s)
{
    s = s != NULL ? s : ""; /* no donor is named "": nothing matches */
    return (store_value){STORE_VALUE_TEXT, 0, s, strlen(s)};
}

/* `state IN (…)` for the states of a mask (bit 1 << state); 0 = none. */
static void states_in(render *r, const char *col, uint32_t mask)
{
    int first = 1;

    put(&r->b, col);
    put(&r->b, " IN (");
    for (int st = 0; st < 32; st++) {
        if (!(mask & (1u << st)))
            continue;
        put(&r->b, first ? "" : ", ");
        bind(r, (store_value){STORE_VALUE_INT, st, NULL, 0});
        first = 0;
    }
    put(&r->b, ")");
}

/* The need-to-know condition (store_scope), or nothing for ALL. */
static void scope(render *r, store_kind kind, const store_scope *s)
{
    switch (s->kind) {
    case STORE_SCOPE_ALL:
        return;
    case STORE_SCOPE_DONOR_NEEDS:
        if (kind != STORE_NEED)
            break;
        /* OPEN and STANDARD, or any need the donor has a live match on */
        put(&r->b, "(state = 6 AND sensitivity = 1)");
        if (s->match_states != 0) {
            put(&r->b, " OR EXISTS (SELECT 1 FROM matches m WHERE m.need = needs.name"
                       " AND m.donor = ");
            bind(r, text_value(s->donor));
            put(&r->b, " AND ");
            states_in(r, "m.state", s->match_states);
            put(&r->b, ")");
        }
        return;
    case STORE_SCOPE_UNRESTRICTED:
        if (kind != STORE_NEED)
            break;
        put(&r->b, "sensitivity <> 2");
        return;
    case STORE_SCOPE_OF_DONOR:
        if (kind != STORE_PLEDGE && kind != STORE_MATCH)
            break;
        put(&r->b, "donor = ");
        bind(r, text_value(s->donor));
        return;
    }
    r->bad = 1;
}

/* Key k of the order, the name as key o->count: its column and direction.
 * The name goes the way of the last key, so a one-key order is one
 * direction throughout and one index range serves every page of it. */
static size_t key_column(render *r, const filter_order *o, size_t k)
{
    return k < o->count ? field_column(r, o->keys[k].field) : 0;
}

static int key_desc(const filter_order *o, size_t k)
{
    if (k < o->count)
        return o->keys[k].desc;
    return o->count > 0 && o->keys[o->count - 1].desc;
}

/* The runs: maximal stretches of keys (the name included) of one direction.
 * starts[r] is the first key of run r; returns the count. */
static size_t seek_runs(const filter_order *o, size_t starts[FILTER_SEEK_MAX_ARMS])
{
    size_t n = 0;

    for (size_t k = 0; k <= o->count; k++)
        if (k == 0 || key_desc(o, k) != key_desc(o, k - 1))
            starts[n++] = k;
    return n;
}

size_t store_sql_seek_arms(const filter_order *o)
{
    size_t starts[FILTER_SEEK_MAX_ARMS];
    filter_order none = {0};

    if (o == NULL)
        o = &none;
    if (o->count > FILTER_ORDER_MAX_KEYS)
        return 0;
    return seek_runs(o, starts);
}

/* The cursor's value of key k, typed as the key's field. */
static void after_value(render *r, const store_list_query *q, const filter_order *o, size_t k)
{
    const filter_value *v = &q->after[k];
    filter_type want = k < o->count ? o->keys[k].field->type : FILTER_STRING;

    if (v->type != want || (v->type == FILTER_STRING && v->s == NULL && v->len > 0)) {
        r->bad = 1;
        return;
    }
    bind(r, value_of(v));
}

/* Arm `arm`: arm 0 is the last run (the rows nearest the cursor), the last
 * arm the first run. */
static void seek_arm(render *r, const store_list_query *q, const filter_order *o, size_t arm)
{
    size_t starts[FILTER_SEEK_MAX_ARMS], nruns = seek_runs(o, starts), run, first, end;

    if (arm >= nruns || q->after == NULL || q->n_after != o->count + 1) {
        r->bad = 1;
        return;
    }
    run = nruns - 1 - arm;
    first = starts[run];
    end = run + 1 < nruns ? starts[run + 1] : o->count + 1;
    for (size_t k = 0; k < first; k++) { /* equal on every earlier run */
        column(r, key_column(r, o, k));
        put(&r->b, " = ");
        after_value(r, q, o, k);
        put(&r->b, " AND ");
    }
    /* A row value even for one key would do; a plain comparison reads better. */
    put(&r->b, end - first > 1 ? "(" : "");
    for (size_t k = first; k < end; k++) {
        put(&r->b, k > first ? ", " : "");
        column(r, key_column(r, o, k));
    }
    put(&r->b, end - first > 1 ? ")" : "");
    put(&r->b, key_desc(o, first) ? " < " : " > ");
    put(&r->b, end - first > 1 ? "(" : "");
    for (size_t k = first; k < end; k++) {
        put(&r->b, k > first ? ", " : "");
        after_value(r, q, o, k);
    }
    put(&r->b, end - first > 1 ? ")" : "");
}

/* "SELECT data, c1, c2 FROM t": data, then the fields' columns, their
 * types noted in out->cols for the engine to read them typed. */
static void select_fields(render *r, const filter_field *const *fields, size_t n)
{
    put(&r->b, "SELECT data");
    if (n > STORE_MAX_FIELDS || (n > 0 && fields == NULL)) {
        r->bad = 1;
        return;
    }
    for (size_t j = 0; j < n; j++) {
        size_t col = fields[j] != NULL ? field_column(r, fields[j]) : 0;
        if (fields[j] == NULL)
            r->bad = 1;
        put(&r->b, ", ");
        put(&r->b, r->k->columns[col].name);
        r->out->cols[j] = r->k->columns[col].type;
    }
    r->out->n_cols = n;
    put(&r->b, " FROM ");
    put(&r->b, r->k->table);
}

int store_sql_get_fields(const store_sql_dialect *d, store_kind kind, const char *name,
                         const filter_field *const *fields, size_t n, store_sql *out)
{
    render r = {0};

    out->text[0] = '\0';
    out->n_binds = 0;
    out->n_cols = 0;
    if ((unsigned)kind >= STORE_KIND_COUNT || name == NULL)
        return STORE_ERROR;
    r.d = d;
    r.k = &store_kinds[kind];
    r.schema = store_filter_schema(kind);
    r.b = (wbuf){out->text, 0, sizeof(out->text), 0};
    r.out = out;
    if (r.schema == NULL)
        return STORE_NOMEM;
    select_fields(&r, fields, n);
    put(&r.b, " WHERE name = ");
    bind(&r, text_value(name));
    if (r.bad || r.b.full) {
        out->text[0] = '\0';
        out->n_binds = 0;
        out->n_cols = 0;
        return STORE_ERROR;
    }
    return STORE_OK;
}

int store_sql_list(const store_sql_dialect *d, const store_list_query *q, size_t arm,
                   store_sql *out)
{
    filter_order by_name = {0};
    const filter_order *o;
    const filter_node *root;
    render r = {0};
    int conds = 0;

    out->text[0] = '\0';
    out->n_binds = 0;
    out->n_cols = 0;
    if (q == NULL || (unsigned)q->kind >= STORE_KIND_COUNT || q->limit <= 0)
        return STORE_ERROR;
    r.d = d;
    r.k = &store_kinds[q->kind];
    r.schema = store_filter_schema(q->kind);
    r.b = (wbuf){out->text, 0, sizeof(out->text), 0};
    r.out = out;
    if (r.schema == NULL)
        return STORE_NOMEM;
    by_name.schema = r.schema;
    o = q->order != NULL ? q->order : &by_name;
    if (o->schema != r.schema || o->count > FILTER_ORDER_MAX_KEYS)
        return STORE_ERROR;
    if ((arm == STORE_SQL_NO_SEEK) != (q->after == NULL))
        return STORE_ERROR;

    select_fields(&r, q->fields, q->n_fields);
    root = filter_root(q->filter);
    if (root != NULL) {
        /* an AND or OR renders its own parentheses */
        int bare = root->kind == FILTER_NODE_CMP || root->kind == FILTER_NODE_NOT;
        put(&r.b, bare ? " WHERE (" : " WHERE ");
        node(&r, root, 0);
        put(&r.b, bare ? ")" : "");
        conds++;
    }
    if (q->scope.kind != STORE_SCOPE_ALL) {
        put(&r.b, conds++ ? " AND (" : " WHERE (");
        scope(&r, q->kind, &q->scope);
        put(&r.b, ")");
    }
    if (arm != STORE_SQL_NO_SEEK) {
        put(&r.b, conds++ ? " AND " : " WHERE ");
        seek_arm(&r, q, o, arm);
    }
    put(&r.b, " ORDER BY ");
    for (size_t k = 0; k <= o->count; k++) {
        put(&r.b, k > 0 ? ", " : "");
        column(&r, key_column(&r, o, k));
        put(&r.b, key_desc(o, k) ? " DESC" : " ASC");
    }
    put(&r.b, " LIMIT ");
    bind(&r, (store_value){STORE_VALUE_INT, q->limit, NULL, 0});
    if (r.bad || r.b.full) {
        out->text[0] = '\0';
        out->n_binds = 0;
        out->n_cols = 0;
        return STORE_ERROR;
    }
    return STORE_OK;
}
