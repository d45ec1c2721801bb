/* audit_net.c — tallinn-audit's connection to a live tallinnd (the --server
 * modes only): channel and token, and the AuditService calls it makes. The
 * offline commands never reach this file. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/support/log.h>
#include <sodium.h>

#include "audit_cmds.h"
#include "tallinn/rpc_client.h"
#include "tallinn/v1/audit.pb-c.h"

#define TOKEN_MAX 4096

#define M_CHECKPOINT "/tallinn.v1.AuditService/GetCheckpoint"
#define M_INCLUSION "/tallinn.v1.AuditService/GetInclusionProof"
#define M_CONSISTENCY "/tallinn.v1.AuditService/GetConsistencyProof"
#define M_STREAM "/tallinn.v1.AuditService/StreamAuditRecords"

struct audit_conn {
    rpcc_channel *ch;
    char *auth; /* "Bearer <token>", wiped on close */
    size_t auth_cap;
    rpcc_metadata md;
    size_t n_md;
    int64_t deadline_ms;
    char target[256];
    /* the last failed call, for audit_conn_report */
    int failed_call;            /* a call failed (rather than what it returned) */
    grpc_status_code last_code;
    int last_unreached;         /* no server was reached at all */
};

static void discard_grpc_log(gpr_log_func_args *args)
{
    (void)args;
}

/* --verbose: one line per call attempt. Messages are the server's: one line. */
static void report_attempt(void *arg, const rpcc_attempt *a)
{
    const char *slash = strrchr(a->method, '/');

    (void)arg;
    fprintf(stderr, AUDIT_PROG ": %s attempt %d -> %s: %s", slash ? slash + 1 : a->method,
            a->attempt, a->peer ? a->peer : "no server reached", rpcc_status_name(a->code));
    if (a->code != GRPC_STATUS_OK && a->message[0] != '\0') {
        fputs(": ", stderr);
        for (const char *p = a->message; *p != '\0' && p - a->message < 300; p++)
            fputc((unsigned char)*p < ' ' ? ' ' : *p, stderr);
    }
    if (a->retry_in_ms >= 0)
        fprintf(stderr, "; retrying in %lld ms", (long long)a->retry_in_ms);
    else if (a->not_retried)
        fprintf(stderr, "; not retried: %s", a->not_retried);
    fputc('\n', stderr);
}

/* The token from --token-file, $TALLINN_TOKEN_FILE or $TALLINN_TOKEN, else
 * the context's token or token-file (a token beats a file there, as in
 * tallinnctl). */
static int load_token(const audit_conn_opts *o, audit_conn *c, char *err, size_t err_size)
{
    const char *file = o->token_file ? o->token_file : getenv("TALLINN_TOKEN_FILE");
    const char *env = getenv("TALLINN_TOKEN");
    char *text = NULL;
    size_t len = 0;
    if (!(file && file[0]) && !(env && env[0])) {
        env = o->cfg_token;
        file = o->cfg_token ? NULL : o->cfg_token_file;
    }
    if (file && file[0]) {
        if (audit_read_file(file, TOKEN_MAX, &text, &len, err, err_size) != 0)
            return -1;
    } else if (env && env[0]) {
        len = strlen(env);
        if (len > TOKEN_MAX || !(text = strdup(env))) {
            snprintf(err, err_size, "$TALLINN_TOKEN: too long");
            return -1;
        }
    } else {
        return 0; /* the server will say UNAUTHENTICATED */
    }
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        text[--len] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (text[i] <= ' ' || text[i] > '~') {
            snprintf(err, err_size, "the token%s%s is not printable ASCII without spaces",
                     file ? " in " : "", file ? file : "");
            sodium_memzero(text, len);
            free(text);
            return -1;
        }
    }
    c->auth_cap = len + 8;
    c->auth = malloc(c->auth_cap);
    if (!c->auth || len == 0) {
        snprintf(err, err_size, len == 0 ? "the token file %s is empty" : "out of memory",
                 file ? file : "");
        sodium_memzero(text, len);
        free(text);
        return -1;
    }
    snprintf(c->auth, c->auth_cap, "Bearer %s", text);
    sodium_memzero(text, len);
    free(text);
    c->md.key = "authorization";
    c->md.value = c->auth;
    c->md.len = strlen(c->auth);
    c->n_md = 1;
    return 0;
}

