/* api.c — the shared machinery of the domain handlers: caller, validation
 * with field violations, idempotent group-committed writes, etags, generic
 * field access over protobuf-c descriptors, and keyset-paged Lists. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api.h"
#include "audit.h"
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
    case STORE_NOMEM:
        return rpc_call_error(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory; retry later");
    case STORE_CORRUPT:
        return rpc_call_error(call, GRPC_STATUS_DATA_LOSS, "stored data failed to decode");
    default:
        return rpc_call_error(call, GRPC_STATUS_INTERNAL, "storage error");
    }
}

/* ---- Validation ---- */

int api_check_text(rpc_call *call, const char *field, const char *s, size_t max_chars,
                   unsigned flags)
{
    size_t off = 0;
    int rc = validate_text(s != NULL ? s : "", s != NULL ? strlen(s) : 0, max_chars, flags, &off);

    if (rc == VALIDATE_OK)
        return 1;
    if (rc == VALIDATE_ERR_TOO_LONG)
        api_violation(call, field, "longer than %zu characters", max_chars);
    else if (rc == VALIDATE_ERR_EMPTY)
        api_violation(call, field, "required");
    else
        api_violation(call, field, "%s at byte %zu", validate_strerror(rc), off);
    return 0;
}

int api_check_money(rpc_call *call, const api *a, const char *field, const Tallinn__V1__Money *m,
                    unsigned flags, int64_t *nanos)
{
    int rc;

    if (m == NULL) {
        api_violation(call, field, "required (an amount in %s)", a->currency);
        return 0;
    }
    rc = validate_money(m->currency_code, m->units, m->nanos, a->currency, flags, nanos);
    if (rc == VALIDATE_OK)
        return 1;
    if (rc == VALIDATE_ERR_CURRENCY)
        api_violation(call, field, "currency must be %s, the mechanism's accounting currency, not \"%s\"",
                      a->currency, m->currency_code != NULL ? m->currency_code : "");
    else
        api_violation(call, field, "%s", validate_strerror(rc));
    return 0;
}

int api_check_enum(rpc_call *call, const char *field, const ProtobufCEnumDescriptor *d, int v,
                   int required)
{
    if (v == 0 && required) {
        api_violation(call, field, "required: one of the %s values", d->short_name);
        return 0;
    }
    if (protobuf_c_enum_descriptor_get_value(d, v) == NULL) {
        api_violation(call, field, "%d is not a %s value", v, d->short_name);
        return 0;
    }
    return 1;
}

int api_check_request_id(rpc_call *call, const char *rid)
{
    if (rid == NULL || rid[0] == '\0')
        return 1;
    if (validate_uuid(rid, strlen(rid), NULL) != VALIDATE_OK) {
        api_violation(call, "request_id", "must be a UUID such as 3f2c1a9e-8b7d-4c6e-9f1a-2b3c4d5e6f70");
        return 0;
    }
    return 1;
}

int api_check_name(rpc_call *call, const char *field, const char *pattern, const char *name)
{
    char ids[4][VALIDATE_ID_BUF];

    if (name == NULL || name[0] == '\0') {
        api_violation(call, field, "required: a resource name like %s", pattern);
        return 0;
    }
    if (validate_name_parse(pattern, name, strlen(name), 0, ids, 4) != VALIDATE_OK) {
        api_violation(call, field, "\"%.80s\" is not a resource name like %s", name, pattern);
        return 0;
    }
    return 1;
}

