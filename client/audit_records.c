/* audit_records.c — Tallinn's AuditRecord for people: decoding leaves,
 * counting them by method and status, and printing them as a table or as
 * proto3 JSON. Record text is untrusted (a refused caller's, or a forged
 * log's): the table escapes it (textsafe.h), JSON never drops it. No
 * network: the offline commands use this too. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "audit_cmds.h"
#include "tallinn/textsafe.h"
#include "tallinn/v1/principal.pb-c.h"

static const char *const status_names[17] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *audit_status_name(int code, char *buf, size_t size)
{
    if (code >= 0 && code < 17)
        return status_names[code];
    snprintf(buf, size, "CODE_%d", code);
    return buf;
}

const char *audit_role_name(int role, char *buf, size_t size)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&tallinn__v1__principal__role__descriptor, role);
    if (v == NULL) {
        snprintf(buf, size, "ROLE_%d", role);
        return buf;
    }
    return strncmp(v->name, "ROLE_", 5) == 0 ? v->name + 5 : v->name;
}

/* ---- statistics -------------------------------------------------------- */

void audit_stats_init(audit_stats *st, audit_stats_mode mode)
{
    memset(st, 0, sizeof *st);
    st->mode = mode;
}

void audit_stats_free(audit_stats *st)
{
    for (size_t i = 0; i < st->n_methods; i++)
        free(st->methods[i].method);
    free(st->methods);
    st->methods = NULL;
    st->n_methods = st->cap_methods = 0;
}

static int count_method(audit_stats *st, const char *method)
{
    /* Few distinct methods, and runs of the same one: try the last hit first. */
    if (st->last_hit < st->n_methods && strcmp(st->methods[st->last_hit].method, method) == 0) {
        st->methods[st->last_hit].count++;
        return 0;
    }
    for (size_t i = 0; i < st->n_methods; i++) {
        if (strcmp(st->methods[i].method, method) == 0) {
            st->methods[i].count++;
            st->last_hit = i;
            return 0;
        }
    }
    if (st->n_methods == st->cap_methods) {
        size_t cap = st->cap_methods ? st->cap_methods * 2 : 32;
        audit_method_count *m = realloc(st->methods, cap * sizeof *m);
        if (!m)
            return -ENOMEM;
        st->methods = m;
        st->cap_methods = cap;
    }
    char *copy = strdup(method);
    if (!copy)
        return -ENOMEM;
    st->methods[st->n_methods].method = copy;
    st->methods[st->n_methods].count = 1;
    st->last_hit = st->n_methods++;
    return 0;
}

static int time_before(int64_t s1, int32_t ns1, int64_t s2, int32_t ns2)
{
    return s1 < s2 || (s1 == s2 && ns1 < ns2);
}

int audit_stats_add(audit_stats *st, uint64_t position, const uint8_t *leaf, size_t len,
                    Tallinn__V1__AuditRecord **rec, char *err, size_t err_size)
{
    Tallinn__V1__AuditRecord *r = NULL;
    if (rec)
        *rec = NULL;
    st->entries++;
    if (st->mode == AUDIT_STATS_OPAQUE)
        return 0;
    r = tallinn__v1__audit_record__unpack(NULL, len, leaf);
    if (st->mode == AUDIT_STATS_DETECT) {
        /* A Tallinn log's entry 0 is record 0 of a gRPC method. */
        if (r && r->index == 0 && position == 0 && r->method[0] == '/') {
            st->mode = AUDIT_STATS_RECORDS;
        } else {
            st->mode = AUDIT_STATS_OPAQUE;
            if (r)
                tallinn__v1__audit_record__free_unpacked(r, NULL);
            return 0;
        }
    }
    if (!r) {
        snprintf(err, err_size, "entry %" PRIu64 " (%zu bytes) is not a tallinn.v1.AuditRecord",
                 position, len);
        return -EBADMSG;
    }
    if (r->index < 0 || (uint64_t)r->index != position) {
        snprintf(err, err_size, "entry %" PRIu64 " is a record that says it is record %" PRId64,
                 position, r->index);
        tallinn__v1__audit_record__free_unpacked(r, NULL);
        return -EBADMSG;
    }
    if (r->time) {
        int64_t s = r->time->seconds;
        int32_t ns = r->time->nanos;
        if (!st->have_time || time_before(s, ns, st->first_s, st->first_ns)) {
            st->first_s = s;
            st->first_ns = ns;
        }
        if (!st->have_time || time_before(st->last_s, st->last_ns, s, ns)) {
            st->last_s = s;
            st->last_ns = ns;
        }
        st->have_time = 1;
    }
    if (r->status_code >= 0 && r->status_code < 17)
        st->by_status[r->status_code]++;
    else
        st->status_other++;
    if (count_method(st, r->method) != 0) {
        snprintf(err, err_size, "out of memory");
        tallinn__v1__audit_record__free_unpacked(r, NULL);
        return -ENOMEM;
    }
    if (rec)
        *rec = r;
    else
        tallinn__v1__audit_record__free_unpacked(r, NULL);
    return 0;
}

