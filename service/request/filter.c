/* filter.c — AIP-160 filter subset and AIP-132 order_by (see filter.h):
 * lexer, recursive-descent parser with depth and size limits, canonical
 * form, in-memory evaluation and comparison. No SQL: the store renders a
 * parsed filter for its engine (service/store/store_sql.c). */
#include "tallinn/filter.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tallinn/textfold.h"
#include "tallinn/validate.h"

#define IDENT_MAX 128     /* bytes of one identifier */
#define QUOTE_MAX 40      /* bytes of user text quoted back in a message */
#define NANOS 1000000000LL

struct filter {
    const filter_schema *schema;
    filter_node *root;
    char *canonical;
};

/* ---- Small growable string ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        char *np;
        while (cap < b->len + n + 1)
            cap *= 2;
        np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* Bounded writer into a caller's fixed buffer. */
typedef struct fbuf {
    char *p;
    size_t len, cap;
    int full;
} fbuf;

static void fb_str(fbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->full || b->len + n + 1 > b->cap) {
        b->full = 1;
        return;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

/* ---- Characters and errors ---- */

static int is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_ident_char(char c) { return is_ident_start(c) || is_digit(c) || c == '.'; }
static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Code points in s[0..n) (s is valid UTF-8). */
static size_t count_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

__attribute__((format(printf, 4, 5)))
static void set_error(filter_error *err, const char *what, size_t column, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (err == NULL)
        return;
    err->column = column;
    if (column > 0)
        n = snprintf(err->message, sizeof err->message, "%s: column %zu: ", what, column);
    else
        n = snprintf(err->message, sizeof err->message, "%s: ", what);
    if (n < 0 || (size_t)n >= sizeof err->message)
        return;
    va_start(ap, fmt);
    vsnprintf(err->message + n, sizeof err->message - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Copies up to QUOTE_MAX bytes of user text (valid UTF-8, no raw control
 * characters) for a message, cutting on a character boundary. */
static void quote_user(char out[QUOTE_MAX + 4], const char *s, size_t n)
{
    size_t k = n;
    if (k > QUOTE_MAX) {
        k = QUOTE_MAX;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
    }
    memcpy(out, s, k);
    strcpy(out + k, k < n ? "..." : "");
}

/* Optimal string alignment distance (Levenshtein plus adjacent
 * transpositions), over three rolling rows. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t r0[IDENT_MAX + 1], r1[IDENT_MAX + 1], r2[IDENT_MAX + 1];
    size_t *pp = r0, *prev = r1, *cur = r2;

    if (la > IDENT_MAX || lb > IDENT_MAX)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t *t;
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (prev[j - 1] + cost < v)
                v = prev[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            cur[j] = v;
        }
        t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

/* ---- Schema ---- */

static int check_ident(const char *s)
{
    if (s == NULL || !is_ident_start(s[0]))
        return 0;
    for (size_t i = 1; s[i] != '\0'; i++) {
        if (!is_ident_char(s[i]))
            return 0;
        if (i >= IDENT_MAX)
            return 0;
    }
    return 1;
}

int filter_schema_check(const filter_schema *schema)
{
    if (schema == NULL || (schema->fields == NULL && schema->nfields > 0))
        return FILTER_ERR_SCHEMA;
    for (size_t i = 0; i < schema->nfields; i++) {
        const filter_field *f = &schema->fields[i];
        if (!check_ident(f->name))
            return FILTER_ERR_SCHEMA;
        if (f->type < FILTER_STRING || f->type > FILTER_BOOL)
            return FILTER_ERR_SCHEMA;
        if ((f->flags & FILTER_FIELD_SEARCH) && f->type != FILTER_STRING)
            return FILTER_ERR_SCHEMA;
        if (f->type == FILTER_ENUM) {
            if (f->values == NULL || f->nvalues == 0)
                return FILTER_ERR_SCHEMA;
            for (size_t k = 0; k < f->nvalues; k++) {
                if (!check_ident(f->values[k].name))
                    return FILTER_ERR_SCHEMA;
            }
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(schema->fields[j].name, f->name) == 0)
                return FILTER_ERR_SCHEMA;
        }
    }
    return FILTER_OK;
}

/* Schemas checked once and fixed for the process's life
 * (filter_schema_fixed), which the parsers need not check per call. */
static const filter_schema *_Atomic fixed_schemas[FILTER_MAX_FIXED_SCHEMAS];
static atomic_size_t n_fixed;

void filter_schema_fixed(const filter_schema *schema)
{
    size_t i;

    if (schema == NULL || filter_schema_check(schema) != FILTER_OK)
        return;
    i = atomic_fetch_add(&n_fixed, 1);
    if (i < FILTER_MAX_FIXED_SCHEMAS)
        atomic_store(&fixed_schemas[i], schema);
}

static int schema_usable(const filter_schema *schema)
{
    size_t n = atomic_load(&n_fixed);

    for (size_t i = 0; i < n && i < FILTER_MAX_FIXED_SCHEMAS; i++)
        if (atomic_load(&fixed_schemas[i]) == schema)
            return FILTER_OK;
    return filter_schema_check(schema);
}

static const filter_field *find_field(const filter_schema *schema, const char *name, size_t n)
{
    for (size_t i = 0; i < schema->nfields; i++) {
        const char *fn = schema->fields[i].name;
        if (strlen(fn) == n && memcmp(fn, name, n) == 0)
            return &schema->fields[i];
    }
    return NULL;
}

static void unknown_field(filter_error *err, const char *what, size_t col,
                          const filter_schema *schema, const char *name, size_t n)
{
    char word[IDENT_MAX + 1], q[QUOTE_MAX + 4];
    const char *best = NULL;
    size_t best_d = 3;

    quote_user(q, name, n);
    if (n <= IDENT_MAX) {
        memcpy(word, name, n);
        word[n] = '\0';
        for (size_t i = 0; i < schema->nfields; i++) {
            size_t d = edit_distance(word, schema->fields[i].name);
            if (d < best_d) {
                best_d = d;
                best = schema->fields[i].name;
            }
        }
    }
    if (best != NULL)
        set_error(err, what, col, "unknown field \"%s\" (did you mean \"%s\"?)", q, best);
    else
        set_error(err, what, col, "unknown field \"%s\"", q);
}

/* ---- Lexer ---- */

typedef enum tok_kind {
    T_EOF = 0,
    T_LPAREN,
    T_RPAREN,
    T_EQ,
    T_NE,
    T_LT,
    T_GT,
    T_LE,
    T_GE,
    T_MINUS,
    T_COLON,
    T_STRING,
    T_NUMBER,
    T_IDENT
} tok_kind;

typedef struct token {
    tok_kind kind;
    const char *p; /* start in the text */
    size_t n;      /* bytes */
    size_t col;    /* 1-based code-point column */
} token;

typedef struct parser {
    const filter_schema *schema;
    token *toks;
    size_t ntoks, pos, ncmp;
    filter_error *err;
    int rc;
} parser;

static const char *const WHAT = "filter";

static int fail(parser *p, size_t col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(parser *p, size_t col, const char *fmt, ...)
{
    char msg[FILTER_ERROR_MAX];
    va_list ap;

    if (p->rc != FILTER_OK)
        return p->rc;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_error(p->err, WHAT, col, "%s", msg);
    p->rc = FILTER_ERR_INVALID;
    return p->rc;
}

static int lex(parser *p, const char *text, size_t len)
{
    size_t i = 0, col = 1;

    p->toks = calloc(len + 1, sizeof *p->toks);
    if (p->toks == NULL)
        return p->rc = FILTER_ERR_NOMEM;
    for (;;) {
        token *t;
        char c;

        while (i < len && is_space(text[i])) {
            i++;
            col++;
        }
        t = &p->toks[p->ntoks++];
        t->p = text + i;
        t->col = col;
        if (i == len) {
            t->kind = T_EOF;
            return FILTER_OK;
        }
        c = text[i];
        t->n = 1;
        if (c == '(') {
            t->kind = T_LPAREN;
        } else if (c == ')') {
            t->kind = T_RPAREN;
        } else if (c == '=') {
            t->kind = T_EQ;
        } else if (c == '!' && i + 1 < len && text[i + 1] == '=') {
            t->kind = T_NE;
            t->n = 2;
        } else if (c == '<') {
            t->kind = (i + 1 < len && text[i + 1] == '=') ? T_LE : T_LT;
            t->n = t->kind == T_LE ? 2 : 1;
        } else if (c == '>') {
            t->kind = (i + 1 < len && text[i + 1] == '=') ? T_GE : T_GT;
            t->n = t->kind == T_GE ? 2 : 1;
        } else if (c == '-') {
            t->kind = T_MINUS;
        } else if (c == ':') {
            t->kind = T_COLON;
        } else if (is_ident_start(c)) {
            size_t j = i + 1;
            while (j < len && is_ident_char(text[j]))
                j++;
            t->kind = T_IDENT;
            t->n = j - i;
            if (t->n > IDENT_MAX)
                return fail(p, col, "name longer than %d characters", IDENT_MAX);
        } else if (is_digit(c)) {
            size_t j = i;
            while (j < len && is_digit(text[j]))
                j++;
            if (j + 1 < len && text[j] == '.' && is_digit(text[j + 1])) {
                j++;
                while (j < len && is_digit(text[j]))
                    j++;
            }
            if (j < len && is_ident_char(text[j]))
                return fail(p, col, "malformed number");
            t->kind = T_NUMBER;
            t->n = j - i;
        } else if (c == '"') {
            size_t j = i + 1;
            for (;;) {
                unsigned char u;
                if (j >= len)
                    return fail(p, col, "string not terminated: missing closing \"");
                u = (unsigned char)text[j];
                if (u == '"')
                    break;
                if (u == '\\') {
                    if (j + 1 >= len)
                        return fail(p, col, "string not terminated: missing closing \"");
                    if (strchr("\"\\/ntr", text[j + 1]) == NULL || text[j + 1] == '\0')
                        return fail(p, col + count_chars(text + i, j - i),
                                    "invalid escape in string; use \\\" \\\\ \\n \\t or \\r");
                    j += 2;
                    continue;
                }
                if (u < 0x20 || u == 0x7F)
                    return fail(p, col + count_chars(text + i, j - i),
                                "control character in string; use \\n, \\t or \\r");
                j++;
            }
            t->kind = T_STRING;
            t->n = j + 1 - i;
        } else if (c == '\'') {
            return fail(p, col, "strings are written in double quotes");
        } else {
            unsigned char u = (unsigned char)c;
            if (u >= 0x21 && u <= 0x7E)
                return fail(p, col, "unexpected character '%c'", c);
            return fail(p, col, "unexpected character (byte 0x%02X)", u);
        }
        i += t->n;
        col += count_chars(t->p, t->n);
    }
}

static const token *peek(const parser *p) { return &p->toks[p->pos]; }
static const token *next(parser *p)
{
    const token *t = &p->toks[p->pos];
    if (t->kind != T_EOF)
        p->pos++;
    return t;
}

static int is_word(const token *t, const char *w)
{
    return t->kind == T_IDENT && t->n == strlen(w) && memcmp(t->p, w, t->n) == 0;
}

static int is_keyword(const token *t)
{
    return is_word(t, "AND") || is_word(t, "OR") || is_word(t, "NOT");
}

/* What a token is, for "expected X, found Y" messages. */
static void describe(const token *t, char *out, size_t cap)
{
    char q[QUOTE_MAX + 4];
    switch (t->kind) {
    case T_EOF: snprintf(out, cap, "end of filter"); return;
    case T_STRING: snprintf(out, cap, "a string"); return;
    case T_NUMBER: quote_user(q, t->p, t->n); snprintf(out, cap, "number %s", q); return;
    case T_IDENT: quote_user(q, t->p, t->n); snprintf(out, cap, "\"%s\"", q); return;
    default: snprintf(out, cap, "\"%.*s\"", (int)t->n, t->p); return;
    }
}

/* ---- AST ---- */

static void node_free(filter_node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->nchildren; i++)
        node_free(n->children[i]);
    free(n->children);
    if (n->kind == FILTER_NODE_CMP && n->value.type == FILTER_STRING)
        free((char *)n->value.s);
    free(n);
}

static filter_node *node_new(parser *p, filter_node_kind kind, size_t col)
{
    filter_node *n = calloc(1, sizeof *n);
    if (n == NULL) {
        p->rc = FILTER_ERR_NOMEM;
        return NULL;
    }
    n->kind = kind;
    n->column = col;
    return n;
}

static int node_add(parser *p, filter_node *n, filter_node *child)
{
    filter_node **c = realloc(n->children, (n->nchildren + 1) * sizeof *c);
    if (c == NULL) {
        node_free(child);
        return p->rc = FILTER_ERR_NOMEM;
    }
    n->children = c;
    n->children[n->nchildren++] = child;
    return FILTER_OK;
}

/* ---- Literals ---- */

static const char *type_name(filter_type t)
{
    switch (t) {
    case FILTER_STRING: return "string";
    case FILTER_ENUM: return "enum";
    case FILTER_INT: return "integer";
    case FILTER_MONEY: return "money";
    case FILTER_TIMESTAMP: return "timestamp";
    case FILTER_DATE: return "date";
    case FILTER_BOOL: return "boolean";
    }
    return "?";
}

/* Decodes a STRING token (quotes and escapes) into a new NUL-terminated
 * buffer. The lexer has checked the escapes. */
static char *unquote(const token *t, size_t *outlen)
{
    char *out = malloc(t->n);
    size_t k = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 1; i + 1 < t->n; i++) {
        char c = t->p[i];
        if (c == '\\') {
            char e = t->p[++i];
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        }
        out[k++] = c;
    }
    out[k] = '\0';
    *outlen = k;
    return out;
}

/* Parses an unsigned decimal "123" or "123.456" (at most frac_max decimals)
 * into value * 10^scale. Returns 0, -1 on overflow, -2 on too many decimals
 * or a fraction where none is allowed. */
static int parse_decimal(const char *s, size_t n, int scale, int64_t *out)
{
    uint64_t whole = 0, frac = 0;
    size_t i = 0;
    int fd = 0;
    int64_t pow10 = 1, w, r;

    while (i < n && is_digit(s[i])) {
        if (whole > (UINT64_MAX - 9) / 10)
            return -1;
        whole = whole * 10 + (uint64_t)(s[i++] - '0');
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n) {
            if (fd == scale)
                return -2;
            frac = frac * 10 + (uint64_t)(s[i++] - '0');
            fd++;
        }
    }
    for (int k = 0; k < scale; k++)
        pow10 *= 10;
    for (int k = fd; k < scale; k++)
        frac *= 10;
    if (whole > (uint64_t)INT64_MAX)
        return -1;
    if (__builtin_mul_overflow((int64_t)whole, pow10, &w) ||
        __builtin_add_overflow(w, (int64_t)frac, &r))
        return -1;
    *out = r;
    return 0;
}

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
    int64_t era, doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    *y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp + (mp < 10 ? 3 : -9);
    *y += *m <= 2;
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "YYYY-MM-DD" -> 0 and y/m/d, or -1. */
static int parse_date(const char *s, size_t n, int *y, int *m, int *d)
{
    if (n != 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, y) || digits(s + 5, 2, m) ||
        digits(s + 8, 2, d))
        return -1;
    return validate_date(*y, *m, *d) == VALIDATE_OK ? 0 : -1;
}