int api_check_id(rpc_call *call, const char *field, const char *id)
{
    if (id == NULL || id[0] == '\0')
        return 1;
    if (validate_resource_id(id, strlen(id)) != VALIDATE_OK) {
        api_violation(call, field,
                      "must be 1-63 characters of a-z, 0-9 and '-', starting with a letter and "
                      "not ending with '-'");
        return 0;
    }
    return 1;
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

static const ProtobufCFieldDescriptor *field(const ProtobufCMessageDescriptor *d, const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(d, name);
}

const char *api_get_string(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f = field(m->descriptor, name);

    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    return *(const char *const *)((const char *)m + f->offset);
}

int api_set_string(ProtobufCMessage *m, const char *name, char *value)
{
    const ProtobufCFieldDescriptor *f = field(m->descriptor, name);

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

static size_t value_size(const ProtobufCFieldDescriptor *f)
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
    const ProtobufCFieldDescriptor *f = field(dst->descriptor, name);

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
    memcpy((char *)dst + f->offset, (const char *)src + f->offset, value_size(f));
    return 0;
}

grpc_status_code api_apply_mask(rpc_call *call, ProtobufCMessage *cur, const ProtobufCMessage *req,
                                const Google__Protobuf__FieldMask *mask,
                                const char *const *mutable_fields, const char *resource)
{
    char path[128];

    if (mask == NULL || mask->n_paths == 0) {
        for (const char *const *m = mutable_fields; *m != NULL; m++)
            api_copy_field(cur, req, *m);
        return GRPC_STATUS_OK;
    }
    for (size_t i = 0; i < mask->n_paths; i++) {
        const char *p = mask->paths[i];
        int ok = 0;
        for (const char *const *m = mutable_fields; *m != NULL && !ok; m++)
            ok = strcmp(*m, p) == 0;
        snprintf(path, sizeof(path), "update_mask.paths[%zu]", i);
        if (ok)
            api_copy_field(cur, req, p);
        else if (field(cur->descriptor, p) != NULL)
            api_violation(call, path, "%s.%s cannot be updated (output only or fixed at creation)",
                          resource, p);
        else
            api_violation(call, path, "%s has no field \"%.60s\"", resource, p);
    }
    return api_violations_status(call, "update_mask");
}

/* ---- Writes ---- */

typedef struct write_ctx {
    api_job job;
    api_job_fn fn;
    const char *rid;
    uint8_t hash[crypto_hash_sha256_BYTES]; /* of the request bytes as received */
    grpc_status_code code;                   /* the call's outcome */
} write_ctx;

static atomic_uint write_count;

/* The resource an audit record names: the result's, else the request's
 * (its name, or the resource it names inside, or its parent). */
static const char *audit_resource(const write_ctx *w, rpc_call *call)
{
    const ProtobufCMessage *m = w->job.resp != NULL ? w->job.resp : rpc_call_request(call);
    const char *r;

    for (int depth = 0; m != NULL && depth < 2; depth++) {
        const ProtobufCMessageDescriptor *d = m->descriptor;
        const ProtobufCMessage *inner = NULL;
        if ((r = api_get_string(m, "name")) != NULL && r[0] != '\0')
            return r;
        if ((r = api_get_string(m, "parent")) != NULL && r[0] != '\0')
            return r;
        /* CreateX/UpdateX requests and Create/Rotate responses wrap it */
        for (unsigned i = 0; i < d->n_fields && inner == NULL; i++)
            if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE &&
                d->fields[i].label != PROTOBUF_C_LABEL_REPEATED &&
                protobuf_c_message_descriptor_get_field_by_name(d->fields[i].descriptor, "name"))
                inner = *(ProtobufCMessage *const *)((const char *)m + d->fields[i].offset);
        m = inner;
    }
    return "";
}