static void format_utc(int64_t s, int32_t ns, char *buf, size_t size)
{
    time_t t = (time_t)s;
    struct tm tm;
    char base[32];
    if (!gmtime_r(&t, &tm) || strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        snprintf(buf, size, "%" PRId64 "s", s);
        return;
    }
    if (ns > 0 && ns < 1000000000) {
        char frac[16];
        snprintf(frac, sizeof frac, "%09d", (int)ns);
        for (int i = 8; i > 0 && frac[i] == '0'; i--)
            frac[i] = '\0';
        snprintf(buf, size, "%s.%sZ", base, frac);
    } else {
        snprintf(buf, size, "%sZ", base);
    }
}

/* s escaped for a terminal (malloc'd; NULL when out of memory): no control
 * character, escape sequence or invalid byte of a record reaches the screen. */
static char *safe_text(const char *s)
{
    size_t len = strlen(s), cap = 4 * len + 1; /* an escape is at most 4 bytes per byte */
    char *out = malloc(cap);

    if (out)
        textsafe_escape(s, len, 0, out, cap, NULL);
    return out;
}

static int cmp_methods(const void *a, const void *b)
{
    const audit_method_count *x = a, *y = b;
    return strcmp(x->method, y->method);
}

void audit_stats_print(const audit_stats *st, FILE *out)
{
    if (st->mode != AUDIT_STATS_RECORDS) {
        fprintf(out, "records:          none decoded (%s)\n",
                st->entries == 0 ? "the log is empty"
                                 : "entry 0 is not a tallinn.v1.AuditRecord: opaque entries");
        return;
    }
    fprintf(out, "records:          %" PRIu64 "\n", st->entries);
    if (st->have_time) {
        char a[64], b[64];
        format_utc(st->first_s, st->first_ns, a, sizeof a);
        format_utc(st->last_s, st->last_ns, b, sizeof b);
        fprintf(out, "time range:       %s .. %s\n", a, b);
    }
    qsort(st->methods, st->n_methods, sizeof *st->methods, cmp_methods);
    fprintf(out, "by method:\n");
    for (size_t i = 0; i < st->n_methods; i++) {
        char *m = st->methods[i].method[0] ? safe_text(st->methods[i].method) : NULL;
        fprintf(out, "  %-52s %" PRIu64 "\n", m ? m : st->methods[i].method[0] ? "?" : "(none)",
                st->methods[i].count);
        free(m);
    }
    fprintf(out, "by status:\n");
    for (int c = 0; c < 17; c++)
        if (st->by_status[c])
            fprintf(out, "  %-52s %" PRIu64 "\n", status_names[c], st->by_status[c]);
    if (st->status_other)
        fprintf(out, "  %-52s %" PRIu64 "\n", "(other codes)", st->status_other);
}

/* ---- printing ------------------------------------------------------------ */

void audit_printer_begin(audit_printer *p, FILE *out, int json)
{
    p->out = out;
    p->json = json;
    p->printed = 0;
    if (json)
        fputs("[", out);
    else
        fprintf(out, "%-7s %-19s %-26s %-13s %-36s %-30s %-19s %s\n", "INDEX", "TIME",
                "PRINCIPAL", "ROLE", "METHOD", "RESOURCE", "STATUS", "ETAG");
}

static const char *dash(const char *s)
{
    return s && s[0] ? s : "-";
}

static int is_replaced(const Tallinn__V1__AuditRecord *r, const char *field)
{
    for (size_t i = 0; i < r->n_replaced; i++)
        if (r->replaced[i]->field && strcmp(r->replaced[i]->field, field) == 0)
            return 1;
    return 0;
}

