/* pbjson.c — the proto3 JSON mapping for any protobuf-c message, walking its
 * descriptors; JSON values are jansson's. See include/tallinn/pbjson.h. */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tallinn/pbjson.h"

#define PBJSON_PATH_MAX 192
#define PBJSON_NAME_MAX 128
/* RFC 3339 range of google.protobuf.Timestamp: 0001-01-01 to 9999-12-31. */
#define PBJSON_TS_MIN INT64_C(-62135596800)
#define PBJSON_TS_MAX INT64_C(253402300799)
/* google.protobuf.Duration: about +-10,000 years. */
#define PBJSON_DUR_MAX INT64_C(315576000000)

typedef struct pbjson__ctx {
    char path[PBJSON_PATH_MAX]; /* "need.estimatedCost" while converting it */
    size_t path_len;
    unsigned flags;
    char *err;
    size_t err_len;
} pbjson__ctx;

static int pbjson__fail(pbjson__ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int pbjson__fail(pbjson__ctx *c, const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    if (c->err == NULL || c->err_len == 0)
        return -1;
    if (c->path_len > 0)
        n = snprintf(c->err, c->err_len, "%s: ", c->path);
    if (n < 0 || (size_t)n >= c->err_len)
        return -1;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Appends ".name" (or "[i]") to the path; returns the old length to pop to. */
static size_t pbjson__push(pbjson__ctx *c, const char *name, long index)
{
    size_t old = c->path_len;
    int n;

    if (name != NULL)
        n = snprintf(c->path + old, sizeof c->path - old, "%s%s", old > 0 ? "." : "", name);
    else
        n = snprintf(c->path + old, sizeof c->path - old, "[%ld]", index);
    if (n > 0)
        c->path_len = old + (size_t)n < sizeof c->path ? old + (size_t)n : sizeof c->path - 1;
    return old;
}

static void pbjson__pop(pbjson__ctx *c, size_t old)
{
    c->path_len = old;
    c->path[old] = '\0';
}

const char *pbjson_json_name(const char *proto_name, char *buf, size_t len)
{
    size_t n = 0;
    bool up = false;

    if (len == 0)
        return buf;
    for (const char *p = proto_name; *p != '\0' && n + 1 < len; p++) {
        if (*p == '_') {
            up = true;
            continue;
        }
        buf[n++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        up = false;
    }
    buf[n] = '\0';
    return buf;
}

const ProtobufCFieldDescriptor *pbjson_field_by_json_key(const ProtobufCMessageDescriptor *desc,
                                                         const char *key)
{
    char name[PBJSON_NAME_MAX];
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, key);

    if (f != NULL)
        return f;
    for (unsigned i = 0; i < desc->n_fields; i++)
        if (strcmp(pbjson_json_name(desc->fields[i].name, name, sizeof name), key) == 0)
            return &desc->fields[i];
    return NULL;
}

static size_t pbjson__elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        return 4;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

static bool pbjson__is(const ProtobufCMessageDescriptor *d, const char *full)
{
    return strcmp(d->name, full) == 0;
}

/* Well-known types without a mapping here. */
static bool pbjson__unsupported(const ProtobufCMessageDescriptor *d)
{
    static const char *const names[] = {
        "google.protobuf.Any", "google.protobuf.Struct", "google.protobuf.Value",
        "google.protobuf.ListValue", "google.protobuf.DoubleValue", "google.protobuf.FloatValue",
        "google.protobuf.Int64Value", "google.protobuf.UInt64Value", "google.protobuf.Int32Value",
        "google.protobuf.UInt32Value", "google.protobuf.BoolValue", "google.protobuf.StringValue",
        "google.protobuf.BytesValue",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (pbjson__is(d, names[i]))
            return true;
    return false;
}

/* Reads an int64 / int32 field of a well-known type by name. */
static int64_t pbjson__get_i64(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    const char *p = (const char *)m + f->offset;

    if (pbjson__elem_size(f->type) == 8) {
        int64_t v;
        memcpy(&v, p, sizeof v);
        return v;
    } else {
        int32_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
}

static void pbjson__set_i64(ProtobufCMessage *m, const char *name, int64_t v)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    char *p = (char *)m + f->offset;

    if (pbjson__elem_size(f->type) == 8) {
        memcpy(p, &v, sizeof v);
    } else {
        int32_t w = (int32_t)v;
        memcpy(p, &w, sizeof w);
    }
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t pbjson__days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void pbjson__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    *y = (int64_t)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y += *m <= 2;
}

/* Fraction digits: 0, 3, 6 or 9, as the mapping asks. */
static void pbjson__frac(int32_t nanos, char *buf, size_t len)
{
    if (nanos == 0)
        buf[0] = '\0';
    else if (nanos % 1000000 == 0)
        snprintf(buf, len, ".%03d", nanos / 1000000);
    else if (nanos % 1000 == 0)
        snprintf(buf, len, ".%06d", nanos / 1000);
    else
        snprintf(buf, len, ".%09d", nanos);
}

static json_t *pbjson__timestamp_out(pbjson__ctx *c, const ProtobufCMessage *m)
{
    int64_t s = pbjson__get_i64(m, "seconds"), y;
    int32_t nanos = (int32_t)pbjson__get_i64(m, "nanos");
    int64_t days, rem;
    unsigned mo, d;
    char frac[16], buf[64];

    if (s < PBJSON_TS_MIN || s > PBJSON_TS_MAX || nanos < 0 || nanos > 999999999) {
        pbjson__fail(c, "timestamp out of range (seconds %" PRId64 ", nanos %" PRId32 ")", s,
                     nanos);
        return NULL;
    }
    days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    rem = s - days * 86400;
    pbjson__civil_from_days(days, &y, &mo, &d);
    pbjson__frac(nanos, frac, sizeof frac);
    snprintf(buf, sizeof buf, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d%sZ", y, mo, d,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), frac);
    return json_string(buf);
}

static json_t *pbjson__duration_out(pbjson__ctx *c, const ProtobufCMessage *m)
{
    int64_t s = pbjson__get_i64(m, "seconds");
    int32_t nanos = (int32_t)pbjson__get_i64(m, "nanos");
    char frac[16], buf[64];

    if (s < -PBJSON_DUR_MAX || s > PBJSON_DUR_MAX || nanos < -999999999 || nanos > 999999999 ||
        (s > 0 && nanos < 0) || (s < 0 && nanos > 0)) {
        pbjson__fail(c, "duration out of range");
        return NULL;
    }
    pbjson__frac(nanos < 0 ? -nanos : nanos, frac, sizeof frac);
    snprintf(buf, sizeof buf, "%s%" PRId64 "%ss", s < 0 || nanos < 0 ? "-" : "",
             s < 0 ? -s : s, frac);
    return json_string(buf);
}

static json_t *pbjson__fieldmask_out(pbjson__ctx *c, const ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "paths");
    size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
    char *const *paths = *(char *const *const *)((const char *)m + f->offset);
    size_t total = 1, len = 0;
    char *buf;
    json_t *out;

    for (size_t i = 0; i < n; i++)
        total += strlen(paths[i]) + 1;
    if ((buf = malloc(total)) == NULL) {
        pbjson__fail(c, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        bool up = false;

        /* An empty path, or one with a comma, would not read back as itself
         * from the comma-joined JSON string. */
        if (paths[i][0] == '\0' || strchr(paths[i], ',') != NULL) {
            free(buf);
            pbjson__fail(c, "field mask path \"%s\" has no JSON form", paths[i]);
            return NULL;
        }
        if (i > 0)
            buf[len++] = ',';
        for (const char *p = paths[i]; *p != '\0'; p++) {
            if ((*p >= 'A' && *p <= 'Z') || (*p == '_' && (up || p[1] < 'a' || p[1] > 'z'))) {
                free(buf);
                pbjson__fail(c, "field mask path \"%s\" has no JSON form", paths[i]);
                return NULL;
            }
            if (*p == '_') {
                up = true;
                continue;
            }
            buf[len++] = up ? (char)(*p - 'a' + 'A') : *p;
            up = false;
        }
    }
    buf[len] = '\0';
    out = json_string(buf);
    free(buf);
    if (out == NULL)
        pbjson__fail(c, "a field mask path is not valid UTF-8");
    return out;
}

static int pbjson__message_out(pbjson__ctx *c, const ProtobufCMessage *m, json_t **out);

static json_t *pbjson__value_out(pbjson__ctx *c, const ProtobufCFieldDescriptor *f, const void *p)
{
    char buf[32];

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(buf, sizeof buf, "%" PRId64, *(const int64_t *)p);
        return json_string(buf);
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, sizeof buf, "%" PRIu64, *(const uint64_t *)p);
        return json_string(buf);
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d = f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)p : *(const double *)p;
        if (isnan(d))
            return json_string("NaN");
        if (isinf(d))
            return json_string(d > 0 ? "Infinity" : "-Infinity");
        return json_real(d);
    }
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        return ev != NULL ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        json_t *j = json_string(s != NULL ? s : "");
        if (j == NULL)
            pbjson__fail(c, "not valid UTF-8");
        return j;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        size_t n = sodium_base64_encoded_len(b->len, sodium_base64_VARIANT_ORIGINAL);
        char *s = malloc(n);
        json_t *j;

        if (s == NULL) {
            pbjson__fail(c, "out of memory");
            return NULL;
        }
        sodium_bin2base64(s, n, b->data != NULL ? b->data : (const unsigned char *)"", b->len,
                          sodium_base64_VARIANT_ORIGINAL);
        j = json_string(s);
        free(s);
        return j;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
        json_t *j = NULL;
        if (m == NULL)
            return json_null();
        return pbjson__message_out(c, m, &j) == 0 ? j : NULL;
    }
    }
    pbjson__fail(c, "unknown field type %d", (int)f->type);
    return NULL;
}