static int write_job(store_tx *tx, void *p)
{
    write_ctx *w = p;
    rpc_call *call = w->job.call;
    const rpc_method_info *mi = rpc_call_method(call);
    const char *principal = w->job.caller->principal;
    grpc_status_code code;
    int rc;

    /* Remembered requests older than the replay window are dropped now and
     * then, inside an ordinary write. */
    if (atomic_fetch_add(&write_count, 1) % 1024 == 0)
        store_request_expire(tx, API_REQUEST_TTL_S);

    if (w->rid != NULL) {
        uint8_t h[crypto_hash_sha256_BYTES], *bytes;
        size_t len;
        rc = store_request_get(tx, principal, mi->path, w->rid, h, &bytes, &len);
        if (rc == STORE_OK) {
            int same = sodium_memcmp(h, w->hash, sizeof(h)) == 0;
            if (same)
                w->job.resp = protobuf_c_message_unpack(mi->method->output,
                                                        rpc_call_allocator(call), len, bytes);
            free(bytes);
            if (!same) {
                api_violation(call, "request_id", "already used for a different request");
                w->code = rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                                         "request_id %s was already used with a different "
                                         "request; use a new request_id for a new request", w->rid);
            } else {
                /* The first result; nothing changes, nothing new to record. */
                w->code = w->job.resp != NULL ? GRPC_STATUS_OK : api_store_error(call, STORE_CORRUPT);
            }
            return 0;
        }
        if (rc != STORE_NOT_FOUND) {
            w->code = api_store_error(call, rc);
            return 1;
        }
    }

    /* The change in a savepoint of its own: a refusal undoes it but keeps
     * the audit record of the attempt. */
    if ((rc = store_savepoint(tx)) != STORE_OK) {
        w->code = api_store_error(call, rc);
        return 1;
    }
    code = w->fn(tx, &w->job);
    if (code == GRPC_STATUS_OK && w->job.resp == NULL)
        code = rpc_call_error(call, GRPC_STATUS_INTERNAL, "the write produced no result");
    if (code == GRPC_STATUS_OK && w->rid != NULL) {
        size_t len = protobuf_c_message_get_packed_size(w->job.resp);
        uint8_t *buf = rpc_call_alloc(call, len ? len : 1);
        rc = buf == NULL ? STORE_NOMEM : STORE_OK;
        if (rc == STORE_OK) {
            protobuf_c_message_pack(w->job.resp, buf);
            rc = store_request_put(tx, principal, mi->path, w->rid, w->hash, buf, len);
        }
        if (rc != STORE_OK)
            code = api_store_error(call, rc);
    }
    if ((rc = store_savepoint_end(tx, code == GRPC_STATUS_OK)) != STORE_OK) {
        w->code = api_store_error(call, rc);
        return 1;
    }
    w->code = code;
    if (w->job.api->audit != NULL &&
        (code == GRPC_STATUS_OK || code == GRPC_STATUS_FAILED_PRECONDITION ||
         code == GRPC_STATUS_PERMISSION_DENIED)) {
        audit_entry e = {
            .principal = principal,
            .role = (int)w->job.caller->role,
            .method = mi->path,
            .resource = audit_resource(w, call),
            .request_id = w->rid,
            .request_sha256 = w->hash,
            .status = (int)code,
            .etag = code == GRPC_STATUS_OK ? api_get_string(w->job.resp, "etag") : NULL,
        };
        if ((rc = audit_append(w->job.api->audit, tx, &e)) != STORE_OK) {
            w->code = api_store_error(call, rc); /* no record, no change */
            return 1;
        }
    }
    return 0;
}

grpc_status_code api_write(rpc_call *call, api *a, const char *request_id, api_job_fn fn, void *arg,
                           ProtobufCMessage **resp)
{
    write_ctx w;
    size_t len;
    const uint8_t *data = rpc_call_request_data(call, &len);
    char canon[VALIDATE_UUID_LEN + 1];
    int job_rc, rc;

    memset(&w, 0, sizeof(w));
    w.job.call = call;
    w.job.api = a;
    w.job.caller = api_caller_of(call);
    w.job.arg = arg;
    w.fn = fn;
    crypto_hash_sha256(w.hash, data != NULL ? data : (const uint8_t *)"", len);
    if (request_id != NULL && request_id[0] != '\0') {
        if (validate_uuid(request_id, strlen(request_id), canon) != VALIDATE_OK) {
            api_violation(call, "request_id", "must be a UUID such as 3f2c1a9e-8b7d-4c6e-9f1a-2b3c4d5e6f70");
            return api_violations_status(call, "request");
        }
        w.rid = rpc_call_strdup(call, canon);
    }
    rc = store_write(a->store, write_job, &w, &job_rc);
    if (rc != STORE_OK)
        return api_store_error(call, rc);
    if (w.code != GRPC_STATUS_OK)
        return w.code;
    *resp = w.job.resp;
    return GRPC_STATUS_OK;
}

grpc_status_code api_audit_reads(rpc_call *call, api *a, const char *const *names, size_t n)
{
    const api_caller *caller = api_caller_of(call);
    size_t len;
    const uint8_t *data = rpc_call_request_data(call, &len);
    uint8_t *hash = rpc_call_alloc(call, crypto_hash_sha256_BYTES);
    audit_entry *e = rpc_call_alloc(call, (n + 1) * sizeof(*e));
    int rc;

    if (a->audit == NULL || n == 0)
        return GRPC_STATUS_OK;
    if (hash == NULL || e == NULL)
        return api_store_error(call, STORE_NOMEM);
    crypto_hash_sha256(hash, data != NULL ? data : (const uint8_t *)"", len);
    for (size_t i = 0; i < n; i++) {
        e[i].principal = caller->principal;
        e[i].role = (int)caller->role;
        e[i].method = rpc_call_path(call);
        e[i].resource = names[i];
        e[i].request_sha256 = hash;
        e[i].status = GRPC_STATUS_OK;
    }
    /* One job for the whole page; no record of the reads, no reads. */
    rc = audit_record(a->audit, e, n);
    return rc == STORE_OK ? GRPC_STATUS_OK : api_store_error(call, rc);
}

