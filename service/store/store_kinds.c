/* store_kinds.c — the resource kinds every engine stores: their tables and
 * columns, the typed column values taken from a message (once, for every
 * engine), and the filter schemas that tie API fields to those columns. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_engine.h"
#include "tallinn/textfold.h"
#include "log/slog.h"
#include "tallinn/v1/donor.pb-c.h"
#include "tallinn/v1/match.pb-c.h"
#include "tallinn/v1/need.pb-c.h"
#include "tallinn/v1/principal.pb-c.h"
#include "tallinn/v1/rate.pb-c.h"

/* ---- Tables and columns: columns[0] is the name, the key ---- */

#define T(n) {n, STORE_VALUE_TEXT}
#define I(n) {n, STORE_VALUE_INT}
static const store_column donor_columns[] = {
    T("name"),   T("display_name"), I("kind"),        T("country_code"),
    I("membership"), T("parent"),   I("create_time"), I("update_time"),
    T("display_name_fold"),
};
static const store_column pledge_columns[] = {
    T("name"),  T("donor"),     I("state"),       I("fiscal_year"),
    I("amount"), I("available"), I("create_time"), I("update_time"),
};
static const store_column need_columns[] = {
    T("name"),        T("title"),     I("state"),     I("sector"),      I("category"),
    I("domain"),      I("priority"),  I("sensitivity"), I("coverage"),  I("estimated_cost"),
    I("committed"),   I("delivered"), I("needed_by"), T("region"),      T("beneficiary"),
    I("create_time"), I("update_time"), T("title_fold"),
};
static const store_column match_columns[] = {
    T("name"),  T("need"),     T("donor"),       T("pledge"),      I("state"),
    I("amount"), T("proposer"), I("create_time"), I("update_time"),
};
static const store_column principal_columns[] = {
    T("name"),          T("display_name"), I("role"),        I("state"),
    T("donor"),         T("cert_identity"), I("create_time"), I("last_use_time"),
};
static const store_column rate_columns[] = {
    T("name"), T("currency"), I("rate_date"), I("used"), I("create_time"),
};
#undef T
#undef I

#define COLS(a) a, sizeof(a) / sizeof(a[0])
const store_kind_info store_kinds[STORE_KIND_COUNT] = {
    [STORE_DONOR] = {"donors", &tallinn__v1__donor__descriptor, COLS(donor_columns)},
    [STORE_PLEDGE] = {"pledges", &tallinn__v1__pledge__descriptor, COLS(pledge_columns)},
    [STORE_NEED] = {"needs", &tallinn__v1__need__descriptor, COLS(need_columns)},
    [STORE_MATCH] = {"matches", &tallinn__v1__match__descriptor, COLS(match_columns)},
    [STORE_PRINCIPAL] = {"principals", &tallinn__v1__principal__descriptor,
                         COLS(principal_columns)},
    [STORE_RATE] = {"exchange_rates", &tallinn__v1__exchange_rate__descriptor,
                    COLS(rate_columns)},
};
#undef COLS

const store_fold_column store_fold_columns[] = {
    {"donors", "display_name", "display_name_fold"},
    {"needs", "title", "title_fold"},
};
const size_t store_n_fold_columns = sizeof(store_fold_columns) / sizeof(store_fold_columns[0]);

_Static_assert(sizeof(need_columns) / sizeof(need_columns[0]) <= STORE_MAX_COLUMNS,
               "STORE_MAX_COLUMNS holds every kind's columns");

const ProtobufCMessageDescriptor *store_kind_descriptor(store_kind kind)
{
    return store_kinds[kind].desc;
}

/* ---- Column values from a message ---- */

int64_t store_money_key(int64_t units, int32_t nanos)
{
    int64_t v;

    if (__builtin_mul_overflow(units, (int64_t)1000000000, &v) ||
        __builtin_add_overflow(v, (int64_t)nanos, &v))
        return units < 0 ? INT64_MIN : INT64_MAX; /* an aggregate: see store.h */
    return v;
}

