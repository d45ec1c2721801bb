/* api.c — what every handler shares: the caller, errors with field
 * violations, new ids and names, money and time values, generic field access
 * over protobuf-c descriptors, and etags. Validation is in api_check.c, writes
 * in api_write.c, Lists in api_list.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api.h"
#include "ledger/ledger.h"
#include "tallinn/validate.h"

/* ---- Caller ---- */

static const api_caller nobody = {"principals/-", API_ROLE_NONE, NULL};

const api_caller *api_caller_of(rpc_call *call)
{
    const api_caller *c = rpc_call_principal_data(call);
    return c != NULL ? c : &nobody;
}

/* ---- Errors ---- */

void api_violation(rpc_call *call, const char *field, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    rpc_call_add_field_violation(call, field, buf);
}

grpc_status_code api_violations_status(rpc_call *call, const char *what)
{
    size_t n = rpc_call_field_violation_count(call);

    if (n == 0)
        return GRPC_STATUS_OK;
    return rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                          "invalid %s: %zu field violation%s (see BadRequest details)", what, n,
                          n == 1 ? "" : "s");
}

int api_inline_read(rpc_server *srv, const api *a, const char *path)
{
    if (strcmp(store_engine_name(a->store), "sqlite") != 0)
        return 0;
    return rpc_server_set_method_flags(srv, path, RPC_METHOD_INLINE);
}

grpc_status_code api_store_error(rpc_call *call, int rc)
{
    switch (rc) {
    case STORE_NOT_FOUND:
        return rpc_call_error(call, GRPC_STATUS_NOT_FOUND, "not found");
    case STORE_FULL:
        return rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                              "storage is full: the write was not made; retry when space is freed");
    case STORE_READONLY:
        return rpc_call_error(call, GRPC_STATUS_UNAVAILABLE,
                              "the data directory is read-only: writes are refused until it is "
                              "writable again; reads go on");
    case STORE_IO:
    case STORE_BUSY:
    case STORE_SHUTDOWN:
        return rpc_call_error(call, GRPC_STATUS_UNAVAILABLE, "%s: the write was not made; retry later",
                              store_strerror(rc));
    case STORE_INDOUBT:
        return rpc_call_error(call, GRPC_STATUS_UNAVAILABLE,
                              "the database connection was lost while committing: the write may "
                              "or may not have been made; retry with the same request_id (it "
                              "answers the first result if it was made)");
    case STORE_NOMEM:
        return rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory; retry later");
    case STORE_CORRUPT:
        return rpc_call_error(call, GRPC_STATUS_DATA_LOSS, "stored data failed to decode");
    default:
        return rpc_call_error(call, GRPC_STATUS_INTERNAL, "storage error");
    }
}

grpc_status_code api_ledger_error(rpc_call *call, int rc, grpc_status_code code, const char *what)
{
    char max[LEDGER_FORMAT_MAX];

    if (rc != LEDGER_ERR_RANGE)
        return api_store_error(call, rc);
    ledger_format(LEDGER_MONEY_MAX, NULL, max, sizeof(max));
    rpc_call_set_error_info(call, "AMOUNT_LIMIT", "tallinn.v1");
    return rpc_call_error(call, code, "%s would exceed %s units, the most an amount can hold",
                          what, max);
}

/* ---- Messages ---- */

void api_new_id(char out[16])
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint8_t r[12];

    randombytes_buf(r, sizeof(r));
    out[0] = alphabet[r[0] % 26];
    for (int i = 1; i < 12; i++)
        out[i] = alphabet[r[i] % 36]; /* 256 % 36 bias is irrelevant for ids */
    out[12] = '\0';
    sodium_memzero(r, sizeof(r));
}

char *api_name(rpc_call *call, const char *prefix, const char *id)
{
    size_t n = strlen(prefix) + strlen(id) + 2;
    char *s = rpc_call_alloc(call, n);

    if (s != NULL)
        snprintf(s, n, "%s/%s", prefix, id);
    return s;
}