/* RFC 3339 date-time -> nanoseconds since the epoch. Returns 0, -1 if
 * malformed, -2 if out of the int64 nanosecond range. */
static int parse_rfc3339(const char *s, size_t n, int64_t *out)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    size_t i = 19;
    int64_t frac = 0, secs, ns;
    int fd = 0, sign = 0;

    if (n < 20 || parse_date(s, 10, &y, &mo, &d) != 0)
        return -1;
    if ((s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec) || h > 23 || mi > 59 || sec > 59)
        return -1;
    if (s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i])) {
            if (fd == 9)
                return -1;
            frac = frac * 10 + (s[i++] - '0');
            fd++;
        }
        if (fd == 0)
            return -1;
        for (int k = fd; k < 9; k++)
            frac *= 10;
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
        sign = 0;
    } else if (i < n && (s[i] == '+' || s[i] == '-') && i + 6 == n && s[i + 3] == ':' &&
               digits(s + i + 1, 2, &oh) == 0 && digits(s + i + 4, 2, &om) == 0 && oh <= 23 &&
               om <= 59) {
        sign = s[i] == '+' ? 1 : -1;
    } else {
        return -1;
    }
    secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
           sign * (oh * 3600 + om * 60);
    if (__builtin_mul_overflow(secs, NANOS, &ns) || __builtin_add_overflow(ns, frac, &ns))
        return -2;
    *out = ns;
    return 0;
}