int audit_conn_open(const audit_conn_opts *o, audit_conn **out, char *err, size_t err_size)
{
    audit_conn *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    if (getenv("GRPC_VERBOSITY") == NULL)
        gpr_set_log_function(discard_grpc_log);
    snprintf(c->target, sizeof c->target, "%s", o->server);
    c->deadline_ms = (o->timeout_s > 0 ? o->timeout_s : 30) * 1000;
    if (load_token(o, c, err, err_size) != 0) {
        audit_conn_close(c);
        return -1;
    }
    rpcc_channel_options co = {
        .target = o->server,
        .insecure = o->insecure,
        .ca_file = o->ca_file,
        .cert_file = o->cert_file,
        .key_file = o->cert_key,
        .ssl_target_name = o->server_name,
        .user_agent = AUDIT_PROG "/" TALLINN_VERSION,
        .max_receive_bytes = 1u << 20,
        .on_attempt = o->verbose ? report_attempt : NULL,
    };
    char cerr[RPCC_ERROR_MAX];
    if (rpcc_channel_create(&c->ch, &co, cerr, sizeof cerr) != 0) {
        snprintf(err, err_size, "%s: %s", o->server, cerr);
        audit_conn_close(c);
        return -1;
    }
    *out = c;
    return 0;
}

void audit_conn_close(audit_conn *c)
{
    if (!c)
        return;
    rpcc_channel_destroy(c->ch);
    if (c->auth) {
        sodium_memzero(c->auth, c->auth_cap);
        free(c->auth);
    }
    free(c);
}

const char *audit_conn_target(const audit_conn *c)
{
    return c->target;
}

static rpcc_call_options call_opts(const audit_conn *c, int64_t deadline_ms)
{
    rpcc_call_options co = {
        .deadline_ms = deadline_ms,
        .metadata = c->n_md ? &c->md : NULL,
        .n_metadata = c->n_md,
    };
    return co;
}

/* "ADDR: METHOD: CODE: message", and which replica answered when ADDR has
 * several (or the call was tried more than once). */
static int call_failed(audit_conn *c, const char *method, const rpcc_result *r,
                       char *err, size_t err_size)
{
    const char *hint = "";
    char replica[128] = "";

    c->failed_call = 1;
    c->last_code = r->code;
    c->last_unreached = rpcc_result_unreached(r);
    if (r->code == GRPC_STATUS_PERMISSION_DENIED)
        hint = " (the audit log is readable by AUDITOR principals only)";
    else if (r->code == GRPC_STATUS_UNAUTHENTICATED)
        hint = " (give an AUDITOR's token with --token-file)";
    if (r->peer && (rpcc_channel_address_count(c->ch) != 1 || r->attempts > 1))
        snprintf(replica, sizeof replica, " [replica %s, attempt %d]", r->peer, r->attempts);
    snprintf(err, err_size, "%s: %s: %s: %s%s%s", c->target, strrchr(method, '/') + 1,
             rpcc_status_name(r->code), r->message ? r->message : "", hint, replica);
    return -1;
}

int audit_conn_report(const audit_conn *c, const char *cmd, const char *err)
{
    int ex;

    if (c == NULL) {
        fprintf(stderr, AUDIT_PROG ": %s: could not check: %s\n", cmd, err);
        return AUDIT_EXIT_UNCHECKED;
    }
    if (!c->failed_call) { /* the answer came, and it does not verify */
        audit_report_failure(cmd, "%s", err);
        return AUDIT_EXIT_FAILED;
    }
    ex = cli_exit_for_status(c->last_code, AUDIT_EXIT_UNCHECKED);
    if (c->last_unreached || ex == AUDIT_EXIT_UNREACHABLE) {
        fprintf(stderr, AUDIT_PROG ": %s: could not reach %s: %s; nothing was verified\n", cmd,
                c->target, err);
        return AUDIT_EXIT_UNREACHABLE;
    }
    if (ex != AUDIT_EXIT_UNCHECKED) {
        fprintf(stderr, AUDIT_PROG ": %s: the server refused: %s; nothing was verified\n", cmd,
                err);
        return ex;
    }
    fprintf(stderr, AUDIT_PROG ": %s: could not check: %s\n", cmd, err);
    return AUDIT_EXIT_UNCHECKED;
}