Google__Protobuf__Timestamp *api_now(rpc_call *call)
{
    Google__Protobuf__Timestamp *t = rpc_call_alloc(call, sizeof(*t));
    struct timespec ts;

    if (t == NULL)
        return NULL;
    google__protobuf__timestamp__init(t);
    clock_gettime(CLOCK_REALTIME, &ts);
    t->seconds = ts.tv_sec;
    t->nanos = (int32_t)ts.tv_nsec;
    return t;
}

Tallinn__V1__Money *api_money(rpc_call *call, const api *a, int64_t nanos)
{
    Tallinn__V1__Money *m = rpc_call_alloc(call, sizeof(*m));

    if (m == NULL)
        return NULL;
    tallinn__v1__money__init(m);
    m->currency_code = (char *)a->currency;
    validate_money_from_nanos(nanos, &m->units, &m->nanos);
    return m;
}

int64_t api_nanos(const Tallinn__V1__Money *m)
{
    int64_t v = 0;

    if (m != NULL && validate_money_to_nanos(m->units, m->nanos, &v) != VALIDATE_OK)
        v = 0;
    return v;
}

const ProtobufCFieldDescriptor *api_field(const ProtobufCMessageDescriptor *d, const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(d, name);
}

const char *api_get_string(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f = api_field(m->descriptor, name);

    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    return *(const char *const *)((const char *)m + f->offset);
}

int api_set_string(ProtobufCMessage *m, const char *name, char *value)
{
    const ProtobufCFieldDescriptor *f = api_field(m->descriptor, name);

    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
        return -1;
    *(char **)((char *)m + f->offset) = value;
    return 0;
}

void api_set_etag(rpc_call *call, ProtobufCMessage *msg)
{
    uint8_t h[8];
    char *hex = rpc_call_alloc(call, sizeof(h) * 2 + 1);
    size_t len;
    uint8_t *buf;

    if (hex == NULL)
        return;
    api_set_string(msg, "etag", (char *)protobuf_c_empty_string);
    len = protobuf_c_message_get_packed_size(msg);
    buf = rpc_call_alloc(call, len ? len : 1);
    if (buf == NULL)
        return;
    protobuf_c_message_pack(msg, buf);
    crypto_generichash(h, sizeof(h), buf, len, NULL, 0);
    sodium_bin2hex(hex, sizeof(h) * 2 + 1, h, sizeof(h));
    api_set_string(msg, "etag", hex);
}

grpc_status_code api_check_etag(rpc_call *call, const ProtobufCMessage *current, const char *etag)
{
    const char *have = api_get_string(current, "etag");

    if (etag == NULL || etag[0] == '\0')
        return GRPC_STATUS_OK;
    if (have == NULL || strcmp(have, etag) != 0) {
        rpc_call_set_error_info(call, "ETAG_MISMATCH", "tallinn.v1");
        return rpc_call_error(call, GRPC_STATUS_ABORTED,
                              "%s was changed by someone else (etag %s, you sent %.40s): read it "
                              "again and retry",
                              api_get_string(current, "name"), have != NULL ? have : "", etag);
    }
    return GRPC_STATUS_OK;
}

size_t api_field_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    }
    return 0;
}

int api_copy_field(ProtobufCMessage *dst, const ProtobufCMessage *src, const char *name)
{
    const ProtobufCFieldDescriptor *f = api_field(dst->descriptor, name);

    if (f == NULL || dst->descriptor != src->descriptor)
        return -1;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        memcpy((char *)dst + f->quantifier_offset, (const char *)src + f->quantifier_offset,
               sizeof(size_t));
        memcpy((char *)dst + f->offset, (const char *)src + f->offset, sizeof(void *));
        return 0;
    }
    if (f->quantifier_offset != 0 && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0)
        memcpy((char *)dst + f->quantifier_offset, (const char *)src + f->quantifier_offset,
               sizeof(protobuf_c_boolean));
    memcpy((char *)dst + f->offset, (const char *)src + f->offset, api_field_size(f));
    return 0;
}