static const filter_enum_value *find_enum(const filter_field *f, const char *s, size_t n)
{
    size_t pl = f->enum_prefix ? strlen(f->enum_prefix) : 0;
    for (size_t i = 0; i < f->nvalues; i++) {
        const char *name = f->values[i].name;
        size_t nl = strlen(name);
        if (nl == n && memcmp(name, s, n) == 0)
            return &f->values[i];
        if (pl > 0 && nl == pl + n && memcmp(name, f->enum_prefix, pl) == 0 &&
            memcmp(name + pl, s, n) == 0)
            return &f->values[i];
    }
    return NULL;
}

static void unknown_enum(parser *p, const token *t, const filter_field *f, const char *s, size_t n)
{
    char list[160], q[QUOTE_MAX + 4];
    size_t pl = f->enum_prefix ? strlen(f->enum_prefix) : 0, used = 0;

    list[0] = '\0';
    for (size_t i = 0; i < f->nvalues; i++) {
        const char *name = f->values[i].name;
        int w;
        if (pl > 0 && strncmp(name, f->enum_prefix, pl) == 0)
            name += pl;
        w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", name);
        if (w < 0 || (size_t)w >= sizeof list - used) {
            list[used] = '\0';
            if (used + 6 < sizeof list)
                strcat(list, ", ...");
            break;
        }
        used += (size_t)w;
    }
    quote_user(q, s, n);
    fail(p, t->col, "unknown value \"%s\" for field \"%s\"; expected one of: %s", q, f->name,
         list);
}