/* Whether a singular field is present, by the rules of its label. */
static bool pbjson__present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const char *p = (const char *)m + f->offset;

    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)((const char *)m + f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_REQUIRED)
        return true;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(const void *const *)p != NULL;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
        if (f->type == PROTOBUF_C_TYPE_STRING)
            return *(const char *const *)p != NULL;
        return *(const protobuf_c_boolean *)((const char *)m + f->quantifier_offset) != 0;
    }
    /* proto3 implicit presence: present when not the default */
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        return s != NULL && s[0] != '\0';
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len > 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)p != 0 || signbit(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)p != 0 || signbit(*(const double *)p);
    default: {
        size_t n = pbjson__elem_size(f->type);
        for (size_t i = 0; i < n; i++)
            if (p[i] != 0)
                return true;
        return false;
    }
    }
}

static int pbjson__message_out(pbjson__ctx *c, const ProtobufCMessage *m, json_t **out)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    json_t *obj = NULL, *v;
    char name[PBJSON_NAME_MAX];

    if (pbjson__is(d, "google.protobuf.Timestamp"))
        return (*out = pbjson__timestamp_out(c, m)) != NULL ? 0 : -1;
    if (pbjson__is(d, "google.protobuf.Duration"))
        return (*out = pbjson__duration_out(c, m)) != NULL ? 0 : -1;
    if (pbjson__is(d, "google.protobuf.FieldMask"))
        return (*out = pbjson__fieldmask_out(c, m)) != NULL ? 0 : -1;
    if (pbjson__unsupported(d))
        return pbjson__fail(c, "%s has no JSON mapping here", d->name);
    if ((obj = json_object()) == NULL)
        return pbjson__fail(c, "out of memory");
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *key = c->flags & PBJSON_PROTO_NAMES
                              ? f->name
                              : pbjson_json_name(f->name, name, sizeof name);
        size_t old = pbjson__push(c, key, 0);

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            const char *arr = *(const char *const *)((const char *)m + f->offset);
            size_t es = pbjson__elem_size(f->type);

            if (n == 0 && !(c->flags & PBJSON_EMIT_DEFAULTS)) {
                pbjson__pop(c, old);
                continue;
            }
            if ((v = json_array()) == NULL)
                goto oom;
            for (size_t k = 0; k < n; k++) {
                size_t o2 = pbjson__push(c, NULL, (long)k);
                json_t *e = pbjson__value_out(c, f, arr + k * es);
                pbjson__pop(c, o2);
                if (e == NULL || json_array_append_new(v, e) != 0) {
                    json_decref(v);
                    if (e == NULL)
                        goto fail;
                    goto oom;
                }
            }
        } else {
            if (!pbjson__present(m, f) &&
                (!(c->flags & PBJSON_EMIT_DEFAULTS) || f->type == PROTOBUF_C_TYPE_MESSAGE ||
                 f->label == PROTOBUF_C_LABEL_OPTIONAL || (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))) {
                pbjson__pop(c, old);
                continue;
            }
            if ((v = pbjson__value_out(c, f, (const char *)m + f->offset)) == NULL)
                goto fail;
        }
        pbjson__pop(c, old);
        if (json_object_set_new(obj, key, v) != 0)
            goto oom;
    }
    *out = obj;
    return 0;
