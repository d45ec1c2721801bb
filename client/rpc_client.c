/* rpc_client.c — gRPC client calls over protobuf-c on the C core: channels,
 * unary and server-streaming calls, results with rich error details.
 * Every call has a private pluck completion queue; each batch it starts is
 * plucked exactly once, then the queue is shut down and drained. */
#include "tallinn/rpc_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

/* Largest PEM file we read (certificate chains are a few KiB). */
#define RPCC_PEM_MAX (1024 * 1024)
/* Default receive limit, as gRPC's. */
#define RPCC_DEFAULT_MAX_RECEIVE (4 * 1024 * 1024)
/* Room for a local status message. */
#define RPCC_MESSAGE_MAX 256

/* Tags are per call (each call has its own queue), so constants suffice. */
#define RPCC_TAG_UNARY ((void *)1)
#define RPCC_TAG_SEND ((void *)2)
#define RPCC_TAG_RECV ((void *)3)
#define RPCC_TAG_STATUS ((void *)4)

struct rpcc_channel {
    grpc_channel *channel;
    char *target;
};

/* State shared by the unary and the streaming path; freed by rpcc_call_free
 * once every started batch has been plucked. */
typedef struct rpcc_call {
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_metadata *send_md;
    size_t n_send_md;
    grpc_byte_buffer *send_buf;
    grpc_metadata_array recv_initial;
    grpc_metadata_array recv_trailing;
    grpc_status_code status;
    grpc_slice status_details;
    const char *error_string;
    grpc_byte_buffer *recv_buf;
    uint32_t md_flags;
} rpcc_call;

struct rpcc_stream {
    rpcc_call c;
    const ProtobufCMessageDescriptor *resp_desc;
    int send_pending;   /* TAG_SEND started, not yet plucked */
    int status_pending; /* TAG_STATUS started, not yet plucked */
    int got_initial;    /* RECV_INITIAL_METADATA done */
    int done;           /* next() saw the end: 0 ok, -1 failed */
    int done_rc;
    int finished;       /* finish() ran */
    grpc_status_code code;
    char *message;
    rpcc_metadata *initial;
    size_t n_initial;
};

static const char *const rpcc_status_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *rpcc_status_name(grpc_status_code code)
{
    if ((int)code < 0 || (size_t)code >= sizeof rpcc_status_names / sizeof rpcc_status_names[0])
        return "UNKNOWN_CODE";
    return rpcc_status_names[code];
}

