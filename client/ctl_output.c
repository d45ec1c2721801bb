/* ctl_output.c — how tallinnctl shows messages: aligned tables that print
 * rows as pages arrive, key: value views, money with its currency and
 * thousands separators, times in the local time zone, colour only on a
 * terminal, and the proto3 JSON of -o json through the shared converter. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "tallinn/pbjson.h"

#define CTL_CELL_MAX 512
#define CTL_TABLE_MAX_COLS 12
#define CTL_LABEL_MAX 64

/* ---- Values ---- */

static int64_t ctl_get_int(const ProtobufCMessage *m, const char *field)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, field);
    const char *p;

    if (f == NULL)
        return 0;
    p = (const char *)m + f->offset;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        return *(const int64_t *)p;
    default:
        return *(const int32_t *)p;
    }
}

void ctl_format_money(const ProtobufCMessage *money, char *buf, size_t len)
{
    const char *cur = ctl_msg_get_string(money, "currency_code");
    char amount[CLI_MONEY_DECIMAL_MAX];

    /* the currency's minor units (JPY none, KWD three); 2 for a code the
     * table lacks */
    cli_money_decimal(cur, ctl_get_int(money, "units"), (int32_t)ctl_get_int(money, "nanos"),
                      CLI_MONEY_GROUP, 2, amount, sizeof amount);
    snprintf(buf, len, "%s%s%s", cur != NULL ? cur : "", cur != NULL && cur[0] ? " " : "", amount);
}

void ctl_format_rfc3339(const ProtobufCMessage *ts, char *buf, size_t len)
{
    time_t t = (time_t)ctl_get_int(ts, "seconds");
    int32_t nanos = (int32_t)ctl_get_int(ts, "nanos");
    char frac[16] = "";
    struct tm tm;

    if (nanos > 0 && nanos <= 999999999) {
        int keep = 9;
        snprintf(frac, sizeof frac, ".%09d", nanos);
        while (frac[keep] == '0')
            frac[keep--] = '\0';
    }
    if (gmtime_r(&t, &tm) == NULL)
        snprintf(buf, len, "%lld", (long long)t);
    else
        snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

void ctl_format_time(const ProtobufCMessage *ts, char *buf, size_t len)
{
    time_t t = (time_t)ctl_get_int(ts, "seconds");
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
        snprintf(buf, len, "%lld", (long long)t);
}

const char *ctl_enum_short(const ProtobufCEnumDescriptor *ed, int value, char *buf, size_t len)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(ed, value);
    const char *zero = ed->n_values > 0 ? ed->values[0].name : "";
    const char *un = strstr(zero, "UNSPECIFIED");
    size_t plen = un != NULL ? (size_t)(un - zero) : 0;

    if (v == NULL)
        snprintf(buf, len, "%d", value);
    else if (plen > 0 && strncmp(v->name, zero, plen) == 0)
        snprintf(buf, len, "%s", v->name + plen);
    else
        snprintf(buf, len, "%s", v->name);
    return buf;
}

static void ctl_format_one(const ProtobufCFieldDescriptor *f, const void *p, char *buf,
                           size_t len)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
        snprintf(buf, len, "%" PRId32, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        snprintf(buf, len, "%" PRIu32, *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(buf, len, "%" PRId64, *(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, len, "%" PRIu64, *(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        snprintf(buf, len, "%g", *(const float *)p);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        snprintf(buf, len, "%g", *(const double *)p);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        snprintf(buf, len, "%s", *(const protobuf_c_boolean *)p ? "yes" : "no");
        break;
    case PROTOBUF_C_TYPE_ENUM:
        ctl_enum_short(f->descriptor, *(const int *)p, buf, len);
        break;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        snprintf(buf, len, "%s", s != NULL ? s : "");
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        size_t n = 0;
        for (size_t i = 0; i < b->len && n + 3 < len; i++)
            n += (size_t)snprintf(buf + n, len - n, "%02x", b->data[i]);
        buf[n] = '\0';
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
        const char *name = m != NULL ? m->descriptor->name : "";
        if (m == NULL)
            buf[0] = '\0';
        else if (strcmp(name, "tallinn.v1.Money") == 0)
            ctl_format_money(m, buf, len);
        else if (strcmp(name, "google.protobuf.Timestamp") == 0)
            ctl_format_time(m, buf, len);
        else if (strcmp(name, "tallinn.v1.Date") == 0)
            snprintf(buf, len, "%04d-%02d-%02d", (int)ctl_get_int(m, "year"),
                     (int)ctl_get_int(m, "month"), (int)ctl_get_int(m, "day"));
        else
            snprintf(buf, len, "(%s)", m->descriptor->short_name);
        break;
    }
    }
}

static size_t ctl_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
    default: return 4;
    }
}