oom:
    pbjson__fail(c, "out of memory");
fail:
    json_decref(obj);
    return -1;
}

int pbjson_to_json(const ProtobufCMessage *msg, unsigned flags, json_t **out, char *err,
                   size_t err_len)
{
    pbjson__ctx c;

    memset(&c, 0, sizeof c);
    c.flags = flags;
    c.err = err;
    c.err_len = err_len;
    *out = NULL;
    return pbjson__message_out(&c, msg, out);
}

/* ---- JSON -> protobuf ---- */

static const char *pbjson__type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* An integer from a JSON number or a decimal string, as signed or unsigned
 * 64 bits; range checks are the caller's. */
static int pbjson__integer_in(pbjson__ctx *c, const json_t *j, bool is_unsigned, int64_t *s,
                              uint64_t *u)
{
    if (json_is_integer(j)) {
        json_int_t v = json_integer_value(j);
        if (is_unsigned && v < 0)
            return pbjson__fail(c, "%lld is out of range", (long long)v);
        *s = v;
        *u = (uint64_t)v;
        return 0;
    }
    if (json_is_real(j)) {
        double d = json_real_value(j);
        if (d != floor(d) || d < -9.2233720368547758e18 || d >= 1.8446744073709552e19 ||
            (!is_unsigned && d >= 9.2233720368547758e18) || (is_unsigned && d < 0))
            return pbjson__fail(c, "%g is not an integer in range", d);
        if (is_unsigned)
            *u = (uint64_t)d, *s = 0;
        else
            *s = (int64_t)d, *u = 0;
        return 0;
    }
    if (json_is_string(j)) {
        const char *str = json_string_value(j);
        char *end;

        errno = 0;
        if (str[0] == '\0' || str[0] == ' ' || str[0] == '+' || (is_unsigned && str[0] == '-'))
            return pbjson__fail(c, "\"%.40s\" is not an integer", str);
        if (is_unsigned)
            *u = strtoull(str, &end, 10), *s = 0;
        else
            *s = strtoll(str, &end, 10), *u = 0;
        if (*end != '\0' || end == str)
            return pbjson__fail(c, "\"%.40s\" is not an integer", str);
        if (errno == ERANGE)
            return pbjson__fail(c, "%.40s is out of range", str);
        return 0;
    }
    return pbjson__fail(c, "wants an integer, not %s", pbjson__type_name(j));
}

