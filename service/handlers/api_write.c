/* api_write.c — idempotent, group-committed write jobs with their audit
 * records, RESTRICTED reads recorded, and saving and loading resources. */
#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "audit/audit.h"
#include "tallinn/validate.h"

/* ---- Writes ---- */

typedef struct write_ctx {
    api_job job;
    api_job_fn fn;
    const char *rid;
    uint8_t hash[crypto_hash_sha256_BYTES]; /* of the request bytes as received */
    uint8_t same_as[crypto_hash_sha256_BYTES]; /* what a request_id replay must match */
    grpc_status_code code;                   /* the call's outcome */
} write_ctx;

static atomic_uint write_count;

/* The resource an audit record names, from the result or, for a refusal,
 * the request: its name, or the resource it names inside, or its parent. As
 * sent: audit_record_pack bounds it. */
static const char *audit_resource(const ProtobufCMessage *m)
{
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

/* The response's encoding: api_save's when the response is the message it
 * stored, else packed here. */
static int response_bytes(write_ctx *w, const uint8_t **out, size_t *len)
{
    uint8_t *buf;

    if (w->job.packed != NULL && w->job.packed_of == w->job.resp) {
        *out = w->job.packed;
        *len = w->job.packed_len;
        return STORE_OK;
    }
    *len = protobuf_c_message_get_packed_size(w->job.resp);
    if ((buf = rpc_call_alloc(w->job.call, *len ? *len : 1)) == NULL)
        return STORE_NOMEM;
    protobuf_c_message_pack(w->job.resp, buf);
    *out = buf;
    return STORE_OK;
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
            int same = sodium_memcmp(h, w->same_as, sizeof(h)) == 0;
            if (same)
                w->job.resp = protobuf_c_message_unpack(mi->method->output,
                                                        rpc_call_allocator(call), len, bytes);
            free(bytes);
            if (!same) {
                api_violation(call, "request_id", "already used for a different request");
                w->code = rpc_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                                         "request_id %s was already used with a different "
                                         "request; use a new request_id for a new request "
                                         "(tallinnctl: another --request-id, or none)", w->rid);
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

    /* The change in a savepoint of its own: a refusal undoes it and nothing
     * else of the batch (its record follows, api_audit_refusal). */
    if ((rc = store_savepoint(tx)) != STORE_OK) {
        w->code = api_store_error(call, rc);
        return 1;
    }
    code = w->fn(tx, &w->job);
    if (code == GRPC_STATUS_OK && w->job.resp == NULL)
        code = rpc_call_error(call, GRPC_STATUS_INTERNAL, "the write produced no result");
    if (code == GRPC_STATUS_OK && w->rid != NULL) {
        const uint8_t *buf = NULL;
        size_t len = 0;
        rc = response_bytes(w, &buf, &len);
        if (rc == STORE_OK)
            rc = store_request_put(tx, principal, mi->path, w->rid, w->same_as, buf, len);
        if (rc != STORE_OK)
            code = api_store_error(call, rc);
    }
    if ((rc = store_savepoint_end(tx, code == GRPC_STATUS_OK)) != STORE_OK) {
        w->code = api_store_error(call, rc);
        return 1;
    }
    w->code = code;
    /* A change is recorded in its own transaction; a refusal is recorded by
     * api_audit_refusal, which every refused write passes (authz.c). */
    if (w->job.api->audit != NULL && code == GRPC_STATUS_OK) {
        audit_entry e = {
            .principal = principal,
            .role = (int)w->job.caller->role,
            .method = mi->path,
            .resource = audit_resource(w->job.resp),
            .request_id = w->rid,
            .request_sha256 = w->hash,
            .status = (int)code,
            .etag = api_get_string(w->job.resp, "etag"),
            .evidence_sha256 = w->job.evidence_sha256,
            .evidence_documents = w->job.evidence_documents,
        };
        if ((rc = audit_append(w->job.api->audit, tx, &e)) != STORE_OK) {
            w->code = api_store_error(call, rc); /* no record, no change */
            return 1;
        }
    }
    return 0;
}

/* The identity of a request for request_id replays: the request as decoded,
 * packed again with its request_id in canonical (lower-case) form, so that
 * ids that compare equal (docs/api-conventions.md) name the same request
 * however the client spelt them, and two encodings of one request agree. A
 * shallow copy: packing only reads. */
static int replay_key(rpc_call *call, const char *canon, uint8_t out[crypto_hash_sha256_BYTES])
{
    const ProtobufCMessage *req = rpc_call_request(call);
    ProtobufCMessage *copy;
    uint8_t *buf;
    size_t len;

    if (req == NULL || (copy = rpc_call_alloc(call, req->descriptor->sizeof_message)) == NULL)
        return -1;
    memcpy(copy, req, req->descriptor->sizeof_message);
    if (api_set_string(copy, "request_id", (char *)canon) != 0)
        return -1;
    len = protobuf_c_message_get_packed_size(copy);
    if ((buf = rpc_call_alloc(call, len ? len : 1)) == NULL)
        return -1;
    protobuf_c_message_pack(copy, buf);
    crypto_hash_sha256(out, buf, len);
    return 0;
}

/* Fills w for a write of fn(arg): the request's hash, its request_id (checked,
 * canonical) and replay key — everything that needs no write lock, done
 * before the job is queued. */
static grpc_status_code write_prepare(write_ctx *w, rpc_call *call, api *a, const char *request_id,
                                      api_job_fn fn, void *arg)
{
    size_t len;
    const uint8_t *data = rpc_call_request_data(call, &len);
    char canon[VALIDATE_UUID_LEN + 1];

    memset(w, 0, sizeof(*w));
    w->job.call = call;
    w->job.api = a;
    w->job.caller = api_caller_of(call);
    w->job.arg = arg;
    w->fn = fn;
    crypto_hash_sha256(w->hash, data != NULL ? data : (const uint8_t *)"", len);
    if (request_id != NULL && request_id[0] != '\0') {
        if (validate_uuid(request_id, strlen(request_id), canon) != VALIDATE_OK) {
            api_violation(call, "request_id", "must be a UUID such as 3f2c1a9e-8b7d-4c6e-9f1a-2b3c4d5e6f70");
            return api_violations_status(call, "request");
        }
        w->rid = rpc_call_strdup(call, canon);
        if (w->rid == NULL || replay_key(call, w->rid, w->same_as) != 0)
            return api_store_error(call, STORE_NOMEM);
    }
    return GRPC_STATUS_OK;
}

grpc_status_code api_write(rpc_call *call, api *a, const char *request_id, api_job_fn fn, void *arg,
                           ProtobufCMessage **resp)
{
    write_ctx w;
    grpc_status_code code;
    int job_rc, rc;

    if ((code = write_prepare(&w, call, a, request_id, fn, arg)) != GRPC_STATUS_OK)
        return code;
    rc = store_write(a->store, write_job, &w, &job_rc);
    if (rc != STORE_OK)
        return api_store_error(call, rc);
    if (w.code != GRPC_STATUS_OK)
        return w.code;
    *resp = w.job.resp;
    return GRPC_STATUS_OK;
}

/* store_submit's callback, on the committer once the batch is durable (or
 * failed): the call ends from here, with no thread parked on it. */
static void write_done(int store_rc, int job_rc, void *p)
{
    write_ctx *w = p;
    rpc_call *call = w->job.call;
    grpc_status_code code = store_rc != STORE_OK ? api_store_error(call, store_rc) : w->code;

    (void)job_rc; /* w->code says it all */
    /* The stored bytes are the answer (sent instead of packing resp again)
     * when the response is the message api_save stored. */
    if (code == GRPC_STATUS_OK && w->job.packed != NULL && w->job.packed_of == w->job.resp)
        rpc_call_set_response_bytes(call, w->job.packed, w->job.packed_len);
    rpc_call_resume(call, code, code == GRPC_STATUS_OK ? w->job.resp : NULL);
}

grpc_status_code api_write_async(rpc_call *call, api *a, const char *request_id, api_job_fn fn,
                                 void *arg)
{
    write_ctx *w = rpc_call_alloc(call, sizeof(*w));
    grpc_status_code code;
    int rc;

    if (w == NULL)
        return api_store_error(call, STORE_NOMEM);
    if ((code = write_prepare(w, call, a, request_id, fn, arg)) != GRPC_STATUS_OK)
        return code;
    if ((code = rpc_call_suspend(call)) != GRPC_STATUS_OK)
        return code;
    /* From here the call belongs to the committer (write_job, write_done). */
    if ((rc = store_submit(a->store, write_job, w, write_done, w)) != STORE_OK)
        rpc_call_resume(call, api_store_error(call, rc), NULL); /* nothing queued: still ours */
    return GRPC_STATUS_OK;
}

grpc_status_code api_audit_refusal(rpc_call *call, struct audit *log, grpc_status_code code)
{
    const api_caller *caller = api_caller_of(call);
    const ProtobufCMessage *req = rpc_call_request(call);
    const char *rid = req != NULL ? api_get_string(req, "request_id") : NULL;
    char canon[VALIDATE_UUID_LEN + 1];
    uint8_t hash[crypto_hash_sha256_BYTES];
    size_t len;
    const uint8_t *data = rpc_call_request_data(call, &len);
    int rc;

    crypto_hash_sha256(hash, data != NULL ? data : (const uint8_t *)"", len);
    /* The id as api_write compares it (lower case) when it is a UUID; else as
     * sent (a refusal by role comes before any validation). */
    if (rid != NULL && validate_uuid(rid, strlen(rid), canon) == VALIDATE_OK)
        rid = canon;
    audit_entry e = {
        .principal = caller->principal,
        .role = (int)caller->role,
        .method = rpc_call_path(call),
        .resource = req != NULL ? audit_resource(req) : NULL,
        .request_id = rid,
        .request_sha256 = hash,
        .status = (int)code,
    };
    /* Durable before the caller hears of the refusal: no record, no answer. */
    if ((rc = audit_record(log, &e, 1)) != STORE_OK)
        return api_store_error(call, rc);
    return code;
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
    const ProtobufCFieldDescriptor *f = api_field(m->descriptor, name);

    if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED)
        *(ProtobufCMessage **)((char *)m + f->offset) = value;
}