static store_value money(const Tallinn__V1__Money *m)
{
    return (store_value){STORE_VALUE_INT, m == NULL ? 0 : store_money_key(m->units, m->nanos),
                         NULL, 0};
}

static store_value ts(const Google__Protobuf__Timestamp *t)
{
    return (store_value){STORE_VALUE_INT, t == NULL ? 0 : t->seconds * 1000000000 + t->nanos,
                         NULL, 0};
}

/* yyyymmdd, 0 when unset */
static store_value date(const Tallinn__V1__Date *d)
{
    return (store_value){STORE_VALUE_INT,
                         d == NULL ? 0 : (int64_t)d->year * 10000 + d->month * 100 + d->day,
                         NULL, 0};
}

static store_value num(int64_t v)
{
    return (store_value){STORE_VALUE_INT, v, NULL, 0};
}

static store_value text_n(const char *s, size_t n)
{
    return (store_value){STORE_VALUE_TEXT, 0, s != NULL ? s : "", s != NULL ? n : 0};
}

static store_value text(const char *s)
{
    return text_n(s, s != NULL ? strlen(s) : 0);
}

/* The folded copy of searchable text (textfold.h), kept in folds so that
 * it lives while the columns are bound. */
static int fold(store_folds *folds, const char *s, store_value *out)
{
    char *f;
    size_t len;
    int rc;

    if (folds->n == STORE_MAX_FOLDS)
        return STORE_ERROR;
    rc = textfold(s != NULL ? s : "", s != NULL ? strlen(s) : 0, &f, &len);
    if (rc != TEXTFOLD_OK)
        return rc == TEXTFOLD_ERR_NOMEM ? STORE_NOMEM : STORE_ERROR;
    folds->text[folds->n++] = f;
    *out = text_n(f, len);
    return STORE_OK;
}

void store_folds_free(store_folds *folds)
{
    if (folds == NULL)
        return;
    for (size_t i = 0; i < folds->n; i++)
        free(folds->text[i]);
    folds->n = 0;
}

static int donor_cols(const ProtobufCMessage *m, store_value *c, store_folds *folds)
{
    const Tallinn__V1__Donor *d = (const void *)m;
    c[1] = text(d->display_name);
    c[2] = num(d->kind);
    c[3] = text(d->country_code);
    c[4] = num(d->membership);
    c[5] = text(d->parent);
    c[6] = ts(d->create_time);
    c[7] = ts(d->update_time);
    return fold(folds, d->display_name, &c[8]);
}

/* The amount column of pledges and matches holds the accounting value, which
 * sums, guards, filters and orders use (docs/reporting.md); a row written
 * before currencies (always in the accounting currency) has no
 * accounting_amount and its amount is that value. */
static store_value accounting(const Tallinn__V1__Money *value, const Tallinn__V1__Money *amount)
{
    return money(value != NULL ? value : amount);
}

static int pledge_cols(const ProtobufCMessage *m, store_value *c, store_folds *folds)
{
    const Tallinn__V1__Pledge *p = (const void *)m;
    /* A pledge's donor is its parent: "donors/x/pledges/y" belongs to "donors/x". */
    const char *slash = strstr(p->name, "/pledges/");
    c[1] = text_n(p->name, slash != NULL ? (size_t)(slash - p->name) : 0);
    c[2] = num(p->state);
    c[3] = num(p->fiscal_year);
    c[4] = accounting(p->accounting_amount, p->amount);
    c[5] = money(p->available);
    c[6] = ts(p->create_time);
    c[7] = ts(p->update_time);
    (void)folds;
    return STORE_OK;
}