static int pbjson__message_in(pbjson__ctx *c, const json_t *j, ProtobufCMessage *m);

/* A new, initialised message of desc. */
static ProtobufCMessage *pbjson__new(const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = malloc(desc->sizeof_message);

    if (m != NULL)
        protobuf_c_message_init(desc, m);
    return m;
}

static int pbjson__base64_in(pbjson__ctx *c, const char *s, ProtobufCBinaryData *out)
{
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING,
    };
    size_t len = strlen(s), cap = len / 4 * 3 + 3, n;
    unsigned char *buf;

    out->data = NULL;
    out->len = 0;
    if (len == 0)
        return 0;
    /* libsodium 1.0.18 reads bytes >= 0x80 as '/': refuse them, so that one
     * value has one encoding. */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return pbjson__fail(c, "not base64");
    if ((buf = malloc(cap)) == NULL)
        return pbjson__fail(c, "out of memory");
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        const char *end = NULL;
        if (sodium_base642bin(buf, cap, s, len, NULL, &n, &end, variants[i]) == 0 &&
            end == s + len) {
            out->data = buf;
            out->len = n;
            return 0;
        }
    }
    free(buf);
    return pbjson__fail(c, "not base64");
}

static int pbjson__scalar_in(pbjson__ctx *c, const ProtobufCFieldDescriptor *f, const json_t *j,
                             void *p)
{
    int64_t s = 0;
    uint64_t u = 0;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
        if (pbjson__integer_in(c, j, false, &s, &u) != 0)
            return -1;
        if (s < INT32_MIN || s > INT32_MAX)
            return pbjson__fail(c, "%" PRId64 " is out of range for a 32-bit integer", s);
        *(int32_t *)p = (int32_t)s;
        return 0;
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        if (pbjson__integer_in(c, j, true, &s, &u) != 0)
            return -1;
        if (u > UINT32_MAX)
            return pbjson__fail(c, "%" PRIu64 " is out of range for a 32-bit integer", u);
        *(uint32_t *)p = (uint32_t)u;
        return 0;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        if (pbjson__integer_in(c, j, false, &s, &u) != 0)
            return -1;
        *(int64_t *)p = s;
        return 0;
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        if (pbjson__integer_in(c, j, true, &s, &u) != 0)
            return -1;
        *(uint64_t *)p = u;
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d;
        if (json_is_number(j)) {
            d = json_number_value(j);
        } else if (json_is_string(j)) {
            const char *str = json_string_value(j);
            char *end;
            if (strcmp(str, "NaN") == 0)
                d = NAN;
            else if (strcmp(str, "Infinity") == 0)
                d = INFINITY;
            else if (strcmp(str, "-Infinity") == 0)
                d = -INFINITY;
            else {
                errno = 0;
                d = strtod(str, &end);
                if (str[0] == '\0' || *end != '\0' || errno == ERANGE || !isfinite(d))
                    return pbjson__fail(c, "\"%.40s\" is not a number", str);
            }
        } else {
            return pbjson__fail(c, "wants a number, not %s", pbjson__type_name(j));
        }
        if (f->type == PROTOBUF_C_TYPE_FLOAT) {
            if (isfinite(d) && (d > FLT_MAX || d < -FLT_MAX))
                return pbjson__fail(c, "%g is out of range for a float", d);
            *(float *)p = (float)d;
        } else {
            *(double *)p = d;
        }
        return 0;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(j))
            return pbjson__fail(c, "wants true or false, not %s", pbjson__type_name(j));
        *(protobuf_c_boolean *)p = json_is_true(j);
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        if (json_is_string(j)) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(j));
            if (ev == NULL)
                return pbjson__fail(c, "\"%.60s\" is not a value of %s", json_string_value(j),
                                    ed->name);
            *(int *)p = ev->value;
            return 0;
        }
        if (json_is_integer(j)) {
            json_int_t v = json_integer_value(j);
            if (v < INT32_MIN || v > INT32_MAX)
                return pbjson__fail(c, "%lld is out of range for an enum", (long long)v);
            *(int *)p = (int)v;
            return 0;
        }
        return pbjson__fail(c, "wants a name of %s, not %s", ed->name, pbjson__type_name(j));
    }
    case PROTOBUF_C_TYPE_STRING: {
        char *dup;
        if (!json_is_string(j))
            return pbjson__fail(c, "wants a string, not %s", pbjson__type_name(j));
        if (strlen(json_string_value(j)) != json_string_length(j))
            return pbjson__fail(c, "holds a NUL character");
        if ((dup = strdup(json_string_value(j))) == NULL)
            return pbjson__fail(c, "out of memory");
        *(char **)p = dup;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES:
        if (!json_is_string(j))
            return pbjson__fail(c, "wants a base64 string, not %s", pbjson__type_name(j));
        return pbjson__base64_in(c, json_string_value(j), p);
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *m = pbjson__new(f->descriptor);
        if (m == NULL)
            return pbjson__fail(c, "out of memory");
        *(ProtobufCMessage **)p = m; /* owned by the parent from here on */
        return pbjson__message_in(c, j, m);
    }
    }
    return pbjson__fail(c, "unknown field type %d", (int)f->type);
}