void ctl_format_field(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, char *buf,
                      size_t len)
{
    const char *p = (const char *)m + f->offset;

    buf[0] = '\0';
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
        const char *arr = *(const char *const *)p;
        size_t used = 0;

        for (size_t i = 0; i < n && used + 3 < len; i++) {
            char one[CTL_CELL_MAX];
            ctl_format_one(f, arr + i * ctl_elem_size(f->type), one, sizeof one);
            used += (size_t)snprintf(buf + used, len - used, "%s%s", i > 0 ? ", " : "", one);
            if (used >= len)
                used = len - 1;
        }
        return;
    }
    ctl_format_one(f, p, buf, len);
}

/* Whether a field holds something worth showing. */
static int ctl_field_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const char *p = (const char *)m + f->offset;

    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)((const char *)m + f->quantifier_offset) > 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        return s != NULL && s[0] != '\0';
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(const void *const *)p != NULL;
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len > 0;
    default:
        return 1; /* numbers, enums and booleans: 0 says something too */
    }
}

/* ---- Colour ---- */

const char *ctl_color_for(const ctl_ctx *ctx, const char *state)
{
    static const char *const good[] = {"OPEN", "ACCEPTED", "FULFILLED", "ACTIVE", "COMMITTED",
                                       "APPROVED", "SERVING", "FULL", NULL};
    static const char *const wait[] = {"SUBMITTED", "PROPOSED", "IN_DELIVERY", "DELIVERED",
                                       "ON_HOLD", "RETURNED", "ANNOUNCED", "PARTIAL", NULL};
    static const char *const bad[] = {"REJECTED", "CANCELLED", "DECLINED", "WITHDRAWN",
                                      "DISABLED", "NOT_SERVING", "ROUTED_TO_IT_COALITION", NULL};

    if (!ctx->color)
        return "";
    for (int i = 0; good[i] != NULL; i++)
        if (strcmp(state, good[i]) == 0)
            return "\033[32m";
    for (int i = 0; wait[i] != NULL; i++)
        if (strcmp(state, wait[i]) == 0)
            return "\033[33m";
    for (int i = 0; bad[i] != NULL; i++)
        if (strcmp(state, bad[i]) == 0)
            return "\033[31m";
    return "";
}

const char *ctl_color_reset(const ctl_ctx *ctx)
{
    return ctx->color ? "\033[0m" : "";
}

/* ---- Tables ---- */

/* Display width: terminal columns, not bytes or code points (names and
 * titles are often Cyrillic, and may hold wide or combining characters). */
static int ctl_width(const char *s)
{
    return cli_width(s);
}

struct ctl_table {
    const ctl_ctx *ctx;
    const ctl_column *cols;
    int ncols;
    int csv;         /* -o csv */
    int widths[CTL_TABLE_MAX_COLS];
    int header_done;
    char ***rows; /* pending rows: ncols strings each */
    size_t nrows, cap;
};

ctl_table *ctl_table_create(const ctl_ctx *ctx, const ctl_column *cols)
{
    ctl_table *t = calloc(1, sizeof *t);

    if (t == NULL)
        return NULL;
    t->ctx = ctx;
    t->cols = cols;
    t->csv = ctx->format == CTL_FORMAT_CSV;
    t->header_done = ctx->no_headers;
    while (cols[t->ncols].header != NULL && t->ncols < CTL_TABLE_MAX_COLS)
        t->ncols++;
    for (int i = 0; i < t->ncols; i++)
        t->widths[i] = ctx->no_headers ? 0 : ctl_width(cols[i].header);
    return t;
}

/* Takes one row of ncols cells (copied; tabs and line breaks become spaces
 * in a text table, long cells are cut there). */