/* Sets a singular message field by name. */
static void set_message(ProtobufCMessage *m, const char *name, ProtobufCMessage *value)
{
    const ProtobufCFieldDescriptor *f = field(m->descriptor, name);

    if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED)
        *(ProtobufCMessage **)((char *)m + f->offset) = value;
}

grpc_status_code api_save(store_tx *tx, api_job *job, store_kind kind, ProtobufCMessage *m,
                          int insert)
{
    Google__Protobuf__Timestamp *now = api_now(job->call);
    int rc;

    if (now == NULL)
        return api_store_error(job->call, STORE_NOMEM);
    set_message(m, "update_time", &now->base);
    if (insert)
        set_message(m, "create_time", &now->base);
    api_set_etag(job->call, m);
    rc = insert ? store_insert(tx, kind, m) : store_update(tx, kind, m);
    if (rc == STORE_EXISTS)
        return rpc_call_error(job->call, GRPC_STATUS_ALREADY_EXISTS, "%s already exists",
                              api_get_string(m, "name"));
    if (rc != STORE_OK)
        return api_store_error(job->call, rc);
    job->resp = m;
    return GRPC_STATUS_OK;
}

grpc_status_code api_not_found(rpc_call *call, const char *name)
{
    return rpc_call_error(call, GRPC_STATUS_NOT_FOUND, "%s not found", name);
}

grpc_status_code api_load(store_tx *tx, rpc_call *call, store_kind kind, const char *name,
                          ProtobufCMessage **out)
{
    int rc = api_get(tx, call, kind, name, out);

    if (rc == STORE_NOT_FOUND)
        return api_not_found(call, name);
    return rc == STORE_OK ? GRPC_STATUS_OK : api_store_error(call, rc);
}

int api_get(store_tx *tx, rpc_call *call, store_kind kind, const char *name, ProtobufCMessage **out)
{
    return store_get(tx, kind, name, rpc_call_allocator(call), out);
}

/* ---- Workflow transitions ---- */

grpc_status_code api_transition_request(rpc_call *call, const ProtobufCMessage *req,
                                        const api_transition *table, size_t n,
                                        const char *pattern, int require_reason,
                                        api_transition_req *out)
{
    const char *method = rpc_call_method(call)->method->name;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n && out->t == NULL; i++)
        if (strcmp(table[i].method, method) == 0)
            out->t = &table[i];
    if (out->t == NULL)
        return rpc_call_error(call, GRPC_STATUS_UNIMPLEMENTED, "%s is not a transition", method);
    out->name = api_get_string(req, "name");
    out->etag = api_get_string(req, "etag");
    out->reason = api_get_string(req, "reason");
    out->request_id = api_get_string(req, "request_id");
    api_check_name(call, "name", pattern, out->name);
    if (out->t->needs_reason || require_reason)
        api_check_text(call, "reason", out->reason, VALIDATE_REASON_MAX,
                       VALIDATE_TEXT_REQUIRED | VALIDATE_TEXT_MULTILINE);
    else if (out->reason != NULL)
        api_check_text(call, "reason", out->reason, VALIDATE_REASON_MAX, VALIDATE_TEXT_MULTILINE);
    api_check_request_id(call, out->request_id);
    return api_violations_status(call, "request");
}

/* ---- Lists ---- */

/* A row's value of a schema field, read from the message (the same values
 * the store keeps in the field's column). */