/* Parses the literal after `field op` into n->value. */
static int parse_value(parser *p, filter_node *n)
{
    const filter_field *f = n->field;
    const token *t = next(p);
    int negative = 0;
    int rc;

    n->value.type = f->type;
    if (t->kind == T_MINUS && peek(p)->kind == T_NUMBER && peek(p)->p == t->p + 1 &&
        (f->type == FILTER_INT || f->type == FILTER_MONEY)) {
        negative = 1;
        t = next(p);
    }
    switch (f->type) {
    case FILTER_STRING:
        if (t->kind != T_STRING)
            return fail(p, t->col, "expected a string in double quotes for field \"%s\"", f->name);
        n->value.s = unquote(t, &n->value.len);
        if (n->value.s == NULL)
            return p->rc = FILTER_ERR_NOMEM;
        return FILTER_OK;
    case FILTER_ENUM: {
        const filter_enum_value *ev;
        const char *s = t->p;
        size_t len = t->n;
        if (t->kind == T_STRING) {
            s++;
            len -= 2;
        } else if (t->kind != T_IDENT || is_keyword(t)) {
            return fail(p, t->col, "expected a value name for enum field \"%s\"", f->name);
        }
        ev = find_enum(f, s, len);
        if (ev == NULL) {
            unknown_enum(p, t, f, s, len);
            return p->rc;
        }
        n->value.i = ev->number;
        n->value.s = ev->name;
        n->value.len = strlen(ev->name);
        return FILTER_OK;
    }
    case FILTER_BOOL:
        if (is_word(t, "true") || is_word(t, "false")) {
            n->value.i = is_word(t, "true");
            return FILTER_OK;
        }
        return fail(p, t->col, "expected true or false for field \"%s\"", f->name);
    case FILTER_INT:
    case FILTER_MONEY: {
        int64_t v;
        if (t->kind != T_NUMBER)
            return fail(p, t->col, "expected a number for %s field \"%s\"",
                        type_name(f->type), f->name);
        rc = parse_decimal(t->p, t->n, f->type == FILTER_MONEY ? 9 : 0, &v);
        if (rc == -2 && f->type == FILTER_INT)
            return fail(p, t->col, "expected an integer for field \"%s\"", f->name);
        if (rc == -2)
            return fail(p, t->col, "at most 9 decimal places for field \"%s\"", f->name);
        if (rc != 0)
            return fail(p, t->col, "number out of range for field \"%s\"", f->name);
        n->value.i = negative ? -v : v;
        return FILTER_OK;
    }
    case FILTER_TIMESTAMP: {
        if (t->kind != T_STRING)
            return fail(p, t->col,
                        "expected a timestamp in double quotes for field \"%s\", e.g. "
                        "\"2025-01-31T12:00:00Z\"", f->name);
        rc = parse_rfc3339(t->p + 1, t->n - 2, &n->value.i);
        if (rc == -2)
            return fail(p, t->col, "timestamp out of range for field \"%s\"", f->name);
        if (rc != 0)
            return fail(p, t->col,
                        "invalid timestamp for field \"%s\": expected RFC 3339, e.g. "
                        "\"2025-01-31T12:00:00Z\"", f->name);
        return FILTER_OK;
    }
    case FILTER_DATE: {
        int y, m, d;
        if (t->kind != T_STRING || parse_date(t->p + 1, t->n - 2, &y, &m, &d) != 0)
            return fail(p, t->col,
                        "expected a date in double quotes for field \"%s\", e.g. \"2025-06-30\"",
                        f->name);
        n->value.i = (int64_t)y * 10000 + m * 100 + d;
        return FILTER_OK;
    }
    }
    return p->rc = FILTER_ERR_SCHEMA;
}

static const char *op_text(filter_op op)
{
    switch (op) {
    case FILTER_EQ: return "=";
    case FILTER_NE: return "!=";
    case FILTER_LT: return "<";
    case FILTER_GT: return ">";
    case FILTER_LE: return "<=";
    case FILTER_GE: return ">=";
    case FILTER_HAS: return ":";
    }
    return "?";
}

/* ---- Parser ---- */

static filter_node *parse_expression(parser *p, size_t depth);