static void ctl_table_take(ctl_table *t, const char *const *src)
{
    char **cells;

    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char ***rows = realloc(t->rows, cap * sizeof *rows);
        if (rows == NULL)
            return;
        t->rows = rows;
        t->cap = cap;
    }
    if ((cells = calloc((size_t)t->ncols, sizeof *cells)) == NULL)
        return;
    for (int i = 0; i < t->ncols; i++) {
        char buf[CTL_CELL_MAX];

        snprintf(buf, sizeof buf, "%s", src[i] != NULL ? src[i] : "");
        if (!t->csv) {
            for (char *p = buf; *p != '\0'; p++)
                if (*p == '\n' || *p == '\t' || *p == '\r')
                    *p = ' ';
            cli_cut(buf, sizeof buf, t->cols[i].max_width);
        }
        cells[i] = strdup(buf);
        if (cells[i] == NULL)
            cells[i] = strdup("");
    }
    t->rows[t->nrows++] = cells;
}

void ctl_table_add(ctl_table *t, const ProtobufCMessage *row)
{
    char bufs[CTL_TABLE_MAX_COLS][CTL_CELL_MAX];
    const char *cells[CTL_TABLE_MAX_COLS];

    if (t == NULL)
        return;
    for (int i = 0; i < t->ncols; i++) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(row->descriptor, t->cols[i].field);

        bufs[i][0] = '\0';
        if (f != NULL)
            ctl_format_field(row, f, bufs[i], sizeof bufs[i]);
        cells[i] = bufs[i];
    }
    ctl_table_take(t, cells);
}

void ctl_table_add_cells(ctl_table *t, const char *const *cells)
{
    if (t != NULL)
        ctl_table_take(t, cells);
}

static void ctl_table_cell(const ctl_table *t, int col, const char *text, const char *color)
{
    int last = col == t->ncols - 1;

    fputs(color, stdout);
    fputs(text, stdout);
    if (color[0] != '\0')
        fputs(ctl_color_reset(t->ctx), stdout);
    if (!last)
        printf("%*s", t->widths[col] - ctl_width(text) + 2, "");
}

/* RFC 4180 (cli_csv): -o csv prints what the table shows, unchanged (no
 * formula guard: `export csv` is the spreadsheet path). */
static void ctl_table_csv_row(const ctl_table *t, const char *const *cells)
{
    cli_csv w;

    cli_csv_init(&w, stdout, 0);
    for (int i = 0; i < t->ncols; i++)
        cli_csv_cell(&w, cells[i], 0);
    cli_csv_end_row(&w);
}

static void ctl_table_print(ctl_table *t)
{
    if (t->csv) {
        if (!t->header_done) { /* even for no rows: one header row */
            const char *h[CTL_TABLE_MAX_COLS];
            for (int i = 0; i < t->ncols; i++)
                h[i] = t->cols[i].header;
            ctl_table_csv_row(t, h);
            t->header_done = 1;
        }
        for (size_t r = 0; r < t->nrows; r++)
            ctl_table_csv_row(t, (const char *const *)t->rows[r]);
        return;
    }
    for (size_t r = 0; r < t->nrows; r++)
        for (int i = 0; i < t->ncols; i++)
            if (ctl_width(t->rows[r][i]) > t->widths[i])
                t->widths[i] = ctl_width(t->rows[r][i]);
    if (!t->header_done && t->nrows > 0) {
        for (int i = 0; i < t->ncols; i++)
            ctl_table_cell(t, i, t->cols[i].header, t->ctx->color ? "\033[1m" : "");
        fputc('\n', stdout);
        t->header_done = 1;
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (int i = 0; i < t->ncols; i++) {
            const char *field = t->cols[i].field != NULL ? t->cols[i].field : "";
            const char *color = strcmp(field, "state") == 0 || strcmp(field, "coverage") == 0
                                    ? ctl_color_for(t->ctx, t->rows[r][i])
                                    : "";
            ctl_table_cell(t, i, t->rows[r][i], color);
        }
        fputc('\n', stdout);
    }
}

