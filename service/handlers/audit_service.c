/* audit_service.c — AuditService: signed checkpoints, inclusion and
 * consistency proofs in RFC 9162 order, the records themselves as a stream,
 * and the verifier key — all an outside auditor needs; checkpoints carry the
 * witnesses' cosignatures (service/witness/). */
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "audit/audit.h"
#include "witness/witnesses.h"
#include "tallinn/v1/audit.pb-c.h"

#define STREAM_CHUNK 1000 /* records read per snapshot while streaming */

typedef struct audit_ctx {
    api *api;
    audit *audit;
    const witnesses *witnesses; /* NULL: none configured */
} audit_ctx;

static grpc_status_code current_size(rpc_call *call, store_tx *tx, int64_t *size)
{
    int rc = store_audit_size(tx, size, NULL);
    return rc == STORE_OK ? GRPC_STATUS_OK : api_store_error(call, rc);
}

/* Copies a malloc'd note into a bytes field on the call and frees it. */
static int note_out(rpc_call *call, char *note, size_t len, ProtobufCBinaryData *out)
{
    out->data = rpc_call_alloc(call, len + 1);
    if (out->data == NULL) {
        free(note);
        return -1;
    }
    memcpy(out->data, note, len);
    out->len = len;
    free(note);
    return 0;
}