/* ":" on a field that cannot be searched: say which can. */
static void search_refused(parser *p, const token *o, const filter_field *f)
{
    char list[160];
    size_t used = 0, n = 0;

    list[0] = '\0';
    for (size_t i = 0; i < p->schema->nfields; i++) {
        const filter_field *g = &p->schema->fields[i];
        int w;
        if (!(g->flags & FILTER_FIELD_SEARCH) || (g->flags & FILTER_FIELD_NO_FILTER))
            continue;
        w = snprintf(list + used, sizeof list - used, "%s%s", n++ ? ", " : "", g->name);
        if (w < 0 || (size_t)w >= sizeof list - used) {
            list[used] = '\0';
            break;
        }
        used += (size_t)w;
    }
    if (f->type != FILTER_STRING)
        fail(p, o->col, "operator \":\" (contains) cannot be used with %s field \"%s\"; use %s",
             type_name(f->type), f->name,
             f->type == FILTER_ENUM || f->type == FILTER_BOOL ? "= or !=" : "=, <, >, <= or >=");
    else if (n > 0)
        fail(p, o->col, "field \"%s\" cannot be searched with \":\"; use =, or \":\" on %s",
             f->name, list);
    else
        fail(p, o->col, "field \"%s\" cannot be searched with \":\"; use =", f->name);
}

/* The text after `field :`: a string, folded (textfold) once here, so the
 * evaluator and the store compare folded text with folded text. */
static int parse_search(parser *p, filter_node *n)
{
    const token *t = next(p);
    size_t raw_len, len;
    char *raw, *folded;
    int rc;

    n->value.type = FILTER_STRING;
    if (t->kind != T_STRING)
        return fail(p, t->col, "expected the text to search for in double quotes after \"%s :\"",
                    n->field->name);
    if ((raw = unquote(t, &raw_len)) == NULL)
        return p->rc = FILTER_ERR_NOMEM;
    if (count_chars(raw, raw_len) > FILTER_SEARCH_MAX) {
        free(raw);
        return fail(p, t->col, "the text to search for is longer than %d characters (the "
                               "longest searchable field)", FILTER_SEARCH_MAX);
    }
    rc = textfold(raw, raw_len, &folded, &len);
    free(raw);
    if (rc == TEXTFOLD_ERR_NOMEM)
        return p->rc = FILTER_ERR_NOMEM;
    if (rc != TEXTFOLD_OK)
        return fail(p, t->col, "cannot fold the text to search for");
    if (len == 0) {
        free(folded);
        return fail(p, t->col, "nothing to search for: the text after \":\" is empty (or only "
                               "invisible characters)");
    }
    n->value.s = folded;
    n->value.len = len;
    return FILTER_OK;
}

static filter_node *parse_comparison(parser *p)
{
    const token *t = next(p), *o;
    const filter_field *f;
    filter_node *n;
    char found[64];

    if (t->kind != T_IDENT || is_keyword(t)) {
        describe(t, found, sizeof found);
        fail(p, t->col, "expected a field name, found %s", found);
        return NULL;
    }
    f = find_field(p->schema, t->p, t->n);
    if (f == NULL) {
        unknown_field(p->err, WHAT, t->col, p->schema, t->p, t->n);
        p->rc = FILTER_ERR_INVALID;
        return NULL;
    }
    if (f->flags & FILTER_FIELD_NO_FILTER) {
        fail(p, t->col, "field \"%s\" cannot be used in a filter", f->name);
        return NULL;
    }
    if (++p->ncmp > FILTER_MAX_COMPARISONS) {
        fail(p, t->col, "too many comparisons (at most %d)", FILTER_MAX_COMPARISONS);
        return NULL;
    }
    o = next(p);
    n = node_new(p, FILTER_NODE_CMP, t->col);
    if (n == NULL)
        return NULL;
    n->field = f;
    switch (o->kind) {
    case T_EQ: n->op = FILTER_EQ; break;
    case T_NE: n->op = FILTER_NE; break;
    case T_LT: n->op = FILTER_LT; break;
    case T_GT: n->op = FILTER_GT; break;
    case T_LE: n->op = FILTER_LE; break;
    case T_GE: n->op = FILTER_GE; break;
    case T_COLON:
        if (!(f->flags & FILTER_FIELD_SEARCH)) {
            search_refused(p, o, f);
            goto fail;
        }
        n->op = FILTER_HAS;
        if (parse_search(p, n) != FILTER_OK)
            goto fail;
        return n;
    default:
        describe(o, found, sizeof found);
        fail(p, o->col, "expected a comparison operator (=, !=, <, >, <=, >=, :) after \"%s\", found %s",
             f->name, found);
        goto fail;
    }
    if ((f->type == FILTER_ENUM || f->type == FILTER_BOOL) && n->op != FILTER_EQ &&
        n->op != FILTER_NE) {
        fail(p, o->col, "operator \"%s\" cannot be used with %s field \"%s\"; use = or !=",
             op_text(n->op), type_name(f->type), f->name);
        goto fail;
    }
    if (parse_value(p, n) != FILTER_OK)
        goto fail;
    return n;
fail:
    node_free(n);
    return NULL;
}

static filter_node *parse_simple(parser *p, size_t depth)
{
    const token *t = peek(p);
    filter_node *e;

    if (t->kind != T_LPAREN)
        return parse_comparison(p);
    if (depth + 1 > FILTER_MAX_DEPTH) {
        fail(p, t->col, "nested too deeply (at most %d levels of parentheses and NOT)",
             FILTER_MAX_DEPTH);
        return NULL;
    }
    next(p);
    if (peek(p)->kind == T_RPAREN) {
        fail(p, peek(p)->col, "empty parentheses");
        return NULL;
    }
    e = parse_expression(p, depth + 1);
    if (e == NULL)
        return NULL;
    if (peek(p)->kind != T_RPAREN) {
        char found[64];
        describe(peek(p), found, sizeof found);
        fail(p, peek(p)->col, "expected AND, OR or \")\", found %s", found);
        node_free(e);
        return NULL;
    }
    next(p);
    return e;
}