/* The etag (api_set_etag) and the message's encoding with it, from one
 * pack: when etag is the message's last field by number and nothing unknown
 * follows it, protobuf-c's encoding with the etag set is the encoding
 * without it followed by the etag field's own, which packing a message
 * holding only the etag gives. Otherwise packed a second time. Sets
 * job->packed*; -1 when out of memory. */
static int pack_with_etag(rpc_call *call, api_job *job, ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const ProtobufCFieldDescriptor *f = api_field(d, "etag");
    uint8_t h[8], *buf;
    char *hex = rpc_call_alloc(call, sizeof(h) * 2 + 1);
    size_t len0, len;

    if (hex == NULL || f == NULL || f->type != PROTOBUF_C_TYPE_STRING)
        return -1;
    api_set_string(m, "etag", (char *)protobuf_c_empty_string);
    len0 = protobuf_c_message_get_packed_size(m);
    /* the etag field: a tag of at most 5 bytes, a length of 1, 16 bytes */
    if ((buf = rpc_call_alloc(call, len0 + 5 + 1 + sizeof(h) * 2)) == NULL)
        return -1;
    protobuf_c_message_pack(m, buf);
    crypto_generichash(h, sizeof(h), buf, len0, NULL, 0);
    sodium_bin2hex(hex, sizeof(h) * 2 + 1, h, sizeof(h));
    api_set_string(m, "etag", hex);
    if (f == &d->fields[d->n_fields - 1] && m->n_unknown_fields == 0) {
        ProtobufCMessage *only = rpc_call_alloc(call, d->sizeof_message);
        if (only == NULL)
            return -1;
        d->message_init(only);
        api_set_string(only, "etag", hex);
        len = len0 + protobuf_c_message_pack(only, buf + len0);
#ifndef NDEBUG
        /* the test builds check the claim above on every save */
        uint8_t *full = rpc_call_alloc(call, len);
        assert(full != NULL && protobuf_c_message_get_packed_size(m) == len &&
               protobuf_c_message_pack(m, full) == len && memcmp(full, buf, len) == 0);
#endif
    } else {
        len = protobuf_c_message_get_packed_size(m);
        if ((buf = rpc_call_alloc(call, len ? len : 1)) == NULL)
            return -1;
        protobuf_c_message_pack(m, buf);
    }
    job->packed_of = m;
    job->packed = buf;
    job->packed_len = len;
    return 0;
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
    if (pack_with_etag(job->call, job, m) != 0)
        return api_store_error(job->call, STORE_NOMEM);
    rc = store_put_packed(tx, kind, m, job->packed, job->packed_len, insert);
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