/* A malloc'd, NUL-terminated copy of a bytes field. */
static char *copy_note(const ProtobufCBinaryData *b)
{
    char *out = malloc(b->len + 1);
    if (out) {
        memcpy(out, b->data, b->len);
        out[b->len] = '\0';
    }
    return out;
}

int audit_conn_checkpoints(audit_conn *c, uint64_t size, char **note, size_t *len,
                           char **quorum_note, size_t *quorum_len, char *err, size_t err_size)
{
    c->failed_call = 0;
    Tallinn__V1__GetCheckpointRequest req = TALLINN__V1__GET_CHECKPOINT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    rpcc_result r = {0};
    rpcc_call_options co = call_opts(c, c->deadline_ms);
    int rc = -1;
    *note = NULL;
    if (quorum_note) {
        *quorum_note = NULL;
        *quorum_len = 0;
    }
    req.tree_size = (int64_t)size;
    if (rpcc_unary(c->ch, M_CHECKPOINT, &req.base,
                   &tallinn__v1__get_checkpoint_response__descriptor, &co, &resp,
                   &r) != GRPC_STATUS_OK) {
        call_failed(c, M_CHECKPOINT, &r, err, err_size);
        goto done;
    }
    Tallinn__V1__GetCheckpointResponse *out = (void *)resp;
    if (!(*note = copy_note(&out->signed_note))) {
        snprintf(err, err_size, "out of memory");
        goto done;
    }
    *len = out->signed_note.len;
    if (quorum_note && out->quorum_signed_note.len > 0) {
        if (!(*quorum_note = copy_note(&out->quorum_signed_note))) {
            free(*note);
            *note = NULL;
            snprintf(err, err_size, "out of memory");
            goto done;
        }
        *quorum_len = out->quorum_signed_note.len;
    }
    rc = 0;
done:
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    rpcc_result_free(&r);
    return rc;
}

int audit_conn_checkpoint(audit_conn *c, uint64_t size, char **note, size_t *len, char *err,
                          size_t err_size)
{
    return audit_conn_checkpoints(c, size, note, len, NULL, NULL, err, err_size);
}