static filter_node *parse_term(parser *p, size_t depth)
{
    const token *t = peek(p);
    filter_node *n, *c;

    if (!is_word(t, "NOT") && t->kind != T_MINUS)
        return parse_simple(p, depth);
    if (depth + 1 > FILTER_MAX_DEPTH) {
        fail(p, t->col, "nested too deeply (at most %d levels of parentheses and NOT)",
             FILTER_MAX_DEPTH);
        return NULL;
    }
    next(p);
    c = parse_simple(p, depth + 1);
    if (c == NULL)
        return NULL;
    n = node_new(p, FILTER_NODE_NOT, t->col);
    if (n == NULL) {
        node_free(c);
        return NULL;
    }
    if (node_add(p, n, c) != FILTER_OK) {
        node_free(n);
        return NULL;
    }
    return n;
}

/* One level of a binary operator: sub {KW sub}. OR binds tighter than AND
 * (AIP-160), so AND-level operands are OR-level expressions. */
static filter_node *parse_level(parser *p, size_t depth, const char *kw, filter_node_kind kind)
{
    filter_node *first, *n;

    first = kind == FILTER_NODE_AND ? parse_level(p, depth, "OR", FILTER_NODE_OR)
                                    : parse_term(p, depth);
    if (first == NULL || !is_word(peek(p), kw))
        return first;
    n = node_new(p, kind, first->column);
    if (n == NULL || node_add(p, n, first) != FILTER_OK) {
        if (n == NULL)
            node_free(first);
        node_free(n);
        return NULL;
    }
    while (is_word(peek(p), kw)) {
        filter_node *c;
        next(p);
        c = kind == FILTER_NODE_AND ? parse_level(p, depth, "OR", FILTER_NODE_OR)
                                    : parse_term(p, depth);
        if (c == NULL || node_add(p, n, c) != FILTER_OK) {
            node_free(n);
            return NULL;
        }
    }
    return n;
}

static filter_node *parse_expression(parser *p, size_t depth)
{
    return parse_level(p, depth, "AND", FILTER_NODE_AND);
}

/* ---- Canonical form ---- */

static void canon_nanos(sbuf *b, int64_t v, int scale_digits)
{
    char tmp[40];
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t whole = mag / NANOS, frac = mag % NANOS;
    int n = snprintf(tmp, sizeof tmp, "%s%llu", v < 0 ? "-" : "", (unsigned long long)whole);

    if (frac != 0 && scale_digits > 0) {
        char f[12];
        int k = 9;
        snprintf(f, sizeof f, "%09llu", (unsigned long long)frac);
        while (k > 0 && f[k - 1] == '0')
            k--;
        f[k] = '\0';
        snprintf(tmp + n, sizeof tmp - (size_t)n, ".%s", f);
    }
    sb_str(b, tmp);
}

static void canon_timestamp(sbuf *b, int64_t ns)
{
    int64_t secs = ns / NANOS, frac = ns % NANOS, days, sod, y, m, d;
    char tmp[64];

    if (frac < 0) {
        frac += NANOS;
        secs -= 1;
    }
    days = secs / 86400;
    sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days -= 1;
    }
    civil_from_days(days, &y, &m, &d);
    snprintf(tmp, sizeof tmp, "\"%04lld-%02lld-%02lldT%02lld:%02lld:%02lld", (long long)y,
             (long long)m, (long long)d, (long long)(sod / 3600), (long long)(sod / 60 % 60),
             (long long)(sod % 60));
    sb_str(b, tmp);
    if (frac != 0) {
        char f[12];
        int k = 9;
        snprintf(f, sizeof f, "%09lld", (long long)frac);
        while (k > 0 && f[k - 1] == '0')
            k--;
        f[k] = '\0';
        sb_str(b, ".");
        sb_str(b, f);
    }
    sb_str(b, "Z\"");
}

static void canon_string(sbuf *b, const char *s, size_t len)
{
    sb_str(b, "\"");
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '"': sb_str(b, "\\\""); break;
        case '\\': sb_str(b, "\\\\"); break;
        case '\n': sb_str(b, "\\n"); break;
        case '\t': sb_str(b, "\\t"); break;
        case '\r': sb_str(b, "\\r"); break;
        default: sb_add(b, s + i, 1); break;
        }
    }
    sb_str(b, "\"");
}

static void canon_node(sbuf *b, const filter_node *n)
{
    char tmp[32];

    switch (n->kind) {
    case FILTER_NODE_AND:
    case FILTER_NODE_OR:
        sb_str(b, "(");
        for (size_t i = 0; i < n->nchildren; i++) {
            if (i > 0)
                sb_str(b, n->kind == FILTER_NODE_AND ? " AND " : " OR ");
            canon_node(b, n->children[i]);
        }
        sb_str(b, ")");
        return;
    case FILTER_NODE_NOT:
        sb_str(b, "NOT ");
        if (n->children[0]->kind == FILTER_NODE_NOT) {
            sb_str(b, "(");
            canon_node(b, n->children[0]);
            sb_str(b, ")");
        } else {
            canon_node(b, n->children[0]);
        }
        return;
    case FILTER_NODE_CMP:
        sb_str(b, n->field->name);
        sb_str(b, " ");
        sb_str(b, op_text(n->op));
        sb_str(b, " ");
        switch (n->value.type) {
        case FILTER_STRING: canon_string(b, n->value.s, n->value.len); break;
        case FILTER_ENUM: sb_str(b, n->value.s); break;
        case FILTER_BOOL: sb_str(b, n->value.i ? "true" : "false"); break;
        case FILTER_INT:
            snprintf(tmp, sizeof tmp, "%lld", (long long)n->value.i);
            sb_str(b, tmp);
            break;
        case FILTER_MONEY: canon_nanos(b, n->value.i, 9); break;
        case FILTER_TIMESTAMP: canon_timestamp(b, n->value.i); break;
        case FILTER_DATE:
            snprintf(tmp, sizeof tmp, "\"%04lld-%02lld-%02lld\"", (long long)(n->value.i / 10000),
                     (long long)(n->value.i / 100 % 100), (long long)(n->value.i % 100));
            sb_str(b, tmp);
            break;
        }
        return;
    }
}