/* Two digits at s; -1 if not digits. */
static int pbjson__2d(const char *s)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static int pbjson__timestamp_in(pbjson__ctx *c, const json_t *j, ProtobufCMessage *m)
{
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *s, *p;
    int y, mo, d, h, mi, se, nanos = 0, off = 0;
    int64_t secs;

    if (!json_is_string(j))
        return pbjson__fail(c, "wants an RFC 3339 time string, not %s", pbjson__type_name(j));
    s = json_string_value(j);
    if (strlen(s) < 20 || pbjson__2d(s) < 0 || pbjson__2d(s + 2) < 0 || s[4] != '-' ||
        s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
        goto bad;
    y = pbjson__2d(s) * 100 + pbjson__2d(s + 2);
    mo = pbjson__2d(s + 5);
    d = pbjson__2d(s + 8);
    h = pbjson__2d(s + 11);
    mi = pbjson__2d(s + 14);
    se = pbjson__2d(s + 17);
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > (int)mdays[mo - 1] || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || se < 0 || se > 59)
        goto bad;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        goto bad;
    p = s + 19;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            if (digits >= 9)
                goto bad;
            nanos = nanos * 10 + (*p - '0');
        }
        if (digits == 0)
            goto bad;
        for (; digits < 9; digits++)
            nanos *= 10;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        off = 0;
    } else if ((*p == '+' || *p == '-') && pbjson__2d(p + 1) >= 0 && p[3] == ':' &&
               pbjson__2d(p + 4) >= 0 && p[6] == '\0' && pbjson__2d(p + 1) < 24 &&
               pbjson__2d(p + 4) < 60) {
        off = (pbjson__2d(p + 1) * 60 + pbjson__2d(p + 4)) * 60 * (*p == '-' ? -1 : 1);
    } else {
        goto bad;
    }
    secs = pbjson__days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
           se - off;
    if (secs < PBJSON_TS_MIN || secs > PBJSON_TS_MAX)
        return pbjson__fail(c, "\"%.40s\" is out of range", s);
    pbjson__set_i64(m, "seconds", secs);
    pbjson__set_i64(m, "nanos", nanos);
    return 0;