static int row_value(void *ctx, const filter_field *ff, filter_value *out)
{
    const ProtobufCMessage *m = ctx;
    const ProtobufCFieldDescriptor *f = field(m->descriptor, ff->name);
    const char *p;

    memset(out, 0, sizeof(*out));
    out->type = ff->type;
    if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED)
        return -1;
    p = (const char *)m + f->offset;
    switch (ff->type) {
    case FILTER_STRING: {
        const char *s = *(const char *const *)p;
        out->s = s != NULL ? s : "";
        out->len = strlen(out->s);
        return 0;
    }
    case FILTER_ENUM:
    case FILTER_INT:
        if (value_size(f) == 8)
            out->i = *(const int64_t *)p;
        else
            out->i = *(const int32_t *)p;
        return 0;
    case FILTER_BOOL:
        out->i = *(const protobuf_c_boolean *)p ? 1 : 0;
        return 0;
    case FILTER_MONEY:
        out->i = api_nanos(*(const Tallinn__V1__Money *const *)p);
        return 0;
    case FILTER_TIMESTAMP: {
        const Google__Protobuf__Timestamp *t = *(const Google__Protobuf__Timestamp *const *)p;
        out->i = t != NULL ? t->seconds * 1000000000 + t->nanos : 0;
        return 0;
    }
    case FILTER_DATE: {
        const Tallinn__V1__Date *d = *(const Tallinn__V1__Date *const *)p;
        out->i = d != NULL ? (int64_t)d->year * 10000 + d->month * 100 + d->day : 0;
        return 0;
    }
    }
    return -1;
}

typedef struct list_rows {
    ProtobufCMessage **rows;
    size_t n, cap;
} list_rows;

static int collect(ProtobufCMessage *m, void *ctx)
{
    list_rows *r = ctx;
    if (r->n < r->cap)
        r->rows[r->n++] = m;
    return r->n == r->cap;
}

static void to_store_value(rpc_call *call, const pagetoken_value *pv, store_value *sv)
{
    if (pv->kind == PAGETOKEN_INT) {
        sv->type = STORE_V_INT;
        sv->i = pv->i;
    } else {
        char *t = rpc_call_alloc(call, pv->len + 1);
        if (t != NULL && pv->len > 0)
            memcpy(t, pv->bytes, pv->len);
        sv->type = STORE_V_TEXT;
        sv->text = t != NULL ? t : "";
    }
}

static void to_token_value(const filter_value *fv, pagetoken_value *pv)
{
    memset(pv, 0, sizeof(*pv));
    if (fv->type == FILTER_STRING) {
        pv->kind = PAGETOKEN_BYTES;
        pv->bytes = (const uint8_t *)fv->s;
        pv->len = fv->len;
    } else {
        pv->kind = PAGETOKEN_INT;
        pv->i = fv->i;
    }
}

static int hidden(const api_list_req *req, const char *field)
{
    for (const char *const *h = req->hidden_fields; h != NULL && *h != NULL; h++)
        if (strcmp(*h, field) == 0)
            return 1;
    return 0;
}

/* The first field of the filter the caller may not use, or NULL. */
static const char *hidden_in(const api_list_req *req, const filter_node *n)
{
    const char *f;

    if (n == NULL)
        return NULL;
    if (n->kind == FILTER_NODE_CMP)
        return hidden(req, n->field->name) ? n->field->name : NULL;
    for (size_t i = 0; i < n->nchildren; i++)
        if ((f = hidden_in(req, n->children[i])) != NULL)
            return f;
    return NULL;
}