/* ---- Public: parse ---- */

int filter_parse(const filter_schema *schema, const char *text, size_t len, filter **out,
                 filter_error *err)
{
    parser p = {0};
    filter *f = NULL;
    size_t bad;
    sbuf cb = {0};

    if (err != NULL) {
        err->column = 0;
        err->message[0] = '\0';
    }
    if (out == NULL || (text == NULL && len > 0))
        return FILTER_ERR_ARG;
    *out = NULL;
    if (schema_usable(schema) != FILTER_OK)
        return FILTER_ERR_SCHEMA;
    if (len > FILTER_MAX_LEN) {
        set_error(err, WHAT, 0, "too long: %zu bytes, at most %d", len, FILTER_MAX_LEN);
        return FILTER_ERR_INVALID;
    }
    if (validate_utf8(text, len, &bad) != VALIDATE_OK) {
        set_error(err, WHAT, count_chars(text, bad) + 1, "invalid UTF-8");
        return FILTER_ERR_INVALID;
    }
    p.schema = schema;
    p.err = err;
    f = calloc(1, sizeof *f);
    if (f == NULL)
        return FILTER_ERR_NOMEM;
    f->schema = schema;
    if (lex(&p, text == NULL ? "" : text, len) != FILTER_OK)
        goto fail;
    if (peek(&p)->kind != T_EOF) {
        f->root = parse_expression(&p, 0);
        if (f->root == NULL)
            goto fail;
        if (peek(&p)->kind != T_EOF) {
            char found[64];
            describe(peek(&p), found, sizeof found);
            fail(&p, peek(&p)->col, "expected AND, OR or end of filter, found %s", found);
            goto fail;
        }
        canon_node(&cb, f->root);
    } else {
        sb_str(&cb, "");
    }
    if (cb.oom || cb.p == NULL) {
        p.rc = FILTER_ERR_NOMEM;
        goto fail;
    }
    f->canonical = cb.p;
    free(p.toks);
    *out = f;
    return FILTER_OK;
fail:
    free(cb.p);
    free(p.toks);
    filter_destroy(f);
    return p.rc != FILTER_OK ? p.rc : FILTER_ERR_NOMEM;
}

void filter_destroy(filter *f)
{
    if (f == NULL)
        return;
    node_free(f->root);
    free(f->canonical);
    free(f);
}

const filter_node *filter_root(const filter *f)
{
    return f != NULL ? f->root : NULL;
}

const char *filter_canonical(const filter *f)
{
    return f != NULL ? f->canonical : NULL;
}

/* ---- Evaluation ---- */

int filter_value_compare(const filter_value *a, const filter_value *b)
{
    if (a->type == FILTER_STRING) {
        size_t n = a->len < b->len ? a->len : b->len;
        int c = n > 0 ? memcmp(a->s, b->s, n) : 0;
        if (c != 0)
            return c < 0 ? -1 : 1;
        return a->len < b->len ? -1 : a->len > b->len;
    }
    return a->i < b->i ? -1 : a->i > b->i;
}

static int eval_node(const filter_node *n, filter_get_fn get, void *ctx, bool *match)
{
    switch (n->kind) {
    case FILTER_NODE_AND:
    case FILTER_NODE_OR: {
        bool want = n->kind == FILTER_NODE_OR;
        for (size_t i = 0; i < n->nchildren; i++) {
            bool m = false;
            int rc = eval_node(n->children[i], get, ctx, &m);
            if (rc != FILTER_OK)
                return rc;
            if (m == want) {
                *match = want;
                return FILTER_OK;
            }
        }
        *match = !want;
        return FILTER_OK;
    }
    case FILTER_NODE_NOT: {
        bool m = false;
        int rc = eval_node(n->children[0], get, ctx, &m);
        if (rc == FILTER_OK)
            *match = !m;
        return rc;
    }
    case FILTER_NODE_CMP: {
        filter_value v = {0};
        int c;
        if (get(ctx, n->field, &v) != 0 || v.type != n->field->type ||
            (v.type == FILTER_STRING && v.s == NULL && v.len > 0))
            return FILTER_ERR_CALLBACK;
        if (n->op == FILTER_HAS) {
            char *folded;
            size_t len;
            int rc = textfold(v.len > 0 ? v.s : "", v.len, &folded, &len);
            if (rc != TEXTFOLD_OK)
                return rc == TEXTFOLD_ERR_NOMEM ? FILTER_ERR_NOMEM : FILTER_ERR_CALLBACK;
            *match = textfold_contains(folded, len, n->value.s, n->value.len);
            free(folded);
            return FILTER_OK;
        }
        c = filter_value_compare(&v, &n->value);
        switch (n->op) {
        case FILTER_EQ: *match = c == 0; break;
        case FILTER_NE: *match = c != 0; break;
        case FILTER_LT: *match = c < 0; break;
        case FILTER_GT: *match = c > 0; break;
        case FILTER_LE: *match = c <= 0; break;
        case FILTER_GE: *match = c >= 0; break;
        case FILTER_HAS: break; /* above */
        }
        return FILTER_OK;
    }
    }
    return FILTER_ERR_ARG;
}