bad:
    return pbjson__fail(c, "\"%.40s\" is not an RFC 3339 time such as 2025-01-31T12:00:00Z", s);
}

static int pbjson__duration_in(pbjson__ctx *c, const json_t *j, ProtobufCMessage *m)
{
    const char *s, *p;
    bool neg = false;
    int64_t secs = 0;
    int nanos = 0, digits = 0;

    if (!json_is_string(j))
        return pbjson__fail(c, "wants a duration string such as \"1.5s\", not %s",
                            pbjson__type_name(j));
    s = p = json_string_value(j);
    if (*p == '-')
        neg = true, p++;
    if (*p < '0' || *p > '9')
        goto bad;
    for (; *p >= '0' && *p <= '9'; p++) {
        secs = secs * 10 + (*p - '0');
        if (secs > PBJSON_DUR_MAX)
            return pbjson__fail(c, "\"%.40s\" is out of range", s);
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            if (digits >= 9)
                goto bad;
            nanos = nanos * 10 + (*p - '0');
        }
        if (digits == 0)
            goto bad;
        for (; digits < 9; digits++)
            nanos *= 10;
    }
    if (strcmp(p, "s") != 0)
        goto bad;
    pbjson__set_i64(m, "seconds", neg ? -secs : secs);
    pbjson__set_i64(m, "nanos", neg ? -nanos : nanos);
    return 0;