grpc_status_code api_list(rpc_call *call, api *a, const api_list_req *req,
                          ProtobufCMessage ***rows_out, size_t *n_out, char **next_token)
{
    const char *scope_sql = store_scope_sql(req->kind, req->scope);
    const char *bad;
    const filter_schema *schema = store_filter_schema(req->kind);
    const api_caller *caller = api_caller_of(call);
    filter *f = NULL;
    filter_sql fsql = {0};
    filter_order order;
    filter_error ferr;
    pagetoken tok;
    uint8_t binding[PAGETOKEN_BINDINGBYTES];
    char ocanon[FILTER_ORDER_MAX_LEN * 2], osql[1024], seek[4096];
    size_t key_index[FILTER_ORDER_SEEK_MAX_BINDS], n_seek = 0;
    char *where;
    store_value *binds;
    size_t n_binds = 0, where_len;
    int32_t size = req->page_size;
    int have_token = req->page_token != NULL && req->page_token[0] != '\0';
    list_rows r = {0};
    store_query q;
    store_tx *tx;
    grpc_status_code code = GRPC_STATUS_OK;
    int rc;

    *rows_out = NULL;
    *n_out = 0;
    *next_token = (char *)"";
    if (schema == NULL)
        return api_store_error(call, STORE_NOMEM);
    if (size < 0) {
        api_violation(call, "page_size", "must not be negative (0 means %d, at most %d)",
                      API_PAGE_DEFAULT, API_PAGE_MAX);
        return api_violations_status(call, "request");
    }
    if (size == 0)
        size = API_PAGE_DEFAULT;
    if (size > API_PAGE_MAX)
        size = API_PAGE_MAX;

    rc = filter_parse(schema, req->filter ? req->filter : "", req->filter ? strlen(req->filter) : 0,
                      &f, &ferr);
    if (rc != FILTER_OK) {
        if (rc != FILTER_ERR_INVALID)
            return api_store_error(call, STORE_NOMEM);
        api_violation(call, "filter", "%s", ferr.message);
        return rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", ferr.message);
    }
    /* Without order_by, lists come in creation order (the contract says so). */
    {
        const char *ob = req->order_by != NULL && req->order_by[0] != '\0' ? req->order_by
                                                                            : "create_time";
        rc = filter_order_parse(schema, ob, strlen(ob), &order, &ferr);
    }
    if (rc != FILTER_OK) {
        api_violation(call, "order_by", "%s", ferr.message);
        code = rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", ferr.message);
        goto done;
    }
    bad = hidden_in(req, filter_root(f));
    for (size_t k = 0; bad == NULL && k < order.count; k++)
        if (hidden(req, order.keys[k].field->name))
            bad = order.keys[k].field->name;
    if (bad != NULL) {
        api_violation(call, "filter", "%s is not available to your role", bad);
        code = rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                              "%s is not available to your role: filter and order on other fields",
                              bad);
        goto done;
    }
    if (filter_order_canonical(&order, ocanon, sizeof(ocanon)) != FILTER_OK ||
        filter_order_to_sql(&order, osql, sizeof(osql)) != FILTER_OK ||
        filter_canonical(f) == NULL ||
        pagetoken_bind(req->collection, req->parent, filter_canonical(f), ocanon,
                       caller->principal, binding) != PAGETOKEN_OK) {
        code = rpc_call_error(call, GRPC_STATUS_INTERNAL, "cannot prepare the list");
        goto done;
    }
    if (have_token) {
        rc = pagetoken_decode(req->page_token, strlen(req->page_token), a->page_key, binding,
                              (int64_t)time(NULL), PAGETOKEN_DEFAULT_MAX_AGE, &tok);
        if (rc != PAGETOKEN_OK) {
            const char *why = rc == PAGETOKEN_ERR_WRONG_BINDING
                                  ? "page_token belongs to a different filter, order_by, parent "
                                    "or caller; send the same request as for the first page"
                                  : rc == PAGETOKEN_ERR_EXPIRED
                                        ? "page_token has expired; start again without it"
                                        : "page_token is not one this server issued";
            api_violation(call, "page_token", "%s", why);
            code = rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
            goto done;
        }
        if (tok.nkeys != order.count ||
            filter_order_seek_sql(&order, seek, sizeof(seek), key_index, FILTER_ORDER_SEEK_MAX_BINDS,
                                  &n_seek) != FILTER_OK) {
            code = rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "page_token does not fit the order_by");
            goto done;
        }
    }
    if (filter_to_sql(f, &fsql) != FILTER_OK) {
        code = api_store_error(call, STORE_NOMEM);
        goto done;
    }

    where_len = strlen(fsql.text) + (scope_sql ? strlen(scope_sql) : 0) +
                (have_token ? strlen(seek) : 0) + 32;
    where = rpc_call_alloc(call, where_len);
    binds = rpc_call_alloc(call, (fsql.nbinds + req->n_scope_binds + n_seek + 1) * sizeof(*binds));
    if (where == NULL || binds == NULL) {
        code = api_store_error(call, STORE_NOMEM);
        goto done;
    }
    snprintf(where, where_len, "(%s)%s%s%s%s%s", fsql.text, scope_sql ? " AND (" : "",
             scope_sql ? scope_sql : "", scope_sql ? ")" : "",
             have_token ? " AND " : "", have_token ? seek : "");
    for (size_t i = 0; i < fsql.nbinds; i++) {
        if (fsql.binds[i].type == FILTER_STRING) {
            binds[n_binds].type = STORE_V_TEXT;
            binds[n_binds].text = fsql.binds[i].s;
        } else {
            binds[n_binds].type = STORE_V_INT;
            binds[n_binds].i = fsql.binds[i].i;
        }
        n_binds++;
    }
    for (size_t i = 0; i < req->n_scope_binds; i++)
        binds[n_binds++] = req->scope_binds[i];
    for (size_t i = 0; i < n_seek; i++) {
        size_t k = key_index[i];
        to_store_value(call, k < order.count ? &tok.keys[k] : &tok.last_id, &binds[n_binds++]);
    }

    r.cap = (size_t)size + 1; /* one more tells whether a next page exists */
    r.rows = rpc_call_alloc(call, r.cap * sizeof(*r.rows));
    if (r.rows == NULL) {
        code = api_store_error(call, STORE_NOMEM);
        goto done;
    }
    memset(&q, 0, sizeof(q));
    q.where = where;
    q.binds = binds;
    q.n_binds = n_binds;
    q.order = osql;
    q.limit = (int)r.cap;
    q.alloc = rpc_call_allocator(call);
    if ((rc = store_read_begin(a->store, &tx)) != STORE_OK) {
        code = api_store_error(call, rc);
        goto done;
    }
    rc = store_list(tx, req->kind, &q, collect, &r);
    store_read_end(tx);
    if (rc != STORE_OK) {
        code = api_store_error(call, rc);
        goto done;
    }
    if (r.n > (size_t)size) {
        ProtobufCMessage *last = r.rows[size - 1];
        filter_value fv;
        char *out = rpc_call_alloc(call, PAGETOKEN_MAX_LEN + 1);

        memset(&tok, 0, sizeof(tok));
        memcpy(tok.binding, binding, sizeof(binding));
        tok.issue_time = (int64_t)time(NULL);
        tok.nkeys = order.count;
        for (size_t k = 0; k < order.count; k++) {
            if (row_value(last, order.keys[k].field, &fv) != 0) {
                code = rpc_call_error(call, GRPC_STATUS_INTERNAL, "cannot page on %s",
                                      order.keys[k].field->name);
                goto done;
            }
            to_token_value(&fv, &tok.keys[k]);
        }
        fv.type = FILTER_STRING;
        fv.s = api_get_string(last, "name");
        fv.len = fv.s != NULL ? strlen(fv.s) : 0;
        to_token_value(&fv, &tok.last_id);
        if (out == NULL || pagetoken_encode(&tok, a->page_key, out, PAGETOKEN_MAX_LEN + 1, NULL) !=
                               PAGETOKEN_OK) {
            code = rpc_call_error(call, GRPC_STATUS_INTERNAL, "cannot issue a page token");
            goto done;
        }
        *next_token = out;
        r.n = (size_t)size;
    }
    *rows_out = r.rows;
    *n_out = r.n;