/* Copies proof hashes out, each checked to be 32 bytes. */
static int copy_hashes(const audit_conn *c, const char *what, ProtobufCBinaryData *h, size_t n,
                       uint8_t *out, size_t cap, size_t *count, char *err, size_t err_size)
{
    if (n > cap) {
        snprintf(err, err_size, "%s: %s proof of %zu hashes: more than any tree needs",
                 c->target, what, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (h[i].len != MERKLE_HASH_SIZE) {
            snprintf(err, err_size, "%s: %s proof: hash %zu is %zu bytes, not 32", c->target,
                     what, i, h[i].len);
            return -1;
        }
        memcpy(out + i * MERKLE_HASH_SIZE, h[i].data, MERKLE_HASH_SIZE);
    }
    *count = n;
    return 0;
}

int audit_conn_inclusion(audit_conn *c, uint64_t index, uint64_t size, uint8_t *proof,
                         size_t *count, char *err, size_t err_size)
{
    c->failed_call = 0;
    Tallinn__V1__GetInclusionProofRequest req = TALLINN__V1__GET_INCLUSION_PROOF_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    rpcc_result r = {0};
    rpcc_call_options co = call_opts(c, c->deadline_ms);
    int rc = -1;
    req.index = (int64_t)index;
    req.tree_size = (int64_t)size;
    if (rpcc_unary(c->ch, M_INCLUSION, &req.base,
                   &tallinn__v1__get_inclusion_proof_response__descriptor, &co, &resp,
                   &r) != GRPC_STATUS_OK) {
        call_failed(c, M_INCLUSION, &r, err, err_size);
        goto done;
    }
    Tallinn__V1__GetInclusionProofResponse *out = (void *)resp;
    if (out->index != req.index || out->tree_size != req.tree_size) {
        snprintf(err, err_size, "%s: inclusion proof for index %" PRId64 " in size %" PRId64
                 ", not the %" PRIu64 " in %" PRIu64 " asked for", c->target, out->index,
                 out->tree_size, index, size);
        goto done;
    }
    rc = copy_hashes(c, "inclusion", out->hashes, out->n_hashes, proof, MERKLE_MAX_PROOF, count,
                     err, err_size);
done:
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    rpcc_result_free(&r);
    return rc;
}

int audit_conn_consistency(audit_conn *c, uint64_t size1, uint64_t size2, uint8_t *proof,
                           size_t *count, char *err, size_t err_size)
{
    c->failed_call = 0;
    Tallinn__V1__GetConsistencyProofRequest req =
        TALLINN__V1__GET_CONSISTENCY_PROOF_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    rpcc_result r = {0};
    rpcc_call_options co = call_opts(c, c->deadline_ms);
    int rc = -1;
    req.first_size = (int64_t)size1;
    req.second_size = (int64_t)size2;
    if (rpcc_unary(c->ch, M_CONSISTENCY, &req.base,
                   &tallinn__v1__get_consistency_proof_response__descriptor, &co, &resp,
                   &r) != GRPC_STATUS_OK) {
        call_failed(c, M_CONSISTENCY, &r, err, err_size);
        goto done;
    }
    Tallinn__V1__GetConsistencyProofResponse *out = (void *)resp;
    rc = copy_hashes(c, "consistency", out->hashes, out->n_hashes, proof, MERKLE_MAX_PROOF,
                     count, err, err_size);
done:
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    rpcc_result_free(&r);
    return rc;
}

int audit_conn_scan(audit_conn *c, uint64_t start, uint64_t end, audit_leaf_fn fn, void *ctx,
                    char *err, size_t err_size)
{
    c->failed_call = 0;
    Tallinn__V1__StreamAuditRecordsRequest req = TALLINN__V1__STREAM_AUDIT_RECORDS_REQUEST__INIT;
    rpcc_call_options co = call_opts(c, 0); /* a large log takes as long as it takes */
    rpcc_stream *s = NULL;
    rpcc_result r = {0};
    ProtobufCMessage *msg;
    uint64_t next = start;
    char serr[RPCC_ERROR_MAX];
    int rc = -1, got;
    req.start = (int64_t)start;
    req.end = (int64_t)end;
    if (start == end)
        return 0; /* end 0 would mean "to the end" */
    if (rpcc_stream_open(c->ch, M_STREAM, &req.base,
                         &tallinn__v1__stream_audit_records_response__descriptor, &co, &s, serr,
                         sizeof serr) != 0) {
        snprintf(err, err_size, "%s: StreamAuditRecords: %s", c->target, serr);
        c->failed_call = 1;
        c->last_code = GRPC_STATUS_UNKNOWN;
        c->last_unreached = 0;
        return -1;
    }
    while ((got = rpcc_stream_next(s, &msg)) == 1) {
        Tallinn__V1__StreamAuditRecordsResponse *m = (void *)msg;
        int frc;
        if (m->index < 0 || (uint64_t)m->index != next) {
            snprintf(err, err_size,
                     "%s: StreamAuditRecords sent record %" PRId64 " where record %" PRIu64
                     " belongs: out of order",
                     c->target, m->index, next);
            protobuf_c_message_free_unpacked(msg, NULL);
            goto done;
        }
        if (next >= end) {
            snprintf(err, err_size,
                     "%s: StreamAuditRecords sent record %" PRIu64 ", beyond the %" PRIu64
                     " asked for",
                     c->target, next, end);
            protobuf_c_message_free_unpacked(msg, NULL);
            goto done;
        }
        frc = fn(ctx, next, m->leaf.data, m->leaf.len, m->record, err, err_size);
        protobuf_c_message_free_unpacked(msg, NULL);
        if (frc != 0)
            goto done;
        next++;
    }
    if (rpcc_stream_finish(s, &r) != GRPC_STATUS_OK) {
        if (r.code == GRPC_STATUS_OUT_OF_RANGE) /* fewer records than the checkpoint says */
            snprintf(err, err_size,
                     "%s: the server holds fewer records than its checkpoint covers (%" PRIu64
                     "): records are missing (%s)%s%s%s",
                     c->target, end, r.message != NULL ? r.message : "",
                     r.peer ? " [replica " : "", r.peer ? r.peer : "", r.peer ? "]" : "");
        else
            call_failed(c, M_STREAM, &r, err, err_size);
        goto done;
    }
    if (next != end) {
        snprintf(err, err_size,
                 "%s: StreamAuditRecords ended after record %" PRIu64 " of %" PRIu64
                 ": records are missing",
                 c->target, next, end);
        goto done;
    }
    rc = 0;
done:
    rpcc_result_free(&r);
    rpcc_stream_destroy(s);
    return rc;
}