bad:
    return pbjson__fail(c, "\"%.40s\" is not a duration such as \"1.5s\"", s);
}

static int pbjson__fieldmask_in(pbjson__ctx *c, const json_t *j, ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "paths");
    size_t *n = (size_t *)((char *)m + f->quantifier_offset);
    char ***paths = (char ***)((char *)m + f->offset);
    const char *s, *p;
    size_t count = 1;

    if (!json_is_string(j))
        return pbjson__fail(c, "wants comma-separated paths, not %s", pbjson__type_name(j));
    s = json_string_value(j);
    if (s[0] == '\0')
        return 0;
    for (p = s; *p != '\0'; p++)
        count += *p == ',';
    if ((*paths = calloc(count, sizeof **paths)) == NULL)
        return pbjson__fail(c, "out of memory");
    for (p = s; ; ) {
        size_t len = strcspn(p, ","), k = 0;
        char *path = malloc(2 * len + 1);

        if (path == NULL)
            return pbjson__fail(c, "out of memory");
        for (size_t i = 0; i < len; i++) {
            char ch = p[i];
            if (ch == '_') {
                free(path);
                return pbjson__fail(c, "field mask path \"%.*s\" is not lowerCamelCase",
                                    (int)len, p);
            }
            if (ch >= 'A' && ch <= 'Z') {
                path[k++] = '_';
                ch = (char)(ch - 'A' + 'a');
            }
            path[k++] = ch;
        }
        path[k] = '\0';
        (*paths)[(*n)++] = path;
        if (len == 0)
            return pbjson__fail(c, "empty path in field mask");
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    return 0;
}