done:
    filter_sql_free(&fsql);
    filter_destroy(f);
    return code;
}

grpc_status_code api_list_response(rpc_call *call, api *a, const api_list_req *req,
                                   const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp)
{
    ProtobufCMessage *out = rpc_call_alloc(call, desc->sizeof_message);
    const ProtobufCFieldDescriptor *rows_f = NULL;
    ProtobufCMessage **rows;
    char *token;
    size_t n;
    grpc_status_code code;

    if (out == NULL)
        return api_store_error(call, STORE_NOMEM);
    protobuf_c_message_init(desc, out);
    for (unsigned i = 0; i < desc->n_fields && rows_f == NULL; i++)
        if (desc->fields[i].label == PROTOBUF_C_LABEL_REPEATED &&
            desc->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
            rows_f = &desc->fields[i];
    if (rows_f == NULL || api_set_string(out, "next_page_token", (char *)"") != 0)
        return rpc_call_error(call, GRPC_STATUS_INTERNAL, "%s is not a List response", desc->name);
    if ((code = api_list(call, a, req, &rows, &n, &token)) != GRPC_STATUS_OK)
        return code;
    *(size_t *)((char *)out + rows_f->quantifier_offset) = n;
    *(ProtobufCMessage ***)((char *)out + rows_f->offset) = rows;
    api_set_string(out, "next_page_token", token);
    *resp = out;
    return GRPC_STATUS_OK;
}