void ctl_table_flush(ctl_table *t)
{
    if (t == NULL)
        return;
    ctl_table_print(t);
    for (size_t r = 0; r < t->nrows; r++) {
        for (int i = 0; i < t->ncols; i++)
            free(t->rows[r][i]);
        free(t->rows[r]);
    }
    t->nrows = 0;
    fflush(stdout);
}

void ctl_table_destroy(ctl_table *t)
{
    if (t == NULL)
        return;
    for (size_t r = 0; r < t->nrows; r++) {
        for (int i = 0; i < t->ncols; i++)
            free(t->rows[r][i]);
        free(t->rows[r]);
    }
    free(t->rows);
    free(t);
}

/* ---- Views ---- */

/* "estimated_cost" -> "Estimated cost". */
static void ctl_label(const char *field, char *buf, size_t len)
{
    size_t n = 0;

    for (const char *p = field; *p != '\0' && n + 1 < len; p++)
        buf[n++] = *p == '_' ? ' ' : *p;
    buf[n] = '\0';
    if (buf[0] >= 'a' && buf[0] <= 'z')
        buf[0] = (char)(buf[0] - 'a' + 'A');
}

static int ctl_is_leaf_message(const ProtobufCMessageDescriptor *d)
{
    return strcmp(d->name, "tallinn.v1.Money") == 0 ||
           strcmp(d->name, "google.protobuf.Timestamp") == 0 ||
           strcmp(d->name, "tallinn.v1.Date") == 0;
}

static void ctl_view(const ctl_ctx *ctx, const ProtobufCMessage *m, int indent)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    int width = 0;

    for (unsigned i = 0; i < d->n_fields; i++) {
        char label[CTL_LABEL_MAX];
        ctl_label(d->fields[i].name, label, sizeof label);
        if (ctl_field_set(m, &d->fields[i]) && ctl_width(label) > width)
            width = ctl_width(label);
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char label[CTL_LABEL_MAX], value[4096];

        if (!ctl_field_set(m, f))
            continue;
        ctl_label(f->name, label, sizeof label);
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && !ctl_is_leaf_message(f->descriptor)) {
            const char *p = (const char *)m + f->offset;
            printf("%*s%s:\n", indent, "", label);
            if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
                const ProtobufCMessage *const *arr = *(const ProtobufCMessage *const *const *)p;
                for (size_t k = 0; k < n; k++) {
                    if (k > 0)
                        fputc('\n', stdout);
                    ctl_view(ctx, arr[k], indent + 2);
                }
            } else {
                ctl_view(ctx, *(const ProtobufCMessage *const *)p, indent + 2);
            }
            continue;
        }
        ctl_format_field(m, f, value, sizeof value);
        printf("%*s%s:%*s", indent, "", label, width - ctl_width(label) + 1, "");
        if (strcmp(f->name, "state") == 0 || strcmp(f->name, "coverage") == 0) {
            printf("%s%s%s\n", ctl_color_for(ctx, value), value,
                   ctl_color_for(ctx, value)[0] ? ctl_color_reset(ctx) : "");
            continue;
        }
        /* continuation lines of multi-line text line up with the value */
        for (const char *p = value; ; ) {
            size_t n = strcspn(p, "\n");
            printf("%.*s\n", (int)n, p);
            if (p[n] == '\0' || p[n + 1] == '\0')
                break;
            p += n + 1;
            printf("%*s", indent + width + 2, "");
        }
    }
}

void ctl_print_view(const ctl_ctx *ctx, const ProtobufCMessage *m)
{
    ctl_view(ctx, m, 0);
}

int ctl_print_message(const ctl_ctx *ctx, const ProtobufCMessage *m, int pretty)
{
    char err[PBJSON_ERROR_MAX];
    char *s;

    switch (ctx->format) {
    case CTL_FORMAT_JSON:
        if ((s = pbjson_dumps(m, 0, pretty ? 2 : 0, err, sizeof err)) == NULL)
            return ctl_fail("cannot write JSON: %s", err);
        puts(s);
        free(s);
        break;
    case CTL_FORMAT_NAME: {
        const char *name = ctl_msg_get_string(m, "name");
        if (name != NULL)
            puts(name);
        break;
    }
    default:
        ctl_print_view(ctx, m);
    }
    return CTL_EXIT_OK;
}