static int pbjson__message_in(pbjson__ctx *c, const json_t *j, ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *key;
    json_t *v;
    unsigned char *seen;
    int rc = -1;

    if (pbjson__is(d, "google.protobuf.Timestamp"))
        return pbjson__timestamp_in(c, j, m);
    if (pbjson__is(d, "google.protobuf.Duration"))
        return pbjson__duration_in(c, j, m);
    if (pbjson__is(d, "google.protobuf.FieldMask"))
        return pbjson__fieldmask_in(c, j, m);
    if (pbjson__unsupported(d))
        return pbjson__fail(c, "%s has no JSON mapping here", d->name);
    if (!json_is_object(j))
        return pbjson__fail(c, "wants an object (%s), not %s", d->name, pbjson__type_name(j));
    if ((seen = calloc(d->n_fields + 1, 1)) == NULL)
        return pbjson__fail(c, "out of memory");
    json_object_foreach((json_t *)j, key, v) {
        const ProtobufCFieldDescriptor *f = pbjson_field_by_json_key(d, key);
        size_t old, idx;
        char *slot;

        if (f == NULL) {
            pbjson__fail(c, "unknown field \"%.60s\" (%s)", key, d->name);
            goto done;
        }
        idx = (size_t)(f - d->fields);
        old = pbjson__push(c, key, 0);
        if (seen[idx]) {
            pbjson__fail(c, "given twice");
            goto done;
        }
        seen[idx] = 1;
        slot = (char *)m + f->offset;
        if (json_is_null(v)) {
            pbjson__pop(c, old);
            continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t es = pbjson__elem_size(f->type), n = json_array_size(v);
            size_t *count = (size_t *)((char *)m + f->quantifier_offset);
            char *arr;

            if (!json_is_array(v)) {
                pbjson__fail(c, "wants an array, not %s", pbjson__type_name(v));
                goto done;
            }
            if (n == 0) {
                pbjson__pop(c, old);
                continue;
            }
            if ((arr = calloc(n, es)) == NULL) {
                pbjson__fail(c, "out of memory");
                goto done;
            }
            *(char **)slot = arr;
            for (size_t k = 0; k < n; k++) {
                json_t *e = json_array_get(v, k);
                size_t o2 = pbjson__push(c, NULL, (long)k);
                int r;

                if (json_is_null(e)) {
                    pbjson__fail(c, "null in an array");
                    goto done;
                }
                r = pbjson__scalar_in(c, f, e, arr + k * es);
                /* counted as soon as it holds something to free */
                if (r == 0 || f->type == PROTOBUF_C_TYPE_MESSAGE)
                    (*count)++;
                if (r != 0) {
                    /* a failed bytes/string element holds nothing */
                    goto done;
                }
                pbjson__pop(c, o2);
            }
        } else {
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                uint32_t *oneof_case = (uint32_t *)((char *)m + f->quantifier_offset);
                if (*oneof_case != 0 && *oneof_case != f->id) {
                    pbjson__fail(c, "another field of the same oneof is set");
                    goto done;
                }
            }
            if (pbjson__scalar_in(c, f, v, slot) != 0) {
                if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF && f->type == PROTOBUF_C_TYPE_MESSAGE)
                    *(uint32_t *)((char *)m + f->quantifier_offset) = f->id;
                goto done;
            }
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
                *(uint32_t *)((char *)m + f->quantifier_offset) = f->id;
            else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
                     f->type != PROTOBUF_C_TYPE_MESSAGE)
                *(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
        }
        pbjson__pop(c, old);
    }
    rc = 0;
done:
    free(seen);
    return rc;
}

int pbjson_from_json(const json_t *json, const ProtobufCMessageDescriptor *desc,
                     ProtobufCMessage **out, char *err, size_t err_len)
{
    pbjson__ctx c;
    ProtobufCMessage *m;

    memset(&c, 0, sizeof c);
    c.err = err;
    c.err_len = err_len;
    *out = NULL;
    if ((m = pbjson__new(desc)) == NULL)
        return pbjson__fail(&c, "out of memory");
    if (pbjson__message_in(&c, json, m) != 0) {
        protobuf_c_message_free_unpacked(m, NULL);
        return -1;
    }
    *out = m;
    return 0;
}

char *pbjson_dumps(const ProtobufCMessage *msg, unsigned flags, int indent, char *err,
                   size_t err_len)
{
    json_t *j;
    char *s;

    if (pbjson_to_json(msg, flags, &j, err, err_len) != 0)
        return NULL;
    s = json_dumps(j, (indent > 0 ? JSON_INDENT(indent) : JSON_COMPACT) | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (s == NULL && err != NULL && err_len > 0)
        snprintf(err, err_len, "out of memory");
    return s;
}

int pbjson_loads(const char *text, size_t len, const ProtobufCMessageDescriptor *desc,
                 ProtobufCMessage **out, char *err, size_t err_len)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    int rc;

    *out = NULL;
    if (j == NULL) {
        if (err != NULL && err_len > 0)
            snprintf(err, err_len, "malformed JSON at line %d, column %d: %s", je.line,
                     je.column, je.text);
        return -1;
    }
    rc = pbjson_from_json(j, desc, out, err, err_len);
    json_decref(j);
    return rc;
}