static void rpcc_errf(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rpcc_errf(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* ---- Channels ---- */

/* Reads a whole PEM file, NUL-terminated. Returns NULL with err set. */
static char *rpcc_read_pem(const char *what, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;

    if (f == NULL) {
        rpcc_errf(err, err_len, "cannot read %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    buf = malloc(RPCC_PEM_MAX + 1);
    if (buf == NULL) {
        rpcc_errf(err, err_len, "out of memory reading %s %s", what, path);
        goto fail;
    }
    n = fread(buf, 1, RPCC_PEM_MAX + 1, f);
    if (ferror(f)) {
        rpcc_errf(err, err_len, "cannot read %s %s: %s", what, path, strerror(errno));
        goto fail;
    }
    if (n > RPCC_PEM_MAX) {
        rpcc_errf(err, err_len, "%s %s is larger than %d bytes", what, path, RPCC_PEM_MAX);
        goto fail;
    }
    buf[n] = '\0';
    if (strstr(buf, "-----BEGIN") == NULL) {
        rpcc_errf(err, err_len, "%s %s is not a PEM file", what, path);
        goto fail;
    }
    fclose(f);
    return buf;
fail:
    if (buf != NULL) {
        explicit_bzero(buf, n);
        free(buf);
    }
    fclose(f);
    return NULL;
}

static void rpcc_free_secret(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

int rpcc_channel_create(rpcc_channel **out, const rpcc_channel_options *opts, char *err,
                        size_t err_len)
{
    rpcc_channel *ch = NULL;
    grpc_channel_credentials *creds = NULL;
    char *ca = NULL, *cert = NULL, *key = NULL;
    grpc_arg args[3];
    grpc_channel_args chargs = {0, args};
    int max_recv;

    *out = NULL;
    if (opts == NULL || opts->target == NULL || opts->target[0] == '\0') {
        rpcc_errf(err, err_len, "no server address given");
        return -1;
    }
    if (!opts->insecure && (opts->cert_file == NULL) != (opts->key_file == NULL)) {
        rpcc_errf(err, err_len, "a client certificate and its key must be given together");
        return -1;
    }
    if (opts->max_receive_bytes > (size_t)INT32_MAX) {
        rpcc_errf(err, err_len, "receive limit %zu is too large", opts->max_receive_bytes);
        return -1;
    }
    max_recv = opts->max_receive_bytes ? (int)opts->max_receive_bytes : RPCC_DEFAULT_MAX_RECEIVE;

    if (!opts->insecure) {
        if (opts->ca_file != NULL &&
            (ca = rpcc_read_pem("CA file", opts->ca_file, err, err_len)) == NULL)
            goto fail;
        if (opts->cert_file != NULL) {
            if ((cert = rpcc_read_pem("certificate", opts->cert_file, err, err_len)) == NULL)
                goto fail;
            if ((key = rpcc_read_pem("key", opts->key_file, err, err_len)) == NULL)
                goto fail;
        }
    }
    ch = calloc(1, sizeof *ch);
    if (ch == NULL || (ch->target = strdup(opts->target)) == NULL) {
        rpcc_errf(err, err_len, "out of memory");
        goto fail;
    }

    grpc_init();
    if (opts->insecure) {
        creds = grpc_insecure_credentials_create();
    } else {
        grpc_ssl_pem_key_cert_pair pair = {key, cert};
        /* gRPC copies the PEM strings; ours are wiped below. */
        creds = grpc_ssl_credentials_create(ca, cert != NULL ? &pair : NULL, NULL, NULL);
    }
    args[chargs.num_args].type = GRPC_ARG_INTEGER;
    args[chargs.num_args].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[chargs.num_args++].value.integer = max_recv;
    if (!opts->insecure && opts->ssl_target_name != NULL) {
        args[chargs.num_args].type = GRPC_ARG_STRING;
        args[chargs.num_args].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        args[chargs.num_args++].value.string = (char *)opts->ssl_target_name;
    }
    if (opts->user_agent != NULL) {
        args[chargs.num_args].type = GRPC_ARG_STRING;
        args[chargs.num_args].key = (char *)GRPC_ARG_PRIMARY_USER_AGENT_STRING;
        args[chargs.num_args++].value.string = (char *)opts->user_agent;
    }
    ch->channel = grpc_channel_create(opts->target, creds, &chargs);
    grpc_channel_credentials_release(creds);
    free(ca);
    free(cert);
    rpcc_free_secret(key);
    if (ch->channel == NULL) {
        rpcc_errf(err, err_len, "cannot create a channel to %s", opts->target);
        free(ch->target);
        free(ch);
        grpc_shutdown();
        return -1;
    }
    *out = ch;
    return 0;
fail:
    if (ch != NULL)
        free(ch->target);
    free(ch);
    free(ca);
    free(cert);
    rpcc_free_secret(key);
    return -1;
}

void rpcc_channel_destroy(rpcc_channel *ch)
{
    if (ch == NULL)
        return;
    grpc_channel_destroy(ch->channel);
    free(ch->target);
    free(ch);
    grpc_shutdown();
}

const char *rpcc_channel_target(const rpcc_channel *ch)
{
    return ch->target;
}

/* ---- Metadata and results ---- */

const char *rpcc_metadata_find(const rpcc_metadata *md, size_t n, const char *key, size_t *len)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(md[i].key, key) == 0) {
            if (len != NULL)
                *len = md[i].len;
            return md[i].value;
        }
    }
    return NULL;
}

static void rpcc_md_free(rpcc_metadata *md, size_t n)
{
    /* Each entry is one block: key, NUL, value, NUL. */
    for (size_t i = 0; i < n; i++)
        free((void *)md[i].key);
    free(md);
}

/* Copies a received metadata array. Returns 0 or -1 (out of memory). */
static int rpcc_md_copy(const grpc_metadata_array *a, rpcc_metadata **out, size_t *n_out)
{
    rpcc_metadata *md;

    *out = NULL;
    *n_out = 0;
    if (a->count == 0)
        return 0;
    md = calloc(a->count, sizeof *md);
    if (md == NULL)
        return -1;
    for (size_t i = 0; i < a->count; i++) {
        size_t kl = GRPC_SLICE_LENGTH(a->metadata[i].key);
        size_t vl = GRPC_SLICE_LENGTH(a->metadata[i].value);
        char *block = malloc(kl + vl + 2);

        if (block == NULL) {
            rpcc_md_free(md, i);
            return -1;
        }
        memcpy(block, GRPC_SLICE_START_PTR(a->metadata[i].key), kl);
        block[kl] = '\0';
        memcpy(block + kl + 1, GRPC_SLICE_START_PTR(a->metadata[i].value), vl);
        block[kl + 1 + vl] = '\0';
        md[i].key = block;
        md[i].value = block + kl + 1;
        md[i].len = vl;
    }
    *out = md;
    *n_out = a->count;
    return 0;
}

void rpcc_result_free(rpcc_result *r)
{
    if (r == NULL)
        return;
    free(r->message);
    if (r->bad_request != NULL)
        protobuf_c_message_free_unpacked(&r->bad_request->base, NULL);
    if (r->error_info != NULL)
        protobuf_c_message_free_unpacked(&r->error_info->base, NULL);
    if (r->details != NULL)
        protobuf_c_message_free_unpacked(&r->details->base, NULL);
    rpcc_md_free(r->initial_metadata, r->n_initial_metadata);
    rpcc_md_free(r->trailing_metadata, r->n_trailing_metadata);
    memset(r, 0, sizeof *r);
}

/* Sets a result to a local status (nothing reached or came from the server). */
static grpc_status_code rpcc_result_local(rpcc_result *r, grpc_status_code code,
                                          const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static grpc_status_code rpcc_result_local(rpcc_result *r, grpc_status_code code,
                                          const char *fmt, ...)
{
    char buf[RPCC_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    r->code = code;
    free(r->message);
    r->message = strdup(buf);
    return code;
}

static const char *rpcc_type_name(const char *type_url)
{
    const char *slash = strrchr(type_url, '/');
    return slash != NULL ? slash + 1 : type_url;
}

/* Decodes grpc-status-details-bin, if present and well-formed. A malformed
 * value is ignored: the status code and message still stand. */
static void rpcc_decode_details(rpcc_result *r)
{
    size_t len;
    const char *v = rpcc_metadata_find(r->trailing_metadata, r->n_trailing_metadata,
                                       RPCC_STATUS_DETAILS_KEY, &len);

    if (v == NULL)
        return;
    r->details = google__rpc__status__unpack(NULL, len, (const uint8_t *)v);
    if (r->details == NULL)
        return;
    for (size_t i = 0; i < r->details->n_details; i++) {
        const Google__Protobuf__Any *any = r->details->details[i];
        const char *name = rpcc_type_name(any->type_url);
        const ProtobufCBinaryData *val = &any->value;

        if (r->bad_request == NULL && strcmp(name, "google.rpc.BadRequest") == 0)
            r->bad_request = google__rpc__bad_request__unpack(NULL, val->len, val->data);
        else if (r->error_info == NULL && strcmp(name, "google.rpc.ErrorInfo") == 0)
            r->error_info = google__rpc__error_info__unpack(NULL, val->len, val->data);
    }
}

/* Fills r from a finished call: status, message, metadata, details. */
static grpc_status_code rpcc_result_fill(rpcc_result *r, const rpcc_call *c)
{
    size_t n = GRPC_SLICE_LENGTH(c->status_details);

    memset(r, 0, sizeof *r);
    r->code = c->status;
    r->message = malloc(n + 1);
    if (r->message == NULL)
        goto oom;
    memcpy(r->message, GRPC_SLICE_START_PTR(c->status_details), n);
    r->message[n] = '\0';
    if (rpcc_md_copy(&c->recv_initial, &r->initial_metadata, &r->n_initial_metadata) != 0 ||
        rpcc_md_copy(&c->recv_trailing, &r->trailing_metadata, &r->n_trailing_metadata) != 0)
        goto oom;
    rpcc_decode_details(r);
    return r->code;
oom:
    rpcc_result_free(r);
    return rpcc_result_local(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory reading the result");
}

/* ---- Calls ---- */

static ProtobufCMessage *rpcc_decode(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc)
{
    grpc_byte_buffer_reader reader;
    ProtobufCMessage *msg;
    grpc_slice s;

    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return NULL;
    s = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    msg = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    return msg;
}

/* Waits for one started batch; returns its success flag. */
static int rpcc_pluck(grpc_completion_queue *cq, void *tag)
{
    grpc_event ev = grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

static void rpcc_call_free(rpcc_call *c)
{
    if (c->call != NULL)
        grpc_call_unref(c->call);
    if (c->cq != NULL) {
        /* Every batch has been plucked; the queue drains at once. */
        grpc_completion_queue_shutdown(c->cq);
        while (grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                   .type != GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(c->cq);
    }
    for (size_t i = 0; i < c->n_send_md; i++) {
        grpc_slice_unref(c->send_md[i].key);
        grpc_slice_unref(c->send_md[i].value);
    }
    free(c->send_md);
    if (c->send_buf != NULL)
        grpc_byte_buffer_destroy(c->send_buf);
    if (c->recv_buf != NULL)
        grpc_byte_buffer_destroy(c->recv_buf);
    grpc_metadata_array_destroy(&c->recv_initial);
    grpc_metadata_array_destroy(&c->recv_trailing);
    grpc_slice_unref(c->status_details);
    gpr_free((void *)c->error_string);
    memset(c, 0, sizeof *c);
}

/* Prepares a call: queue, call, request metadata and message. On failure
 * returns a status code with the cause in msg, and c holds nothing. */
static grpc_status_code rpcc_call_init(rpcc_call *c, rpcc_channel *ch, const char *method,
                                      const ProtobufCMessage *req, const rpcc_call_options *opts,
                                      char *msg, size_t msg_len)
{
    gpr_timespec deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
    grpc_slice path;
    size_t size;
    grpc_slice body;

    memset(c, 0, sizeof *c);
    grpc_metadata_array_init(&c->recv_initial);
    grpc_metadata_array_init(&c->recv_trailing);
    c->status_details = grpc_empty_slice();

    if (method == NULL || method[0] != '/' || req == NULL) {
        rpcc_errf(msg, msg_len, "invalid call: method must be \"/package.Service/Method\"");
        goto invalid;
    }
    if (!protobuf_c_message_check(req)) {
        rpcc_errf(msg, msg_len, "request is not a valid %s", req->descriptor->name);
        goto internal;
    }
    if (opts != NULL && opts->n_metadata > 0) {
        c->send_md = calloc(opts->n_metadata, sizeof *c->send_md);
        if (c->send_md == NULL) {
            rpcc_errf(msg, msg_len, "out of memory");
            goto exhausted;
        }
        for (size_t i = 0; i < opts->n_metadata; i++) {
            const rpcc_metadata *m = &opts->metadata[i];
            grpc_slice key = grpc_slice_from_copied_string(m->key != NULL ? m->key : "");
            grpc_slice value = grpc_slice_from_copied_buffer(m->value != NULL ? m->value : "",
                                                             m->value != NULL ? m->len : 0);

            c->send_md[i].key = key;
            c->send_md[i].value = value;
            c->n_send_md = i + 1;
            if (!grpc_header_key_is_legal(key) ||
                (!grpc_is_binary_header(key) && !grpc_header_nonbin_value_is_legal(value))) {
                rpcc_errf(msg, msg_len, "invalid request metadata \"%s\" (keys: lower-case "
                           "[a-z0-9._-]; values: printable ASCII unless the key ends in -bin)",
                           m->key != NULL ? m->key : "");
                goto invalid;
            }
        }
    }
    if (opts != NULL && opts->deadline_ms > 0)
        deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                gpr_time_from_millis(opts->deadline_ms, GPR_TIMESPAN));
    if (opts != NULL && opts->wait_for_ready)
        c->md_flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY |
                      GRPC_INITIAL_METADATA_WAIT_FOR_READY_EXPLICITLY_SET;

    size = protobuf_c_message_get_packed_size(req);
    body = grpc_slice_malloc(size);
    if (protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(body)) != size) {
        grpc_slice_unref(body);
        rpcc_errf(msg, msg_len, "request %s does not encode", req->descriptor->name);
        goto internal;
    }
    c->send_buf = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);

    c->cq = grpc_completion_queue_create_for_pluck(NULL);
    path = grpc_slice_from_copied_string(method);
    c->call = grpc_channel_create_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, path,
                                       NULL, deadline, NULL);
    grpc_slice_unref(path);
    if (c->call == NULL) {
        rpcc_errf(msg, msg_len, "cannot create a call to %s", method);
        goto internal;
    }
    return GRPC_STATUS_OK;
invalid:
    rpcc_call_free(c);
    return GRPC_STATUS_INVALID_ARGUMENT;
internal:
    rpcc_call_free(c);
    return GRPC_STATUS_INTERNAL;
exhausted:
    rpcc_call_free(c);
    return GRPC_STATUS_RESOURCE_EXHAUSTED;
}

/* The three send operations every call starts with. Returns the op count. */
static size_t rpcc_send_ops(rpcc_call *c, grpc_op *ops)
{
    memset(ops, 0, 3 * sizeof *ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].flags = c->md_flags;
    ops[0].data.send_initial_metadata.count = c->n_send_md;
    ops[0].data.send_initial_metadata.metadata = c->send_md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = c->send_buf;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    return 3;
}

static void rpcc_status_op(rpcc_call *c, grpc_op *op)
{
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op->data.recv_status_on_client.trailing_metadata = &c->recv_trailing;
    op->data.recv_status_on_client.status = &c->status;
    op->data.recv_status_on_client.status_details = &c->status_details;
    op->data.recv_status_on_client.error_string = &c->error_string;
}

grpc_status_code rpcc_unary(rpcc_channel *ch, const char *method, const ProtobufCMessage *req,
                            const ProtobufCMessageDescriptor *resp_desc,
                            const rpcc_call_options *opts, ProtobufCMessage **resp,
                            rpcc_result *result)
{
    rpcc_result scratch;
    rpcc_result *r = result != NULL ? result : &scratch;
    char msg[RPCC_MESSAGE_MAX];
    grpc_op ops[6];
    size_t n;
    grpc_call_error e;
    grpc_status_code code;
    rpcc_call c;

    *resp = NULL;
    memset(r, 0, sizeof *r);
    code = rpcc_call_init(&c, ch, method, req, opts, msg, sizeof msg);
    if (code != GRPC_STATUS_OK) {
        rpcc_result_local(r, code, "%s", msg);
        goto out;
    }
    n = rpcc_send_ops(&c, ops);
    memset(&ops[n], 0, 2 * sizeof ops[0]);
    ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[n++].data.recv_initial_metadata.recv_initial_metadata = &c.recv_initial;
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &c.recv_buf;
    rpcc_status_op(&c, &ops[n++]);
    e = grpc_call_start_batch(c.call, ops, n, RPCC_TAG_UNARY, NULL);
    if (e != GRPC_CALL_OK) {
        rpcc_result_local(r, GRPC_STATUS_INTERNAL, "cannot start call %s: %s", method,
                           grpc_call_error_to_string(e));
        rpcc_call_free(&c);
        goto out;
    }
    /* The batch holds RECV_STATUS: it ends with the call, whatever happened. */
    (void)rpcc_pluck(c.cq, RPCC_TAG_UNARY);
    code = rpcc_result_fill(r, &c);
    if (code == GRPC_STATUS_OK) {
        if (c.recv_buf == NULL)
            rpcc_result_local(r, GRPC_STATUS_INTERNAL, "server sent no response to %s", method);
        else if ((*resp = rpcc_decode(c.recv_buf, resp_desc)) == NULL)
            rpcc_result_local(r, GRPC_STATUS_INTERNAL, "response to %s does not decode as %s",
                               method, resp_desc->name);
    }
    rpcc_call_free(&c);
out:
    code = r->code;
    if (r->message == NULL) /* strdup failed in a local result */
        code = r->code = GRPC_STATUS_RESOURCE_EXHAUSTED;
    if (r == &scratch)
        rpcc_result_free(&scratch);
    return code;
}

/* ---- Server streaming ---- */

int rpcc_stream_open(rpcc_channel *ch, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, const rpcc_call_options *opts,
                     rpcc_stream **out, char *err, size_t err_len)
{
    rpcc_stream *s;
    grpc_op ops[3];
    size_t n;
    grpc_call_error e;

    *out = NULL;
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        rpcc_errf(err, err_len, "out of memory");
        return -1;
    }
    if (rpcc_call_init(&s->c, ch, method, req, opts, err, err_len) != GRPC_STATUS_OK) {
        free(s);
        return -1;
    }
    s->resp_desc = resp_desc;
    n = rpcc_send_ops(&s->c, ops);
    e = grpc_call_start_batch(s->c.call, ops, n, RPCC_TAG_SEND, NULL);
    if (e != GRPC_CALL_OK)
        goto fail;
    s->send_pending = 1;
    rpcc_status_op(&s->c, &ops[0]);
    e = grpc_call_start_batch(s->c.call, ops, 1, RPCC_TAG_STATUS, NULL);
    if (e != GRPC_CALL_OK)
        goto fail;
    s->status_pending = 1;
    *out = s;
    return 0;
fail:
    rpcc_errf(err, err_len, "cannot start call %s: %s", method, grpc_call_error_to_string(e));
    grpc_call_cancel(s->c.call, NULL);
    if (s->send_pending)
        (void)rpcc_pluck(s->c.cq, RPCC_TAG_SEND);
    rpcc_call_free(&s->c);
    free(s);
    return -1;
}

/* The stream is over: collect the status now to tell a clean end (0) from a
 * failure (-1). The status has arrived or is about to: the server closed. */
static int rpcc_stream_end(rpcc_stream *s)
{
    if (s->status_pending) {
        (void)rpcc_pluck(s->c.cq, RPCC_TAG_STATUS);
        s->status_pending = 0;
    }
    s->done = 1;
    s->done_rc = s->c.status == GRPC_STATUS_OK ? 0 : -1;
    return s->done_rc;
}

int rpcc_stream_next(rpcc_stream *s, ProtobufCMessage **msg)
{
    grpc_op ops[2];
    size_t n = 0;
    int ok;

    *msg = NULL;
    if (s->done || s->finished)
        return s->done ? s->done_rc : -1;
    memset(ops, 0, sizeof ops);
    if (!s->got_initial) {
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->c.recv_initial;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &s->c.recv_buf;
    if (grpc_call_start_batch(s->c.call, ops, n, RPCC_TAG_RECV, NULL) != GRPC_CALL_OK) {
        grpc_call_cancel_with_status(s->c.call, GRPC_STATUS_INTERNAL,
                                     "client could not read from the stream", NULL);
        return rpcc_stream_end(s);
    }
    ok = rpcc_pluck(s->c.cq, RPCC_TAG_RECV);
    if (!s->got_initial) {
        s->got_initial = 1;
        if (rpcc_md_copy(&s->c.recv_initial, &s->initial, &s->n_initial) != 0)
            grpc_call_cancel_with_status(s->c.call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                         "client out of memory", NULL);
    }
    if (!ok || s->c.recv_buf == NULL)
        return rpcc_stream_end(s);
    *msg = rpcc_decode(s->c.recv_buf, s->resp_desc);
    grpc_byte_buffer_destroy(s->c.recv_buf);
    s->c.recv_buf = NULL;
    if (*msg == NULL) {
        char why[RPCC_MESSAGE_MAX];

        snprintf(why, sizeof why, "response does not decode as %s", s->resp_desc->name);
        grpc_call_cancel_with_status(s->c.call, GRPC_STATUS_INTERNAL, why, NULL);
        return rpcc_stream_end(s);
    }
    return 1;
}

const rpcc_metadata *rpcc_stream_initial_metadata(const rpcc_stream *s, size_t *n)
{
    *n = s->n_initial;
    return s->initial;
}

void rpcc_stream_cancel(rpcc_stream *s)
{
    grpc_call_cancel(s->c.call, NULL);
}

grpc_status_code rpcc_stream_finish(rpcc_stream *s, rpcc_result *result)
{
    if (!s->finished) {
        rpcc_result r;

        if (!s->done)
            grpc_call_cancel(s->c.call, NULL);
        if (s->send_pending) {
            (void)rpcc_pluck(s->c.cq, RPCC_TAG_SEND);
            s->send_pending = 0;
        }
        if (s->status_pending) {
            (void)rpcc_pluck(s->c.cq, RPCC_TAG_STATUS);
            s->status_pending = 0;
        }
        s->finished = 1;
        s->done = 1;
        s->code = rpcc_result_fill(&r, &s->c);
        s->message = r.message != NULL ? strdup(r.message) : NULL;
        if (result != NULL)
            *result = r;
        else
            rpcc_result_free(&r);
        return s->code;
    }
    if (result != NULL) {
        memset(result, 0, sizeof *result);
        result->code = s->code;
        result->message = strdup(s->message != NULL ? s->message : "");
    }
    return s->code;
}

void rpcc_stream_destroy(rpcc_stream *s)
{
    if (s == NULL)
        return;
    if (!s->finished)
        (void)rpcc_stream_finish(s, NULL);
    rpcc_call_free(&s->c);
    rpcc_md_free(s->initial, s->n_initial);
    free(s->message);
    free(s);
}