static int need_cols(const ProtobufCMessage *m, store_value *c, store_folds *folds)
{
    const Tallinn__V1__Need *n = (const void *)m;
    c[1] = text(n->title);
    c[2] = num(n->state);
    c[3] = num(n->sector);
    c[4] = num(n->category);
    c[5] = num(n->domain);
    c[6] = num(n->priority);
    c[7] = num(n->sensitivity);
    c[8] = num(n->coverage);
    c[9] = money(n->estimated_cost);
    c[10] = money(n->committed_amount);
    c[11] = money(n->delivered_amount);
    c[12] = date(n->needed_by);
    c[13] = text(n->region);
    c[14] = text(n->beneficiary);
    c[15] = ts(n->create_time);
    c[16] = ts(n->update_time);
    return fold(folds, n->title, &c[17]);
}

static int match_cols(const ProtobufCMessage *m, store_value *c, store_folds *folds)
{
    const Tallinn__V1__Match *x = (const void *)m;
    c[1] = text(x->need);
    c[2] = text(x->donor);
    c[3] = text(x->pledge);
    c[4] = num(x->state);
    c[5] = accounting(x->accounting_amount, x->amount);
    c[6] = text(x->proposer);
    c[7] = ts(x->create_time);
    c[8] = ts(x->update_time);
    (void)folds;
    return STORE_OK;
}

static int principal_cols(const ProtobufCMessage *m, store_value *c, store_folds *folds)
{
    const Tallinn__V1__Principal *p = (const void *)m;
    c[1] = text(p->display_name);
    c[2] = num(p->role);
    c[3] = num(p->state);
    c[4] = text(p->donor);
    c[5] = text(p->cert_identity);
    c[6] = ts(p->create_time);
    c[7] = ts(p->last_use_time);
    (void)folds;
    return STORE_OK;
}

static int rate_cols(const ProtobufCMessage *m, store_value *c, store_folds *folds)
{
    const Tallinn__V1__ExchangeRate *r = (const void *)m;
    c[1] = text(r->currency_code);
    c[2] = date(r->rate_date);
    c[3] = num(r->used);
    c[4] = ts(r->create_time);
    (void)folds;
    return STORE_OK;
}

int store_kind_extract(store_kind kind, const ProtobufCMessage *m,
                       store_value cols[STORE_MAX_COLUMNS], store_folds *folds)
{
    static int (*const fill[STORE_KIND_COUNT])(const ProtobufCMessage *, store_value *,
                                               store_folds *) = {
        [STORE_DONOR] = donor_cols,   [STORE_PLEDGE] = pledge_cols, [STORE_NEED] = need_cols,
        [STORE_MATCH] = match_cols,   [STORE_PRINCIPAL] = principal_cols,
        [STORE_RATE] = rate_cols,
    };
    const ProtobufCFieldDescriptor *f;
    const char *name;

    folds->n = 0;
    if ((unsigned)kind >= STORE_KIND_COUNT || m == NULL || m->descriptor != store_kinds[kind].desc)
        return STORE_ERROR;
    f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "name");
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING)
        return STORE_ERROR;
    name = *(const char *const *)((const char *)m + f->offset);
    if (name == NULL || name[0] == '\0')
        return STORE_ERROR;
    memset(cols, 0, STORE_MAX_COLUMNS * sizeof(*cols));
    cols[0] = text(name);
    return fill[kind](m, cols, folds);
}

/* ---- Filter schemas: the fields a client may filter and order on ---- */

typedef struct field_def {
    const char *name;
    filter_type type;
    const char *column; /* a column of the kind */
    const ProtobufCEnumDescriptor *enum_desc; /* FILTER_ENUM */
    const char *enum_prefix;
    const char *fold_column; /* a text field ":" may search: its folded column */
} field_def;