static char *b64(const uint8_t *data, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *out = malloc(cap);

    if (out)
        sodium_bin2base64(out, cap, data, len, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

/* Sets a string field. JSON strings are Unicode: a value that is not valid
 * UTF-8 (a forged or damaged record) is written with each invalid byte as
 * U+FFFD, and its exact bytes beside it as "<name>Bytes" (base64), never
 * dropped. 0, or -1 when out of memory. */
static int set_text(json_t *o, const char *name, const char *v)
{
    size_t len = strlen(v), i = 0, n = 0;
    json_t *j = json_stringn(v, len);
    char *fixed, *raw, key[64];
    uint32_t cp;

    if (j)
        return json_object_set_new(o, name, j);
    if ((fixed = malloc(3 * len + 1)) == NULL) /* U+FFFD is 3 bytes */
        return -1;
    while (i < len) {
        size_t k = textsafe_utf8_next(v, len, i, &cp);
        if (k == 0) {
            memcpy(fixed + n, "\xEF\xBF\xBD", 3);
            n += 3;
            i++;
        } else {
            memcpy(fixed + n, v + i, k);
            n += k;
            i += k;
        }
    }
    raw = b64((const uint8_t *)v, len);
    snprintf(key, sizeof key, "%sBytes", name);
    int rc = raw ? json_object_set_new(o, name, json_stringn(fixed, n)) |
                       json_object_set_new(o, key, json_string(raw))
                 : -1;
    free(fixed);
    free(raw);
    return rc;
}

static json_t *record_json(const Tallinn__V1__AuditRecord *r)
{
    char buf[64], tbuf[64], *sha;
    json_t *o = json_object(), *rep;
    int rc = 0;
    if (!o)
        return NULL;
    const ProtobufCEnumValue *role =
        protobuf_c_enum_descriptor_get_value(&tallinn__v1__principal__role__descriptor, r->role);
    snprintf(buf, sizeof buf, "%" PRId64, r->index);
    rc |= json_object_set_new(o, "index", json_string(buf)); /* int64: a string in proto3 JSON */
    if (r->time) {
        format_utc(r->time->seconds, r->time->nanos, tbuf, sizeof tbuf);
        rc |= json_object_set_new(o, "time", json_string(tbuf));
    } else {
        rc |= json_object_set_new(o, "time", json_null());
    }
    rc |= set_text(o, "principal", r->principal);
    rc |= json_object_set_new(o, "role", role ? json_string(role->name) : json_integer(r->role));
    rc |= set_text(o, "method", r->method);
    rc |= set_text(o, "resource", r->resource);
    rc |= set_text(o, "requestId", r->request_id);
    sha = b64(r->request_sha256.data, r->request_sha256.len);
    rc |= sha ? json_object_set_new(o, "requestSha256", json_string(sha)) : -1;
    free(sha);
    rc |= json_object_set_new(o, "statusCode", json_integer(r->status_code));
    rc |= set_text(o, "etag", r->etag);
    rc |= set_text(o, "serverVersion", r->server_version);
    if (r->n_replaced > 0) {
        rc |= json_object_set_new(o, "replaced", rep = json_array());
        for (size_t i = 0; rep && i < r->n_replaced; i++) {
            json_t *e = json_object();
            rc |= json_array_append_new(rep, e);
            if (!e)
                break;
            rc |= set_text(e, "field", r->replaced[i]->field);
            sha = b64(r->replaced[i]->sha256.data, r->replaced[i]->sha256.len);
            rc |= sha ? json_object_set_new(e, "sha256", json_string(sha)) : -1;
            free(sha);
            snprintf(buf, sizeof buf, "%" PRId64, r->replaced[i]->size);
            rc |= json_object_set_new(e, "size", json_string(buf));
        }
    }
    if (rc != 0) { /* out of memory: fail, rather than print a record missing a field */
        json_decref(o);
        return NULL;
    }
    return o;
}

/* One table cell: the field escaped, "…" after a value the server replaced
 * by its prefix (the JSON output has the digest and size). */
static char *cell(const Tallinn__V1__AuditRecord *r, const char *field, const char *v)
{
    char *e = safe_text(dash(v)), *out;
    size_t n;

    if (!e || !is_replaced(r, field))
        return e;
    n = strlen(e);
    if ((out = realloc(e, n + 4)) == NULL) {
        free(e);
        return NULL;
    }
    memcpy(out + n, "\xE2\x80\xA6", 4); /* U+2026 and the NUL */
    return out;
}

int audit_printer_record(audit_printer *p, const Tallinn__V1__AuditRecord *r)
{
    if (p->json) {
        json_t *o = record_json(r);
        char *text = o ? json_dumps(o, JSON_PRESERVE_ORDER | JSON_INDENT(2)) : NULL;
        json_decref(o);
        if (!text)
            return -ENOMEM;
        fprintf(p->out, "%s\n  ", p->printed ? "," : "");
        /* Indent the object by two spaces, as an element of the array. */
        for (const char *c = text; *c; c++) {
            fputc(*c, p->out);
            if (*c == '\n')
                fputs("  ", p->out);
        }
        free(text);
        p->printed++;
        return 0;
    }
    char when[32] = "-", role[32], status[32];
    if (r->time) {
        time_t t = (time_t)r->time->seconds;
        struct tm tm;
        if (localtime_r(&t, &tm))
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    }
    /* "/tallinn.v1.NeedService/SubmitNeed" -> "NeedService/SubmitNeed" */
    const char *method = r->method;
    if (strncmp(method, "/tallinn.v1.", 12) == 0)
        method += 12;
    char *principal = cell(r, "principal", r->principal), *m = cell(r, "method", method);
    char *resource = cell(r, "resource", r->resource), *etag = cell(r, "etag", r->etag);
    int rc = -ENOMEM;
    if (principal && m && resource && etag) {
        fprintf(p->out, "%-7" PRId64 " %-19s %-26s %-13s %-36s %-30s %-19s %s\n", r->index, when,
                principal, audit_role_name(r->role, role, sizeof role), m, resource,
                audit_status_name(r->status_code, status, sizeof status), etag);
        p->printed++;
        rc = 0;
    }
    free(principal);
    free(m);
    free(resource);
    free(etag);
    return rc;
}

void audit_printer_end(audit_printer *p)
{
    if (p->json)
        fputs(p->printed ? "\n]\n" : "]\n", p->out);
}