static grpc_status_code get_checkpoint(rpc_call *call, const ProtobufCMessage *req,
                                       ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__GetCheckpointRequest *in = (const void *)req;
    audit_ctx *ac = ctx;
    Tallinn__V1__GetCheckpointResponse *out = rpc_call_alloc(call, sizeof(*out));
    char *note = NULL, *quorum = NULL;
    size_t len = 0, quorum_len = 0, cosigned = 0;
    store_tx *tx;
    int rc, qrc = STORE_NOT_FOUND;

    if (out == NULL)
        return api_store_error(call, STORE_NOMEM);
    if (in->tree_size < 0) {
        api_violation(call, "tree_size", "must not be negative (0 means the latest)");
        return api_violations_status(call, "request");
    }
    if ((rc = store_read_begin(ac->api->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    /* One snapshot: the quorum checkpoint is never newer than the latest. */
    rc = witnesses_checkpoint(ac->witnesses, tx, in->tree_size > 0 ? in->tree_size : -1, &note,
                              &len, NULL, &cosigned);
    if (rc == STORE_OK && in->tree_size == 0 && witnesses_count(ac->witnesses) > 0)
        qrc = witnesses_quorum_checkpoint(ac->witnesses, tx, &quorum, &quorum_len, NULL);
    store_read_end(tx);
    if (rc == STORE_OK && qrc != STORE_OK && qrc != STORE_NOT_FOUND)
        rc = qrc;
    if (rc != STORE_OK) {
        free(note);
        free(quorum);
    }
    if (rc == STORE_NOT_FOUND)
        return rpc_call_error(call, GRPC_STATUS_NOT_FOUND,
                              in->tree_size > 0 ? "no checkpoint was signed at tree size %lld"
                                                : "the audit log is empty (%lld)",
                              (long long)in->tree_size);
    if (rc != STORE_OK)
        return api_store_error(call, rc);
    tallinn__v1__get_checkpoint_response__init(out);
    out->cosignatures = (int32_t)cosigned;
    out->witness_quorum = (int32_t)witnesses_quorum(ac->witnesses);
    out->witnesses = (int32_t)witnesses_count(ac->witnesses);
    if (note_out(call, note, len, &out->signed_note) != 0 ||
        (quorum != NULL && note_out(call, quorum, quorum_len, &out->quorum_signed_note) != 0)) {
        if (out->signed_note.data == NULL)
            free(quorum);
        return api_store_error(call, STORE_NOMEM);
    }
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

/* Copies proof hashes into a repeated bytes field on the call. */
static int proof_out(rpc_call *call, uint8_t proof[][MERKLE_HASH_SIZE], size_t n,
                     ProtobufCBinaryData **hashes, size_t *n_hashes)
{
    ProtobufCBinaryData *h = rpc_call_alloc(call, (n + 1) * sizeof(*h));
    uint8_t *bytes = rpc_call_alloc(call, n * MERKLE_HASH_SIZE + 1);

    if (h == NULL || bytes == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        memcpy(bytes + i * MERKLE_HASH_SIZE, proof[i], MERKLE_HASH_SIZE);
        h[i].data = bytes + i * MERKLE_HASH_SIZE;
        h[i].len = MERKLE_HASH_SIZE;
    }
    *hashes = h;
    *n_hashes = n;
    return 0;
}

static grpc_status_code get_inclusion_proof(rpc_call *call, const ProtobufCMessage *req,
                                            ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__GetInclusionProofRequest *in = (const void *)req;
    audit_ctx *ac = ctx;
    Tallinn__V1__GetInclusionProofResponse *out = rpc_call_alloc(call, sizeof(*out));
    uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_SIZE];
    int64_t size, tree;
    size_t n = 0;
    store_tx *tx;
    grpc_status_code code;
    int rc;

    if (out == NULL)
        return api_store_error(call, STORE_NOMEM);
    if (in->index < 0)
        api_violation(call, "index", "must not be negative");
    if (in->tree_size < 0)
        api_violation(call, "tree_size", "must not be negative (0 means the latest)");
    if ((code = api_violations_status(call, "request")) != GRPC_STATUS_OK)
        return code;
    if ((rc = store_read_begin(ac->api->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    if ((code = current_size(call, tx, &size)) != GRPC_STATUS_OK)
        goto done;
    tree = in->tree_size > 0 ? in->tree_size : size;
    if (in->tree_size > 0 && in->index >= in->tree_size) {
        api_violation(call, "index", "must be below tree_size");
        code = api_violations_status(call, "request");
        goto done;
    }
    if (tree > size || in->index >= tree) {
        code = rpc_call_error(call, GRPC_STATUS_OUT_OF_RANGE,
                              "index %lld is not in a tree of size %lld (the log has %lld records)",
                              (long long)in->index, (long long)tree, (long long)size);
        goto done;
    }
    if (audit_inclusion_proof(ac->audit, tx, (uint64_t)in->index, (uint64_t)tree, proof, &n) != 0) {
        code = rpc_call_error(call, GRPC_STATUS_DATA_LOSS, "the stored hash tiles are damaged");
        goto done;
    }
    tallinn__v1__get_inclusion_proof_response__init(out);
    out->index = in->index;
    out->tree_size = tree;
    if (proof_out(call, proof, n, &out->hashes, &out->n_hashes) != 0) {
        code = api_store_error(call, STORE_NOMEM);
        goto done;
    }
    *resp = &out->base;
done:
    store_read_end(tx);
    return code;
}

static grpc_status_code get_consistency_proof(rpc_call *call, const ProtobufCMessage *req,
                                              ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__GetConsistencyProofRequest *in = (const void *)req;
    audit_ctx *ac = ctx;
    Tallinn__V1__GetConsistencyProofResponse *out = rpc_call_alloc(call, sizeof(*out));
    uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_SIZE];
    int64_t size, second;
    size_t n = 0;
    store_tx *tx;
    grpc_status_code code;
    int rc;

    if (out == NULL)
        return api_store_error(call, STORE_NOMEM);
    if (in->first_size <= 0)
        api_violation(call, "first_size", "must be at least 1 (no proof starts from the empty tree)");
    if (in->second_size < 0)
        api_violation(call, "second_size", "must not be negative (0 means the latest)");
    if ((code = api_violations_status(call, "request")) != GRPC_STATUS_OK)
        return code;
    if ((rc = store_read_begin(ac->api->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    if ((code = current_size(call, tx, &size)) != GRPC_STATUS_OK)
        goto done;
    second = in->second_size > 0 ? in->second_size : size;
    if (in->second_size > 0 && in->first_size > in->second_size) {
        api_violation(call, "first_size", "must not be greater than second_size");
        code = api_violations_status(call, "request");
        goto done;
    }
    if (second > size || in->first_size > second) {
        code = rpc_call_error(call, GRPC_STATUS_OUT_OF_RANGE,
                              "sizes %lld..%lld are not within the log (%lld records)",
                              (long long)in->first_size, (long long)second, (long long)size);
        goto done;
    }
    if (audit_consistency_proof(ac->audit, tx, (uint64_t)in->first_size, (uint64_t)second, proof,
                                &n) != 0) {
        code = rpc_call_error(call, GRPC_STATUS_DATA_LOSS, "the stored hash tiles are damaged");
        goto done;
    }
    tallinn__v1__get_consistency_proof_response__init(out);
    if (proof_out(call, proof, n, &out->hashes, &out->n_hashes) != 0) {
        code = api_store_error(call, STORE_NOMEM);
        goto done;
    }
    *resp = &out->base;
done:
    store_read_end(tx);
    return code;
}

typedef struct stream_ctx {
    rpc_call *call;
    int64_t next;
    int failed;
} stream_ctx;

static int send_leaf(int64_t index, const uint8_t *data, size_t len, void *p)
{
    stream_ctx *s = p;
    Tallinn__V1__StreamAuditRecordsResponse out = TALLINN__V1__STREAM_AUDIT_RECORDS_RESPONSE__INIT;
    Tallinn__V1__AuditRecord *r = tallinn__v1__audit_record__unpack(NULL, len, data);
    int rc;

    if (r == NULL) {
        s->failed = 2;
        return 1;
    }
    out.index = index;
    out.leaf.data = (uint8_t *)data;
    out.leaf.len = len;
    out.record = r;
    rc = rpc_call_send(s->call, &out.base);
    tallinn__v1__audit_record__free_unpacked(r, NULL);
    if (rc != 0) {
        s->failed = 1;
        return 1;
    }
    s->next = index + 1;
    return 0;
}

static grpc_status_code stream_audit_records(rpc_call *call, const ProtobufCMessage *req,
                                             ProtobufCMessage **resp, void *ctx)
{
    const Tallinn__V1__StreamAuditRecordsRequest *in = (const void *)req;
    audit_ctx *ac = ctx;
    stream_ctx s = {.call = call, .next = in->start};
    int64_t size, end;
    store_tx *tx;
    grpc_status_code code;
    int rc;

    (void)resp;
    if (in->start < 0)
        api_violation(call, "start", "must not be negative");
    if (in->end < 0 || (in->end > 0 && in->end < in->start))
        api_violation(call, "end", "must be 0 (the end of the log) or not before start");
    if ((code = api_violations_status(call, "request")) != GRPC_STATUS_OK)
        return code;
    if ((rc = store_read_begin(ac->api->store, &tx)) != STORE_OK)
        return api_store_error(call, rc);
    code = current_size(call, tx, &size);
    store_read_end(tx);
    if (code != GRPC_STATUS_OK)
        return code;
    if (in->start > size)
        return rpc_call_error(call, GRPC_STATUS_OUT_OF_RANGE,
                              "start %lld is beyond the log (%lld records)", (long long)in->start,
                              (long long)size);
    if (in->end > size)
        return rpc_call_error(call, GRPC_STATUS_OUT_OF_RANGE,
                              "end %lld is beyond the log (%lld records)", (long long)in->end,
                              (long long)size);
    end = in->end > 0 ? in->end : size;
    /* In chunks, each in its own snapshot: a slow reader never holds the
     * database's write-ahead log open. */
    while (s.next < end && !s.failed) {
        int64_t stop = s.next + STREAM_CHUNK < end ? s.next + STREAM_CHUNK : end;
        if (rpc_call_cancelled(call) || rpc_call_draining(call))
            return rpc_call_error(call, GRPC_STATUS_CANCELLED, "stream ended early");
        if ((rc = store_read_begin(ac->api->store, &tx)) != STORE_OK)
            return api_store_error(call, rc);
        rc = store_audit_scan(tx, s.next, stop, send_leaf, &s);
        store_read_end(tx);
        if (rc != STORE_OK)
            return api_store_error(call, rc);
        if (!s.failed && s.next < stop)
            return rpc_call_error(call, GRPC_STATUS_DATA_LOSS, "record %lld is missing",
                                  (long long)s.next);
    }
    if (s.failed == 2)
        return rpc_call_error(call, GRPC_STATUS_DATA_LOSS, "record %lld does not decode",
                              (long long)s.next);
    return s.failed ? GRPC_STATUS_CANCELLED : GRPC_STATUS_OK;
}

static grpc_status_code get_verifier_key(rpc_call *call, const ProtobufCMessage *req,
                                         ProtobufCMessage **resp, void *ctx)
{
    audit_ctx *ac = ctx;
    Tallinn__V1__GetVerifierKeyResponse *out = rpc_call_alloc(call, sizeof(*out));

    (void)req;
    if (out == NULL)
        return api_store_error(call, STORE_NOMEM);
    tallinn__v1__get_verifier_key_response__init(out);
    out->verifier_key = (char *)audit_verifier_key(ac->audit);
    out->origin = (char *)audit_origin(ac->audit);
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

int audit_register(rpc_server *srv, api *a, audit *log, const witnesses *w)
{
    static audit_ctx ac; /* one server per process */
    static const rpc_method_handler handlers[] = {
        {"GetCheckpoint", get_checkpoint},
        {"GetInclusionProof", get_inclusion_proof},
        {"GetConsistencyProof", get_consistency_proof},
        {"StreamAuditRecords", stream_audit_records},
        {"GetVerifierKey", get_verifier_key},
    };
    ac.api = a;
    ac.audit = log;
    ac.witnesses = w;
    return rpc_server_add_service(srv, &tallinn__v1__audit_service__descriptor, handlers,
                                  sizeof(handlers) / sizeof(handlers[0]), &ac);
}