#define F(n, type, col) {n, type, col, NULL, NULL, NULL}
#define F_SEARCH(n, col, fold) {n, FILTER_STRING, col, NULL, NULL, fold}
#define F_ENUM(n, desc, prefix) {n, FILTER_ENUM, n, desc, prefix, NULL}
static const field_def donor_fields[] = {
    F("name", FILTER_STRING, "name"),
    F_SEARCH("display_name", "display_name", "display_name_fold"),
    F_ENUM("kind", &tallinn__v1__donor__kind__descriptor, "KIND_"),
    F("country_code", FILTER_STRING, "country_code"),
    F_ENUM("membership", &tallinn__v1__donor__membership__descriptor, "MEMBERSHIP_"),
    F("parent", FILTER_STRING, "parent"),
    F("create_time", FILTER_TIMESTAMP, "create_time"),
    F("update_time", FILTER_TIMESTAMP, "update_time"),
};
static const field_def pledge_fields[] = {
    F("name", FILTER_STRING, "name"),
    F_ENUM("state", &tallinn__v1__pledge__state__descriptor, "STATE_"),
    F("fiscal_year", FILTER_INT, "fiscal_year"),
    F("amount", FILTER_MONEY, "amount"),
    F("available", FILTER_MONEY, "available"),
    F("create_time", FILTER_TIMESTAMP, "create_time"),
    F("update_time", FILTER_TIMESTAMP, "update_time"),
};
static const field_def need_fields[] = {
    F("name", FILTER_STRING, "name"),
    F_SEARCH("title", "title", "title_fold"),
    F_ENUM("state", &tallinn__v1__need__state__descriptor, "STATE_"),
    F_ENUM("sector", &tallinn__v1__sector__descriptor, "SECTOR_"),
    F_ENUM("category", &tallinn__v1__category__descriptor, "CATEGORY_"),
    F_ENUM("domain", &tallinn__v1__need__domain__descriptor, "DOMAIN_"),
    F_ENUM("priority", &tallinn__v1__need__priority__descriptor, "PRIORITY_"),
    F_ENUM("sensitivity", &tallinn__v1__need__sensitivity__descriptor, "SENSITIVITY_"),
    F_ENUM("coverage", &tallinn__v1__need__coverage__descriptor, "COVERAGE_"),
    F("estimated_cost", FILTER_MONEY, "estimated_cost"),
    F("committed_amount", FILTER_MONEY, "committed"),
    F("delivered_amount", FILTER_MONEY, "delivered"),
    F("needed_by", FILTER_DATE, "needed_by"),
    F("region", FILTER_STRING, "region"),
    F("beneficiary", FILTER_STRING, "beneficiary"),
    F("create_time", FILTER_TIMESTAMP, "create_time"),
    F("update_time", FILTER_TIMESTAMP, "update_time"),
};
static const field_def match_fields[] = {
    F("name", FILTER_STRING, "name"),
    F("need", FILTER_STRING, "need"),
    F("donor", FILTER_STRING, "donor"),
    F("pledge", FILTER_STRING, "pledge"),
    F_ENUM("state", &tallinn__v1__match__state__descriptor, "STATE_"),
    F("amount", FILTER_MONEY, "amount"),
    F("proposer", FILTER_STRING, "proposer"),
    F("create_time", FILTER_TIMESTAMP, "create_time"),
    F("update_time", FILTER_TIMESTAMP, "update_time"),
};
static const field_def principal_fields[] = {
    F("name", FILTER_STRING, "name"),
    F("display_name", FILTER_STRING, "display_name"),
    F_ENUM("role", &tallinn__v1__principal__role__descriptor, "ROLE_"),
    F_ENUM("state", &tallinn__v1__principal__state__descriptor, "STATE_"),
    F("donor", FILTER_STRING, "donor"),
    F("create_time", FILTER_TIMESTAMP, "create_time"),
    F("last_use_time", FILTER_TIMESTAMP, "last_use_time"),
};
static const field_def rate_fields[] = {
    F("name", FILTER_STRING, "name"),
    F("currency_code", FILTER_STRING, "currency"),
    F("rate_date", FILTER_DATE, "rate_date"),
    F("create_time", FILTER_TIMESTAMP, "create_time"),
};
#undef F
#undef F_SEARCH
#undef F_ENUM