int filter_eval(const filter *f, filter_get_fn get, void *ctx, bool *match)
{
    if (f == NULL || get == NULL || match == NULL)
        return FILTER_ERR_ARG;
    if (f->root == NULL) {
        *match = true;
        return FILTER_OK;
    }
    return eval_node(f->root, get, ctx, match);
}

/* ---- order_by ---- */

static const char *const ORDER = "order_by";

int filter_order_parse(const filter_schema *schema, const char *text, size_t len,
                       filter_order *out, filter_error *err)
{
    size_t i = 0, bad;

    if (err != NULL) {
        err->column = 0;
        err->message[0] = '\0';
    }
    if (out == NULL || (text == NULL && len > 0))
        return FILTER_ERR_ARG;
    memset(out, 0, sizeof *out);
    if (schema_usable(schema) != FILTER_OK)
        return FILTER_ERR_SCHEMA;
    out->schema = schema;
    if (len > FILTER_ORDER_MAX_LEN) {
        set_error(err, ORDER, 0, "too long: %zu bytes, at most %d", len, FILTER_ORDER_MAX_LEN);
        return FILTER_ERR_INVALID;
    }
    if (validate_utf8(text, len, &bad) != VALIDATE_OK) {
        set_error(err, ORDER, count_chars(text, bad) + 1, "invalid UTF-8");
        return FILTER_ERR_INVALID;
    }
#define COL(off) (count_chars(text, (off)) + 1)
    while (i < len && is_space(text[i]))
        i++;
    if (i == len)
        return FILTER_OK; /* empty: id order */
    for (;;) {
        size_t start, n;
        const filter_field *f;
        filter_order_key *k;

        while (i < len && is_space(text[i]))
            i++;
        start = i;
        if (i >= len || !is_ident_start(text[i])) {
            if (i >= len)
                set_error(err, ORDER, COL(i), "expected a field name after \",\"");
            else if (text[i] == ',')
                set_error(err, ORDER, COL(i), "expected a field name before \",\"");
            else
                set_error(err, ORDER, COL(i), "expected a field name");
            goto invalid;
        }
        while (i < len && is_ident_char(text[i]))
            i++;
        n = i - start;
        f = n <= IDENT_MAX ? find_field(schema, text + start, n) : NULL;
        if (f == NULL) {
            unknown_field(err, ORDER, COL(start), schema, text + start, n);
            goto invalid;
        }
        if (f->flags & FILTER_FIELD_NO_ORDER) {
            set_error(err, ORDER, COL(start), "field \"%s\" cannot be used in order_by", f->name);
            goto invalid;
        }
        for (size_t j = 0; j < out->count; j++) {
            if (out->keys[j].field == f) {
                set_error(err, ORDER, COL(start), "field \"%s\" appears more than once", f->name);
                goto invalid;
            }
        }
        if (out->count == FILTER_ORDER_MAX_KEYS) {
            set_error(err, ORDER, COL(start), "too many fields (at most %d)",
                      FILTER_ORDER_MAX_KEYS);
            goto invalid;
        }
        k = &out->keys[out->count++];
        k->field = f;
        k->desc = false;
        while (i < len && is_space(text[i]))
            i++;
        if (i < len && is_ident_start(text[i])) {
            size_t ws = i;
            while (i < len && is_ident_char(text[i]))
                i++;
            if (i - ws == 4 && strncasecmp(text + ws, "desc", 4) == 0) {
                k->desc = true;
            } else if (i - ws == 3 && strncasecmp(text + ws, "asc", 3) == 0) {
                k->desc = false;
            } else {
                set_error(err, ORDER, COL(ws), "expected asc, desc, \",\" or end after \"%s\"",
                          f->name);
                goto invalid;
            }
            while (i < len && is_space(text[i]))
                i++;
        }
        if (i == len)
            return FILTER_OK;
        if (text[i] != ',') {
            set_error(err, ORDER, COL(i), "expected \",\" or end of order_by after \"%s\"",
                      f->name);
            goto invalid;
        }
        i++;
    }
#undef COL
invalid:
    memset(out->keys, 0, sizeof out->keys);
    out->count = 0;
    return FILTER_ERR_INVALID;
}

int filter_order_canonical(const filter_order *o, char *buf, size_t cap)
{
    fbuf b = {buf, 0, cap, 0};

    if (o == NULL || buf == NULL || cap == 0)
        return FILTER_ERR_ARG;
    buf[0] = '\0';
    for (size_t i = 0; i < o->count; i++) {
        if (i > 0)
            fb_str(&b, ", ");
        fb_str(&b, o->keys[i].field->name);
        fb_str(&b, o->keys[i].desc ? " desc" : " asc");
    }
    if (b.full) {
        buf[0] = '\0';
        return FILTER_ERR_NOSPACE;
    }
    return FILTER_OK;
}

int filter_order_compare(const filter_order *o, filter_get_fn get, void *a, void *b, int *cmp)
{
    if (o == NULL || get == NULL || cmp == NULL)
        return FILTER_ERR_ARG;
    for (size_t i = 0; i < o->count; i++) {
        filter_value va = {0}, vb = {0};
        const filter_field *f = o->keys[i].field;
        int c;
        if (get(a, f, &va) != 0 || va.type != f->type)
            return FILTER_ERR_CALLBACK;
        if (get(b, f, &vb) != 0 || vb.type != f->type)
            return FILTER_ERR_CALLBACK;
        c = filter_value_compare(&va, &vb);
        if (c != 0) {
            *cmp = o->keys[i].desc ? -c : c;
            return FILTER_OK;
        }
    }
    *cmp = 0;
    return FILTER_OK;
}