static const struct {
    const field_def *fields;
    size_t n;
} kind_fields[STORE_KIND_COUNT] = {
#define FIELDS(a) {a, sizeof(a) / sizeof(a[0])}
    [STORE_DONOR] = FIELDS(donor_fields),   [STORE_PLEDGE] = FIELDS(pledge_fields),
    [STORE_NEED] = FIELDS(need_fields),     [STORE_MATCH] = FIELDS(match_fields),
    [STORE_PRINCIPAL] = FIELDS(principal_fields), [STORE_RATE] = FIELDS(rate_fields),
#undef FIELDS
};

static filter_schema schemas[STORE_KIND_COUNT];
static pthread_once_t schemas_once = PTHREAD_ONCE_INIT;
static int schemas_ok;

/* The index of a kind's column by name; -1 if it has none (a bug). */
static int column_index(store_kind k, const char *name)
{
    for (size_t i = 0; i < store_kinds[k].n_columns; i++)
        if (strcmp(store_kinds[k].columns[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Builds each kind's filter schema from its field table; enum values come
 * from the protobuf-c descriptors, columns from the kind's table. The
 * schemas live as long as the process. */
static void schemas_init(void)
{
    schemas_ok = 1;
    for (int k = 0; k < STORE_KIND_COUNT; k++) {
        filter_field *ff = calloc(kind_fields[k].n, sizeof(*ff));
        if (ff == NULL) {
            schemas_ok = 0;
            return;
        }
        for (size_t i = 0; i < kind_fields[k].n; i++) {
            const field_def *d = &kind_fields[k].fields[i];
            int col = column_index((store_kind)k, d->column);
            if (col < 0 || store_kinds[k].columns[col].type !=
                               (d->type == FILTER_STRING ? STORE_VALUE_TEXT : STORE_VALUE_INT)) {
                SLOG(SLOG_ERROR, "bad_filter_schema", SLOG_S("table", store_kinds[k].table),
                     SLOG_S("field", d->name));
                schemas_ok = 0;
                return;
            }
            ff[i].name = d->name;
            ff[i].type = d->type;
            ff[i].column = (unsigned)col;
            ff[i].enum_prefix = d->enum_prefix;
            if (d->fold_column != NULL) {
                int fc = column_index((store_kind)k, d->fold_column);
                if (fc < 0 || store_kinds[k].columns[fc].type != STORE_VALUE_TEXT) {
                    SLOG(SLOG_ERROR, "bad_filter_schema", SLOG_S("table", store_kinds[k].table),
                         SLOG_S("field", d->name));
                    schemas_ok = 0;
                    return;
                }
                ff[i].flags |= FILTER_FIELD_SEARCH;
                ff[i].fold_column = (unsigned)fc;
            }
            if (d->enum_desc != NULL) {
                filter_enum_value *v = calloc(d->enum_desc->n_values, sizeof(*v));
                if (v == NULL) {
                    schemas_ok = 0;
                    return;
                }
                for (unsigned j = 0; j < d->enum_desc->n_values; j++) {
                    v[j].name = d->enum_desc->values[j].name;
                    v[j].number = d->enum_desc->values[j].value;
                }
                ff[i].values = v;
                ff[i].nvalues = d->enum_desc->n_values;
            }
        }
        schemas[k].fields = ff;
        schemas[k].nfields = kind_fields[k].n;
        if (filter_schema_check(&schemas[k]) != FILTER_OK) {
            SLOG(SLOG_ERROR, "bad_filter_schema", SLOG_S("table", store_kinds[k].table));
            schemas_ok = 0;
        } else {
            filter_schema_fixed(&schemas[k]); /* not checked again per parse */
        }
    }
}

const filter_schema *store_filter_schema(store_kind kind)
{
    if ((unsigned)kind >= STORE_KIND_COUNT)
        return NULL;
    pthread_once(&schemas_once, schemas_init);
    return schemas_ok ? &schemas[kind] : NULL;
}
